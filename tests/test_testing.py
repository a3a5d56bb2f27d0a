"""xbackend.testing: tolerances from the dtype, and assertions that check namespace,
shape, dtype and device before values (and fail when any of them differs)."""

from __future__ import annotations

import numpy as np
import pytest

from xbackend.testing import EPS, assert_matches_reference, to_numpy, tolerance, xp_assert_close


@pytest.mark.parametrize(
    ("dtype", "eps"),
    [("float64", 2.0**-52), ("float32", 2.0**-23), ("float16", 2.0**-10), ("bfloat16", 2.0**-7)],
)
def test_tolerance_is_factor_times_the_dtype_eps(dtype, eps):
    assert EPS[dtype] == eps
    assert tolerance(dtype, 3.0) == 3.0 * eps
    assert tolerance(np.dtype(dtype) if dtype != "bfloat16" else "bfloat16", 1.0) == eps


def test_tolerance_rejects_non_floating_dtypes():
    with pytest.raises(TypeError, match="not a floating dtype"):
        tolerance("int32")


def test_to_numpy_round_trips_every_backend(backend):
    a = np.array([[1.5, -2.0], [0.25, 3.0]])
    for dt in backend.dtypes:
        out = to_numpy(backend.asarray(a, dt))
        assert isinstance(out, np.ndarray) and out.shape == (2, 2)
        np.testing.assert_array_equal(out.astype(np.float64), a)  # exactly representable


def test_xp_assert_close_passes_on_equal_arrays(backend):
    a = backend.asarray([1.0, 2.0], "float32")
    xp_assert_close(a, backend.asarray([1.0, 2.0], "float32"))


def test_xp_assert_close_checks_dtype_before_values(backend):
    a = backend.asarray([1.0, 2.0], "float32")
    b = backend.asarray([1.0, 2.0], backend.dtypes[0] if backend.dtypes[0] != "float32" else "float64")
    with pytest.raises(AssertionError, match="dtypes differ"):
        xp_assert_close(a, b)


def test_xp_assert_close_checks_shape(backend):
    with pytest.raises(AssertionError, match="shapes differ"):
        xp_assert_close(backend.asarray([1.0, 2.0], "float32"), backend.asarray([[1.0, 2.0]], "float32"))


def test_xp_assert_close_checks_namespace():
    torch = pytest.importorskip("torch")
    xs = pytest.importorskip("array_api_strict")
    with pytest.raises(AssertionError, match="namespaces differ"):
        xp_assert_close(torch.zeros(2), xs.zeros(2))


def test_xp_assert_close_uses_the_dtype_tolerance():
    a = np.array([1.0], dtype=np.float32)
    xp_assert_close(a, np.array([1.0 + 4 * EPS["float32"]], dtype=np.float32))  # default 8·eps
    with pytest.raises(AssertionError):
        xp_assert_close(a, np.array([1.0 + 64 * EPS["float32"]], dtype=np.float32))


def test_assert_matches_reference_checks_namespace_dtype_device_shape(backend):
    x = backend.asarray([0.5, 1.5], "float32")
    ref = np.array([0.5, 1.5])
    assert_matches_reference(x, ref, like=x)
    with pytest.raises(AssertionError, match="dtypes differ"):
        assert_matches_reference(x, ref, like=backend.asarray([0.5, 1.5], backend.dtypes[0] if backend.dtypes[0] != "float32" else "float64"))
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_matches_reference(x, ref, like=x, shape=(1, 2))
    with pytest.raises(AssertionError):
        assert_matches_reference(x, ref + 1e-3, like=x)


def test_assert_matches_reference_rejects_another_namespace():
    torch = pytest.importorskip("torch")
    with pytest.raises(AssertionError, match="namespaces differ"):
        assert_matches_reference(torch.zeros(2), np.zeros(2), like=np.zeros(2))


def test_assert_matches_reference_rejects_another_device():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device to put the result on another device than the inputs")
    with pytest.raises(AssertionError, match="devices differ"):
        assert_matches_reference(torch.zeros(2, device="cuda"), np.zeros(2), like=torch.zeros(2))


def test_numpy_scalar_counts_as_a_0d_numpy_result():
    assert_matches_reference(np.float64(2.0), np.array(2.0), like=np.zeros(3))
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_matches_reference(np.float64(2.0), np.array([2.0]), like=np.zeros(3))


def test_assert_matches_reference_infinities_and_nan():
    like = np.zeros(3)
    assert_matches_reference(np.array([np.inf, -np.inf, np.nan]), np.array([np.inf, -np.inf, np.nan]), like=like)
    with pytest.raises(AssertionError):
        assert_matches_reference(np.array([np.inf, 0.0, 0.0]), np.array([-np.inf, 0.0, 0.0]), like=like)
    with pytest.raises(AssertionError):
        assert_matches_reference(np.array([np.nan, 0.0, 0.0]), np.array([0.0, 0.0, 0.0]), like=like)


def test_compare_mask_limits_the_value_comparison():
    like = np.zeros(3)
    actual, ref = np.array([1.0, 5.0, 3.0]), np.array([1.0, 2.0, 3.0])
    with pytest.raises(AssertionError):
        assert_matches_reference(actual, ref, like=like)
    assert_matches_reference(actual, ref, like=like, compare=np.array([True, False, True]))
