"""Row-blocked softmax cross-entropy for large vocabularies (``chunk_size=``).

The class axis is moved last and the logits are viewed as ``(R, C)`` rows (a free view
for contiguous logits with ``axis=-1``). :class:`ChunkedSoftmax` is a kernel (the
protocol of :mod:`xbackend._lib._kernels`) that runs the soft- or integer-label softmax
kernel on blocks of ``rows`` rows:

* forward: per block, cast to the compute dtype, apply ``where``, smooth and weigh soft
  labels, run the kernel; the loss and the per-row residuals (row max, log-sum-exp, row
  factor, label mass) are concatenated -- O(R);
* backward: the gradient is allocated once in the logits' dtype and each block's
  analytic gradient (``softmax·Σq − q``) is written into its rows (NumPy, CuPy, torch
  in eager mode; elsewhere the blocks are concatenated).

It is registered with each autodiff system by :meth:`xbackend._backends._base.Backend.apply_kernel`
like any kernel, so the saved state is the logits (the caller's array, not a copy), the
labels and O(R) residuals. Peak memory of forward + backward beyond the logits is the
gradient plus one block of compute-dtype temporaries -- no float32 copy of bfloat16
logits, no ``(R, C)`` softmax. Values and gradients are those of the unchunked path:
every row is computed by the same kernel.

``chunk_size="auto"`` (the default of the public functions) chunks in eager torch,
NumPy and CuPy when the logits are narrower than the compute dtype (float16/bfloat16:
the float32 copy is then never made) or when their compute-dtype size exceeds
:data:`AUTO_MIN_BYTES`. A block holds about 1/32 of the compute-dtype logits, at least
:data:`AUTO_BLOCK_MIN` and at most :data:`AUTO_BLOCK_BYTES` bytes: the block
temporaries (2-3 blocks) stay near 10 % of the logits while each op still moves
megabytes, so that kernel-launch and Python overhead (some 50 ops per block for forward
and backward) stay small next to the memory traffic. Pass an explicit ``chunk_size``
to trade the other way. Under
``torch.compile``, ``jax.jit`` and ``tf.function``, and on JAX, TensorFlow, Dask and
array-api-strict, ``"auto"`` does not chunk: compilers fuse the kernel and manage its
memory themselves. An explicit integer chunks on every backend.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any, NamedTuple

from xbackend._backends import backend
from xbackend._lib import _kernels
from xbackend._lib._dtypes import cast

__all__ = ["AUTO_BLOCK_BYTES", "AUTO_BLOCK_MIN", "AUTO_MIN_BYTES", "ChunkedSoftmax", "mean_weight", "plan", "softmax_xent"]

#: ``"auto"`` chunks float32/float64 logits whose size exceeds this many bytes.
AUTO_MIN_BYTES = 256 * 2**20
#: ``"auto"`` blocks hold at most this many bytes in the compute dtype ...
AUTO_BLOCK_BYTES = 128 * 2**20
#: ... and at least this many (or the whole array).
AUTO_BLOCK_MIN = 4 * 2**20

def plan(xp: ModuleType, x: Any, axis: int, ct: Any, chunk_size: Any) -> int | None:
    """Rows per block for ``chunk_size`` (None: do not chunk).

    ``chunk_size`` is None (never), ``"auto"`` (see the module docstring) or a positive
    int (rows per block, rows being the elements of the unreduced loss).
    """
    if chunk_size is None:
        return None
    shape = tuple(x.shape)
    if chunk_size != "auto" and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)):
        raise TypeError(f"chunk_size must be None, 'auto' or a positive int, got {chunk_size!r}")
    if chunk_size != "auto" and chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of rows, got {chunk_size}")
    try:
        known = isinstance(math.prod(shape), int)  # not None, NaN or symbolic sizes
    except TypeError:
        known = False
    if not known:
        return None  # sizes unknown at trace time (or lazily): leave blocking to the compiler
    n_classes = shape[axis]
    rows = math.prod(shape) // n_classes if n_classes else 0
    if rows == 0:
        return None
    if chunk_size == "auto":
        item = xp.finfo(ct).bits // 8
        total = rows * n_classes * item
        if x.dtype == ct and total <= AUTO_MIN_BYTES:  # not narrow, not large: no blocks
            return None
        be = backend(xp)
        if not be.auto_chunk or be.compiling():
            return None
        block = min(AUTO_BLOCK_BYTES, max(AUTO_BLOCK_MIN, total // 32))
        return max(1, min(rows, block // (n_classes * item)))
    return min(chunk_size, rows)


def as_rows(xp: ModuleType, a: Any, axis: int, ndim: int) -> Any:
    """``a`` (with the logits' shape) as ``(R, C)``: class axis last, leading axes merged."""
    if axis != ndim - 1:
        perm = (*tuple(i for i in range(ndim) if i != axis), axis)
        a = xp.permute_dims(a, perm)
    return xp.reshape(a, (-1, a.shape[-1]))


class ChunkStatic(NamedTuple):
    kernel: Any  # SOFTMAX_XENT or SPARSE_SOFTMAX_XENT
    static: Any  # its static, for 2-D blocks (axis 1)
    rows: int  # rows per block
    ct: Any  # compute dtype


class ChunkedSoftmax(_kernels._RowKernel):
    """The softmax kernels on row blocks; ``arrays = (where, keep, class_weights)``
    (``(R, C)`` bool, ``(R,)`` row factor, ``(C,)``; each may be None)."""

    # --------------------------------------------------------------- per block
    @staticmethod
    def _spans(n: int, rows: int):
        return [(i, min(i + rows, n)) for i in range(0, n, rows)]

    @staticmethod
    def _block(xp, x, y, arrays, st, i0, i1):
        where, keep, cw = arrays
        xb = cast(xp, x[i0:i1, ...], st.ct)
        if where is not None:
            xb = xp.where(where[i0:i1, ...], xb, -xp.inf)
        if st.kernel is _kernels.SPARSE_SOFTMAX_XENT:
            return xb, y[i0:i1], (None if keep is None else keep[i0:i1], cw)
        return xb, cast(xp, y[i0:i1, ...], st.ct), (cw,)

    @staticmethod
    def _res_block(res, i0, i1):
        if res is None:
            return None
        return tuple(r[i0:i1, ...] if hasattr(r, "shape") and r.ndim else r for r in res)

    # --------------------------------------------------------------- kernel protocol
    def forward(self, xp, x, y, arrays, st):
        losses, parts = [], []
        for i0, i1 in self._spans(x.shape[0], st.rows):
            xb, yb, ab = self._block(xp, x, y, arrays, st, i0, i1)
            loss, res = st.kernel.forward(xp, xb, yb, ab, st.static)
            losses.append(loss)
            parts.append(res)
        res = tuple(
            _concat(xp, [p[j] for p in parts]) if hasattr(parts[0][j], "shape") else parts[0][j]
            for j in range(len(parts[0]))
        )
        return _concat(xp, losses), res

    def grad_x(self, xp, x, y, arrays, st, res, g):
        where = arrays[0]
        return self._assemble(xp, x, st, lambda xb, yb, ab, rb, gb, i0, i1: _masked(
            xp, st.kernel.grad_x(xp, xb, yb, ab, st.static, rb, gb), where, i0, i1
        ), y, arrays, res, g)

    def grad_y(self, xp, x, y, arrays, st, res, g):
        if st.kernel is _kernels.SPARSE_SOFTMAX_XENT:
            return None
        return self._assemble(xp, y, st, lambda xb, yb, ab, rb, gb, i0, i1: st.kernel.grad_y(
            xp, xb, yb, ab, st.static, rb, gb
        ), y, arrays, res, g, like=x)

    def _assemble(self, xp, out_like, st, block, y, arrays, res, g, like=None):
        """Run ``block`` on every row block and assemble an ``out_like``-shaped result."""
        x = out_like if like is None else like
        n = x.shape[0]
        spans = self._spans(n, st.rows)
        out = None
        converting = backend(xp).setitem_converts  # setitem converts dtypes (strict: no)
        if len(spans) > 1 and xp.writable:
            out = xp.empty((n, x.shape[1]), dtype=out_like.dtype, device=_kernels.device_of(xp, x))
        blocks = []
        for i0, i1 in spans:
            xb, yb, ab = self._block(xp, x, y, arrays, st, i0, i1)
            gb = None if g is None else g[i0:i1, ...]
            Gb = block(xb, yb, ab, self._res_block(res, i0, i1), gb, i0, i1)
            if out is None:
                blocks.append(cast(xp, Gb, out_like.dtype))
            elif converting:  # the copy into `out` converts: no cast block
                out[i0:i1, ...] = Gb
            else:
                out[i0:i1, ...] = cast(xp, Gb, out_like.dtype)
        return out if out is not None else _concat(xp, blocks)

    @staticmethod
    def contract(xp, G, t, st):
        return xp.sum(cast(xp, G, st.ct) * cast(xp, t, st.ct), axis=1)


def _masked(xp, G, where, i0, i1):
    """The gradient through ``where(mask, x, -inf)``: 0 on masked classes."""
    if where is None:
        return G
    return xp.fill_where_(G, ~where[i0:i1, ...], 0.0)


def _concat(xp, parts):
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)


CHUNKED_SOFTMAX = ChunkedSoftmax()


def softmax_xent(
    xp: ModuleType,
    kernel: Any,
    static: Any,
    logits: Any,
    labels: Any,
    *,
    axis: int,
    where: Any,
    keep: Any,
    class_weights: Any,
    ct: Any,
    rows: int,
) -> Any:
    """The unreduced loss (compute dtype, ``logits.shape`` without ``axis``) of the soft
    (``kernel=SOFTMAX_XENT``, float ``labels`` broadcast to the logits) or integer
    (``SPARSE_SOFTMAX_XENT``, in-range ``labels``, row factor ``keep``) softmax
    cross-entropy, in blocks of ``rows`` rows. ``static`` is the kernel's static with any
    axis (replaced by 1)."""
    
    shape = tuple(logits.shape)
    nd = len(shape)
    x2 = as_rows(xp, logits, axis, nd)
    w2 = None
    if where is not None:
        wb = where if tuple(where.shape) == shape else xp.broadcast_to(where, shape)
        w2 = as_rows(xp, wb, axis, nd)
    if kernel is _kernels.SPARSE_SOFTMAX_XENT:
        y2 = xp.reshape(labels, (-1,))
        k2 = None if keep is None else xp.reshape(keep, (-1,))
    else:
        y2 = as_rows(xp, labels, axis, nd)
        k2 = None
    st = ChunkStatic(kernel, static._replace(axis=1), rows, ct)
    loss = backend(xp).apply_kernel(CHUNKED_SOFTMAX, x2, y2, (w2, k2, class_weights), st)
    return xp.reshape(loss, shape[:axis] + shape[axis + 1 :])


def mean_weight(
    xp: ModuleType, logits: Any, where: Any, labels: Any, class_weights: Any, axis: int, rows: int, ct: Any
) -> Any:
    """The ``"mean"`` weight of each row, block by block (no full-size copy): 0 on rows
    whose classes are all masked, else 1, or ``Σ_c w_c·y_c`` for soft ``labels`` (broadcast
    to the logits) with ``class_weights``. Returns a boolean for 0/1 weights."""
    shape = tuple(logits.shape)
    nd = len(shape)
    x2 = as_rows(xp, logits, axis, nd)
    w2 = None
    if where is not None:
        w2 = as_rows(xp, where if tuple(where.shape) == shape else xp.broadcast_to(where, shape), axis, nd)
    y2 = None if labels is None or class_weights is None else as_rows(xp, labels, axis, nd)
    if w2 is None and y2 is None:  # a row max allocates no full-size temporary: no blocks
        return xp.reshape(_kernels.row_max(xp, x2, 1) > -xp.inf, shape[:axis] + shape[axis + 1 :])
    parts = []
    for i0, i1 in ChunkedSoftmax._spans(x2.shape[0], rows):
        xb = x2[i0:i1, ...]
        if w2 is not None:
            xb = xp.where(w2[i0:i1, ...], xb, -xp.inf)
        r = _kernels.row_max(xp, xb, 1) > -xp.inf
        if y2 is not None:
            mass = xp.sum(cast(xp, y2[i0:i1, ...], ct) * xp.reshape(class_weights, (1, -1)), axis=1)
            r = xp.where(r, mass, 0.0)
        parts.append(r)
    return xp.reshape(_concat(xp, parts), shape[:axis] + shape[axis + 1 :])
