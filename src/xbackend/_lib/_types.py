"""Types of the public API: closed vocabularies, the array type variable and the kernel
protocol.

``Array`` is a type variable bound to nothing: each public loss returns an array of the
framework it was given (``torch.Tensor`` in, ``torch.Tensor`` out), which a checker sees
through ``def f(logits: Array, ...) -> Array``.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, TypeVar

__all__ = ["Array", "ChunkSize", "Invalid", "Kernel", "Reduction"]

#: an array of any supported framework; a function returns the framework it was given
Array = TypeVar("Array", bound=Any)

#: the reductions every loss takes
Reduction = Literal["none", "sum", "mean", "sum_over_batch_size"]
#: what bad labels (and out-of-range values) do
Invalid = Literal["nan", "raise"]
#: rows per block, ``"auto"`` or ``None`` (never chunk)
ChunkSize = int | Literal["auto"] | None


class Kernel(Protocol):
    """A loss kernel: the unweighted, unreduced loss of one family and its analytic
    derivative (see :mod:`xbackend._lib._kernels`)."""

    def forward(self, xp: Any, x: Any, y: Any, arrays: tuple, st: Any) -> tuple[Any, Any]: ...

    def grad_x(self, xp: Any, x: Any, y: Any, arrays: tuple, st: Any, res: Any, g: Any) -> Any: ...

    def grad_y(self, xp: Any, x: Any, y: Any, arrays: tuple, st: Any, res: Any, g: Any) -> Any: ...

    def contract(self, xp: Any, G: Any, t: Any, st: Any) -> Any: ...
