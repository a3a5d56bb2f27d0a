"""Nothing silently wrong (issue #13): the tests of each item fail on the code before
its fix (next to tests that the fix keeps what worked: one device, ties, Hessians).

* probabilities outside [0, 1] are NaN (``invalid="nan"``) or a ValueError naming the
  first bad value (``invalid="raise"``), never a clipped number;
* negative array-valued ``pos_weight``, ``class_weights`` and ``alpha`` follow the same
  policy (NaN where they apply, or ValueError);
* arrays of one call on two devices are a ValueError naming both devices;
* ``invalid="raise"`` checks values on the arrays' own device (one reduction, one
  scalar transfer), never through NumPy;
* the softmax losses and their gradients are exact below eps·1 at the maximum;
* the compile cache keys static arguments by type and value (``1 == 1.0 == True``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import xbackend as xb
from tests.backends import Backend, require
from xbackend.testing import tolerance
from xbackend.testing._autodiff import grad_of

N, C = 3, 4


def ints(backend: Backend, a) -> object:
    return backend.asarray(np.asarray(a), "int32" if backend.framework == "tensorflow" else "int64")


def floats(backend: Backend, a) -> object:
    return backend.asarray(np.asarray(a, dtype=np.float64), "float64")


def logits_np() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(N, C))


# ------------------------------------------------------------ 10. compile cache key


def test_rejected_float_axis_does_not_poison_later_int_axis_calls_on_eager_jax():
    """Eager JAX calls run through ``xb.compiled``; ``axis=1.0`` is refused, and a later
    ``axis=1`` call (equal and equal-hashing to 1.0) must still compute."""
    require("jax")
    import jax.numpy as jnp

    x, y = jnp.asarray(logits_np()), jnp.asarray([0, 1, 2])
    with pytest.raises(TypeError, match=r"axis must be an int, got float 1.0"):
        xb.sparse_softmax_cross_entropy(x, y, axis=1.0)
    got = xb.sparse_softmax_cross_entropy(x, y, axis=1)
    want = xb.sparse_softmax_cross_entropy(np.asarray(x), np.asarray(y), axis=1)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


def test_rejected_float_axis_does_not_poison_later_int_axis_calls_via_compiled_torch():
    torch = require("torch")

    def loss(x, y, axis):  # a function of our own: a cache of its own
        return xb.sparse_softmax_cross_entropy(x, y, axis=axis)

    f = xb.compiled(loss, dynamic=False)
    x, y = torch.tensor(logits_np()), torch.tensor([0, 1, 2])
    with pytest.raises(Exception, match=r"axis must be an int, got float 1.0|Observed exception"):
        f(x, y, 1.0)
    got = f(x, y, 1)
    want = xb.sparse_softmax_cross_entropy(x.numpy(), y.numpy(), axis=1)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


def test_compiled_cache_keys_bool_and_int_apart():
    """``True == 1``: a static ``True`` and a static ``1`` are two specialisations."""
    seen = []

    def f(x, flag):
        seen.append(type(flag))
        return x

    g = xb.compiled(f)
    g(np.zeros(2), True)
    g(np.zeros(2), 1)
    g(np.zeros(2), (1, True))
    g(np.zeros(2), (1, 1))
    assert seen == [bool, int, tuple, tuple]


# ------------------------------------------------------------------------- 3. devices

#: (loss, keyword of the misplaced array, how to build it from (xp-array maker, device))
_DEVICE_CASES = {
    "sigmoid_cross_entropy": ("float", ["labels", "weights", "where", "pos_weight"]),
    "sigmoid_focal_loss": ("float", ["labels", "weights", "where"]),
    "binary_cross_entropy": ("float", ["labels", "weights"]),
    "softmax_cross_entropy": ("soft", ["labels", "weights", "where", "class_weights"]),
    "categorical_cross_entropy": ("soft", ["labels", "weights"]),
    "sparse_softmax_cross_entropy": ("int", ["labels", "weights", "where", "class_weights"]),
    "softmax_focal_loss": ("int", ["labels", "weights", "alpha"]),
}
_DEVICE_PARAMS = [(f, a) for f, (_, args) in _DEVICE_CASES.items() for a in args]


def _device_call(fn_name: str, arg: str, make, dev_x, dev_other):
    """Call ``fn_name`` with every array on ``dev_x`` except ``arg`` on ``dev_other``.
    ``make(np_array, device)`` builds an array of the framework under test."""
    kind, _ = _DEVICE_CASES[fn_name]
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 0.9, size=(N, C))
    if kind == "int":
        arrays = {"labels": np.array([0, 1, 2]), "weights": np.ones(N)}
    elif kind == "soft":
        arrays = {"labels": np.eye(C)[[0, 1, 2]], "weights": np.ones(N)}
    else:
        arrays = {"labels": np.eye(C)[[0, 1, 2]], "weights": np.ones((N, C))}
    arrays.update(where=np.ones((N, C), dtype=bool), class_weights=np.ones(C), pos_weight=np.ones(C),
                  alpha=np.ones(C))  # fmt: skip
    kw = {arg: make(arrays[arg], dev_other)}
    labels = kw.pop("labels", None)
    if labels is None:
        labels = make(arrays["labels"], dev_x)
    return getattr(xb, fn_name)(make(x, dev_x), labels, **kw)


@pytest.mark.parametrize("fn_name,arg", _DEVICE_PARAMS)
def test_torch_meta_array_next_to_cpu_logits_is_a_valueerror_naming_both_devices(fn_name, arg):
    """Before: labels on ``meta`` were silently read as 0 (an in-place update on ``meta``
    does nothing) or failed deep inside torch."""
    torch = require("torch")
    first = "probs" if fn_name in ("binary_cross_entropy", "categorical_cross_entropy") else "logits"
    with pytest.raises(ValueError, match=rf"two different devices: {arg} is on meta but {first} is on cpu"):
        _device_call(fn_name, arg, lambda a, d: torch.asarray(a, device=d), "cpu", "meta")
    # and the other way round
    with pytest.raises(ValueError, match=rf"{arg} is on cpu but {first} is on meta"):
        _device_call(fn_name, arg, lambda a, d: torch.asarray(a, device=d), "meta", "cpu")


@pytest.mark.parametrize("fn_name,arg", _DEVICE_PARAMS)
def test_array_api_strict_second_device_is_a_valueerror_naming_both_devices(fn_name, arg):
    xs = require("array_api_strict")

    def make(a, d):
        return xs.asarray(a, device=xs.Device(d))

    with pytest.raises(ValueError, match=rf"{arg} is on .*device1.* but .* is on .*CPU_DEVICE"):
        _device_call(fn_name, arg, make, "CPU_DEVICE", "device1")


@pytest.mark.parametrize("fn_name,arg", _DEVICE_PARAMS)
def test_torch_cuda_array_next_to_cpu_logits_is_a_valueerror(fn_name, arg):
    torch = require("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    with pytest.raises(ValueError, match=rf"{arg} is on cuda:0 but .* is on cpu"):
        _device_call(fn_name, arg, lambda a, d: torch.asarray(a, device=d), "cpu", "cuda:0")


@pytest.mark.parametrize("fn_name,arg", _DEVICE_PARAMS)
def test_same_device_arrays_pass_the_device_check(fn_name, arg, backend):
    """Committed JAX arrays on one device, TensorFlow tensors, array-api-strict's second
    device, torch's meta: one device is fine (the result stays there)."""
    fw = backend.framework
    if fw == "array_api_strict":
        import array_api_strict as xs

        def make(a, d):
            return xs.asarray(a, device=xs.Device("device1"))
    elif fw == "jax":
        import jax

        def make(a, d):
            return jax.device_put(np.asarray(a), jax.devices("cpu")[0])  # committed
    else:

        def make(a, d):
            return backend.asarray(a, "int32" if fw == "tensorflow" and a.dtype.kind == "i" else None)

    out = _device_call(fn_name, arg, make, None, None)
    want = (N, C) if _DEVICE_CASES[fn_name][0] == "float" else (N,)
    assert backend.to_numpy(out).shape == want


def test_jax_device_check_is_skipped_for_traced_values():
    require("jax")
    import jax
    import jax.numpy as jnp

    f = jax.jit(lambda x, y, w: xb.sparse_softmax_cross_entropy(x, y, weights=w))
    out = f(jnp.zeros((N, C)), jnp.asarray([0, 1, 2]), jax.device_put(jnp.ones(N), jax.devices()[0]))
    np.testing.assert_allclose(np.asarray(out), np.log(C), rtol=1e-6)


# ------------------------------------------------- 4. invalid="raise" on any device


@pytest.mark.parametrize("fn_name", ["sparse_softmax_cross_entropy", "softmax_focal_loss"])
def test_invalid_raise_checks_labels_on_array_api_strict_second_device(fn_name):
    """Before: the labels went through ``np.asarray``, which array-api-strict refuses for
    its second device (as CuPy and CUDA tensors would be)."""
    xs = require("array_api_strict")
    dev = xs.Device("device1")
    x = xs.asarray(logits_np(), device=dev)
    fn = getattr(xb, fn_name)
    with pytest.raises(ValueError, match=r"got 5 at position \(1,\) \(2 bad label\(s\) in all\)"):
        fn(x, xs.asarray([0, 5, -2], device=dev), invalid="raise")
    with pytest.raises(ValueError, match=r"or ignore_index=-1; got 4 at position \(2,\) \(1 bad"):
        fn(x, xs.asarray([-1, 0, 4], device=dev), invalid="raise", ignore_index=-1)
    out = fn(x, xs.asarray([0, 3, -1], device=dev), invalid="raise", ignore_index=-1)
    assert out.device == dev
    ref = fn(logits_np(), np.array([0, 3, -1]), ignore_index=-1)
    np.testing.assert_array_equal(np.from_dlpack(out.to_device(xs.Device("CPU_DEVICE"))), ref)


def test_invalid_raise_names_the_first_bad_label_of_a_2d_batch(backend):
    """The position is the label's index in the labels array (row-major first)."""
    x = floats(backend, np.zeros((2, 3, C)))
    y = ints(backend, [[0, 1, 2], [3, 9, 7]])
    # Dask checks each chunk when computed (the count is that chunk's)
    # (in whichever chunk is computed first)
    first = r"(9 at position \(1, 1\)|7 at position \(1, 2\)) \(\d+ bad label\(s\) in this chunk\)"
    if not backend.lazy:
        first = r"9 at position \(1, 1\) \(2 bad label\(s\) in all\)"
    with pytest.raises(ValueError, match=rf"got {first}"):
        backend.to_numpy(xb.sparse_softmax_cross_entropy(x, y, invalid="raise"))


def test_invalid_raise_on_torch_meta_labels_is_a_clear_valueerror():
    """``meta`` tensors have no values to check: a ValueError that says so (before: torch's
    "cannot be called on meta tensors" from deep inside a NumPy conversion)."""
    torch = require("torch")
    x = torch.zeros((N, C), device="meta")
    y = torch.zeros(N, dtype=torch.int64, device="meta")
    with pytest.raises(ValueError, match=r"invalid='raise' needs the values of labels, but labels are on torch's meta"):
        xb.sparse_softmax_cross_entropy(x, y, invalid="raise")
    assert xb.sparse_softmax_cross_entropy(x, y).device.type == "meta"  # the default reads no value


# ------------------------------------------ 1. probabilities outside [0, 1] (logits)

nan, inf = float("nan"), float("inf")


def _value_and_grad(backend, fn, x_np):
    from tests.test_faults import value_and_grad

    return value_and_grad(backend, fn, x_np)


def _same(got, want, what):
    from tests.test_faults import assert_same

    assert_same(got, want, what)


def test_binary_cross_entropy_of_probabilities_outside_0_1_is_nan_in_value_and_gradient(backend):
    """Before: ``p = [1.5, -0.5, 3.0]`` (logits passed by mistake) were clipped to
    ``[eps, 1 - eps]`` and gave ``[1.19e-7, 1.19e-7, 15.94]`` (float32)."""
    p = [1.5, -0.5, 3.0, inf, -inf, 0.25, 0.0, 1.0]
    z = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    e = np.finfo(np.float64).eps
    # in range: -z log p - (1 - z) log(1 - p), with 0 and 1 clipped to eps and 1 - eps
    # (zero gradient there); outside: NaN, value and gradient
    want = [nan] * 5 + [-np.log(0.25), -np.log1p(-e), -np.log(1 - e)]
    want_grad = [nan] * 5 + [-1 / 0.25, 0.0, 0.0]
    zz = floats(backend, z)
    v, g = _value_and_grad(backend, lambda x: xb.binary_cross_entropy(x, zz), p)
    _same(v, want, "value")
    if g is not None:
        _same(g, want_grad, "gradient")


def test_categorical_cross_entropy_row_with_a_probability_outside_0_1_is_nan(backend):
    """An element outside [0, 1] is NaN whatever its label (0·NaN is NaN): its row's loss
    is NaN and so is the gradient at that element; other rows are untouched."""
    p = [[0.2, 0.8], [1.2, -0.2], [0.5, 3.0]]
    y = floats(backend, [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    want = [-np.log(0.2), nan, nan]
    want_grad = [[-1 / 0.2, 0.0], [nan, nan], [-1 / 0.5, nan]]
    v, g = _value_and_grad(backend, lambda x: xb.categorical_cross_entropy(x, y), p)
    _same(v, want, "value")
    if g is not None:
        _same(g, want_grad, "gradient")


@pytest.mark.parametrize("fn_name", ["binary_cross_entropy", "categorical_cross_entropy"])
def test_probabilities_outside_0_1_under_invalid_raise_name_the_first_one(backend, fn_name):
    p = floats(backend, [[0.2, 0.8], [0.5, 1.5], [-0.5, 0.1]])
    y = floats(backend, [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    first = r"1.5 at position \(1, 1\) \(2 bad value\(s\) in all\)"
    if backend.lazy:  # Dask: the first bad value of whichever chunk is computed first
        first = r"(1.5 at position \(1, 1\)|-0.5 at position \(2, 0\)) \(1 bad value\(s\) in this chunk\)"
    msg = rf"probs must be probabilities in \[0, 1\]; got {first}"
    with pytest.raises(ValueError, match=msg):
        backend.to_numpy(getattr(xb, fn_name)(p, y, invalid="raise"))
    good = floats(backend, [[0.2, 0.8], [0.5, 1.0], [0.0, 0.1]])
    ref = getattr(xb, fn_name)(backend.to_numpy(good), backend.to_numpy(y))
    got = backend.to_numpy(getattr(xb, fn_name)(good, y, invalid="raise"))
    np.testing.assert_allclose(got, ref, rtol=tolerance("float64", 4))  # a few roundings apart (XLA)


@pytest.mark.parametrize("fn_name", ["binary_cross_entropy", "categorical_cross_entropy"])
def test_invalid_policy_of_probabilities_is_checked(fn_name):
    with pytest.raises(ValueError, match=r"invalid must be one of 'nan', 'raise'; got 'clip'"):
        getattr(xb, fn_name)(np.full((2, 2), 0.5), np.full((2, 2), 0.5), invalid="clip")


def test_compat_torch_binary_cross_entropy_agrees_on_probabilities_outside_0_1():
    torch = require("torch")
    from xbackend.compat import torch as ct

    p = torch.tensor([1.5, -0.5, 0.25], dtype=torch.float64)
    z = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    ours = xb.binary_cross_entropy(p, z).numpy()
    compat = ct.binary_cross_entropy(p, z, reduction="none").numpy()
    np.testing.assert_array_equal(np.isnan(ours), [True, True, False])
    np.testing.assert_array_equal(np.isnan(compat), np.isnan(ours))


# ------------------------------- 2. negative pos_weight / class_weights / alpha arrays


def _softplus(x):
    return np.logaddexp(0.0, x)


def test_negative_array_pos_weight_gives_nan_where_it_applies(backend):
    """Before: ``torch.tensor(-0.5)`` as ``pos_weight`` gave a negative loss (a Python
    ``-0.5`` raised). The policy is now that of bad labels: NaN where it applies."""
    x_np = np.array([[-1.0, 0.5, 2.0], [0.0, -3.0, 1.0]])
    z_np = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    pw_np = np.array([2.0, -0.5, 1.0])
    z, pw = floats(backend, z_np), floats(backend, pw_np)
    want = pw_np * z_np * _softplus(-x_np) + (1 - z_np) * _softplus(x_np)
    sig = 1 / (1 + np.exp(-x_np))
    want_grad = (1 - z_np) * sig - pw_np * z_np * (1 - sig)
    want[:, 1] = nan
    want_grad[:, 1] = nan
    v, g = _value_and_grad(backend, lambda x: xb.sigmoid_cross_entropy(x, z, pos_weight=pw), x_np)
    _same(v, want, "value")
    if g is not None:
        _same(g, want_grad, "gradient")


def test_negative_array_pos_weight_under_invalid_raise_names_it(backend):
    x, z = floats(backend, np.zeros((N, C))), floats(backend, np.ones((N, C)))
    pw = floats(backend, [1.0, 2.0, -0.5, 1.0])
    scope = r"\d+ negative value\(s\) in this chunk" if backend.lazy else r"1 negative value\(s\) in all"
    with pytest.raises(ValueError, match=rf"pos_weight must be >= 0; got -0.5 at position \(2,\) \({scope}\)"):
        backend.to_numpy(xb.sigmoid_cross_entropy(x, z, pos_weight=pw, invalid="raise"))


def _ce_rows(x, q):
    """-Σ_c q_c log softmax(x)_c per row (float64)."""
    lse = np.log(np.exp(x - x.max(axis=1, keepdims=True)).sum(axis=1)) + x.max(axis=1)
    return (q * (lse[:, None] - x)).sum(axis=1)


def test_negative_class_weight_makes_nan_the_soft_label_rows_it_touches(backend):
    x_np = np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0], [0.0, 0.0, 0.0]])
    y_np = np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]])
    cw_np = np.array([2.0, -1.0, 1.0])
    y, cw = floats(backend, y_np), floats(backend, cw_np)
    q = y_np * cw_np
    want = _ce_rows(x_np, q)
    want[1] = nan  # row 1 has label mass on class 1 (weight -1); rows 0 and 2 do not
    p = np.exp(x_np) / np.exp(x_np).sum(axis=1, keepdims=True)
    want_grad = p * q.sum(axis=1, keepdims=True) - q
    want_grad[1] = nan
    for chunk in (None, 1):
        v, g = _value_and_grad(
            backend, lambda x: xb.softmax_cross_entropy(x, y, class_weights=cw, chunk_size=chunk), x_np
        )
        _same(v, want, f"value, chunk_size={chunk}")
        if g is not None:
            _same(g, want_grad, f"gradient, chunk_size={chunk}")


@pytest.mark.parametrize("fn_name,kw", [("sparse_softmax_cross_entropy", "class_weights"), ("softmax_focal_loss", "alpha")])
def test_negative_class_weight_makes_nan_the_rows_labelled_with_it(backend, fn_name, kw):
    x_np = np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0], [0.0, 0.0, 0.0]])
    labels = [0, 1, 2]
    cw = floats(backend, [2.0, -1.0, 1.0])
    y = ints(backend, labels)
    fn = getattr(xb, fn_name)
    opts = {kw: cw} if fn_name == "sparse_softmax_cross_entropy" else {kw: cw, "gamma": 0.0}
    ce = _ce_rows(x_np, np.eye(3)[labels])
    want = np.array([2.0 * ce[0], nan, ce[2]])
    v, g = _value_and_grad(backend, lambda x: fn(x, y, **opts), x_np)
    _same(v, want, "value")
    if g is not None:
        assert np.isnan(g[1]).all() and np.isfinite(g[[0, 2]]).all(), g


@pytest.mark.parametrize("fn_name,kw", [
    ("softmax_cross_entropy", "class_weights"), ("sparse_softmax_cross_entropy", "class_weights"),
    ("softmax_focal_loss", "alpha"),
])  # fmt: skip
def test_negative_class_weights_under_invalid_raise_name_the_first(backend, fn_name, kw):
    x = floats(backend, np.zeros((N, C)))
    y = floats(backend, np.eye(C)[[0, 1, 2]]) if fn_name == "softmax_cross_entropy" else ints(backend, [0, 1, 2])
    cw = floats(backend, [1.0, -2.0, 1.0, -1.0])
    first = r"-2.0 at position \(1,\) \(2 negative value\(s\) in all\)"
    if backend.lazy:  # Dask: the first bad value of whichever chunk is computed first
        first = r"(-2.0 at position \(1,\)|-1.0 at position \(3,\)) \(1 negative value\(s\) in this chunk\)"
    with pytest.raises(ValueError, match=rf"{kw} must be >= 0; got {first}"):
        backend.to_numpy(getattr(xb, fn_name)(x, y, invalid="raise", **{kw: cw}))


# --------------------------- 5. the softmax family is exact below eps·1 at the maximum
#
# Exact values from the mathematics, in float64 (not from the code under test): for the
# row [t, 0] with the label on the maximum t, p = 1/(1 + r) with r = e^-t, so
#   loss     = -log p      = log1p(r)
#   gradient = p - onehot  = [-r/(1+r), r/(1+r)]
# Both are below eps·1 at t = 30 in float32 (9.36e-14) and t = 37.43 in float64
# (5.55e-17): a log(Σ exp) that adds the maximum's 1 to r rounds them to 0.

TINY = [("float32", 30.0), ("float32", 17.0), ("float64", 37.43)]
TINY_IDS = [f"{d}-{t}" for d, t in TINY]
SOFTMAX_LOSSES = ["sparse", "soft", "focal_gamma0", "focal_gamma2"]


def _tiny_call(backend, loss, x, chunk_size):
    """``loss`` of the row ``x`` (shape (1, C)) with its label on class 0."""
    xp = xb.array_namespace(x)
    if loss == "sparse":
        return xb.sparse_softmax_cross_entropy(x, ints(backend, [0]), chunk_size=chunk_size)
    if loss == "soft":
        y = xp.astype(floats(backend, np.eye(x.shape[1])[[0]]), x.dtype)
        return xb.softmax_cross_entropy(x, y, chunk_size=chunk_size)
    gamma = 0.0 if loss == "focal_gamma0" else 2.0  # (the focal loss has no chunked path)
    return xb.softmax_focal_loss(x, ints(backend, [0]), gamma=gamma)


def _tiny_exact(loss, t):
    """(loss, gradient) of the row [t, 0], label 0, in float64 from the formulas above;
    the focal loss (1 - p)^γ·(-log p) with 1 - p = r/(1+r) and its gradient
    F·(p - onehot), F = (1-p)^γ·(1 - γ·p·log p/(1-p))."""
    r = math.exp(-t)
    ce, u = math.log1p(r), r / (1 + r)  # -log p, 1 - p
    grad = np.array([-u, u])
    if loss != "focal_gamma2":
        return ce, grad
    F = u**2 * (1 + 2 * (1 - u) * ce / u)
    return u**2 * ce, F * grad


def _normal(loss, dtype, t):
    """Skip the cells whose exact value is subnormal in ``dtype`` (focal γ=2 at float32
    t = 30: ~1e-39, no relative digits to check)."""
    value, grad = _tiny_exact(loss, t)
    if min(abs(value), *np.abs(grad)) < np.finfo(dtype).smallest_normal:
        pytest.skip(f"{loss} at t={t}: the exact value is subnormal in {dtype}")


@pytest.mark.parametrize("dtype,t", TINY, ids=TINY_IDS)
@pytest.mark.parametrize("loss", SOFTMAX_LOSSES)
@pytest.mark.parametrize("chunk_size", [None, 1], ids=["plain", "chunked"])
def test_softmax_losses_keep_values_below_eps_at_the_maximum(backend, loss, dtype, t, chunk_size):
    """Before: 0 (float32 [30, 0], label 0: exact 9.36e-14)."""
    if dtype not in backend.dtypes:
        pytest.skip(f"{backend.name} has no {dtype} in the matrix")
    _normal(loss, dtype, t)
    x = backend.asarray(np.array([[t, 0.0]]), dtype)
    got = np.asarray(backend.to_numpy(_tiny_call(backend, loss, x, chunk_size)), dtype=np.float64)
    exact, _ = _tiny_exact(loss, t)
    if loss != "focal_gamma2":
        assert 0 < exact < np.finfo(dtype).eps  # the edge: below eps·1
    np.testing.assert_allclose(got, [exact], rtol=tolerance(dtype, 4), atol=0)


@pytest.mark.parametrize("dtype,t", TINY, ids=TINY_IDS)
@pytest.mark.parametrize("loss", SOFTMAX_LOSSES)
@pytest.mark.parametrize("chunk_size", [None, 1], ids=["plain", "chunked"])
def test_softmax_gradients_keep_values_below_eps_at_the_maximum(ad_backend, loss, dtype, t, chunk_size):
    """Before: the gradient at the maximum was ``p - 1 = 0`` (float64 [37.43, 0], soft
    label [1, 0] gave ``[0, 5.55e-17]``, exact ``[-5.55e-17, 5.55e-17]``)."""
    b = ad_backend
    _normal(loss, dtype, t)
    x = b.asarray(np.array([[t, 0.0]]), dtype)
    g = _grad_sum(b, lambda v: _tiny_call(b, loss, v, chunk_size), x)
    _, exact = _tiny_exact(loss, t)
    np.testing.assert_allclose(g.ravel(), exact, rtol=tolerance(dtype, 4), atol=0)


def _grad_sum(b, fn, x):
    """d sum(fn(x)) / dx by the backend's autodiff (the toolkit's driver), as float64 NumPy."""
    return np.asarray(b.to_numpy(grad_of(b, fn, x)[1]), dtype=np.float64)


@pytest.mark.parametrize("loss", ["sparse", "soft"])
@pytest.mark.parametrize("chunk_size", [None, 1], ids=["plain", "chunked"])
def test_tied_maxima_count_in_the_exact_edge(backend, loss, chunk_size):
    """Row [t, t, 0], label on class 0: p = 1/(2 + r), loss log 2 + log1p(r/2), the two
    tied classes share the mass (the first maximum is not special)."""
    t = 37.43
    x = floats(backend, [[t, t, 0.0]])
    r = math.exp(-t)
    got = backend.to_numpy(_tiny_call(backend, loss, x, chunk_size))
    np.testing.assert_allclose(got, [math.log(2.0) + math.log1p(r / 2)], rtol=tolerance("float64", 4))


def test_softmax_hessian_next_to_the_dominant_class():
    """Double backward recomputes the kernel from the logits (the functional path): the
    Hessian of the loss is diag(p) - p pᵀ, the dominant class included."""
    torch = require("torch")
    row = [2.0, 0.5, -1.0]
    x = torch.tensor([row], dtype=torch.float64, requires_grad=True)
    for fn, y in [(xb.sparse_softmax_cross_entropy, torch.tensor([0])),
                  (xb.softmax_cross_entropy, torch.tensor([[0.7, 0.3, 0.0]], dtype=torch.float64))]:  # fmt: skip
        (g,) = torch.autograd.grad(fn(x, y).sum(), x, create_graph=True)
        H = torch.stack([torch.autograd.grad(g[0, i], x, retain_graph=True)[0][0] for i in range(3)])
        p = np.exp(row) / np.exp(row).sum()
        np.testing.assert_allclose(H.numpy(), np.diag(p) - np.outer(p, p), rtol=tolerance("float64", 8), atol=1e-16)


@pytest.mark.parametrize("dtype,t", [("float32", 30.0), ("float64", 37.43)])
def test_log_softmax_of_the_dominant_class_keeps_its_digits(backend, dtype, t):
    """The primitives share the softmax code: log_softmax([t, 0])[0] = -log1p(e^-t)
    (before: 0)."""
    if dtype not in backend.dtypes:
        pytest.skip(f"{backend.name} has no {dtype} in the matrix")
    x = backend.asarray(np.array([[t, 0.0]]), dtype)
    got = np.asarray(backend.to_numpy(xb.log_softmax(x)), dtype=np.float64)
    np.testing.assert_allclose(got, [[-math.log1p(math.exp(-t)), -t - math.log1p(math.exp(-t))]],
                               rtol=tolerance(dtype, 4), atol=0)  # fmt: skip
