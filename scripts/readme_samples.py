"""Regenerate the sample outputs shown in README.md from the program itself.

    python scripts/readme_samples.py            # run the commands, rewrite the README regions
    python scripts/readme_samples.py --check    # exit 1 (with a diff) if a region is stale

Each sample lives in README.md between ``<!-- sample:NAME -->`` and ``<!-- /sample -->``
and is the verbatim output of one command (see :data:`SAMPLES`), run in a fresh process
with this checkout's ``src`` first on the path, with one documented shortening: the
``explain`` sample shows the float32 sweep table and replaces the float64 one by a line
that says so.

Staleness (``--check``, and ``tests/test_readme_samples.py``) compares normalised text,
because part of each output depends on the machine, not on the code:

* ``report``: the ``backends:`` versions line, the ``natives``/``no native loss``/``not
  installed`` lines and the closing ``PASS``/``FAIL`` line (installed frameworks, counts,
  seconds) are left out, and so are the error magnitudes in the table (they move with the
  CPU's SIMD paths and library versions); the title, the column header, every row's
  backend, loss and result, and the explanation under the table are compared.
* ``explain``: the seed-example rows of backends not run by the check are left out (every
  backend prints the same numbers; ``--backends`` narrows the check, e.g. to ``numpy``)
  and the ``wrote FILE`` line is compared without its path.

In both, runs of spaces count as one space and ``----`` rules as one rule, so a narrower
backend column does not count as a change.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BACKENDS = ("numpy", "array_api_strict", "torch", "jax", "tensorflow", "dask", "cupy")
FLOAT64_ELIDED = "(... the same table in float64 ...)"


@dataclass(frozen=True)
class Sample:
    name: str
    argv: tuple[str, ...]  # after ``xbackend``
    prompt: str  # the command line the README shows


SAMPLES = {
    "report": Sample("report", ("report", "--no-progress"), "$ xbackend"),
    "explain": Sample("explain", ("explain", "--plot", "docs/images/explain.png"),
                      "$ xbackend explain --plot docs/images/explain.png"),
}
_REGION = re.compile(r"(<!-- sample:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /sample -->)", re.S)


# ----------------------------------------------------------------------------- running


def run_command(sample: Sample, backends: list[str] | None = None, plot_to: str | None = None) -> str:
    """The command's standard output (exit status 0 required), shortened for the README."""
    argv = list(sample.argv)
    if plot_to is not None and "--plot" in argv:
        argv[argv.index("--plot") + 1] = plot_to
    if backends:
        argv += ["--backends", ",".join(backends)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run([sys.executable, "-m", "xbackend", *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"xbackend {' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    out = proc.stdout.rstrip("\n")
    if sample.name == "explain":
        out = _elide_float64_table(out)
        if plot_to is not None:
            out = out.replace(f"wrote {plot_to}", "wrote docs/images/explain.png")
    return out


def _elide_float64_table(text: str) -> str:
    lines = text.split("\n")
    try:
        i = next(k for k, line in enumerate(lines) if line.startswith("float64:")
                 and k + 1 < len(lines) and lines[k + 1].startswith("x "))  # fmt: skip
    except StopIteration:
        return text
    j = i
    while j < len(lines) and lines[j].strip():
        j += 1
    return "\n".join([*lines[:i], FLOAT64_ELIDED, *lines[j:]])


def render(sample: Sample, output: str) -> str:
    return f"```text\n{sample.prompt}\n{output}\n```\n"


# ----------------------------------------------------------------------------- README regions


def regions(text: str) -> dict[str, str]:
    """``{name: body}`` of the marked regions of ``text``."""
    found = {m["name"]: m["body"] for m in _REGION.finditer(text)}
    missing = set(SAMPLES) - set(found)
    if missing:
        raise ValueError(f"README.md has no region for {sorted(missing)} (<!-- sample:NAME --> ... <!-- /sample -->)")
    return found


def replace_regions(text: str, bodies: dict[str, str]) -> str:
    return _REGION.sub(lambda m: m.group(1) + bodies.get(m["name"], m["body"]) + m.group(4), text)


# ----------------------------------------------------------------------------- normalising


def _squash(line: str) -> str:
    if line.strip() and set(line.strip()) <= {"-", " "}:
        return "<rule>"
    return " ".join(line.split())


_NUMBER = re.compile(r"^-?(\d+(\.\d*)?(e-?\d+)?|inf|nan)$")


def normalise(name: str, body: str, backends: list[str] | None = None) -> list[str]:
    """The lines of a sample that do not depend on the machine (see the module docstring)."""
    keep = set(backends or BACKENDS)
    out: list[str] = []
    current = None  # the backend of the table row (blank on its later rows)
    skipping_continuation = False
    for raw in body.rstrip("\n").split("\n"):
        words = raw.split()
        first = words[0] if words else ""
        if name == "report":
            if skipping_continuation and raw.startswith("    "):
                continue
            skipping_continuation = False
            if first in ("backends:",) or raw.startswith(("natives (", "no native loss", "not installed")):
                skipping_continuation = True
                continue
            if first in ("PASS:", "FAIL:"):
                continue
            if first in BACKENDS:
                current = first
            if current is not None and raw.startswith((current, " ")) and len(words) >= 3:
                if current not in keep:
                    continue
                cells = words[1:] if first == current else words
                cells = [("<n>" if _NUMBER.match(c) else c) for c in cells]
                out.append(" ".join([current, *cells]))
                continue
            if not raw.strip():
                current = None
        else:
            if first in BACKENDS and first not in keep:
                continue
            if first == "wrote":
                out.append("wrote <file>")
                continue
        out.append(_squash(raw))
    return out


# ----------------------------------------------------------------------------- entry points


def generate(backends: list[str] | None = None, plot_to: str | None = None) -> dict[str, str]:
    return {name: render(s, run_command(s, backends, plot_to)) for name, s in SAMPLES.items()}


def stale(readme_text: str, backends: list[str] | None = None) -> dict[str, str]:
    """``{name: unified diff}`` of the samples whose normalised text differs from a fresh run."""
    current = regions(readme_text)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(backends, plot_to=str(Path(tmp) / "explain.png"))
    out = {}
    for name in SAMPLES:
        a, b = normalise(name, current[name], backends), normalise(name, fresh[name], backends)
        if a != b:
            out[name] = "\n".join(difflib.unified_diff(a, b, f"README.md ({name})", f"xbackend now ({name})",
                                                       lineterm=""))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report stale samples (exit 1); write nothing")
    parser.add_argument("--backends", default=None,
                        help="comma-separated backends to run (default: every installed one; the README shows all)")
    args = parser.parse_args(argv)
    backends = [b for b in (args.backends or "").split(",") if b] or None
    text = README.read_text()
    if args.check:
        diffs = stale(text, backends)
        for diff in diffs.values():
            print(diff)
        print("README samples: " + (f"stale: {', '.join(diffs)}" if diffs else "up to date"))
        return 1 if diffs else 0
    regions(text)  # every region is there before anything runs
    new = replace_regions(text, generate(backends))
    README.write_text(new)
    print(f"rewrote {len(SAMPLES)} samples in {README.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
