"""The analytic-gradient hooks: higher order, forward mode, label gradients, saved state.

xbackend registers its analytic gradients (``softmax·Σq − q``, ``σ(x) − z``) with torch
(``autograd.Function``, recomputed differentiably under ``create_graph=True``) and JAX
(``custom_jvp``). These tests check, in float64, that

* second derivatives (torch double backward, ``jax.hessian``), forward mode
  (``jax.jvp``, ``jax.jacfwd``) and mixed logits/labels derivatives equal those of the
  natives (``F.cross_entropy``, ``F.binary_cross_entropy_with_logits``, optax), which
  autodiff differentiates through their composite formulas, and torch's finite
  differences (``gradgradcheck``);
* gradients with respect to soft and sigmoid labels (with label smoothing, class
  weights and ``pos_weight``) equal the natives';
* torch saves only the logits, the labels and O(rows) residuals for backward (no copy
  of the logits, no softmax), also for bfloat16 logits;
* the row-max shift is gradient-stopped.
"""

from __future__ import annotations

import numpy as np
import pytest

import xbackend as xb
from tests.backends import BY_NAME, skip_reason
from xbackend._lib import _kernels
from xbackend.testing import tolerance

R, C = 5, 7
RTOL = tolerance("float64", 64)  # a few hundred float64 ulps: different but exact formulas


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(R, C)) * 2.0
    y = rng.integers(0, C, R)
    p = rng.random((R, C))
    p /= p.sum(1, keepdims=True)
    z = rng.random((R, C))
    z[0] = [0, 1, 0, 1, 1, 0, 0]  # hard labels too
    cw = rng.random(C) + 0.5
    pw = rng.random(C) * 2 + 0.25
    return x, y, p, z, cw, pw


def _member(name: str):
    b = BY_NAME[name]
    reason = skip_reason(b)
    if reason is not None:
        pytest.skip(reason)
    return b


@pytest.fixture(params=["torch", "torch:gpu"])
def torch_b(request):
    return _member(request.param)


@pytest.fixture(params=["jax", "jax:gpu"])
def jax_b(request):
    return _member(request.param)


# ----------------------------------------------------------------------------- torch


def _torch_pairs(torch, dev, opts: str):
    """(xbackend loss, native loss, labels) on ``dev``; both return the per-row/element loss."""
    import torch.nn.functional as F

    x, y, p, z, cw, pw = _data()
    t = lambda a: torch.tensor(a, device=dev)
    cw_t, pw_t = t(cw), t(pw)
    smooth = 0.1 if "smoothing" in opts else 0.0
    weighted = "class_weights" in opts
    cases = {
        "sparse": (
            lambda a, lab: xb.sparse_softmax_cross_entropy(
                a, lab, class_weights=cw_t if weighted else None, label_smoothing=smooth),
            lambda a, lab: F.cross_entropy(
                a, lab, weight=cw_t if weighted else None, label_smoothing=smooth, reduction="none"),
            t(y),
        ),
        "softmax": (
            lambda a, lab: xb.softmax_cross_entropy(
                a, lab, class_weights=cw_t if weighted else None, label_smoothing=smooth),
            lambda a, lab: F.cross_entropy(
                a, lab, weight=cw_t if weighted else None, label_smoothing=smooth, reduction="none"),
            t(p),
        ),
        "sigmoid": (
            lambda a, lab: xb.sigmoid_cross_entropy(
                a, lab, pos_weight=pw_t if weighted else None, label_smoothing=smooth),
            lambda a, lab: F.binary_cross_entropy_with_logits(  # torch has no smoothing: smooth the labels
                a, (1 - smooth) * lab + smooth / 2, pos_weight=pw_t if weighted else None, reduction="none"),
            t(z),
        ),
    }  # fmt: skip
    return t(x), cases


LOSS_OPTS = [
    ("sparse", ""),
    ("sparse", "smoothing,class_weights"),
    ("softmax", ""),
    ("softmax", "smoothing,class_weights"),
    ("sigmoid", ""),
    ("sigmoid", "smoothing,class_weights"),
]


@pytest.mark.parametrize("loss,opts", LOSS_OPTS, ids=[f"{a}-{b or 'plain'}" for a, b in LOSS_OPTS])
def test_torch_double_backward_equals_native_hessian_vector_product(torch_b, loss, opts):
    """``grad(create_graph=True)`` then a second ``grad``: the same Hessian-vector
    product (w.r.t. logits, and w.r.t. labels for float labels) as the native loss."""
    torch = torch_b.module()
    x, cases = _torch_pairs(torch, torch_b.device(), opts)
    ours, native, lab = cases[loss]
    v = torch.cos(torch.arange(x.numel(), device=x.device, dtype=x.dtype)).reshape(x.shape)
    results = []
    for f in (ours, native):
        xx = x.clone().requires_grad_()
        ll = lab.clone().requires_grad_() if lab.is_floating_point() else lab
        wrt = [xx] + ([ll] if lab.is_floating_point() else [])
        (gx,) = torch.autograd.grad(f(xx, ll).sum(), xx, create_graph=True)
        results.append(torch.autograd.grad((gx * v).sum(), wrt))
    for a, b in zip(*results, strict=False):
        np.testing.assert_allclose(a.cpu().numpy(), b.cpu().numpy(), rtol=RTOL, atol=1e-14)


@pytest.mark.parametrize("loss", ["sparse", "softmax", "sigmoid"])
def test_torch_gradgradcheck_against_finite_differences(torch_b, loss):
    """torch's own finite-difference check of first and second derivatives, with respect
    to the logits and (soft/sigmoid) the labels, with smoothing and class weights."""
    torch = torch_b.module()
    x, cases = _torch_pairs(torch, torch_b.device(), "smoothing,class_weights")
    ours, _, lab = cases[loss]
    xx = x.clone().requires_grad_()
    if lab.is_floating_point():
        ll = lab.clone().requires_grad_()
        fn, inputs = ours, (xx, ll)
    else:
        fn, inputs = (lambda a: ours(a, lab)), (xx,)
    assert torch.autograd.gradcheck(fn, inputs)
    assert torch.autograd.gradgradcheck(fn, inputs)


@pytest.mark.parametrize("loss", ["softmax", "sigmoid"])
def test_torch_label_gradients_equal_native(torch_b, loss):
    """Soft labels (smoothing + class weights: torch's probability-target semantics) and
    sigmoid labels (smoothing + pos_weight): d loss / d labels equals the native's."""
    torch = torch_b.module()
    x, cases = _torch_pairs(torch, torch_b.device(), "smoothing,class_weights")
    ours, native, lab = cases[loss]
    grads = []
    for f in (ours, native):
        ll = lab.clone().requires_grad_()
        w = torch.linspace(0.5, 1.5, R if loss == "softmax" else R * C, device=x.device, dtype=x.dtype)
        out = f(x, ll)
        grads.append(torch.autograd.grad((out * w.reshape(out.shape)).sum(), ll)[0])
    np.testing.assert_allclose(grads[0].cpu().numpy(), grads[1].cpu().numpy(), rtol=RTOL, atol=1e-15)


def _saved(torch, fn):
    """(numel, data_ptr) of every tensor autograd saves while ``fn`` runs."""
    saved = []

    def pack(t):
        saved.append((t.numel(), t.untyped_storage().data_ptr(), t.dtype))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return saved, out


@pytest.mark.parametrize("dtype", ["float64", "bfloat16"])
@pytest.mark.parametrize("loss", ["sparse", "softmax", "sigmoid"])
def test_torch_saves_only_logits_labels_and_row_residuals(torch_b, loss, dtype):
    """Saved for backward: the caller's logits and labels (their own storage: no cast
    copy, no softmax, no log-softmax), per-row residuals and the per-class constants
    (class weights, pos_weight)."""
    if loss == "sigmoid" and dtype == "bfloat16":
        pytest.skip("known limitation: the elementwise sigmoid family has no block path, "
                    "so autograd saves the float32 compute copy of bfloat16 logits")  # fmt: skip
    torch = torch_b.module()
    dev = torch_b.device()
    x, cases = _torch_pairs(torch, dev, "smoothing,class_weights")
    ours, _, lab = cases[loss]
    xx = x.to(getattr(torch, dtype)).requires_grad_()
    if lab.is_floating_point():
        lab = lab.to(getattr(torch, dtype))
    saved, out = _saved(torch, lambda: ours(xx, lab).sum())
    out.backward()
    full = {t for t in saved if t[0] >= R * C}
    allowed = {(xx.numel(), xx.untyped_storage().data_ptr(), xx.dtype),
               (lab.numel(), lab.untyped_storage().data_ptr(), lab.dtype)}  # fmt: skip
    assert full <= allowed, f"full-size tensors saved besides logits and labels: {full - allowed}"
    assert (xx.numel(), xx.untyped_storage().data_ptr(), xx.dtype) in full
    small = [n for n, _, _ in saved if n < R * C]  # per-row residuals, per-class constants
    assert all(n <= max(R, C) for n in small), f"saved residuals larger than O(rows + classes): {small}"


def test_torch_max_shift_is_gradient_stopped(torch_b):
    torch = torch_b.module()
    x = torch.tensor(_data()[0], device=torch_b.device(), requires_grad=True)
    xp = xb.array_namespace(x)
    m, _ = _kernels.row_shift(xp, x, -1)
    assert not m.requires_grad
    xs, _m2, _ = _kernels.shift(xp, x, -1)
    (g,) = torch.autograd.grad(xs.sum(), x)
    np.testing.assert_array_equal(g.cpu().numpy(), np.ones((R, C)))  # d(x − m)/dx = 1: m is a constant


# ----------------------------------------------------------------------------- JAX


def _jax_pairs(jnp, opts: str):
    import optax

    x, y, p, z, cw, pw = _data()
    smooth = 0.1 if "smoothing" in opts else 0.0
    cwj, pwj = jnp.asarray(cw), jnp.asarray(pw)

    def soft_native(a, lab):  # optax has no class weights/smoothing: smooth/weigh the labels
        q = (1 - smooth) * lab + smooth / C
        return optax.softmax_cross_entropy(a, q * cwj if "class_weights" in opts else q)

    def sparse_native(a, lab):
        return soft_native(a, jax_one_hot(jnp, lab))

    def sigmoid_native(a, lab):
        q = (1 - smooth) * lab + smooth / 2
        if "class_weights" not in opts:
            return optax.sigmoid_binary_cross_entropy(a, q)
        # optax has no pos_weight: its documented formula, pw·q·softplus(−a) + (1−q)·softplus(a)
        return pwj * q * jnp.logaddexp(0.0, -a) + (1 - q) * jnp.logaddexp(0.0, a)

    kw = {"label_smoothing": smooth}
    cwk = {"class_weights": cwj} if "class_weights" in opts else {}
    pwk = {"pos_weight": pwj} if "class_weights" in opts else {}
    return jnp.asarray(x), {
        "sparse": (lambda a, lab: xb.sparse_softmax_cross_entropy(a, lab, **kw, **cwk), sparse_native, jnp.asarray(y)),
        "softmax": (lambda a, lab: xb.softmax_cross_entropy(a, lab, **kw, **cwk), soft_native, jnp.asarray(p)),
        "sigmoid": (lambda a, lab: xb.sigmoid_cross_entropy(a, lab, **kw, **pwk), sigmoid_native, jnp.asarray(z)),
    }


def jax_one_hot(jnp, lab):
    return (lab[:, None] == jnp.arange(C)[None, :]).astype(jnp.float64)


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=RTOL, atol=1e-14)


@pytest.mark.parametrize("loss,opts", LOSS_OPTS, ids=[f"{a}-{b or 'plain'}" for a, b in LOSS_OPTS])
def test_jax_hessian_jvp_and_jacfwd_equal_optax(jax_b, loss, opts):
    """Forward mode through the custom JVP: ``jax.hessian`` (forward-over-reverse),
    ``jax.jvp`` and ``jax.jacfwd`` of the per-row loss equal optax's, float64."""
    jax = jax_b.module()
    import jax.numpy as jnp

    with jax.default_device(jax_b.device()):
        x, cases = _jax_pairs(jnp, opts)
        ours, native, lab = cases[loss]
        tangent = jnp.cos(jnp.arange(x.size, dtype=jnp.float64)).reshape(x.shape)
        for transform in (  # under jax.jit: one compile instead of hundreds of eager dispatches
            lambda f: jax.jit(jax.hessian(lambda a: f(a, lab).sum()))(x),
            lambda f: jax.jit(lambda a: jax.jvp(lambda b: f(b, lab), (a,), (tangent,))[1])(x),
            lambda f: jax.jit(jax.jacfwd(lambda a: f(a, lab)))(x),
            lambda f: jax.jit(jax.jacrev(lambda a: f(a, lab)))(x),
        ):
            _close(transform(ours), transform(native))


@pytest.mark.parametrize("loss", ["softmax", "sigmoid"])
def test_jax_label_gradients_and_mixed_second_derivatives_equal_optax(jax_b, loss):
    """d/d labels, and d²/(d labels d logits) by ``jacfwd(grad)``, with smoothing and
    class weights / pos_weight."""
    jax = jax_b.module()
    import jax.numpy as jnp

    with jax.default_device(jax_b.device()):
        x, cases = _jax_pairs(jnp, "smoothing,class_weights")
        ours, native, lab = cases[loss]
        g = [jax.jit(jax.grad(lambda q, f=f: f(x, q).sum()))(lab) for f in (ours, native)]
        _close(*g)
        mixed = [jax.jit(jax.jacfwd(jax.grad(lambda a, q, f=f: f(a, q).sum(), argnums=0), argnums=1))(x, lab)
                 for f in (ours, native)]  # fmt: skip
        _close(*mixed)


def test_jax_max_shift_is_gradient_stopped(jax_b):
    jax = jax_b.module()
    import jax.numpy as jnp

    x = jax.device_put(jnp.asarray(_data()[0]), jax_b.device())
    xp = xb.array_namespace(x)
    g = jax.grad(lambda a: _kernels.row_shift(xp, a, -1)[0].sum())(x)
    np.testing.assert_array_equal(np.asarray(g), np.zeros((R, C)))
