"""xbackend.compat.torch on every backend against torch.nn.functional on the same inputs.

Matrix: backend × dtype × option × reduction, values (every backend) and gradients
(autodiff backends) against PyTorch. Where PyTorch is numerically wrong (±inf logits,
tiny losses, clipped gradients, NaN means, device-dependent bad labels) the test
compares with the float64 closed form and also asserts PyTorch's documented failure,
so the docstrings' claims stay true.
"""

from __future__ import annotations

import warnings
import zlib
from functools import cache

import numpy as np
import pytest

from tests.backends import Backend
from tests.compat_support import MAIN_DTYPES, assert_close_np, check, grad, on, rounded, skip_unless_dtype

torch = pytest.importorskip("torch", reason="torch is not installed (it is the oracle of xbackend.compat.torch)")
F = torch.nn.functional

from xbackend.compat import torch as xF

REDUCTIONS = ("mean", "sum", "none")
N, C = 6, 4


def _rng(*key: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _cells(cases: list[str], f32: list[str]) -> list:
    """Every case in float64 (the precise comparison); the float32 dtype policy on a few."""
    return [pytest.param("float64", c, id=f"float64-{c}") for c in cases] + [
        pytest.param("float32", c, id=f"float32-{c}") for c in f32
    ]


def _int_dtype(backend: Backend) -> str:
    return "int32" if backend.framework == "tensorflow" else "int64"


def _t(a: np.ndarray | None, dtype: str) -> torch.Tensor | None:
    if a is None:
        return None
    if np.issubdtype(a.dtype, np.integer):
        return torch.asarray(a.astype(np.int64))
    return torch.asarray(rounded(a, dtype)).to(getattr(torch, dtype))


def _b(backend: Backend, a: np.ndarray | None, dtype: str) -> object:
    if a is None:
        return None
    if np.issubdtype(a.dtype, np.integer):
        return backend.asarray(a, _int_dtype(backend))
    return backend.asarray(rounded(a, dtype), dtype)


# ------------------------------------------------------------------ binary_cross_entropy_with_logits

BCEL_CASES = {
    "plain": dict(shape=(N, C)),
    "weight_elementwise": dict(shape=(N, C), weight=(N, C)),
    "weight_per_row_and_pos_weight_per_class": dict(shape=(N, C), weight=(N, 1), pos_weight=(C,)),
    "3d_weight_per_class_pos_weight_last_axis": dict(shape=(2, 3, C), weight=(C,), pos_weight=(C,)),
}


def _bcel_data(case: str) -> dict:
    spec = BCEL_CASES[case]
    rng = _rng("bcel", case)
    d = {
        "input": rng.normal(0, 3, spec["shape"]),
        "target": rng.uniform(0, 1, spec["shape"]),
        "weight": None if "weight" not in spec else rng.uniform(0.2, 2.0, spec["weight"]),
        "pos_weight": None if "pos_weight" not in spec else rng.uniform(0.5, 3.0, spec["pos_weight"]),
    }
    return d


@cache
def _bcel_oracle(case: str, reduction: str, dtype: str) -> np.ndarray:
    d = _bcel_data(case)
    out = F.binary_cross_entropy_with_logits(
        _t(d["input"], dtype), _t(d["target"], dtype), weight=_t(d["weight"], dtype),
        pos_weight=_t(d["pos_weight"], dtype), reduction=reduction,
    )
    return out.double().numpy()


@pytest.mark.parametrize("dtype, case", _cells(list(BCEL_CASES), ["plain", "3d_weight_per_class_pos_weight_last_axis"]))
def test_binary_cross_entropy_with_logits_matches_torch_weight_pos_weight_and_every_reduction(backend, dtype, case):
    d = _bcel_data(case)
    x, z, w, pw = (_b(backend, d[k], dtype) for k in ("input", "target", "weight", "pos_weight"))
    scale = np.abs(d["input"]).max()  # the loss is |x|-sized terms that may cancel
    for reduction in REDUCTIONS:
        out = on(backend, xF.binary_cross_entropy_with_logits)(x, z, weight=w, reduction=reduction, pos_weight=pw)
        check(out, _bcel_oracle(case, reduction, dtype), backend, dtype, atol_scale=scale, what=f"{case}/{reduction}")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_binary_cross_entropy_with_logits_low_precision_is_torch_semantics_rounded_once(backend, dtype):
    """float16/bfloat16 are computed in float32 and rounded once, so the oracle is PyTorch in
    float64 on the same rounded inputs. (PyTorch's own half-precision kernel cancels: 0.1104
    instead of 0.1031 for one element of this data in bfloat16.)"""
    skip_unless_dtype(backend, dtype)
    d = _bcel_data("weight_per_row_and_pos_weight_per_class")
    x, z, w, pw = (_b(backend, d[k], dtype) for k in ("input", "target", "weight", "pos_weight"))
    for reduction in ("none", "mean"):
        out = on(backend, xF.binary_cross_entropy_with_logits)(x, z, weight=w, reduction=reduction, pos_weight=pw)
        ref = F.binary_cross_entropy_with_logits(
            *(torch.asarray(rounded(d[k], dtype)) for k in ("input", "target")),
            weight=torch.asarray(rounded(d["weight"], dtype)), pos_weight=torch.asarray(rounded(d["pos_weight"], dtype)),
            reduction=reduction,
        )
        check(out, ref.numpy(), backend, dtype, factor=1.0, what=reduction)


@pytest.mark.parametrize("dtype, case", _cells(["weight_per_row_and_pos_weight_per_class",
                                                 "3d_weight_per_class_pos_weight_last_axis"],
                                                ["3d_weight_per_class_pos_weight_last_axis"]))
def test_binary_cross_entropy_with_logits_gradient_matches_torch_autograd(ad_backend, dtype, case):
    d = _bcel_data(case)
    for reduction in ("mean", "none"):
        ct = _rng("ct", case).normal(size=d["input"].shape) if reduction == "none" else None

        def f(x, lib=xF, conv=lambda a: _b(ad_backend, a, dtype)):
            return lib.binary_cross_entropy_with_logits(
                x, conv(d["target"]), weight=conv(d["weight"]), pos_weight=conv(d["pos_weight"]), reduction=reduction)

        g = grad(ad_backend, f, _b(ad_backend, d["input"], dtype), ct)
        xt = _t(d["input"], dtype).requires_grad_(True)
        out = f(xt, F, lambda a: _t(a, dtype))
        out.backward(torch.ones_like(out) if ct is None else torch.asarray(ct, dtype=out.dtype))
        assert_close_np(g, xt.grad.double().numpy(), dtype, atol_scale=1.0, what=reduction)


def test_binary_cross_entropy_with_logits_is_exact_at_infinite_logits_where_torch_is_nan(backend):
    x = np.array([-np.inf, np.inf, -np.inf, np.inf])
    z = np.array([0.0, 1.0, 1.0, 0.0])
    out = on(backend, xF.binary_cross_entropy_with_logits)(_b(backend, x, "float64"), _b(backend, z, "float64"), reduction="none")
    check(out, [0.0, 0.0, np.inf, np.inf], backend, "float64")
    native = F.binary_cross_entropy_with_logits(torch.asarray(x), torch.asarray(z), reduction="none").numpy()
    assert np.isnan(native[:3]).all(), "torch now gets ±inf logits right: update the compat docstring"


@pytest.mark.parametrize("dtype", MAIN_DTYPES)
def test_binary_cross_entropy_with_logits_keeps_tiny_losses_torch_flushes(backend, dtype):
    x, z = np.array([-30.0, 30.0]), np.array([0.0, 1.0])
    exact = np.log1p(np.exp(-30.0))  # 9.3576e-14, closed form in float64
    out = on(backend, xF.binary_cross_entropy_with_logits)(_b(backend, x, dtype), _b(backend, z, dtype), reduction="none")
    check(out, [exact, exact], backend, dtype, factor=4)
    native = F.binary_cross_entropy_with_logits(_t(x, dtype), _t(z, dtype), reduction="none").double().numpy()
    if dtype == "float32":
        assert native[0] == 0.0
    else:
        assert abs(native[0] / exact - 1) > 1e-3  # (1-z)x - log σ(x) cancels: 9.2371e-14


def test_binary_cross_entropy_with_logits_gradient_is_exact_where_torch_flushes_it(ad_backend):
    x = _b(ad_backend, np.array([30.0]), "float32")
    z = _b(ad_backend, np.array([1.0]), "float32")
    g = grad(ad_backend, lambda v: on(ad_backend, xF.binary_cross_entropy_with_logits)(v, z, reduction="sum"), x)
    assert_close_np(g, [-1.0 / (1.0 + np.exp(30.0))], "float32", factor=4)  # σ(x) - 1 = -9.36e-14
    xt = torch.tensor([30.0], requires_grad=True)
    F.binary_cross_entropy_with_logits(xt, torch.tensor([1.0]), reduction="sum").backward()
    assert xt.grad.item() == 0.0


def test_binary_cross_entropy_with_logits_legacy_size_average_and_reduce_follow_torch(backend):
    d = _bcel_data("plain")
    x, z = _b(backend, d["input"], "float64"), _b(backend, d["target"], "float64")
    for kwargs, red in [({"size_average": False}, "sum"), ({"reduce": False}, "none"), ({"size_average": True}, "mean")]:
        with pytest.warns(UserWarning, match=f"reduction='{red}'"):
            out = on(backend, xF.binary_cross_entropy_with_logits)(x, z, **kwargs)
        check(out, _bcel_oracle("plain", red, "float64"), backend, "float64", what=str(kwargs))


def test_binary_cross_entropy_with_logits_requires_target_of_input_shape_like_torch(backend):
    x, z = _b(backend, np.zeros((2, 3)), "float64"), _b(backend, np.zeros(3), "float64")
    with pytest.raises(ValueError, match=r"target with shape \(3,\) and input with shape \(2, 3\)"):
        on(backend, xF.binary_cross_entropy_with_logits)(x, z)
    with pytest.raises(ValueError, match="reduction"):
        on(backend, xF.binary_cross_entropy_with_logits)(x, _b(backend, np.zeros((2, 3)), "float64"), reduction="batchmean")


# ------------------------------------------------------------------------- binary_cross_entropy

def _bce_data(weighted: bool) -> dict:
    rng = _rng("bce", weighted)
    p = rng.uniform(0, 1, (N, C))
    p[0, :] = [0.0, 1.0, 1e-30, 1.0 - 1e-12]  # the edges: exact 0/1 and clamped logs
    z = rng.uniform(0, 1, (N, C))
    z[0, :] = [0.0, 1.0, 1.0, 0.0]
    return {"input": p, "target": z, "weight": rng.uniform(0.2, 2.0, (C,)) if weighted else None}


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weight"])
@pytest.mark.parametrize("dtype", MAIN_DTYPES)
def test_binary_cross_entropy_matches_torch_including_its_log_clamp_at_minus_100(backend, dtype, weighted):
    d = _bce_data(weighted)
    p, z, w = (_b(backend, d[k], dtype) for k in ("input", "target", "weight"))
    for reduction in REDUCTIONS:
        out = on(backend, xF.binary_cross_entropy)(p, z, weight=w, reduction=reduction)
        ref = F.binary_cross_entropy(_t(d["input"], dtype), _t(d["target"], dtype), weight=_t(d["weight"], dtype),
                                     reduction=reduction).double().numpy()
        check(out, ref, backend, dtype, what=reduction)


@pytest.mark.parametrize("dtype", MAIN_DTYPES)
def test_binary_cross_entropy_gradient_matches_torch_inside_the_clamp(ad_backend, dtype):
    d = _bce_data(True)
    p = np.clip(d["input"], 0.05, 0.95)  # torch's backward clips p(1-p) at 1e-12; stay clear of it

    def f(v, lib=xF, conv=lambda a: _b(ad_backend, a, dtype)):
        return lib.binary_cross_entropy(v, conv(d["target"]), weight=conv(d["weight"]), reduction="mean")

    g = grad(ad_backend, f, _b(ad_backend, p, dtype))
    pt = _t(p, dtype).requires_grad_(True)
    f(pt, F, lambda a: _t(a, dtype)).backward()
    assert_close_np(g, pt.grad.double().numpy(), dtype, atol_scale=1.0)


def test_binary_cross_entropy_gradient_is_exact_where_torch_clips_it(ad_backend):
    p, z = np.array([1e-30, 0.5]), np.array([1.0, 1.0])
    g = grad(ad_backend, lambda v: on(ad_backend, xF.binary_cross_entropy)(v, _b(ad_backend, z, "float64"), reduction="sum"),
             _b(ad_backend, p, "float64"))
    assert_close_np(g, -1.0 / p, "float64", factor=4)  # d/dp of -log p: -1e30 and -2
    pt = torch.asarray(p).requires_grad_(True)
    F.binary_cross_entropy(pt, torch.asarray(z), reduction="sum").backward()
    assert pt.grad[0].item() == pytest.approx(-1e12)  # torch divides by max(p(1-p), 1e-12)


def test_binary_cross_entropy_outside_unit_interval_is_nan_where_torch_raises(backend):
    p, z = np.array([-0.5, 1.5, 0.5]), np.array([1.0, 0.0, 1.0])
    out = on(backend, xF.binary_cross_entropy)(_b(backend, p, "float64"), _b(backend, z, "float64"), reduction="none")
    check(out, [np.nan, np.nan, np.log(2.0)], backend, "float64")
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(torch.asarray(p), torch.asarray(z))


# -------------------------------------------------------------------------------- cross_entropy

IDX_CASES = {
    "plain": dict(),
    "weight_ignore_index_smoothing": dict(weight=True, ignore=-100, ls=0.2),
    "weight_custom_ignore_index": dict(weight=True, ignore=2, ignore_index=2),
    "spatial_weight_ignore_index": dict(shape=(2, C, 3, 2), weight=True, ignore=-100),
    "single_sample_1d_smoothing": dict(shape=(C,), ls=0.1),
}
PROB_CASES = {
    "plain": dict(),
    "weight_smoothing": dict(weight=True, ls=0.3),
    "spatial_weight": dict(shape=(2, C, 3, 2), weight=True),
    "single_sample_1d_smoothing": dict(shape=(C,), ls=0.1),
}


def _ce_data(kind: str, case: str) -> dict:
    spec = (IDX_CASES if kind == "index" else PROB_CASES)[case]
    shape = spec.get("shape", (N, C))
    rng = _rng("ce", kind, case)
    x = rng.normal(0, 2, shape)
    axis = 1 if len(shape) >= 2 else 0
    rows = shape[:axis] + shape[axis + 1:]
    if kind == "index":
        y = rng.integers(0, C, rows)
        if "ignore" in spec and y.ndim:
            y.flat[1] = spec["ignore"]
            y.flat[-1] = spec["ignore"]
    else:
        y = rng.dirichlet(np.ones(C), rows) if rows else rng.dirichlet(np.ones(C))
        y = np.moveaxis(y, -1, axis)
    return {
        "input": x, "target": y,
        "weight": rng.uniform(0.3, 2.0, C) if spec.get("weight") else None,
        "ignore_index": spec.get("ignore_index", -100), "label_smoothing": spec.get("ls", 0.0),
    }


def _ce_kwargs(d: dict, reduction: str) -> dict:
    return dict(ignore_index=d["ignore_index"], reduction=reduction, label_smoothing=d["label_smoothing"])


@cache
def _ce_oracle(kind: str, case: str, reduction: str, dtype: str) -> np.ndarray:
    d = _ce_data(kind, case)
    out = F.cross_entropy(_t(d["input"], dtype), _t(d["target"], dtype), weight=_t(d["weight"], dtype),
                          **_ce_kwargs(d, reduction))
    return out.double().numpy()


def _ce_matrix_cell(backend: Backend, dtype: str, kind: str, case: str) -> None:
    d = _ce_data(kind, case)
    x, y, w = (_b(backend, d[k], dtype) for k in ("input", "target", "weight"))
    scale = np.abs(d["input"]).max() + np.log(C)  # size of the terms of lse - x_y
    for reduction in REDUCTIONS:
        out = on(backend, xF.cross_entropy)(x, y, weight=w, **_ce_kwargs(d, reduction))
        check(out, _ce_oracle(kind, case, reduction, dtype), backend, dtype, atol_scale=scale,
              what=f"{case}/{reduction}")


@pytest.mark.parametrize("dtype, case", _cells(list(IDX_CASES), ["plain", "weight_ignore_index_smoothing"]))
def test_cross_entropy_class_indices_match_torch_weight_ignore_index_smoothing_every_reduction(backend, dtype, case):
    _ce_matrix_cell(backend, dtype, "index", case)


@pytest.mark.parametrize("dtype, case", _cells(list(PROB_CASES), ["weight_smoothing"]))
def test_cross_entropy_class_probabilities_match_torch_weight_smoothing_and_mean_over_rows(backend, dtype, case):
    _ce_matrix_cell(backend, dtype, "prob", case)


@pytest.mark.parametrize("dtype, kind, case", [
    ("float64", "index", "weight_ignore_index_smoothing"), ("float64", "index", "spatial_weight_ignore_index"),
    ("float64", "prob", "weight_smoothing"), ("float32", "index", "weight_ignore_index_smoothing"),
])
def test_cross_entropy_gradient_matches_torch_autograd(ad_backend, dtype, kind, case):
    d = _ce_data(kind, case)
    for reduction in ("mean", "none"):
        rows = d["input"].shape[:1] + d["input"].shape[2:]
        ct = _rng("ct", kind, case).normal(size=rows) if reduction == "none" else None

        def f(v, lib=xF, conv=lambda a: _b(ad_backend, a, dtype)):
            return lib.cross_entropy(v, conv(d["target"]), weight=conv(d["weight"]), **_ce_kwargs(d, reduction))

        g = grad(ad_backend, f, _b(ad_backend, d["input"], dtype), ct)
        xt = _t(d["input"], dtype).requires_grad_(True)
        out = f(xt, F, lambda a: _t(a, dtype))
        out.backward(torch.ones_like(out) if ct is None else torch.asarray(ct, dtype=out.dtype))
        assert_close_np(g, xt.grad.double().numpy(), dtype, atol_scale=1.0, what=reduction)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_cross_entropy_low_precision_is_torch_semantics_rounded_once(backend, dtype):
    """Computed in float32 and rounded once: the oracle is PyTorch in float64 on the rounded inputs."""
    skip_unless_dtype(backend, dtype)
    for kind, case in (("index", "weight_ignore_index_smoothing"), ("prob", "weight_smoothing")):
        d = _ce_data(kind, case)
        x, y, w = (_b(backend, d[k], dtype) for k in ("input", "target", "weight"))
        for reduction in ("none", "mean"):
            out = on(backend, xF.cross_entropy)(x, y, weight=w, **_ce_kwargs(d, reduction))
            check(out, _ce_oracle(kind, case, reduction, "float64"), backend, dtype, factor=1.0,
                  what=f"{kind}/{reduction}")


def test_cross_entropy_mean_of_fully_ignored_or_empty_batch_is_zero_where_torch_is_nan(backend):
    x = _b(backend, np.zeros((3, C)), "float64")
    y = _b(backend, np.full(3, -100), "int64")
    check(on(backend, xF.cross_entropy)(x, y), 0.0, backend, "float64")
    empty = on(backend, xF.cross_entropy)(_b(backend, np.zeros((0, C)), "float64"), _b(backend, np.zeros(0, np.int64), "int64"))
    check(empty, 0.0, backend, "float64")
    assert torch.isnan(F.cross_entropy(torch.zeros(3, C, dtype=torch.float64), torch.full((3,), -100)))


def test_cross_entropy_bad_class_index_gives_nan_row_where_torch_raises(backend):
    d = _ce_data("index", "plain")
    y = d["target"].copy()
    y[2] = C  # out of range, not ignore_index
    out = on(backend, xF.cross_entropy)(_b(backend, d["input"], "float64"), _b(backend, y, "float64"), reduction="none")
    ref = _ce_oracle("index", "plain", "none", "float64").copy()
    ref[2] = np.nan
    check(out, ref, backend, "float64", atol_scale=np.abs(d["input"]).max() + np.log(C))
    with pytest.raises(IndexError, match="out of bounds"):
        F.cross_entropy(torch.asarray(d["input"]), torch.asarray(y))


def test_cross_entropy_invalid_raise_reports_the_bad_index_like_torch_on_cpu():
    x, y = np.zeros((3, C)), np.array([0, -1, 2])
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 4\) or ignore_index=-100; got -1"):
        xF.cross_entropy(x, y, invalid="raise")


def test_cross_entropy_minus_inf_logit_is_a_masked_class_where_torch_gives_nan_or_inf(backend):
    x = np.array([[2.0, -np.inf, 0.1]])
    lse = np.log(np.exp(2.0) + np.exp(0.1))
    # index target 0, smoothing 0.1 over the K = 2 unmasked classes (closed form)
    want_idx = 0.9 * (lse - 2.0) + 0.05 * (lse - 2.0) + 0.05 * (lse - 0.1)
    out = on(backend, xF.cross_entropy)(_b(backend, x, "float64"), _b(backend, np.array([0]), "int64"), reduction="none",
                           label_smoothing=0.1)
    check(out, [want_idx], backend, "float64")
    out = on(backend, xF.cross_entropy)(_b(backend, x, "float64"), _b(backend, np.array([[1.0, 0.0, 0.0]]), "float64"),
                           reduction="none")
    check(out, [lse - 2.0], backend, "float64")
    assert F.cross_entropy(torch.asarray(x), torch.tensor([0]), reduction="none", label_smoothing=0.1).item() == np.inf
    assert np.isnan(F.cross_entropy(torch.asarray(x), torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)).item())


def test_cross_entropy_accepts_int32_indices_that_torch_rejects(backend):
    d = _ce_data("index", "weight_custom_ignore_index")
    x, w = _b(backend, d["input"], "float64"), _b(backend, d["weight"], "float64")
    out = on(backend, xF.cross_entropy)(x, backend.asarray(d["target"], "int32"), weight=w, ignore_index=2)
    check(out, _ce_oracle("index", "weight_custom_ignore_index", "mean", "float64"), backend, "float64")


def test_cross_entropy_legacy_size_average_and_reduce_follow_torch(backend):
    d = _ce_data("index", "weight_ignore_index_smoothing")
    x, y, w = (_b(backend, d[k], "float64") for k in ("input", "target", "weight"))
    for kwargs, red in [({"size_average": False}, "sum"), ({"reduce": False}, "none")]:
        with pytest.warns(UserWarning, match=f"reduction='{red}'"):
            out = on(backend, xF.cross_entropy)(x, y, w, label_smoothing=0.2, **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = F.cross_entropy(_t(d["input"], "float64"), _t(d["target"], "float64"), _t(d["weight"], "float64"),
                                  label_smoothing=0.2, **kwargs)
        check(out, ref.numpy(), backend, "float64", what=str(kwargs))


def test_cross_entropy_probability_target_must_have_input_shape(backend):
    x = _b(backend, np.zeros((2, C)), "float64")
    with pytest.raises(ValueError, match=r"target with shape \(4,\) and input with shape \(2, 4\)"):
        on(backend, xF.cross_entropy)(x, _b(backend, np.full(C, 0.25), "float64"))
