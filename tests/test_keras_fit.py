"""xbackend.keras loss classes in ``model.compile(loss=...)`` and ``model.fit`` on the
TensorFlow, JAX and torch Keras backends.

Keras picks its backend at import time (``KERAS_BACKEND``), so each Keras backend runs
in its own subprocess; the three subprocesses start together (module fixture) and each
test waits for its own. In each subprocess, for every loss class: a linear model is
fitted for a few full-batch SGD steps on tiny data; the test asserts that the loss is
finite and decreases at every step, that ``model.evaluate`` equals the xbackend loss
computed with NumPy in float64 on the model's logits, and that it equals Keras' own
loss (``from_logits=True``) on the same logits.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tests.backends import BY_NAME, skip_reason
from tests.keras_support import process_result
from xbackend.testing import tolerance

KERAS_BACKENDS = ("tensorflow", "jax", "torch")
STEPS = 6

SCRIPT = r"""
import json, sys
import numpy as np
import keras
import xbackend as xb
from xbackend import keras as xk
from xbackend.compat import keras as xkc

assert keras.backend.backend() == sys.argv[1], keras.backend.backend()
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
N, D, C, STEPS = 48, 6, 3, int(sys.argv[2])
x = rng.normal(size=(N, D)).astype("float32")
scores = x @ rng.normal(size=(D, C))
y_int = np.argmax(scores, axis=1).astype("int32")
y_ignore = y_int.copy()
y_ignore[::5] = -1
y_onehot = np.eye(C, dtype="float32")[y_int]
y_multi = (scores > 0).astype("float32")
cw = [0.5, 1.0, 2.0]

cases = {
    # name: (xbackend loss object, labels, xbackend reference on float64 logits, Keras native loss)
    "SigmoidCrossEntropy": (
        xk.SigmoidCrossEntropy(label_smoothing=0.1), y_multi,
        lambda z: np.mean(xb.sigmoid_cross_entropy(z, y_multi.astype("float64"), label_smoothing=0.1)),
        keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)),
    "SigmoidFocalLoss": (
        xk.SigmoidFocalLoss(gamma=2.0, alpha=0.25), y_multi,
        lambda z: np.mean(xb.sigmoid_focal_loss(z, y_multi.astype("float64"), gamma=2.0, alpha=0.25)),
        keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.25, gamma=2.0, from_logits=True)),
    "SoftmaxCrossEntropy": (
        xk.SoftmaxCrossEntropy(label_smoothing=0.1), y_onehot,
        lambda z: xb.softmax_cross_entropy(z, y_onehot.astype("float64"), label_smoothing=0.1,
                                           reduction="sum_over_batch_size"),
        keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)),
    "SparseSoftmaxCrossEntropy": (
        xk.SparseSoftmaxCrossEntropy(), y_int,
        lambda z: xb.sparse_softmax_cross_entropy(z, y_int, reduction="mean"),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True)),
    "SparseSoftmaxCrossEntropy_ignore_index": (
        xk.SparseSoftmaxCrossEntropy(ignore_index=-1), y_ignore,
        lambda z: xb.sparse_softmax_cross_entropy(z, y_ignore, ignore_index=-1, reduction="mean"),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)),
    "SparseSoftmaxCrossEntropy_class_weights": (
        xk.SparseSoftmaxCrossEntropy(class_weights=cw), y_int,
        lambda z: np.sum(xb.sparse_softmax_cross_entropy(z, y_int, class_weights=np.array(cw))) / N,
        None),
    "SoftmaxFocalLoss": (
        xk.SoftmaxFocalLoss(gamma=2.0), y_int,
        lambda z: xb.softmax_focal_loss(z, y_int, gamma=2.0, reduction="mean"),
        keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=2.0, from_logits=True)),
    "CategoricalFocalLoss": (
        xk.CategoricalFocalLoss(gamma=2.0, label_smoothing=0.1), y_onehot,
        lambda z: np.mean(xkc.categorical_focal_crossentropy(y_onehot.astype("float64"), z, from_logits=True,
                                                             gamma=2.0, label_smoothing=0.1)),
        keras.losses.CategoricalFocalCrossentropy(gamma=2.0, from_logits=True, label_smoothing=0.1)),
}

out = {}
for name, (loss, y, reference, native) in cases.items():
    model = keras.Sequential([keras.Input((D,)), keras.layers.Dense(C)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.2), loss=loss)
    history = model.fit(x, y, epochs=STEPS, batch_size=N, shuffle=False, verbose=0)
    evaluated = model.evaluate(x, y, batch_size=N, verbose=0)
    logits = np.asarray(keras.ops.convert_to_numpy(model(x)), dtype="float64")
    y_native = y_onehot if name == "SoftmaxFocalLoss" else y
    out[name] = {
        "history": [float(v) for v in history.history["loss"]],
        "evaluate": float(evaluated),
        "xbackend": float(reference(logits)),
        "native": None if native is None else float(keras.ops.convert_to_numpy(native(y_native, logits))),
        "config_roundtrip": type(loss).from_config(loss.get_config()).get_config() == loss.get_config(),
    }
print("RESULT " + json.dumps(out))
"""


def _env(backend: str) -> dict:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env["JAX_PLATFORMS"] = "cpu"
    return env


class _Fits:
    """The fit subprocesses, started on first use.

    In one process all runnable Keras backends start together (they overlap on the
    cores); under pytest-xdist each worker starts only the backend its test asks for,
    so no fit runs twice.
    """

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen] = {}
        self.together = "PYTEST_XDIST_WORKER" not in os.environ

    def _start(self, name: str) -> None:
        if name not in self.procs and skip_reason(BY_NAME[name]) is None:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-c", SCRIPT, name, str(STEPS)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, env=_env(name),
            )

    def get(self, name: str) -> subprocess.Popen:
        reason = skip_reason(BY_NAME[name])
        if reason is not None:
            pytest.skip(reason)
        for other in KERAS_BACKENDS if self.together else (name,):
            self._start(other)
        return self.procs[name]

    def close(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.communicate()


@pytest.fixture(scope="module")
def fits():
    pytest.importorskip("keras", reason="keras is not installed")
    f = _Fits()
    yield f
    f.close()


@pytest.mark.slow
@pytest.mark.parametrize("keras_backend", KERAS_BACKENDS)
def test_xbackend_keras_losses_fit_on_each_keras_backend_and_match_xbackend_and_keras(fits, keras_backend):
    results = process_result(fits.get(keras_backend), f"the Keras {keras_backend} fit", 420)
    assert len(results) == 8
    for name, r in results.items():
        h = np.array(r["history"])
        assert h.shape == (STEPS,) and np.isfinite(h).all(), f"{name}: loss history {h}"
        assert (np.diff(h) < 0).all(), f"{name}: the loss does not decrease at every step: {h}"
        # model.evaluate computes in float32: compare with float64 references at float32 tolerance
        rtol = tolerance("float32", 64)
        np.testing.assert_allclose(r["evaluate"], r["xbackend"], rtol=rtol, err_msg=f"{name}: evaluate vs xbackend")
        if r["native"] is not None:
            np.testing.assert_allclose(r["xbackend"], r["native"], rtol=rtol, err_msg=f"{name}: xbackend vs Keras")
        assert r["config_roundtrip"], f"{name}: get_config/from_config do not round-trip"
