"""A model compiled with an ``xbackend.keras`` loss survives ``model.save`` and
``keras.models.load_model`` in a fresh process, on the TensorFlow, JAX and torch Keras
backends, with nothing but ``import xbackend.keras`` (no ``custom_objects``).

Keras picks its backend at import time (``KERAS_BACKEND``), so each Keras backend runs in
its own processes: one fits every loss class for one epoch of 8 samples, evaluates and
saves the models; a second, fresh process first shows that ``load_model`` without
``import xbackend.keras`` cannot locate the classes (the failure the registration
fixes), then imports ``xbackend.keras``, loads every model and evaluates it again. The
loaded loss must be the same class with the same config, and its value the one before
saving. The three backends run side by side.

The module also checks, in this process, that ``import xbackend.keras`` defines real
``keras.losses.Loss`` subclasses registered as ``"xbackend>ClassName"``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tests.backends import BY_NAME, skip_reason
from tests.keras_support import process_result

keras = pytest.importorskip("keras", reason="keras is not installed")

KERAS_BACKENDS = ("tensorflow", "jax", "torch")
CLASSES = (
    "CategoricalFocalLoss",
    "SigmoidCrossEntropy",
    "SigmoidFocalLoss",
    "SoftmaxCrossEntropy",
    "SoftmaxFocalLoss",
    "SparseSoftmaxCrossEntropy",
)

COMMON = r"""
import json, sys
import numpy as np
import keras

assert keras.backend.backend() == sys.argv[1], keras.backend.backend()
rng = np.random.default_rng(0)
N, D, C = 8, 5, 3
x = rng.normal(size=(N, D)).astype("float32")
y_int = rng.integers(0, C, N).astype("int32")
y_int[0] = -1  # ignored by the losses with ignore_index=-1
y_onehot = np.eye(C, dtype="float32")[np.maximum(y_int, 0)]
y_soft = rng.dirichlet(np.ones(C), N).astype("float32")
y_multi = (rng.uniform(size=(N, C)) > 0.5).astype("float32")
y_bin = (rng.uniform(size=N) > 0.5).astype("float32")
# name: (loss class, options, labels, model outputs); every option off its default
CASES = {
    "SigmoidCrossEntropy": ("SigmoidCrossEntropy", dict(pos_weight=[1.0, 2.0, 0.5], label_smoothing=0.1),
                            y_multi, C),
    "SigmoidCrossEntropy_binary": ("SigmoidCrossEntropy", dict(label_smoothing=0.1), y_bin, 1),  # Dense(1), (N,)
    "SigmoidFocalLoss": ("SigmoidFocalLoss", dict(gamma=1.5, alpha=0.25), y_multi, C),
    "SoftmaxCrossEntropy": ("SoftmaxCrossEntropy", dict(class_weights=[1.0, 2.0, 0.5], label_smoothing=0.1,
                                                        z_loss=1e-3), y_soft, C),
    "SparseSoftmaxCrossEntropy": ("SparseSoftmaxCrossEntropy", dict(ignore_index=-1, label_smoothing=0.1), y_int, C),
    "SoftmaxFocalLoss": ("SoftmaxFocalLoss", dict(gamma=1.0, alpha=[0.5, 1.0, 2.0], ignore_index=-1,
                                                  label_smoothing=0.1), y_int, C),
    "CategoricalFocalLoss": ("CategoricalFocalLoss", dict(alpha=[0.5, 0.25, 0.25], gamma=1.5, label_smoothing=0.1),
                             y_soft, C),
}
"""

SAVE = COMMON + r"""
import xbackend.keras as xk

keras.utils.set_random_seed(0)
out = {}
for name, (cls, options, y, units) in CASES.items():
    loss = getattr(xk, cls)(**options)
    model = keras.Sequential([keras.Input((D,)), keras.layers.Dense(units)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss=loss)
    model.fit(x, y, epochs=1, batch_size=N, shuffle=False, verbose=0)
    path = f"{sys.argv[2]}/{name}.keras"
    model.save(path)
    out[name] = {"evaluate": float(model.evaluate(x, y, batch_size=N, verbose=0)),
                 "config": loss.get_config()}
print("RESULT " + json.dumps(out))
"""

LOAD = COMMON + r"""
names = list(CASES)
try:  # before xbackend.keras is imported, Keras cannot locate the classes
    keras.models.load_model(f"{sys.argv[2]}/{names[0]}.keras")
    without = "loaded"
except Exception as exc:
    without = f"{type(exc).__name__}: {exc}"
assert "xbackend" not in sys.modules, "load_model imported xbackend by itself"

import xbackend.keras  # noqa: E402  (registers the classes)

out = {"without_import": without}
for name, (cls, options, y, units) in CASES.items():
    model = keras.models.load_model(f"{sys.argv[2]}/{name}.keras")
    loss = model.loss
    out[name] = {"class": f"{type(loss).__module__}.{type(loss).__name__}",
                 "evaluate": float(model.evaluate(x, y, batch_size=N, verbose=0)),
                 "config": loss.get_config()}
print("RESULT " + json.dumps(out))
"""


def _env(backend: str) -> dict:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="",
               JAX_PLATFORMS="cpu")
    env.pop("JAX_ENABLE_X64", None)  # Keras' default float32 on every backend
    return env


def _start(script: str, backend: str, folder: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, backend, folder], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(backend))


@pytest.fixture(scope="module")
def round_trips(tmp_path_factory):
    """``{backend: (saved, loaded)}``: the save processes run side by side, then the loads."""
    runnable = [b for b in KERAS_BACKENDS if skip_reason(BY_NAME[b]) is None]
    folders = {b: str(tmp_path_factory.mktemp(f"keras_{b}")) for b in runnable}
    savers = {b: _start(SAVE, b, folders[b]) for b in runnable}
    saved = {b: process_result(p, f"saving on Keras {b}", 300) for b, p in savers.items()}
    loaders = {b: _start(LOAD, b, folders[b]) for b in runnable}
    return {b: (saved[b], process_result(p, f"loading on Keras {b}", 300)) for b, p in loaders.items()}


@pytest.mark.slow
@pytest.mark.parametrize("keras_backend", KERAS_BACKENDS)
def test_saved_model_loads_in_a_fresh_process_after_import_xbackend_keras(round_trips, keras_backend):
    reason = skip_reason(BY_NAME[keras_backend])
    if reason is not None:
        pytest.skip(reason)
    saved, loaded = round_trips[keras_backend]
    assert "Could not locate class" in loaded.pop("without_import"), "the failure without the import is not the one fixed"
    assert set(saved) == set(loaded) and len(saved) == 7
    for name, before in saved.items():
        after = loaded[name]
        cls = name.split("_")[0]
        assert after["class"] == f"xbackend.keras.{cls}", name
        assert after["config"] == before["config"], name
        # the same weights and the same float32 computation on the same backend
        np.testing.assert_allclose(after["evaluate"], before["evaluate"], rtol=1e-6, err_msg=name)
        assert np.isfinite(before["evaluate"]), name


def test_import_xbackend_keras_defines_registered_keras_loss_classes():
    import xbackend.keras as xk

    assert sorted(xk.__all__) == sorted(CLASSES)
    for name in CLASSES:
        cls = getattr(xk, name)
        assert isinstance(cls, type) and issubclass(cls, keras.losses.Loss), name
        assert cls.__module__ == "xbackend.keras" and cls.__qualname__ == name
        assert keras.saving.get_registered_name(cls) == f"xbackend>{name}"
        assert keras.saving.get_registered_object(f"xbackend>{name}") is cls
        loss = cls()
        assert type(loss).from_config(loss.get_config()).get_config() == loss.get_config()


def test_without_keras_import_xbackend_keras_succeeds_and_creating_a_loss_names_pip_install_keras(tmp_path):
    """A fresh interpreter where ``import keras`` fails as if Keras were not installed."""
    (tmp_path / "keras").mkdir()
    (tmp_path / "keras" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'keras'\", name='keras')\n")
    code = (
        "import sys\n"
        "import xbackend.keras as xk\n"
        "assert 'keras' not in sys.modules\n"
        "for name in xk.__all__:\n"
        "    assert isinstance(getattr(xk, name), type)\n"
        "try:\n"
        "    xk.SparseSoftmaxCrossEntropy()\n"
        "except ImportError as exc:\n"
        "    print('ImportError:', exc)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "ImportError: xbackend.keras.SparseSoftmaxCrossEntropy" in res.stdout
    assert "pip install keras" in res.stdout
