"""Dask: lazy arrays, no autodiff, no in-place updates; values are never read eagerly
(``invalid="raise"`` checks each block when the result is computed)."""

from __future__ import annotations

from xbackend._backends._base import Backend

__all__ = ["DaskBackend"]


class DaskBackend(Backend):
    name = "dask"
    lazy = True
    single_device = True
