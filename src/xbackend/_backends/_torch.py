"""PyTorch: a ``torch.autograd.Function`` around each kernel, ``torch.compile``,
``torch.func``, ``torch.autocast``, and in-place kernel temporaries in plain eager mode.

In-place policy: a kernel updates its fresh temporaries in place (``exp_``,
``addcmul_``, ``masked_fill_``, ``scatter_add_``, ...) only while autograd records
nothing, no compiler traces and no transformation is active -- inside
``autograd.Function.forward``/``backward`` and under ``no_grad``. Under
``create_graph=True`` the kernels build a differentiable graph out of place (an in-place
update of a tensor a recorded op saved would be an error); under ``torch.compile`` the
functional ops fuse better and there is nothing to save; under a ``torch.func``
transformation (``grad``, ``vmap``, ``jacrev``, ``jacfwd``, ``hessian``, ``jvp``) or a
``torch.autograd.forward_ad`` dual level no ``out=``/in-place op has a batching rule or a
forward derivative.

Transformations: the kernel Function is in ``setup_context`` form with a generated
``vmap`` rule and, in eager mode, a ``jvp`` rule (the analytic derivative contracted with
the tangents, as the JAX backend's ``custom_jvp``), so ``torch.func`` and forward-mode AD
compose with every loss. Dynamo does not trace a Function that defines ``jvp``: compiled
code applies the base class.

``torch.compile``: the backend is built and ``torch.Tensor`` registered at import (never
inside a trace); the kernel namespaces are ``array_api_compat.torch`` with
``take_along_axis``, ``minimum``, ``maximum`` and ``clip`` as ``torch.gather`` /
``torch.clamp`` (the compat versions specialise the batch size or call
``math.isnan``/``torch.result_type`` on symbolic values), so Dynamo's automatic dynamic
shapes make one graph for all later batch sizes, as for the native losses.

``torch.autocast``: inside an autocast region for the logits' device type every loss
follows autocast's float32 policy for ``cross_entropy`` and
``binary_cross_entropy_with_logits``: autocast is turned off, float16/bfloat16 tensor
arguments are cast to float32, and the result is float32 (the gradient flows back to the
half-precision activations in their dtype).
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch
import torch.autograd.forward_ad as _forward_ad
from torch._C._functorch import peek_interpreter_stack as _peek_interpreter

from xbackend._backends import _backends, _by_type
from xbackend._backends._base import Backend, InPlaceBase, KernelNamespace

__all__ = ["TorchBackend"]

_serial = itertools.count(1)


def _take_along_axis(x: Any, indices: Any, /, *, axis: int = -1) -> Any:
    """``take_along_axis`` of the kernel namespaces: ``torch.gather``. The kernels'
    indices are in range and have the logits' shape with 1 along the axis, so neither
    array_api_compat's negative-index ``where`` nor ``torch.take_along_dim``'s
    broadcasting is needed -- and the latter makes Dynamo specialise the batch size
    (one graph per batch size)."""
    return torch.gather(x, axis, indices)


def _minimum(x1: Any, x2: Any, /) -> Any:
    """``minimum`` with a Python number as ``torch.clamp`` (NaN propagates in both):
    array_api_compat turns the number into a tensor through ``torch.result_type``, which
    Dynamo does not trace when it makes the number symbolic (``dynamic=True``)."""
    if isinstance(x2, (int, float)):
        return torch.clamp(x1, max=x2)
    if isinstance(x1, (int, float)):
        return torch.clamp(x2, max=x1)
    return torch.minimum(x1, x2)


def _maximum(x1: Any, x2: Any, /) -> Any:
    """``maximum``, as :func:`_minimum`."""
    if isinstance(x2, (int, float)):
        return torch.clamp(x1, min=x2)
    if isinstance(x1, (int, float)):
        return torch.clamp(x2, min=x1)
    return torch.maximum(x1, x2)


def _clip_with(compat_clip: Callable[..., Any]) -> Callable[..., Any]:
    def clip(x: Any, /, min: Any = None, max: Any = None) -> Any:
        """``clip`` with Python-number bounds as ``torch.clamp`` (array_api_compat's
        ``math.isnan`` check of the bounds fails on a symbolic float under Dynamo)."""
        if isinstance(min, (int, float, type(None))) and isinstance(max, (int, float, type(None))):
            return x if min is None and max is None else torch.clamp(x, min=min, max=max)
        return compat_clip(x, min, max)

    return clip


class InPlace(InPlaceBase):
    """torch's in-place forms of the kernel helpers (same values)."""


    def isub_mul(self, t: Any, a: Any, b: Any) -> Any:
        return t.addcmul_(a, b, value=-1)

    def fill_where_(self, t: Any, cond: Any, value: float) -> Any:
        return t.masked_fill_(cond, value)

    def sub_at_(self, G: Any, idx: Any, v: Any, axis: int, onehot: Callable[[], Any]) -> Any:
        src = -v if isinstance(v, torch.Tensor) else torch.full((), -v, dtype=G.dtype, device=G.device)
        if idx.dtype != torch.int64:
            idx = idx.to(torch.int64)
        return G.scatter_add_(axis, idx, src.to(G.dtype).expand(idx.shape))

    def set_at_(self, G: Any, idx: Any, v: Any, axis: int, onehot: Callable[[], Any]) -> Any:
        if idx.dtype != torch.int64:
            idx = idx.to(torch.int64)
        if isinstance(v, torch.Tensor):
            return G.scatter_(axis, idx, v.to(G.dtype).expand(idx.shape))
        return G.scatter_(axis, idx, v)

    def max_argmax(self, x: Any, axis: int) -> tuple[Any, Any] | None:
        m, d = x.max(dim=axis, keepdim=True)
        return m, d

    def reciprocal_(self, t: Any) -> Any:
        return t.reciprocal_()

    def nan_to_zero_(self, t: Any) -> Any:
        return t.nan_to_num_(nan=0.0, posinf=float("inf"), neginf=float("-inf"))

    def nan_to_one_(self, t: Any) -> Any:
        return t.nan_to_num_(nan=1.0, posinf=float("inf"), neginf=float("-inf"))

    def add_nan_of_(self, t: Any, v: Any) -> Any:
        return t.add_(v, alpha=0.0)

    def half_step(self, x: Any) -> Any:
        h = torch.sign(x)
        h += 1.0
        h *= 0.5
        return h


def _transformed() -> bool:
    """True under a ``torch.func`` transform (``grad``, ``vmap``, ``jvp``, ``jacrev``,
    ``jacfwd``, ``hessian``, ``functional_call`` inside them) or a
    ``torch.autograd.forward_ad`` dual level: the kernels must then run the functional
    formulas (no ``out=`` or in-place op has a batching rule or a forward derivative)."""
    return _peek_interpreter() is not None or _forward_ad._current_level >= 0


_present = functools.partial(operator.is_not, None)  # (C calls: no Python frame per residual)


def _saved(ctx: Any) -> tuple:
    """``(x, y, arrays, residuals)`` from the saved tensors."""
    saved = ctx.saved_tensors
    n = ctx.n_arrays
    return saved[0], saved[1], saved[2 : 2 + n], saved[2 + n :]


class _KernelFunction(torch.autograd.Function):
    """One kernel as an autograd node: the analytic ``grad_x``/``grad_y`` for reverse
    mode, the same derivatives contracted with the tangents for forward mode (``jvp``),
    and, for ``vmap``, the rule torch generates from the (functional) body.

    ``forward`` returns the loss and the kernel's residuals (non-differentiable outputs,
    so that ``setup_context`` can save them); :meth:`TorchBackend.apply_kernel` returns
    the loss alone. A residual the kernel leaves out (``None``) is a ``None`` output
    (saved as ``None``).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(be, kernel, static, x, y, *arrays):  # type: ignore[override]
        # be.kernel_namespace(x), inlined (grad mode is off in here): one call per loss
        # is counted by tests/test_layout.py
        functional = torch.compiler.is_compiling() or _peek_interpreter() is not None or _forward_ad._current_level >= 0
        loss, res = kernel.forward(be.functional if functional else be.eager, x, y, arrays, static)
        return (loss, *res)

    @staticmethod
    def setup_context(ctx, inputs, output):  # type: ignore[override]
        be, kernel, static, x, y, *arrays = inputs
        ctx.be, ctx.kernel, ctx.static = be, kernel, static
        ctx.n_arrays = len(arrays)
        res = output[1:]
        ctx.mark_non_differentiable(*filter(_present, res))
        saved = (x, y, *arrays, *res)  # None entries are kept as None
        ctx.save_for_backward(*saved)
        ctx.save_for_forward(*saved)

    @staticmethod
    def backward(ctx, g, *_):  # type: ignore[override]
        be, kernel, static = ctx.be, ctx.kernel, ctx.static
        saved, n = ctx.saved_tensors, ctx.n_arrays
        x, y, arrays, res = saved[0], saved[1], saved[2 : 2 + n], saved[2 + n :]
        # Under create_graph=True (double backward, torch.func.grad/hessian) the backward
        # must itself be differentiable with respect to x: the residuals, computed
        # without grad tracking, are recomputed from x.
        recorded = torch.is_grad_enabled() or _peek_interpreter() is not None or _forward_ad._current_level >= 0
        if recorded:
            res = None
        ns = be.functional if recorded or torch.compiler.is_compiling() else be.eager
        gx = kernel.grad_x(ns, x, y, arrays, static, res, g) if ctx.needs_input_grad[3] else None
        gy = kernel.grad_y(ns, x, y, arrays, static, res, g) if ctx.needs_input_grad[4] else None
        return (None, None, None, gx, gy) + (None,) * ctx.n_arrays


class _KernelFunctionJvp(_KernelFunction):
    """:class:`_KernelFunction` with its forward-mode rule: what eager calls use. Dynamo
    does not trace an ``autograd.Function`` that defines ``jvp``, so compiled code
    applies the base class (its forward mode is then the op-by-op derivative of the
    functional kernel, which Dynamo traces)."""

    @staticmethod
    def jvp(ctx, _be, _kernel, _static, tx, ty, *_arrays):  # type: ignore[override]
        """Forward mode: ``<dloss/dx, tx> + <dloss/dy, ty>`` (constants have no tangent)."""
        be, kernel, static = ctx.be, ctx.kernel, ctx.static
        x, y, arrays, res = _saved(ctx)
        ns = be.functional
        t = None
        if tx is not None:
            t = kernel.contract(ns, kernel.grad_x(ns, x, y, arrays, static, res, None), tx, static)
        if ty is not None and y.is_floating_point():
            ty_term = kernel.contract(ns, kernel.grad_y(ns, x, y, arrays, static, res, None), ty, static)
            t = ty_term if t is None else t + ty_term
        return (t,) + (None,) * len(res)


def _fp32(v: Any) -> Any:
    """A float16/bfloat16 tensor as float32 (autocast's casts); anything else as is."""
    if isinstance(v, torch.Tensor) and v.dtype in (torch.float16, torch.bfloat16):
        return v.to(torch.float32)
    return v


class TorchBackend(Backend):
    name = "torch"
    symbolic_sizes_divide = True
    auto_chunk = True
    setitem_converts = True

    def __init__(self, xp: ModuleType) -> None:
        super().__init__(xp)
        self.eager = InPlace(xp, self)
        for ns in (self.functional, self.eager):
            ns.take_along_axis = _take_along_axis
            ns.minimum, ns.maximum = _minimum, _maximum
            ns.clip = _clip_with(xp.clip)

    def call(self, fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Any:
        """Run ``fn``; inside ``torch.autocast`` for the first argument's device type it
        follows autocast's float32 policy for ``cross_entropy`` and
        ``binary_cross_entropy_with_logits``: autocast off, float16/bfloat16 tensor
        arguments cast to float32, so the result is float32 (unless ``dtype=`` asks
        otherwise). NumPy arguments are converted first (:meth:`Backend.convert_inputs`)."""
        args, kwargs = self.convert_inputs(args, kwargs)
        device_type = args[0].device.type
        try:
            autocast = torch.is_autocast_enabled(device_type)
        except RuntimeError:  # a device type autocast does not know (meta)
            autocast = False
        if not autocast:
            return fn(*args, **kwargs)
        with torch.autocast(device_type, enabled=False):
            return fn(*(_fp32(a) for a in args), **{k: _fp32(v) for k, v in kwargs.items()})

    def kernel_namespace(self, x: Any) -> KernelNamespace:
        if torch.is_grad_enabled() or torch.compiler.is_compiling():
            return self.functional
        if _peek_interpreter() is not None or _forward_ad._current_level >= 0:  # _transformed()
            return self.functional
        return self.eager

    def apply_kernel(self, kernel: Any, x: Any, y: Any, arrays: tuple, static: Any) -> Any:
        needs = torch.is_grad_enabled() and (x.requires_grad or (y.is_floating_point() and y.requires_grad))
        if torch.compiler.is_compiling():
            if not needs:
                # nothing to differentiate: the functional forward alone (Dynamo 2.13
                # inlines a setup_context-style Function's forward with a ctx argument
                # when no input requires grad, and fails)
                return kernel.forward(self.functional, x, y, arrays, static)[0]
            return _KernelFunction.apply(self, kernel, static, x, y, *arrays)[0]
        if not needs and not _transformed():  # (under torch.func, requires_grad says nothing)
            with torch.no_grad():  # nothing to record: the kernel may update its temporaries in place
                return kernel.forward(self.eager, x, y, arrays, static)[0]
        return _KernelFunctionJvp.apply(self, kernel, static, x, y, *arrays)[0]

    def asarray_like(self, v: Any, like: Any) -> Any:
        return torch.as_tensor(v, device=like.device)

    def stop_gradient(self, x: Any) -> Any:
        return x.detach()

    def no_values(self, x: Any) -> str | None:
        return "on torch's meta device, which has shapes but no values" if x.device.type == "meta" else None

    def to_host(self, x: Any) -> Any:
        return x.detach().cpu().numpy()

    def device(self, x: Any) -> Any:
        # the attribute: array_api_compat.device's lru_cached type checks make Dynamo warn
        return x.device

    def check_devices(self, first: Any, name: str, others: list, names: tuple) -> None:
        ref = first.device
        for a in others:
            if isinstance(a, torch.Tensor) and a.device != ref:
                super().check_devices(first, name, others, names)  # builds the message

    def index(self, labels: Any) -> Any:
        return labels if labels.dtype == torch.int64 else labels.to(torch.int64)  # gathers take int64

    def compiling(self) -> bool:
        return bool(torch.compiler.is_compiling())

    def compile(self, fn: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
        # Dynamo caches compiled frames per *code object*, with a recompile limit: give
        # every specialisation a code object of its own so that many of them (other
        # static values, other functions) never share one cache entry list
        fn.__code__ = fn.__code__.replace(co_name=f"{options.get('name', 'fn')}_xb_compiled_{next(_serial)}")
        return torch.compile(fn, fullgraph=options["fullgraph"], dynamic=options["dynamic"], mode=options["mode"])


def _default_backend() -> TorchBackend:
    import array_api_compat.torch as namespace

    return TorchBackend(namespace)


#: the backend of torch tensors, built when this module is imported (never inside a
#: torch.compile trace, which could not rebuild the object afterwards)
BACKEND = _default_backend()
# registered now, not at a first call inside torch.compile: a dictionary that changes
# during a trace fails the trace's guards, one recompilation
_by_type.setdefault(id(torch.Tensor), BACKEND.xp)
_backends.setdefault(id(BACKEND.xp), BACKEND)
