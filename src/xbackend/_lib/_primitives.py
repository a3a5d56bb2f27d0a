"""Numerically stable primitives: sigmoid, log_sigmoid, softplus, logsumexp,
log_softmax and softmax.

Each is written once in Array API calls, is stable for large ``|x|``, propagates NaN
(value and gradient), handles ``±inf`` exactly and differentiates cleanly through every
framework's autodiff (no ``inf·0`` in any branch, so gradients at ``±inf`` are finite: the
limit where it exists, 0 where the value is saturated). No gradient flows *into* a
``+inf`` input of ``logsumexp``/``log_softmax``/``softmax`` (autodiff cannot pass through
an infinite value; the entries next to it get their limit gradient). float16/bfloat16
inputs are computed in float32 and the result is cast back to the input dtype.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from xbackend._backends import array_namespace
from xbackend._lib import _checks
from xbackend._lib._docs import doc
from xbackend._lib._dtypes import cast, compute_dtype
from xbackend._lib._inputs import check_mask, quiet_numpy
from xbackend._lib._kernels import dominant, log1p_rest_of, log_sum_exp_shifted, shift
from xbackend._lib._types import Array

__all__ = ["log_sigmoid", "log_softmax", "logsumexp", "sigmoid", "softmax", "softplus"]

_MASK = "where : bool array, optional\n    Broadcastable to ``x``; False entries are masked."


def _prepare(x: Any, xp: ModuleType | None) -> tuple[ModuleType, Any, Any]:
    _checks.require_array(x, "x")
    xp = array_namespace(x, xp=xp)
    _checks.check_real_floating(xp, x, "x")
    return xp, cast(xp, x, compute_dtype(xp, x.dtype)), x.dtype


def _split(xp: ModuleType, x: Any) -> tuple[Any, Any, Any]:
    """``(x < 0, x clipped to <= 0, x clipped to >= 0)``; NaN stays in both halves."""
    neg = x < 0
    return neg, xp.where(x > 0, 0.0, x), xp.where(neg, 0.0, x)


def _log_sigmoid(xp: ModuleType, x: Any) -> Any:
    neg, xn, xq = _split(xp, x)
    return xp.where(neg, xn - xp.log1p(xp.exp(xn)), -xp.log1p(xp.exp(-xq)))


@quiet_numpy
@doc()
def sigmoid(x: Array, /, *, xp: ModuleType | None = None) -> Array:
    r"""Logistic sigmoid, :math:`\sigma(x) = 1 / (1 + e^{-x})`.

    Computed as :math:`1/(1+e^{-x})` for :math:`x \ge 0` and :math:`e^{x}/(1+e^{x})` for
    :math:`x < 0`, so neither branch overflows and small outputs keep relative accuracy
    (:math:`\sigma(-100) = 3.7\cdot10^{-44}` in float64, not 0).

    Parameters
    ----------
    %(x_input)s
    %(xp)s

    %(returns_like_x)s. ``σ(+inf) = 1``, ``σ(-inf) = 0``, NaN stays NaN.
    """
    xp, x, dt = _prepare(x, xp)
    neg, xn, xq = _split(xp, x)
    en = xp.exp(xn)
    out = xp.where(neg, en / (1.0 + en), 1.0 / (1.0 + xp.exp(-xq)))
    return cast(xp, out, dt)


@quiet_numpy
@doc()
def log_sigmoid(x: Array, /, *, xp: ModuleType | None = None) -> Array:
    r"""Log of the sigmoid, :math:`\log\sigma(x) = -\mathrm{softplus}(-x)`.

    Computed as :math:`x - \log(1+e^{x})` for :math:`x<0` and :math:`-\log(1+e^{-x})`
    otherwise: exact for large :math:`|x|` (``log_sigmoid(-1e9) = -1e9``,
    ``log_sigmoid(40) = -4.2e-18`` in float64). ``log_sigmoid(-inf) = -inf`` with gradient 1;
    ``log_sigmoid(+inf) = 0`` with gradient 0; NaN stays NaN.

    Parameters
    ----------
    %(x_input)s
    %(xp)s

    %(returns_like_x)s.
    """
    xp, x, dt = _prepare(x, xp)
    return cast(xp, _log_sigmoid(xp, x), dt)


@quiet_numpy
@doc()
def softplus(x: Array, /, *, xp: ModuleType | None = None) -> Array:
    r"""Softplus, :math:`\mathrm{softplus}(x) = \log(1 + e^{x}) = -\log\sigma(-x)`.

    Stable for large :math:`|x|`: ``softplus(1e9) = 1e9``, ``softplus(-40) = 4.2e-18``
    (float64), ``softplus(+inf) = inf``, ``softplus(-inf) = 0``, NaN stays NaN. The gradient is
    :math:`\sigma(x)` everywhere, including 0.5 at :math:`x = 0`.

    Parameters
    ----------
    %(x_input)s
    %(xp)s

    %(returns_like_x)s.
    """
    xp, x, dt = _prepare(x, xp)
    return cast(xp, -_log_sigmoid(xp, -x), dt)


def _prepare_masked(x: Any, axis: int, where: Any, xp: ModuleType | None) -> tuple[ModuleType, Any, int, Any]:
    """:func:`_prepare` for the functions along ``axis``: the namespace, ``x`` in the
    compute dtype with its ``where``-masked entries at ``-inf``, the axis and ``x``'s dtype."""
    _checks.require_array(x, "x")
    xp, x, dt = _prepare(x, array_namespace(x, where, xp=xp))
    ax = _checks.normalize_axis(axis, x.ndim, target="x")
    if where is not None:
        check_mask(xp, where, _checks.shape_of(x), "x")
        x = xp.where(where, x, -xp.inf)
    return xp, x, ax, dt


def _lse_shifted(xp: ModuleType, x: Any, xs: Any, nonempty: Any, axis: int) -> Any:
    """``log Σ exp(xs)`` kept exact below eps at the row maximum (``log1p`` of the other
    classes' mass, see :func:`xbackend._lib._kernels.log1p_rest_of`): ``log_softmax`` of a
    dominant class is ``-9.36e-14``, not 0, for ``[30, 0]`` in float32."""
    if x.shape[axis] == 0:  # no class: the empty sum (argmax of nothing raises)
        return log_sum_exp_shifted(xp, xs, axis)
    return log1p_rest_of(xp, xs, dominant(xp, x, axis), nonempty, axis)


@quiet_numpy
@doc(x_where="where : bool array, optional\n    Broadcastable to ``x``; False entries are excluded.")
def logsumexp(
    x: Array, /, *, axis: int = -1, keepdims: bool = False, where: Any = None, xp: ModuleType | None = None
) -> Array:
    r"""Log-sum-exp along ``axis``, :math:`\log\sum_i e^{x_i}`, over the unmasked entries.

    Shifted by the (gradient-stopped) maximum, so it never overflows:
    ``logsumexp([1e9, 1e9]) = 1e9 + log 2``. Masked entries (``where`` False) and ``-inf``
    entries contribute nothing; a row with nothing left gives ``-inf`` with a zero
    gradient. A ``+inf`` entry gives ``+inf`` (no gradient flows into the ``+inf`` entry;
    the others get 0, their limit); NaN propagates to the value and the gradient.

    Parameters
    ----------
    %(x_rows)s
    axis : int
        The reduced axis.
    keepdims : bool
        Keep the reduced axis with size 1.
    %(x_where)s
    %(xp)s

    Returns
    -------
    array
        ``x.shape`` without ``axis`` (or with size 1 there), ``x``'s dtype and device.
    """
    xp, xm, ax, dt = _prepare_masked(x, axis, where, xp)
    # shift: +inf entries become 0 without an inf - inf (whose gradient would be NaN)
    xs, m, nonempty = shift(xp, xm, ax)
    out = xp.where(nonempty, m + _lse_shifted(xp, xm, xs, nonempty, ax), -xp.inf)
    if not keepdims:
        out = xp.squeeze(out, axis=ax)
    return cast(xp, out, dt)


@quiet_numpy
@doc(x_where=_MASK)
def log_softmax(x: Array, /, *, axis: int = -1, where: Any = None, xp: ModuleType | None = None) -> Array:
    r"""Log-softmax along ``axis``, :math:`x_i - \log\sum_j e^{x_j}`.

    Masked entries (``where`` False, or ``-inf``) get ``-inf`` and take no probability
    mass; a fully masked row is all ``-inf`` with a zero gradient (not NaN). ``+inf``
    entries share the mass equally (the limit): ``log_softmax([inf, 0]) = [0, -inf]``; no
    gradient flows into a ``+inf`` entry. NaN propagates to its row (value and gradient).

    Parameters
    ----------
    %(x_rows)s
    %(axis)s
    %(x_where)s
    %(xp)s

    %(returns_like_x)s.
    """
    xp, xm, ax, dt = _prepare_masked(x, axis, where, xp)
    xs, _, nonempty = shift(xp, xm, ax)
    out = xp.where(nonempty, xs - _lse_shifted(xp, xm, xs, nonempty, ax), -xp.inf)  # fully masked: grad 0
    return cast(xp, out, dt)


@quiet_numpy
@doc(x_where=_MASK)
def softmax(x: Array, /, *, axis: int = -1, where: Any = None, xp: ModuleType | None = None) -> Array:
    r"""Softmax along ``axis``, :math:`e^{x_i} / \sum_j e^{x_j}`.

    Masked entries (``where`` False, or ``-inf``) get probability 0; a fully masked row
    is all zeros (not NaN) with a zero gradient. ``+inf`` entries share the mass equally
    (no gradient flows into them). NaN propagates to its row (value and gradient).

    Parameters
    ----------
    %(x_rows)s
    %(axis)s
    %(x_where)s
    %(xp)s

    %(returns_like_x)s; each unmasked row sums to 1.
    """
    xp, xm, ax, dt = _prepare_masked(x, axis, where, xp)
    xs, _, _ = shift(xp, xm, ax)
    return cast(xp, xp.exp(xs - log_sum_exp_shifted(xp, xs, ax)), dt)
