"""Argument validation shared by every public entry point, and snnx's error types.

Each check raises an error that names the argument, says what was expected and
shows what arrived. Never ``assert``. One exception type per kind of fault, each
a subclass of the built-in a caller would already catch:

* :class:`ShapeError` (``ValueError``): a shape argument is malformed, or an
  array or layer has the wrong shape; raised by ``run`` with the index and type of
  the layer that rejected it.
* :class:`OptionError` (``ValueError``): a value lies outside its allowed set or
  range (a name not among the options, a decay outside [0, 1], a non-finite or
  non-positive number).
* :class:`ArgumentTypeError` (``TypeError``): an argument has the wrong type.

All three are public (``snnx.ShapeError``, ``snnx.OptionError``,
``snnx.ArgumentTypeError``).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np


class ShapeError(ValueError):
    """A shape is malformed or does not fit where it goes (the message names the layer or argument)."""


class OptionError(ValueError):
    """A value lies outside its allowed set or range (the message names the argument and the set)."""


class ArgumentTypeError(TypeError):
    """An argument has the wrong type (the message names the argument and the type that arrived)."""


def instance_of(name: str, value, types: type | tuple[type, ...], expected: str) -> None:
    """Check ``isinstance(value, types)``; ``expected`` says it in words ("a callable x -> f(x)")."""
    if not isinstance(value, types):
        raise ArgumentTypeError(f"`{name}` must be {expected}, got {type(value).__name__}")


def positive_number(name: str, value) -> float:
    """Check ``value`` is a finite real number (not a bool) above zero; returns it as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not (
        0 < value < float("inf")
    ):
        raise OptionError(f"`{name}` must be a positive number (finite), got {value!r}")
    return float(value)


def positive_int(name: str, value, *, minimum: int = 1, what: str | None = None) -> int:
    """Check ``value`` is an int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        expected = what or (f"an int >= {minimum}" if minimum != 1 else "a positive int")
        raise OptionError(f"`{name}` must be {expected}, got {value!r}")
    return int(value)


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
        raise ShapeError(
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
        raise ShapeError(
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
        raise OptionError(f"`{name}` must lie in [0, 1], got {bad.ravel()[:4].tolist()}")


def finite(name: str, value) -> None:
    """Check a concrete value has no NaN or infinity; traced values are left alone."""
    if isinstance(value, jax.core.Tracer):
        return
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise OptionError(f"`{name}` must be finite, got {arr.ravel()[~np.isfinite(arr.ravel())][:4]}")


def one_of(name: str, value, options: Sequence) -> None:
    """Check ``value`` is one of ``options``."""
    if value not in options:
        raise OptionError(f"`{name}` must be one of {list(options)}, got {value!r}")


def trailing_shape(name: str, x, shape: tuple[int, ...]) -> None:
    """Check that ``x`` ends with the per-sample ``shape`` (leading axes are batch)."""
    xs = tuple(np.shape(x))
    if len(xs) < len(shape) or xs[len(xs) - len(shape):] != tuple(shape):
        raise ShapeError(
            f"`{name}` must have shape (*batch, {', '.join(map(str, shape))}), got {xs}"
        )
