"""binary_cross_entropy and categorical_cross_entropy (from probabilities): the matrix.

``binary_cross_entropy`` reproduces torch ``F.binary_cross_entropy`` inside
``[eps, 1-eps]`` (torch clamps the log at -100 instead of clipping; its ``"mean"`` is
``"sum_over_batch_size"``). Both are checked against the float64 closed form
``-Σ y·log clip(p, ε, 1-ε)`` (+ the ``(1-z)·log(1-p)`` term for the binary one) with the
default ``eps = finfo(dtype).eps`` and an explicit ``eps`` (values outside the clip
range included).
"""

import pytest

from tests import conformance as cf

BINARY = "binary_cross_entropy"
CATEGORICAL = "categorical_cross_entropy"


@pytest.mark.parametrize(("bname", "dtype", "spec", "reduction"), cf.cells(BINARY))
def test_binary_cross_entropy_equals_closed_form(bname, dtype, spec, reduction):
    cf.check_value_cell(BINARY, cf.use_backend(bname), dtype, spec, reduction)


@pytest.mark.parametrize(("bname", "dtype", "spec", "reduction", "wrt"), cf.grad_cells(BINARY))
def test_binary_cross_entropy_gradient_equals_finite_differences(bname, dtype, spec, reduction, wrt):
    cf.check_grad_cell(BINARY, cf.use_backend(bname), dtype, spec, reduction, wrt)


@pytest.mark.parametrize(("native", "bname", "dtype", "spec", "reduction"), cf.native_cells(BINARY))
def test_binary_cross_entropy_matches_native(native, bname, dtype, spec, reduction):
    cf.check_native_value_cell(native, bname, dtype, spec, reduction)


@pytest.mark.parametrize(("native", "bname", "dtype", "spec", "reduction", "wrt"), cf.native_cells(BINARY, grad=True))
def test_binary_cross_entropy_gradient_matches_native_autodiff(native, bname, dtype, spec, reduction, wrt):
    cf.check_native_grad_cell(native, bname, dtype, spec, reduction, wrt)


@pytest.mark.parametrize(("bname", "dtype", "spec", "reduction"), cf.cells(CATEGORICAL))
def test_categorical_cross_entropy_equals_closed_form(bname, dtype, spec, reduction):
    cf.check_value_cell(CATEGORICAL, cf.use_backend(bname), dtype, spec, reduction)


@pytest.mark.parametrize(("bname", "dtype", "spec", "reduction", "wrt"), cf.grad_cells(CATEGORICAL))
def test_categorical_cross_entropy_gradient_equals_finite_differences(bname, dtype, spec, reduction, wrt):
    cf.check_grad_cell(CATEGORICAL, cf.use_backend(bname), dtype, spec, reduction, wrt)


@pytest.mark.parametrize(("native", "bname", "dtype", "spec", "reduction"), cf.native_cells(CATEGORICAL))
def test_categorical_cross_entropy_matches_native(native, bname, dtype, spec, reduction):
    cf.check_native_value_cell(native, bname, dtype, spec, reduction)


@pytest.mark.parametrize(("native", "bname", "dtype", "spec", "reduction", "wrt"), cf.native_cells(CATEGORICAL, grad=True))
def test_categorical_cross_entropy_gradient_matches_native_autodiff(native, bname, dtype, spec, reduction, wrt):
    cf.check_native_grad_cell(native, bname, dtype, spec, reduction, wrt)
