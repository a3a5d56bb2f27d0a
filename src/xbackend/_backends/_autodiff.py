"""Registering xbackend's analytic gradients with each autodiff system.

A *kernel* (see :mod:`xbackend._lib._kernels`) is a forward function plus its analytic
derivative, written once in Array API code. :func:`apply_kernel` runs a kernel and,
for frameworks with automatic differentiation, registers the analytic derivative:

* torch: a ``torch.autograd.Function`` (double backward works: under
  ``create_graph=True`` the backward is recomputed from the logits with differentiable
  ops);
* JAX: a ``jax.custom_jvp`` (so ``jax.grad``, ``jax.jvp``, ``jax.jacfwd`` and
  ``jax.hessian`` all work);
* TensorFlow: ``tf.custom_gradient``.

Frameworks without autodiff (NumPy, CuPy, Dask, array-api-strict) call the forward.
Only the logits and the (float) labels are differentiated; class weights, ``pos_weight``
and masks are constants.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from xbackend._backends import framework_name

__all__ = ["apply_kernel", "stop_gradient"]


def stop_gradient(xp: ModuleType, x: Any) -> Any:
    """The per-framework one-liner that stops a gradient (identity without autodiff)."""
    fw = framework_name(xp)
    if fw == "torch":
        return x.detach()
    if fw == "jax":
        import jax

        return jax.lax.stop_gradient(x)
    if fw == "tensorflow":
        import tensorflow as tf

        return tf.stop_gradient(x)
    return x


def apply_kernel(xp: ModuleType, kernel: Any, x: Any, y: Any, arrays: tuple, static: Any) -> Any:
    """Run ``kernel`` on ``(x, y)`` with its analytic gradient registered."""
    fw = framework_name(xp)
    if fw == "torch":
        from xbackend._backends import _torch

        return _torch.apply(xp, kernel, x, y, arrays, static)
    if fw == "jax":
        from xbackend._backends import _jax

        return _jax.apply(xp, kernel, x, y, arrays, static)
    if fw == "tensorflow":
        from xbackend._backends import _tensorflow

        return _tensorflow.apply(xp, kernel, x, y, arrays, static)
    return kernel.forward(xp, x, y, arrays, static)[0]
