"""NumPy inputs next to another framework's logits: the logits decide.

``jnp``, optax, ``tf.nn`` and data loaders all accept the mix (a NumPy constant closed
over inside ``jax.jit``, NumPy labels from a loader), so xbackend does too: NumPy arrays
and scalars given as labels, ``weights``, ``class_weights``, ``where``, ``alpha`` or
``pos_weight`` become arrays of the logits' framework on the logits' device, as
``jnp.asarray``/``torch.as_tensor``/``tf.convert_to_tensor`` would make them; the result
equals the all-native call exactly. NumPy logits with another framework's labels, and two
non-NumPy frameworks, stay a ``TypeError`` naming both types; Python lists stay a
``TypeError`` naming the argument.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import xbackend as xb
from tests.backends import BY_NAME, skip_reason

FRAMEWORKS = ["torch", "jax", "tensorflow"]
N, C = 3, 4
RNG = np.random.default_rng(7)
X = RNG.normal(size=(N, C)).astype(np.float32)
IDX = np.array([0, 3, 1])
Z = (RNG.uniform(size=(N, C)) > 0.5).astype(np.float32)
SOFT = RNG.dirichlet(np.ones(C), size=N).astype(np.float32)
ROW_W = np.array([0.5, 1.0, 2.0], np.float32)
CLASS_W = np.array([1.0, 2.0, 0.5, 1.5], np.float32)


def _module(name: str) -> Any:
    reason = skip_reason(BY_NAME[name])
    if reason is not None:
        pytest.skip(reason)
    return BY_NAME[name].module()


def _native(name: str) -> Callable[[np.ndarray], Any]:
    """The framework's own conversion (what its users would write)."""
    mod = _module(name)
    if name == "torch":
        return mod.as_tensor
    if name == "jax":
        import jax.numpy as jnp

        return jnp.asarray
    return mod.convert_to_tensor


def _host(a: Any) -> np.ndarray:
    return np.asarray(a.numpy() if hasattr(a, "numpy") and not isinstance(a, np.ndarray) else a)


#: (loss, labels, NumPy keyword arrays)
CALLS = [
    ("sparse_softmax_cross_entropy", IDX, {"weights": ROW_W, "class_weights": CLASS_W}),
    ("softmax_cross_entropy", SOFT, {"weights": ROW_W, "class_weights": CLASS_W, "where": X > -1.0}),
    ("sigmoid_cross_entropy", Z, {"pos_weight": CLASS_W, "weights": np.ones((N, C), np.float32)}),
    ("sigmoid_focal_loss", Z, {"weights": np.ones((N, C), np.float32)}),
    ("softmax_focal_loss", IDX, {"alpha": CLASS_W, "weights": ROW_W}),
]


@pytest.mark.parametrize("loss,labels,kw", CALLS, ids=[c[0] for c in CALLS])
@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_numpy_labels_and_weights_equal_the_native_call(fw, loss, labels, kw):
    conv = _native(fw)
    fn = getattr(xb, loss)
    x = conv(X)
    got = fn(x, labels, reduction="mean", **kw)
    want = fn(x, conv(labels), reduction="mean", **{k: conv(v) for k, v in kw.items()})
    assert type(got) is type(want)
    np.testing.assert_array_equal(_host(got), _host(want))


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_numpy_scalar_options_are_numbers(fw):
    """A NumPy scalar ``alpha``/``gamma``/``label_smoothing`` is a number: range-checked."""
    conv = _native(fw)
    x = conv(X)
    got = xb.softmax_focal_loss(x, conv(IDX), alpha=np.float32(0.25), gamma=np.float64(1.5))
    want = xb.softmax_focal_loss(x, conv(IDX), alpha=0.25, gamma=1.5)
    np.testing.assert_allclose(_host(got), _host(want), rtol=1e-6)
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\], got 2.0"):
        xb.sparse_softmax_cross_entropy(x, conv(IDX), label_smoothing=np.float32(2.0))


def test_torch_numpy_inputs_follow_the_logits_device_and_keep_gradients():
    torch = _module("torch")
    x = torch.as_tensor(X).requires_grad_()
    xb.sparse_softmax_cross_entropy(x, IDX, class_weights=CLASS_W, reduction="sum").backward()
    x2 = torch.as_tensor(X).requires_grad_()
    xb.sparse_softmax_cross_entropy(x2, torch.as_tensor(IDX), class_weights=torch.as_tensor(CLASS_W), reduction="sum").backward()
    assert torch.equal(x.grad, x2.grad)
    be = xb._backends.backend(xb._backends.array_namespace(x))
    assert be.asarray_like(IDX, x).device == x.device


def test_jax_jit_with_a_numpy_constant_closed_over():
    _module("jax")
    import jax
    import jax.numpy as jnp

    @jax.jit
    def step(x, y):  # class weights and per-row weights are NumPy constants of the trace
        return xb.sparse_softmax_cross_entropy(x, y, class_weights=CLASS_W, weights=ROW_W, reduction="mean")

    got = step(jnp.asarray(X), IDX)  # NumPy labels become a traced argument of jit
    want = xb.sparse_softmax_cross_entropy(
        jnp.asarray(X), jnp.asarray(IDX), class_weights=jnp.asarray(CLASS_W), weights=jnp.asarray(ROW_W),
        reduction="mean",
    )  # fmt: skip
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)
    g = jax.grad(lambda x: step(x, IDX))(jnp.asarray(X))
    assert g.shape == (N, C)


def test_tf_function_with_numpy_labels():
    tf = _module("tensorflow")
    f = tf.function(lambda x: xb.sparse_softmax_cross_entropy(x, IDX, class_weights=CLASS_W, reduction="sum"))
    want = xb.sparse_softmax_cross_entropy(tf.constant(X), tf.constant(IDX), class_weights=tf.constant(CLASS_W),
                                           reduction="sum")  # fmt: skip
    np.testing.assert_allclose(f(tf.constant(X)).numpy(), want.numpy(), rtol=1e-6)


# ------------------------------------------------------------------- still errors


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_numpy_logits_with_other_labels_is_a_typeerror_naming_both(fw):
    conv = _native(fw)
    y = conv(IDX)
    with pytest.raises(TypeError, match=r"cannot be mixed: numpy\.ndarray and .*" + type(y).__qualname__):
        xb.sparse_softmax_cross_entropy(X, y)


def test_two_non_numpy_frameworks_are_a_typeerror_naming_both():
    torch = _module("torch")
    _module("jax")
    import jax.numpy as jnp

    with pytest.raises(TypeError, match=r"cannot be mixed: .*ArrayImpl and torch\.Tensor"):
        xb.sparse_softmax_cross_entropy(jnp.asarray(X), torch.as_tensor(IDX))
    with pytest.raises(TypeError, match=r"cannot be mixed: torch\.Tensor and .*ArrayImpl"):
        xb.sparse_softmax_cross_entropy(torch.as_tensor(X), torch.as_tensor(IDX), weights=jnp.asarray(ROW_W))


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_a_python_list_is_still_a_typeerror_naming_the_argument(fw):
    conv = _native(fw)
    with pytest.raises(TypeError, match=r"class_weights must be an array, got a Python list"):
        xb.sparse_softmax_cross_entropy(conv(X), conv(IDX), class_weights=[1.0, 2.0, 0.5, 1.5])
