"""The public :func:`linear_cross_entropy` (math: :mod:`xbackend._lib._linear`; autodiff
hooks: :mod:`xbackend._backends._linear`)."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

from xbackend._backends import backend
from xbackend._backends._linear import apply_linear
from xbackend._lib import _checks
from xbackend._lib import _linear as L
from xbackend._lib._docs import doc
from xbackend._lib._dtypes import cast
from xbackend._lib._inputs import class_vector, prepare, quiet_numpy
from xbackend._lib._labels import label_state
from xbackend._lib._reduce import prepare_weights
from xbackend._lib._types import Array, ChunkSize, Invalid, Reduction

__all__ = ["linear_cross_entropy"]


def _check_chunk_size(chunk_size: Any) -> None:
    if chunk_size is None or chunk_size == "auto":
        return
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise TypeError(f"chunk_size must be None, 'auto' or a positive int (vocabulary columns), got {chunk_size!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of vocabulary columns, got {chunk_size}")


def _check_softcap(softcap: Any) -> float | None:
    if softcap is None:
        return None
    if isinstance(softcap, bool) or not isinstance(softcap, (int, float)):
        raise TypeError(f"softcap must be None or a positive Python number, got {type(softcap).__name__}")
    v = float(softcap)
    if not (v > 0.0 and math.isfinite(v)):
        raise ValueError(f"softcap must be a finite number > 0, got {softcap!r}")
    return v


def _check_shapes(xp: ModuleType, hidden: Any, weight: Any, bias: Any, labels: Any) -> tuple[int, int]:
    hs, ws = _checks.shape_of(hidden), _checks.shape_of(weight)
    if len(hs) < 1:
        raise ValueError("hidden must have shape (..., D) with at least one axis, got a 0-d array")
    if len(ws) != 2:
        raise ValueError(f"weight must have shape (V, D) (torch.nn.Linear's layout; JAX kernels are (D, V): pass kernel.T), got shape {ws}")
    V, D = ws
    if V == 0:
        raise ValueError("weight has no classes: shape (0, D)")
    if hs[-1] != D:
        raise ValueError(
            f"hidden with shape {hs} and weight with shape {ws} do not match: hidden's last axis "
            f"must be weight's second (D={D}); a JAX kernel of shape (D, V) is passed as kernel.T"
        )
    if weight.dtype != hidden.dtype:
        raise TypeError(f"weight must have hidden's dtype {hidden.dtype}, got {weight.dtype}; cast one of them")
    if bias is not None:
        _checks.require_array(bias, "bias")
        if _checks.shape_of(bias) != (V,):
            raise ValueError(f"bias must have shape ({V},) (one value per class), got shape {_checks.shape_of(bias)}")
        if bias.dtype != hidden.dtype:
            raise TypeError(f"bias must have hidden's dtype {hidden.dtype}, got {bias.dtype}; cast it")
    _checks.check_integer_labels(xp, labels)
    ls = _checks.shape_of(labels)
    if len(ls) != len(hs) - 1 or any(a != b and a is not None and b is not None for a, b in zip(ls, hs[:-1], strict=False)):
        raise ValueError(
            f"labels with shape {ls} do not match hidden with shape {hs}: labels must have "
            f"hidden's shape without its last axis, i.e. {hs[:-1]}"
        )
    return V, D


@quiet_numpy
@doc(x="labels")
def linear_cross_entropy(
    hidden: Array,
    weight: Any,
    labels: Any,
    /,
    *,
    bias: Any = None,
    ignore_index: int | None = None,
    class_weights: Any = None,
    weights: Any = None,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: float | None = None,
    reduction: Reduction = "none",
    invalid: Invalid = "nan",
    dtype: Any = None,
    chunk_size: ChunkSize = "auto",
    xp: ModuleType | None = None,
) -> Array:
    r"""Softmax cross-entropy of a linear layer's output, without materialising the logits.

    With the logits :math:`z = h W^\top + b` (soft-capped, :math:`x = s\tanh(z/s)`, when
    ``softcap=s``; otherwise :math:`x = z`), per row, :math:`a = (1-\varepsilon)\,w_y`,
    :math:`b = \varepsilon/V`:

    .. math::

        \ell = \Big(a + b\sum_c w_c\Big)\mathrm{lse}(x) - a\,x_y - b\sum_c w_c x_c
             \;[+\ z\,\mathrm{lse}(x)^2]

    -- exactly :func:`sparse_softmax_cross_entropy` of the materialised logits
    ``hidden @ weight.T + bias`` (soft-capped first), with every option meaning the same.
    The ``(N, V)`` logits and their gradient are never held in full: the vocabulary and
    the rows are processed in blocks with an online log-sum-exp, the label's logit is the
    row-wise dot product :math:`h_i\cdot W_{y_i} + b_{y_i}`, and the analytic gradients
    :math:`\nabla_h = G W`, :math:`\nabla_W = G^\top h`, :math:`\nabla_b = \sum_i G_i`
    (:math:`G` the logits' gradient, one block at a time) are registered with torch,
    JAX and TensorFlow.

    Parameters
    ----------
    hidden : array
        ``(..., D)`` real floating (the input of an LM head).
    weight : array
        ``(V, D)``, hidden's dtype: ``torch.nn.Linear``'s layout. A JAX/Flax kernel of
        shape ``(D, V)`` is passed as ``kernel.T``.
    labels : array
        Integer class indices of shape ``hidden.shape[:-1]``.
    bias : array, optional
        ``(V,)``, hidden's dtype.
    ignore_index, class_weights, weights, label_smoothing, z_loss, reduction, invalid
        As in :func:`sparse_softmax_cross_entropy` (``weights`` broadcast to
        ``labels.shape``). ``class_weights`` and ``weights`` are constants here (no
        gradient flows to them).
    softcap : float, optional
        Gemma 2's logit soft-capping :math:`s\tanh(z/s)`, applied before the loss.
    dtype : dtype, optional
        Result dtype (default: hidden's dtype). The matrix products run in the inputs'
        dtype; float16/bfloat16 logits are cast block by block to float32, where the
        loss and the gradient accumulators are computed. Gradients come back in each
        input's dtype.
    chunk_size : int, "auto" or None
        **Vocabulary columns** per block (the sparse loss's ``chunk_size`` counts rows;
        here the vocabulary is the axis that makes the logits large). With an int, a
        block is ``chunk_size`` columns by as many rows as fit in 16 MiB of compute-dtype
        logits, so memory stays bounded whatever ``V`` and ``N``; the gradient then
        recomputes each block's logits (four matrix products instead of three).
        ``"auto"`` (default) keeps the whole vocabulary in each block (three products)
        and splits the rows into blocks of about 16 MiB of logits when the full logits
        would exceed 64 MiB and the row count is a concrete int (not a dynamic batch
        under ``torch.compile``); it splits the vocabulary only when 16 rows exceed
        16 MiB. On JAX a sharded ``weight`` is thus never split along the vocabulary.
        None: one block (the logits of all rows exist, as a temporary).
    %(xp)s

    %(returns_elements)s

    Notes
    -----
    Gradients: with a scalar ``reduction`` and an input that needs a gradient, the
    forward computes the gradients in the same block pass (the loss is the last
    operation, so the backward only scales them by the incoming number): the naive
    version's three matrix products. With ``reduction="none"`` the incoming gradient is
    a vector, so the forward keeps each row's log-sum-exp and the backward makes a second
    pass (four products). Without gradients (``torch.no_grad``, inputs without
    ``requires_grad``, JAX outside ``grad``, an eager TensorFlow call no tape watches),
    only the loss is computed. Logits are assumed finite (a non-finite ``hidden``,
    ``weight`` or ``bias`` gives NaN rows; ``-inf`` is not a class mask here).
    Ignored rows give 0 with gradient 0; out-of-range labels follow ``invalid`` and never
    reach a gather.

    Examples
    --------
    >>> import numpy as np, xbackend as xb
    >>> h = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> W = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> xb.linear_cross_entropy(h, W, np.array([2, 1]), reduction="mean")
    np.float64(0.8103...)
    """
    _checks.require_array(weight, "weight")
    inp = prepare(
        hidden, labels, weight, bias, class_weights, weights, xp=xp, dtype=dtype, reduction=reduction,
        name="hidden", cast_first=False,
    )  # fmt: skip
    xp, ct = inp.xp, inp.compute
    V, D = _check_shapes(xp, hidden, weight, bias, labels)
    _checks.check_choice(invalid, "invalid", _checks.INVALID_POLICIES)
    if ignore_index is not None:
        _checks.check_ignore_index(ignore_index)
    eps = _checks.check_fraction(label_smoothing, "label_smoothing")
    zl = _checks.check_nonnegative_number(z_loss, "z_loss")
    cap = _check_softcap(softcap)
    _check_chunk_size(chunk_size)
    row_shape = tuple(labels.shape)
    cw = class_vector(xp, class_weights, V, "class_weights", ct)
    w = prepare_weights(xp, weights, _checks.shape_of(labels), ct)

    h = xp.reshape(hidden, (-1, D))
    y = xp.reshape(labels, (-1,))
    n = h.shape[0]
    n = int(n) if isinstance(n, int) else n
    y, keep, counted = label_state(xp, y, V, ignore_index, invalid, ct)
    item = xp.finfo(ct).bits // 8
    rows, cols = L.plan(n, V, item, chunk_size, can_block=not backend(xp).compiling())
    st = L.LinearStatic(V, eps, zl, cap, rows, cols, ct)
    consts = (y, keep, cw)

    if w is not None and tuple(w.shape) != row_shape:
        w = xp.broadcast_to(w, row_shape)
    wf = None if w is None else xp.reshape(w, (-1,))
    if reduction == "none":
        loss = apply_linear(xp, st, h, weight, bias, consts, None)
        loss = xp.reshape(loss, row_shape)
        if w is not None:
            loss = loss * w
        return cast(xp, loss, inp.out)
    # scalar reductions: the per-row coefficient c_i, so that the result is Σ c_i ℓ_i
    zero = xp.zeros_like(xp.astype(y, ct))  # (N,), also when N is unknown at trace time
    wv = zero + 1.0 if wf is None else wf
    if reduction == "sum":
        coef = wv
    elif reduction == "sum_over_batch_size" or (counted is None and cw is None and wf is None):
        coef = wv / _count(xp, n, zero)  # a "mean" whose denominator is the row count is this too
    else:  # "mean": Σ w ℓ / Σ w r, r = counted · class_weights[y]; a zero denominator gives 0
        r = zero + 1.0 if counted is None else xp.astype(counted, ct)
        if cw is not None:
            r = r * xp.take(cw, y, axis=0)
        den = xp.sum(wv * r)
        coef = wv / xp.where(den == 0, 1.0, den)
    return cast(xp, apply_linear(xp, st, h, weight, bias, consts, coef), inp.out)


def _count(xp: ModuleType, n: Any, zero: Any) -> Any:
    """The number of rows (at least 1: an empty batch reduces to 0)."""
    if isinstance(n, int):
        return float(max(n, 1))
    cnt = xp.sum(zero + 1.0)
    return xp.where(cnt == 0, 1.0, cnt)
