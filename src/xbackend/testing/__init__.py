"""Testing helpers (public, like ``array_api_extra.testing``).

:func:`xp_assert_close` checks, in order, the namespace, shape, dtype and device of
``actual`` against ``desired`` and only then the values, with tolerances derived from
the dtype (:func:`tolerance`), never one number for all dtypes.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from xbackend._backends import array_namespace, framework_name

__all__ = ["EPS", "assert_matches_reference", "to_numpy", "tolerance", "xp_assert_close"]

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
    # a NumPy ``desired`` is a reference for non-NumPy results, but a NumPy result is
    # checked against it like any same-namespace array (dtype included)
    numpy_pair = isinstance(desired, (np.ndarray, np.generic)) and framework_name(xp) == "numpy"
    same_kind = numpy_pair or not isinstance(desired, (int, float, np.ndarray, np.generic))
    if same_kind and not numpy_pair and check_namespace:
        xd = array_namespace(desired)
        assert xp is xd, f"namespaces differ: {xp.__name__} vs {xd.__name__}. {err_msg}"
    a = to_numpy(actual)
    d = np.asarray(to_numpy(desired) if same_kind else desired)
    assert a.shape == d.shape, f"shapes differ: {a.shape} vs {d.shape}. {err_msg}"
    if check_dtype and same_kind:
        assert actual.dtype == desired.dtype, f"dtypes differ: {actual.dtype} vs {desired.dtype}. {err_msg}"
    if check_device and same_kind and not numpy_pair:
        da, dd = _device_str(xp, actual), _device_str(xp, desired)
        assert da == dd, f"devices differ: {da} vs {dd}. {err_msg}"
    if rtol is None:
        rtol = tolerance(actual.dtype)
    np.testing.assert_allclose(
        a.astype(np.float64), d.astype(np.float64), rtol=rtol, atol=atol, equal_nan=equal_nan, err_msg=err_msg
    )


def assert_matches_reference(
    actual: Any,
    reference: Any,
    *,
    like: Any,
    dtype: Any = None,
    shape: tuple | None = None,
    rtol: float | None = None,
    atol: float = 0.0,
    equal_nan: bool = True,
    compare: Any = None,
    err_msg: str = "",
) -> None:
    """Assert ``actual`` has ``like``'s namespace and device, ``dtype`` and ``shape``, and
    values close to a float64 NumPy ``reference``.

    This is :func:`xp_assert_close` for a reference computed elsewhere (a closed form in
    float64, a native loss in another dtype): the reference is not rounded to
    ``actual``'s dtype before the comparison. ``dtype`` defaults to ``like.dtype``,
    ``shape`` to the reference's shape (a reduction's 0-d reference demands a 0-d result;
    a NumPy scalar counts as 0-d NumPy). ``rtol`` defaults to :func:`tolerance` of the dtype.
    Infinities must match exactly (sign included); NaN matches NaN when ``equal_nan``.
    ``compare`` (a boolean NumPy mask broadcastable to the reference) limits the value
    comparison to its True entries, for points where no reference value exists.
    """
    xp = array_namespace(like)
    if isinstance(actual, np.generic):  # a NumPy scalar: acceptable as a 0-d NumPy result
        assert framework_name(xp) == "numpy", f"a NumPy scalar for {xp.__name__} inputs. {err_msg}"
    else:
        xa = array_namespace(actual)
        assert xa is xp, f"namespaces differ: result in {xa.__name__}, inputs in {xp.__name__}. {err_msg}"
    want_dtype = like.dtype if dtype is None else dtype
    assert actual.dtype == want_dtype, f"dtypes differ: {actual.dtype} vs {want_dtype}. {err_msg}"
    if not isinstance(actual, np.generic):
        da, dl = _device_str(xp, actual), _device_str(xp, like)
        assert da == dl, f"devices differ: result on {da}, inputs on {dl}. {err_msg}"
    a = to_numpy(actual)
    r = np.asarray(reference, dtype=np.float64)
    want_shape = r.shape if shape is None else tuple(shape)
    assert a.shape == want_shape, f"shapes differ: {a.shape} vs {want_shape}. {err_msg}"
    if rtol is None:
        rtol = tolerance(actual.dtype)
    a = a.astype(np.float64)
    if compare is not None:
        keep = np.broadcast_to(np.asarray(compare, dtype=bool), r.shape)
        a, r = a[keep], r[keep]
    np.testing.assert_allclose(a, r, rtol=rtol, atol=atol, equal_nan=equal_nan, err_msg=err_msg)
