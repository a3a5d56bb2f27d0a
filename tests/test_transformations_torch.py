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
to eager with every option (also Python numbers made symbolic), no graph break
(``torch._dynamo.explain``), no warning from xbackend's code under Dynamo,
``xb.compiled`` over more shapes than the recompile limit, ``torch.export`` with a
dynamic batch, ``xbackend bench``'s compilation count; and ``torch.autocast`` (the
float32 policy of torch's cross-entropies).

Compiled cells run Dynamo with a graph-counting backend (or AOTAutograd around it, so
that the analytic backward is traced too), not Inductor: the graph count and the graph
breaks are Dynamo's, and Inductor would cost seconds per graph on a CPU.
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
        ("F.binary_cross_entropy's double backward adds eps=1e-12 in its denominators: "
         "its Hessian is off by ~1e-10 relative on ordinary probabilities"),
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
        for i, (g, w) in enumerate(zip(got, want, strict=False)):
            _close(g, w, f"{what}[{i}]")
        return
    assert (got.dtype, got.shape) == (want.dtype, want.shape), f"{what}: {got.dtype}{tuple(got.shape)} vs {want.dtype}"
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
        T = lambda f, a, b: _functional_call(f, a, b, loss)
    if (loss, transform) in NATIVE_FAILS:
        formula = NATIVE_FAILS[loss, transform][1]
        theirs = lambda a, b, reduction: formula(a, b, reduction=reduction)
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


# ------------------------------------------------------------------ torch.compile
# Dynamo with a backend that only counts graphs (no Inductor: the graph count is
# Dynamo's decision, and Inductor would cost seconds per graph on a CPU)


def _counting_backend():
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    return backend, graphs


def _compile_inputs(loss, shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g)
    if loss in ("sparse_softmax_cross_entropy", "softmax_focal_loss"):
        y = torch.randint(0, shape[-1], shape[:-1], generator=g)
    elif loss in ("softmax_cross_entropy", "categorical_cross_entropy"):
        y = torch.softmax(torch.randn(*shape, generator=g), -1)
    else:
        y = torch.rand(*shape, generator=g)
    if loss == "binary_cross_entropy":
        x = torch.sigmoid(x)
    elif loss == "categorical_cross_entropy":
        x = torch.softmax(x, -1)
    return x, y


def _native_mean(loss):
    """The native (or the reference formula in torch ops), reduced to a mean."""
    _, ref, _, _, _ = LOSSES[loss]
    if ref in (softmax_focal_reference, categorical_reference):
        return lambda x, y: ref(x, y).mean()
    if ref is torchvision_sigmoid_focal_loss:
        return lambda x, y: ref(x, y, reduction="mean")
    if ref is torch_cross_entropy_indices:
        return lambda x, y: ref(x, y, axis=-1, reduction="mean")
    if ref is torch_cross_entropy_probs:
        return lambda x, y: ref(x, y, axis=-1, reduction="sum_over_batch_size")
    return lambda x, y: ref(x, y, reduction="sum_over_batch_size")


def _graphs_over_shapes(fn, loss, shapes, **compile_kw):
    torch._dynamo.reset()
    backend, graphs = _counting_backend()
    compiled = torch.compile(fn, backend=backend, **compile_kw)
    for shape in shapes:
        x, y = _compile_inputs(loss, shape)
        x.requires_grad_()
        compiled(x, y).backward()
    return len(graphs)


#: four batch sizes, and a (B, T, C) input with four sequence lengths: one graph per
#: shape (the old behaviour) would make four graphs
BATCHES = [(b, 6) for b in (3, 5, 8, 13)]
SEQUENCES = [(2, t, 6) for t in (3, 5, 8, 13)]
SHAPE_CELLS = [(loss, "batch") for loss in LOSSES] + [
    (loss, "sequence") for loss in ("sigmoid_cross_entropy", "softmax_cross_entropy", "sparse_softmax_cross_entropy")
]


@pytest.mark.parametrize("loss, shapes", SHAPE_CELLS, ids=[f"{l}-{s}" for l, s in SHAPE_CELLS])
def test_compile_makes_no_more_graphs_than_the_native_over_changing_shapes(loss, shapes):
    """Dynamo's automatic dynamic shapes: one graph for the first shape, one dynamic graph
    for all later ones -- as for the native. (Before: the softmax family recompiled for
    every batch size until the recompile limit, then fell back to eager.)"""
    shapes = BATCHES if shapes == "batch" else SEQUENCES
    ours = _graphs_over_shapes(lambda x, y: LOSSES[loss][0](x, y, reduction="mean"), loss, shapes)
    native = _graphs_over_shapes(_native_mean(loss), loss, shapes)
    assert ours <= native, f"{loss}: {ours} graphs, native {native}"
    assert ours <= 2


#: every option of every loss in one compiled cell per loss (each cell costs a Dynamo
#: trace of forward and backward); Python-number options as traced arguments: below
OPTION_SETS = {
    "sigmoid_cross_entropy": [
        {"pos_weight": "array", "weights": "array", "label_smoothing": 0.1, "where": "mask",
         "reduction": "sum_over_batch_size", "dtype": torch.float64},
    ],
    "softmax_cross_entropy": [
        {"class_weights": "array", "label_smoothing": 0.1, "z_loss": 1e-3, "where": "mask", "weights": "array",
         "reduction": "mean", "chunk_size": None},
    ],
    "sparse_softmax_cross_entropy": [
        {"class_weights": "array", "label_smoothing": 0.1, "z_loss": 1e-3, "ignore_index": 0, "where": "mask",
         "weights": "array", "invalid": "nan", "reduction": "mean", "dtype": torch.float64},
    ],
    "sigmoid_focal_loss": [
        {"gamma": 1.5, "alpha": 0.25, "weights": "array", "where": "mask", "reduction": "mean"},
    ],
    "softmax_focal_loss": [
        {"gamma": 1.5, "alpha": "class_array", "ignore_index": 0, "weights": "array", "reduction": "mean"},
        {"gamma": 0.0, "alpha": 0.25, "reduction": "sum"},
    ],
    "binary_cross_entropy": [
        {"eps": 1e-4, "weights": "array", "reduction": "mean"},
    ],
    "categorical_cross_entropy": [
        {"eps": 1e-4, "weights": "array", "axis": -1, "reduction": "sum"},
    ],
}
OPTION_CELLS = [(loss, i) for loss, sets in OPTION_SETS.items() for i in range(len(sets))]


def _options(loss, i, x):
    """The option set with its array placeholders built for logits ``x``."""
    rows = x.shape[:-1]
    out = {}
    for k, v in OPTION_SETS[loss][i].items():
        if v == "array":
            per_element = loss in ("sigmoid_cross_entropy", "sigmoid_focal_loss", "binary_cross_entropy")
            shape = {"pos_weight": x.shape[-1:], "class_weights": x.shape[-1:]}.get(k, x.shape if per_element else rows)
            v = torch.linspace(0.5, 1.5, int(np.prod(shape))).reshape(shape)
        elif v == "class_array":
            v = torch.linspace(0.25, 1.0, x.shape[-1])
        elif v == "mask":
            v = torch.arange(x.shape[-1]) != 1
        out[k] = v
    return out


def _loss_fn(loss, i):
    """``f(x, y, arrays)``: the option arrays are traced inputs, the other options
    constants written in the function (as in a training step)."""
    fn = LOSSES[loss][0]
    constants = {k: v for k, v in OPTION_SETS[loss][i].items() if v not in ("array", "class_array", "mask")}
    return lambda x, y, arrays: fn(x, y, **arrays, **constants)


@pytest.mark.parametrize("loss, i", OPTION_CELLS, ids=[f"{l}-{i}" for l, i in OPTION_CELLS])
def test_dynamic_fullgraph_compile_with_every_option_equals_eager(loss, i):
    """``dynamic=True, fullgraph=True`` (any graph break would raise) through
    AOTAutograd, so the analytic backward is traced too: values and gradients equal
    eager for two batch sizes, one forward and one backward graph for both."""
    from torch._dynamo.backends.common import aot_autograd

    f = _loss_fn(loss, i)
    torch._dynamo.reset()
    fw, fw_graphs = _counting_backend()
    bw, bw_graphs = _counting_backend()
    compiled = torch.compile(f, dynamic=True, fullgraph=True, backend=aot_autograd(fw_compiler=fw, bw_compiler=bw))
    for shape in [(5, 6), (9, 6)]:
        x, y = _compile_inputs(loss, shape, seed=shape[0])
        arrays = {k: v for k, v in _options(loss, i, x).items() if isinstance(v, torch.Tensor)}
        xc, xe = x.clone().requires_grad_(), x.clone().requires_grad_()
        vc, ve = compiled(xc, y, arrays), f(xe, y, arrays)
        vc.sum().backward()
        ve.sum().backward()
        tol = tolerance(vc.dtype, 64)
        torch.testing.assert_close(vc, ve, rtol=tol, atol=tol)
        torch.testing.assert_close(xc.grad, xe.grad, rtol=tolerance("float32", 64), atol=tolerance("float32", 64))
    assert (len(fw_graphs), len(bw_graphs)) == (1, 1)


@pytest.mark.parametrize("loss", list(LOSSES))
def test_explain_finds_no_graph_break(loss):
    """``torch._dynamo.explain`` of a forward (nothing requires grad: the path without
    the autograd Function): one graph, no break."""
    x, y = _compile_inputs(loss, (5, 6))
    torch._dynamo.reset()
    explained = torch._dynamo.explain(lambda a, b: LOSSES[loss][0](a, b, reduction="mean"))(x, y)
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained.break_reasons


def test_the_first_call_inside_torch_compile_prints_no_warning_from_xbackend():
    """A fresh interpreter whose first xbackend call happens inside ``torch.compile``
    (where every namespace and backend lookup is traced for the first time): no warning
    from xbackend's or array_api_compat's code (Dynamo used to warn six times about the
    namespace lookup's ``lru_cache``), every loss."""
    script = textwrap.dedent(
        """
        import warnings
        import torch
        import xbackend as xb
        warnings.simplefilter("always")
        x, z, y = torch.randn(4, 5), torch.rand(4, 5), torch.tensor([0, 1, 2, 3])
        p, q = torch.sigmoid(x), torch.softmax(x, -1)
        calls = [
            (xb.sigmoid_cross_entropy, x, z), (xb.softmax_cross_entropy, x, q),
            (xb.sparse_softmax_cross_entropy, x, y), (xb.sigmoid_focal_loss, x, z),
            (xb.softmax_focal_loss, x, y), (xb.binary_cross_entropy, p, z),
            (xb.categorical_cross_entropy, q, q),
        ]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for fn, a, b in calls:
                torch.compile(lambda a, b: fn(a, b, reduction="mean"), fullgraph=True, backend="eager")(a, b)
        ours = [str(w.message) for w in caught
                if any(s in str(w.filename) + str(w.message) for s in ("xbackend", "array_api_compat"))]
        print("WARNINGS:", len(ours))
        for m in ours:
            print(m)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "WARNINGS: 0" in run.stdout, run.stdout[-3000:]


def test_xb_compiled_never_raises_on_new_shapes(monkeypatch):
    """``xb.compiled`` (``fullgraph=True``, ``dynamic=None`` like torch's default) over
    ten batch sizes -- more than Dynamo's recompile limit of 8, which used to end in
    ``FailOnRecompileLimitHit`` at the 9th size -- with at most two graphs. Dynamo runs
    with a graph-counting backend instead of Inductor (the graph count is Dynamo's)."""
    backend, graphs = _counting_backend()
    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: real_compile(fn, backend=backend, **kw))
    torch._dynamo.reset()
    loss = xb.compiled(lambda x, y, smoothing: xb.sparse_softmax_cross_entropy(
        x, y, label_smoothing=smoothing, reduction="mean"))  # fmt: skip
    for b in range(2, 12):
        x, y = _compile_inputs("sparse_softmax_cross_entropy", (b, 6), seed=b)
        x.requires_grad_()
        value = loss(x, y, 0.1)
        value.backward()
        want = xb.sparse_softmax_cross_entropy(x, y, label_smoothing=0.1, reduction="mean")
        torch.testing.assert_close(value, want, rtol=tolerance("float32", 16), atol=0.0)
    assert len(graphs) <= 2


@pytest.mark.parametrize("loss", ["sparse_softmax_cross_entropy", "sigmoid_cross_entropy"])
def test_torch_export_with_a_dynamic_batch(loss):
    """``torch.export.export`` with a dynamic batch ``Dim``: the exported program runs a
    batch size it was not traced with and equals eager."""
    fn = LOSSES[loss][0]

    class Loss(torch.nn.Module):
        def forward(self, x, y):
            return fn(x, y, reduction="mean")

    x, y = _compile_inputs(loss, (5, 6))
    batch = torch.export.Dim("batch", min=2, max=1024)
    shapes = {"x": {0: batch}, "y": {0: batch}}
    exported = torch.export.export(Loss(), (x, y), dynamic_shapes=shapes)
    x2, y2 = _compile_inputs(loss, (17, 6), seed=1)
    got = exported.module()(x2, y2)
    torch.testing.assert_close(got, fn(x2, y2, reduction="mean"), rtol=tolerance("float32", 16), atol=0.0)


# --------------------------------------------------------------------- torch.autocast
#: torch's cross-entropies under autocast: float32 (autocast's fp32 policy)
AUTOCAST_NATIVES = {
    "sigmoid_cross_entropy": lambda h, y: F.binary_cross_entropy_with_logits(h, y),
    "softmax_cross_entropy": lambda h, y: F.cross_entropy(h, y),
    "sparse_softmax_cross_entropy": lambda h, y: F.cross_entropy(h, y),
    "binary_cross_entropy": lambda h, y: F.binary_cross_entropy(h, y),  # CPU autocast: fp32 list
}


@pytest.mark.parametrize("half", [torch.bfloat16, torch.float16], ids=["bfloat16", "float16"])
@pytest.mark.parametrize("loss", list(LOSSES))
def test_autocast_follows_the_float32_policy_of_the_native(loss, half):
    """Inside ``torch.autocast("cpu", dtype=half)`` a half-precision activation gives a
    float32 loss computed in float32 (equal to the loss of the float32-cast input outside
    autocast) and a gradient in the activation's dtype -- as ``F.cross_entropy`` /
    ``F.binary_cross_entropy_with_logits`` do."""
    fn = LOSSES[loss][0]
    x, y = _compile_inputs(loss, (5, 6))
    linear = torch.nn.Linear(6, 6)
    head = HEADS.get(loss, lambda h: h)
    with torch.autocast("cpu", dtype=half):
        h = head(linear(x))
        assert h.dtype == half  # autocast ran the linear layer in half precision
        h.retain_grad()
        value = fn(h, y, reduction="mean")
        if loss in AUTOCAST_NATIVES:
            native = AUTOCAST_NATIVES[loss](h, y)
            assert native.dtype == torch.float32
    assert value.dtype == torch.float32
    want = fn(h.detach().float(), y, reduction="mean")
    torch.testing.assert_close(value, want, rtol=tolerance("float32", 16), atol=0.0)
    if loss in AUTOCAST_NATIVES and loss != "binary_cross_entropy":  # torch's BCE "mean" = our mean here
        torch.testing.assert_close(value, native, rtol=tolerance("float32", 16), atol=0.0)
    value.backward()
    assert h.grad.dtype == half


def test_number_options_passed_as_arguments_under_dynamic_true():
    """``dynamic=True`` makes Python floats that reach the compiled function as
    arguments symbolic; the checks and kernels accept them (no ``math.isinf``,
    ``math.isnan`` or NumPy on them): every loss with its number options, forward and
    backward, equal to eager. One loss per kind of number check: fractions and
    non-negative numbers (``label_smoothing``, ``z_loss``; ``gamma``/``alpha`` share
    them), a number that may be an array (``pos_weight``), a clip bound (``eps``)."""
    from torch._dynamo.backends.common import aot_autograd

    numbers = {
        "sigmoid_cross_entropy": {"label_smoothing": 0.1, "pos_weight": 2.0},
        "sparse_softmax_cross_entropy": {"label_smoothing": 0.1, "z_loss": 1e-3},
        "categorical_cross_entropy": {"eps": 1e-4},
    }
    for loss, kw in numbers.items():
        fn = LOSSES[loss][0]
        torch._dynamo.reset()
        backend, _ = _counting_backend()
        compiled = torch.compile(lambda x, y, kw, fn=fn: fn(x, y, reduction="mean", **kw), dynamic=True, fullgraph=True,
                                 backend=aot_autograd(fw_compiler=backend))  # fmt: skip
        x, y = _compile_inputs(loss, (7, 6))
        xc, xe = x.clone().requires_grad_(), x.clone().requires_grad_()
        vc, ve = compiled(xc, y, kw), fn(xe, y, reduction="mean", **kw)
        vc.backward()
        ve.backward()
        torch.testing.assert_close(vc, ve, rtol=tolerance("float32", 64), atol=0.0)
        torch.testing.assert_close(xc.grad, xe.grad, rtol=tolerance("float32", 64), atol=tolerance("float32", 64))


def test_bench_counts_compilations_over_batch_sizes_for_both_variants(monkeypatch):
    """``xbackend bench``'s recompilation rows (:func:`recompile_rows`): one row per loss
    and variant, xbackend compiling no more often than the native (Dynamo with a
    graph-counting backend here; the bench itself runs Inductor)."""
    from xbackend._cli import _bench

    backend, _ = _counting_backend()
    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: real_compile(fn, backend=backend, **kw))
    rows = _bench.recompile_rows("torch", "cpu", ["sparse", "sigmoid"], sizes=(4, 8, 12, 16), classes=16)
    assert [(r["loss"], r["variant"]) for r in rows] == [
        ("sparse", "native_c"), ("sparse", "xb_c"), ("sigmoid", "native_c"), ("sigmoid", "xb_c")]  # fmt: skip
    for native, ours in (rows[0:2], rows[2:4]):
        assert 1 <= ours["compilations"] <= native["compilations"], (ours, native)
        assert ours["total_s"] > 0 and ours["sizes"] == 4 and ours["classes"] == 16
    assert _bench.recompile_rows("no-such-framework", "cpu", ["sparse"]) == []
