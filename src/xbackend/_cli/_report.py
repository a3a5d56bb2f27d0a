"""``xbackend report``: every installed backend and device against every native loss.

Detects the targets (:mod:`xbackend._cli._detect`), runs the conformance suite
(:mod:`xbackend._cli._suite`) on each with a progress bar, and prints one row per
backend × device × loss (or JSON); the exit status is 0 only if every check passes and
no installed framework is broken.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable
from typing import Any

from xbackend._cli._detect import (
    CAPTURED,
    FRAMEWORKS,
    Target,
    _short_error,
    detect,
    installed,
    prepare_environment,
    quiet,
    render_table,
)
from xbackend._cli._suite import SHORT, Row, Runner, cases, scheduler
from xbackend.testing._tolerance import REPORT_OPS

__all__ = ["Progress", "render_rows", "run"]


# --------------------------------------------------------------------------- progress
class Progress:
    """A progress bar on the terminal: rich's when installed, else a plain ``\\r`` line.

    Writes to a duplicate of the original stderr, so it stays visible while :func:`quiet`
    swallows framework output on file descriptor 2. Disabled when stderr is not a terminal."""

    def __init__(self, total: int, enabled: bool = True, stream: Any = None, use_rich: bool | None = None):
        self.total, self.done, self._label = max(total, 1), 0, ""
        self._rich = self._task = None
        self.stream, self._own = stream, False
        if stream is None and enabled:
            try:
                enabled = sys.stderr.isatty()
                if enabled:
                    self.stream = os.fdopen(os.dup(sys.stderr.fileno()), "w", encoding="utf-8", errors="replace")
                    self._own = True
            except (AttributeError, OSError, ValueError):
                enabled = False
        self.enabled = enabled
        if not enabled:
            return
        if use_rich is None:
            try:
                import rich.progress  # noqa: F401  (the optional `report` extra)

                use_rich = True
            except ImportError:
                use_rich = False
        if use_rich:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            console = Console(file=self.stream, width=min(100, Console(file=self.stream).width))
            self._rich = RichProgress(TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), console=console, transient=True)
            self._rich.start()
            self._task = self._rich.add_task("starting", total=self.total)

    def start(self, label: str) -> None:
        """Show ``label`` as the current step (the previous one counts as done)."""
        if self._label:
            self.done += 1
        self._label = label
        if not self.enabled:
            return
        if self._rich is not None and self._task is not None:
            self._rich.update(self._task, completed=self.done, description=label[:40])
            return
        width = 30
        filled = int(width * self.done / self.total)
        line = f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done:>3}/{self.total}  {label[:50]:<50}"
        self.stream.write(line)
        self.stream.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        if self._rich is not None and self._task is not None:
            self._rich.update(self._task, completed=self.total)
            self._rich.stop()
        else:
            self.stream.write("\r" + " " * 92 + "\r")
            self.stream.flush()
        if self._own:
            self.stream.close()


# ------------------------------------------------------------------------ run/render
def _num(v: float) -> str:
    if v != v:
        return "-"
    if v == 0:
        return "0"
    if v == float("inf"):
        return "inf"
    return f"{v:.1e}"


def render_rows(rows: list[Row]) -> str:
    headers = ["backend", "loss", "nat.abs", "nat.rel", "cf.abs", "cf.rel", "grad.fd", "err/tol", "result"]
    body, last = [], None
    for r in rows:
        na, nr = r.worst("native")
        ca, cr = r.worst("closed form", "value")
        _, gr = r.worst("closed form", "grad")
        name = r.target.name if r.target.name != last else ""
        last = r.target.name
        ratio = r.ratio()
        body.append([name, SHORT.get(r.loss, r.loss), _num(na), _num(nr), _num(ca), _num(cr), _num(gr),
                     "-" if ratio != ratio else ("inf" if ratio == float("inf") else f"{ratio:.2f}"), r.status])
    return render_table(headers, body, align="right", left=2)


def _summary(rows: list[Row], targets: list[Target], seconds: float) -> tuple[bool, str]:
    checks = [c for r in rows for c in r.checks]
    failed_rows = [r for r in rows if not r.ok]
    broken = [t for t in targets if t.status == "broken"]
    ok = not failed_rows and not broken and bool(rows)
    if not rows:
        return False, f"FAIL: nothing ran: no requested backend and device is available ({seconds:.1f} s)"
    runnable = sorted({r.target.name for r in rows}, key=[t.name for t in targets].index)
    text = (f"{'PASS' if ok else 'FAIL'}: {len(rows) - len(failed_rows)}/{len(rows)} rows pass "
            f"({len(runnable)} backends × {len({r.loss for r in rows})} losses, "
            f"{sum(c.ok for c in checks)}/{len(checks)} checks)")
    if broken:
        text += f", {len(broken)} broken backend{'s' if len(broken) > 1 else ''}"
    return ok, text + f" in {seconds:.1f} s"


def run(args: Any, out: Callable[[str], None]) -> int:
    """``xbackend report``: run the suite, print the table (or JSON); 0 iff every cell passes."""
    import json
    import platform
    import time

    t0 = time.perf_counter()
    prepare_environment()
    frameworks = installed(args.backends)
    if args.backends:
        missing = [b for b in args.backends if b not in frameworks]
        if missing:
            out(f"xbackend report: requested backend(s) not installed: {', '.join(missing)} "
                f"(pip install \"xbackend[{','.join(FRAMEWORKS[m][2] or m for m in missing)}]\")")
            return 2
    from xbackend.testing import _oracles

    losses = list(_oracles.LOSSES)
    per_target = len(losses)
    # rough total: imports + (framework × losses); GPU members add steps as found
    progress = Progress(len(frameworks) * (1 + per_target), enabled=not args.no_progress and not args.json)
    rows: list[Row] = []
    try:
        targets = detect(args.backends, device=args.device,
                         on_import=lambda fw: progress.start(f"importing {fw}"))
        runnable = [t for t in targets if t.status == "ok"]
        progress.total = len(frameworks) + len(runnable) * per_target
        suite = cases()
        runner = Runner()
        for t in runnable:
            for loss in losses:
                progress.start(f"{t.name}: {SHORT.get(loss, loss)}")
                try:
                    with quiet(), scheduler(t):
                        rows.append(runner.run_loss(t, loss, suite))
                except Exception as exc:  # a backend that crashes mid-run is a finding
                    rows.append(Row(t, loss, error=_short_error(exc)))
    finally:
        progress.close()
    seconds = time.perf_counter() - t0
    ok, summary = _summary(rows, targets, seconds)
    if args.json:
        from xbackend import __version__

        out(json.dumps({
            "xbackend": __version__, "python": platform.python_version(), "machine": platform.machine(),
            "tolerance": f"tolerance(dtype, {REPORT_OPS:g}) = {REPORT_OPS:g}·eps(dtype), relative to |ref| (+ max|ref| "
                         "for normwise checks)",
            "backends": [{"name": t.name, "framework": t.framework, "device": t.device, "status": t.status,
                          "detail": t.detail} for t in targets],
            "rows": [r.as_dict() for r in rows],
            # where each native used here differs from mathematics (those entries are
            # compared with the closed form instead)
            "natives": {k: _oracles.NATIVES[k].note for r in rows for k in r.used_natives() if k in _oracles.NATIVES},
            "passed": ok, "summary": summary, "seconds": round(seconds, 2),
        }, indent=1, allow_nan=False))
        return 0 if ok else 1
    _print_report(rows, targets, summary, out)
    if getattr(args, "verbose", False) and CAPTURED:
        out("")
        out("Framework output captured while importing and running:")
        for text in CAPTURED:
            out(text)
    return 0 if ok else 1


def _print_report(rows: list[Row], targets: list[Target], summary: str, out: Callable[[str], None]) -> None:
    from xbackend import __version__

    found = [f"{t.name} {t.detail}" for t in targets if t.status == "ok"]
    out(f"xbackend {__version__} conformance report: every loss on every backend found here")
    out(textwrap.fill(", ".join(found) or "none available", width=100, initial_indent="backends: ",
                      subsequent_indent="    "))
    out("")
    if rows:
        out(render_rows(rows))
        out("")
        out("Columns, float64: nat = vs the framework's own loss (values and gradients), cf = values vs")
        out("the float64 closed form, grad.fd = gradients vs finite differences of the closed form (good")
        out("to ~1e-10); abs = max|Δ|, rel = max|Δ|/max|ref| (elementwise for the ±1e9/±inf cases).")
        out(f"err/tol = worst error over every dtype and check / its tolerance {REPORT_OPS:g}·eps(dtype): > 1 fails.")
        out("Dtypes: float64, float32, and the half precisions a backend has (plain cases, vs the closed")
        out("form); gradients where it has autodiff (JAX: each case under jax.jit); (p) = takes probabilities.")
    by_fw: dict[str, list[str]] = {}
    for r in rows:
        for k in r.used_natives():
            if k not in by_fw.setdefault(r.target.name, []):
                by_fw[r.target.name].append(k)
    for name, keys in by_fw.items():
        if keys:
            out(textwrap.fill(", ".join(keys), width=100, initial_indent=f"natives ({name}): ",
                              subsequent_indent="    ", break_on_hyphens=False))
    with_native = {r.target.framework for r in rows if r.used_natives()}
    without = sorted({r.target.framework for r in rows} - with_native)
    if without:
        out(f"no native loss: {', '.join(without)} (closed form only)")
    for t in targets:
        if t.status == "broken":
            out(f"BROKEN  {t.name}: {t.detail}")
        elif t.status == "no-device":
            out(f"skipped {t.name}: {t.detail}")
    missing = [t.framework for t in targets if t.status == "missing"]
    if missing:
        out(f"not installed: {', '.join(missing)}")
    failures = [r for r in rows if not r.ok]
    for r in failures[:12]:
        out(f"FAIL    {r.target.name} {r.loss}: {r.first_failure()}")
    if len(failures) > 12:
        out(f"... and {len(failures) - 12} more failing rows (--json has every check)")
    out("")
    out(summary)
