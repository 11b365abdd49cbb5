"""What the figures of ``snnx.plot`` share: argument checks, the time axis, the colours."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from snnx._checks import ArgumentTypeError, OptionError, ShapeError, positive_number

# Okabe & Ito (2008), "Color Universal Design": blue, vermillion, bluish green, orange,
# reddish purple, sky blue, yellow, black (yellow late: it is faint on white).
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
LINESTYLES = ("-", "--", ":")


def array(name: str, value) -> np.ndarray:
    """``value`` as a numpy array of real numbers (jax arrays, lists, ...); ``name`` goes into the error."""
    if isinstance(value, Mapping):
        keys = sorted(map(str, value))
        raise ArgumentTypeError(
            f"`{name}` must be an array of real numbers (T, B, *neurons), got dict with keys {keys}"
        )
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        arr = np.asarray(None)
    if arr.dtype.kind not in "biuf":
        got = type(value).__name__ + ("" if arr.dtype.kind == "O" else f" of dtype {arr.dtype}")
        raise ArgumentTypeError(f"`{name}` must be an array of real numbers (T, B, *neurons), got {got}")
    return arr


def timeline(name: str, value, sample) -> tuple[np.ndarray, tuple[int, ...]]:
    """One sample of ``value (T, B, *neurons)`` as ``(T, N)``, and the neuron shape."""
    arr = array(name, value)
    if arr.ndim < 3 or 0 in arr.shape:
        raise ShapeError(
            f"`{name}` must have shape (T, B, *neurons) (time-major, at least 3 axes, none empty), "
            f"got shape {arr.shape}"
        )
    if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)):
        raise ArgumentTypeError(f"`sample` must be an int, got {type(sample).__name__}")
    if not 0 <= sample < arr.shape[1]:
        raise OptionError(
            f"`sample` must be in [0, {arr.shape[1]}) (B = {arr.shape[1]} in `{name}` of shape {arr.shape}), "
            f"got {sample}"
        )
    return arr[:, sample].reshape(arr.shape[0], -1).astype(np.float64), tuple(arr.shape[2:])


def layers(name: str, value) -> dict[str, object] | None:
    """The layers of a recording (a dict, or an object with a dict ``outputs``); None for one array."""
    layers = value if isinstance(value, Mapping) else getattr(value, "outputs", None)
    if not isinstance(layers, Mapping):
        return None
    if not layers:
        raise ShapeError(
            f"`{name}` must hold at least one layer {{key: (T, B, *neurons)}}, got an empty dict"
        )
    return {str(k): v for k, v in layers.items()}


def time_axis(steps: int, dt) -> tuple[np.ndarray, str, float]:
    """Times of the steps, the axis label and the step length (1 without ``dt``)."""
    if dt is None:
        return np.arange(steps, dtype=np.float64), "time (steps)", 1.0
    dt = positive_number("dt", dt)
    return np.arange(steps) * dt, "time (s)", dt


def axes_list(ax, n: int):
    """``ax`` for ``n`` panels: None, or a sequence of ``n`` axes."""
    if ax is None:
        return None
    axes = list(np.ravel(np.asarray(ax, dtype=object)))
    if len(axes) != n:
        raise ShapeError(f"`ax` must hold one axes per layer ({n}), got {len(axes)}")
    return axes


def style(k: int) -> tuple[str, str]:
    """Colour and line style of the ``k``-th series: 8 colours, then the next line style."""
    return OKABE_ITO[k % len(OKABE_ITO)], LINESTYLES[(k // len(OKABE_ITO)) % len(LINESTYLES)]


def neuron_label(i: int, shape: tuple[int, ...]) -> str:
    if len(shape) <= 1:
        return f"neuron {i}"
    return "neuron (" + ", ".join(str(int(j)) for j in np.unravel_index(i, shape)) + ")"
