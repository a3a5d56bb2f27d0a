"""The docstring examples of the public functions and of xbackend.compat run, and importing it
(plus a NumPy call) imports no framework and no Keras; ``import xbackend.keras`` imports
Keras (and the backend Keras chose) only."""

from __future__ import annotations

import doctest
import importlib
import os
import subprocess
import sys

import pytest

COMPAT_MODULES = ["xbackend.compat.torch", "xbackend.compat.tf", "xbackend.compat.optax", "xbackend.compat.keras"]


@pytest.mark.parametrize("module", COMPAT_MODULES)
def test_compat_module_docstring_examples_give_the_printed_numbers(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0, f"{module} has no example"
    assert result.failed == 0, f"{result.failed} example(s) of {module} print other numbers"


def _public_examples() -> list:
    import xbackend

    finder = doctest.DocTestFinder(recurse=False)
    tests = [t for name in xbackend.__all__ for t in finder.find(getattr(xbackend, name), f"xbackend.{name}", globs={})]
    return [pytest.param(t, id=t.name) for t in tests if t.examples]


@pytest.mark.parametrize("example", _public_examples())
def test_public_function_docstring_examples_give_the_printed_numbers(example):
    """The examples in the docstrings of ``xbackend.__all__`` (the losses, primitives,
    ``compiled``) run as written, each in its own namespace, and print what they show."""
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report: list[str] = []
    result = runner.run(example, out=report.append)
    assert result.failed == 0, "".join(report)


def test_the_core_losses_have_docstring_examples():
    """Not vacuous: the public losses carry examples (six when this was written)."""
    names = {p.id.split(".")[-1] for p in _public_examples()}
    assert {"sigmoid_cross_entropy", "softmax_cross_entropy", "sparse_softmax_cross_entropy",
            "binary_cross_entropy", "categorical_cross_entropy", "linear_cross_entropy"} <= names


def test_importing_xbackend_compat_imports_no_framework():
    code = (
        "import sys, numpy as np\n"
        "import xbackend, xbackend.compat\n"
        "from xbackend.compat import keras as xk, torch as xt\n"
        "xk.binary_crossentropy(np.zeros((2, 3)), np.full((2, 3), 0.5))\n"
        "xk.categorical_focal_crossentropy(np.eye(3)[:2], np.zeros((2, 3)), from_logits=True)\n"
        "xt.cross_entropy(np.zeros((2, 3)), np.array([0, 1]))\n"
        "loaded = sorted(m for m in ('keras', 'tensorflow', 'torch', 'jax', 'optax', 'cupy') if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ),
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "", f"frameworks imported: {res.stdout.strip()}"


def test_importing_xbackend_keras_imports_what_import_keras_imports_and_nothing_more():
    """``import xbackend.keras`` imports Keras (to register its classes for ``load_model``)
    and so whatever Keras imports for the backend ``KERAS_BACKEND`` names; xbackend adds
    no framework of its own."""
    pytest.importorskip("keras", reason="keras is not installed")
    env = dict(os.environ, KERAS_BACKEND="torch", TF_CPP_MIN_LOG_LEVEL="3")

    def imported(statement: str) -> str:
        code = (
            f"import sys\n{statement}\n"
            "print(','.join(sorted(m for m in ('keras', 'tensorflow', 'torch', 'jax', 'optax', 'cupy')"
            " if m in sys.modules)))\n"
        )
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
        assert res.returncode == 0, res.stderr
        return res.stdout.strip().splitlines()[-1]

    ours = imported("import xbackend.keras")
    assert "keras" in ours.split(",") and "torch" in ours.split(",")
    assert ours == imported("import keras")
