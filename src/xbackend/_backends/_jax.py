"""JAX hook: a ``jax.custom_jvp`` around a kernel.

``custom_jvp`` (rather than ``custom_vjp``) keeps forward mode working: ``jax.jvp``,
``jax.jacfwd`` and ``jax.hessian`` differentiate the analytic rule itself, and reverse
mode is obtained by JAX transposing the (linear) tangent map.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

import jax
from jax.custom_derivatives import SymbolicZero


def _is_zero(t: Any) -> bool:
    return t is None or isinstance(t, SymbolicZero)


@functools.lru_cache(maxsize=None)
def _wrapped(kernel: Any, static: Any, xp: ModuleType):
    def f(x, y, arrays):
        return kernel.forward(xp, x, y, arrays, static)[0]

    f = jax.custom_jvp(f)

    def f_jvp(primals, tangents):
        x, y, arrays = primals
        tx, ty, _ = tangents  # constants (class weights, masks) are not differentiated
        loss, res = kernel.forward(xp, x, y, arrays, static)
        t = None
        if not _is_zero(tx):
            t = kernel.contract(xp, kernel.grad_x(xp, x, y, arrays, static, res, None), tx, static)
        if not _is_zero(ty) and xp.isdtype(y.dtype, "real floating"):
            ty_term = kernel.contract(xp, kernel.grad_y(xp, x, y, arrays, static, res, None), ty, static)
            t = ty_term if t is None else t + ty_term
        if t is None:
            t = xp.zeros_like(loss)
        return loss, t

    f.defjvp(f_jvp, symbolic_zeros=True)
    return f


def apply(xp: ModuleType, kernel: Any, x: Any, y: Any, arrays: tuple, static: Any) -> Any:
    arrays = tuple(None if a is None else jax.lax.stop_gradient(a) for a in arrays)
    return _wrapped(kernel, static, xp)(x, y, arrays)
