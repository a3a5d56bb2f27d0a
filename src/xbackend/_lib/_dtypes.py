"""Dtype policy: float16/bfloat16 are computed in float32; results come back in the
input's dtype unless ``dtype=`` asks for another; float64 stays float64."""

from __future__ import annotations

from types import ModuleType
from typing import Any


def compute_dtype(xp: ModuleType, dtype: Any, requested: Any = None) -> Any:
    """float16/bfloat16 are computed in float32; a wider ``requested`` dtype widens."""
    ct = xp.float32 if xp.finfo(dtype).bits < 32 else dtype
    if requested is not None and xp.finfo(requested).bits > xp.finfo(ct).bits:
        ct = requested
    return ct


def check_dtype_arg(xp: ModuleType, dtype: Any) -> None:
    if dtype is None:
        return
    try:
        ok = xp.isdtype(dtype, "real floating")
    except Exception:
        ok = False
    if not ok:
        raise TypeError(f"dtype must be a real floating dtype of the input's namespace, got {dtype!r}")


def cast(xp: ModuleType, x: Any, dtype: Any) -> Any:
    """``astype`` without a copy when the dtype already matches.

    Objects without ``ndim`` (a ``tf.Variable``) always go through ``astype``, which turns
    them into arrays of the namespace.
    """
    return x if x.dtype == dtype and hasattr(x, "ndim") else xp.astype(x, dtype)


def out_dtype(xp: ModuleType, dtype: Any, requested: Any) -> Any:
    check_dtype_arg(xp, requested)
    return dtype if requested is None else requested
