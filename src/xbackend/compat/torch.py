r"""PyTorch's ``torch.nn.functional`` losses with PyTorch's names, argument order and
defaults, on every backend.

>>> import numpy as np
>>> from xbackend.compat import torch as F          # drop-in for torch.nn.functional
>>> logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
>>> float(F.cross_entropy(logits, np.array([0, 1])))   # PyTorch: 0.31853976964918573
0.3185397696491856

(the exact value is 0.318539769649185628...: xbackend's log-sum-exp keeps the last digit
that PyTorch's rounds away).

Each function is a thin wrapper over a core loss of :mod:`xbackend`; the class axis is
dim 1 (dim 0 for a 1-D input), as in PyTorch. The numbers are PyTorch's wherever
PyTorch is numerically right; the differences are listed in each docstring and in
the documentation's semantics table. They all come from the same few places:

* **Edges.** ``binary_cross_entropy_with_logits`` is exact at ``±inf`` logits, where
  PyTorch returns NaN, and keeps relative accuracy for tiny losses, which PyTorch
  flushes to 0 (``x = -30, z = 0``: 9.36e-14, PyTorch 0 in float32 and 9.24e-14 in
  float64).
* **Masked classes.** A ``-inf`` logit is a masked class (no probability mass, no
  smoothing mass); PyTorch gives NaN for a probability target and ``inf`` with
  ``label_smoothing > 0``.
* **Empty means.** A ``"mean"`` over an empty or fully ignored batch is 0, not NaN.
* **Bad labels.** Class indices outside ``[0, C)`` other than ``ignore_index`` give a
  NaN row (no host sync, jit-safe) where PyTorch raises ``IndexError`` on the CPU and
  device-asserts on CUDA; pass ``invalid="raise"`` for an exception.
* **Precision.** float16/bfloat16 inputs are computed in float32 and rounded once.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal

from xbackend._lib import _checks
from xbackend._lib._docs import doc
from xbackend._lib._inputs import float_labels, prepare, quiet_numpy
from xbackend._lib._reduce import prepare_weights, reduce_loss
from xbackend._lib._sigmoid import sigmoid_cross_entropy as _sigmoid_cross_entropy
from xbackend._lib._softmax import softmax_cross_entropy as _softmax_cross_entropy
from xbackend._lib._softmax import sparse_softmax_cross_entropy as _sparse_softmax_cross_entropy
from xbackend._lib._types import ChunkSize, Invalid, Reduction
from xbackend.compat._common import check_same_shape, check_torch_reduction

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "linear_cross_entropy"]

#: PyTorch's ``reduction="mean"`` for elementwise losses and probability targets
#: divides by the number of elements; xbackend calls that "sum_over_batch_size".
_ELEMENTWISE: dict[str, Reduction] = {"mean": "sum_over_batch_size", "sum": "sum", "none": "none"}

#: PyTorch clamps each log term of ``binary_cross_entropy`` at -100.
_LOG_CLAMP = -100.0


def _inputs(input: Any, target: Any, size_average: Any, reduce: Any, reduction: Any, same_shape: str = "") -> Any:
    """The checks every function here starts with: ``input`` and ``target`` are arrays
    (of the same shape, as ``torch.nn.functional.<same_shape>`` requires, when given);
    the reduction, by PyTorch's rule for the deprecated ``size_average`` / ``reduce``
    arguments (they override ``reduction``, with PyTorch's warning)."""
    if size_average is None and reduce is None:
        check_torch_reduction(reduction)
        result = reduction
    else:
        result = _legacy_reduction(size_average, reduce)
    _checks.require_array(input, "input")
    _checks.require_array(target, "target")
    if same_shape:
        check_same_shape(target, input, "target", "input", f"torch.nn.functional.{same_shape}")
    return result


def _legacy_reduction(size_average: Any, reduce: Any) -> Any:
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    result = "mean" if (size_average and reduce) else ("sum" if reduce else "none")
    warnings.warn(
        f"size_average and reduce args will be deprecated, please use reduction='{result}' instead.",
        UserWarning,
        stacklevel=4,  # the caller of the public function
    )
    return result


@doc(none_shape="``input``'s shape")
def binary_cross_entropy_with_logits(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Any:
    r"""``torch.nn.functional.binary_cross_entropy_with_logits`` on any backend.

    .. math::

        \ell = w\,[\,p\,z\,\mathrm{softplus}(-x) + (1-z)\,\mathrm{softplus}(x)\,]

    with ``w = weight`` and ``p = pos_weight`` (both broadcast as in PyTorch;
    ``pos_weight`` along the last axis). ``reduction="mean"`` divides by the number of
    elements, whatever the weights (PyTorch's rule). Computed by
    :func:`xbackend.sigmoid_cross_entropy`.

    Parameters
    ----------
    input : array
        Logits.
    %(torch_binary_target)s
    %(torch_legacy)s
    reduction : {"mean", "sum", "none"}
        ``"mean"`` = sum / number of elements.
    pos_weight : array, optional
        Weight of the positive term, broadcast against ``input``.

    %(torch_returns)s

    Notes
    -----
    Differences from PyTorch (2.13), all where PyTorch is numerically wrong:

    * ``(x, z) = (-inf, 0)`` and ``(+inf, 1)`` give 0 (PyTorch: NaN) and
      ``(-inf, 1)`` gives ``inf`` (PyTorch: NaN), with finite gradients.
    * Tiny losses keep relative accuracy: ``x = -30, z = 0`` gives 9.3576e-14 in float32
      and float64 (PyTorch: 0 in float32, 9.2371e-14 in float64); in bfloat16
      ``x = -10, z = 0`` gives 4.54e-5 (PyTorch: 0).
    * Gradients are exact: at ``x = 30, z = 1`` the gradient is -9.36e-14 (PyTorch: 0).
    * Negative ``pos_weight`` held on the host (NumPy) raises ``ValueError``.
    * Integer or bool targets are accepted (PyTorch raises ``RuntimeError``).
    """
    red = _inputs(input, target, size_average, reduce, reduction, "binary_cross_entropy_with_logits")
    return _sigmoid_cross_entropy(input, target, pos_weight=pos_weight, weights=weight, reduction=_ELEMENTWISE[red])


@quiet_numpy
@doc(none_shape="``input``'s shape")
def binary_cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Any:
    r"""``torch.nn.functional.binary_cross_entropy`` (from probabilities) on any backend.

    .. math::

        \ell = -w\,[\,z\,\max(\log p, -100) + (1-z)\,\max(\log(1-p), -100)\,]

    PyTorch's clamp of each log term at -100 (not a clip of ``p``), with
    :math:`\log(1-p)` evaluated as ``log1p(-p)`` as in PyTorch. ``reduction="mean"``
    divides by the number of elements. Prefer :func:`binary_cross_entropy_with_logits`
    (or :func:`xbackend.sigmoid_cross_entropy`): once ``p = sigmoid(x)`` has rounded to 0
    or 1 the loss is stuck at 100 and its gradient is 0.

    Parameters
    ----------
    input : array
        Probabilities in [0, 1].
    %(torch_binary_target)s
    %(torch_legacy)s
    reduction : {"mean", "sum", "none"}
        ``"mean"`` = (weighted) sum / number of elements.

    %(torch_returns)s

    Notes
    -----
    Differences from PyTorch (2.13):

    * ``input`` outside [0, 1] gives NaN there; PyTorch raises ``RuntimeError`` on the CPU
      (a value check would be a device sync). Targets outside [0, 1] are computed with
      the formula (PyTorch raises).
    * The gradient is the exact derivative of the value, :math:`w(p-z)/(p(1-p))` inside
      the clamp and 0 where a log term is clamped; PyTorch's backward divides by
      :math:`\max(p(1-p), 10^{-12})`, so for ``p = 1e-30, z = 1`` it returns -1e12
      instead of -1e30.
    * float16/bfloat16 are computed in float32.
    """
    red = _inputs(input, target, size_average, reduce, reduction, "binary_cross_entropy")
    inp = prepare(
        input, target, weight, xp=None, dtype=None, reduction=_ELEMENTWISE[red], name="input", names=("weight",)
    )
    xp, p, shape, ct = inp.xp, inp.x, inp.shape, inp.compute
    w = prepare_weights(xp, weight, shape, ct)
    z = float_labels(xp, target, shape, ct, allow_int=True)
    log_p = _clamped_log(xp, p, lower=True)
    log_q = _clamped_log(xp, p, lower=False)
    loss = -(z * log_p + (1.0 - z) * log_q)
    return reduce_loss(xp, loss, reduction=_ELEMENTWISE[red], weights=w, out_dtype=inp.out)


def _clamped_log(xp: Any, p: Any, *, lower: bool) -> Any:
    """``max(log p, -100)`` (``lower``) or ``max(log1p(-p), -100)``; NaN outside [0, 1].

    The log is evaluated on a safe value where its argument is 0 or negative, so the
    clamped branch has a zero (not NaN) gradient.
    """
    if lower:
        inside, edge = p > 0, p == 0
        raw = xp.log(xp.where(inside, p, 1.0))
    else:
        inside, edge = p < 1, p == 1
        raw = xp.log1p(-xp.where(inside, p, 0.0))
    clamped = xp.where(edge, _LOG_CLAMP, xp.where(raw < _LOG_CLAMP, _LOG_CLAMP, raw))
    return xp.where(inside | edge, clamped, math.nan)


@doc(none_shape="the shape of ``input`` without dim 1")
def cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    *,
    invalid: Invalid = "nan",
) -> Any:
    r"""``torch.nn.functional.cross_entropy`` on any backend.

    ``input`` has the classes at dim 1 — shape ``(N, C)``, ``(N, C, d1, ...)`` or
    ``(C,)``. ``target`` is either

    * integer class indices, shape ``(N,)``, ``(N, d1, ...)`` or ``()``: computed by
      :func:`xbackend.sparse_softmax_cross_entropy`. With ``weight`` and smoothing
      :math:`\varepsilon`, a row's loss is
      :math:`-(1-\varepsilon)\,w_y\log p_y - \frac{\varepsilon}{C}\sum_c w_c\log p_c`
      and ``"mean"`` divides by :math:`\sum_i w_{y_i}` over the rows whose label is not
      ``ignore_index`` (PyTorch's rule); or
    * floating class probabilities with ``input``'s shape: computed by
      :func:`xbackend.softmax_cross_entropy`, a row's loss is
      :math:`-\sum_c w_c\,\tilde y_c\log p_c` with
      :math:`\tilde y = (1-\varepsilon)\,y + \varepsilon/C`, and ``"mean"`` divides by
      the number of rows ``N·d1·...`` (PyTorch's rule; the weights are not in it).

    Parameters
    ----------
    input : array
        Logits, classes at dim 1 (dim 0 for a 1-D input).
    target : array
        Integer class indices or floating probabilities (see above).
    weight : array, optional
        Class weights, shape ``(C,)``.
    %(torch_legacy)s
    ignore_index : int
        Index targets equal to it contribute 0 and leave the ``"mean"`` denominator.
    reduction : {"mean", "sum", "none"}
        See above.
    label_smoothing : float
        :math:`\varepsilon \in [0, 1]`.
    invalid : {"nan", "raise"}
        (keyword-only, not in PyTorch) Index targets outside ``[0, C)`` that are not
        ``ignore_index``: a NaN row, or :class:`ValueError` (PyTorch's CPU behaviour;
        a device sync).

    %(torch_returns)s

    Notes
    -----
    Differences from PyTorch (2.13):

    * ``"mean"`` over an empty or fully ignored batch is 0 (PyTorch: NaN).
    * Bad index targets give a NaN row (PyTorch: ``IndexError`` on the CPU, a device
      assert on CUDA); ``invalid="raise"`` raises ``ValueError`` instead.
    * A ``-inf`` logit is a masked class: with a probability target it contributes 0
      when its label is 0 (PyTorch: NaN); label smoothing spreads over the unmasked
      classes only, so ``[2, -inf, 0.1]`` with index 0 and ``label_smoothing=0.1``
      gives 0.2344 (PyTorch: ``inf``).
    * Index targets of any integer dtype are accepted (PyTorch wants int64 or uint8).
    * float16/bfloat16 are computed in float32 and rounded once.
    """
    red = _inputs(input, target, size_average, reduce, reduction)
    if len(input.shape) == 0:
        raise ValueError("input must have a class dimension (shape (C,), (N, C) or (N, C, d1, ...)), got a 0-d array")
    axis = 1 if len(input.shape) >= 2 else 0
    xp = _namespace(input, target, weight)
    if xp.isdtype(target.dtype, "real floating"):
        check_same_shape(target, input, "target", "input", "torch.nn.functional.cross_entropy with class probabilities")
        return _softmax_cross_entropy(
            input, target, axis=axis, class_weights=weight, label_smoothing=label_smoothing, reduction=_ELEMENTWISE[red]
        )
    return _sparse_softmax_cross_entropy(
        input,
        target,
        axis=axis,
        ignore_index=ignore_index,
        class_weights=weight,
        label_smoothing=label_smoothing,
        reduction=red,
        invalid=invalid,
    )


# ------------------------------------------------------- linear_cross_entropy (#14)


@doc(none_shape="``(N,)`` / ``()``")
def linear_cross_entropy(
    input: Any,
    linear_weight: Any,
    target: Any,
    bias: Any = None,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: Literal["none", "mean", "sum"] = "mean",
    label_smoothing: float = 0.0,
    *,
    invalid: Invalid = "nan",
    chunk_size: ChunkSize = "auto",
) -> Any:
    r"""``F.cross_entropy(F.linear(input, linear_weight, bias), target, weight=weight, ...)``
    without the logits.

    Computed by :func:`xbackend.linear_cross_entropy` (blocks over the vocabulary and
    the rows; analytic gradients of ``input``, ``linear_weight`` and ``bias``). With
    :math:`x = \mathrm{input}\,W^\top + b` and smoothing :math:`\varepsilon`, a row's
    loss is :math:`-(1-\varepsilon)\,w_y\log p_y - \frac{\varepsilon}{V}\sum_c w_c\log p_c`
    and ``"mean"`` divides by :math:`\sum_i w_{y_i}` over the rows whose label is not
    ``ignore_index``, as :func:`cross_entropy` (and PyTorch) does.

    Parameters
    ----------
    input : array
        ``(N, D)`` or ``(D,)`` (flatten a ``(B, T, D)`` sequence to ``(B*T, D)`` first,
        as for the composition, whose classes would otherwise sit at dim 1).
    linear_weight : array
        ``(V, D)``, ``torch.nn.Linear.weight``'s layout.
    target : array
        Integer class indices, ``(N,)`` or ``()``.
    bias : array, optional
        ``(V,)``.
    weight : array, optional
        Class weights ``(V,)`` (``F.cross_entropy``'s ``weight``).
    ignore_index, reduction, label_smoothing
        As in ``F.cross_entropy``.
    invalid : {"nan", "raise"}
        (not in PyTorch) Out-of-range targets: a NaN row or :class:`ValueError`.
    chunk_size : int, "auto" or None
        (not in PyTorch) Vocabulary columns per block; see
        :func:`xbackend.linear_cross_entropy`.

    %(torch_returns)s

    Notes
    -----
    Differences from the composition: ``"mean"`` over an empty or fully ignored batch
    is 0 (PyTorch: NaN); no gradient flows to ``weight`` (class weights).
    """
    from xbackend._lib._linear_xent import linear_cross_entropy as _linear_cross_entropy

    check_torch_reduction(reduction)
    _checks.require_array(input, "input")
    if len(input.shape) not in (1, 2):
        raise ValueError(
            f"input must have shape (N, D) or (D,), got {tuple(input.shape)}; reshape a sequence "
            "batch to (-1, D) (and its targets to (-1,)) first"
        )
    return _linear_cross_entropy(
        input, linear_weight, target, bias=bias, class_weights=weight, ignore_index=ignore_index,
        label_smoothing=label_smoothing, reduction=reduction, invalid=invalid, chunk_size=chunk_size,
    )  # fmt: skip


def _namespace(*arrays: Any) -> Any:
    from xbackend._backends import array_namespace

    return array_namespace(*arrays)
