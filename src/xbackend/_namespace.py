"""The single choke point: which Array API namespace do these arrays belong to?

Every public function calls :func:`array_namespace` on its array arguments. The
namespace is looked up once per Python *type* and cached, so the cost per call
is a few dictionary lookups -- cheap enough for eager training loops and free of
graph breaks under ``torch.compile`` (no ``array_api_compat`` call on the hot
path once a type has been seen).

Frameworks are detected by looking in :data:`sys.modules`, never by importing
them: ``import xbackend`` followed by a NumPy call imports no torch, JAX,
TensorFlow or CuPy.

TensorFlow is the only framework ``array_api_compat`` does not cover;
:mod:`xbackend._backends._tensorflow` is the namespace for ``tf.Tensor`` and
``tf.Variable`` inputs. If ``array_api_compat`` gains TensorFlow support,
:func:`_tensorflow_namespace` is the one place to change.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import array_api_compat

__all__ = ["array_namespace", "framework_name"]

_SCALARS = (bool, int, float, complex)
_by_type: dict[type, ModuleType] = {}


def _tensorflow_namespace(x: Any) -> ModuleType | None:
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return None
    if isinstance(x, (tf.Tensor, tf.Variable)):  # a Variable is not a Tensor subclass
        from xbackend._backends import _tensorflow

        return _tensorflow
    return None


#: the Array API standard version the losses rely on (Python scalars in binary functions)
API_VERSION = "2024.12"


def _check_strict_api_version(ns: ModuleType) -> None:
    """array-api-strict set to an older standard fails inside the losses: say so up front."""
    if getattr(ns, "__name__", "") != "array_api_strict":
        return
    version = ns.get_array_api_strict_flags().get("api_version")
    if version is not None and version < API_VERSION:  # "YYYY.MM" compares as text
        raise TypeError(
            f"xbackend needs the Array API standard {API_VERSION}; array-api-strict is set to "
            f"api_version={version!r}. Call array_api_strict.set_array_api_strict_flags("
            f'api_version="{API_VERSION}") (or newer) first'
        )


def _lookup(x: Any) -> ModuleType:
    cls = type(x)
    ns = _by_type.get(cls)
    if ns is not None:
        return ns
    if isinstance(x, (list, tuple)):
        raise TypeError(
            f"expected an array, got a Python {cls.__name__}; "
            "convert it first, e.g. with np.asarray(...) or torch.tensor(...)"
        )
    ns = _tensorflow_namespace(x)
    if ns is None:
        try:
            ns = array_api_compat.array_namespace(x)
        except TypeError as exc:
            raise TypeError(
                f"unsupported array type {cls.__module__}.{cls.__qualname__}: {exc}"
            ) from None
    _check_strict_api_version(ns)
    # dict.setdefault is atomic under the GIL (no lock: torch.compile cannot trace a lock
    # when the first lookup of a type happens inside a compiled function)
    _by_type.setdefault(cls, ns)
    return ns


def array_namespace(*arrays: Any, xp: ModuleType | None = None) -> ModuleType:
    """Return the Array API namespace shared by ``arrays``.

    ``None`` and Python scalars are ignored. Python lists and tuples raise
    :class:`TypeError` (convert them to an array first). Arrays from two different
    frameworks raise :class:`TypeError` naming both types.

    Parameters
    ----------
    *arrays
        The arrays (and optional scalars / ``None``) of one call.
    xp
        An explicit namespace; when given, it is returned unchanged.
    """
    if xp is not None:
        return xp
    found: ModuleType | None = None
    first: Any = None
    for a in arrays:
        if a is None or isinstance(a, _SCALARS):
            continue
        ns = _lookup(a)
        if found is None:
            found, first = ns, a
        elif ns is not found:
            raise TypeError(
                "arrays from different frameworks cannot be mixed: "
                f"{type(first).__module__}.{type(first).__qualname__} and "
                f"{type(a).__module__}.{type(a).__qualname__}; convert them to one framework"
            )
    if found is None:
        raise TypeError("expected at least one array argument, got only scalars or None")
    return found


_frameworks: dict[int, str] = {}


def framework_name(xp: ModuleType) -> str:
    """Name of the framework behind ``xp``: 'torch', 'jax', 'tensorflow', 'numpy', ..."""
    key = id(xp)
    name = _frameworks.get(key)
    if name is None:
        if array_api_compat.is_torch_namespace(xp):
            name = "torch"
        elif array_api_compat.is_jax_namespace(xp):
            name = "jax"
        elif xp.__name__ == "xbackend._backends._tensorflow":
            name = "tensorflow"
        elif array_api_compat.is_dask_namespace(xp):
            name = "dask"
        elif array_api_compat.is_cupy_namespace(xp):
            name = "cupy"
        elif array_api_compat.is_array_api_strict_namespace(xp):
            name = "array_api_strict"
        elif array_api_compat.is_numpy_namespace(xp):
            name = "numpy"
        else:
            name = xp.__name__
        _frameworks[key] = name
    return name
