"""The compact conformance suite of ``xbackend report``.

Every loss runs on one target (framework × device) in a few dtypes, on a plain case, an
options case and an edge case; each result is compared with the float64 closed form of
:mod:`xbackend.testing._oracles`, with the framework's native losses registered there, and (with
autodiff) gradients with the natives' gradients and finite differences of the closed form.
Tolerances, the autodiff driver, the finite differences and each backend's capabilities
(dtypes, autodiff, compiled references, devices) are the test matrix's own:
:mod:`xbackend.testing._tolerance` (``ops = REPORT_OPS``), :mod:`xbackend.testing._autodiff`,
:func:`xbackend.testing._oracles.closed_form_grad` and :mod:`xbackend.testing._registry`.
Inputs are generated in float64 with a fixed seed and rounded to each dtype; the closed
form is evaluated at the *rounded* inputs, so it is the exact answer to the question the
backend was asked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xbackend._cli._detect import Target, _short_error, converter, member
from xbackend.testing._autodiff import compiled, grad_of
from xbackend.testing._registry import TestBackend
from xbackend.testing._tolerance import HALF, REPORT_OPS, tolerances

__all__ = ["LEFT_OUT", "SHORT", "Case", "Check", "Row", "Runner", "cases", "dtypes", "scheduler"]

N, C = 4, 5
#: dtypes the registry lists that the report leaves out, to keep it short (JAX: one compile
#: per case and dtype; Dask: every call is a graph)
LEFT_OUT = {"jax": ("float16",), "dask": ("float16",)}
SHORT = {
    "sigmoid_cross_entropy": "sigmoid_xent",
    "softmax_cross_entropy": "softmax_xent",
    "sparse_softmax_cross_entropy": "sparse_softmax_xent",
    "sigmoid_focal_loss": "sigmoid_focal",
    "softmax_focal_loss": "softmax_focal",
    "binary_cross_entropy": "binary_xent(p)",
    "categorical_cross_entropy": "categorical_xent(p)",
}


@dataclass(frozen=True)
class Case:
    """One input set for one loss.

    ``kind``: ``"moderate"`` (normwise comparison, against the natives too) or ``"edge"``
    (±1e9, ±inf, masked classes and rows, tiny losses, bad or ignored labels:
    elementwise relative accuracy against the closed form, NaN must match NaN, infinities
    must match; gradients compared where the finite-difference reference is finite).
    ``half``: also run in float16/bfloat16; ``grad``: check gradients (autodiff backends)."""

    loss: str
    name: str
    kind: str
    x: np.ndarray
    y: np.ndarray
    options: dict
    half: bool = False
    grad: bool = True


def dtypes(target: Target) -> tuple[str, ...]:
    """The floating dtypes ``target`` is checked in: its registry entry's, less
    :data:`LEFT_OUT` (half precision: against the closed form only)."""
    return tuple(d for d in member(target).dtypes if d not in LEFT_OUT.get(target.framework, ()))


def _data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240917)
    x = rng.normal(0.0, 3.0, size=(N, C))
    return {
        "x": x,
        "z": rng.uniform(0.0, 1.0, size=(N, C)),
        "soft": rng.dirichlet(np.ones(C), size=N),
        "int": np.array([0, 1, 4, 2]),
        "w_rows": rng.uniform(0.5, 1.5, size=(N, 1)),
        "cw": rng.uniform(0.5, 2.0, size=(C,)),
        "pw": rng.uniform(0.5, 2.0, size=(C,)),
        # probabilities well inside (0, 1): the finite-difference step of the closed form
        # must not cross the clipping at eps / 1-eps
        "p": rng.uniform(0.2, 0.8, size=(N, C)),
        "p_soft": 0.1 + 0.8 * rng.dirichlet(4.0 * np.ones(C), size=N),
    }


def _edge_data() -> dict[str, np.ndarray]:
    inf = np.inf
    sig_x = np.array([[-inf, inf, -inf, inf, 0.0], [1e9, -1e9, 30.0, -30.0, 0.5], [-1e9, 1e9, 40.0, -40.0, -0.5]])
    sig_z = np.array([[0.0, 1.0, 1.0, 0.0, 0.5], [1.0, 0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0, 0.0]])
    soft_x = np.array([
        [0.0, -inf, 1.0, 2.0, -1.0],  # a -inf (masked) class with a zero label
        [inf, 0.0, 0.0, 1.0, 2.0],  # a +inf logit: it takes all the mass
        [1.0, 2.0, 3.0, 4.0, 5.0],  # labels summing to 1.5: gradient softmax·Σy - y
        [-inf, -inf, 0.5, -inf, 1.0],
        [1e9, 0.0, -1e9, 1.0, 2.0],
        [-1e9, 1e9, -1e9, -1e9, -1e9],  # half the label on a -1e9 class: loss 1e9 (no ties at 1e9:
        # the closed form rounds 1e9 + log 2, and a finite-difference step of 1e9·eps^(1/3) spans a tie)
        [40.0, 0.0, 0.0, 0.0, 0.0],  # a saturated row
        [0.3, 0.1, 0.2, 0.4, 0.5],  # fully masked by `where`: loss 0, out of the mean
    ])
    soft_y = np.array([
        [0.5, 0, 0.5, 0, 0], [1.0, 0, 0, 0, 0], [0.2, 0.3, 0.5, 0.4, 0.1], [0, 0, 0.5, 0, 0.5],
        [1.0, 0, 0, 0, 0], [0.5, 0.5, 0, 0, 0], [1.0, 0, 0, 0, 0], [0, 1.0, 0, 0, 0],
    ])
    where = np.ones(soft_x.shape, bool)
    where[7] = False
    return {"sig_x": sig_x, "sig_z": sig_z, "soft_x": soft_x, "soft_y": soft_y, "where": where,
            # rows: masked class, +inf, a bad label (NaN row), ignored, ±1e9, ±1e9, saturated, masked row
            "int_y": np.array([0, 0, 7, -1, 0, 2, 0, 1])}


def cases() -> list[Case]:
    """The compact suite: a plain case (in every dtype), an options case and an edge case per loss."""
    d, e = _data(), _edge_data()
    x, z, soft, yi = d["x"], d["z"], d["soft"], d["int"]
    finite = slice(1, 3)  # the ±1e9 / tiny-loss rows of the sigmoid edges
    return [
        Case("sigmoid_cross_entropy", "plain", "moderate", x, z, {}, half=True),
        Case("sigmoid_cross_entropy", "weights+pos_weight, sum_over_batch_size", "moderate", x, z,
             {"weights": d["w_rows"], "pos_weight": d["pw"], "reduction": "sum_over_batch_size"}),
        Case("sigmoid_cross_entropy", "±inf, ±1e9, tiny losses", "edge", e["sig_x"], e["sig_z"], {}),
        Case("softmax_cross_entropy", "plain", "moderate", x, soft, {}, half=True),
        Case("softmax_cross_entropy", "class_weights+smoothing, sum_over_batch_size", "moderate", x, soft,
             {"class_weights": d["cw"], "label_smoothing": 0.1, "reduction": "sum_over_batch_size"}),
        Case("softmax_cross_entropy", "±inf, masked, ±1e9, unnormalised labels", "edge", e["soft_x"],
             e["soft_y"], {"where": e["where"]}),
        Case("sparse_softmax_cross_entropy", "plain", "moderate", x, yi, {}, half=True),
        Case("sparse_softmax_cross_entropy", "class_weights+ignore_index+smoothing, mean", "moderate", x, yi,
             {"class_weights": d["cw"], "ignore_index": 1, "label_smoothing": 0.1, "reduction": "mean"}),
        Case("sparse_softmax_cross_entropy", "±inf, masked, ±1e9, bad and ignored labels", "edge", e["soft_x"],
             e["int_y"], {"where": e["where"], "ignore_index": -1}),
        Case("sigmoid_focal_loss", "gamma=2, alpha=0.25", "moderate", x, z, {"gamma": 2.0, "alpha": 0.25},
             half=True),
        Case("sigmoid_focal_loss", "±1e9, tiny losses", "edge", e["sig_x"][finite], e["sig_z"][finite],
             {"gamma": 2.0}),
        Case("softmax_focal_loss", "gamma=2", "moderate", x, yi, {"gamma": 2.0}, half=True),
        Case("softmax_focal_loss", "alpha vector+ignore_index, mean", "moderate", x, yi,
             {"gamma": 2.0, "alpha": d["cw"], "ignore_index": 1, "reduction": "mean"}),
        Case("softmax_focal_loss", "±1e9, bad and ignored labels", "edge", e["soft_x"][2:7],
             np.array([7, -1, 0, 2, 0]), {"gamma": 2.0, "ignore_index": -1}),
        Case("binary_cross_entropy", "plain", "moderate", d["p"], z, {}, half=True),
        Case("binary_cross_entropy", "weights, sum_over_batch_size", "moderate", d["p"], z,
             {"weights": d["w_rows"], "reduction": "sum_over_batch_size"}),
        Case("binary_cross_entropy", "p = 0 and 1 (clipped)", "edge", np.array([[0.0, 1.0, 0.0, 1.0, 0.5]]),
             np.array([[0.0, 1.0, 1.0, 0.0, 0.5]]), {}, grad=False),
        Case("categorical_cross_entropy", "plain", "moderate", d["p_soft"], soft, {}, half=True),
        Case("categorical_cross_entropy", "p = 0 (clipped)", "edge", np.array([[0.0, 0.5, 0.5, 0.0, 0.0]]),
             np.array([[1.0, 0.0, 0.0, 0.0, 0.0]]), {}, grad=False),
    ]


# ------------------------------------------------------------------------ results
def json_number(v: Any) -> Any:
    """Strict JSON has no NaN or infinity: NaN -> None, ±inf -> "inf" / "-inf"."""
    if isinstance(v, float) and not np.isfinite(v):
        return None if v != v else ("inf" if v > 0 else "-inf")
    return v


@dataclass
class Check:
    """One comparison: a case in one dtype, value or gradient, against one reference."""

    case: str
    dtype: str
    quantity: str  # "value" | "grad"
    reference: str  # "closed form" or a native's key
    abs_err: float = float("nan")
    rel_err: float = float("nan")
    ratio: float = float("nan")  # worst |got-ref| / allowed; <= 1 passes
    ok: bool = False
    error: str = ""  # an exception or a non-finite mismatch

    def as_dict(self) -> dict:
        return {k: json_number(v) for k, v in self.__dict__.items()}


@dataclass
class Row:
    """backend × device × loss: every check of one loss on one target."""

    target: Target
    loss: str
    checks: list[Check] = field(default_factory=list)
    natives: list[str] = field(default_factory=list)
    error: str = ""  # the whole row could not run

    @property
    def ok(self) -> bool:
        return not self.error and bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def status(self) -> str:
        if self.error:
            return "ERROR"
        return "pass" if self.ok else "FAIL"

    def worst(self, reference: str, quantity: str | None = None, dtype: str = "float64") -> tuple[float, float]:
        """(max abs, max rel) error in ``dtype`` against natives (``"native"``) or the closed
        form, of values, gradients or both (``quantity=None``)."""
        sel = [c for c in self.checks if c.dtype == dtype and not c.error
               and ((c.reference == "closed form") == (reference == "closed form"))
               and (quantity is None or c.quantity == quantity)]
        if not sel:
            return float("nan"), float("nan")
        return max(c.abs_err for c in sel), max(c.rel_err for c in sel)

    def ratio(self) -> float:
        vals = [c.ratio for c in self.checks if c.ratio == c.ratio]
        return max(vals) if vals else float("nan")

    def first_failure(self) -> str:
        if self.error:
            return self.error
        for c in self.checks:
            if not c.ok:
                why = c.error or f"error {c.ratio:.3g}× the tolerance"
                return f"{c.case} [{c.dtype} {c.quantity} vs {c.reference}]: {why}"
        return ""

    def used_natives(self) -> list[str]:
        return list(dict.fromkeys(c.reference for c in self.checks if c.reference != "closed form"))

    def as_dict(self) -> dict:
        nan_none = json_number

        def pair(ref: str, q: str | None) -> dict:
            a, r = self.worst(ref, q)
            return {"max_abs": nan_none(a), "max_rel": nan_none(r)}

        return {
            "backend": self.target.framework, "device": self.target.device, "loss": self.loss,
            "status": self.status, "natives": self.used_natives(),
            "float64_vs_native": pair("native", None),
            "float64_value_vs_closed_form": pair("closed form", "value"),
            "float64_grad_vs_finite_differences": pair("closed form", "grad"),
            "worst_error_over_tolerance": nan_none(self.ratio()),
            "error": self.error or None, "checks": [c.as_dict() for c in self.checks],
        }


# ------------------------------------------------------------------------ compare
def _compare(got: np.ndarray, ref: np.ndarray, dtype: str, *, elementwise: bool, floor: float = 0.0,
             extra_tol: Any = 0.0) -> tuple[float, float, float, str]:
    """(abs, rel, ratio, problem) of ``got`` against ``ref``.

    Allowed error per element: ``rtol·|ref| + atol + extra_tol + tiny`` with ``(rtol,
    atol) = tolerances(dtype, s, ops=REPORT_OPS, computes=dtype)`` (the one model,
    :mod:`xbackend.testing._tolerance`),
    ``s = floor`` (elementwise) or ``max|ref|`` (normwise), ``extra_tol`` the reference's
    own error (a number or an array of ``ref``'s shape) and ``tiny`` the dtype's smallest
    normal number (a result may underflow below it).
    Non-finite entries must match exactly (inf sign, NaN where NaN). ``rel`` is elementwise
    or normwise (``max|Δ| / max|ref|``) accordingly."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        return float("nan"), float("nan"), float("inf"), f"shape {got.shape}, expected {ref.shape}"
    fin_r, fin_g = np.isfinite(ref), np.isfinite(got)
    problem = ""
    same_nonfinite = (np.isnan(ref) == np.isnan(got)) & (np.isinf(ref) == np.isinf(got))
    same_nonfinite &= np.where(np.isinf(ref), np.sign(ref) == np.sign(got), True)
    if not np.all(same_nonfinite):
        i = tuple(np.argwhere(~same_nonfinite)[0])
        problem = f"got {got[i]} where the reference is {ref[i]} (at {list(i)})"
    both = fin_r & fin_g
    if not np.any(both):
        return 0.0, 0.0, (float("inf") if problem else 0.0), problem
    g, r = got[both], ref[both]
    extra_tol = np.broadcast_to(np.asarray(extra_tol, dtype=np.float64), ref.shape)[both]
    diff = np.abs(g - r)
    scale = float(np.max(np.abs(r)))
    rtol, atol = tolerances(dtype, floor if elementwise else scale, ops=REPORT_OPS, computes=dtype)
    # below the dtype's smallest normal number a result may underflow (9.4e-14 is 0 in float16)
    tiny = 2.0**-126 if dtype == "bfloat16" else float(np.finfo(dtype).tiny)
    allowed = rtol * np.abs(r) + atol + extra_tol + tiny
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(np.max(np.where(allowed > 0, diff / allowed, np.where(diff > 0, np.inf, 0.0))))
        if elementwise:
            rel = float(np.max(np.where(np.abs(r) > 0, diff / np.abs(r), np.where(diff > 0, np.inf, 0.0))))
        else:
            rel = float(np.max(diff) / scale) if scale > 0 else (0.0 if np.max(diff) == 0 else float("inf"))
    if problem:
        ratio = float("inf")
    return float(np.max(diff)), rel, ratio, problem


# ------------------------------------------------------------------------ evaluation
def _convert_options(options: dict, conv: Callable[[np.ndarray], Any]) -> dict:
    return {k: (conv(v) if isinstance(v, np.ndarray) else v) for k, v in options.items()}


def _placement(b: TestBackend, x: Any, *outs: Any) -> str:
    """'' when every output lives on ``x``'s device, else what went where."""
    want = b.device_of(x)
    for o in outs:
        if o is not None and b.device_of(o) != want:
            return f"result on {b.device_of(o)!r}, input on {want!r}"
    return ""


def _evaluate(b: TestBackend, fns: dict[str, Callable[[Any], Any]], grads: set[str], x: Any, cot: Any) -> dict:
    """``{key: (value, grad or None, placement) | Exception}`` of each function at ``x``
    (NumPy results; ``placement`` is '' when value and gradient are on ``x``'s device).

    Where the registry says ``jit`` (JAX), every function of one case runs in **one**
    compiled program (op-by-op eager dispatch compiles each primitive per shape and dtype,
    which is far slower for a suite like this); if that program fails, each function is
    retried alone to attribute the error. The other frameworks run eagerly."""
    from xbackend.testing import to_numpy

    def program(xv: Any, cv: Any) -> dict:
        return {key: grad_of(b, f, xv, cv) if key in grads else (f(xv), None) for key, f in fns.items()}

    if b.jit and fns:
        try:
            res = compiled(b, program)(x, cot)
            return {k: (to_numpy(v), None if g is None else to_numpy(g), _placement(b, x, v, g))
                    for k, (v, g) in res.items()}
        except Exception:
            pass
    out: dict = {}
    for key, f in fns.items():
        try:
            v, g = grad_of(b, f, x, cot) if key in grads else (f(x), None)
            out[key] = (to_numpy(v), None if g is None else to_numpy(g), _placement(b, x, v, g))
        except Exception as exc:  # reported in the check, never a traceback
            out[key] = exc
    return out


class Runner:
    """Runs the suite on one target; caches the float64 references shared by all targets."""

    def __init__(self) -> None:
        self._fd_cache: dict = {}

    def run_loss(self, target: Target, loss: str, suite: list[Case]) -> Row:
        import xbackend
        from xbackend.testing import _oracles, to_numpy

        fw, b = target.framework, member(target)
        natives = list(_oracles.natives(loss=loss, framework=fw))
        row = Row(target, loss, natives=[n.key for n in natives])
        fn = getattr(xbackend, loss)
        for case in (c for c in suite if c.loss == loss):
            for dtype in dtypes(target):
                if dtype in HALF and not case.half:
                    continue
                conv = converter(target, dtype)
                try:
                    x, y = conv(case.x), conv(case.y)
                    opts = _convert_options(case.options, conv)
                except Exception as exc:
                    row.error = f"cannot create {dtype} arrays: {_short_error(exc)}"
                    return row
                probs = loss in ("binary_cross_entropy", "categorical_cross_entropy")
                extra = {"input_dtype": dtype} if probs else {}
                xr, yr = to_numpy(x).astype(np.float64), to_numpy(y)  # the rounded inputs
                ref = _oracles.closed_form(loss, xr, yr, **case.options, **extra)
                cot_np = None if ref.ndim == 0 else _cotangent(ref.shape)
                cot = None if cot_np is None else conv(cot_np)
                with_grad = b.autodiff and case.grad
                used = [n for n in natives if case.kind == "moderate" and dtype not in HALF
                        and n.supports(case.options)]
                def ours(t: Any, o: dict = opts, y: Any = y) -> Any:
                    return fn(t, y, **o)

                fns: dict[str, Callable[[Any], Any]] = {"xbackend": ours}
                grads = {"xbackend"} if with_grad else set()
                for n in used:
                    def native(t: Any, n: Any = n, o: dict = opts, y: Any = y) -> Any:
                        return n.fn(t, y, **o)

                    fns[n.key] = native
                    if with_grad and "logits" in n.grad_wrt:
                        grads.add(n.key)
                res = _evaluate(b, fns, grads, x, cot)
                elementwise = case.kind != "moderate"
                mine = res["xbackend"]
                chk = Check(case.name, dtype, "value", "closed form")
                if isinstance(mine, Exception):
                    chk.error = _short_error(mine)
                else:
                    self._fill(chk, mine[0], ref, dtype, elementwise)
                    if mine[2]:  # the output must stay on the input's device
                        chk.error, chk.ok = mine[2], False
                row.checks.append(chk)
                if with_grad:
                    chk = Check(case.name, dtype, "grad", "closed form")
                    if isinstance(mine, Exception):
                        chk.error = _short_error(mine)
                    else:
                        fd, fd_err = self._fd(loss, case, dtype, xr, yr, cot_np, extra)
                        g = np.asarray(mine[1], dtype=np.float64)
                        # compared where the reference exists: finite inputs, finite loss
                        keep = np.isfinite(xr) & np.isfinite(fd)
                        self._fill(chk, np.where(keep, g, 0.0), np.where(keep, fd, 0.0), dtype, False,
                                   extra_tol=np.where(keep, fd_err, 0.0))
                    row.checks.append(chk)
                for n in used:
                    theirs = res[n.key]
                    chk = Check(case.name, dtype, "value", n.key)
                    if isinstance(theirs, Exception):
                        chk.error = f"native failed: {_short_error(theirs)}"
                    elif isinstance(mine, Exception):
                        chk.error = "xbackend failed (see the closed-form check)"
                    else:
                        self._fill(chk, mine[0], theirs[0], dtype, False)
                    row.checks.append(chk)
                    if n.key in grads and not isinstance(theirs, Exception) and not isinstance(mine, Exception):
                        chk = Check(case.name, dtype, "grad", n.key)
                        self._fill(chk, mine[1], theirs[1], dtype, False)
                        row.checks.append(chk)
        return row

    @staticmethod
    def _fill(chk: Check, got: Any, ref: Any, dtype: str, elementwise: bool, extra_tol: Any = 0.0) -> None:
        a, r, ratio, problem = _compare(got, ref, dtype, elementwise=elementwise, extra_tol=extra_tol)
        chk.abs_err, chk.rel_err, chk.ratio = a, r, ratio
        chk.error = problem
        chk.ok = not problem and ratio <= 1.0

    def _fd(self, loss: str, case: Case, dtype: str, xr: np.ndarray, yr: np.ndarray, cot: Any,
            extra: dict) -> tuple[np.ndarray, np.ndarray]:
        """Finite-difference gradient of the closed form at the rounded inputs and its error
        bound per entry (:func:`~xbackend.testing._oracles.closed_form_grad`); cached.

        Edge cases are differenced one independent unit at a time
        (:func:`~xbackend.testing._oracles.closed_form_grad_units`)."""
        from xbackend.testing import _oracles

        key = (loss, case.name, dtype)
        if key not in self._fd_cache:
            with np.errstate(all="ignore"):
                if case.kind == "edge":
                    fd, err = _oracles.closed_form_grad_units(loss, xr, yr, cotangent=cot, **case.options, **extra)
                else:
                    fd, e = _oracles.closed_form_grad(loss, xr, yr, cotangent=cot, return_error=True, **case.options,
                                                      **extra)
                    err = np.full(fd.shape, e)
            self._fd_cache[key] = (fd, err)
        return self._fd_cache[key]


def scheduler(target: Target) -> Any:
    """Dask: the synchronous scheduler (these graphs are tiny; threads only add overhead)."""
    if target.framework == "dask":
        import dask

        return dask.config.set(scheduler="synchronous")
    return contextlib.nullcontext()


def _cotangent(shape: tuple) -> np.ndarray:
    """A fixed, non-trivial cotangent (so every output entry's gradient is checked)."""
    n = int(np.prod(shape)) if shape else 1
    return (0.5 + (np.arange(n) % 3) * 0.25).reshape(shape)


