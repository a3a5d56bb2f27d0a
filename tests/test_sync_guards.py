"""The default path never synchronises the device with the host.

* torch on CUDA: every loss, forward and backward, under
  ``torch.cuda.set_sync_debug_mode("error")`` (any ``.item()``, ``bool(tensor)``,
  ``nonzero`` or host copy raises).
* JAX: every loss, forward and gradient, compiled under ``jax.transfer_guard("disallow")``
  (no host value enters or leaves the computation; this runs on CPU too), and on GPU
  the eager path under ``jax.transfer_guard_device_to_host("disallow")`` (on CPU the
  device *is* the host, so that guard has nothing to catch there).

Only ``invalid="raise"`` may synchronise (it reads label values by request); it is not
in these cases.
"""

from __future__ import annotations

import pytest

from tests.backends import BY_NAME, require, skip_reason
from tests.loss_cases import CASES, data

NAMES = sorted(CASES)


def _backend_args(backend, with_grad: bool = False):
    x, y, p, m, w, cv = data()
    args = [
        backend.asarray(x, "float32"),
        backend.asarray(y, "int32"),
        backend.asarray(p, "float32"),
        backend.asarray(m),
        backend.asarray(w, "float32"),
        backend.asarray(cv, "float32"),
    ]
    return args


def _skip_unless(name: str):
    reason = skip_reason(BY_NAME[name])
    if reason is not None:
        pytest.skip(reason)
    return BY_NAME[name]


@pytest.mark.parametrize("case", NAMES)
def test_torch_cuda_no_sync(case):
    backend = _skip_unless("torch:gpu")
    torch = require("torch")
    args = _backend_args(backend)
    args[0].requires_grad_(True)
    CASES[case](*args)  # warm-up: first calls may initialise cuBLAS/handles
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = CASES[case](*args)
        (g,) = torch.autograd.grad(out.sum(), args[0])
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert g.device.type == "cuda" and out.device.type == "cuda"


@pytest.mark.parametrize("name", ["jax", "jax:gpu"])
@pytest.mark.parametrize("case", NAMES)
def test_jax_compiled_no_transfers(case, name):
    backend = _skip_unless(name)
    jax = require("jax")
    args = _backend_args(backend)
    fn = CASES[case]
    fwd = jax.jit(fn)
    grad = jax.jit(jax.grad(lambda x, *rest: fn(x, *rest).sum()))
    fwd(*args), grad(*args)  # compile outside the guard
    with jax.transfer_guard("disallow"):
        out = fwd(*args)
        g = grad(*args)
    assert g.shape == args[0].shape and out.dtype == args[0].dtype


@pytest.mark.parametrize("case", NAMES)
def test_jax_gpu_eager_no_device_to_host(case):
    backend = _skip_unless("jax:gpu")
    jax = require("jax")
    args = _backend_args(backend)
    CASES[case](*args)
    with jax.transfer_guard_device_to_host("disallow"):
        out = CASES[case](*args)
        jax.grad(lambda x: CASES[case](x, *args[1:]).sum())(args[0])
    assert "gpu" in str(next(iter(out.devices()))).lower() or "cuda" in str(next(iter(out.devices()))).lower()
