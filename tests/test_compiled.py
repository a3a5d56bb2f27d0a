"""``xbackend.compiled``: xbackend's own implementation through each framework's compiler.

Compiling is slow on a CPU (Inductor: seconds per graph), so torch gets one real
Inductor compile (the sparse loss, forward and backward) and the graph-break check runs
Dynamo with the ``aot_eager`` backend (forward *and* backward traced, nothing compiled to
machine code). ``jax.jit`` compiles are cheap and cover every loss.
"""

from __future__ import annotations

import numpy as np
import pytest

import xbackend as xb
from tests.backends import require
from xbackend.testing import tolerance

R, C = 6, 10


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(R, C))
    x[1, 3] = -np.inf  # a masked class
    y = rng.integers(0, C, R)
    p = rng.random((R, C))
    z = rng.random((R, C))
    return x, y, p / p.sum(1, keepdims=True), z


LOSSES = {
    "sparse": (xb.sparse_softmax_cross_entropy, 1, {"label_smoothing": 0.1}),
    "softmax": (xb.softmax_cross_entropy, 2, {"z_loss": 0.01}),
    "sigmoid": (xb.sigmoid_cross_entropy, 3, {"label_smoothing": 0.1}),
}


def test_compiled_is_cached_per_function_and_options():
    f = xb.compiled(xb.sparse_softmax_cross_entropy)
    assert xb.compiled(xb.sparse_softmax_cross_entropy) is f
    assert xb.compiled(xb.sparse_softmax_cross_entropy, mode="max-autotune") is not f
    assert xb.compiled()(xb.sparse_softmax_cross_entropy) is f  # decorator form with ()


def test_compiled_runs_numpy_eagerly_with_the_same_values():
    """NumPy has no compiler: the wrapper calls the function as is."""
    x, y, _, _ = _data()
    f = xb.compiled(xb.sparse_softmax_cross_entropy)
    np.testing.assert_array_equal(f(x, y, reduction="mean"), xb.sparse_softmax_cross_entropy(x, y, reduction="mean"))


def test_compiled_rejects_unhashable_static_arguments_and_calls_without_arrays():
    x, y, _, _ = _data()
    f = xb.compiled(xb.sparse_softmax_cross_entropy)
    with pytest.raises(TypeError, match="hashable"):
        f(x, y, reduction=["mean"])
    with pytest.raises(TypeError, match="array"):
        f(1.0, 2.0)


@pytest.mark.parametrize("loss", list(LOSSES))
def test_jax_compiled_equals_eager_values_and_gradients(loss):
    jax = require("jax")
    import jax.numpy as jnp

    fn, which, kw = LOSSES[loss]
    x, *labels = (jnp.asarray(a) for a in _data())
    lab = labels[which - 1]
    cf = xb.compiled(fn)

    def obj(f):
        return lambda a: f(a, lab, reduction="mean", **kw)

    v_c, g_c = jax.value_and_grad(obj(cf))(x)
    v_e, g_e = jax.value_and_grad(obj(fn))(x)
    tol = tolerance("float64", 16)
    np.testing.assert_allclose(float(v_c), float(v_e), rtol=tol)
    np.testing.assert_allclose(np.asarray(g_c), np.asarray(g_e), rtol=tol, atol=1e-15)
    # the specialisation is cached: a second call with other arrays does not rebuild it
    n = len(cf._cache)
    cf(x + 1.0, lab, reduction="mean", **kw)
    assert len(cf._cache) == n


@pytest.mark.parametrize("loss", list(LOSSES))
def test_torch_losses_trace_without_graph_breaks_forward_and_backward(loss):
    """``fullgraph=True`` through Dynamo + AOTAutograd (``aot_eager``): one graph, the
    analytic backward traced, values and gradients equal to eager."""
    torch = require("torch")
    fn, which, kw = LOSSES[loss]
    x, *labels = (torch.tensor(a) for a in _data())
    lab = labels[which - 1]
    torch._dynamo.reset()
    compiled = torch.compile(lambda a: fn(a, lab, reduction="mean", **kw), fullgraph=True, backend="aot_eager")
    xc = x.clone().requires_grad_()
    xe = x.clone().requires_grad_()
    vc, ve = compiled(xc), fn(xe, lab, reduction="mean", **kw)
    vc.backward()
    ve.backward()
    np.testing.assert_allclose(vc.item(), ve.item(), rtol=tolerance("float64", 16))
    np.testing.assert_allclose(xc.grad.numpy(), xe.grad.numpy(), rtol=tolerance("float64", 16), atol=1e-15)


def test_torch_inductor_compile_of_the_sparse_loss_matches_eager():
    """One real Inductor compile (forward + analytic backward) through ``xb.compiled``."""
    torch = require("torch")
    import torch._inductor.config as ic

    ic.compile_threads = 1  # the subprocess compile pool stalls in some sandboxes
    x, y, _, _ = _data()
    x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    cf = xb.compiled(xb.sparse_softmax_cross_entropy)
    xc = x.clone().requires_grad_()
    xe = x.clone().requires_grad_()
    vc = cf(xc, y, reduction="mean", label_smoothing=0.1)
    ve = xb.sparse_softmax_cross_entropy(xe, y, reduction="mean", label_smoothing=0.1)
    vc.backward()
    ve.backward()
    tol = tolerance("float32", 16)
    np.testing.assert_allclose(vc.item(), ve.item(), rtol=tol)
    np.testing.assert_allclose(xc.grad.numpy(), xe.grad.numpy(), rtol=tol, atol=1e-7)
