"""The conformance matrix's generator: cases, cells and tolerances (shared by test_conformance_*).

A *cell* is ``(backend, dtype, spec, reduction)``: ``spec`` is a tuple of option tokens
(:data:`OPTION_SETS`) that :func:`make_case` turns into deterministic float64 data, and
the cell generators (:func:`cells`, :func:`grad_cells`, :func:`native_cells`) produce
the pytest params of backend × dtype × option × reduction (see "The product" below).
Each cell compares

* xbackend against :func:`xbackend.testing._oracles.closed_form` evaluated on the *rounded*
  inputs (the low-precision arrays themselves), values and gradients (central
  differences, :func:`xbackend.testing._oracles.closed_form_grad`), and
* xbackend against every registered native that can express the cell
  (:func:`native_cells`), on the native framework's own arrays, values and autodiff
  gradients,

checking namespace, shape, dtype and device on every cell
(:func:`xbackend.testing.assert_matches_reference`).

Tolerances, autodiff and finite differences are the toolkit's, shared with ``xbackend
report``: :func:`xbackend.testing._tolerance.tolerances` (the one model: ``K_OPS = 16``
roundings in the computing dtype, float32 for float16/bfloat16 inputs, relative to the
value scale :func:`~xbackend.testing._tolerance.value_scale`; a native computes in its
dtype; gradients use the largest reference entry as the scale),
:func:`xbackend.testing._autodiff.grad_of` (torch autograd, ``jax.vjp``,
``tf.GradientTape``) and :func:`xbackend.testing._oracles.closed_form_grad` with its error
bound.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pytest

import xbackend as xb
from tests.backends import ALL, BY_NAME, Backend, skip_reason
from xbackend.testing import _oracles, assert_matches_reference, to_numpy
from xbackend.testing._autodiff import compiled, grad_of
from xbackend.testing._tolerance import finite_max, tolerances, value_scale

REDUCTIONS = ("none", "sum", "mean", "sum_over_batch_size")
GRAD_REDUCTIONS = ("none", "mean")  # "none" with a random cotangent; "mean" has a data-dependent denominator
N, C = 4, 5
SMOOTH, ZLOSS = 0.1, 0.05
IGNORE = -100

SOFT = ("softmax_cross_entropy", "categorical_cross_entropy")
INT = ("sparse_softmax_cross_entropy", "softmax_focal_loss")
ROWWISE = SOFT + INT

#: option sets per loss (tokens; see make_case). Every option of the public API appears.
OPTION_SETS: dict[str, tuple[tuple[str, ...], ...]] = {
    "sigmoid_cross_entropy": (
        (),
        ("weights",),
        ("weights_row",),
        ("pos_weight",),
        ("pos_weight_scalar",),
        ("weights", "pos_weight"),
        ("label_smoothing",),
        ("where",),
        ("where", "weights"),
        ("hard_labels",),
        ("int_labels",),
        ("out_float32",),
    ),
    "softmax_cross_entropy": (
        (),
        ("class_weights",),
        ("weights",),
        ("label_smoothing",),
        ("class_weights", "label_smoothing"),
        ("z_loss",),
        ("where",),
        ("where", "label_smoothing"),
        ("unnormalized",),
        ("onehot",),
        ("onehot", "class_weights"),
        ("axis0",),
        ("axis_mid", "class_weights"),
        ("class_weights", "weights", "label_smoothing", "z_loss", "where"),
        ("out_float32",),
    ),
    "sparse_softmax_cross_entropy": (
        (),
        ("class_weights",),
        ("weights",),
        ("ignore_index",),
        ("class_weights", "ignore_index"),
        ("label_smoothing",),
        ("class_weights", "label_smoothing"),
        ("class_weights", "ignore_index", "label_smoothing"),
        ("z_loss",),
        ("where",),
        ("where", "label_smoothing", "class_weights"),
        ("invalid",),
        ("axis0",),
        ("axis_mid", "class_weights", "ignore_index"),
        ("class_weights", "weights", "ignore_index", "label_smoothing", "z_loss", "where"),
        ("out_float32",),
    ),
    "sigmoid_focal_loss": (
        (),
        ("gamma0",),
        ("gamma_half",),
        ("alpha",),
        ("gamma_half", "alpha"),
        ("hard_labels", "alpha"),
        ("weights",),
        ("where",),
    ),
    "softmax_focal_loss": (
        (),
        ("gamma0",),
        ("gamma_half",),
        ("alpha",),
        ("alpha_classes",),
        ("ignore_index",),
        ("weights", "alpha_classes"),
        ("axis_mid",),
        ("invalid",),
        ("label_smoothing",),
        ("label_smoothing", "gamma_half", "alpha_classes", "ignore_index"),
    ),
    "binary_cross_entropy": ((), ("weights",), ("eps",), ("int_labels",)),
    "categorical_cross_entropy": ((), ("weights",), ("eps",), ("axis0",)),
}

#: tokens that change the data but are no option a native can be told about
DATA_ONLY = {"int_labels", "out_float32", "invalid"}


@dataclass
class Case:
    """One loss call in float64 NumPy: ``fn(x, y, **options)``."""

    loss: str
    spec: tuple
    x: np.ndarray
    y: np.ndarray
    options: dict = field(default_factory=dict)  # xbackend option -> value (NumPy or Python)
    cotangent: np.ndarray | None = None  # for gradients of reduction="none"
    out_float32: bool = False

    @property
    def label_kind(self) -> str:
        if self.loss in INT:
            return "int"
        return "soft" if self.loss in SOFT else "binary"

    def row_shape(self) -> tuple:
        ax = self.options.get("axis", -1)
        return tuple(s for i, s in enumerate(self.x.shape) if i != ax % self.x.ndim)

    def loss_shape(self) -> tuple:
        return self.row_shape() if self.loss in ROWWISE else self.x.shape

    def n_classes(self) -> int:
        return self.x.shape[self.options.get("axis", -1)]


def _seed(*parts: Any) -> int:
    return zlib.crc32(repr(parts).encode())


def _softmax(a: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@cache
def make_case(loss: str, spec: tuple) -> Case:
    """Deterministic data for ``loss`` with the option tokens in ``spec``."""
    rng = np.random.default_rng(_seed(loss, spec))
    toks = set(spec)
    axis = -1
    shape = (N, C)
    if "axis0" in toks:
        axis, shape = 0, (C, N)
    elif "axis_mid" in toks:
        axis, shape = 1, (3, C, 2)
    nc = shape[axis]
    opts: dict[str, Any] = {}
    if axis != -1:
        opts["axis"] = axis

    x = rng.normal(size=shape) * 2.0
    rows = tuple(s for i, s in enumerate(shape) if i != axis % len(shape))
    mask = None
    if "where" in toks:
        mask = rng.uniform(size=shape) < 0.7
        if loss in ROWWISE:
            ml = np.moveaxis(mask, axis, -1)  # a view: rows first, classes last
            ml[..., 0] = True  # every row keeps a class ...
            ml[(1,) + (0,) * (ml.ndim - 2)] = False  # ... except one fully masked row
        opts["where"] = mask

    # ---------------------------------------------------------------- labels / inputs
    if loss in ("binary_cross_entropy",):
        x = rng.uniform(0.02, 0.98, size=shape)
        if "eps" in toks:  # values outside [eps, 1-eps] exercise the clip
            x.flat[0], x.flat[1] = 1e-5, 1 - 1e-5
    if loss == "categorical_cross_entropy":
        x = 0.9 * _softmax(rng.normal(size=shape) * 2, axis) + 0.1 / nc
        if "eps" in toks:
            xl = np.moveaxis(x, axis, -1)
            xl[0, 0] = 1e-5
    if loss in INT:
        y = rng.integers(0, nc, size=rows)
        if mask is not None:  # labels on unmasked classes (masked-class labels: see test_edges)
            ml = np.moveaxis(mask, axis, -1)
            for r in np.ndindex(rows):
                ok = np.flatnonzero(ml[r])
                y[r] = rng.choice(ok) if ok.size else 0
        if "ignore_index" in toks:
            y.flat[1] = IGNORE
            opts["ignore_index"] = IGNORE
        if "invalid" in toks:
            y.flat[2] = nc  # out of range -> NaN row (invalid="nan")
    elif loss in SOFT:
        yl = rng.dirichlet(np.ones(nc), size=rows)  # rows last
        if "onehot" in toks:
            yl = np.eye(nc)[rng.integers(0, nc, size=rows)]
        if mask is not None:
            ml = np.moveaxis(mask, axis, -1)
            yl = np.where(ml, yl, 0.0)
            s = yl.sum(-1, keepdims=True)
            yl = np.where(s > 0, yl / np.where(s > 0, s, 1), rng.dirichlet(np.ones(nc), size=rows))
        if "unnormalized" in toks:  # labels that do not sum to 1 (exact gradient softmax·Σy − y)
            yl = yl * rng.uniform(0.3, 1.7, size=(*rows, 1))
        y = np.moveaxis(yl, -1, axis)
    else:  # binary labels
        y = rng.uniform(size=shape)
        y.flat[:3] = (0.0, 1.0, 0.0)
        if "hard_labels" in toks or "int_labels" in toks:
            y = (rng.uniform(size=shape) < 0.5).astype(np.float64)
        if "int_labels" in toks:
            y = y.astype(np.int64)

    # ------------------------------------------------------------------------ options
    wshape = rows if loss in ROWWISE else shape
    if "weights" in toks:
        opts["weights"] = rng.uniform(0.5, 2.0, size=wshape)
    if "weights_row" in toks:
        opts["weights"] = rng.uniform(0.5, 2.0, size=(shape[0], 1))
    if "class_weights" in toks:
        opts["class_weights"] = rng.uniform(0.5, 2.0, size=nc)
    if "pos_weight" in toks:
        opts["pos_weight"] = rng.uniform(0.5, 3.0, size=shape[-1])
    if "pos_weight_scalar" in toks:
        opts["pos_weight"] = 2.5
    if "label_smoothing" in toks:
        opts["label_smoothing"] = SMOOTH
    if "z_loss" in toks:
        opts["z_loss"] = ZLOSS
    if "gamma0" in toks:
        opts["gamma"] = 0.0
    if "gamma_half" in toks:
        opts["gamma"] = 0.5
    if "alpha" in toks:
        opts["alpha"] = 0.25
    if "alpha_classes" in toks:
        opts["alpha"] = rng.uniform(0.2, 1.0, size=nc)
    if "eps" in toks:
        opts["eps"] = 1e-3
    cot = rng.uniform(-1.0, 1.0, size=rows if loss in ROWWISE else shape)
    return Case(loss, spec, x, y, opts, cot, out_float32="out_float32" in toks)


# ============================================================================ cells
#
# The product backend × dtype × option set × reduction is generated here, explicitly.
# Fast eager backends (NumPy, array-api-strict, torch, CuPy) run the full product.
# Where eager calls on tiny arrays are expensive, a covering design keeps the CPU matrix
# inside its time budget while every option set, dtype and reduction still runs on
# every backend:
#
# * "specs" (TensorFlow): each option set runs in *one* dtype, rotating through the
#   backend's dtypes, with every reduction (TF's eager kernels are warm after the
#   first); its gradient and native cells use the same dtype;
# * "calls" (JAX: an eager call is one compiled program per shape, dtype and option set,
#   ~0.15 s to compile here, so every reduction is a new compilation; Dask: ~150 lazy
#   tasks per loss call): one dtype and one reduction per option set, both rotating, so
#   that every option set, dtype and reduction still runs on the backend.
#
# ``XBACKEND_FULL_MATRIX=1`` runs the full product everywhere.

FULL_MATRIX = os.environ.get("XBACKEND_FULL_MATRIX", "").strip() not in ("", "0")
LEVEL = {"jax": "calls", "jax:gpu": "calls", "tensorflow": "specs", "tensorflow:gpu": "specs", "dask": "calls"}


def level(b: Backend) -> str:
    """``"full"``, ``"specs"`` or ``"calls"`` (see above)."""
    return "full" if FULL_MATRIX else LEVEL.get(b.name, "full")


def spec_id(spec: tuple) -> str:
    return "+".join(spec) if spec else "plain"


def dtypes_for(b: Backend, loss: str, spec: tuple) -> tuple:
    """The dtypes option set ``spec`` of ``loss`` runs in on backend ``b``."""
    if level(b) == "full":
        return b.dtypes
    i = OPTION_SETS[loss].index(spec) + LOSS_OFFSET[loss]
    return (b.dtypes[i % len(b.dtypes)],)


#: so that each loss's first option set does not always land on float64
LOSS_OFFSET = {loss: i for i, loss in enumerate(OPTION_SETS)}


def cells(loss: str, reductions: tuple = REDUCTIONS) -> list:
    """pytest params ``(backend, dtype, spec, reduction)`` for the value matrix of ``loss``."""
    out = []
    for b in ALL:
        for i, spec in enumerate(OPTION_SETS[loss]):
            for dt in dtypes_for(b, loss, spec):
                reds = reductions if level(b) != "calls" else (reductions[(i + i // len(reductions)) % len(reductions)],)
                for red in reds:
                    out.append(pytest.param(b.name, dt, spec, red, id=f"{b.name}-{dt}-{spec_id(spec)}-{red}"))
    return out


def _wrts(loss: str, spec: tuple) -> list[str]:
    case = make_case(loss, spec)
    wrts = ["logits"]
    if case.label_kind != "int" and np.issubdtype(case.y.dtype, np.floating):
        wrts.append("labels")
    if "weights" in case.options:
        wrts.append("weights")
    return wrts


def grad_cells(loss: str) -> list:
    """pytest params ``(backend, dtype, spec, reduction, wrt)`` for the autodiff backends.

    Gradients with respect to the logits always, the float labels and the weights
    (both differentiated by xbackend), for reductions "none" (with a random cotangent)
    and "mean" (whose denominator depends on the data) -- both in float64/float32 on the
    full-product backends, one of them (rotating) otherwise; dtypes as :func:`dtypes_for`.
    """
    out = []
    for b in ALL:
        if not b.autodiff:
            continue
        k = 0
        for spec in OPTION_SETS[loss]:
            if "eps" in spec or "invalid" in spec:
                continue  # the clip's kinks / a NaN row: values only (see test_edges)
            for wrt in _wrts(loss, spec):
                k += 1
                for dt in dtypes_for(b, loss, spec):
                    both = level(b) == "full" and dt in ("float64", "float32")
                    for red in GRAD_REDUCTIONS if both else (GRAD_REDUCTIONS[k % len(GRAD_REDUCTIONS)],):
                        out.append(
                            pytest.param(b.name, dt, spec, red, wrt, id=f"{b.name}-{dt}-{spec_id(spec)}-{red}-d{wrt}")
                        )
    return out


def native_cells(loss: str, *, grad: bool = False) -> list:
    """pytest params ``(native, backend, dtype, spec, reduction[, wrt])``, ids in the native's vocabulary.

    Every option set the native can express (:meth:`Native.supports`), with every
    reduction it has (gradients: "none" and "mean"), for the arguments its autodiff
    differentiates; dtypes as :func:`dtypes_for`.
    """
    out = []
    for nat in _oracles.natives(loss):
        for b in ALL:
            if b.framework != nat.framework:
                continue
            for spec in OPTION_SETS[loss]:
                if DATA_ONLY & set(spec):
                    continue
                case = make_case(loss, spec)
                tag = f"({spec_id(spec)})" if spec else ""
                for red in GRAD_REDUCTIONS if grad else REDUCTIONS:
                    opts = {**case.options, "reduction": red}
                    if not nat.supports(opts):
                        continue
                    base = f"{nat.key}[{nat.cell_id(opts)}]{tag}"
                    for dt in dtypes_for(b, loss, spec):
                        if not grad:
                            out.append(pytest.param(nat, b.name, dt, spec, red, id=f"{base}-{b.name}-{dt}"))
                            continue
                        for wrt in nat.grad_wrt:
                            if wrt == "labels" and case.label_kind == "int":
                                continue
                            out.append(pytest.param(nat, b.name, dt, spec, red, wrt, id=f"{base}-d{wrt}-{b.name}-{dt}"))
    if not out:
        reason = f"no native reference for {loss} is registered in xbackend.testing._oracles (torch and optax have none)"
        n = 6 if grad else 5
        out.append(pytest.param(*([None] * n), id="no-native", marks=pytest.mark.skip(reason=reason)))
    return out


def use_backend(name: str) -> Backend:
    b = BY_NAME[name]
    reason = skip_reason(b)
    if reason is not None:
        pytest.skip(reason)
    return b


# ================================================================ backend conversion


@dataclass
class Call:
    """A case on one backend: the arrays to pass and the float64 rounded values."""

    x: Any
    y: Any
    options: dict  # backend arrays / Python values, xbackend names
    cotangent: Any


def to_backend(case: Case, b: Backend, dtype: str) -> Call:
    """The case's arrays on backend ``b``: floats in ``dtype``, ints int64, masks bool."""

    def conv(v: Any) -> Any:
        if v is None or isinstance(v, (int, float)):
            return v
        v = np.asarray(v)
        if v.dtype == np.bool_:
            return b.asarray(v, "bool")
        if np.issubdtype(v.dtype, np.integer):
            return b.asarray(v.astype(np.int64), b.int_dtype_name)
        return b.asarray(v, dtype)

    opts = {k: conv(v) for k, v in case.options.items()}
    if case.out_float32:
        opts["dtype"] = b.dtype("float32")
    return Call(conv(case.x), conv(case.y), opts, conv(case.cotangent))


def reference_options(call: Call) -> dict:
    """The options as the closed form takes them (backend arrays are converted there)."""
    return {k: v for k, v in call.options.items() if k != "dtype"}


# ========================================================================== calling


def xbackend_fn(loss: str, reduction: str) -> Any:
    fn = getattr(xb, loss)
    return lambda x, y, **opts: fn(x, y, reduction=reduction, **opts)


def call_xbackend(loss: str, call: Call, reduction: str) -> Any:
    return getattr(xb, loss)(call.x, call.y, **call.options, reduction=reduction)


def out_dtype_name(case: Case, dtype: str) -> str:
    return "float32" if case.out_float32 else dtype


def check_value_cell(loss: str, b: Backend, dtype: str, spec: tuple, reduction: str) -> None:
    """xbackend on backend ``b`` in ``dtype`` equals the float64 closed form of its rounded inputs."""
    case = make_case(loss, spec)
    call = to_backend(case, b, dtype)
    out = call_xbackend(loss, call, reduction)
    ref = _oracles.closed_form(loss, call.x, call.y, reduction=reduction, input_dtype=dtype, **reference_options(call))
    od = out_dtype_name(case, dtype)
    rtol, atol = tolerances(dtype, value_scale(loss, case.x, case.options, reduction), out=od)
    assert_matches_reference(
        out, ref, like=call.x, dtype=b.dtype(od), rtol=rtol, atol=atol, shape=case.loss_shape() if reduction == "none" else ()
    )


# --------------------------------------------------------------------------- gradients


def autodiff_grad(b: Backend, fn: Any, call: Call, wrt: str, reduction: str, *, jit: bool = False) -> Any:
    """Gradient of ``sum(cot·fn(x, y, **opts))`` (or the reduced value) with respect to the
    ``wrt`` argument, by ``b``'s autodiff (:func:`~xbackend.testing._autodiff.grad_of`;
    ``jit``: compiled where the registry says so, the other arrays constants of the program)."""

    def f(v: Any) -> Any:
        x, y, opts = call.x, call.y, dict(call.options)
        if wrt == "logits":
            x = v
        elif wrt == "labels":
            y = v
        else:
            opts["weights"] = v
        return fn(x, y, **opts)

    v0 = {"logits": call.x, "labels": call.y, "weights": call.options.get("weights")}[wrt]
    return grad_of(b, f, v0, call.cotangent if reduction == "none" else None, jit=jit)[1]


def rounded(v: Any, dtype: str) -> Any:
    """Float data rounded to ``dtype`` and back to float64 (bool, int and Python values as they are)."""
    if v is None or isinstance(v, (int, float)):
        return v
    v = np.asarray(v)
    if v.dtype == np.bool_ or np.issubdtype(v.dtype, np.integer):
        return v
    if dtype == "bfloat16":  # NumPy has no bfloat16
        import ml_dtypes

        return v.astype(ml_dtypes.bfloat16).astype(np.float64)
    return v.astype(dtype).astype(np.float64)


@cache
def fd_reference(loss: str, spec: tuple, reduction: str, wrt: str, dtype: str) -> tuple[np.ndarray, float]:
    """Finite-difference gradient of the closed form at the inputs rounded to ``dtype``, and
    its error bound (:func:`~xbackend.testing._oracles.closed_form_grad`)."""
    case = make_case(loss, spec)
    cot = rounded(case.cotangent, dtype) if reduction == "none" else None
    opts = {k: rounded(v, dtype) for k, v in case.options.items()}
    return _oracles.closed_form_grad(
        loss, rounded(case.x, dtype), rounded(case.y, dtype), wrt=wrt, cotangent=cot, reduction=reduction,
        input_dtype=dtype, return_error=True, **opts,
    )


def check_grad_cell(loss: str, b: Backend, dtype: str, spec: tuple, reduction: str, wrt: str) -> None:
    """xbackend's gradient (``b``'s autodiff) equals central differences of the float64 closed form."""
    case = make_case(loss, spec)
    call = to_backend(case, b, dtype)
    g = autodiff_grad(b, xbackend_fn(loss, reduction), call, wrt, reduction)
    ref, fd_atol = fd_reference(loss, spec, reduction, wrt, dtype)
    like = {"logits": call.x, "labels": call.y, "weights": call.options.get("weights")}[wrt]
    rtol, atol = tolerances(dtype, finite_max(ref), out=out_dtype_name(case, dtype), grad=True)
    ref = np.array(ref)
    compare = None
    if wrt == "labels" and "where" in case.options:
        # A label on a masked class has no derivative (the loss jumps to ±inf). For
        # reduction="none" the documented convention is gradient 0 there (checked); under
        # "mean" with class_weights that label also enters the denominator Σ w_c·y_c, so
        # those entries are left out of the comparison.
        mask = np.broadcast_to(np.asarray(case.options["where"]), ref.shape)
        if reduction == "none":
            ref = np.where(mask, ref, 0.0)
        else:
            compare = mask
    assert_matches_reference(
        g, ref, like=like, dtype=like.dtype, rtol=rtol, atol=atol + fd_atol, shape=ref.shape, compare=compare
    )


# ------------------------------------------------------------------------------ natives


def native_fn(nat: Any, b: Backend, reduction: str) -> Any:
    """``nat.fn`` with the cell's reduction; JAX natives run under ``jax.jit`` (a reference
    only: one compile instead of one per eager primitive, shapes and dtypes alike)."""

    def fn(x: Any, y: Any, **opts: Any) -> Any:
        if nat.reductions != {"none": "none"} or reduction != "none":
            opts["reduction"] = reduction
        return nat.fn(x, y, **opts)

    if not b.jit:
        return fn

    def jitted(x: Any, y: Any, **opts: Any) -> Any:
        arrays = {k: v for k, v in opts.items() if hasattr(v, "shape")}
        static = tuple(sorted((k, v) for k, v in opts.items() if k not in arrays))
        return compiled(b, lambda x, y, arrays: fn(x, y, **arrays, **dict(static)))(x, y, arrays)

    return jitted


def check_native_value_cell(nat: Any, bname: str, dtype: str, spec: tuple, reduction: str) -> None:
    """xbackend equals the native loss on the native's own arrays (values)."""
    b = use_backend(bname)
    case = make_case(nat.loss, spec)
    call = to_backend(case, b, dtype)
    want = native_fn(nat, b, reduction)(call.x, call.y, **call.options)
    got = call_xbackend(nat.loss, call, reduction)
    rtol, atol = tolerances(dtype, value_scale(nat.loss, case.x, case.options, reduction), computes=dtype)
    opts = {**case.options, "reduction": reduction}
    assert_matches_reference(got, to_numpy(want).astype(np.float64), like=want, dtype=want.dtype, rtol=rtol, atol=atol,
                             shape=tuple(want.shape), err_msg=f"{nat.call_text(opts)} vs {nat.xbackend_text(opts)}")


def check_native_grad_cell(nat: Any, bname: str, dtype: str, spec: tuple, reduction: str, wrt: str) -> None:
    """xbackend's gradient equals the native's autodiff gradient (torch autograd, jax.grad, GradientTape)."""
    b = use_backend(bname)
    case = make_case(nat.loss, spec)
    call = to_backend(case, b, dtype)

    want = autodiff_grad(b, native_fn(nat, b, reduction), call, wrt, reduction, jit=b.jit)
    got = autodiff_grad(b, xbackend_fn(nat.loss, reduction), call, wrt, reduction)
    w = to_numpy(want).astype(np.float64)
    compare = np.ones(w.shape, dtype=bool)
    if wrt == "labels" and "where" in case.options:
        # optax returns NaN for labels of masked classes (where=False): no derivative
        # exists there (see check_grad_cell); compared on the unmasked classes.
        compare &= np.broadcast_to(np.asarray(case.options["where"]), w.shape)
    if nat.grad_valid is not None:  # entries where the native's gradient is known wrong
        valid = nat.grad_valid(wrt, to_numpy(call.x).astype(np.float64), to_numpy(call.y).astype(np.float64))
        if valid is not None:
            compare &= np.broadcast_to(valid, w.shape)
    rtol, atol = tolerances(dtype, finite_max(w), computes=dtype)
    assert_matches_reference(
        got, w, like=want, dtype=want.dtype, rtol=rtol, atol=atol, shape=tuple(want.shape), compare=compare
    )


__all__ = [
    "OPTION_SETS",
    "REDUCTIONS",
    "cells",
    "check_grad_cell",
    "check_native_grad_cell",
    "check_native_value_cell",
    "check_value_cell",
    "grad_cells",
    "make_case",
    "native_cells",
    "to_backend",
]
