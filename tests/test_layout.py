"""The house rules of the package layout, checked on the source tree.

* The loss library (``xbackend/_lib``) knows no framework: every framework decision is a
  method of the backend object of :mod:`xbackend._backends`.
* The top level of the package holds only public modules, ``__init__``/``__main__`` and
  a handful of subpackages.
* One call is shallow: a torch ``sparse_softmax_cross_entropy(..., reduction="mean")``
  forward and backward makes at most 55 Python calls into xbackend (167 before the
  dispatch point existed).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import pytest

import xbackend

PACKAGE = Path(xbackend.__file__).parent
FRAMEWORKS = ("torch", "jax", "jaxlib", "tensorflow", "numpy", "cupy", "dask", "array_api_strict", "keras")
# a framework name compared with (==, !=, in) or imported by name inside the loss library
COMPARISON = re.compile(
    r"""(==|!=|\bin)\s*\(?\s*["']({})["']|["']({})["']\s*(==|!=)|\bframework_name\b|^\s*(import|from)\s+({})\b""".format("|".join(FRAMEWORKS), "|".join(FRAMEWORKS), "|".join(f for f in FRAMEWORKS if f != "numpy")),
    re.M,
)


def test_the_loss_library_compares_no_framework_names():
    found = []
    for path in sorted((PACKAGE / "_lib").glob("*.py")):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if COMPARISON.search(line):
                found.append(f"{path.name}:{i}: {line.strip()}")
    assert not found, "framework decisions belong in xbackend/_backends:\n" + "\n".join(found)


def test_the_top_level_holds_public_modules_and_a_few_subpackages():
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    private = [m for m in modules if m.startswith("_") and m not in ("__init__.py", "__main__.py")]
    assert private == [], f"private modules at the top level: {private}"
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    assert packages == ["_backends", "_cli", "_lib", "compat", "testing"], packages


def test_one_torch_call_forward_and_backward_is_shallow():
    torch = pytest.importorskip("torch")
    x = torch.randn(64, 10, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 10, (64,))
    xbackend.sparse_softmax_cross_entropy(x, y, reduction="mean").backward()  # warm the caches
    calls: Counter = Counter()
    root = str(PACKAGE)

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(root):
            calls[(frame.f_code.co_filename, frame.f_code.co_name)] += 1

    sys.setprofile(profile)
    try:
        loss = xbackend.sparse_softmax_cross_entropy(x, y, reduction="mean")
        loss.backward()
    finally:
        sys.setprofile(None)
    total = sum(calls.values())
    assert 0 < total <= 55, f"{total} calls: {calls.most_common(10)}"
