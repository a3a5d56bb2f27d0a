"""sigmoid_focal_loss and softmax_focal_loss: the conformance matrix.

``sigmoid_focal_loss`` reproduces torchvision's ``ops.sigmoid_focal_loss`` (its formula
in torch ops; ``alpha=None`` is torchvision's ``alpha=-1``; ``"mean"`` over elements) and
``optax.sigmoid_focal_loss``. ``softmax_focal_loss`` has no torch/optax native: it is
checked against the float64 closed form ``-α_y·(1-p_y)^γ·log p_y`` (scalar and per-class
``alpha``, ``ignore_index``, bad labels) and, for gradients, finite differences.
``gamma`` runs at 0 (the cross-entropy), 1/2 (where differentiating ``(1-p)^γ`` naively
gives inf·0) and 2.
"""

import numpy as np
import pytest

import xbackend as xb
from tests import conformance as cf
from tests.backends import require
from xbackend.testing import _oracles, assert_matches_reference, tolerance

SIGMOID = "sigmoid_focal_loss"
SOFTMAX = "softmax_focal_loss"


@pytest.mark.parametrize(("bname", "dtype", "spec", "reduction"), cf.cells(SIGMOID))
def test_sigmoid_focal_loss_equals_closed_form(bname, dtype, spec, reduction):
    cf.check_value_cell(SIGMOID, cf.use_backend(bname), dtype, spec, reduction)


@pytest.mark.parametrize(("bname", "dtype", "spec", "reduction", "wrt"), cf.grad_cells(SIGMOID))
def test_sigmoid_focal_loss_gradient_equals_finite_differences(bname, dtype, spec, reduction, wrt):
    cf.check_grad_cell(SIGMOID, cf.use_backend(bname), dtype, spec, reduction, wrt)


@pytest.mark.parametrize(("native", "bname", "dtype", "spec", "reduction"), cf.native_cells(SIGMOID))
def test_sigmoid_focal_loss_matches_native(native, bname, dtype, spec, reduction):
    cf.check_native_value_cell(native, bname, dtype, spec, reduction)


@pytest.mark.parametrize(("native", "bname", "dtype", "spec", "reduction", "wrt"), cf.native_cells(SIGMOID, grad=True))
def test_sigmoid_focal_loss_gradient_matches_native_autodiff(native, bname, dtype, spec, reduction, wrt):
    cf.check_native_grad_cell(native, bname, dtype, spec, reduction, wrt)


@pytest.mark.parametrize(("bname", "dtype", "spec", "reduction"), cf.cells(SOFTMAX))
def test_softmax_focal_loss_equals_closed_form(bname, dtype, spec, reduction):
    cf.check_value_cell(SOFTMAX, cf.use_backend(bname), dtype, spec, reduction)


@pytest.mark.parametrize(("bname", "dtype", "spec", "reduction", "wrt"), cf.grad_cells(SOFTMAX))
def test_softmax_focal_loss_gradient_equals_finite_differences(bname, dtype, spec, reduction, wrt):
    cf.check_grad_cell(SOFTMAX, cf.use_backend(bname), dtype, spec, reduction, wrt)


@pytest.mark.parametrize(("native", "bname", "dtype", "spec", "reduction"), cf.native_cells(SOFTMAX))
def test_softmax_focal_loss_matches_native(native, bname, dtype, spec, reduction):
    cf.check_native_value_cell(native, bname, dtype, spec, reduction)


@pytest.mark.parametrize(("native", "bname", "dtype", "spec", "reduction", "wrt"), cf.native_cells(SOFTMAX, grad=True))
def test_softmax_focal_loss_gradient_matches_native_autodiff(native, bname, dtype, spec, reduction, wrt):
    cf.check_native_grad_cell(native, bname, dtype, spec, reduction, wrt)


def test_optax_sigmoid_focal_loss_label_gradient_is_wrong_at_hard_labels():
    """Native known wrong: optax.sigmoid_focal_loss's gradient with respect to labels at
    z exactly 0 or 1 drops a term (logsumexp(..., b=[1-z, z]) has no b-derivative where
    b = 0): x = 0.7, z = 0 gives -1.2976; finite differences and xbackend give -0.8084.
    (The native-gradient cells therefore compare labels strictly inside (0, 1).)"""
    jax = require("jax")
    import jax.numpy as jnp
    import optax

    x = jnp.asarray([0.7, -1.3, 2.0])
    z = jnp.asarray([0.0, 1.0, 0.0])
    native = np.asarray(jax.grad(lambda z: optax.sigmoid_focal_loss(x, z, gamma=2.0).sum())(z))
    ours = jax.grad(lambda z: xb.sigmoid_focal_loss(x, z, gamma=2.0).sum())(z)
    fd, err = _oracles.closed_form_grad("sigmoid_focal_loss", x, z, wrt="labels", gamma=2.0, return_error=True)
    assert np.all(np.abs(native - fd) > 0.3)
    assert_matches_reference(ours, fd, like=z, rtol=tolerance("float64", 16), atol=float(np.max(err)))
