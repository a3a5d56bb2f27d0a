"""The primitives (sigmoid, log_sigmoid, softplus, logsumexp, log_softmax, softmax).

Each is compared, backend × dtype × option, with the float64 closed form of its rounded
input (:func:`xbackend.testing._oracles.closed_form`), with the framework's own function
(``torch.sigmoid``, ``F.logsigmoid``, ``F.softplus``, ``torch.logsumexp``,
``torch.log_softmax``, ``torch.softmax``; ``jax.nn.*`` with ``where``), and in gradient
with finite differences and with native autodiff. Then the edges: ±1e9, ±inf, fully
masked rows (value and gradient), relative accuracy of tiny outputs.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

import xbackend as xb
from tests import conformance as cf
from tests.backends import ALL, BY_NAME, require
from xbackend.testing import _oracles, assert_matches_reference, to_numpy, tolerance
from xbackend.testing._tolerance import tolerances

SETS = {
    "sigmoid": ((),),
    "log_sigmoid": ((),),
    "softplus": ((),),
    "logsumexp": ((), ("axis0",), ("keepdims",), ("where",)),
    "log_softmax": ((), ("axis0",), ("where",)),
    "softmax": ((), ("axis0",), ("where",)),
}
ROWWISE = ("logsumexp", "log_softmax", "softmax")


def make(name: str, spec: tuple) -> tuple[np.ndarray, dict, np.ndarray]:
    """float64 input, options and a cotangent for ``name`` with option tokens ``spec``."""
    rng = np.random.default_rng(zlib.crc32(repr((name, spec)).encode()))
    x = rng.normal(size=(4, 5)) * 3.0
    opts: dict = {}
    if "axis0" in spec:
        opts["axis"] = 0
    if "keepdims" in spec:
        opts["keepdims"] = True
    if "where" in spec:
        m = rng.uniform(size=(4, 5)) < 0.6
        m[:, 0] = True  # every row keeps an entry (fully masked rows: see the edge tests)
        opts["where"] = m
    out = _oracles.closed_form(name, x, **opts)
    cot = rng.uniform(-1, 1, size=out.shape)
    if name == "log_softmax" and "where" in opts:
        cot = np.where(opts["where"], cot, 0.0)  # masked outputs are -inf constants
    return x, opts, cot


def _cells(grad: bool = False) -> list:
    out = []
    for name, sets in SETS.items():
        for spec in sets:
            for b in ALL:
                if grad and not b.autodiff:
                    continue
                dts = b.dtypes
                if cf.level(b) != "full":  # the covering rule of tests/conformance.py
                    i = list(SETS).index(name) + sets.index(spec)
                    dts = (b.dtypes[i % len(b.dtypes)],)
                for dt in dts:
                    out.append(pytest.param(name, spec, b.name, dt, id=f"{name}-{cf.spec_id(spec)}-{b.name}-{dt}"))
    return out


def _to(b, x, opts, dtype):
    o = {k: (b.asarray(v, "bool") if isinstance(v, np.ndarray) else v) for k, v in opts.items()}
    return b.asarray(x, dtype), o


def _scale(x: np.ndarray) -> float:
    return 1.0 + float(np.max(np.abs(x))) + math.log(x.shape[-1])


@pytest.mark.parametrize(("name", "spec", "bname", "dtype"), _cells())
def test_primitive_equals_closed_form(name, spec, bname, dtype):
    b = cf.use_backend(bname)
    x64, opts, _ = make(name, spec)
    x, o = _to(b, x64, opts, dtype)
    out = getattr(xb, name)(x, **o)
    ref = _oracles.closed_form(name, x, **o)
    rtol, atol = tolerances(dtype, _scale(x64) if name in ("logsumexp", "log_softmax") else 1.0)
    assert_matches_reference(out, ref, like=x, rtol=rtol, atol=atol)


@pytest.mark.parametrize(("name", "spec", "bname", "dtype"), _cells(grad=True))
def test_primitive_gradient_equals_finite_differences(name, spec, bname, dtype):
    b = cf.use_backend(bname)
    x64, opts, cot64 = make(name, spec)
    x, o = _to(b, x64, opts, dtype)
    cot = b.asarray(cot64, dtype)
    fn = getattr(xb, name)
    g = cf.autodiff_grad(b, lambda x, y, **kw: fn(x, **kw), cf.Call(x, None, o, cot), "logits", "none")
    ref, err = _oracles.closed_form_grad(name, x, wrt="logits", cotangent=cot, return_error=True, **o)
    if "where" in opts:  # masked entries are constants: gradient exactly 0
        ref = np.where(opts["where"], ref, 0.0)
    rtol, atol = tolerances(dtype, float(np.max(np.abs(ref))), grad=True)
    assert_matches_reference(g, ref, like=x, rtol=rtol, atol=atol + float(np.max(err)))


# ------------------------------------------------------------------------- natives


def _torch_native(name, x, axis=-1, keepdims=False, where=None):
    import torch
    import torch.nn.functional as F

    if where is not None:  # torch has no `where`: a masked entry is a -inf logit
        x = x.masked_fill(~where, -math.inf)
    return {
        "sigmoid": lambda: torch.sigmoid(x),
        "log_sigmoid": lambda: F.logsigmoid(x),
        "softplus": lambda: F.softplus(x),
        "logsumexp": lambda: torch.logsumexp(x, dim=axis, keepdim=keepdims),
        "log_softmax": lambda: torch.log_softmax(x, dim=axis),
        "softmax": lambda: torch.softmax(x, dim=axis),
    }[name]()


def _jax_native(name, x, axis=-1, keepdims=False, where=None):
    import jax

    return {
        "sigmoid": lambda: jax.nn.sigmoid(x),
        "log_sigmoid": lambda: jax.nn.log_sigmoid(x),
        "softplus": lambda: jax.nn.softplus(x),
        "logsumexp": lambda: jax.nn.logsumexp(x, axis=axis, keepdims=keepdims, where=where),
        "log_softmax": lambda: jax.nn.log_softmax(x, axis=axis, where=where),
        "softmax": lambda: jax.nn.softmax(x, axis=axis, where=where),
    }[name]()


NATIVE = {"torch": _torch_native, "jax": _jax_native}


def _native_cells() -> list:
    return [
        pytest.param(name, spec, bname, dt, id=f"{fw}.{name}-{cf.spec_id(spec)}-{bname}-{dt}")
        for name, spec, bname, dt in (p.values for p in _cells(grad=True))
        for fw in [BY_NAME[bname].framework]
        if fw in NATIVE
    ]


@pytest.mark.parametrize(("name", "spec", "bname", "dtype"), _native_cells())
def test_primitive_matches_native(name, spec, bname, dtype):
    """Values and gradients equal torch's / jax.nn's own function (computed in ``dtype``)."""
    b = cf.use_backend(bname)
    x64, opts, cot64 = make(name, spec)
    x, o = _to(b, x64, opts, dtype)
    want = NATIVE[b.framework](name, x, **o)
    got = getattr(xb, name)(x, **o)
    if "where" in opts and name != "logsumexp":  # jax.nn leaves masked entries unspecified
        masked = ~np.broadcast_to(opts["where"], to_numpy(want).shape)
        compare = ~masked
    else:
        compare = None
    rtol, atol = tolerances(dtype, _scale(x64) if name in ("logsumexp", "log_softmax") else 1.0, computes=dtype)
    w = to_numpy(want).astype(np.float64)
    assert_matches_reference(got, w, like=want, dtype=want.dtype, rtol=rtol, atol=atol, compare=compare)
    cot = b.asarray(cot64, dtype)
    call = cf.Call(x, None, o, cot)
    fn = getattr(xb, name)
    g_native = cf.autodiff_grad(b, lambda x, y, **kw: NATIVE[b.framework](name, x, **kw), call, "logits", "none")
    g = cf.autodiff_grad(b, lambda x, y, **kw: fn(x, **kw), call, "logits", "none")
    gn = to_numpy(g_native).astype(np.float64)
    if "where" in opts:
        gn = np.where(opts["where"], gn, 0.0)  # masked entries: constants, gradient 0
    rtol, atol = tolerances(dtype, float(np.max(np.abs(gn))), computes=dtype)
    assert_matches_reference(g, gn, like=x, rtol=rtol, atol=atol)


# --------------------------------------------------------------------------- edges

INF = np.inf


@pytest.mark.parametrize(
    ("name", "x", "want"),
    [
        ("sigmoid", [-INF, -1e9, 0.0, 1e9, INF], [0.0, 0.0, 0.5, 1.0, 1.0]),
        ("log_sigmoid", [-INF, -1e9, 0.0, 1e9, INF], [-INF, -1e9, -math.log(2), 0.0, 0.0]),
        ("softplus", [-INF, -1e9, 0.0, 1e9, INF], [0.0, 0.0, math.log(2), 1e9, INF]),
        ("sigmoid", [-100.0, -40.0], [math.exp(-100.0) / (1 + math.exp(-100.0)), math.exp(-40) / (1 + math.exp(-40))]),
        ("softplus", [-40.0, -30.0], [math.log1p(math.exp(-40.0)), math.log1p(math.exp(-30.0))]),
        ("log_sigmoid", [40.0, 30.0], [-math.log1p(math.exp(-40.0)), -math.log1p(math.exp(-30.0))]),
    ],
    ids=["sigmoid-inf", "log_sigmoid-inf", "softplus-inf", "sigmoid-tiny", "softplus-tiny", "log_sigmoid-tiny"],
)
def test_elementwise_primitives_are_exact_at_the_edges(backend, name, x, want):
    """±inf, ±1e9 and tiny outputs (relative accuracy, float64: σ(-100) = 3.7e-44)."""
    if "float64" not in backend.dtypes:
        pytest.skip(f"{backend.name} has no float64")
    xa = backend.asarray(x, "float64")
    assert_matches_reference(getattr(xb, name)(xa), np.array(want), like=xa, rtol=tolerance("float64", 4))


@pytest.mark.parametrize("name", ["sigmoid", "log_sigmoid", "softplus"])
def test_elementwise_primitive_gradients_are_finite_at_infinity(ad_backend, name):
    """σ'(±inf) = 0; d log σ(x)/dx = σ(-x): 1 at -inf, 0 at +inf; softplus' = σ(x)."""
    x = ad_backend.asarray([-INF, 0.0, INF], "float32")
    want = {"sigmoid": [0.0, 0.25, 0.0], "log_sigmoid": [1.0, 0.5, 0.0], "softplus": [0.0, 0.5, 1.0]}[name]
    fn = getattr(xb, name)
    g = cf.autodiff_grad(ad_backend, lambda x, y: fn(x), cf.Call(x, None, {}, ad_backend.asarray([1.0, 1.0, 1.0], "float32")), "logits", "none")
    assert_matches_reference(g, np.array(want), like=x, rtol=tolerance("float32", 2))


def test_logsumexp_log_softmax_softmax_at_the_edges(backend):
    """Rows: [1e9, 1e9] (no overflow), [inf, 0] (mass on +inf), [-inf, -inf] (empty)."""
    x = backend.asarray([[1e9, 1e9], [INF, 0.0], [-INF, -INF]], "float32")
    lse = [1e9 + math.log(2.0), INF, -INF]
    assert_matches_reference(xb.logsumexp(x), np.array(lse), like=x, rtol=tolerance("float32", 2))
    lsm = [[-math.log(2.0)] * 2, [0.0, -INF], [-INF, -INF]]
    assert_matches_reference(xb.log_softmax(x), np.array(lsm), like=x, rtol=tolerance("float32", 2))
    sm = [[0.5, 0.5], [1.0, 0.0], [0.0, 0.0]]  # a fully masked row is all zeros, not NaN
    assert_matches_reference(xb.softmax(x), np.array(sm), like=x, rtol=tolerance("float32", 2))


@pytest.mark.parametrize("name", ["logsumexp", "log_softmax", "softmax"])
def test_fully_masked_row_has_zero_gradient(ad_backend, name):
    """A row with nothing left (all -inf or where=False) has gradient 0, not NaN (torch's
    logsumexp gives NaN there)."""
    x = ad_backend.asarray([[1.0, 2.0], [3.0, 4.0]], "float32")
    where = ad_backend.asarray([[True, False], [False, False]], "bool")
    fn = getattr(xb, name)
    shape = (2,) if name == "logsumexp" else (2, 2)
    cot = ad_backend.asarray(np.ones(shape), "float32")
    g = to_numpy(cf.autodiff_grad(ad_backend, lambda x, y, **kw: fn(x, **kw), cf.Call(x, None, {"where": where}, cot), "logits", "none"))
    assert np.all(np.isfinite(g)) and np.all(g[1] == 0.0) and g[0, 1] == 0.0


def test_torch_logsumexp_gradient_is_nan_on_an_empty_row():
    """Native known wrong: torch.logsumexp's gradient on an all -inf row is NaN."""
    torch = require("torch")
    x = torch.full((1, 2), -INF, requires_grad=True)
    torch.logsumexp(x, dim=-1).sum().backward()
    assert torch.isnan(x.grad).all()
    x2 = torch.full((1, 2), -INF, requires_grad=True)
    xb.logsumexp(x2).sum().backward()
    assert (x2.grad == 0).all()
