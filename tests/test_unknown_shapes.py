"""Shapes not known ahead: Dask chunks of unknown size and ``tf.function`` signatures.

Dask: after a boolean filter (``x[x[:, 0] > 0]``) the batch size is NaN until computed.
Every loss and every reduction stays lazy there -- the element count of ``"mean"`` /
``"sum_over_batch_size"`` is computed with the loss -- and equals the float64 closed form
of the filtered arrays. Labels that would have to broadcast to the unknown sizes are a
``ValueError`` naming ``compute_chunk_sizes()``.

TensorFlow: ``None`` sizes anywhere in an ``input_signature`` (batch, time, and the class
axis for the losses that do not index it) trace once and give the closed form, with
gradients; an unknown rank is a ``ValueError`` naming the argument, and a softmax loss
with an unknown class count one naming the class axis.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import xbackend as xb
from tests.backends import BY_NAME, skip_reason
from xbackend.testing import _oracles
from xbackend.testing._tolerance import finite_max, tolerances

C = 4
REDUCTIONS = ("none", "sum", "mean", "sum_over_batch_size")
SPARSE = ("sparse_softmax_cross_entropy", "softmax_focal_loss")
PROBS = ("binary_cross_entropy", "categorical_cross_entropy")
LOSSES = (
    "sigmoid_cross_entropy", "sigmoid_focal_loss", "binary_cross_entropy",
    "softmax_cross_entropy", "categorical_cross_entropy", *SPARSE,
)  # fmt: skip
ROWWISE = ("softmax_cross_entropy", "categorical_cross_entropy", *SPARSE)


def _module(name: str):
    reason = skip_reason(BY_NAME[name])
    if reason is not None:
        pytest.skip(reason)
    return BY_NAME[name].module()


def _data(loss: str, shape: tuple, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.1, 0.9, size=shape) if loss in PROBS else rng.normal(size=shape) * 2
    if loss in SPARSE:
        y = rng.integers(0, shape[-1], size=shape[:-1])
    elif loss in ROWWISE:
        y = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    else:
        y = rng.uniform(size=shape)
    return x, y


# ------------------------------------------------------------------------------ Dask


@pytest.mark.parametrize("loss", LOSSES)
def test_dask_unknown_chunk_sizes_stay_lazy_and_equal_the_closed_form(loss):
    da = _module("dask")
    x, y = _data(loss, (12, C))
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=(12,) if loss in ROWWISE else (12, C))
    keep = x[:, 0] > (0.5 if loss in PROBS else 0.0)
    dx = da.from_array(x, chunks=(5, C))
    mask = dx[:, 0] > (0.5 if loss in PROBS else 0.0)  # lazy: sizes unknown after the filter
    dxs = dx[mask]
    dys = da.from_array(y, chunks=(5, *y.shape[1:]))[mask]
    dws = da.from_array(w, chunks=(5, *w.shape[1:]))[mask]
    assert math.isnan(dxs.shape[0])
    fn = getattr(xb, loss)
    for reduction in REDUCTIONS:
        for weights, w_np in ((None, None), (dws, w[keep])):
            got = fn(dxs, dys, weights=weights, reduction=reduction)
            assert isinstance(got, da.Array)  # nothing computed yet
            want = _oracles.closed_form(loss, x[keep], y[keep], weights=w_np, reduction=reduction)
            np.testing.assert_allclose(got.compute(), want, rtol=1e-12, atol=1e-14)


def test_dask_labels_that_must_broadcast_to_unknown_sizes_name_compute_chunk_sizes():
    da = _module("dask")
    x, _ = _data("sigmoid_cross_entropy", (12, C))
    dx = da.from_array(x, chunks=(5, C))
    dxs = dx[dx[:, 0] > 0]
    labels = da.from_array(np.ones((1, C)))
    with pytest.raises(ValueError, match=r"compute_chunk_sizes\(\)"):
        xb.sigmoid_cross_entropy(dxs, labels)
    # after compute_chunk_sizes() the sizes are known and labels broadcast as usual
    dxs.compute_chunk_sizes()
    got = xb.sigmoid_cross_entropy(dxs, labels, reduction="sum").compute()
    want = _oracles.closed_form("sigmoid_cross_entropy", x[x[:, 0] > 0], np.ones((1, C)), reduction="sum")
    np.testing.assert_allclose(got, want, rtol=1e-12)


# ------------------------------------------------------------------------ TensorFlow

#: (logits signature, labels signature) with None sizes; the class axis is last
SIGNATURES = {
    "batch": ((None, C), (None, C)),
    "batch, time": ((None, None, C), (None, None, C)),
    "batch, time, classes": ((None, None, None), (None, None, None)),
}


#: the softmax kernels index the class axis (labels, the dominant class): their
#: unknown-classes cell is the ValueError below
NEEDS_CLASSES = (*SPARSE, "softmax_cross_entropy")
TF_CELLS = [(loss, d) for loss in LOSSES for d in SIGNATURES if not (loss in NEEDS_CLASSES and "classes" in d)]


@pytest.mark.parametrize("loss,dims", TF_CELLS)
def test_tf_function_with_none_sizes_in_the_signature(loss, dims):
    tf = _module("tensorflow")
    xs, ys = SIGNATURES[dims]
    if loss in SPARSE:
        ys = xs[:-1]
    shape = (2, 3, C) if len(xs) == 3 else (5, C)
    x, y = _data(loss, shape)
    fn = getattr(xb, loss)
    ydt = tf.int64 if loss in SPARSE else tf.float64

    @tf.function(input_signature=[tf.TensorSpec(xs, tf.float64), tf.TensorSpec(ys, ydt)])
    def f(x, y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            values = [fn(x, y, reduction=r) for r in REDUCTIONS]
        return values, tape.gradient(values[2], x)  # d "mean" / d x

    values, grad = f(tf.constant(x), tf.constant(y))
    for r, got in zip(REDUCTIONS, values, strict=False):
        np.testing.assert_allclose(got.numpy(), _oracles.closed_form(loss, x, y, reduction=r), rtol=1e-12, atol=1e-14)
    # against finite differences: the toolkit's float64 gradient tolerance plus their error bound
    want_grad, err = _oracles.closed_form_grad(loss, x, y, reduction="mean", return_error=True)
    rtol, atol = tolerances("float64", finite_max(want_grad), grad=True)
    np.testing.assert_allclose(grad.numpy(), want_grad, rtol=rtol, atol=atol + err)


@pytest.mark.parametrize("arg", ["logits", "labels"])
def test_tf_unknown_rank_is_a_valueerror_naming_the_argument(arg):
    tf = _module("tensorflow")
    known, unknown = tf.TensorSpec([None, C], tf.float32), tf.TensorSpec(None, tf.float32)
    sig = [unknown, known] if arg == "logits" else [known, unknown]
    f = tf.function(lambda x, y: xb.sigmoid_cross_entropy(x, y), input_signature=sig)
    with pytest.raises(ValueError, match=rf"{arg} has an unknown number of dimensions"):
        f(tf.zeros([2, C]), tf.zeros([2, C]))


@pytest.mark.parametrize("loss", NEEDS_CLASSES)
def test_tf_softmax_losses_with_an_unknown_class_count_name_the_class_axis(loss):
    tf = _module("tensorflow")
    labels = tf.TensorSpec([None, None], tf.float32) if loss == "softmax_cross_entropy" else tf.TensorSpec([None], tf.int64)
    sig = [tf.TensorSpec([None, None], tf.float32), labels]
    f = tf.function(lambda x, y: getattr(xb, loss)(x, y), input_signature=sig)
    with pytest.raises(ValueError, match=r"class axis of logits \(axis 1\) must have a known size"):
        f(tf.zeros([2, C]), tf.zeros([2, C]) if loss == "softmax_cross_entropy" else tf.zeros([2], tf.int64))
