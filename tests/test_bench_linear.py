"""Smoke test of ``xbackend bench --losses linear`` on a tiny ``NxDxV`` shape: cells for
torch (eager) and JAX (eager and compiled), with times and memory (not a timing test)."""

from __future__ import annotations

import argparse
import json

from tests.backends import require
from xbackend._cli import _bench


def _run(tmp_path, *argv: str) -> dict:
    parser = argparse.ArgumentParser()
    _bench.add_arguments(parser)
    args = parser.parse_args(["--quick", "--no-progress", "--out", str(tmp_path), "--tag", "smoke", *argv])
    assert _bench.run(args) == 0
    return json.loads((tmp_path / "smoke.json").read_text())


def test_bench_linear_cells_torch_eager_and_jax(tmp_path):
    require("torch")
    require("jax")
    data = _run(tmp_path, "--backends", "torch,jax", "--losses", "linear,sparse", "--modes", "eager",
                "--shapes", "32x8x64:float32,16x32:float32")  # fmt: skip
    cells = {(c["backend"], c["loss"], c["pass"]): c for c in data["cells"]}
    assert set(cells) == {(b, l, p) for b in ("torch", "jax") for l in ("linear", "sparse") for p in ("fwd", "fwd+bwd")}
    for (_b, loss, _), c in cells.items():
        assert c["note"] == "", c["note"]
        assert c["shape"] == ([32, 8, 64] if loss == "linear" else [16, 32])
        assert {"native", "xb"} <= set(c["times_ms"]) and all(t > 0 for t in c["times_ms"].values())
    torch_lin = cells[("torch", "linear", "fwd+bwd")]
    assert "minus the gradients" in torch_lin["memory_how"]
    assert torch_lin["memory_x"]["native"] > 0


def test_bench_linear_jax_compiled_memory_is_over_the_logits(tmp_path):
    require("jax")
    data = _run(tmp_path, "--backends", "jax", "--losses", "linear", "--modes", "compiled", "--passes", "fwd+bwd",
                "--shapes", "32x8x64:float32")  # fmt: skip
    (c,) = data["cells"]
    assert c["note"] == "" and set(c["memory_x"]) == {"native_c", "xb_c"}
    assert c["memory_x"]["native_c"] >= 1.0  # the naive program holds the (N, V) logits
