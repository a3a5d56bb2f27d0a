"""The TensorFlow Array API namespace (``xbackend._backends._tf_namespace``), function by function.

Each test states the standard's semantics the adapter must give on ``tf.Tensor`` and
``tf.Variable`` inputs, in eager mode and where TensorFlow behaves differently (XLA,
shapes unknown at trace time) also inside ``tf.function``.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends import BY_NAME, skip_reason

_reason = skip_reason(BY_NAME["tensorflow"])
if _reason is not None:
    pytest.skip(_reason, allow_module_level=True)

import ml_dtypes
import tensorflow as tf

import xbackend as xb
from xbackend._backends import _tf_namespace as tfx

FLOATS = [tf.float16, tf.bfloat16, tf.float32, tf.float64]
NAN = float("nan")


# ----------------------------------------------------------------------- detection


def test_tensors_and_variables_get_the_tensorflow_namespace():
    assert xb.array_namespace(tf.constant([1.0])) is tfx
    assert xb.array_namespace(tf.Variable([1.0])) is tfx  # a Variable is not a Tensor subclass
    assert xb.array_namespace(tf.constant([1.0]), tf.Variable([1]), 2.0, None) is tfx


@pytest.mark.parametrize("other", ["numpy", "torch", "jax"])
def test_tensorflow_mixed_with_another_framework_is_a_type_error(other):
    b = BY_NAME[other]
    if skip_reason(b) is not None:
        pytest.skip(skip_reason(b))
    x = tf.constant([[1.0, 2.0]])
    y = b.asarray(np.array([[0.0, 1.0]]), "float32")
    with pytest.raises(TypeError, match="different frameworks"):
        xb.array_namespace(x, y)
    if other == "numpy":  # the mixed-input rule: NumPy labels become tensors of the logits
        np.testing.assert_allclose(xb.softmax_cross_entropy(x, y).numpy(), xb.softmax_cross_entropy(x, tf.constant(y)).numpy())
        return
    with pytest.raises(TypeError, match="different frameworks"):
        xb.softmax_cross_entropy(x, y)


# -------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize(
    "kind, members",
    [
        ("real floating", {tf.float16, tf.bfloat16, tf.float32, tf.float64}),
        ("integral", {tf.int8, tf.int16, tf.int32, tf.int64, tf.uint8, tf.uint16, tf.uint32, tf.uint64}),
        ("signed integer", {tf.int8, tf.int16, tf.int32, tf.int64}),
        ("unsigned integer", {tf.uint8, tf.uint16, tf.uint32, tf.uint64}),
        ("bool", {tf.bool}),
        ("complex floating", {tf.complex64, tf.complex128}),
    ],
)
def test_isdtype_kinds_follow_the_dtype_flags(kind, members):
    every = {tf.bool, tf.int8, tf.int16, tf.int32, tf.int64, tf.uint8, tf.uint16, tf.uint32, tf.uint64,
             tf.float16, tf.bfloat16, tf.float32, tf.float64, tf.complex64, tf.complex128}  # fmt: skip
    assert {d for d in every if tfx.isdtype(d, kind)} == members


def test_isdtype_takes_tuples_and_dtypes_and_rejects_unknown_kinds():
    assert tfx.isdtype(tf.int32, ("bool", "real floating", "integral"))
    assert not tfx.isdtype(tf.bool, ("real floating", "integral"))
    assert tfx.isdtype(tf.float32, tf.float32) and not tfx.isdtype(tf.float32, tf.float64)
    assert tfx.isdtype(tf.float32, "numeric") and not tfx.isdtype(tf.bool, "numeric")
    with pytest.raises(ValueError, match="unknown dtype kind"):
        tfx.isdtype(tf.float32, "floating")
    with pytest.raises(TypeError, match="not a dtype"):
        tfx.isdtype(object(), "bool")


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
def test_finfo_matches_numpy_and_ml_dtypes(dtype):
    ref = ml_dtypes.finfo(ml_dtypes.bfloat16) if dtype == tf.bfloat16 else np.finfo(dtype.as_numpy_dtype)
    info = tfx.finfo(dtype)
    assert (info.bits, info.eps, info.max, info.min) == (ref.bits, float(ref.eps), float(ref.max), float(ref.min))
    assert info.smallest_normal == float(ref.smallest_normal) and info.dtype == dtype
    assert tfx.finfo(tf.zeros([2], dtype)) == info  # an array works too
    with pytest.raises(TypeError, match="floating"):
        tfx.finfo(tf.int32)


# ------------------------------------------------------------ scalars and promotion


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
def test_python_scalars_take_the_array_dtype_in_where_minimum_maximum_clip(dtype):
    x = tf.constant([-2.0, 0.5, 3.0], dtype)
    cond = x > 0
    assert tfx.where(cond, x, 0.0).dtype == dtype
    assert tfx.where(cond, 1.0, x).dtype == dtype
    assert tfx.where(cond, tfx.inf, x).dtype == dtype
    assert tfx.maximum(x, 0.0).dtype == dtype and tfx.minimum(1, x).dtype == dtype
    np.testing.assert_array_equal(tfx.clip(x, 0.0, 1.0).numpy().astype(float), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(tfx.where(cond, x, 0.0).numpy().astype(float), [0.0, 0.5, 3.0])


def test_scalars_that_do_not_fit_the_array_kind_are_type_errors():
    with pytest.raises(TypeError, match="Python float"):
        tfx.where(tf.constant([True]), tf.constant([1], tf.int32), 0.5)
    with pytest.raises(TypeError, match="two Python scalars"):
        tfx.where(tf.constant([True]), 1.0, 0.0)
    with pytest.raises(TypeError, match="boolean condition"):
        tfx.where(tf.constant([1.0]), 1.0, tf.constant([0.0]))


def test_two_float_dtypes_promote_to_the_wider_and_kinds_do_not_mix():
    a, b = tf.constant([1.0], tf.float32), tf.constant([2.0], tf.float64)
    assert tfx.maximum(a, b).dtype == tf.float64
    assert tfx.where(tf.constant([True]), a, b).dtype == tf.float64
    with pytest.raises(TypeError, match="cannot be combined"):
        tfx.maximum(a, tf.constant([1], tf.int32))


# --------------------------------------------------------------------------- NaN


def _nan_cases(fn):
    x = tf.constant([[1.0, NAN, 3.0], [NAN, -np.inf, 0.0], [2.0, 1.0, -1.0]])
    return [a.numpy() for a in fn(x)]


def _max_min(x):
    return tfx.max(x, axis=1), tfx.max(x), tfx.maximum(x, 0.0), tfx.minimum(x, 0.0), tfx.clip(x, 0.0, 1.0)


@pytest.mark.parametrize("mode", ["eager", "function", "xla"])
def test_max_maximum_minimum_clip_propagate_nan_in_every_mode(mode):
    """Under XLA ``tf.reduce_max`` skips NaN ([1, nan, 3] -> 3); the adapter puts it back."""
    fn = {"eager": _max_min, "function": tf.function(_max_min), "xla": tf.function(_max_min, jit_compile=True)}[mode]
    row, whole, mx, mn, cl = _nan_cases(fn)
    np.testing.assert_array_equal(row, [NAN, NAN, 2.0])
    assert np.isnan(whole)
    np.testing.assert_array_equal(mx, [[1, NAN, 3], [NAN, 0, 0], [2, 1, 0]])
    np.testing.assert_array_equal(mn, [[0, NAN, 0], [NAN, -np.inf, 0], [0, 0, -1]])
    np.testing.assert_array_equal(cl, [[1, NAN, 1], [NAN, 0, 0], [1, 1, 0]])


def test_sum_mean_follow_the_standard():
    b = tf.constant([[True, False, True]])
    s = tfx.sum(b, axis=1)
    assert s.dtype == tf.int64 and s.numpy().tolist() == [2]
    x = tf.constant([[1.0, 2.0], [3.0, 4.0]], tf.float16)
    assert tfx.sum(x, dtype=tf.float32).dtype == tf.float32
    assert tfx.sum(x, axis=-1, keepdims=True).shape == (2, 1)
    assert float(tfx.mean(x)) == 2.5
    with pytest.raises(ValueError, match="out of range"):
        tfx.sum(x, axis=2)


# --------------------------------------------------------------------- creation


def test_asarray_and_arange_defaults():
    assert tfx.asarray(0.5).dtype == tf.float32  # not float64 like tnp.asarray
    assert tfx.asarray(3).dtype == tf.int64
    assert tfx.asarray(np.zeros(2, np.float16)).dtype == tf.float16
    assert tfx.asarray(2.5, dtype=tf.float64).dtype == tf.float64
    assert tfx.asarray(tf.constant([1, 2]), dtype=tf.float32).dtype == tf.float32
    assert tfx.arange(4).numpy().tolist() == [0, 1, 2, 3] and tfx.arange(4).dtype == tf.int64
    assert tfx.arange(1, 7, 2, dtype=tf.int32).numpy().tolist() == [1, 3, 5]
    z = tfx.zeros_like(tf.constant([1.0, 2.0]), dtype=tf.float64)
    assert z.dtype == tf.float64 and tfx.ones_like(z).numpy().tolist() == [1.0, 1.0]


def test_device_and_to_device():
    x = tf.constant([1.0])
    assert "CPU:0" in tfx.device(x)
    y = tfx.to_device(x, "/CPU:0")
    assert tfx.device(y) == tfx.device(x) and y.numpy().tolist() == [1.0]
    assert "CPU:0" in tfx.device(tfx.asarray(1.0, device="/CPU:0"))


def test_astype_reads_a_variable_and_the_tape_reaches_it():
    v = tf.Variable([1.0, 2.0])
    with tf.GradientTape() as tape:
        t = tfx.astype(v, tf.float32)
        assert isinstance(t, tf.Tensor) and not isinstance(t, tf.Variable)
        s = tfx.sum(t * t)
    np.testing.assert_array_equal(tape.gradient(s, v).numpy(), [2.0, 4.0])
    x = tf.constant([1.5])
    assert tfx.astype(x, tf.float32) is x  # no op when nothing changes


# ------------------------------------------------------------------ manipulation


def test_reshape_expand_squeeze_permute_broadcast():
    x = tf.reshape(tf.range(6, dtype=tf.float32), (2, 3))
    assert tfx.reshape(x, (3, None)).shape == (3, 2)  # None (unknown size) is -1
    with pytest.raises(ValueError, match="at most one"):
        tfx.reshape(x, (None, None))
    assert tfx.expand_dims(x, axis=-1).shape == (2, 3, 1)
    assert tfx.squeeze(tfx.expand_dims(x, axis=1), axis=1).shape == (2, 3)
    assert tfx.permute_dims(x, (1, 0)).shape == (3, 2)
    assert tfx.broadcast_to(tf.constant([1.0, 2.0, 3.0]), (2, 3)).shape == (2, 3)


def test_unknown_batch_sizes_inside_tf_function():
    """Shapes with ``None`` (input_signature): reshape infers it, broadcast_to takes it from x."""

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    def f(x):
        assert x.shape[0] is None
        flat = tfx.reshape(x, (-1,))
        back = tfx.reshape(flat, (None, 3))
        wide = tfx.broadcast_to(tfx.expand_dims(x, axis=0), (2, None, 3))
        return back, wide

    back, wide = f(tf.ones((4, 3)))
    assert back.shape == (4, 3) and wide.shape == (2, 4, 3)

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    def g(x):
        return tfx.broadcast_to(tf.ones((1, 3)), x.shape)

    with pytest.raises(ValueError, match="unknown at trace time"):
        g.get_concrete_function()


# ---------------------------------------------------------------------- indexing


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_take_along_axis_matches_numpy(axis):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 4, 5))
    shape = list(a.shape)
    shape[axis] = 2
    idx = rng.integers(0, a.shape[axis], size=shape)
    got = tfx.take_along_axis(tf.constant(a), tf.constant(idx, tf.int32), axis=axis)
    np.testing.assert_array_equal(got.numpy(), np.take_along_axis(a, idx, axis=axis))


def test_take_along_axis_broadcasts_size_one_axes_and_take_gathers():
    a = np.arange(12.0).reshape(3, 4)
    idx = np.array([[1, 3]])
    got = tfx.take_along_axis(tf.constant(a), tf.constant(idx), axis=1)
    np.testing.assert_array_equal(got.numpy(), np.take_along_axis(a, np.broadcast_to(idx, (3, 2)), axis=1))
    np.testing.assert_array_equal(tfx.take(tf.constant([5.0, 6.0, 7.0]), tf.constant([2, 0])).numpy(), [7.0, 5.0])
    with pytest.raises(ValueError, match="rank"):
        tfx.take_along_axis(tf.constant(a), tf.constant([1]), axis=1)


def test_take_along_axis_is_differentiable_under_xla():
    """``tf.gather(batch_dims=...)``: the gradient scatters back, also with jit_compile=True
    (``tnp.take_along_axis`` cannot be differentiated under XLA in TF 2.21)."""
    x0 = tf.constant([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    idx = tf.constant([[2], [0]])

    def grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            s = tf.reduce_sum(tfx.take_along_axis(x, idx, axis=1) * tf.constant([[2.0], [3.0]]))
        return tape.gradient(s, x)

    want = [[0.0, 0.0, 2.0], [3.0, 0.0, 0.0]]
    np.testing.assert_array_equal(grad(x0).numpy(), want)
    np.testing.assert_array_equal(tf.function(grad, jit_compile=True)(x0).numpy(), want)


def test_concat_and_empty():
    a, b = tf.constant([[1.0, 2.0]]), tf.constant([[3.0, 4.0]], tf.float64)
    got = tfx.concat([a, b], axis=0)
    assert got.dtype == tf.float64 and got.numpy().tolist() == [[1, 2], [3, 4]]
    assert tfx.concat([a, a], axis=-1).shape == (1, 4)
    assert tfx.concat([a, b], axis=None).shape == (4,)
    e = tfx.empty((2, 3), dtype=tf.bfloat16)
    assert e.shape == (2, 3) and e.dtype == tf.bfloat16
