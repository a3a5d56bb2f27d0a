"""sparse_softmax_cross_entropy: the conformance matrix (backend × dtype × option × reduction).

Reproduces torch ``F.cross_entropy`` with class-index targets (``weight`` =
``class_weights``, ``ignore_index``, ``label_smoothing``, ``reduction="mean"`` divides by
Σ w[y] over non-ignored rows) and ``optax.softmax_cross_entropy_with_integer_labels``
(``axis``, ``where``); every option is also checked against the float64 closed form
``-(1-ε)·w_y·log p_y - (ε/K)·Σ_c w_c·log p_c + z·lse²`` (see tests/conformance.py).
"""

import numpy as np
import pytest

import xbackend as xb
from tests import conformance as cf
from xbackend.testing import assert_matches_reference, to_numpy, tolerance

LOSS = "sparse_softmax_cross_entropy"


@pytest.mark.parametrize(("bname", "dtype", "spec", "reduction"), cf.cells(LOSS))
def test_sparse_softmax_cross_entropy_equals_closed_form(bname, dtype, spec, reduction):
    cf.check_value_cell(LOSS, cf.use_backend(bname), dtype, spec, reduction)


@pytest.mark.parametrize(("bname", "dtype", "spec", "reduction", "wrt"), cf.grad_cells(LOSS))
def test_sparse_softmax_cross_entropy_gradient_equals_finite_differences(bname, dtype, spec, reduction, wrt):
    cf.check_grad_cell(LOSS, cf.use_backend(bname), dtype, spec, reduction, wrt)


@pytest.mark.parametrize(("native", "bname", "dtype", "spec", "reduction"), cf.native_cells(LOSS))
def test_sparse_softmax_cross_entropy_matches_native(native, bname, dtype, spec, reduction):
    cf.check_native_value_cell(native, bname, dtype, spec, reduction)


@pytest.mark.parametrize(("native", "bname", "dtype", "spec", "reduction", "wrt"), cf.native_cells(LOSS, grad=True))
def test_sparse_softmax_cross_entropy_gradient_matches_native_autodiff(native, bname, dtype, spec, reduction, wrt):
    cf.check_native_grad_cell(native, bname, dtype, spec, reduction, wrt)


# ------------------------------------------------------------------ semantics


def test_invalid_raise_names_the_first_bad_label(backend):
    """invalid="raise": ValueError naming the bad label and its position (concrete arrays
    at once; Dask when the result is computed). A bad label never reaches a gather."""
    x = backend.asarray(np.zeros((3, 4)), "float32")
    y = backend.asarray([1, 7, -1], "int64")
    # Dask checks chunk by chunk (in any order), so it names the first bad label of a chunk
    msg = r"\[0, 4\).*got (7|-1) at position" if backend.lazy else r"\[0, 4\).*got 7 at position \(1,\)"
    with pytest.raises(ValueError, match=msg):
        out = xb.sparse_softmax_cross_entropy(x, y, invalid="raise")
        to_numpy(out)  # Dask checks lazily


def test_invalid_raise_accepts_ignore_index(backend):
    x = backend.asarray(np.zeros((2, 4)), "float32")
    y = backend.asarray([1, -100], "int64")
    out = xb.sparse_softmax_cross_entropy(x, y, ignore_index=-100, invalid="raise")
    assert_matches_reference(out, np.array([np.log(4.0), 0.0]), like=x, rtol=tolerance("float32", 4))
