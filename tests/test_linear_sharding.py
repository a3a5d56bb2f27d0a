"""``linear_cross_entropy`` with a vocabulary-sharded weight (JAX, 8 virtual CPU devices).

A subprocess (``XLA_FLAGS=--xla_force_host_platform_device_count=8``, set before JAX
starts) builds a ``2 x 4`` mesh ``("data", "model")``: ``hidden`` sharded over the batch
(``P("data", None)``), ``weight`` over the vocabulary (``P("model", None)``, the layout of
a vocabulary-parallel LM head), and runs ``jax.jit(jax.value_and_grad(...))``. Checked:
the value and both gradients equal the float64 closed form; the compiled program has
**no all-gather**, and no collective carries a full-vocabulary axis (the collectives are
the per-row max/sum, the partial ``G W`` of each vocabulary shard -- ``(rows, D)`` -- and
the data-parallel sum of the weight gradient's own shard); the weight gradient keeps
the weight's sharding. With ``chunk_size="auto"`` at this size the vocabulary is never
split into blocks, so each device computes its ``(N/2, V/4)`` logits shard, no more.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from tests.backends import require

SCRIPT = textwrap.dedent(
    r'''
    import json, math, re
    import numpy as np, jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import xbackend as xb

    mesh = Mesh(np.array(jax.devices()).reshape(2, 4), ("data", "model"))
    N, D, V = 16, 32, 4096
    rng = np.random.default_rng(0)
    h_np = rng.normal(size=(N, D)).astype(np.float32)
    W_np = (rng.normal(size=(V, D)) / 4).astype(np.float32)
    y_np = rng.integers(0, V, N)
    h = jax.device_put(h_np, NamedSharding(mesh, P("data", None)))
    W = jax.device_put(W_np, NamedSharding(mesh, P("model", None)))
    y = jax.device_put(y_np, NamedSharding(mesh, P("data")))

    def loss(h, W, y):
        return xb.linear_cross_entropy(h, W, y, reduction="mean")

    f = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    compiled = f.lower(h, W, y).compile()
    val, (gh, gW) = f(h, W, y)
    coll = []
    for line in compiled.as_text().splitlines():
        for op in ("all-gather", "all-reduce", "all-to-all", "collective-permute", "reduce-scatter"):
            m = re.search(r"= (.*?) %s(?:-start)?\(" % op, line)
            if m:
                dims = [[int(d) for d in s.split(",") if d] for s in re.findall(r"\[([\d,]*)\]", m.group(1))]
                coll.append([op, dims])
    print(json.dumps({
        "N": N, "D": D, "V": V, "value": float(val), "gh": np.asarray(gh).tolist(), "gW": np.asarray(gW).tolist(),
        "h": h_np.tolist(), "W": W_np.tolist(), "y": y_np.tolist(), "collectives": coll,
        "gW_spec": str(gW.sharding.spec), "W_spec": str(W.sharding.spec),
    }))
    '''
)


def test_vocab_sharded_weight_no_all_gather():
    require("jax")
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    h, W, y = (np.asarray(r[k], np.float64) for k in ("h", "W", "y"))
    N, V = r["N"], r["V"]
    z = h @ W.T
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    rows = np.arange(N)
    y = y.astype(int)
    want = np.mean(-np.log(p[rows, y]))
    G = p.copy()
    G[rows, y] -= 1.0
    G /= N
    np.testing.assert_allclose(r["value"], want, rtol=1e-5)
    np.testing.assert_allclose(r["gh"], G @ W, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(r["gW"], G.T @ h, rtol=1e-4, atol=1e-6)
    ops = [op for op, _ in r["collectives"]]
    assert "all-gather" not in ops, r["collectives"]
    assert ops, "expected the row-wise all-reduces of a vocabulary-parallel softmax"
    for op, shapes in r["collectives"]:
        assert all(V not in dims for dims in shapes), (op, shapes)  # no full-vocabulary axis moves
    assert r["W_spec"].startswith("P('model'") and r["gW_spec"].startswith("P('model'"), (r["W_spec"], r["gW_spec"])
