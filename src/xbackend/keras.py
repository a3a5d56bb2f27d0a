r"""Keras 3 loss classes backed by xbackend's losses (TensorFlow, JAX and torch Keras backends).

``import xbackend`` never imports Keras, and neither does ``import xbackend.keras``:
the classes are created the first time one of them is looked up, by which time Keras
(and its backend, chosen by ``KERAS_BACKEND``) is the caller's choice::

    import keras
    from xbackend.keras import SparseSoftmaxCrossEntropy

    model.compile(optimizer="adam", loss=SparseSoftmaxCrossEntropy(ignore_index=-1))
    model.fit(x, y)

Every class takes logits (``y_pred`` is never a probability) and Keras' ``reduction``
(default ``"sum_over_batch_size"``), ``name`` and ``dtype``; ``sample_weight`` works as
for any Keras loss. The classes are registered for serialisation as
``"xbackend>ClassName"``.

=============================  ==============================================  =====================================
class                          per-sample loss (``call``)                      Keras counterpart
=============================  ==============================================  =====================================
``SigmoidCrossEntropy``        mean over the last axis of                      ``BinaryCrossentropy(from_logits=True)``
                               :func:`xbackend.sigmoid_cross_entropy`
``SigmoidFocalLoss``           mean over the last axis of                      ``BinaryFocalCrossentropy(from_logits=True)``
                               :func:`xbackend.sigmoid_focal_loss`
``SoftmaxCrossEntropy``        :func:`xbackend.softmax_cross_entropy`          ``CategoricalCrossentropy(from_logits=True)``
``SparseSoftmaxCrossEntropy``  :func:`xbackend.sparse_softmax_cross_entropy`   ``SparseCategoricalCrossentropy(from_logits=True)``
``SoftmaxFocalLoss``           :func:`xbackend.softmax_focal_loss`             ``CategoricalFocalCrossentropy(from_logits=True)``
                                                                               (``alpha=None`` = Keras' ``alpha=1.0``)
=============================  ==============================================  =====================================

Constructor options (all JSON-serialisable Python values):

* ``SigmoidCrossEntropy(pos_weight=None, label_smoothing=0.0)``: ``pos_weight`` a number
  or a list with one weight per class (last axis).
* ``SigmoidFocalLoss(gamma=2.0, alpha=None)``.
* ``SoftmaxCrossEntropy(axis=-1, class_weights=None, label_smoothing=0.0, z_loss=0.0)``.
* ``SparseSoftmaxCrossEntropy(axis=-1, ignore_index=None, class_weights=None,
  label_smoothing=0.0, z_loss=0.0)``.
* ``SoftmaxFocalLoss(axis=-1, gamma=2.0, alpha=None, ignore_index=None)``.

Integer labels: Keras' ``Loss.__call__`` casts ``y_true`` to the loss dtype
(float32), so the sparse classes cast it back to int32 (and squeeze a trailing axis
of size 1, like Keras). With ``ignore_index``, ignored rows give 0 and — as for Keras'
``SparseCategoricalCrossentropy(ignore_class=...)`` — the ``"sum_over_batch_size"``
and ``"mean"`` reductions average over the rows that are not ignored.
Class weights weigh each row's loss; the Keras reduction then divides by the number
of rows (Keras' rule), not by the sum of the weights (PyTorch's).
"""

from __future__ import annotations

import functools
from typing import Any

#: the loss classes, created lazily by ``__getattr__`` (the first lookup imports Keras)
_CLASSES = (
    "SigmoidCrossEntropy",
    "SigmoidFocalLoss",
    "SoftmaxCrossEntropy",
    "SoftmaxFocalLoss",
    "SparseSoftmaxCrossEntropy",
)
__all__ = list(_CLASSES)


def __getattr__(name: str) -> Any:
    if name in _CLASSES:
        classes = _build()
        globals().update(classes)  # later lookups are plain attribute reads
        return classes[name]
    raise AttributeError(f"module 'xbackend.keras' has no attribute {name!r}")


def _array(xp: Any, like: Any, value: Any) -> Any:
    """A Python number or list as an array of ``like``'s dtype and device (None stays None)."""
    if value is None or isinstance(value, (int, float)):
        return value
    from xbackend._lib._kernels import device_of

    return xp.asarray(value, dtype=like.dtype, device=device_of(xp, like))


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


@functools.cache
def _build() -> dict[str, type]:
    import keras

    import xbackend as xb
    from xbackend._backends import array_namespace

    register = keras.saving.register_keras_serializable(package="xbackend")

    class _Loss(keras.losses.Loss):
        _options: tuple[str, ...] = ()

        def get_config(self) -> dict:
            config = super().get_config()
            config.update({k: getattr(self, k) for k in self._options})
            return config

    class SigmoidCrossEntropy(_Loss):
        """Sigmoid cross-entropy from logits, averaged over the last axis per sample."""

        _options = ("pos_weight", "label_smoothing")

        def __init__(self, pos_weight=None, label_smoothing=0.0, reduction="sum_over_batch_size",
                     name="sigmoid_cross_entropy", dtype=None):
            super().__init__(name=name, reduction=reduction, dtype=dtype)
            self.pos_weight = pos_weight
            self.label_smoothing = label_smoothing

        def call(self, y_true, y_pred):
            xp = array_namespace(y_pred)
            pw = _array(xp, y_pred, self.pos_weight)
            loss = xb.sigmoid_cross_entropy(y_pred, y_true, pos_weight=pw, label_smoothing=self.label_smoothing)
            return xp.mean(loss, axis=-1)

    class SigmoidFocalLoss(_Loss):
        """Sigmoid focal loss from logits, averaged over the last axis per sample."""

        _options = ("gamma", "alpha")

        def __init__(self, gamma=2.0, alpha=None, reduction="sum_over_batch_size", name="sigmoid_focal_loss",
                     dtype=None):
            super().__init__(name=name, reduction=reduction, dtype=dtype)
            self.gamma = gamma
            self.alpha = alpha

        def call(self, y_true, y_pred):
            xp = array_namespace(y_pred)
            return xp.mean(xb.sigmoid_focal_loss(y_pred, y_true, gamma=self.gamma, alpha=self.alpha), axis=-1)

    class SoftmaxCrossEntropy(_Loss):
        """Softmax cross-entropy from logits with probability-vector labels."""

        _options = ("axis", "class_weights", "label_smoothing", "z_loss")

        def __init__(self, axis=-1, class_weights=None, label_smoothing=0.0, z_loss=0.0,
                     reduction="sum_over_batch_size", name="softmax_cross_entropy", dtype=None):
            super().__init__(name=name, reduction=reduction, dtype=dtype)
            self.axis = axis
            self.class_weights = class_weights
            self.label_smoothing = label_smoothing
            self.z_loss = z_loss

        def call(self, y_true, y_pred):
            xp = array_namespace(y_pred)
            return xb.softmax_cross_entropy(
                y_pred, y_true, axis=self.axis, class_weights=_array(xp, y_pred, self.class_weights),
                label_smoothing=self.label_smoothing, z_loss=self.z_loss,
            )

    class SparseSoftmaxCrossEntropy(_Loss):
        """Softmax cross-entropy from logits with integer labels (cast back from Keras' float32)."""

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
            xp = array_namespace(y_pred)
            labels = _labels_as_int(xp, y_true, y_pred, self.axis)
            loss = xb.sparse_softmax_cross_entropy(
                y_pred, labels, axis=self.axis, ignore_index=self.ignore_index,
                class_weights=_array(xp, y_pred, self.class_weights), label_smoothing=self.label_smoothing,
                z_loss=self.z_loss,
            )
            return _mean_over_kept_rows(xp, loss, labels, self.ignore_index, self.reduction)

    class SoftmaxFocalLoss(_Loss):
        """Softmax focal loss from logits with integer labels."""

        _options = ("axis", "gamma", "alpha", "ignore_index")

        def __init__(self, axis=-1, gamma=2.0, alpha=None, ignore_index=None, reduction="sum_over_batch_size",
                     name="softmax_focal_loss", dtype=None):
            super().__init__(name=name, reduction=reduction, dtype=dtype)
            self.axis = axis
            self.gamma = gamma
            self.alpha = alpha
            self.ignore_index = ignore_index

        def call(self, y_true, y_pred):
            xp = array_namespace(y_pred)
            labels = _labels_as_int(xp, y_true, y_pred, self.axis)
            loss = xb.softmax_focal_loss(y_pred, labels, axis=self.axis, gamma=self.gamma,
                                         alpha=_array(xp, y_pred, self.alpha), ignore_index=self.ignore_index)
            return _mean_over_kept_rows(xp, loss, labels, self.ignore_index, self.reduction)

    classes = {}
    for cls in (SigmoidCrossEntropy, SigmoidFocalLoss, SoftmaxCrossEntropy, SparseSoftmaxCrossEntropy,
                SoftmaxFocalLoss):
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__
        classes[cls.__name__] = register(cls)
    return classes
