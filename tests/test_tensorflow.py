"""TensorFlow cells: xbackend against ``tf.nn`` and Keras 3, in eager mode, ``tf.function`` and XLA.

Axes: TF/Keras native × execution mode (eager, ``tf.function``, ``tf.function(jit_compile=True)``)
× dtype (float64, float32, float16, bfloat16; under XLA float32 and bfloat16), values and
gradients. Every cell of one (mode, dtype) is computed in one trace, shared by the tests. The natives are the
ones registered in :mod:`xbackend.testing._oracles` (their docstrings and the table there say how
each maps onto an xbackend call; Keras' mapping is repeated in :data:`CELLS`). A native is
the reference where it is right; where TensorFlow is known to be wrong the tests below
say so and compare with the float64 closed form instead.

The reference is the native evaluated eagerly in float64 on the *rounded* inputs (the
float16/bfloat16 arrays themselves, upcast exactly): a 16-bit native computes in 16 bits,
xbackend computes 16-bit inputs in float32, so the float64 native is the fair reference.
Labels, weights and cotangents are dyadic (k/16), so they are exact in every dtype and
soft labels sum to exactly 1 (TF's softmax gradient assumes it).

Tolerances: the toolkit's model, :func:`xbackend.testing._tolerance.tolerances` (``K_OPS
= 16`` roundings in the computing dtype, float32 for 16-bit inputs, plus half an eps of the
dtype for the final rounding), with the value scale
:func:`~xbackend.testing._tolerance.value_scale` of the cell's inputs (its sample weights,
at most 1.875, left out as before) and ``max|reference|`` for gradients.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from tests.backends import BY_NAME, skip_reason

_reason = skip_reason(BY_NAME["tensorflow"])
if _reason is not None:
    pytest.skip(_reason, allow_module_level=True)

import tensorflow as tf

import xbackend as xb
from xbackend.testing import _oracles, assert_matches_reference, to_numpy, tolerance
from xbackend.testing._tolerance import K_OPS, finite_max, tolerances, value_scale

N, C = 4, 5
DTYPES = ("float64", "float32", "float16", "bfloat16")
MODES = ("eager", "function", "xla")
IGNORE = -1


# ============================================================================ data


def _dyadic(rng: np.random.Generator, lo: float, hi: float, size: Any) -> np.ndarray:
    """Uniform values on the grid k/16 (exact in bfloat16 and float16)."""
    return np.round(rng.uniform(lo, hi, size=size) * 16.0) / 16.0


@functools.cache
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20260503)
    counts = rng.multinomial(16, np.ones(C) / C, size=N)  # rows of k/16 summing to exactly 1
    zbin = _dyadic(rng, 0.0, 1.0, (N, C))
    zbin.flat[:3] = (0.0, 1.0, 0.0)
    yint = rng.integers(0, C, size=N)
    yign = yint.copy()
    yign[1] = IGNORE
    return {
        "x": rng.normal(size=(N, C)) * 2.0,
        "ysoft": counts / 16.0,
        "zbin": zbin,
        "yint": yint,
        "yign": yign,
        "w_row": _dyadic(rng, 0.5, 2.0, N),
        "pw": _dyadic(rng, 0.5, 3.0, C),
        "cot_elem": _dyadic(rng, -1.0, 1.0, (N, C)),
        "cot_row": _dyadic(rng, -1.0, 1.0, N),
    }


def tensors(dtype: str) -> dict[str, tf.Tensor]:
    """The data as TF tensors: floats in ``dtype``, labels int32 (TF's usual label dtype)."""
    out = {}
    for k, v in data().items():
        out[k] = tf.constant(v, tf.int32) if v.dtype.kind == "i" else tf.constant(v, getattr(tf, dtype))
    return out


# =========================================================================== cells


@dataclass(frozen=True)
class Cell:
    """One xbackend call and the native it must equal.

    ``labels``: which data array is the label; ``transpose``: class axis 0 (logits and
    labels transposed, ``axis=0``); ``args``: data arrays passed as options.
    """

    id: str
    loss: str
    native: str
    labels: str
    reduction: str = "none"
    options: dict = field(default_factory=dict, hash=False)
    args: dict = field(default_factory=dict, hash=False)  # option -> data key
    transpose: bool = False

    @property
    def float_labels(self) -> bool:
        return self.labels not in ("yint", "yign")

    @property
    def rowwise(self) -> bool:
        return self.loss in ("softmax_cross_entropy", "sparse_softmax_cross_entropy")


CELLS = (
    # tf.nn: unreduced, xbackend's reduction="none"
    Cell("sigmoid_ce", "sigmoid_cross_entropy", "tf.nn.sigmoid_cross_entropy_with_logits", "zbin"),
    Cell("weighted_ce[pos_weight=2.5]", "sigmoid_cross_entropy", "tf.nn.weighted_cross_entropy_with_logits", "zbin",
         options={"pos_weight": 2.5}),
    Cell("weighted_ce[pos_weight=per-class]", "sigmoid_cross_entropy", "tf.nn.weighted_cross_entropy_with_logits",
         "zbin", args={"pos_weight": "pw"}),
    Cell("softmax_ce", "softmax_cross_entropy", "tf.nn.softmax_cross_entropy_with_logits", "ysoft"),
    Cell("softmax_ce[axis=0]", "softmax_cross_entropy", "tf.nn.softmax_cross_entropy_with_logits", "ysoft",
         options={"axis": 0}, transpose=True),
    Cell("sparse_softmax_ce", "sparse_softmax_cross_entropy", "tf.nn.sparse_softmax_cross_entropy_with_logits",
         "yint"),
    # Keras BinaryCrossentropy(from_logits=True, label_smoothing=e) "sum_over_batch_size"
    #   = sigmoid_cross_entropy(label_smoothing=e, reduction="sum_over_batch_size")
    Cell("keras.BinaryCrossentropy[label_smoothing]", "sigmoid_cross_entropy", "keras.BinaryCrossentropy", "zbin",
         "sum_over_batch_size", {"label_smoothing": 0.1}),
    # Keras CategoricalCrossentropy(from_logits=True, label_smoothing=e): same reduction names
    Cell("keras.CategoricalCrossentropy[label_smoothing]", "softmax_cross_entropy", "keras.CategoricalCrossentropy",
         "ysoft", "none", {"label_smoothing": 0.2}),
    Cell("keras.CategoricalCrossentropy[sample_weight]", "softmax_cross_entropy", "keras.CategoricalCrossentropy",
         "ysoft", "sum_over_batch_size", args={"weights": "w_row"}),
    # Keras SparseCategoricalCrossentropy(from_logits=True, ignore_class=i) "sum_over_batch_size"
    #   = sparse_softmax_cross_entropy(ignore_index=i, reduction="mean") (divides by the valid rows)
    Cell("keras.SparseCategoricalCrossentropy[ignore_class]", "sparse_softmax_cross_entropy",
         "keras.SparseCategoricalCrossentropy", "yign", "mean", {"ignore_index": IGNORE}),
    Cell("keras.SparseCategoricalCrossentropy[ignore_class-none]", "sparse_softmax_cross_entropy",
         "keras.SparseCategoricalCrossentropy", "yign", "none", {"ignore_index": IGNORE}),
    Cell("keras.SparseCategoricalCrossentropy[sum]", "sparse_softmax_cross_entropy",
         "keras.SparseCategoricalCrossentropy", "yint", "sum"),
    # Keras BinaryFocalCrossentropy(from_logits=True, gamma=g[, apply_class_balancing, alpha=a])
    #   "sum_over_batch_size" = sigmoid_focal_loss(gamma=g[, alpha=a], reduction="sum_over_batch_size")
    Cell("keras.BinaryFocalCrossentropy[gamma=2]", "sigmoid_focal_loss", "keras.BinaryFocalCrossentropy", "zbin",
         "sum_over_batch_size", {"gamma": 2.0}),
    Cell("keras.BinaryFocalCrossentropy[gamma=1.5-class_balancing]", "sigmoid_focal_loss",
         "keras.BinaryFocalCrossentropy", "zbin", "sum_over_batch_size", {"gamma": 1.5, "alpha": 0.25}),
)  # fmt: skip
BY_ID = {c.id: c for c in CELLS}


def _inputs(cell: Cell, t: dict) -> tuple[Any, Any, dict]:
    x, y = t["x"], t[cell.labels]
    if cell.transpose:
        x, y = tf.transpose(x), tf.transpose(y)
    opts = {**cell.options, **{k: t[v] for k, v in cell.args.items()}}
    return x, y, opts


def _cotangent(cell: Cell, t: dict, out: Any) -> Any:
    if cell.reduction != "none":
        return out
    cot = t["cot_row"] if cell.rowwise else t["cot_elem"]
    return tf.reduce_sum(out * tf.cast(cot, out.dtype))


def _value_and_grads(fn: Any, cell: Cell, t: dict) -> dict:
    """``{"value", "dx"[, "dy"]}``: the loss and the gradient of (cotangent ·) loss."""
    x, y, opts = _inputs(cell, t)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        if cell.float_labels:
            tape.watch(y)
        out = fn(x, y, **opts)
        s = _cotangent(cell, t, out)
    res = {"value": out, "dx": tape.gradient(s, x)}
    if cell.float_labels:
        res["dy"] = tape.gradient(s, y)
    return res


def _xbackend_all(t: dict) -> dict:
    return {
        c.id: _value_and_grads(lambda x, y, _c=c, **o: getattr(xb, _c.loss)(x, y, reduction=_c.reduction, **o), c, t)
        for c in CELLS
    }


_COMPILED = {"eager": _xbackend_all, "function": tf.function(_xbackend_all),
             "xla": tf.function(_xbackend_all, jit_compile=True)}  # fmt: skip


@functools.cache
def xbackend_results(mode: str, dtype: str) -> dict:
    """Every cell in one trace per (mode, dtype), shared by the parametrized tests."""
    out = _COMPILED[mode](tensors(dtype))
    return {cid: {k: v for k, v in r.items()} for cid, r in out.items()}


@functools.cache
def native_results(dtype: str) -> dict:
    """The natives, eagerly, in float64 on the inputs rounded to ``dtype``."""
    t = {k: (tf.cast(v, tf.float64) if v.dtype.is_floating else v) for k, v in tensors(dtype).items()}
    out = {}
    for c in CELLS:
        nat = _oracles.NATIVES[c.native]

        def native(x, y, _nat=nat, _c=c, **o):
            if _nat.reductions != {"none": "none"}:
                o["reduction"] = _c.reduction
            return _nat.fn(x, y, **o)

        out[c.id] = {k: to_numpy(v).astype(np.float64) for k, v in _value_and_grads(native, c, t).items()}
    return out


def _value_scale(cell: Cell) -> float:
    """:func:`value_scale` of the cell's float64 inputs (the sample weights left out)."""
    x, _, opts = _inputs(cell, {k: tf.constant(v) for k, v in data().items()})
    opts = {k: to_numpy(v) if tf.is_tensor(v) else v for k, v in opts.items() if k != "weights"}
    return value_scale(cell.loss, to_numpy(x), opts, cell.reduction)


def _ids(params):
    return [f"{c}-{m}-{d}" for c, m, d in params]


#: XLA compiles cost seconds each: float32 and bfloat16 (a 16-bit input computed in float32)
#: under XLA; float64 under XLA is exercised by the tests of the TF bugs below.
MODE_DTYPES = {"eager": DTYPES, "function": DTYPES, "xla": ("float32", "bfloat16")}
PARAMS = [(c.id, m, d) for c in CELLS for m in MODES for d in MODE_DTYPES[m]]


# ====================================================================== the matrix


@pytest.mark.parametrize(("cell_id", "mode", "dtype"), PARAMS, ids=_ids(PARAMS))
def test_value_matches_tf_native(cell_id, mode, dtype):
    cell = BY_ID[cell_id]
    got = xbackend_results(mode, dtype)[cell_id]["value"]
    want = native_results(dtype)[cell_id]["value"]
    rtol, atol = tolerances(dtype, _value_scale(cell))
    like = tensors(dtype)["x"]
    assert_matches_reference(got, want, like=like, rtol=rtol, atol=atol, err_msg=f"{cell.native} vs xbackend.{cell.loss}")


@pytest.mark.parametrize(("cell_id", "mode", "dtype"), PARAMS, ids=_ids(PARAMS))
def test_gradient_matches_tf_native_gradient_tape(cell_id, mode, dtype):
    """d/dlogits, and d/dlabels for float labels (integer labels get no gradient)."""
    cell = BY_ID[cell_id]
    got, want = xbackend_results(mode, dtype)[cell_id], native_results(dtype)[cell_id]
    like = tensors(dtype)["x"]
    assert ("dy" in got) == cell.float_labels
    for key in ("dx", "dy") if cell.float_labels else ("dx",):
        rtol, atol = tolerances(dtype, finite_max(want[key]))
        assert_matches_reference(got[key], want[key], like=like, rtol=rtol, atol=atol, err_msg=f"{key} of {cell.id}")


# ======================================================= where TensorFlow is wrong


def _closed(name: str, x: Any, y: Any, **opts: Any) -> np.ndarray:
    return _oracles.closed_form(name, to_numpy(x), to_numpy(y), **opts)


@pytest.mark.parametrize("mode", MODES)
def test_masked_class_with_soft_labels_is_finite_where_tf_softmax_ce_gives_nan(mode):
    """A -inf logit (a masked class) with label 0: TF's fused kernel computes 0·(-inf) = NaN;
    the exact loss is finite (``0·log 0 = 0``). xbackend equals the float64 closed form."""
    x = tf.constant([[-np.inf, 1.0, 2.0], [0.5, -np.inf, -1.0]], tf.float64)
    y = tf.constant([[0.0, 0.25, 0.75], [0.5, 0.0, 0.5]], tf.float64)
    tf_value = tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=x).numpy()
    assert np.isnan(tf_value).all(), f"TF changed: {tf_value}"

    def f(x, y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = xb.softmax_cross_entropy(x, y)
        return loss, tape.gradient(loss, x)

    f = {"eager": f, "function": tf.function(f), "xla": tf.function(f, jit_compile=True)}[mode]
    loss, g = f(x, y)
    want = _closed("softmax_cross_entropy", x, y)
    assert_matches_reference(loss, want, like=x, rtol=tolerance("float64", K_OPS))
    p = np.exp(_oracles.closed_form("log_softmax", to_numpy(x)))
    assert_matches_reference(g, p - to_numpy(y), like=x, rtol=tolerance("float64", K_OPS), atol=1e-15)


def test_softmax_ce_gradient_for_labels_that_do_not_sum_to_one_is_exact_where_tf_returns_softmax_minus_y():
    """TF's gradient is ``softmax − y`` whatever Σy; the derivative of ``−Σ y·log softmax`` is
    ``softmax·Σy − y``. xbackend equals central differences of the float64 closed form."""
    x = tf.constant(data()["x"])
    y = tf.constant(data()["ysoft"] * np.array([[0.5], [1.5], [0.75], [1.0]]))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = tf.reduce_sum(xb.softmax_cross_entropy(x, y))
        theirs = tf.reduce_sum(tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=x))
    fd = _oracles.closed_form_grad("softmax_cross_entropy", to_numpy(x), to_numpy(y), reduction="sum")
    assert_matches_reference(tape.gradient(ours, x), fd, like=x, rtol=_oracles.FD_RTOL, atol=_oracles.FD_RTOL)
    p = np.exp(_oracles.closed_form("log_softmax", to_numpy(x)))
    tf_grad = tape.gradient(theirs, x).numpy()
    np.testing.assert_allclose(tf_grad, p - to_numpy(y), rtol=1e-12, atol=1e-15)  # TF's formula ...
    assert np.max(np.abs(tf_grad - fd)) > 0.1  # ... is off by softmax·(Σy − 1) on rows 0-2
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-13)  # the values agree


def test_infinite_logits_are_exact_where_tf_sigmoid_ce_gives_nan():
    """``max(x,0) − x·z + log1p(e^−|x|)``: inf − inf at (+inf, 1) and 0·inf at (−inf, 0) give NaN
    (and NaN where the loss is inf); the limits are 0, 0, inf, inf with gradients 0, 0, 1, −1."""
    x = tf.constant([np.inf, -np.inf, np.inf, -np.inf], tf.float32)
    z = tf.constant([1.0, 0.0, 0.0, 1.0], tf.float32)
    tf_value = tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x).numpy()
    assert np.isnan(tf_value[:3]).all(), f"TF changed: {tf_value}"
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = xb.sigmoid_cross_entropy(x, z)
    assert_matches_reference(loss, [0.0, 0.0, np.inf, np.inf], like=x)
    assert_matches_reference(tape.gradient(loss, x), [0.0, 0.0, 1.0, -1.0], like=x)


def test_small_losses_keep_relative_accuracy_where_tf_weighted_ce_flushes_them_to_zero():
    """``(1−z)·x + (1+(pw−1)z)·(log1p(e^−|x|) + max(−x, 0))`` at x = −30, z = 0 is −30 + 30.000…:
    0 in float32. The exact value is log1p(e^−30) = 9.357623e-14 (also without pos_weight)."""
    x = tf.constant([-30.0, -20.0], tf.float32)
    z = tf.constant([0.0, 0.0], tf.float32)
    tf_value = tf.nn.weighted_cross_entropy_with_logits(labels=z, logits=x, pos_weight=2.0).numpy()
    assert (tf_value == 0).all(), f"TF changed: {tf_value}"
    want = np.log1p(np.exp([-30.0, -20.0]))  # [9.357623e-14, 2.061154e-09]
    assert_matches_reference(xb.sigmoid_cross_entropy(x, z, pos_weight=2.0), want, like=x, rtol=tolerance("float32", 2))


def test_bad_integer_labels_give_a_nan_row_in_every_mode_where_tf_raises_on_cpu():
    """``tf.nn.sparse_softmax_cross_entropy_with_logits`` raises InvalidArgumentError for a label
    outside [0, C) on CPU and returns a NaN row under XLA (and, per its docs, on GPU).
    xbackend gives the NaN row (loss and gradient) in eager, graph and XLA mode alike."""
    x = tf.constant(data()["x"], tf.float32)
    y = tf.constant([0, C, 2, -3], tf.int32)
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=x)
    xla_native = tf.function(lambda y, x: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=x),
                             jit_compile=True)(y, x).numpy()  # fmt: skip
    assert np.isnan(xla_native[[1, 3]]).all() and np.isfinite(xla_native[[0, 2]]).all()

    def f(x, y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = xb.sparse_softmax_cross_entropy(x, y)
        return loss, tape.gradient(loss, x)

    want = _closed("sparse_softmax_cross_entropy", x, y)
    assert np.isnan(want[[1, 3]]).all()
    for fn in (f, tf.function(f), tf.function(f, jit_compile=True)):
        loss, g = fn(x, y)
        assert_matches_reference(loss, want, like=x, rtol=tolerance("float32", K_OPS))
        g = g.numpy()
        assert np.isnan(g[[1, 3]]).all() and np.isfinite(g[[0, 2]]).all()


def test_invalid_raise_checks_eager_labels_and_refuses_traced_ones():
    x = tf.constant(data()["x"], tf.float32)
    y = tf.constant([0, C, 2, 1], tf.int32)
    with pytest.raises(ValueError, match=r"class indices in \[0, 5\).*position \(1,\)"):
        xb.sparse_softmax_cross_entropy(x, y, invalid="raise")
    with pytest.raises(ValueError, match="traced"):
        tf.function(lambda x, y: xb.sparse_softmax_cross_entropy(x, y, invalid="raise"))(x, y)
