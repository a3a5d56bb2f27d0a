"""Validation and preparation of a loss's inputs (shared by both families)."""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any, Callable, NamedTuple, TypeVar

import array_api_compat
import numpy as np

from xbackend._lib import _checks
from xbackend._lib._compiled import _is_array, compiled
from xbackend._lib._dtypes import cast, compute_dtype, out_dtype
from xbackend._lib._labels import raise_if
from xbackend._backends import array_namespace, framework_name


F = TypeVar("F", bound=Callable[..., Any])
_NUMPY_BASED = ("numpy", "array_api_strict")


def quiet_numpy(fn: F) -> F:
    """Silence NumPy's floating-point warnings inside a public function.

    The losses produce inf/NaN at documented edges (``inf - inf`` in a branch that
    ``where`` then discards, NaN rows for NaN inputs); NumPy would warn about the
    intermediate values. Other frameworks do not warn and are called directly (no
    context manager in a ``torch.compile`` or ``jax.jit`` trace).
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if args:
            top = type(args[0]).__module__.split(".")[0]
            if top in _NUMPY_BASED:
                with np.errstate(all="ignore"):
                    return fn(*args, **kwargs)
            if top in _JAX and kwargs.get("invalid") != "raise":
                return _jax_jit(fn, args, kwargs)
        return fn(*args, **kwargs)

    # TensorFlow's AutoGraph (on by default in tf.function) would rewrite every library
    # function it reaches: ~17 s of CPU to trace four losses with their gradients instead
    # of 0.6 s. The library has no value-dependent Python control flow, so it runs
    # unconverted; this attribute is AutoGraph's own "artifact, call as is" marker.
    wrapper.autograph_info__ = frozenset()  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


_JAX = ("jax", "jaxlib")


def _jax_jit(fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """Call ``fn`` on JAX arrays through ``jax.jit`` (:func:`xbackend.compiled`), as JAX's
    own ``jax.nn`` functions do: eager JAX would dispatch every operation of the generic
    code on its own (2-4x the native loss on a CPU), one compiled program is as fast as
    the natives or faster. Non-array arguments are static (one compile per shape and
    combination of options, cached); inside an outer ``jax.jit``, ``grad`` or ``vmap``
    the inner ``jit`` is inlined. ``invalid="raise"`` stays eager: it reads label values.
    """
    # (two frameworks: compiled() refuses them by their namespaces before jit would turn
    # NumPy arrays into JAX ones)
    try:
        hash(tuple(a for a in args if not _is_array(a)))
        hash(tuple(v for v in kwargs.values() if not _is_array(v)))
    except TypeError:  # e.g. a list where an array belongs: eager, where its check names it
        return fn(*args, **kwargs)
    return compiled(fn)(*args, **kwargs)


class Inputs(NamedTuple):
    xp: ModuleType
    x: Any  # logits (or probabilities) in the compute dtype
    compute: Any  # compute dtype
    out: Any  # result dtype
    shape: tuple  # logits shape (None for sizes unknown at trace time)


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
    _checks.require_array(first, name)
    _checks.require_array(labels, "labels")
    _checks.check_reduction(reduction)
    # Python lists among the optional arrays are rejected later by the check that
    # knows the argument's name (class_weights, weights, where, ...).
    others = tuple(o for o in others if not isinstance(o, (list, tuple)))
    xp = array_namespace(first, labels, *others, xp=xp)
    check_devices(xp, first, name, ((labels, "labels"),) + tuple(zip(others, names + ("array",) * len(others))))
    _checks.check_real_floating(xp, first, name)
    out = out_dtype(xp, first.dtype, dtype)
    ct = compute_dtype(xp, first.dtype, dtype)
    return Inputs(xp, cast(xp, first, ct) if cast_first else first, ct, out, _checks.shape_of(first))


# ------------------------------------------------------------------------------- devices
# (the framework-specific lines are _device_key's; the rest is generic)


def _device_key(fw: str, x: Any) -> Any:
    """A cheap comparable identity of ``x``'s device (no host sync), or None: not checked.

    torch: the ``device`` attribute (``array_api_compat.device``'s cached type checks make
    ``torch.compile`` warn). JAX: the set of devices of a *committed* array (a sharded
    array's ``device`` is its sharding, and labels may be sharded differently on the same
    devices; uncommitted arrays follow the others, as JAX moves them); tracers have none.
    TensorFlow: the tensor's device string (empty for symbolic tensors).
    """
    if fw == "torch":
        return x.device
    if fw == "jax":
        import jax

        if isinstance(x, jax.core.Tracer) or not getattr(x, "committed", False):
            return None
        return frozenset(x.devices())
    if fw == "tensorflow":
        try:
            d = x.device
        except AttributeError:  # symbolic tensors in some TF versions
            return None
        return d or None
    return array_api_compat.device(x)


def check_devices(xp: ModuleType, first: Any, name: str, others: tuple) -> None:
    """Every array of ``others`` (``(array, name)`` pairs; non-arrays skipped) must be on
    ``first``'s device: :class:`ValueError` naming both devices, before any computation.

    A framework would otherwise move, refuse or -- torch's ``meta`` device, whose in-place
    updates do nothing -- silently misuse the other array.
    """
    fw = framework_name(xp)
    if fw in ("numpy", "dask"):  # one device ("cpu") by construction
        return
    ref = _device_key(fw, first)
    if ref is None:
        return
    for a, what in others:
        if not _is_array(a):
            continue
        d = _device_key(fw, a)
        if d is not None and d != ref:
            raise ValueError(
                f"arrays on two different devices: {what} is on {_device_name(fw, d)} but "
                f"{name} is on {_device_name(fw, ref)}; move {what} to the device of {name} first"
            )


def _device_name(fw: str, key: Any) -> str:
    if fw == "jax":
        return str(sorted(str(d) for d in key)) if len(key) > 1 else str(next(iter(key)))
    return repr(str(key)) if fw == "tensorflow" else str(key)


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
    _checks.check_broadcasts_to(_checks.shape_of(where), shape, "where", target)


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
    lshape = _checks.shape_of(labels)
    _checks.check_broadcasts_to(lshape, shape, "labels", target)
    y = cast(xp, labels, dtype)
    if lshape != shape:
        y = xp.broadcast_to(y, tuple(shape))
    return y


def class_vector(xp: ModuleType, v: Any, n_classes: Any, name: str, dtype: Any) -> Any:
    """A length-C per-class array (``class_weights``, ``alpha``)."""
    if v is None:
        return None
    _checks.require_array(v, name)
    shape = _checks.shape_of(v)
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


def probabilities(xp: ModuleType, p: Any, e: float, invalid: str, name: str = "probs") -> Any:
    """``clip(p, e, 1 - e)`` for probabilities in [0, 1]; outside it (``1.5``, ``-0.5``,
    ``±inf``: logits passed by mistake) NaN in the value and the gradient under
    ``invalid="nan"``, a :class:`ValueError` naming the first one under ``"raise"``. NaN
    stays NaN (value and gradient)."""
    if invalid == "raise":
        p = raise_if(xp, p, _out_of_unit, _described(name, "probabilities in [0, 1]", "bad value(s)"), name, "probability")
        return xp.where(p == p, xp.clip(p, e, 1.0 - e), p)
    # p·NaN outside [0, 1] (0 elsewhere) is added rather than selected: its derivative is
    # the NaN itself, where a where/clip would pass a zero gradient
    nan_out = xp.where(_out_of_unit(p), xp.nan, xp.zeros_like(p))
    return xp.where(p == p, xp.clip(p, e, 1.0 - e), p) + p * nan_out


def nonnegative(xp: ModuleType, v: Any, name: str, invalid: str, *, to_nan: bool = True) -> Any:
    """An array of weights where a negative value has no meaning (``pos_weight``,
    ``class_weights``, ``alpha``): under ``invalid="raise"`` a :class:`ValueError` naming
    the first negative entry; under ``"nan"`` negative entries become NaN (``to_nan``; the
    caller may instead apply them itself, see :func:`weigh_labels`)."""
    if v is None:
        return None
    if invalid == "raise":
        return raise_if(xp, v, lambda a: a < 0, _described(name, ">= 0", "negative value(s)"), name, "weight")
    return xp.where(v < 0, xp.nan, v) if to_nan else v


def weigh_labels(xp: ModuleType, q: Any, cw: Any) -> Any:
    """``q·cw`` for soft labels ``q`` and class weights ``cw`` (broadcast along the class
    axis), NaN where a non-zero label meets a negative class weight: the rows whose label
    mass touches a negative weight become NaN, the others keep their value."""
    return xp.where((q != 0) & (cw < 0), xp.nan, q * cw)


def row_shape(shape: tuple, axis: int) -> tuple:
    return shape[:axis] + shape[axis + 1 :]
