"""Integer class labels: range checks, ``ignore_index`` and the ``invalid`` policy.

Backends disagree on out-of-range gathers (torch and CuPy wrap modulo C, JAX returns
NaN, NumPy raises, torch on CUDA device-asserts), so a bad label never reaches a
gather: labels are clipped into range first and each row carries a factor

* 1 for a normal row,
* 0 for a row whose label equals ``ignore_index`` (loss 0, gradient 0, not counted
  by ``"mean"``),
* NaN for any other out-of-range label under ``invalid="nan"`` (the row's loss and its
  gradient are NaN, so the error is visible in any reduction; no host sync, jit-safe).

``invalid="raise"`` checks the values and raises :class:`ValueError` naming the first
bad label. Concrete arrays are checked at once (a device sync, asked for explicitly);
Dask arrays are checked lazily, when the result is computed; traced arrays (``jax.jit``,
``tf.function``) raise at trace time because their values do not exist yet.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from xbackend._backends import backend


def _bad_label_message(
    values: np.ndarray, bad: np.ndarray, n_classes: int, ignore_index: Any, offset: tuple | None = None
) -> str:
    """``offset``: where a Dask block starts, so the position is the label's global index."""
    local = tuple(int(i) for i in np.argwhere(bad)[0])
    pos = local if offset is None else tuple(o + i for o, i in zip(offset, local))
    scope = "in all" if offset is None else "in this chunk"
    return (
        f"labels must be class indices in [0, {n_classes})"
        + ("" if ignore_index is None else f" or ignore_index={ignore_index}")
        + f"; got {values[local].item()!r} at position {pos} ({int(bad.sum())} bad label(s) {scope})"
    )


def _host_bad(values: np.ndarray, n_classes: int, ignore_index: Any) -> np.ndarray:
    bad = (values < 0) | (values >= n_classes)
    if ignore_index is not None:
        bad &= values != ignore_index
    return bad


def _raise_if_bad(xp: ModuleType, labels: Any, n_classes: int, ignore_index: Any) -> Any:
    """Check label values for ``invalid="raise"``; returns the labels (lazily checked on Dask)."""
    be = backend(xp)
    if be.lazy:

        def check_block(block: np.ndarray, block_info: Any = None) -> np.ndarray:
            bad = _host_bad(block, n_classes, ignore_index)
            if bad.any():
                loc = (block_info or {}).get(0, {}).get("array-location")
                offset = tuple(start for start, _ in loc) if loc else ()
                raise ValueError(_bad_label_message(block, bad, n_classes, ignore_index, offset))
            return block

        return labels.map_blocks(check_block, dtype=labels.dtype)
    if be.is_traced(labels):
        raise ValueError(
            "invalid='raise' needs concrete label values, but labels are traced (inside "
            "jax.jit or tf.function); use invalid='nan' (bad labels give a NaN row) or "
            "check the labels outside the compiled function"
        )
    values = be.to_host(labels)
    bad = _host_bad(values, n_classes, ignore_index)
    if bad.any():
        raise ValueError(_bad_label_message(values, bad, n_classes, ignore_index))
    return labels


def label_state(
    xp: ModuleType, labels: Any, n_classes: int, ignore_index: Any, invalid: str, dtype: Any, *, be: Any = None
) -> tuple[Any, Any, Any]:
    """Return ``(safe_labels, keep, counted)`` for integer ``labels``.

    ``safe_labels`` are in ``[0, n_classes)``; ``keep`` is the per-row factor described
    in the module docstring (None when every row is known to be normal); ``counted``
    is a boolean row mask for the ``"mean"`` denominator (None = every row).
    """
    if invalid == "raise":
        labels = _raise_if_bad(xp, labels, n_classes, ignore_index)
    in_range = (labels >= 0) & (labels < n_classes)
    safe = xp.where(in_range, labels, 0)
    safe = (be or backend(xp)).index(safe)  # e.g. torch's gathers take int64 indices only
    ignored = None if ignore_index is None else labels == ignore_index
    if invalid == "raise":
        if ignored is None:
            return safe, None, None
        return safe, xp.astype(~ignored, dtype), ~ignored
    keep = xp.where(in_range, xp.astype(in_range, dtype), xp.nan)
    if ignored is None:
        return safe, keep, None
    return safe, xp.where(ignored, 0.0, keep), ~ignored
