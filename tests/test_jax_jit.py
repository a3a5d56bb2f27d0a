"""``jax.jit`` and ``jax.grad`` of every loss and primitive.

One compiled call per loss, each on the option set that exercises the most code (masks,
weights, smoothing, ignore_index, z-loss, per-class alpha), float32, compared with the
float64 closed form of its rounded inputs; the jitted gradient against finite
differences; forward-mode (``jax.jacfwd``/``jax.hessian`` through the custom JVP)
against the analytic Hessian; and ``invalid="raise"``, which needs concrete labels,
fails at trace time with a message saying what to do instead. Kept lean: every jit is
a compile (~0.2 s here).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import xbackend as xb
from tests import conformance as cf
from tests.backends import BY_NAME, require
from xbackend.testing import _oracles, assert_matches_reference, tolerance
from xbackend.testing._tolerance import K_OPS, tolerances, value_scale

jax = require("jax")
import jax.numpy as jnp

#: the richest option set of each loss in tests/conformance.py
GROUPS = {
    "sigmoid_cross_entropy": ("where", "weights"),
    "softmax_cross_entropy": ("class_weights", "weights", "label_smoothing", "z_loss", "where"),
    "sparse_softmax_cross_entropy": ("class_weights", "weights", "ignore_index", "label_smoothing", "z_loss", "where"),
    "sigmoid_focal_loss": ("gamma_half", "alpha"),
    "softmax_focal_loss": ("weights", "alpha_classes"),
    "binary_cross_entropy": ("weights",),
    "categorical_cross_entropy": ("weights",),
}
DTYPE = "float32"


def _jitted(loss: str, call: cf.Call, reduction: str):
    """``jax.jit`` of ``loss`` with the array options as traced arguments, the rest static."""
    arrays = {k: v for k, v in call.options.items() if hasattr(v, "shape")}
    static = {k: v for k, v in call.options.items() if k not in arrays}
    fn = getattr(xb, loss)
    return jax.jit(lambda x, y, arrs: fn(x, y, reduction=reduction, **arrs, **static)), arrays


@pytest.mark.parametrize("loss", list(GROUPS))
def test_jit_value_equals_closed_form(loss):
    b = cf.use_backend("jax")
    spec = GROUPS[loss]
    case = cf.make_case(loss, spec)
    call = cf.to_backend(case, b, DTYPE)
    f, arrays = _jitted(loss, call, "mean")
    out = f(call.x, call.y, arrays)
    ref = _oracles.closed_form(loss, call.x, call.y, reduction="mean", input_dtype=DTYPE, **call.options)
    rtol, atol = tolerances(DTYPE, value_scale(loss, case.x, case.options, "mean"))
    assert_matches_reference(out, ref, like=call.x, rtol=rtol, atol=atol, shape=())


@pytest.mark.parametrize("loss", list(GROUPS))
def test_jit_grad_equals_finite_differences(loss):
    b = cf.use_backend("jax")
    spec = GROUPS[loss]
    case = cf.make_case(loss, spec)
    call = cf.to_backend(case, b, DTYPE)
    f, arrays = _jitted(loss, call, "none")
    cot = call.cotangent
    g = jax.jit(jax.grad(lambda x: jnp.sum(f(x, call.y, arrays) * cot)))(call.x)
    ref, err = _oracles.closed_form_grad(
        loss, call.x, call.y, wrt="logits", cotangent=cot, input_dtype=DTYPE, return_error=True, **call.options
    )
    rtol, atol = tolerances(DTYPE, float(np.max(np.abs(ref))), grad=True)
    assert_matches_reference(g, ref, like=call.x, rtol=rtol, atol=atol + float(np.max(err)))


def test_jit_primitives_equal_closed_form():
    """All six primitives in one compiled function (``where`` traced)."""
    b = BY_NAME["jax"]
    rng = np.random.default_rng(3)
    x = b.asarray(rng.normal(size=(3, 4)) * 3, DTYPE)
    where = b.asarray(rng.uniform(size=(3, 4)) < 0.7, "bool")

    @jax.jit
    def prims(x, where):
        return (
            xb.sigmoid(x),
            xb.log_sigmoid(x),
            xb.softplus(x),
            xb.logsumexp(x, where=where),
            xb.log_softmax(x, axis=0),
            xb.softmax(x, where=where),
        )

    names = ("sigmoid", "log_sigmoid", "softplus", "logsumexp", "log_softmax", "softmax")
    opts = ({}, {}, {}, {"where": where}, {"axis": 0}, {"where": where})
    for out, name, o in zip(prims(x, where), names, opts, strict=False):
        ref = _oracles.closed_form(name, x, **o)
        assert_matches_reference(out, ref, like=x, rtol=tolerance(DTYPE, K_OPS), atol=tolerance(DTYPE, K_OPS) * 16)


def test_hessian_of_softmax_cross_entropy_is_diag_p_minus_ppT():
    """Forward over reverse through the custom JVP: ∇²ℓ = diag(p) − p pᵀ (Σy = 1)."""
    b = BY_NAME["jax"]
    x = b.asarray([0.3, -1.2, 2.0], "float64")
    y = b.asarray([0.2, 0.5, 0.3], "float64")
    h = jax.jit(jax.hessian(lambda x: xb.softmax_cross_entropy(x, y)))(x)
    p = np.exp(_oracles.closed_form("log_softmax", x))
    assert_matches_reference(h, np.diag(p) - np.outer(p, p), like=x, rtol=tolerance("float64", 16), atol=tolerance("float64", 16))


def test_invalid_raise_under_jit_fails_at_trace_time():
    """invalid="raise" needs concrete labels: under jit it raises a clear ValueError."""
    x = jnp.zeros((2, 3))
    y = jnp.asarray([0, 5])
    f = jax.jit(lambda x, y: xb.sparse_softmax_cross_entropy(x, y, invalid="raise"))
    with pytest.raises(ValueError, match="invalid='nan'"):
        f(x, y)


def test_invalid_nan_under_jit_gives_a_nan_row():
    """The default invalid="nan" is jit-safe: the bad row is NaN, the others are exact."""
    x = jnp.asarray([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]], dtype=jnp.float32)
    out = np.asarray(jax.jit(xb.sparse_softmax_cross_entropy)(x, jnp.asarray([2, 7])))
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[0], math.log(1 + math.e**-1 + math.e**-2), rtol=tolerance(DTYPE, 4))


@pytest.mark.parametrize("loss", ["sigmoid_cross_entropy", "softmax_cross_entropy", "sparse_softmax_cross_entropy",
                                  "softmax_focal_loss", "logsumexp"])
def test_an_eager_call_on_jax_arrays_is_one_compiled_program(loss):
    """Like ``jax.nn``'s functions, an xbackend call on JAX arrays runs as one ``jax.jit``
    program (options static, cached per shape) instead of dispatching each operation of
    the generic code on its own; the value is the one of an explicit ``jax.jit``, and the
    same as op-by-op execution (``jax.disable_jit``) within float32 tolerance."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(6, 5)), dtype=jnp.float32)
    y = {"sigmoid_cross_entropy": jnp.asarray(rng.uniform(size=(6, 5)), dtype=jnp.float32),
         "softmax_cross_entropy": jax.nn.softmax(jnp.asarray(rng.normal(size=(6, 5)), dtype=jnp.float32)),
         "sparse_softmax_cross_entropy": jnp.asarray(rng.integers(0, 5, 6)),
         "softmax_focal_loss": jnp.asarray(rng.integers(0, 5, 6)),
         "logsumexp": None}[loss]
    fn = getattr(xb, loss)
    call = (lambda x: fn(x)) if y is None else (lambda x: fn(x, y, reduction="mean"))
    eqns = [e.primitive.name for e in jax.make_jaxpr(call)(x).jaxpr.eqns]
    assert eqns.count("jit") == 1 and not {"exp", "log", "reduce_max", "reduce_sum"} & set(eqns), eqns
    eager = call(x)
    assert bool(jnp.all(eager == jax.jit(call)(x)))
    with jax.disable_jit():
        op_by_op = call(x)
    np.testing.assert_allclose(np.asarray(eager), np.asarray(op_by_op), rtol=tolerance("float32"), atol=1e-6)


def test_invalid_raise_stays_eager_on_jax_arrays():
    """``invalid="raise"`` reads the label values, so it is not put under ``jax.jit``."""
    x = jnp.zeros((2, 3))
    with pytest.raises(ValueError, match=r"got 7 at position \(1,\)"):
        xb.sparse_softmax_cross_entropy(x, jnp.asarray([0, 7]), invalid="raise")
