"""Dask: the losses build lazy graphs, chunked along the batch and/or the class axis, that
give the NumPy answer; they run on a real distributed scheduler.

Laziness is enforced, not assumed: every xbackend call here runs under
``dask.config.set(scheduler=refuse)``, a scheduler that raises, so any ``compute``,
``bool(array)``, ``float(array)`` or ``np.asarray(array)`` inside xbackend fails the test.
The graphs are then computed with the synchronous scheduler (or the cluster).

array-api-compat's Dask namespace has no ``take_along_axis``; the integer-label losses
gather the label's logit with a masked sum against ``arange(C)``, chunk by chunk.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import xbackend as xb
from tests.backends import require
from xbackend.testing import tolerance

da: Any = None  # dask.array, imported by the fixture below (skips or fails by tests/backends.py rules)


@pytest.fixture(autouse=True, scope="module")
def _dask():
    global da
    require("dask")
    import dask.array

    da = dask.array


def refuse(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("a Dask graph was computed inside xbackend")


@contextlib.contextmanager
def no_compute():
    import dask

    with dask.config.set(scheduler=refuse):
        yield


N, C = 12, 10
CHUNKS = {"batch": (4, C), "classes": (N, 4), "both": (5, 3), "single": (N, C)}


def data(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, N)
    y[3] = -100  # an ignored row
    return {
        "x": rng.normal(size=(N, C)) * 4,
        "y": y,
        "y_ok": rng.integers(0, C, N),
        "p": rng.dirichlet(np.ones(C), size=N),
        "z": rng.uniform(size=(N, C)),
        "w": rng.uniform(0.5, 2.0, N),
        "we": rng.uniform(0.5, 2.0, (N, C)),
        "cw": rng.uniform(0.5, 2.0, C),
        "mask": rng.uniform(size=(N, C)) > 0.2,
        "probs": rng.uniform(0.05, 0.95, (N, C)),
    }


def lazy(a: np.ndarray, chunks: tuple) -> Any:
    if a.ndim == 1:
        return da.from_array(a, chunks=chunks[0])
    return da.from_array(a, chunks=chunks)


# name -> (call(arrays dict) -> result, keys of the arrays it takes)
CASES: dict[str, Callable] = {
    "sparse/mean/ignore+cw+smoothing+where": lambda d: xb.sparse_softmax_cross_entropy(
        d["x"], d["y"], ignore_index=-100, class_weights=d["cw"], label_smoothing=0.1, where=d["mask"],
        z_loss=1e-3, reduction="mean"),
    "sparse/none/weights": lambda d: xb.sparse_softmax_cross_entropy(d["x"], d["y_ok"], weights=d["w"]),
    "sparse/sum/chunk_size=5": lambda d: xb.sparse_softmax_cross_entropy(d["x"], d["y_ok"], chunk_size=5, reduction="sum"),
    "soft/mean/cw+smoothing": lambda d: xb.softmax_cross_entropy(
        d["x"], d["p"], class_weights=d["cw"], label_smoothing=0.2, reduction="mean"),
    "soft/none/where": lambda d: xb.softmax_cross_entropy(d["x"], d["p"], where=d["mask"]),
    "soft/sum/chunk_size=5": lambda d: xb.softmax_cross_entropy(d["x"], d["p"], chunk_size=5, reduction="sum"),
    "sigmoid/sobs/pos_weight+where": lambda d: xb.sigmoid_cross_entropy(
        d["x"], d["z"], pos_weight=d["cw"], weights=d["we"], where=d["mask"], reduction="sum_over_batch_size"),
    "sigmoid/none": lambda d: xb.sigmoid_cross_entropy(d["x"], d["z"], label_smoothing=0.1),
    "sigmoid_focal/mean": lambda d: xb.sigmoid_focal_loss(d["x"], d["z"], alpha=0.25, reduction="mean"),
    "softmax_focal/mean/alpha": lambda d: xb.softmax_focal_loss(
        d["x"], d["y"], alpha=d["cw"], ignore_index=-100, reduction="mean"),
    "binary_ce/mean": lambda d: xb.binary_cross_entropy(d["probs"], d["z"], reduction="mean"),
    "categorical_ce/none": lambda d: xb.categorical_cross_entropy(d["probs"], d["p"]),
    "logsumexp/where": lambda d: xb.logsumexp(d["x"], where=d["mask"]),
    "log_softmax": lambda d: xb.log_softmax(d["x"]),
    "softmax": lambda d: xb.softmax(d["x"]),
}


@pytest.mark.parametrize("chunking", sorted(CHUNKS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_losses_on_dask_are_lazy_and_give_the_numpy_answer(case, chunking):
    d = data()
    lazy_d = {k: lazy(v, CHUNKS[chunking]) if k != "cw" else da.from_array(v, chunks=4) for k, v in d.items()}
    with no_compute():
        out = CASES[case](lazy_d)
    assert isinstance(out, da.Array), type(out)
    want = CASES[case](d)
    got = out.compute(scheduler="sync")
    assert got.shape == np.shape(want) and got.dtype == np.asarray(want).dtype
    np.testing.assert_allclose(got, want, rtol=tolerance("float64", 64), atol=tolerance("float64", 64))


def test_out_of_range_labels_on_dask_give_a_nan_row_lazily():
    d = data()
    y = d["y_ok"].copy()
    y[5] = C + 3
    with no_compute():
        out = xb.sparse_softmax_cross_entropy(lazy(d["x"], CHUNKS["both"]), lazy(y, CHUNKS["both"]))
    got = out.compute(scheduler="sync")
    assert np.isnan(got[5]) and np.isfinite(np.delete(got, 5)).all()


@pytest.mark.parametrize("fn", [xb.sparse_softmax_cross_entropy, xb.softmax_focal_loss])
def test_invalid_raise_on_dask_is_checked_when_computed_not_when_called(fn):
    d = data()
    y = d["y_ok"].copy()
    y[9] = -7
    with no_compute():
        out = fn(lazy(d["x"], CHUNKS["batch"]), lazy(y, CHUNKS["batch"]), invalid="raise", reduction="mean")
    with pytest.raises(ValueError, match=r"got -7 at position \(9,\)"):
        out.compute(scheduler="sync")
    with no_compute():  # good labels: the same lazy check passes at compute time
        ok = fn(lazy(d["x"], CHUNKS["batch"]), lazy(d["y_ok"], CHUNKS["batch"]), invalid="raise", reduction="mean")
    np.testing.assert_allclose(ok.compute(scheduler="sync"), fn(d["x"], d["y_ok"], reduction="mean"),
                               rtol=tolerance("float64", 16))


def test_class_axis_not_last_on_dask():
    d = data()
    xt = lazy(np.ascontiguousarray(d["x"].T), (3, 5))  # classes on axis 0, chunked
    yt = lazy(d["y_ok"], (5,))
    with no_compute():
        out = xb.sparse_softmax_cross_entropy(xt, yt, axis=0, reduction="sum")
    np.testing.assert_allclose(out.compute(scheduler="sync"),
                               xb.sparse_softmax_cross_entropy(d["x"], d["y_ok"], reduction="sum"),
                               rtol=tolerance("float64", 16))


def test_reduction_on_a_distributed_local_cluster():
    """A larger-than-chunk array (8 chunks of 4,000 rows) reduced on a real distributed
    scheduler: 2 worker processes on the loopback interface, bounded in time."""
    require("dask")
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")
    rows, classes, chunk = 32_000, 64, 4_000
    rng = da.random.default_rng(7)
    x = rng.standard_normal((rows, classes), chunks=(chunk, classes))
    y = rng.integers(0, classes, size=rows, chunks=chunk)
    with no_compute():
        loss = xb.sparse_softmax_cross_entropy(x, y, reduction="mean")
        bad = xb.sparse_softmax_cross_entropy(x, y + classes, invalid="raise", reduction="mean")
    x_np, y_np = x.compute(scheduler="sync"), y.compute(scheduler="sync")
    want = xb.sparse_softmax_cross_entropy(x_np, y_np, reduction="mean")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, silence_logs=logging.ERROR,
    ) as cluster, distributed.Client(cluster, timeout=60) as client:
        addresses = set(client.scheduler_info()["workers"])
        with distributed.get_task_stream(client) as ts:
            got = client.compute(loss).result(timeout=120)
        with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 64\)"):
            client.compute(bad).result(timeout=120)
    workers = {t["worker"] for t in ts.data}
    assert len(addresses) == 2 and all(a.startswith("tcp://127.0.0.1:") for a in addresses), addresses
    assert workers and workers <= addresses, (workers, addresses)  # the tasks ran in the worker processes
    assert len(ts.data) >= rows // chunk  # at least one task per chunk
    np.testing.assert_allclose(got, want, rtol=tolerance("float64", 64))


# ------------------------------------------------------------------ the README example

#: The README's example, verbatim (README.md, section "Bigger than memory: Dask"; text also in the issue-7 notes).
README_DASK = '''\
import dask.array as da
import xbackend as xb

# 50,000 rows × 1,000 classes of float32 logits (200 MB), generated lazily in 5,000-row
# chunks. Nothing is computed until .compute(), and then each worker thread holds only the
# chunks it is working on: with n = 50_000_000 (200 GB) the same code runs in the same memory.
n, c = 50_000, 1_000
logits = da.random.default_rng(0).standard_normal((n, c), chunks=(5_000, c), dtype="float32")
labels = da.random.default_rng(1).integers(0, c, size=n, chunks=5_000)

loss = xb.sparse_softmax_cross_entropy(logits, labels, reduction="mean")  # a lazy 0-d dask array
print(round(float(loss.compute()), 2))  # 7.41: about log(1000) + 1/2 for standard-normal logits
'''


def _readme_text() -> str:
    import pathlib

    return (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_readme_dask_example_is_the_one_tested_here():
    text = _readme_text()
    if "## Bigger than memory: Dask" not in text:
        pytest.skip("README.md has no 'Bigger than memory: Dask' section yet (the lead adds it from the issue-7 notes)")
    assert README_DASK in text, "the README's dask example differs from README_DASK: update one of them"


def test_readme_dask_example_runs_as_written():
    """A fresh interpreter runs the snippet unchanged and prints what its comment says."""
    require("dask")
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_ENABLE_X64", "JAX_PLATFORMS")}
    proc = subprocess.run([sys.executable, "-c", README_DASK], env=env, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    promised = README_DASK.rstrip().splitlines()[-1].split("#")[1].split(":")[0].strip()
    assert proc.stdout.strip() == promised, (proc.stdout, promised)
