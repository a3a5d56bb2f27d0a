"""TensorFlow: ``tf.custom_gradient`` around each kernel, ``tf.function(jit_compile=True)``,
functional kernels; the namespace itself is :mod:`xbackend._backends._tf_namespace`.

The kernel's analytic derivative is registered with ``tf.custom_gradient``, which works
with ``tf.GradientTape`` in eager mode, inside ``tf.function`` and inside
``tf.function(jit_compile=True)`` (XLA), and with ``tf.gradients`` in graph code.

Residuals: unlike a ``torch.autograd.Function`` forward, the forward of a
``tf.custom_gradient`` function is recorded by every *outer* tape, so the residuals it
returns (row maxima, log-sum-exp, label mass) stay differentiable with respect to the
logits, and the backward can reuse them without recomputation; nested tapes (second
derivatives) differentiate the analytic gradient itself.

Inputs: a ``tf.Variable`` (logits, float labels) is read into a tensor *before* the
custom-gradient function, so the tape links the read to the Variable and
``custom_gradient`` sees no Variable it would have to return gradients for; constants
(class weights, masks, ``pos_weight``) get ``tf.stop_gradient``. Integer labels are
widened to int64 so that they compare with ``arange`` (TensorFlow does not promote
int32 against int64) and get no gradient; float labels get one.

Eager calls with no tape watching the inputs run the plain forward (no custom-gradient
bookkeeping), and a float label that no tape watches is not differentiated, as torch
does with ``needs_input_grad``. Inside ``tf.function`` both gradients are always
registered; the graph optimiser drops the one that is not used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from xbackend._backends._base import Backend

__all__ = ["TensorFlowBackend"]

try:  # private, but stable since TF 2.x; without it every eager call is recorded
    from tensorflow.python.ops.gradients_util import PossibleTapeGradientTypes as _gradient_types
except ImportError:  # pragma: no cover

    def _gradient_types(tensors: list) -> int:  # noqa: ARG001 (the private function's signature)
        return 2


def _watched(tensors: list) -> bool:
    """True when some tape or forward accumulator may differentiate ``tensors``."""
    return _gradient_types(tensors) != 0


def _apply(xp: Any, kernel: Any, x: Any, y: Any, arrays: tuple, static: Any) -> Any:
    x = tf.convert_to_tensor(x)
    y = tf.convert_to_tensor(y)
    if y.dtype.is_integer and y.dtype != tf.int64:
        y = tf.cast(y, tf.int64)
    arrays = tuple(None if a is None else tf.stop_gradient(a) for a in arrays)
    eager = tf.executing_eagerly()
    y_float = y.dtype.is_floating
    if eager and not _watched([x, y] if y_float else [x]):
        return kernel.forward(xp, x, y, arrays, static)[0]
    if y_float and (not eager or _watched([y])):
        return _with_label_gradient(xp, kernel, static, arrays)(x, y)
    return _logits_gradient_only(xp, kernel, static, arrays, y)(x)


def _with_label_gradient(xp: Any, kernel: Any, static: Any, arrays: tuple) -> Any:
    @tf.custom_gradient
    def loss_fn(x, y):
        loss, res = kernel.forward(xp, x, y, arrays, static)

        def grad(g):
            gx = kernel.grad_x(xp, x, y, arrays, static, res, g)
            gy = kernel.grad_y(xp, x, y, arrays, static, res, g)
            return gx, gy

        return loss, grad

    return loss_fn


def _logits_gradient_only(xp: Any, kernel: Any, static: Any, arrays: tuple, y: Any) -> Any:
    y = tf.stop_gradient(y)

    @tf.custom_gradient
    def loss_fn(x):
        loss, res = kernel.forward(xp, x, y, arrays, static)

        def grad(g):
            return kernel.grad_x(xp, x, y, arrays, static, res, g)

        return loss, grad

    return loss_fn


class TensorFlowBackend(Backend):
    name = "tensorflow"

    def apply_kernel(self, kernel: Any, x: Any, y: Any, arrays: tuple, static: Any) -> Any:
        return _apply(self.functional, kernel, x, y, arrays, static)

    def asarray_like(self, v: Any, like: Any) -> Any:
        return tf.convert_to_tensor(v)

    def stop_gradient(self, x: Any) -> Any:
        return tf.stop_gradient(x)

    def is_traced(self, x: Any) -> bool:
        return not tf.executing_eagerly() or tf.is_symbolic_tensor(x)

    def to_host(self, x: Any) -> np.ndarray:
        return np.asarray(x.numpy())

    def device(self, x: Any) -> Any:
        return self.xp.device(x)

    def device_key(self, x: Any) -> Any:
        try:
            d = x.device
        except AttributeError:  # symbolic tensors in some TF versions
            return None
        return d or None

    def device_name(self, key: Any) -> str:
        return repr(str(key))

    def index(self, labels: Any) -> Any:
        return labels

    def compile(self, fn: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
        return tf.function(fn, jit_compile=options["jit_compile"], reduce_retracing=True)
