"""The public docstrings, as rendered from the shared pieces (``%(name)s``, filled at
definition time): complete, every placeholder filled, no private module named, and
``python -OO`` (no docstrings at all) still imports and runs."""

from __future__ import annotations

import importlib
import inspect
import os
import re
import subprocess
import sys

import pytest

import xbackend
from xbackend._lib import _docs

PUBLIC = ["xbackend", "xbackend.compat.torch", "xbackend.compat.tf", "xbackend.compat.optax", "xbackend.compat.keras"]
PRIVATE = re.compile(r"xbackend\._|\b_lib\b|_backends|_kernels|_chunked|_checks|:(mod|func|class|meth)`~?[\w.]*\._")


def _functions():
    for m in PUBLIC:
        mod = importlib.import_module(m)
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.isfunction(obj) and obj.__doc__:
                yield f"{m}.{name}", obj


@pytest.mark.parametrize(("name", "fn"), list(_functions()), ids=lambda v: v if isinstance(v, str) else "")
def test_public_docstring_is_filled_complete_and_names_no_private_module(name, fn):
    doc = inspect.getdoc(fn)
    assert "%(" not in doc, f"{name}: an unfilled placeholder"
    bad = [line.strip() for line in doc.splitlines() if PRIVATE.search(line)]
    assert not bad, f"{name} names a private module: {bad}"
    params = doc.split("Parameters\n----------\n", 1)[1].split("\n\n", 1)[0]
    heads = [line.split(":")[0] for line in params.splitlines() if not line.startswith(" ")]
    documented = {p.strip().lstrip("*") for head in heads for p in head.split(",")}
    missing = [p for p in inspect.signature(fn).parameters if p not in documented]
    assert not missing, f"{name}: parameters without a description: {missing}"
    assert "\nReturns\n-------\n" in doc, f"{name}: no Returns section"


@pytest.mark.parametrize("module", [m for m in PUBLIC if m != "xbackend"] + ["xbackend.keras", "xbackend.testing"])
def test_public_module_docstring_names_no_private_module(module):
    doc = importlib.import_module(module).__doc__ or ""
    assert not [line for line in doc.splitlines() if PRIVATE.search(line)]


def test_pieces_fill_indented_nested_and_leave_a_missing_docstring_alone():
    @_docs.doc(mean="1")
    def f():
        """Head.

        Parameters
        ----------
        %(reduction)s
        %(eps)s
        """

    assert "%(" not in f.__doc__
    assert '\n            ``"none"``' in f.__doc__ and "\n            A Python number" in f.__doc__
    assert "\n            :math:`r`, each element's weight in the mean, is\n            1;" in f.__doc__

    def g():
        pass

    assert _docs.doc()(g).__doc__ is None
    with pytest.raises(KeyError):
        _docs.fill("%(no_such_piece)s", _docs.PIECES)


def test_python_OO_imports_and_runs_without_docstrings():
    code = (
        "import numpy as np, xbackend as xb, xbackend.compat\n"
        "assert xb.softmax_cross_entropy.__doc__ is None\n"
        "print(float(xb.sparse_softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1]), reduction='mean')))\n"
    )
    src = os.path.dirname(os.path.dirname(xbackend.__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, *os.environ.get("PYTHONPATH", "").split(os.pathsep)]))
    res = subprocess.run([sys.executable, "-OO", "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "1.0986122886681098"
