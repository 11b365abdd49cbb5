"""Time-major arrays already in memory as a random-access source: :class:`ArraySource`."""

from __future__ import annotations

import numpy as np

from snnx.datasets._common import check_int


class ArraySource:
    """In-memory time-major arrays as a source: ``source[i] = (x[:, i], y[i])``.

    Args:
        x: ``(T, N, *sample_shape)``, or bit-packed ``(ceil(T/8), N, ...)`` uint8
            with ``num_steps=T``.
        y: ``(N,)`` labels (or ``(N, ...)`` targets).
        num_steps: ``T`` when ``x`` is bit-packed.
        description: how errors name it.
    """

    def __init__(self, x, y, *, num_steps: int | None = None, description: str = "ArraySource"):
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim < 2:
            raise ValueError(f"`x` must be time-major with shape (T, N, ...), got shape {x.shape}")
        if y.ndim < 1 or y.shape[0] != x.shape[1]:
            raise ValueError(
                f"`x` of shape {x.shape} holds N={x.shape[1]} samples (axis 1) but `y` has {y.shape}"
            )
        if num_steps is not None:
            num_steps = check_int("num_steps", num_steps, 1)
            if x.dtype != np.uint8 or x.shape[0] != -(-num_steps // 8):
                raise ValueError(
                    f"`x` must be bit-packed uint8 with ceil({num_steps}/8) = {-(-num_steps // 8)} rows for "
                    f"num_steps={num_steps}, got {x.dtype} of shape {x.shape}"
                )
            self.num_steps = num_steps
        self.x, self.y, self.description = x, y, description
        self.sample_shape = x.shape[2:]

    def __len__(self) -> int:
        return self.x.shape[1]

    def __getitem__(self, i: int):
        return self.x[:, i], self.y[i]
