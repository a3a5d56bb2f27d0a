"""Concurrency: many threads calling the losses at once get exactly the single-threaded
results, and the namespace cache (``xbackend._backends._by_type``) is safe under
first-use races.

16 threads × 50 calls each start together (a barrier) on shared inputs; every result
must be bit-for-bit the result computed beforehand in the main thread (same inputs, same
code, same library: no tolerance is needed, and none is used).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

import xbackend as xb
from tests.backends import BY_NAME, Backend, skip_reason
from xbackend import _backends as _namespace

THREADS, CALLS = 16, 50


def _backend(name: str) -> Backend:
    reason = skip_reason(BY_NAME[name])
    if reason is not None:
        pytest.skip(reason)
    return BY_NAME[name]


def _inputs(b: Backend) -> dict[str, Any]:
    rng = np.random.default_rng(3)
    n, c = 32, 17
    return {
        "x": b.asarray(rng.normal(size=(n, c)) * 3, "float32"),
        "y": b.asarray(np.where(rng.uniform(size=n) < 0.1, -100, rng.integers(0, c, n)), "int64"),
        "p": b.asarray(rng.dirichlet(np.ones(c), size=n), "float32"),
        "z": b.asarray(rng.uniform(size=(n, c)), "float32"),
        "cw": b.asarray(rng.uniform(0.5, 2.0, c), "float32"),
        "m": b.asarray(rng.uniform(size=(n, c)) > 0.1),
    }


CALLS_BY_NAME: dict[str, Callable[[dict], Any]] = {
    "sparse": lambda d: xb.sparse_softmax_cross_entropy(
        d["x"], d["y"], ignore_index=-100, class_weights=d["cw"], label_smoothing=0.1, where=d["m"], reduction="mean"),
    "soft": lambda d: xb.softmax_cross_entropy(d["x"], d["p"], class_weights=d["cw"], reduction="none"),
    "sigmoid": lambda d: xb.sigmoid_cross_entropy(d["x"], d["z"], pos_weight=d["cw"], where=d["m"], reduction="sum"),
    "focal": lambda d: xb.softmax_focal_loss(d["x"], d["y"], ignore_index=-100, reduction="mean"),
    "log_softmax": lambda d: xb.log_softmax(d["x"], where=d["m"]),
}


def _value_and_grad(b: Backend, name: str, d: dict) -> tuple[np.ndarray, np.ndarray | None]:
    if b.framework != "torch":
        return b.to_numpy(CALLS_BY_NAME[name](d)), None
    import torch

    x = d["x"].detach().clone().requires_grad_(True)
    out = CALLS_BY_NAME[name]({**d, "x": x})
    (g,) = torch.autograd.grad(out.sum(), x)
    return b.to_numpy(out), b.to_numpy(g)


def _hammer(work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` for i in range(THREADS·CALLS) on THREADS threads that start together."""
    barrier = threading.Barrier(THREADS)

    def worker(t: int) -> list[Any]:
        barrier.wait()
        return [work(t * CALLS + k) for k in range(CALLS)]

    with ThreadPoolExecutor(THREADS) as pool:
        return [r for rs in pool.map(worker, range(THREADS)) for r in rs]


@pytest.mark.parametrize("bname", ["numpy", "torch"])
def test_concurrent_calls_give_the_single_threaded_results_bit_for_bit(bname):
    b = _backend(bname)
    d = _inputs(b)
    names = sorted(CALLS_BY_NAME)
    expected = {n: _value_and_grad(b, n, d) for n in names}
    results = _hammer(lambda i: (names[i % len(names)], _value_and_grad(b, names[i % len(names)], d)))
    assert len(results) == THREADS * CALLS
    for name, (value, grad) in results:
        np.testing.assert_array_equal(value, expected[name][0], err_msg=name)
        if grad is not None:
            np.testing.assert_array_equal(grad, expected[name][1], err_msg=name)


def _arrays_of_every_type() -> list[tuple[Any, Any]]:
    """(array, expected namespace) for the CPU frameworks that are installed."""
    import array_api_compat

    out = []
    for name in ("numpy", "array_api_strict", "torch", "jax", "dask"):
        b = BY_NAME[name]
        if skip_reason(b) is not None:
            continue
        a = b.asarray(np.zeros(3), "float32")
        out.append((a, array_api_compat.array_namespace(a)))
    return out


def test_namespace_cache_is_safe_under_first_use_races():
    """Clear the cache, then let 16 threads look up every array type at the same moment,
    20 rounds: every lookup returns the right namespace and the cache ends consistent."""
    cases = _arrays_of_every_type()
    if not cases:
        pytest.skip("no CPU backend selected by XBACKEND_TEST_BACKENDS")
    saved = dict(_namespace._by_type)
    try:
        for _ in range(20):
            _namespace._by_type.clear()
            barrier = threading.Barrier(THREADS)

            def look(t: int, barrier: threading.Barrier = barrier) -> list[bool]:
                barrier.wait()
                order = cases[t % len(cases):] + cases[: t % len(cases)]
                return [xb.array_namespace(a) is ns for a, ns in order]

            with ThreadPoolExecutor(THREADS) as pool:
                oks = [ok for r in pool.map(look, range(THREADS)) for ok in r]
            assert all(oks) and len(oks) == THREADS * len(cases)
            # (the cache is keyed by id(type): Dynamo cannot guard a dict keyed by torch.Tensor)
            assert {type(a): ns for a, ns in cases} == {t: _namespace._by_type[id(t)] for t in (type(a) for a, _ in cases)}
    finally:
        _namespace._by_type.clear()
        _namespace._by_type.update(saved)


def test_losses_race_on_a_cold_namespace_cache():
    """The first calls of a process, all at once: clear the cache and run losses on
    NumPy from 16 threads; every thread gets the right value."""
    b = _backend("numpy")
    d = _inputs(b)
    expected = b.to_numpy(CALLS_BY_NAME["sparse"](d))
    saved = dict(_namespace._by_type)
    try:
        _namespace._by_type.clear()
        results = _hammer(lambda i: b.to_numpy(CALLS_BY_NAME["sparse"](d)))
    finally:
        _namespace._by_type.update(saved)
    for r in results:
        np.testing.assert_array_equal(r, expected)
