"""The compiled path: run xbackend's own implementation through the backend's compiler.

:func:`compiled` wraps a function of arrays (an xbackend loss, or your own function that
calls xbackend) so that each call goes through the compiler of the framework its arrays
belong to:

========== =============================================================
torch      ``torch.compile(fullgraph=True)`` (Inductor fuses the loss and
           its analytic backward into a few kernels)
JAX        ``jax.jit``
TensorFlow ``tf.function(jit_compile=True)`` (XLA)
others     called as is: NumPy, CuPy, Dask and array-api-strict have no
           compiler (Dask builds a lazy graph anyway)
========== =============================================================

The framework is found from the arguments (by type, cached), so one wrapped function
serves every framework. Arguments that are arrays (they have ``shape`` and ``dtype``)
are traced; every other argument -- ``reduction="mean"``, ``label_smoothing=0.1``,
``axis``, ``dtype`` -- is a *static* value: it selects a compiled specialisation, built
once per framework and combination of static values and cached on the wrapper. Static
values must be hashable.

Examples
--------
>>> import xbackend as xb
>>> loss = xb.compiled(xb.sparse_softmax_cross_entropy)
>>> value = loss(logits, labels, reduction="mean")          # doctest: +SKIP
>>> value.backward()                                        # doctest: +SKIP

or as a decorator around a whole training-step loss::

    @xb.compiled
    def objective(logits, labels, weights):
        return xb.softmax_cross_entropy(logits, labels, weights=weights, reduction="mean")

Notes
-----
The losses are written so that tracing them never breaks a graph: the namespace is a
per-type dictionary lookup, no value leaves the device, shapes are static Python ints,
and the analytic gradient is a ``torch.autograd.Function`` / ``jax.custom_jvp`` /
``tf.custom_gradient`` that the compilers trace through. ``chunk_size="auto"`` does not
chunk under a compiler. Compilation costs seconds on the first call of each
specialisation (and on new shapes, as the compilers decide); it pays off in loops.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from xbackend._backends import array_namespace, backend

__all__ = ["Compiled", "compiled"]

#: compiled specialisations kept per :class:`Compiled` (least recently used dropped)
_CACHE_SIZE = 128


def _is_array(v: Any) -> bool:
    return hasattr(v, "shape") and hasattr(v, "dtype") and not isinstance(v, type)


def _typed(v: Any) -> Any:
    """A cache key for a static value: its type next to its value, recursively in tuples.

    ``1 == 1.0 == True`` (and they hash alike), so a key of values alone would hand the
    specialisation built for ``axis=1.0`` (which raises) to every later ``axis=1`` call.
    """
    if type(v) is tuple:
        return tuple(_typed(e) for e in v)
    return (type(v), v)


class Compiled:
    """A function whose calls run through the compiler of their arrays' framework.

    Build it with :func:`compiled`. ``fn`` is called as ``fn(*args, **kwargs)`` with the
    arrays traced and the other arguments fixed per specialisation.
    """

    def __init__(self, fn: Callable[..., Any], *, fullgraph: bool = True, dynamic: bool | None = None,
                 mode: str | None = None, jit_compile: bool = True) -> None:  # fmt: skip
        self.fn = fn
        self.options = {"fullgraph": fullgraph, "dynamic": dynamic, "mode": mode, "jit_compile": jit_compile}
        # bounded LRU: a long run over many static values keeps the 128 latest programs
        self._cache: OrderedDict[Hashable, Callable[..., Any]] = OrderedDict()
        self._lock = threading.Lock()
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"xbackend.compiled({getattr(self.fn, '__qualname__', self.fn)!r})"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        arrays = [a for a in args if _is_array(a)]
        arrays += [v for v in kwargs.values() if _is_array(v)]
        if not arrays:
            raise TypeError(f"{self!r} needs at least one array argument")
        be = backend(array_namespace(*arrays))
        pos = tuple(None if _is_array(a) else ("static", a) for a in args)
        kw_static = tuple(sorted((k, v) for k, v in kwargs.items() if not _is_array(v)))
        kw_arrays = tuple(sorted(k for k, v in kwargs.items() if _is_array(v)))
        key = (be.name, _typed(pos), _typed(kw_static), kw_arrays)
        try:
            run = self._cache.get(key)
        except TypeError:  # an unhashable static argument
            raise TypeError(
                f"{self!r}: non-array arguments are compile-time constants and must be "
                f"hashable; got {[type(a).__name__ for a in args]} and {sorted(kwargs)}"
            ) from None
        if run is None:
            with self._lock:
                run = self._cache.get(key)
                if run is None:
                    run = self._cache[key] = self._build(be, pos, dict(kw_static), kw_arrays)
                    while len(self._cache) > _CACHE_SIZE:
                        self._cache.popitem(last=False)
        else:
            with contextlib.suppress(KeyError):  # evicted by another thread meanwhile
                self._cache.move_to_end(key)
        traced = [a for a in args if _is_array(a)] + [kwargs[k] for k in kw_arrays]
        return run(*traced)

    def _build(self, be: Any, pos: tuple, kw_static: dict, kw_arrays: tuple) -> Callable[..., Any]:
        fn = self.fn
        n_pos = sum(p is None for p in pos)

        def inner(*traced: Any) -> Any:
            it = iter(traced[:n_pos])
            call_args = [next(it) if p is None else p[1] for p in pos]
            call_kwargs = dict(kw_static)
            call_kwargs.update(zip(kw_arrays, traced[n_pos:], strict=False))
            return fn(*call_args, **call_kwargs)

        return be.compile(inner, {**self.options, "name": getattr(fn, "__name__", "fn")})


@functools.lru_cache(maxsize=256)
def _cached(fn: Callable[..., Any], fullgraph: bool, dynamic: bool | None, mode: str | None,
            jit_compile: bool) -> Compiled:  # fmt: skip
    return Compiled(fn, fullgraph=fullgraph, dynamic=dynamic, mode=mode, jit_compile=jit_compile)


def compiled(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    fullgraph: bool = True,
    dynamic: bool | None = None,
    mode: str | None = None,
    jit_compile: bool = True,
) -> Any:
    """Wrap ``fn`` so that it runs through its arrays' compiler (see the module docstring).

    On JAX every xbackend function already runs as one ``jax.jit`` program when called
    on JAX arrays (as ``jax.nn``'s functions do); wrapping still helps there for a whole
    function of your own. On torch and TensorFlow, plain calls run eagerly and this is
    the way to the compiler.

    Parameters
    ----------
    fn : callable
        A function of arrays (an xbackend loss or a function calling xbackend). Usable as
        ``@compiled`` or ``@compiled(mode="max-autotune")``.
    fullgraph : bool
        torch: ``torch.compile(fullgraph=...)``; True (the default) makes a graph break
        an error instead of a silent slowdown.
    dynamic : bool or None
        torch: ``torch.compile(dynamic=...)``.
    mode : str or None
        torch: ``torch.compile(mode=...)``, e.g. ``"max-autotune"``.
    jit_compile : bool
        TensorFlow: ``tf.function(jit_compile=...)`` (XLA).

    Returns
    -------
    Compiled
        Callable like ``fn``. Wrapping the same ``fn`` with the same options again returns
        the same object, so ``compiled(f)(x, y)`` inside a loop compiles once.
    """
    if fn is None:
        return functools.partial(compiled, fullgraph=fullgraph, dynamic=dynamic, mode=mode, jit_compile=jit_compile)
    return _cached(fn, fullgraph, dynamic, mode, jit_compile)


# AutoGraph (tf.function) leaves functions with this marker as written, like the losses
compiled.autograph_info__ = frozenset()  # type: ignore[attr-defined]
