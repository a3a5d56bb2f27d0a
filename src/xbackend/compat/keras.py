r"""Keras 3's functional losses (``keras.losses.*``) with Keras' names, argument order
and defaults, on every backend — and without importing Keras.

>>> import numpy as np
>>> from xbackend.compat import keras as kl
>>> kl.binary_crossentropy(np.array([[0.0, 1.0]]), np.array([[-1.0, 2.0]]), from_logits=True)
array([0.22009485])

Like Keras' functions they take ``(y_true, y_pred)`` and return the per-sample loss:
the sigmoid losses average over ``axis`` (Keras' per-sample mean), the categorical
losses reduce the class axis. From probabilities (``from_logits=False``) they use
Keras' formulas: probabilities clipped to ``[ε, 1-ε]`` with Keras' epsilon (1e-7, or
``keras.config.epsilon()`` when Keras is loaded), and ``categorical_crossentropy``
renormalises each row first. From logits they call the exact core losses.

Where Keras is numerically wrong, or differs between its own backends, these
functions are exact and do the same on every backend:

* ``from_logits=True`` at ``±inf``: exact (Keras: NaN, like ``tf.nn`` and optax).
* ``binary_focal_crossentropy(from_logits=True)`` and
  ``categorical_focal_crossentropy(from_logits=True)`` are computed in log space. Keras
  applies a sigmoid and then the clipped probability formula, so on its JAX and torch
  backends a confident wrong prediction is capped (``x = 30, z = 0`` gives 15.94
  instead of 30, with a zero gradient); its TensorFlow backend recovers the logits and
  gets 30. Keras' categorical focal loss clips the softmax on every backend.
* Bad integer labels give a NaN row (Keras: ``InvalidArgumentError`` on TensorFlow's
  CPU, a silent 0 on JAX).
* float16/bfloat16 are computed in float32 (Keras computes in the input dtype, where
  ``1 - 1e-7`` rounds to 1: float16 ``binary_crossentropy([[0, 1]], [[0, 1]])`` is NaN).
"""

from __future__ import annotations

from typing import Any

from xbackend._backends import array_namespace
from xbackend._lib import _checks
from xbackend._lib._docs import doc
from xbackend._lib._kernels import along as _along
from xbackend._lib._kernels import device_of as _device_of
from xbackend._lib._labels import label_state
from xbackend._lib._sigmoid import binary_cross_entropy as _binary_cross_entropy
from xbackend._lib._sigmoid import sigmoid_cross_entropy as _sigmoid_cross_entropy
from xbackend._lib._sigmoid import sigmoid_focal_loss as _sigmoid_focal_loss
from xbackend._lib._softmax import _soft_focal
from xbackend._lib._softmax import categorical_cross_entropy as _categorical_cross_entropy
from xbackend._lib._softmax import softmax_cross_entropy as _softmax_cross_entropy
from xbackend._lib._softmax import sparse_softmax_cross_entropy as _sparse_softmax_cross_entropy
from xbackend.compat._common import check_same_shape, keras_epsilon, onehot

__all__ = [
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "sparse_categorical_crossentropy",
]


def _prepare(y_true: Any, y_pred: Any, fn: str, class_axis: Any = None) -> tuple[Any, Any]:
    """Keras casts ``y_true`` to ``y_pred``'s dtype and wants equal shapes (and, for the
    categorical losses, an int ``class_axis``)."""
    if isinstance(class_axis, bool):
        raise ValueError(f"axis must be of type int, got axis={class_axis!r}")
    _checks.require_array(y_true, "y_true")
    _checks.require_array(y_pred, "y_pred")
    xp = array_namespace(y_true, y_pred)
    _checks.check_real_floating(xp, y_pred, "y_pred")
    check_same_shape(y_true, y_pred, "y_true", "y_pred", f"keras.losses.{fn}")
    if y_true.dtype != y_pred.dtype:
        y_true = xp.astype(y_true, y_pred.dtype)
    return xp, y_true


def _smooth_binary(y: Any, label_smoothing: float) -> Any:
    eps = _checks.check_fraction(label_smoothing, "label_smoothing")
    return y * (1.0 - eps) + 0.5 * eps if eps else y


@doc()
def binary_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1
) -> Any:
    r"""``keras.losses.binary_crossentropy`` on any backend.

    With smoothed labels :math:`\tilde z = (1-\varepsilon)z + \varepsilon/2`, the mean
    over ``axis`` of

    .. math::

        \ell = \tilde z\,\mathrm{softplus}(-x) + (1-\tilde z)\,\mathrm{softplus}(x)
        \quad\text{or}\quad
        -\tilde z\log p_\epsilon - (1-\tilde z)\log(1-p_\epsilon),\ \
        p_\epsilon = \mathrm{clip}(p, \epsilon, 1-\epsilon)

    from logits (:func:`xbackend.sigmoid_cross_entropy`) or from probabilities
    (:func:`xbackend.binary_cross_entropy` with Keras' epsilon).

    Parameters
    ----------
    %(keras_binary_y_true)s
    %(keras_y_pred)s
    %(keras_from_logits)s
    label_smoothing : float
        :math:`\varepsilon \in [0, 1]`: labels move towards 1/2.
    axis : int
        The axis averaged over (Keras' per-sample mean).

    %(keras_returns)s

    Notes
    -----
    Differences from Keras (3.15): exact at ``±inf`` logits (Keras: NaN for
    ``(-inf, 0)``); float16/bfloat16 probabilities are clipped in float32.
    """
    xp, y_true = _prepare(y_true, y_pred, "binary_crossentropy")
    z = _smooth_binary(y_true, label_smoothing)
    loss = _sigmoid_cross_entropy(y_pred, z) if from_logits else _binary_cross_entropy(y_pred, z, eps=keras_epsilon())
    return xp.mean(loss, axis=axis)


@doc()
def categorical_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1
) -> Any:
    r"""``keras.losses.categorical_crossentropy`` on any backend.

    With smoothed labels :math:`\tilde y = (1-\varepsilon)y + \varepsilon/C` along
    ``axis``:

    .. math::

        \ell = -\sum_c \tilde y_c \log\mathrm{softmax}(x)_c
        \quad\text{or}\quad
        -\sum_c \tilde y_c \log\mathrm{clip}\Big(\frac{p_c}{\sum_k p_k}, \epsilon, 1-\epsilon\Big)

    from logits (:func:`xbackend.softmax_cross_entropy`) or from probabilities, which
    Keras renormalises before clipping (:func:`xbackend.categorical_cross_entropy` on the
    renormalised rows).

    Parameters
    ----------
    %(keras_soft_y_true)s
    %(keras_y_pred)s
    %(keras_from_logits)s
    %(keras_smoothing)s
    %(axis)s

    %(keras_returns)s

    Notes
    -----
    Differences from Keras (3.15): a ``-inf`` logit is a masked class (Keras: NaN) and
    smoothing spreads over the unmasked classes; with ``axis`` other than the last,
    smoothing divides by the size of ``axis`` (Keras divides by the size of the last
    axis whatever ``axis`` is); the logits gradient is exact for labels that do not
    sum to 1 (Keras on TensorFlow: ``softmax - y``).
    """
    xp, y_true = _prepare(y_true, y_pred, "categorical_crossentropy", axis)
    eps = _checks.check_fraction(label_smoothing, "label_smoothing")
    if from_logits:
        return _softmax_cross_entropy(y_pred, y_true, axis=axis, label_smoothing=eps)
    ax = _checks.normalize_axis(axis, len(y_pred.shape))
    if eps:
        y_true = y_true * (1.0 - eps) + eps / y_pred.shape[ax]
    p = y_pred / xp.sum(y_pred, axis=ax, keepdims=True)
    return _categorical_cross_entropy(p, y_true, axis=ax, eps=keras_epsilon())


@doc()
def sparse_categorical_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, ignore_class: int | None = None, axis: int = -1
) -> Any:
    r"""``keras.losses.sparse_categorical_crossentropy`` on any backend.

    .. math::

        \ell = \mathrm{logsumexp}(x) - x_y
        \quad\text{or}\quad
        -\log\mathrm{clip}\Big(\frac{p_y}{\sum_k p_k}, \epsilon, 1-\epsilon\Big)

    from logits (:func:`xbackend.sparse_softmax_cross_entropy`) or from probabilities
    (Keras' JAX/torch formula: renormalise, clip, log). ``y_true`` holds class indices
    (a float array of whole numbers is accepted and cast, as Keras does); a trailing
    axis of size 1 is squeezed. Rows whose label is ``ignore_class`` give 0.

    Parameters
    ----------
    y_true : array
        Class indices, ``y_pred.shape`` without ``axis`` (or with a size-1 ``axis``).
    %(keras_y_pred)s
    %(keras_from_logits)s
    ignore_class : int, optional
        Label value that contributes 0.
    axis : int
        The class axis (Keras' TensorFlow backend supports only the last).

    %(keras_returns)s

    Notes
    -----
    Differences from Keras (3.15): labels outside ``[0, C)`` that are not
    ``ignore_class`` give a NaN row (Keras: ``InvalidArgumentError`` on TensorFlow's
    CPU, a silent 0 on JAX); the functional form returns the per-sample loss without
    Keras' internal mask, so averaging over the valid rows (what Keras'
    ``SparseCategoricalCrossentropy(ignore_class=...)`` does) is the caller's business
    — :class:`xbackend.keras.SparseSoftmaxCrossEntropy` does it. From probabilities,
    Keras' TensorFlow backend clips without renormalising and then renormalises the
    clipped row, which differs from this (and Keras-JAX) by at most ``C·ε`` when a
    probability is clipped.
    """
    _checks.require_array(y_true, "y_true")
    _checks.require_array(y_pred, "y_pred")
    xp = array_namespace(y_true, y_pred)
    _checks.check_real_floating(xp, y_pred, "y_pred")
    ax = _checks.normalize_axis(axis, len(y_pred.shape))
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[ax] == 1:
        y_true = xp.squeeze(y_true, axis=ax)
    if not xp.isdtype(y_true.dtype, "integral"):
        y_true = xp.astype(y_true, xp.int32)
    if from_logits:
        return _sparse_softmax_cross_entropy(y_pred, y_true, axis=ax, ignore_index=ignore_class)
    # Probabilities: -log clip(p_y / Σp), with the core's label policy for bad labels.
    n_classes = y_pred.shape[ax]
    p = y_pred / xp.sum(y_pred, axis=ax, keepdims=True)
    safe, keep, _ = label_state(xp, y_true, n_classes, ignore_class, "nan", p.dtype)
    loss = _categorical_cross_entropy(p, onehot(xp, p, safe, ax, p.dtype), axis=ax, eps=keras_epsilon())
    if keep is None:
        return loss
    return xp.where(keep == 0, 0.0, loss * xp.astype(keep, loss.dtype))


@doc()
def binary_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    r"""``keras.losses.binary_focal_crossentropy`` on any backend.

    With smoothed labels :math:`\tilde z = (1-\varepsilon)z + \varepsilon/2`, the mean
    over ``axis`` of

    .. math::

        \ell = \alpha_t\,(1-p_t)^\gamma\,\mathrm{bce}, \qquad
        1 - p_t = \tilde z(1-p) + (1-\tilde z)p, \qquad
        \alpha_t = \alpha\tilde z + (1-\alpha)(1-\tilde z)

    (:math:`\alpha_t = 1` unless ``apply_class_balancing``). From logits this is
    :func:`xbackend.sigmoid_focal_loss` (log space, exact); from probabilities it is
    Keras' formula with the clipped :func:`xbackend.binary_cross_entropy`.

    Parameters
    ----------
    %(keras_binary_y_true)s
    %(keras_y_pred)s
    apply_class_balancing : bool
        Whether to weigh by :math:`\alpha_t`.
    alpha : float
        Weight of the positive class, in [0, 1].
    %(keras_gamma)s
    %(keras_from_logits)s
    %(keras_smoothing)s
    axis : int
        The axis averaged over.

    %(keras_returns)s

    Notes
    -----
    Differences from Keras (3.15), from logits only: Keras computes a sigmoid and the
    clipped probability formula, so on its JAX and torch backends the loss of a
    confident wrong prediction is capped near :math:`-\log 10^{-7} = 16.1` with a zero
    gradient (``x = 30, z = 0``: 15.94, exact 30); its TensorFlow backend takes the
    cross-entropy from the logits but :math:`1-p_t` from the rounded sigmoid. Here both
    are exact on every backend.
    """
    xp, y_true = _prepare(y_true, y_pred, "binary_focal_crossentropy")
    z = _smooth_binary(y_true, label_smoothing)
    a = alpha if apply_class_balancing else None
    if from_logits:
        loss = _sigmoid_focal_loss(y_pred, z, gamma=gamma, alpha=a)
    else:
        g = _checks.check_nonnegative_number(gamma, "gamma")
        bce = _binary_cross_entropy(y_pred, z, eps=keras_epsilon())
        one_minus_pt = z * (1.0 - y_pred) + (1.0 - z) * y_pred
        loss = one_minus_pt**g * bce
        if a is not None:
            a = _checks.check_fraction(a, "alpha")
            loss = (a * z + (1.0 - a) * (1.0 - z)) * loss
    return xp.mean(loss, axis=axis)


@doc()
def categorical_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    alpha: Any = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    r"""``keras.losses.categorical_focal_crossentropy`` on any backend.

    With smoothed labels :math:`\tilde y = (1-\varepsilon)y + \varepsilon/C` along
    ``axis``:

    .. math::

        \ell = -\sum_c \alpha_c\,\tilde y_c\,(1 - p_c)^\gamma \log p_c,
        \qquad p = \mathrm{softmax}(x)
        \quad\text{or}\quad
        p = \mathrm{clip}\Big(\frac{p}{\sum_k p_k}, \epsilon, 1-\epsilon\Big)

    From logits it is computed in log space (:math:`\log p = x - \mathrm{lse}(x)`,
    :math:`1 - p = -\mathrm{expm1}(\log p)`, analytic gradient, finite for every
    :math:`\gamma \ge 0`); from probabilities it is Keras' formula (renormalise, clip
    with Keras' epsilon).

    Parameters
    ----------
    %(keras_soft_y_true)s
    %(keras_y_pred)s
    alpha : float or sequence of float
        A weight for every class (a number) or one per class (length C, along ``axis``).
    %(keras_gamma)s
    %(keras_from_logits)s
    %(keras_smoothing)s
    %(axis)s

    %(keras_returns)s

    Notes
    -----
    Differences from Keras (3.15), from logits: Keras applies a softmax and then the
    clipped probability formula, so :math:`\log p_c \ge \log 10^{-7}` (a confident
    wrong prediction is capped near :math:`16.1\,\alpha`, with a zero gradient) and
    :math:`(1-p_c)^\gamma \ge (10^{-7})^\gamma` (a confident correct prediction keeps a
    floor); here both are exact (``x = [40, 0]``, label 1, ``gamma=2``: 40, Keras 16.1).
    Where no probability is clipped the two agree to rounding. As in
    :func:`categorical_crossentropy`: a ``-inf`` logit is a masked class (Keras: NaN) and
    smoothing spreads over the unmasked classes; with ``axis`` other than the last,
    smoothing divides by the size of ``axis`` and a per-class ``alpha`` lies along
    ``axis`` (Keras uses the last axis for both).
    """
    xp, y_true = _prepare(y_true, y_pred, "categorical_focal_crossentropy", axis)
    eps = _checks.check_fraction(label_smoothing, "label_smoothing")
    g = _checks.check_nonnegative_number(gamma, "gamma")
    ax = _checks.normalize_axis(axis, len(y_pred.shape))
    if isinstance(alpha, bool):
        raise TypeError(f"alpha must be a number or a sequence of numbers, got {alpha!r}")
    if isinstance(alpha, (int, float)):
        a: Any = float(alpha)
    else:
        ct = xp.float32 if xp.finfo(y_pred.dtype).bits < 32 else y_pred.dtype
        a = xp.asarray(alpha, dtype=ct, device=_device_of(xp, y_pred))
        if len(a.shape) != 1 or a.shape[0] != y_pred.shape[ax]:
            raise ValueError(f"alpha must be a number or have one value per class ({y_pred.shape[ax]}), "
                             f"got shape {tuple(a.shape)}")
    if from_logits:
        return _soft_focal(y_pred, y_true, axis=ax, gamma=g, alpha=a, label_smoothing=eps)
    out_dtype = y_pred.dtype
    if xp.finfo(out_dtype).bits < 32:  # Keras' 1 - 1e-7 rounds to 1 in float16
        y_pred, y_true = xp.astype(y_pred, xp.float32), xp.astype(y_true, xp.float32)
    if eps:
        y_true = y_true * (1.0 - eps) + eps / y_pred.shape[ax]
    e = keras_epsilon()
    p = xp.clip(y_pred / xp.sum(y_pred, axis=ax, keepdims=True), e, 1.0 - e)
    terms = -y_true * xp.log(p) * (1.0 - p) ** g
    if not isinstance(a, float):
        a = _along(xp, a, ax, len(y_pred.shape))
    loss = xp.sum(terms * a, axis=ax)
    return loss if loss.dtype == out_dtype else xp.astype(loss, out_dtype)
