r"""Keras 3 loss classes backed by xbackend's losses (TensorFlow, JAX and torch Keras backends).

``import xbackend`` never imports Keras; ``import xbackend.keras`` does when Keras is
installed (set ``KERAS_BACKEND`` before it, as before ``import keras``), defines the
classes and registers each one for serialisation as ``"xbackend>ClassName"``
(``keras.saving.register_keras_serializable(package="xbackend")``). So a model compiled
with one of these losses and saved (``model.save("m.keras")``) loads in a fresh process
with ``keras.models.load_model("m.keras")`` once ``xbackend.keras`` is imported, without
``custom_objects``::

    import keras
    from xbackend.keras import SparseSoftmaxCrossEntropy

    model.compile(optimizer="adam", loss=SparseSoftmaxCrossEntropy(ignore_index=-1))
    model.fit(x, y)

Without Keras, ``import xbackend.keras`` still succeeds and the classes exist (so their
documentation builds), but creating one raises :class:`ImportError` naming
``pip install keras``.

Every class takes logits (``y_pred`` is never a probability) and Keras' ``reduction``
(default ``"sum_over_batch_size"``), ``name`` and ``dtype``; ``sample_weight`` works as
for any Keras loss. Labels and logits whose ranks differ by one with a trailing axis of
size 1 are matched as Keras' own losses match them (``squeeze_or_expand_to_same_rank``):
``Dense(1)`` logits ``(N, 1)`` with labels ``(N,)`` are a binary classifier, and integer
labels ``(N, 1)`` go with logits ``(N, C)``.

=============================  ==============================================================  ===================================================
class                          per-sample loss (``call``)                                      Keras counterpart
=============================  ==============================================================  ===================================================
``SigmoidCrossEntropy``        mean over the last axis of                                      ``BinaryCrossentropy(from_logits=True)``
                               :func:`xbackend.sigmoid_cross_entropy`
``SigmoidFocalLoss``           mean over the last axis of                                      ``BinaryFocalCrossentropy(from_logits=True)``
                               :func:`xbackend.sigmoid_focal_loss`
``SoftmaxCrossEntropy``        :func:`xbackend.softmax_cross_entropy`                          ``CategoricalCrossentropy(from_logits=True)``
``SparseSoftmaxCrossEntropy``  :func:`xbackend.sparse_softmax_cross_entropy`                   ``SparseCategoricalCrossentropy(from_logits=True)``
``SoftmaxFocalLoss``           :func:`xbackend.softmax_focal_loss` (integer labels)            ``CategoricalFocalCrossentropy(from_logits=True)``
                                                                                               on one-hot labels (``alpha=None`` = ``alpha=1.0``)
``CategoricalFocalLoss``       :func:`xbackend.compat.keras.categorical_focal_crossentropy`    ``CategoricalFocalCrossentropy(from_logits=True)``
                               (one-hot or soft labels)
=============================  ==============================================================  ===================================================

Constructor options (all JSON-serialisable Python values):

* ``SigmoidCrossEntropy(pos_weight=None, label_smoothing=0.0)``: ``pos_weight`` a number
  or a list with one weight per class (last axis).
* ``SigmoidFocalLoss(gamma=2.0, alpha=None)``.
* ``SoftmaxCrossEntropy(axis=-1, class_weights=None, label_smoothing=0.0, z_loss=0.0)``.
* ``SparseSoftmaxCrossEntropy(axis=-1, ignore_index=None, class_weights=None,
  label_smoothing=0.0, z_loss=0.0)``.
* ``SoftmaxFocalLoss(axis=-1, gamma=2.0, alpha=None, ignore_index=None, label_smoothing=0.0)``.
* ``CategoricalFocalLoss(alpha=0.25, gamma=2.0, label_smoothing=0.0, axis=-1)``
  (Keras' defaults; ``alpha`` a number or a list with one weight per class).

Integer labels: Keras' ``Loss.__call__`` casts ``y_true`` to the loss dtype
(float32), so the sparse classes cast it back to int32 (and squeeze a trailing axis
of size 1, like Keras). With ``ignore_index``, ignored rows give 0 and — as for Keras'
``SparseCategoricalCrossentropy(ignore_class=...)`` — the ``"sum_over_batch_size"``
and ``"mean"`` reductions average over the rows that are not ignored.
Class weights weigh each row's loss; the Keras reduction then divides by the number
of rows (Keras' rule), not by the sum of the weights (PyTorch's).
"""

from __future__ import annotations

from typing import Any

import xbackend as xb
from xbackend._backends import array_namespace

try:
    import keras as _keras
except ModuleNotFoundError as _exc:  # Keras not installed: the classes exist but cannot be created
    if _exc.name != "keras":
        raise
    _keras = None

__all__ = [
    "CategoricalFocalLoss",
    "SigmoidCrossEntropy",
    "SigmoidFocalLoss",
    "SoftmaxCrossEntropy",
    "SoftmaxFocalLoss",
    "SparseSoftmaxCrossEntropy",
]


class _KerasMissing:
    """The base class when Keras is not installed: creating a loss raises."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ARG002 (any Loss signature)
        raise ImportError(
            f"xbackend.keras.{type(self).__name__} is a Keras 3 loss and Keras is not installed: "
            "pip install keras (with a Keras backend: tensorflow, jax or torch)"
        )


if _keras is not None:
    _Base: Any = _keras.losses.Loss
    _register: Any = _keras.saving.register_keras_serializable(package="xbackend")
else:
    _Base = _KerasMissing

    def _register(cls: type) -> type:
        return cls


def _array(xp: Any, like: Any, value: Any) -> Any:
    """A Python number or list as an array of ``like``'s dtype and device (None stays None)."""
    if value is None or isinstance(value, (int, float)):
        return value
    from xbackend._lib._kernels import device_of

    return xp.asarray(value, dtype=like.dtype, device=device_of(xp, like))


def _same_rank(xp: Any, y_true: Any, y_pred: Any) -> tuple[Any, Any]:
    """Keras' ``squeeze_or_expand_to_same_rank(y_true, y_pred)`` (Keras 3.15, every
    ``LossFunctionWrapper``): when the ranks differ by one and the longer one ends in an
    axis of size 1, a rank-1 partner gains a trailing axis, otherwise that axis goes."""
    r_true, r_pred = len(y_true.shape), len(y_pred.shape)
    if r_true == r_pred + 1 and y_true.shape[-1] == 1:
        if r_pred == 1:
            y_pred = xp.expand_dims(y_pred, axis=-1)
        else:
            y_true = xp.squeeze(y_true, axis=-1)
    elif r_pred == r_true + 1 and y_pred.shape[-1] == 1:
        if r_true == 1:
            y_true = xp.expand_dims(y_true, axis=-1)
        else:
            y_pred = xp.squeeze(y_pred, axis=-1)
    return y_true, y_pred


def _labels_as_int(xp: Any, y_true: Any, y_pred: Any, axis: int) -> Any:
    """Undo Keras' float cast of integer labels; squeeze a trailing size-1 axis like Keras."""
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[axis] == 1:
        y_true = xp.squeeze(y_true, axis=axis)
    if not xp.isdtype(y_true.dtype, "integral"):
        y_true = xp.astype(y_true, xp.int32)
    return y_true


def _mean_over_kept_rows(xp: Any, loss: Any, labels: Any, ignore_index: Any, reduction: Any) -> Any:
    """Keras' masked averaging: scale kept rows by ``rows / kept`` (0 rows kept: 0)."""
    if ignore_index is None or reduction not in ("sum_over_batch_size", "mean"):
        return loss
    kept = xp.astype(labels != ignore_index, loss.dtype)
    n_kept = xp.sum(kept)
    n_rows = xp.sum(xp.ones_like(kept))
    return loss * (n_rows / xp.where(n_kept == 0, 1.0, n_kept))


class _Loss(_Base):
    _options: tuple[str, ...] = ()

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({k: getattr(self, k) for k in self._options})
        return config

    def _inputs(self, y_true: Any, y_pred: Any) -> tuple[Any, Any, Any]:
        xp = array_namespace(y_pred)
        y_true, y_pred = _same_rank(xp, y_true, y_pred)
        return xp, y_true, y_pred


@_register
class SigmoidCrossEntropy(_Loss):
    """Sigmoid cross-entropy from logits, averaged over the last axis per sample.

    Keras' ``BinaryCrossentropy(from_logits=True)``: :func:`xbackend.sigmoid_cross_entropy`
    with ``pos_weight`` (a number or a list, one per class) and ``label_smoothing``.
    """

    _options = ("pos_weight", "label_smoothing")

    def __init__(self, pos_weight=None, label_smoothing=0.0, reduction="sum_over_batch_size",
                 name="sigmoid_cross_entropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.pos_weight = pos_weight
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        """Per-sample loss: the mean over the last axis."""
        xp, y_true, y_pred = self._inputs(y_true, y_pred)
        pw = _array(xp, y_pred, self.pos_weight)
        loss = xb.sigmoid_cross_entropy(y_pred, y_true, pos_weight=pw, label_smoothing=self.label_smoothing)
        return xp.mean(loss, axis=-1)


@_register
class SigmoidFocalLoss(_Loss):
    """Sigmoid focal loss from logits, averaged over the last axis per sample.

    Keras' ``BinaryFocalCrossentropy(from_logits=True)`` (``apply_class_balancing=True``
    when ``alpha`` is given): :func:`xbackend.sigmoid_focal_loss`.
    """

    _options = ("gamma", "alpha")

    def __init__(self, gamma=2.0, alpha=None, reduction="sum_over_batch_size", name="sigmoid_focal_loss",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.gamma = gamma
        self.alpha = alpha

    def call(self, y_true, y_pred):
        """Per-sample loss: the mean over the last axis."""
        xp, y_true, y_pred = self._inputs(y_true, y_pred)
        return xp.mean(xb.sigmoid_focal_loss(y_pred, y_true, gamma=self.gamma, alpha=self.alpha), axis=-1)


@_register
class SoftmaxCrossEntropy(_Loss):
    """Softmax cross-entropy from logits with probability-vector labels.

    Keras' ``CategoricalCrossentropy(from_logits=True)``: :func:`xbackend.softmax_cross_entropy`.
    """

    _options = ("axis", "class_weights", "label_smoothing", "z_loss")

    def __init__(self, axis=-1, class_weights=None, label_smoothing=0.0, z_loss=0.0,
                 reduction="sum_over_batch_size", name="softmax_cross_entropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.axis = axis
        self.class_weights = class_weights
        self.label_smoothing = label_smoothing
        self.z_loss = z_loss

    def call(self, y_true, y_pred):
        """Per-sample loss (the class axis reduced)."""
        xp, y_true, y_pred = self._inputs(y_true, y_pred)
        return xb.softmax_cross_entropy(
            y_pred, y_true, axis=self.axis, class_weights=_array(xp, y_pred, self.class_weights),
            label_smoothing=self.label_smoothing, z_loss=self.z_loss,
        )


@_register
class SparseSoftmaxCrossEntropy(_Loss):
    """Softmax cross-entropy from logits with integer labels (cast back from Keras' float32).

    Keras' ``SparseCategoricalCrossentropy(from_logits=True, ignore_class=...)``:
    :func:`xbackend.sparse_softmax_cross_entropy`.
    """

    _options = ("axis", "ignore_index", "class_weights", "label_smoothing", "z_loss")

    def __init__(self, axis=-1, ignore_index=None, class_weights=None, label_smoothing=0.0, z_loss=0.0,
                 reduction="sum_over_batch_size", name="sparse_softmax_cross_entropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.axis = axis
        self.ignore_index = ignore_index
        self.class_weights = class_weights
        self.label_smoothing = label_smoothing
        self.z_loss = z_loss

    def call(self, y_true, y_pred):
        """Per-sample loss (the class axis reduced; ignored rows 0)."""
        xp, y_true, y_pred = self._inputs(y_true, y_pred)
        labels = _labels_as_int(xp, y_true, y_pred, self.axis)
        loss = xb.sparse_softmax_cross_entropy(
            y_pred, labels, axis=self.axis, ignore_index=self.ignore_index,
            class_weights=_array(xp, y_pred, self.class_weights), label_smoothing=self.label_smoothing,
            z_loss=self.z_loss,
        )
        return _mean_over_kept_rows(xp, loss, labels, self.ignore_index, self.reduction)


@_register
class SoftmaxFocalLoss(_Loss):
    """Softmax focal loss from logits with integer labels.

    Keras' ``CategoricalFocalCrossentropy(from_logits=True)`` on one-hot labels
    (``alpha=None`` is Keras' ``alpha=1.0``): :func:`xbackend.softmax_focal_loss`, with
    ``label_smoothing`` turning the label into Keras' smoothed one-hot.
    """

    _options = ("axis", "gamma", "alpha", "ignore_index", "label_smoothing")

    def __init__(self, axis=-1, gamma=2.0, alpha=None, ignore_index=None, label_smoothing=0.0,
                 reduction="sum_over_batch_size", name="softmax_focal_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.axis = axis
        self.gamma = gamma
        self.alpha = alpha
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        """Per-sample loss (the class axis reduced; ignored rows 0)."""
        xp, y_true, y_pred = self._inputs(y_true, y_pred)
        labels = _labels_as_int(xp, y_true, y_pred, self.axis)
        loss = xb.softmax_focal_loss(y_pred, labels, axis=self.axis, gamma=self.gamma,
                                     alpha=_array(xp, y_pred, self.alpha), ignore_index=self.ignore_index,
                                     label_smoothing=self.label_smoothing)
        return _mean_over_kept_rows(xp, loss, labels, self.ignore_index, self.reduction)


@_register
class CategoricalFocalLoss(_Loss):
    r"""Categorical focal loss from logits with one-hot or soft labels.

    Keras' ``CategoricalFocalCrossentropy(from_logits=True)`` with the same options and
    defaults, computed in log space by
    :func:`xbackend.compat.keras.categorical_focal_crossentropy`:
    :math:`\ell = -\sum_c \alpha_c\,\tilde y_c\,(1-p_c)^\gamma \log p_c`. Where Keras
    clips the softmax to :math:`[10^{-7}, 1-10^{-7}]` (confident predictions) this is
    exact.
    """

    _options = ("alpha", "gamma", "label_smoothing", "axis")

    def __init__(self, alpha=0.25, gamma=2.0, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_focal_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.alpha = alpha
        self.gamma = gamma
        self.label_smoothing = label_smoothing
        self.axis = axis

    def call(self, y_true, y_pred):
        """Per-sample loss (the class axis reduced)."""
        from xbackend.compat.keras import categorical_focal_crossentropy

        _, y_true, y_pred = self._inputs(y_true, y_pred)
        return categorical_focal_crossentropy(y_true, y_pred, alpha=self.alpha, gamma=self.gamma, from_logits=True,
                                              label_smoothing=self.label_smoothing, axis=self.axis)
