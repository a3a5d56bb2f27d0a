"""Validation and preparation of a loss's inputs (shared by both families)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple, TypeVar

from xbackend._backends import array_namespace, backend, entry
from xbackend._lib import _checks
from xbackend._lib._dtypes import cast, compute_dtype, out_dtype
from xbackend._lib._labels import raise_if

F = TypeVar("F", bound=Callable[..., Any])
_NOT_ARRAYS = (bool, int, float, complex, list, tuple)


def quiet_numpy(fn: F) -> F:
    """Run a public function the way its arrays' framework wants it run.

    The backend of the first argument decides (:meth:`Backend.call
    <xbackend._backends._base.Backend.call>`): NumPy and array-api-strict silence their
    floating-point warnings (the losses produce inf/NaN at documented edges), JAX runs
    the function as one ``jax.jit`` program like ``jax.nn``, the others call it as is (no
    context manager in a ``torch.compile`` trace).
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        be = entry(args[0]) if args else None
        if be is None:
            return fn(*args, **kwargs)
        return be.call(fn, args, kwargs)

    # TensorFlow's AutoGraph (on by default in tf.function) would rewrite every library
    # function it reaches: ~17 s of CPU to trace four losses with their gradients instead
    # of 0.6 s. The library has no value-dependent Python control flow, so it runs
    # unconverted; this attribute is AutoGraph's own "artifact, call as is" marker.
    wrapper.autograph_info__ = frozenset()  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


class Inputs(NamedTuple):
    xp: ModuleType
    x: Any  # logits (or probabilities) in the compute dtype
    compute: Any  # compute dtype
    out: Any  # result dtype
    shape: tuple  # logits shape (None for sizes unknown at trace time)
    be: Any  # the framework's backend (xbackend._backends)


def prepare(
    first: Any,
    labels: Any,
    *others: Any,
    xp: ModuleType | None,
    dtype: Any,
    reduction: str,
    name: str = "logits",
    cast_first: bool = True,
    names: tuple[str, ...] = (),
) -> Inputs:
    """Common checks: arrays, one namespace, one device, real floating ``first``,
    ``reduction``, ``dtype``.

    ``cast_first=False`` leaves ``Inputs.x`` in its own dtype (the chunked path casts
    block by block instead of copying the whole array). ``names`` names ``others`` (for
    the device error).
    """
    # the checks run as calls only when something is wrong (a shallow hot path)
    if not hasattr(first, "dtype") or isinstance(first, _NOT_ARRAYS):
        _checks.require_array(first, name)
    if not hasattr(labels, "dtype") or isinstance(labels, _NOT_ARRAYS):
        _checks.require_array(labels, "labels")
    if not isinstance(reduction, str) or reduction not in _checks.REDUCTIONS:
        _checks.check_choice(reduction, "reduction", _checks.REDUCTIONS)
    # Python lists among the optional arrays are rejected later by the check that
    # knows the argument's name (class_weights, weights, where, ...).
    arrays = [first, labels]
    for o in others:
        if not isinstance(o, (list, tuple)):
            arrays.append(o)
    xp = array_namespace(*arrays, xp=xp)
    _checks.check_real_floating(xp, first, name)
    be = backend(xp)
    if not be.single_device:
        be.check_devices(first, name, [labels, *others], ("labels", *names))
    if dtype is None:
        out = first.dtype
    else:
        out = dtype = be.canonical_dtype(out_dtype(xp, first.dtype, dtype))
    ct = compute_dtype(xp, first.dtype, dtype)
    x = cast(xp, first, ct) if cast_first else first
    return Inputs(xp, x, ct, out, _checks.shape_of(first, name), be)


def apply_where(xp: ModuleType, x: Any, where: Any, shape: tuple) -> Any:
    """Validate a boolean mask broadcastable to ``shape``; masked logits become -inf."""
    if where is None:
        return x
    check_mask(xp, where, shape, "logits")
    return xp.where(where, x, -xp.inf)


def check_mask(xp: ModuleType, where: Any, shape: tuple, target: str) -> None:
    _checks.require_array(where, "where")
    if not xp.isdtype(where.dtype, "bool"):
        raise TypeError(f"where must be a boolean array, got dtype {where.dtype}")
    _checks.check_broadcasts_to(_checks.shape_of(where, "where"), shape, "where", target)


def float_labels(
    xp: ModuleType, labels: Any, shape: tuple, dtype: Any, *, allow_int: bool, target: str = "logits"
) -> Any:
    """Labels broadcast to ``shape`` in ``dtype``."""
    if not xp.isdtype(labels.dtype, "real floating"):
        if not allow_int:
            raise TypeError(
                f"labels must be floating probability vectors, got dtype {labels.dtype}; "
                "for integer class indices use sparse_softmax_cross_entropy"
            )
        if not xp.isdtype(labels.dtype, ("bool", "integral")):
            raise TypeError(f"labels must be real (float, bool or 0/1 integers), got dtype {labels.dtype}")
    lshape = _checks.shape_of(labels, "labels")
    _checks.check_broadcasts_to(lshape, shape, "labels", target)
    y = cast(xp, labels, dtype)
    if lshape != shape:
        try:
            y = xp.broadcast_to(y, tuple(shape))
        except (ValueError, TypeError):
            if None not in shape:
                raise
            raise ValueError(
                f"labels with shape {lshape} must be broadcast to {target} shape {shape}, "
                "whose sizes are not known now: give labels the full shape, or (Dask chunks "
                "of unknown size, e.g. after a boolean filter) call compute_chunk_sizes() first"
            ) from None
    return y


def class_vector(xp: ModuleType, v: Any, n_classes: Any, name: str, dtype: Any) -> Any:
    """A length-C per-class array (``class_weights``, ``alpha``)."""
    if v is None:
        return None
    _checks.require_array(v, name)
    shape = _checks.shape_of(v, name)
    if len(shape) != 1 or (n_classes is not None and shape[0] not in (n_classes, None)):
        raise ValueError(f"{name} must have shape ({n_classes},) (one value per class), got shape {shape}")
    if not xp.isdtype(v.dtype, ("real floating", "integral")):
        raise TypeError(f"{name} must be a real array, got dtype {v.dtype}")
    return cast(xp, v, dtype)


# ------------------------------------------------------- values that have no meaning
# (the ``invalid`` policy of integer labels, for probabilities and weights)


def _out_of_unit(v: Any) -> Any:
    return (v < 0) | (v > 1)  # NaN: False (a NaN probability stays NaN on its own)


def _described(name: str, what: str, kind: str) -> Callable[[Any, tuple, int, str], str]:
    def describe(value: Any, pos: tuple, count: int, scope: str) -> str:
        return f"{name} must be {what}; got {value!r} at position {pos} ({count} {kind} {scope})"

    return describe


def _clip(xp: ModuleType, p: Any, e: Any) -> Any:
    """``clip(p, e, 1 - e)``; on Dask chunks of unknown size (whose ``clip`` needs the
    sizes) the same values with two ``where``."""
    for d in p.shape:
        if d != d:  # NaN size
            return xp.where(p < e, e, xp.where(p > 1.0 - e, 1.0 - e, p))
    # the backend's clip (on torch: torch.clamp, which takes a symbolic eps under torch.compile)
    return backend(xp).functional.clip(p, e, 1.0 - e)


def probabilities(xp: ModuleType, p: Any, e: float, invalid: str, name: str = "probs") -> Any:
    """``clip(p, e, 1 - e)`` for probabilities in [0, 1]; outside it (``1.5``, ``-0.5``,
    ``±inf``: logits passed by mistake) NaN in the value and the gradient under
    ``invalid="nan"``, a :class:`ValueError` naming the first one under ``"raise"``. NaN
    stays NaN (value and gradient)."""
    if invalid == "raise":
        p = raise_if(xp, p, _out_of_unit, _described(name, "probabilities in [0, 1]", "bad value(s)"), name, "probability")
        return xp.where(p == p, _clip(xp, p, e), p)
    # p·NaN outside [0, 1] (0 elsewhere) is added rather than selected: its derivative is
    # the NaN itself, where a where/clip would pass a zero gradient
    nan_out = xp.where(_out_of_unit(p), xp.nan, xp.zeros_like(p))
    return xp.where(p == p, _clip(xp, p, e), p) + p * nan_out


def nonnegative(xp: ModuleType, v: Any, name: str, invalid: str, *, to_nan: bool = True) -> Any:
    """An array of weights where a negative value has no meaning (``pos_weight``,
    ``class_weights``, ``alpha``): under ``invalid="raise"`` a :class:`ValueError` naming
    the first negative entry; under ``"nan"`` negative entries become NaN (``to_nan``; the
    caller may instead apply them itself, as the soft-label kernel does with class weights)."""
    if v is None:
        return None
    if invalid == "raise":
        return raise_if(xp, v, lambda a: a < 0, _described(name, ">= 0", "negative value(s)"), name, "weight")
    return xp.where(v < 0, xp.nan, v) if to_nan else v


def row_shape(shape: tuple, axis: int) -> tuple:
    return shape[:axis] + shape[axis + 1 :]


def float_option(inp: Inputs, value: Any, name: str, check: Any, *, invalid: str = "nan") -> Any:
    """A float option (``label_smoothing``, ``gamma``, ...): a Python number, checked by
    ``check``, comes back as a Python float; a 0-d array (a tracer under ``jax.jit``)
    comes back unchecked in the compute dtype -- its range is checked only under
    ``invalid="raise"`` and only when its value is concrete (no trace, no lazy graph).
    """
    v = check(value, name)
    if isinstance(v, float):
        return v
    try:
        array_namespace(inp.x, v)
    except TypeError as exc:
        raise TypeError(f"{name}: {exc}") from None
    if invalid == "raise" and not inp.be.lazy and not inp.be.is_traced(v):
        check(float(inp.be.to_host(v)), name)
    return cast(inp.xp, v, inp.compute)
