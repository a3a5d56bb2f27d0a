"""In-place updates of *fresh temporaries*: fewer memory passes in eager mode.

Eager frameworks pay one memory pass per op and one allocation per result; on a CPU a
fresh allocation also pays its page faults. The kernels therefore create few full-size
temporaries and update them in place. Every function here takes a temporary that the
kernel itself just created (never a caller's array, never a view of one), so aliasing
is impossible.

* Augmented assignment (``t -= v``) is Array API: in place on NumPy, CuPy, torch and
  array-api-strict, a rebinding on JAX, TensorFlow and Dask (same values).
* In-place *functions* (``exp``, ``log1p``, ``clip``, masked fill, scatter) are not in
  the standard; on NumPy, CuPy and torch they use the framework's ``out=`` / ``op_``
  forms, everywhere else the out-of-place Array API call. Same values either way.
* torch: temporaries are updated in place only while autograd records nothing
  (``torch.is_grad_enabled()`` is False): inside ``autograd.Function.forward`` and
  ``backward`` and under ``no_grad`` (the hook runs a forward that needs no gradient
  under ``no_grad``). Under ``create_graph=True`` the kernels build a differentiable graph
  out of place: an in-place update of a tensor that a recorded op saved (even one that
  does not itself require grad, like ``1 - z`` in ``(1 - z)·e``) would be an error.
* Under a compiler the kernels take the plain Array API path: ``jax.jit`` arrays are
  immutable anyway, and under ``torch.compile`` (``torch.compiler.is_compiling()``) the
  functional ops fuse better (Inductor lowers ``nan_to_num`` to scalar code on CPU,
  for instance) and there are no allocations to save.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from xbackend._backends import framework_name

__all__ = [
    "fresh_fast",
    "writable",
    "unary_",
    "iadd",
    "isub",
    "imul",
    "isub_mul",
    "fill_where_",
    "sub_at_",
    "set_at_",
    "reciprocal_",
    "nan_to_zero_",
    "nan_to_one_",
    "add_nan_of_",
    "half_step",
]

_OUT_FRAMEWORKS = ("numpy", "cupy", "torch")


def fresh_fast(xp: ModuleType, x: Any) -> bool:
    """Will a fresh temporary computed from ``x`` accept framework in-place ops?

    torch: when autograd records nothing and no compiler traces; NumPy and CuPy: always.
    """
    fw = framework_name(xp)
    if fw == "torch":
        return _torch_eager_no_grad()
    return fw in ("numpy", "cupy")


def _torch_eager_no_grad() -> bool:
    import torch

    return not torch.is_grad_enabled() and not torch.compiler.is_compiling()


def writable(xp: ModuleType, t: Any) -> bool:
    """May the fresh temporary ``t`` be updated in place (augmented assignment)?"""
    fw = framework_name(xp)
    if fw == "torch":
        return _torch_eager_no_grad()
    return fw in ("numpy", "cupy", "array_api_strict")


def _fast(xp: ModuleType, t: Any) -> str | None:
    """The framework name when ``t`` may be updated by a framework-specific in-place op."""
    fw = framework_name(xp)
    if fw not in _OUT_FRAMEWORKS:
        return None
    if fw == "torch" and not _torch_eager_no_grad():
        return None
    if fw == "numpy" and not t.flags.writeable:
        return None
    return fw


def _module(fw: str) -> ModuleType:
    import importlib

    return importlib.import_module(fw)


def unary_(xp: ModuleType, name: str, t: Any) -> Any:
    """``xp.<name>(t)``, written into ``t`` where the framework allows it."""
    fn = getattr(xp, name)
    if _fast(xp, t) is not None:
        return fn(t, out=t)
    return fn(t)


def iadd(xp: ModuleType, t: Any, v: Any) -> Any:
    """``t + v`` (``v`` broadcasts to ``t``), in place where allowed."""
    if writable(xp, t):
        t += v
        return t
    return t + v


def isub(xp: ModuleType, t: Any, v: Any) -> Any:
    """``t - v`` (``v`` broadcasts to ``t``), in place where allowed."""
    if writable(xp, t):
        t -= v
        return t
    return t - v


def imul(xp: ModuleType, t: Any, v: Any) -> Any:
    """``t * v`` (``v`` broadcasts to ``t``), in place where allowed."""
    if writable(xp, t):
        t *= v
        return t
    return t * v


def isub_mul(xp: ModuleType, t: Any, a: Any, b: Any) -> Any:
    """``t - a * b``; torch fuses it (``addcmul_``) without a temporary."""
    if _fast(xp, t) == "torch":
        return t.addcmul_(a, b, value=-1)
    return isub(xp, t, a * b)


def fill_where_(xp: ModuleType, t: Any, cond: Any, value: Any) -> Any:
    """``where(cond, value, t)`` for a scalar ``value`` (a masked fill of ``t``)."""
    fw = _fast(xp, t)
    if fw == "torch":
        return t.masked_fill_(cond, value)
    if fw in ("numpy", "cupy"):
        _module(fw).copyto(t, value, where=cond)
        return t
    return xp.where(cond, value, t)




def sub_at_(xp: ModuleType, G: Any, idx: Any, v: Any, axis: int, onehot: Any) -> Any:
    """``G - where(onehot(idx), v, 0)``: subtract ``v`` (keepdims rows) at one class per row.

    torch uses ``scatter_add_`` and NumPy a take/put along the axis (O(rows), no one-hot);
    elsewhere ``onehot()`` builds the boolean one-hot mask.
    """
    fw = _fast(xp, G)
    if fw == "torch":
        import torch

        src = -v if isinstance(v, torch.Tensor) else torch.full((), -v, dtype=G.dtype, device=G.device)
        if idx.dtype != torch.int64:
            idx = idx.to(torch.int64)
        return G.scatter_add_(axis, idx, src.to(G.dtype).expand(idx.shape))
    if fw == "numpy":
        import numpy as np

        np.put_along_axis(G, idx, np.take_along_axis(G, idx, axis=axis) - v, axis=axis)
        return G
    return G - xp.where(onehot(), v, 0.0)


def set_at_(xp: ModuleType, G: Any, idx: Any, v: Any, axis: int, onehot: Any) -> Any:
    """``where(onehot(idx), v, G)``: write ``v`` (keepdims rows, or a number) at one class
    per row; torch ``scatter_`` and NumPy ``put_along_axis`` in place (O(rows)),
    elsewhere the boolean ``onehot()`` mask."""
    fw = _fast(xp, G)
    if fw == "torch":
        import torch

        if idx.dtype != torch.int64:
            idx = idx.to(torch.int64)
        if isinstance(v, torch.Tensor):
            return G.scatter_(axis, idx, v.to(G.dtype).expand(idx.shape))
        return G.scatter_(axis, idx, v)
    if fw == "numpy":
        import numpy as np

        np.put_along_axis(G, idx, v, axis=axis)
        return G
    return xp.where(onehot(), v, G)


def reciprocal_(xp: ModuleType, t: Any) -> Any:
    """``1 / t``, in place where the framework allows it."""
    fw = _fast(xp, t)
    if fw == "torch":
        return t.reciprocal_()
    if fw in ("numpy", "cupy"):
        return _module(fw).reciprocal(t, out=t)
    return 1.0 / t



def nan_to_zero_(xp: ModuleType, t: Any) -> Any:
    """NaN entries of ``t`` set to 0 (``±inf`` kept): one in-place pass on torch/NumPy/CuPy."""
    fw = _fast(xp, t)
    if fw == "torch":
        return t.nan_to_num_(nan=0.0, posinf=float("inf"), neginf=float("-inf"))
    if fw in ("numpy", "cupy"):
        return _module(fw).nan_to_num(t, copy=False, nan=0.0, posinf=float("inf"), neginf=float("-inf"))
    return xp.where(t != t, 0.0, t)


def add_nan_of_(xp: ModuleType, t: Any, v: Any) -> Any:
    """``t + 0·v``: NaN (and ``0·inf``) of ``v`` reach ``t``; in place where allowed."""
    if _fast(xp, t) == "torch":
        return t.add_(v, alpha=0.0)
    return iadd(xp, t, 0.0 * v)


def nan_to_one_(xp: ModuleType, t: Any) -> Any:
    """NaN entries of ``t`` set to 1 (``±inf`` kept), in place where allowed."""
    fw = _fast(xp, t)
    if fw == "torch":
        return t.nan_to_num_(nan=1.0, posinf=float("inf"), neginf=float("-inf"))
    if fw in ("numpy", "cupy"):
        return _module(fw).nan_to_num(t, copy=False, nan=1.0, posinf=float("inf"), neginf=float("-inf"))
    return xp.where(t != t, 1.0, t)


def half_step(xp: ModuleType, x: Any) -> Any:
    """A fresh ``(1 + sign(x)) / 2``: 1 for ``x > 0``, 0 for ``x < 0``, ½ at 0, NaN for NaN
    (torch/NumPy/CuPy: ``sign`` and two in-place passes, no boolean)."""
    fw = _fast(xp, x)
    if fw is not None:
        h = _module(fw).sign(x)
        h += 1.0
        h *= 0.5
        return h
    return xp.where(x > 0, 1.0, xp.where(x < 0, 0.0, xp.where(x == 0, 0.5, x)))
