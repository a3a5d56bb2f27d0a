"""The bad-input catalogue: every wrong call raises the exact exception type with a
message that names the argument and the offending value or shapes.

Every test runs on every CPU backend (the ``backend`` fixture). Checks that need an
array's *values* (label ranges) run only with ``invalid="raise"``; the default path never
reads values (tested on torch's ``meta`` device, under ``jax.jit`` and on Dask with a
scheduler that refuses to compute). Empty batches are valid: an empty result, or 0
for a reduction, never NaN.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import xbackend as xb
from tests.backends import BY_NAME, Backend, require

N, C = 3, 4
REDUCTIONS = ("none", "sum", "mean", "sum_over_batch_size")


@dataclass(frozen=True)
class Family:
    name: str
    fn: Callable
    labels: str  # "int" (class indices), "soft" (probability vectors), "elem" (elementwise)
    first: str = "logits"  # name of the first argument

    @property
    def rowwise(self) -> bool:
        return self.labels in ("int", "soft")

    def __str__(self) -> str:
        return self.name


FAMILIES = (
    Family("sigmoid_cross_entropy", xb.sigmoid_cross_entropy, "elem"),
    Family("sigmoid_focal_loss", xb.sigmoid_focal_loss, "elem"),
    Family("binary_cross_entropy", xb.binary_cross_entropy, "elem", "probs"),
    Family("softmax_cross_entropy", xb.softmax_cross_entropy, "soft"),
    Family("categorical_cross_entropy", xb.categorical_cross_entropy, "soft", "probs"),
    Family("sparse_softmax_cross_entropy", xb.sparse_softmax_cross_entropy, "int"),
    Family("softmax_focal_loss", xb.softmax_focal_loss, "int"),
)
BY_FAMILY = {f.name: f for f in FAMILIES}
INT_FAMILIES = [f for f in FAMILIES if f.labels == "int"]
ROW_FAMILIES = [f for f in FAMILIES if f.rowwise]
ids = str


def fams(*names: str) -> list[Family]:
    return [BY_FAMILY[n] for n in names]


def ints(backend: Backend, a: Any) -> Any:
    return backend.asarray(np.asarray(a), "int32" if backend.framework == "tensorflow" else "int64")


def floats(backend: Backend, a: Any) -> Any:
    return backend.asarray(np.asarray(a, dtype=np.float64), "float64")


def first_arg(backend: Backend, fam: Family, shape: tuple = (N, C)) -> Any:
    rng = np.random.default_rng(1)
    if fam.first == "probs":
        return floats(backend, rng.uniform(0.05, 0.95, size=shape))
    return floats(backend, rng.normal(size=shape))


def good_labels(backend: Backend, fam: Family, shape: tuple = (N, C)) -> Any:
    n = int(np.prod(shape[:-1]))
    idx = np.arange(n).reshape(shape[:-1]) % shape[-1] if shape[-1] else np.zeros(shape[:-1], int)
    if fam.labels == "int":
        return ints(backend, idx)
    if fam.labels == "soft":
        return floats(backend, np.eye(shape[-1])[idx] if shape[-1] else np.zeros(shape))
    return floats(backend, np.random.default_rng(2).integers(0, 2, size=shape))


def call(backend: Backend, fam: Family, **kw: Any) -> Any:
    return fam.fn(first_arg(backend, fam), good_labels(backend, fam), **kw)


def materialise(backend: Backend, r: Any) -> np.ndarray:
    """Host copy; for Dask this is the compute (where lazy checks fire)."""
    return backend.to_numpy(r)


# ------------------------------------------------------------------ dtypes of inputs


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
@pytest.mark.parametrize("fam", FAMILIES, ids=ids)
def test_integer_or_boolean_first_argument_is_a_typeerror_naming_the_dtype(backend, fam, dtype):
    a = backend.asarray(np.zeros((N, C), dtype=dtype), dtype)
    with pytest.raises(TypeError, match=rf"{fam.first} must have a real floating dtype.*got .*{dtype}"):
        fam.fn(a, good_labels(backend, fam))


@pytest.mark.parametrize("fn", [xb.sigmoid, xb.log_sigmoid, xb.softplus, xb.logsumexp, xb.log_softmax, xb.softmax])
def test_primitives_reject_integer_input_naming_x(backend, fn):
    with pytest.raises(TypeError, match=r"x must have a real floating dtype.*got .*int(64|32)"):
        fn(ints(backend, np.zeros((N, C), dtype=np.int64)))


@pytest.mark.parametrize("fam", INT_FAMILIES, ids=ids)
def test_float_class_labels_are_a_typeerror_naming_labels_and_dtype(backend, fam):
    labels = floats(backend, [0.0, 1.0, 2.0])
    with pytest.raises(TypeError, match=r"labels must be integer class indices, got dtype .*float64"):
        fam.fn(first_arg(backend, fam), labels)


@pytest.mark.parametrize("fam", fams("softmax_cross_entropy", "categorical_cross_entropy"), ids=ids)
def test_integer_soft_labels_are_a_typeerror_pointing_to_the_sparse_loss(backend, fam):
    with pytest.raises(TypeError, match=r"labels must be floating probability vectors, got dtype .*int(64|32)"):
        fam.fn(first_arg(backend, fam), ints(backend, np.eye(C, dtype=np.int64)[:N]))


# ------------------------------------------------------------------ label values


@pytest.mark.parametrize("bad", [-2, C])
@pytest.mark.parametrize("fam", INT_FAMILIES, ids=ids)
def test_out_of_range_label_gives_a_nan_row_by_default(backend, fam, bad):
    labels = ints(backend, [0, bad, 1])
    got = materialise(backend, fam.fn(first_arg(backend, fam), labels))
    assert np.isnan(got[1]) and np.all(np.isfinite(got[[0, 2]])), got


@pytest.mark.parametrize("bad", [-2, C])
@pytest.mark.parametrize("fam", INT_FAMILIES, ids=ids)
def test_out_of_range_label_with_invalid_raise_names_the_label_and_its_position(backend, fam, bad):
    labels = ints(backend, [0, 1, bad])
    msg = rf"labels must be class indices in \[0, {C}\); got {bad} at position \(2,\) \(1 bad label"
    with pytest.raises(ValueError, match=msg):
        materialise(backend, fam.fn(first_arg(backend, fam), labels, invalid="raise"))


@pytest.mark.parametrize("fam", INT_FAMILIES, ids=ids)
def test_ignore_index_is_not_a_bad_label_under_invalid_raise(backend, fam):
    labels = ints(backend, [0, -100, 1])
    got = materialise(backend, fam.fn(first_arg(backend, fam), labels, ignore_index=-100, invalid="raise"))
    assert got[1] == 0 and np.all(np.isfinite(got))


@pytest.mark.parametrize("fam", INT_FAMILIES, ids=ids)
def test_invalid_raise_message_mentions_ignore_index(backend, fam):
    labels = ints(backend, [0, -100, -1])
    with pytest.raises(ValueError, match=r"in \[0, 4\) or ignore_index=-100; got -1 at position \(2,\)"):
        materialise(backend, fam.fn(first_arg(backend, fam), labels, ignore_index=-100, invalid="raise"))


# ------------------------------------------------------------------ shapes


@pytest.mark.parametrize("fam", [f for f in FAMILIES if f.labels != "int"], ids=ids)
def test_label_shape_mismatch_names_both_shapes(backend, fam):
    labels = good_labels(backend, fam, (N - 1, C))
    with pytest.raises(ValueError, match=rf"labels with shape \({N - 1}, {C}\).*{fam.first} shape \({N}, {C}\)"):
        fam.fn(first_arg(backend, fam), labels)


@pytest.mark.parametrize("labels_shape", [(N - 1,), (N, 1), ()])
@pytest.mark.parametrize("fam", INT_FAMILIES, ids=ids)
def test_class_label_shape_must_be_logits_shape_without_axis(backend, fam, labels_shape):
    labels = ints(backend, np.zeros(labels_shape, dtype=np.int64))
    msg = rf"labels with shape {re.escape(str(labels_shape))} do not match logits with shape \({N}, {C}\).*\({N},\)"
    with pytest.raises(ValueError, match=msg):
        fam.fn(first_arg(backend, fam), labels)


@pytest.mark.parametrize("axis", [2, -3, 7])
@pytest.mark.parametrize("fam", ROW_FAMILIES, ids=ids)
def test_axis_out_of_range_is_a_valueerror_naming_axis(backend, fam, axis):
    with pytest.raises(ValueError, match=rf"axis={axis} is out of range for {fam.first} with 2 dimension"):
        call(backend, fam, axis=axis)


@pytest.mark.parametrize("fn", [xb.logsumexp, xb.log_softmax, xb.softmax])
def test_primitive_axis_out_of_range_is_a_valueerror(backend, fn):
    with pytest.raises(ValueError, match=r"axis=2 is out of range for .* 2 dimension"):
        fn(floats(backend, np.zeros((N, C))), axis=2)


@pytest.mark.parametrize("fam", ROW_FAMILIES, ids=ids)
def test_non_integer_axis_is_a_typeerror(backend, fam):
    with pytest.raises(TypeError, match=r"axis must be an int, got float 1.0"):
        call(backend, fam, axis=1.0)


@pytest.mark.parametrize("fam", fams("softmax_cross_entropy", "sparse_softmax_cross_entropy"), ids=ids)
def test_class_weights_of_the_wrong_length_name_expected_and_actual_shape(backend, fam):
    with pytest.raises(ValueError, match=rf"class_weights must have shape \({C},\).*got shape \({C - 1},\)"):
        call(backend, fam, class_weights=floats(backend, np.ones(C - 1)))


def test_softmax_focal_alpha_vector_of_the_wrong_length(backend):
    fam = BY_FAMILY["softmax_focal_loss"]
    with pytest.raises(ValueError, match=rf"alpha must have shape \({C},\).*got shape \({C + 1},\)"):
        call(backend, fam, alpha=floats(backend, np.ones(C + 1)))


@pytest.mark.parametrize("fam", FAMILIES, ids=ids)
def test_weights_that_do_not_broadcast_name_both_shapes(backend, fam):
    loss_shape = (N,) if fam.rowwise else (N, C)
    bad = (N + 1,) if fam.rowwise else (N, C + 1)
    msg = rf"weights with shape {re.escape(str(bad))} does not broadcast to the unreduced loss shape {re.escape(str(loss_shape))}"
    with pytest.raises(ValueError, match=msg):
        call(backend, fam, weights=floats(backend, np.ones(bad)))


@pytest.mark.parametrize("fam", FAMILIES, ids=ids)
def test_weights_may_not_grow_the_loss(backend, fam):
    """Weights broadcast *to* the loss; a weight array with more dimensions is an error."""
    big = (2, N) if fam.rowwise else (2, N, C)
    with pytest.raises(ValueError, match=r"weights with shape .* does not broadcast to the unreduced loss"):
        call(backend, fam, weights=floats(backend, np.ones(big)))


def test_where_mask_that_does_not_broadcast_names_both_shapes(backend):
    fam = BY_FAMILY["softmax_cross_entropy"]
    mask = backend.asarray(np.ones((C + 1,), dtype=bool))
    with pytest.raises(ValueError, match=rf"where with shape \({C + 1},\) does not broadcast to logits shape \({N}, {C}\)"):
        call(backend, fam, where=mask)


@pytest.mark.parametrize("fam", fams("sigmoid_cross_entropy", "softmax_cross_entropy", "sigmoid_focal_loss"), ids=ids)
def test_non_boolean_where_is_a_typeerror(backend, fam):
    with pytest.raises(TypeError, match=r"where must be a boolean array, got dtype .*float64"):
        call(backend, fam, where=floats(backend, np.ones((N, C))))


# ------------------------------------------------------------------ pos_weight


def test_pos_weight_of_the_wrong_length_names_the_class_count(backend):
    fam = BY_FAMILY["sigmoid_cross_entropy"]
    msg = rf"pos_weight with shape \({C - 1},\) does not broadcast to logits shape \({N}, {C}\).*one value per class along the last axis \({C}\)"
    with pytest.raises(ValueError, match=msg):
        call(backend, fam, pos_weight=floats(backend, np.ones(C - 1)))


@pytest.mark.parametrize("value", [-1.0, -1])
def test_negative_python_pos_weight_is_a_valueerror_on_every_backend(backend, value):
    with pytest.raises(ValueError, match=rf"pos_weight must be >= 0, got a negative value {value}"):
        call(backend, BY_FAMILY["sigmoid_cross_entropy"], pos_weight=value)


def test_negative_numpy_pos_weight_is_a_valueerror_naming_the_value():
    """Host data (NumPy) is checked; the value is named."""
    fam = BY_FAMILY["sigmoid_cross_entropy"]
    pw = np.array([1.0, -0.5, 2.0, 1.0])
    with pytest.raises(ValueError, match=r"pos_weight must be >= 0, got a negative value -0.5"):
        call(BY_NAME["numpy"], fam, pos_weight=pw)


def test_negative_device_pos_weight_is_not_checked_on_the_default_path():
    """A torch tensor's values are not read (no host sync): torch's ``meta`` device has no
    values at all, and the call succeeds. The result for negative values is the formula's."""
    torch = require("torch")
    x = torch.zeros((N, C), device="meta")
    z = torch.zeros((N, C), device="meta")
    out = xb.sigmoid_cross_entropy(x, z, pos_weight=torch.full((C,), -1.0, device="meta"), reduction="mean")
    assert out.device.type == "meta" and out.shape == ()


def test_negative_pos_weight_under_jit_is_not_checked():
    require("jax")
    import jax
    import jax.numpy as jnp

    f = jax.jit(lambda x, z, pw: xb.sigmoid_cross_entropy(x, z, pos_weight=pw))
    out = f(jnp.zeros((N, C)), jnp.zeros((N, C)), -jnp.ones(C))
    # formula value with pw = -1, z = 0: softplus(0) = log 2
    np.testing.assert_allclose(np.asarray(out), np.full((N, C), np.log(2.0)), rtol=1e-12)


# ------------------------------------------------------------------ scalar options


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan")])
@pytest.mark.parametrize("fam", fams("sigmoid_cross_entropy", "softmax_cross_entropy", "sparse_softmax_cross_entropy"), ids=ids)
def test_label_smoothing_outside_0_1_is_a_valueerror_naming_the_value(backend, fam, value):
    with pytest.raises(ValueError, match=rf"label_smoothing must be in \[0, 1\], got {value}"):
        call(backend, fam, label_smoothing=value)


@pytest.mark.parametrize("fam", fams("sigmoid_cross_entropy", "sparse_softmax_cross_entropy"), ids=ids)
def test_label_smoothing_given_as_an_array_is_a_typeerror(backend, fam):
    with pytest.raises(TypeError, match=r"label_smoothing must be a Python number in \[0, 1\]"):
        call(backend, fam, label_smoothing=floats(backend, 0.1))


@pytest.mark.parametrize("value", [0.0, 0.5, 0.7, -1e-3])
@pytest.mark.parametrize("fam", fams("binary_cross_entropy", "categorical_cross_entropy"), ids=ids)
def test_eps_outside_open_interval_0_half_is_a_valueerror(backend, fam, value):
    with pytest.raises(ValueError, match=rf"eps must be in \(0, 0.5\), got {value}"):
        call(backend, fam, eps=value)


@pytest.mark.parametrize("value", [-1.0, float("inf"), float("nan")])
@pytest.mark.parametrize("fam", fams("sigmoid_focal_loss", "softmax_focal_loss"), ids=ids)
def test_gamma_must_be_a_finite_nonnegative_number(backend, fam, value):
    with pytest.raises(ValueError, match=rf"gamma must be a finite number >= 0, got {value}"):
        call(backend, fam, gamma=value)


@pytest.mark.parametrize("value", [-0.25, 1.5])
def test_sigmoid_focal_alpha_outside_0_1_is_a_valueerror(backend, value):
    with pytest.raises(ValueError, match=rf"alpha must be in \[0, 1\], got {value}"):
        call(backend, BY_FAMILY["sigmoid_focal_loss"], alpha=value)


def test_softmax_focal_negative_scalar_alpha_is_a_valueerror(backend):
    with pytest.raises(ValueError, match=r"alpha must be a finite number >= 0, got -1.0"):
        call(backend, BY_FAMILY["softmax_focal_loss"], alpha=-1.0)


@pytest.mark.parametrize("fam", fams("softmax_cross_entropy", "sparse_softmax_cross_entropy"), ids=ids)
def test_negative_z_loss_is_a_valueerror(backend, fam):
    with pytest.raises(ValueError, match=r"z_loss must be a finite number >= 0, got -0.1"):
        call(backend, fam, z_loss=-0.1)


@pytest.mark.parametrize("fam", INT_FAMILIES, ids=ids)
def test_non_integer_ignore_index_is_a_typeerror(backend, fam):
    with pytest.raises(TypeError, match=r"ignore_index must be an int or None, got 1.5"):
        call(backend, fam, ignore_index=1.5)


# ------------------------------------------------------------------ strings


@pytest.mark.parametrize("value", ["avg", "Mean", "", None])
@pytest.mark.parametrize("fam", FAMILIES, ids=ids)
def test_unknown_reduction_lists_the_choices(backend, fam, value):
    msg = r"reduction must be one of 'none', 'sum', 'mean', 'sum_over_batch_size'; got " + re.escape(repr(value))
    with pytest.raises(ValueError, match=msg):
        call(backend, fam, reduction=value)


@pytest.mark.parametrize("value", ["clip", "NaN", "ignore"])
@pytest.mark.parametrize("fam", INT_FAMILIES, ids=ids)
def test_unknown_invalid_policy_lists_the_choices(backend, fam, value):
    with pytest.raises(ValueError, match=rf"invalid must be one of 'nan', 'raise'; got '{value}'"):
        call(backend, fam, invalid=value)


@pytest.mark.parametrize("fam", FAMILIES, ids=ids)
def test_integer_result_dtype_is_a_typeerror(backend, fam):
    with pytest.raises(TypeError, match=r"dtype must be a real floating dtype of the input's namespace, got .*int64"):
        call(backend, fam, dtype=backend.dtype("int64"))


# ------------------------------------------------------------------ frameworks, devices


def _other_framework_array(backend: Backend, a: np.ndarray) -> Any:
    if backend.framework != "numpy":
        return a
    import array_api_strict as xs

    return xs.asarray(a)


@pytest.mark.parametrize("where_", ["labels", "weights"])
@pytest.mark.parametrize("fam", fams("sigmoid_cross_entropy", "softmax_cross_entropy", "sparse_softmax_cross_entropy"), ids=ids)
def test_arrays_from_two_frameworks_are_a_typeerror_naming_both_types(backend, fam, where_):
    x = first_arg(backend, fam)
    y = good_labels(backend, fam)
    kw = {}
    if where_ == "labels":
        y = _other_framework_array(backend, backend.to_numpy(y))
        other = type(y)
    else:
        w = np.ones((N,) if fam.rowwise else (N, C))
        kw["weights"] = _other_framework_array(backend, w)
        other = type(kw["weights"])
    msg = (
        r"arrays from different frameworks cannot be mixed: .*"
        + re.escape(other.__qualname__)
        + r".*convert them to one framework"
    )
    with pytest.raises(TypeError, match=msg):
        fam.fn(x, y, **kw)


@pytest.mark.parametrize("arg", ["labels", "weights", "class_weights"])
def test_arrays_on_two_devices_are_a_valueerror(arg):
    """array-api-strict's second device: its own ValueError names both devices."""
    xs = require("array_api_strict")
    dev = xs.Device("device1")
    x = xs.asarray(np.zeros((N, C)))
    kw = {"labels": xs.asarray([0, 1, 2]), "weights": None, "class_weights": None}
    other = {"labels": xs.asarray([0, 1, 2], device=dev), "weights": xs.ones(N, device=dev),
             "class_weights": xs.ones(C, device=dev)}
    kw[arg] = other[arg]
    labels = kw.pop("labels")
    with pytest.raises(ValueError, match=r"two different devices .*device1"):
        xb.sparse_softmax_cross_entropy(x, labels, **kw)


def test_torch_arrays_on_two_devices_raise_torchs_device_error():
    torch = require("torch")
    x = torch.zeros((N, C))
    y = torch.zeros(N, dtype=torch.int64, device="meta")
    # torch's message depends on the op that meets both devices first (the gather here)
    with pytest.raises(RuntimeError, match=r"(?i)expected .*cpu device.*meta device|device meta .*expected device cpu"):
        xb.sparse_softmax_cross_entropy(x, y)


# ------------------------------------------------------------------ lists and scalars


@pytest.mark.parametrize("fam", FAMILIES, ids=ids)
def test_python_list_as_first_argument_is_a_typeerror_naming_it(backend, fam):
    with pytest.raises(TypeError, match=rf"{fam.first} must be an array, got a Python list"):
        fam.fn([[0.5] * C] * N, good_labels(backend, fam))


@pytest.mark.parametrize("fam", FAMILIES, ids=ids)
def test_python_list_as_labels_is_a_typeerror_naming_labels(backend, fam):
    with pytest.raises(TypeError, match=r"labels must be an array, got a Python list"):
        fam.fn(first_arg(backend, fam), backend.to_numpy(good_labels(backend, fam)).tolist())


@pytest.mark.parametrize(
    "fam, arg, value",
    [
        ("sigmoid_cross_entropy", "weights", [1.0] * C),
        ("sigmoid_cross_entropy", "pos_weight", [1.0] * C),
        ("sigmoid_cross_entropy", "where", [True] * C),
        ("softmax_cross_entropy", "class_weights", [1.0] * C),
        ("softmax_cross_entropy", "where", [True] * C),
        ("sparse_softmax_cross_entropy", "weights", [1.0] * N),
        ("sparse_softmax_cross_entropy", "class_weights", (1.0,) * C),
        ("softmax_focal_loss", "alpha", [0.25] * C),
        ("sigmoid_focal_loss", "weights", [1.0] * C),
        ("binary_cross_entropy", "weights", [1.0] * C),
        ("categorical_cross_entropy", "weights", [1.0] * N),
    ],
)
def test_python_sequence_options_are_a_typeerror_naming_the_argument(backend, fam, arg, value):
    kind = type(value).__name__
    with pytest.raises(TypeError, match=rf"{arg} must be an array, got a Python {kind}"):
        call(backend, BY_FAMILY[fam], **{arg: value})


@pytest.mark.parametrize("fam", FAMILIES, ids=ids)
def test_python_scalar_as_first_argument_is_a_typeerror(backend, fam):
    with pytest.raises(TypeError, match=rf"{fam.first} must be an array, got float 0.5"):
        fam.fn(0.5, good_labels(backend, fam))


@pytest.mark.parametrize("fam", FAMILIES, ids=ids)
def test_python_scalar_as_labels_is_a_typeerror(backend, fam):
    with pytest.raises(TypeError, match=r"labels must be an array, got int 1"):
        fam.fn(first_arg(backend, fam), 1)


@pytest.mark.parametrize(
    "fam, arg, value",
    [
        ("sparse_softmax_cross_entropy", "weights", 2.0),
        ("sparse_softmax_cross_entropy", "class_weights", 1.0),
        ("softmax_cross_entropy", "where", True),
        ("sigmoid_cross_entropy", "weights", 2),
    ],
)
def test_python_scalar_options_where_an_array_is_needed_are_a_typeerror(backend, fam, arg, value):
    with pytest.raises(TypeError, match=rf"{arg} must be an array, got {type(value).__name__} {value!r}"):
        call(backend, BY_FAMILY[fam], **{arg: value})


@pytest.mark.parametrize("fn", [xb.sigmoid, xb.softplus, xb.logsumexp, xb.softmax])
def test_primitives_reject_python_lists_and_scalars(fn):
    with pytest.raises(TypeError, match=r"x must be an array, got a Python list"):
        fn([0.0, 1.0])
    with pytest.raises(TypeError, match=r"x must be an array, got float 1.0"):
        fn(1.0)


# ------------------------------------------------------------------ empty arrays


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("fam", FAMILIES, ids=ids)
def test_empty_batch_gives_an_empty_result_or_zero_never_nan(backend, fam, reduction):
    shape = (0, C)
    out = fam.fn(first_arg(backend, fam, shape), good_labels(backend, fam, shape), reduction=reduction)
    got = materialise(backend, out)
    if reduction == "none":
        assert got.shape == ((0,) if fam.rowwise else (0, C))
    else:
        assert got.shape == () and got == 0.0, got


@pytest.mark.parametrize("fam", fams("sparse_softmax_cross_entropy", "softmax_cross_entropy"), ids=ids)
def test_empty_batch_with_weights_and_class_weights_reduces_to_zero(backend, fam):
    shape = (0, C)
    out = fam.fn(
        first_arg(backend, fam, shape), good_labels(backend, fam, shape),
        weights=floats(backend, np.ones(0)), class_weights=floats(backend, np.ones(C)), reduction="mean",
    )
    assert materialise(backend, out) == 0.0


@pytest.mark.parametrize("fam", [f for f in ROW_FAMILIES if f.first == "logits"], ids=ids)
def test_zero_classes_is_a_valueerror_naming_the_axis(backend, fam):
    """Logits need at least one class (categorical_cross_entropy from probabilities sums
    over nothing and gives 0, the value of an empty sum)."""
    with pytest.raises(ValueError, match=r"has no classes: size 0 along axis 1"):
        fam.fn(first_arg(backend, fam, (N, 0)), good_labels(backend, fam, (N, 0)))


def test_primitives_on_empty_arrays(backend):
    """logsumexp of nothing is -inf (the empty sum is 0); softmax of nothing is empty."""
    e = floats(backend, np.zeros((N, 0)))
    np.testing.assert_array_equal(materialise(backend, xb.logsumexp(e)), np.full(N, -np.inf))
    assert materialise(backend, xb.softmax(e)).shape == (N, 0)
    assert materialise(backend, xb.log_softmax(e)).shape == (N, 0)
    b = floats(backend, np.zeros((0, C)))
    assert materialise(backend, xb.logsumexp(b)).shape == (0,)
    assert materialise(backend, xb.sigmoid(b)).shape == (0, C)


# ------------------------------------------------------------------ value checks only on request


@pytest.mark.parametrize("fam", INT_FAMILIES, ids=ids)
def test_default_policy_reads_no_label_values_under_jit(fam):
    """Under jax.jit label values do not exist; the default path still works (NaN row)."""
    require("jax")
    import jax
    import jax.numpy as jnp

    f = jax.jit(lambda x, y: fam.fn(x, y))
    out = np.asarray(f(jnp.zeros((N, C)), jnp.asarray([0, 9, -1])))
    assert np.isfinite(out[0]) and np.isnan(out[1]) and np.isnan(out[2])


@pytest.mark.parametrize("fam", INT_FAMILIES, ids=ids)
def test_invalid_raise_under_jit_is_a_clear_trace_time_error(fam):
    require("jax")
    import jax
    import jax.numpy as jnp

    f = jax.jit(lambda x, y: fam.fn(x, y, invalid="raise"))
    with pytest.raises(ValueError, match=r"invalid='raise' needs concrete label values, but labels are traced"):
        f(jnp.zeros((N, C)), jnp.asarray([0, 1, 2]))


@pytest.mark.parametrize("fam", INT_FAMILIES, ids=ids)
def test_default_policy_reads_no_label_values_on_torch_meta(fam):
    """torch's meta device has shapes but no values: anything that reads one fails."""
    torch = require("torch")
    out = fam.fn(torch.zeros((N, C), device="meta"), torch.zeros(N, dtype=torch.int64, device="meta"),
                 ignore_index=-100, reduction="mean")
    assert out.device.type == "meta"


def _refuse(*args, **kwargs):
    raise AssertionError("xbackend computed a Dask graph")


@pytest.mark.parametrize("fam", INT_FAMILIES, ids=ids)
def test_invalid_raise_on_dask_is_lazy_and_fires_at_compute(fam):
    require("dask")
    import dask
    import dask.array as da

    x = da.from_array(np.zeros((6, C)), chunks=(2, 2))
    y = da.from_array(np.array([0, 1, 2, 3, 7, 0]), chunks=2)
    with dask.config.set(scheduler=_refuse):
        out = fam.fn(x, y, invalid="raise", reduction="sum")  # builds a graph, computes nothing
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 4\); got 7 at position \(4,\) \(1 bad label\(s\) in this chunk\)"):
        out.compute(scheduler="sync")


@pytest.mark.parametrize("dtype", ["int32", "int16", "uint8"])
@pytest.mark.parametrize("fam", INT_FAMILIES, ids=ids)
def test_every_integer_label_dtype_gives_the_int64_result(backend, fam, dtype):
    """Narrow integer labels are valid input (regression: torch's gathers took only int64)."""
    x = first_arg(backend, fam)
    kw = {"class_weights": floats(backend, np.arange(1.0, C + 1))} if fam.name.startswith("sparse") else {}
    want = materialise(backend, fam.fn(x, ints(backend, [0, 3, 1]), **kw))
    got = materialise(backend, fam.fn(x, backend.asarray(np.array([0, 3, 1]), dtype), **kw))
    np.testing.assert_array_equal(got, want)
