"""Turn values and signals into spike trains, and spike trains into compact storage.

Every encoder returns time on a new leading axis, ``(T, *x.shape)``, float32,
ready for :func:`snnx.run` (time-major). Random encoders take an explicit
``jax.random`` key as their first argument.

Example:
    >>> key = jax.random.key(0)
    >>> spikes = rate(key, jnp.array([[0.1, 0.9]]), num_steps=20)
    >>> spikes.shape
    (20, 1, 2)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "delta",
    "latency",
    "pack_spikes",
    "population",
    "rate",
    "time_shift",
    "unpack_spikes",
]


def _count(name: str, value, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}, got {value!r}")
    return int(value)


def _real(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"`{name}` must be a number, got {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"`{name}` must be finite, got {value!r}")
    return float(value)


def _concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _in_unit_interval(name: str, x: jax.Array) -> None:
    if _concrete(x) and x.size:
        a = np.asarray(x, dtype=np.float64)
        if not (np.all(np.isfinite(a)) and a.min() >= 0.0 and a.max() <= 1.0):
            raise ValueError(f"{name} must lie in [0, 1], got values in [{a.min()}, {a.max()}]")


def _time_axis01(time_axis) -> int:
    if isinstance(time_axis, bool) or time_axis not in (0, 1):
        raise ValueError(f"`time_axis` must be 0 (time-major) or 1 (batch-major), got {time_axis!r}")
    return int(time_axis)


def rate(key: jax.Array, x: jax.Array, num_steps: int, *, gain: float = 1.0) -> jax.Array:
    """Rate (Bernoulli) code: each step spikes independently with probability ``gain * x``.

    ``spikes[t, ...] ~ Bernoulli(gain * x[...])`` for ``t < num_steps``, so the
    expected rate of a unit is ``gain * x``.

    Args:
        key: a ``jax.random`` key.
        x: values of any shape; ``gain * x`` must lie in [0, 1] (checked for
            concrete inputs).
        num_steps: ``T``, the number of steps.
        gain: factor applied to ``x`` before sampling.

    Returns:
        float32 spikes of shape ``(T, *x.shape)``.
    """
    num_steps = _count("num_steps", num_steps)
    gain = _real("gain", gain)
    p = gain * jnp.asarray(x, dtype=jnp.float32)
    _in_unit_interval("`gain * x` (the spike probability)", p)
    return jax.random.bernoulli(key, p, shape=(num_steps, *p.shape)).astype(jnp.float32)


def latency(x: jax.Array, num_steps: int, *, threshold: float = 0.01) -> jax.Array:
    """Latency code: one spike per unit, earlier for larger values.

    For ``x`` in [0, 1] a unit spikes once, at step
    ``t_fire = round((1 - x) * (T - 1))`` (``jnp.round``: halves to even), so
    ``x = 1`` fires at ``t = 0`` and ``x`` just above ``threshold`` near the end;
    units with ``x <= threshold`` stay silent.

    Args:
        x: values in [0, 1] (checked for concrete inputs) of any shape.
        num_steps: ``T``.
        threshold: values at or below it produce no spike.

    Returns:
        float32 spikes of shape ``(T, *x.shape)``.
    """
    num_steps = _count("num_steps", num_steps)
    threshold = _real("threshold", threshold)
    x = jnp.asarray(x, dtype=jnp.float32)
    _in_unit_interval("`x`", x)
    t_fire = jnp.round((1.0 - x) * (num_steps - 1)).astype(jnp.int32)
    steps = jnp.arange(num_steps).reshape((num_steps,) + (1,) * x.ndim)
    return ((steps == t_fire) & (x > threshold)).astype(jnp.float32)


def delta(x: jax.Array, threshold: float, *, time_axis: int = 0, off_spikes: bool = False) -> jax.Array:
    """Send-on-delta code of a time series: spike when the signal has moved by more than ``threshold``.

    Each unit keeps a reference ``r``, initially its first sample ``x[0]`` (so
    step 0 never spikes). At every later step ``t``::

        d = x[t] - r
        on  = d >  threshold
        off = d < -threshold
        r   = x[t]  where on or off      (the reference jumps to the signal)

    At most one event per unit and step, whatever the size of the move.

    Args:
        x: signal of shape ``(T, *S)`` (``time_axis=0``) or ``(B, T, *S)`` (``time_axis=1``).
        threshold: non-negative change that triggers an event.
        time_axis: 0 or 1, the time axis of ``x`` and of the result.
        off_spikes: if False, the result is 1. at "on" events (rises) and 0.
            elsewhere (falls still move the reference); if True, +1. for rises
            and -1. for falls.

    Returns:
        float32 events of the shape of ``x``.
    """
    threshold = _real("threshold", threshold)
    if threshold < 0:
        raise ValueError(f"`threshold` must be non-negative, got {threshold!r}")
    x = jnp.asarray(x, dtype=jnp.float32)
    if x.ndim < 1:
        raise ValueError(f"`x` must have a time axis, got shape {x.shape}")
    if x.ndim < 2 and time_axis == 1:
        raise ValueError(f"`x` must have shape (B, T, ...) for time_axis=1, got shape {x.shape}")
    ax = _time_axis01(time_axis)
    xt = jnp.moveaxis(x, ax, 0)

    def step(ref, x_t):
        d = x_t - ref
        on, off = d > threshold, d < -threshold
        out = on.astype(jnp.float32) - (off.astype(jnp.float32) if off_spikes else 0.0)
        return jnp.where(on | off, x_t, ref), out

    _, events = jax.lax.scan(step, xt[0], xt)
    return jnp.moveaxis(events, 0, ax)


def population(x: jax.Array, num_neurons: int, *, low: float, high: float, sigma: float | None = None):
    """Gaussian receptive fields: each value excites ``num_neurons`` tuned units.

    Centres ``mu_k = low + k (high - low) / (N - 1)`` for ``k < N``
    (``linspace(low, high, N)``) and::

        y[..., k] = exp(-(x[...] - mu_k)**2 / (2 sigma**2))

    in (0, 1], peaking at the unit whose centre is nearest to ``x``. The default
    ``sigma`` is the centre spacing ``(high - low) / (N - 1)`` (``high - low``
    for ``N = 1``, whose single centre is ``low``). Feed the result to
    :func:`rate` or :func:`latency` to obtain spikes.

    Args:
        x: values of any shape.
        num_neurons: ``N``, units per value.
        low: centre of the first unit.
        high: centre of the last unit (``> low``).
        sigma: width of every field (positive).

    Returns:
        float32 array of shape ``(*x.shape, N)``.
    """
    n = _count("num_neurons", num_neurons)
    low, high = _real("low", low), _real("high", high)
    if not high > low:
        raise ValueError(f"`high` must be greater than `low`, got low={low!r}, high={high!r}")
    if sigma is None:
        sigma = (high - low) / (n - 1) if n > 1 else high - low
    elif _real("sigma", sigma) <= 0:
        raise ValueError(f"`sigma` must be positive, got {sigma!r}")
    centres = jnp.linspace(low, high, n) if n > 1 else jnp.array([low])
    x = jnp.asarray(x, dtype=jnp.float32)[..., None]
    return jnp.exp(-0.5 * ((x - centres.astype(jnp.float32)) / sigma) ** 2)


def time_shift(key: jax.Array, spikes: jax.Array, max_shift: int, *, time_axis: int = 0) -> jax.Array:
    """Shift every sample in time by its own random integer, zero-filling (no wrap-around).

    For each sample ``b`` a shift ``k_b`` is drawn uniformly from
    ``{-max_shift, ..., max_shift}`` (both ends included) and::

        y[t, b] = spikes[t - k_b, b]   if 0 <= t - k_b < T, else 0

    (a positive ``k_b`` delays the sample).

    Args:
        key: a ``jax.random`` key.
        spikes: ``(T, B, ...)`` for ``time_axis=0`` or ``(B, T, ...)`` for ``time_axis=1``;
            the batch axis is the other of the first two axes.
        max_shift: non-negative int.
        time_axis: 0 or 1.

    Returns:
        an array of the shape and dtype of ``spikes``.
    """
    max_shift = _count("max_shift", max_shift, minimum=0)
    spikes = jnp.asarray(spikes)
    if spikes.ndim < 2:
        raise ValueError(f"`spikes` must have a time and a batch axis, got shape {spikes.shape}")
    ax = _time_axis01(time_axis)
    x = jnp.swapaxes(spikes, 0, 1) if ax == 1 else spikes
    num_t, num_b = x.shape[:2]
    shifts = jax.random.randint(key, (num_b,), -max_shift, max_shift + 1)
    src = jnp.arange(num_t)[:, None] - shifts[None, :]
    valid = (src >= 0) & (src < num_t)
    idx = jnp.clip(src, 0, num_t - 1).reshape(src.shape + (1,) * (x.ndim - 2))
    y = jnp.take_along_axis(x, idx, axis=0)
    y = jnp.where(valid.reshape(idx.shape), y, jnp.zeros((), x.dtype))
    return jnp.swapaxes(y, 0, 1) if ax == 1 else y


def pack_spikes(spikes: jax.Array, *, axis: int = 0) -> jax.Array:
    """Pack binary spikes eight steps to a byte along ``axis`` (``jnp.packbits``, big-endian bits).

    Args:
        spikes: values in {0, 1} (bool, int or float; checked for concrete input).
        axis: the axis to pack, usually time.

    Returns:
        uint8 array with ``ceil(n / 8)`` entries along ``axis`` (``n`` its length),
        the last byte zero-padded. :func:`unpack_spikes` inverts it.
    """
    spikes = jnp.asarray(spikes)
    if _concrete(spikes) and spikes.size:
        a = np.asarray(spikes)
        bad = a[(a != 0) & (a != 1)]
        if bad.size:
            raise ValueError(f"`spikes` must be binary (0 or 1) to be packed, got values {bad[:4].tolist()}")
    if not -spikes.ndim <= axis < spikes.ndim:
        raise ValueError(f"`axis` must be an axis of `spikes` with shape {spikes.shape}, got {axis}")
    return jnp.packbits(spikes != 0, axis=axis)


def unpack_spikes(packed: jax.Array, num_steps: int, *, axis: int = 0, dtype=jnp.float32) -> jax.Array:
    """Inverse of :func:`pack_spikes`: ``num_steps`` spikes along ``axis``.

    Args:
        packed: uint8 array from :func:`pack_spikes`.
        num_steps: the original length ``n`` of ``axis``; ``ceil(n / 8)`` must equal
            ``packed.shape[axis]``.
        axis: the packed axis.
        dtype: dtype of the result.

    Returns:
        array of ``packed.shape`` with ``num_steps`` entries along ``axis``.
    """
    num_steps = _count("num_steps", num_steps)
    packed = jnp.asarray(packed)
    if packed.dtype != jnp.uint8:
        raise TypeError(f"`packed` must be uint8 (from pack_spikes), got {packed.dtype}")
    if not -packed.ndim <= axis < packed.ndim:
        raise ValueError(f"`axis` must be an axis of `packed` with shape {packed.shape}, got {axis}")
    nbytes = packed.shape[axis]
    if -(-num_steps // 8) != nbytes:
        raise ValueError(
            f"`num_steps` ({num_steps}) needs {-(-num_steps // 8)} bytes along axis {axis}, but `packed` "
            f"has {nbytes} (shape {packed.shape})"
        )
    return jnp.unpackbits(packed, axis=axis, count=num_steps).astype(dtype)
