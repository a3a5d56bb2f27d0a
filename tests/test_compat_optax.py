"""xbackend.compat.optax on every backend against optax on the same inputs.

Values on every backend and gradients on the autodiff backends against optax and
``jax.grad``; where optax is numerically wrong (NaN at ±inf logits, wrapped negative
labels, finite loss for a label on a masked class) the test compares with the float64
closed form and asserts optax's behaviour.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from tests.backends import Backend
from tests.compat_support import assert_close_np, check, grad, on, rounded, skip_unless_dtype

optax = pytest.importorskip("optax", reason="optax is not installed (it is the oracle of xbackend.compat.optax)")
import jax
import jax.numpy as jnp

from xbackend.compat import optax as xo
from xbackend.testing._tolerance import finite_max

N, C = 6, 4


def _rng(*key: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _b(backend: Backend, a, dtype: str):
    if a is None:
        return None
    a = np.asarray(a)
    if a.dtype == bool:
        return backend.asarray(a, "bool")
    if np.issubdtype(a.dtype, np.integer):
        return backend.asarray(a, "int32" if backend.framework == "tensorflow" else "int64")
    return backend.asarray(rounded(a, dtype), dtype)


def _j(a, dtype: str = "float64"):
    a = np.asarray(a)
    if a.dtype == bool or np.issubdtype(a.dtype, np.integer):
        return jnp.asarray(a)
    return jnp.asarray(rounded(a, dtype), dtype=getattr(jnp, dtype))


def _np(a) -> np.ndarray:
    return np.array(a, dtype=np.float64)  # a writable copy


def _scale(x: np.ndarray) -> float:
    """The size of a softmax loss's terms at logits ``x``: ``max|x| + log C`` (finite entries)."""
    return finite_max(x) + np.log(C)


# ----------------------------------------------------------------------------- sigmoid family

SIG_CASES = {
    "same_shape": ((N, C), (N, C)),
    "labels_broadcast": ((N, C), (C,)),
    "logits_broadcast": ((C,), (N, C)),
}


def _sig_data(case: str) -> dict:
    xs, zs = SIG_CASES[case]
    rng = _rng("sig", case)
    return {"logits": rng.normal(0, 3, xs), "labels": rng.uniform(0, 1, zs)}


@pytest.mark.parametrize("dtype, case", [("float64", c) for c in SIG_CASES] + [("float32", "same_shape")])
def test_sigmoid_binary_cross_entropy_matches_optax_including_broadcasting(backend, dtype, case):
    d = _sig_data(case)
    out = on(backend, xo.sigmoid_binary_cross_entropy)(_b(backend, d["logits"], dtype), _b(backend, d["labels"], dtype))
    ref = _np(optax.sigmoid_binary_cross_entropy(_j(d["logits"], dtype), _j(d["labels"], dtype)))
    check(out, ref, backend, dtype, atol_scale=_scale(d["logits"]))


FOCAL_OPTIONS = [(2.0, None), (2.0, 0.25), (0.5, 0.75), (0.0, None)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sigmoid_focal_loss_matches_optax_over_gamma_and_alpha(backend, dtype):
    d = _sig_data("same_shape")
    x, z = _b(backend, d["logits"], dtype), _b(backend, d["labels"], dtype)
    for gamma, alpha in FOCAL_OPTIONS:
        out = on(backend, xo.sigmoid_focal_loss)(x, z, alpha=alpha, gamma=gamma)
        ref = _np(optax.sigmoid_focal_loss(_j(d["logits"], dtype), _j(d["labels"], dtype), alpha=alpha, gamma=gamma))
        check(out, ref, backend, dtype, atol_scale=_scale(d["logits"]), what=f"gamma={gamma}, alpha={alpha}")


def test_sigmoid_losses_gradients_match_jax_grad_of_optax(ad_backend):
    d = _sig_data("same_shape")
    z = _b(ad_backend, d["labels"], "float64")
    x = _b(ad_backend, d["logits"], "float64")
    for name, kw in [("sigmoid_binary_cross_entropy", {}), ("sigmoid_focal_loss", {"gamma": 2.0, "alpha": 0.25}),
                     ("sigmoid_focal_loss", {"gamma": 0.5})]:
        g = grad(ad_backend, lambda v: on(ad_backend, getattr(xo, name))(v, z, **kw), x)
        ref = jax.grad(lambda v: getattr(optax, name)(v, _j(d["labels"]), **kw).sum())(_j(d["logits"]))
        assert_close_np(g, _np(ref), "float64", atol_scale=1.0, what=f"{name} {kw}")


def test_sigmoid_losses_are_exact_at_infinite_logits_where_optax_is_nan(backend):
    x = np.array([-np.inf, np.inf, -np.inf, np.inf])
    z = np.array([0.0, 1.0, 1.0, 0.0])
    want = [0.0, 0.0, np.inf, np.inf]  # closed form: the loss of a certain right / wrong prediction
    xb, zb = _b(backend, x, "float64"), _b(backend, z, "float64")
    check(on(backend, xo.sigmoid_binary_cross_entropy)(xb, zb), want, backend, "float64")
    check(on(backend, xo.sigmoid_focal_loss)(xb, zb, gamma=2.0), want, backend, "float64")
    assert np.isnan(_np(optax.sigmoid_binary_cross_entropy(_j(x), _j(z)))[:2]).all()
    assert np.isnan(_np(optax.sigmoid_focal_loss(_j(x), _j(z)))[:2]).all()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_optax_losses_low_precision_are_optax_semantics_rounded_once(backend, dtype):
    """Computed in float32 and rounded once: the oracle is optax in float64 on the rounded inputs."""
    skip_unless_dtype(backend, dtype)
    d = _sig_data("same_shape")
    rx, rz = rounded(d["logits"], dtype), rounded(d["labels"], dtype)
    out = on(backend, xo.sigmoid_binary_cross_entropy)(_b(backend, d["logits"], dtype), _b(backend, d["labels"], dtype))
    check(out, _np(optax.sigmoid_binary_cross_entropy(_j(rx), _j(rz))), backend, dtype, factor=1.0, what="sigmoid")
    s = _soft_data("last_axis")
    out = on(backend, xo.softmax_cross_entropy)(_b(backend, s["logits"], dtype), _b(backend, s["labels"], dtype))
    ref = optax.softmax_cross_entropy(_j(rounded(s["logits"], dtype)), _j(rounded(s["labels"], dtype)))
    check(out, _np(ref), backend, dtype, factor=1.0, what="softmax")


# ----------------------------------------------------------------------------- softmax family

SOFT_CASES = {
    "last_axis": dict(shape=(N, C), axis=-1),
    "axis_0": dict(shape=(C, N), axis=0),
    "tuple_axes": dict(shape=(2, 3, 2, 3), axis=(1, 3)),
    "tuple_axes_negative_reordered": dict(shape=(3, 2, 4), axis=(-1, 0)),  # merged in the given order
    "all_axes": dict(shape=(3, 4), axis=None),  # softmax_cross_entropy only: one scalar loss
}
INT_CASES = [c for c, spec in SOFT_CASES.items() if spec["axis"] is not None]  # optax: int or tuple only


def _soft_data(case: str) -> dict:
    spec = SOFT_CASES[case]
    rng = _rng("soft", case)
    shape, axis = spec["shape"], spec["axis"]
    if axis is None:
        axes = tuple(range(len(shape)))
    else:
        axes = tuple(a % len(shape) for a in (axis if isinstance(axis, tuple) else (axis,)))
    rows = tuple(s for i, s in enumerate(shape) if i not in axes)
    k = int(np.prod([shape[a] for a in axes]))
    flat = rng.dirichlet(np.ones(k), rows)  # rows + (k,)
    cls_shape = tuple(shape[a] for a in axes)
    labels = np.moveaxis(flat.reshape(rows + cls_shape), list(range(len(rows), len(shape))), list(axes))
    ints = rng.integers(0, k, rows)
    where = rng.uniform(size=shape) > 0.3
    return {"logits": rng.normal(0, 2, shape), "labels": labels, "ints": ints, "axis": axis, "where": where}


@pytest.mark.parametrize("dtype, case", [("float64", c) for c in SOFT_CASES] + [("float32", "tuple_axes")])
def test_softmax_cross_entropy_matches_optax_on_int_tuple_and_none_axes(backend, dtype, case):
    d = _soft_data(case)
    out = on(backend, xo.softmax_cross_entropy)(_b(backend, d["logits"], dtype), _b(backend, d["labels"], dtype), axis=d["axis"])
    ref = optax.softmax_cross_entropy(_j(d["logits"], dtype), _j(d["labels"], dtype), axis=d["axis"])
    check(out, _np(ref), backend, dtype, atol_scale=_scale(d["logits"]))


@pytest.mark.parametrize("dtype, case", [("float64", c) for c in INT_CASES] + [("float32", "tuple_axes")])
def test_softmax_cross_entropy_with_integer_labels_matches_optax_on_int_and_tuple_axes(backend, dtype, case):
    d = _soft_data(case)
    out = on(backend, xo.softmax_cross_entropy_with_integer_labels)(_b(backend, d["logits"], dtype), _b(backend, d["ints"], dtype),
                                                       axis=d["axis"])
    ref = optax.softmax_cross_entropy_with_integer_labels(_j(d["logits"], dtype), _j(d["ints"]), axis=d["axis"])
    check(out, _np(ref), backend, dtype, atol_scale=_scale(d["logits"]))


@pytest.mark.parametrize("mask", ["class_mask", "row_mask"])
def test_softmax_losses_where_matches_optax_class_and_row_masks(backend, mask):
    d = _soft_data("last_axis")
    where = d["where"].copy() if mask == "class_mask" else d["where"][:, 0].copy()
    if mask == "class_mask":
        where[np.arange(N), d["ints"]] = True  # integer labels on selected classes (see the next test)
    where[0] = False  # a fully masked row (class mask) / a masked row (row mask): loss 0
    x, w = _b(backend, d["logits"], "float64"), _b(backend, where, "bool")
    out = on(backend, xo.softmax_cross_entropy)(x, _b(backend, d["labels"], "float64"), where=w)
    ref = optax.softmax_cross_entropy(_j(d["logits"]), _j(d["labels"]), where=_j(where))
    check(out, _np(ref), backend, "float64", atol_scale=_scale(d["logits"]), what="soft")
    out = on(backend, xo.softmax_cross_entropy_with_integer_labels)(x, _b(backend, d["ints"], "float64"), where=w)
    ref = optax.softmax_cross_entropy_with_integer_labels(_j(d["logits"]), _j(d["ints"]), where=_j(where))
    check(out, _np(ref), backend, "float64", atol_scale=_scale(d["logits"]), what="integer")


def test_integer_label_on_a_masked_class_is_inf_where_optax_is_finite(backend):
    x, where = np.array([[2.0, 1.0, 0.1]]), np.array([[True, False, True]])
    out = on(backend, xo.softmax_cross_entropy_with_integer_labels)(_b(backend, x, "float64"), _b(backend, np.array([1]), "f"),
                                                       where=_b(backend, where, "bool"))
    check(out, [np.inf], backend, "float64")  # the masked class has probability 0: -log 0
    native = _np(optax.softmax_cross_entropy_with_integer_labels(_j(x), jnp.array([1]), where=_j(where)))
    np.testing.assert_allclose(native, [np.log(np.exp(2.0) + np.exp(0.1)) - 1.0])


@pytest.mark.parametrize("axis", [None, (-1, 0)])
def test_softmax_cross_entropy_gradient_matches_jax_grad_of_optax_on_none_and_reordered_axes(ad_backend, axis):
    d = _soft_data("all_axes" if axis is None else "tuple_axes_negative_reordered")
    x, y = _b(ad_backend, d["logits"], "float64"), _b(ad_backend, d["labels"], "float64")
    g = grad(ad_backend, lambda v: on(ad_backend, xo.softmax_cross_entropy)(v, y, axis=axis), x)
    ref = jax.grad(lambda v: optax.softmax_cross_entropy(v, _j(d["labels"]), axis=axis).sum())(_j(d["logits"]))
    assert_close_np(g, _np(ref), "float64", atol_scale=1.0)


def test_integer_labels_reject_axis_none_like_optax(backend):
    d = _soft_data("last_axis")
    with pytest.raises(ValueError, match="axis"):
        optax.softmax_cross_entropy_with_integer_labels(_j(d["logits"]), _j(d["ints"]), axis=None)
    for bad in (None, 1.0, (), (0, 1.5), True):
        with pytest.raises(ValueError, match=r"^axis must be an int or a (non-empty )?tuple of ints"):
            xo.softmax_cross_entropy_with_integer_labels(_b(backend, d["logits"], "float64"),
                                                         _b(backend, d["ints"], "float64"), axis=bad)


def test_softmax_cross_entropy_axis_none_with_a_where_mask_matches_optax(backend):
    d = _soft_data("all_axes")
    where = d["where"].copy()
    out = on(backend, xo.softmax_cross_entropy)(_b(backend, d["logits"], "float64"),
                                                _b(backend, d["labels"], "float64"), axis=None,
                                                where=_b(backend, where, "bool"))
    ref = optax.softmax_cross_entropy(_j(d["logits"]), _j(d["labels"]), axis=None, where=_j(where))
    check(out, _np(ref), backend, "float64", atol_scale=_scale(d["logits"]))


def test_softmax_losses_gradients_match_jax_grad_of_optax(ad_backend):
    d = _soft_data("tuple_axes")
    x = _b(ad_backend, d["logits"], "float64")
    y, yi = _b(ad_backend, d["labels"], "float64"), _b(ad_backend, d["ints"], "float64")
    ax = d["axis"]
    g = grad(ad_backend, lambda v: on(ad_backend, xo.softmax_cross_entropy)(v, y, axis=ax), x)
    ref = jax.grad(lambda v: optax.softmax_cross_entropy(v, _j(d["labels"]), axis=ax).sum())(_j(d["logits"]))
    assert_close_np(g, _np(ref), "float64", atol_scale=1.0, what="soft")
    g = grad(ad_backend, lambda v: on(ad_backend, xo.softmax_cross_entropy_with_integer_labels)(v, yi, axis=ax), x)
    ref = jax.grad(lambda v: optax.softmax_cross_entropy_with_integer_labels(v, _j(d["ints"]), axis=ax).sum())(
        _j(d["logits"]))
    assert_close_np(g, _np(ref), "float64", atol_scale=1.0, what="integer")


def test_integer_labels_out_of_range_are_nan_where_optax_wraps_negative_ones(backend):
    d = _soft_data("last_axis")
    y = d["ints"].copy()
    y[1], y[2], y[3] = -1, C, -C - 1
    out = on(backend, xo.softmax_cross_entropy_with_integer_labels)(_b(backend, d["logits"], "float64"), _b(backend, y, "f"))
    ref = _np(optax.softmax_cross_entropy_with_integer_labels(_j(d["logits"]), _j(d["ints"])))
    ref[1:4] = np.nan
    check(out, ref, backend, "float64", atol_scale=_scale(d["logits"]))
    native = _np(optax.softmax_cross_entropy_with_integer_labels(_j(d["logits"]), _j(y)))
    assert np.isfinite(native[1]) and np.isnan(native[2:4]).all()  # -1 reads the last class


# --------------------------------------------------------------------- safe_softmax_cross_entropy

def _masked_data() -> dict:
    d = _soft_data("last_axis")
    x, y = d["logits"].copy(), d["labels"].copy()
    x[:, 1] = -np.inf  # a masked class ...
    y[:, 1] = 0.0  # ... with label 0 (0·log 0 = 0)
    y /= y.sum(-1, keepdims=True)
    return {"logits": x, "labels": y}


def test_safe_softmax_cross_entropy_matches_optax_with_minus_inf_logits(backend):
    d = _masked_data()
    out = on(backend, xo.safe_softmax_cross_entropy)(_b(backend, d["logits"], "float64"), _b(backend, d["labels"], "float64"))
    ref = _np(optax.safe_softmax_cross_entropy(_j(d["logits"]), _j(d["labels"])))
    check(out, ref, backend, "float64", atol_scale=_scale(d["logits"]))
    # optax's plain softmax_cross_entropy is NaN here; the compat one agrees with the safe one
    assert np.isnan(_np(optax.softmax_cross_entropy(_j(d["logits"]), _j(d["labels"])))).all()
    out = on(backend, xo.softmax_cross_entropy)(_b(backend, d["logits"], "float64"), _b(backend, d["labels"], "float64"))
    check(out, ref, backend, "float64", atol_scale=_scale(d["logits"]))


def test_safe_softmax_cross_entropy_gradient_matches_jax_grad_of_optax(ad_backend):
    d = _masked_data()
    y = _b(ad_backend, d["labels"], "float64")
    g = grad(ad_backend, lambda v: on(ad_backend, xo.safe_softmax_cross_entropy)(v, y), _b(ad_backend, d["logits"], "float64"))
    ref = jax.grad(lambda v: optax.safe_softmax_cross_entropy(v, _j(d["labels"])).sum())(_j(d["logits"]))
    assert_close_np(g, _np(ref), "float64", atol_scale=1.0)


def test_safe_softmax_cross_entropy_all_masked_row_is_zero_where_optax_is_nan(backend):
    x, y = np.full((1, 2), -np.inf), np.array([[0.5, 0.5]])
    out = on(backend, xo.safe_softmax_cross_entropy)(_b(backend, x, "float64"), _b(backend, y, "float64"))
    check(out, [0.0], backend, "float64")
    assert np.isnan(_np(optax.safe_softmax_cross_entropy(_j(x), _j(y)))[0])


# ----------------------------------------------------------------------------- JAX without x64

_X64_OFF_SCRIPT = r"""
import json, warnings
import numpy as np
import jax, jax.numpy as jnp
assert not jax.config.jax_enable_x64
import xbackend as xb
from xbackend.compat import optax as xo

rng = np.random.default_rng(0)
x = jnp.asarray(rng.normal(size=(4, 3)), dtype=jnp.float32)
z = jnp.asarray(rng.uniform(size=(4, 3)), dtype=jnp.float32)
yi = jnp.array([0, 1, 2, 0])
with warnings.catch_warnings(record=True) as rec:
    warnings.simplefilter("always")
    dtypes = []
    for f, args in [(xb.sigmoid_cross_entropy, (x, z)), (xb.softmax_cross_entropy, (x, z)),
                    (xb.sparse_softmax_cross_entropy, (x, yi)), (xb.sigmoid_focal_loss, (x, z)),
                    (xb.softmax_focal_loss, (x, yi))]:
        for red in ("none", "mean"):
            dtypes.append(str(f(*args, dtype=jnp.float64, reduction=red).dtype))
        jax.grad(lambda v: f(v, *args[1:], dtype=jnp.float64, reduction="sum"))(x)
    for f, args in [(xo.softmax_cross_entropy, (x, z)), (xo.softmax_cross_entropy_with_integer_labels, (x, yi)),
                    (xo.sigmoid_binary_cross_entropy, (x, z))]:
        dtypes.append(str(f(*args).dtype))
print(json.dumps({"dtypes": sorted(set(dtypes)),
                  "warnings": [[w.filename, w.lineno, str(w.message)[:200]] for w in rec]}))
"""


def test_dtype_float64_with_jax_x64_disabled_warns_nothing_from_xbackend_modules():
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    import xbackend

    src = str(Path(xbackend.__file__).resolve().parent)
    env = dict(os.environ, JAX_ENABLE_X64="0", JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(Path(src).parent), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", _X64_OFF_SCRIPT], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["dtypes"] == ["float32"]  # JAX without x64 has no float64: the loss is float32
    ours = [w for w in result["warnings"] if w[0].startswith(src)]
    assert ours == [], ours


@pytest.mark.parametrize("name", ["sigmoid_binary_cross_entropy", "sigmoid_focal_loss", "softmax_cross_entropy",
                                  "softmax_cross_entropy_with_integer_labels", "safe_softmax_cross_entropy"])
def test_python_lists_are_a_type_error_naming_the_argument(name):
    """docs/compat.md: Python lists are a TypeError (optax itself accepts them via jnp.asarray)."""
    fn = getattr(xo, name)
    x, y = np.array([[1.0, 2.0, 0.5]]), (np.array([1]) if name.endswith("integer_labels") else np.array([[0.0, 1.0, 0.0]]))
    with pytest.raises(TypeError, match=r"^logits must be an array, got a Python list"):
        fn(x.tolist(), y)
    with pytest.raises(TypeError, match=r"^labels must be an array, got a Python list"):
        fn(x, y.tolist())
    if name.startswith("softmax"):
        with pytest.raises(TypeError, match=r"^where must be an array, got a Python list"):
            fn(x, y, where=[[True, True, False]])
