"""The backend object every framework module builds on, and the kernels' namespace.

A :class:`Backend` is everything xbackend needs to know about one framework beyond the
Array API standard: its autodiff hook, stop-gradient, whether values are traced, how to
read one value back to the host, the device of an array, its compiler, and the
*in-place policy* of the kernels. The loss library (``xbackend._lib``) asks
:func:`xbackend._backends.backend` for it once and never compares framework names.

The generic :class:`Backend` is the standard alone: no autodiff, no compiler, plain
functional formulas (array-api-strict, and any namespace xbackend does not know).

Kernels (``xbackend._lib._kernels``) receive a :class:`KernelNamespace` instead of the
plain namespace: the namespace's own functions plus the in-place helpers of this file
(``unary_``, ``isub``, ``fill_where_``, ...) and the flag ``inplace``. Which of the two
namespaces a kernel gets -- :class:`Functional` (out-of-place Array API calls; what
compilers and transformations trace) or a framework's in-place one -- is decided once
per kernel call by :meth:`Backend.kernel_namespace` from the transformation state.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

__all__ = ["Backend", "Functional", "InPlaceBase", "KernelNamespace"]

_NUMPY = (np.ndarray, np.generic)


class KernelNamespace:
    """An Array API namespace with the kernels' in-place helpers added.

    Built once per (framework, policy) by copying the namespace's attributes, so that
    ``ns.exp`` costs what ``xp.exp`` costs. The helpers take *fresh temporaries* that
    the kernel itself just created (never a caller's array, never a view of one), so an
    in-place update can never alias the caller's data. In this base class every helper
    is the out-of-place Array API formula; the in-place subclasses (NumPy/CuPy, torch)
    override them with ``out=`` / ``op_`` forms of the same values.
    """

    #: fresh temporaries may be updated with the framework's in-place ops
    inplace = False
    #: augmented assignment (``t -= v``) updates ``t`` in place (setitem works)
    writable = False

    def __init__(self, xp: ModuleType, backend: Backend) -> None:
        for name in dir(xp):
            if not name.startswith("__"):
                setattr(self, name, getattr(xp, name))
        self.namespace = xp
        self.backend = backend
        self.stop_gradient = backend.stop_gradient
        self.__name__ = getattr(xp, "__name__", type(xp).__name__)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self.__name__}>"

    if TYPE_CHECKING:  # the namespace's functions, copied in by __init__

        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...

    # ------------------------------------------------------------ in-place helpers
    def unary_(self, name: str, t: Any) -> Any:
        """``xp.<name>(t)``, written into ``t`` where allowed."""
        return getattr(self, name)(t)

    def iadd(self, t: Any, v: Any) -> Any:
        """``t + v`` (``v`` broadcasts to ``t``)."""
        return t + v

    def isub(self, t: Any, v: Any) -> Any:
        """``t - v``."""
        return t - v

    def imul(self, t: Any, v: Any) -> Any:
        """``t * v``."""
        return t * v

    def isub_mul(self, t: Any, a: Any, b: Any) -> Any:
        """``t - a * b``."""
        return t - a * b

    def fill_where_(self, t: Any, cond: Any, value: float) -> Any:
        """``where(cond, value, t)`` for a scalar ``value``."""
        return self.where(cond, value, t)

    def sub_at_(self, G: Any, idx: Any, v: Any, axis: int, onehot: Callable[[], Any]) -> Any:
        """``G - where(onehot(idx), v, 0)``: subtract ``v`` (keepdims rows) at one class
        per row; ``onehot()`` builds the boolean one-hot mask where no scatter is used."""
        return G - self.where(onehot(), v, 0.0)

    def set_at_(self, G: Any, idx: Any, v: Any, axis: int, onehot: Callable[[], Any]) -> Any:
        """``where(onehot(idx), v, G)``: write ``v`` (keepdims rows, or a number) at one
        class per row."""
        return self.where(onehot(), v, G)

    def max_argmax(self, x: Any, axis: int) -> tuple[Any, Any] | None:
        """``(max, argmax)`` along ``axis`` (keepdims) in one pass, where the framework has
        it; None: compute them separately (compilers fuse the two reductions)."""
        return None

    def reciprocal_(self, t: Any) -> Any:
        """``1 / t``."""
        return 1.0 / t

    def nan_to_zero_(self, t: Any) -> Any:
        """NaN entries of ``t`` set to 0 (``±inf`` kept)."""
        return self.where(t != t, 0.0, t)

    def nan_to_one_(self, t: Any) -> Any:
        """NaN entries of ``t`` set to 1 (``±inf`` kept)."""
        return self.where(t != t, 1.0, t)

    def add_nan_of_(self, t: Any, v: Any) -> Any:
        """``t + 0·v``: NaN (and ``0·inf``) of ``v`` reach ``t``."""
        return t + 0.0 * v

    def half_step(self, x: Any) -> Any:
        """A fresh ``(1 + sign(x)) / 2``: 1, 0, ½ at 0, NaN for NaN."""
        return self.where(x > 0, 1.0, self.where(x < 0, 0.0, self.where(x == 0, 0.5, x)))


class InPlaceBase(KernelNamespace):
    """The in-place forms shared by NumPy, CuPy and torch: ``out=`` for unary functions,
    augmented assignment for arithmetic (fresh temporaries only)."""

    inplace = True
    writable = True

    def unary_(self, name: str, t: Any) -> Any:
        return getattr(self, name)(t, out=t)

    def iadd(self, t: Any, v: Any) -> Any:
        t += v
        return t

    def isub(self, t: Any, v: Any) -> Any:
        t -= v
        return t

    def imul(self, t: Any, v: Any) -> Any:
        t *= v
        return t


class Functional(KernelNamespace):
    """The plain Array API path: every helper out of place."""


class Backend:
    """One framework's hooks; the generic base is the Array API standard alone."""

    #: the framework's name, for messages and caches (never compared in ``_lib``)
    name = "array-api"
    #: ``chunk_size="auto"`` may chunk here (eager frameworks with in-place updates)
    auto_chunk = False
    #: lazy arrays (Dask): values are never read eagerly
    lazy = False
    #: a symbolic size (a compiler's) can divide a loss like an int (torch's SymInt);
    #: elsewhere an unknown count is computed with the loss
    symbolic_sizes_divide = False
    #: the compiler may run independent blocks of a blocked loop side by side (XLA), so
    #: blocked code chains each block to the previous one to keep one block's temporaries
    reorders_blocks = False
    #: setitem converts dtypes (``out[i] = block`` casts ``block``)
    setitem_converts = False
    #: NumPy labels, weights and options next to this framework's logits are converted
    #: (see :meth:`convert_inputs`); False for NumPy itself and array-api-strict
    converts_numpy = True

    def __init__(self, xp: ModuleType) -> None:
        self.xp = xp
        self.functional = Functional(xp, self)

    def __repr__(self) -> str:
        return f"<xbackend backend {self.name}>"

    # ----------------------------------------------------------------- calls
    def call(self, fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Any:
        """Run the public function ``fn`` (the framework may wrap the call). Overrides
        call :meth:`convert_inputs` first."""
        args, kwargs = self.convert_inputs(args, kwargs)
        return fn(*args, **kwargs)

    def convert_inputs(self, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        """The mixed-input rule: the logits (``args[0]``) decide the framework and the
        device. NumPy arrays among the other arguments (labels, ``weights``,
        ``class_weights``, ``where``, an array ``alpha`` or ``pos_weight``) become arrays
        of the logits' framework on the logits' device, as ``jnp.asarray``,
        ``torch.as_tensor`` or ``tf.convert_to_tensor`` would make them; a NumPy scalar
        given for a number option (``label_smoothing``, ``gamma``, ...) becomes a Python
        number (and is range-checked like one). Python lists are left alone (the
        function's checks name them), and so are arrays of any other framework (a
        :class:`TypeError` naming both types follows).
        """
        if not self.converts_numpy or not args:
            return args, kwargs
        for a in args[1:]:  # loops, not any(...): no generator frames on the hot path
            if isinstance(a, _NUMPY):
                break
        else:
            for a in kwargs.values():
                if isinstance(a, _NUMPY):
                    break
            else:
                return args, kwargs
        like = args[0]
        args = (like, *tuple(self.asarray_like(a, like) if isinstance(a, _NUMPY) else a for a in args[1:]))
        if kwargs:
            from xbackend._lib._checks import SCALAR_OPTIONS

            kwargs = {
                k: (v.item() if isinstance(v, np.generic) and k in SCALAR_OPTIONS else self.asarray_like(v, like))
                if isinstance(v, (np.ndarray, np.generic)) else v
                for k, v in kwargs.items()
            }  # fmt: skip
        return args, kwargs

    def asarray_like(self, v: Any, like: Any) -> Any:
        """NumPy ``v`` as an array of ``like``'s framework on ``like``'s device."""
        return self.xp.asarray(v, device=self.device(like))

    # ----------------------------------------------------------------- kernels
    def kernel_namespace(self, x: Any) -> KernelNamespace:
        """The namespace a kernel runs with now (see the module docstring)."""
        return self.functional

    def apply_kernel(self, kernel: Any, x: Any, y: Any, arrays: tuple, static: Any) -> Any:
        """Run ``kernel`` on ``(x, y)``, its analytic gradient registered with the
        framework's autodiff (here: none, the forward only)."""
        return kernel.forward(self.kernel_namespace(x), x, y, arrays, static)[0]

    def stop_gradient(self, x: Any) -> Any:
        return x

    # ----------------------------------------------------------------- values
    def is_traced(self, x: Any) -> bool:
        """True when ``x`` has no values yet (a tracer under ``jit``, a graph tensor)."""
        return False

    def no_values(self, x: Any) -> str | None:
        """Why ``x``'s values cannot be read at all (torch's ``meta`` device), or None."""
        return None

    def to_host(self, x: Any) -> np.ndarray:
        """A NumPy copy of (a small) ``x``: one transfer."""
        return np.asarray(x)

    def device(self, x: Any) -> Any:
        import array_api_compat

        return array_api_compat.device(x)

    # ----------------------------------------------------------------- devices
    #: every array lives on one device (NumPy, Dask): nothing to compare
    single_device = False

    def device_key(self, x: Any) -> Any:
        """A cheap comparable identity of ``x``'s device (no host sync), or None: not
        checked (a traced value, an array that follows the others)."""
        return self.device(x)

    def device_name(self, key: Any) -> str:
        return str(key)

    def check_devices(self, first: Any, name: str, others: list, names: tuple) -> None:
        """Every array of ``others`` (named by ``names``, in order; missing names read
        "array") must be on ``first``'s device: :class:`ValueError` naming both devices,
        before any computation. A framework would otherwise move, refuse or -- torch's
        ``meta`` device, whose in-place updates do nothing -- silently misuse the array.
        """
        ref = self.device_key(first)
        if ref is None:
            return
        for i, a in enumerate(others):
            if a is None or not hasattr(a, "shape"):
                continue
            d = self.device_key(a)
            if d is not None and d != ref:
                what = names[i] if i < len(names) else "array"
                raise ValueError(
                    f"arrays on two different devices: {what} is on {self.device_name(d)} but "
                    f"{name} is on {self.device_name(ref)}; move {what} to the device of {name} first"
                )

    def canonical_dtype(self, dtype: Any) -> Any:
        """The dtype the framework will actually use for a requested ``dtype=``."""
        return dtype

    def index(self, labels: Any) -> Any:
        """Integer labels in the dtype the framework's gathers take."""
        return labels

    # ----------------------------------------------------------------- compiler
    def compiling(self) -> bool:
        """True while the framework's compiler traces the current call."""
        return False

    def compile(self, fn: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
        """``fn`` through the framework's compiler (here: none, ``fn`` itself)."""
        return fn
