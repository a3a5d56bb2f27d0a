"""PyTorch: a ``torch.autograd.Function`` around each kernel, ``torch.compile``, and
in-place kernel temporaries in plain eager mode.

In-place policy: a kernel updates its fresh temporaries in place (``exp_``,
``addcmul_``, ``masked_fill_``, ``scatter_add_``, ...) only while autograd records
nothing and no compiler traces -- inside ``autograd.Function.forward``/``backward`` and
under ``no_grad``. Under ``create_graph=True`` the kernels build a differentiable graph
out of place (an in-place update of a tensor a recorded op saved would be an error),
and under ``torch.compile`` the functional ops fuse better and there is nothing to save.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch

from xbackend._backends._base import Backend, KernelNamespace

__all__ = ["TorchBackend"]

_serial = itertools.count(1)


class InPlace(KernelNamespace):
    """torch's in-place forms of the kernel helpers (same values)."""

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


class _KernelFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, be, kernel, static, x, y, *arrays):  # type: ignore[override]
        loss, res = kernel.forward(be.kernel_namespace(x), x, y, arrays, static)
        ctx.be, ctx.kernel, ctx.static = be, kernel, static
        ctx.n_arrays = len(arrays)
        ctx.save_for_backward(x, y, *arrays, *res)
        return loss

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        be, kernel, static = ctx.be, ctx.kernel, ctx.static
        saved = ctx.saved_tensors
        x, y = saved[0], saved[1]
        arrays = tuple(saved[2 : 2 + ctx.n_arrays])
        res = tuple(saved[2 + ctx.n_arrays :])
        # Under create_graph=True the backward must itself be differentiable with respect
        # to x, so residuals computed without grad tracking are recomputed from x.
        if torch.is_grad_enabled():
            res = None
        ns = be.kernel_namespace(x)
        gx = kernel.grad_x(ns, x, y, arrays, static, res, g) if ctx.needs_input_grad[3] else None
        gy = kernel.grad_y(ns, x, y, arrays, static, res, g) if ctx.needs_input_grad[4] else None
        return (None, None, None, gx, gy) + (None,) * ctx.n_arrays


class TorchBackend(Backend):
    name = "torch"
    auto_chunk = True
    setitem_converts = True

    def __init__(self, xp: ModuleType) -> None:
        super().__init__(xp)
        self.eager = InPlace(xp, self)

    def kernel_namespace(self, x: Any) -> KernelNamespace:
        if torch.is_grad_enabled() or torch.compiler.is_compiling():
            return self.functional
        return self.eager

    def apply_kernel(self, kernel: Any, x: Any, y: Any, arrays: tuple, static: Any) -> Any:
        needs = x.requires_grad or (y.is_floating_point() and y.requires_grad)
        if not (needs and torch.is_grad_enabled()):
            with torch.no_grad():  # nothing to record: the kernel may update its temporaries in place
                return kernel.forward(self.kernel_namespace(x), x, y, arrays, static)[0]
        return _KernelFunction.apply(self, kernel, static, x, y, *arrays)

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
