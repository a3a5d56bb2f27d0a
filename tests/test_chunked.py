"""The chunked path (``chunk_size=``) of the softmax cross-entropies.

Row blocks must not change a single number: every option of
``softmax_cross_entropy`` and ``sparse_softmax_cross_entropy`` (class weights, label
smoothing, z-loss, ``where``, ``ignore_index``, invalid labels, weights, every
reduction, a class axis that is not last, ``±inf``/NaN logits) gives the unchunked
values on every backend, and the unchunked gradients (and torch double backward) on the
autodiff backends. On torch the blocks bound the memory: forward + backward of
bfloat16 logits holds the gradient plus a few blocks -- no float32 copy -- which the
profiler's allocation trace shows.
"""

from __future__ import annotations

import numpy as np
import pytest

import xbackend as xb
from tests.backends import require
from xbackend._lib import _chunked
from xbackend.testing import tolerance

SHAPES = [((9, 6), -1), ((5, 3, 4), 1)]  # (shape, class axis)


def _data(shape, axis, seed=0):
    rng = np.random.default_rng(seed)
    ax = axis % len(shape)
    C = shape[ax]
    x = rng.normal(size=shape) * 3
    rows = np.moveaxis(x, ax, -1).reshape(-1, C)  # a copy: edit rows, then put them back
    rows[0, 1] = np.inf
    rows[1, 2] = -np.inf
    rows[2, :] = -np.inf  # a fully masked row
    rows[3, 0] = np.nan
    rows[4, :2] = np.inf
    x = np.moveaxis(rows.reshape(np.moveaxis(x, ax, -1).shape), -1, ax).copy()
    lshape = shape[:ax] + shape[ax + 1 :]
    y = rng.integers(0, C, lshape)
    y.flat[5] = C + 3  # invalid: NaN row
    y.flat[6] = -100  # ignored
    p = rng.random(shape)
    p /= p.sum(ax, keepdims=True)
    mask = rng.random(shape) > 0.2
    return dict(x=x, y=y, p=p, mask=mask, cw=rng.random(C) + 0.2, w=rng.random(lshape))


CASES = {
    "sparse": (xb.sparse_softmax_cross_entropy, "y", {"ignore_index": -100}),
    "sparse-all-options": (
        xb.sparse_softmax_cross_entropy, "y",
        {"ignore_index": -100, "label_smoothing": 0.1, "class_weights": "cw", "z_loss": 0.01, "where": "mask", "weights": "w"},
    ),
    "soft": (xb.softmax_cross_entropy, "p", {}),
    "soft-all-options": (
        xb.softmax_cross_entropy, "p",
        {"label_smoothing": 0.2, "class_weights": "cw", "z_loss": 0.01, "where": "mask", "weights": "w"},
    ),
}  # fmt: skip


def _call(backend, case, shape, axis, chunk_size, reduction, x=None, labels=None):
    fn, lab, opts = CASES[case]
    d = _data(shape, axis)
    kw = {k: (backend.asarray(d[v]) if isinstance(v, str) else v) for k, v in opts.items()}
    x = backend.asarray(d["x"]) if x is None else x
    labels = backend.asarray(d[lab]) if labels is None else labels
    return fn(x, labels, axis=axis, reduction=reduction, chunk_size=chunk_size, **kw)


@pytest.mark.parametrize(
    "case,shape,axis,reduction",
    [(c, *SHAPES[0], "none") for c in CASES] + [(c, *SHAPES[1], "mean") for c in CASES if c.endswith("options")],
    ids=lambda v: v if isinstance(v, str) else ("3d" if isinstance(v, tuple) and len(v) == 3 else None),
)  # fmt: skip
def test_chunked_values_equal_unchunked(backend, case, shape, axis, reduction):
    """Blocks of 2 rows (the last one short) give the unchunked values, NaN/inf included."""
    whole = backend.to_numpy(_call(backend, case, shape, axis, None, reduction))
    chunked = _call(backend, case, shape, axis, 2, reduction)
    if backend.lazy:
        assert type(chunked).__module__.startswith("dask"), "the chunked path must stay lazy on Dask"
    np.testing.assert_allclose(backend.to_numpy(chunked), whole, rtol=tolerance("float64", 4), atol=1e-15)


def _grads(backend, case, shape, axis, chunk_size):
    """d(Σ loss·v)/d(logits, float labels) with the backend's autodiff."""
    _fn, lab, _ = CASES[case]
    d = _data(shape, axis)
    x0, l0 = backend.asarray(d["x"]), backend.asarray(d[lab])
    fw = backend.framework
    float_labels = lab == "p"
    v = np.linspace(0.5, 1.5, int(np.prod(d["y"].shape))).reshape(d["y"].shape)
    if fw == "torch":
        torch = backend.module()
        xx = x0.clone().requires_grad_()
        ll = l0.clone().requires_grad_() if float_labels else l0
        out = _call(backend, case, shape, axis, chunk_size, "none", xx, ll)
        wrt = [xx, ll] if float_labels else [xx]
        gs = torch.autograd.grad((out * backend.asarray(v)).sum(), wrt, create_graph=True)
        hv = torch.autograd.grad((torch.nan_to_num(gs[0]) * torch.cos(xx.detach())).sum(), xx)[0]
        return [backend.to_numpy(g) for g in gs] + [backend.to_numpy(hv)]
    if fw == "jax":
        jax = backend.module()

        def f(a, b):
            return (_call(backend, case, shape, axis, chunk_size, "none", a, b) * backend.asarray(v)).sum()

        grad = jax.jit(jax.grad(f, argnums=(0, 1) if float_labels else 0))  # one compile, not many dispatches
        out = grad(x0, l0)
        return [np.asarray(g) for g in (out if float_labels else (out,))]
    if fw == "tensorflow":
        tf = backend.module()
        with tf.GradientTape() as tape:
            tape.watch(x0)
            if float_labels:
                tape.watch(l0)
            out = _call(backend, case, shape, axis, chunk_size, "none", x0, l0)
            total = tf.reduce_sum(out * backend.asarray(v))
        gs = tape.gradient(total, [x0, l0] if float_labels else [x0])
        return [backend.to_numpy(g) for g in gs]
    raise AssertionError(fw)


@pytest.mark.parametrize(
    "case,shape,axis",
    [("sparse-all-options", *SHAPES[0]), ("soft-all-options", *SHAPES[0]), ("soft-all-options", *SHAPES[1])],
    ids=["sparse-2d", "soft-2d", "soft-3d-axis1"],
)
def test_chunked_gradients_equal_unchunked(ad_backend, case, shape, axis):
    """Gradients w.r.t. logits and soft labels (torch: also a Hessian-vector product by
    double backward) are those of the unchunked path."""
    for a, b in zip(_grads(ad_backend, case, shape, axis, None), _grads(ad_backend, case, shape, axis, 2), strict=False):
        np.testing.assert_allclose(b, a, rtol=tolerance("float64", 4), atol=1e-15)


# ----------------------------------------------------------------------------- the plan


def test_chunk_size_auto_chunks_narrow_or_large_eager_logits_only():
    """``"auto"``: eager torch/NumPy chunk bfloat16 logits (no float32 copy) and large
    float32 logits, in blocks of ~1/32 of the logits; small float32 logits, JAX and
    array-api-strict are not chunked."""
    torch = require("torch")
    xp = xb.array_namespace(torch.zeros(1))
    small = torch.zeros(8, 16)
    assert _chunked.plan(xp, small, 1, torch.float32, "auto") is None
    assert _chunked.plan(xp, small, 1, torch.float32, None) is None
    assert _chunked.plan(xp, small, 1, torch.float32, 3) == 3
    assert _chunked.plan(xp, small, 1, torch.float32, 100) == 8  # at most every row
    rows = _chunked.plan(xp, small.to(torch.bfloat16), 1, torch.float32, "auto")
    assert rows == 8  # below the minimum block size: one block, still no float32 copy
    big = torch.empty(4096, 32768, device="meta")  # 512 MiB of float32, never allocated
    rows = _chunked.plan(xp, big, 1, torch.float32, "auto")
    assert rows is not None and rows * 32768 * 4 <= _chunked.AUTO_BLOCK_BYTES and rows >= 1
    import array_api_strict as xs

    assert _chunked.plan(xs, xs.zeros((8, 16), dtype=xs.float32), 1, xs.float64, "auto") is None


@pytest.mark.parametrize("bad,exc", [(0, ValueError), (-3, ValueError), ("big", TypeError), (2.0, TypeError), (True, TypeError)])
def test_bad_chunk_size_is_rejected_naming_the_argument(bad, exc):
    with pytest.raises(exc, match="chunk_size"):
        xb.sparse_softmax_cross_entropy(np.zeros((2, 3)), np.zeros(2, dtype=np.int64), chunk_size=bad)
    with pytest.raises(exc, match="chunk_size"):
        xb.softmax_cross_entropy(np.zeros((2, 3)), np.full((2, 3), 1 / 3), chunk_size=bad)


# ----------------------------------------------------------------------------- memory (torch CPU)


def _peak_bytes(torch, fn) -> int:
    """Peak of the CPU allocations made while ``fn`` runs (profiler allocation trace)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                    key=lambda e: e.start_ns())  # fmt: skip
    cur = peak = 0
    for e in events:
        cur += e.nbytes()
        peak = max(peak, cur)
    return peak


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
@pytest.mark.parametrize("loss", ["sparse", "soft"])
def test_chunked_fwd_bwd_holds_the_gradient_plus_small_blocks_on_torch(loss, dtype):
    """fwd+bwd of 512x1024 logits in blocks of 8 rows (1/64 of them): peak allocations
    beyond the inputs <= the gradient plus 6 blocks of float32 temporaries (1.19x bfloat16
    logits, 1.09x float32 ones); the native F.cross_entropy needs 3x, and without blocks
    bfloat16 logits need a float32 copy."""
    torch = require("torch")
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)
    dt = getattr(torch, dtype)
    x = torch.randn(512, 1024, generator=g).to(dt)
    labels = (torch.randint(0, 1024, (512,), generator=g) if loss == "sparse"
              else torch.softmax(torch.randn(512, 1024, generator=g), -1).to(dt))  # fmt: skip
    fn = xb.sparse_softmax_cross_entropy if loss == "sparse" else xb.softmax_cross_entropy
    nbytes = x.numel() * x.element_size()

    def fwd_bwd(f):
        def run():
            leaf = x.detach().requires_grad_()
            f(leaf).backward()

        return run

    chunked = _peak_bytes(torch, fwd_bwd(lambda a: fn(a, labels, reduction="mean", chunk_size=8)))
    whole = _peak_bytes(torch, fwd_bwd(lambda a: fn(a, labels, reduction="mean", chunk_size=None)))
    native = _peak_bytes(torch, fwd_bwd(lambda a: F.cross_entropy(a, labels)))
    block = 8 * 1024 * 4  # one block of float32 temporaries
    assert chunked <= nbytes + 6 * block, f"chunked peak: gradient + {(chunked - nbytes) / block:.1f} blocks"
    assert native >= 2.9 * nbytes  # the comparison is meaningful: the profiler sees the native's buffers
    if dtype == "bfloat16":  # one block of every row casts all logits to float32 at once
        assert whole > 2 * nbytes > chunked
