r"""Oracles: float64 closed forms and the frameworks' native losses, side by side.

xbackend's losses are *never* implemented by the functions here; these are what they
are checked against (the conformance matrix in ``tests/`` and ``xbackend report``).
Importing this module imports NumPy only: every framework is imported inside the
function that needs it.

API
---
``closed_form(name, logits, labels=None, **options) -> np.ndarray``
    The float64 NumPy value of public function ``name`` (a loss in :data:`LOSSES` or a
    primitive in :data:`PRIMITIVES`), written straight from the mathematics with
    ``np.logaddexp``/``np.log1p`` and the ``0·log 0 = 0`` convention. It takes the public
    function's keyword options (``weights``, ``class_weights``, ``pos_weight``,
    ``label_smoothing`` with K unmasked classes, ``z_loss``, ``where``, ``ignore_index``,
    ``invalid``, ``axis``, ``gamma``, ``alpha``, ``eps``, ``reduction``, and for the
    primitives ``axis``/``keepdims``/``where``). Inputs are anything :func:`to_numpy`
    accepts (NumPy or any framework's arrays; they are converted to float64). Pass the
    *rounded* inputs (the low-precision arrays themselves) to compare a float16 result
    with the exact value of what it was given. ``dtype=``/``xp=`` are accepted and
    ignored. ``input_dtype=`` names the inputs' original dtype for the probability losses,
    whose default ``eps`` is ``finfo(input dtype).eps``.
``closed_form_grad(name, logits, labels=None, *, wrt="logits", cotangent=None, **options)``
    Central finite differences (float64, step ``eps^(1/3)·max(1, |v|)``) of
    ``sum(cotangent · closed_form(...))`` (no cotangent: of the reduced value) with
    respect to ``"logits"``, ``"labels"`` or ``"weights"``. Its error is about
    ``eps^(2/3)`` (≈ 4e-11) times the size of the function: :data:`FD_RTOL`.
``NATIVES`` / ``natives(loss=None, framework=None)`` / ``register(native)``
    The registry of :class:`Native` references: a framework's own loss, called on that
    framework's arrays with **xbackend's** option names (``Native.fn(logits, labels,
    **options)`` translates them), plus the table of which xbackend call it corresponds
    to (``Native.options``: xbackend option -> native spelling; ``Native.reductions``:
    xbackend reduction -> native reduction). ``Native.supports(options)`` says whether
    a cell can be expressed natively; ``Native.call_text``/``xbackend_text`` print both
    calls (e.g. for ``xbackend report``).

Correspondence table (``torch`` = ``torch.nn.functional``)
----------------------------------------------------------
=================================================================  ==============================================================================
native call                                                        xbackend call
=================================================================  ==============================================================================
torch ``binary_cross_entropy_with_logits(x, z, weight=w,           ``sigmoid_cross_entropy(x, z, weights=w, pos_weight=pw,
pos_weight=pw, reduction="mean")``                                 reduction="sum_over_batch_size")`` (torch's BCE "mean" divides by N·C)
torch ``cross_entropy(x, y_int, weight=w, ignore_index=i,           ``sparse_softmax_cross_entropy(x, y, class_weights=w, ignore_index=i,
label_smoothing=e, reduction="mean")``                             label_smoothing=e, reduction="mean")`` (mean divides by Σ w[y], non-ignored)
torch ``cross_entropy(x, y_prob, weight=w, label_smoothing=e,       ``softmax_cross_entropy(x, y, class_weights=w, label_smoothing=e,
reduction="mean")``                                                reduction="sum_over_batch_size")`` (torch divides by N for probabilities)
torchvision ``sigmoid_focal_loss(x, z, alpha=a, gamma=g,            ``sigmoid_focal_loss(x, z, alpha=a, gamma=g, reduction="mean")``
reduction="mean")`` (its formula in torch ops; ``alpha=-1``         (``alpha=None``)
means none)
torch ``binary_cross_entropy(p, z, weight=w, reduction="mean")``    ``binary_cross_entropy(p, z, weights=w, reduction="sum_over_batch_size")``
                                                                   (equal for p in [eps, 1-eps]; torch clamps log at -100 instead of clipping)
optax ``sigmoid_binary_cross_entropy(x, z)``                       ``sigmoid_cross_entropy(x, z)``
optax ``softmax_cross_entropy(x, smooth_labels(y, e, where=m),      ``softmax_cross_entropy(x, y, label_smoothing=e, where=m, axis=a)``
axis=a, where=m)``
optax ``safe_softmax_cross_entropy(x, y)``                          ``softmax_cross_entropy(x, y)`` (also right for -inf logits)
optax ``softmax_cross_entropy_with_integer_labels(x, y, axis=a,     ``sparse_softmax_cross_entropy(x, y, axis=a, where=m)``
where=m)``                                                         (labels on unmasked classes)
optax ``sigmoid_focal_loss(x, z, alpha=a, gamma=g)``               ``sigmoid_focal_loss(x, z, alpha=a, gamma=g)``
=================================================================  ==============================================================================

Natives known to be wrong (compare with :func:`closed_form` there):
torch's BCE-with-logits flushes small losses to 0 (``x=-30, z=0`` gives 0 in float32,
not 9.36e-14); ``optax.softmax_cross_entropy`` and torch's probability ``cross_entropy``
give NaN for a ``-inf`` logit with a zero label; TensorFlow's soft-label gradient is
``softmax - y`` (wrong when labels do not sum to 1); torch's probability-target
``"mean"`` with ``weight`` divides by N, so one-hot soft labels and their integer labels
disagree (the ``"mean"`` of xbackend divides by Σ w·y in both cases).

TensorFlow natives (``tf.nn.*``, Keras) are registered in the section marked
``TensorFlow natives`` at the end of this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "FD_RTOL",
    "LOSSES",
    "NATIVES",
    "PRIMITIVES",
    "Native",
    "closed_form",
    "closed_form_grad",
    "closed_form_grad_units",
    "natives",
    "register",
]

LOSSES = (
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
    "sparse_softmax_cross_entropy",
    "sigmoid_focal_loss",
    "softmax_focal_loss",
    "binary_cross_entropy",
    "categorical_cross_entropy",
)
PRIMITIVES = ("sigmoid", "log_sigmoid", "softplus", "logsumexp", "log_softmax", "softmax")

_EPS64 = float(np.finfo(np.float64).eps)
#: relative accuracy of :func:`closed_form_grad` (central differences, h = eps^(1/3)):
#: truncation h²·f'''/6 plus rounding eps·f/h, both about eps^(2/3); 16 covers f''' and
#: the few roundings of the difference quotient.
FD_RTOL = 16.0 * _EPS64 ** (2.0 / 3.0)


# =========================================================================== helpers


def _np(a: Any, dtype: Any = np.float64) -> Any:
    if a is None or isinstance(a, (bool, int, float)):
        return a
    from xbackend.testing import to_numpy

    arr = to_numpy(a)
    if dtype is None:
        return arr
    return arr.astype(dtype) if arr.dtype != np.bool_ else arr


def _mul0(coef: Any, value: Any) -> Any:
    """``coef · value`` with ``0 · (±inf or NaN-free) = 0``: the ``0·log 0 = 0`` convention."""
    with np.errstate(invalid="ignore"):
        return np.where(coef == 0, 0.0, coef * value)


def _softplus(x: Any) -> Any:
    """``log(1 + e^x)``, exact for ±inf."""
    return np.logaddexp(0.0, x)


def _sigmoid(x: Any) -> Any:
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _log_softmax_last(x: Any) -> tuple[Any, Any]:
    """``(log_softmax(x), logsumexp(x))`` along the last axis, float64, exact at the edges.

    -inf entries get -inf; a row with ``+inf`` entries shares the mass among them
    (``log p = -log n_inf``, other classes -inf, ``lse = +inf``); an all -inf row gives
    -inf everywhere (``lse = -inf``); a row with a NaN is NaN.
    """
    with np.errstate(all="ignore"):
        m = np.max(x, axis=-1, keepdims=True)
        posinf = x == np.inf
        n_inf = np.sum(posinf, axis=-1, keepdims=True)
        has_inf = n_inf > 0
        empty = m == -np.inf
        nan_row = np.any(np.isnan(x), axis=-1, keepdims=True)
        ms = np.where(has_inf | empty, 0.0, m)
        # log Σ exp(x - m) = log1p(the mass of every class but one maximum): the maximum
        # contributes exactly 1, so this keeps the digits of a loss below eps at the
        # dominant class (log(1 + 1e-17) is 0 in float64, log1p(1e-17) is not)
        e = np.exp(x - ms)
        first_max = np.arange(x.shape[-1]) == np.argmax(np.where(np.isnan(x), -np.inf, x), axis=-1)[..., None]
        rest = np.sum(np.where(first_max, 0.0, e), axis=-1, keepdims=True)
        lse_s = np.where(has_inf | empty, np.log(np.sum(e, axis=-1, keepdims=True)), np.log1p(rest))
        lse = ms + lse_s
        logp = (x - ms) - lse_s  # (x - m) is exact for the maximum: no rounding through lse
        logp = np.where(has_inf, np.where(posinf, -np.log(np.maximum(n_inf, 1)), -np.inf), logp)
        logp = np.where(empty, -np.inf, logp)
        lse = np.where(has_inf, np.inf, np.where(empty, -np.inf, lse))
        logp = np.where(nan_row, np.nan, logp)
        lse = np.where(nan_row, np.nan, lse)
    return logp, lse[..., 0]


def _reduce(loss: Any, weights: Any, reduction: str, mean_weight: Any = None) -> np.ndarray:
    """The reduction vocabulary of :mod:`xbackend._lib._reduce`, written out."""
    w = np.ones_like(loss) if weights is None else np.broadcast_to(weights, loss.shape)
    with np.errstate(invalid="ignore"):
        wl = loss * w
    if reduction == "none":
        return np.asarray(wl, dtype=np.float64)
    total = np.sum(wl)
    if reduction == "sum":
        return np.asarray(total, dtype=np.float64)
    if reduction == "sum_over_batch_size":
        return np.asarray(total / max(loss.size, 1), dtype=np.float64)
    if reduction == "mean":
        r = np.ones_like(loss) if mean_weight is None else np.broadcast_to(mean_weight, loss.shape)
        den = np.sum(w * r)
        return np.asarray(total / (den if den != 0 else 1.0), dtype=np.float64)
    raise ValueError(f"unknown reduction {reduction!r}")


def _classes_last(x: Any, axis: int, *others: Any) -> tuple:
    """Broadcast ``others`` to ``x`` and move ``axis`` last in all of them."""
    out = [np.moveaxis(x, axis, -1)]
    for o in others:
        out.append(None if o is None else np.moveaxis(np.broadcast_to(o, x.shape), axis, -1))
    return tuple(out)


def _int_label_state(labels: Any, n_classes: int, ignore_index: Any, invalid: str) -> tuple:
    labels = np.asarray(labels).astype(np.int64)
    ignored = np.zeros(labels.shape, bool) if ignore_index is None else labels == ignore_index
    in_range = (labels >= 0) & (labels < n_classes)
    bad = ~in_range & ~ignored
    if invalid == "raise" and bad.any():
        raise ValueError(f"labels must be class indices in [0, {n_classes}); got {labels[bad].flat[0]}")
    return np.where(in_range, labels, 0), ignored, bad


# ====================================================================== closed forms


def _sigmoid_cross_entropy(
    x, z, *, pos_weight=None, weights=None, label_smoothing=0.0, where=None, reduction="none"
):
    r"""``pw·z̃·softplus(-x) + (1-z̃)·softplus(x)``, ``z̃ = (1-ε)z + ε/2``."""
    z = np.broadcast_to(z, x.shape)
    z = (1.0 - label_smoothing) * z + label_smoothing / 2.0
    pw = 1.0 if pos_weight is None else np.broadcast_to(pos_weight, x.shape)
    loss = _mul0(pw * z, _softplus(-x)) + _mul0(1.0 - z, _softplus(x))
    mask = None
    if where is not None:
        mask = np.broadcast_to(where, x.shape)
        loss = np.where(mask, loss, 0.0)
        mask = mask.astype(np.float64)
    return _reduce(loss, weights, reduction, mask)


def _softmax_cross_entropy(
    x,
    y,
    *,
    axis=-1,
    class_weights=None,
    weights=None,
    label_smoothing=0.0,
    z_loss=0.0,
    where=None,
    reduction="none",
):
    r"""``-Σ_c w_c·ỹ_c·log softmax(x)_c [+ z·lse²]``, ``ỹ = (1-ε)y + ε·m/K`` over unmasked m."""
    if where is not None:
        x = np.where(where, x, -np.inf)
    x, y = _classes_last(x, axis, y)
    logp, lse = _log_softmax_last(x)
    unmasked = x != -np.inf
    K = np.sum(unmasked, axis=-1, keepdims=True)
    q = (1.0 - label_smoothing) * y + label_smoothing * unmasked / np.maximum(K, 1)
    cw = np.ones(x.shape[-1]) if class_weights is None else class_weights
    loss = -np.sum(_mul0(cw * q, logp), axis=-1)
    if z_loss:
        loss = loss + z_loss * lse**2
    nonempty = K[..., 0] > 0
    loss = np.where(nonempty, loss, 0.0)
    r = nonempty.astype(np.float64)
    if class_weights is not None:
        r = r * np.sum(cw * y, axis=-1)
    return _reduce(loss, weights, reduction, r)


def _sparse_softmax_cross_entropy(
    x,
    labels,
    *,
    axis=-1,
    ignore_index=None,
    class_weights=None,
    weights=None,
    label_smoothing=0.0,
    z_loss=0.0,
    where=None,
    reduction="none",
    invalid="nan",
):
    r"""``-(1-ε)·w_y·log p_y - (ε/K)·Σ_{c unmasked} w_c·log p_c [+ z·lse²]``.

    Ignored rows and fully masked rows give 0 and leave the ``"mean"`` denominator
    (which sums ``w_y``); an out-of-range label gives a NaN row (``invalid="nan"``).
    """
    if where is not None:
        x = np.where(where, x, -np.inf)
    (x,) = _classes_last(x, axis)
    C = x.shape[-1]
    safe, ignored, bad = _int_label_state(labels, C, ignore_index, invalid)
    logp, lse = _log_softmax_last(x)
    unmasked = x != -np.inf
    K = np.sum(unmasked, axis=-1)
    cw = np.ones(C) if class_weights is None else class_weights
    w_y = cw[safe]
    logp_y = np.take_along_axis(logp, safe[..., None], axis=-1)[..., 0]
    loss = -_mul0((1.0 - label_smoothing) * w_y, logp_y)
    if label_smoothing:
        smooth = -np.sum(_mul0(cw * unmasked, logp), axis=-1) / np.maximum(K, 1)
        loss = loss + label_smoothing * smooth
    if z_loss:
        loss = loss + z_loss * lse**2
    nonempty = K > 0
    loss = np.where(bad, np.nan, loss)
    loss = np.where(nonempty & ~ignored, loss, 0.0)
    r = (nonempty & ~ignored).astype(np.float64)
    if class_weights is not None:
        r = r * w_y
    return _reduce(loss, weights, reduction, r)


def _sigmoid_focal_loss(x, z, *, gamma=2.0, alpha=None, weights=None, where=None, reduction="none"):
    r"""``α_t·(1-p_t)^γ·bce(x, z)``, ``1-p_t = z·σ(-x) + (1-z)·σ(x)``, ``α_t = αz + (1-α)(1-z)``."""
    z = np.broadcast_to(z, x.shape)
    ce = _mul0(z, _softplus(-x)) + _mul0(1.0 - z, _softplus(x))
    u = z * _sigmoid(-x) + (1.0 - z) * _sigmoid(x)
    loss = ce * u**gamma if gamma else ce
    if alpha is not None:
        loss = _mul0(alpha * z + (1.0 - alpha) * (1.0 - z), loss)
    mask = None
    if where is not None:
        mask = np.broadcast_to(where, x.shape)
        loss = np.where(mask, loss, 0.0)
        mask = mask.astype(np.float64)
    return _reduce(loss, weights, reduction, mask)


def _softmax_focal_loss(
    x, labels, *, axis=-1, gamma=2.0, alpha=None, ignore_index=None, weights=None, label_smoothing=0.0,
    reduction="none", invalid="nan",
):
    r"""``-α_y·(1-p_y)^γ·log p_y`` with ``1 - p_y = -expm1(log p_y)``; with label smoothing
    ε, Keras' categorical focal form ``-Σ_c α_c·ỹ_c·(1-p_c)^γ·log p_c`` on the soft target
    ``ỹ = (1-ε)·onehot(y) + ε·m/K`` over the K unmasked classes m."""
    (x,) = _classes_last(x, axis)
    C = x.shape[-1]
    safe, ignored, bad = _int_label_state(labels, C, ignore_index, invalid)
    logp, _ = _log_softmax_last(x)
    if label_smoothing:
        unmasked = x != -np.inf
        K = np.sum(unmasked, axis=-1, keepdims=True)
        q = (1.0 - label_smoothing) * np.eye(C)[safe] + label_smoothing * unmasked / np.maximum(K, 1)
        if alpha is not None:
            q = q * (alpha if np.ndim(alpha) == 0 else np.asarray(alpha))
        with np.errstate(invalid="ignore"):
            terms = -logp * (-np.expm1(logp)) ** gamma if gamma else -logp
        loss = np.sum(_mul0(q, terms), axis=-1)
    else:
        logp_y = np.take_along_axis(logp, safe[..., None], axis=-1)[..., 0]
        with np.errstate(invalid="ignore"):
            loss = -logp_y * (-np.expm1(logp_y)) ** gamma if gamma else -logp_y
        if alpha is not None:
            a = alpha if np.ndim(alpha) == 0 else np.asarray(alpha)[safe]
            loss = _mul0(a, loss)
    nonempty = np.any(x != -np.inf, axis=-1)
    loss = np.where(bad, np.nan, loss)
    loss = np.where(nonempty & ~ignored, loss, 0.0)
    return _reduce(loss, weights, reduction, (nonempty & ~ignored).astype(np.float64))


def _default_eps(eps: Any, input_dtype: Any) -> float:
    if eps is not None:
        return float(eps)
    name = "float64" if input_dtype is None else str(input_dtype).split(".")[-1]
    if "bfloat16" in name:
        return 2.0**-7
    return float(np.finfo(np.dtype(name)).eps)


def _binary_cross_entropy(p, z, *, eps=None, weights=None, reduction="none", input_dtype=None):
    r"""``-z·log p_ε - (1-z)·log(1-p_ε)``, ``p_ε = clip(p, ε, 1-ε)``."""
    e = _default_eps(eps, input_dtype)
    z = np.broadcast_to(z, p.shape)
    pc = np.clip(p, e, 1.0 - e)
    loss = -(_mul0(z, np.log(pc)) + _mul0(1.0 - z, np.log1p(-pc)))
    return _reduce(loss, weights, reduction)


def _categorical_cross_entropy(p, y, *, axis=-1, eps=None, weights=None, reduction="none", input_dtype=None):
    r"""``-Σ_c y_c·log clip(p_c, ε, 1-ε)`` (rows are not renormalised)."""
    e = _default_eps(eps, input_dtype)
    p, y = _classes_last(p, axis, y)
    loss = -np.sum(_mul0(y, np.log(np.clip(p, e, 1.0 - e))), axis=-1)
    return _reduce(loss, weights, reduction)


# ------------------------------------------------------------------------ primitives


def _prim_logsumexp(x, *, axis=-1, keepdims=False, where=None):
    if where is not None:
        x = np.where(where, x, -np.inf)
    xl = np.moveaxis(x, axis, -1)
    _, lse = _log_softmax_last(xl)
    return np.expand_dims(lse, axis) if keepdims else lse


def _prim_log_softmax(x, *, axis=-1, where=None):
    if where is not None:
        x = np.where(where, x, -np.inf)
    logp, _ = _log_softmax_last(np.moveaxis(x, axis, -1))
    return np.moveaxis(logp, -1, axis)


def _prim_softmax(x, *, axis=-1, where=None):
    return np.exp(_prim_log_softmax(x, axis=axis, where=where))


_CLOSED: dict[str, Callable[..., Any]] = {
    "sigmoid_cross_entropy": _sigmoid_cross_entropy,
    "softmax_cross_entropy": _softmax_cross_entropy,
    "sparse_softmax_cross_entropy": _sparse_softmax_cross_entropy,
    "sigmoid_focal_loss": _sigmoid_focal_loss,
    "softmax_focal_loss": _softmax_focal_loss,
    "binary_cross_entropy": _binary_cross_entropy,
    "categorical_cross_entropy": _categorical_cross_entropy,
}
_PRIM: dict[str, Callable[..., Any]] = {
    "sigmoid": _sigmoid,
    "log_sigmoid": lambda x: -_softplus(-x),
    "softplus": _softplus,
    "logsumexp": _prim_logsumexp,
    "log_softmax": _prim_log_softmax,
    "softmax": _prim_softmax,
}
_INT_LABELS = ("sparse_softmax_cross_entropy", "softmax_focal_loss")
_ARRAY_OPTIONS = ("weights", "class_weights", "pos_weight", "where", "alpha")


def closed_form(name: str, logits: Any, labels: Any = None, **options: Any) -> np.ndarray:
    """The float64 closed form of xbackend's public function ``name`` (see module docstring).

    Parameters
    ----------
    name : str
        A loss in :data:`LOSSES` or a primitive in :data:`PRIMITIVES`.
    logits : array_like
        Logits (probabilities for ``binary_``/``categorical_cross_entropy``); any
        framework's array, converted to float64.
    labels : array_like, optional
        Labels (integer class indices for the sparse losses); not used by primitives.
    **options
        The public function's keyword options.

    Returns
    -------
    numpy.ndarray
        float64; 0-d for reductions.
    """
    options = dict(options)
    options.pop("dtype", None)
    options.pop("xp", None)
    input_dtype = options.pop("input_dtype", None)
    for key in _ARRAY_OPTIONS:
        if key in options and options[key] is not None and not isinstance(options[key], (int, float)):
            options[key] = _np(options[key], None if key == "where" else np.float64)
    if "where" in options and options["where"] is not None:
        options["where"] = np.asarray(options["where"], dtype=bool)
    x = _np(logits)
    if name in _PRIM:
        with np.errstate(all="ignore"):
            return np.asarray(_PRIM[name](x, **options), dtype=np.float64)
    if name not in _CLOSED:
        raise ValueError(f"unknown function {name!r}; known: {LOSSES + PRIMITIVES}")
    y = _np(labels, None if name in _INT_LABELS else np.float64)
    if name in ("binary_cross_entropy", "categorical_cross_entropy"):
        options["input_dtype"] = input_dtype
    with np.errstate(all="ignore"):
        return _CLOSED[name](x, y, **options)


def closed_form_grad(
    name: str,
    logits: Any,
    labels: Any = None,
    *,
    wrt: str = "logits",
    cotangent: Any = None,
    return_error: bool = False,
    **options: Any,
) -> Any:
    """Central finite differences of the closed form, in float64, Richardson-extrapolated.

    Differentiates ``s = sum(cotangent · closed_form(name, logits, labels, **options))``
    (``s`` = the value itself when ``cotangent`` is None) with respect to ``wrt``
    (``"logits"``, ``"labels"`` or ``"weights"``). Per entry, with
    ``h = eps^(1/3)·max(1, |v|)``, ``D(h) = (s(v+h) - s(v-h)) / 2h`` and the result is
    ``(4·D(h) - D(2h)) / 3`` (truncation error O(h⁴)). With ``return_error=True`` it also
    returns the bound of every entry's error (a float, normwise):
    ``FD_RTOL·max(Σ|terms of s|, max|result|)`` -- the rounding of ``s`` divided by the
    step, and the truncation, relative to the gradient's size (finite entries; a
    non-finite ``s`` counts 0). Not meant for points where the function is not smooth (a
    clip's kink, ±inf): see :func:`closed_form_grad_units`.
    """
    if wrt not in ("logits", "labels", "weights"):
        raise ValueError(f"wrt must be 'logits', 'labels' or 'weights', got {wrt!r}")
    args = {"logits": _np(logits), "labels": labels if labels is None else _np(labels, None), **options}
    if wrt == "labels":
        args["labels"] = _np(labels)
    v0 = np.array(_np(args[wrt]), dtype=np.float64)
    c = None if cotangent is None else _np(cotangent)

    def terms(v: np.ndarray) -> np.ndarray:
        a = dict(args)
        a[wrt] = v
        out = closed_form(name, a.pop("logits"), a.pop("labels"), **a)
        return out if c is None else _mul0(c, out)  # a zero cotangent ignores -inf outputs

    def f(v: np.ndarray) -> float:
        return float(np.sum(terms(v)))

    def d(i: tuple, h: float) -> float:
        vp, vm = v0.copy(), v0.copy()
        vp[i] += h
        vm[i] -= h
        with np.errstate(invalid="ignore"):  # inf - inf: no derivative there (NaN)
            return (f(vp) - f(vm)) / (vp[i] - vm[i])  # the step actually taken

    grad = np.zeros_like(v0)
    cbrt = _EPS64 ** (1.0 / 3.0)
    for i in np.ndindex(v0.shape):
        h = cbrt * max(1.0, abs(float(v0[i])))
        d1, d2 = d(i, h), d(i, 2.0 * h)
        grad[i] = (4.0 * d1 - d2) / 3.0
    if not return_error:
        return grad
    with np.errstate(invalid="ignore"):
        size = float(np.sum(np.abs(terms(v0))))
    fin = np.abs(grad[np.isfinite(grad)])
    return grad, FD_RTOL * max(size if np.isfinite(size) else 0.0, float(fin.max()) if fin.size else 0.0)


#: losses whose every element is independent (the others: every row along the last axis)
_ELEMENTWISE = ("sigmoid_cross_entropy", "sigmoid_focal_loss", "binary_cross_entropy")


def closed_form_grad_units(
    name: str, logits: Any, labels: Any, *, cotangent: Any = None, **options: Any
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`closed_form_grad` with respect to the logits (float64 NumPy inputs, reduction
    ``"none"``) one independent unit at a time -- an element of the elementwise losses, a
    row (classes last) of the others -- with its error bound per entry.

    For edge inputs: ±1e9 entries then do not swamp the other entries' differences with
    rounding noise, and a unit whose loss is inf or NaN (no derivative to compare) leaves
    only its own entries out (NaN)."""
    x, y = np.asarray(logits, dtype=np.float64), np.asarray(labels)
    grad = np.full(x.shape, np.nan)
    err = np.zeros(x.shape)
    units = list(np.ndindex(x.shape)) if name in _ELEMENTWISE else [(i,) for i in range(x.shape[0])]
    for u in units:
        sl = tuple(slice(i, i + 1) for i in u)
        opts: dict[str, Any] = {k: (v[sl] if isinstance(v, np.ndarray) and v.shape == x.shape else v)
                                for k, v in options.items()}
        ys = y[sl] if y.shape == x.shape else y[sl[:1]]
        with np.errstate(all="ignore"):
            v = closed_form(name, x[sl], ys, **opts)
        if not np.all(np.isfinite(v)):
            continue
        c = None if cotangent is None else cotangent[sl[: cotangent.ndim]]
        with np.errstate(all="ignore"):
            grad[sl], err[sl] = closed_form_grad(name, x[sl], ys, cotangent=c, return_error=True, **opts)
    return grad, err


# =========================================================================== natives


@dataclass(frozen=True)
class Native:
    """A framework's own loss, as a reference for one xbackend function.

    Attributes
    ----------
    key : str
        Short name used in test ids and reports, e.g. ``"torch.cross_entropy[indices]"``.
    framework : str
        Whose arrays ``fn`` takes: ``"torch"``, ``"jax"`` or ``"tensorflow"``.
    loss : str
        The xbackend function it corresponds to.
    fn : callable
        ``fn(logits, labels, **options)`` with **xbackend** option names and values
        (arrays of ``framework``); translates them to the native call.
    call : str
        The native call as a user writes it, e.g. ``"F.cross_entropy(x, y)"``.
    options : mapping
        xbackend option -> the native's spelling of it (only these options can be
        expressed natively).
    reductions : mapping
        xbackend reduction -> the native reduction that computes the same number.
    labels : str
        ``"binary"`` (elementwise probabilities), ``"soft"`` (probability vectors) or
        ``"int"`` (class indices).
    grad_wrt : tuple of str
        Arguments whose native autodiff gradient is a valid reference.
    axis_last_only : bool
        The native supports only the last axis as the class axis.
    grad_valid : callable, optional
        ``grad_valid(wrt, logits, labels) -> bool mask or None`` (float64 NumPy inputs):
        the entries where the native's autodiff gradient is a valid reference (None:
        all). Entries outside it are left out of native comparisons (compare them with
        :func:`closed_form_grad`).
    note : str
        Where the native differs from mathematics (the tests compare with
        :func:`closed_form` there).
    """

    key: str
    framework: str
    loss: str
    fn: Callable[..., Any]
    call: str
    options: Mapping[str, str] = field(default_factory=dict)
    reductions: Mapping[str, str] = field(default_factory=lambda: {"none": "none"})
    labels: str = "binary"
    grad_wrt: tuple = ("logits",)
    axis_last_only: bool = False
    grad_valid: Callable[..., Any] | None = None
    note: str = ""

    def supports(self, options: Mapping[str, Any]) -> bool:
        """Can ``loss(x, y, **options)`` be computed by this native?"""
        for k, v in options.items():
            if k == "reduction":
                if v not in self.reductions:
                    return False
            elif k == "axis":
                if self.axis_last_only and v not in (-1, None):
                    return False
            elif v is not None and k not in self.options:
                return False
        return options.get("reduction", "none") in self.reductions

    def cell_id(self, options: Mapping[str, Any]) -> str:
        """Test id in the native's own vocabulary, e.g. ``weight-ignore_index-mean``."""
        parts = [self.options[k] for k in options if k not in ("reduction", "axis") and k in self.options]
        if "axis" in options and options["axis"] not in (-1, None):
            parts.append(f"axis={options['axis']}")
        red = options.get("reduction", "none")
        parts.append(self.reductions[red] if self.reductions[red] == red else f"{self.reductions[red]}=xb.{red}")
        return "-".join(parts)

    def call_text(self, options: Mapping[str, Any]) -> str:
        extra = [f"{self.options[k]}=…" for k in options if k not in ("reduction",) and k in self.options]
        red = self.reductions[options.get("reduction", "none")]
        if len(self.reductions) > 1:
            extra.append(f"reduction={red!r}")
        head = self.call[:-1] if self.call.endswith(")") else self.call
        return head + "".join(", " + e for e in extra) + ")"

    def xbackend_text(self, options: Mapping[str, Any]) -> str:
        extra = [f"{k}=…" if k != "reduction" else f"reduction={v!r}" for k, v in options.items() if v is not None]
        return f"xbackend.{self.loss}(x, y" + "".join(", " + e for e in extra) + ")"


#: The registry: key -> Native. Filled below (torch, optax) and by the TensorFlow section.
NATIVES: dict[str, Native] = {}


def register(native: Native) -> Native:
    """Add ``native`` to :data:`NATIVES` (a key may be registered once)."""
    if native.key in NATIVES:
        raise ValueError(f"native {native.key!r} is already registered")
    NATIVES[native.key] = native
    return native


def natives(loss: str | None = None, framework: str | None = None) -> list[Native]:
    """The registered natives for ``loss`` and/or ``framework``, in registration order."""
    return [
        n for n in NATIVES.values() if (loss is None or n.loss == loss) and (framework is None or n.framework == framework)
    ]


# ------------------------------------------------------------------------------ torch

_TORCH_MEAN_IS_SOBS = {"none": "none", "sum": "sum", "sum_over_batch_size": "mean"}


def _torch_tensor_like(v: Any, x: Any) -> Any:
    import torch

    if v is None or isinstance(v, torch.Tensor):
        return v
    return torch.tensor(float(v), dtype=x.dtype, device=x.device)


def _to_torch_layout(x: Any, axis: int) -> Any:
    """torch wants the class axis at dim 1."""
    import torch

    return x if x.ndim < 2 else torch.movedim(x, axis, 1)


def torch_binary_cross_entropy_with_logits(x, z, *, weights=None, pos_weight=None, reduction="none"):
    """``torch.nn.functional.binary_cross_entropy_with_logits`` (its ``"mean"`` divides by N·C)."""
    import torch.nn.functional as F

    return F.binary_cross_entropy_with_logits(
        x, z, weight=weights, pos_weight=_torch_tensor_like(pos_weight, x), reduction=_TORCH_MEAN_IS_SOBS[reduction]
    )


def torch_cross_entropy_indices(x, y, *, axis=-1, class_weights=None, ignore_index=None, label_smoothing=0.0, reduction="none"):
    """``torch.nn.functional.cross_entropy`` with class-index targets."""
    import torch.nn.functional as F

    return F.cross_entropy(
        _to_torch_layout(x, axis),
        y,
        weight=class_weights,
        ignore_index=-100 if ignore_index is None else ignore_index,
        label_smoothing=label_smoothing,
        reduction=reduction,
    )


def torch_cross_entropy_probs(x, y, *, axis=-1, class_weights=None, label_smoothing=0.0, reduction="none"):
    """``torch.nn.functional.cross_entropy`` with class-probability targets (``"mean"`` divides by N)."""
    import torch
    import torch.nn.functional as F

    y = torch.broadcast_to(y, x.shape)
    return F.cross_entropy(
        _to_torch_layout(x, axis),
        _to_torch_layout(y, axis),
        weight=class_weights,
        label_smoothing=label_smoothing,
        reduction=_TORCH_MEAN_IS_SOBS[reduction],
    )


def torchvision_sigmoid_focal_loss(x, z, *, gamma=2.0, alpha=None, reduction="none"):
    """torchvision's ``ops.sigmoid_focal_loss``, its documented formula in torch ops.

    ``p = σ(x); ce = BCE-with-logits(x, z); p_t = p·z + (1-p)(1-z);
    loss = ce·(1-p_t)^γ; α_t = α·z + (1-α)(1-z) if α >= 0``; mean/sum over all elements.
    (torchvision's default ``alpha=0.25``; its ``alpha=-1`` is xbackend's ``alpha=None``.)
    """
    import torch
    import torch.nn.functional as F

    z = torch.broadcast_to(z, x.shape).to(x.dtype)
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, z, reduction="none")
    p_t = p * z + (1 - p) * (1 - z)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha is not None and alpha >= 0:
        loss = (alpha * z + (1 - alpha) * (1 - z)) * loss
    if reduction in ("mean", "sum_over_batch_size"):
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def torch_binary_cross_entropy(p, z, *, weights=None, reduction="none"):
    """``torch.nn.functional.binary_cross_entropy`` on probabilities (log clamped at -100)."""
    import torch.nn.functional as F

    return F.binary_cross_entropy(p, z, weight=weights, reduction=_TORCH_MEAN_IS_SOBS[reduction])


register(
    Native(
        "torch.binary_cross_entropy_with_logits",
        "torch",
        "sigmoid_cross_entropy",
        torch_binary_cross_entropy_with_logits,
        "F.binary_cross_entropy_with_logits(x, z)",
        options={"weights": "weight", "pos_weight": "pos_weight"},
        reductions=_TORCH_MEAN_IS_SOBS,
        labels="binary",
        grad_wrt=("logits", "labels"),
        note="(1-z)x - log σ(x) form: small losses flush to 0 in float32/16 (x=-30, z=0 gives 0, "
        "not 9.36e-14); its 'mean' divides by N·C (xbackend 'sum_over_batch_size').",
    )
)
register(
    Native(
        "torch.cross_entropy[indices]",
        "torch",
        "sparse_softmax_cross_entropy",
        torch_cross_entropy_indices,
        "F.cross_entropy(x, y)",
        options={"class_weights": "weight", "ignore_index": "ignore_index", "label_smoothing": "label_smoothing"},
        reductions={"none": "none", "sum": "sum", "mean": "mean"},
        labels="int",
        note="a fully ignored batch gives NaN under 'mean' (xbackend: 0); bad labels raise "
        "IndexError (CPU) or device-assert (CUDA).",
    )
)
register(
    Native(
        "torch.cross_entropy[probabilities]",
        "torch",
        "softmax_cross_entropy",
        torch_cross_entropy_probs,
        "F.cross_entropy(x, y_prob)",
        options={"class_weights": "weight", "label_smoothing": "label_smoothing"},
        reductions=_TORCH_MEAN_IS_SOBS,
        labels="soft",
        grad_wrt=("logits", "labels"),
        note="its 'mean' divides by N even with weight (0.3195 vs 0.3993 for one-hot vs index "
        "targets); NaN for a -inf logit with a zero label.",
    )
)
register(
    Native(
        "torchvision.sigmoid_focal_loss",
        "torch",
        "sigmoid_focal_loss",
        torchvision_sigmoid_focal_loss,
        "torchvision.ops.sigmoid_focal_loss(x, z, alpha=-1)",
        options={"gamma": "gamma", "alpha": "alpha"},
        reductions={"none": "none", "sum": "sum", "mean": "mean", "sum_over_batch_size": "mean"},
        labels="binary",
        grad_wrt=("logits", "labels"),
        note="(1-p_t)**gamma has an infinite derivative at p_t = 1 for gamma < 1 (NaN gradient).",
    )
)
register(
    Native(
        "torch.binary_cross_entropy",
        "torch",
        "binary_cross_entropy",
        torch_binary_cross_entropy,
        "F.binary_cross_entropy(p, z)",
        options={"weights": "weight"},
        reductions=_TORCH_MEAN_IS_SOBS,
        labels="binary",
        grad_wrt=("logits", "labels"),
        note="clamps log at -100 instead of clipping p to [eps, 1-eps]: equal inside that range.",
    )
)

# ------------------------------------------------------------------------------ optax


def optax_sigmoid_binary_cross_entropy(x, z):
    """``optax.sigmoid_binary_cross_entropy``."""
    import optax

    return optax.sigmoid_binary_cross_entropy(x, z)


def optax_softmax_cross_entropy(x, y, *, axis=-1, where=None, label_smoothing=0.0):
    """``optax.softmax_cross_entropy`` (labels smoothed by ``optax.smooth_labels``, K = unmasked)."""
    import jax.numpy as jnp
    import optax

    y = jnp.broadcast_to(y, x.shape)
    if label_smoothing:
        y = optax.smooth_labels(y, label_smoothing, axis=axis, where=where)
    return optax.softmax_cross_entropy(x, y, axis=axis, where=where)


def optax_safe_softmax_cross_entropy(x, y):
    """``optax.safe_softmax_cross_entropy`` (``0·log 0 = 0`` for -inf logits; last axis)."""
    import jax.numpy as jnp
    import optax

    return optax.safe_softmax_cross_entropy(x, jnp.broadcast_to(y, x.shape))


def optax_softmax_cross_entropy_with_integer_labels(x, y, *, axis=-1, where=None):
    """``optax.softmax_cross_entropy_with_integer_labels``."""
    import optax

    return optax.softmax_cross_entropy_with_integer_labels(x, y, axis=axis, where=where)


def _soft_labels_only(wrt: str, logits: Any, labels: Any) -> Any:
    """Label gradients are valid only for labels strictly inside (0, 1)."""
    if wrt != "labels":
        return None
    z = np.broadcast_to(labels, np.shape(logits))
    return (z > 0) & (z < 1)


def optax_sigmoid_focal_loss(x, z, *, gamma=2.0, alpha=None):
    """``optax.sigmoid_focal_loss``."""
    import optax

    return optax.sigmoid_focal_loss(x, z, alpha=alpha, gamma=gamma)


register(
    Native(
        "optax.sigmoid_binary_cross_entropy",
        "jax",
        "sigmoid_cross_entropy",
        optax_sigmoid_binary_cross_entropy,
        "optax.sigmoid_binary_cross_entropy(x, z)",
        labels="binary",
        grad_wrt=("logits", "labels"),
    )
)
register(
    Native(
        "optax.softmax_cross_entropy",
        "jax",
        "softmax_cross_entropy",
        optax_softmax_cross_entropy,
        "optax.softmax_cross_entropy(x, y)",
        options={"where": "where", "label_smoothing": "smooth_labels"},
        labels="soft",
        grad_wrt=("logits", "labels"),
        note="NaN for a -inf logit with a zero label (0·-inf); use safe_softmax_cross_entropy.",
    )
)
register(
    Native(
        "optax.safe_softmax_cross_entropy",
        "jax",
        "softmax_cross_entropy",
        optax_safe_softmax_cross_entropy,
        "optax.safe_softmax_cross_entropy(x, y)",
        labels="soft",
        grad_wrt=("logits", "labels"),
        axis_last_only=True,
    )
)
register(
    Native(
        "optax.softmax_cross_entropy_with_integer_labels",
        "jax",
        "sparse_softmax_cross_entropy",
        optax_softmax_cross_entropy_with_integer_labels,
        "optax.softmax_cross_entropy_with_integer_labels(x, y)",
        options={"where": "where"},
        labels="int",
        note="a label on a masked class gives a finite loss (xbackend: +inf); out-of-range labels "
        "are not detected.",
    )
)
register(
    Native(
        "optax.sigmoid_focal_loss",
        "jax",
        "sigmoid_focal_loss",
        optax_sigmoid_focal_loss,
        "optax.sigmoid_focal_loss(x, z)",
        options={"gamma": "gamma", "alpha": "alpha"},
        labels="binary",
        grad_wrt=("logits", "labels"),
        grad_valid=_soft_labels_only,
        note="its gradient with respect to labels is wrong at labels exactly 0 or 1 "
        "(logsumexp(..., b=[1-z, z]) drops the b-derivative where b = 0): x=0.7, z=0 gives "
        "-1.2976, the derivative is -0.8084.",
    )
)

# ==================================================================== TensorFlow natives
# The TensorFlow natives: tf.nn.sigmoid_cross_entropy_with_logits,
# tf.nn.weighted_cross_entropy_with_logits, tf.nn.softmax_cross_entropy_with_logits,
# tf.nn.sparse_softmax_cross_entropy_with_logits and the Keras 3 losses, each as
# ``register(Native(key, "tensorflow", loss, fn, call, options=..., reductions=...))``
# with ``fn`` importing tensorflow inside. The conformance tests pick them up from
# NATIVES automatically.

# Keras 3 losses reduce each sample first (BinaryCrossentropy and BinaryFocalCrossentropy
# average the last axis), and ``Loss.__call__`` converts y_true to the loss dtype (float32
# unless ``dtype=`` is given: the natives below pass the logits' dtype). How each maps:
#   BinaryCrossentropy(from_logits=True, label_smoothing=e)       "sum_over_batch_size"
#       = sigmoid_cross_entropy(x, z, label_smoothing=e, reduction="sum_over_batch_size")
#         (every sample has C elements, so the mean of per-sample means is Σ/(N·C));
#   CategoricalCrossentropy(from_logits=True, label_smoothing=e)  "none"/"sum"/"sum_over_batch_size"
#       = softmax_cross_entropy(x, y, label_smoothing=e, weights=sample_weight, reduction=same)
#         (Keras smooths with num_classes = shape[-1]: last axis only);
#   SparseCategoricalCrossentropy(from_logits=True, ignore_class=i)  "none"/"sum"/"sum_over_batch_size"
#       = sparse_softmax_cross_entropy(x, y, ignore_index=i, reduction="none"/"sum"/"mean")
#         (Keras masks ignored rows and divides by the valid rows: xbackend's "mean");
#   BinaryFocalCrossentropy(from_logits=True, gamma=g, apply_class_balancing=True, alpha=a)
#       "sum_over_batch_size" = sigmoid_focal_loss(x, z, gamma=g, alpha=a, reduction="sum_over_batch_size").

_TF_SOBS = {"sum_over_batch_size": "sum_over_batch_size", "mean": "sum_over_batch_size"}


def _tf_like(v: Any, x: Any) -> Any:
    """``v`` (array or Python number) as a tensor of ``x``'s dtype, broadcast to ``x``."""
    import tensorflow as tf

    return tf.broadcast_to(tf.cast(v, x.dtype), tf.shape(x))


def tf_sigmoid_cross_entropy_with_logits(x, z):
    """``tf.nn.sigmoid_cross_entropy_with_logits`` (``max(x,0) - x·z + log1p(e^-|x|)``)."""
    import tensorflow as tf

    return tf.nn.sigmoid_cross_entropy_with_logits(labels=_tf_like(z, x), logits=x)


def tf_weighted_cross_entropy_with_logits(x, z, *, pos_weight=None):
    """``tf.nn.weighted_cross_entropy_with_logits`` (``pos_weight`` defaults to 1)."""
    import tensorflow as tf

    pw = 1.0 if pos_weight is None else pos_weight
    pw = tf.cast(pw, x.dtype) if not isinstance(pw, (int, float)) else pw
    return tf.nn.weighted_cross_entropy_with_logits(labels=_tf_like(z, x), logits=x, pos_weight=pw)


def tf_softmax_cross_entropy_with_logits(x, y, *, axis=-1):
    """``tf.nn.softmax_cross_entropy_with_logits`` (fused kernel: gradient ``softmax - y``)."""
    import tensorflow as tf

    return tf.nn.softmax_cross_entropy_with_logits(labels=_tf_like(y, x), logits=x, axis=axis)


def tf_sparse_softmax_cross_entropy_with_logits(x, y):
    """``tf.nn.sparse_softmax_cross_entropy_with_logits`` (last axis; bad labels raise on CPU,
    NaN rows on GPU and under XLA)."""
    import tensorflow as tf

    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=x)


def keras_binary_crossentropy(x, z, *, label_smoothing=0.0, reduction="sum_over_batch_size"):
    """``keras.losses.BinaryCrossentropy(from_logits=True)`` in the logits' dtype."""
    import keras

    loss = keras.losses.BinaryCrossentropy(
        from_logits=True, label_smoothing=label_smoothing, reduction=_TF_SOBS[reduction], dtype=x.dtype.name
    )
    return loss(_tf_like(z, x), x)


def keras_categorical_crossentropy(x, y, *, label_smoothing=0.0, weights=None, reduction="none"):
    """``keras.losses.CategoricalCrossentropy(from_logits=True)``; ``weights`` is ``sample_weight``."""
    import keras
    import tensorflow as tf

    loss = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=label_smoothing, reduction=reduction, dtype=x.dtype.name
    )
    sw = None if weights is None else tf.broadcast_to(tf.cast(weights, x.dtype), tf.shape(x)[:-1])
    return loss(_tf_like(y, x), x, sample_weight=sw)


def keras_sparse_categorical_crossentropy(x, y, *, ignore_index=None, reduction="none"):
    """``keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=...)``
    (its ``"sum_over_batch_size"`` divides by the rows that are not ignored)."""
    import keras

    red = {"none": "none", "sum": "sum", "mean": "sum_over_batch_size"}[reduction]
    loss = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=ignore_index, reduction=red, dtype=x.dtype.name
    )
    return loss(y, x)


def keras_binary_focal_crossentropy(x, z, *, gamma=2.0, alpha=None, reduction="sum_over_batch_size"):
    """``keras.losses.BinaryFocalCrossentropy(from_logits=True)``; ``alpha`` sets
    ``apply_class_balancing=True``."""
    import keras

    loss = keras.losses.BinaryFocalCrossentropy(
        apply_class_balancing=alpha is not None,
        alpha=0.25 if alpha is None else alpha,
        gamma=gamma,
        from_logits=True,
        reduction=_TF_SOBS[reduction],
        dtype=x.dtype.name,
    )
    return loss(_tf_like(z, x), x)


_TF_INF_NOTE = "NaN at (x, z) = (+inf, 1) and (-inf, 0), where the loss is 0 (inf - inf in max(x,0) - x·z)"

register(
    Native(
        "tf.nn.sigmoid_cross_entropy_with_logits",
        "tensorflow",
        "sigmoid_cross_entropy",
        tf_sigmoid_cross_entropy_with_logits,
        "tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x)",
        labels="binary",
        grad_wrt=("logits", "labels"),
        note=_TF_INF_NOTE + " and also NaN at (+inf, 0) and (-inf, 1) where it is inf.",
    )
)
register(
    Native(
        "tf.nn.weighted_cross_entropy_with_logits",
        "tensorflow",
        "sigmoid_cross_entropy",
        tf_weighted_cross_entropy_with_logits,
        "tf.nn.weighted_cross_entropy_with_logits(labels=z, logits=x, pos_weight=1.0)",
        options={"pos_weight": "pos_weight"},
        labels="binary",
        grad_wrt=("logits", "labels"),
        note="(1-z)·x + (1+(pw-1)z)·(log1p(e^-|x|) + max(-x, 0)) cancels: x=-30, z=0, pw=2 gives 0 "
        "in float32 (exact: 9.36e-14); NaN at x = ±inf except (+inf, 0).",
    )
)
register(
    Native(
        "tf.nn.softmax_cross_entropy_with_logits",
        "tensorflow",
        "softmax_cross_entropy",
        tf_softmax_cross_entropy_with_logits,
        "tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=x)",
        options={"axis": "axis"},
        labels="soft",
        grad_wrt=("labels",),  # logits: softmax - y is a valid reference only when Σy = 1
        note="logits gradient is softmax - y, right only for labels that sum to 1 (exact: softmax·Σy - y); "
        "NaN for a -inf logit (0·-inf), also with a zero label.",
    )
)
register(
    Native(
        "tf.nn.sparse_softmax_cross_entropy_with_logits",
        "tensorflow",
        "sparse_softmax_cross_entropy",
        tf_sparse_softmax_cross_entropy_with_logits,
        "tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=x)",
        labels="int",
        axis_last_only=True,
        note="labels outside [0, C): InvalidArgumentError on CPU, a NaN row on GPU and under XLA.",
    )
)
register(
    Native(
        "keras.BinaryCrossentropy",
        "tensorflow",
        "sigmoid_cross_entropy",
        keras_binary_crossentropy,
        "keras.losses.BinaryCrossentropy(from_logits=True)(z, x)",
        options={"label_smoothing": "label_smoothing"},
        reductions=_TF_SOBS,
        labels="binary",
        grad_wrt=("logits", "labels"),
        axis_last_only=True,
        note="per-sample mean over the last axis, then the batch reduction; tf.nn's NaN at ±inf.",
    )
)
register(
    Native(
        "keras.CategoricalCrossentropy",
        "tensorflow",
        "softmax_cross_entropy",
        keras_categorical_crossentropy,
        "keras.losses.CategoricalCrossentropy(from_logits=True)(y, x)",
        options={"label_smoothing": "label_smoothing", "weights": "sample_weight"},
        reductions={"none": "none", "sum": "sum", "sum_over_batch_size": "sum_over_batch_size"},
        labels="soft",
        grad_wrt=("labels",),  # logits: softmax - y is a valid reference only when Σy = 1
        axis_last_only=True,
        note="tf.nn.softmax_cross_entropy_with_logits inside: same gradient and -inf issues.",
    )
)
register(
    Native(
        "keras.SparseCategoricalCrossentropy",
        "tensorflow",
        "sparse_softmax_cross_entropy",
        keras_sparse_categorical_crossentropy,
        "keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, x)",
        options={"ignore_index": "ignore_class"},
        reductions={"none": "none", "sum": "sum", "mean": "sum_over_batch_size"},
        labels="int",
        axis_last_only=True,
        note="y_true goes through float (Loss.__call__) and back to int; 'sum_over_batch_size' with "
        "ignore_class divides by the rows not ignored (xbackend's 'mean').",
    )
)
register(
    Native(
        "keras.BinaryFocalCrossentropy",
        "tensorflow",
        "sigmoid_focal_loss",
        keras_binary_focal_crossentropy,
        "keras.losses.BinaryFocalCrossentropy(from_logits=True)(z, x)",
        options={"gamma": "gamma", "alpha": "alpha"},
        reductions=_TF_SOBS,
        labels="binary",
        grad_wrt=("logits", "labels"),
        axis_last_only=True,
        note="(1 - p_t) is formed from sigmoid(x) in probability space: 0 once sigmoid rounds to 1 "
        "(x > 17 in float32), and (1-p_t)**gamma has an infinite derivative there for gamma < 1.",
    )
)
