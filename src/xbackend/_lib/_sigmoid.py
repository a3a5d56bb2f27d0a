"""The sigmoid / binary cross-entropy family."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from xbackend._lib import _checks, _kernels
from xbackend._lib._docs import doc
from xbackend._lib._dtypes import cast
from xbackend._lib._inputs import (
    check_mask,
    float_labels,
    float_option,
    nonnegative,
    prepare,
    probabilities,
    quiet_numpy,
)
from xbackend._lib._reduce import prepare_weights, reduce_loss
from xbackend._lib._softmax import prepare_probs
from xbackend._lib._types import Array, Invalid, Reduction

__all__ = ["binary_cross_entropy", "sigmoid_cross_entropy", "sigmoid_focal_loss"]


def _element_mask(xp: ModuleType, where: Any, shape: tuple, ct: Any) -> tuple[Any, Any]:
    if where is None:
        return None, None
    check_mask(xp, where, shape, "logits")
    mask = where if tuple(where.shape) == tuple(shape) else xp.broadcast_to(where, tuple(shape))
    return mask, xp.astype(mask, ct)


def _pos_weight(xp: ModuleType, pos_weight: Any, shape: tuple, ct: Any, invalid: str) -> Any:
    if pos_weight is None:
        return None
    if isinstance(pos_weight, (int, float)) and not isinstance(pos_weight, bool):
        _checks.check_nonnegative_values(pos_weight, "pos_weight")  # a Python number: always checked
        return float(pos_weight)
    _checks.require_array(pos_weight, "pos_weight")
    pshape = _checks.shape_of(pos_weight)
    try:
        _checks.check_broadcasts_to(pshape, shape, "pos_weight", "logits")
    except ValueError:
        raise ValueError(
            f"pos_weight with shape {pshape} does not broadcast to logits shape {shape}: it "
            f"needs one value per class along the last axis ({shape[-1] if shape else 0}) "
            "or a shape broadcastable to the logits"
        ) from None
    return nonnegative(xp, cast(xp, pos_weight, ct), "pos_weight", invalid)


@quiet_numpy
@doc(mean="1, 0 for an element masked by ``where``")
def sigmoid_cross_entropy(
    logits: Array,
    labels: Any,
    /,
    *,
    pos_weight: Any = None,
    weights: Any = None,
    label_smoothing: float = 0.0,
    where: Any = None,
    reduction: Reduction = "none",
    invalid: Invalid = "nan",
    dtype: Any = None,
    xp: ModuleType | None = None,
) -> Array:
    r"""Elementwise binary cross-entropy from logits (sigmoid cross-entropy).

    With :math:`\tilde z = (1-\varepsilon)\,z + \varepsilon/2` and positive weight :math:`w_+`:

    .. math::

        \ell(x, z) = -w_+\,\tilde z \log\sigma(x) - (1-\tilde z)\log(1-\sigma(x))
                   = w_+\,\tilde z\,\mathrm{softplus}(-x) + (1-\tilde z)\,\mathrm{softplus}(x)

    This is *not* ``-z·log(sigmoid(x))`` (which drops the negative term) and not
    ``sigmoid → clip → log`` (whose gradient is zero once the sigmoid saturates). It is
    evaluated as :math:`c|x| + (w_+\tilde z + 1 - \tilde z)\log(1+e^{-|x|})`, so there is no
    cancellation: ``x = -30, z = 0`` gives 9.36e-14 in float32 (PyTorch's
    ``(1-z)x - log σ(x)`` form flushes it to 0), and the edges are exact:
    ``(x, z) = (-inf, 0) → 0``, ``(+inf, 1) → 0``, ``(-inf, 1) → inf``, ``(+inf, 0) → inf``
    with finite gradients. The gradient is the analytic
    :math:`(1-\tilde z)\,\sigma(x) - w_+\tilde z\,\sigma(-x)` (:math:`\sigma(x) - z` without
    ``pos_weight``).

    Native semantics reproduced: ``torch.nn.functional.binary_cross_entropy_with_logits``
    (``weight`` = ``weights``, ``pos_weight``; its ``"mean"`` = ``"sum_over_batch_size"``
    here), ``tf.nn.sigmoid_cross_entropy_with_logits``,
    ``tf.nn.weighted_cross_entropy_with_logits`` (``pos_weight``),
    ``optax.sigmoid_binary_cross_entropy``, Keras ``BinaryCrossentropy(from_logits=True,
    label_smoothing=...)`` before its per-sample mean.

    Parameters
    ----------
    logits : array
        Real floating logits of any shape.
    %(binary_labels)s
    pos_weight : float or array, optional
        Weight of the positive term, broadcast against ``logits`` (a length-C array
        weighs the classes along the last axis, as in PyTorch and TensorFlow); not
        differentiated. A negative Python number raises :class:`ValueError` (also under
        ``jax.jit``, which then traces it); negative entries of an array follow ``invalid``.
    %(element_weights)s PyTorch's ``weight``.
    label_smoothing : float or 0-d array
        :math:`\varepsilon \in [0, 1]`: labels move towards 1/2.
        %(traced_option)s
    %(element_where)s
    %(reduction)s
    invalid : {"nan", "raise"}
        Negative entries of an array ``pos_weight`` (which have no meaning): ``"nan"``
        (default, jit-safe, no host sync) makes the loss and gradient of every element
        they apply to NaN; ``"raise"`` raises :class:`ValueError` naming the first one
        %(raise_timing)s.
    %(dtype)s
    %(xp)s

    %(returns_elements)s

    Notes
    -----
    NaN in a logit, label or weight makes that element's loss and gradient NaN (never
    replaced by a number). Infinite logits give the exact limits above with finite
    gradients (:math:`\sigma(x) - z`: 0 or ±1). Elements masked by ``where`` give 0 with
    gradient 0 whatever their logits and labels (NaN included). Infinite labels or weights
    give a non-finite loss. Gradients flow to ``logits``, ``labels`` and ``weights``.

    Examples
    --------
    >>> import numpy as np, xbackend as xb
    >>> xb.sigmoid_cross_entropy(np.array([-30.0, 0.0, 30.0]), np.array([0.0, 1.0, 1.0]))
    array([9.35762297e-14, 6.93147181e-01, 9.35762297e-14])
    """
    pw_arr = None if pos_weight is None or isinstance(pos_weight, (int, float)) else pos_weight
    inp = prepare(
        logits, labels, pw_arr, weights, where, xp=xp, dtype=dtype, reduction=reduction,
        names=("pos_weight", "weights", "where"),
    )  # fmt: skip
    xp, shape, ct = inp.xp, inp.shape, inp.compute
    eps = float_option(inp, label_smoothing, "label_smoothing", _checks.check_fraction)
    _checks.check_choice(invalid, "invalid", _checks.INVALID_POLICIES)
    pw = _pos_weight(xp, pos_weight, shape, ct, invalid)
    w = prepare_weights(xp, weights, shape, ct)
    mask, mask_f = _element_mask(xp, where, shape, ct)
    z = float_labels(xp, labels, shape, ct, allow_int=True)
    if isinstance(pw, float):
        pw = xp.asarray(pw, dtype=ct, device=_kernels.device_of(xp, inp.x)) if pw != 1 else None
    # label smoothing (1 - eps)·z + eps/2 happens inside the kernel (saved: the labels, not a smoothed copy)
    loss = inp.be.apply_kernel(_kernels.SIGMOID_XENT, inp.x, z, (pw, mask), _kernels.SigmoidStatic(eps))
    return reduce_loss(xp, loss, reduction=reduction, weights=w, mean_weight=mask_f, out_dtype=inp.out)


@quiet_numpy
@doc(mean="1, 0 for an element masked by ``where``")
def sigmoid_focal_loss(
    logits: Array,
    labels: Any,
    /,
    *,
    gamma: float = 2.0,
    alpha: float | None = None,
    weights: Any = None,
    where: Any = None,
    reduction: Reduction = "none",
    dtype: Any = None,
    xp: ModuleType | None = None,
) -> Array:
    r"""Sigmoid focal loss (Lin et al. 2017) from logits, elementwise.

    .. math::

        \ell = \alpha_t\,(1 - p_t)^\gamma\,\mathrm{bce}(x, z), \quad
        1 - p_t = z\,\sigma(-x) + (1-z)\,\sigma(x), \quad
        \alpha_t = \alpha z + (1-\alpha)(1-z)

    (torchvision's ``sigmoid_focal_loss`` and optax's formula; ``alpha=None`` means no
    :math:`\alpha_t`, torchvision's ``alpha=-1``). ``bce`` is :func:`sigmoid_cross_entropy`,
    and :math:`1-p_t` is formed from the two stable sigmoids, so nothing cancels. The
    analytic gradient
    :math:`\alpha_t(1-p_t)^\gamma[(\sigma(x) - z) + \gamma\,\frac{\mathrm{bce}}{1-p_t}(1-2z)\sigma(x)\sigma(-x)]`
    is finite for every :math:`\gamma \ge 0`, including :math:`0 < \gamma < 1` where
    differentiating :math:`(1-p_t)^\gamma` directly gives ``inf·0``.

    Parameters
    ----------
    logits : array
        Real floating logits.
    %(binary_labels)s
    %(gamma)s
        %(traced_option)s
    alpha : float or 0-d array, optional
        Balancing weight in [0, 1] for the positive class, or None.
        %(traced_option)s
    %(element_weights)s
    %(element_where)s
    %(reduction)s
        Without ``where`` and ``weights``, ``"mean"`` is torchvision's ``reduction="mean"``
        (the mean over the elements).
    %(dtype)s
    %(xp)s

    %(returns_elements)s

    Notes
    -----
    NaN logits or labels give NaN (value and gradient). Infinite logits take the limits:
    ``(x, z) = (+inf, 1)`` or ``(-inf, 0)`` give 0 with gradient 0; ``(-inf, 1)`` and
    ``(+inf, 0)`` give ``+inf`` with gradient :math:`\mp\alpha_t` (:math:`\mp 1` without
    ``alpha``). Elements masked by ``where`` give 0 with gradient 0.
    """
    inp = prepare(
        logits, labels, weights, where, xp=xp, dtype=dtype, reduction=reduction, names=("weights", "where")
    )
    xp, shape, ct = inp.xp, inp.shape, inp.compute
    g = float_option(inp, gamma, "gamma", _checks.check_nonnegative_number)
    a = None if alpha is None else float_option(inp, alpha, "alpha", _checks.check_fraction)
    w = prepare_weights(xp, weights, shape, ct)
    mask, mask_f = _element_mask(xp, where, shape, ct)
    z = float_labels(xp, labels, shape, ct, allow_int=True)
    st = _kernels.SigmoidFocalStatic(g, a)
    loss = inp.be.apply_kernel(_kernels.SIGMOID_FOCAL, inp.x, z, (mask,), st)
    return reduce_loss(xp, loss, reduction=reduction, weights=w, mean_weight=mask_f, out_dtype=inp.out)


@quiet_numpy
@doc(x="probs", x_dtype="probabilities'", mean="1", nan_effect="those elements' loss and gradient NaN")
def binary_cross_entropy(
    probs: Array,
    labels: Any,
    /,
    *,
    eps: float | None = None,
    weights: Any = None,
    reduction: Reduction = "none",
    invalid: Invalid = "nan",
    dtype: Any = None,
    xp: ModuleType | None = None,
) -> Array:
    r"""Binary cross-entropy from probabilities (the hand-written formula, done right).

    .. math::

        \ell = -z\log p_\epsilon - (1-z)\log(1-p_\epsilon), \qquad
        p_\epsilon = \mathrm{clip}(p, \epsilon, 1-\epsilon)

    Both terms are kept (``-z·log p`` alone is not a binary cross-entropy) and
    :math:`\log(1-p)` is ``log1p(-p)``. The clip keeps the value finite, but it is also why
    probabilities are the wrong input: once ``p = sigmoid(x)`` saturates (``x > 17`` in
    float32 rounds ``p`` to 1) the loss is stuck at :math:`-\log\epsilon` and its gradient
    is exactly zero, whereas :func:`sigmoid_cross_entropy` on the logits gives the exact
    loss ``|x|`` and gradient ``-1``::

        >>> import numpy as np, xbackend as xb
        >>> x, z = np.float32(40.0), np.float32(0.0)
        >>> float(xb.binary_cross_entropy(xb.sigmoid(x), z))  # clipped: 15.9, not 40
        15.942384...
        >>> float(xb.sigmoid_cross_entropy(x, z))
        40.0

    Native semantics reproduced: Keras ``binary_crossentropy(from_logits=False)`` (which
    clips at ``1e-7``); PyTorch's ``F.binary_cross_entropy`` clamps the log at -100 instead.

    Parameters
    ----------
    probs : array
        Real floating probabilities in [0, 1] (values outside follow ``invalid``).
    %(binary_labels)s
    %(eps)s
    %(element_weights)s
    %(reduction)s
    %(invalid_probs)s
    %(dtype)s
    %(xp)s

    %(returns_elements)s

    Notes
    -----
    NaN probabilities or labels give NaN in the value and the gradient (the clip does not
    hide them), and so do probabilities outside [0, 1] under ``invalid="nan"``;
    probabilities in :math:`[0, \epsilon)` or :math:`(1-\epsilon, 1]` (0 and 1 included)
    are clipped: a finite loss with a zero gradient.
    """
    inp, _, e = prepare_probs(probs, labels, weights, None, eps, invalid, xp=xp, dtype=dtype, reduction=reduction)
    xp, shape, ct = inp.xp, inp.shape, inp.compute
    w = prepare_weights(xp, weights, shape, ct)
    z = float_labels(xp, labels, shape, ct, allow_int=True, target="probs")
    p = probabilities(xp, inp.x, e, invalid)  # NaN (and outside [0, 1]): value and gradient NaN
    loss = -(z * xp.log(p) + (1.0 - z) * xp.log1p(-p))
    return reduce_loss(xp, loss, reduction=reduction, weights=w, out_dtype=inp.out)
