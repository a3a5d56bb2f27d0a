r"""TensorFlow's ``tf.nn`` cross-entropies with TensorFlow's names and keywords, on
every backend.

>>> import numpy as np
>>> from xbackend.compat import tf as nn
>>> nn.sigmoid_cross_entropy_with_logits(labels=np.array([0.0, 1.0]), logits=np.array([-30.0, 0.0]))
array([9.35762297e-14, 6.93147181e-01])

Each function is a thin wrapper over a core loss of :mod:`xbackend`, returns the
unreduced loss like ``tf.nn`` does, and accepts ``name=`` (ignored). The numbers are
TensorFlow's wherever TensorFlow is numerically right. Where it is not:

* **Infinite logits.** ``sigmoid_cross_entropy_with_logits`` gives NaN for
  ``(x, z) = (-inf, 0), (+inf, 1), (+inf, 0)`` and the softmax losses give NaN for any
  row with a ``-inf`` logit; here they are exact (0, 0, inf; a ``-inf`` logit is a
  masked class that takes no probability mass).
* **Cancellation.** ``weighted_cross_entropy_with_logits`` loses the relative accuracy
  of tiny losses (``x = -30, z = 0``: 9.2371e-14 in float64; exact 9.3576e-14).
* **Gradients.** TensorFlow's fused softmax kernel returns ``softmax - y`` even when
  the labels do not sum to 1; here it is the exact ``softmax·Σy - y``.
* **Bad labels.** ``sparse_softmax_cross_entropy_with_logits`` raises
  ``InvalidArgumentError`` on the CPU and returns NaN on the GPU; here it is always a
  NaN row (no host sync).
* **Precision.** float16/bfloat16 are computed in float32 and rounded once.
"""

from __future__ import annotations

from typing import Any

from xbackend._lib import _checks
from xbackend._lib._docs import doc
from xbackend._lib._sigmoid import sigmoid_cross_entropy as _sigmoid_cross_entropy
from xbackend._lib._softmax import softmax_cross_entropy as _softmax_cross_entropy
from xbackend._lib._softmax import sparse_softmax_cross_entropy as _sparse_softmax_cross_entropy
from xbackend.compat._common import check_same_shape

__all__ = [
    "sigmoid_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits",
    "sparse_softmax_cross_entropy_with_logits",
    "weighted_cross_entropy_with_logits",
]


def _both(labels: Any, logits: Any, fn: str) -> None:
    if labels is None or logits is None:
        raise ValueError(
            f"Both labels= and logits= must be provided for {fn}; got "
            f"labels={'None' if labels is None else 'an array'} and "
            f"logits={'None' if logits is None else 'an array'}"
        )
    _checks.require_array(labels, "labels")
    _checks.require_array(logits, "logits")


@doc()
def sigmoid_cross_entropy_with_logits(labels: Any = None, logits: Any = None, name: str | None = None) -> Any:
    r"""``tf.nn.sigmoid_cross_entropy_with_logits`` on any backend.

    .. math::

        \ell = z\,\mathrm{softplus}(-x) + (1-z)\,\mathrm{softplus}(x)

    elementwise (TensorFlow writes it :math:`\max(x, 0) - xz + \log(1 + e^{-|x|})`).
    Computed by :func:`xbackend.sigmoid_cross_entropy`.

    Parameters
    ----------
    %(tf_binary_labels)s
    %(tf_name)s

    %(returns_elementwise)s

    Notes
    -----
    Differences from TensorFlow (2.21): ``(x, z) = (-inf, 0)`` and ``(+inf, 1)`` give 0
    and ``(+inf, 0)`` gives ``inf`` (TensorFlow: NaN for all three); integer and bool
    labels are accepted; float16/bfloat16 are computed in float32.
    """
    del name  # TensorFlow's op name: no graph op is created here
    _both(labels, logits, "sigmoid_cross_entropy_with_logits")
    check_same_shape(logits, labels, "logits", "labels", "tf.nn.sigmoid_cross_entropy_with_logits")
    return _sigmoid_cross_entropy(logits, labels)


@doc()
def weighted_cross_entropy_with_logits(labels: Any, logits: Any, pos_weight: Any, name: str | None = None) -> Any:
    r"""``tf.nn.weighted_cross_entropy_with_logits`` on any backend.

    .. math::

        \ell = q\,z\,\mathrm{softplus}(-x) + (1-z)\,\mathrm{softplus}(x)

    with ``q = pos_weight`` (a number or an array broadcast against ``logits``, e.g. one
    weight per class along the last axis). Computed by
    :func:`xbackend.sigmoid_cross_entropy` with ``pos_weight``.

    Parameters
    ----------
    %(tf_binary_labels)s
    pos_weight : float or array
        Weight of the positive term.
    %(tf_name)s

    %(returns_elementwise)s

    Notes
    -----
    Differences from TensorFlow (2.21): exact at ``±inf`` (TensorFlow: NaN for
    ``(-inf, 0)``, ``(+inf, 1)`` and ``(-inf, 1)``); tiny losses keep relative accuracy
    (``x = -30, z = 0``: 9.3576e-14, TensorFlow 9.2371e-14 in float64); a negative
    ``pos_weight`` held on the host raises ``ValueError`` (TensorFlow computes a
    negative loss).
    """
    del name  # TensorFlow's op name: no graph op is created here
    _both(labels, logits, "weighted_cross_entropy_with_logits")
    check_same_shape(logits, labels, "logits", "labels", "tf.nn.weighted_cross_entropy_with_logits")
    return _sigmoid_cross_entropy(logits, labels, pos_weight=pos_weight)


@doc()
def softmax_cross_entropy_with_logits(labels: Any, logits: Any, axis: int = -1, name: str | None = None) -> Any:
    r"""``tf.nn.softmax_cross_entropy_with_logits`` on any backend.

    .. math::

        \ell = -\sum_c y_c \log\mathrm{softmax}(x)_c

    along ``axis``; ``labels`` are probability vectors (broadcastable to ``logits``).
    Computed by :func:`xbackend.softmax_cross_entropy`; the gradient is the exact
    :math:`\mathrm{softmax}(x)\sum_c y_c - y`, also with respect to the labels.

    Parameters
    ----------
    labels : array
        Probability vectors along ``axis``.
    logits : array
        Logits.
    axis : int
        The class axis.
    %(tf_name)s

    %(returns_batch)s.

    Notes
    -----
    Differences from TensorFlow (2.21): a ``-inf`` logit is a masked class (TensorFlow:
    NaN for the whole row, even when its label is 0); for labels that do not sum to 1
    the gradient is ``softmax·Σy - y`` (TensorFlow: ``softmax - y``; for
    ``x = [2, 1, 0.1], y = [0.5, 0, 0]`` the first component is -0.1705, TensorFlow 0.1590).
    """
    del name  # TensorFlow's op name: no graph op is created here
    _both(labels, logits, "softmax_cross_entropy_with_logits")
    return _softmax_cross_entropy(logits, labels, axis=axis)


@doc()
def sparse_softmax_cross_entropy_with_logits(labels: Any, logits: Any, name: str | None = None) -> Any:
    r"""``tf.nn.sparse_softmax_cross_entropy_with_logits`` on any backend.

    .. math::

        \ell = \mathrm{logsumexp}(x) - x_y

    over the last axis; ``labels`` are integer class indices with ``logits.shape[:-1]``.
    Computed by :func:`xbackend.sparse_softmax_cross_entropy`.

    Parameters
    ----------
    labels : array
        Integer class indices, shape ``logits.shape[:-1]``.
    logits : array
        Logits, classes on the last axis.
    %(tf_name)s

    %(returns_batch_last)s

    Notes
    -----
    Differences from TensorFlow (2.21): a label outside ``[0, C)`` gives a NaN row on
    every device (TensorFlow raises ``InvalidArgumentError`` on the CPU and returns NaN
    on the GPU); float16/bfloat16 are computed in float32 (TensorFlow's bfloat16 kernel
    rounds intermediate values).
    """
    del name  # TensorFlow's op name: no graph op is created here
    _both(labels, logits, "sparse_softmax_cross_entropy_with_logits")
    return _sparse_softmax_cross_entropy(logits, labels, axis=-1)
