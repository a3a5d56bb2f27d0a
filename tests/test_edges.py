"""Exact at the edges: xbackend against mathematics (not against the natives).

Closed-form values at ±inf and ±1e9 logits, masked classes (``-inf`` or ``where=False``),
fully masked rows, empty and fully ignored batches, NaN inputs, and tiny losses that a
cancelling formula flushes to 0. Every expected value here is written from the
mathematics (or :func:`xbackend.testing._oracles.closed_form`, which is), never from the code
under test. Where a framework's native loss is known to be wrong at an edge
the test says so and shows the native's number next to the
exact one.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import xbackend as xb
from tests.backends import require
from tests.conformance import Call, autodiff_grad
from xbackend.testing import _oracles, assert_matches_reference, to_numpy, tolerance

INF = np.inf
DTYPES = ("float64", "float32")


def _exact(actual, expected, like, dtype, *, factor=4.0, atol=0.0):
    """A few roundings in ``dtype`` (the values here are O(1) or exact)."""
    assert_matches_reference(actual, np.asarray(expected, dtype=np.float64), like=like, rtol=tolerance(dtype, factor), atol=atol)


def _grad(b, fn, x, y, **opts):
    """d/dx of ``sum(fn(x, y, **opts))`` by ``b``'s autodiff."""
    return autodiff_grad(b, lambda x, y, **o: fn(x, y, reduction="sum", **o), Call(x, y, opts, None), "logits", "sum")


# ----------------------------------------------------------------- sigmoid family


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_cross_entropy_is_exact_at_infinite_logits(backend, dtype):
    """(x, z) = (-inf, 0) -> 0, (+inf, 1) -> 0, (-inf, 1) -> inf, (+inf, 0) -> inf."""
    x = backend.asarray([-INF, INF, -INF, INF], dtype)
    z = backend.asarray([0.0, 1.0, 1.0, 0.0], dtype)
    _exact(xb.sigmoid_cross_entropy(x, z), [0.0, 0.0, INF, INF], x, dtype)


def test_elementwise_losses_of_0d_arrays_are_0d_and_right(backend):
    """A single logit (a 0-d array; on NumPy, operations on it give immutable scalars):
    the elementwise losses equal their closed forms, e.g. softplus(1.5) - 0.25·1.5."""
    x, z = backend.asarray(1.5, "float64"), backend.asarray(0.25, "float64")
    sce = math.log1p(math.exp(1.5)) - 0.25 * 1.5
    p = 1 / (1 + math.exp(-1.5))
    p_t = 0.25 * p + 0.75 * (1 - p)
    focal = sce * (1 - p_t) ** 2  # torchvision's form: gamma=2, no alpha
    bce = -(0.25 * math.log(0.3) + 0.75 * math.log(0.7))
    got = [xb.sigmoid_cross_entropy(x, z), xb.sigmoid_focal_loss(x, z), xb.binary_cross_entropy(backend.asarray(0.3, "float64"), z)]
    for g, want in zip(got, [sce, focal, bce], strict=True):
        assert_matches_reference(g, np.asarray(want), like=x, rtol=tolerance("float64", 8))


def test_sigmoid_cross_entropy_gradient_is_finite_at_infinite_logits(ad_backend):
    """d/dx = σ(x) − z: [0, 0, −1, 1] at the four infinite corners (never NaN)."""
    x = ad_backend.asarray([-INF, INF, -INF, INF], "float32")
    z = ad_backend.asarray([0.0, 1.0, 1.0, 0.0], "float32")
    _exact(_grad(ad_backend, xb.sigmoid_cross_entropy, x, z), [0.0, 0.0, -1.0, 1.0], x, "float32")


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_cross_entropy_at_1e9_logits(backend, dtype):
    """softplus(±1e9) is exact: the loss is |x| on the wrong side and 0 on the right one."""
    x = backend.asarray([1e9, -1e9, 1e9, -1e9], dtype)
    z = backend.asarray([0.0, 1.0, 1.0, 0.0], dtype)
    _exact(xb.sigmoid_cross_entropy(x, z), [1e9, 1e9, 0.0, 0.0], x, dtype)


def test_sigmoid_cross_entropy_gradient_at_1e9_logits(ad_backend):
    x = ad_backend.asarray([1e9, -1e9, 1e9, -1e9], "float32")
    z = ad_backend.asarray([0.0, 1.0, 1.0, 0.0], "float32")
    _exact(_grad(ad_backend, xb.sigmoid_cross_entropy, x, z), [1.0, -1.0, 0.0, 0.0], x, "float32")


#: a logit whose loss log1p(e^x) is tiny but a normal number of the dtype
TINY = {"float64": -40.0, "float32": -30.0, "float16": -9.0, "bfloat16": -30.0}


def test_sigmoid_cross_entropy_keeps_tiny_losses(backend_dtype):
    """No cancellation: x = -30, z = 0 gives log1p(e^-30) = 9.36e-14 in float32, not 0
    (and the mirror x = 30, z = 1); one rounding of the exact value."""
    b, dtype = backend_dtype
    t = TINY[dtype]
    x = b.asarray([t, -t], dtype)
    z = b.asarray([0.0, 1.0], dtype)
    exact = math.log1p(math.exp(t))
    assert exact > 0
    _exact(xb.sigmoid_cross_entropy(x, z), [exact, exact], x, dtype, factor=1.0)


def test_sigmoid_focal_loss_keeps_tiny_losses(backend):
    """The focal loss of a confident, correct prediction keeps its digits (log space):
    x = 20, z = 1, γ = 2: σ(-20)²·log1p(e^-20)."""
    x = backend.asarray([20.0, -20.0], "float32")
    z = backend.asarray([1.0, 0.0], "float32")
    e = math.exp(-20.0)
    exact = (e / (1 + e)) ** 2 * math.log1p(e)
    _exact(xb.sigmoid_focal_loss(x, z, gamma=2.0), [exact, exact], x, "float32")


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_sigmoid_focal_loss_is_finite_at_saturation(ad_backend, gamma):
    """Value and gradient are finite for every γ >= 0 at saturated and infinite logits
    (d/dx of (1-p_t)^γ alone is inf·0 there for γ < 1)."""
    x = ad_backend.asarray([INF, 20.0, -INF, 30.0], "float32")
    z = ad_backend.asarray([1.0, 1.0, 0.0, 1.0], "float32")
    ref = _oracles.closed_form("sigmoid_focal_loss", x, z, gamma=gamma)
    # x = 30 gives a float32 subnormal (8e-40 for γ = 2): backends that flush denormals
    # (XLA, TensorFlow) return 0, so the absolute tolerance is float32's smallest normal.
    _exact(xb.sigmoid_focal_loss(x, z, gamma=gamma), ref, x, "float32", atol=float(np.finfo(np.float32).tiny))
    g = to_numpy(_grad(ad_backend, xb.sigmoid_focal_loss, x, z, gamma=gamma))
    assert np.all(np.isfinite(g)), g
    assert g[0] == 0.0 and g[2] == 0.0  # exactly saturated: zero loss, zero slope


def test_torchvision_focal_formula_is_nan_at_infinite_logits():
    """Native known wrong: torchvision's formula gives NaN values at x = ±inf and NaN
    gradients for γ = 1/2 once σ(x) rounds to 1 (x = 20 in float32); xbackend is finite."""
    torch = require("torch")
    x = torch.tensor([INF, 20.0, -INF, 30.0], requires_grad=True)
    z = torch.tensor([1.0, 1.0, 0.0, 1.0])
    native = _oracles.torchvision_sigmoid_focal_loss(x, z, gamma=0.5)
    assert torch.isnan(native[0]) and torch.isnan(native[2])
    native.sum().backward()
    assert torch.isnan(x.grad).all()
    x2 = x.detach().clone().requires_grad_(True)
    ours = xb.sigmoid_focal_loss(x2, z, gamma=0.5)
    ours.sum().backward()
    assert torch.isfinite(ours).all() and torch.isfinite(x2.grad).all()


@pytest.mark.parametrize(("dtype", "x"), [("float32", -30.0), ("float16", -9.0), ("bfloat16", -9.0)])
def test_torch_bce_with_logits_flushes_tiny_losses(dtype, x):
    """Native known wrong: torch's (1-z)x − log σ(x) form flushes small losses to 0 in
    low precision -- 0 at x = -30 in float32 (exact 9.36e-14) and at x = -9 in float16 and
    bfloat16 (exact 1.234e-4); xbackend keeps them (one rounding of the exact value)."""
    torch = require("torch")
    dt = getattr(torch, dtype)
    xs, zs = torch.tensor([x], dtype=dt), torch.tensor([0.0], dtype=dt)
    native = torch.nn.functional.binary_cross_entropy_with_logits(xs, zs, reduction="none")
    exact = math.log1p(math.exp(x))
    assert float(native[0]) == 0.0
    _exact(xb.sigmoid_cross_entropy(xs, zs), [exact], xs, dtype, factor=1.0)


def test_binary_cross_entropy_from_saturated_probabilities_is_clipped(backend):
    """Why the logits form exists: sigmoid(40) rounds to 1 in float32, so the loss from
    probabilities is stuck at -log(eps) = 15.94 with a zero gradient; from logits it is 40."""
    x = backend.asarray([40.0], "float32")
    z = backend.asarray([0.0], "float32")
    eps = float(np.finfo(np.float32).eps)
    _exact(xb.binary_cross_entropy(xb.sigmoid(x), z), [-math.log(eps)], x, "float32")
    _exact(xb.sigmoid_cross_entropy(x, z), [40.0], x, "float32")


# ------------------------------------------------------------------ softmax family


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_at_1e9_logits(backend, dtype):
    """logits [1e9, 0, -1e9]: the loss of class c is 1e9 - x_c, exactly."""
    x = backend.asarray([[1e9, 0.0, -1e9]] * 3, dtype)
    y = backend.asarray(np.eye(3), dtype)
    _exact(xb.softmax_cross_entropy(x, y), [0.0, 1e9, 2e9], x, dtype)
    _exact(xb.sparse_softmax_cross_entropy(x, backend.asarray([0, 1, 2], "int64")), [0.0, 1e9, 2e9], x, dtype)


def test_softmax_cross_entropy_gradient_at_1e9_logits(ad_backend):
    """d/dx = softmax − onehot = [0, 0, 0], [1, −1, 0], [1, 0, −1] -- exact, no NaN."""
    x = ad_backend.asarray([[1e9, 0.0, -1e9]] * 3, "float32")
    y = ad_backend.asarray([0, 1, 2], "int64")
    want = [[0.0, 0.0, 0.0], [1.0, -1.0, 0.0], [1.0, 0.0, -1.0]]
    _exact(_grad(ad_backend, xb.sparse_softmax_cross_entropy, x, y), want, x, "float32")


@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_label_on_a_minus_inf_logit_contributes_nothing(backend, dtype):
    """0·log 0 = 0: a -inf logit with label 0 adds nothing (value); the loss is that of
    the remaining classes."""
    x = backend.asarray([[0.0, -INF, 1.0]], dtype)
    y = backend.asarray([[0.3, 0.0, 0.7]], dtype)
    lse = math.log(1.0 + math.e)
    _exact(xb.softmax_cross_entropy(x, y), [0.3 * lse + 0.7 * (lse - 1.0)], x, dtype)


def test_zero_label_on_a_minus_inf_logit_has_zero_gradient(ad_backend):
    """... and in gradient: d/dx = softmax·Σy − y = [p0 − 0.3, 0, p2 − 0.7], finite."""
    x = ad_backend.asarray([[0.0, -INF, 1.0]], "float32")
    y = ad_backend.asarray([[0.3, 0.0, 0.7]], "float32")
    p0, p2 = 1 / (1 + math.e), math.e / (1 + math.e)
    # the entries are differences of O(1) terms: absolute float32 accuracy
    want = [[p0 - 0.3, 0.0, p2 - 0.7]]
    _exact(_grad(ad_backend, xb.softmax_cross_entropy, x, y), want, x, "float32", atol=tolerance("float32", 4))


def test_optax_softmax_cross_entropy_is_nan_for_minus_inf_logits():
    """Native known wrong: optax.softmax_cross_entropy gives NaN (0·-inf) where
    optax.safe_softmax_cross_entropy, xbackend and the mathematics give 0.6133."""
    require("jax")
    import jax.numpy as jnp
    import optax

    x = jnp.asarray([[0.0, -INF, 1.0]])
    y = jnp.asarray([[0.3, 0.0, 0.7]])
    exact = _oracles.closed_form("softmax_cross_entropy", x, y)
    assert np.isnan(np.asarray(optax.softmax_cross_entropy(x, y))).all()
    np.testing.assert_allclose(np.asarray(optax.safe_softmax_cross_entropy(x, y)), exact, rtol=tolerance("float64", 4))
    _exact(xb.softmax_cross_entropy(x, y), exact, x, "float64")


def test_torch_probability_cross_entropy_is_nan_for_minus_inf_logits():
    """Native known wrong: torch F.cross_entropy with probability targets is NaN there too."""
    torch = require("torch")
    x = torch.tensor([[0.0, -INF, 1.0]], dtype=torch.float64)
    y = torch.tensor([[0.3, 0.0, 0.7]], dtype=torch.float64)
    assert torch.isnan(torch.nn.functional.cross_entropy(x, y, reduction="none")).all()
    _exact(xb.softmax_cross_entropy(x, y), _oracles.closed_form("softmax_cross_entropy", x, y), x, "float64")


@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "sparse_softmax_cross_entropy"])
def test_masked_class_equals_dropping_the_class(backend, loss):
    """where=False and a -inf logit both mask a class: the loss equals that of the logits
    without the class (label smoothing spreads ε over the K = 3 remaining classes)."""
    rng = np.random.default_rng(7)
    x64 = rng.normal(size=(3, 4))
    keep = np.array([True, False, True, True])
    if loss == "softmax_cross_entropy":
        y64 = np.zeros((3, 4))
        y64[:, keep] = rng.dirichlet(np.ones(3), size=3)
        y_drop = y64[:, keep]
        y, yd = backend.asarray(y64, "float32"), backend.asarray(y_drop, "float32")
    else:
        y64 = np.array([0, 2, 3])
        y, yd = backend.asarray(y64, "int64"), backend.asarray(np.array([0, 1, 2]), "int64")
    x = backend.asarray(x64, "float32")
    where = backend.asarray(np.broadcast_to(keep, (3, 4)).copy(), "bool")
    x_inf = backend.asarray(np.where(keep, x64, -INF), "float32")
    dropped = _oracles.closed_form(loss, backend.asarray(x64[:, keep], "float32"), yd, label_smoothing=0.1)
    fn = getattr(xb, loss)
    _exact(fn(x, y, where=where, label_smoothing=0.1), dropped, x, "float32", atol=tolerance("float32", 8))
    _exact(fn(x_inf, y, label_smoothing=0.1), dropped, x, "float32", atol=tolerance("float32", 8))


@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "sparse_softmax_cross_entropy"])
def test_fully_masked_row_gives_zero_and_leaves_the_mean(backend, loss):
    """A row whose classes are all masked: loss 0 and not counted by "mean"."""
    x64 = np.array([[1.0, 2.0, 3.0], [-INF, -INF, -INF]])
    y64 = np.array([[0.2, 0.3, 0.5], [0.3, 0.3, 0.4]]) if loss == "softmax_cross_entropy" else np.array([2, 0])
    x = backend.asarray(x64, "float32")
    y = backend.asarray(y64, "float32" if y64.dtype.kind == "f" else "int64")
    row0 = float(_oracles.closed_form(loss, x64[:1].astype(np.float32), y64[:1].astype(np.float32) if y64.dtype.kind == "f" else y64[:1])[0])
    fn = getattr(xb, loss)
    _exact(fn(x, y), [row0, 0.0], x, "float32")
    _exact(fn(x, y, reduction="mean"), row0, x, "float32")


def test_fully_masked_row_has_zero_gradient(ad_backend):
    x = ad_backend.asarray([[1.0, 2.0, 3.0], [-INF, -INF, -INF]], "float32")
    y = ad_backend.asarray([[0.2, 0.3, 0.5], [0.3, 0.3, 0.4]], "float32")
    g = to_numpy(_grad(ad_backend, xb.softmax_cross_entropy, x, y))
    assert np.all(g[1] == 0.0) and np.all(np.isfinite(g))


@pytest.mark.parametrize("dtype", DTYPES)
def test_plus_inf_logits_share_the_probability_mass(backend, dtype):
    """softmax([inf, inf, 0]) = [1/2, 1/2, 0] (the limit): loss log 2 for a label on an
    +inf class, +inf for a label on the finite class."""
    x = backend.asarray([[INF, INF, 0.0], [INF, INF, 0.0]], dtype)
    _exact(xb.sparse_softmax_cross_entropy(x, backend.asarray([0, 2], "int64")), [math.log(2), INF], x, dtype)
    y = backend.asarray([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]], dtype)
    _exact(xb.softmax_cross_entropy(x, y), [math.log(2), INF], x, dtype)


def test_label_on_a_masked_class_gives_inf_with_a_finite_gradient(ad_backend):
    """A label on a masked class of a partly masked row: p_y = 0, loss +inf, gradient
    softmax − onehot, finite."""
    x = ad_backend.asarray([[0.0, -INF, 1.0]], "float32")
    y = ad_backend.asarray([1], "int64")
    _exact(xb.sparse_softmax_cross_entropy(x, y), [INF], x, "float32")
    p0, p2 = 1 / (1 + math.e), math.e / (1 + math.e)
    _exact(_grad(ad_backend, xb.sparse_softmax_cross_entropy, x, y), [[p0, -1.0, p2]], x, "float32")


def test_nan_inputs_propagate(backend):
    """NaN is never silently replaced: a NaN logit or label makes its row NaN."""
    x = backend.asarray([[0.0, np.nan, 1.0], [0.0, 1.0, 2.0]], "float32")
    out = to_numpy(xb.sparse_softmax_cross_entropy(x, backend.asarray([0, 1], "int64")))
    assert np.isnan(out[0]) and np.isfinite(out[1])
    y = backend.asarray([[np.nan, 0.5, 0.5], [0.2, 0.3, 0.5]], "float32")
    x2 = backend.asarray([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]], "float32")
    out = to_numpy(xb.softmax_cross_entropy(x2, y))
    assert np.isnan(out[0]) and np.isfinite(out[1])
    xs = backend.asarray([np.nan, 1.0], "float32")
    out = to_numpy(xb.sigmoid_cross_entropy(xs, backend.asarray([0.0, 1.0], "float32")))
    assert np.isnan(out[0]) and np.isfinite(out[1])


def test_empty_and_fully_ignored_batches_reduce_to_zero(backend):
    """"mean" of nothing is 0, never NaN (torch gives NaN for a fully ignored batch)."""
    x = backend.asarray(np.zeros((0, 3)), "float32")
    y = backend.asarray(np.zeros(0, dtype=np.int64), "int64")
    _exact(xb.sparse_softmax_cross_entropy(x, y, reduction="mean"), 0.0, x, "float32")
    x = backend.asarray(np.zeros((2, 3)), "float32")
    y = backend.asarray([-100, -100], "int64")
    _exact(xb.sparse_softmax_cross_entropy(x, y, ignore_index=-100, reduction="mean"), 0.0, x, "float32")


def test_torch_cross_entropy_is_nan_for_a_fully_ignored_batch():
    """Native differs: torch F.cross_entropy(reduction="mean") is 0/0 = NaN when every
    target is ignore_index; xbackend's "mean" of an empty set is 0."""
    torch = require("torch")
    x, y = torch.zeros(2, 3), torch.tensor([-100, -100])
    assert torch.isnan(torch.nn.functional.cross_entropy(x, y))
    assert float(xb.sparse_softmax_cross_entropy(x, y, ignore_index=-100, reduction="mean")) == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_keeps_tiny_losses(backend, dtype):
    """logits [30, 0], label 0: loss log1p(e^-30) = 9.36e-14 (a plain log(Σ exp(x - max))
    gives 0 in float32: 1 + 9e-14 rounds to 1, as in torch and optax). Kept by log1p of
    the non-maximal mass; see tests/test_defects.py for every softmax loss and gradient."""
    x = backend.asarray(np.array([[30.0, 0.0]]), dtype)
    exact = math.log1p(math.exp(-30.0))
    y = backend.asarray(np.array([0]), "int32" if backend.framework == "tensorflow" else "int64")
    _exact(xb.sparse_softmax_cross_entropy(x, y), [exact], x, dtype)
