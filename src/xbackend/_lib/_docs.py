r"""Docstring pieces shared by the public functions, each written once.

A public docstring names a piece as ``%(name)s`` and the :func:`doc` decorator fills it
in when the function is defined (SciPy's and pandas' docstring substitution): a piece
that spans lines is indented like the line the placeholder stands on, and a piece may
itself name pieces or the values given to :func:`doc` (``x`` is ``"logits"`` unless a
function says otherwise). An unknown name raises :class:`KeyError` at import, so a
typo cannot reach the documentation. Under ``python -OO`` docstrings are ``None`` and
stay so. Nothing here runs when a loss is called.

Pieces hold only what is the same for every function that uses them; what is specific
to one loss (its formula, its native semantics, its own options) stays in its
docstring. Public docstrings name public functions only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T", bound=Callable[..., Any])

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")

#: The checked-or-traced rule of the float options (label_smoothing, z_loss, gamma, ...).
_TRACED = (
    "A Python number is range-checked; a 0-d array (a tracer under ``jax.jit``) is not\n"
    "(that would read its value back from the device) and is not differentiated."
)

PIECES: dict[str, str] = {
    # ---------------------------------------------------------------- defaults
    "x": "logits",
    "x_dtype": "logits'",
    # ------------------------------------------------------- sentences, inline
    "traced_option": _TRACED,
    "traced_option_raise": _TRACED + '\nUnder ``invalid="raise"`` a concrete array is range-checked too.',
    "raise_timing": "(concrete arrays: at once, on their device; Dask: when computed;\ntraced: at trace time)",
    # ------------------------------------------------------------- parameters
    "logits": "logits : array\n    Real floating, class axis ``axis``.",
    "axis": "axis : int\n    The class axis.",
    "soft_labels": "labels : array\n    Real floating probability vectors, broadcastable to ``%(x)s``.",
    "binary_labels": (
        "labels : array\n    Probabilities in [0, 1] (float, bool or 0/1 integers), broadcastable to ``%(x)s``."
    ),
    "ignore_index": (
        "ignore_index : int, optional\n"
        '    Rows with this label have loss 0 and gradient 0 and are not counted by ``"mean"``\n'
        "    (PyTorch's default is -100; here there is none unless given)."
    ),
    "class_weights": (
        "class_weights : array, optional\n    Shape ``(C,)``; not differentiated. Negative entries follow ``invalid``."
    ),
    "row_weights": (
        "weights : array, optional\n"
        "    Per-example weights broadcastable to the unreduced loss (``%(x)s.shape`` without\n"
        "    ``axis``)."
    ),
    "element_weights": "weights : array, optional\n    Weights broadcastable to ``%(x)s``.",
    "gamma": "gamma : float or 0-d array\n    Focusing parameter :math:`\\gamma \\ge 0` (0 gives the cross-entropy).",
    "eps": (
        "eps : float or 0-d array, optional\n"
        "    Clip bound in ``(0, 0.5)``; default ``finfo(probs.dtype).eps``.\n"
        "    %(traced_option)s"
    ),
    "element_where": (
        "where : bool array, optional\n"
        "    Element mask broadcastable to ``%(x)s``: masked elements give 0 (value and\n"
        '    gradient) and leave the ``"mean"`` denominator.'
    ),
    "reduction": (
        'reduction : {"none", "sum", "mean", "sum_over_batch_size"}\n'
        '    ``"none"``: the unreduced loss :math:`\\ell` (times ``weights`` :math:`w`);\n'
        '    ``"sum"``: :math:`\\sum w\\ell`; ``"mean"``: :math:`\\sum w\\ell / \\sum w r`, where\n'
        "    :math:`r`, each element's weight in the mean, is\n"
        "    %(mean)s;\n"
        '    ``"sum_over_batch_size"``: :math:`\\sum w\\ell / n` with :math:`n` the number of\n'
        "    elements of the unreduced loss (Keras' default). A mean whose denominator is 0\n"
        "    (an empty batch, or nothing counted) is 0, never NaN."
    ),
    "invalid_probs": (
        'invalid : {"nan", "raise"}\n'
        "    Probabilities outside [0, 1] (``1.5``, ``-0.5``, ``±inf``: typically logits passed\n"
        '    by mistake), like bad integer labels: ``"nan"`` (default, jit-safe, no host sync)\n'
        "    makes\n"
        "    %(nan_effect)s;\n"
        '    ``"raise"`` raises :class:`ValueError` naming the first one and its position\n'
        "    %(raise_timing)s.\n"
        "    The clip to :math:`[\\epsilon, 1-\\epsilon]` applies only inside [0, 1]."
    ),
    "dtype": (
        "dtype : dtype, optional\n"
        "    Result dtype (default: the %(x_dtype)s dtype). float16/bfloat16 are computed in\n"
        "    float32. Inside ``torch.autocast`` the result is float32, as for torch's\n"
        "    cross-entropies."
    ),
    "chunk_size": (
        'chunk_size : int, "auto" or None\n'
        "    Rows (elements of the unreduced loss) per block for large vocabularies: forward\n"
        "    and backward then hold the gradient plus one block of temporaries beyond the\n"
        "    logits, with the values of the unchunked computation. ``\"auto\"`` (default)\n"
        "    chunks in eager torch/NumPy/CuPy when the logits are float16/bfloat16 (no float32\n"
        "    copy is made) or larger than 256 MiB in the compute dtype; never under a compiler.\n"
        "    None never chunks."
    ),
    "xp": "xp : namespace, optional\n    Array API namespace; inferred from the inputs when omitted.",
    # ---------------------------------------------------------------- returns
    "returns_rows": (
        "Returns\n-------\narray\n"
        '    ``%(x)s.shape`` without ``axis`` for ``reduction="none"``, else a 0-d array.'
    ),
    "returns_elements": 'Returns\n-------\narray\n    ``%(x)s.shape`` for ``reduction="none"``, else a 0-d array.',
    # ------------------------------------------------------------- primitives
    "x_input": "x : array\n    Real floating input of any shape.",
    "x_rows": "x : array\n    Real floating input with at least one dimension.",
    "returns_like_x": "Returns\n-------\narray\n    Same shape, dtype and device as ``x``",  # the caller ends the sentence
    # ----------------------------------------------------------------- compat
    "keras_y_pred": "y_pred : array\n    Probabilities, or logits with ``from_logits=True``.",
    "keras_from_logits": "from_logits : bool\n    Whether ``y_pred`` holds logits.",
    "keras_binary_y_true": "y_true : array\n    Labels in [0, 1], the shape of ``y_pred``.",
    "keras_soft_y_true": "y_true : array\n    One-hot or soft labels, the shape of ``y_pred``.",
    "keras_gamma": "gamma : float\n    Focusing exponent :math:`\\gamma \\ge 0`.",
    "keras_smoothing": "label_smoothing : float\n    :math:`\\varepsilon \\in [0, 1]`.",
    "keras_returns": "Returns\n-------\narray\n    ``y_pred.shape`` without ``axis``.",
    "tf_binary_labels": (
        "labels : array\n    Probabilities in [0, 1], the same shape as ``logits``.\nlogits : array\n    Logits."
    ),
    "plain_logits": "logits : array\n    Logits.",
    "optax_where": "where : bool array, optional\n    Classes (or rows) to include.",
    "tf_name": "name : str, optional\n    Ignored (TensorFlow's op name).",
    "torch_legacy": "size_average, reduce : bool, optional\n    Deprecated, as in PyTorch (they override ``reduction`` and warn).",
    "torch_binary_target": (
        "target : array\n    Probabilities in [0, 1], the same shape as ``input``.\n"
        "weight : array, optional\n    Rescaling weight broadcastable to ``input``."
    ),
    "torch_returns": "Returns\n-------\narray\n    A 0-d array, or %(none_shape)s for ``reduction=\"none\"``.",
    "returns_batch": "Returns\n-------\narray\n    ``logits.shape`` without ``axis``",  # the caller ends the sentence
    "returns_batch_last": "Returns\n-------\narray\n    ``logits.shape[:-1]``.",
    "returns_elementwise": "Returns\n-------\narray\n    The elementwise loss, ``logits.shape``.",
}


def fill(text: str, values: dict[str, str]) -> str:
    """``text`` with every ``%(name)s`` replaced by ``values[name]`` (pieces may name
    pieces); the lines after a piece's first are indented like the placeholder's line."""

    def one(match: re.Match) -> str:
        line_start = text.rfind("\n", 0, match.start()) + 1
        prefix = text[line_start : match.start()]
        indent = prefix[: len(prefix) - len(prefix.lstrip())]
        first, *rest = fill(values[match.group(1)], values).split("\n")
        return "\n".join([first, *(indent + line if line else line for line in rest)])

    return _PLACEHOLDER.sub(one, text)


def doc(**values: str) -> Callable[[T], T]:
    """Fill the ``%(name)s`` placeholders of a function's docstring from :data:`PIECES`
    and ``values`` (which win); a ``None`` docstring (``python -OO``) stays ``None``."""
    merged = {**PIECES, **values}

    def decorate(obj: T) -> T:
        if obj.__doc__ is not None:
            obj.__doc__ = fill(obj.__doc__, merged)
        return obj

    return decorate
