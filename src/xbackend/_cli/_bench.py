"""``xbackend bench``: xbackend against each framework's native loss, in one process.

For every backend (torch, JAX/optax, TensorFlow) x loss (sigmoid, softmax with soft
labels, sparse softmax) x shape x pass (``fwd``, ``fwd+bwd``) the benchmark times, round
robin in one process, the *variants*

* ``native`` -- the framework's own loss, eager (``F.cross_entropy``,
  ``optax.softmax_cross_entropy_with_integer_labels``, ``tf.nn.*``),
* ``xb`` -- the xbackend loss, eager (default options: ``chunk_size="auto"``),
* ``native_c`` / ``xb_c`` -- both under the framework's compiler (``torch.compile``,
  ``jax.jit``, ``tf.function(jit_compile=True)``; xbackend through
  :func:`xbackend.compiled`),
* ``xb_nochunk`` (torch softmax losses, where ``"auto"`` chunks) -- ``chunk_size=None``,

after warm-up, rotating the order every round, and reports medians, the ratios
xbackend/native (eager, compiled, and compiled xbackend against the native *eager*
loss), the peak memory beyond the inputs (torch: CUDA allocator peak or, on the CPU, the
profiler's allocation trace; JAX: XLA's temporary buffers of the compiled function;
else n/a), and the time of the memory floor measured in the same run (one read of the
logits: ``sum``; for ``fwd+bwd`` one read plus one read-and-write: ``sum`` + ``copy``).

All losses use ``reduction="mean"`` (the sigmoid loss ``"sum_over_batch_size"``, which
is torch's and optax's mean over elements). The table goes to standard output; with
``--out DIR`` the results also go to ``DIR/bench-<device>-<date>.json`` and ``.md``,
rewritten after every case so that a run cut short keeps what it measured (without
``--out`` nothing is written, and a closing line says how to save).

Bad arguments print the reason and exit with status 2; a cell that raised prints its
error and the exit status is 1.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from xbackend._cli._detect import quiet
from xbackend._cli._report import Progress

__all__ = ["BenchArgumentError", "add_arguments", "run", "validate"]

LOSSES = ("sparse", "softmax", "sigmoid")
LINEAR = "linear"  # --losses linear: xbackend._cli._bench_linear (shapes NxDxV:dtype; not in the default list)
PASSES = ("fwd", "fwd+bwd")
GPU_SHAPES = "8192x128256:bfloat16,8192x32768:float32,65536x1000:float32"
CPU_SHAPES = "512x32768:bfloat16,1024x8192:float32,16384x256:float32"
QUICK_SHAPES = "64x128:float32"
QUICK_REPEATS = 2
#: the last full CPU run (default shapes, 9 repeats, torch + JAX + TensorFlow, a 2-core
#: AMD EPYC, load average about 1.8): benchmarks/results/bench-cpu-2026-11-26.json
FULL_CPU_RUN_S = 409
TARGETS = {
    "compiled_median": 1.0,
    "compiled_worst": 1.2,
    "eager_fwdbwd_time": 1.5,
    "eager_fwdbwd_memory": 1.0,
    "compiled_vs_native_eager": 0.8,
    "compiled_vs_floor": 1.5,  # GPU, sparse 8192x128256 bf16: xb compiled / memory floor
    "chunked_memory": 1.1,  # eager torch, chunked (bf16: "auto"): peak extra / logits
    "chunked_time": 1.2,  # ... and time / native eager
}


# ----------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``xbackend bench``."""
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where the arrays live")
    parser.add_argument("--backends", default="torch,jax",
                        help="comma-separated: torch, jax, tensorflow (default: torch,jax)")
    parser.add_argument("--losses", default=",".join(LOSSES), help=f"comma-separated subset of {','.join(LOSSES)},{LINEAR}")
    parser.add_argument("--shapes", default=None,
                        help=f"RxC:dtype,... (default GPU: {GPU_SHAPES}; CPU: {CPU_SHAPES})")
    parser.add_argument("--passes", default=",".join(PASSES), help="fwd, fwd+bwd or both")
    parser.add_argument("--modes", default=None,
                        help="eager, compiled or both (default both; --quick: eager)")
    parser.add_argument("--repeats", type=int, default=9, help="timed rounds per variant (>= 7 for reports)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds per variant (after compiling)")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="seconds; cases that would start later are skipped and marked (GPU default 200)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurements")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (none when stderr is not a terminal)")
    parser.add_argument("--quick", action="store_true",
                        help=f"a tiny smoke run: shape {QUICK_SHAPES}, {QUICK_REPEATS} repeats, eager only unless "
                        "--modes is given (well under a minute); it ends with the full run's measured duration")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write bench-<device>-<date>.json and .md into DIR (default: write nothing, print only)")
    parser.add_argument("--tag", default=None, help="file name stem (default bench-<device>-<date>)")
    parser.add_argument("--recompile-jax", action="store_true",
                        help="only: compilations and total time of a loop over 16 batch sizes, xbackend vs optax")


@dataclass
class Cell:
    backend: str
    loss: str
    shape: tuple
    dtype: str
    pass_: str
    times_ms: dict = field(default_factory=dict)  # variant -> median ms
    spread: dict = field(default_factory=dict)  # variant -> [min, max] ms
    memory_x: dict = field(default_factory=dict)  # variant -> peak extra bytes / logits bytes
    memory_how: str = "n/a"  # how memory_x was measured (JSON only; "n/a" when it was not)
    floor_ms: float | None = None
    note: str = ""

    def ratio(self, a: str, b: str) -> float | None:
        ta, tb = self.times_ms.get(a), self.times_ms.get(b)
        return None if ta is None or tb is None or tb == 0 else ta / tb


# ----------------------------------------------------------------------------- environment


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _environment(device: str, backends: list[str]) -> dict:
    import numpy

    import xbackend

    env: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "device_kind": device,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "xbackend": xbackend.__version__,
        "numpy": numpy.__version__,
        "transparent_hugepage": _read("/sys/kernel/mm/transparent_hugepage/enabled"),
        "THP_MEM_ALLOC_ENABLE": os.environ.get("THP_MEM_ALLOC_ENABLE"),
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "versions": {},
    }
    for name in backends + (["optax"] if "jax" in backends else []):
        try:
            mod = __import__(name)
            env["versions"][name] = getattr(mod, "__version__", "?")
        except Exception as exc:
            env["versions"][name] = f"unavailable: {exc}"
    env["device"] = _device_name(device)
    return env


def _device_name(device: str) -> str:
    if device == "cuda":
        try:
            import torch

            return torch.cuda.get_device_name()
        except Exception:
            pass
        try:
            import jax

            return str(jax.devices("gpu")[0].device_kind)
        except Exception:
            return "cuda (unknown)"
    model = None
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{model or platform.processor() or 'cpu'} ({os.cpu_count()} cores)"


# ----------------------------------------------------------------------------- timing


def _time_round_robin(fns: dict[str, Callable[[], None]], repeats: int, warmup: int) -> dict[str, list[float]]:
    """Times (ms) per variant; each round runs every variant once, in a rotated order."""
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        order = names[r % len(names):] + names[: r % len(names)]
        if r % 2:
            order.reverse()
        for n in order:
            t0 = time.perf_counter()
            fns[n]()
            out[n].append((time.perf_counter() - t0) * 1e3)
    return out


# ----------------------------------------------------------------------------- torch


class _Torch:
    name = "torch"

    def __init__(self, device: str) -> None:
        import torch

        self.torch = torch
        self.dev = torch.device("cuda" if device == "cuda" else "cpu")
        if device == "cpu":  # the compile workers' subprocess pool can stall in sandboxes
            import torch._inductor.config as ic

            ic.compile_threads = 1

    def sync(self) -> None:
        if self.dev.type == "cuda":
            self.torch.cuda.synchronize()

    def inputs(self, loss: str, shape: tuple, dtype: str, seed: int = 0):
        t = self.torch
        g = t.Generator(device=self.dev).manual_seed(seed)
        dt = getattr(t, dtype)
        x = t.randn(shape, generator=g, device=self.dev, dtype=t.float32).to(dt)
        if loss == "sparse":
            y = t.randint(0, shape[-1], shape[:-1], generator=g, device=self.dev)
        elif loss == "softmax":
            y = t.softmax(t.randn(shape, generator=g, device=self.dev, dtype=t.float32), dim=-1).to(dt)
        else:
            y = t.rand(shape, generator=g, device=self.dev, dtype=t.float32).to(dt)
        return x, y

    def losses(self, loss: str):
        import torch.nn.functional as F

        import xbackend as xb

        if loss == "sigmoid":
            native = lambda x, y: F.binary_cross_entropy_with_logits(x, y)
            ours = lambda x, y, **k: xb.sigmoid_cross_entropy(x, y, reduction="sum_over_batch_size", **k)
        elif loss == "softmax":
            native = lambda x, y: F.cross_entropy(x, y)
            ours = lambda x, y, **k: xb.softmax_cross_entropy(x, y, reduction="mean", **k)
        else:
            native = lambda x, y: F.cross_entropy(x, y)
            ours = lambda x, y, **k: xb.sparse_softmax_cross_entropy(x, y, reduction="mean", **k)
        return native, ours

    def tensors(self, x: Any) -> tuple:
        """The inputs ``x`` as the losses' leading arguments (``fwd+bwd`` differentiates each)."""
        return (x,)

    def compile_xb(self, ours: Callable) -> Callable:
        import xbackend as xb

        return xb.compiled(ours)

    def variants(self, loss: str, pass_: str, x: Any, y: Any, modes: list[str]) -> dict[str, Callable[[], None]]:
        t = self.torch
        t._dynamo.reset()  # fresh compile caches per cell (no recompile limit across cells)
        native, ours = self.losses(loss)
        impls: dict[str, Callable] = {}
        if "eager" in modes:
            impls["native"] = native
            impls["xb"] = ours
            if loss in ("softmax", "sparse"):
                impls["xb_nochunk"] = lambda a, b: ours(a, b, chunk_size=None)
        if "compiled" in modes:
            impls["native_c"] = t.compile(native, fullgraph=True)
            impls["xb_c"] = self.compile_xb(ours)
            if "native" not in impls:  # the compiled-vs-native-eager ratio needs it
                impls["native"] = native
        xs = self.tensors(x)
        fns: dict[str, Callable[[], None]] = {}
        run: Callable[..., None]
        for name, f in impls.items():
            if pass_ == "fwd":

                def run(f=f):
                    with t.no_grad():
                        f(*xs, y)
                    self.sync()

            else:
                leaves = tuple(a.detach().requires_grad_() for a in xs)

                def run(f=f, leaves=leaves):
                    f(*leaves, y).backward()
                    for leaf in leaves:
                        leaf.grad = None
                    self.sync()

            fns[name] = run
        return fns

    def floor(self, pass_: str, x: Any) -> Callable[[], None]:
        out = self.torch.empty_like(x)

        def run():
            x.sum()
            if pass_ != "fwd":
                out.copy_(x)
            self.sync()

        return run

    def memory(self, fn: Callable[[], None], x: Any) -> tuple[float, str]:
        """Peak bytes allocated by ``fn`` beyond what was live, over the logits' bytes."""
        peak, how = self._peak_bytes(fn)
        return peak / (x.numel() * x.element_size()), how

    def _peak_bytes(self, fn: Callable[[], None]) -> tuple[int, str]:
        """Peak bytes allocated by ``fn`` beyond what was live, and how they were measured."""
        t = self.torch
        gc.collect()
        if self.dev.type == "cuda":
            self.sync()
            base = t.cuda.memory_allocated()
            t.cuda.reset_peak_memory_stats()
            fn()
            return t.cuda.max_memory_allocated() - base, "torch.cuda.max_memory_allocated"
        from torch.profiler import ProfilerActivity, profile

        with quiet(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            fn()
        events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
        events.sort(key=lambda e: e.start_ns())
        cur = peak = 0
        for e in events:
            cur += e.nbytes()
            peak = max(peak, cur)
        return peak, "torch profiler allocation trace (CPU)"


# ----------------------------------------------------------------------------- JAX


class _Jax:
    name = "jax"

    def __init__(self, device: str) -> None:
        import jax

        self.jax = jax
        self.dev = jax.devices("gpu" if device == "cuda" else "cpu")[0]

    def sync(self, out: Any) -> None:
        self.jax.block_until_ready(out)

    def inputs(self, loss: str, shape: tuple, dtype: str, seed: int = 0):
        import jax.numpy as jnp

        jax = self.jax
        k1, k2 = jax.random.split(jax.random.key(seed))
        dt = getattr(jnp, dtype)
        with jax.default_device(self.dev):
            x = jax.random.normal(k1, shape, jnp.float32).astype(dt)
            if loss == "sparse":
                y = jax.random.randint(k2, shape[:-1], 0, shape[-1])
            elif loss == "softmax":
                y = jax.nn.softmax(jax.random.normal(k2, shape, jnp.float32), axis=-1).astype(dt)
            else:
                y = jax.random.uniform(k2, shape, jnp.float32).astype(dt)
        return jax.device_put(x, self.dev), jax.device_put(y, self.dev)

    def losses(self, loss: str):
        import optax

        import xbackend as xb

        if loss == "sigmoid":
            native = lambda x, y: optax.sigmoid_binary_cross_entropy(x, y).mean()
            ours = lambda x, y: xb.sigmoid_cross_entropy(x, y, reduction="sum_over_batch_size")
        elif loss == "softmax":
            native = lambda x, y: optax.softmax_cross_entropy(x, y).mean()
            ours = lambda x, y: xb.softmax_cross_entropy(x, y, reduction="mean")
        else:
            native = lambda x, y: optax.softmax_cross_entropy_with_integer_labels(x, y).mean()
            ours = lambda x, y: xb.sparse_softmax_cross_entropy(x, y, reduction="mean")
        return native, ours

    #: what ``fwd+bwd`` differentiates (``jax.value_and_grad``'s ``argnums``): the logits
    grad_argnums: int | tuple[int, ...] = 0

    def args(self, x: Any, y: Any) -> tuple:
        """The positional arguments of the losses for the inputs ``x, y``."""
        return x, y

    def memory_unit(self, x: Any) -> int:
        """The bytes that ``memory_x`` counts in: the logits'."""
        return x.size * x.dtype.itemsize

    def _programs(self, loss: str, pass_: str, modes: list[str]) -> dict[str, Any]:
        jax = self.jax
        native, ours = self.losses(loss)
        base = {"native": native, "xb": ours}
        if pass_ != "fwd":
            base = {k: jax.value_and_grad(f, argnums=self.grad_argnums) for k, f in base.items()}
        progs: dict[str, Callable] = {}
        if "eager" in modes or "compiled" in modes:
            progs["native"] = base["native"]
        if "eager" in modes:
            progs["xb"] = base["xb"]
        if "compiled" in modes:
            progs["native_c"] = jax.jit(base["native"])
            progs["xb_c"] = jax.jit(base["xb"])
        return progs

    def variants(self, loss: str, pass_: str, x: Any, y: Any, modes: list[str]) -> dict[str, Callable[[], None]]:
        args = self.args(x, y)
        return {n: self._runner(f, args) for n, f in self._programs(loss, pass_, modes).items()}

    def _runner(self, f: Callable[..., Any], args: tuple) -> Callable[[], None]:
        def run() -> None:
            self.sync(f(*args))

        return run

    def floor(self, pass_: str, x: Any) -> Callable[[], None]:
        jax = self.jax
        read = jax.jit(lambda a: a.sum())
        copy = jax.jit(lambda a: a + 1)  # one read, one write (a new buffer)

        def run():
            self.sync(read(x))
            if pass_ != "fwd":
                self.sync(copy(x))

        return run

    def memory_compiled(self, loss: str, pass_: str, x: Any, y: Any) -> dict[str, float]:
        nbytes = self.memory_unit(x)
        out = {}
        for name, f in self._programs(loss, pass_, ["compiled"]).items():
            if name.endswith("_c"):
                ma = f.lower(*self.args(x, y)).compile().memory_analysis()
                if ma is not None:
                    out[name] = ma.temp_size_in_bytes / nbytes
        return out


# ----------------------------------------------------------------------------- TensorFlow


class _TensorFlow:
    name = "tensorflow"

    def __init__(self, device: str) -> None:
        import tensorflow as tf

        self.tf = tf
        self.dev = "/GPU:0" if device == "cuda" else "/CPU:0"

    def inputs(self, loss: str, shape: tuple, dtype: str, seed: int = 0):
        tf = self.tf
        g = tf.random.Generator.from_seed(seed)
        dt = getattr(tf, dtype)
        with tf.device(self.dev):
            x = tf.cast(g.normal(shape), dt)
            if loss == "sparse":
                y = g.uniform(shape[:-1], 0, shape[-1], dtype=tf.int64)
            elif loss == "softmax":
                y = tf.cast(tf.nn.softmax(g.normal(shape), axis=-1), dt)
            else:
                y = tf.cast(g.uniform(shape), dt)
        return x, y

    def losses(self, loss: str):
        tf = self.tf

        import xbackend as xb

        if loss == "sigmoid":
            native = lambda x, y: tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(y, x))
            ours = lambda x, y: xb.sigmoid_cross_entropy(x, y, reduction="sum_over_batch_size")
        elif loss == "softmax":
            native = lambda x, y: tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(y, x))
            ours = lambda x, y: xb.softmax_cross_entropy(x, y, reduction="mean")
        else:
            native = lambda x, y: tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, x))
            ours = lambda x, y: xb.sparse_softmax_cross_entropy(x, y, reduction="mean")
        return native, ours

    def variants(self, loss: str, pass_: str, x: Any, y: Any, modes: list[str]) -> dict[str, Callable[[], None]]:
        tf = self.tf
        native, ours = self.losses(loss)

        def with_grad(f):
            def g(a, b):
                with tf.GradientTape() as tape:
                    tape.watch(a)
                    v = f(a, b)
                return v, tape.gradient(v, a)

            return g

        base = {"native": native, "xb": ours}
        if pass_ != "fwd":
            base = {k: with_grad(f) for k, f in base.items()}
        progs = {"native": base["native"]}
        if "eager" in modes:
            progs["xb"] = base["xb"]
        if "compiled" in modes:
            # autograph=False: AutoGraph re-parses a lambda's source line and can pick the wrong one
            progs["native_c"] = tf.function(base["native"], jit_compile=True, autograph=False)
            progs["xb_c"] = tf.function(base["xb"], jit_compile=True, autograph=False)

        def runner(f):
            def run():
                out = f(x, y)
                _ = [t.numpy() for t in tf.nest.flatten(out)]  # waits for the result

            return run

        return {n: runner(f) for n, f in progs.items()}

    def floor(self, pass_: str, x: Any) -> Callable[[], None]:
        tf = self.tf

        def run():
            tf.reduce_sum(x).numpy()
            if pass_ != "fwd":
                _ = tf.identity(x * 1).shape

        return run


_BACKENDS = {"torch": _Torch, "jax": _Jax, "tensorflow": _TensorFlow}


# ------------------------------------------------------------ compilations over shapes
#: batch sizes of the recompilation measurement (16 sizes; ``--quick``: 4)
RECOMPILE_SIZES = tuple(range(16, 16 * 17, 16))
RECOMPILE_CLASSES = 1024


def recompile_rows(backend_name: str, device: str, losses: list[str], *, sizes: tuple = RECOMPILE_SIZES,
                   classes: int = RECOMPILE_CLASSES) -> list[dict]:  # fmt: skip
    """Compilations and total time of one loop over ``sizes`` batch sizes
    (``B x classes`` float32 logits, forward and backward), xbackend against the native
    loss under the framework's compiler, in the same run.

    One row per loss and variant: ``{"backend", "loss", "variant" ("native_c"/"xb_c"),
    "sizes", "classes", "compilations", "total_s"}``. The framework is a parameter so that
    each framework plugs in its own branch (``_RECOMPILE_BRANCHES``); a framework without
    one gives no rows.
    """
    branch = _RECOMPILE_BRANCHES.get(backend_name)
    if branch is None:
        return []
    impl: Any = _BACKENDS[backend_name](device)
    rows = []
    for loss in losses:
        native, ours = impl.losses(loss)
        for variant, fn in (("native_c", native), ("xb_c", ours)):
            compilations, total = branch(impl, loss, variant, fn, sizes, classes)
            rows.append({"backend": backend_name, "loss": loss, "variant": variant, "sizes": len(sizes),
                         "classes": classes, "compilations": compilations, "total_s": total})  # fmt: skip
    return rows


def _torch_recompiles(impl: Any, loss: str, variant: str, fn: Callable, sizes: tuple, classes: int) -> tuple[int, float]:
    """``torch.compile`` (xbackend: :func:`xbackend.compiled`, its defaults) from fresh
    caches; compilations = Dynamo's count of unique graphs (forward frames) in the loop."""
    import torch._dynamo.utils

    import xbackend as xb

    t = impl.torch
    t._dynamo.reset()
    compiled = t.compile(fn, fullgraph=True) if variant == "native_c" else xb.compiled(fn)
    before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    start = time.perf_counter()
    for b in sizes:
        x, y = impl.inputs(loss, (b, classes), "float32", seed=b)
        x.requires_grad_(True)
        compiled(x, y).backward()
    impl.sync()
    total = time.perf_counter() - start
    return torch._dynamo.utils.counters["stats"]["unique_graphs"] - before, total


def _jax_recompiles(impl: Any, loss: str, variant: str, fn: Callable, sizes: tuple, classes: int) -> tuple[int, float]:  # noqa: ARG001 (the branch signature)
    """``jax.jit(jax.value_and_grad(fn))`` for both variants (the user's own ``jit``);
    compilations = ``jax.monitoring``'s backend-compile events in the loop."""
    import jax

    data = [impl.inputs(loss, (b, classes), "float32", seed=b) for b in sizes]  # (their own compiles: before)
    jax.block_until_ready(data)
    return _jax_compile_loop(jax.jit(jax.value_and_grad(fn)), data)


def _jax_compile_loop(step: Callable[..., Any], data: list[tuple[Any, Any]]) -> tuple[int, float]:
    """Compilations (``jax.monitoring``'s backend-compile events) and seconds of one loop
    of ``step(x, y)`` over ``data``."""
    import jax

    events: list[str] = []

    def listener(event: str, duration: float, **kwargs: Any) -> None:  # noqa: ARG001 (jax.monitoring's signature)
        if event == "/jax/core/compile/backend_compile_duration":
            events.append(event)

    jax.monitoring.register_event_duration_secs_listener(cast(Any, listener))
    try:
        start = time.perf_counter()
        for x, y in data:
            jax.block_until_ready(step(x, y))
        total = time.perf_counter() - start
    finally:
        jax.monitoring.unregister_event_duration_listener(cast(Any, listener))
    return len(events), total


#: framework -> ``branch(impl, loss, variant, fn, sizes, classes) -> (compilations, seconds)``
_RECOMPILE_BRANCHES: dict[str, Callable[..., tuple[int, float]]] = {"torch": _torch_recompiles, "jax": _jax_recompiles}


def _recompile_section(backends: list[str], args: argparse.Namespace) -> list[dict]:
    """All rows of :func:`recompile_rows` for this run, printed as a Markdown table."""
    # linear cross-entropy takes (hidden, weight), not B x classes logits: no rows for it here
    losses = [loss.strip() for loss in args.losses.split(",") if loss.strip() not in ("", LINEAR)]
    sizes = RECOMPILE_SIZES[:4] if args.quick else RECOMPILE_SIZES
    classes = 64 if args.quick else RECOMPILE_CLASSES
    rows = []
    for b in backends:
        try:
            rows += recompile_rows(b, args.device, losses, sizes=sizes, classes=classes)
        except Exception as exc:
            rows.append({"backend": b, "note": f"error: {type(exc).__name__}: {str(exc)[:300]}"})
    if rows:
        print(f"\n## Compilations over {len(sizes)} batch sizes (Bx{classes} float32, fwd+bwd)\n")
        print("| backend | loss | variant | compilations | total s |\n|---|---|---|---|---|")
        for r in rows:
            if "note" in r:
                print(f"| {r['backend']} | {r['note']} | | | |")
            else:
                print(f"| {r['backend']} | {r['loss']} | {r['variant']} | {r['compilations']} | {r['total_s']:.2f} |")
    return rows


# ----------------------------------------------------------------------------- the run


class BenchArgumentError(ValueError):
    """A bad ``xbackend bench`` argument; the message names the option."""


def _split(text: str | None, option: str, allowed: tuple[str, ...]) -> list[str]:
    items = [t.strip() for t in (text or "").split(",") if t.strip()]
    if not items:
        raise BenchArgumentError(f"{option} is empty (choose from {', '.join(allowed)})")
    for t in items:
        if t not in allowed:
            raise BenchArgumentError(f"{option}: unknown value {t!r} (choose from {', '.join(allowed)})")
    return list(dict.fromkeys(items))


def _parse_shapes_arg(text: str) -> list[tuple[tuple, str]]:
    dtypes = ("float32", "float64", "bfloat16", "float16")
    shapes = []
    try:
        for item in text.split(","):
            dims, _, dtype = item.strip().partition(":")
            shapes.append((tuple(int(d) for d in dims.lower().split("x")), dtype or "float32"))
    except ValueError:
        raise BenchArgumentError(f"--shapes: cannot read {text!r} (expected RxC:dtype,..., e.g. 64x128:float32)") from None
    for shape, dtype in shapes:
        if len(shape) < 2 or any(d < 1 for d in shape):
            raise BenchArgumentError(f"--shapes: {'x'.join(map(str, shape))} needs at least two positive sizes (RxC)")
        if dtype not in dtypes:
            raise BenchArgumentError(f"--shapes: unknown dtype {dtype!r} (choose from {', '.join(dtypes)})")
    return shapes


def validate(args: argparse.Namespace) -> dict[str, Any]:
    """Check every option of ``args`` before anything is imported or measured.

    Returns the parsed ``backends``, ``losses``, ``passes``, ``modes`` and ``shapes``;
    raises :class:`BenchArgumentError` naming the option otherwise (``run`` prints it and
    returns 2).
    """
    modes_text = args.modes if args.modes is not None else ("eager" if args.quick else "eager,compiled")
    parsed: dict[str, Any] = {
        "backends": _split(args.backends, "--backends", tuple(_BACKENDS)),
        "losses": _split(args.losses, "--losses", (*LOSSES, LINEAR)),
        "passes": _split(args.passes, "--passes", PASSES),
        "modes": _split(modes_text, "--modes", ("eager", "compiled")),
    }
    if args.repeats < 1:
        raise BenchArgumentError(f"--repeats must be >= 1, got {args.repeats}")
    if args.warmup < 0:
        raise BenchArgumentError(f"--warmup must be >= 0, got {args.warmup}")
    if args.time_limit is not None and not args.time_limit > 0:
        raise BenchArgumentError(f"--time-limit must be > 0 seconds, got {args.time_limit}")
    default_shapes = QUICK_SHAPES if args.quick else (GPU_SHAPES if args.device == "cuda" else CPU_SHAPES)
    parsed["shapes"] = _parse_shapes_arg(args.shapes or default_shapes)
    if LINEAR in parsed["losses"] and not args.shapes:  # linear: NxDxV shapes (hidden, weight), see _bench_linear
        from xbackend._cli._bench_linear import LINEAR_CPU_SHAPES, LINEAR_GPU_SHAPES

        parsed["shapes"] += _parse_shapes_arg(LINEAR_GPU_SHAPES if args.device == "cuda" else LINEAR_CPU_SHAPES)
    if args.tag is not None and (not args.tag or "/" in args.tag or "\\" in args.tag):
        raise BenchArgumentError(f"--tag must be a plain file name stem, got {args.tag!r}")
    return parsed


def _cases(parsed: dict[str, Any]) -> list[tuple[str, str, tuple, str]]:
    # shape-major, backends interleaved: a time limit cuts whole shapes, not a backend
    return [(b, loss, s, d) for (s, d) in parsed["shapes"] for loss in parsed["losses"] for b in parsed["backends"]
            if (loss == LINEAR) == (len(s) == 3)]  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Run the benchmark described by ``args`` (see :func:`add_arguments`).

    Returns 0 when every cell was measured, 1 when a cell raised (each error is printed),
    2 for a bad argument (the reason is printed to standard error; nothing runs).
    """
    try:
        parsed = validate(args)
    except BenchArgumentError as exc:
        print(f"xbackend bench: error: {exc}", file=sys.stderr, flush=True)
        return 2
    if getattr(args, "recompile_jax", False):
        print(_recompile_markdown(_recompile_jax()))
        return 0
    if args.quick:
        args.repeats, args.warmup = min(args.repeats, QUICK_REPEATS), min(args.warmup, 1)
    limit = args.time_limit if args.time_limit is not None else (200.0 if args.device == "cuda" else None)
    if args.device == "cuda":  # several frameworks share the GPU (effective only before JAX starts)
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    passes, modes = parsed["passes"], parsed["modes"]
    cases = _cases(parsed)
    backends = sorted({c[0] for c in cases}, key=list(_BACKENDS).index)
    env = _environment(args.device, backends)
    env.update(repeats=args.repeats, warmup=args.warmup, passes=passes, modes=modes, time_limit_s=limit)
    out_dir = None if args.out is None else Path(args.out)
    if out_dir is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"xbackend bench: error: --out {args.out!r}: {exc.strerror or exc}", file=sys.stderr, flush=True)
            return 2
    stem = args.tag or f"bench-{args.device}-{_dt.date.today().isoformat()}"
    start = time.perf_counter()
    impls: dict[str, Any] = {}
    cells: list[Cell] = []
    progress = Progress(len(cases) * len(passes), enabled=not args.no_progress)  # off when stderr is no terminal
    try:
        for backend, loss, shape, dtype in cases:
            if limit is not None and time.perf_counter() - start > limit:
                for p in passes:
                    progress.start(f"{backend} {loss} skipped")
                    cells.append(Cell(backend, loss, shape, dtype, p, note="skipped: time limit"))
                continue
            try:
                key = backend + (":linear" if loss == LINEAR else "")
                if key not in impls:
                    impls[key] = _impl(backend, loss, args.device)
                impl = impls[key]
                x, y = impl.inputs(loss, shape, dtype)
            except Exception as exc:
                for p in passes:
                    progress.start(f"{backend} {loss} error")
                    cells.append(Cell(backend, loss, shape, dtype, p, note=f"error: {type(exc).__name__}: {exc}"))
                continue
            for p in passes:
                progress.start(f"{backend} {loss} {'x'.join(map(str, shape))} {dtype} {p}")
                cell = Cell(backend, loss, shape, dtype, p)
                try:
                    _measure(cell, impl, x, y, modes, args)
                except Exception as exc:
                    cell.note = f"error: {type(exc).__name__}: {str(exc)[:300]}"
                cells.append(cell)
            del x, y
            gc.collect()
            if backend == "torch" and args.device == "cuda":
                impl.torch.cuda.empty_cache()  # leave the memory to the next backend
            if out_dir is not None:
                _write(out_dir, stem, env, cells, time.perf_counter() - start)
    finally:
        progress.close()
    if "compiled" in modes:  # compilations over changing batch sizes (JSON: environment.recompiles)
        env["recompiles"] = _recompile_section(backends, args)
    env["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    elapsed = time.perf_counter() - start
    md = _markdown(env, cells, elapsed)
    print(md)
    if out_dir is not None:
        _write(out_dir, stem, env, cells, elapsed)
        print(f"wrote {out_dir / (stem + '.json')} and {out_dir / (stem + '.md')}")
    else:
        print("not saved: add --out DIR to write the JSON and Markdown results (e.g. --out benchmarks/results)")
    if args.quick:
        print(f"quick run: {elapsed:.0f} s. The full CPU run (default shapes, 9 repeats, eager and compiled, "
              f"torch + JAX + TensorFlow) took {FULL_CPU_RUN_S} s (about {round(FULL_CPU_RUN_S / 60)} min) on a "
              "2-core machine; expect longer with other jobs on the same cores.")
    errors = [c for c in cells if c.note.startswith("error")]
    for c in errors:
        print(f"xbackend bench: {_label(c)}: {c.note}", file=sys.stderr, flush=True)
    if errors:
        print(f"xbackend bench: {len(errors)} of {len(cells)} cells failed", file=sys.stderr, flush=True)
        return 1
    return 0


def _impl(backend: str, loss: str, device: str) -> Any:
    if loss != LINEAR:
        return _BACKENDS[backend](device)
    from xbackend._cli import _bench_linear

    cls = {"torch": _bench_linear.TorchLinear, "jax": _bench_linear.JaxLinear}.get(backend)
    if cls is None:
        raise NotImplementedError(f"--losses linear runs on torch and jax, not {backend}")
    return cls(device)


def _measure(cell: Cell, impl: Any, x: Any, y: Any, modes: list[str], args: argparse.Namespace) -> None:
    fns = impl.variants(cell.loss, cell.pass_, x, y, modes)
    fns["floor"] = impl.floor(cell.pass_, x)
    for f in fns.values():  # compile / first call outside the timed rounds
        f()
    times = _time_round_robin(fns, args.repeats, args.warmup)
    cell.floor_ms = statistics.median(times.pop("floor"))
    for name, ts in times.items():
        cell.times_ms[name] = statistics.median(ts)
        cell.spread[name] = [min(ts), max(ts)]
    if args.no_memory:
        return
    if isinstance(impl, _Torch):
        for name, f in fns.items():
            if name != "floor":
                cell.memory_x[name], cell.memory_how = impl.memory(f, x)
    elif isinstance(impl, _Jax) and "compiled" in modes:
        cell.memory_x = impl.memory_compiled(cell.loss, cell.pass_, x, y)
        cell.memory_how = "XLA temp buffers of the compiled function"


# ------------------------------------------------------------------ recompilation (JAX)


def _recompile_jax(sizes: tuple[int, ...] = tuple(range(8, 136, 8)), classes: int = 1000) -> list[dict]:
    """Compilations and total wall time of one loop over ``sizes`` (16 batch sizes) of
    ``sparse_softmax_cross_entropy`` (``reduction="mean"``, value and gradient), xbackend
    against optax in the same run: under the user's ``jax.jit`` and eagerly. Compilations
    are counted with ``jax.monitoring``'s backend-compile event."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    import xbackend as xb

    def xb_loss(x, y):
        return xb.sparse_softmax_cross_entropy(x, y, reduction="mean")

    def optax_loss(x, y):
        return optax.softmax_cross_entropy_with_integer_labels(x, y).mean()

    rng = np.random.default_rng(0)
    data = [(jnp.asarray(rng.normal(size=(n, classes)), jnp.float32), jnp.asarray(rng.integers(0, classes, n)))
            for n in sizes]  # fmt: skip
    rows = []
    for mode in ("jit", "eager"):
        for impl, f in (("xbackend", xb_loss), ("optax", optax_loss)):
            step = jax.value_and_grad(f)
            compiles, total = _jax_compile_loop(jax.jit(step) if mode == "jit" else step, data)
            rows.append({"mode": mode, "impl": impl, "sizes": len(sizes), "compiles": compiles, "total_s": total})
    return rows


def _recompile_markdown(rows: list[dict]) -> str:
    lines = ["| mode | implementation | batch sizes | compilations | total (s) |", "|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['impl']} | {r['sizes']} | {r['compiles']} | {r['total_s']:.2f} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- reports


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "–" if v is None else format(v, spec)


def _summary(cells: list[Cell]) -> list[str]:
    lines = []
    comp: list[float] = [r for c in cells if (r := c.ratio("xb_c", "native_c")) is not None]
    if comp:
        med, worst = statistics.median(comp), max(comp)
        lines.append(f"- compiled xbackend / native compiled: median {med:.2f} (target ≤ {TARGETS['compiled_median']}),"
                     f" worst {worst:.2f} (target ≤ {TARGETS['compiled_worst']})"
                     + _miss(med, TARGETS["compiled_median"]) + _miss(worst, TARGETS["compiled_worst"]))
    fb = [c for c in cells if c.pass_ == "fwd+bwd"]
    eager: list[tuple[Cell, float]] = [(c, r) for c in fb if (r := c.ratio("xb", "native")) is not None]
    if eager:
        lines.append(f"- eager fwd+bwd xbackend / native: {_median(eager)}, {_worst(eager, 'eager_fwdbwd_time')}")
    peaks = [(c, c.memory_x.get("xb"), c.memory_x.get("native")) for c in fb]
    mem: list[tuple[Cell, float]] = [(c, a / b) for c, a, b in peaks if a is not None and b]
    if mem:
        lines.append(f"- eager fwd+bwd peak memory xbackend / native: {_worst(mem, 'eager_fwdbwd_memory')}")
    for c in cells:  # the large-vocabulary cells: floor and chunked targets
        if c.loss != "sparse" or c.dtype not in ("bfloat16", "float16"):
            continue
        if c.floor_ms and c.times_ms.get("xb_c"):
            r = c.times_ms["xb_c"] / c.floor_ms
            lines.append(f"- {_label(c)}: compiled xbackend / memory floor {r:.2f} (target ≤ {TARGETS['compiled_vs_floor']}"
                         ", GPU)" + _miss(r, TARGETS["compiled_vs_floor"]))
        rc = c.ratio("xb", "native")
        if c.backend == "torch" and c.pass_ == "fwd+bwd" and rc is not None:
            peak = c.memory_x.get("xb")
            lines.append(f"- {_label(c)}: chunked eager (`chunk_size=\"auto\"`) time / native eager {rc:.2f}"
                         f" (target ≤ {TARGETS['chunked_time']})" + _miss(rc, TARGETS["chunked_time"])
                         + (f"; peak memory beyond the inputs {peak:.2f}× the logits (target ≤ "
                            f"{TARGETS['chunked_memory']})" + _miss(peak, TARGETS["chunked_memory"]) if peak is not None else ""))
    ce: list[tuple[Cell, float]] = [(c, r) for c in cells if (r := c.ratio("xb_c", "native")) is not None]
    if ce:
        lines.append(f"- compiled xbackend / native eager: {_median(ce)}, {_worst(ce, 'compiled_vs_native_eager')}")
    return lines


def _median(ratios: list[tuple[Cell, float]]) -> str:
    return f"median {statistics.median(r for _, r in ratios):.2f}"


def _worst(ratios: list[tuple[Cell, float]], target: str) -> str:
    """The largest ratio, its cell and ``TARGETS[target]`` (with the miss, if any)."""
    worst_c, worst = max(ratios, key=lambda t: t[1])
    return f"worst {worst:.2f} ({_label(worst_c)}; target ≤ {TARGETS[target]})" + _miss(worst, TARGETS[target])


def _miss(value: float, target: float) -> str:
    return "" if value <= target else f" — **missed by {value / target - 1:.1%}**"


def _label(c: Cell) -> str:
    return f"{c.backend} {c.loss} {'x'.join(map(str, c.shape))} {c.dtype} {c.pass_}"


def _markdown(env: dict, cells: list[Cell], elapsed: float) -> str:
    vers = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    head = [
        f"# xbackend bench — {env['device']} — {env['date']}",
        "",
        f"{vers}; xbackend {env['xbackend']}, numpy {env['numpy']}, Python {env['python']}. "
        f"Median of {env['repeats']} rounds after {env['warmup']} warm-up rounds, variants timed round robin "
        f"in one process. THP: `{env['transparent_hugepage']}`, THP_MEM_ALLOC_ENABLE="
        f"{env['THP_MEM_ALLOC_ENABLE']}; load average at start {env['loadavg_start']}, at end "
        f"{env.get('loadavg_end')}; {elapsed:.0f} s.",
        "",
        "Ratios are xbackend / native (< 1: xbackend faster). `c` = compiled. `mem` = peak memory beyond the "
        "inputs in units of the logits' size, xbackend / native (eager; JAX: compiled temp buffers). "
        "`floor` = time of the memory floor in the same run (read the logits; fwd+bwd: read + read-and-write) "
        "over xbackend's compiled time.",
        "",
        "| backend | loss | shape | dtype | pass | native ms | xb ms | **eager ratio** | native c ms | xb c ms "
        "| **c ratio** | xb c / native eager | xb nochunk ms | mem xb / native | floor |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = []
    for c in cells:
        shape = "×".join(map(str, c.shape))
        if c.note:
            rows.append(f"| {c.backend} | {c.loss} | {shape} | {c.dtype} | {c.pass_} | {c.note} |" + " |" * 10)
            continue
        t = c.times_ms
        mx = c.memory_x
        mem_pair = ("xb", "native") if "xb" in mx else ("xb_c", "native_c")
        mem = "–"
        if mx.get(mem_pair[0]) is not None and mx.get(mem_pair[1]) is not None:
            mem = f"{mx[mem_pair[0]]:.2f} / {mx[mem_pair[1]]:.2f}"
        floor = None if c.floor_ms is None or not t.get("xb_c") else c.floor_ms / t["xb_c"]
        rows.append(
            f"| {c.backend} | {c.loss} | {shape} | {c.dtype} | {c.pass_} | {_fmt(t.get('native'))} | "
            f"{_fmt(t.get('xb'))} | **{_fmt(c.ratio('xb', 'native'))}** | {_fmt(t.get('native_c'))} | "
            f"{_fmt(t.get('xb_c'))} | **{_fmt(c.ratio('xb_c', 'native_c'))}** | {_fmt(c.ratio('xb_c', 'native'))} | "
            f"{_fmt(t.get('xb_nochunk'))} | {mem} | {_fmt(floor)} |"
        )
    summary = _summary([c for c in cells if not c.note])
    return "\n".join(head + rows + ["", "## Targets", ""] + (summary or ["- no complete cell"])) + "\n"


def _write(out_dir: Path, stem: str, env: dict, cells: list[Cell], elapsed: float) -> None:
    data: dict[str, Any] = {
        "environment": env,
        "elapsed_s": elapsed,
        "targets": TARGETS,
        "cells": [],
    }
    for c in cells:
        d = asdict(c)
        d["pass"] = d.pop("pass_")
        d["shape"] = list(c.shape)
        data["cells"].append(d)
    (out_dir / f"{stem}.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
    (out_dir / f"{stem}.md").write_text(_markdown(env, cells, elapsed))

