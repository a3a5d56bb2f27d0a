"""A representative call of every public function with its main options.

Shared by the device tests (meta device, array-api-strict's second device) and the
host-synchronisation guards: each entry is ``name -> call(x, y, p, m, w, cv)`` with
logits ``x`` (N, C), integer labels ``y`` (N,), soft labels ``p`` (N, C), a class mask
``m`` (C,), row weights ``w`` (N,) and a per-class vector ``cv`` (C,).
"""

from __future__ import annotations

import numpy as np

import xbackend as xb

N, C = 4, 5

# (name, call(logits, int_labels, soft_labels, mask_c, weights_rows, class_vec) -> result)
CASES = {
    "sigmoid_ce": lambda x, y, p, m, w, cv: xb.sigmoid_cross_entropy(x, p, reduction="none"),
    "sigmoid_ce-pos_weight-where-mean": lambda x, y, p, m, w, cv: xb.sigmoid_cross_entropy(
        x, p, pos_weight=cv, where=m, label_smoothing=0.1, reduction="mean"
    ),
    "sigmoid_ce-scalar_pos_weight-sum": lambda x, y, p, m, w, cv: xb.sigmoid_cross_entropy(
        x, p, pos_weight=2.0, reduction="sum"
    ),
    "softmax_ce-class_weights-smoothing-mean": lambda x, y, p, m, w, cv: xb.softmax_cross_entropy(
        x, p, class_weights=cv, label_smoothing=0.1, where=m, weights=w, reduction="mean"
    ),
    "sparse_ce-ignore-mean": lambda x, y, p, m, w, cv: xb.sparse_softmax_cross_entropy(
        x, y, ignore_index=1, class_weights=cv, label_smoothing=0.2, z_loss=1e-3, reduction="mean"
    ),
    "sparse_ce-where-none": lambda x, y, p, m, w, cv: xb.sparse_softmax_cross_entropy(x, y, where=m),
    "sparse_ce-sum_over_batch_size": lambda x, y, p, m, w, cv: xb.sparse_softmax_cross_entropy(
        x, y, weights=w, reduction="sum_over_batch_size"
    ),
    "sigmoid_focal-mean": lambda x, y, p, m, w, cv: xb.sigmoid_focal_loss(x, p, alpha=0.25, reduction="mean"),
    "softmax_focal-alpha_vector-mean": lambda x, y, p, m, w, cv: xb.softmax_focal_loss(
        x, y, alpha=cv, ignore_index=1, reduction="mean"
    ),
    "softmax_focal-smoothing-alpha_vector-mean": lambda x, y, p, m, w, cv: xb.softmax_focal_loss(
        x, y, alpha=cv, ignore_index=1, label_smoothing=0.1, reduction="mean"
    ),
    "binary_ce": lambda x, y, p, m, w, cv: xb.binary_cross_entropy(xb.sigmoid(x), p, reduction="mean"),
    "categorical_ce": lambda x, y, p, m, w, cv: xb.categorical_cross_entropy(xb.softmax(x), p),
    "logsumexp-where": lambda x, y, p, m, w, cv: xb.logsumexp(x, where=m),
    "log_softmax-where": lambda x, y, p, m, w, cv: xb.log_softmax(x, where=m),
    "softmax": lambda x, y, p, m, w, cv: xb.softmax(x),
    "softplus": lambda x, y, p, m, w, cv: xb.softplus(x),
}


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, C))
    y = np.array([0, 1, 4, 2])
    p = rng.dirichlet(np.ones(C), size=N)
    m = np.array([True, True, False, True, True])
    w = rng.uniform(0.5, 1.5, size=N)
    cv = rng.uniform(0.5, 2.0, size=C)
    return x, y, p, m, w, cv
