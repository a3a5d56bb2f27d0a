"""JAX: a ``jax.custom_jvp`` around each kernel, ``jax.jit``, functional kernels.

``custom_jvp`` (rather than ``custom_vjp``) keeps forward mode working: ``jax.jvp``,
``jax.jacfwd`` and ``jax.hessian`` differentiate the analytic rule itself, and reverse
mode is obtained by JAX transposing the (linear) tangent map.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
from jax.custom_derivatives import SymbolicZero

from xbackend._backends._base import Backend

__all__ = ["JaxBackend"]


def _is_zero(t: Any) -> bool:
    return t is None or isinstance(t, SymbolicZero)


@functools.lru_cache(maxsize=256)
def _wrapped(kernel: Any, static: Any, xp: Any) -> Any:
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


class JaxBackend(Backend):
    name = "jax"
    reorders_blocks = True

    def call(self, fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Any:
        """Run ``fn`` through ``jax.jit`` (:func:`xbackend.compiled`), as JAX's own
        ``jax.nn`` functions do: eager JAX would dispatch every operation of the generic
        code on its own (2-4x the native loss on a CPU), one compiled program is as fast
        as the natives or faster. Inside an outer ``jax.jit``, ``grad`` or ``vmap`` the
        inner ``jit`` is inlined. ``invalid="raise"`` stays eager: it reads label values.
        """
        if kwargs.get("invalid") == "raise":
            return fn(*args, **kwargs)
        from xbackend._lib._compiled import _is_array, compiled

        try:  # unhashable non-array arguments (a list where an array belongs): eager,
            hash(tuple(a for a in args if not _is_array(a)))  # where its check names it
            hash(tuple(v for v in kwargs.values() if not _is_array(v)))
        except TypeError:
            return fn(*args, **kwargs)
        return compiled(fn)(*args, **kwargs)

    def apply_kernel(self, kernel: Any, x: Any, y: Any, arrays: tuple, static: Any) -> Any:
        arrays = tuple(None if a is None else jax.lax.stop_gradient(a) for a in arrays)
        return _wrapped(kernel, static, self.functional)(x, y, arrays)

    def canonical_dtype(self, dtype: Any) -> Any:
        # float64 without x64 is float32: say so once here instead of letting every
        # astype in the library warn about the truncation
        return jax.dtypes.canonicalize_dtype(dtype)

    def stop_gradient(self, x: Any) -> Any:
        return jax.lax.stop_gradient(x)

    def device_key(self, x: Any) -> Any:
        # the devices of a *committed* array (a sharded array's device is its sharding,
        # and labels may be sharded differently on the same devices); uncommitted arrays
        # follow the others, as JAX moves them; tracers have none
        if isinstance(x, jax.core.Tracer) or not getattr(x, "committed", False):
            return None
        return frozenset(x.devices())

    def device_name(self, key: Any) -> str:
        return str(sorted(str(d) for d in key)) if len(key) > 1 else str(next(iter(key)))

    def is_traced(self, x: Any) -> bool:
        return isinstance(x, jax.core.Tracer)

    def compile(self, fn: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
        return jax.jit(fn)

