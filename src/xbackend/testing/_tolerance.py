"""The one tolerance model of the conformance checks: the test matrix (``tests/``) and
``xbackend report`` both take their tolerances from here.

The rule
--------
A result passes when ``|got - ref| <= rtol·|ref| + atol`` entry by entry, with
``(rtol, atol) = tolerances(dtype, scale, ops=..., computes=..., out=..., grad=...)``:

* a value computed in dtype ``c`` (``computes``; by default xbackend's
  :func:`computes_in`, float32 for 16-bit inputs; a native's or the report's: the dtype
  itself) from terms
  of size ``scale`` carries an absolute error of about ``ops·eps(c)·scale``: ``ops``
  counts the roundings along the longest path of a row (shift, exp, a sum over the
  classes, log, weight, reduce). So ``rtol = tolerance(c, ops)`` and
  ``atol = tolerance(c, ops)·scale``;
* each final rounding to a dtype ``d != c`` (the argument dtype of a gradient, the
  output dtype ``out`` of a value) adds ``eps(d)/2`` relative; a 16-bit gradient may be
  rounded up to three times (autodiff adds the roundings of an argument used twice):
  ``1.5·eps(d)`` relative plus ``eps(d)·scale``.

``ops`` is the one documented parameter: :data:`K_OPS` (16) for the test matrix, which
models the computing dtype (float32 for float16/bfloat16 inputs) and each scale;
:data:`REPORT_OPS` (32) for ``xbackend report``'s compact suite, which uses one
normwise rule for every dtype and check (``computes = dtype``, ``scale`` =
the largest reference entry, or the elementwise floor). The finite-difference
reference adds its own bound (:func:`xbackend.testing._oracles.closed_form_grad`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["HALF", "K_OPS", "REPORT_OPS", "computes_in", "finite_max", "tolerances", "value_scale"]

#: roundings along the longest path of a loss row (the test matrix's model)
K_OPS = 16.0
#: ``xbackend report``'s factor: one normwise rule for every dtype, computing dtype and check
REPORT_OPS = 32.0
#: the 16-bit floating dtypes (computed in float32)
HALF = ("float16", "bfloat16")

_ROWWISE = ("softmax_cross_entropy", "categorical_cross_entropy", "sparse_softmax_cross_entropy",
            "softmax_focal_loss")
_PROBS = ("binary_cross_entropy", "categorical_cross_entropy")


def computes_in(dtype: str) -> str:
    """The dtype xbackend computes in for inputs of ``dtype`` (float32 for 16-bit inputs)."""
    return "float32" if dtype in HALF else dtype


def tolerances(dtype: str, scale: float, *, ops: float = K_OPS, computes: str | None = None,
               out: str | None = None, grad: bool = False) -> tuple[float, float]:
    """``(rtol, atol)`` for a result in ``dtype`` (see the module docstring for the rule).

    ``computes``: the dtype it was computed in (default :func:`computes_in`: xbackend's;
    a native computes in ``dtype`` itself);
    ``out``: the output dtype of a value computed with ``dtype=``; ``grad``: a gradient
    (three roundings to each 16-bit ``dtype``/``out`` instead of one)."""
    from xbackend.testing import tolerance

    c = computes or computes_in(dtype)
    rtol = atol = tolerance(c, ops)
    atol *= scale
    for d in {dtype, out or dtype}:
        if d != c:
            rtol += tolerance(d, 1.5 if grad else 0.5)
            if grad:
                atol += tolerance(d, 1.0) * scale
    return rtol, atol


def finite_max(a: Any) -> float:
    """``max |a|`` over the finite entries (0 when there are none)."""
    a = np.abs(np.asarray(a, dtype=np.float64))
    a = a[np.isfinite(a)]
    return float(a.max()) if a.size else 0.0


def value_scale(loss: str, x: Any, options: dict, reduction: str = "none") -> float:
    """The size of the terms a loss value is made of (``scale`` of :func:`tolerances`).

    ``1 + max|x| (+ log C for the softmax losses)`` (``1 + max|log p|, |log(1-p)|`` for
    probabilities), grown by ``z_loss``, times the largest weight, times the number of
    losses for ``"sum"``. ``x``, ``options``: float64 NumPy, xbackend option names."""
    x = np.asarray(x, dtype=np.float64)
    axis = options.get("axis", -1)
    if loss in _PROBS:
        e = options.get("eps", 2.0**-7)
        p = np.clip(x, e, 1 - e)
        s = 1.0 + max(finite_max(np.log(p)), finite_max(np.log1p(-p)))
    else:
        s = 1.0 + finite_max(x) + (np.log(x.shape[axis]) if loss in _ROWWISE else 0.0)
        if "z_loss" in options:
            s += options["z_loss"] * s * s
    for k in ("weights", "class_weights", "pos_weight"):
        if k in options:
            s *= max(1.0, finite_max(options[k]))
    if reduction == "sum":
        s *= x.size // (x.shape[axis] if loss in _ROWWISE else 1)
    return s
