"""Property-based tests (hypothesis) over random shapes, class axes, dtypes, values and
options, on NumPy, torch and JAX.

Properties (each a mathematical identity of the losses, not a value copied from xbackend):

* softmax cross-entropy is invariant to adding a constant to a row's logits;
* sigmoid cross-entropy is symmetric: ``L(x, z) = L(-x, 1 - z)``;
* two-class softmax cross-entropy on ``[0, x]`` is the sigmoid cross-entropy on ``x``;
* integer labels equal their one-hot soft labels under every reduction and every
  combination of ``class_weights``, ``weights``, ``label_smoothing`` and ``where``;
* every loss is >= 0 (exactly, in every dtype) for labels in [0, 1];
* every loss agrees with the float64 closed form of :mod:`xbackend.testing._oracles` (written
  from the mathematics) within tolerances derived from the dtype;
* autodiff gradients (torch autograd, ``jax.grad``) equal central finite differences of
  the float64 closed form (:func:`xbackend.testing._oracles.closed_form_grad`);
* the row-blocked path (``chunk_size=k``) and the unblocked path (``chunk_size=None``)
  agree, in value and gradient.

Tolerances: a result computed in dtype ``ct`` (float32 for float16/bfloat16) from inputs
of size ``M`` carries an absolute error of a few ``eps(ct)·M`` per row, plus the rounding
of the result to its dtype (``eps(dtype)`` relative); both come from
:func:`xbackend.testing.tolerance`. Examples are derandomized (fixed per test), so CI is
reproducible; ``max_examples`` is modest.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xbackend as xb
from tests.backends import BY_NAME, Backend, skip_reason
from xbackend.testing import _oracles, tolerance
from xbackend.testing._autodiff import grad_of

BACKENDS = ("numpy", "torch", "jax")
AD_BACKENDS = ("torch", "jax")
DTYPES = {
    "numpy": ("float64", "float32", "float16"),
    "torch": ("float64", "float32", "float16", "bfloat16"),
    "jax": ("float64", "float32", "float16", "bfloat16"),
}
REDUCTIONS = ("none", "sum", "mean", "sum_over_batch_size")


def _settings(n: int):
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def property_test(n: int, n_jax: int, backends: tuple = BACKENDS):
    """A hypothesis test per backend: ``n`` examples, ``n_jax`` on JAX (each new example
    there costs a compilation, ~0.1-0.3 s)."""

    def deco(body):
        fast = _settings(n)(given(data=st.data())(body))
        slow = _settings(n_jax)(given(data=st.data())(body))

        @pytest.mark.parametrize("bname", backends)
        def test(bname):
            (slow if bname == "jax" else fast)(bname)

        test.__name__, test.__qualname__, test.__doc__ = body.__name__, body.__qualname__, body.__doc__
        return test

    return deco


def get_backend(name: str) -> Backend:
    reason = skip_reason(BY_NAME[name])
    if reason is not None:
        pytest.skip(reason)
    return BY_NAME[name]


def compute_name(dtype: str) -> str:
    return "float32" if dtype in ("float16", "bfloat16") else dtype


def host(b: Backend, a: Any) -> np.ndarray:
    return np.asarray(b.to_numpy(a), dtype=np.float64)


def run(b: Backend, fn, *arrays: Any) -> np.ndarray:
    """``fn(*arrays)`` as float64 NumPy. On JAX under ``jax.jit``: one compilation per
    example instead of one per eager op and new shape (the same code runs either way)."""
    if b.framework == "jax":
        import jax

        return host(b, jax.jit(fn)(*arrays))
    return host(b, fn(*arrays))


def ints(b: Backend, a: Any) -> Any:
    return b.asarray(np.asarray(a, dtype=np.int64), "int64")


def assert_within(got: Any, want: Any, atol: Any, rtol: float, what: str = "") -> None:
    """|got - want| <= atol + rtol·|want| elementwise; infinities and NaN must match."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaN positions")
    inf = np.isinf(want)
    np.testing.assert_array_equal(got[inf], want[inf], err_msg=f"{what}: infinities")
    fin = np.isfinite(want)
    bound = (np.broadcast_to(atol, want.shape) + rtol * np.abs(want))[fin]
    err = np.abs(got[fin] - want[fin])
    assert np.all(err <= bound), f"{what}: max excess {np.max(err - bound)}; got {got}, want {want}"


# ------------------------------------------------------------------------ strategies


@st.composite
def shapes(draw, min_classes: int = 1, max_classes: int = 5) -> tuple[tuple, int]:
    """A shape with 1-3 dimensions and a class axis (as a negative or positive index)."""
    ndim = draw(st.integers(1, 3))
    axis = draw(st.integers(-ndim, ndim - 1))
    dims = [draw(st.integers(1, 3)) for _ in range(ndim)]
    dims[axis] = draw(st.integers(min_classes, max_classes))
    return tuple(dims), axis


def grid_array(draw, shape: tuple, lo: int, hi: int, denom: int) -> np.ndarray:
    """Values k/denom with lo <= k <= hi: exact in every dtype tested (bfloat16 included)."""
    n = int(np.prod(shape))
    ks = draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n))
    return np.asarray(ks, dtype=np.float64).reshape(shape) / denom


def float_array(draw, shape: tuple, lo: float, hi: float) -> np.ndarray:
    n = int(np.prod(shape))
    vals = draw(st.lists(st.floats(lo, hi, allow_nan=False, width=32), min_size=n, max_size=n))
    return np.asarray(vals, dtype=np.float64).reshape(shape)


def row_shape(shape: tuple, axis: int) -> tuple:
    ax = axis % len(shape)
    return shape[:ax] + shape[ax + 1 :]


def one_hot(labels: np.ndarray, n_classes: int, axis: int) -> np.ndarray:
    return np.moveaxis(np.eye(n_classes)[labels], -1, axis % (labels.ndim + 1))


def class_vector(draw, n: int) -> np.ndarray:
    return grid_array(draw, (n,), 4, 16, 8)  # in [0.5, 2]


# ------------------------------------------------------------------ error model


def softmax_row_scale(x: np.ndarray, q: np.ndarray, axis: int, z_loss: float = 0.0) -> np.ndarray:
    """Size of the terms a softmax row's loss is computed from: (max|x| + log C + 1)·Σ|q|
    (+ the z-loss term); an absolute error of a few eps(ct) times this is rounding."""
    finite = np.where(np.isfinite(x), np.abs(x), 0.0)
    m = np.max(finite, axis=axis) + math.log(x.shape[axis]) + 1.0
    return m * (np.sum(np.abs(q), axis=axis) + 2.0 * z_loss * m)


def reduce_scale(row_scale: np.ndarray, w: np.ndarray | None, reduction: str, den: float) -> np.ndarray:
    s = row_scale if w is None else row_scale * np.abs(w)
    if reduction == "none":
        return s
    total = np.sum(s)
    return total if reduction == "sum" else total / max(den, 1e-300)


# ------------------------------------------------------------------ 1. shift invariance


@property_test(30, 10)
def test_softmax_cross_entropy_is_invariant_to_a_shift_of_the_logits(bname, data):
    b = get_backend(bname)
    shape, axis = data.draw(shapes())
    dtype = data.draw(st.sampled_from(DTYPES[bname]))
    x = grid_array(data.draw, shape, -64, 64, 8)  # exact in every dtype, also after the shift
    c = data.draw(st.integers(-8, 8))
    sparse = data.draw(st.booleans())
    C = shape[axis]
    eps = data.draw(st.sampled_from([0.0, 0.25]))
    if sparse:
        y = grid_array(data.draw, row_shape(shape, axis), 0, C - 1, 1).astype(np.int64)
        fn = lambda t: xb.sparse_softmax_cross_entropy(t, ints(b, y), axis=axis, label_smoothing=eps)
        q = one_hot(y, C, axis)
    else:
        q = grid_array(data.draw, shape, 0, 8, 8)
        fn = lambda t: xb.softmax_cross_entropy(t, b.asarray(q, dtype), axis=axis, label_smoothing=eps)
    base = run(b, fn, b.asarray(x, dtype))
    shifted = run(b, fn, b.asarray(x + c, dtype))
    ct = compute_name(dtype)
    atol = tolerance(ct, 16) * softmax_row_scale(np.abs(x) + abs(c), q + eps, axis)
    assert_within(shifted, base, atol, tolerance(dtype, 2), f"{dtype} shift {c}")


# ------------------------------------------------------------------ 2. sigmoid symmetry


@property_test(30, 10)
def test_sigmoid_cross_entropy_is_symmetric_under_flipping_logits_and_labels(bname, data):
    b = get_backend(bname)
    shape, _ = data.draw(shapes())
    dtype = data.draw(st.sampled_from(DTYPES[bname]))
    x = grid_array(data.draw, shape, -160, 160, 8)
    z = grid_array(data.draw, shape, 0, 128, 128)  # 1 - z is exact too
    eps = data.draw(st.sampled_from([0.0, 0.1]))
    reduction = data.draw(st.sampled_from(REDUCTIONS))
    w = grid_array(data.draw, shape, 1, 16, 8) if data.draw(st.booleans()) else None
    m = np.asarray(data.draw(st.lists(st.booleans(), min_size=shape[-1], max_size=shape[-1])))
    use_mask = data.draw(st.booleans())
    kw: dict = {"label_smoothing": eps, "reduction": reduction}
    if w is not None:
        kw["weights"] = b.asarray(w, dtype)
    if use_mask:
        kw["where"] = b.asarray(m)
    fn = lambda t, u: xb.sigmoid_cross_entropy(t, u, **kw)
    a = run(b, fn, b.asarray(x, dtype), b.asarray(z, dtype))
    f = run(b, fn, b.asarray(-x, dtype), b.asarray(1.0 - z, dtype))
    scale = (np.abs(x) + 1.0) * (1.0 if w is None else w)
    atol = tolerance(compute_name(dtype), 16) * (scale if reduction == "none" else np.sum(scale))
    assert_within(f, a, atol, tolerance(dtype, 2), dtype)


# ------------------------------------------------- 3. two-class softmax = sigmoid


@property_test(30, 10)
def test_two_class_softmax_on_zero_and_x_is_the_sigmoid_cross_entropy_on_x(bname, data):
    b = get_backend(bname)
    shape, _ = data.draw(shapes())
    dtype = data.draw(st.sampled_from(DTYPES[bname]))
    x = grid_array(data.draw, shape, -240, 240, 8)
    axis = data.draw(st.integers(-(len(shape) + 1), len(shape)))
    integer = data.draw(st.booleans())
    z = grid_array(data.draw, shape, 0, 1, 1) if integer else grid_array(data.draw, shape, 0, 16, 16)
    pair = np.stack([np.zeros_like(x), x], axis=axis)
    sig = run(b, xb.sigmoid_cross_entropy, b.asarray(x, dtype), b.asarray(z, dtype))
    if integer:
        fn = lambda t, u: xb.sparse_softmax_cross_entropy(t, u, axis=axis)
        soft = run(b, fn, b.asarray(pair, dtype), ints(b, z.astype(np.int64)))
    else:
        labels = np.stack([1.0 - z, z], axis=axis)
        fn = lambda t, u: xb.softmax_cross_entropy(t, u, axis=axis)
        soft = run(b, fn, b.asarray(pair, dtype), b.asarray(labels, dtype))
    atol = tolerance(compute_name(dtype), 16) * (np.abs(x) + 2.0)
    assert_within(soft, sig, atol, tolerance(dtype, 2), dtype)


# ------------------------------------------------- 4. integer labels = one-hot labels


@property_test(40, 12)
def test_integer_labels_equal_their_one_hot_labels_under_every_option(bname, data):
    b = get_backend(bname)
    shape, axis = data.draw(shapes())
    dtype = data.draw(st.sampled_from(DTYPES[bname]))
    C = shape[axis]
    x = float_array(data.draw, shape, -20.0, 20.0)
    y = grid_array(data.draw, row_shape(shape, axis), 0, C - 1, 1).astype(np.int64)
    kw: dict = {"axis": axis, "reduction": data.draw(st.sampled_from(REDUCTIONS))}
    kw["label_smoothing"] = data.draw(st.sampled_from([0.0, 0.1, 1.0]))
    cw = class_vector(data.draw, C) if data.draw(st.booleans()) else None
    w = grid_array(data.draw, row_shape(shape, axis), 0, 16, 8) if data.draw(st.booleans()) else None
    mask = None
    if data.draw(st.booleans()):
        cls = np.asarray(data.draw(st.lists(st.booleans(), min_size=C, max_size=C)))
        mask = np.broadcast_to(_along(cls, axis, len(shape)), shape)
    if cw is not None:
        kw["class_weights"] = b.asarray(cw, dtype)
    if w is not None:
        kw["weights"] = b.asarray(w, dtype)
    if mask is not None:
        kw["where"] = b.asarray(_along(cls, axis, len(shape)))  # broadcast along the other axes
    xb_x = b.asarray(x, dtype)
    a = run(b, lambda t, u: xb.sparse_softmax_cross_entropy(t, u, **kw), xb_x, ints(b, y))
    s = run(b, lambda t, u: xb.softmax_cross_entropy(t, u, **kw), xb_x, b.asarray(one_hot(y, C, axis), dtype))
    q = one_hot(y, C, axis) * (1.0 if cw is None else _along(cw, axis, len(shape))) + kw["label_smoothing"] * 2.0
    row = softmax_row_scale(host(b, xb_x), q, axis)
    den = _mean_denominator(y, cw, w, mask, axis)
    atol = tolerance(compute_name(dtype), 16) * reduce_scale(row, w, kw["reduction"], den)
    assert_within(s, a, atol, tolerance(dtype, 4), f"{dtype} {kw}")


def _along(v: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    shape = [1] * ndim
    shape[axis] = v.shape[0]
    return v.reshape(shape)


def _mean_denominator(y, cw, w, mask, axis) -> float:
    """Σ w·r with r = class_weights[y] (1 without), 0 on fully masked rows (the spec of "mean")."""
    r = np.ones(y.shape) if cw is None else cw[y]
    if mask is not None:
        r = r * np.any(mask, axis=axis)
    return float(np.sum(r if w is None else w * r))


# ------------------------------------------------------------------ 5. non-negativity


@property_test(40, 12)
def test_every_loss_is_nonnegative_for_labels_in_0_1(bname, data):
    b = get_backend(bname)
    shape, axis = data.draw(shapes())
    dtype = data.draw(st.sampled_from(DTYPES[bname]))
    C = shape[axis]
    x = float_array(data.draw, shape, -60.0, 60.0)
    name = data.draw(st.sampled_from(["sigmoid", "softmax", "sparse", "sigmoid_focal", "softmax_focal"]))
    eps = data.draw(st.sampled_from([0.0, 0.3]))
    xx = b.asarray(x, dtype)
    gamma = data.draw(st.sampled_from([0.0, 0.5, 2.0]))
    if name in ("sigmoid", "sigmoid_focal"):
        y = b.asarray(float_array(data.draw, shape, 0.0, 1.0), dtype)
        pw = b.asarray(grid_array(data.draw, shape[-1:], 0, 32, 8), dtype)
        if name == "sigmoid":
            fn = lambda t, u: xb.sigmoid_cross_entropy(t, u, label_smoothing=eps, pos_weight=pw)
        else:
            fn = lambda t, u: xb.sigmoid_focal_loss(t, u, gamma=gamma, alpha=0.25)
    elif name == "softmax":
        y = b.asarray(float_array(data.draw, shape, 0.0, 1.0), dtype)
        fn = lambda t, u: xb.softmax_cross_entropy(t, u, axis=axis, label_smoothing=eps, z_loss=1e-3)
    else:
        y = ints(b, grid_array(data.draw, row_shape(shape, axis), 0, C - 1, 1).astype(np.int64))
        if name == "sparse":
            fn = lambda t, u: xb.sparse_softmax_cross_entropy(t, u, axis=axis, label_smoothing=eps)
        else:
            fn = lambda t, u: xb.softmax_focal_loss(t, u, axis=axis, gamma=gamma)
    got = run(b, fn, xx, y)
    assert np.all(got >= 0.0), (name, dtype, got)


# ------------------------------------------------------------------ 6. closed form


@property_test(40, 12)
def test_softmax_losses_agree_with_the_float64_closed_form(bname, data):
    b = get_backend(bname)
    shape, axis = data.draw(shapes())
    dtype = data.draw(st.sampled_from(DTYPES[bname]))
    C = shape[axis]
    xx = b.asarray(float_array(data.draw, shape, -50.0, 50.0), dtype)
    x64 = host(b, xx)  # the rounded inputs: the closed form of what the function was given
    name = data.draw(st.sampled_from(["softmax_cross_entropy", "sparse_softmax_cross_entropy", "softmax_focal_loss"]))
    reduction = data.draw(st.sampled_from(REDUCTIONS))
    kw: dict = {"axis": axis, "reduction": reduction}
    w = grid_array(data.draw, row_shape(shape, axis), 4, 16, 8) if data.draw(st.booleans()) else None
    if w is not None:
        kw["weights"] = b.asarray(w, dtype)
    cw = None
    if name == "softmax_focal_loss":
        kw["gamma"] = data.draw(st.sampled_from([0.0, 0.5, 2.0]))
        y = grid_array(data.draw, row_shape(shape, axis), 0, C - 1, 1).astype(np.int64)
        labels, q = ints(b, y), one_hot(y, C, axis)
    else:
        kw["label_smoothing"] = data.draw(st.sampled_from([0.0, 0.2]))
        kw["z_loss"] = data.draw(st.sampled_from([0.0, 1e-2]))
        if data.draw(st.booleans()):
            cw = class_vector(data.draw, C)
            kw["class_weights"] = b.asarray(cw, dtype)
        if name == "softmax_cross_entropy":
            y = None
            labels = b.asarray(grid_array(data.draw, shape, 0, 16, 16), dtype)
            q = host(b, labels)
        else:
            y = grid_array(data.draw, row_shape(shape, axis), 0, C - 1, 1).astype(np.int64)
            labels, q = ints(b, y), one_hot(y, C, axis)
        q = q * (1.0 if cw is None else _along(cw, axis, len(shape))) + kw["label_smoothing"] * 2.0
    got = run(b, lambda t, u: getattr(xb, name)(t, u, **kw), xx, labels)
    ref_kw = {k: (host(b, v) if k in ("weights", "class_weights") else v) for k, v in kw.items()}
    want = _oracles.closed_form(name, x64, host(b, labels) if y is None else y, **ref_kw)
    if reduction == "mean":
        den = float(np.sum(_oracles.closed_form(name, x64, host(b, labels) if y is None else y,
                                                **{**ref_kw, "reduction": "sum"})) / want) if want else 1.0
    else:
        den = float(np.prod(row_shape(shape, axis)))
    row = softmax_row_scale(x64, q, axis, kw.get("z_loss", 0.0))
    atol = tolerance(compute_name(dtype), 32) * reduce_scale(row, w, reduction, abs(den))
    assert_within(got, want, atol, tolerance(dtype, 2), f"{name} {dtype} {reduction}")


@property_test(40, 12)
def test_sigmoid_losses_agree_with_the_float64_closed_form(bname, data):
    b = get_backend(bname)
    shape, _ = data.draw(shapes())
    dtype = data.draw(st.sampled_from(DTYPES[bname]))
    xx = b.asarray(float_array(data.draw, shape, -50.0, 50.0), dtype)
    zz = b.asarray(float_array(data.draw, shape, 0.0, 1.0), dtype)
    x64, z64 = host(b, xx), host(b, zz)
    name = data.draw(st.sampled_from(["sigmoid_cross_entropy", "sigmoid_focal_loss"]))
    kw: dict = {}
    if name == "sigmoid_cross_entropy":
        kw["label_smoothing"] = data.draw(st.sampled_from([0.0, 0.1]))
        if data.draw(st.booleans()):
            kw["pos_weight"] = b.asarray(grid_array(data.draw, shape[-1:], 0, 32, 8), dtype)
    else:
        kw["gamma"] = data.draw(st.sampled_from([0.0, 0.5, 2.0]))
        kw["alpha"] = data.draw(st.sampled_from([None, 0.25]))
    got = run(b, lambda t, u: getattr(xb, name)(t, u, **kw), xx, zz)
    want = _oracles.closed_form(name, x64, z64, **{k: (host(b, v) if k == "pos_weight" else v) for k, v in kw.items()})
    pw = host(b, kw["pos_weight"]) if "pos_weight" in kw else 1.0
    # terms of size |x|·(1 + pw) are formed in the compute dtype; the result is rounded once
    atol = tolerance(compute_name(dtype), 16) * (np.abs(x64) + 1.0) * (1.0 + pw)
    assert_within(got, want, atol, tolerance(dtype, 2), f"{name} {dtype}")


# ------------------------------------------------------------------ 7. gradients


def autodiff_grad(b: Backend, fn, x: Any, cot: np.ndarray) -> np.ndarray:
    """d/dx Σ cot·fn(x) by the framework's autodiff (float64; JAX compiled)."""
    return host(b, grad_of(b, fn, x, b.asarray(cot, "float64"), jit=True)[1])


@property_test(25, 10, AD_BACKENDS)
def test_autodiff_gradients_equal_finite_differences_of_the_closed_form(bname, data):
    b = get_backend(bname)
    shape, axis = data.draw(shapes(min_classes=2, max_classes=4))
    C = shape[axis]
    x = float_array(data.draw, shape, -6.0, 6.0)
    name = data.draw(st.sampled_from([
        "softmax_cross_entropy", "sparse_softmax_cross_entropy", "softmax_focal_loss",
        "sigmoid_cross_entropy", "sigmoid_focal_loss",
    ]))
    wrt = "logits"
    if name in ("sparse_softmax_cross_entropy", "softmax_focal_loss"):
        labels_np = grid_array(data.draw, row_shape(shape, axis), 0, C - 1, 1).astype(np.int64)
        labels = ints(b, labels_np)
    else:
        labels_np = float_array(data.draw, shape, 0.0, 1.0)
        labels = b.asarray(labels_np, "float64")
        wrt = data.draw(st.sampled_from(["logits", "labels"]))
    kw: dict = {}
    if name.startswith(("softmax", "sparse")):
        kw["axis"] = axis
    if name in ("softmax_cross_entropy", "sparse_softmax_cross_entropy"):
        kw["label_smoothing"] = data.draw(st.sampled_from([0.0, 0.2]))
        kw["z_loss"] = data.draw(st.sampled_from([0.0, 0.05]))
    if name.endswith("focal_loss"):
        kw["gamma"] = data.draw(st.sampled_from([0.0, 0.5, 2.0]))
    if name == "sigmoid_cross_entropy" and data.draw(st.booleans()):
        kw["pos_weight"] = 1.5
    out_shape = shape if name.startswith("sigmoid") else row_shape(shape, axis)
    cot = float_array(data.draw, out_shape, -2.0, 2.0)
    fn_name = getattr(xb, name)
    xx = b.asarray(x, "float64")
    if wrt == "logits":
        got = autodiff_grad(b, lambda t: fn_name(t, labels, **kw), xx, cot)
    else:
        got = autodiff_grad(b, lambda t: fn_name(xx, t, **kw), labels, cot)
    want = _oracles.closed_form_grad(name, x, labels_np, wrt=wrt, cotangent=cot, **kw)
    scale = np.max(np.abs(want)) + np.max(np.abs(cot)) * (np.max(np.abs(x)) + 1.0)
    np.testing.assert_allclose(got, want, rtol=_oracles.FD_RTOL, atol=_oracles.FD_RTOL * scale,
                               err_msg=f"{name} d/d{wrt} {kw}")


# ------------------------------------------------------------------ 8. chunked path


@property_test(30, 8)
def test_chunked_and_unchunked_softmax_paths_agree(bname, data):
    b = get_backend(bname)
    shape, axis = data.draw(shapes())
    dtype = data.draw(st.sampled_from(DTYPES[bname]))
    C = shape[axis]
    rows = int(np.prod(row_shape(shape, axis)))
    chunk = data.draw(st.integers(1, max(1, rows)))
    x = float_array(data.draw, shape, -30.0, 30.0)
    sparse = data.draw(st.booleans())
    kw: dict = {"axis": axis, "reduction": data.draw(st.sampled_from(REDUCTIONS))}
    kw["label_smoothing"] = data.draw(st.sampled_from([0.0, 0.1]))
    if data.draw(st.booleans()):
        kw["class_weights"] = b.asarray(class_vector(data.draw, C), dtype)
    if data.draw(st.booleans()):
        cls = np.asarray(data.draw(st.lists(st.booleans(), min_size=C, max_size=C)))
        kw["where"] = b.asarray(_along(cls, axis, len(shape)))
    if sparse:
        y = grid_array(data.draw, row_shape(shape, axis), -1, C, 1).astype(np.int64)  # bad labels too
        labels = ints(b, y)
        kw["ignore_index"] = -1
        fn = xb.sparse_softmax_cross_entropy
    else:
        labels = b.asarray(grid_array(data.draw, shape, 0, 16, 16), dtype)
        fn = xb.softmax_cross_entropy
    xx = b.asarray(x, dtype)
    whole = run(b, lambda t, u: fn(t, u, chunk_size=None, **kw), xx, labels)
    blocks = run(b, lambda t, u: fn(t, u, chunk_size=chunk, **kw), xx, labels)
    # the same kernel on each row: only the order of the reductions may differ
    atol = tolerance(compute_name(dtype), 8) * (np.abs(whole) + 1.0)
    assert_within(blocks, whole, atol, tolerance(dtype, 1), f"{dtype} chunk={chunk} {kw}")
    if bname in AD_BACKENDS and dtype in ("float64", "float32"):
        cot = np.ones(whole.shape)
        g_whole = autodiff_grad(b, lambda t: fn(t, labels, chunk_size=None, **kw), xx, cot)
        g_blocks = autodiff_grad(b, lambda t: fn(t, labels, chunk_size=chunk, **kw), xx, cot)
        assert_within(g_blocks, g_whole, tolerance(dtype, 8) * (np.abs(g_whole) + 1.0), 0.0, "gradient")
