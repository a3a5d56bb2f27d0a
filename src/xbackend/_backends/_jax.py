"""JAX: a ``jax.custom_jvp`` around each kernel, ``jax.jit``, functional kernels.

``custom_jvp`` (rather than ``custom_vjp``) keeps forward mode working: ``jax.jvp``,
``jax.jacfwd`` and ``jax.hessian`` differentiate the analytic rule itself, and reverse
mode is obtained by JAX transposing the (linear) tangent map.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from xbackend._backends._base import Backend

__all__ = ["JaxBackend"]


def _is_zero(t: Any) -> bool:
    return t is None or isinstance(t, SymbolicZero)


class _Value:
    """Where an array-valued float option sat in a kernel's static tuple."""

    def __repr__(self) -> str:
        return "<value>"


_VALUE = _Value()


def _split(static: Any, values: list) -> Any:
    """``static`` with every array field (a float option given as an array or a tracer)
    replaced by :data:`_VALUE` and appended to ``values``; nested static tuples too."""
    if isinstance(static, tuple) and hasattr(static, "_fields"):
        new = {}
        for f in static._fields:
            v = getattr(static, f)
            if isinstance(v, (jax.Array, np.ndarray, np.generic)):
                values.append(v)
                new[f] = _VALUE
            elif isinstance(v, tuple) and hasattr(v, "_fields"):
                new[f] = _split(v, values)
        return cast(Any, static)._replace(**new) if new else static  # a NamedTuple
    return static


def _join(structure: Any, values: Any) -> Any:
    """The inverse of :func:`_split`: ``values`` (an iterator) back into their fields."""
    if isinstance(structure, tuple) and hasattr(structure, "_fields"):
        new = {}
        for f in structure._fields:
            v = getattr(structure, f)
            if v is _VALUE:
                new[f] = next(values)
            elif isinstance(v, tuple) and hasattr(v, "_fields"):
                new[f] = _join(v, values)
        return cast(Any, structure)._replace(**new) if new else structure  # a NamedTuple
    return structure


@functools.lru_cache(maxsize=256)
def _wrapped(kernel: Any, structure: Any, xp: Any) -> Any:
    """The kernel as a ``custom_jvp`` function of ``(x, y, arrays, values)``: ``values``
    are the array-valued float options (operands, never part of the cache key, so a new
    ``label_smoothing`` never builds a new function); like ``arrays`` they are constants
    of the derivative. Bounded LRU cache: one entry per kernel and static structure."""

    def primal(x, y, arrays, values):
        return kernel.forward(xp, x, y, arrays, _join(structure, iter(values)))[0]

    f: Any = jax.custom_jvp(primal)

    def f_jvp(primals, tangents):
        x, y, arrays, values = primals
        tx, ty, _, _ = tangents  # constants (class weights, masks, options): not differentiated
        static = _join(structure, iter(values))
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


def _traced_options(fn: Callable[..., Any], first: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The float options of ``fn`` given as Python numbers, checked here (their range,
    at call time) and passed on as 0-d arrays: :func:`xbackend.compiled` then traces them
    instead of compiling one program per value (a ``label_smoothing`` schedule compiles
    once). Options left at their default stay Python constants (their branch is off).
    The arrays are strongly typed in the compute dtype (float32, or float64 for float64
    logits), so a Python number and a ``jnp.float32`` schedule share one program."""
    from xbackend._lib._checks import FLOAT_OPTIONS

    options = FLOAT_OPTIONS.get(getattr(fn, "__name__", ""))
    if not options:
        return kwargs
    out = None
    for name, check in options.items():
        v = kwargs.get(name)
        if v is None or isinstance(v, bool) or not isinstance(v, (int, float, np.generic)):
            continue  # None, an array (traced anyway) or a wrong type (named by fn's check)
        check(v, name)
        if out is None:
            out = dict(kwargs)
        out[name] = jnp.asarray(float(v), dtype=_option_dtype(first))
    return kwargs if out is None else out


def _option_dtype(first: Any) -> Any:
    dt = getattr(first, "dtype", None)
    return jnp.float64 if dt == jnp.float64 else jnp.float32


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
        args, kwargs = self.convert_inputs(args, kwargs)
        if kwargs.get("invalid") == "raise":
            return fn(*args, **kwargs)
        from xbackend._lib._compiled import _is_array, compiled

        kwargs = _traced_options(fn, args[0], kwargs)

        try:  # unhashable non-array arguments (a list where an array belongs): eager,
            hash(tuple(a for a in args if not _is_array(a)))  # where its check names it
            hash(tuple(v for v in kwargs.values() if not _is_array(v)))
        except TypeError:
            return fn(*args, **kwargs)
        return compiled(fn)(*args, **kwargs)

    def apply_kernel(self, kernel: Any, x: Any, y: Any, arrays: tuple, static: Any) -> Any:
        arrays = tuple(None if a is None else jax.lax.stop_gradient(a) for a in arrays)
        found: list = []
        structure = _split(static, found)
        values = tuple(jax.lax.stop_gradient(jnp.asarray(v, dtype=x.dtype)) for v in found)
        return _wrapped(kernel, structure, self.functional)(x, y, arrays, values)

    def asarray_like(self, v: Any, like: Any) -> Any:
        # no device=: inside jit ``like`` is a tracer; an uncommitted array follows the
        # logits (their device or sharding) when the two meet
        return jnp.asarray(v)

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

