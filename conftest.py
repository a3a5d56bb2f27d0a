"""Root conftest: pin framework numerics before any test imports a framework.

* JAX: x64 available (float64 cells are real float64), no GPU memory preallocation.
* TensorFlow: GPU memory growth, quiet logs.
* torch: TF32 off for matmuls and cuDNN, so GPU float32 is float32.
Several frameworks can then share one GPU.
"""

import os

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("JAX_ENABLE_X64", "1")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def pytest_configure(config):
    try:
        import torch
    except ImportError:
        return
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
