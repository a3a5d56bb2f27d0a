"""Backends on this machine, for the ``xbackend`` command: detection, quiet imports,
array conversion and plain-text tables.

No framework is imported before it is asked for; an installed framework whose import
fails is reported as *broken* (with the error's last line), never as a traceback.
Framework log spam (TensorFlow/XLA C++ logs on file descriptor 2, Python warnings, absl)
is kept off the terminal and collected in :data:`CAPTURED`.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xbackend.testing._registry import BACKENDS, BY_NAME, GPU_OF, TestBackend

__all__ = [
    "CAPTURED",
    "FRAMEWORKS",
    "Target",
    "converter",
    "detect",
    "installed",
    "member",
    "parse_backends",
    "prepare_environment",
    "quiet",
    "render_table",
]

FRAMEWORKS: dict[str, tuple[str, str, str]] = {
    "numpy": ("numpy", "numpy", ""),
    "array_api_strict": ("array_api_strict", "array_api_strict", "test"),
    "torch": ("torch", "torch", "torch"),
    "jax": ("jax", "jax", "jax"),
    "tensorflow": ("tensorflow", "tensorflow", "tensorflow"),
    "dask": ("dask", "dask.array", "dask"),
    "cupy": ("cupy", "cupy", "cupy"),
}
#: frameworks with a GPU member / with only a GPU member, from the backend registry
HAS_GPU_MEMBER = set(GPU_OF)
GPU_ONLY = {b.framework for b in BACKENDS if b.gpu} - {b.framework for b in BACKENDS if not b.gpu}

#: framework log lines captured while importing / running (shown with --verbose)
CAPTURED: list[str] = []


def prepare_environment() -> None:
    """Quiet framework logging and pin numerics *before* any framework is imported.

    Only variables the user has not set are changed. JAX gets x64 (the report checks
    float64), TensorFlow and XLA keep their C++ logs to errors, GPUs are shared between
    frameworks (no preallocation, memory growth)."""
    for k, v in {
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_ENABLE_ONEDNN_OPTS": "0",  # deterministic float32 results, no oneDNN banner
        "GRPC_VERBOSITY": "ERROR",
        "GLOG_minloglevel": "2",
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
        "TF_FORCE_GPU_ALLOW_GROWTH": "true",
        "JAX_ENABLE_X64": "1",
        "KERAS_BACKEND": "tensorflow",
    }.items():
        os.environ.setdefault(k, v)
    for name in ("jax._src.xla_bridge", "absl", "tensorflow", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence Python warnings and anything written to file descriptor 2 (C++ logs).

    What was written is kept in :data:`CAPTURED`. Where descriptor 2 is not open only
    Python warnings are silenced."""
    fd: int | None = 2  # C++ logs go to the descriptor, whatever sys.stderr is
    try:
        os.fstat(2)
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        fd = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fd is None:
            yield
            return
        saved = os.dup(fd)
        with tempfile.TemporaryFile(mode="w+b") as tmp:
            os.dup2(tmp.fileno(), fd)
            try:
                yield
            finally:
                with contextlib.suppress(Exception):
                    sys.stderr.flush()
                os.dup2(saved, fd)
                os.close(saved)
                tmp.seek(0)
                text = tmp.read().decode("utf-8", "replace").strip()
                if text:
                    CAPTURED.append(text)


# --------------------------------------------------------------------------- detection
@dataclass
class Target:
    """One (framework, device) pair and whether it can run."""

    framework: str
    device: str  # "cpu" | "gpu"
    status: str  # "ok" | "missing" | "broken" | "no-device"
    detail: str = ""  # version, or why it cannot run
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.framework if self.device == "cpu" else f"{self.framework}:{self.device}"


def _short_error(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[-1] if msg else ''}"[:200]


def _import(framework: str) -> Any:
    prepare_environment()
    with quiet():
        mod = importlib.import_module(FRAMEWORKS[framework][1])
        if framework == "jax":
            import jax

            jax.config.update("jax_enable_x64", True)
        if framework == "tensorflow":
            try:
                import absl.logging

                absl.logging.set_verbosity(absl.logging.ERROR)
            except ImportError:
                pass
    return mod


def _version(framework: str) -> str:
    try:
        from importlib.metadata import version

        dist = {"tensorflow": "tensorflow", "array_api_strict": "array_api_strict"}.get(framework, framework)
        try:
            return version(dist)
        except Exception:
            if framework == "tensorflow":
                return version("tensorflow-cpu")
            raise
    except Exception:
        mod = sys.modules.get(FRAMEWORKS[framework][1])
        return str(getattr(mod, "__version__", "?"))


def _gpu_available(framework: str) -> tuple[bool, str]:
    """(visible, detail) from the backend registry's GPU probe; never raises."""
    try:
        with quiet():
            return BY_NAME[GPU_OF.get(framework, framework)].gpu_status()
    except Exception as exc:
        return False, _short_error(exc)


def parse_backends(spec: str | None) -> list[str] | None:
    """``"numpy,torch"`` -> ``["numpy", "torch"]``; unknown names raise ValueError."""
    if spec is None or not spec.strip():
        return None
    names = [s.strip() for s in spec.split(",") if s.strip()]
    names = [("array_api_strict" if n in ("strict", "array-api-strict") else n) for n in names]
    unknown = [n for n in names if n not in FRAMEWORKS]
    if unknown:
        raise ValueError(f"unknown backend(s) {', '.join(unknown)}; known: {', '.join(FRAMEWORKS)}")
    return names


def installed(backends: list[str] | None = None) -> list[str]:
    """The frameworks (of ``backends``) that are installed, without importing them."""
    out = []
    for fw, (spec_name, _, _) in FRAMEWORKS.items():
        if backends is not None and fw not in backends:
            continue
        try:
            if importlib.util.find_spec(spec_name) is not None:
                out.append(fw)
        except (ImportError, ValueError):
            pass
    return out


def detect(backends: list[str] | None = None, device: str = "all",
           on_import: Callable[[str], None] | None = None) -> list[Target]:
    """The (framework, device) targets of this machine, in display order.

    ``backends`` restricts the frameworks (None: all); ``device`` is ``"cpu"``, ``"gpu"``
    or ``"all"`` (CPU plus every visible GPU). Frameworks that are not installed come
    back with status ``"missing"``, ones whose import fails with ``"broken"``."""
    prepare_environment()
    out: list[Target] = []
    for fw, (spec_name, _, _) in FRAMEWORKS.items():
        if backends is not None and fw not in backends:
            continue
        try:
            installed = importlib.util.find_spec(spec_name) is not None
        except (ImportError, ValueError):
            installed = False
        if not installed:
            out.append(Target(fw, "cpu", "missing", f"{fw} is not installed"))
            continue
        if on_import is not None:
            on_import(fw)
        try:
            _import(fw)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            out.append(Target(fw, "cpu", "broken", f"import failed: {_short_error(exc)}"))
            continue
        ver = _version(fw)
        if fw not in GPU_ONLY and device in ("cpu", "all"):
            out.append(Target(fw, "cpu", "ok", ver))
        if fw in HAS_GPU_MEMBER and device in ("gpu", "all"):
            ok, detail = _gpu_available(fw)
            if ok:
                out.append(Target(fw, "gpu", "ok", f"{ver}, {detail}"))
            elif device == "gpu" or fw in GPU_ONLY:
                out.append(Target(fw, "gpu", "no-device", detail))
    return out


def member(target: Target) -> TestBackend:
    """``target``'s entry in the backend registry the test matrix uses (its capabilities)."""
    return BY_NAME[GPU_OF[target.framework] if target.device == "gpu" else target.framework]


def converter(target: Target, dtype: str | None = None) -> Callable[[np.ndarray], Any]:
    """NumPy array -> an array of ``target``'s framework on its device (float data in
    ``dtype`` when given), through the registry."""
    b = member(target)

    def conv(a: np.ndarray) -> Any:
        a = np.asarray(a)
        return b.asarray(a, dtype if (dtype is not None and a.dtype.kind == "f") else None)

    return conv


# --------------------------------------------------------------------------- tables
def render_table(headers: list[str], rows: list[list[str]], align: str = "left", gap: int = 2,
                 left: int = 1) -> str:
    """A plain-text table: the first ``left`` columns left-aligned, the others per ``align``."""
    cols = len(headers)
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(cols)]

    def line(cells: list[str]) -> str:
        parts = []
        for i, c in enumerate(cells):
            c = str(c)
            parts.append(c.ljust(widths[i]) if i < left or align == "left" else c.rjust(widths[i]))
        return (" " * gap).join(parts).rstrip()

    sep = (" " * gap).join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


