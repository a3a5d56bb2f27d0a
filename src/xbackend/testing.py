"""Testing helpers (public, like ``array_api_extra.testing``).

:func:`xp_assert_close` checks, in order, the namespace, shape, dtype and device of
``actual`` against ``desired`` and only then the values, with tolerances derived from
the dtype (:func:`tolerance`), never one number for all dtypes.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from xbackend._namespace import array_namespace, framework_name

__all__ = ["xp_assert_close", "tolerance", "to_numpy", "EPS"]

#: machine epsilon per dtype name
EPS = {
    "float64": float(np.finfo(np.float64).eps),
    "float32": float(np.finfo(np.float32).eps),
    "float16": float(np.finfo(np.float16).eps),
    "bfloat16": 2.0**-7,
}


def dtype_name(dtype: Any) -> str:
    name = str(dtype)
    for key in ("bfloat16", "float64", "float32", "float16"):
        if key in name:
            return key
    raise TypeError(f"not a floating dtype: {dtype!r}")


def tolerance(dtype: Any, factor: float = 8.0) -> float:
    """``factor · eps(dtype)``: the relative tolerance for a computation in ``dtype``."""
    return factor * EPS[dtype_name(dtype)]


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy copy of any supported array (device arrays are copied to the host)."""
    mod = type(x).__module__.split(".")[0]
    if mod == "torch":
        x = x.detach().cpu()
        if "bfloat16" in str(x.dtype):
            x = x.float()
        return x.numpy()
    if mod == "cupy":
        return x.get()
    if mod == "tensorflow":
        return np.asarray(x.numpy() if hasattr(x, "numpy") else x)
    if mod == "dask":
        return np.asarray(x.compute())
    if mod == "array_api_strict":
        return np.from_dlpack(x) if not hasattr(x, "_array") else np.asarray(x._array)
    return np.asarray(x)


def _device_str(xp: ModuleType, x: Any) -> str:
    fw = framework_name(xp)
    if fw == "tensorflow":
        return str(xp.device(x))
    import array_api_compat

    return str(array_api_compat.device(x))


def xp_assert_close(
    actual: Any,
    desired: Any,
    *,
    rtol: float | None = None,
    atol: float = 0.0,
    check_dtype: bool = True,
    check_namespace: bool = True,
    check_device: bool = True,
    equal_nan: bool = True,
    err_msg: str = "",
) -> None:
    """Assert ``actual`` is close to ``desired`` after checking namespace, shape, dtype, device.

    ``desired`` may be an array of the same namespace or a NumPy array / Python number
    (then only ``actual``'s shape, dtype and values are compared). ``rtol`` defaults to
    :func:`tolerance` of ``actual``'s dtype. Infinities must match exactly; NaN matches NaN
    when ``equal_nan``.
    """
    xp = array_namespace(actual)
    same_kind = not isinstance(desired, (int, float, np.ndarray, np.generic))
    if same_kind and check_namespace:
        xd = array_namespace(desired)
        assert xp is xd, f"namespaces differ: {xp.__name__} vs {xd.__name__}. {err_msg}"
    a = to_numpy(actual)
    d = np.asarray(to_numpy(desired) if same_kind else desired)
    assert a.shape == d.shape, f"shapes differ: {a.shape} vs {d.shape}. {err_msg}"
    if check_dtype and same_kind:
        assert actual.dtype == desired.dtype, f"dtypes differ: {actual.dtype} vs {desired.dtype}. {err_msg}"
    if check_device and same_kind:
        da, dd = _device_str(xp, actual), _device_str(xp, desired)
        assert da == dd, f"devices differ: {da} vs {dd}. {err_msg}"
    if rtol is None:
        rtol = tolerance(actual.dtype)
    np.testing.assert_allclose(
        a.astype(np.float64), d.astype(np.float64), rtol=rtol, atol=atol, equal_nan=equal_nan, err_msg=err_msg
    )
