"""Autodiff hooks for :func:`xbackend.linear_cross_entropy`: three differentiable inputs.

The kernels of :mod:`xbackend._backends._autodiff` differentiate two inputs ``(x, y)``;
the linear cross-entropy differentiates ``hidden``, ``weight`` and ``bias`` and its
math (:mod:`xbackend._lib._linear`) returns the three gradients itself. Two modes:

* ``"reduced"`` (``reduction`` other than ``"none"``): the hook returns the scalar
  :math:`\\sum_i c_i \\ell_i` (``c`` = the reduction's per-row coefficient, a constant).
  When a gradient may be needed, the forward computes the gradients in the same block
  pass (:func:`~xbackend._lib._linear.loss_and_grads`) and the backward only multiplies
  them by the incoming scalar -- three matrix products for forward + backward. When no
  gradient is needed (torch ``no_grad`` or inputs without ``requires_grad``; JAX's primal
  path outside ``grad``/``vjp``; an eager TensorFlow call no tape watches), only the loss.
* ``"rows"`` (``reduction="none"``): the incoming gradient is one number per row, so
  :math:`\\nabla_W = \\sum_i g_i\\,(\\ldots)` cannot be formed before it is known. The
  forward saves each row's log-sum-exp (O(N)) and the backward makes one more pass over
  the blocks (:func:`~xbackend._lib._linear.grads`): four matrix products in all.

Per framework: torch, a ``torch.autograd.Function`` in the ``setup_context`` form (in
:mod:`xbackend._backends._linear_torch`, which imports torch; the
precomputed gradients are extra, non-differentiable outputs of ``forward``); JAX, a
``jax.custom_vjp`` (under ``jit``, XLA drops the gradient a caller does not use);
TensorFlow, ``tf.custom_gradient``. NumPy, CuPy, Dask and array-api-strict run the
forward only. Labels, the label state, class weights and the coefficients are constants.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

from xbackend._backends import framework_name
from xbackend._lib import _linear as L

__all__ = ["apply_linear"]


def _reduce(xp: ModuleType, loss: Any, coef: Any) -> Any:
    return xp.sum(loss * coef)


def apply_linear(
    xp: ModuleType, st: L.LinearStatic, h: Any, W: Any, b: Any, consts: tuple, coef: Any
) -> Any:
    """The loss rows (``coef`` None) or ``Σ coef·loss``, with the analytic gradients of
    ``h``, ``W`` and ``b`` registered where the framework differentiates."""
    fw = framework_name(xp)
    if fw == "torch":
        return _torch_apply(xp, st, h, W, b, consts, coef)
    if fw == "jax":
        return _jax_apply(xp, st, h, W, b, consts, coef)
    if fw == "tensorflow":
        return _tf_apply(xp, st, h, W, b, consts, coef)
    loss = L.loss_rows(xp, h, W, b, consts, st)[0]
    return loss if coef is None else _reduce(xp, loss, coef)


# ------------------------------------------------------------------------- torch

def _torch_apply(xp, st, h, W, b, consts, coef):
    import torch

    need = (
        h.requires_grad,
        W.requires_grad,
        b is not None and b.requires_grad,
    )
    if not (any(need) and torch.is_grad_enabled()):
        with torch.no_grad():
            loss = L.loss_rows(xp, h, W, b, consts, st)[0]
        return loss if coef is None else _reduce(xp, loss, coef)
    from xbackend._backends._linear_torch import LinearXentReduced as reduced
    from xbackend._backends._linear_torch import LinearXentRows as rows

    if coef is None:
        return rows.apply(h, W, b, *consts, xp, st, need)[0]
    return reduced.apply(h, W, b, *consts, coef, xp, st, need)[0]


# --------------------------------------------------------------------------- JAX


@functools.cache
def _jax_function(xp: ModuleType, st: L.LinearStatic, reduced: bool):
    import jax

    def primal(h, W, b, consts, coef):
        loss = L.loss_rows(xp, h, W, b, consts, st)[0]
        return _reduce(xp, loss, coef) if reduced else loss

    f: Any = jax.custom_vjp(primal)

    def fwd(h, W, b, consts, coef):
        need = (True, True, b is not None)
        if reduced:
            loss, gs = L.loss_and_grads(xp, h, W, b, consts, st, coef, need)
            return _reduce(xp, loss, coef), (gs, consts)
        loss, lse = L.loss_rows(xp, h, W, b, consts, st)
        return loss, (h, W, b, consts, lse)

    def bwd(res, g):
        if reduced:
            gs, consts = res
            gs = tuple(None if v is None else g * v for v in gs)
        else:
            h, W, b, consts, lse = res
            gs = L.grads(xp, h, W, b, consts, st, lse, g, (True, True, b is not None))
        zeros_c = jax.tree_util.tree_map(lambda _: None, consts)
        return (*gs, zeros_c, None)

    f.defvjp(fwd, bwd)
    return f


def _jax_apply(xp, st, h, W, b, consts, coef):
    import jax

    consts = jax.tree_util.tree_map(jax.lax.stop_gradient, consts)
    if coef is not None:
        coef = jax.lax.stop_gradient(coef)
    return _jax_function(xp, st, coef is not None)(h, W, b, consts, coef)


# -------------------------------------------------------------------- TensorFlow


def _tf_apply(xp, st, h, W, b, consts, coef):
    import tensorflow as tf

    from xbackend._backends._tensorflow import _watched

    h = tf.convert_to_tensor(h)  # a Variable is read here: the tape links the read to it
    W = tf.convert_to_tensor(W)
    b = None if b is None else tf.convert_to_tensor(b)
    consts = tuple(None if c is None else tf.stop_gradient(c) for c in consts)
    coef = None if coef is None else tf.stop_gradient(coef)
    diff = [h, W] + ([] if b is None else [b])
    if tf.executing_eagerly() and not _watched(diff):
        loss = L.loss_rows(xp, h, W, b, consts, st)[0]
        return loss if coef is None else _reduce(xp, loss, coef)
    has_b = b is not None
    need = (True, True, has_b)

    @tf.custom_gradient
    def fn(*args):
        h, W = args[0], args[1]
        b = args[2] if has_b else None
        if coef is not None:
            loss, gs = L.loss_and_grads(xp, h, W, b, consts, st, coef, need)
            value = _reduce(xp, loss, coef)

            def grad(g):
                return tuple(g * v for v in gs if v is not None)

            return value, grad
        loss, lse = L.loss_rows(xp, h, W, b, consts, st)

        def grad_rows(g):
            gs = L.grads(xp, h, W, b, consts, st, lse, g, need)
            return tuple(v for v in gs if v is not None)

        return loss, grad_rows

    return fn(*diff)
