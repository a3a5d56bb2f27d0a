"""Argument checks shared by every public function.

Each check raises an exception whose message names the argument and the problem.
Checks that need an array's *values* (negative ``pos_weight``, label ranges) only
run where the values already live on the host -- Python numbers and NumPy arrays --
so no check ever synchronises a device, computes a Dask graph or breaks ``jax.jit``.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

REDUCTIONS = ("none", "sum", "mean", "sum_over_batch_size")
INVALID_POLICIES = ("nan", "raise")


def require_array(x: Any, name: str) -> None:
    if x is None or isinstance(x, (bool, int, float, complex)):
        hint = "" if x is None else "; wrap it in an array first, e.g. np.asarray(...) or torch.tensor(...)"
        raise TypeError(f"{name} must be an array, got {type(x).__name__} {x!r}{hint}")
    if isinstance(x, (list, tuple)):
        raise TypeError(
            f"{name} must be an array, got a Python {type(x).__name__}; "
            "convert it first, e.g. with np.asarray(...) or torch.tensor(...)"
        )


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {listed}; got {value!r}")


def check_reduction(reduction: Any) -> None:
    check_choice(reduction, "reduction", REDUCTIONS)


def check_real_floating(xp: ModuleType, x: Any, name: str) -> None:
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(
            f"{name} must have a real floating dtype (float16, bfloat16, float32 or "
            f"float64), got {x.dtype}; cast it first, e.g. xp.astype({name}, xp.float32)"
        )


def check_integer_labels(xp: ModuleType, y: Any, name: str = "labels") -> None:
    if not xp.isdtype(y.dtype, "integral"):
        raise TypeError(
            f"{name} must be integer class indices, got dtype {y.dtype}; for probability "
            "vectors use softmax_cross_entropy, or cast integer-valued floats with "
            f"xp.astype({name}, xp.int64)"
        )


def normalize_axis(axis: Any, ndim: int, name: str = "axis", target: str = "logits") -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(axis).__name__} {axis!r}")
    if ndim == 0:
        raise ValueError(f"{name}={axis} is out of range: {target} is 0-d (needs a class axis)")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}={axis} is out of range for {target} with {ndim} dimension(s)")
    return int(axis) % ndim


def shape_of(x: Any) -> tuple[Any, ...]:
    """``x.shape`` as a tuple; sizes stay what the framework gives (ints, ``None`` for
    sizes a TensorFlow graph does not know, symbolic sizes under a compiler)."""
    s = x.shape
    if isinstance(s, tuple):
        return tuple(s)
    return tuple(s.as_list()) if hasattr(s, "as_list") else tuple(s)


def broadcast_shapes(a: tuple, b: tuple, name_a: str, name_b: str) -> tuple:
    """NumPy broadcasting of two shapes (``None`` = unknown size); ValueError naming both."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        da = a[-i] if i <= len(a) else 1
        db = b[-i] if i <= len(b) else 1
        if da == 1:
            out.append(db)
        elif db == 1 or da == db or db is None:
            out.append(da)
        elif da is None:
            out.append(db)
        else:
            raise ValueError(
                f"{name_a} with shape {a} and {name_b} with shape {b} are not broadcastable"
            )
    return tuple(reversed(out))


def check_broadcasts_to(shape: tuple, target: tuple, name: str, target_name: str) -> None:
    """``shape`` must broadcast *to* ``target`` without changing ``target``."""
    try:
        result = broadcast_shapes(shape, target, name, target_name)
    except ValueError:
        result = None
    bad = result is None or len(shape) > len(target)
    if not bad:
        for r, t in zip(result, target):
            if r is not None and t is not None and r is not t and r != t:
                bad = True
    if bad:
        raise ValueError(
            f"{name} with shape {shape} does not broadcast to {target_name} shape {target}"
        )


def number_option(value: Any, name: str, check: Any) -> float:
    """``check(value, name)``, skipped for the default ``0.0`` (a Python float)."""
    return 0.0 if type(value) is float and value == 0.0 else check(value, name)


def check_fraction(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a Python number in [0, 1], got {type(value).__name__}")
    v = float(value)
    if not 0.0 <= v <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return v


def check_nonnegative_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a Python number >= 0, got {type(value).__name__}")
    v = float(value)
    if not 0.0 <= v < math.inf:  # also NaN; a comparison, not math.isinf (compilers may make v symbolic)
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def is_host_array(x: Any) -> bool:
    """True for values that can be inspected without a device sync or a lazy compute."""
    return isinstance(x, (bool, int, float, np.ndarray, np.generic))


def check_nonnegative_values(x: Any, name: str) -> None:
    """Value check, host data only (see module docstring)."""
    if isinstance(x, (bool, int, float)):  # a comparison, no NumPy (compilers may make x symbolic)
        if x < 0:
            raise ValueError(f"{name} must be >= 0, got a negative value {x!r}")
    elif is_host_array(x):
        a = np.asarray(x)
        if a.size and np.any(a < 0):
            raise ValueError(f"{name} must be >= 0, got a negative value {a[a < 0].flat[0].item()!r}")
