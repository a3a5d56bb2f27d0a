"""The backend registry shared by the test matrix and ``xbackend report``.

One :class:`TestBackend` per (framework, device) member: its name (``"torch"``,
``"torch:gpu"``, ...), the import that must succeed, its capabilities, declared once here
(floating dtypes, integer label dtype, autodiff, compiled references, laziness, GPU and
how to see one) and the conversion of NumPy test data to its arrays. The test suite's
selection rules (``XBACKEND_TEST_BACKENDS``, ``XBACKEND_DEVICE``, skip reasons derived
from the capabilities) live in ``tests/backends.py``; the report's detection of what is
installed lives in ``xbackend._cli._detect``; both convert and probe GPUs through here,
and both differentiate through :mod:`xbackend.testing._autodiff`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["BACKENDS", "BY_NAME", "FLOATS", "GPU_OF", "TestBackend"]

FLOATS = ("float64", "float32", "float16", "bfloat16")


@dataclass(frozen=True)
class TestBackend:
    """One member of the matrix and what it can do."""

    __test__ = False  # not a pytest test class

    name: str  # "numpy", "torch", "torch:gpu", ...
    package: str  # the import that must succeed
    gpu: bool = False
    dtypes: tuple = FLOATS  # the floating dtypes the framework has
    autodiff: bool = False  # reverse mode through xbackend.testing._autodiff.grad_of
    #: references run compiled (xbackend.testing._autodiff.compiled): eager dispatch
    #: compiles every primitive per shape and dtype (JAX)
    jit: bool = False
    lazy: bool = False
    int_dtype_name: str = "int64"  # integer labels (TensorFlow's sparse losses take int32)
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
        mod = {"torch": "torch", "jax": "jax.numpy", "tensorflow": "tensorflow",
               "array_api_strict": "array_api_strict", "cupy": "cupy"}.get(fw, "numpy")  # fmt: skip
        return getattr(importlib.import_module(mod), name)

    def int_dtype(self) -> Any:
        return self.dtype(self.int_dtype_name)

    def device(self) -> Any:
        fw = self.framework
        if fw == "torch":
            import torch

            return torch.device("cuda" if self.gpu else "cpu")
        if fw == "jax":
            import jax

            return jax.devices("gpu" if self.gpu else "cpu")[0]
        return None

    def device_of(self, a: Any) -> str:
        """Where this member's array ``a`` lives ('' for the frameworks with one device)."""
        fw = self.framework
        if fw == "jax":
            return ",".join(sorted(str(d) for d in a.devices()))
        if fw in ("torch", "cupy", "tensorflow"):
            return str(a.device)
        return ""

    def gpu_status(self) -> tuple[bool, str]:
        """(a GPU is visible to the framework, what it is or why not); imports the framework."""
        fw = self.framework
        if fw == "torch":
            import torch

            ok = torch.cuda.is_available()
            return ok, torch.cuda.get_device_name(0) if ok else "torch sees no CUDA device"
        if fw == "jax":
            import jax

            try:
                devs = jax.devices("gpu")
            except RuntimeError:
                return False, "jax sees no GPU (CPU-only jaxlib or no device)"
            return bool(devs), str(devs[0].device_kind) if devs else "no GPU"
        if fw == "tensorflow":
            import tensorflow as tf

            devs = tf.config.list_physical_devices("GPU")
            return bool(devs), devs[0].name if devs else "tensorflow sees no GPU"
        if fw == "cupy":
            import cupy

            n = cupy.cuda.runtime.getDeviceCount()
            return n > 0, f"{n} device(s)" if n else "no CUDA device"
        return False, "no GPU member"

    # ---------------------------------------------------------------- conversion
    def asarray(self, a: Any, dtype: str | None = None) -> Any:
        """A backend array (on the backend's device) from NumPy data, in ``dtype`` (a
        name; default: the data's own dtype)."""
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

            with tf.device("/GPU:0" if self.gpu else "/CPU:0"):
                return tf.constant(a.astype(np.float64) if dtype == "bfloat16" else a, dtype=getattr(tf, dtype))
        if fw == "cupy":
            import cupy

            return cupy.asarray(a, dtype=dtype)
        raise AssertionError(fw)

    def to_numpy(self, x: Any) -> np.ndarray:
        from xbackend.testing import to_numpy

        return to_numpy(x)


BACKENDS = (
    TestBackend("numpy", "numpy", dtypes=("float64", "float32", "float16")),
    TestBackend("array_api_strict", "array_api_strict", dtypes=("float64", "float32")),
    TestBackend("torch", "torch", autodiff=True),
    TestBackend("jax", "jax", autodiff=True, jit=True),
    TestBackend("dask", "dask.array", dtypes=("float64", "float32", "float16"), lazy=True),
    TestBackend("tensorflow", "tensorflow", autodiff=True, int_dtype_name="int32"),
    TestBackend("torch:gpu", "torch", gpu=True, autodiff=True),
    TestBackend("jax:gpu", "jax", gpu=True, autodiff=True, jit=True),
    TestBackend("cupy", "cupy", gpu=True, dtypes=("float64", "float32", "float16")),
    TestBackend("tensorflow:gpu", "tensorflow", gpu=True, autodiff=True, int_dtype_name="int32"),
)
BY_NAME = {b.name: b for b in BACKENDS}
#: the GPU member of each framework that has one
GPU_OF = {"torch": "torch:gpu", "jax": "jax:gpu", "cupy": "cupy", "tensorflow": "tensorflow:gpu"}
