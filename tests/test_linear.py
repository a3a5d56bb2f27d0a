"""``linear_cross_entropy``: the LM-head loss without the ``(N, V)`` logits.

Spec: ``linear_cross_entropy(h, W, y, bias=b, **options)`` equals
``sparse_softmax_cross_entropy(cap(h @ W.T + b), y, **options)`` -- the oracle on the
materialised logits -- in value and in the gradients of ``h``, ``W`` and ``b``, for
every option, every block size (1 column, a size that does not divide V, V itself,
``"auto"``, None), on every backend and dtype; the frameworks' own natives
(``F.cross_entropy(F.linear(...))``, optax on ``h @ W.T + b``) agree; the logits never
exist in full (JAX's compiled temporaries stay a block's size and do not grow with V).
"""

from __future__ import annotations

import numpy as np
import pytest

import xbackend as xb
from tests import conformance as cf
from tests.backends import ALL, require
from xbackend.testing import EPS, to_numpy

D, V = 5, 13
LEAD = (2, 5)  # hidden (2, 5, D): 10 rows, leading axes kept in the result


def _data(seed=0, scale=1.5):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(*LEAD, D)) * scale
    W = rng.normal(size=(V, D))
    b = rng.normal(size=V)
    y = rng.integers(0, V, LEAD)
    y[0, 3] = -100  # ignored when ignore_index=-100
    return dict(h=h, W=W, b=b, y=y, cw=rng.uniform(0.3, 2.0, V), w=rng.uniform(0.1, 1.0, LEAD))


CASES = {
    "plain": {},
    "all-options": {"ignore_index": -100, "class_weights": "cw", "weights": "w", "label_smoothing": 0.1, "z_loss": 0.01},
    "softcap": {"softcap": 4.0, "z_loss": 1e-3, "label_smoothing": 0.05, "ignore_index": -100},
}  # fmt: skip


def _options(case, d, asarray):
    return {k: (asarray(d[v]) if isinstance(v, str) else v) for k, v in CASES[case].items()}


def _naive_logits(h, W, b, softcap):
    z = h @ W.T + b
    return z if softcap is None else softcap * np.tanh(z / softcap)


def oracle(d, case, reduction, labels=None):
    """float64 ``sparse_softmax_cross_entropy`` of the materialised logits (NumPy)."""
    opts = _options(case, d, np.asarray)
    cap = opts.pop("softcap", None)
    x = _naive_logits(d["h"], d["W"], d["b"], cap)
    return xb.sparse_softmax_cross_entropy(x, d["y"] if labels is None else labels, reduction=reduction, **opts)


def _rounded(d, backend, dtype):
    """The data rounded to ``dtype`` (so that the float64 oracle sees the same inputs)."""
    out = dict(d)
    for k in ("h", "W", "b"):
        out[k] = backend.to_numpy(backend.asarray(d[k], dtype)).astype(np.float64)
    return out


def _call(backend, d, case, reduction, chunk_size, dtype="float64", **extra):
    opts = _options(case, d, backend.asarray)
    a = {k: backend.asarray(d[k], dtype) for k in ("h", "W", "b")}
    return xb.linear_cross_entropy(
        a["h"], a["W"], backend.asarray(d["y"]), bias=a["b"], reduction=reduction, chunk_size=chunk_size, **opts, **extra
    )


# ------------------------------------------------------------------------ values


CHUNKS = (1, 4, "auto")


def _cells(dtypes_of, backends=ALL):
    """pytest params ``(backend, dtype, case, chunk_size)``: every case × block size on
    every backend, in every dtype ``dtypes_of(backend)`` where the conformance matrix runs
    the full product; on its "calls" backends (JAX: each eager call compiles; Dask) one
    dtype per (case, block size), rotating, so every dtype still runs there
    (``XBACKEND_FULL_MATRIX=1``: the product everywhere)."""
    out = []
    for b in backends:
        dts = dtypes_of(b)
        for i, (case, chunk) in enumerate((c, k) for c in CASES for k in CHUNKS):
            for dt in dts if cf.level(b) != "calls" else (dts[i % len(dts)],):
                out.append(pytest.param(b.name, dt, case, chunk, id=f"{b.name}-{dt}-{case}-{chunk}"))
    return out


@pytest.mark.parametrize(("bname", "dtype", "case", "chunk_size"), _cells(lambda b: b.dtypes))
def test_values_equal_sparse_loss_of_materialised_logits(bname, dtype, case, chunk_size):
    """Every backend and dtype, unreduced and mean: the float64 oracle on the same
    (rounded) inputs, within the dtype's tolerance; float16/bfloat16 no further from it
    than the naive composition in that dtype (matmul + xbackend's sparse loss)."""
    backend = cf.use_backend(bname)
    d = _rounded(_data(), backend, dtype)
    if "ignore_index" not in CASES[case]:
        d["y"] = np.abs(d["y"]) % V  # every label valid (bad labels: test_bad_labels_give_nan_rows_or_raise)
    for reduction in ("none", "mean"):
        got = _call(backend, d, case, reduction, chunk_size, dtype)
        assert got.dtype == backend.dtype(dtype)
        got = backend.to_numpy(got).astype(np.float64)
        want = oracle(d, case, reduction)
        assert got.shape == want.shape == (LEAD if reduction == "none" else ())
        scale = float(np.max(np.abs(want))) + 1.0
        if dtype in ("float64", "float32"):
            np.testing.assert_allclose(got, want, rtol=64 * EPS[dtype], atol=64 * EPS[dtype] * scale)
        else:
            opts = _options(case, d, lambda a: backend.asarray(a, dtype) if a.dtype.kind == "f" else backend.asarray(a))
            cap = opts.pop("softcap", None)
            xp = backend.xp()
            h, W, b = (backend.asarray(d[k], dtype) for k in ("h", "W", "b"))
            z = xp.matmul(h, xp.matrix_transpose(W)) + b
            z = z if cap is None else cap * xp.tanh(z / cap)
            naive = backend.to_numpy(
                xb.sparse_softmax_cross_entropy(z, backend.asarray(d["y"]), reduction=reduction, **opts)
            ).astype(np.float64)
            err, naive_err = np.max(np.abs(got - want)), np.max(np.abs(naive - want))
            assert err <= 2 * naive_err + 4 * EPS[dtype] * scale, (err, naive_err)


def test_every_block_size_gives_the_same_values():
    """NumPy float64: columns per block 1..V+1 (most do not divide V), None and "auto";
    10 rows. Every reduction."""
    d = _data()
    for reduction in ("none", "mean", "sum", "sum_over_batch_size"):
        want = oracle(d, "all-options", reduction)
        for cs in [*range(1, V + 2), None, "auto"]:
            got = _call(xb_numpy(), d, "all-options", reduction, cs)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=f"chunk_size={cs}")


def xb_numpy():
    from tests.backends import BY_NAME

    return BY_NAME["numpy"]


def test_rows_in_blocks_when_n_is_large(monkeypatch):
    """Several row blocks (N not divisible by the rows per block), and vocabulary blocks
    inside them: forcing a 3-row block budget gives the same values."""
    from xbackend._lib import _linear

    monkeypatch.setattr(_linear, "AUTO_BLOCK_BYTES", 3 * 4 * 8)  # 3 rows of 4 float64 columns
    d = _data()
    st = _linear.plan(10, V, 8, 4, can_block=True)
    assert st == (3, 4)
    got = _call(xb_numpy(), d, "softcap", "none", 4)
    np.testing.assert_allclose(got, oracle(d, "softcap", "none"), rtol=1e-12, atol=1e-12)


def test_bad_labels_give_nan_rows_or_raise(backend):
    """An out-of-range label makes its row NaN (other rows untouched), or raises under
    invalid="raise" naming the label; ignored rows give 0. It never reaches a gather."""
    d = _data()
    y = d["y"].copy()
    y[1, 2] = V + 3
    y[1, 4] = -7
    d2 = dict(d, y=y)
    got = backend.to_numpy(_call(backend, d2, "plain", "none", 4, ignore_index=-100))
    assert np.isnan(got[1, 2]) and np.isnan(got[1, 4]) and got[0, 3] == 0.0
    ok = np.ones(LEAD, bool)
    ok[1, 2] = ok[1, 4] = False
    want = oracle(d2, "plain", "none", labels=np.where(ok, y, 0))
    want[0, 3] = 0.0
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-10, atol=1e-10)
    if backend.lazy:
        with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 13\)"):
            backend.to_numpy(_call(backend, d2, "plain", "none", 4, invalid="raise", ignore_index=-100))
    else:
        with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 13\).*got 16"):
            _call(backend, d2, "plain", "none", 4, invalid="raise", ignore_index=-100)


def test_extreme_finite_logits_do_not_overflow():
    """Logits of ±3e4 (float32): the online log-sum-exp over blocks keeps the float32
    result within float32 tolerance of the float64 oracle."""
    d = _rounded(_data(scale=3e3), xb_numpy(), "float32")
    d["y"] = np.abs(d["y"]) % V
    want = oracle(d, "plain", "none")
    assert np.max(np.abs(_naive_logits(d["h"], d["W"], d["b"], None))) > 1e4
    for cs in (1, 4, None):
        got = _call(xb_numpy(), d, "plain", "none", cs, "float32").astype(np.float64)
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.max(np.abs(want)))


def test_empty_batch(backend):
    """No rows: an empty loss, "sum"/"mean" 0."""
    d = _data()
    h = backend.asarray(np.zeros((0, D)))
    y = backend.asarray(np.zeros((0,), np.int64))
    W = backend.asarray(d["W"])
    assert backend.to_numpy(xb.linear_cross_entropy(h, W, y, chunk_size=4)).shape == (0,)
    for reduction in ("sum", "mean"):
        assert backend.to_numpy(xb.linear_cross_entropy(h, W, y, reduction=reduction, chunk_size=4)) == 0.0


# --------------------------------------------------------------------- gradients


def _vjp(backend, fn, arrays, cot):
    """Gradients of ``sum(cot · fn(*arrays))`` w.r.t. every array (NumPy results)."""
    fw = backend.framework
    if fw == "torch":
        import torch

        ts = [a.detach().clone().requires_grad_(True) for a in arrays]
        out = fn(*ts)
        return [to_numpy(g) for g in torch.autograd.grad(out, ts, torch.asarray(cot, dtype=out.dtype))]
    if fw == "jax":
        import jax
        import jax.numpy as jnp

        def scalar(*a):
            out = fn(*a)
            return jnp.sum(out * jnp.asarray(cot, dtype=out.dtype))

        return [to_numpy(g) for g in jax.jit(jax.grad(scalar, argnums=tuple(range(len(arrays)))))(*arrays)]
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(arrays)
        out = fn(*arrays)
        total = tf.reduce_sum(out * tf.constant(cot, dtype=out.dtype))
    return [to_numpy(g) for g in tape.gradient(total, arrays)]


@pytest.mark.parametrize(
    ("bname", "dtype", "case", "chunk_size"),
    _cells(lambda b: ("float64", "float32"), [b for b in ALL if b.autodiff]),
)
def test_gradients_equal_autodiff_of_the_naive_composition(bname, dtype, case, chunk_size):
    """∇h, ∇W, ∇b equal the framework's autodiff through ``sparse_softmax_cross_entropy``
    of the materialised logits, for "none" (a random per-row cotangent: the backward
    pass) and "mean" (the gradients precomputed in the forward)."""
    b_ = cf.use_backend(bname)
    d = _data(1)
    if "ignore_index" not in CASES[case]:
        d["y"] = np.abs(d["y"]) % V  # valid labels (NaN rows: the next test)
    xp = b_.xp()
    for reduction in ("none", "mean"):
        opts = _options(case, d, b_.asarray)
        cap = opts.pop("softcap", None)
        y = b_.asarray(d["y"])

        def ours(h, W, b):
            return xb.linear_cross_entropy(h, W, y, bias=b, reduction=reduction, chunk_size=chunk_size,
                                           softcap=cap, **opts)  # fmt: skip

        def naive(h, W, b):
            z = xp.matmul(h, xp.matrix_transpose(W)) + b
            z = z if cap is None else cap * xp.tanh(z / cap)
            return xb.sparse_softmax_cross_entropy(z, y, reduction=reduction, **opts)

        arrays = [b_.asarray(d[k], dtype) for k in ("h", "W", "b")]
        cot = np.random.default_rng(2).normal(size=LEAD) if reduction == "none" else np.float64(1.7)
        for k, g, want in zip("hWb", _vjp(b_, ours, arrays, cot), _vjp(b_, naive, arrays, cot), strict=False):
            assert g.shape == want.shape
            tol = 64 * EPS[dtype]
            np.testing.assert_allclose(g, want, rtol=tol, atol=tol * (np.max(np.abs(want)) + 1), err_msg=f"grad {k}")


def test_invalid_label_makes_gradients_nan_like_the_naive_loss(ad_backend):
    b_ = ad_backend
    d = _data()
    y = d["y"].copy()
    y[1, 2] = V
    yb = b_.asarray(y)
    arrays = [b_.asarray(d[k]) for k in ("h", "W", "b")]
    gh, gW, gb = _vjp(b_, lambda h, W, b: xb.linear_cross_entropy(h, W, yb, bias=b, ignore_index=-100, chunk_size=4),
                      arrays, np.ones(LEAD))  # fmt: skip
    assert np.all(np.isnan(gh[1, 2])) and np.all(np.isfinite(np.delete(gh.reshape(-1, D), 7, axis=0)))
    assert np.all(np.isnan(gW)) and np.all(np.isnan(gb))  # the NaN row reaches every class, as in the naive loss
    assert np.all(gh[0, 3] == 0.0)  # the ignored row


def test_torch_native_linear_then_cross_entropy():
    """``F.cross_entropy(F.linear(h, W, b), y, ...)`` values and gradients (float64)."""
    torch = require("torch")
    F = torch.nn.functional
    d = _data(3)
    y = torch.asarray(d["y"])
    cw = torch.asarray(d["cw"])
    for red in ("mean", "sum", "none"):
        for ls in (0.0, 0.2):
            ins = [torch.asarray(d[k]).requires_grad_(True) for k in ("h", "W", "b")]
            ref = F.cross_entropy(F.linear(*ins).reshape(-1, V), y.reshape(-1), weight=cw, ignore_index=-100,
                                  label_smoothing=ls, reduction=red)  # fmt: skip
            got = xb.linear_cross_entropy(*ins[:2], y, bias=ins[2], class_weights=cw, ignore_index=-100,
                                          label_smoothing=ls, reduction=red, chunk_size=4)  # fmt: skip
            torch.testing.assert_close(got.reshape(ref.shape), ref, rtol=1e-12, atol=1e-12)
            cot = torch.rand_like(ref)
            for g, w in zip(torch.autograd.grad(got.reshape(ref.shape), ins, cot), torch.autograd.grad(ref, ins, cot), strict=False):
                torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


def test_jax_optax_on_materialised_logits():
    """``optax.softmax_cross_entropy_with_integer_labels(h @ W.T + b, y)``: values and
    ``jax.grad`` of the mean."""
    jax = require("jax")
    import jax.numpy as jnp

    optax = pytest.importorskip("optax", reason="optax not installed")
    d = _data(4)
    y = jnp.asarray(np.clip(d["y"], 0, None))
    h, W, b = (jnp.asarray(d[k], jnp.float32) for k in ("h", "W", "b"))

    def native(h, W, b):
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(h @ W.T + b, y))

    def ours(h, W, b):
        return xb.linear_cross_entropy(h, W, y, bias=b, reduction="mean", chunk_size=4)

    np.testing.assert_allclose(ours(h, W, b), native(h, W, b), rtol=1e-6)
    for g, w in zip(jax.grad(ours, (0, 1, 2))(h, W, b), jax.grad(native, (0, 1, 2))(h, W, b), strict=False):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)


def test_torch_no_grad_and_partial_requires_grad():
    """Under ``no_grad`` only the loss is computed; with only ``weight`` requiring a
    gradient, only ``weight`` gets one (equal to the naive one)."""
    torch = require("torch")
    F = torch.nn.functional
    d = _data()
    h, W = torch.asarray(d["h"]), torch.asarray(d["W"])
    y = torch.asarray(np.clip(d["y"], 0, None))
    with torch.no_grad():
        v = xb.linear_cross_entropy(h, W.requires_grad_(True), y, reduction="mean")
    assert not v.requires_grad
    W.requires_grad_(True)
    (gW,) = torch.autograd.grad(xb.linear_cross_entropy(h, W, y, reduction="mean"), [W])
    (wW,) = torch.autograd.grad(F.cross_entropy(F.linear(h, W).reshape(-1, V), y.reshape(-1)), [W])
    torch.testing.assert_close(gW, wW, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------- compilers


def test_torch_compile_fullgraph_dynamic_batch():
    """``torch.compile(fullgraph=True)`` (a graph break would raise) with a dynamic batch:
    three batch sizes, values and gradients equal to eager."""
    torch = require("torch")
    W = torch.randn(V, D, dtype=torch.float64, requires_grad=True)
    b = torch.randn(V, dtype=torch.float64, requires_grad=True)

    @torch.compile(fullgraph=True)
    def f(h, y):
        return xb.linear_cross_entropy(h, W, y, bias=b, reduction="mean", ignore_index=-100, label_smoothing=0.1)

    for n in (16, 9, 23):
        h = torch.randn(n, D, dtype=torch.float64, requires_grad=True)
        y = torch.randint(0, V, (n,))
        torch._dynamo.mark_dynamic(h, 0)
        torch._dynamo.mark_dynamic(y, 0)
        got = f(h, y)
        want = xb.linear_cross_entropy(h, W, y, bias=b, reduction="mean", ignore_index=-100, label_smoothing=0.1)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        for g, w in zip(torch.autograd.grad(got, (h, W, b)), torch.autograd.grad(want, (h, W, b)), strict=False):
            torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


def test_jax_jit_grad_vmap():
    """``jax.jit(jax.grad)`` and ``jax.vmap`` over a batch of sequences equal the
    per-sequence calls; ``jax.lax.stop_gradient`` inputs give zero gradients."""
    jax = require("jax")
    import jax.numpy as jnp

    d = _data()
    W = jnp.asarray(d["W"], jnp.float32)
    hs = jnp.asarray(d["h"], jnp.float32)  # (2, 5, D): a batch of 2 sequences
    ys = jnp.asarray(np.clip(d["y"], 0, None))

    def loss(h, y):
        return xb.linear_cross_entropy(h, W, y, reduction="mean", chunk_size=4)

    per = jnp.stack([loss(hs[i], ys[i]) for i in range(2)])
    np.testing.assert_allclose(jax.vmap(loss)(hs, ys), per, rtol=1e-6)
    g = jax.jit(jax.vmap(jax.grad(loss)))(hs, ys)
    for i in range(2):
        np.testing.assert_allclose(g[i], jax.grad(loss)(hs[i], ys[i]), rtol=1e-5, atol=1e-7)
    gs = jax.grad(lambda h: loss(jax.lax.stop_gradient(h), ys[0]))(hs[0])
    assert np.all(np.asarray(gs) == 0)


def test_tf_function_xla_gradients():
    """``tf.function(jit_compile=True)`` with a ``tf.Variable`` weight: eager values and
    gradients."""
    tf = require("tensorflow")
    d = _data()
    W = tf.Variable(d["W"])
    b = tf.Variable(d["b"])
    y = tf.constant(np.clip(d["y"], 0, None))
    h = tf.constant(d["h"])

    def step(h):
        with tf.GradientTape() as tape:
            tape.watch(h)
            loss = xb.linear_cross_entropy(h, W, y, bias=b, reduction="mean", chunk_size=4, z_loss=0.01)
        return [loss, *tape.gradient(loss, [h, W, b])]

    for g, w in zip(tf.function(step, jit_compile=True)(h), step(h), strict=False):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-10, atol=1e-12)


# -------------------------------------------------------------------------- memory


def test_jax_compiled_temporaries_are_a_block_not_the_logits():
    """N=512, D=64, V=4096 and 8192, float32, 64 columns per block: the compiled
    forward's temporaries are < 5 % of the N·V logits and do not grow with V; forward +
    backward hold at most one weight-gradient-sized buffer (the weight gradient
    assembled from its blocks) beyond that."""
    jax = require("jax")
    import jax.numpy as jnp

    N, Dm = 512, 64
    extra = []
    for Vm in (4096, 8192):
        h = jnp.ones((N, Dm), jnp.float32)
        W = jnp.ones((Vm, Dm), jnp.float32)
        y = jnp.zeros((N,), jnp.int32)

        def f(h, W):
            return xb.linear_cross_entropy(h, W, y, reduction="mean", chunk_size=64)

        logits = N * Vm * 4
        fwd = jax.jit(f).lower(h, W).compile().memory_analysis().temp_size_in_bytes
        both = jax.jit(jax.value_and_grad(f, (0, 1))).lower(h, W).compile().memory_analysis().temp_size_in_bytes
        naive = jax.jit(jax.value_and_grad(lambda h, W: xb.sparse_softmax_cross_entropy(h @ W.T, y, reduction="mean"), (0, 1)))
        naive_temp = naive.lower(h, W).compile().memory_analysis().temp_size_in_bytes
        assert naive_temp >= logits  # the naive version does hold the logits
        assert fwd < 0.05 * logits, fwd / logits
        assert both - Vm * Dm * 4 < 0.05 * logits, (both - Vm * Dm * 4) / logits
        extra.append((fwd, both - Vm * Dm * 4))
    assert extra[1][0] <= 1.05 * extra[0][0] and extra[1][1] <= 1.05 * extra[0][1], extra


# -------------------------------------------------------------------------- errors


def test_errors_name_the_argument():
    d = _data()
    h, W, y = d["h"], d["W"], d["y"]
    with pytest.raises(ValueError, match=r"weight must have shape \(V, D\)"):
        xb.linear_cross_entropy(h, W[0], y)
    with pytest.raises(ValueError, match=r"kernel\.T"):
        xb.linear_cross_entropy(h, W.T, y)
    with pytest.raises(ValueError, match="bias must have shape \\(13,\\)"):
        xb.linear_cross_entropy(h, W, y, bias=d["b"][:3])
    with pytest.raises(TypeError, match="labels must be integer class indices"):
        xb.linear_cross_entropy(h, W, y.astype(float))
    with pytest.raises(ValueError, match="labels with shape"):
        xb.linear_cross_entropy(h, W, y[0])
    with pytest.raises(TypeError, match="weight must have hidden's dtype"):
        xb.linear_cross_entropy(h, W.astype(np.float32), y)
    with pytest.raises(ValueError, match="chunk_size must be a positive number of vocabulary columns"):
        xb.linear_cross_entropy(h, W, y, chunk_size=0)
    with pytest.raises(ValueError, match="softcap must be a finite number > 0"):
        xb.linear_cross_entropy(h, W, y, softcap=-1.0)
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        xb.linear_cross_entropy(h, W, y, label_smoothing=2.0)


# -------------------------------------------------------------------------- compat


def test_compat_torch_is_a_drop_in_for_linear_then_cross_entropy():
    """``xbackend.compat.torch.linear_cross_entropy(h, W, y, b, weight=..., ...)`` ==
    ``F.cross_entropy(F.linear(h, W, b), y, weight=..., ...)`` with PyTorch's defaults
    (``ignore_index=-100``, ``reduction="mean"``), values and gradients."""
    torch = require("torch")
    from xbackend.compat import torch as xt

    F = torch.nn.functional
    d = _data(5)
    h = torch.asarray(d["h"].reshape(-1, D)).requires_grad_(True)
    W = torch.asarray(d["W"]).requires_grad_(True)
    b = torch.asarray(d["b"]).requires_grad_(True)
    y = torch.asarray(d["y"].reshape(-1))
    cw = torch.asarray(d["cw"])
    for kw in ({}, {"weight": cw, "label_smoothing": 0.1}, {"reduction": "sum"}, {"reduction": "none"}):
        ref = F.cross_entropy(F.linear(h, W, b), y, **kw)
        got = xt.linear_cross_entropy(h, W, y, b, **kw)
        torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
        cot = torch.rand_like(ref)
        for g, w in zip(torch.autograd.grad(got, (h, W, b), cot), torch.autograd.grad(ref, (h, W, b), cot), strict=False):
            torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"input must have shape \(N, D\) or \(D,\)"):
        xt.linear_cross_entropy(torch.asarray(d["h"]), W, torch.asarray(d["y"]))
