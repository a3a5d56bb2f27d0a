"""``xbackend bench --losses linear``: :func:`xbackend.linear_cross_entropy` against the
naive ``matmul + native cross-entropy`` of the same framework.

Shapes are ``NxDxV:dtype`` (hidden ``(N, D)``, weight ``(V, D)``, no bias). Variants, as
for the other losses: ``native`` (``F.cross_entropy(F.linear(h, W), y)``;
``optax.softmax_cross_entropy_with_integer_labels(h @ W.T, y).mean()``), ``xb``
(``linear_cross_entropy(h, W, y, reduction="mean")``, ``chunk_size="auto"``) and both
compiled (``torch.compile(fullgraph=True)``, ``jax.jit``). ``fwd+bwd`` differentiates
``h`` and ``W``. Memory is the peak beyond the inputs **and their gradients** (torch: the
profiler's allocation trace minus the gradients of ``h`` and ``W`` for ``fwd+bwd``; JAX:
XLA's temporary buffers of the compiled function), over the bytes of the naive
version's logits ``N·V`` in the compute dtype (so the naive ``fwd+bwd`` shows about 2+:
the logits and their gradient).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from xbackend._cli._bench import _Jax, _Torch

__all__ = ["LINEAR_CPU_SHAPES", "LINEAR_GPU_SHAPES", "JaxLinear", "TorchLinear"]

LINEAR_CPU_SHAPES = "4096x512x32768:float32"
LINEAR_GPU_SHAPES = "8192x4096x128256:bfloat16,16384x2048x256000:bfloat16"


class TorchLinear(_Torch):
    def inputs(self, loss: str, shape: tuple, dtype: str, seed: int = 0):
        t = self.torch
        n, d, v = shape
        g = t.Generator(device=self.dev).manual_seed(seed)
        dt = getattr(t, dtype)
        h = t.randn((n, d), generator=g, device=self.dev, dtype=t.float32).to(dt)
        W = (t.randn((v, d), generator=g, device=self.dev, dtype=t.float32) / d**0.5).to(dt)
        y = t.randint(0, v, (n,), generator=g, device=self.dev)
        return (h, W), y

    def losses(self, loss: str):
        import torch.nn.functional as F

        import xbackend as xb

        native = lambda h, W, y: F.cross_entropy(F.linear(h, W), y)
        ours = lambda h, W, y: xb.linear_cross_entropy(h, W, y, reduction="mean")
        return native, ours

    def tensors(self, x: Any) -> tuple:
        return x

    def compile_xb(self, ours: Callable) -> Callable:
        return self.torch.compile(ours, fullgraph=True)

    def variants(self, loss: str, pass_: str, x: Any, y: Any, modes: list[str]) -> dict[str, Callable[[], None]]:
        self._pass = pass_  # memory() subtracts the gradients for fwd+bwd
        return super().variants(loss, pass_, x, y, modes)

    def floor(self, pass_: str, x: Any) -> Callable[[], None]:
        h, W = x

        def run():  # one product: the compute floor of the forward
            self.torch.matmul(h[:256], W.T).sum()
            self.sync()

        return run

    def memory(self, fn: Callable[[], None], x: Any) -> tuple[float, str]:
        h, W = x
        grads = (h.numel() * h.element_size() + W.numel() * W.element_size()) if self._pass != "fwd" else 0
        logits = h.shape[0] * W.shape[0] * h.element_size()  # the naive version's, N x V
        peak, how = self._peak_bytes(fn)
        return (peak - grads) / logits, how + " minus the gradients of h and W, over the naive logits' bytes"


class JaxLinear(_Jax):
    grad_argnums = (0, 1)

    def inputs(self, loss: str, shape: tuple, dtype: str, seed: int = 0):
        import jax.numpy as jnp

        jax = self.jax
        n, d, v = shape
        k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
        dt = getattr(jnp, dtype)
        with jax.default_device(self.dev):
            h = jax.random.normal(k1, (n, d), jnp.float32).astype(dt)
            W = (jax.random.normal(k2, (v, d), jnp.float32) / d**0.5).astype(dt)
            y = jax.random.randint(k3, (n,), 0, v)
        return (h, W), y

    def losses(self, loss: str):
        import optax

        import xbackend as xb

        native = lambda h, W, y: optax.softmax_cross_entropy_with_integer_labels(h @ W.T, y).mean()
        ours = lambda h, W, y: xb.linear_cross_entropy(h, W, y, reduction="mean")
        return native, ours

    def args(self, x: Any, y: Any) -> tuple:
        h, W = x
        return h, W, y

    def memory_unit(self, x: Any) -> int:  # the naive version's logits, N x V
        h, W = x
        return h.shape[0] * W.shape[0] * h.dtype.itemsize

    def floor(self, pass_: str, x: Any) -> Callable[[], None]:
        h, W = x
        mm = self.jax.jit(lambda a, b: (a[:256] @ b.T).sum())

        def run():
            self.sync(mm(h, W))

        return run
