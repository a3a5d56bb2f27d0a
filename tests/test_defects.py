"""Nothing silently wrong (issue #13): each test here failed on the code before the fix.

* probabilities outside [0, 1] are NaN (``invalid="nan"``) or a ValueError naming the
  first bad value (``invalid="raise"``), never a clipped number;
* negative array-valued ``pos_weight``, ``class_weights`` and ``alpha`` follow the same
  policy (NaN where they apply, or ValueError);
* arrays of one call on two devices are a ValueError naming both devices;
* ``invalid="raise"`` checks values on the arrays' own device (one reduction, one
  scalar transfer), never through NumPy;
* the compile cache keys static arguments by type and value (``1 == 1.0 == True``).
"""

from __future__ import annotations

import numpy as np
import pytest

import xbackend as xb
from tests.backends import Backend, require

N, C = 3, 4


def ints(backend: Backend, a) -> object:
    return backend.asarray(np.asarray(a), "int32" if backend.framework == "tensorflow" else "int64")


def floats(backend: Backend, a) -> object:
    return backend.asarray(np.asarray(a, dtype=np.float64), "float64")


def logits_np() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(N, C))


# ------------------------------------------------------------ 10. compile cache key


def test_rejected_float_axis_does_not_poison_later_int_axis_calls_on_eager_jax():
    """Eager JAX calls run through ``xb.compiled``; ``axis=1.0`` is refused, and a later
    ``axis=1`` call (equal and equal-hashing to 1.0) must still compute."""
    require("jax")
    import jax.numpy as jnp

    x, y = jnp.asarray(logits_np()), jnp.asarray([0, 1, 2])
    with pytest.raises(TypeError, match=r"axis must be an int, got float 1.0"):
        xb.sparse_softmax_cross_entropy(x, y, axis=1.0)
    got = xb.sparse_softmax_cross_entropy(x, y, axis=1)
    want = xb.sparse_softmax_cross_entropy(np.asarray(x), np.asarray(y), axis=1)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


def test_rejected_float_axis_does_not_poison_later_int_axis_calls_via_compiled_torch():
    torch = require("torch")

    def loss(x, y, axis):  # a function of our own: a cache of its own
        return xb.sparse_softmax_cross_entropy(x, y, axis=axis)

    f = xb.compiled(loss, dynamic=False)
    x, y = torch.tensor(logits_np()), torch.tensor([0, 1, 2])
    with pytest.raises(Exception, match=r"axis must be an int, got float 1.0|Observed exception"):
        f(x, y, 1.0)
    got = f(x, y, 1)
    want = xb.sparse_softmax_cross_entropy(x.numpy(), y.numpy(), axis=1)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


def test_compiled_cache_keys_bool_and_int_apart():
    """``True == 1``: a static ``True`` and a static ``1`` are two specialisations."""
    seen = []

    def f(x, flag):
        seen.append(type(flag))
        return x

    g = xb.compiled(f)
    g(np.zeros(2), True)
    g(np.zeros(2), 1)
    g(np.zeros(2), (1, True))
    g(np.zeros(2), (1, 1))
    assert seen == [bool, int, tuple, tuple]
