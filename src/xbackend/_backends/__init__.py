"""The dispatch point: which framework do these arrays belong to, and what does xbackend
need to know about it?

:func:`array_namespace` finds the Array API namespace of a call's arrays and
:func:`backend` the framework's :class:`~xbackend._backends._base.Backend` -- autodiff
hook, stop-gradient, in-place policy, tracing, host transfer, device, compiler. This
package is the only place in xbackend that knows framework names: one module per
framework (``_numpy`` for NumPy and CuPy, ``_torch``, ``_jax``, ``_tensorflow`` with its
namespace ``_tf_namespace``, ``_dask``), each imported only when its framework is.

Every public function calls :func:`array_namespace` on its array arguments. The
namespace is looked up once per Python *type* and cached, so the cost per call
is a few dictionary lookups -- cheap enough for eager training loops and free of
graph breaks under ``torch.compile`` (no ``array_api_compat`` call on the hot
path once a type has been seen).

Frameworks are detected by looking in :data:`sys.modules`, never by importing
them: ``import xbackend`` followed by a NumPy call imports no torch, JAX,
TensorFlow or CuPy.

TensorFlow is the only framework ``array_api_compat`` does not cover;
:mod:`xbackend._backends._tf_namespace` is the namespace for ``tf.Tensor`` and
``tf.Variable`` inputs. If ``array_api_compat`` gains TensorFlow support,
:func:`_tensorflow_namespace` is the one place to change.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import array_api_compat

from xbackend._backends._base import Backend

__all__ = ["array_namespace", "backend", "entry", "framework_name"]

_SCALARS = (bool, int, float, complex)
#: namespace by ``id(type)`` (int keys: Dynamo cannot guard a dict keyed by the class ``torch.Tensor``)
_by_type: dict[int, ModuleType] = {}


def _tensorflow_namespace(x: Any) -> ModuleType | None:
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return None
    if isinstance(x, (tf.Tensor, tf.Variable)):  # a Variable is not a Tensor subclass
        from xbackend._backends import _tf_namespace as _tensorflow

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
def _torch_namespace(x: Any) -> ModuleType | None:
    # torch tensors skip array_api_compat's lookup, whose lru_caches make Dynamo warn
    # when the first call of a session happens inside torch.compile
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(x, torch.Tensor):
        return None
    from xbackend._backends._torch import BACKEND

    return BACKEND.xp


def _lookup(x: Any) -> ModuleType:
    cls = type(x)
    ns = _by_type.get(id(cls))
    if ns is not None:
        return ns
    if isinstance(x, (list, tuple)):
        raise TypeError(
            f"expected an array, got a Python {cls.__name__}; "
            "convert it first, e.g. with np.asarray(...) or torch.tensor(...)"
        )
    ns = _tensorflow_namespace(x) or _torch_namespace(x)
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
    _by_type.setdefault(id(cls), ns)
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

    Returns
    -------
    module
        The arrays' Array API namespace (``array_api_compat``'s for most frameworks,
        xbackend's own for TensorFlow).
    """
    if xp is not None:
        return xp
    found: ModuleType | None = None
    first: Any = None
    for a in arrays:
        if a is None or isinstance(a, _SCALARS):
            continue
        ns = _by_type.get(id(type(a)))
        if ns is None:
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
        if getattr(xp, "__name__", None) == "array_api_compat.torch" or array_api_compat.is_torch_namespace(xp):
            name = "torch"
        elif array_api_compat.is_jax_namespace(xp):
            name = "jax"
        elif xp.__name__ == "xbackend._backends._tf_namespace":
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


_backends: dict[int, Any] = {}


def backend(xp: Any) -> Any:
    """The :class:`~xbackend._backends._base.Backend` of namespace ``xp`` (cached; a
    kernel namespace maps to its own backend)."""
    be = _backends.get(id(xp))
    if be is None:
        from xbackend._backends._base import KernelNamespace

        if isinstance(xp, KernelNamespace):  # not cached: no dict write inside a traced
            return xp.backend  # autograd.Function (Dynamo rejects that side effect)
        be = _make_backend(xp)
        _backends.setdefault(id(xp), be)
    return be


def _make_backend(xp: ModuleType) -> Any:
    name = framework_name(xp)
    cls: type[Backend]
    if name == "torch":
        from xbackend._backends._torch import BACKEND
        from xbackend._backends._torch import TorchBackend as cls

        if xp is BACKEND.xp:  # built at import, not inside a torch.compile trace
            return BACKEND
    elif name == "jax":
        from xbackend._backends._jax import JaxBackend as cls
    elif name == "tensorflow":
        from xbackend._backends._tensorflow import TensorFlowBackend as cls
    elif name == "numpy":
        from xbackend._backends._numpy import NumPyBackend as cls
    elif name == "cupy":
        from xbackend._backends._numpy import CuPyBackend as cls
    elif name == "array_api_strict":
        from xbackend._backends._numpy import StrictBackend as cls
    elif name == "dask":
        from xbackend._backends._dask import DaskBackend as cls
    else:
        cls = Backend
    return cls(xp)


def entry(x: Any) -> Any:
    """The backend of a public function's first argument, or None when it is not an
    array of a known type (the function's own checks then name the problem)."""
    ns = _by_type.get(id(type(x)))
    if ns is None:
        if x is None or isinstance(x, (*_SCALARS, list, tuple)):
            return None
        try:
            ns = _lookup(x)
        except TypeError:
            return None
    return backend(ns)


if "torch" in sys.modules:
    # torch tensors registered now rather than at the first call, which may happen inside
    # torch.compile: a dictionary that changes during a trace costs a recompilation
    from xbackend._backends import _torch  # noqa: F401
