"""Argument validation shared by every public entry point.

Each check raises ``ValueError``/``TypeError`` with a message that names the
argument, says what was expected and shows what arrived. Never ``assert``.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np


def shape_tuple(name: str, shape: int | Sequence[int]) -> tuple[int, ...]:
    """Normalise an int or a sequence of positive ints to a tuple."""
    given = shape
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        ok = not isinstance(shape, (str, bytes)) and all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in shape
        )
        out = tuple(int(d) for d in shape) if ok else ()
    except TypeError:
        ok, out = False, ()
    if not ok or any(d <= 0 for d in out):
        raise ValueError(
            f"`{name}` must be a positive int or a tuple of positive ints, got {given!r}"
        )
    return out


def batch_tuple(name: str, batch_shape: int | Sequence[int]) -> tuple[int, ...]:
    """Like :func:`shape_tuple` but allows the empty tuple (no batch axes)."""
    if isinstance(batch_shape, Sequence) and len(batch_shape) == 0:
        return ()
    return shape_tuple(name, batch_shape)


def broadcastable(name: str, value, shape: tuple[int, ...]) -> np.ndarray | jax.Array:
    """Check that a parameter value broadcasts to ``shape`` without growing it."""
    arr_shape = np.shape(value)
    try:
        out = np.broadcast_shapes(arr_shape, shape)
    except ValueError:
        out = None
    if out != tuple(shape):
        raise ValueError(
            f"`{name}` must be a scalar or broadcast to the layer shape {tuple(shape)}, "
            f"got an array of shape {tuple(arr_shape)}"
        )
    return value


def in_unit_interval(name: str, value) -> None:
    """Check a concrete decay lies in [0, 1]; traced values are left alone."""
    if isinstance(value, jax.core.Tracer):
        return
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr > 1):
        bad = arr[~((arr >= 0) & (arr <= 1))]
        raise ValueError(f"`{name}` must lie in [0, 1], got {bad.ravel()[:4].tolist()}")


def finite(name: str, value) -> None:
    if isinstance(value, jax.core.Tracer):
        return
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite, got {arr.ravel()[~np.isfinite(arr.ravel())][:4]}")


def one_of(name: str, value, options: Sequence) -> None:
    if value not in options:
        raise ValueError(f"`{name}` must be one of {list(options)}, got {value!r}")


def trailing_shape(name: str, x, shape: tuple[int, ...]) -> None:
    """Check that ``x`` ends with the per-sample ``shape`` (leading axes are batch)."""
    xs = tuple(np.shape(x))
    if len(xs) < len(shape) or xs[len(xs) - len(shape):] != tuple(shape):
        raise ValueError(
            f"`{name}` must have shape (*batch, {', '.join(map(str, shape))}), got {xs}"
        )
