"""xbackend.compat.keras on every backend against keras.losses (Keras 3) on the same inputs.

The oracle is Keras' functional loss under the test process's Keras backend
(``KERAS_BACKEND=tensorflow``, pinned by the root conftest). Values on every backend,
gradients of the from-logits forms on the autodiff backends; where Keras is
numerically wrong (NaN at ±inf logits, float16 rounding of ``1 - ε``, the ``axis``
ignored by label smoothing, bad labels) the test compares with the float64 closed form.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from tests.backends import Backend
from tests.compat_support import assert_close_np, check, grad, native_grad, on, rounded, skip_unless_dtype

keras = pytest.importorskip("keras", reason="keras is not installed (it is the oracle of xbackend.compat.keras)")
if keras.backend.backend() != "tensorflow":
    pytest.skip(f"the compat oracle runs on Keras' TensorFlow backend, not {keras.backend.backend()!r}",
                allow_module_level=True)
import tensorflow as tf

from xbackend.compat import keras as xk
from xbackend.testing._tolerance import finite_max

N, C = 6, 4


def _rng(*key: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _b(backend: Backend, a, dtype: str):
    a = np.asarray(a)
    if np.issubdtype(a.dtype, np.integer):
        return backend.asarray(a, "int32" if backend.framework == "tensorflow" else "int64")
    return backend.asarray(rounded(a, dtype), dtype)


def _k(a, dtype: str = "float64"):
    a = np.asarray(a)
    if np.issubdtype(a.dtype, np.integer):
        return a
    return rounded(a, dtype).astype(dtype)


def _np(t) -> np.ndarray:
    return np.array(tf.cast(t, tf.float64))


def _scale(x: np.ndarray) -> float:
    """The size of a softmax loss's terms at logits ``x``: ``max|x| + log C`` (finite entries)."""
    return finite_max(x) + np.log(C)


def _probs(rng, shape, axis=-1):
    p = rng.uniform(0.05, 1.0, shape)
    return p / p.sum(axis=axis, keepdims=True)


# ------------------------------------------------------------------------------- binary losses

def _binary_data(shape: tuple, from_logits: bool) -> dict:
    rng = _rng("binary", shape, from_logits)
    y_pred = rng.normal(0, 3, shape) if from_logits else rng.uniform(0, 1, shape)
    if not from_logits:
        y_pred.flat[:3] = [0.0, 1.0, 1e-9]  # Keras clips these to [1e-7, 1 - 1e-7]
    return {"y_true": rng.uniform(0, 1, shape), "y_pred": y_pred}


BCE_OPTIONS = [  # (shape, axis, label_smoothing)
    ((N, C), -1, 0.0), ((N, C), -1, 0.2), ((2, C, 3), 1, 0.1),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("from_logits", [True, False], ids=["from_logits", "from_probabilities"])
def test_binary_crossentropy_matches_keras_per_sample_mean_smoothing_and_clipping(backend, dtype, from_logits):
    for shape, axis, ls in BCE_OPTIONS:
        d = _binary_data(shape, from_logits)
        out = on(backend, xk.binary_crossentropy)(_b(backend, d["y_true"], dtype), _b(backend, d["y_pred"], dtype),
                                     from_logits=from_logits, label_smoothing=ls, axis=axis)
        ref = keras.losses.binary_crossentropy(_k(d["y_true"], dtype), _k(d["y_pred"], dtype),
                                               from_logits=from_logits, label_smoothing=ls, axis=axis)
        check(out, _np(ref), backend, dtype, atol_scale=_scale(d["y_pred"]) if from_logits else 20.0,
              what=f"shape={shape}, axis={axis}, label_smoothing={ls}")


FOCAL_OPTIONS = [  # (apply_class_balancing, alpha, gamma, label_smoothing)
    (False, 0.25, 2.0, 0.0), (True, 0.25, 2.0, 0.0), (True, 0.6, 0.5, 0.1), (False, 0.25, 0.0, 0.2),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("from_logits", [True, False], ids=["from_logits", "from_probabilities"])
def test_binary_focal_crossentropy_matches_keras_over_balancing_gamma_and_smoothing(backend, dtype, from_logits):
    d = _binary_data((N, C), from_logits)
    if from_logits:  # Keras-TF takes 1 - p_t from a rounded sigmoid; keep |x| where that is accurate
        d["y_pred"] = np.clip(d["y_pred"], -3.0, 3.0)
    yt, yp = _b(backend, d["y_true"], dtype), _b(backend, d["y_pred"], dtype)
    for balance, alpha, gamma, ls in FOCAL_OPTIONS:
        kw = dict(apply_class_balancing=balance, alpha=alpha, gamma=gamma, from_logits=from_logits,
                  label_smoothing=ls)
        out = on(backend, xk.binary_focal_crossentropy)(yt, yp, **kw)
        ref = keras.losses.binary_focal_crossentropy(_k(d["y_true"], dtype), _k(d["y_pred"], dtype), **kw)
        check(out, _np(ref), backend, dtype, atol_scale=1.0, what=str(kw))


def test_binary_losses_from_logits_gradients_match_keras_under_gradient_tape(ad_backend):
    d = _binary_data((N, C), True)
    d["y_pred"] = np.clip(d["y_pred"], -3.0, 3.0)
    yt = _b(ad_backend, d["y_true"], "float64")
    for name, kw in [("binary_crossentropy", dict(label_smoothing=0.1)),
                     ("binary_focal_crossentropy", dict(apply_class_balancing=True, gamma=2.0))]:
        g = grad(ad_backend, lambda v: on(ad_backend, getattr(xk, name))(yt, v, from_logits=True, **kw),
                 _b(ad_backend, d["y_pred"], "float64"))
        ref = native_grad("tensorflow", lambda v: getattr(keras.losses, name)(d["y_true"], v, from_logits=True, **kw), d["y_pred"])
        assert_close_np(g, ref, "float64", atol_scale=1.0, what=name)


def test_binary_losses_from_logits_are_exact_at_infinite_logits_where_keras_is_nan(backend):
    y_true = np.array([[0.0, 1.0, 1.0, 0.0]])
    y_pred = np.array([[-np.inf, np.inf, -np.inf, np.inf]])
    out = on(backend, xk.binary_crossentropy)(_b(backend, y_true, "float64"), _b(backend, y_pred, "float64"), from_logits=True)
    check(out, [np.inf], backend, "float64")  # mean of (0, 0, inf, inf)
    out = on(backend, xk.binary_crossentropy)(_b(backend, y_true[:, :2], "float64"), _b(backend, y_pred[:, :2], "float64"),
                                 from_logits=True)
    check(out, [0.0], backend, "float64")
    assert np.isnan(_np(keras.losses.binary_crossentropy(y_true[:, :2], y_pred[:, :2], from_logits=True))[0])


def test_binary_focal_crossentropy_from_logits_is_exact_for_confident_wrong_predictions(backend):
    """x = 30, z = 0: the focal loss is σ(30)^γ·30 ≈ 30 (closed form). Keras' JAX and torch
    backends clip the sigmoid and return 15.94 with a zero gradient."""
    x, z = np.array([[30.0, -30.0]]), np.array([[0.0, 1.0]])
    sig = 1.0 / (1.0 + np.exp(-30.0))
    want = np.mean([sig**2 * (30.0 + np.log1p(np.exp(-30.0)))] * 2)
    out = on(backend, xk.binary_focal_crossentropy)(_b(backend, z, "float64"), _b(backend, x, "float64"), from_logits=True)
    check(out, [want], backend, "float64", factor=4)


def test_binary_crossentropy_float16_probabilities_are_finite_where_keras_is_nan(backend):
    skip_unless_dtype(backend, "float16")
    y_true, y_pred = np.array([[0.0, 1.0]]), np.array([[0.25, 1.0]])
    out = on(backend, xk.binary_crossentropy)(_b(backend, y_true, "float16"), _b(backend, y_pred, "float16"))
    eps = 1e-7  # clip of p = 1 to 1 - 1e-7 in float32; closed form in float64 of the clipped value
    p1 = float(np.float32(1.0 - eps))
    want = np.mean([-np.log1p(-0.25), -np.log(p1)])
    check(out, [want], backend, "float16", factor=1.0)
    assert np.isnan(_np(keras.losses.binary_crossentropy(y_true.astype("float16"), y_pred.astype("float16")))[0])


# -------------------------------------------------------------------------- categorical losses

def _cat_data(shape: tuple, axis: int, from_logits: bool, normalised: bool = True) -> dict:
    rng = _rng("cat", shape, axis, from_logits)
    y_pred = rng.normal(0, 2, shape) if from_logits else _probs(rng, shape, axis)
    if not from_logits and not normalised:
        y_pred = y_pred * rng.uniform(0.5, 2.0, y_pred.shape)  # Keras renormalises rows
    return {"y_true": _probs(rng, shape, axis), "y_pred": y_pred}


CCE_OPTIONS = [  # (shape, axis, label_smoothing, normalised probabilities)
    ((N, C), -1, 0.0, True), ((N, C), -1, 0.1, False), ((C, N), 0, 0.0, False), ((2, C, 3), 1, 0.0, True),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("from_logits", [True, False], ids=["from_logits", "from_probabilities"])
def test_categorical_crossentropy_matches_keras_smoothing_axis_and_renormalisation(backend, dtype, from_logits):
    for shape, axis, ls, normalised in CCE_OPTIONS:
        d = _cat_data(shape, axis, from_logits, normalised)
        out = on(backend, xk.categorical_crossentropy)(_b(backend, d["y_true"], dtype), _b(backend, d["y_pred"], dtype),
                                          from_logits=from_logits, label_smoothing=ls, axis=axis)
        ref = keras.losses.categorical_crossentropy(_k(d["y_true"], dtype), _k(d["y_pred"], dtype),
                                                    from_logits=from_logits, label_smoothing=ls, axis=axis)
        check(out, _np(ref), backend, dtype, atol_scale=_scale(d["y_pred"]),
              what=f"shape={shape}, axis={axis}, label_smoothing={ls}, normalised={normalised}")


def test_categorical_crossentropy_smoothing_uses_the_class_axis_where_keras_uses_the_last(backend):
    d = _cat_data((C, 2), 0, True)
    out = on(backend, xk.categorical_crossentropy)(_b(backend, d["y_true"], "float64"), _b(backend, d["y_pred"], "float64"),
                                      from_logits=True, label_smoothing=0.3, axis=0)
    x, y = d["y_pred"], d["y_true"] * 0.7 + 0.3 / C  # closed form: ε spread over the C classes along axis 0
    logp = x - np.log(np.exp(x).sum(axis=0, keepdims=True))
    check(out, -(y * logp).sum(axis=0), backend, "float64", atol_scale=_scale(x))
    keras_y = d["y_true"] * 0.7 + 0.3 / 2  # Keras divides by shape[-1] = 2
    ref = _np(keras.losses.categorical_crossentropy(d["y_true"], x, from_logits=True, label_smoothing=0.3, axis=0))
    np.testing.assert_allclose(ref, -(keras_y * logp).sum(axis=0))


def _sparse_data(shape: tuple, from_logits: bool) -> dict:
    rng = _rng("sparse", shape, from_logits)
    y_pred = rng.normal(0, 2, shape) if from_logits else _probs(rng, shape)
    return {"y_true": rng.integers(0, shape[-1], shape[:-1]), "y_pred": y_pred}


SCCE_OPTIONS = [  # (shape, ignore_class, labels with a trailing axis of size 1, float labels)
    ((N, C), None, False, False), ((N, C), -1, False, False), ((N, C), 2, True, True), ((2, 3, C), -1, False, False),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("from_logits", [True, False], ids=["from_logits", "from_probabilities"])
def test_sparse_categorical_crossentropy_matches_keras_ignore_class_and_label_shapes(backend, dtype, from_logits):
    for shape, ignore, trailing, floats in SCCE_OPTIONS:
        d = _sparse_data(shape, from_logits)
        y = d["y_true"].copy()
        if ignore is not None:
            y.flat[1] = ignore
        if trailing:
            y = y[..., None]
        y_b = _b(backend, y.astype(np.float64), dtype) if floats else _b(backend, y, dtype)
        out = on(backend, xk.sparse_categorical_crossentropy)(y_b, _b(backend, d["y_pred"], dtype), from_logits=from_logits,
                                                 ignore_class=ignore)
        ref = keras.losses.sparse_categorical_crossentropy(y.astype(np.float64) if floats else y,
                                                           _k(d["y_pred"], dtype), from_logits=from_logits,
                                                           ignore_class=ignore)
        check(out, _np(ref), backend, dtype, atol_scale=_scale(d["y_pred"]),
              what=f"shape={shape}, ignore_class={ignore}, trailing={trailing}, floats={floats}")


def test_categorical_losses_from_logits_gradients_match_keras_under_gradient_tape(ad_backend):
    d = _cat_data((N, C), -1, True)
    yt = _b(ad_backend, d["y_true"], "float64")
    g = grad(ad_backend, lambda v: on(ad_backend, xk.categorical_crossentropy)(yt, v, from_logits=True, label_smoothing=0.1),
             _b(ad_backend, d["y_pred"], "float64"))
    ref = native_grad("tensorflow", lambda v: keras.losses.categorical_crossentropy(d["y_true"], v, from_logits=True,
                                                                   label_smoothing=0.1), d["y_pred"])
    assert_close_np(g, ref, "float64", atol_scale=1.0, what="categorical")
    s = _sparse_data((N, C), True)
    y = s["y_true"].copy()
    y[1] = -1
    ys = _b(ad_backend, y, "float64")
    g = grad(ad_backend, lambda v: on(ad_backend, xk.sparse_categorical_crossentropy)(ys, v, from_logits=True, ignore_class=-1),
             _b(ad_backend, s["y_pred"], "float64"))
    ref = native_grad("tensorflow", lambda v: keras.losses.sparse_categorical_crossentropy(y, v, from_logits=True, ignore_class=-1),
                   s["y_pred"])
    assert_close_np(g, ref, "float64", atol_scale=1.0, what="sparse")


def test_sparse_categorical_crossentropy_bad_label_is_nan_row_where_keras_differs_by_backend(backend):
    for from_logits in (True, False):
        d = _sparse_data((N, C), from_logits)
        y = d["y_true"].copy()
        y[3] = C
        out = on(backend, xk.sparse_categorical_crossentropy)(_b(backend, y, "float64"), _b(backend, d["y_pred"], "float64"),
                                                 from_logits=from_logits)
        ref = _np(keras.losses.sparse_categorical_crossentropy(d["y_true"], d["y_pred"], from_logits=from_logits))
        ref[3] = np.nan
        check(out, ref, backend, "float64", atol_scale=_scale(d["y_pred"]), what=f"from_logits={from_logits}")
    with pytest.raises(tf.errors.InvalidArgumentError):
        keras.losses.sparse_categorical_crossentropy(y, d["y_pred"], from_logits=True)


def test_categorical_crossentropy_from_logits_minus_inf_is_a_masked_class_where_keras_is_nan(backend):
    x, y = np.array([[2.0, -np.inf, 0.1]]), np.array([[1.0, 0.0, 0.0]])
    out = on(backend, xk.categorical_crossentropy)(_b(backend, y, "float64"), _b(backend, x, "float64"), from_logits=True)
    check(out, [np.log(np.exp(2.0) + np.exp(0.1)) - 2.0], backend, "float64")
    assert np.isnan(_np(keras.losses.categorical_crossentropy(y, x, from_logits=True))[0])


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_keras_losses_low_precision_are_keras_semantics_rounded_once(backend, dtype):
    """Computed in float32 and rounded once: the oracle is Keras in float64 on the rounded inputs."""
    skip_unless_dtype(backend, dtype)
    d = _cat_data((N, C), -1, True)
    out = on(backend, xk.categorical_crossentropy)(_b(backend, d["y_true"], dtype), _b(backend, d["y_pred"], dtype),
                                      from_logits=True, label_smoothing=0.1)
    ref = keras.losses.categorical_crossentropy(rounded(d["y_true"], dtype), rounded(d["y_pred"], dtype),
                                                from_logits=True, label_smoothing=0.1)
    check(out, _np(ref), backend, dtype, factor=1.0, what="categorical")
    b = _binary_data((N, C), True)
    out = on(backend, xk.binary_crossentropy)(_b(backend, b["y_true"], dtype), _b(backend, b["y_pred"], dtype), from_logits=True)
    ref = keras.losses.binary_crossentropy(rounded(b["y_true"], dtype), rounded(b["y_pred"], dtype), from_logits=True)
    # the per-sample mean is taken in the output dtype, as Keras does: one more rounding
    check(out, _np(ref), backend, dtype, factor=2.0, what="binary")


# -------------------------------------------------- xbackend.keras classes, in this process

@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
def test_xbackend_keras_classes_match_keras_losses_with_sample_weight_and_label_shapes(reduction):
    """The Loss subclasses under Keras' own __call__ (float32 casts, sample_weight, masks)."""
    from xbackend import keras as xkl

    rng = _rng("classes", reduction)
    logits = rng.normal(0, 2, (N, C)).astype("float32")
    sw = rng.uniform(0.5, 2.0, N).astype("float32")
    y_int = rng.integers(0, C, N)
    y_ignore = y_int.copy()
    y_ignore[[1, 4]] = -1
    y_multi = (rng.uniform(size=(N, C)) > 0.5).astype("float32")
    y_soft = _probs(rng, (N, C)).astype("float32")
    kw = dict(reduction=reduction)
    pairs = [
        (xkl.SigmoidCrossEntropy(label_smoothing=0.1, **kw),
         keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1, **kw), y_multi, y_multi),
        (xkl.SigmoidFocalLoss(gamma=2.0, alpha=0.25, **kw),
         keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.25, gamma=2.0, from_logits=True,
                                              **kw), y_multi, y_multi),
        (xkl.SoftmaxCrossEntropy(label_smoothing=0.1, **kw),
         keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1, **kw), y_soft, y_soft),
        (xkl.SparseSoftmaxCrossEntropy(**kw), keras.losses.SparseCategoricalCrossentropy(from_logits=True, **kw),
         y_int[:, None].astype("float32"), y_int[:, None]),
        (xkl.SparseSoftmaxCrossEntropy(ignore_index=-1, **kw),
         keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1, **kw), y_ignore, y_ignore),
        (xkl.SoftmaxFocalLoss(gamma=2.0, **kw),
         keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=2.0, from_logits=True, **kw), y_int,
         np.eye(C, dtype="float32")[y_int]),
    ]
    for ours, native, y_ours, y_native in pairs:
        out = _np(ours(y_ours, logits, sample_weight=sw))
        ref = _np(native(y_native, logits, sample_weight=sw))
        # Keras computes in float32: compare at float32 tolerance, scaled by the loss terms
        assert_close_np(out, ref, "float32", atol_scale=_scale(logits), what=f"{type(ours).__name__}/{reduction}")


def test_every_compat_function_takes_tf_variables_like_keras():
    """``tf.Variable`` is not a ``tf.Tensor`` (no ``.ndim``): each compat function still
    gives Keras' numbers on Variable inputs (torch-style and Keras-style names alike)."""
    from xbackend.compat import tf as xtf
    from xbackend.compat import torch as xtorch

    rng = _rng("variables")
    x = rng.normal(size=(N, C))
    p = _probs(rng, (N, C))
    z = rng.uniform(size=(N, C))
    y = rng.integers(0, C, N)
    xv, pv, zv, yv = (tf.Variable(a) for a in (x, p, z, y))
    cases = [
        (xk.sparse_categorical_crossentropy(yv, xv, from_logits=True),
         keras.losses.sparse_categorical_crossentropy(y, x, from_logits=True)),
        (xk.categorical_crossentropy(pv, xv, from_logits=True, label_smoothing=0.1),
         keras.losses.categorical_crossentropy(p, x, from_logits=True, label_smoothing=0.1)),
        (xk.binary_crossentropy(zv, xv, from_logits=True),
         keras.losses.binary_crossentropy(z, x, from_logits=True)),
        (xk.binary_focal_crossentropy(zv, xv, from_logits=True),
         keras.losses.binary_focal_crossentropy(z, x, from_logits=True)),
        (xtf.sparse_softmax_cross_entropy_with_logits(labels=yv, logits=xv),
         tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=x)),
        (xtorch.cross_entropy(xv, yv),
         tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=x))),
    ]
    for ours, theirs in cases:
        assert isinstance(ours, tf.Tensor)
        np.testing.assert_allclose(_np(ours), _np(theirs), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------- categorical focal loss

def _focal_closed_form(y: np.ndarray, x: np.ndarray, alpha, gamma: float, eps: float = 0.0) -> np.ndarray:
    """``-Σ_c α_c·ỹ_c·(1-p_c)^γ·log p_c`` in float64 log space, classes last, with the
    non-max mass through log1p (``log p`` of the max class keeps its digits)."""
    m = x.max(axis=-1, keepdims=True)
    e = np.exp(x - m)
    rest = np.sum(np.where(x == m, 0.0, e), axis=-1, keepdims=True)  # the non-max mass (one max per row here)
    logp = (x - m) - np.log1p(rest)
    y = y * (1.0 - eps) + eps / x.shape[-1]
    terms = -y * (-np.expm1(logp)) ** gamma * logp
    return np.sum(terms * np.asarray(alpha), axis=-1)


CFCE_OPTIONS = [  # (shape, axis, alpha, gamma, label_smoothing, one-hot labels); dyadic alphas: Keras rounds
    ((N, C), -1, 0.25, 2.0, 0.0, False),  # a list alpha to float32
    ((N, C), -1, [0.5, 0.25, 0.75, 1.0], 0.5, 0.2, False),
    ((N, C), -1, 1.0, 0.0, 0.1, True),
    ((2, C, 3), 1, 0.5, 1.5, 0.0, True),
]


def _cfce_data(shape: tuple, axis: int, from_logits: bool, onehot: bool) -> dict:
    rng = _rng("cfce", shape, axis, from_logits, onehot)
    # moderate logits (|x| <= 4): no probability reaches Keras' clip [1e-7, 1 - 1e-7]
    y_pred = np.clip(rng.normal(0, 2, shape), -4, 4) if from_logits else _probs(rng, shape, axis) * 1.3
    if onehot:
        y_true = np.moveaxis(np.eye(shape[axis])[rng.integers(0, shape[axis], np.moveaxis(y_pred, axis, -1).shape[:-1])],
                             -1, axis)
    else:
        y_true = _probs(rng, shape, axis)
    return {"y_true": y_true, "y_pred": y_pred}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("from_logits", [True, False], ids=["from_logits", "from_probabilities"])
def test_categorical_focal_crossentropy_matches_keras_over_alpha_gamma_smoothing_and_axis(backend, dtype, from_logits):
    for shape, axis, alpha, gamma, ls, onehot in CFCE_OPTIONS:
        d = _cfce_data(shape, axis, from_logits, onehot)
        kw = dict(alpha=alpha, gamma=gamma, from_logits=from_logits, label_smoothing=ls, axis=axis)
        out = on(backend, xk.categorical_focal_crossentropy)(_b(backend, d["y_true"], dtype),
                                                            _b(backend, d["y_pred"], dtype), **kw)
        ref = keras.losses.categorical_focal_crossentropy(_k(d["y_true"], dtype), _k(d["y_pred"], dtype), **kw)
        check(out, _np(ref), backend, dtype, atol_scale=_scale(d["y_pred"]), what=str(kw))


def test_categorical_focal_crossentropy_from_logits_is_exact_where_keras_clips(backend):
    """Keras applies a softmax and clips it to [1e-7, 1 - 1e-7]: a confident wrong
    prediction is capped at α·16.1 (exact: α·80) and a confident right one keeps the
    floor (1e-7)^γ·1e-7 (exact: ~1e-53). The oracle is the float64 closed form."""
    x = np.array([[40.0, 0.0, -40.0], [40.0, 0.0, -40.0], [1.0, 0.5, -0.5]])
    y = np.eye(3)[[2, 0, 1]]
    want = _focal_closed_form(y, x, 0.25, 2.0)
    out = on(backend, xk.categorical_focal_crossentropy)(_b(backend, y, "float64"), _b(backend, x, "float64"),
                                                        from_logits=True)
    assert want[0] > 0.25 * 79.9 and 0 < want[1] < 1e-50
    # atol 1e-45: the right confident row may round to 0 (exact 7.7e-53; Keras' floor is 2.5e-22)
    check(out, want, backend, "float64", factor=4, atol_scale=1e-30)
    keras_value = _np(keras.losses.categorical_focal_crossentropy(y, x, from_logits=True))
    np.testing.assert_allclose(keras_value[0], 0.25 * -np.log(1e-7) * (1 - 1e-7) ** 2, rtol=1e-6)  # capped
    assert keras_value[1] > 1e-23  # the floor of the clipped probability: 0.25·(1e-7)²·(-log(1 - 1e-7))
    np.testing.assert_allclose(keras_value[2], want[2], rtol=1e-12)  # unclipped: the same


def test_focal_losses_from_logits_gradients_match_keras_under_gradient_tape(ad_backend):
    """categorical_focal_crossentropy (soft labels, per-class alpha, smoothing) and
    softmax_focal_loss(label_smoothing=...) against Keras' CategoricalFocalCrossentropy
    on the smoothed one-hot labels."""
    d = _cfce_data((N, C), -1, True, False)
    alpha = [0.5, 0.25, 0.75, 1.0]
    kw = dict(alpha=alpha, gamma=1.5, label_smoothing=0.1)
    yt = _b(ad_backend, d["y_true"], "float64")
    g = grad(ad_backend, lambda v: on(ad_backend, xk.categorical_focal_crossentropy)(yt, v, from_logits=True, **kw),
             _b(ad_backend, d["y_pred"], "float64"))
    ref = native_grad("tensorflow", lambda v: keras.losses.categorical_focal_crossentropy(d["y_true"], v, from_logits=True, **kw),
                   d["y_pred"])
    assert_close_np(g, ref, "float64", atol_scale=1.0, what="categorical_focal_crossentropy")

    import xbackend as xb

    y_int = _rng("focal-int").integers(0, C, N)
    a = _b(ad_backend, np.array(alpha), "float64")
    yi = _b(ad_backend, y_int, "float64")
    for gamma in (0.0, 0.5, 2.0):
        g = grad(ad_backend, lambda v: on(ad_backend, xb.softmax_focal_loss)(v, yi, gamma=gamma, alpha=a,
                                                                           label_smoothing=0.1),
                 _b(ad_backend, d["y_pred"], "float64"))
        ref = native_grad("tensorflow", lambda v: keras.losses.categorical_focal_crossentropy(
            np.eye(C)[y_int], v, alpha=alpha, gamma=gamma, from_logits=True, label_smoothing=0.1), d["y_pred"])
        assert_close_np(g, ref, "float64", atol_scale=1.0, what=f"softmax_focal_loss gamma={gamma}")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softmax_focal_loss_label_smoothing_is_keras_categorical_focal_on_the_smoothed_one_hot(backend, dtype):
    """``xb.softmax_focal_loss(x, y, label_smoothing=ε)`` equals Keras'
    ``categorical_focal_crossentropy(onehot(y), x, from_logits=True, label_smoothing=ε)``
    (scalar and per-class alpha, γ = 0, 1/2, 2) and the float64 closed form."""
    import xbackend as xb

    rng = _rng("focal-smooth")
    x = np.clip(rng.normal(0, 2, (N, C)), -4, 4)
    y = rng.integers(0, C, N)
    for alpha, gamma, ls in [(1.0, 2.0, 0.1), ([0.5, 0.25, 0.75, 1.0], 0.5, 0.3), (0.25, 0.0, 1.0)]:
        a = alpha if isinstance(alpha, float) else _b(backend, np.array(alpha), dtype)
        out = on(backend, xb.softmax_focal_loss)(_b(backend, x, dtype), _b(backend, y, dtype), gamma=gamma, alpha=a,
                                                 label_smoothing=ls)
        ref = keras.losses.categorical_focal_crossentropy(np.eye(C)[y], _k(x, dtype), alpha=alpha, gamma=gamma,
                                                          from_logits=True, label_smoothing=ls)
        what = f"alpha={alpha}, gamma={gamma}, label_smoothing={ls}"
        check(out, _np(ref), backend, dtype, atol_scale=_scale(x), what=what)
        closed = _focal_closed_form(np.eye(C)[y], rounded(x, dtype), alpha, gamma, ls)
        check(out, closed, backend, dtype, atol_scale=_scale(x), what=what + " (closed form)")


# ------------------------------------------- xbackend.keras classes: Keras' rank rules

@pytest.mark.parametrize("reduction", ["none", "sum_over_batch_size"])
def test_xbackend_keras_classes_match_label_and_logit_ranks_like_keras_losses(reduction):
    """Keras' wrapped losses call ``squeeze_or_expand_to_same_rank(y_true, y_pred)``:
    ``Dense(1)`` logits ``(N, 1)`` with labels ``(N,)`` (the binary classifier), labels
    ``(N, 1)`` with logits ``(N,)``, logits ``(N, T, 1)`` with labels ``(N, T)``. The
    classes give Keras' numbers and shapes for each."""
    from xbackend import keras as xkl

    rng = _rng("ranks", reduction)
    T = 3
    z = (rng.uniform(size=(N, T)) > 0.5).astype("float32")
    logits = rng.normal(0, 2, (N, T)).astype("float32")
    sw = rng.uniform(0.5, 2.0, N).astype("float32")
    y_soft = _probs(rng, (N, C)).astype("float32")
    x_cat = rng.normal(0, 2, (N, C)).astype("float32")
    y_int = rng.integers(0, C, N)
    kw = dict(reduction=reduction)
    binary = [
        (xkl.SigmoidCrossEntropy(label_smoothing=0.1, **kw),
         keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1, **kw)),
        (xkl.SigmoidFocalLoss(gamma=2.0, alpha=0.25, **kw),
         keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.25, gamma=2.0, from_logits=True,
                                              **kw)),
    ]
    shapes = [  # (labels, logits)
        (z[:, 0], logits[:, :1]),  # the binary classifier: Dense(1) logits, (N,) labels
        (z[:, :1], logits[:, 0]),
        (z, logits[..., None]),
    ]
    for ours, native in binary:
        for y, x in shapes:
            out, ref = _np(ours(y, x, sample_weight=sw)), _np(native(y, x, sample_weight=sw))
            what = f"{type(ours).__name__}: labels {y.shape}, logits {x.shape}"
            assert out.shape == ref.shape, what
            assert_close_np(out, ref, "float32", atol_scale=_scale(x), what=what)
    categorical = [
        (xkl.CategoricalFocalLoss(label_smoothing=0.1, **kw),
         keras.losses.CategoricalFocalCrossentropy(from_logits=True, label_smoothing=0.1, **kw), y_soft, y_soft),
        (xkl.CategoricalFocalLoss(alpha=[0.5, 0.25, 0.75, 1.0], gamma=0.5, **kw),
         keras.losses.CategoricalFocalCrossentropy(alpha=[0.5, 0.25, 0.75, 1.0], gamma=0.5, from_logits=True, **kw),
         y_soft, y_soft),
        (xkl.SoftmaxFocalLoss(gamma=2.0, label_smoothing=0.1, **kw),
         keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=2.0, from_logits=True, label_smoothing=0.1,
                                                   **kw), y_int[:, None].astype("float32"), np.eye(C)[y_int]),
        (xkl.SparseSoftmaxCrossEntropy(**kw), keras.losses.SparseCategoricalCrossentropy(from_logits=True, **kw),
         y_int[:, None].astype("float32"), y_int[:, None]),
    ]
    for ours, native, y_ours, y_native in categorical:
        out, ref = _np(ours(y_ours, x_cat, sample_weight=sw)), _np(native(y_native, x_cat, sample_weight=sw))
        assert out.shape == ref.shape, type(ours).__name__
        assert_close_np(out, ref, "float32", atol_scale=_scale(x_cat), what=type(ours).__name__)
