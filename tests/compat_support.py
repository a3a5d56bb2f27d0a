"""Helpers for the compat test files: conversions, gradients and checks.

The compat tests compare ``xbackend.compat.<framework>`` on every backend with the
original framework's loss on the *same* (rounded) inputs converted to that framework.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tests.backends import BY_NAME, Backend
from xbackend.testing import to_numpy
from xbackend.testing._autodiff import grad_of
from xbackend.testing._tolerance import K_OPS, tolerances

#: dtypes of the main matrix; float16/bfloat16 get their own cells
MAIN_DTYPES = ("float64", "float32")


def rounded(a: np.ndarray, dtype: str) -> np.ndarray:
    """``a`` rounded to ``dtype`` and back to float64 (what every framework sees)."""
    if dtype == "bfloat16":
        import ml_dtypes

        return np.asarray(a, dtype=ml_dtypes.bfloat16).astype(np.float64)
    return np.asarray(a, dtype=dtype).astype(np.float64)


def on(backend: Backend, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` called the way the backend's users call a loss.

    JAX cells run under ``jax.jit`` (array arguments traced, everything else static):
    that is how JAX code calls a loss, and it compiles each cell once, where eager JAX
    compiles every operation per shape (about 7x the CPU time). Other backends: ``fn``.
    """
    if backend.framework != "jax":
        return fn
    import jax

    def call(*args: Any, **kwargs: Any) -> Any:
        def is_array(v: Any) -> bool:
            return isinstance(v, jax.Array)

        arr_args = tuple(a if is_array(a) else None for a in args)
        arr_kwargs = {k: v for k, v in kwargs.items() if is_array(v)}

        def inner(traced_args: tuple, traced_kwargs: dict) -> Any:
            a = [t if is_array(orig) else orig for t, orig in zip(traced_args, args, strict=False)]
            kw = {k: traced_kwargs.get(k, v) for k, v in kwargs.items()}
            return fn(*a, **kw)

        return jax.jit(inner)(arr_args, arr_kwargs)

    return call


def grad(backend: Backend, f: Callable[[Any], Any], x: Any, cotangent: np.ndarray | None = None) -> np.ndarray:
    """Gradient of ``sum(cotangent · f(x))`` with respect to the backend array ``x`` by the
    toolkit's driver (:func:`xbackend.testing._autodiff.grad_of`; JAX compiled, see :func:`on`)."""
    cot = None if cotangent is None else backend.asarray(cotangent)
    return to_numpy(grad_of(backend, f, x, cot, jit=True)[1])


def native_grad(framework: str, f: Callable[[Any], Any], x: np.ndarray, dtype: str = "float64") -> np.ndarray:
    """The oracle's gradient: of ``sum(f(x))`` at the NumPy ``x`` rounded to ``dtype``, as an
    array of ``framework`` (on its CPU member), by :func:`grad`."""
    b = BY_NAME[framework]
    return grad(b, f, b.asarray(rounded(x, dtype), dtype))


def check(actual: Any, desired: Any, backend: Backend, dtype: str, *, factor: float = K_OPS, atol_scale: float = 0.0,
          what: str = "") -> None:
    """Namespace, dtype and shape of ``actual``, then values against ``desired`` (NumPy).

    The toolkit's tolerance (:func:`xbackend.testing._tolerance.tolerances`) of ``factor``
    roundings in ``dtype``: ``rtol = factor·eps(dtype)``, ``atol = rtol · atol_scale`` for
    values that cancel to (near) 0 from terms of size ``atol_scale``.
    Infinities must match exactly and NaN matches NaN.
    """
    xp = backend.xp()
    from xbackend import array_namespace

    if not (backend.framework == "numpy" and isinstance(actual, np.generic)):  # NumPy reductions give scalars
        assert array_namespace(actual) is xp, f"{what}: result is not a {backend.name} array: {type(actual)}"
    assert actual.dtype == backend.dtype(dtype), f"{what}: dtype {actual.dtype}, expected {dtype}"
    a = to_numpy(actual).astype(np.float64)
    d = np.asarray(desired, dtype=np.float64)
    assert a.shape == d.shape, f"{what}: shape {a.shape}, expected {d.shape}"
    assert_close_np(a, d, dtype, factor=factor, atol_scale=atol_scale, what=what)


def assert_close_np(actual: np.ndarray, desired: np.ndarray, dtype: str, *, factor: float = K_OPS,
                    atol_scale: float = 0.0, what: str = "") -> None:
    """NumPy values against ``desired`` with :func:`check`'s tolerance."""
    rtol, atol = tolerances(dtype, atol_scale, ops=factor, computes=dtype)
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(desired, np.float64), rtol=rtol,
                               atol=atol, equal_nan=True, err_msg=what)


def skip_unless_dtype(backend: Backend, dtype: str) -> None:
    import pytest

    if dtype not in backend.dtypes:
        pytest.skip(f"{backend.name} has no {dtype}")
