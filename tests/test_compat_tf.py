"""xbackend.compat.tf on every backend against tf.nn on the same inputs.

Values on every backend and gradients on the autodiff backends against TensorFlow;
where TensorFlow is numerically wrong (NaN at ±inf logits, cancellation in
``weighted_cross_entropy_with_logits``, the ``softmax - y`` gradient for labels that do
not sum to 1, bad labels that raise on the CPU) the test compares with the float64
closed form and asserts TensorFlow's documented behaviour.
"""

from __future__ import annotations

import zlib
from functools import cache

import numpy as np
import pytest

from tests.backends import Backend
from tests.compat_support import assert_close_np, check, grad, native_grad, on, rounded, skip_unless_dtype

tf = pytest.importorskip("tensorflow", reason="tensorflow is not installed (it is the oracle of xbackend.compat.tf)")

from xbackend.compat import tf as xnn

N, C = 6, 4


def _rng(*key: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _b(backend: Backend, a, dtype: str):
    if a is None:
        return None
    if np.issubdtype(np.asarray(a).dtype, np.integer):
        return backend.asarray(np.asarray(a), "int32" if backend.framework == "tensorflow" else "int64")
    return backend.asarray(rounded(a, dtype), dtype)


def _t(a, dtype: str):
    if np.issubdtype(np.asarray(a).dtype, np.integer):
        return tf.constant(np.asarray(a))
    return tf.constant(rounded(a, dtype), dtype=getattr(tf, dtype))


def _np(t) -> np.ndarray:
    return tf.cast(t, tf.float64).numpy()


# ----------------------------------------------------------------------------- data and oracles

SIGMOID_CASES = {
    "2d": dict(shape=(N, C)),
    "3d": dict(shape=(2, 3, C)),
}
WEIGHTED_CASES = {
    "pos_weight_scalar": dict(shape=(N, C), pos_weight=2.5),
    "pos_weight_per_class": dict(shape=(N, C), pos_weight=(C,)),
    "3d_pos_weight_per_class": dict(shape=(2, 3, C), pos_weight=(C,)),
}
SOFTMAX_CASES = {
    "last_axis": dict(shape=(N, C), axis=-1),
    "axis_0": dict(shape=(C, N), axis=0),
    "3d_middle_axis": dict(shape=(2, C, 3), axis=1),
}


def _sig_data(case: str, weighted: bool = False) -> dict:
    spec = (WEIGHTED_CASES if weighted else SIGMOID_CASES)[case]
    rng = _rng("sig", case)
    pw = spec.get("pos_weight")
    return {
        "logits": rng.normal(0, 3, spec["shape"]),
        "labels": rng.uniform(0, 1, spec["shape"]),
        "pos_weight": pw if pw is None or isinstance(pw, float) else rng.uniform(0.5, 3.0, pw),
    }


def _soft_data(case: str) -> dict:
    spec = SOFTMAX_CASES[case]
    rng = _rng("soft", case)
    shape, axis = spec["shape"], spec["axis"]
    rows = tuple(s for i, s in enumerate(shape) if i != axis % len(shape))
    labels = np.moveaxis(rng.dirichlet(np.ones(shape[axis]), rows), -1, axis)
    return {"logits": rng.normal(0, 2, shape), "labels": labels, "axis": axis}


def _sparse_data(shape: tuple) -> dict:
    rng = _rng("sparse", shape)
    return {"logits": rng.normal(0, 2, shape), "labels": rng.integers(0, shape[-1], shape[:-1])}


@cache
def _sig_oracle(case: str, weighted: bool, dtype: str) -> np.ndarray:
    d = _sig_data(case, weighted)
    if weighted:
        pw = d["pos_weight"] if isinstance(d["pos_weight"], float) else _t(d["pos_weight"], dtype)
        out = tf.nn.weighted_cross_entropy_with_logits(_t(d["labels"], dtype), _t(d["logits"], dtype), pw)
    else:
        out = tf.nn.sigmoid_cross_entropy_with_logits(labels=_t(d["labels"], dtype), logits=_t(d["logits"], dtype))
    return _np(out)


def _xsig(backend: Backend, d: dict, dtype: str, weighted: bool, logits=None):
    x = _b(backend, d["logits"], dtype) if logits is None else logits
    z = _b(backend, d["labels"], dtype)
    if weighted:
        pw = d["pos_weight"] if isinstance(d["pos_weight"], float) else _b(backend, d["pos_weight"], dtype)
        return on(backend, xnn.weighted_cross_entropy_with_logits)(z, x, pw)
    return on(backend, xnn.sigmoid_cross_entropy_with_logits)(labels=z, logits=x)


# ------------------------------------------------------------------------------------- sigmoid

SIG_CELLS = [("float64", c, False) for c in SIGMOID_CASES] + [("float64", c, True) for c in WEIGHTED_CASES] + [
    ("float32", "3d", False), ("float32", "pos_weight_per_class", True)]


@pytest.mark.parametrize("dtype, case, weighted", SIG_CELLS,
                         ids=[f"{dt}-{'weighted' if w else 'sigmoid'}-{c}" for dt, c, w in SIG_CELLS])
def test_sigmoid_and_weighted_cross_entropy_with_logits_match_tf_nn(backend, dtype, case, weighted):
    d = _sig_data(case, weighted)
    out = _xsig(backend, d, dtype, weighted)
    check(out, _sig_oracle(case, weighted, dtype), backend, dtype, atol_scale=np.abs(d["logits"]).max())


@pytest.mark.parametrize("weighted", [False, True], ids=["sigmoid", "weighted"])
def test_sigmoid_and_weighted_cross_entropy_with_logits_gradients_match_gradient_tape(ad_backend, weighted):
    case = "3d_pos_weight_per_class" if weighted else "3d"
    d = _sig_data(case, weighted)
    g = grad(ad_backend, lambda v: _xsig(ad_backend, d, "float64", weighted, logits=v),
             _b(ad_backend, d["logits"], "float64"))
    if weighted:
        ref = native_grad("tensorflow", lambda v: tf.nn.weighted_cross_entropy_with_logits(
            _t(d["labels"], "float64"), v, _t(d["pos_weight"], "float64")), d["logits"], "float64")
    else:
        ref = native_grad("tensorflow", lambda v: tf.nn.sigmoid_cross_entropy_with_logits(
            labels=_t(d["labels"], "float64"), logits=v), d["logits"], "float64")
    assert_close_np(g, ref, "float64", atol_scale=1.0)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_sigmoid_cross_entropy_with_logits_low_precision_is_tf_semantics_rounded_once(backend, dtype):
    """Computed in float32 and rounded once: the oracle is TensorFlow in float64 on the rounded inputs."""
    skip_unless_dtype(backend, dtype)
    for weighted, case in ((False, "2d"), (True, "pos_weight_per_class")):
        d = _sig_data(case, weighted)
        out = _xsig(backend, d, dtype, weighted)
        rd = dict(d, logits=rounded(d["logits"], dtype), labels=rounded(d["labels"], dtype))
        if weighted:
            ref = tf.nn.weighted_cross_entropy_with_logits(rd["labels"], rd["logits"], rounded(d["pos_weight"], dtype))
        else:
            ref = tf.nn.sigmoid_cross_entropy_with_logits(labels=rd["labels"], logits=rd["logits"])
        check(out, ref.numpy(), backend, dtype, factor=1.0, what=case)


def test_sigmoid_cross_entropy_with_logits_is_exact_at_infinite_logits_where_tf_is_nan(backend):
    x = np.array([-np.inf, np.inf, -np.inf, np.inf])
    z = np.array([0.0, 1.0, 1.0, 0.0])
    out = on(backend, xnn.sigmoid_cross_entropy_with_logits)(labels=_b(backend, z, "float64"), logits=_b(backend, x, "float64"))
    check(out, [0.0, 0.0, np.inf, np.inf], backend, "float64")
    native = tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x).numpy()
    assert np.isnan(native[[0, 1, 3]]).all(), "TensorFlow now gets ±inf right: update the compat docstring"
    out = on(backend, xnn.weighted_cross_entropy_with_logits)(_b(backend, z, "float64"), _b(backend, x, "float64"), 3.0)
    check(out, [0.0, 0.0, np.inf, np.inf], backend, "float64")
    assert np.isnan(tf.nn.weighted_cross_entropy_with_logits(z, x, 3.0).numpy()[:3]).all()


def test_weighted_cross_entropy_with_logits_keeps_tiny_losses_tf_cancels(backend):
    x, z = np.array([-30.0]), np.array([0.0])
    exact = np.log1p(np.exp(-30.0))  # 9.3576e-14 (closed form, float64)
    out = on(backend, xnn.weighted_cross_entropy_with_logits)(_b(backend, z, "float64"), _b(backend, x, "float64"), 2.0)
    check(out, [exact], backend, "float64", factor=4)
    native = tf.nn.weighted_cross_entropy_with_logits(z, x, 2.0).numpy()[0]
    assert abs(native / exact - 1) > 1e-3  # TensorFlow: 9.2371e-14


def test_tf_nn_argument_rules_labels_and_logits_both_required_and_same_shape(backend):
    x = _b(backend, np.zeros((2, 3)), "float64")
    with pytest.raises(ValueError, match="Both labels= and logits= must be provided"):
        on(backend, xnn.sigmoid_cross_entropy_with_logits)(logits=x)
    with pytest.raises(ValueError, match=r"logits with shape \(2, 3\) and labels with shape \(3,\)"):
        on(backend, xnn.sigmoid_cross_entropy_with_logits)(labels=_b(backend, np.zeros(3), "float64"), logits=x)


# ------------------------------------------------------------------------------------- softmax

@cache
def _soft_oracle(case: str, dtype: str) -> np.ndarray:
    d = _soft_data(case)
    return _np(tf.nn.softmax_cross_entropy_with_logits(_t(d["labels"], dtype), _t(d["logits"], dtype), axis=d["axis"]))


SOFT_CELLS = [("float64", c) for c in SOFTMAX_CASES] + [("float32", "3d_middle_axis")]


@pytest.mark.parametrize("dtype, case", SOFT_CELLS, ids=[f"{dt}-{c}" for dt, c in SOFT_CELLS])
def test_softmax_cross_entropy_with_logits_matches_tf_nn_on_any_axis(backend, dtype, case):
    d = _soft_data(case)
    out = on(backend, xnn.softmax_cross_entropy_with_logits)(_b(backend, d["labels"], dtype), _b(backend, d["logits"], dtype),
                                                axis=d["axis"])
    check(out, _soft_oracle(case, dtype), backend, dtype, atol_scale=np.abs(d["logits"]).max() + np.log(C))


def test_softmax_cross_entropy_with_logits_broadcasts_labels_like_tf(backend):
    d = _soft_data("last_axis")
    y = d["labels"][0]
    out = on(backend, xnn.softmax_cross_entropy_with_logits)(_b(backend, y, "float64"), _b(backend, d["logits"], "float64"))
    ref = tf.nn.softmax_cross_entropy_with_logits(y, d["logits"]).numpy()
    check(out, ref, backend, "float64", atol_scale=np.abs(d["logits"]).max() + np.log(C))


def test_softmax_cross_entropy_with_logits_gradient_matches_gradient_tape_for_normalised_labels(ad_backend):
    d = _soft_data("3d_middle_axis")
    y = _b(ad_backend, d["labels"], "float64")
    g = grad(ad_backend, lambda v: on(ad_backend, xnn.softmax_cross_entropy_with_logits)(y, v, axis=1),
             _b(ad_backend, d["logits"], "float64"))
    ref = native_grad("tensorflow", lambda v: tf.nn.softmax_cross_entropy_with_logits(d["labels"], v, axis=1), d["logits"], "float64")
    assert_close_np(g, ref, "float64", atol_scale=1.0)
    # and with respect to the labels (TensorFlow differentiates them too: -log softmax)
    gy = grad(ad_backend, lambda v: on(ad_backend, xnn.softmax_cross_entropy_with_logits)(v, _b(ad_backend, d["logits"], "float64"),
                                                                          axis=1), y)
    refy = native_grad("tensorflow", lambda v: tf.nn.softmax_cross_entropy_with_logits(v, d["logits"], axis=1), d["labels"], "float64")
    assert_close_np(gy, refy, "float64", atol_scale=1.0)


def test_softmax_cross_entropy_with_logits_gradient_is_exact_for_labels_not_summing_to_one(ad_backend):
    x, y = np.array([[2.0, 1.0, 0.1]]), np.array([[0.5, 0.0, 0.0]])
    s = np.exp(x) / np.exp(x).sum()
    exact = s * y.sum() - y  # closed form: d/dx of -Σ y log softmax(x)
    g = grad(ad_backend, lambda v: on(ad_backend, xnn.softmax_cross_entropy_with_logits)(_b(ad_backend, y, "float64"), v),
             _b(ad_backend, x, "float64"))
    assert_close_np(g, exact, "float64", atol_scale=1.0)
    native = native_grad("tensorflow", lambda v: tf.nn.softmax_cross_entropy_with_logits(y, v), x, "float64")
    np.testing.assert_allclose(native, s - y)  # TensorFlow's fused kernel assumes Σy = 1


def test_softmax_cross_entropy_with_logits_minus_inf_is_a_masked_class_where_tf_is_nan(backend):
    x, y = np.array([[2.0, -np.inf, 0.1]]), np.array([[1.0, 0.0, 0.0]])
    out = on(backend, xnn.softmax_cross_entropy_with_logits)(_b(backend, y, "float64"), _b(backend, x, "float64"))
    check(out, [np.log(np.exp(2.0) + np.exp(0.1)) - 2.0], backend, "float64")
    assert np.isnan(tf.nn.softmax_cross_entropy_with_logits(y, x).numpy()[0])


# ------------------------------------------------------------------------------ sparse softmax

SPARSE_SHAPES = {"2d": (N, C), "3d": (2, 3, C)}


@pytest.mark.parametrize("dtype, case", [("float64", "2d"), ("float64", "3d"), ("float32", "3d")])
def test_sparse_softmax_cross_entropy_with_logits_matches_tf_nn(backend, dtype, case):
    d = _sparse_data(SPARSE_SHAPES[case])
    out = on(backend, xnn.sparse_softmax_cross_entropy_with_logits)(_b(backend, d["labels"], dtype),
                                                       _b(backend, d["logits"], dtype))
    ref = _np(tf.nn.sparse_softmax_cross_entropy_with_logits(d["labels"], _t(d["logits"], dtype)))
    check(out, ref, backend, dtype, atol_scale=np.abs(d["logits"]).max() + np.log(C))


def test_sparse_softmax_cross_entropy_with_logits_gradient_matches_gradient_tape(ad_backend):
    d = _sparse_data(SPARSE_SHAPES["3d"])
    y = _b(ad_backend, d["labels"], "float64")
    g = grad(ad_backend, lambda v: on(ad_backend, xnn.sparse_softmax_cross_entropy_with_logits)(y, v),
             _b(ad_backend, d["logits"], "float64"))
    ref = native_grad("tensorflow", lambda v: tf.nn.sparse_softmax_cross_entropy_with_logits(d["labels"], v), d["logits"], "float64")
    assert_close_np(g, ref, "float64", atol_scale=1.0)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_softmax_and_sparse_low_precision_are_tf_semantics_rounded_once(backend, dtype):
    skip_unless_dtype(backend, dtype)
    d = _sparse_data(SPARSE_SHAPES["2d"])
    out = on(backend, xnn.sparse_softmax_cross_entropy_with_logits)(_b(backend, d["labels"], dtype), _b(backend, d["logits"], dtype))
    ref = tf.nn.sparse_softmax_cross_entropy_with_logits(d["labels"], rounded(d["logits"], dtype)).numpy()
    check(out, ref, backend, dtype, factor=1.0, what="sparse")
    s = _soft_data("last_axis")
    out = on(backend, xnn.softmax_cross_entropy_with_logits)(_b(backend, s["labels"], dtype), _b(backend, s["logits"], dtype))
    ref = tf.nn.softmax_cross_entropy_with_logits(rounded(s["labels"], dtype), rounded(s["logits"], dtype)).numpy()
    check(out, ref, backend, dtype, factor=1.0, what="soft")


def test_sparse_softmax_cross_entropy_with_logits_bad_label_is_nan_row_where_tf_cpu_raises(backend):
    d = _sparse_data(SPARSE_SHAPES["2d"])
    y = d["labels"].copy()
    y[1], y[4] = C, -1
    out = on(backend, xnn.sparse_softmax_cross_entropy_with_logits)(_b(backend, y, "float64"), _b(backend, d["logits"], "float64"))
    ref = tf.nn.sparse_softmax_cross_entropy_with_logits(d["labels"], d["logits"]).numpy()
    ref[[1, 4]] = np.nan
    check(out, ref, backend, "float64", atol_scale=np.abs(d["logits"]).max() + np.log(C))
    with pytest.raises(tf.errors.InvalidArgumentError, match="outside the valid range"):
        tf.nn.sparse_softmax_cross_entropy_with_logits(y, d["logits"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_weighted_cross_entropy_gradient_at_logit_0_is_exact_where_tf_gives_1_0(ad_backend, dtype):
    """d/dx of ``(1-z)·softplus(x) + w·z·softplus(-x)`` is ``(1-z)σ(x) - w·z·σ(-x)``:
    at x = 0, z = [0, 1], w = 3 that is [0.5, -1.5]. TF 2.21's tape gives [1, 0] there,
    in float32 and float64 (listed in docs/compat.md)."""
    x, z = np.array([0.0, 0.0]), np.array([0.0, 1.0])
    exact = np.array([0.5, -1.5])
    g = grad(ad_backend, lambda v: on(ad_backend, xnn.weighted_cross_entropy_with_logits)(_b(ad_backend, z, dtype), v, 3.0),
             _b(ad_backend, x, dtype))
    assert_close_np(g, exact, dtype)
    native = native_grad("tensorflow", lambda v: tf.nn.weighted_cross_entropy_with_logits(_t(z, dtype), v, 3.0), x, dtype)
    np.testing.assert_array_equal(native, [1.0, 0.0], err_msg="TensorFlow's gradient at 0 changed: update docs/compat.md")
