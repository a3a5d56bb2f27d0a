"""sigmoid_cross_entropy: the conformance matrix (backend × dtype × option × reduction).

Reproduces torch ``F.binary_cross_entropy_with_logits`` (``weight`` = ``weights``,
``pos_weight``; torch's ``reduction="mean"`` is xbackend's ``"sum_over_batch_size"``)
and ``optax.sigmoid_binary_cross_entropy``; every option (``pos_weight`` per class or
scalar, ``weights`` full or broadcast, ``label_smoothing`` towards 1/2, the element mask
``where``, bool/int labels, ``dtype=``) is also checked against the float64 closed form
``pw·z̃·softplus(-x) + (1-z̃)·softplus(x)`` (see tests/conformance.py).
"""

import pytest

from tests import conformance as cf

LOSS = "sigmoid_cross_entropy"


@pytest.mark.parametrize(("bname", "dtype", "spec", "reduction"), cf.cells(LOSS))
def test_sigmoid_cross_entropy_equals_closed_form(bname, dtype, spec, reduction):
    cf.check_value_cell(LOSS, cf.use_backend(bname), dtype, spec, reduction)


@pytest.mark.parametrize(("bname", "dtype", "spec", "reduction", "wrt"), cf.grad_cells(LOSS))
def test_sigmoid_cross_entropy_gradient_equals_finite_differences(bname, dtype, spec, reduction, wrt):
    cf.check_grad_cell(LOSS, cf.use_backend(bname), dtype, spec, reduction, wrt)


@pytest.mark.parametrize(("native", "bname", "dtype", "spec", "reduction"), cf.native_cells(LOSS))
def test_sigmoid_cross_entropy_matches_native(native, bname, dtype, spec, reduction):
    cf.check_native_value_cell(native, bname, dtype, spec, reduction)


@pytest.mark.parametrize(("native", "bname", "dtype", "spec", "reduction", "wrt"), cf.native_cells(LOSS, grad=True))
def test_sigmoid_cross_entropy_gradient_matches_native_autodiff(native, bname, dtype, spec, reduction, wrt):
    cf.check_native_grad_cell(native, bname, dtype, spec, reduction, wrt)
