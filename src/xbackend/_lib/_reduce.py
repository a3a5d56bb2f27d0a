"""Weights, masks and the reduction vocabulary, shared by every loss.

``reduction`` is one of

* ``"none"``: the unreduced loss times ``weights``;
* ``"sum"``: ``Σ w·loss``;
* ``"mean"``: ``Σ w·loss / Σ w·r`` where ``r`` is each element's weight in the mean:
  0 for ignored labels, masked elements and fully masked rows, ``class_weights[y]``
  for an integer label (PyTorch's rule), ``Σ_c class_weights_c·y_c`` for a soft
  label with class weights, 1 otherwise;
* ``"sum_over_batch_size"``: ``Σ w·loss / n`` with ``n`` the number of elements of the
  unreduced loss (Keras' default; PyTorch's for probability targets and for BCE with
  ``weight``).

A mean whose denominator is 0 (an empty or fully ignored batch) is 0, never NaN.
Reductions accumulate in the compute dtype and return a 0-d array.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

from xbackend._backends import backend
from xbackend._lib import _checks
from xbackend._lib._dtypes import cast


def prepare_weights(xp: ModuleType, weights: Any, loss_shape: tuple, dtype: Any) -> Any:
    """Validate ``weights`` (an array broadcastable to the unreduced loss) and cast it."""
    if weights is None:
        return None
    _checks.require_array(weights, "weights")
    _checks.check_broadcasts_to(_checks.shape_of(weights, "weights"), loss_shape, "weights", "the unreduced loss")
    return xp.astype(weights, dtype)


def reduce_loss(
    xp: ModuleType,
    loss: Any,
    *,
    reduction: str,
    weights: Any = None,
    mean_weight: Any = None,
    out_dtype: Any,
) -> Any:
    """Apply ``weights`` and ``reduction`` to an unreduced ``loss`` (compute dtype).

    ``mean_weight`` is ``r`` above (broadcastable to ``loss``), or None for 1 everywhere.
    """
    wl = loss if weights is None else loss * weights
    if reduction == "none":
        if weights is not None and _checks.shape_of(wl) != _checks.shape_of(loss):
            wl = xp.broadcast_to(wl, loss.shape)  # (weights that broadcast: sizes known)
        return cast(xp, wl, out_dtype)
    total = xp.sum(wl)
    if reduction == "sum":
        return cast(xp, total, out_dtype)
    if reduction == "sum_over_batch_size" or (weights is None and mean_weight is None):
        n = _size(xp, loss)
        if n is not None:  # a count: an int, or a symbolic int under torch.compile
            return cast(xp, total / max(n, 1), out_dtype)
        # sizes unknown now (a TensorFlow graph, Dask chunks after a boolean filter, a
        # symbolic jax.export batch): the count is computed with the loss
        den = xp.sum(xp.ones_like(loss))
    else:  # "mean"
        r = 1.0 if mean_weight is None else mean_weight
        w = 1.0 if weights is None else weights
        den = xp.sum(w * r + xp.zeros_like(loss))
    return cast(xp, total / xp.where(den == 0, 1.0, den), out_dtype)


def _size(xp: ModuleType, loss: Any) -> Any:
    """The number of elements of ``loss`` as an int (or a symbolic int that divides like
    one, under torch.compile), or None when the sizes are not known now."""
    try:
        n = math.prod(tuple(loss.shape))
    except TypeError:  # None sizes
        return None
    if isinstance(n, int) or backend(xp).symbolic_sizes_divide:
        return n
    return None
