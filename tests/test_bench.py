"""Smoke test of ``xbackend bench`` on a tiny case: the JSON and Markdown it writes.

Not a timing assertion -- tiny arrays measure Python overhead, not the losses. JAX runs
both modes (``jax.jit`` compiles in a fraction of a second); torch runs eager only
(Inductor would take longer than this whole file should).
"""

from __future__ import annotations

import argparse
import json

import pytest

from tests.backends import require
from xbackend._cli import _bench


def _run(tmp_path, *argv: str) -> tuple[dict, str]:
    parser = argparse.ArgumentParser()
    _bench.add_arguments(parser)
    args = parser.parse_args(["--quick", "--no-progress", "--out", str(tmp_path), "--tag", "smoke", *argv])
    assert _bench.run(args) == 0
    data = json.loads((tmp_path / "smoke.json").read_text())
    md = (tmp_path / "smoke.md").read_text()
    return data, md


def test_bench_writes_json_and_markdown_with_ratios_for_every_cell(tmp_path, capsys):
    require("jax")
    data, md = _run(tmp_path, "--backends", "jax", "--losses", "sparse,sigmoid", "--shapes", "16x32:float32")
    env = data["environment"]
    for key in ("date", "device", "versions", "transparent_hugepage", "THP_MEM_ALLOC_ENABLE", "loadavg_start",
                "loadavg_end", "repeats", "warmup"):  # fmt: skip
        assert key in env, key
    assert "jax" in env["versions"] and "optax" in env["versions"]
    cells = data["cells"]
    assert {(c["loss"], c["pass"]) for c in cells} == {(l, p) for l in ("sparse", "sigmoid") for p in ("fwd", "fwd+bwd")}
    for c in cells:
        assert c["note"] == "", c["note"]
        assert c["shape"] == [16, 32] and c["dtype"] == "float32" and c["backend"] == "jax"
        assert set(c["times_ms"]) == {"native", "xb", "native_c", "xb_c"}
        assert all(t > 0 for t in c["times_ms"].values())
        assert c["floor_ms"] > 0
        assert set(c["memory_x"]) == {"native_c", "xb_c"}  # XLA's temp buffers of the compiled programs
    assert set(data["targets"]) == set(_bench.TARGETS)
    # Markdown: header, one row per cell, the targets section; stdout gets the same table
    assert md.startswith("# xbackend bench")
    rows = [line for line in md.splitlines() if line.startswith("| jax |")]
    assert len(rows) == len(cells)
    assert "## Targets (issue 4)" in md and "compiled xbackend / native compiled: median" in md
    assert "| backend | loss | shape |" in capsys.readouterr().out


def test_bench_torch_eager_records_cpu_peak_memory_and_the_unchunked_variant(tmp_path):
    require("torch")
    data, md = _run(tmp_path, "--backends", "torch", "--losses", "softmax", "--modes", "eager",
                    "--passes", "fwd+bwd", "--shapes", "8x16:bfloat16")  # fmt: skip
    (cell,) = data["cells"]
    assert cell["note"] == ""
    assert set(cell["times_ms"]) == {"native", "xb", "xb_nochunk"}
    assert cell["memory_how"].startswith("torch profiler")
    assert cell["memory_x"]["native"] > 0 and cell["memory_x"]["xb"] > 0
    assert "| torch | softmax | 8×16 | bfloat16 | fwd+bwd |" in md


def test_bench_rejects_unknown_backends_and_losses(tmp_path):
    parser = argparse.ArgumentParser()
    _bench.add_arguments(parser)
    for argv in (["--backends", "mxnet"], ["--losses", "hinge"]):
        args = parser.parse_args(["--quick", "--no-progress", "--out", str(tmp_path), *argv])
        with pytest.raises(SystemExit, match="unknown"):
            _bench.run(args)


def test_recompile_jax_counts_compilations_of_xbackend_and_optax_in_one_run():
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    from xbackend._cli import _bench

    rows = _bench._recompile_jax(sizes=(4, 8, 12), classes=8)
    by = {(r["mode"], r["impl"]): r for r in rows}
    assert set(by) == {(m, i) for m in ("jit", "eager") for i in ("xbackend", "optax")}
    # under the user's jax.jit each new batch size is one compile, for both
    assert by["jit", "xbackend"]["compiles"] == by["jit", "optax"]["compiles"] == 3
    assert all(r["total_s"] > 0 for r in rows)
    assert "| jit | xbackend | 3 | 3 |" in _bench._recompile_markdown(rows)
