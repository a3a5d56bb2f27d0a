"""The one autodiff driver of the conformance checks (the test matrix and ``xbackend report``).

:func:`grad_of` returns ``(fn(x), d/dx Σ cotangent·fn(x))`` (no cotangent: ``d/dx Σ fn(x)``)
with the framework's own autodiff (torch autograd, ``jax.vjp``, ``tf.GradientTape``); the backend registry
(:mod:`xbackend.testing._registry`) declares which members have autodiff and which run
their references compiled (:func:`compiled`, ``jax.jit``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["compiled", "grad_of"]


def _torch_vjp(fn: Callable[[Any], Any], x: Any, cot: Any) -> tuple[Any, Any]:
    import torch

    xt = x.detach().clone().requires_grad_(True)
    v = fn(xt)
    s = (v if cot is None else v * cot.to(v.dtype)).sum()
    (g,) = torch.autograd.grad(s, xt)
    return v.detach(), g


def _jax_vjp(fn: Callable[[Any], Any], x: Any, cot: Any) -> tuple[Any, Any]:
    import jax

    v, vjp = jax.vjp(fn, x)
    (g,) = vjp(jax.numpy.ones_like(v) if cot is None else cot.astype(v.dtype))
    return v, g


def _tf_vjp(fn: Callable[[Any], Any], x: Any, cot: Any) -> tuple[Any, Any]:
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(x)
        v = fn(x)
    return v, tape.gradient(v, x, output_gradients=None if cot is None else tf.cast(cot, v.dtype))


def _jax_jit(fn: Callable[..., Any]) -> Callable[..., Any]:
    import jax

    return jax.jit(fn)


#: framework -> its reverse-mode driver ``vjp(fn, x, cotangent) -> (value, gradient)``
_VJP: dict[str, Callable[..., tuple[Any, Any]]] = {"torch": _torch_vjp, "jax": _jax_vjp, "tensorflow": _tf_vjp}
#: framework -> its compiler, for members whose registry entry says ``jit``
_JIT: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {"jax": _jax_jit}


def _member(backend: Any) -> Any:
    from xbackend.testing._registry import BY_NAME

    return BY_NAME[backend] if isinstance(backend, str) else backend


def compiled(backend: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` compiled by ``backend``'s framework when its registry entry says ``jit``
    (eager dispatch there compiles every primitive per shape and dtype: one program is far
    faster for a reference), else ``fn`` itself."""
    b = _member(backend)
    return _JIT[b.framework](fn) if b.jit else fn


def grad_of(backend: Any, fn: Callable[[Any], Any], x: Any, cotangent: Any = None, *,
            jit: bool = False) -> tuple[Any, Any]:
    """``(fn(x), d/dx Σ cotangent·fn(x))`` by ``backend``'s autodiff.

    ``backend``: a :class:`~xbackend.testing._registry.TestBackend` or its name;
    ``cotangent``: an array of ``fn(x)``'s shape (cast to its dtype), or None: ones (the
    gradient of ``Σ fn(x)``, of ``fn(x)`` itself when it is 0-d); ``jit``: the whole
    computation under the framework's compiler (members whose registry entry says ``jit``;
    the cotangent is a constant of the program). Usable inside a traced program (JAX)."""
    b = _member(backend)
    if not b.autodiff:
        raise ValueError(f"{b.name} has no autodiff")
    vjp = _VJP[b.framework]
    if jit:
        return compiled(b, lambda v: vjp(fn, v, cotangent))(x)
    return vjp(fn, x, cotangent)
