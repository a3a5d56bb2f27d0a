"""The softmax / categorical cross-entropy family."""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

import numpy as np

from xbackend._lib import _checks, _chunked, _kernels
from xbackend._lib._docs import doc
from xbackend._lib._dtypes import cast
from xbackend._lib._inputs import (
    apply_where,
    check_mask,
    class_vector,
    float_labels,
    float_option,
    nonnegative,
    prepare,
    probabilities,
    quiet_numpy,
    row_shape,
)
from xbackend._lib._labels import label_state
from xbackend._lib._reduce import prepare_weights, reduce_loss
from xbackend._lib._types import Array, ChunkSize, Invalid, Reduction

__all__ = [
    "categorical_cross_entropy",
    "softmax_cross_entropy",
    "softmax_focal_loss",
    "sparse_softmax_cross_entropy",
]


#: ``prepare`` for softmax_cross_entropy and sparse_softmax_cross_entropy (a partial: no
#: Python call of its own on the hot path).
_prepare_softmax = functools.partial(prepare, cast_first=False, names=("class_weights", "weights", "where"))


def _n_classes(shape: tuple, axis: int, *, known: bool = True) -> int | None:
    """The size of the class axis; None when unknown now (a ``tf.function`` input
    signature) and ``known=False`` (soft labels need no class count)."""
    c = shape[axis]
    if c is None:
        if not known:
            return None
        raise ValueError(
            f"the class axis of logits (axis {axis}) must have a known size (labels are "
            "checked against it and the dominant class is located along it); give the number "
            "of classes in the input signature, e.g. tf.TensorSpec(shape=[None, 10])"
        )
    if c == 0:
        raise ValueError(f"logits has no classes: size 0 along axis {axis}")
    return c


def _sparse_prelude(inp: Any, labels: Any, axis: int, ignore_index: Any, invalid: Any) -> tuple[int, tuple]:
    """The checks of the losses with integer labels (sparse_softmax_cross_entropy,
    softmax_focal_loss): the class axis ``ax``; integer ``labels`` of exactly
    ``rshape`` = the logits' shape without ``ax``; ``invalid``; ``ignore_index``. Returns
    ``(ax, rshape)``. One call (plus ``normalize_axis``) when all is well."""
    xp, shape = inp.xp, inp.shape
    ax = _checks.normalize_axis(axis, len(shape))
    expected = shape[:ax] + shape[ax + 1 :]
    if not xp.isdtype(labels.dtype, "integral"):
        _checks.check_integer_labels(xp, labels)  # raises, naming the dtype
    got = tuple(labels.shape) if isinstance(labels.shape, tuple) else _checks.shape_of(labels, "labels")
    bad = len(got) != len(expected)
    if not bad:
        for g, e in zip(got, expected, strict=False):
            if g is not None and e is not None and g is not e and g != e and g == g:  # g != g: NaN (Dask)
                bad = True
    if bad:
        raise ValueError(
            f"labels with shape {got} do not match logits with shape {shape}: integer labels "
            f"must have the logits' shape without axis {ax}, i.e. {expected} (they do not broadcast)"
        )
    if not isinstance(invalid, str) or invalid not in _checks.INVALID_POLICIES:  # (no call on the hot path)
        _checks.check_choice(invalid, "invalid", _checks.INVALID_POLICIES)
    if ignore_index is not None:
        _checks.check_ignore_index(ignore_index)
    return ax, expected


@quiet_numpy
@doc(mean="``class_weights`` times the label, summed over the classes (1 without\n"
     "``class_weights``), 0 for a fully masked row")
def softmax_cross_entropy(
    logits: Array,
    labels: Any,
    /,
    *,
    axis: int = -1,
    class_weights: Any = None,
    weights: Any = None,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    where: Any = None,
    reduction: Reduction = "none",
    invalid: Invalid = "nan",
    dtype: Any = None,
    chunk_size: ChunkSize = "auto",
    xp: ModuleType | None = None,
) -> Array:
    r"""Softmax cross-entropy from logits with probability-vector (soft) labels.

    Per row, with :math:`q_c = w_c\,\tilde y_c` (class weights times the smoothed labels
    :math:`\tilde y_c = (1-\varepsilon)\,y_c + \varepsilon\,m_c/K`, :math:`m_c` the unmasked
    classes and :math:`K = \sum_c m_c`)

    .. math::

        \ell = -\sum_c q_c \log \mathrm{softmax}(x)_c
             = \mathrm{lse}(x)\sum_c q_c - \sum_c q_c x_c \;[+\ z\,\mathrm{lse}(x)^2]

    computed in log space (the log-softmax is never materialised) with the exact
    gradient :math:`\mathrm{softmax}(x)\sum_c q_c - q` -- also for labels that do not sum
    to 1, where TensorFlow's fused kernel returns :math:`\mathrm{softmax} - y`.

    Native semantics reproduced: ``torch.nn.functional.cross_entropy`` with probability
    targets (``weight`` = ``class_weights``, ``label_smoothing``); ``optax.softmax_cross_entropy``
    and ``tf.nn.softmax_cross_entropy_with_logits`` (no options); optax's
    ``safe_softmax_cross_entropy`` (``-inf`` logits). The ``"mean"`` reduction divides by
    :math:`\sum_i \sum_c w_c y_{ic}` when ``class_weights`` is given (so one-hot labels
    equal their integer labels exactly; PyTorch divides by N here) and by the number of
    rows otherwise.

    Parameters
    ----------
    %(logits)s
    %(soft_labels)s Labels are not
        renormalised. A label on a masked class of a partly masked row gives ``+inf``.
    %(axis)s
    %(class_weights)s
    %(row_weights)s
    label_smoothing : float or 0-d array
        :math:`\varepsilon \in [0, 1]`, spread over the K unmasked classes.
        %(traced_option)s
    z_loss : float or 0-d array
        Adds :math:`z\cdot\mathrm{lse}(x)^2` per row (PaLM), 0 by default.
        %(traced_option)s
    where : bool array, optional
        Class mask broadcastable to ``logits``; False (like a ``-inf`` logit) masks a class.
        A row with every class masked has loss 0, gradient 0, and is not counted by ``"mean"``.
    %(reduction)s
    invalid : {"nan", "raise"}
        Negative ``class_weights`` (which have no meaning): ``"nan"`` (default, jit-safe,
        no host sync) makes the loss and the logits' gradient NaN on every row whose label
        mass touches a negative weight (a non-zero label, or label smoothing, on that
        class); ``"raise"`` raises :class:`ValueError` naming the first one.
    %(dtype)s
    %(chunk_size)s
    %(xp)s

    %(returns_rows)s

    Notes
    -----
    NaN in a row's logits, labels or weight makes that row's loss and gradient NaN (other
    rows are untouched; reductions become NaN). ``+inf`` logits take the limit: the
    ``+inf`` classes share the probability mass, so the row gives 0 when all its label
    mass sits on them and ``+inf`` otherwise, with the finite gradient
    :math:`\mathrm{softmax}\sum_c q_c - q`. A ``-inf`` logit masks its class like
    ``where=False``: a label on a masked class of a partly masked row gives ``+inf`` with a
    finite gradient, and a fully masked row gives 0 with gradient 0 and leaves the
    ``"mean"`` denominator. Infinite labels or weights give a non-finite loss. Gradients
    flow to ``logits``, ``labels`` and ``weights``; ``class_weights`` and ``where`` are
    constants.

    Examples
    --------
    >>> import numpy as np, xbackend as xb
    >>> logits = np.array([[2.0, 1.0, 0.1]])
    >>> labels = np.array([[1.0, 0.0, 0.0]])
    >>> xb.softmax_cross_entropy(logits, labels)
    array([0.41703002])
    """
    inp = _prepare_softmax(logits, labels, class_weights, weights, where, xp=xp, dtype=dtype, reduction=reduction)
    xp, shape, ct = inp.xp, inp.shape, inp.compute
    ax = _checks.normalize_axis(axis, len(shape))
    eps = float_option(inp, label_smoothing, "label_smoothing", _checks.check_fraction)
    zl = float_option(inp, z_loss, "z_loss", _checks.check_nonnegative_number)
    _checks.check_choice(invalid, "invalid", _checks.INVALID_POLICIES)
    n_classes = _n_classes(shape, ax)
    cw = class_vector(xp, class_weights, n_classes, "class_weights", ct)
    cw = nonnegative(xp, cw, "class_weights", invalid, to_nan=False)  # negative: NaN rows in the kernel
    w = prepare_weights(xp, weights, row_shape(shape, ax), ct)
    rows = _chunked.plan(xp, inp.x, ax, ct, chunk_size)
    if rows is not None:  # row blocks: see xbackend._lib._chunked
        if where is not None:
            check_mask(xp, where, shape, "logits")
        y = float_labels(xp, labels, shape, labels.dtype, allow_int=False)  # checked, not cast
        st = _kernels.SoftStatic(ax, zl, eps)
        loss = _chunked.softmax_xent(
            xp, _kernels.SOFTMAX_XENT, st, inp.x, y, axis=ax, where=where, keep=None,
            class_weights=cw, ct=ct, rows=rows,
        )  # fmt: skip
        mw = None
        if reduction == "mean":
            mw = _chunked.mean_weight(xp, inp.x, where, y, cw, ax, rows, ct)
            mw = mw if cw is not None else xp.astype(mw, ct)
        return reduce_loss(xp, loss, reduction=reduction, weights=w, mean_weight=mw, out_dtype=inp.out)
    x = apply_where(xp, cast(xp, inp.x, ct), where, shape)
    y = float_labels(xp, labels, shape, ct, allow_int=False)
    loss = inp.be.apply_kernel(_kernels.SOFTMAX_XENT, x, y, (cw,), _kernels.SoftStatic(ax, zl, eps))
    mean_weight = None
    if reduction == "mean":
        mean_weight = _kernels.row_max(xp, x, ax) > -xp.inf  # rows with an unmasked class
        if cw is not None:
            mean_weight = xp.where(mean_weight, xp.sum(_kernels.along(xp, cw, ax, len(shape)) * y, axis=ax), 0.0)
        else:
            mean_weight = xp.astype(mean_weight, ct)
    return reduce_loss(xp, loss, reduction=reduction, weights=w, mean_weight=mean_weight, out_dtype=inp.out)


@quiet_numpy
@doc(mean="``class_weights[y]`` (1 without ``class_weights``), 0 for an ignored or fully\nmasked row")
def sparse_softmax_cross_entropy(
    logits: Array,
    labels: Any,
    /,
    *,
    axis: int = -1,
    ignore_index: int | None = None,
    class_weights: Any = None,
    weights: Any = None,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    where: Any = None,
    reduction: Reduction = "none",
    invalid: Invalid = "nan",
    dtype: Any = None,
    chunk_size: ChunkSize = "auto",
    xp: ModuleType | None = None,
) -> Array:
    r"""Softmax cross-entropy from logits with integer class labels.

    Per row, with label :math:`y`, :math:`a = (1-\varepsilon)\,w_y` and
    :math:`b = \varepsilon/K` over the :math:`K` unmasked classes:

    .. math::

        \ell = -(1-\varepsilon)\,w_y \log p_y - \frac{\varepsilon}{K}\sum_{c\ \mathrm{unmasked}} w_c \log p_c
             = \Big(a + b\sum_c w_c\Big)\mathrm{lse}(x) - a\,x_y - b\sum_c w_c x_c
             \;[+\ z\,\mathrm{lse}(x)^2]

    No one-hot and no log-softmax is materialised; the gradient is the analytic
    :math:`\mathrm{softmax}(x)(a + b\sum_c w_c) - a\,\mathrm{onehot}(y) - b\,w`.

    Native semantics reproduced: ``torch.nn.functional.cross_entropy`` with class-index
    targets (``weight`` = ``class_weights``, ``ignore_index``, ``label_smoothing``,
    ``reduction="mean"`` divides by :math:`\sum_i w_{y_i}` over non-ignored rows);
    ``optax.softmax_cross_entropy_with_integer_labels``;
    ``tf.nn.sparse_softmax_cross_entropy_with_logits``; Keras'
    ``SparseCategoricalCrossentropy(ignore_class=...)``.

    Parameters
    ----------
    %(logits)s
    labels : array
        Integer class indices with exactly ``logits.shape`` without ``axis`` (no
        broadcasting). Float labels raise :class:`TypeError`.
    %(axis)s
    %(ignore_index)s
    %(class_weights)s
    %(row_weights)s
    label_smoothing : float or 0-d array
        :math:`\varepsilon \in [0, 1]`, spread over the K unmasked classes; a row still
        weighs :math:`w_y` in ``"mean"`` (PyTorch's rule).
        %(traced_option_raise)s
    z_loss : float or 0-d array
        Adds :math:`z\cdot\mathrm{lse}(x)^2` per row. Checked like ``label_smoothing``.
    where : bool array, optional
        Class mask broadcastable to ``logits`` (False or a ``-inf`` logit masks a class).
        A label on a masked class gives ``+inf`` with a finite gradient; a fully masked
        row gives 0 and is not counted by ``"mean"``.
    %(reduction)s
    invalid : {"nan", "raise"}
        Labels outside ``[0, C)`` that are not ``ignore_index``: ``"nan"`` (default,
        jit-safe, no host sync) makes that row's loss and gradient NaN; ``"raise"``
        raises :class:`ValueError` naming the first bad label
        %(raise_timing)s. A bad
        label never reaches a backend's gather (which would wrap, NaN or device-assert).
        Negative ``class_weights`` follow the same policy: NaN on the rows labelled with
        such a class (every row with ``label_smoothing``), or :class:`ValueError`.
    %(dtype)s
    %(chunk_size)s
    %(xp)s

    %(returns_rows)s

    Notes
    -----
    NaN logits or a NaN weight make that row's loss and gradient NaN (an ignored row's
    loss stays 0 but its gradient is NaN, as in PyTorch). ``+inf`` logits take the limit:
    a label on a ``+inf`` class gives 0 (:math:`\log k` when k classes tie at ``+inf``),
    a label elsewhere gives ``+inf``, with the finite gradient
    :math:`\mathrm{softmax} - \mathrm{onehot}`. A ``-inf`` logit masks its class (see
    ``where``); a fully masked row gives 0 with gradient 0. Rows labelled ``ignore_index``
    give 0 with gradient 0; an empty, fully ignored or fully masked batch reduces to 0
    under ``"mean"``. Out-of-range labels follow ``invalid``.

    Examples
    --------
    >>> import numpy as np, xbackend as xb
    >>> logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    >>> xb.sparse_softmax_cross_entropy(logits, np.array([0, 1]), reduction="mean")
    np.float64(0.3185...)
    """
    inp = _prepare_softmax(logits, labels, class_weights, weights, where, xp=xp, dtype=dtype, reduction=reduction)
    xp, shape, ct = inp.xp, inp.shape, inp.compute
    ax, rshape = _sparse_prelude(inp, labels, axis, ignore_index, invalid)
    eps = 0.0  # the defaults (Python 0.0) need no check: no call on the hot path
    if type(label_smoothing) is not float or label_smoothing != 0.0:
        eps = float_option(inp, label_smoothing, "label_smoothing", _checks.check_fraction, invalid=invalid)
    zl = 0.0
    if type(z_loss) is not float or z_loss != 0.0:
        zl = float_option(inp, z_loss, "z_loss", _checks.check_nonnegative_number, invalid=invalid)
    n_classes = shape[ax] if isinstance(shape[ax], int) and shape[ax] > 0 else _n_classes(shape, ax)
    cw = None
    if class_weights is not None:
        cw = nonnegative(xp, class_vector(xp, class_weights, n_classes, "class_weights", ct), "class_weights", invalid)
    w = None if weights is None else prepare_weights(xp, weights, rshape, ct)
    y, keep, counted = label_state(xp, labels, n_classes, ignore_index, invalid, ct, be=inp.be)
    st = _kernels.SparseStatic(ax, eps, zl)
    rows = _chunked.plan(xp, inp.x, ax, ct, chunk_size)
    if rows is not None:  # row blocks: see xbackend._lib._chunked
        if where is not None:
            check_mask(xp, where, shape, "logits")
        x = inp.x
        loss = _chunked.softmax_xent(
            xp, _kernels.SPARSE_SOFTMAX_XENT, st, x, y, axis=ax, where=where, keep=keep,
            class_weights=cw, ct=ct, rows=rows,
        )  # fmt: skip
    else:
        x = cast(xp, inp.x, ct)
        if where is not None:
            x = apply_where(xp, x, where, shape)
        loss = inp.be.apply_kernel(_kernels.SPARSE_SOFTMAX_XENT, x, y, (keep, cw), st)
    mean_weight = None
    if reduction == "mean":
        if rows is not None:
            mean_weight = _chunked.mean_weight(xp, x, where, None, None, ax, rows, ct)
        else:
            mean_weight = _kernels.row_max(xp, x, ax) > -xp.inf  # rows with an unmasked class
        if counted is not None:
            mean_weight = mean_weight & counted
        if cw is not None:
            yk = inp.be.functional.expand_dims(y, axis=ax)  # (Dask: by indexing, no sizes needed)
            wy = xp.squeeze(_kernels.take_class(xp, cw, x, yk, ax), axis=ax)
            mean_weight = xp.where(mean_weight, wy, 0.0)
        else:
            mean_weight = xp.astype(mean_weight, ct)
    return reduce_loss(xp, loss, reduction=reduction, weights=w, mean_weight=mean_weight, out_dtype=inp.out)


@quiet_numpy
@doc(mean="1, 0 for an ignored or fully masked row (``alpha`` is not in it)")
def softmax_focal_loss(
    logits: Array,
    labels: Any,
    /,
    *,
    axis: int = -1,
    gamma: float = 2.0,
    alpha: Any = None,
    ignore_index: int | None = None,
    weights: Any = None,
    label_smoothing: float = 0.0,
    reduction: Reduction = "none",
    invalid: Invalid = "nan",
    dtype: Any = None,
    xp: ModuleType | None = None,
) -> Array:
    r"""Softmax focal loss (Lin et al. 2017) from logits with integer labels.

    .. math::

        \ell = -\alpha_y\,(1 - p_y)^\gamma \log p_y, \qquad p_y = \mathrm{softmax}(x)_y

    computed in log space: :math:`\log p_y = x_y - \mathrm{lse}(x)` and
    :math:`1 - p_y = -\mathrm{expm1}(\log p_y)`, so a confident correct prediction keeps
    relative accuracy and the value and gradient are finite for every
    :math:`\gamma \ge 0` (``gamma=0`` is the cross-entropy). The gradient is analytic:
    :math:`\alpha_y F\,(\mathrm{softmax}(x) - \mathrm{onehot}(y))` with
    :math:`F = (1-p_y)^\gamma\,(1 - \gamma\,p_y \log p_y / (1-p_y))`.

    With ``label_smoothing`` :math:`\varepsilon > 0` the label becomes the soft target
    :math:`\tilde y = (1-\varepsilon)\,\mathrm{onehot}(y) + \varepsilon\,m/K` over the
    :math:`K` unmasked classes :math:`m`, and the loss is Keras' categorical focal form

    .. math::

        \ell = -\sum_c \alpha_c\,\tilde y_c\,(1 - p_c)^\gamma \log p_c

    (same log-space evaluation; gradient :math:`\mathrm{softmax}(x)\sum_c w_c - w` with
    :math:`w_c = \alpha_c \tilde y_c F_c`, finite for every :math:`\gamma \ge 0`).

    Native semantics reproduced: Keras' ``CategoricalFocalCrossentropy`` (with one-hot
    labels, ``alpha`` as a scalar) and the per-class ``alpha`` of detection codebases.
    ``alpha`` multiplies the loss; it is not part of the ``"mean"`` denominator.

    Parameters
    ----------
    %(logits)s
    labels : array
        Integer class indices, ``logits.shape`` without ``axis``.
    %(axis)s
    %(gamma)s
        %(traced_option_raise)s
    alpha : None, float, 0-d array or array
        None (no weighting), a scalar >= 0 (checked like ``gamma``), or a length-C array of
        class weights (negative entries follow ``invalid``: NaN rows for the labels of such
        a class, or :class:`ValueError`).
    %(ignore_index)s
    %(row_weights)s
    label_smoothing : float
        :math:`\varepsilon \in [0, 1]`, spread over the K unmasked classes (Keras'
        ``CategoricalFocalCrossentropy(label_smoothing=...)`` on one-hot labels, which
        spreads over all C classes: the same without masked classes).
    %(reduction)s
    invalid : {"nan", "raise"}
        Out-of-range labels, as in :func:`sparse_softmax_cross_entropy`.
    %(dtype)s
    %(xp)s

    %(returns_rows)s

    Notes
    -----
    As in :func:`sparse_softmax_cross_entropy`: NaN logits give a NaN row (value and
    gradient); ``+inf`` logits take the limit (a label on a ``+inf`` class gives 0,
    elsewhere ``+inf`` with the finite gradient :math:`\alpha_y(\mathrm{softmax} -
    \mathrm{onehot})`); a label on a ``-inf`` (masked) class of a partly masked row gives
    ``+inf`` with a finite gradient; a fully masked row gives 0 with gradient 0 and is not
    counted by ``"mean"``; ``ignore_index`` rows give 0 with gradient 0; out-of-range
    labels follow ``invalid`` (a NaN row, or :class:`ValueError`).
    """
    alpha_arr = None if alpha is None or _is_number_or_0d(alpha) else alpha
    inp = prepare(
        logits, labels, alpha_arr, weights, xp=xp, dtype=dtype, reduction=reduction, names=("alpha", "weights")
    )
    xp, shape, ct = inp.xp, inp.shape, inp.compute
    ax, rshape = _sparse_prelude(inp, labels, axis, ignore_index, invalid)
    g = float_option(inp, gamma, "gamma", _checks.check_nonnegative_number, invalid=invalid)
    eps = 0.0  # the default needs no check
    if type(label_smoothing) is not float or label_smoothing != 0.0:
        eps = float_option(inp, label_smoothing, "label_smoothing", _checks.check_fraction, invalid=invalid)
    n_classes = _n_classes(shape, ax)
    alpha_scalar = None
    if alpha_arr is None and alpha is not None:
        alpha_scalar = float_option(inp, alpha, "alpha", _checks.check_nonnegative_number, invalid=invalid)
    av = nonnegative(xp, class_vector(xp, alpha_arr, n_classes, "alpha", ct), "alpha", invalid)
    w = prepare_weights(xp, weights, rshape, ct)
    y, keep, counted = label_state(xp, labels, n_classes, ignore_index, invalid, ct)
    if type(eps) is not float or eps:  # soft targets: the categorical focal kernel on the one-hot of y
        soft = _kernels.SoftFocalStatic(ax, g, alpha_scalar, eps, True)
        loss = inp.be.apply_kernel(_kernels.SOFT_FOCAL, inp.x, y, (keep, av), soft)
    else:
        hard = _kernels.SoftmaxFocalStatic(ax, g, alpha_scalar)
        loss = inp.be.apply_kernel(_kernels.SOFTMAX_FOCAL, inp.x, y, (keep, av), hard)
    mean_weight = None
    if reduction == "mean":
        mean_weight = _kernels.row_max(xp, inp.x, ax) > -xp.inf  # rows with an unmasked class
        if counted is not None:
            mean_weight = mean_weight & counted
        mean_weight = xp.astype(mean_weight, ct)
    return reduce_loss(xp, loss, reduction=reduction, weights=w, mean_weight=mean_weight, out_dtype=inp.out)


@quiet_numpy
def _soft_focal(
    logits: Any, labels: Any, /, *, axis: int = -1, gamma: float = 2.0, alpha: Any = None,
    label_smoothing: float = 0.0,
) -> Any:
    r"""Private: the categorical focal loss with soft (or one-hot) labels, per row.

    :math:`\ell = -\sum_c \alpha_c\,\tilde y_c\,(1-p_c)^\gamma \log p_c` in log space,
    :math:`\tilde y = (1-\varepsilon)\,y + \varepsilon\,m/K` over the K unmasked classes;
    ``alpha`` None, a number or a length-C array. Used by
    :func:`xbackend.compat.keras.categorical_focal_crossentropy`; the result is
    ``logits.shape`` without ``axis`` (no reduction). Gradients flow to logits and labels.
    """
    alpha_arr = None if alpha is None or isinstance(alpha, (int, float)) else alpha
    inp = prepare(logits, labels, alpha_arr, xp=None, dtype=None, reduction="none")
    xp, shape, ct = inp.xp, inp.shape, inp.compute
    ax = _checks.normalize_axis(axis, len(shape))
    g = _checks.check_nonnegative_number(gamma, "gamma")
    eps = _checks.number_option(label_smoothing, "label_smoothing", _checks.check_fraction)
    n_classes = _n_classes(shape, ax)
    alpha_scalar = None
    if alpha_arr is None and alpha is not None:
        alpha_scalar = _checks.check_nonnegative_number(alpha, "alpha")
    av = class_vector(xp, alpha_arr, n_classes, "alpha", ct)
    y = float_labels(xp, labels, shape, ct, allow_int=False)
    st = _kernels.SoftFocalStatic(ax, g, alpha_scalar, eps, False)
    loss = inp.be.apply_kernel(_kernels.SOFT_FOCAL, inp.x, y, (None, av), st)
    return reduce_loss(xp, loss, reduction="none", out_dtype=inp.out)


@quiet_numpy
@doc(x="probs", x_dtype="probabilities'", mean="1",
     nan_effect="that element NaN, hence its row's loss (whatever its label: ``0·NaN`` is NaN)\n"
     "and the gradient at that element")
def categorical_cross_entropy(
    probs: Array,
    labels: Any,
    /,
    *,
    axis: int = -1,
    eps: float | None = None,
    weights: Any = None,
    reduction: Reduction = "none",
    invalid: Invalid = "nan",
    dtype: Any = None,
    xp: ModuleType | None = None,
) -> Array:
    r"""Categorical cross-entropy from probabilities (the hand-written formula, done right).

    .. math::

        \ell = -\sum_c y_c \log \mathrm{clip}(p_c, \epsilon, 1 - \epsilon)

    Rows are **not** renormalised (Keras' ``categorical_crossentropy`` divides by the
    row sum first; ``xbackend.compat`` reproduces that). The clip keeps the value finite
    when a probability underflows to 0, at a price: the gradient is exactly zero outside
    :math:`[\epsilon, 1-\epsilon]`, and probabilities that came from a softmax have
    already lost their digits (``softmax([0, 100])[0]`` is 0 in float32, so the loss is
    :math:`-\log\epsilon = 15.9` instead of 100). That is why
    :func:`softmax_cross_entropy` takes logits.

    Parameters
    ----------
    probs : array
        Real floating probabilities in [0, 1] (values outside follow ``invalid``), class
        axis ``axis``.
    %(soft_labels)s
    %(axis)s
    %(eps)s
    %(row_weights)s
    %(reduction)s
    %(invalid_probs)s
    %(dtype)s
    %(xp)s

    %(returns_rows)s

    Notes
    -----
    NaN probabilities or labels give a NaN row, also in the gradient (the clip does not
    hide them), and so do probabilities outside [0, 1] under ``invalid="nan"``;
    probabilities in :math:`[0, \epsilon)` or :math:`(1-\epsilon, 1]` (0 and 1 included)
    are clipped: a finite loss with a zero gradient there.

    Examples
    --------
    >>> import numpy as np, xbackend as xb
    >>> xb.categorical_cross_entropy(np.array([[0.7, 0.2, 0.1]]), np.array([[1.0, 0.0, 0.0]]))
    array([0.35667494])
    """
    inp, ax, e = prepare_probs(probs, labels, weights, axis, eps, invalid, xp=xp, dtype=dtype, reduction=reduction)
    xp, shape, ct = inp.xp, inp.shape, inp.compute
    w = prepare_weights(xp, weights, row_shape(shape, ax), ct)
    y = float_labels(xp, labels, shape, ct, allow_int=False, target="probs")
    logp = xp.log(probabilities(xp, inp.x, e, invalid))  # NaN (and outside [0, 1]) stays NaN, also in the gradient
    loss = -xp.sum(y * logp, axis=ax)
    return reduce_loss(xp, loss, reduction=reduction, weights=w, out_dtype=inp.out)


def prepare_probs(
    probs: Any, labels: Any, weights: Any, axis: int | None, eps: Any, invalid: Any, *, xp: ModuleType | None,
    dtype: Any, reduction: str,
) -> tuple[Any, int, Any]:
    """The checks of the losses from probabilities (categorical_cross_entropy,
    binary_cross_entropy): :func:`prepare`, the class axis (``axis=None``: elementwise,
    unchecked, -1 returned), the clip
    bound and ``invalid``. The clip bound is ``finfo(probs.dtype).eps`` by default, a
    checked Python float, or a 0-d array in the compute dtype (unchecked, see
    :mod:`xbackend._lib._checks`)."""
    inp = prepare(probs, labels, weights, xp=xp, dtype=dtype, reduction=reduction, name="probs", names=("weights",))
    ax = -1 if axis is None else _checks.normalize_axis(axis, len(inp.shape), target="probs")
    e = float(inp.xp.finfo(probs.dtype).eps) if eps is None else float_option(inp, eps, "eps", _checks.check_eps)
    _checks.check_choice(invalid, "invalid", _checks.INVALID_POLICIES)
    return inp, ax, e


def _is_number_or_0d(v: Any) -> bool:
    """A scalar ``alpha``: a number, a NumPy scalar or a 0-d array (else per class)."""
    if isinstance(v, (int, float, np.generic)):
        return True
    return hasattr(v, "shape") and tuple(_checks.shape_of(v)) == ()
