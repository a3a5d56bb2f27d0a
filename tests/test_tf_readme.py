"""The README's TensorFlow example runs, and computes what its comments say.

The example is the first ``python`` block under the ``## TensorFlow`` heading of
README.md (``XBACKEND_README=path`` points the test at another Markdown file, e.g. the
draft of that section).
"""

from __future__ import annotations

import math
import os
import pathlib
import re
import runpy

import numpy as np
import pytest

from tests.backends import BY_NAME, skip_reason

_reason = skip_reason(BY_NAME["tensorflow"])
if _reason is not None:
    pytest.skip(_reason, allow_module_level=True)

README = pathlib.Path(os.environ.get("XBACKEND_README", pathlib.Path(__file__).resolve().parents[1] / "README.md"))


def tensorflow_example(text: str) -> str | None:
    section = re.search(r"^## TensorFlow\s*$(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    if section is None:
        return None
    block = re.search(r"^```python\n(.*?)^```", section.group(1), flags=re.MULTILINE | re.DOTALL)
    return None if block is None else block.group(1)


def test_readme_tensorflow_example_runs_and_its_numbers_hold(tmp_path):
    code = tensorflow_example(README.read_text())
    if code is None:
        pytest.skip(f"{README} has no '## TensorFlow' section with a python block yet")
    import tensorflow as tf

    script = tmp_path / "readme_tensorflow_example.py"  # a file, so AutoGraph can read the source
    script.write_text(code)
    ns = runpy.run_path(str(script))

    # eager Variable: mean of the smoothed cross-entropy; gradient (softmax - smoothed one-hot)/N
    logits, labels = ns["logits"].numpy().astype(np.float64), ns["labels"].numpy()
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    target = 0.9 * np.eye(5)[labels] + 0.1 / 5
    np.testing.assert_allclose(ns["grad"].numpy(), (p - target) / 8, rtol=1e-5, atol=1e-7)
    assert float(ns["loss"]) == pytest.approx(2 * math.log(2) / 3, rel=1e-6)  # the XLA step's mean
    np.testing.assert_allclose(ns["dx"].numpy(), [[0.0, -1.0 / 3, 0.0]], atol=1e-7)

    # Keras: the compiled xbackend loss is Keras' own SparseCategoricalCrossentropy
    import keras

    x, y, model = ns["x"], ns["y"], ns["model"]
    out = model(x)
    ours = model.evaluate(x, y, batch_size=len(x), verbose=0)  # the compiled xbackend loss
    theirs = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, out)
    assert ours == pytest.approx(float(theirs), rel=1e-5)
    assert all(np.isfinite(w.numpy()).all() for w in model.weights)
    assert isinstance(out, tf.Tensor)
