"""Helpers shared by the dataset loaders: argument checks and per-process sharding."""

from __future__ import annotations

import numpy as np


def check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}")
    return int(value)


def check_shard(process_index, process_count) -> tuple[int, int]:
    process_count = check_int("process_count", process_count, 1)
    process_index = check_int("process_index", process_index, 0)
    if process_index >= process_count:
        raise ValueError(
            f"`process_index` must be in [0, process_count={process_count}), got {process_index}"
        )
    return process_index, process_count


def shard(x: np.ndarray, y: np.ndarray, process_index: int, process_count: int):
    """Samples ``process_index::process_count`` of time-major ``x`` (axis 1) and ``y`` (axis 0)."""
    if process_count == 1:
        return x, y
    return x[:, process_index::process_count], y[process_index::process_count]
