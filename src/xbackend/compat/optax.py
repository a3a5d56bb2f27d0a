r"""optax's classification losses with optax's names and signatures, on every backend.

>>> import numpy as np
>>> from xbackend.compat import optax as ox
>>> ox.softmax_cross_entropy_with_integer_labels(np.array([[1.2, -0.8, -0.5]]), np.array([0]))
array([0.27612971])

Each function is a thin wrapper over a core loss of :mod:`xbackend` and, like optax,
returns the unreduced loss (reduce it with ``.mean()`` yourself). The numbers are
optax's wherever optax is numerically right. Where it is not:

* **Infinite logits.** ``sigmoid_binary_cross_entropy`` and ``sigmoid_focal_loss``
  give NaN for ``(x, z) = (-inf, 0)`` and ``(+inf, 1)`` (and NaN gradients at every
  ``±inf``); ``softmax_cross_entropy`` gives NaN for a row with a ``-inf`` logit.
  Here they are exact, as in optax's own ``safe_softmax_cross_entropy``.
* **Bad labels.** ``softmax_cross_entropy_with_integer_labels`` wraps a label in
  ``[-C, 0)`` (label -1 reads the last class) and returns NaN for the rest; here every
  label outside ``[0, C)`` gives a NaN row.
* **Masks.** With ``where``, an integer label on a masked class gives ``inf`` (the
  masked class has probability 0); optax returns ``logsumexp(x[where]) - x_y``.
"""

from __future__ import annotations

from typing import Any

from xbackend._backends import array_namespace
from xbackend._lib import _checks
from xbackend._lib._docs import doc
from xbackend._lib._sigmoid import sigmoid_cross_entropy as _sigmoid_cross_entropy
from xbackend._lib._sigmoid import sigmoid_focal_loss as _sigmoid_focal_loss
from xbackend._lib._softmax import softmax_cross_entropy as _softmax_cross_entropy
from xbackend._lib._softmax import sparse_softmax_cross_entropy as _sparse_softmax_cross_entropy
from xbackend.compat._common import flatten_axes

__all__ = [
    "safe_softmax_cross_entropy",
    "sigmoid_binary_cross_entropy",
    "sigmoid_focal_loss",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
]


def _require_arrays(**named: Any) -> None:
    """Python lists, tuples and scalars are a ``TypeError`` naming the argument."""
    for name, value in named.items():
        _checks.require_array(value, name)


def _broadcast_logits(logits: Any, labels: Any) -> Any:
    """optax broadcasts ``logits`` and ``labels`` both ways; the core broadcasts labels only."""
    ls, ys = _checks.shape_of(logits), _checks.shape_of(labels)
    if ls == ys:
        return logits
    shape = _checks.broadcast_shapes(ls, ys, "logits", "labels")
    if tuple(shape) == tuple(ls):
        return logits
    xp = array_namespace(logits, labels)
    return xp.broadcast_to(logits, tuple(shape))


@doc()
def sigmoid_binary_cross_entropy(logits: Any, labels: Any) -> Any:
    r"""``optax.sigmoid_binary_cross_entropy`` on any backend.

    .. math::

        \ell = -z\log\sigma(x) - (1-z)\log\sigma(-x)

    elementwise, ``logits`` and ``labels`` broadcast against each other. Computed by
    :func:`xbackend.sigmoid_cross_entropy`.

    Parameters
    ----------
    %(plain_logits)s
    labels : array
        Probabilities in [0, 1].

    Returns
    -------
    array
        The elementwise loss (broadcast shape).

    Notes
    -----
    Differences from optax (0.2.8): ``(x, z) = (-inf, 0)`` and ``(+inf, 1)`` give 0
    (optax: NaN); gradients at ``±inf`` are finite.
    """
    _require_arrays(logits=logits, labels=labels)
    return _sigmoid_cross_entropy(_broadcast_logits(logits, labels), labels)


@doc()
def sigmoid_focal_loss(logits: Any, labels: Any, *, alpha: float | None = None, gamma: float = 2.0) -> Any:
    r"""``optax.sigmoid_focal_loss`` on any backend.

    .. math::

        \ell = \alpha_t\,(1-p_t)^\gamma\,\mathrm{bce}(x, z), \quad
        1-p_t = z\,\sigma(-x) + (1-z)\,\sigma(x), \quad \alpha_t = \alpha z + (1-\alpha)(1-z)

    (no :math:`\alpha_t` when ``alpha`` is None). Computed in log space by
    :func:`xbackend.sigmoid_focal_loss`.

    Parameters
    ----------
    %(plain_logits)s
    labels : array
        Probabilities in [0, 1], broadcastable to ``logits``.
    alpha : float, optional
        Balancing weight in [0, 1] (a Python number; optax also takes an array).
    gamma : float
        Focusing exponent :math:`\gamma \ge 0` (a Python number).

    Returns
    -------
    array
        The elementwise loss.

    Notes
    -----
    Differences from optax (0.2.8): exact at ``±inf`` logits (optax: NaN values for
    ``(-inf, 0)`` and ``(+inf, 1)``, NaN gradients at every ``±inf``).
    """
    _require_arrays(logits=logits, labels=labels)
    return _sigmoid_focal_loss(_broadcast_logits(logits, labels), labels, gamma=gamma, alpha=alpha)


def _class_axis(xp: Any, logits: Any, others: list, axis: Any) -> tuple[Any, list, int]:
    """optax's ``axis``: an int, or a tuple of axes flattened into one trailing axis."""
    if isinstance(axis, tuple):
        if not axis or not all(isinstance(a, int) and not isinstance(a, bool) for a in axis):
            raise ValueError(f"axis must be an int or a non-empty tuple of ints, got {axis!r}")
        return flatten_axes(xp, logits, axis), [None if o is None else flatten_axes(xp, o, axis) for o in others], -1
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(f"axis must be an int or a tuple of ints, got {type(axis).__name__} {axis!r}")
    return logits, others, axis


def _expand_where(xp: Any, where: Any, logits: Any, axis: Any) -> Any:
    """optax's ``where``: the logits' shape, or the batch shape (then it masks whole rows)."""
    if where is None or len(where.shape) == len(logits.shape):
        return where
    axes = axis if isinstance(axis, tuple) else (axis,)
    for a in sorted(_checks.normalize_axis(a, len(logits.shape)) for a in axes):
        where = xp.expand_dims(where, axis=a)
    return where


@doc()
def softmax_cross_entropy(
    logits: Any, labels: Any, axis: int | tuple[int, ...] | None = -1, where: Any = None
) -> Any:
    r"""``optax.softmax_cross_entropy`` on any backend.

    .. math::

        \ell = -\sum_{c:\ \mathrm{where}_c} y_c \log \mathrm{softmax}_{\mathrm{where}}(x)_c

    along ``axis``: an int, a tuple of axes (moved to the end in the given order and
    merged into one class axis, C order) or ``None`` (every axis: one scalar loss), as in
    optax. ``where`` (the logits' shape or the batch shape) restricts the softmax and the sum to the selected classes: labels on
    unselected classes are ignored, a fully unselected row gives 0. Computed by
    :func:`xbackend.softmax_cross_entropy`.

    Parameters
    ----------
    %(plain_logits)s
    labels : array
        Probability vectors along ``axis``, broadcastable to ``logits``.
    axis : int, tuple of int or None
        The class axis or axes; ``None`` means all of them.
    %(optax_where)s

    %(returns_batch)s (0-d for ``axis=None``).

    Notes
    -----
    Differences from optax (0.2.8): a ``-inf`` logit is a masked class (optax: NaN for
    the row, even when its label is 0; optax's ``safe_softmax_cross_entropy`` agrees
    with this function).
    """
    _require_arrays(logits=logits, labels=labels, **({} if where is None else {"where": where}))
    xp = array_namespace(logits, labels, where)
    if axis is None:  # optax sums over every axis
        axis = tuple(range(len(_checks.shape_of(logits))))
    where = _expand_where(xp, where, logits, axis)
    if where is not None:
        labels = xp.where(where, labels, 0.0)  # optax's sum skips unselected classes
    logits, (labels, where), ax = _class_axis(xp, logits, [labels, where], axis)
    return _softmax_cross_entropy(logits, labels, axis=ax, where=where)


@doc()
def softmax_cross_entropy_with_integer_labels(
    logits: Any, labels: Any, axis: int | tuple[int, ...] = -1, where: Any = None
) -> Any:
    r"""``optax.softmax_cross_entropy_with_integer_labels`` on any backend.

    .. math::

        \ell = \mathrm{logsumexp}(x) - x_y

    along ``axis``; with a tuple of axes the classes are the flattened ``x[axis]``
    slice and a label is a flat (C-order) index into it, as in optax. ``where`` (the
    logits' shape or the batch shape) masks classes or whole rows (a fully masked row
    gives 0). Computed by :func:`xbackend.sparse_softmax_cross_entropy`.

    Parameters
    ----------
    %(plain_logits)s
    labels : array
        Integer class indices, ``logits.shape`` without ``axis``.
    axis : int or tuple of int
        The class axis or axes.
    %(optax_where)s

    %(returns_batch)s.

    Notes
    -----
    Differences from optax (0.2.8): a label outside ``[0, C)`` gives NaN (optax wraps
    labels in ``[-C, 0)``: label -1 reads the last class); a label on a masked class
    gives ``inf`` (optax: ``logsumexp(x[where]) - x_y``, finite).
    """
    _require_arrays(logits=logits, labels=labels, **({} if where is None else {"where": where}))
    xp = array_namespace(logits, labels, where)
    where = _expand_where(xp, where, logits, axis)
    logits, (where,), ax = _class_axis(xp, logits, [where], axis)
    return _sparse_softmax_cross_entropy(logits, labels, axis=ax, where=where)


@doc()
def safe_softmax_cross_entropy(logits: Any, labels: Any) -> Any:
    r"""``optax.safe_softmax_cross_entropy`` on any backend.

    .. math::

        \ell = -\sum_c y_c \log\mathrm{softmax}(x)_c, \qquad 0\cdot\log 0 = 0

    over the last axis: a ``-inf`` logit with label 0 contributes 0 (value and
    gradient). Computed by :func:`xbackend.softmax_cross_entropy`.

    Parameters
    ----------
    logits : array
        Logits, classes on the last axis.
    labels : array
        Probability vectors, broadcastable to ``logits``.

    %(returns_batch_last)s

    Notes
    -----
    Differences from optax (0.2.8): a row whose logits are all ``-inf`` gives 0 (optax:
    NaN when its labels are not all 0).
    """
    _require_arrays(logits=logits, labels=labels)
    return _softmax_cross_entropy(logits, labels, axis=-1)
