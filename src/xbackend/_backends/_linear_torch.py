"""torch ``autograd.Function`` classes (``setup_context`` form) for
:mod:`xbackend._backends._linear` (a module of their own: it imports torch, and the
classes must exist before ``torch.compile`` traces a call)."""

from __future__ import annotations

import torch

from xbackend._lib import _linear as L

__all__ = ["LinearXentReduced", "LinearXentRows"]


class LinearXentReduced(torch.autograd.Function):
    """``Σ coef·ℓ``; the forward also returns the (non-differentiable) gradients of the
    inputs in ``need``, which the backward scales by the incoming scalar."""

    @staticmethod
    def forward(h, W, b, y, keep, cw, coef, xp, st, need):  # type: ignore[override]
        loss, gs = L.loss_and_grads(xp, h, W, b, (y, keep, cw), st, coef, need)
        return (xp.sum(loss * coef), *tuple(g for g in gs if g is not None))

    @staticmethod
    def setup_context(ctx, inputs, output):  # type: ignore[override]
        ctx.need = inputs[-1]
        ctx.mark_non_differentiable(*output[1:])
        ctx.save_for_backward(*output[1:])

    @staticmethod
    def backward(ctx, g, *_):  # type: ignore[override]
        saved = iter(ctx.saved_tensors)
        out = [g * next(saved) if n else None for n in ctx.need]
        return (*out, None, None, None, None, None, None, None)


class LinearXentRows(torch.autograd.Function):
    """The loss rows; saves the inputs and each row's log-sum-exp, and the backward
    makes one more pass over the blocks with the per-row incoming gradient."""

    @staticmethod
    def forward(h, W, b, y, keep, cw, xp, st, need):  # type: ignore[override]  # noqa: ARG004 (need: for setup_context)
        return L.loss_rows(xp, h, W, b, (y, keep, cw), st)

    @staticmethod
    def setup_context(ctx, inputs, output):  # type: ignore[override]
        h, W, b, y, keep, cw, xp, st, need = inputs
        ctx.xp, ctx.st, ctx.need = xp, st, need
        ctx.mark_non_differentiable(output[1])
        ctx.save_for_backward(h, W, b, y, keep, cw, output[1])

    @staticmethod
    def backward(ctx, g, _):  # type: ignore[override]
        h, W, b, y, keep, cw, lse = ctx.saved_tensors
        gs = L.grads(ctx.xp, h, W, b, (y, keep, cw), ctx.st, lse, g, ctx.need)
        return (*gs, None, None, None, None, None, None)
