"""Window pooling over the spatial axes of channels-last maps: ``SumPool``, ``AvgPool``, ``MaxPool``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

Padding = str | int | Sequence[int | tuple[int, int]]


def _positive_ints(name: str, value) -> tuple[int, ...] | int:
    """An int (applied to every spatial axis) or a tuple of positive ints."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"`{name}` must be positive, got {value!r}")
        return int(value)
    try:
        out = tuple(value)
    except TypeError:
        out = None
    if (
        not out
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in out)
        or any(v <= 0 for v in out)
    ):
        raise ValueError(f"`{name}` must be a positive int or a tuple of positive ints, got {value!r}")
    return tuple(int(v) for v in out)


def _check_padding(padding) -> str | int | tuple[tuple[int, int], ...] | tuple[int, ...]:
    if isinstance(padding, str):
        up = padding.upper()
        if up not in ("VALID", "SAME"):
            raise ValueError(f"`padding` must be 'VALID', 'SAME', an int or ((lo, hi), ...), got {padding!r}")
        return up
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        if padding < 0:
            raise ValueError(f"`padding` must be non-negative, got {padding!r}")
        return int(padding)
    try:
        items = tuple(padding)
        out = []
        for p in items:
            if isinstance(p, (int, np.integer)) and not isinstance(p, bool):
                out.append((int(p), int(p)))
            else:
                lo, hi = p
                if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in (lo, hi)):
                    raise TypeError
                out.append((int(lo), int(hi)))
    except (TypeError, ValueError):
        out = None
    if not out or any(v < 0 for pair in out for v in pair):
        raise ValueError(
            "`padding` must be 'VALID', 'SAME', a non-negative int or one int or (lo, hi) pair "
            f"of non-negative ints per spatial axis, got {padding!r}"
        )
    return tuple(out)


class _Pool(nnx.Module):
    def __init__(
        self,
        window_shape: int | Sequence[int],
        strides: int | Sequence[int] | None = None,
        padding: Padding = "VALID",
    ):
        self.window_shape = _positive_ints("window_shape", window_shape)
        self.strides = None if strides is None else _positive_ints("strides", strides)
        self.padding = _check_padding(padding)
        lengths = {len(v) for v in (self.window_shape, self.strides, self.padding) if isinstance(v, tuple)}
        if len(lengths) > 1:
            raise ValueError(
                "`window_shape`, `strides` and `padding` must name the same number of spatial axes, "
                f"got window_shape={window_shape!r}, strides={strides!r}, padding={padding!r}"
            )
        self._num_spatial = lengths.pop() if lengths else None

    def _geometry(self, x: jax.Array):
        """``(lead, window, strides, pads)`` for ``x``: batch axes, then one entry per spatial axis."""
        n = self._num_spatial if self._num_spatial is not None else x.ndim - 2
        if n < 1 or x.ndim < n + 2:
            raise ValueError(
                f"`x` must be a channels-last map (*batch, {', '.join(['S'] * max(n, 1))}, C) with "
                f"{max(n, 1)} spatial axes, got shape {x.shape}"
            )
        window = self.window_shape if isinstance(self.window_shape, tuple) else (self.window_shape,) * n
        if self.strides is None:
            strides = window
        else:
            strides = self.strides if isinstance(self.strides, tuple) else (self.strides,) * n
        lead = x.ndim - n - 1
        if isinstance(self.padding, str):
            pads = jax.lax.padtype_to_pads(x.shape[lead:-1], window, strides, self.padding)
        elif isinstance(self.padding, int):
            pads = ((self.padding, self.padding),) * n
        else:
            pads = self.padding
        spatial = x.shape[lead:-1]
        out = [
            (s + lo + hi - w) // st + 1
            for s, (lo, hi), w, st in zip(spatial, pads, window, strides, strict=True)
        ]
        if any(o <= 0 for o in out):
            raise ValueError(
                f"`window_shape` {window} with padding {tuple(pads)} does not fit the spatial shape "
                f"{spatial} of `x` (shape {x.shape})"
            )
        return lead, window, strides, tuple(tuple(p) for p in pads)

    def _window_sum(self, x: jax.Array) -> tuple[jax.Array, int]:
        x = jnp.asarray(x)
        lead, window, strides, pads = self._geometry(x)
        y = jax.lax.reduce_window(
            x,
            0.0,  # a Python scalar selects the differentiable reduce_window_sum primitive
            jax.lax.add,
            window_dimensions=(1,) * lead + window + (1,),
            window_strides=(1,) * lead + strides + (1,),
            padding=((0, 0),) * lead + tuple(pads) + ((0, 0),),
        )
        return y, math.prod(window)


class SumPool(_Pool):
    """Sum over windows of the spatial axes of a channels-last map.

    ``x`` has shape ``(*batch, *spatial, C)`` with ``len(spatial)`` equal to the
    length of ``window_shape`` (when every argument is an int, ``x`` must have
    exactly one batch axis and ``x.ndim - 2`` spatial axes). For each channel::

        y[b, i, j, c] = sum_{p < kh, q < kw} xpad[b, i*sh + p, j*sw + q, c]

    where ``xpad`` is ``x`` zero-padded by ``padding``. Output spatial size per
    axis: ``(size + lo + hi - k) // s + 1`` (PyTorch's formula).

    Args:
        window_shape: window size per spatial axis (an int applies to every axis).
        strides: step per spatial axis; ``None`` means the window size
            (non-overlapping windows, PyTorch's and NIR's default).
        padding: ``"VALID"`` (none), ``"SAME"`` (XLA: output ``ceil(size / s)``,
            any odd amount on the high side), an int (``lo = hi``, every axis) or
            one int or ``(lo, hi)`` pair per spatial axis.

    Example:
        >>> pool = SumPool((2, 2))
        >>> pool(jnp.ones((1, 4, 4, 3))).shape
        (1, 2, 2, 3)
    """

    def __call__(self, x: jax.Array) -> jax.Array:
        return self._window_sum(x)[0]


class AvgPool(_Pool):
    """Mean over windows of the spatial axes of a channels-last map.

    ``y = SumPool(x) / prod(window_shape)``: padded zeros count towards the mean
    (PyTorch ``count_include_pad=True``, NIR's ``AvgPool2d``), also with
    ``padding="SAME"``. Arguments and shapes as :class:`SumPool`.

    Example:
        >>> pool = AvgPool(2, strides=1)
        >>> pool(jnp.ones((1, 3, 3, 1)))[0, :, :, 0]
        Array([[1., 1.],
               [1., 1.]], dtype=float32)
    """

    def __call__(self, x: jax.Array) -> jax.Array:
        y, count = self._window_sum(x)
        return y / count


class MaxPool(_Pool):
    """Maximum over windows of the spatial axes of a channels-last map.

    Arguments and shapes as :class:`SumPool`. For each channel::

        y[b, i, j, c] = max_{p < kh, q < kw} xpad[b, i*sh + p, j*sw + q, c]

    where ``xpad`` is ``x`` padded with ``-inf`` (the lowest integer for integer
    inputs) by ``padding``, so padding never wins (PyTorch's ``MaxPool2d``,
    ``flax.nnx.max_pool``). Each padding amount must be smaller than the window
    along its axis, so that every window holds at least one element of ``x``.

    Gradient: that of ``jax.lax.reduce_window`` with ``jax.lax.max``: each
    output passes its whole cotangent to one element of its window, the maximal
    one; on ties (e.g. several spikes in one window) to the *first* maximal
    element in row-major window order (lowest row, then lowest column), as XLA's
    select-and-scatter with ``>=`` picks it (measured on CPU and pinned by
    ``tests/test_layers.py``, which runs on whatever backend JAX uses). An
    element that is the chosen maximum of several overlapping windows receives
    the sum of their cotangents.

    NIR has no max-pooling node: :func:`snnx.nir.to_nir` refuses this layer
    (use ``SumPool``/``AvgPool`` in models meant for export).

    Example:
        >>> pool = MaxPool(2)
        >>> pool(jnp.arange(16.0).reshape(1, 4, 4, 1))[0, :, :, 0]
        Array([[ 5.,  7.],
               [13., 15.]], dtype=float32)
    """

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        lead, window, strides, pads = self._geometry(x)
        for axis, ((lo, hi), w) in enumerate(zip(pads, window, strict=True)):
            if max(lo, hi) >= w:
                raise ValueError(
                    f"`padding` must be smaller than the window ({w}) on spatial axis {axis} of a "
                    f"MaxPool, or a window would hold padding only, got (low, high) = ({lo}, {hi})"
                )
        if jnp.issubdtype(x.dtype, jnp.inexact):
            lowest = -np.inf
        else:
            lowest = False if x.dtype == jnp.bool_ else jnp.iinfo(x.dtype).min
        return jax.lax.reduce_window(
            x,
            np.asarray(lowest, x.dtype),  # a concrete identity of max selects reduce_window_max
            jax.lax.max,
            window_dimensions=(1,) * lead + window + (1,),
            window_strides=(1,) * lead + strides + (1,),
            padding=((0, 0),) * lead + pads + ((0, 0),),
        )
