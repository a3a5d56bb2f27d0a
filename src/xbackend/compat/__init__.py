"""Each framework's loss semantics -- names, argument order, defaults, reductions and
weighting -- on every backend.

============================  ==============================================================
module                        reproduces
============================  ==============================================================
:mod:`xbackend.compat.torch`  ``torch.nn.functional``: ``binary_cross_entropy_with_logits``,
                              ``binary_cross_entropy``, ``cross_entropy``
:mod:`xbackend.compat.tf`     ``tf.nn``: ``sigmoid_cross_entropy_with_logits``,
                              ``weighted_cross_entropy_with_logits``,
                              ``softmax_cross_entropy_with_logits``,
                              ``sparse_softmax_cross_entropy_with_logits``
:mod:`xbackend.compat.optax`  ``optax``: ``sigmoid_binary_cross_entropy``,
                              ``softmax_cross_entropy``,
                              ``softmax_cross_entropy_with_integer_labels``,
                              ``sigmoid_focal_loss``, ``safe_softmax_cross_entropy``
:mod:`xbackend.compat.keras`  ``keras.losses``: ``binary_crossentropy``,
                              ``categorical_crossentropy``,
                              ``sparse_categorical_crossentropy``,
                              ``binary_focal_crossentropy``
============================  ==============================================================

Code written against one framework's loss switches to the matching compat call and
runs on NumPy, PyTorch, JAX, CuPy, Dask, array-api-strict or TensorFlow arrays with the
same numbers::

    from xbackend.compat import torch as F       # was: import torch.nn.functional as F
    loss = F.cross_entropy(logits, target, ignore_index=-100, label_smoothing=0.1)

Each function is a thin wrapper over a core loss (no new numerics). Where the
original is numerically wrong (NaN at ``±inf``, cancellation, clipped gradients,
bad-label behaviour that depends on the device), the compat function is exact and its
docstring says where it differs. Importing these modules imports no framework.
"""

from xbackend.compat import keras as keras
from xbackend.compat import optax as optax
from xbackend.compat import tf as tf
from xbackend.compat import torch as torch

__all__ = ["keras", "optax", "tf", "torch"]
