r"""Linear layer + softmax cross-entropy without the ``(N, V)`` logits.

The logits of an LM head, :math:`z = h W^\top + b` (``hidden`` ``(N, D)``, ``weight``
``(V, D)``, ``bias`` ``(V,)``), optionally soft-capped, :math:`x = s\tanh(z/s)`, are
computed one *block* at a time -- ``rows`` rows by ``cols`` vocabulary columns -- and
never exist in full, forward or backward.

Per row, with :math:`a = (1-\varepsilon)\,w_y`, :math:`b = \varepsilon/V` and
:math:`\mathrm{lse} = \log\sum_c e^{x_c}` (the loss of
:func:`xbackend.sparse_softmax_cross_entropy` on these logits):

.. math::

    \ell = \Big(a + b\sum_c w_c\Big)\mathrm{lse} - a\,x_y - b\sum_c w_c x_c \;[+\ z\,\mathrm{lse}^2]

    \frac{\partial \ell}{\partial x_c} = \Big(a + b\sum_c w_c + 2z\,\mathrm{lse}\Big)p_c
        - a\,[c = y] - b\,w_c, \qquad p = \mathrm{softmax}(x)

    \frac{\partial \ell}{\partial z_c} = \frac{\partial \ell}{\partial x_c}\,\big(1 - (x_c/s)^2\big)
    \quad\text{(softcap)}, \qquad
    \nabla_h = G W,\quad \nabla_W = G^\top h,\quad \nabla_b = \textstyle\sum_i G_i

with :math:`G` the ``(N, V)`` matrix of :math:`r_i\,\partial\ell_i/\partial z` (``r`` a
per-row scale: the reduction's coefficient or the incoming per-row gradient, times the
label state of :mod:`xbackend._lib._labels`), itself only ever held one block at a time.

Block plans (:func:`plan`):

* ``cols == V`` (one vocabulary block, the usual case): a row block's logits are exact,
  so the log-sum-exp is direct and the gradient comes from the same logits: **three**
  matrix products in all (logits, :math:`G W`, :math:`G^\top h`), as the naive version.
* ``cols < V``: the forward runs an online log-sum-exp over the vocabulary blocks (the
  running max and sum are rescaled when the max grows); the gradient needs the final
  log-sum-exp of each row before any :math:`p_c`, so it recomputes each block's logits:
  **four** matrix products. Memory is then bounded by ``rows * cols`` whatever ``V``.

The target logit is a row-wise dot product :math:`h_i\cdot W_{y_i} + b_{y_i}` with the
gathered rows ``weight[labels]`` (labels made safe by
:func:`xbackend._lib._labels.label_state` first); the label term of the gradient is a
block-local comparison with the labels, never a one-hot of ``(N, V)`` and never a scatter.

Dtypes: the matrix products run in the inputs' dtype (the logits computed exactly as
``hidden @ weight.T`` would be); each logits block is cast to the compute dtype
(float32 for float16/bfloat16), and the gradient accumulators are in the compute dtype
and cast back to each input's dtype at the end.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any, NamedTuple

from xbackend._backends import backend
from xbackend._lib._dtypes import cast
from xbackend._lib._kernels import device_of

__all__ = [
    "AUTO_BLOCK_BYTES",
    "AUTO_MIN_BYTES",
    "LinearStatic",
    "grads",
    "loss_and_grads",
    "loss_rows",
    "plan",
]

#: ``chunk_size="auto"`` splits the rows into blocks when the full logits would take
#: more than this many bytes in the compute dtype ...
AUTO_MIN_BYTES = 64 * 2**20
#: ... into blocks of about this many bytes of compute-dtype logits (a block of rows by
#: all V columns; the columns are split too only when 16 rows exceed it). An integer
#: ``chunk_size`` (columns) uses it for the rows per block as well.
AUTO_BLOCK_BYTES = 16 * 2**20
_MIN_ROWS = 16


class LinearStatic(NamedTuple):
    n_classes: int
    label_smoothing: float
    z_loss: float
    softcap: float | None
    rows: int  # rows per block
    cols: int  # vocabulary columns per block
    ct: Any  # compute dtype


def plan(n_rows: Any, n_classes: int, item: int, chunk_size: Any, *, can_block: bool) -> tuple[int, int]:
    """``(rows, cols)`` per block for ``chunk_size`` (see
    :func:`xbackend.linear_cross_entropy`). ``can_block=False`` (the row count is not a
    concrete int, e.g. a dynamic batch under ``torch.compile``) keeps every row in one
    block under ``"auto"``."""
    if chunk_size is None:
        return max(int(n_rows), 1) if isinstance(n_rows, int) else -1, n_classes
    if chunk_size == "auto":
        if not (can_block and isinstance(n_rows, int)) or n_rows * n_classes * item <= AUTO_MIN_BYTES:
            return max(n_rows, 1) if isinstance(n_rows, int) else -1, n_classes
        cols = n_classes if _MIN_ROWS * n_classes * item <= AUTO_BLOCK_BYTES else AUTO_BLOCK_BYTES // (_MIN_ROWS * item)
        rows = max(1, AUTO_BLOCK_BYTES // (cols * item))
        return min(rows, max(n_rows, 1)), cols
    cols = min(chunk_size, n_classes)
    rows = max(1, AUTO_BLOCK_BYTES // (cols * item))
    if not isinstance(n_rows, int):
        return -1, cols  # rows unknown at trace time: one row block
    return min(rows, max(n_rows, 1)), cols


def _spans(n: int, step: int) -> list[tuple[int, int]]:
    if step < 0 or n <= step:
        return [(0, n)]
    return [(i, min(i + step, n)) for i in range(0, n, step)]


def _after(xp: ModuleType, deps: Any, x: Any) -> Any:
    """``x``, made to depend on ``deps`` (the previous block's results) on JAX.

    Eager frameworks run the blocks in order anyway. XLA (JAX) would schedule the
    unrolled blocks side by side -- every block's logits alive at once, the full
    ``(N, V)`` in temporaries -- and ``jax.lax.optimization_barrier`` does not survive
    its CPU pipeline. So on JAX each block's input gets ``+ 0``, where the 0 is
    ``(d > inf)`` for one element ``d`` of each previous result: a data dependency XLA
    cannot fold away, exact (never NaN, even for a NaN ``d``). The blocks then run one
    after the other and the compiled program's temporaries are a block's, not the
    logits' (the memory test checks ``memory_analysis()``).
    """
    if deps is None or not backend(xp).reorders_blocks:
        return x
    zero = None
    for d in deps if isinstance(deps, tuple) else (deps,):
        if d is None or any(n == 0 for n in d.shape):
            continue
        z = xp.astype(d[(0,) * d.ndim] > xp.inf, x.dtype)
        zero = z if zero is None else zero + z
    return x if zero is None else x + zero


class _Consts(NamedTuple):
    y: Any  # (N,) safe labels
    keep: Any  # (N,) row factor 1 / 0 / NaN, or None
    cw: Any  # (V,) class weights (compute dtype), or None


def _logits(xp, h, W, b, c0, c1, st, deps=None):
    """``(x, t)``: the block's (soft-capped) logits in the compute dtype and
    ``tanh(z/s)`` (None without softcap); ``deps``: see :func:`_after`."""
    Wb = W if (c0, c1) == (0, st.n_classes) else _after(xp, deps, W[c0:c1, :])
    z = cast(xp, xp.matmul(h, xp.matrix_transpose(Wb)), st.ct)
    if b is not None:
        bb = b if (c0, c1) == (0, st.n_classes) else b[c0:c1]
        z = z + cast(xp, bb, st.ct)
    if st.softcap is None:
        return z, None
    t = xp.tanh(z / st.softcap)
    return st.softcap * t, t


def _target(xp, h, W, b, y, st):
    """The label's logit per row: ``cap(h_i · W[y_i] + b[y_i])`` (compute dtype)."""
    Wy = cast(xp, xp.take(W, y, axis=0), st.ct)
    zy = xp.sum(cast(xp, h, st.ct) * Wy, axis=-1)
    if b is not None:
        zy = zy + cast(xp, xp.take(b, y, axis=0), st.ct)
    if st.softcap is None:
        return zy
    return st.softcap * xp.tanh(zy / st.softcap)


def _mass(xp, c, st):
    """``a`` (label mass, per row or a number) and ``Σ_c w_c`` for the loss formula."""
    a = 1.0 - st.label_smoothing
    if c.cw is None:
        return a, float(st.n_classes)
    return a * xp.take(c.cw, c.y, axis=0), xp.sum(c.cw)


def _finish(xp, st, c, m, lse_s, x_y, swx):
    """Per-row loss from the row max ``m``, the shifted ``lse_s`` = lse − m, the label's
    logit and ``Σ_c w_c (x_c − m)``; ignored rows give 0, invalid labels NaN."""
    eps = st.label_smoothing
    a, sw = _mass(xp, c, st)
    raw = (lse_s - (x_y - m)) * a
    if eps:
        b = eps / st.n_classes
        raw = raw + b * (sw * lse_s - swx)
    if st.z_loss:
        lse = m + lse_s
        raw = raw + st.z_loss * lse * lse
    if c.keep is None:
        return raw
    return xp.where(c.keep == 0, 0.0, c.keep * raw)


def _block_grad(xp, st, c, x, t, lse, r, ys, c0, c1):
    """``r_i ∂ℓ_i/∂z`` on one block (compute dtype): ``x``, ``t`` from :func:`_logits`,
    ``lse`` the rows' full log-sum-exp, ``r`` the per-row scale, ``ys`` the rows' labels."""
    eps = st.label_smoothing
    a, sw = _mass(xp, _Consts(ys, None, c.cw), st)
    coef = a + (eps / st.n_classes) * sw if eps else a
    if st.z_loss:
        coef = coef + 2.0 * st.z_loss * lse
    G = xp.exp(x - lse[:, None]) * (r * coef)[:, None]
    cols = xp.arange(c0, c1, dtype=ys.dtype, device=device_of(xp, ys))
    G = G - xp.where(ys[:, None] == cols[None, :], (r * a)[:, None], 0.0)
    if eps:
        wb = 1.0 if c.cw is None else c.cw[c0:c1][None, :]
        G = G - (r * (eps / st.n_classes))[:, None] * wb
    if t is not None:
        G = G * (1.0 - t * t)
    return G


def _row_state(xp, h, W, b, c, st, r0, r1):
    """Forward over the vocabulary blocks of rows ``r0:r1``: ``(m, lse_s, swx)``."""
    hr = h[r0:r1, :]
    m = s = swx = None
    wseen = 0.0
    for c0, c1 in _spans(st.n_classes, st.cols):
        x, _ = _logits(xp, _after(xp, s, hr), W, b, c0, c1, st, s)
        bm = xp.max(x, axis=-1)
        m_new = bm if m is None else xp.maximum(m, bm)
        e = xp.sum(xp.exp(x - m_new[:, None]), axis=-1)
        s = e if s is None else s * xp.exp(m - m_new) + e
        if st.label_smoothing:
            wb = None if c.cw is None else c.cw[c0:c1]
            xs = x - m_new[:, None]
            bwx = xp.sum(xs if wb is None else xs * wb[None, :], axis=-1)
            bws = float(c1 - c0) if wb is None else xp.sum(wb)
            swx = bwx if swx is None else swx - (m_new - m) * wseen + bwx
            wseen = wseen + bws
        m = m_new
    return m, xp.log(s), swx


def _empty_rows(xp, h, st):
    return xp.zeros((0,), dtype=st.ct, device=device_of(xp, h))


def loss_rows(xp: ModuleType, h: Any, W: Any, b: Any, consts: tuple, st: LinearStatic) -> tuple[Any, Any]:
    """Forward only: ``(loss (N,), lse (N,))`` in the compute dtype."""
    c = _Consts(*consts)
    n = h.shape[0]
    if n == 0:
        z = _empty_rows(xp, h, st)
        return z, z
    losses: list = []
    lses: list = []
    for r0, r1 in _spans(n, st.rows):
        m, lse_s, swx = _row_state(xp, _after(xp, lses[-1] if lses else None, h), W, b, c, st, r0, r1)
        cr = _Consts(c.y[r0:r1], None if c.keep is None else c.keep[r0:r1], c.cw)
        x_y = _target(xp, h[r0:r1, :], W, b, cr.y, st)
        losses.append(_finish(xp, st, cr, m, lse_s, x_y, swx))
        lses.append(m + lse_s)
    if len(losses) == 1:
        return losses[0], lses[0]
    return xp.concat(losses), xp.concat(lses)


def _acc(a, v):
    return v if a is None else a + v


def _out(xp, parts, like, zeros_shape):
    """Concatenate accumulated blocks and cast to ``like``'s dtype."""
    if not parts:
        return xp.zeros(zeros_shape, dtype=like.dtype, device=device_of(xp, like))
    v = parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)
    return cast(xp, v, like.dtype)


def _row_scale(xp, c, r):
    """The gradient's per-row factor: the label state (1, 0 or NaN) times ``r``."""
    if c.keep is None:
        return r
    return xp.where(c.keep == 0, 0.0, c.keep * r)


def grads(
    xp: ModuleType, h: Any, W: Any, b: Any, consts: tuple, st: LinearStatic, lse: Any, r: Any, need: tuple
) -> tuple[Any, Any, Any]:
    """``(∇_h, ∇_W, ∇_b)`` of ``Σ_i r_i ℓ_i`` given each row's log-sum-exp (one pass over
    the blocks, recomputing their logits); an entry is None where ``need`` is False."""
    c = _Consts(*consts)
    rs = _row_scale(xp, c, r)
    n, d = h.shape[0], h.shape[1]
    gh_rows: list = [None] * len(_spans(n, st.rows)) if n else []
    gW_parts: list = []
    gb_parts: list = []
    for c0, c1 in _spans(st.n_classes, st.cols):
        gW = gb = None
        for i, (r0, r1) in enumerate(_spans(n, st.rows) if n else []):
            deps = (gW, gb, gh_rows[i], gh_rows[i - 1] if i else None, gW_parts[-1] if gW_parts else None,
                    gb_parts[-1] if gb_parts else None)  # fmt: skip
            hr = _after(xp, deps, h[r0:r1, :])
            x, t = _logits(xp, hr, W, b, c0, c1, st, deps)
            G = _block_grad(xp, st, c, x, t, lse[r0:r1], rs[r0:r1], c.y[r0:r1], c0, c1)
            Gm = cast(xp, G, h.dtype)
            if need[0]:
                Wb = _after(xp, G, W[c0:c1, :])
                gh_rows[i] = _acc(gh_rows[i], cast(xp, xp.matmul(Gm, Wb), st.ct))
            if need[1]:
                gW = _acc(gW, cast(xp, xp.matmul(xp.matrix_transpose(Gm), hr), st.ct))
            if need[2]:
                gb = _acc(gb, xp.sum(G, axis=0))
        if need[1]:
            gW_parts.append(gW if gW is not None else xp.zeros((c1 - c0, d), dtype=st.ct, device=device_of(xp, W)))
        if need[2]:
            gb_parts.append(gb if gb is not None else xp.zeros((c1 - c0,), dtype=st.ct, device=device_of(xp, W)))
    gh = _out(xp, [g for g in gh_rows if g is not None], h, (n, d)) if need[0] else None
    gW_ = _out(xp, gW_parts, W, tuple(W.shape)) if need[1] else None
    gb_ = _out(xp, gb_parts, b, tuple(b.shape)) if need[2] else None
    return gh, gW_, gb_


def loss_and_grads(
    xp: ModuleType, h: Any, W: Any, b: Any, consts: tuple, st: LinearStatic, r: Any, need: tuple
) -> tuple[Any, tuple]:
    """Forward and the gradients of ``Σ_i r_i ℓ_i`` (``r`` per row, a constant) in one
    pass when one vocabulary block covers ``V`` (three matrix products); otherwise the
    forward's online log-sum-exp and then :func:`grads` (four)."""
    if st.cols < st.n_classes or h.shape[0] == 0:
        loss, lse = loss_rows(xp, h, W, b, consts, st)
        return loss, grads(xp, h, W, b, consts, st, lse, r, need)
    c = _Consts(*consts)
    rs = _row_scale(xp, c, r)
    n = h.shape[0]
    losses: list = []
    gh_parts: list = []
    gW = gb = None
    for r0, r1 in _spans(n, st.rows):
        hr = _after(xp, (losses[-1], gh_parts[-1] if gh_parts else None, gW, gb) if losses else None, h[r0:r1, :])
        cr = _Consts(c.y[r0:r1], None if c.keep is None else c.keep[r0:r1], c.cw)
        x, t = _logits(xp, hr, W, b, 0, st.n_classes, st)
        m = xp.max(x, axis=-1)
        xs = x - m[:, None]
        lse_s = xp.log(xp.sum(xp.exp(xs), axis=-1))
        swx = None
        if st.label_smoothing:
            swx = xp.sum(xs if c.cw is None else xs * c.cw[None, :], axis=-1)
        del xs
        x_y = _target(xp, hr, W, b, cr.y, st)
        losses.append(_finish(xp, st, cr, m, lse_s, x_y, swx))
        G = _block_grad(xp, st, c, x, t, m + lse_s, rs[r0:r1], cr.y, 0, st.n_classes)
        del x, t
        Gm = cast(xp, G, h.dtype)
        if need[0]:
            gh_parts.append(xp.matmul(Gm, W))
        if need[1]:
            gW = _acc(gW, cast(xp, xp.matmul(xp.matrix_transpose(Gm), hr), st.ct))
        if need[2]:
            gb = _acc(gb, xp.sum(G, axis=0))
    loss = losses[0] if len(losses) == 1 else xp.concat(losses)
    gh = _out(xp, gh_parts, h, None) if need[0] else None
    return loss, (gh, cast(xp, gW, W.dtype) if need[1] else None, cast(xp, gb, b.dtype) if need[2] else None)


def n_blocks(st: LinearStatic, n: int) -> int:
    """Number of blocks of a plan (for documentation and tests)."""
    return len(_spans(n, st.rows)) * math.ceil(st.n_classes / st.cols)
