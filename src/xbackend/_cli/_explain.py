r"""``xbackend explain``: why the hand-written sigmoid cross-entropy goes wrong.

Two parts, both computed on this machine:

1. **The seed example** (:mod:`xbackend._cli._seed`): the classic question's 2×5 multi-label
   (sigmoid) case and 3×2 single-label (softmax) case, evaluated on every installed
   backend. For the sigmoid case ``-Σ p·log σ(z)`` is *not* the binary cross-entropy: it
   drops the ``-(1-p)·log(1-σ(z))`` term, so it differs from
   ``sigmoid_cross_entropy(z, p)``; for the softmax case the two agree.

2. **A sweep of logits** ``x ∈ [-1e4, 1e4]`` (label ``z = 1``; ``z = 0`` is the mirror
   image ``x → -x``) in float32 and float64, value and gradient, of four ways of writing
   the loss:

   ``naive``   :math:`-z\log\sigma(x)` (the question's formula; for ``z = 0`` it is 0
               everywhere: the missing term),
   ``full``    :math:`-z\log p-(1-z)\log(1-p)` with :math:`p = \sigma(x)`,
   ``clip``    ``sigmoid → clip(p, ε, 1-ε) → log`` with Keras' ε = 1e-7,
   ``stable``  :func:`xbackend.sigmoid_cross_entropy`
               :math:`= z\,\mathrm{softplus}(-x)+(1-z)\,\mathrm{softplus}(x)`.

   :math:`\sigma` is computed stably (the best case for the probability-space formulas).
   Gradients of the first three are what reverse-mode autodiff computes, op by op, with
   torch's backward rules (``log: g/p``, ``sigmoid: g·p·(1-p)``, ``clamp: g·[ε ≤ p ≤ 1-ε]``;
   ``tests/test_cli.py`` checks them against ``torch.autograd``); the stable form's
   gradient is xbackend's registered analytic gradient :math:`(1-z)\sigma(x) - z\sigma(-x)`.
   Each result is compared with the exact value (float64 closed form via ``np.logaddexp``,
   rounded to the dtype).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["FORMULAS", "MARKERS", "TABLE_X", "classify", "exact", "figure", "marker_kinds", "plot", "problem_ranges", "run", "sweep"]

#: formula key -> short column title
FORMULAS = {
    "naive": "-z·log σ(x)",
    "full": "full on p=σ",
    "clip": "σ→clip→log",
    "stable": "xbackend",
}
#: the logits shown in the printed table
TABLE_X = (-1e4, -1e3, -200.0, -100.0, -40.0, -20.0, -10.0, -1.0, 0.0, 1.0, 10.0, 20.0, 40.0, 100.0, 1e3, 1e4)
CLIP_EPS = 1e-7  # keras.backend.epsilon()
#: a result whose relative error exceeds sqrt(eps(dtype)) has lost over half its digits
DTYPES = ("float32", "float64")


# ------------------------------------------------------------------ the four formulas
def _sigmoid(x: np.ndarray) -> np.ndarray:
    from xbackend import sigmoid

    return sigmoid(x)


def _naive(x: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """``L = -z·log p``; backward: ``gp = -z/p``, ``gx = gp·p·(1-p)``."""
    dt = x.dtype.type
    z = dt(z)
    p = _sigmoid(x)
    value = -(z * np.log(p))
    gp = -z / p
    return value, gp * (p * (dt(1) - p))


def _full(x: np.ndarray, z: float, eps: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``L = -(z·log q) - ((1-z)·log(1-q))``, ``q = p`` or ``clip(p, eps, 1-eps)``."""
    dt = x.dtype.type
    one, z = dt(1), dt(z)
    p = _sigmoid(x)
    if eps is None:
        q, pass_through = p, np.ones_like(p)
    else:
        lo, hi = dt(eps), one - dt(eps)
        q = np.clip(p, lo, hi)
        pass_through = ((p >= lo) & (p <= hi)).astype(x.dtype)
    a, r = np.log(q), one - q
    b = np.log(r)
    value = -(z * a) - ((one - z) * b)
    ga, gb = -z, -(one - z)  # d/da, d/db
    gr = gb / r  # through log(r)
    gq = ga / q - gr  # through log(q) and r = 1 - q
    gp = gq * pass_through
    return value, gp * (p * (one - p))


def _stable(x: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """xbackend's loss and the analytic gradient it registers with every autodiff system."""
    from xbackend import array_namespace, sigmoid_cross_entropy
    from xbackend._backends import backend
    from xbackend._lib import _kernels

    zz = np.full_like(x, z)
    value = sigmoid_cross_entropy(x, zz)
    ns = backend(array_namespace(x)).kernel_namespace(x)  # the namespace kernels run with
    with np.errstate(all="ignore"):
        grad = _kernels.SIGMOID_XENT.grad_x(ns, x, zz, (None, None), _kernels.SigmoidStatic(), (), None)
    return np.asarray(value), np.asarray(grad)


_IMPL: dict[str, Callable[[np.ndarray, float], tuple[np.ndarray, np.ndarray]]] = {
    "naive": _naive,
    "full": _full,
    "clip": lambda x, z: _full(x, z, CLIP_EPS),
    "stable": _stable,
}


def sweep(x: Any, z: float, dtype: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{formula: (value, gradient)}`` at logits ``x`` in ``dtype`` for label ``z``."""
    xs = np.asarray(x, dtype=dtype)
    with np.errstate(all="ignore"):
        return {k: f(xs, z) for k, f in _IMPL.items()}


def exact(x: Any, z: float) -> tuple[np.ndarray, np.ndarray]:
    """float64 closed form: value ``z·softplus(-x) + (1-z)·softplus(x)``, gradient ``σ(x) - z``
    written as ``(1-z)σ(x) - zσ(-x)`` (no cancellation for z ∈ {0, 1})."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        value = z * np.logaddexp(0.0, -x) + (1.0 - z) * np.logaddexp(0.0, x)
        s_pos = np.exp(-np.logaddexp(0.0, -x))  # σ(x)
        s_neg = np.exp(-np.logaddexp(0.0, x))  # σ(-x)
    return value, (1.0 - z) * s_pos - z * s_neg


def classify(got: np.ndarray, want: np.ndarray, dtype: str, *, gradient: bool) -> np.ndarray:
    """Per element: '' (correct), 'nan', 'inf', 'zero' (a gradient lost to 0 where the exact
    one is a normal number of ``dtype``) or 'wrong' (relative error > sqrt(eps): over half
    of the digits lost; errors below the smallest normal number do not count)."""
    fi = np.finfo(dtype)
    got = np.asarray(got, dtype=np.float64)
    want_d = np.asarray(want, dtype=dtype).astype(np.float64)  # the exact answer, rounded
    out = np.full(got.shape, "", dtype=object)
    with np.errstate(all="ignore"):
        err = np.abs(got - want_d)
        rel = err / np.maximum(np.abs(want_d), float(fi.tiny))
    # an error below the smallest normal number does not count (subnormal results and
    # flush-to-zero are not a formula's fault)
    tol = math.sqrt(float(fi.eps))
    finite = np.isfinite(got)
    out[(~finite) | ((rel > tol) & (err > float(fi.tiny)))] = "wrong"
    if gradient:
        out[(got == 0) & (np.abs(want_d) >= float(fi.tiny))] = "zero"
    out[np.isinf(got) & ~np.isinf(want_d)] = "inf"
    out[np.isnan(got)] = "nan"
    return out


PROBLEMS = {
    ("value", "inf"): "value inf",
    ("value", "nan"): "value NaN",
    ("value", "wrong"): "value loses > half its digits",
    ("grad", "nan"): "gradient NaN",
    ("grad", "inf"): "gradient inf",
    ("grad", "zero"): "gradient 0",
    ("grad", "wrong"): "gradient loses > half its digits",
}


def dense_grid(n: int = 400) -> np.ndarray:
    pos = np.logspace(-2, 4, n)
    return np.concatenate([-pos[::-1], [0.0], pos])


def _fmt_x(v: float) -> str:
    s = f"{v:.3g}"
    return s.replace("e+0", "e").replace("e+", "e")


def _runs(bad: np.ndarray, merge_gap: int = 12) -> list[tuple[int, int]]:
    """Index ranges ``(i, j)`` (inclusive) of the runs of ``bad``; runs separated by at
    most ``merge_gap`` good grid points (about a factor 1.5 in x) are merged, so rounding
    noise at the onset of a failure does not fragment the interval."""
    out: list[tuple[int, int]] = []
    i, n = 0, len(bad)
    while i < n:
        if not bad[i]:
            i += 1
            continue
        j = i
        while True:
            nxt = next((k for k in range(j + 1, min(n, j + 2 + merge_gap)) if bad[k]), None)
            if nxt is None:
                break
            j = nxt
        out.append((i, j))
        i = j + 1
    return out


def _interval(xs: np.ndarray, i: int, j: int) -> str:
    lo, hi, n = xs[i], xs[j], len(xs)
    if i == 0 and j == n - 1:
        return "everywhere"
    if i == 0:
        return f"x ≤ {_fmt_x(hi)}"
    if j == n - 1:
        return f"x ≥ {_fmt_x(lo)}"
    if i == j:
        return f"x ≈ {_fmt_x(lo)}"
    return f"{_fmt_x(lo)} ≤ x ≤ {_fmt_x(hi)}"


def problem_ranges(dtype: str, z: float = 1.0, xs: np.ndarray | None = None) -> dict[str, list[str]]:
    """``{formula: ["gradient NaN for x ≤ -104", ...]}`` on a dense logit grid."""
    xs = dense_grid() if xs is None else xs
    res = sweep(xs, z, dtype)
    want_v, want_g = exact(xs, z)
    out: dict[str, list[str]] = {}
    for f, (v, g) in res.items():
        lines: list[str] = []
        for part, got, want in (("value", v, want_v), ("grad", g, want_g)):
            cls = classify(got, want, dtype, gradient=part == "grad")
            for kind in ("inf", "nan", "zero", "wrong"):
                if (part, kind) not in PROBLEMS:
                    continue
                parts = []
                for i, j in _runs(cls == kind):
                    text = _interval(xs, i, j)
                    if kind == "zero":  # how much gradient was lost
                        text += f" (exact |grad| up to {np.max(np.abs(want[i:j + 1])):.2g})"
                    parts.append(text)
                if parts:
                    lines.append(f"{PROBLEMS[part, kind]}: {', '.join(parts)}")
        out[f] = lines
    return out


# ---------------------------------------------------------------------- formatting
def fmt_num(v: float) -> str:
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    s = f"{v:.4g}"
    return s.replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")


def sweep_table(dtype: str, z: float = 1.0) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the printed sweep table; a flagged cell ends in '*'."""
    xs = np.asarray(TABLE_X)
    res = sweep(xs, z, dtype)
    want_v, want_g = exact(xs, z)
    headers = ["x"]
    for f in FORMULAS:
        headers += [f"{f} L", f"{f} dL/dx"]
    rows = []
    cls = {
        f: (classify(v, want_v, dtype, gradient=False), classify(g, want_g, dtype, gradient=True))
        for f, (v, g) in res.items()
    }
    for i, x in enumerate(xs):
        row = [_fmt_x(float(x))]
        for f, (v, g) in res.items():
            cv, cg = cls[f]
            row.append(fmt_num(v[i]) + ("*" if cv[i] else ""))
            row.append(fmt_num(g[i]) + ("*" if cg[i] else ""))
        rows.append(row)
    return headers, rows


# --------------------------------------------------------------------------- seed
def seed_tables(backends: list[str] | None, warn: Callable[[str], None]) -> tuple[list, list]:
    """Rows ``[backend, values...]`` of the seed example's sigmoid and softmax cases."""
    from xbackend._cli import _detect, _seed

    sig_rows, soft_rows = [], []
    for target in _detect.detect(backends, device="cpu"):
        if target.status != "ok":
            if target.status == "broken":
                warn(f"{target.framework}: {target.detail}")
            continue
        name = target.framework
        try:
            with _detect.quiet():
                rows = _seed.seed_rows(_detect.converter(target, "float32"))
        except Exception as exc:  # a broken backend is reported, not a traceback
            warn(f"{name}: the seed example failed: {type(exc).__name__}: {exc}")
            continue
        r = list(rows.values())
        sig_rows.append([name] + [f"{v:.6f}" for v in r[0]] + [f"{v:.6f}" for v in r[1]])
        soft_rows.append([name] + [f"{v:.6f}" for v in r[2]] + [f"{v:.6f}" for v in r[3]])
    return sig_rows, soft_rows


def run(args: Any, out: Callable[[str], None]) -> int:
    """Print the explanation; ``args.plot`` (a path or None) also draws the figure."""
    from xbackend._cli._detect import render_table

    if args.plot:  # fail early, before the slow part, when matplotlib is missing
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            out("xbackend explain --plot needs matplotlib, which is not installed.")
            out('Install it with:  pip install "xbackend[plot]"')
            return 2

    warnings: list[str] = []
    sig, soft = seed_tables(args.backends, warnings.append)
    out("The seed example (float32): the question's hand-written losses vs xbackend, per row.")
    out("")
    out("Multi-label case (2×5, sigmoid): -Σ p·log σ(z) drops the -(1-p)·log(1-σ(z)) term,")
    out("so it is not the binary cross-entropy (here summed over the 5 labels of each row):")
    out(render_table(["backend", "-Σp·logσ r0", "r1", "sigmoid_xent r0", "r1"], sig))
    out("")
    out("Single-label case (3×2, softmax): -Σ p·log softmax(z) IS the softmax cross-entropy:")
    out(render_table(["backend", "-Σp·log sm r0", "r1", "r2", "softmax_xent r0", "r1", "r2"], soft))
    for w in warnings:
        out(f"  ! {w}")
    out("")
    out("Sweep of logits x with label z = 1 (z = 0 mirrors x → -x; there the naive formula is 0")
    out("everywhere). L = loss, dL/dx = gradient as autodiff computes it. '*' = differs from the")
    out("exact value: inf, NaN, a gradient lost to 0, or over half of the digits lost.")
    out("Formulas: naive -z·log σ(x) | full -z·log p-(1-z)·log(1-p), p = σ(x) |")
    out(f"clip: p clipped to [{CLIP_EPS:g}, 1-{CLIP_EPS:g}] (Keras) | xbackend.sigmoid_cross_entropy.")
    for dtype in DTYPES:
        out("")
        out(f"{dtype}:")
        headers, rows = sweep_table(dtype)
        out(render_table(headers, rows, align="right"))
    out("")
    out("Where each form breaks (801 logits in [-1e4, 1e4], label z = 1; ranges approximate):")
    for dtype in DTYPES:
        ranges = problem_ranges(dtype)
        for f, lines in ranges.items():
            head = f"  {dtype} {f:7s} "
            if not lines:
                out(f"{head}correct everywhere")
            for k, line in enumerate(lines):
                out(textwrap.fill(line, width=100, initial_indent=head if k == 0 else " " * len(head),
                                  subsequent_indent=" " * (len(head) + 2)))
    out("")
    out("Use the logits form (sigmoid_cross_entropy / softmax_cross_entropy): probability-space")
    out("formulas overflow to inf, turn 0·log 0 into NaN, or clip the gradient to 0 once σ saturates.")
    if args.plot:
        plot(args.plot)
        out("")
        out(f"wrote {args.plot}")
    return 0


# --------------------------------------------------------------------------- plot
PLOT_SIZE = (1200, 800)  # pixels (figsize 12×8 in at 100 dpi)
_COLORS = {"naive": "tab:red", "full": "tab:orange", "clip": "tab:purple", "stable": "tab:green"}
_STYLES = {"naive": "-", "full": "--", "clip": "-.", "stable": ":"}


#: marker kinds drawn in the strips: kind -> (matplotlib marker, legend word)
MARKERS = {"+inf": ("^", "+inf"), "-inf": ("v", "-inf"), "nan": ("X", "NaN"), "zero": ("o", "flushed to 0")}
#: vertical offset of each kind inside its formula's strip row (a short -inf run next
#: to a long NaN run stays visible)
_KIND_OFFSET = {"+inf": -0.2, "-inf": -0.2, "nan": 0.2, "zero": 0.2}


def plot_grid() -> np.ndarray:
    """The plotted logits: the dense grid plus every logit of the printed table."""
    return np.union1d(dense_grid(300), np.asarray(TABLE_X, dtype=np.float64))


def marker_kinds(got: np.ndarray, want: np.ndarray, dtype: str) -> dict[str, np.ndarray]:
    """Where a result cannot be drawn on its panel: ``{kind: bool mask}`` with kinds
    ``+inf``, ``-inf``, ``nan`` and ``zero`` (0 where the exact value, rounded to
    ``dtype``, is a normal number: a loss or gradient flushed to 0; the table's rule)."""
    got = np.asarray(got, dtype=np.float64)
    want_d = np.asarray(want, dtype=dtype).astype(np.float64)
    tiny = float(np.finfo(dtype).tiny)
    return {
        "+inf": got == np.inf,
        "-inf": got == -np.inf,
        "nan": np.isnan(got),
        "zero": (got == 0) & (np.abs(want_d) >= tiny),
    }


def _thin(sel: np.ndarray, keep: np.ndarray, every: int = 10) -> np.ndarray:
    """Indices of ``sel`` to draw: each run's ends, every ``every``-th point, and ``keep``."""
    idx = np.flatnonzero(sel)
    if idx.size == 0:
        return idx
    out = set(idx[::every].tolist()) | {int(i) for i in idx if keep[i]}
    for i, j in _runs(sel, merge_gap=0):
        out.update((i, j))
    return np.array(sorted(out))


def figure() -> Any:
    """The ``--plot`` figure (a :class:`matplotlib.figure.Figure`, not drawn to a file).

    Four panels (value and gradient, float32 and float64) of the four forms over
    ``x ∈ [-1e4, 1e4]``, each with a strip underneath, one row per formula, marking the
    results that cannot be drawn: ▲ +inf, ▼ -inf, ✖ NaN, ● flushed to 0. Every strip
    marker is a ``Line2D`` whose ``gid`` is ``"<dtype>|<value|grad>|<formula>|<kind>"``;
    curves and strips live in separate axes, so no strip label can cover a curve.
    """
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state
    from matplotlib.lines import Line2D

    xs = plot_grid()
    table = np.isin(xs, np.asarray(TABLE_X))
    want_v, want_g = exact(xs, 1.0)
    fig = Figure(figsize=(PLOT_SIZE[0] / 100, PLOT_SIZE[1] / 100), dpi=100)
    grid = fig.add_gridspec(5, 2, height_ratios=[3.2, 1.2, 0.5, 3.2, 1.2], hspace=0.06)  # row 2: a spacer
    first = None
    for col, dtype in enumerate(DTYPES):
        res = sweep(xs, 1.0, dtype)
        for row, (part, want) in enumerate((("value", want_v), ("grad", want_g))):
            ax = fig.add_subplot(grid[3 * row, col], sharex=first)
            first = first or ax
            strip = fig.add_subplot(grid[3 * row + 1, col], sharex=first)
            ax.plot(xs, want, color="black", lw=5, alpha=0.18, label="exact")
            for k, (f, (v, g)) in enumerate(res.items()):
                y = np.asarray(v if part == "value" else g, dtype=np.float64)
                ok = np.isfinite(y) & ((y > 0) if part == "value" else True)
                ax.plot(np.where(ok, xs, np.nan), np.where(ok, y, np.nan), _STYLES[f], color=_COLORS[f],
                        lw=1.6, label=f"{f}: {FORMULAS[f]}")
                for kind, sel in marker_kinds(y, want, dtype).items():
                    idx = _thin(sel, table)
                    if idx.size:
                        strip.plot(xs[idx], np.full(idx.size, k + _KIND_OFFSET[kind]), linestyle="None",
                                   marker=MARKERS[kind][0], ms=5,
                                   color=_COLORS[f], gid=f"{dtype}|{part}|{f}|{kind}")
            ax.set_xscale("symlog", linthresh=1.0)
            ax.grid(True, alpha=0.3)
            ax.tick_params(labelbottom=False)
            strip.set_ylim(len(FORMULAS) - 0.5, -0.5)  # first formula on top
            strip.set_yticks(range(len(FORMULAS)), list(FORMULAS), fontsize=7)
            for label, f in zip(strip.get_yticklabels(), FORMULAS, strict=False):
                label.set_color(_COLORS[f])
            strip.grid(True, axis="x", alpha=0.3)
            if part == "value":
                ax.set_yscale("log")
                ax.set_ylim(1e-22, 1e6)
                ax.set_title(f"{dtype}: loss, label z = 1 (log scale)", fontsize=10)
                strip.tick_params(labelbottom=False)
            else:
                ax.set_ylim(-1.15, 0.15)
                ax.set_title(f"{dtype}: gradient dL/dx", fontsize=10)
                strip.set_xlabel("logit x (symlog)")
    fig.axes[2].legend(loc="center right", fontsize=8)  # float32 gradient panel: the curves are flat there
    keys = [Line2D([], [], linestyle="None", marker=m, color="black", label=word) for m, word in MARKERS.values()]
    fig.legend(handles=keys, loc="upper right", ncols=4, fontsize=8, frameon=False,
               title="strips (one row per formula):", title_fontsize=8)
    fig.suptitle("Sigmoid cross-entropy written four ways", x=0.02, ha="left")
    fig.subplots_adjust(left=0.07, right=0.98, top=0.9, bottom=0.07, wspace=0.18)
    return fig


def plot(path: str) -> None:
    """Draw :func:`figure` to ``path`` (a PNG of :data:`PLOT_SIZE` pixels)."""
    figure().savefig(path, dpi=100)
