"""Loss kernels: each forward next to its analytic derivative, in Array API code.

A kernel computes the *unweighted, unreduced* loss of one family and knows its own
derivative, so that :mod:`xbackend._backends._autodiff` can register it with each autodiff
system. Weights and reductions are applied outside (they are cheap, O(rows)).

Kernel protocol (all methods are pure functions of their arguments)::

    forward(xp, x, y, arrays, st) -> (loss, residuals)
    grad_x(xp, x, y, arrays, st, residuals | None, g | None) -> dloss/dx (times g)
    grad_y(xp, x, y, arrays, st, residuals | None, g | None) -> dloss/dy (times g)
    contract(xp, G, t, st) -> the tangent of the loss for an input tangent t

``xp`` is a kernel namespace (:class:`xbackend._backends._base.KernelNamespace`): the
Array API namespace plus in-place helpers whose policy the backend chose for this call.
``x`` is in the compute dtype (float32 for float16/bfloat16 inputs), with masked
classes already set to ``-inf``; ``arrays`` are constants (never differentiated);
``st`` is a tuple of options. A float option there (``label_smoothing``, ``z_loss``,
``gamma``) is a Python float -- 0.0 turns its branch off -- or an array (a 0-d tensor, a
traced schedule under ``jax.jit``): an array can be neither hashed nor branched on, so
``type(v) is not float or v`` is the kernels' test "this option is on", and the
formulas give the value of 0 at an array 0. ``residuals=None`` means "recompute from
x" (used under double backward so that the result stays differentiable).

Memory: row-wise kernels save only the logits (the caller's own array) and O(rows)
residuals: the log-sum-exp, the row factor and the label mass.

Memory passes (eager mode): every Array API call is one pass and, unless it reduces,
one full-size allocation. The hot kernels therefore create few full-size temporaries
and update them in place (the kernel namespace's helpers, see :mod:`xbackend._backends._base`: augmented
assignment, and on torch/NumPy/CuPy ``exp_``, ``nan_to_num_``, ``scatter_add_`` and friends) whenever
autograd records nothing and no compiler traces; everything else -- JAX, TensorFlow,
Dask, array-api-strict, ``torch.compile``, double backward -- runs the plain functional
formulas, which compilers fuse. Each kernel's docstring counts its full-size
temporaries; no kernel materialises a one-hot or a log-softmax on torch/NumPy.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, NamedTuple

from xbackend._backends import backend
from xbackend._backends._base import KernelNamespace

# --------------------------------------------------------------------------- helpers


def device_of(xp: ModuleType, x: Any) -> Any:
    """The device of ``x`` (the backend's own lookup: cheap, and quiet under Dynamo)."""
    return backend(xp).device(x)


def shift(xp: ModuleType, x: Any, axis: int) -> tuple[Any, Any, Any]:
    """``(xs, m, nonempty)`` with ``xs = x - m``, ``m`` the (gradient-stopped) row max.

    ``xs`` is 0 where ``x == +inf``, which gives the exact limit for ``+inf`` logits (the
    softmax shares its mass among the ``+inf`` classes and every other class gets
    ``-inf``) instead of the NaN of ``inf - inf``; finite entries keep their gradient. A row whose classes are all masked
    (``-inf``) is shifted by 0 and flagged ``nonempty=False``. NaN propagates.
    """
    m, nonempty = row_shift(xp, x, axis)
    return shifted(xp, x, m), m, nonempty


def row_shift(xp: ModuleType, x: Any, axis: int) -> tuple[Any, Any]:
    """``(m, nonempty)`` of :func:`shift` (O(rows)): the gradient-stopped row max, 0 on
    rows whose classes are all masked."""
    m = row_max(xp, x, axis, keepdims=True)
    m = xp.stop_gradient(m) if isinstance(xp, KernelNamespace) else backend(xp).stop_gradient(m)
    nonempty = m != -xp.inf
    return xp.where(nonempty, m, 0.0), nonempty


def row_max(xp: ModuleType, x: Any, axis: int, *, keepdims: bool = False) -> Any:
    """``xp.max`` along ``axis``; a zero-size ``x`` gives ``-inf`` (the max of nothing).

    ``max`` of an empty array raises on NumPy/torch when ``axis`` is empty and on Dask
    for *any* empty array (its chunk-wise max does).
    """
    if 0 in tuple(x.shape):
        return xp.sum(x, axis=axis, keepdims=keepdims) - xp.inf
    return xp.max(x, axis=axis, keepdims=keepdims)


def log_sum_exp_shifted(xp: ModuleType, xs: Any, axis: int) -> Any:
    """``log(sum(exp(xs)))`` with an empty (all -inf) row giving 0, not -inf."""
    return _log_sum(xp, xp.sum(xp.exp(xs), axis=axis, keepdims=True))


def _log_sum(xp: ModuleType, se: Any) -> Any:
    """``log`` of a row sum of ``exp``; an empty row (sum 0) gives 0, not -inf."""
    return xp.log(xp.where(se == 0, 1.0, se))


def shifted(xp: ModuleType, x: Any, m: Any) -> Any:
    """``x - m`` with the ``+inf`` convention of :func:`shift` (``m`` from :func:`shift`)."""
    return xp.where(x == xp.inf, 0.0, x - m)


def softmax_from(xp: ModuleType, x: Any, m: Any, lse_s: Any) -> Any:
    """``softmax(x)`` from the residuals ``m`` and ``lse_s`` of :func:`shift` (through the
    where-free :func:`shifted_clamped`, whose +1 on ``+inf`` rows it takes off)."""
    return xp.exp(shifted_clamped(xp, x, m) - (lse_s + _inf_rows(xp, m)))


def shifted_fresh(xp: ModuleType, x: Any, m: Any) -> Any:
    """:func:`shifted` as a fresh temporary, in one allocation and one in-place pass
    where the framework allows it (elsewhere :func:`shifted` itself).

    There it is ``x - m`` with NaN set to 0: with ``m`` the row max, ``x - m`` is NaN
    only at the ``+inf`` entries of a ``+inf`` row (``inf - inf``, which :func:`shifted`
    maps to 0) and on rows that contain a NaN (``m`` is NaN); those rows become finite
    here, so every kernel that uses it restores them with :func:`nan_rows` (O(rows)).
    """
    if not xp.inplace:
        return shifted(xp, x, m)
    return xp.nan_to_zero_(x - m)


def shifted_clamped(xp: ModuleType, x: Any, m: Any) -> Any:
    """``min(x - m', 1)`` with ``m' = finfo.max`` on rows whose max ``m`` is ``+inf``:
    the shift for ``exp`` and gathers without a per-element ``where``.

    XLA on the CPU runs ``exp``-``sum`` over ``where(x == inf, 0, x - m)`` about 4x slower
    than over this ``min``. Finite rows are unchanged (``x - m <= 0 < 1``, so the
    derivative is exactly 1: no tie at the clamp); on a ``+inf`` row the ``+inf`` entries
    become 1 (derivative 0) and the finite ones ``x - finfo.max``, whose ``exp`` is 0; so
    ``log Σ exp`` of it is that of :func:`shifted` plus 1 on ``+inf`` rows, which
    :func:`log_sum_exp_of` and :func:`softmax_from` take off again (O(rows)). Use it only
    under ``exp``: the finite entries of a ``+inf`` row are not ``-inf`` here. A finite
    logit equal to ``finfo.max`` next to a ``+inf`` one counts as ``+inf``.
    """
    big = float(xp.finfo(x.dtype).max)
    # an array, not a Python scalar (no scalar promotion), made from the O(rows) ``m`` so
    # that it carries m's device and, under JAX, its sharding (a device= argument would
    # give a sharded scalar, which JAX refuses)
    one = xp.ones_like(m)
    return xp.minimum(x - xp.where(m == xp.inf, big, m), one)


def _inf_rows(xp: ModuleType, m: Any) -> Any:
    return xp.astype(m == xp.inf, m.dtype)


def log_sum_exp_of(xp: ModuleType, x: Any, m: Any, axis: int) -> Any:
    """``log_sum_exp_shifted(shifted(x, m))`` (an empty row gives 0): one fresh temporary
    exponentiated in place where allowed, else the where-free :func:`shifted_clamped`."""
    if xp.inplace:
        return log_sum_exp_consume(xp, shifted_fresh(xp, x, m), axis)
    # the +1 of +inf rows comes off as a division by exp(1) of the sum, not as a
    # subtraction of 1 from its log: a single +inf entry then gives exactly log 1 = 0
    # (``log(exp(1)) - 1`` is ±eps in float32)
    se = xp.sum(xp.exp(shifted_clamped(xp, x, m)), axis=axis, keepdims=True)
    return _log_sum(xp, se / xp.exp(_inf_rows(xp, m)))


def nan_rows(xp: ModuleType, lse_s: Any, m: Any) -> Any:
    """``lse_s`` made NaN on rows whose max ``m`` is NaN (rows with a NaN logit), so that
    the loss and the gradient of such a row are NaN also after :func:`shifted_fresh`."""
    return xp.where(m != m, xp.nan, lse_s)  # m != m: NaN (``isnan`` is not in every namespace)


def softmax_fresh(xp: ModuleType, x: Any, m: Any, lse_s: Any) -> Any:
    """:func:`softmax_from` with one full-size allocation where in-place updates are allowed."""
    if not xp.inplace:
        return softmax_from(xp, x, m, lse_s)
    return xp.unary_("exp", xp.isub(shifted_fresh(xp, x, m), lse_s))


def log_sum_exp_consume(xp: ModuleType, xs: Any, axis: int) -> Any:
    """:func:`log_sum_exp_shifted` of a fresh temporary ``xs``, which it overwrites
    (``exp`` in place) where the framework allows it."""
    se = xp.sum(xp.unary_("exp", xs), axis=axis, keepdims=True)
    return xp.log(xp.where(se == 0, 1.0, se))


# ------------------------------------------- the dominant class: exact below eps·1
#
# log Σ_c exp(x_c − m) = log(1 + r), r = Σ_{c≠d} exp(x_c − m) with d a row's first maximum
# (other tied classes count 1 each in r). Summing d's 1 with r rounds r away when
# r < eps (logits [30, 0] in float32: 1 + 9.4e-14 == 1, a loss of 0 instead of 9.36e-14);
# log1p(r) keeps it. The gradient at d, c·p_d − q_d (c the row's coefficient), is
# written c·expm1(xs_d − lse_s) + (c − q_d): p_d − 1 = expm1(log p_d) keeps the digits
# that 1 − p_d would cancel. Cost: one argmax (a read pass, O(rows) out) and O(rows)
# gathers and scatters in eager mode; a where over the class axis under compilers.


def dominant(xp: ModuleType, x: Any, axis: int) -> Any:
    """The keepdims index of each row's first maximum (``+inf`` included; a row without
    one -- NaN, empty -- gets the last class).

    The smallest class index where ``x`` equals the row maximum: a ``min`` over an index
    grid, which a compiler partitions like the ``max`` itself (``argmax`` over a sharded
    class axis would gather the logits under JAX's SPMD partitioner)."""
    n = x.shape[axis]
    m = row_max(xp, x, axis, keepdims=True)
    grid = arange_along(xp, n, axis, x.ndim, device_of(xp, x))
    return xp.minimum(xp.min(xp.where(x == m, grid, n), axis=axis, keepdims=True), n - 1)


def row_shift_dominant(xp: ModuleType, x: Any, axis: int) -> tuple[Any, Any, Any]:
    """``(m, nonempty, d)``: :func:`row_shift` and :func:`dominant` in one pass over ``x``
    where temporaries are updated in place (torch: ``torch.max`` gives both; NumPy:
    ``argmax`` and an O(rows) gather), elsewhere two reductions (compilers fuse them)."""
    md = xp.max_argmax(x, axis) if xp.inplace and 0 not in tuple(x.shape) else None
    if md is None:
        m, nonempty = row_shift(xp, x, axis)
        return m, nonempty, dominant(xp, x, axis)
    m, d = md
    nonempty = m != -xp.inf
    return xp.where(nonempty, m, 0.0), nonempty, d


def log1p_rest_fresh(xp: ModuleType, e: Any, d: Any, axis: int) -> Any:
    """``log Σ e`` as ``log1p`` of the sum without class ``d``, for a fresh temporary
    ``e = exp(x − m)`` (overwritten) whose entry at ``d`` is 1 (0 on an empty row)."""
    e = xp.set_at_(e, d, 0.0, axis, lambda: onehot_mask(xp, e, d, axis))
    return xp.log1p(xp.sum(e, axis=axis, keepdims=True))


def log1p_rest_of(xp: ModuleType, xs: Any, d: Any, nonempty: Any, axis: int) -> Any:
    """``log Σ exp(xs)`` as ``log1p(Σ_{c≠d} exp(xs_c) + expm1(xs_d))`` (``xs_d = 0``),
    functional, with the derivative of the plain log-sum-exp; an empty row gives 0.
    ``xs`` is 0 at a row's maxima and ``exp(xs)`` is 0 off the ``+inf`` entries of a
    ``+inf`` row (:func:`shifted`, or :func:`shifted_clamped` minus :func:`_inf_rows`)."""
    t = xp.where(onehot_mask(xp, xs, d, axis), xp.expm1(xs), xp.exp(xs))
    return xp.log1p(xp.where(nonempty, xp.sum(t, axis=axis, keepdims=True), 0.0))


def log_sum_exp_dominant(xp: ModuleType, x: Any, m: Any, d: Any, nonempty: Any, axis: int) -> Any:
    """:func:`log_sum_exp_of` kept exact below eps (one fresh temporary where allowed)."""
    if xp.inplace:
        return log1p_rest_fresh(xp, xp.unary_("exp", shifted_fresh(xp, x, m)), d, axis)
    return log1p_rest_of(xp, shifted_clamped(xp, x, m) - _inf_rows(xp, m), d, nonempty, axis)


def fix_dominant(xp: ModuleType, G: Any, x: Any, m: Any, lse_s: Any, d: Any, c: Any, q_d: Any, axis: int) -> Any:
    """The gradient ``G = c·softmax − q`` rewritten at the dominant class ``d`` as
    ``c·expm1(xs_d − lse_s) + (c − q_d)`` (in place where allowed; O(rows))."""
    xs_d = shifted(xp, gather(xp, x, d, axis), m)
    v = c * xp.expm1(xs_d - lse_s) + (c - q_d)
    return xp.set_at_(G, d, v, axis, lambda: onehot_mask(xp, x, d, axis))


def z_term(xp: ModuleType, z: Any, lse: Any) -> Any:
    """``z·lse²``, 0 where an array ``z`` is 0 (also on ``+inf`` rows: not ``0·inf``)."""
    return z * lse * lse if isinstance(z, (int, float)) else mul0(lse * lse, z, xp)


def z_coef(xp: ModuleType, z: Any, lse: Any) -> Any:
    """``2·z·lse``, the derivative of :func:`z_term` (0 where an array ``z`` is 0)."""
    return 2.0 * z * lse if isinstance(z, (int, float)) else mul0(2.0 * lse, z, xp)


def smoothed(xp: ModuleType, y: Any, x: Any, eps: float, axis: int) -> Any:
    """Soft labels with label smoothing: ``(1-ε)·y + ε·m/K`` over the K unmasked classes
    ``m`` of each row (``x != -inf``); a fully masked row gets ``(1-ε)·y``."""
    unmasked = x != -xp.inf
    K = xp.sum(xp.astype(unmasked, x.dtype), axis=axis, keepdims=True)
    return (1.0 - eps) * y + xp.where(unmasked, eps / xp.where(K == 0, 1.0, K), 0.0)


def arange_along(xp: ModuleType, n: int, axis: int, ndim: int, device: Any) -> Any:
    shape = [1] * ndim
    shape[axis] = n
    return xp.reshape(xp.arange(n, device=device), tuple(shape))


def along(xp: ModuleType, v: Any, axis: int, ndim: int) -> Any:
    """Reshape a length-C vector so it broadcasts along ``axis``."""
    shape = [1] * ndim
    shape[axis] = v.shape[0]
    return xp.reshape(v, tuple(shape))


def onehot_mask(xp: ModuleType, x: Any, idx: Any, axis: int) -> Any:
    """Boolean ``(arange(C) == idx)`` along ``axis``; ``idx`` has keepdims shape."""
    return arange_along(xp, x.shape[axis], axis, x.ndim, device_of(xp, x)) == idx


def gather(xp: ModuleType, x: Any, idx: Any, axis: int) -> Any:
    """``x[..., idx, ...]`` along ``axis`` (keepdims). ``idx`` must be in range.

    Uses ``take_along_axis`` where the namespace has it; Dask's does not, so there the
    gather is a chunk-local masked sum, which stays lazy.
    """
    if hasattr(xp, "take_along_axis"):
        return xp.take_along_axis(x, idx, axis=axis)
    return xp.sum(xp.where(onehot_mask(xp, x, idx, axis), x, 0.0), axis=axis, keepdims=True)


def take_class(xp: ModuleType, table: Any, x: Any, idx: Any, axis: int) -> Any:
    """``table[idx]`` for a length-C table and in-range keepdims indices ``idx``."""
    if hasattr(xp, "take_along_axis"):
        shape = tuple(idx.shape)
        if None in shape:  # sizes unknown in a TensorFlow graph
            shape = tuple(-1 if d is None else d for d in shape)
        flat = xp.reshape(idx, (-1,))
        return xp.reshape(xp.take(table, flat, axis=0), shape)
    # a chunk-local masked sum, like gather's (where broadcasts: no sizes needed)
    return xp.sum(xp.where(onehot_mask(xp, x, idx, axis), along(xp, table, axis, x.ndim), 0.0), axis=axis, keepdims=True)


def mul0(a: Any, b: Any, xp: ModuleType) -> Any:
    """``a * b`` with ``0 * inf = 0`` where ``b == 0`` (the ``0 log 0 = 0`` convention)."""
    return xp.where(b == 0, 0.0, a * b)


def expand_g(xp: ModuleType, g: Any, axis: int | None) -> Any:
    if g is None:
        return 1.0
    return g if axis is None else xp.expand_dims(g, axis=axis)


def stable_sigmoids(xp: ModuleType, x: Any) -> tuple[Any, Any, Any]:
    """``(sigmoid(x), sigmoid(-x), log1p(exp(-|x|)))``, each with relative accuracy."""
    e = xp.exp(-xp.abs(x))
    big = 1.0 / (1.0 + e)
    small = e * big
    pos = x >= 0
    return xp.where(pos, big, small), xp.where(pos, small, big), xp.log1p(e)


def bce_terms(xp: ModuleType, x: Any, z: Any, pz: Any, t: Any) -> Any:
    """``pz·softplus(-x) + (1-z)·softplus(x)`` without cancellation and with 0·inf = 0.

    Uses ``softplus(±x) = relu(±x) + t`` with ``t = log1p(exp(-|x|))``: exactly one of
    the relu terms is non-zero, so the loss is ``c·|x| + (pz + 1 - z)·t``.
    """
    c = xp.where(x < 0, pz, 1.0 - z)
    lin = mul0(xp.abs(x), c, xp)
    return lin + (pz + (1.0 - z)) * t


class _RowKernel:
    """Kernels whose loss reduces the class axis."""

    @staticmethod
    def contract(xp: ModuleType, G: Any, t: Any, st: Any) -> Any:
        return xp.sum(G * t, axis=st.axis)


class _ElementKernel:
    @staticmethod
    def contract(xp: ModuleType, G: Any, t: Any, st: Any) -> Any:
        return G * t


# ---------------------------------------------------------------- soft-label softmax


class SoftStatic(NamedTuple):
    axis: int
    z_loss: float
    label_smoothing: float = 0.0


def _effective_labels(xp, x, y, arrays, st):
    """``q = w·ỹ``: the caller's soft labels ``y``, smoothed over the unmasked classes and
    times the class weights (``arrays = (class_weights,)``, or ``()``/``(None,)``); NaN
    where a non-zero label meets a negative class weight (that row's loss is NaN)."""
    q = smoothed(xp, y, x, st.label_smoothing, st.axis) if (type(st.label_smoothing) is not float or st.label_smoothing) else y
    cw = arrays[0] if arrays else None
    if cw is None:
        return q
    w = along(xp, cw, st.axis, x.ndim)
    return xp.where((q != 0) & (w < 0), xp.nan, q * w)


class SoftmaxXent(_RowKernel):
    """``lse·Σq − Σ q·x (+ z·lse²)`` with the effective labels ``q = w·ỹ`` (class weights
    ``arrays = (w,)`` times the labels ``ỹ`` smoothed by ``st.label_smoothing``), built
    inside the kernel so that autodiff saves the caller's labels, not ``q``.
    d/dx = ``softmax·Σq − q``; d/dq = ``lse − x``, so d/dy = ``(1 − ε)·w·(lse − x)``.

    Full-size temporaries (eager torch/NumPy, in-place updates; N = logits size):
    forward 2 (``x − m``, then ``exp`` of it); backward 1
    (``softmax``, scaled in place, ``q·k`` subtracted by ``addcmul_`` on torch, +1 product
    elsewhere); ``grad_y`` 1 + a boolean.
    """

    def forward(self, xp, x, y, arrays, st):
        ax = st.axis
        q = _effective_labels(xp, x, y, arrays, st)
        m, nonempty, d = row_shift_dominant(xp, x, ax)
        xs = shifted_fresh(xp, x, m)
        if xp.inplace:
            lse_s = log1p_rest_fresh(xp, xp.exp(xs), d, ax)
        else:  # the where-free shift for the exp-sum (compilers)
            lse_s = log_sum_exp_dominant(xp, x, m, d, nonempty, ax)
        lse_s = nan_rows(xp, lse_s, m)
        sum_q = xp.sum(q, axis=ax, keepdims=True)
        if xp.inplace:
            # Σ q·xs with 0·(−inf) = 0: the product's NaN are 0·inf (→ 0), NaN rows of x
            # (NaN through lse_s) and NaN labels (NaN through Σq): one in-place pass
            qx = xp.sum(xp.nan_to_zero_(xp.imul(xs, q)), axis=ax, keepdims=True)
        else:
            qx = xp.sum(mul0(xs, q, xp), axis=ax, keepdims=True)
        raw = sum_q * lse_s - qx
        lse = m + lse_s
        if type(st.z_loss) is not float or st.z_loss:
            raw = raw + z_term(xp, st.z_loss, lse)
        k = xp.astype(nonempty, x.dtype)
        loss = xp.where(nonempty, raw, 0.0)
        return xp.squeeze(loss, axis=ax), (m, lse_s, k, sum_q, d)

    def _res(self, xp, x, y, arrays, st, res):
        if res is None:
            _, res = self.forward(xp, x, y, arrays, st)
        return res

    def grad_x(self, xp, x, y, arrays, st, res, g):
        m, lse_s, k, sum_q, d = self._res(xp, x, y, arrays, st, res)
        q = _effective_labels(xp, x, y, arrays, st)
        k = k * expand_g(xp, g, st.axis)
        coef = sum_q + z_coef(xp, st.z_loss, m + lse_s) if (type(st.z_loss) is not float or st.z_loss) else sum_q
        kc = k * coef
        G = xp.imul(softmax_fresh(xp, x, m, lse_s), kc)
        G = xp.isub_mul(G, q, k)
        return fix_dominant(xp, G, x, m, lse_s, d, kc, k * gather(xp, q, d, st.axis), st.axis)

    def grad_y(self, xp, x, y, arrays, st, res, g):
        m, lse_s, k = self._res(xp, x, y, arrays, st, res)[:3]
        k = k * expand_g(xp, g, st.axis)
        if type(st.label_smoothing) is not float or st.label_smoothing:  # dỹ/dy = 1 − ε
            k = k * (1.0 - st.label_smoothing)
        # -log p = lse_s - (x - m), and 0 on masked classes (their labels carry no
        # gradient upstream): k·(lse_s − xs) computed as (xs − lse_s)·(−k)
        t = xp.fill_where_(xp.isub(shifted_fresh(xp, x, m), lse_s), x == -xp.inf, 0.0)
        t = xp.imul(t, -k)
        cw = arrays[0] if arrays else None
        return t if cw is None else xp.imul(t, along(xp, cw, st.axis, x.ndim))


# -------------------------------------------------------------- integer-label softmax


class SparseStatic(NamedTuple):
    axis: int
    label_smoothing: float
    z_loss: float


class SparseSoftmaxXent(_RowKernel):
    """Integer labels, without a one-hot: per row, with ``a = (1-ε)·w_y`` and
    ``b = ε/K`` over the K unmasked classes,
    ``loss = (a + b·Σ_c w_c)·lse − a·x_y − b·Σ_c w_c·x_c (+ z·lse²)``;
    d/dx = ``softmax·(a + b·Σ_c w_c) − a·onehot(y) − b·w·unmasked``.

    ``arrays = (keep, class_weights)``: ``keep`` is 1 (normal), 0 (ignored) or NaN
    (invalid label) per row, or None; ``y`` holds in-range indices.
    Residuals: per-row ``lse``, row factor, label mass and ``b``.

    Full-size temporaries (eager torch/NumPy, in-place updates): forward 1 (``x − m``,
    exponentiated in place; +2 and a boolean with label smoothing); backward 1
    (``softmax``, scaled in place, the label term subtracted by ``scatter_add_`` on torch
    and a put along the axis on NumPy; elsewhere +1 and a boolean one-hot; +1 and a
    boolean with label smoothing). No one-hot and no log-softmax on torch and NumPy.
    """

    def forward(self, xp, x, y, arrays, st):
        keep, cw = arrays
        ax, eps = st.axis, st.label_smoothing
        m, nonempty, d = row_shift_dominant(xp, x, ax)
        yk = xp.expand_dims(y, axis=ax)
        a = 1.0 - st.label_smoothing if cw is None else _label_mass(xp, cw, x, yk, st)
        x_y = shifted(xp, gather(xp, x, yk, ax), m)  # O(rows)
        if type(eps) is not float or eps:
            xs = shifted_fresh(xp, x, m)
            unmasked = xs != -xp.inf
            K = xp.sum(xp.astype(unmasked, x.dtype), axis=ax, keepdims=True)
            b = eps / xp.where(K == 0, 1.0, K)
            if cw is None:
                sw, wxs = K, xs
            else:
                wv = along(xp, cw, ax, x.ndim)
                sw = xp.sum(xp.where(unmasked, wv, 0.0), axis=ax, keepdims=True)
                wxs = wv * xs
            wx = xp.sum(xp.where(unmasked, wxs, 0.0), axis=ax, keepdims=True)
            sum_q = a + b * sw
            if xp.inplace:
                lse_s = log1p_rest_fresh(xp, xp.unary_("exp", xs), d, ax)
            else:
                lse_s = log1p_rest_of(xp, xs, d, nonempty, ax)
            lse_s = nan_rows(xp, lse_s, m)
            raw = sum_q * lse_s - _times_mass(xp, x_y, a) - b * wx
        else:
            b = None
            lse_s = nan_rows(xp, log_sum_exp_dominant(xp, x, m, d, nonempty, ax), m)
            sum_q = a + xp.zeros_like(lse_s)  # a row array even when `a` is a number
            raw = _times_mass(xp, lse_s - x_y, a)
        lse = m + lse_s
        if type(st.z_loss) is not float or st.z_loss:
            raw = raw + z_term(xp, st.z_loss, lse)
        k = _row_factor(xp, keep, nonempty, x.dtype, ax)
        loss = xp.where(k == 0, 0.0, k * raw)
        return xp.squeeze(loss, axis=ax), (m, lse_s, k, sum_q, b, d)

    def grad_x(self, xp, x, y, arrays, st, res, g):
        _, cw = arrays
        ax = st.axis
        if res is None:
            _, res = self.forward(xp, x, y, arrays, st)
        m, lse_s, k, sum_q, b, d = res
        yk = xp.expand_dims(y, axis=ax)
        a = 1.0 - st.label_smoothing if cw is None else _label_mass(xp, cw, x, yk, st)
        if g is not None:
            k = k * xp.expand_dims(g, axis=ax)
        coef = sum_q + z_coef(xp, st.z_loss, m + lse_s) if (type(st.z_loss) is not float or st.z_loss) else sum_q
        kc = k * coef
        G = xp.imul(softmax_fresh(xp, x, m, lse_s), kc)
        G = xp.sub_at_(G, yk, k * a, ax, lambda: onehot_mask(xp, x, yk, ax))
        q_d = a * xp.astype(yk == d, x.dtype)  # the label mass at the dominant class
        if b is not None:
            wv = 1.0 if cw is None else along(xp, cw, ax, x.ndim)
            G = xp.isub(G, xp.where(x != -xp.inf, (k * b) * wv, 0.0))
            q_d = q_d + (b if cw is None else b * take_class(xp, cw, x, d, ax))
        return fix_dominant(xp, G, x, m, lse_s, d, kc, k * q_d, ax)

    def grad_y(self, xp, x, y, arrays, st, res, g):  # integer labels: never called
        return None


def _times_mass(xp, v, a):
    """``a·v`` with ``0·inf = 0`` (a zero label mass on a masked class, where ``x_y = -inf``)."""
    if isinstance(a, float):
        return v * a if a else xp.zeros_like(v)
    return mul0(v, a, xp)


def _label_mass(xp, cw, x, yk, st):
    a = 1.0 - st.label_smoothing
    return a if cw is None else a * take_class(xp, cw, x, yk, st.axis)


def _row_factor(xp, keep, nonempty, dtype, ax):
    """1 for a normal row, 0 for an ignored or fully masked row, NaN for an invalid label."""
    if keep is None:
        return xp.astype(nonempty, dtype)
    return xp.where(nonempty, xp.expand_dims(keep, axis=ax), 0.0)


# --------------------------------------------------------------------------- sigmoid


class SigmoidStatic(NamedTuple):
    label_smoothing: float = 0.0  # applied inside the kernel: autodiff saves the caller's labels


def _smooth(z: Any, st: Any) -> Any:
    eps = st.label_smoothing
    return (1.0 - eps) * z + eps / 2.0 if (type(eps) is not float or eps) else z


class SigmoidXent(_ElementKernel):
    """``pw·z·softplus(-x) + (1-z)·softplus(x)``; d/dx = ``(1-z)·σ(x) − pw·z·σ(-x)``
    (``σ(x) − z`` without ``pos_weight``), d/dz = ``pw·softplus(-x) − softplus(x)``
    (``−x`` without it). ``arrays = (pos_weight, mask)``, either may be None.

    The loss is :func:`bce_terms` written as ``log1p(exp(−|x|)) − B·x`` with
    ``B = pw·z`` for ``x < 0`` and ``z − 1`` otherwise (``= c·|x|``, ``0·inf = 0``; times
    ``pw·z + 1 − z`` on the first term with ``pos_weight``, which is 1 without it). The
    gradient is ``(1 − z)·σ(x) − pw·z·σ(−x)``: no cancellation for ``z ∈ {0, 1}``.
    Where temporaries are updated in place it uses ``σ(x) = 1/(1 + e)`` and
    ``σ(−x) = e·σ(x)``, ``e = exp(−x)`` (two buffers, one ``exp``); elsewhere -- including every
    path that is differentiated again (double backward, ``jax.hessian``) -- the
    :func:`stable_sigmoids` form, whose derivatives stay finite at ``x = ±inf``.

    Full-size temporaries (eager torch/NumPy, in-place updates): forward 2 (``|x|``
    turned into ``log1p(exp(−|x|))``, and ``B``) + 2 booleans (+2 with ``pos_weight``);
    backward 2 (``σ(x)``, turned into the gradient, and ``exp(−x)``, turned into
    ``pw·z·σ(−x)``).
    """

    def forward(self, xp, x, z, arrays, st):
        pw, mask = arrays
        z = _smooth(z, st)
        if xp.inplace:
            # B = z − h with h = (1 + sign x)/2 ∈ {0, ½, 1} (½ only at x = 0, where B·x = 0):
            # exactly z − 1 for x > 0 and z (or pw·z) for x < 0, without a boolean; the NaN
            # of B·x are then 0·inf (→ 0, the 0·log 0 rule) or NaN labels, which reach the
            # loss through t + 0·z
            h = xp.half_step(x)
            if pw is None:
                B = xp.imul(xp.isub(h, z), -1.0)  # z − h
            else:  # pw·z·(1 − h) + (z − 1)·h, exact for h ∈ {0, 1}
                B = xp.imul(1.0 - h, pw * z)
                B = xp.iadd(B, xp.imul(h, z - 1.0))
            B = xp.nan_to_zero_(xp.imul(B, x))
        else:
            B = xp.where(x < 0, z if pw is None else pw * z, z - 1.0)
            B = mul0(x, B, xp)  # B·x with 0·inf = 0 (= −c·|x|)
        t = xp.unary_("negative", xp.abs(x))
        t = xp.unary_("log1p", xp.unary_("exp", t))  # log1p(exp(-|x|))
        if pw is not None:
            t = xp.imul(t, pw * z + (1.0 - z))
        loss = xp.isub(t, B)
        if xp.inplace:
            loss = xp.add_nan_of_(loss, z)
            if pw is not None:
                loss = xp.add_nan_of_(loss, pw)
        if mask is not None:
            loss = xp.fill_where_(loss, ~mask, 0.0)
        return loss, ()

    def grad_x(self, xp, x, z, arrays, st, res, g):
        pw, mask = arrays
        z = _smooth(z, st)
        if xp.inplace:
            e = xp.unary_("exp", -x)  # exp(−x)
            G = xp.reciprocal_(e + 1.0)  # σ(x)
            # σ(−x) = e·σ(x); e = inf (x < −88 in float32) gives inf·0 = NaN there: σ(−x) = 1
            # (a NaN x makes σ(x), hence G, NaN anyway)
            e = xp.nan_to_one_(xp.imul(e, G))
            G = xp.isub_mul(G, G, z)  # (1 − z)·σ(x) as σ(x) − σ(x)·z: exactly 0 at z = 1
            e = xp.imul(e, z)
            if pw is not None:
                e = xp.imul(e, pw)
            G = xp.isub(G, e)  # (1 − z)·σ(x) − pw·z·σ(−x)
        else:
            p1, p0, _ = stable_sigmoids(xp, x)
            G = (1.0 - z) * p1 - (z if pw is None else pw * z) * p0
        if mask is not None:
            G = xp.fill_where_(G, ~mask, 0.0)
        return G if g is None else xp.imul(G, g)

    def grad_y(self, xp, x, z, arrays, st, res, g):
        pw, mask = arrays
        if pw is None:
            G = -x
        else:
            t = xp.log1p(xp.exp(-xp.abs(x)))
            G = pw * (xp.maximum(-x, 0.0) + t) - (xp.maximum(x, 0.0) + t)
        if type(st.label_smoothing) is not float or st.label_smoothing:  # d z̃ / d z = 1 − ε
            G = G * (1.0 - st.label_smoothing)
        if mask is not None:
            G = xp.where(mask, G, 0.0)
        return G if g is None else G * g


# --------------------------------------------------------------------- sigmoid focal


class SigmoidFocalStatic(NamedTuple):
    gamma: float
    alpha: float | None


class SigmoidFocal(_ElementKernel):
    """``α_t·(1-p_t)^γ·bce(x, z)`` with ``1-p_t = z·σ(-x) + (1-z)·σ(x)`` (torchvision's
    formula). d/dx = ``α_t·(1-p_t)^γ·[(σ(x) − z) + γ·(bce/(1-p_t))·(1-2z)·σ(x)σ(-x)]``,
    finite for every γ >= 0 (``bce/(1-p_t) → 1`` where ``1-p_t → 0``). ``arrays = (mask,)``.
    """

    def _parts(self, xp, x, z, st):
        p1, p0, t = stable_sigmoids(xp, x)
        ce = bce_terms(xp, x, z, z, t)
        u = z * p0 + (1.0 - z) * p1
        mod = u**st.gamma if (type(st.gamma) is not float or st.gamma) else None
        at = None if st.alpha is None else st.alpha * z + (1.0 - st.alpha) * (1.0 - z)
        return p1, p0, ce, u, mod, at

    def forward(self, xp, x, z, arrays, st):
        (mask,) = arrays
        _, _, ce, _, mod, at = self._parts(xp, x, z, st)
        loss = ce if mod is None else ce * mod
        if at is not None:
            loss = mul0(loss, at, xp)
        if mask is not None:
            loss = xp.where(mask, loss, 0.0)
        return loss, ()

    def _ratio(self, xp, ce, u):
        return xp.where(u > 0, ce / xp.where(u > 0, u, 1.0), 1.0)

    def grad_x(self, xp, x, z, arrays, st, res, g):
        (mask,) = arrays
        p1, p0, ce, u, mod, at = self._parts(xp, x, z, st)
        G = (1.0 - z) * p1 - z * p0
        if type(st.gamma) is not float or st.gamma:
            G = G + st.gamma * (1.0 - 2.0 * z) * mul0(self._ratio(xp, ce, u), p1 * p0, xp)
            G = mod * G
        if at is not None:
            G = at * G
        if mask is not None:
            G = xp.where(mask, G, 0.0)
        return G if g is None else G * g

    def grad_y(self, xp, x, z, arrays, st, res, g):
        (mask,) = arrays
        p1, p0, ce, u, mod, at = self._parts(xp, x, z, st)
        if type(st.gamma) is not float or st.gamma:
            G = mul0(-x, mod, xp) + st.gamma * mul0(self._ratio(xp, ce, u) * mod, p0 - p1, xp)
            val = ce * mod
        else:
            G, val = -x, ce
        if at is not None:
            G = mul0(G, at, xp) + (2.0 * st.alpha - 1.0) * val
        if mask is not None:
            G = xp.where(mask, G, 0.0)
        return G if g is None else G * g


# --------------------------------------------------------------------- softmax focal


class SoftmaxFocalStatic(NamedTuple):
    axis: int
    gamma: float
    alpha: float | None  # a scalar alpha; a per-class alpha travels in `arrays`


class SoftmaxFocal(_RowKernel):
    """``−α_y·(1 − p_y)^γ·log p_y`` with ``1 − p_y = −expm1(log p_y)`` computed in log
    space. d/dx = ``α_y·F·(softmax − onehot)`` with
    ``F = (1-p)^γ·(1 − γ·p·log p/(1-p))``, finite for every γ >= 0 (the ratio
    ``log p/(1-p) → −1`` as ``p → 1``). ``arrays = (keep, alpha_per_class)``.
    """

    def _alpha(self, xp, av, x, yk, st):
        if av is not None:
            return take_class(xp, av, x, yk, st.axis)
        return 1.0 if st.alpha is None else st.alpha

    def forward(self, xp, x, y, arrays, st):
        keep, av = arrays
        ax = st.axis
        xs, m, nonempty = shift(xp, x, ax)
        d = dominant(xp, x, ax)
        lse_s = log1p_rest_of(xp, xs, d, nonempty, ax)
        yk = xp.expand_dims(y, axis=ax)
        logp = xp.minimum(gather(xp, xs, yk, ax) - lse_s, 0.0)
        raw = (-xp.expm1(logp)) ** st.gamma * (-logp) if (type(st.gamma) is not float or st.gamma) else -logp
        a = self._alpha(xp, av, x, yk, st)
        raw = (raw * a if a else xp.zeros_like(raw)) if isinstance(a, float) else mul0(raw, a, xp)
        k = _row_factor(xp, keep, nonempty, x.dtype, ax)
        loss = xp.where(k == 0, 0.0, k * raw)
        return xp.squeeze(loss, axis=ax), (m, lse_s, k, d)

    def grad_x(self, xp, x, y, arrays, st, res, g):
        _, av = arrays
        ax = st.axis
        if res is None:
            _, res = self.forward(xp, x, y, arrays, st)
        m, lse_s, k, d = res
        yk = xp.expand_dims(y, axis=ax)
        logp = xp.minimum(gather(xp, shifted(xp, x, m), yk, ax) - lse_s, 0.0)
        if type(st.gamma) is not float or st.gamma:
            u = -xp.expm1(logp)
            r = xp.where(u > 0, logp / xp.where(u > 0, u, 1.0), -1.0)
            F = (u**st.gamma) * (1.0 - st.gamma * mul0(r, xp.exp(logp), xp))
        else:
            F = 1.0
        coef = (k * expand_g(xp, g, ax)) * (self._alpha(xp, av, x, yk, st) * F)
        s = softmax_from(xp, x, m, lse_s)
        G = s * coef - xp.where(onehot_mask(xp, x, yk, ax), coef, 0.0)
        return fix_dominant(xp, G, x, m, lse_s, d, coef, coef * xp.astype(yk == d, x.dtype), ax)

    def grad_y(self, xp, x, y, arrays, st, res, g):
        return None



# ------------------------------------------------------ softmax focal, soft labels


class SoftFocalStatic(NamedTuple):
    axis: int
    gamma: float
    alpha: float | None  # a scalar alpha; a per-class alpha travels in `arrays`
    label_smoothing: float = 0.0
    sparse: bool = False  # y holds in-range class indices (one-hot built here), not soft labels


class SoftFocal(_RowKernel):
    """Keras' categorical focal form with soft labels, in log space:
    ``ℓ = −Σ_c α_c·ỹ_c·(1 − p_c)^γ·log p_c``, with ``log p = x − lse`` and
    ``1 − p = −expm1(log p)``; ``ỹ`` the labels smoothed over the unmasked classes
    (:func:`smoothed`; a one-hot of ``y`` when ``st.sparse``), ``α_c`` a per-class vector
    (``arrays = (keep, alpha_per_class)``) or the scalar ``st.alpha``.

    With ``q_c = α_c·ỹ_c`` and ``f(L) = −(1 − e^L)^γ·L`` (so ``ℓ = Σ_c q_c f(log p_c)``):
    ``f'(L) = −F`` with ``F = u^γ·(1 − γ·p·L/u)``, ``u = 1 − p`` -- the factor of
    :class:`SoftmaxFocal`, finite for every γ >= 0 (``L/u → −1`` as ``p → 1``). Since
    ``∂L_c/∂x_j = δ_cj − p_j``, d/dx = ``softmax·Σ_c w_c − w`` with ``w = q·F`` (the
    soft-label cross-entropy gradient with ``q`` replaced by ``w``); d/dy =
    ``(1 − ε)·α·f(log p)`` (0 on masked classes). Unsmoothed one-hot labels give
    :class:`SoftmaxFocal`'s loss. A masked class (``−inf``) has ``F = 1``; a label on it
    gives ``+inf`` with a finite gradient.

    Full-size temporaries: a few (log p, 1 − p, its power, the product with q); this
    kernel is not on a memory-critical path (used with label smoothing or soft labels).
    """

    def _q(self, xp, x, y, arrays, st):
        _, av = arrays
        ax = st.axis
        yv = xp.astype(onehot_mask(xp, x, xp.expand_dims(y, axis=ax), ax), x.dtype) if st.sparse else y
        q = smoothed(xp, yv, x, st.label_smoothing, ax) if (type(st.label_smoothing) is not float or st.label_smoothing) else yv
        if av is not None:
            return q * along(xp, av, ax, x.ndim)
        return q if st.alpha is None else q * st.alpha

    def _logp(self, xp, x, m, lse_s):
        # ≤ 0 also after rounding (1 − p must not go negative under a fractional power)
        return xp.minimum(shifted(xp, x, m) - lse_s, 0.0)

    def _f(self, xp, logp, st):
        """``−(1 − p)^γ·log p`` per class (``+inf`` on masked classes)."""
        return (-xp.expm1(logp)) ** st.gamma * (-logp) if (type(st.gamma) is not float or st.gamma) else -logp

    def forward(self, xp, x, y, arrays, st):
        keep, _ = arrays
        ax = st.axis
        m, nonempty = row_shift(xp, x, ax)
        lse_s = nan_rows(xp, log_sum_exp_of(xp, x, m, ax), m)
        f = self._f(xp, self._logp(xp, x, m, lse_s), st)
        raw = xp.sum(mul0(f, self._q(xp, x, y, arrays, st), xp), axis=ax, keepdims=True)
        k = _row_factor(xp, keep if st.sparse else None, nonempty, x.dtype, ax)
        loss = xp.where(k == 0, 0.0, k * raw)
        return xp.squeeze(loss, axis=ax), (m, lse_s, k)

    def _res(self, xp, x, y, arrays, st, res):
        if res is None:
            _, res = self.forward(xp, x, y, arrays, st)
        return res

    def grad_x(self, xp, x, y, arrays, st, res, g):
        ax = st.axis
        m, lse_s, k = self._res(xp, x, y, arrays, st, res)
        logp = self._logp(xp, x, m, lse_s)
        p = xp.exp(logp)
        q = self._q(xp, x, y, arrays, st)
        if type(st.gamma) is not float or st.gamma:
            u = -xp.expm1(logp)
            r = xp.where(u > 0, logp / xp.where(u > 0, u, 1.0), -1.0)
            w = q * ((u**st.gamma) * (1.0 - st.gamma * mul0(r, p, xp)))
        else:
            w = q
        kg = k * expand_g(xp, g, ax)
        return (p * xp.sum(w, axis=ax, keepdims=True) - w) * kg

    def grad_y(self, xp, x, y, arrays, st, res, g):
        if st.sparse:  # integer labels: never called
            return None
        _, av = arrays
        ax = st.axis
        m, lse_s, k = self._res(xp, x, y, arrays, st, res)
        f = xp.where(x == -xp.inf, 0.0, self._f(xp, self._logp(xp, x, m, lse_s), st))
        c = k * expand_g(xp, g, ax)
        if type(st.label_smoothing) is not float or st.label_smoothing:  # dỹ/dy = 1 − ε
            c = c * (1.0 - st.label_smoothing)
        if av is not None:
            f = f * along(xp, av, ax, x.ndim)
        elif st.alpha is not None:
            c = c * st.alpha
        return f * c

SOFTMAX_XENT = SoftmaxXent()
SPARSE_SOFTMAX_XENT = SparseSoftmaxXent()
SIGMOID_XENT = SigmoidXent()
SIGMOID_FOCAL = SigmoidFocal()
SOFTMAX_FOCAL = SoftmaxFocal()
SOFT_FOCAL = SoftFocal()
