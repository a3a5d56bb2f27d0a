"""Importing xbackend imports no framework; a framework is touched only when its arrays arrive.

Run in a fresh interpreter (array-api-compat's own test does the same), so that modules
already imported by other tests cannot hide an import.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

FRAMEWORKS = ("torch", "jax", "tensorflow", "cupy", "dask", "array_api_strict", "keras", "optax")


def _imported_after(code: str) -> list[str]:
    script = textwrap.dedent(
        f"""
        import sys
        {textwrap.indent(textwrap.dedent(code), " " * 8).strip()}
        print(",".join(m for m in {FRAMEWORKS!r} if m in sys.modules))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    return [m for m in line.split(",") if m]


def test_import_xbackend_imports_no_framework():
    assert _imported_after("import xbackend") == []


def test_numpy_calls_import_no_framework():
    """Every public function on NumPy arrays, reductions included."""
    code = """
    import numpy as np
    import xbackend as xb
    x = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -3.0]])
    y = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    i = np.array([2, 0])
    for f in (xb.sigmoid, xb.log_sigmoid, xb.softplus, xb.logsumexp, xb.log_softmax, xb.softmax):
        f(x)
    xb.sigmoid_cross_entropy(x, y, reduction="mean")
    xb.sigmoid_focal_loss(x, y, reduction="sum")
    xb.softmax_cross_entropy(x, y, label_smoothing=0.1, reduction="mean")
    xb.sparse_softmax_cross_entropy(x, i, class_weights=np.ones(3), reduction="mean")
    xb.softmax_focal_loss(x, i, reduction="sum_over_batch_size")
    xb.binary_cross_entropy(xb.sigmoid(x), y)
    xb.categorical_cross_entropy(xb.softmax(x), y)
    """
    assert _imported_after(code) == []


def test_oracles_and_testing_modules_import_no_framework():
    """xbackend.testing._oracles (closed forms, native registry) and xbackend.testing on NumPy."""
    code = """
    import numpy as np
    from xbackend.testing import _oracles
    from xbackend.testing import assert_matches_reference, tolerance
    x = np.array([[0.5, -1.0, 2.0]])
    ref = _oracles.closed_form("sparse_softmax_cross_entropy", x, np.array([1]))
    _oracles.closed_form_grad("softmax_cross_entropy", x, np.array([[0.2, 0.3, 0.5]]))
    assert len(_oracles.NATIVES) > 0
    """
    assert _imported_after(code) == []


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_a_framework_is_imported_only_by_its_own_arrays(framework):
    """torch arrays import torch (the caller did) and nothing else."""
    pytest.importorskip(framework)
    make = {"torch": "import torch; x = torch.zeros(2, 3); y = torch.tensor([0, 1])",
            "jax": "import jax.numpy as jnp; x = jnp.zeros((2, 3)); y = jnp.asarray([0, 1])"}[framework]
    code = f"""
    {make}
    import xbackend as xb
    xb.sparse_softmax_cross_entropy(x, y, reduction="mean")
    """
    others = [m for m in _imported_after(code) if m != framework]
    assert others == []
