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
bad label. Concrete arrays are checked at once, on their device (one reduction and one
scalar transfer: a device sync, asked for explicitly); torch ``meta`` tensors raise;
Dask arrays are checked lazily, when the result is computed; traced arrays (``jax.jit``,
``tf.function``) raise at trace time because their values do not exist yet.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from xbackend._backends import backend
from xbackend._lib._kernels import device_of


def _bad_label_message(n_classes: int, ignore_index: Any) -> Callable[[Any, tuple, int, str], str]:
    def describe(value: Any, pos: tuple, count: int, scope: str) -> str:
        return (
            f"labels must be class indices in [0, {n_classes})"
            + ("" if ignore_index is None else f" or ignore_index={ignore_index}")
            + f"; got {value!r} at position {pos} ({count} bad label(s) {scope})"
        )

    return describe


def raise_if(
    xp: ModuleType,
    values: Any,
    bad_of: Callable[[Any], Any],
    describe: Callable[[Any, tuple, int, str], str],
    name: str,
    noun: str,
) -> Any:
    """``invalid="raise"``: :class:`ValueError` (``describe(value, position, count, scope)``)
    if ``bad_of(values)`` -- operators only, so that it also runs on NumPy blocks -- has a
    True entry. Returns ``values`` (on Dask: a lazily checked copy, to be used instead).

    Concrete arrays are checked on their own device: one reduction (the count) and one
    scalar transfer; only when something is bad are the first position (one more
    reduction) and the value there fetched. Nothing is converted to NumPy, so it works on
    any device (CuPy, CUDA, array-api-strict's second device). Dask arrays are checked
    block by block when computed; traced arrays (``jax.jit``, ``tf.function``) raise at
    trace time; torch ``meta`` tensors (no values) raise.
    """
    be = backend(xp)
    if be.lazy:

        def check_block(block: np.ndarray, block_info: Any = None) -> np.ndarray:
            bad = np.asarray(bad_of(block))
            if bad.any():
                loc = (block_info or {}).get(0, {}).get("array-location")
                offset = tuple(start for start, _ in loc) if loc else ()
                local = tuple(int(i) for i in np.argwhere(bad)[0])
                pos = tuple(o + i for o, i in zip(offset, local, strict=False)) if offset else local
                raise ValueError(describe(block[local].item(), pos, int(bad.sum()), "in this chunk"))
            return block

        return values.map_blocks(check_block, dtype=values.dtype)
    if be.is_traced(values):
        raise ValueError(
            f"invalid='raise' needs concrete {noun} values, but {name} {_are(name)} traced (inside "
            f"jax.jit or tf.function); use invalid='nan' (bad {noun}s give NaN) or "
            f"check the {name} outside the compiled function"
        )
    why = be.no_values(values)
    if why is not None:
        raise ValueError(f"invalid='raise' needs the values of {name}, but {name} {_are(name)} {why}; use invalid='nan'")
    shape = tuple(int(d) for d in values.shape)
    n = math.prod(shape)
    flat = xp.reshape(bad_of(values), (n,))
    count = int(xp.sum(xp.astype(flat, xp.int32)))  # the one reduction + transfer of a clean call
    if count:
        # first True: n - max(where(bad, n - i, 0)) (max, where and arange exist everywhere)
        down = n - xp.arange(n, device=device_of(xp, flat))
        first = n - int(xp.max(xp.where(flat, down, xp.zeros_like(down))))
        value = xp.reshape(values, (n,))[first]
        value = int(value) if xp.isdtype(values.dtype, ("integral", "bool")) else float(value)
        pos = tuple(int(i) for i in np.unravel_index(first, shape))
        raise ValueError(describe(value, pos, count, "in all"))
    return values


def _are(name: str) -> str:
    return "are" if name.endswith("s") else "is"


def _raise_if_bad(xp: ModuleType, labels: Any, n_classes: int, ignore_index: Any) -> Any:
    """Check label values for ``invalid="raise"``; returns the labels (lazily checked on Dask)."""

    def bad_of(v: Any) -> Any:
        bad = (v < 0) | (v >= n_classes)
        return bad if ignore_index is None else bad & (v != ignore_index)

    return raise_if(xp, labels, bad_of, _bad_label_message(n_classes, ignore_index), "labels", "label")


def label_state(
    xp: ModuleType, labels: Any, n_classes: Any, ignore_index: Any, invalid: str, dtype: Any, *, be: Any = None
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
