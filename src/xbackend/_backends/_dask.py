"""Dask: lazy arrays, no autodiff, no in-place updates; values are never read eagerly
(``invalid="raise"`` checks each block when the result is computed)."""

from __future__ import annotations

from typing import Any

from xbackend._backends._base import Backend

__all__ = ["DaskBackend"]


class DaskBackend(Backend):
    name = "dask"
    lazy = True

    def asarray_like(self, v: Any, like: Any) -> Any:
        return self.xp.asarray(v)
