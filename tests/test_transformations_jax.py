"""Every JAX transformation of every loss, against optax under the same transformation.

"xbackend composes with everything the framework's own loss composes with": for each of
the seven losses, ``jax.grad``, ``jax.vmap`` (per-example losses), ``jax.vmap(jax.grad)``
(per-example gradients), ``jax.jacfwd``, ``jax.jacrev``, ``jax.hessian``, ``jax.jvp``,
``jax.jit`` with the float options traced (a schedule) and ``jax.export`` with a
symbolic batch. The reference is optax's loss under the same transformation where optax
has the loss (the float options spelled with optax: ``optax.smooth_labels`` for label
smoothing, ``z·logsumexp²`` added for the z-loss); the softmax focal loss and the two
probability losses have no optax counterpart, so there the reference is the float64
closed form of :mod:`xbackend.testing._oracles` (finite differences for derivatives,
:func:`~xbackend.testing._oracles.closed_form_grad`, within the toolkit's float32 gradient
tolerance plus the finite differences' own error bound).

Float options may be traced: a ``label_smoothing``/``z_loss``/``gamma``/``alpha``/``eps``
schedule compiles once, and inside a user's ``jax.jit`` a traced value gives what optax
gives with the same traced value. Small shapes: every transformation is a compile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import xbackend as xb
from tests.backends import require
from xbackend.testing import _oracles, tolerance
from xbackend.testing._tolerance import finite_max, tolerances

jax = require("jax")
optax = pytest.importorskip("optax")
import jax.numpy as jnp

N, C = 3, 4
#: float32 results against float32 optax or the float64 closed form of the rounded inputs
RTOL = tolerance("float32", 128)  # ~1.5e-5
ATOL = 1e-6


def _smooth_binary(z: Any, eps: Any) -> Any:
    return (1.0 - eps) * z + eps / 2.0


def _optax_sigmoid_xent(x, z, label_smoothing):
    return optax.sigmoid_binary_cross_entropy(x, _smooth_binary(z, label_smoothing))


def _optax_softmax_xent(x, y, label_smoothing, z_loss):
    lse = jax.nn.logsumexp(x, axis=-1)
    return optax.softmax_cross_entropy(x, optax.smooth_labels(y, label_smoothing)) + z_loss * lse * lse


def _optax_sparse_xent(x, y, label_smoothing, z_loss):
    return _optax_softmax_xent(x, jax.nn.one_hot(y, x.shape[-1], dtype=x.dtype), label_smoothing, z_loss)


def _optax_sigmoid_focal(x, z, gamma, alpha):
    return optax.sigmoid_focal_loss(x, z, alpha=alpha, gamma=gamma)


@dataclass
class Case:
    name: str
    x: np.ndarray
    y: np.ndarray
    options: dict  # the float options (Python numbers)
    optax: Callable | None = None  # unreduced loss with the same options, or None: closed form
    rowwise: bool = True
    symbolic_labels: str = "b"
    extra: dict = field(default_factory=dict)

    @property
    def fn(self) -> Callable:
        return getattr(xb, self.name)

    def loss(self, x, y, reduction="none", **options):
        """xbackend's loss; ``options`` default to the case's."""
        return self.fn(x, y, reduction=reduction, **{**self.options, **options})

    def reference(self, x, y, reduction="none", **options):
        """optax's unreduced loss with the same options, reduced like xbackend."""
        loss = self.optax(x, y, **{**self.options, **options})
        return {"none": loss, "sum": jnp.sum(loss), "mean": jnp.mean(loss)}[reduction]


def _cases() -> list[Case]:
    rng = np.random.default_rng(12)
    x = (rng.normal(size=(N, C)) * 1.5).astype(np.float32)
    z = rng.uniform(size=(N, C)).astype(np.float32)
    soft = rng.dirichlet(np.ones(C), size=N).astype(np.float32)
    idx = rng.integers(0, C, size=N).astype(np.int32)
    probs = rng.uniform(0.1, 0.9, size=(N, C)).astype(np.float32)
    return [
        Case("sigmoid_cross_entropy", x, z, {"label_smoothing": 0.1}, _optax_sigmoid_xent, False, "b, 4"),
        Case("softmax_cross_entropy", x, soft, {"label_smoothing": 0.1, "z_loss": 0.01}, _optax_softmax_xent,
             symbolic_labels="b, 4"),
        Case("sparse_softmax_cross_entropy", x, idx, {"label_smoothing": 0.1, "z_loss": 0.01}, _optax_sparse_xent),
        Case("sigmoid_focal_loss", x, z, {"gamma": 1.5, "alpha": 0.25}, _optax_sigmoid_focal, False, "b, 4"),
        Case("softmax_focal_loss", x, idx, {"gamma": 1.5, "alpha": 0.25}),
        Case("binary_cross_entropy", probs, z, {"eps": 1e-3}, None, False, "b, 4"),
        Case("categorical_cross_entropy", probs, soft, {"eps": 1e-3}, None, symbolic_labels="b, 4"),
    ]


CASES = _cases()
IDS = [c.name for c in CASES]


def close(got: Any, want: Any, rtol: float = RTOL, atol: float = ATOL) -> None:
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64), rtol=rtol, atol=atol)


def fd_grad(case: Case, x: np.ndarray, y: np.ndarray, reduction: str, **options) -> tuple[np.ndarray, float]:
    """Finite differences of the float64 closed form with respect to the logits, and their
    error bound (:func:`~xbackend.testing._oracles.closed_form_grad`)."""
    opts = {**case.options, **options}
    return _oracles.closed_form_grad(case.name, x, y, reduction=reduction, return_error=True, **opts)


def close_fd(got: Any, ref: Any, err: float) -> None:
    """A float32 gradient against finite differences: the toolkit's tolerance
    (:func:`~xbackend.testing._tolerance.tolerances`, scale ``max|ref|``) plus their bound ``err``."""
    rtol, atol = tolerances("float32", finite_max(ref), grad=True)
    close(got, ref, rtol, atol + float(np.max(err)))


# --------------------------------------------------------------------------- grad


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_grad(case):
    got = jax.grad(lambda x: case.loss(x, case.y, "mean"))(case.x)
    if case.optax is not None:
        want = jax.jit(jax.grad(lambda x: case.reference(x, case.y, "mean")))(case.x)
        close(got, want)
    else:
        close_fd(got, *fd_grad(case, case.x, case.y, "mean"))


# ----------------------------------------------------------------- per-example: vmap


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_vmap_gives_per_example_losses(case):
    got = jax.vmap(lambda x, y: case.loss(x, y, "mean"))(case.x, case.y)
    assert got.shape == (N,)
    if case.optax is not None:
        want = jax.vmap(lambda x, y: case.reference(x, y, "mean"))(case.x, case.y)
    else:
        want = [_oracles.closed_form(case.name, case.x[i], case.y[i], reduction="mean", **case.options) for i in range(N)]
    close(got, want)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_vmap_of_grad_gives_per_example_gradients(case):
    got = jax.vmap(jax.grad(lambda x, y: case.loss(x, y, "sum")))(case.x, case.y)
    assert got.shape == (N, C)
    if case.optax is not None:
        want = jax.vmap(jax.grad(lambda x, y: case.reference(x, y, "sum")))(case.x, case.y)
        close(got, want)
    else:
        want, err = zip(*(fd_grad(case, case.x[i], case.y[i], "sum") for i in range(N)), strict=True)
        close_fd(got, np.stack(want), max(err))


# ----------------------------------------------------------------- Jacobians, JVP


def _fd_jacobian(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """d loss_i / d x of the unreduced loss and its error bound: every loss depends on its
    own unit only (a row, or an element), differentiated one unit at a time
    (:func:`~xbackend.testing._oracles.closed_form_grad_units`); zero elsewhere."""
    g, err = _oracles.closed_form_grad_units(case.name, case.x, case.y, **case.options)
    out_shape = (N,) if case.rowwise else (N, C)
    jac = np.zeros((*out_shape, N, C))
    for i in np.ndindex(out_shape):
        jac[(*i, *i)] = g[i]  # a row: jac[i, i, :]; an element: jac[i, j, i, j]
    return jac, err


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jacobian(case, transform):
    jac = getattr(jax, transform)
    got = jax.jit(jac(lambda x: case.loss(x, case.y)))(case.x)
    if case.optax is not None:
        close(got, jax.jit(jac(lambda x: case.reference(x, case.y)))(case.x))
    else:
        close_fd(got, *_fd_jacobian(case))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jvp(case):
    t = np.random.default_rng(3).normal(size=(N, C)).astype(np.float32)
    value, tangent = jax.jvp(lambda x: case.loss(x, case.y, "mean"), (case.x,), (t,))
    if case.optax is not None:
        want_value, want_tangent = jax.jvp(lambda x: case.reference(x, case.y, "mean"), (case.x,), (t,))
        close(value, want_value)
        close(tangent, want_tangent)
    else:
        close(value, _oracles.closed_form(case.name, case.x, case.y, reduction="mean", **case.options))
        g, err = fd_grad(case, case.x, case.y, "mean")
        close_fd(tangent, np.sum(g * t), err * np.sum(np.abs(t)))


def _fd_hessian(case: Case) -> np.ndarray:
    """Central differences (step 1e-3, Richardson) of the finite-difference gradient."""
    x0 = case.x.astype(np.float64)
    hess = np.zeros((N, C, N, C))

    def d(i, h):
        xp, xm = x0.copy(), x0.copy()
        xp[i] += h
        xm[i] -= h
        return (fd_grad(case, xp, case.y, "sum")[0] - fd_grad(case, xm, case.y, "sum")[0]) / (2 * h)

    for i in np.ndindex(N, C):
        hess[..., i[0], i[1]] = (4 * d(i, 1e-3) - d(i, 2e-3)) / 3
    return hess


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_hessian(case):
    got = jax.jit(jax.hessian(lambda x: case.loss(x, case.y, "sum")))(case.x)
    assert got.shape == (N, C, N, C)
    if case.optax is not None:
        close(got, jax.jit(jax.hessian(lambda x: case.reference(x, case.y, "sum")))(case.x))
    else:
        close(got, _fd_hessian(case), 1e-3, 1e-4)  # nested differences: ~1e-6 of 1


# --------------------------------------------------------- jit with traced options


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jit_with_traced_float_options(case):
    """The float options are arguments of the user's ``jax.jit``: tracers inside."""
    names = sorted(case.options)
    values = [np.float32(case.options[k] * 0.5) for k in names]  # not the case's values

    @jax.jit
    def f(x, y, *vals):
        opts = dict(zip(names, vals, strict=False))
        return case.fn(x, y, reduction="sum", **opts), jax.grad(lambda x: case.fn(x, y, reduction="sum", **opts))(x)

    value, grad = f(case.x, case.y, *values)
    opts = {k: float(v) for k, v in zip(names, values, strict=False)}
    if case.optax is not None:

        @jax.jit
        def ref(x, y, *vals):
            o = dict(zip(names, vals, strict=False))
            return case.reference(x, y, "sum", **o), jax.grad(lambda x: case.reference(x, y, "sum", **o))(x)

        want_value, want_grad = ref(case.x, case.y, *values)
        close(value, want_value)
        close(grad, want_grad)
    else:
        close(value, _oracles.closed_form(case.name, case.x, case.y, reduction="sum", **opts))
        close_fd(grad, *fd_grad(case, case.x, case.y, "sum", **opts))


def _compiles(fn: Callable[[], Any]) -> int:
    """The number of XLA compilations ``fn`` triggers (jax.monitoring's compile event)."""
    events: list = []

    def listener(event: str, duration: float, **kwargs: Any) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            events.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        fn()
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    return len(events)


@pytest.mark.parametrize("case", [CASES[2], CASES[3]], ids=[CASES[2].name, CASES[3].name])
def test_a_float_option_schedule_compiles_once(case):
    """Eager calls: 10 new values of each float option (Python floats and 0-d arrays)
    after a first call reuse its program; before the fix every value was a compile."""
    x, y = jnp.asarray(case.x), jnp.asarray(case.y)
    first = {k: v * 0.5 for k, v in case.options.items()}
    case.fn(x, y, **first).block_until_ready()  # the one compile

    def schedule() -> None:
        for i in range(10):
            opts = {k: v * (0.5 + i / 20) for k, v in case.options.items()}
            if i % 2:
                opts = {k: jnp.float32(v) for k, v in opts.items()}
            case.fn(x, y, **opts).block_until_ready()

    assert _compiles(schedule) == 0


def test_a_schedule_gives_the_values_of_its_numbers():
    case = CASES[2]
    x, y = jnp.asarray(case.x), jnp.asarray(case.y)
    for eps in (0.0, 0.05, 0.3):
        got = xb.sparse_softmax_cross_entropy(x, y, label_smoothing=jnp.float32(eps), z_loss=0.0)
        close(got, _oracles.closed_form(case.name, case.x, case.y, label_smoothing=eps))


def test_the_compiled_cache_is_bounded(monkeypatch):
    from xbackend._lib import _compiled

    monkeypatch.setattr(_compiled, "_CACHE_SIZE", 4)  # 128 in use; 4 keeps the test fast
    traces: list = []

    def fn(x, k):
        traces.append(k)  # runs once per trace, i.e. per compiled specialisation
        return x * k

    f = xb.compiled(fn)
    x = jnp.ones(2)
    for k in range(7):
        f(x, k)
    assert len(f._cache) == 4  # 3, 4, 5, 6
    traces.clear()
    f(x, 3)  # a hit: moves to the most recent end
    f(x, 7)  # a miss: the least recently used (4) is dropped
    f(x, 3)
    assert traces == [7] and len(f._cache) == 4
    f(x, 4)
    assert traces == [7, 4]


def test_python_options_are_range_checked_arrays_only_under_invalid_raise():
    case = CASES[2]
    x, y = jnp.asarray(case.x), jnp.asarray(case.y)
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\], got 1.5"):
        xb.sparse_softmax_cross_entropy(x, y, label_smoothing=1.5)
    # an array is not read back (no host sync): its value is used as given
    out = xb.sparse_softmax_cross_entropy(x, y, label_smoothing=jnp.float32(1.5))
    close(out, _oracles.closed_form(case.name, case.x, case.y, label_smoothing=1.5))
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\], got 1.5"):
        xb.sparse_softmax_cross_entropy(x, y, label_smoothing=jnp.float32(1.5), invalid="raise")
    with pytest.raises(ValueError, match=r"gamma must be a finite number >= 0"):
        xb.softmax_focal_loss(x, y, gamma=jnp.float32(-1.0), invalid="raise")


# ----------------------------------------------------------- export: symbolic batch

REDUCTIONS = ("none", "sum", "mean", "sum_over_batch_size")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_export_with_a_symbolic_batch(case):
    """Every reduction of one exported function; called and differentiated at two batch
    sizes the export never saw."""
    x_spec = jax.export.symbolic_shape("b, 4")
    y_shape = jax.export.symbolic_shape(case.symbolic_labels, scope=x_spec[0].scope)
    y_dtype = case.y.dtype

    def f(x, y):
        return tuple(case.fn(x, y, reduction=r, **case.options) for r in REDUCTIONS)

    exp = jax.export.export(jax.jit(f))(
        jax.ShapeDtypeStruct(x_spec, jnp.float32), jax.ShapeDtypeStruct(y_shape, y_dtype)
    )
    rng = np.random.default_rng(5)
    for n in (2, 5):
        x = (rng.normal(size=(n, C)) * 1.5).astype(np.float32)
        if case.name in ("binary_cross_entropy", "categorical_cross_entropy"):
            x = rng.uniform(0.1, 0.9, size=(n, C)).astype(np.float32)
        if case.symbolic_labels == "b":
            y = rng.integers(0, C, size=n).astype(y_dtype)
        elif case.name.startswith(("softmax", "categorical")):
            y = rng.dirichlet(np.ones(C), size=n).astype(np.float32)
        else:
            y = rng.uniform(size=(n, C)).astype(np.float32)
        for r, got in zip(REDUCTIONS, exp.call(x, y), strict=False):
            close(got, _oracles.closed_form(case.name, x, y, reduction=r, **case.options))
    grad = jax.grad(lambda x: exp.call(x, y)[2])(x)  # "mean", at the last batch size
    close_fd(grad, *fd_grad(case, x, y, "mean"))


def test_export_soft_labels_with_symbolic_leading_dimensions():
    case = CASES[1]
    spec = jax.export.symbolic_shape("b, t, 4")
    exp = jax.export.export(jax.jit(lambda x, y: case.fn(x, y, reduction="mean", **case.options)))(
        jax.ShapeDtypeStruct(spec, jnp.float32), jax.ShapeDtypeStruct(spec, jnp.float32)
    )
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 3, C)).astype(np.float32)
    y = rng.dirichlet(np.ones(C), size=(2, 3)).astype(np.float32)
    close(exp.call(x, y), _oracles.closed_form(case.name, x, y, reduction="mean", **case.options))
    close_fd(jax.grad(lambda x: exp.call(x, y))(x), *fd_grad(case, x, y, "mean"))
