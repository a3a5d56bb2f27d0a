"""xbackend composes with every torch transformation its native losses compose with.

The matrix: each of the seven losses (with its default options and with a set of array
and number options) under each ``torch.func`` transformation -- ``grad``,
``grad_and_value``, ``vmap`` (labels batched or shared), ``vmap(grad)`` (per-sample
gradients), ``jacrev``, ``jacfwd``, ``hessian``, ``jvp``, ``functional_call`` -- and
under ``torch.autograd.forward_ad``, each cell compared with the *same* transformation
applied to the reference loss:

* the native loss where torch has one (``F.binary_cross_entropy_with_logits``,
  ``F.cross_entropy`` with indices and with probabilities, ``F.binary_cross_entropy``,
  torchvision's sigmoid focal loss formula in torch ops);
* for ``softmax_focal_loss`` and ``categorical_cross_entropy`` (no torch native) the
  float64 formula written here in torch ops from the mathematics;

in float64, within :func:`xbackend.testing.tolerance`. Every reference is itself
checked against the float64 closed form of :mod:`xbackend.testing._oracles` first.

Then ``torch.compile``: no more graphs than the native over changing batch sizes (and a
changing sequence length), ``dynamic=True, fullgraph=True`` forward and backward equal
to eager, no graph break with every option, no warning from xbackend's code under
Dynamo, ``xb.compiled`` over many shapes, ``torch.export`` with a dynamic batch; and
``torch.autocast`` (the float32 policy of torch's cross-entropies).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import xbackend as xb
from tests.backends import require
from xbackend.testing import tolerance
from xbackend.testing._oracles import (
    closed_form,
    torch_binary_cross_entropy,
    torch_binary_cross_entropy_with_logits,
    torch_cross_entropy_indices,
    torch_cross_entropy_probs,
    torchvision_sigmoid_focal_loss,
)

torch = require("torch")
F = torch.nn.functional
func = torch.func
fwAD = torch.autograd.forward_ad

B, C = 3, 4
F64 = torch.float64
TOL = tolerance("float64", 64)  # float64 sums of O(B·C) terms, second derivatives


# ------------------------------------------------------------------ the references


def softmax_focal_reference(x, y, *, gamma=2.0, alpha=None, ignore_index=None, reduction="none"):
    """``-α·(1 - p_y)^γ·log p_y`` in torch ops (no torch native)."""
    if ignore_index is not None:
        keep, y = (y != ignore_index).to(x.dtype), torch.where(y == ignore_index, 0, y)
    else:
        keep = torch.ones_like(y, dtype=x.dtype)
    logp = torch.gather(F.log_softmax(x, dim=-1), -1, y[..., None])[..., 0]
    loss = -((1.0 - torch.exp(logp)) ** gamma) * logp * (1.0 if alpha is None else alpha) * keep
    return loss if reduction == "none" else loss.sum()


def categorical_reference(p, y, *, eps=None, reduction="none"):
    """``-Σ y·log clip(p, ε, 1-ε)`` in torch ops (no torch native)."""
    e = torch.finfo(p.dtype).eps if eps is None else eps
    loss = -(y * torch.log(torch.clamp(p, e, 1.0 - e))).sum(-1)
    return loss if reduction == "none" else loss.sum()


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, C, generator=g, dtype=F64) * 2.0
    y_int = torch.randint(0, C, (B,), generator=g)
    y_soft = torch.softmax(torch.randn(B, C, generator=g, dtype=F64), -1)
    z = torch.rand(B, C, generator=g, dtype=F64)
    return x, y_int, y_soft, z


X, Y_INT, Y_SOFT, Z = _data()
CW = torch.tensor([0.5, 1.0, 2.0, 1.5], dtype=F64)
PW = torch.tensor([2.0, 0.5, 1.0, 3.0], dtype=F64)
Y_IGNORED = torch.where(torch.arange(B) == 1, -1, Y_INT)  # row 1 ignored

#: loss -> (xbackend function, native/reference, inputs (x, y), whether x are
#: probabilities, [(option-set id, xbackend options, reference options)])
LOSSES = {
    "sigmoid_cross_entropy": (
        xb.sigmoid_cross_entropy, torch_binary_cross_entropy_with_logits, "F.binary_cross_entropy_with_logits",
        (X, Z), [("plain", {}, {}), ("pos_weight", {"pos_weight": PW}, {"pos_weight": PW})],
    ),
    "softmax_cross_entropy": (
        xb.softmax_cross_entropy, torch_cross_entropy_probs, "F.cross_entropy (probabilities)",
        (X, Y_SOFT),
        [("plain", {}, {}),
         ("class_weights+smoothing", {"class_weights": CW, "label_smoothing": 0.1},
          {"class_weights": CW, "label_smoothing": 0.1})],
    ),
    "sparse_softmax_cross_entropy": (
        xb.sparse_softmax_cross_entropy, torch_cross_entropy_indices, "F.cross_entropy (indices)",
        (X, Y_INT),
        [("plain", {}, {}),
         ("class_weights+smoothing+ignore", {"class_weights": CW, "label_smoothing": 0.1, "ignore_index": -1},
          {"class_weights": CW, "label_smoothing": 0.1, "ignore_index": -1})],
    ),
    "sigmoid_focal_loss": (
        xb.sigmoid_focal_loss, torchvision_sigmoid_focal_loss, "torchvision sigmoid_focal_loss formula",
        (X, Z), [("plain", {}, {}), ("gamma+alpha", {"gamma": 1.5, "alpha": 0.25}, {"gamma": 1.5, "alpha": 0.25})],
    ),
    "softmax_focal_loss": (
        xb.softmax_focal_loss, softmax_focal_reference, "float64 formula (no torch native)",
        (X, Y_INT),
        [("plain", {}, {}),
         ("gamma+alpha+ignore", {"gamma": 1.5, "alpha": 0.25, "ignore_index": -1},
          {"gamma": 1.5, "alpha": 0.25, "ignore_index": -1})],
    ),
    "binary_cross_entropy": (
        xb.binary_cross_entropy, torch_binary_cross_entropy, "F.binary_cross_entropy",
        (torch.sigmoid(X), Z), [("plain", {}, {})],
    ),
    "categorical_cross_entropy": (
        xb.categorical_cross_entropy, categorical_reference, "float64 formula (no torch native)",
        (torch.softmax(X, -1), Y_SOFT), [("plain", {}, {}), ("eps", {"eps": 1e-3}, {"eps": 1e-3})],
    ),
}
FLOAT_LABELS = {"sigmoid_cross_entropy", "softmax_cross_entropy", "sigmoid_focal_loss",
                "binary_cross_entropy", "categorical_cross_entropy"}  # fmt: skip
PROBS = {"binary_cross_entropy", "categorical_cross_entropy"}


def _inputs(loss, opt_id):
    x, y = LOSSES[loss][3]
    if opt_id.endswith("ignore"):
        y = Y_IGNORED
    return x, y


def _pair(loss, opt_id):
    """``(ours, reference)``: both ``f(x, y, reduction)``, same options."""
    fn, ref, _, _, sets = LOSSES[loss]
    _, ours_kw, ref_kw = next(s for s in sets if s[0] == opt_id)

    def ours(x, y, reduction):
        return fn(x, y, reduction=reduction, **ours_kw)

    def theirs(x, y, reduction):
        return ref(x, y, reduction=reduction, **ref_kw)

    return ours, theirs


CELLS = [(loss, s[0]) for loss, v in LOSSES.items() for s in v[4]]
CELL_IDS = [f"{loss}-{opt}" for loss, opt in CELLS]


# ----------------------------------------------------------------- transformations
#: name -> transformation of a loss f(x, y, reduction) at (x, y)


def _grad(f, x, y):
    return func.grad(lambda a: f(a, y, "sum"))(x)


def _grad_and_value(f, x, y):
    return func.grad_and_value(lambda a: f(a, y, "sum"))(x)


def _vmap_forward(f, x, y):  # labels batched with the logits
    return func.vmap(lambda a, b: f(a[None], b[None], "sum"))(x, y)


def _vmap_shared_labels(f, x, y):  # a batch of logit sets, one set of labels
    return func.vmap(lambda a: f(a, y, "none"))(torch.stack([x, x.flip(0)]))


def _per_sample_grad(f, x, y):
    return func.vmap(func.grad(lambda a, b: f(a[None], b[None], "sum")))(x, y)


def _jacrev(f, x, y):
    return func.jacrev(lambda a: f(a, y, "none"))(x)


def _jacfwd(f, x, y):
    return func.jacfwd(lambda a: f(a, y, "none"))(x)


def _hessian(f, x, y):
    return func.hessian(lambda a: f(a, y, "sum"))(x)


def _jvp(f, x, y):
    t = torch.linspace(-1.0, 1.0, x.numel(), dtype=x.dtype).reshape(x.shape)
    return func.jvp(lambda a: f(a, y, "none"), (x,), (t,))


def _forward_ad(f, x, y):
    t = torch.linspace(-1.0, 1.0, x.numel(), dtype=x.dtype).reshape(x.shape)
    with fwAD.dual_level():
        out = fwAD.unpack_dual(f(fwAD.make_dual(x, t), y, "none"))
        return out.primal.clone(), out.tangent.clone()


HEADS = {"binary_cross_entropy": torch.sigmoid, "categorical_cross_entropy": lambda h: torch.softmax(h, -1)}


def _functional_call(f, x, y, loss):
    """Per-parameter gradients of a tiny model through ``functional_call`` (the
    probability losses get a sigmoid/softmax head)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(C, C, dtype=F64)
    params = {k: v.detach() for k, v in model.named_parameters()}
    head = HEADS.get(loss, lambda h: h)

    def objective(p):
        return f(head(func.functional_call(model, p, (x,))), y, "sum")

    return func.grad(objective)(params)


TRANSFORMS = {
    "grad": _grad,
    "grad_and_value": _grad_and_value,
    "vmap": _vmap_forward,
    "vmap_shared_labels": _vmap_shared_labels,
    "vmap_grad": _per_sample_grad,
    "jacrev": _jacrev,
    "jacfwd": _jacfwd,
    "hessian": _hessian,
    "jvp": _jvp,
    "forward_ad": _forward_ad,
    "functional_call": None,  # see the test: it needs the loss (its head)
}

def binary_reference(p, z, *, reduction="none"):
    """``-z·log p - (1-z)·log(1-p)`` in torch ops (the clip is inactive on these inputs)."""
    loss = -(z * torch.log(p) + (1.0 - z) * torch.log(1.0 - p))
    return loss if reduction == "none" else loss.sum()


#: (loss, transformation) -> (the native's failure, the float64 formula used instead):
#: where the native itself fails a transformation, the cell is compared with the float64
#: formula under that transformation, and the native's failure is asserted below
NATIVE_FAILS = {
    ("binary_cross_entropy", "hessian"): (
        "F.binary_cross_entropy's double backward adds eps=1e-12 in its denominators: "
        "its Hessian is off by ~1e-10 relative on ordinary probabilities",
        binary_reference,
    ),
}


def test_the_native_failures_named_above_are_real():
    """``F.binary_cross_entropy``'s Hessian against the exact ``z/p² + (1-z)/(1-p)²``."""
    p, z = LOSSES["binary_cross_entropy"][3]
    exact = torch.diag((z / p**2 + (1 - z) / (1 - p) ** 2).flatten())
    native = func.hessian(lambda a: F.binary_cross_entropy(a, z, reduction="sum"))(p).reshape(B * C, B * C)
    formula = func.hessian(lambda a: binary_reference(a, z, reduction="sum"))(p).reshape(B * C, B * C)
    ours = func.hessian(lambda a: xb.binary_cross_entropy(a, z, reduction="sum"))(p).reshape(B * C, B * C)
    assert ((native - exact).abs() / exact.abs().max()).max() > 1e-12  # the native's error
    torch.testing.assert_close(formula, exact, rtol=TOL, atol=TOL)
    torch.testing.assert_close(ours, exact, rtol=TOL, atol=TOL)


def _close(got, want, what):
    if isinstance(want, dict):
        assert got.keys() == want.keys(), what
        for k in want:
            _close(got[k], want[k], f"{what}[{k}]")
        return
    if isinstance(want, (tuple, list)):
        assert len(got) == len(want), what
        for i, (g, w) in enumerate(zip(got, want)):
            _close(g, w, f"{what}[{i}]")
        return
    assert got.dtype == want.dtype and got.shape == want.shape, f"{what}: {got.dtype}{tuple(got.shape)} vs {want.dtype}{tuple(want.shape)}"
    torch.testing.assert_close(got, want, rtol=TOL, atol=TOL, msg=lambda m: f"{what}: {m}")


@pytest.mark.parametrize("loss, opt", CELLS, ids=CELL_IDS)
def test_the_reference_is_the_closed_form(loss, opt):
    """Each reference (native or formula) equals the float64 closed form on these inputs."""
    _, ref = _pair(loss, opt)
    x, y = _inputs(loss, opt)
    ref_kw = next(s for s in LOSSES[loss][4] if s[0] == opt)[2]
    want = closed_form(loss, x, y, reduction="none", **ref_kw)
    np.testing.assert_allclose(ref(x, y, "none").numpy(), want, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("transform", list(TRANSFORMS))
@pytest.mark.parametrize("loss, opt", CELLS, ids=CELL_IDS)
def test_transformation_equals_the_reference_under_the_same_transformation(loss, opt, transform):
    ours, theirs = _pair(loss, opt)
    x, y = _inputs(loss, opt)
    T = TRANSFORMS[transform]
    if transform == "functional_call":
        T = lambda f, a, b: _functional_call(f, a, b, loss)  # noqa: E731
    if (loss, transform) in NATIVE_FAILS:
        formula = NATIVE_FAILS[loss, transform][1]
        theirs = lambda a, b, reduction: formula(a, b, reduction=reduction)  # noqa: E731
    _close(T(ours, x, y), T(theirs, x, y), f"{loss}[{opt}] under {transform}")


LABEL_TRANSFORMS = {
    "grad_labels": lambda f, x, y: func.grad(lambda b: f(x, b, "sum"))(y),
    "jvp_labels": lambda f, x, y: func.jvp(lambda b: f(x, b, "none"), (y,), (torch.full_like(y, 0.5),)),
    "jacfwd_labels": lambda f, x, y: func.jacfwd(lambda b: f(x, b, "none"))(y),
    "mixed_hessian": lambda f, x, y: func.jacfwd(func.grad(lambda a, b: f(a, b, "sum"), argnums=0), argnums=1)(x, y),
}


@pytest.mark.parametrize("transform", list(LABEL_TRANSFORMS))
@pytest.mark.parametrize("loss", sorted(FLOAT_LABELS))
def test_transformations_with_respect_to_float_labels(loss, transform):
    """Float labels are differentiable inputs: reverse, forward and mixed second order."""
    ours, theirs = _pair(loss, LOSSES[loss][4][-1][0])
    x, y = _inputs(loss, LOSSES[loss][4][-1][0])
    T = LABEL_TRANSFORMS[transform]
    _close(T(ours, x, y), T(theirs, x, y), f"{loss} under {transform}")


def test_a_shortcut_forward_under_no_grad_still_matches():
    """Plain eager calls with nothing to record take the in-place path: same values."""
    x, y = _inputs("sparse_softmax_cross_entropy", "plain")
    with torch.no_grad():
        got = xb.sparse_softmax_cross_entropy(x, y)
    _close(got, torch_cross_entropy_indices(x, y), "no_grad forward")
