"""xbackend: sigmoid and softmax cross-entropy written once against the Array API.

The same functions run on NumPy, PyTorch, JAX, CuPy, Dask, array-api-strict and
TensorFlow arrays, on the device the inputs live on; the namespace is inferred from the
inputs (or passed as ``xp=``). Importing xbackend imports no framework.
"""

from xbackend._backends import array_namespace as array_namespace
from xbackend._lib._compiled import compiled as compiled
from xbackend._lib._linear_xent import linear_cross_entropy as linear_cross_entropy
from xbackend._lib._primitives import log_sigmoid as log_sigmoid
from xbackend._lib._primitives import log_softmax as log_softmax
from xbackend._lib._primitives import logsumexp as logsumexp
from xbackend._lib._primitives import sigmoid as sigmoid
from xbackend._lib._primitives import softmax as softmax
from xbackend._lib._primitives import softplus as softplus
from xbackend._lib._sigmoid import binary_cross_entropy as binary_cross_entropy
from xbackend._lib._sigmoid import sigmoid_cross_entropy as sigmoid_cross_entropy
from xbackend._lib._sigmoid import sigmoid_focal_loss as sigmoid_focal_loss
from xbackend._lib._softmax import categorical_cross_entropy as categorical_cross_entropy
from xbackend._lib._softmax import softmax_cross_entropy as softmax_cross_entropy
from xbackend._lib._softmax import softmax_focal_loss as softmax_focal_loss
from xbackend._lib._softmax import sparse_softmax_cross_entropy as sparse_softmax_cross_entropy

__version__ = "0.1.0"

__all__ = [
    "array_namespace",
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "compiled",
    "linear_cross_entropy",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "sigmoid",
    "sigmoid_cross_entropy",
    "sigmoid_focal_loss",
    "softmax",
    "softmax_cross_entropy",
    "softmax_focal_loss",
    "softplus",
    "sparse_softmax_cross_entropy",
]
