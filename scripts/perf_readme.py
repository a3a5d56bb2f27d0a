"""Write the README's Performance table from a ``xbackend bench`` JSON file.

    python scripts/perf_readme.py benchmarks/results/bench-cpu-2026-11-26.json

Replaces the text between ``<!-- PERF -->`` and ``<!-- /PERF -->`` in README.md with a
compact table (ratios xbackend / native, measured in the same run) and a link to the
full Markdown table next to the JSON file.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _r(cell: dict, a: str, b: str) -> str:
    t = cell["times_ms"]
    return f"{t[a] / t[b]:.2f}" if t.get(a) and t.get(b) else "–"


def table(path: Path) -> str:
    data = json.loads(path.read_text())
    env = data["environment"]
    cells = {(c["backend"], c["loss"], tuple(c["shape"]), c["dtype"], c["pass"]): c
             for c in data["cells"] if not c.get("note")}
    rows = []
    for (be, loss, shape, dt, p), c in cells.items():
        if p != "fwd+bwd":
            continue
        fwd = cells.get((be, loss, shape, dt, "fwd"))
        mx = c.get("memory_x", {})
        mem = f"{mx['xb'] / mx['native']:.2f}" if mx.get("xb") is not None and mx.get("native") else "–"
        rows.append(
            f"| {be} | {loss} | {'×'.join(map(str, shape))} {dt} | {_r(c, 'xb', 'native')} | {mem} | "
            f"{_r(fwd, 'xb_c', 'native_c') if fwd else '–'} | {_r(c, 'xb_c', 'native_c')} | "
            f"{_r(c, 'xb_c', 'native')} |"
        )
    vers = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    rel = path.relative_to(ROOT).with_suffix(".md").as_posix()
    head = [
        f"{env['device']}, {env['date'][:10]}; {vers}; median of {env['repeats']} rounds, "
        f"THP `{env['transparent_hugepage']}` with THP_MEM_ALLOC_ENABLE={env['THP_MEM_ALLOC_ENABLE']}. "
        f"Ratios are xbackend / native in the same run (< 1: xbackend is faster); full table with "
        f"absolute times, forward-only eager cells and the targets: [`{rel}`]({rel}).",
        "",
        "| backend | loss | logits | eager fwd+bwd | eager peak memory (torch) | compiled fwd "
        "| compiled fwd+bwd | compiled xb / eager native, fwd+bwd |",
        "|---|---|---|---|---|---|---|---|",
    ]
    return "\n".join(head + rows)


def main(argv: list[str]) -> int:
    path = Path(argv[1]).resolve()
    readme = ROOT / "README.md"
    text = readme.read_text()
    new, n = re.subn(r"<!-- PERF -->.*?<!-- /PERF -->", lambda _: f"<!-- PERF -->\n{table(path)}\n<!-- /PERF -->",
                     text, flags=re.S)
    if n != 1:
        raise SystemExit("README.md needs one <!-- PERF --> ... <!-- /PERF --> block")
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
