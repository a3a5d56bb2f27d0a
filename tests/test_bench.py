"""Smoke test of ``xbackend bench`` on a tiny case: the JSON and Markdown it writes.

Not a timing assertion -- tiny arrays measure Python overhead, not the losses. JAX runs
both modes (``jax.jit`` compiles in a fraction of a second); torch runs eager only
(Inductor would take longer than this whole file should).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pytest

from tests.backends import require
from xbackend import _cli
from xbackend._cli import _bench


def _run(tmp_path, *argv: str) -> tuple[dict, str]:
    parser = argparse.ArgumentParser()
    _bench.add_arguments(parser)
    args = parser.parse_args(["--quick", "--no-progress", "--out", str(tmp_path), "--tag", "smoke", *argv])
    assert _bench.run(args) == 0  # the quick run is eager-only unless --modes says otherwise
    data = json.loads((tmp_path / "smoke.json").read_text())
    md = (tmp_path / "smoke.md").read_text()
    return data, md


def test_bench_writes_json_and_markdown_with_ratios_for_every_cell(tmp_path, capsys):
    require("jax")
    data, md = _run(tmp_path, "--backends", "jax", "--losses", "sparse,sigmoid", "--shapes", "16x32:float32",
                    "--modes", "eager,compiled")
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
        assert c["memory_how"] == "XLA temp buffers of the compiled function"
    assert set(data["targets"]) == set(_bench.TARGETS)
    # Markdown: header, one row per cell, the targets section; stdout gets the same table
    assert md.startswith("# xbackend bench")
    rows = [line for line in md.splitlines() if line.startswith("| jax |")]
    assert len(rows) == len(cells)
    assert "## Targets\n" in md and "compiled xbackend / native compiled: median" in md
    assert "issue" not in md.lower()  # no internal references in what users read
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


class _NumpyBackend:
    """A stand-in backend (NumPy, no framework) so that the command's plumbing is tested fast."""

    name = "jax"
    fail_in: str | None = None  # "init", "variants" or None

    def __init__(self, device: str) -> None:
        if self.fail_in == "init":
            raise ImportError("no module named 'jax' (simulated)")

    def inputs(self, loss, shape, dtype, seed=0):
        rng = np.random.default_rng(seed)
        return rng.standard_normal(shape).astype(dtype), rng.integers(0, shape[-1], shape[:-1])

    def variants(self, loss, pass_, x, y, modes):
        if self.fail_in == "variants":
            raise RuntimeError(f"simulated failure in {loss} {pass_}")
        return {"native": lambda: x.sum(), "xb": lambda: x.sum()}

    def floor(self, pass_, x):
        return lambda: x.sum()


def _main(capsys, *argv: str) -> tuple[int, str, str]:
    rc = _cli.main(["bench", "--no-progress", *argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--backends", "numpy"], "--backends: unknown value 'numpy' (choose from torch, jax, tensorflow)"),
        (["--losses", "foo"], "--losses: unknown value 'foo' (choose from sparse, softmax, sigmoid, linear)"),
        (["--repeats", "0"], "--repeats must be >= 1, got 0"),
        (["--quick", "--repeats", "0"], "--repeats must be >= 1, got 0"),
        (["--warmup", "-1"], "--warmup must be >= 0, got -1"),
        (["--passes", "bwd"], "--passes: unknown value 'bwd'"),
        (["--modes", "jit"], "--modes: unknown value 'jit'"),
        (["--backends", ","], "--backends is empty"),
        (["--shapes", "64:float32"], "--shapes: 64 needs at least two positive sizes"),
        (["--shapes", "64xabc"], "--shapes: cannot read '64xabc'"),
        (["--shapes", "64x128:int8"], "--shapes: unknown dtype 'int8'"),
        (["--time-limit", "0"], "--time-limit must be > 0 seconds, got 0.0"),
        (["--tag", "a/b"], "--tag must be a plain file name stem"),
    ],
)
def test_bad_bench_arguments_print_the_reason_and_exit_2_before_running_anything(capsys, tmp_path, monkeypatch,
                                                                                  argv, reason):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_bench, "_environment", _fail_if_called)  # nothing is imported or measured
    rc, out, err = _main(capsys, "--out", "res", *argv)
    assert rc == 2
    assert err.startswith("xbackend bench: error: ") and reason in err, err
    assert out == ""
    assert not (tmp_path / "res").exists()


def _fail_if_called(*args, **kwargs):
    raise AssertionError("the benchmark started despite a bad argument")


def test_an_unknown_bench_option_is_argparse_usage_with_exit_2(capsys):
    rc, _out, err = _main(capsys, "--repeat", "x")
    assert rc == 2 and "usage: xbackend bench" in err and "--repeat" in err


def test_without_out_nothing_is_written_and_a_line_says_how_to_save(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(_bench._BACKENDS, "jax", _NumpyBackend)
    rc, out, err = _main(capsys, "--backends", "jax", "--losses", "sparse", "--shapes", "8x16", "--repeats", "1")
    assert rc == 0, err
    assert list(tmp_path.iterdir()) == []  # no ./benchmarks/results, nothing at all
    assert "| jax | sparse | 8×16 | float32 | fwd |" in out
    assert "not saved: add --out DIR to write the JSON and Markdown results" in out
    assert "wrote " not in out


def test_with_out_the_results_go_exactly_there(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(_bench._BACKENDS, "jax", _NumpyBackend)
    target = tmp_path / "deep" / "er"
    rc, out, err = _main(capsys, "--backends", "jax", "--losses", "sparse", "--shapes", "8x16", "--repeats", "1",
                         "--out", str(target), "--tag", "t")  # fmt: skip
    assert rc == 0, err
    assert sorted(p.name for p in target.iterdir()) == ["t.json", "t.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep"]
    assert f"wrote {target / 't.json'} and {target / 't.md'}" in out


@pytest.mark.parametrize("fail_in", ["init", "variants"])
def test_errored_cells_print_their_error_and_exit_1(capsys, tmp_path, monkeypatch, fail_in):
    backend = type("Failing", (_NumpyBackend,), {"fail_in": fail_in})
    monkeypatch.setitem(_bench._BACKENDS, "jax", backend)
    rc, _out, err = _main(capsys, "--backends", "jax", "--losses", "sparse,sigmoid", "--shapes", "8x16",
                         "--repeats", "1", "--out", str(tmp_path), "--tag", "e")  # fmt: skip
    assert rc == 1
    want = "ImportError: no module named 'jax' (simulated)" if fail_in == "init" else "RuntimeError: simulated failure"
    errors = [line for line in err.splitlines() if want in line]
    assert len(errors) == 4, err  # 2 losses x 2 passes, each named
    assert any(line.startswith("xbackend bench: jax sparse 8x16 float32 fwd: error: ") for line in errors)
    assert "xbackend bench: 4 of 4 cells failed" in err
    cells = json.loads((tmp_path / "e.json").read_text())["cells"]
    assert all(c["note"].startswith("error: ") for c in cells)


def test_one_errored_cell_among_good_ones_still_exits_1(capsys, monkeypatch):
    class HalfFailing(_NumpyBackend):
        def variants(self, loss, pass_, x, y, modes):
            if loss == "sigmoid" and pass_ == "fwd+bwd":
                raise RuntimeError("only this cell")
            return super().variants(loss, pass_, x, y, modes)

    monkeypatch.setitem(_bench._BACKENDS, "jax", HalfFailing)
    rc, _out, err = _main(capsys, "--backends", "jax", "--losses", "sparse,sigmoid", "--shapes", "8x16", "--repeats", "1")
    assert rc == 1
    assert "xbackend bench: jax sigmoid 8x16 float32 fwd+bwd: error: RuntimeError: only this cell" in err
    assert "xbackend bench: 1 of 4 cells failed" in err


def test_quick_run_says_how_long_the_full_run_takes(capsys, monkeypatch):
    monkeypatch.setitem(_bench._BACKENDS, "jax", _NumpyBackend)
    rc, out, err = _main(capsys, "--quick", "--backends", "jax")
    assert rc == 0, err
    assert "| jax | sparse | 64×128 | float32 | fwd |" in out
    assert re.search(r"^quick run: \d+ s\. The full CPU run .* took 409 s \(about 7 min\)", out, re.M), out


def test_bench_output_names_no_internal_references(tmp_path):
    src = Path(_bench.__file__).resolve().parents[1]
    hits = [f"{p.relative_to(src)}:{n}" for p in sorted(src.rglob("*.py"))
            for n, line in enumerate(p.read_text().splitlines(), 1)
            if re.search(r"\bissues?\s*#?\d", line, re.I)]  # fmt: skip
    assert hits == []


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
