"""Argument checks shared by every public function.

Each check raises an exception whose message names the argument and the problem.
Checks here never read an array's *values* (only Python numbers), so none synchronises
a device, computes a Dask graph or breaks ``jax.jit``. Values that have no meaning
(out-of-range labels, probabilities outside [0, 1], negative weight arrays) follow the
``invalid`` policy instead: NaN where they apply, or -- asked for with
``invalid="raise"`` -- a check on the arrays' device (:func:`xbackend._lib._labels.raise_if`).

Float options (``label_smoothing``, ``z_loss``, ``gamma``, ``alpha``, ``pos_weight``,
``eps``) may be Python numbers, 0-d arrays or traced values (a schedule inside
``jax.jit``). Python numbers are range-checked at call time; array values are not (that
would read them back from the device, or fail on a tracer), except under
``invalid="raise"`` when they are concrete. :data:`FLOAT_OPTIONS` lists each public
function's float options with the check of a Python number, so that a backend can check
and then trace them (eager JAX passes them to its compiled program as arrays: a new
value never recompiles).
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

REDUCTIONS = ("none", "sum", "mean", "sum_over_batch_size")
INVALID_POLICIES = ("nan", "raise")


def check_ignore_index(ignore_index: Any) -> None:
    """``ignore_index`` (not None) is a Python int (bool is not)."""
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise TypeError(f"ignore_index must be an int or None, got {ignore_index!r}")


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


def shape_of(x: Any, name: str = "an input") -> tuple[Any, ...]:
    """``x.shape`` as a tuple: ints, ``None`` for sizes not known now (a TensorFlow graph's
    ``None``, and Dask's NaN for chunks of unknown size, e.g. after a boolean filter), and
    symbolic sizes under ``jax.export``. An unknown *rank* (``tf.TensorSpec(shape=None)``)
    raises :class:`ValueError` naming ``name``."""
    s = x.shape
    if not isinstance(s, tuple):
        if getattr(s, "rank", 0) is None:
            raise ValueError(
                f"{name} has an unknown number of dimensions (a TensorSpec with shape=None); "
                "give the input signature a rank, e.g. tf.TensorSpec(shape=[None, None])"
            )
        s = tuple(s.as_list()) if hasattr(s, "as_list") else tuple(s)
    for d in s:
        if d != d:  # NaN: Dask chunks of unknown size
            return tuple(None if d != d else d for d in s)
    return tuple(s)


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
    if result is not None and not bad:
        for r, t in zip(result, target, strict=False):
            if r is not None and t is not None and r is not t and r != t:
                bad = True
    if bad:
        raise ValueError(
            f"{name} with shape {shape} does not broadcast to {target_name} shape {target}"
        )


def number_option(value: Any, name: str, check: Any) -> float:
    """``check(value, name)``, skipped for the default ``0.0`` (a Python float)."""
    return 0.0 if type(value) is float and value == 0.0 else check(value, name)


def is_array_option(value: Any) -> bool:
    """True for an array (or tracer) option value -- it has a ``shape`` and a ``dtype`` --
    other than a NumPy one (host data: checked like a Python number)."""
    cls = type(value)  # the class, not the value: a symbolic number under torch.compile
    return (  # has no attributes Dynamo could look up
        hasattr(cls, "shape") and hasattr(cls, "dtype")
        and not isinstance(value, (type, np.generic, np.ndarray))
    )  # fmt: skip


def array_option(value: Any, name: str, what: str) -> Any:
    """A 0-d array option, returned unchecked (no host sync); other shapes raise."""
    shape = shape_of(value, name)
    if shape != ():
        raise ValueError(f"{name} must be a number {what} or a 0-d array, got an array of shape {shape}")
    return value


def _host_number(value: Any, name: str, what: str) -> Any:
    """A NumPy 0-d array as its scalar (checked like a Python number)."""
    if isinstance(value, np.ndarray):
        if value.shape != ():
            raise ValueError(f"{name} must be a number {what} or a 0-d array, got an array of shape {value.shape}")
        return value[()]
    return value


def check_fraction(value: Any, name: str) -> float:
    if is_array_option(value):
        return array_option(value, name, "in [0, 1]")
    value = _host_number(value, name, "in [0, 1]")
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a Python number in [0, 1] or a 0-d array, got {type(value).__name__}")
    v = float(value)
    if not 0.0 <= v <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return v


def check_nonnegative_number(value: Any, name: str) -> float:
    if is_array_option(value):
        return array_option(value, name, ">= 0")
    value = _host_number(value, name, ">= 0")
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a Python number >= 0 or a 0-d array, got {type(value).__name__}")
    v = float(value)
    if not 0.0 <= v < math.inf:  # also NaN; a comparison, not math.isinf (compilers may make v symbolic)
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def is_host_array(x: Any) -> bool:
    """True for values that can be inspected without a device sync or a lazy compute."""
    return isinstance(x, (bool, int, float, np.ndarray, np.generic))


def check_nonnegative_values(x: Any, name: str) -> None:
    """Value check of a Python number (arrays follow ``invalid``, see module docstring)."""
    if isinstance(x, (bool, int, float)):  # a comparison, no NumPy (compilers may make x symbolic)
        if x < 0:
            raise ValueError(f"{name} must be >= 0, got a negative value {x!r}")
    elif is_host_array(x):
        a = np.asarray(x)
        if a.size and np.any(a < 0):
            raise ValueError(f"{name} must be >= 0, got a negative value {a[a < 0].flat[0].item()!r}")


def check_eps(value: Any, name: str = "eps") -> float:
    """The clip bound of the probability losses: a number in ``(0, 0.5)`` or a 0-d array."""
    if is_array_option(value):
        return array_option(value, name, "in (0, 0.5)")
    value = _host_number(value, name, "in (0, 0.5)")
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a Python float in (0, 0.5) or a 0-d array, got {type(value).__name__}")
    if not 0.0 < value < 0.5:
        raise ValueError(f"{name} must be in (0, 0.5), got {value!r}")
    return float(value)


def check_pos_weight_number(value: Any, name: str = "pos_weight") -> float:
    """A Python ``pos_weight``: a number >= 0 (``inf`` allowed: only positives count)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number >= 0 or an array, got {type(value).__name__}")
    if value < 0:  # as check_nonnegative_values (NaN passes: a NaN loss follows)
        raise ValueError(f"{name} must be >= 0, got a negative value {value!r}")
    return float(value)


#: each public function's float options and the check of a Python-number value (the
#: backends that trace such options -- eager JAX -- run these checks first)
FLOAT_OPTIONS: dict[str, dict[str, Any]] = {
    "sigmoid_cross_entropy": {"label_smoothing": check_fraction, "pos_weight": check_pos_weight_number},
    "sigmoid_focal_loss": {"gamma": check_nonnegative_number, "alpha": check_fraction},
    "binary_cross_entropy": {"eps": check_eps},
    "softmax_cross_entropy": {"label_smoothing": check_fraction, "z_loss": check_nonnegative_number},
    "sparse_softmax_cross_entropy": {"label_smoothing": check_fraction, "z_loss": check_nonnegative_number},
    "softmax_focal_loss": {
        "gamma": check_nonnegative_number, "alpha": check_nonnegative_number, "label_smoothing": check_fraction,
    },
    "categorical_cross_entropy": {"eps": check_eps},
}

#: keyword options that take a number: a NumPy scalar there is a number, not an array
SCALAR_OPTIONS = frozenset(k for opts in FLOAT_OPTIONS.values() for k in opts)
