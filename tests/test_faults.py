"""Faults: NaN and ±inf in logits, labels and weights; fully masked rows; fully ignored
batches; out-of-range labels under each ``invalid`` policy.

Each case states the value AND the gradient (torch autograd, ``jax.grad``,
``tf.GradientTape``) that the docstrings promise, and checks them on every backend (values)
and every autodiff backend (gradients). Expected numbers come from the mathematics (the
limits named in each case), never from xbackend itself.

Conventions checked here (see the docstrings' Notes):

* NaN anywhere in a row's inputs makes that row's loss and gradient NaN; other rows are
  untouched. NaN is never replaced by a number.
* Softmax losses at ``+inf`` logits take the limit: the ``+inf`` classes share the mass,
  so the value is 0 (label on a ``+inf`` class), ``log k`` (k tied ``+inf`` classes) or
  ``+inf`` (label elsewhere), with the analytic gradient ``softmax - onehot`` (finite).
* A ``-inf`` logit masks its class; a label on a masked class of a partly masked row gives
  ``+inf`` with a finite gradient; a fully masked row gives 0 with gradient 0 and leaves
  the ``"mean"`` denominator.
* Ignored rows give 0 with gradient 0; a fully ignored batch reduces to 0.
* ``invalid="nan"``: an out-of-range label makes its row's loss and gradient NaN.
* The primitives pass no gradient into a ``+inf`` input (autodiff cannot go through an
  infinite value); finite entries get their limit gradient, and NaN stays NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import xbackend as xb
from tests.backends import Backend, require
from xbackend.testing import tolerance
from xbackend.testing._autodiff import grad_of

inf, nan = math.inf, math.nan
LOG2 = math.log(2.0)


# ----------------------------------------------------------------------------- helpers


def ints(backend: Backend, a: Any) -> Any:
    return backend.asarray(np.asarray(a), "int32" if backend.framework == "tensorflow" else "int64")


def value_and_grad(backend: Backend, fn: Callable, x_np: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """``fn(x)`` and the gradient of ``sum(fn(x))`` with respect to ``x`` (float64).

    By the toolkit's driver (:func:`xbackend.testing._autodiff.grad_of`); the gradient is None
    on backends without autodiff (their values are still checked).
    """
    x = backend.asarray(np.asarray(x_np, dtype=np.float64), "float64")
    if not backend.autodiff:
        return backend.to_numpy(fn(x)), None
    value, grad = grad_of(backend, fn, x, jit=True)  # JAX: one compiled program per case
    return backend.to_numpy(value), backend.to_numpy(grad)


def assert_same(got: np.ndarray, want: Any, what: str) -> None:
    """NaN where NaN is expected, the same infinities, and float64-close finite values."""
    want = np.asarray(want, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaN positions\n{got}")
    np.testing.assert_array_equal(got[np.isinf(want)], want[np.isinf(want)], err_msg=f"{what}: infinities\n{got}")
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=tolerance("float64", 16), atol=tolerance("float64", 16),
                               err_msg=f"{what}\n{got}")


def check(backend: Backend, fn: Callable, x: Any, value: Any, grad: Any) -> None:
    v, g = value_and_grad(backend, fn, x)
    assert_same(v, value, "value")
    if g is not None:
        assert_same(g, grad, "gradient")


def softmax_np(row: Any) -> np.ndarray:
    row = np.asarray(row, dtype=np.float64)
    e = np.exp(row - row.max())
    return e / e.sum()


def ce_np(row: Any, label: int) -> float:
    row = np.asarray(row, dtype=np.float64)
    return float(np.log(np.exp(row - row.max()).sum()) + row.max() - row[label])


ONE_HOT = np.eye(3)

# ------------------------------------------------------------------ softmax families

# (logit row, label, loss, gradient of the loss w.r.t. the row): limits from the maths
FINITE = [1.0, 2.0, 3.0]
SOFTMAX_ROWS = {
    "nan_logit": ([nan, 0.0, 0.0], 0, nan, [nan, nan, nan]),
    "+inf_on_label": ([inf, 0.0, 0.0], 0, 0.0, [0.0, 0.0, 0.0]),
    "+inf_elsewhere": ([0.0, inf, 0.0], 0, inf, [-1.0, 1.0, 0.0]),
    "two_+inf_tied": ([inf, inf, 0.0], 0, LOG2, [-0.5, 0.5, 0.0]),
    "label_on_-inf_class": ([-inf, 0.0, 0.0], 0, inf, [-1.0, 0.5, 0.5]),
    "all_-inf_row": ([-inf, -inf, -inf], 1, 0.0, [0.0, 0.0, 0.0]),
    "finite": (FINITE, 2, ce_np(FINITE, 2), list(softmax_np(FINITE) - ONE_HOT[2])),
}


def _softmax_call(kind: str, backend: Backend, labels: list[int], **kw: Any) -> Callable:
    if kind == "sparse":
        y = ints(backend, labels)
        return lambda x: xb.sparse_softmax_cross_entropy(x, y, **kw)
    y = backend.asarray(ONE_HOT[labels], "float64")
    return lambda x: xb.softmax_cross_entropy(x, y, **kw)


@pytest.mark.parametrize("case", sorted(SOFTMAX_ROWS))
@pytest.mark.parametrize("kind", ["sparse", "soft"])
def test_softmax_cross_entropy_at_nan_and_inf_logits(backend, kind, case):
    row, label, value, grad = SOFTMAX_ROWS[case]
    # a finite second row shows that the fault stays in its own row
    x = [row, FINITE]
    fn = _softmax_call(kind, backend, [label, 0])
    check(backend, fn, x, [value, ce_np(FINITE, 0)], [grad, softmax_np(FINITE) - ONE_HOT[0]])


@pytest.mark.parametrize("kind", ["sparse", "soft"])
def test_fully_masked_rows_leave_the_mean(backend, kind):
    """Mean over the rows that have an unmasked class: the all -inf row weighs 0."""
    rows = [[inf, 0.0, 0.0], [inf, inf, 0.0], [-inf, -inf, -inf], FINITE]
    labels = [0, 0, 1, 2]
    fn = _softmax_call(kind, backend, labels, reduction="mean")
    value = (0.0 + LOG2 + ce_np(FINITE, 2)) / 3
    grad = np.array([[0.0, 0.0, 0.0], [-0.5, 0.5, 0.0], [0.0, 0.0, 0.0], softmax_np(FINITE) - ONE_HOT[2]]) / 3
    check(backend, fn, rows, value, grad)


@pytest.mark.parametrize("kind", ["sparse", "soft"])
def test_where_mask_hides_nan_and_inf_logits(backend, kind):
    """A class masked by ``where`` contributes nothing, whatever its logit (even NaN);
    a row masked everywhere gives 0 and gradient 0 and does not count in the mean."""
    mask = backend.asarray(np.array([[False, True, True], [False, False, False]]))
    fn = _softmax_call(kind, backend, [1, 0], where=mask, reduction="none")
    row0 = [0.0, 1.0, 2.0]
    p = softmax_np(row0[1:])
    check(backend, fn, [[nan, 1.0, 2.0], [nan, inf, -inf]],
          [-math.log(p[0]), 0.0], [[0.0, p[0] - 1.0, p[1]], [0.0, 0.0, 0.0]])
    fn_mean = _softmax_call(kind, backend, [1, 0], where=mask, reduction="mean")
    check(backend, fn_mean, [[nan, 1.0, 2.0], [nan, inf, -inf]], -math.log(p[0]),
          [[0.0, p[0] - 1.0, p[1]], [0.0, 0.0, 0.0]])


def test_nan_soft_labels_make_the_row_nan(backend):
    y = backend.asarray(np.array([[nan, 0.5, 0.5], [1.0, 0.0, 0.0]]), "float64")
    fn = lambda x: xb.softmax_cross_entropy(x, y)
    check(backend, fn, [FINITE, FINITE], [nan, ce_np(FINITE, 0)], [[nan] * 3, softmax_np(FINITE) - ONE_HOT[0]])


def test_infinite_soft_labels_never_give_a_finite_loss(backend):
    y = backend.asarray(np.array([[inf, 0.0, 0.0], [1.0, 0.0, 0.0]]), "float64")
    v, g = value_and_grad(backend, lambda x: xb.softmax_cross_entropy(x, y), [FINITE, FINITE])
    assert not np.isfinite(v[0]) and np.isfinite(v[1])
    if g is not None:
        assert not np.all(np.isfinite(g[0])) and np.all(np.isfinite(g[1]))


@pytest.mark.parametrize("kind", ["sparse", "soft"])
def test_nan_and_inf_weights_propagate(backend, kind):
    """A NaN weight gives a NaN row (value and gradient); an infinite weight gives an
    infinite loss and a gradient row that is not finite (inf or NaN: inf·p − inf·1)."""
    w = backend.asarray(np.array([nan, 1.0, inf]), "float64")
    fn = _softmax_call(kind, backend, [0, 1, 2], weights=w)
    v, g = value_and_grad(backend, fn, [FINITE] * 3)
    assert_same(v, [nan, ce_np(FINITE, 1), inf], "value")
    if g is not None:
        assert_same(g[:2], [np.full(3, nan), softmax_np(FINITE) - ONE_HOT[1]], "gradient")
        assert not np.any(np.isfinite(g[2])), g
    fn_mean = _softmax_call(kind, backend, [0, 1, 2], weights=w, reduction="mean")
    v, _ = value_and_grad(backend, fn_mean, [FINITE] * 3)
    assert np.isnan(v)


# ------------------------------------------------------------------ integer-label policies


@pytest.mark.parametrize("fn_name", ["sparse_softmax_cross_entropy", "softmax_focal_loss"])
def test_out_of_range_labels_give_nan_rows_and_nan_gradient_rows(backend, fn_name):
    loss = getattr(xb, fn_name)
    y = ints(backend, [0, 3, -1, 1])
    rows = [FINITE] * 4
    v, g = value_and_grad(backend, lambda x: loss(x, y), rows)
    assert np.isnan(v[1]) and np.isnan(v[2]) and np.all(np.isfinite(v[[0, 3]])), v
    if g is not None:
        assert np.all(np.isnan(g[[1, 2]])) and np.all(np.isfinite(g[[0, 3]])), g
    for reduction in ("sum", "mean", "sum_over_batch_size"):
        v, g = value_and_grad(backend, lambda x, r=reduction: loss(x, y, reduction=r), rows)
        assert np.isnan(v), (reduction, v)
        if g is not None:
            assert np.all(np.isnan(g[[1, 2]])) and np.all(np.isfinite(g[[0, 3]])), (reduction, g)


@pytest.mark.parametrize("fn_name", ["sparse_softmax_cross_entropy", "softmax_focal_loss"])
def test_ignored_rows_are_zero_with_zero_gradient_and_bad_labels_still_nan(backend, fn_name):
    loss = getattr(xb, fn_name)
    y = ints(backend, [-100, 0, 7])
    v, g = value_and_grad(backend, lambda x: loss(x, y, ignore_index=-100), [FINITE] * 3)
    assert v[0] == 0.0 and np.isfinite(v[1]) and np.isnan(v[2]), v
    if g is not None:
        assert np.all(g[0] == 0.0) and np.all(np.isfinite(g[1])) and np.all(np.isnan(g[2])), g


@pytest.mark.parametrize("reduction", ["none", "sum", "mean", "sum_over_batch_size"])
@pytest.mark.parametrize("fn_name", ["sparse_softmax_cross_entropy", "softmax_focal_loss"])
def test_fully_ignored_batch_reduces_to_zero_with_zero_gradient(backend, fn_name, reduction):
    loss = getattr(xb, fn_name)
    y = ints(backend, [-100, -100])
    kw: dict = {"ignore_index": -100, "reduction": reduction, "weights": backend.asarray(np.array([2.0, 3.0]), "float64")}
    if fn_name == "sparse_softmax_cross_entropy":
        kw["class_weights"] = backend.asarray(np.array([1.0, 2.0, 3.0]), "float64")
    value = np.zeros(2) if reduction == "none" else 0.0
    check(backend, lambda x: loss(x, y, **kw), [FINITE, [-1.0, 0.0, 5.0]], value, np.zeros((2, 3)))


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_all_masked_batch_reduces_to_zero(backend, reduction):
    """Every row fully masked by ``where``: nothing to average, the mean is 0 (not 0/0)."""
    mask = backend.asarray(np.zeros((2, 3), dtype=bool))
    fn = _softmax_call("sparse", backend, [0, 1], where=mask, reduction=reduction)
    check(backend, fn, [FINITE, FINITE], np.zeros(2) if reduction == "none" else 0.0, np.zeros((2, 3)))


def test_invalid_raise_under_tf_function_is_a_trace_time_error():
    tf = require("tensorflow")

    @tf.function
    def f(x, y):
        return xb.sparse_softmax_cross_entropy(x, y, invalid="raise")

    with pytest.raises(ValueError, match=r"invalid='raise' needs concrete label values"):
        f(tf.zeros((2, 3)), tf.constant([0, 1]))


def test_invalid_raise_is_an_eager_valueerror_and_nan_is_silent_but_visible(backend):
    y = ints(backend, [0, 5])
    x = backend.asarray(np.zeros((2, 3)), "float64")
    with pytest.raises(ValueError, match=r"got 5 at position \(1,\)"):
        backend.to_numpy(xb.sparse_softmax_cross_entropy(x, y, invalid="raise"))
    assert np.isnan(backend.to_numpy(xb.sparse_softmax_cross_entropy(x, y, reduction="mean")))


# ------------------------------------------------------------------ softmax focal


def test_softmax_focal_at_inf_logits_takes_the_limits(backend):
    """gamma=2: label on a +inf class -> 0; on another class -> inf with gradient
    softmax - onehot (F = 1 at p_y = 0); two tied +inf -> (1/2)^2 log 2 with gradient
    F (softmax - onehot), F = (1-p)^γ (1 - γ p log p / (1-p)) at p = 1/2."""
    y = ints(backend, [0, 0, 0, 0])
    fn = lambda x: xb.softmax_focal_loss(x, y, gamma=2.0)
    F = 0.25 * (1.0 + 2.0 * LOG2)
    check(
        backend, fn,
        [[inf, 0.0, 0.0], [0.0, inf, 0.0], [inf, inf, 0.0], [nan, 0.0, 0.0]],
        [0.0, inf, 0.25 * LOG2, nan],
        [[0.0, 0.0, 0.0], [-1.0, 1.0, 0.0], [-0.5 * F, 0.5 * F, 0.0], [nan, nan, nan]],
    )


# ------------------------------------------------------------------ sigmoid family


def test_sigmoid_cross_entropy_edges_value_and_gradient(backend):
    """(x, z): (nan, 1) -> nan; (-inf, 0) -> 0; (+inf, 1) -> 0; (-inf, 1) -> inf, grad -1;
    (+inf, 0) -> inf, grad 1; (+inf, 1/2) -> inf, grad 1/2; (1, nan) -> nan."""
    z = backend.asarray(np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.5, nan]), "float64")
    fn = lambda x: xb.sigmoid_cross_entropy(x, z)
    check(backend, fn, [nan, -inf, inf, -inf, inf, inf, 1.0],
          [nan, 0.0, 0.0, inf, inf, inf, nan], [nan, 0.0, 0.0, -1.0, 1.0, 0.5, nan])


def test_sigmoid_cross_entropy_masked_elements_are_zero_and_leave_the_mean(backend):
    z = backend.asarray(np.array([1.0, 0.0, 0.0]), "float64")
    m = backend.asarray(np.array([False, False, True]))
    sp1 = math.log1p(math.exp(1.0))
    check(backend, lambda x: xb.sigmoid_cross_entropy(x, z, where=m), [nan, inf, 1.0],
          [0.0, 0.0, sp1], [0.0, 0.0, 1.0 / (1.0 + math.exp(-1.0))])
    check(backend, lambda x: xb.sigmoid_cross_entropy(x, z, where=m, reduction="mean"), [nan, inf, 1.0],
          sp1, [0.0, 0.0, 1.0 / (1.0 + math.exp(-1.0))])


def test_sigmoid_cross_entropy_nan_and_inf_weights(backend):
    z = backend.asarray(np.array([1.0, 0.0, 1.0]), "float64")
    w = backend.asarray(np.array([nan, 1.0, inf]), "float64")
    s = 1.0 / (1.0 + math.exp(-1.0))
    check(backend, lambda x: xb.sigmoid_cross_entropy(x, z, weights=w), [1.0, 1.0, 1.0],
          [nan, math.log1p(math.exp(1.0)), inf], [nan, s, -inf])


def test_sigmoid_focal_loss_edges(backend):
    """alpha=0.25, gamma=2: the inf cases weigh alpha_t (0.25 for z=1, 0.75 for z=0)."""
    z = backend.asarray(np.array([1.0, 0.0, 1.0, 1.0, 0.0]), "float64")
    fn = lambda x: xb.sigmoid_focal_loss(x, z, alpha=0.25)
    check(backend, fn, [nan, -inf, inf, -inf, inf], [nan, 0.0, 0.0, inf, inf], [nan, 0.0, 0.0, -0.25, 0.75])


def test_binary_cross_entropy_from_nan_probabilities_is_nan_in_value_and_gradient(backend):
    z = backend.asarray(np.array([1.0, 0.0, nan]), "float64")
    fn = lambda p: xb.binary_cross_entropy(p, z)
    check(backend, fn, [nan, 0.25, 0.5], [nan, -math.log(0.75), nan], [nan, 1.0 / 0.75, nan])


def test_categorical_cross_entropy_from_nan_probabilities_is_nan(backend):
    y = backend.asarray(np.array([[1.0, 0.0], [0.0, 1.0]]), "float64")
    fn = lambda p: xb.categorical_cross_entropy(p, y)
    check(backend, fn, [[nan, 0.5], [0.5, 0.5]], [nan, LOG2], [[nan, 0.0], [0.0, -2.0]])


# ------------------------------------------------------------------ primitives


def test_sigmoid_log_sigmoid_softplus_at_nan_and_inf(backend):
    x = [nan, inf, -inf, 0.0]
    check(backend, xb.sigmoid, x, [nan, 1.0, 0.0, 0.5], [nan, 0.0, 0.0, 0.25])
    check(backend, xb.log_sigmoid, x, [nan, 0.0, -inf, -LOG2], [nan, 0.0, 1.0, 0.5])
    check(backend, xb.softplus, x, [nan, inf, 0.0, LOG2], [nan, 1.0, 0.0, 0.5])


def test_logsumexp_at_nan_and_inf(backend):
    """A row with nothing left is -inf with gradient 0; +inf rows are +inf and pass no
    gradient into the +inf entry; finite entries next to a +inf get 0 (their softmax)."""
    rows = [[nan, 0.0], [inf, 0.0], [-inf, -inf], [inf, -inf], [-inf, 0.0], [0.0, 0.0]]
    check(backend, xb.logsumexp, rows, [nan, inf, -inf, inf, 0.0, LOG2],
          [[nan, nan], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.5, 0.5]])


def test_softmax_and_log_softmax_at_nan_and_inf(backend):
    """Weighted sums c·softmax and c·log_softmax, c = (1, 2), so the gradients are not trivially 0:
    d(c·s)/dx = s (c - c·s); d(c·log s)/dx = c - s Σc."""
    c = backend.asarray(np.array([1.0, 2.0]), "float64")
    rows = [[nan, 0.0], [inf, 0.0], [-inf, -inf], [-inf, 0.0], [0.0, 0.0]]
    check(backend, lambda x: xb.softmax(x) * c, rows,
          [[nan, nan], [1.0, 0.0], [0.0, 0.0], [0.0, 2.0], [0.5, 1.0]],
          [[nan, nan], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [-0.25, 0.25]])
    check(backend, lambda x: xb.log_softmax(x) * c, rows,
          [[nan, nan], [0.0, -inf], [-inf, -inf], [-inf, 0.0], [-LOG2, -2 * LOG2]],
          [[nan, nan], [0.0, 2.0], [0.0, 0.0], [1.0, -1.0], [-0.5, 0.5]])


# ------------------------------------------------------------------ the docstrings say so

DOC_TERMS = {
    "sigmoid_cross_entropy": ("NaN", "inf", "where"),
    "sigmoid_focal_loss": ("NaN", "inf", "where"),
    "binary_cross_entropy": ("NaN", "eps"),
    "softmax_cross_entropy": ("NaN", "+inf", "-inf", "fully masked", "where"),
    "sparse_softmax_cross_entropy": ("NaN", "+inf", "-inf", "fully masked", "ignore_index", "invalid"),
    "softmax_focal_loss": ("NaN", "+inf", "-inf", "fully masked", "ignore_index", "invalid"),
    "categorical_cross_entropy": ("NaN", "eps"),
    "logsumexp": ("NaN", "+inf", "-inf", "gradient"),
    "log_softmax": ("NaN", "+inf", "-inf", "gradient"),
    "softmax": ("NaN", "+inf", "-inf", "gradient"),
    "sigmoid": ("NaN", "inf"),
    "log_sigmoid": ("NaN", "inf"),
    "softplus": ("NaN", "inf"),
}


@pytest.mark.parametrize("name", sorted(DOC_TERMS))
def test_docstring_states_the_behaviour_at_faults(name):
    doc = getattr(xb, name).__doc__
    missing = [t for t in DOC_TERMS[name] if t not in doc]
    assert not missing, f"{name}'s docstring does not mention {missing}"


@pytest.mark.parametrize("case", ["label_smoothing=1", "class_weight_0"])
def test_zero_label_mass_on_a_masked_class_gives_zero_like_the_soft_label(backend, case):
    """0·log 0 = 0: a label whose mass is 0 (smoothing 1, or class weight 0) sitting on a
    masked class contributes 0, for integer labels exactly as for their one-hot labels
    (regression: integer labels gave 0·(-inf) = NaN)."""
    mask = backend.asarray(np.array([[False, True, True], [True, True, True]]))
    kw: dict = {"where": mask}
    if case == "label_smoothing=1":
        kw["label_smoothing"] = 1.0
        row0 = math.log(2.0)  # uniform over the 2 unmasked classes with equal logits
        grad0 = [0.0, 0.0, 0.0]
    else:
        kw["class_weights"] = backend.asarray(np.array([0.0, 1.0, 1.0]), "float64")
        row0, grad0 = 0.0, [0.0, 0.0, 0.0]
    x = [[0.0, 1.0, 1.0], FINITE]
    for kind in ("sparse", "soft"):
        fn = _softmax_call(kind, backend, [0, 1], **kw)
        v, g = value_and_grad(backend, fn, x)
        assert_same(v[0], row0, f"{kind} value")
        assert np.isfinite(v[1])
        if g is not None:
            assert_same(g[0], grad0, f"{kind} gradient")
