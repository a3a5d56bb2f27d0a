"""Fixtures shared by the test-suite. See tests/backends.py for backend selection."""

from __future__ import annotations

import pytest

from tests.backends import ALL, Backend, skip_reason


@pytest.fixture(params=ALL, ids=[b.name for b in ALL])
def backend(request) -> Backend:
    """Every backend of the matrix; skips (with a named reason) the ones that do not run."""
    b: Backend = request.param
    reason = skip_reason(b)
    if reason is not None:
        pytest.skip(reason)
    return b


@pytest.fixture(params=[b for b in ALL if b.autodiff], ids=[b.name for b in ALL if b.autodiff])
def ad_backend(request) -> Backend:
    """The backends with automatic differentiation (torch, JAX, TensorFlow; CPU and GPU)."""
    b: Backend = request.param
    reason = skip_reason(b)
    if reason is not None:
        pytest.skip(reason)
    return b


_PAIRS = [(b, dt) for b in ALL for dt in b.dtypes]


@pytest.fixture(params=_PAIRS, ids=[f"{b.name}-{dt}" for b, dt in _PAIRS])
def backend_dtype(request) -> tuple[Backend, str]:
    """Every (backend, dtype) cell of the matrix: the dtypes each backend has (``Backend.dtypes``)."""
    b, dt = request.param
    reason = skip_reason(b)
    if reason is not None:
        pytest.skip(reason)
    return b, dt
