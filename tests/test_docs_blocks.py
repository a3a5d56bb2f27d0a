"""Every ```python block of README.md and docs/*.md runs as pasted.

The blocks are found when the tests are collected, so a new page in ``docs/`` is covered
without a list to update. Each block runs alone in a fresh Python process (empty working
directory, this checkout's ``src`` first on the path, a time bound): a block that only
works after another one, or needs a name it does not define, fails. A block that imports
a framework which is not installed here is skipped, and the skip names the framework.

A block that is not meant to run (a shell session, a program's output, a sketch) says so
with its fence: ```text, ```console, ```bash -- there is no list of exceptions here.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 300  # one block, in a fresh process; the slowest (torch.compile) needs ~1 min on 2 busy cores
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line, code)`` of every fenced block whose info string is ``python`` or ``py``
    (CommonMark fences: three or more backticks or tildes, closed by a fence at least as long)."""
    out: list[tuple[int, str]] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info = m["fence"], m["info"].strip()
        body, j = [], i + 1
        while j < len(lines):
            close = _FENCE.match(lines[j])
            if close and close["fence"][0] == fence[0] and len(close["fence"]) >= len(fence) and not close["info"].strip():
                break
            body.append(lines[j][len(m["indent"]):] if lines[j].startswith(m["indent"]) else lines[j])
            j += 1
        if info.split(" ")[0].lower() in ("python", "py"):
            out.append((i + 1, "\n".join(body) + "\n"))
        i = j + 1
    return out


def top_level_imports(code: str) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names += [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module.split(".")[0])
    return list(dict.fromkeys(names))


BLOCKS = [(path, line, code) for path in doc_files() for line, code in python_blocks(path.read_text())]


def test_the_documentation_has_python_blocks_to_run():
    """Not vacuous: README.md and the docs pages hold runnable blocks (11 when this was written)."""
    files = {p.name for p, _, _ in BLOCKS}
    assert "README.md" in files and len(files) >= 3
    assert len(BLOCKS) >= 11


def test_the_fence_reader_follows_commonmark():
    text = "\n".join([
        "```python", "a = 1", "```",
        "```text", "$ not python", "```",
        "````python", "s = '''", "```", "'''", "````",  # a longer fence holds a shorter one
        "```{include} x.md", "```",
        "  ```py", "  b = 2", "  ```",
    ])  # fmt: skip
    assert python_blocks(text) == [(1, "a = 1\n"), (7, "s = '''\n```\n'''\n"), (14, "b = 2\n")]


@pytest.mark.parametrize(("path", "line", "code"), BLOCKS,
                         ids=[f"{p.relative_to(ROOT)}:{line}" for p, line, _ in BLOCKS])
def test_python_block_runs_as_pasted(path, line, code, tmp_path):
    where = f"{path.relative_to(ROOT)}:{line}"
    missing = [m for m in top_level_imports(code) if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{where} imports {', '.join(missing)}, which is not installed here")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("MPLBACKEND", "Agg")
    try:
        proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT_S)  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"{where} ran longer than {TIMEOUT_S} s")
    assert proc.returncode == 0, f"{where} failed as pasted:\n{code}\n--- stderr ---\n{proc.stderr[-4000:]}"
