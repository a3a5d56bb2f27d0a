"""Dask: lazy arrays, no autodiff, no in-place updates; values are never read eagerly
(``invalid="raise"`` checks each block when the result is computed).

Chunks of unknown size (after a boolean filter, ``x[x[:, 0] > 0]``; shape ``(nan, C)``)
stay lazy: the library treats a NaN size as unknown (like TensorFlow's ``None``), counts
elements lazily where a reduction needs the count, and the kernels' namespace inserts
axes by indexing (``expand_dims`` reshapes, which needs the sizes).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from xbackend._backends._base import Backend, Functional

__all__ = ["DaskBackend"]


class DaskFunctional(Functional):
    """The functional kernel namespace with an ``expand_dims`` that needs no sizes."""

    def __init__(self, xp: ModuleType, backend: Backend) -> None:
        super().__init__(xp, backend)
        del self.expand_dims  # the copied namespace function: the method below instead

    def expand_dims(self, x: Any, /, *, axis: int = 0) -> Any:
        if axis < 0:
            axis += x.ndim + 1
        return x[(slice(None),) * axis + (None,)]


class DaskBackend(Backend):
    name = "dask"
    lazy = True
    single_device = True

    def __init__(self, xp: ModuleType) -> None:
        super().__init__(xp)
        self.functional = DaskFunctional(xp, self)

    def asarray_like(self, v: Any, like: Any) -> Any:
        return self.xp.asarray(v)
