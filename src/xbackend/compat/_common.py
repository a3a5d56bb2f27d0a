"""Small helpers shared by the compat modules (argument checks, axis moves, one-hots).

No numerics live here: the compat functions call the core losses of :mod:`xbackend`.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

from xbackend._lib import _checks
from xbackend._lib._kernels import arange_along, device_of

__all__ = [
    "check_same_shape",
    "check_torch_reduction",
    "flatten_axes",
    "keras_epsilon",
    "onehot",
]


def check_same_shape(a: Any, b: Any, name_a: str, name_b: str, framework: str) -> None:
    """``framework`` requires ``a`` and ``b`` to have the same shape (unknown sizes pass)."""
    sa, sb = _checks.shape_of(a), _checks.shape_of(b)
    if len(sa) != len(sb) or any(x != y and x is not None and y is not None for x, y in zip(sa, sb, strict=False)):
        raise ValueError(
            f"{name_a} with shape {sa} and {name_b} with shape {sb} must have the same shape "
            f"(as in {framework})"
        )


def check_torch_reduction(reduction: Any) -> None:
    _checks.check_choice(reduction, "reduction", ("none", "mean", "sum"))


def flatten_axes(xp: ModuleType, x: Any, axes: tuple[int, ...]) -> Any:
    """Move ``axes`` to the end (keeping their order) and flatten them into one axis.

    This is optax's rule for a tuple ``axis``: the classes are the elements of the
    ``x[axes]`` slice, in C order.
    """
    ndim = len(x.shape)
    ax = tuple(_checks.normalize_axis(a, ndim) for a in axes)
    if len(set(ax)) != len(ax):
        raise ValueError(f"axis={axes} repeats an axis")
    batch = tuple(i for i in range(ndim) if i not in ax)
    perm = batch + ax
    if perm != tuple(range(ndim)):
        x = xp.permute_dims(x, perm)
    shape = tuple(x.shape)
    return xp.reshape(x, (*shape[:len(batch)], -1))


def onehot(xp: ModuleType, like: Any, labels: Any, axis: int, dtype: Any) -> Any:
    """One-hot of in-range integer ``labels`` along ``axis`` of ``like``'s shape."""
    n = like.shape[axis]
    grid = xp.astype(arange_along(xp, n, axis, len(like.shape), device_of(xp, like)), labels.dtype)
    return xp.astype(xp.expand_dims(labels, axis=axis) == grid, dtype)


def keras_epsilon() -> float:
    """Keras' fuzz factor: ``keras.config.epsilon()`` when Keras is loaded, else 1e-7.

    Looked up in :data:`sys.modules`, so calling a compat function never imports Keras.
    """
    keras = sys.modules.get("keras")
    config = getattr(keras, "config", None) if keras is not None else None
    if config is not None and hasattr(config, "epsilon"):
        return float(config.epsilon())
    return 1e-7
