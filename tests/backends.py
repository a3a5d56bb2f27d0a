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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

FLOATS = ("float64", "float32", "float16", "bfloat16")


@dataclass(frozen=True)
class Backend:
    name: str  # test id: "numpy", "torch", "torch:gpu", ...
    package: str  # the import that must succeed
    gpu: bool = False
    dtypes: tuple = FLOATS
    autodiff: bool = False
    lazy: bool = False
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def framework(self) -> str:
        return self.name.split(":")[0]

    # ---------------------------------------------------------------- namespaces
    def module(self) -> Any:
        return importlib.import_module(self.package)

    def xp(self) -> Any:
        """The namespace xbackend infers for this backend's arrays."""
        from xbackend import array_namespace

        return array_namespace(self.asarray(np.zeros(1)))

    def dtype(self, name: str) -> Any:
        fw = self.framework
        if fw == "torch":
            import torch

            return getattr(torch, name)
        if fw == "jax":
            import jax.numpy as jnp

            return getattr(jnp, name)
        if fw == "tensorflow":
            import tensorflow as tf

            return getattr(tf, name)
        if fw == "array_api_strict":
            import array_api_strict as xs

            return getattr(xs, name)
        if fw == "cupy":
            import cupy

            return getattr(cupy, name)
        return getattr(np, name)

    def int_dtype(self) -> Any:
        return self.dtype("int64") if self.framework != "tensorflow" else self.dtype("int32")

    def device(self) -> Any:
        fw = self.framework
        if fw == "torch":
            import torch

            return torch.device("cuda" if self.gpu else "cpu")
        if fw == "jax":
            import jax

            return jax.devices("gpu" if self.gpu else "cpu")[0]
        return None

    # ---------------------------------------------------------------- conversion
    def asarray(self, a: Any, dtype: str | None = None) -> Any:
        """A backend array (on the backend's device) from NumPy data."""
        a = np.asarray(a)
        fw = self.framework
        if dtype is None:
            dtype = a.dtype.name
        if fw == "numpy":
            return np.asarray(a, dtype=dtype)
        if fw == "array_api_strict":
            import array_api_strict as xs

            return xs.asarray(a.astype(dtype) if dtype != "bool" else a, dtype=getattr(xs, dtype))
        if fw == "torch":
            import torch

            t = torch.asarray(a.astype(np.float64) if dtype == "bfloat16" else a)
            return t.to(device=self.device(), dtype=getattr(torch, dtype))
        if fw == "jax":
            import jax
            import jax.numpy as jnp

            return jax.device_put(jnp.asarray(a, dtype=getattr(jnp, dtype)), self.device())
        if fw == "dask":
            import dask.array as da

            chunks = tuple(max(1, (s + 1) // 2) for s in a.shape)  # several chunks per axis
            return da.from_array(np.asarray(a, dtype=dtype), chunks=chunks or ())
        if fw == "tensorflow":
            import tensorflow as tf

            device = "/GPU:0" if self.gpu else "/CPU:0"
            with tf.device(device):
                return tf.constant(a.astype(np.float64) if dtype == "bfloat16" else a, dtype=getattr(tf, dtype))
        if fw == "cupy":
            import cupy

            return cupy.asarray(a, dtype=dtype)
        raise AssertionError(fw)

    def to_numpy(self, x: Any) -> np.ndarray:
        from xbackend.testing import to_numpy

        return to_numpy(x)


ALL = (
    Backend("numpy", "numpy", dtypes=("float64", "float32", "float16")),
    Backend("array_api_strict", "array_api_strict", dtypes=("float64", "float32")),
    Backend("torch", "torch", autodiff=True),
    Backend("jax", "jax", autodiff=True),
    Backend("dask", "dask.array", dtypes=("float64", "float32", "float16"), lazy=True),
    Backend("tensorflow", "tensorflow", autodiff=True),
    Backend("torch:gpu", "torch", gpu=True, autodiff=True),
    Backend("jax:gpu", "jax", gpu=True, autodiff=True),
    Backend("cupy", "cupy", gpu=True, dtypes=("float64", "float32", "float16")),
    Backend("tensorflow:gpu", "tensorflow", gpu=True, autodiff=True),
)
BY_NAME = {b.name: b for b in ALL}
GPU_OF = {"torch": "torch:gpu", "jax": "jax:gpu", "cupy": "cupy", "tensorflow": "tensorflow:gpu"}


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
        if b.framework == "torch":
            import torch

            return torch.cuda.is_available()
        if b.framework == "jax":
            import jax

            return bool(jax.devices("gpu"))
        if b.framework == "cupy":
            import cupy

            return cupy.cuda.runtime.getDeviceCount() > 0
        if b.framework == "tensorflow":
            import tensorflow as tf

            return bool(tf.config.list_physical_devices("GPU"))
    except Exception:
        return False
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
