"""An Array API namespace for ``tf.Tensor`` and ``tf.Variable``, covering what xbackend uses.

array-api-compat has no TensorFlow support (data-apis/array-api-compat#441 is open) and
``tf.experimental.numpy`` is not an Array API namespace (no ``astype``/``isdtype``,
``tnp.asarray(0.5)`` is float64, and ``experimental_enable_numpy_behavior`` changes the
whole program). This module maps the standard's names, with the standard's signatures,
onto core TensorFlow ops (``tf.math.*``, ``tf.reduce_*``, ``tf.cast``, ``tf.gather``).
It implements **only** the names the library uses; anything else raises
:class:`AttributeError` (``tests/test_tf_namespace_contract.py`` checks that every
``xp.<name>`` in the library exists here). Nothing process-wide is ever switched on.

Conventions (where TensorFlow differs from the standard):

* Python scalars in binary functions and :func:`where` take the dtype of the array
  argument (TensorFlow refuses mixed dtypes); arrays of two floating (or two signed
  integer) dtypes are promoted to the wider one.
* :func:`max` propagates NaN also under XLA (``tf.reduce_max`` inside
  ``jit_compile=True`` skips NaN; eager and graph mode propagate it).
* Shapes may contain ``None`` (sizes unknown while ``tf.function`` traces): a single
  ``None``/``-1`` in :func:`reshape` is inferred; :func:`broadcast_to` keeps an unknown
  size where the input already has that axis.
* Default dtypes: float32 for Python floats, int64 for Python ints and :func:`arange`.
* ``tf.Variable`` inputs are read into tensors by :func:`astype` (a Variable has no
  ``ndim`` and is not an array of the standard); the read is recorded by
  ``tf.GradientTape``, so gradients reach the Variable.
* :func:`device` returns the tensor's device string (``""`` for a symbolic tensor that
  is not placed yet); :func:`to_device` copies under ``tf.device``.

If array-api-compat gains TensorFlow, :func:`xbackend._backends._tensorflow_namespace`
is the one place to switch.
"""

from __future__ import annotations

import builtins
import contextlib
import math
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

__array_api_version__ = "2024.12"

# ------------------------------------------------------------------------- constants
inf = math.inf
nan = math.nan
e = math.e
pi = math.pi

# ---------------------------------------------------------------------------- dtypes
bool = tf.bool
int8, int16, int32, int64 = tf.int8, tf.int16, tf.int32, tf.int64
uint8, uint16, uint32, uint64 = tf.uint8, tf.uint16, tf.uint32, tf.uint64
float16, bfloat16, float32, float64 = tf.float16, tf.bfloat16, tf.float32, tf.float64
complex64, complex128 = tf.complex64, tf.complex128

_DEFAULT_FLOAT = tf.float32
_DEFAULT_INT = tf.int64
_PY_BOOL = builtins.bool

IMPLEMENTED = (
    "abs", "arange", "argmax", "asarray", "astype", "broadcast_to", "clip", "concat", "device", "empty", "exp",
    "expand_dims", "expm1", "finfo", "isdtype", "log", "log1p", "max", "maximum", "mean",
    "min", "minimum", "negative", "ones_like", "permute_dims", "reshape", "squeeze", "sum", "take", "take_along_axis",
    "to_device", "where", "zeros_like",
    "matmul", "matrix_transpose", "tanh", "zeros",  # linear_cross_entropy
)  # fmt: skip
"""The functions of this namespace (constants and dtypes are listed in the module)."""


def __getattr__(name: str) -> Any:
    raise AttributeError(
        f"xbackend's TensorFlow namespace has no {name!r}: it implements only the Array API "
        f"names xbackend's losses use ({', '.join(IMPLEMENTED)}, the dtypes and inf/nan/e/pi). "
        "Call TensorFlow directly, or add the function to xbackend/_backends/_tf_namespace.py "
        "(mapped onto core TF ops, never tf.experimental.numpy)"
    )


# --------------------------------------------------------------------------- helpers


def _is_array(x: Any) -> _PY_BOOL:
    return isinstance(x, (tf.Tensor, tf.Variable))


def _as_dtype(dtype: Any) -> tf.DType:
    if _is_array(dtype):
        return dtype.dtype
    try:
        return tf.as_dtype(dtype)
    except TypeError:
        raise TypeError(f"{dtype!r} is not a dtype of the TensorFlow namespace") from None


def _tensor(x: Any) -> tf.Tensor:
    """A tensor from a tensor, a Variable (read) or other array-likes."""
    return x if isinstance(x, tf.Tensor) else tf.convert_to_tensor(x)


def _scalar_as(value: Any, dtype: tf.DType) -> tf.Tensor:
    """A Python scalar in ``dtype`` (the standard's rule: the array's dtype wins)."""
    if isinstance(value, (float, np.floating)) and not (dtype.is_floating or dtype.is_complex):
        raise TypeError(f"a Python float ({value!r}) cannot be combined with a {dtype.name} array")
    if isinstance(value, (complex, np.complexfloating)) and not dtype.is_complex:
        raise TypeError(f"a Python complex ({value!r}) cannot be combined with a {dtype.name} array")
    return tf.constant(value, dtype=dtype)


def _wider(a: tf.DType, b: tf.DType) -> tf.DType:
    if a == b:
        return a
    if a.is_floating and b.is_floating:
        if a.size != b.size:
            return a if a.size > b.size else b
        return tf.float32  # float16 with bfloat16
    if a.is_integer and b.is_integer and a.is_unsigned == b.is_unsigned:
        return a if a.size > b.size else b
    if a.is_complex and b.is_complex:
        return a if a.size > b.size else b
    raise TypeError(
        f"arrays of dtypes {a.name} and {b.name} cannot be combined (no type promotion "
        "between these kinds in the Array API standard); cast one with xp.astype"
    )


def _operands(x1: Any, x2: Any) -> tuple[tf.Tensor, tf.Tensor]:
    """Two operands of one dtype: scalars take the array's dtype, arrays promote."""
    a1, a2 = _is_array(x1), _is_array(x2)
    if not (a1 or a2):
        raise TypeError("at least one of x1 and x2 must be a TensorFlow array, got two Python scalars")
    if not a1:
        x2 = _tensor(x2)
        return _scalar_as(x1, x2.dtype), x2
    x1 = _tensor(x1)
    if not a2:
        return x1, _scalar_as(x2, x1.dtype)
    x2 = _tensor(x2)
    if x1.dtype != x2.dtype:
        dt = _wider(x1.dtype, x2.dtype)
        x1, x2 = tf.cast(x1, dt), tf.cast(x2, dt)
    return x1, x2


def _normalize_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < builtins.max(ndim, 1):
        raise ValueError(f"axis {axis} is out of range for an array with {ndim} dimension(s)")
    return axis % builtins.max(ndim, 1)


def _axes(axis: Any, ndim: int) -> Any:
    if axis is None:
        return None
    if isinstance(axis, tuple):
        return [_normalize_axis(a, ndim) for a in axis]
    return _normalize_axis(axis, ndim)


def _on(device: Any) -> Any:
    return tf.device(device) if device else contextlib.nullcontext()


# ------------------------------------------------------------------ dtype functions


def isdtype(dtype: Any, kind: Any) -> _PY_BOOL:
    """``isdtype(dtype, kind)`` of the standard, from the ``tf.DType`` flags."""
    dt = _as_dtype(dtype)
    if isinstance(kind, tuple):
        return any(isdtype(dt, k) for k in kind)
    if isinstance(kind, str):
        if kind == "bool":
            return dt == tf.bool
        if kind == "signed integer":
            return dt.is_integer and not dt.is_unsigned
        if kind == "unsigned integer":
            return dt.is_integer and dt.is_unsigned
        if kind == "integral":
            return dt.is_integer
        if kind == "real floating":
            return dt.is_floating
        if kind == "complex floating":
            return dt.is_complex
        if kind == "numeric":
            return dt.is_integer or dt.is_floating or dt.is_complex
        raise ValueError(f"unknown dtype kind {kind!r}")
    return dt == _as_dtype(kind)


class finfo_object(NamedTuple):
    """The standard's ``finfo`` fields (Python floats) and the dtype they describe."""

    bits: int
    eps: float
    max: float
    min: float
    smallest_normal: float
    dtype: tf.DType


def finfo(type: Any, /) -> finfo_object:
    """Machine limits of a floating dtype (NumPy's, or ml_dtypes' for bfloat16/float8)."""
    dt = _as_dtype(type)
    if not (dt.is_floating or dt.is_complex):
        raise TypeError(f"finfo needs a floating dtype, got {dt.name}")
    if dt.is_complex:
        dt = tf.float32 if dt == tf.complex64 else tf.float64
    npdt = dt.as_numpy_dtype
    if dt in (tf.float16, tf.float32, tf.float64):
        info = np.finfo(npdt)
    else:
        import ml_dtypes

        info = ml_dtypes.finfo(npdt)
    return finfo_object(
        int(info.bits), float(info.eps), float(info.max), float(info.min), float(info.smallest_normal), dt
    )


def astype(x: Any, dtype: Any, /, *, copy: _PY_BOOL = True, device: Any = None) -> tf.Tensor:  # noqa: ARG001 (immutable tensors: copy changes nothing)
    """``tf.cast`` (TensorFlow tensors are immutable, so ``copy`` changes nothing).

    A ``tf.Variable`` is always read into a tensor, also when its dtype already matches.
    """
    dt = _as_dtype(dtype)
    with _on(device):
        if isinstance(x, tf.Variable):
            x = tf.convert_to_tensor(x)  # the read (tf.cast returns a Variable of that dtype as is)
        if x.dtype != dt:
            return tf.cast(x, dt)
        return tf.identity(x) if device else x


# ------------------------------------------------------------------ array creation


def asarray(obj: Any, /, *, dtype: Any = None, device: Any = None, copy: Any = None) -> tf.Tensor:  # noqa: ARG001
    """A tensor from a tensor, a Python scalar or sequence, or a NumPy array.

    Python floats default to float32 and Python ints to int64 (NumPy arrays keep their dtype).
    """
    dt = None if dtype is None else _as_dtype(dtype)
    with _on(device):
        if _is_array(obj):
            return astype(obj, obj.dtype if dt is None else dt, device=device)
        if dt is None:
            probe = np.asarray(obj)
            if probe.dtype.kind == "f" and not isinstance(obj, (np.ndarray, np.generic)):
                dt = _DEFAULT_FLOAT
            elif probe.dtype.kind in "iu" and not isinstance(obj, (np.ndarray, np.generic)):
                dt = _DEFAULT_INT
        return tf.constant(obj, dtype=dt)


def arange(
    start: Any, /, stop: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None
) -> tf.Tensor:
    """``tf.range``; int64 for integer arguments unless ``dtype`` says otherwise."""
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        ints = all(isinstance(v, int) for v in (start, stop, step))
        dtype = _DEFAULT_INT if ints else _DEFAULT_FLOAT
    with _on(device):
        return tf.range(start, stop, step, dtype=_as_dtype(dtype))


def empty(shape: Any, *, dtype: Any = None, device: Any = None) -> tf.Tensor:
    """TensorFlow has no uninitialised tensors: zeros (float32 unless ``dtype``)."""
    dims = [shape] if isinstance(shape, int) else list(shape)
    with _on(device):
        return tf.zeros(dims, dtype=_DEFAULT_FLOAT if dtype is None else _as_dtype(dtype))


def zeros_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> tf.Tensor:
    with _on(device):
        return tf.zeros_like(x, dtype=None if dtype is None else _as_dtype(dtype))


def ones_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> tf.Tensor:
    with _on(device):
        return tf.ones_like(x, dtype=None if dtype is None else _as_dtype(dtype))


# ------------------------------------------------------------------------ devices


def device(x: Any, /) -> str:
    """The tensor's device string (``""`` for a symbolic tensor not yet placed)."""
    return x.device


def to_device(x: Any, device: Any, /, *, stream: Any = None) -> tf.Tensor:
    if stream is not None:
        raise ValueError("TensorFlow has no streams; stream must be None")
    with tf.device(device):
        return tf.identity(x)


# --------------------------------------------------------------- element-wise


def abs(x: Any, /) -> tf.Tensor:
    return tf.math.abs(x)


def exp(x: Any, /) -> tf.Tensor:
    return tf.math.exp(x)


def expm1(x: Any, /) -> tf.Tensor:
    return tf.math.expm1(x)


def negative(x: Any, /) -> tf.Tensor:
    return tf.math.negative(x)


def log(x: Any, /) -> tf.Tensor:
    return tf.math.log(x)


def log1p(x: Any, /) -> tf.Tensor:
    return tf.math.log1p(x)


def maximum(x1: Any, x2: Any, /) -> tf.Tensor:
    """Element-wise maximum; NaN propagates (``tf.maximum`` does, eager, graph and XLA)."""
    return tf.math.maximum(*_operands(x1, x2))


def minimum(x1: Any, x2: Any, /) -> tf.Tensor:
    """Element-wise minimum; NaN propagates."""
    return tf.math.minimum(*_operands(x1, x2))


def clip(x: Any, /, min: Any = None, max: Any = None) -> tf.Tensor:
    """``tf.clip_by_value`` with scalar bounds in ``x``'s dtype; NaN stays NaN."""
    x = _tensor(x)
    if min is None and max is None:
        return x
    lo = x.dtype.min if min is None else min
    hi = x.dtype.max if max is None else max
    lo = _scalar_as(lo, x.dtype) if not _is_array(lo) else tf.cast(lo, x.dtype)
    hi = _scalar_as(hi, x.dtype) if not _is_array(hi) else tf.cast(hi, x.dtype)
    return tf.clip_by_value(x, lo, hi)


def where(condition: Any, x1: Any, x2: Any, /) -> tf.Tensor:
    """``tf.where`` with broadcasting; a Python scalar takes the other argument's dtype."""
    x1, x2 = _operands(x1, x2)
    cond = _tensor(condition)
    if cond.dtype != tf.bool:
        raise TypeError(f"where needs a boolean condition, got {cond.dtype.name}")
    return tf.where(cond, x1, x2)


# ------------------------------------------------------------------ manipulation


def _shape_arg(shape: Any) -> Any:
    if isinstance(shape, tf.TensorShape):
        shape = shape.as_list() if shape.rank is not None else None
    if shape is None:
        raise ValueError("a shape with unknown rank cannot be used here")
    return [-1 if d is None else int(d) for d in shape]


def reshape(x: Any, /, shape: Any, *, copy: Any = None) -> tf.Tensor:  # noqa: ARG001 (immutable tensors)
    """``tf.reshape``; ``None`` (a size unknown at trace time) is read as ``-1``."""
    dims = _shape_arg(shape)
    if builtins.sum(d == -1 for d in dims) > 1:
        raise ValueError(f"reshape to {tuple(shape)}: at most one size may be unknown (None or -1)")
    return tf.reshape(x, dims)


def broadcast_to(x: Any, /, shape: Any) -> tf.Tensor:
    """``tf.broadcast_to``. A target size that is ``None`` (unknown at trace time) is taken
    from ``x``, which must then have that axis with a size other than 1."""
    x = _tensor(x)
    target = list(shape.as_list() if isinstance(shape, tf.TensorShape) else shape)
    if all(d is not None for d in target):
        return tf.broadcast_to(x, [int(d) for d in target])
    xs = x.shape.as_list()
    offset = len(target) - len(xs)
    dyn = tf.shape(x)
    dims = []
    for i, d in enumerate(target):
        j = i - offset
        if d is not None:
            dims.append(tf.constant(int(d), tf.int32))
        elif j >= 0 and xs[j] != 1:
            dims.append(dyn[j])
        else:
            raise ValueError(
                f"cannot broadcast an array of shape {tuple(xs)} to {tuple(target)}: axis {i} has a "
                "size unknown at trace time and the array does not have that axis (with a size "
                "other than 1) to take it from; give the tf.function input_signature that size"
            )
    return tf.broadcast_to(x, tf.stack(dims))


def concat(arrays: Any, /, *, axis: Any = 0) -> tf.Tensor:
    """``tf.concat`` (``axis=None`` concatenates the flattened arrays); dtypes must agree
    or promote within one kind."""
    parts = [_tensor(a) for a in arrays]
    if not parts:
        raise ValueError("concat needs at least one array")
    dt = parts[0].dtype
    for p in parts[1:]:
        dt = _wider(dt, p.dtype)
    parts = [p if p.dtype == dt else tf.cast(p, dt) for p in parts]
    if axis is None:
        return tf.concat([tf.reshape(p, [-1]) for p in parts], 0)
    return tf.concat(parts, _normalize_axis(axis, parts[0].shape.rank))


def expand_dims(x: Any, /, *, axis: int = 0) -> tf.Tensor:
    x = _tensor(x)
    nd = x.shape.rank
    if not -nd - 1 <= axis <= nd:
        raise ValueError(f"axis {axis} is out of range for expand_dims of a {nd}-d array")
    return tf.expand_dims(x, axis % (nd + 1))


def squeeze(x: Any, /, axis: Any) -> tf.Tensor:
    x = _tensor(x)
    ax = _axes(axis, x.shape.rank)
    return tf.squeeze(x, axis=ax if isinstance(ax, list) else [ax])


# --------------------------------------------------------------------- indexing


def take(x: Any, indices: Any, /, *, axis: Any = None) -> tf.Tensor:
    """``tf.gather`` along ``axis`` (``axis=None`` only for 1-d ``x``). Indices must be in range."""
    x = _tensor(x)
    if axis is None:
        if x.shape.rank != 1:
            raise ValueError("take: axis may be None only for a 1-d array")
        axis = 0
    return tf.gather(x, indices, axis=_normalize_axis(axis, x.shape.rank))


def take_along_axis(x: Any, indices: Any, /, *, axis: int = -1) -> tf.Tensor:
    """``tf.gather(..., batch_dims=ndim-1)`` along ``axis`` (differentiable under XLA,
    unlike ``tnp.take_along_axis`` in TF 2.21). Indices must be in range; the other axes of
    ``x`` and ``indices`` must be equal or broadcastable."""
    x, idx = _tensor(x), _tensor(indices)
    nd = x.shape.rank
    if idx.shape.rank != nd:
        raise ValueError(f"take_along_axis: indices must have x's rank {nd}, got rank {idx.shape.rank}")
    ax = _normalize_axis(axis, nd)
    perm = None
    if ax != nd - 1:
        perm = [i for i in range(nd) if i != ax] + [ax]
        x, idx = tf.transpose(x, perm), tf.transpose(idx, perm)
    xb, ib = x.shape[:-1], idx.shape[:-1]
    size_one = any((a == 1 and b != 1) or (b == 1 and a != 1) for a, b in zip(xb.as_list(), ib.as_list(), strict=False))
    if size_one and not (xb.is_fully_defined() and ib.is_fully_defined() and xb == ib):
        batch = tf.broadcast_dynamic_shape(tf.shape(x)[:-1], tf.shape(idx)[:-1])
        x = tf.broadcast_to(x, tf.concat([batch, tf.shape(x)[-1:]], 0))
        idx = tf.broadcast_to(idx, tf.concat([batch, tf.shape(idx)[-1:]], 0))
    out = tf.gather(x, idx, axis=nd - 1, batch_dims=nd - 1)
    if perm is not None:
        out = tf.transpose(out, [perm.index(i) for i in range(nd)])
    return out


# ------------------------------------------------------------------ reductions


def sum(x: Any, /, *, axis: Any = None, dtype: Any = None, keepdims: _PY_BOOL = False) -> tf.Tensor:
    """``tf.reduce_sum``; booleans sum as int64, ``dtype`` casts first."""
    x = _tensor(x)
    if dtype is not None:
        x = tf.cast(x, _as_dtype(dtype))
    elif x.dtype == tf.bool:
        x = tf.cast(x, _DEFAULT_INT)
    return tf.reduce_sum(x, axis=_axes(axis, x.shape.rank), keepdims=keepdims)


def argmax(x: Any, /, *, axis: Any = None, keepdims: _PY_BOOL = False) -> tf.Tensor:
    """``tf.math.argmax`` (int64 indices; the first maximum); ``axis=None`` flattens."""
    x = _tensor(x)
    if axis is None:
        out = tf.math.argmax(tf.reshape(x, [-1]), axis=0, output_type=tf.int64)
        return tf.reshape(out, [1] * x.shape.rank) if keepdims else out
    ax = _normalize_axis(axis, x.shape.rank)
    out = tf.math.argmax(x, axis=ax, output_type=tf.int64)
    return tf.expand_dims(out, ax) if keepdims else out


def max(x: Any, /, *, axis: Any = None, keepdims: _PY_BOOL = False) -> tf.Tensor:
    """``tf.reduce_max`` that propagates NaN in every mode.

    Under XLA (``jit_compile=True``) ``tf.reduce_max`` skips NaN (``[1, nan, 3] → 3``);
    a NaN anywhere in the reduced slice is put back explicitly for floating inputs.
    """
    return _nan_propagating(tf.reduce_max, x, axis, keepdims)


def min(x: Any, /, *, axis: Any = None, keepdims: _PY_BOOL = False) -> tf.Tensor:
    """``tf.reduce_min`` that propagates NaN in every mode (see :func:`max`)."""
    return _nan_propagating(tf.reduce_min, x, axis, keepdims)


def _nan_propagating(reduce: Any, x: Any, axis: Any, keepdims: _PY_BOOL) -> tf.Tensor:
    """``reduce`` (``tf.reduce_max`` / ``tf.reduce_min``) with NaN put back where the
    reduced slice holds one (floating inputs)."""
    x = _tensor(x)
    ax = _axes(axis, x.shape.rank)
    m = reduce(x, axis=ax, keepdims=keepdims)
    if x.dtype.is_floating:
        has_nan = tf.reduce_any(tf.math.is_nan(x), axis=ax, keepdims=keepdims)
        m = tf.where(has_nan, tf.constant(math.nan, m.dtype), m)
    return m


def mean(x: Any, /, *, axis: Any = None, keepdims: _PY_BOOL = False) -> tf.Tensor:
    """``tf.reduce_mean`` (floating inputs; NaN propagates)."""
    x = _tensor(x)
    if not (x.dtype.is_floating or x.dtype.is_complex):
        raise TypeError(f"mean needs a floating array, got {x.dtype.name}")
    return tf.reduce_mean(x, axis=_axes(axis, x.shape.rank), keepdims=keepdims)


def permute_dims(x: Any, /, axes: tuple) -> tf.Tensor:
    """``tf.transpose``."""
    x = _tensor(x)
    return tf.transpose(x, [_normalize_axis(a, x.shape.rank) for a in axes])


# ------------------------------------------- linear algebra (linear_cross_entropy)


def matmul(x1: Any, x2: Any, /) -> tf.Tensor:
    """``tf.linalg.matmul`` (2-D operands)."""
    return tf.linalg.matmul(_tensor(x1), _tensor(x2))


def matrix_transpose(x: Any, /) -> tf.Tensor:
    """``tf.linalg.matrix_transpose`` (the last two axes)."""
    return tf.linalg.matrix_transpose(_tensor(x))


def tanh(x: Any, /) -> tf.Tensor:
    return tf.math.tanh(_tensor(x))


def zeros(shape: Any, *, dtype: Any = None, device: Any = None) -> tf.Tensor:
    dims = [shape] if isinstance(shape, int) else list(shape)
    with _on(device):
        return tf.zeros(dims, dtype=_DEFAULT_FLOAT if dtype is None else _as_dtype(dtype))
