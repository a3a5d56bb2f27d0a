"""torch hook: a ``torch.autograd.Function`` around a kernel."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch


class _KernelFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, kernel, static, xp, x, y, *arrays):  # type: ignore[override]
        loss, res = kernel.forward(xp, x, y, arrays, static)
        ctx.kernel, ctx.static, ctx.xp = kernel, static, xp
        ctx.n_arrays = len(arrays)
        ctx.save_for_backward(x, y, *arrays, *res)
        return loss

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        kernel, static, xp = ctx.kernel, ctx.static, ctx.xp
        saved = ctx.saved_tensors
        x, y = saved[0], saved[1]
        arrays = tuple(saved[2 : 2 + ctx.n_arrays])
        res = tuple(saved[2 + ctx.n_arrays :])
        # Under create_graph=True the backward must itself be differentiable with respect
        # to x, so residuals computed without grad tracking are recomputed from x.
        if torch.is_grad_enabled():
            res = None
        gx = kernel.grad_x(xp, x, y, arrays, static, res, g) if ctx.needs_input_grad[3] else None
        gy = kernel.grad_y(xp, x, y, arrays, static, res, g) if ctx.needs_input_grad[4] else None
        return (None, None, None, gx, gy) + (None,) * ctx.n_arrays


def apply(xp: ModuleType, kernel: Any, x: Any, y: Any, arrays: tuple, static: Any) -> Any:
    needs = x.requires_grad or (y.is_floating_point() and y.requires_grad)
    if not (needs and torch.is_grad_enabled()):
        with torch.no_grad():  # nothing to record: lets the kernel update its temporaries in place
            return kernel.forward(xp, x, y, arrays, static)[0]
    return _KernelFunction.apply(kernel, static, xp, x, y, *arrays)
