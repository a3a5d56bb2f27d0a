"""The test backends: which frameworks and devices the matrix runs on.

Selection (SciPy style):

* ``XBACKEND_TEST_BACKENDS=numpy,torch,...`` picks backends; a backend that was asked
  for and is not installed is an **error**. Unset: every CPU backend, and a missing one
  is skipped with the reason "<package> is not installed".
* ``XBACKEND_DEVICE=cuda`` adds the GPU members (``torch:gpu``, ``jax:gpu``, ``cupy``,
  ``tensorflow:gpu``) of the selected frameworks and fails when no GPU is visible.
  Without it, GPU members skip with a named reason.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import pytest

from xbackend.testing._registry import BACKENDS as ALL
from xbackend.testing._registry import BY_NAME, FLOATS, GPU_OF
from xbackend.testing._registry import TestBackend as Backend

__all__ = ["ALL", "BY_NAME", "FLOATS", "GPU_OF", "Backend", "is_explicit", "require", "selected", "skip_reason"]


def _requested() -> list[str] | None:
    env = os.environ.get("XBACKEND_TEST_BACKENDS", "").strip()
    if not env:
        return None
    names = [n.strip() for n in env.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise pytest.UsageError(f"XBACKEND_TEST_BACKENDS names unknown backends {unknown}; known: {sorted(BY_NAME)}")
    return names


def gpu_requested() -> bool:
    return os.environ.get("XBACKEND_DEVICE", "cpu").strip().lower() in ("cuda", "gpu")


def _gpu_visible(b: Backend) -> bool:
    try:
        return b.gpu_status()[0]
    except Exception:
        return False


def selected() -> list[Backend]:
    """All backends in matrix order (skipped ones included, so test ids are stable)."""
    return list(ALL)


def is_explicit(name: str) -> bool:
    req = _requested()
    if req is None:
        return False
    if name in req:
        return True
    return gpu_requested() and any(GPU_OF.get(r) == name for r in req)


def skip_reason(b: Backend) -> str | None:
    """None if the backend runs; else why it is skipped. Raises if it was required but cannot run."""
    req = _requested()
    if req is not None:
        wanted = b.name in req or (b.gpu and gpu_requested() and any(GPU_OF.get(r) == b.name for r in req))
        if not wanted:
            return f"{b.name} not selected by XBACKEND_TEST_BACKENDS={os.environ['XBACKEND_TEST_BACKENDS']}"
    if b.gpu and not gpu_requested():
        return f"{b.name} is a GPU backend and XBACKEND_DEVICE is not 'cuda'"
    try:
        importlib.import_module(b.package)
    except ImportError as exc:
        if req is not None:
            pytest.fail(f"backend {b.name} was requested but {b.package} is not installed: {exc}", pytrace=False)
        return f"{b.package} is not installed"
    if b.gpu and not _gpu_visible(b):
        pytest.fail(f"XBACKEND_DEVICE=cuda but {b.framework} sees no GPU", pytrace=False)
    return None


def require(framework: str) -> Any:
    """For framework-specific tests: import ``framework`` (CPU member) or skip/fail by the rules above."""
    b = BY_NAME[framework]
    reason = skip_reason(b)
    if reason is not None:
        pytest.skip(reason, allow_module_level=True)  # also usable at a test module's top
    return b.module()
