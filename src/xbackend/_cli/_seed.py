"""The seed example: the motivating question, worked on every installed backend.

Data from the classic question "sigmoid followed by cross-entropy vs
``tf.nn.sigmoid_cross_entropy_with_logits``": a 2×5 multi-label (sigmoid) case, where
the hand-written ``-Σ p·log(sigmoid(z))`` drops the ``(1-p)·log(1-q)`` term and so
differs from the sigmoid cross-entropy, and a 3×2 single-label (softmax) case, where
``-Σ p·log(softmax(z))`` and the softmax cross-entropy agree
(0.43748799, 0.51301527, 0.69314718).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

SIGMOID_LABELS = np.array([[0, 0, 0, 1, 0], [1, 0, 0, 0, 0]], dtype=np.float32)
SIGMOID_LOGITS = np.array([[0.2, 0.2, 0.2, 0.2, 0.2], [0.3, 0.3, 0.2, 0.1, 0.1]], dtype=np.float32)
SOFTMAX_LABELS = np.array([[0, 1], [1, 0], [1, 0]], dtype=np.float32)
SOFTMAX_LOGITS = np.array([[0.2, 0.8], [0.7, 0.3], [0.5, 0.5]], dtype=np.float32)


def seed_rows(convert: Callable[[np.ndarray], Any]) -> dict[str, np.ndarray]:
    """The seed example's per-row losses on one backend, as NumPy arrays."""
    import xbackend as xb
    from xbackend.testing import to_numpy

    p, z = convert(SIGMOID_LABELS), convert(SIGMOID_LOGITS)
    xp = xb.array_namespace(p)
    naive = -xp.sum(p * xp.log(xb.sigmoid(z)), axis=1)
    stable = xp.sum(xb.sigmoid_cross_entropy(z, p), axis=1)
    ps, zs = convert(SOFTMAX_LABELS), convert(SOFTMAX_LOGITS)
    soft_naive = -xp.sum(ps * xp.log(xb.softmax(zs)), axis=1)
    soft = xb.softmax_cross_entropy(zs, ps)
    return {
        "sigmoid: -sum(p*log(sigmoid(z)))": to_numpy(naive),
        "sigmoid: sigmoid_cross_entropy": to_numpy(stable),
        "softmax: -sum(p*log(softmax(z)))": to_numpy(soft_naive),
        "softmax: softmax_cross_entropy": to_numpy(soft),
    }
