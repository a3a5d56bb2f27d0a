"""TensorFlow hook: ``tf.custom_gradient`` around a kernel.

TensorFlow does not tell a gradient function whether it will itself be differentiated,
so the backward always recomputes its residuals from the logits with TF ops; that keeps
nested ``GradientTape`` (second derivatives) correct. Inside ``tf.function`` the
recomputation is shared with the forward by graph optimisation.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import tensorflow as tf


def apply(xp: ModuleType, kernel: Any, x: Any, y: Any, arrays: tuple, static: Any) -> Any:
    y_is_float = y.dtype.is_floating

    @tf.custom_gradient
    def f(x, y):
        loss, _ = kernel.forward(xp, x, y, arrays, static)

        def grad(g):
            gx = kernel.grad_x(xp, x, y, arrays, static, None, g)
            gy = kernel.grad_y(xp, x, y, arrays, static, None, g) if y_is_float else None
            return gx, gy

        return loss, grad

    return f(x, y)
