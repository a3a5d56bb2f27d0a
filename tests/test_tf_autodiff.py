"""TensorFlow autodiff: the analytic gradients registered with ``tf.custom_gradient``.

``tf.GradientTape`` in eager mode, ``tf.function`` and XLA; ``tf.Variable`` inputs; shapes
unknown at trace time (batch dimension ``None``); nested tapes (second derivatives);
``tf.gradients``, ``tape.jacobian`` and forward mode; integer labels get no gradient,
float labels do. References are TensorFlow's own autodiff of plain float64 formulas
(``tf.reduce_logsumexp``, ``tf.nn.*``) and the float64 closed form of
:mod:`xbackend.testing._oracles`.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from tests.backends import BY_NAME, skip_reason

_reason = skip_reason(BY_NAME["tensorflow"])
if _reason is not None:
    pytest.skip(_reason, allow_module_level=True)

import tensorflow as tf

import xbackend as xb
from xbackend.testing import _oracles, assert_matches_reference, to_numpy, tolerance

N, C = 4, 5
TOL64 = tolerance("float64", 64)  # a few float64 roundings of O(1) terms
MODES = ("eager", "function", "xla")


@functools.cache
def data() -> dict:
    rng = np.random.default_rng(7)
    y = rng.dirichlet(np.ones(C), size=N)
    return {
        "x": rng.normal(size=(N, C)) * 2.0,
        "ysoft": y * np.array([[1.0], [0.5], [1.5], [1.0]]),  # rows 1, 2 do not sum to 1
        "z": rng.uniform(size=(N, C)),
        "yint": rng.integers(0, C, size=N),
        "w": rng.uniform(0.5, 2.0, size=N),
        "cw": rng.uniform(0.5, 2.0, size=C),
        "v": rng.normal(size=(N, C)),  # a direction for Hessian-vector and forward products
    }


def t64(key: str) -> tf.Tensor:
    v = data()[key]
    return tf.constant(v, tf.int32 if v.dtype.kind == "i" else tf.float64)


def _mode(fn, mode):
    return {"eager": fn, "function": tf.function(fn), "xla": tf.function(fn, jit_compile=True)}[mode]


# ---------------------------------------------------------------- which inputs get a gradient


def test_integer_labels_get_no_gradient_and_float_labels_get_the_exact_one():
    x, yint, z = t64("x"), tf.Variable(t64("yint")), t64("z")
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, z])
        sparse = xb.sparse_softmax_cross_entropy(x, yint, reduction="sum")
        sig = xb.sigmoid_cross_entropy(x, z, pos_weight=2.0, reduction="sum")
    assert tape.gradient(sparse, yint) is None
    fd = _oracles.closed_form_grad("sigmoid_cross_entropy", data()["x"], data()["z"], wrt="labels",
                                   pos_weight=2.0, reduction="sum")  # fmt: skip
    assert_matches_reference(tape.gradient(sig, z), fd, like=x, rtol=_oracles.FD_RTOL, atol=_oracles.FD_RTOL)


def test_a_float_label_no_tape_watches_is_a_constant_and_the_logits_gradient_is_unchanged():
    x, y = t64("x"), t64("ysoft")
    with tf.GradientTape(persistent=True) as both:
        both.watch([x, y])
        l_both = xb.softmax_cross_entropy(x, y, reduction="sum")
    with tf.GradientTape() as only_x:
        only_x.watch(x)
        l_x = xb.softmax_cross_entropy(x, y, reduction="sum")
    assert_matches_reference(only_x.gradient(l_x, x), to_numpy(both.gradient(l_both, x)), like=x, rtol=TOL64)
    assert both.gradient(l_both, y) is not None
    no_tape = xb.softmax_cross_entropy(x, y, reduction="sum")  # no tape at all: the plain forward
    assert_matches_reference(no_tape, to_numpy(l_both), like=x, rtol=TOL64)


# -------------------------------------------------------------------------- tf.Variable


def _variable_grads(x, y, w, cw):
    """Logits, soft labels and weights as trainable Variables; class weights a constant Variable."""
    with tf.GradientTape() as tape:
        soft = xb.softmax_cross_entropy(x, y, weights=w, label_smoothing=0.1, reduction="mean")
        sparse = xb.sparse_softmax_cross_entropy(x, tf.constant(data()["yint"]), class_weights=cw, reduction="mean")
        loss = soft + sparse + xb.sigmoid_focal_loss(x, tf.nn.sigmoid(y), reduction="sum")
    return loss, tape.gradient(loss, [x, y, w])


@pytest.mark.parametrize("mode", MODES)
def test_variables_as_logits_labels_and_weights_get_the_same_gradients_as_tensors(mode):
    x, y, w = tf.Variable(t64("x")), tf.Variable(t64("ysoft")), tf.Variable(t64("w"))
    cw = tf.Variable(t64("cw"), trainable=False)
    loss, grads = _mode(_variable_grads, mode)(x, y, w, cw)

    xt, yt, wt = t64("x"), t64("ysoft"), t64("w")
    with tf.GradientTape() as tape:
        tape.watch([xt, yt, wt])
        want = (
            xb.softmax_cross_entropy(xt, yt, weights=wt, label_smoothing=0.1, reduction="mean")
            + xb.sparse_softmax_cross_entropy(xt, tf.constant(data()["yint"]), class_weights=t64("cw"), reduction="mean")
            + xb.sigmoid_focal_loss(xt, tf.nn.sigmoid(yt), reduction="sum")
        )
    assert_matches_reference(loss, to_numpy(want), like=xt, rtol=TOL64)
    for g, gw in zip(grads, tape.gradient(want, [xt, yt, wt]), strict=False):
        assert g is not None
        assert_matches_reference(g, to_numpy(gw), like=xt, rtol=TOL64, atol=TOL64)


def test_low_precision_variables_get_gradients_in_their_dtype():
    for dt in (tf.bfloat16, tf.float16):
        x = tf.Variable(tf.cast(t64("x"), dt))
        with tf.GradientTape() as tape:
            loss = xb.sparse_softmax_cross_entropy(x, tf.constant(data()["yint"]), reduction="mean")
        g = tape.gradient(loss, x)
        assert loss.dtype == dt and g.dtype == dt


# ------------------------------------------------------------ unknown batch size (None)

_SPEC = [tf.TensorSpec([None, C], tf.float32), tf.TensorSpec([None, C], tf.float32),
         tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.float32)]  # fmt: skip


def _every_loss(x, y, yint, w):
    """Every public loss, reduced in the ways that need the (unknown) batch size."""
    p = tf.nn.softmax(y)
    cw = tf.constant([0.5, 1.0, 1.5, 2.0, 1.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = {
            "sigmoid-mean": xb.sigmoid_cross_entropy(x, tf.nn.sigmoid(y), reduction="mean"),
            "sigmoid-sobs": xb.sigmoid_cross_entropy(x, tf.nn.sigmoid(y), reduction="sum_over_batch_size"),
            "softmax-mean-cw": xb.softmax_cross_entropy(x, p, class_weights=cw, reduction="mean"),
            "sparse-mean-ignore-cw": xb.sparse_softmax_cross_entropy(
                x, yint, ignore_index=0, class_weights=cw, label_smoothing=0.1, reduction="mean"
            ),
            "sparse-sobs-weights": xb.sparse_softmax_cross_entropy(x, yint, weights=w, reduction="sum_over_batch_size"),
            "sigmoid_focal-sobs": xb.sigmoid_focal_loss(x, tf.nn.sigmoid(y), reduction="sum_over_batch_size"),
            "softmax_focal-mean": xb.softmax_focal_loss(x, yint, alpha=cw, reduction="mean"),
            "bce-sobs": xb.binary_cross_entropy(tf.nn.sigmoid(x), tf.nn.sigmoid(y), reduction="sum_over_batch_size"),
            "cce-mean": xb.categorical_cross_entropy(tf.nn.softmax(x), p, reduction="mean"),
            "logsumexp": tf.reduce_sum(xb.logsumexp(x)),
            "log_softmax": tf.reduce_sum(xb.log_softmax(x) * p),
        }
        total = tf.add_n(list(out.values()))
    out["grad"] = tape.gradient(total, x)
    out["none"] = xb.sparse_softmax_cross_entropy(x, yint, weights=w)
    return out


@pytest.mark.parametrize("mode", ["function", "xla"])
def test_every_loss_works_with_an_unknown_batch_size(mode):
    """``tf.function(input_signature=[TensorSpec([None, C]), ...])``: one trace serves every
    batch size, and values and gradients equal the eager ones."""
    fn = tf.function(_every_loss, input_signature=_SPEC, jit_compile=mode == "xla")
    rng = np.random.default_rng(3)
    for n in (4, 3):
        args = (rng.normal(size=(n, C)) * 2, rng.normal(size=(n, C)), rng.integers(0, C, size=n),
                rng.uniform(0.5, 2, size=n))  # fmt: skip
        args = [tf.constant(a, s.dtype) for a, s in zip(args, _SPEC, strict=False)]
        got, want = fn(*args), _every_loss(*args)
        for key in want:
            assert got[key].shape == want[key].shape, key
            assert_matches_reference(got[key], to_numpy(want[key]), like=args[0], rtol=tolerance("float32", 16),
                                     atol=tolerance("float32", 16) * 10, err_msg=f"{key} with batch {n}")  # fmt: skip
    assert fn.experimental_get_tracing_count() == 1


# ----------------------------------------------------------- second derivatives (nested tapes)


def _composites(x, ysoft, z, yint):
    """The same losses as plain TF float64 formulas, differentiated by TF itself."""
    lse = tf.reduce_logsumexp(x, axis=-1)
    logp = tf.nn.log_softmax(x)
    logp_y = tf.gather(logp, yint, batch_dims=1)
    sig = tf.nn.sigmoid(x)
    one_minus_pt = z * (1 - sig) + (1 - z) * sig
    return {
        "sparse": tf.reduce_sum(lse - tf.gather(x, yint, batch_dims=1)),
        "soft": tf.reduce_sum(tf.reduce_sum(ysoft, -1) * lse - tf.reduce_sum(ysoft * x, -1)),
        "sigmoid": tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x)),
        "sigmoid_focal": tf.reduce_sum(one_minus_pt**2 * tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x)),
        "softmax_focal": tf.reduce_sum(-((1 - tf.exp(logp_y)) ** 2) * logp_y),
    }


def _xbackend(x, ysoft, z, yint):
    return {
        "sparse": xb.sparse_softmax_cross_entropy(x, yint, reduction="sum"),
        "soft": xb.softmax_cross_entropy(x, ysoft, reduction="sum"),
        "sigmoid": xb.sigmoid_cross_entropy(x, z, reduction="sum"),
        "sigmoid_focal": xb.sigmoid_focal_loss(x, z, gamma=2.0, reduction="sum"),
        "softmax_focal": xb.softmax_focal_loss(x, yint, gamma=2.0, reduction="sum"),
    }


def _hvps(losses_fn, x, ysoft, z, yint, v):
    """Hessian-vector products ``∇(∇f·v)`` through two nested tapes, one per loss."""
    out = {}
    for key in ("sparse", "soft", "sigmoid", "sigmoid_focal", "softmax_focal"):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                f = losses_fn(x, ysoft, z, yint)[key]
            gv = tf.reduce_sum(inner.gradient(f, x) * v)
        out[key] = outer.gradient(gv, x)
    return out


@pytest.mark.parametrize("mode", MODES)
def test_nested_tapes_give_the_second_derivative(mode):
    args = (t64("x"), t64("ysoft"), t64("z"), t64("yint"), t64("v"))
    got = _mode(functools.partial(_hvps, _xbackend), mode)(*args)
    want = _hvps(_composites, *args)
    for key, w in want.items():
        w = to_numpy(w)
        assert_matches_reference(got[key], w, like=args[0], rtol=TOL64, atol=TOL64 * np.max(np.abs(w)), err_msg=key)


# --------------------------------------------------- other ways TensorFlow differentiates


def test_tf_gradients_in_graph_code_uses_the_registered_gradient():
    x, yint = t64("x"), t64("yint")

    @tf.function
    def graph_grad(x):
        return tf.gradients(xb.sparse_softmax_cross_entropy(x, yint, reduction="sum"), x)[0]

    p = np.exp(_oracles.closed_form("log_softmax", data()["x"]))
    assert_matches_reference(graph_grad(x), p - np.eye(C)[data()["yint"]], like=x, rtol=TOL64, atol=TOL64)


def test_tape_jacobian_of_the_unreduced_loss_has_one_row_gradient_per_row():
    x, y = t64("x"), t64("ysoft")
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = xb.softmax_cross_entropy(x, y)
    jac = to_numpy(tape.jacobian(loss, x))  # (N, N, C)
    p = np.exp(_oracles.closed_form("log_softmax", data()["x"]))
    ys = data()["ysoft"]
    row_grad = p * ys.sum(-1, keepdims=True) - ys  # softmax·Σy − y
    want = np.zeros((N, N, C))
    want[np.arange(N), np.arange(N)] = row_grad
    np.testing.assert_allclose(jac, want, rtol=TOL64, atol=TOL64)


def test_forward_mode_jvp_equals_gradient_dot_tangent():
    x, y, v = t64("x"), t64("ysoft"), t64("v")
    with tf.autodiff.ForwardAccumulator(x, v) as acc:
        loss = xb.softmax_cross_entropy(x, y)
    jvp = to_numpy(acc.jvp(loss))
    p = np.exp(_oracles.closed_form("log_softmax", data()["x"]))
    ys = data()["ysoft"]
    want = np.sum((p * ys.sum(-1, keepdims=True) - ys) * data()["v"], axis=-1)
    np.testing.assert_allclose(jvp, want, rtol=TOL64, atol=TOL64)


def test_public_functions_are_not_rewritten_by_autograph():
    """tf.function's AutoGraph would rewrite every library function it reaches (~17 s of CPU to
    trace four losses and their gradients, against 0.6 s); the public functions carry
    AutoGraph's own "artifact" marker, so they run as written."""
    from tensorflow.python.autograph.impl.api import is_autograph_artifact  # the marker's reader

    public = [getattr(xb, n) for n in xb.__all__ if n != "array_namespace"]
    assert public and all(is_autograph_artifact(f) for f in public)

    @tf.function  # autograph on (the default)
    def f(x, y):
        return xb.sparse_softmax_cross_entropy(x, y, reduction="mean")

    assert_matches_reference(f(t64("x"), t64("yint")), _oracles.closed_form(
        "sparse_softmax_cross_entropy", data()["x"], data()["yint"], reduction="mean"), like=t64("x"), rtol=TOL64)


# ---------------------------------------------------------------------------- Keras


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_keras_training_step_with_an_xbackend_loss_equals_the_step_with_keras_own_loss(jit_compile):
    """``model.compile(loss=fn)``: Keras calls ``fn(y_true, y_pred)`` inside its train step
    (a tf.function), with y_true cast to float32 by ``Loss.__call__``, and averages the
    per-sample losses ("sum_over_batch_size"). One SGD step with
    ``sparse_softmax_cross_entropy(y_pred, tf.cast(y_true, tf.int32))`` moves the weights
    exactly like one step with ``SparseCategoricalCrossentropy(from_logits=True)``."""
    import keras

    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(16, 4)).astype(np.float32), rng.integers(0, 3, size=16)

    def trained(loss):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss=loss, jit_compile=jit_compile)
        history = model.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
        return history.history["loss"][0], [w.numpy() for w in model.weights]

    def xbackend_loss(y_true, y_pred):
        return xb.sparse_softmax_cross_entropy(y_pred, tf.cast(y_true, tf.int32))

    ours, w_ours = trained(xbackend_loss)
    theirs, w_theirs = trained(keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert ours == pytest.approx(theirs, rel=tolerance("float32", 16))
    for a, b in zip(w_ours, w_theirs, strict=False):
        np.testing.assert_allclose(a, b, rtol=tolerance("float32", 16), atol=tolerance("float32", 16))
