"""Losses and activity regularisers for spiking networks.

Read-out losses take ``outputs`` of shape ``(T, B, C)`` (time on ``time_axis``,
default 0; classes last; any batch axes in between) and integer ``targets`` of
shape ``(B,)`` (``outputs.shape`` without the time and class axes); a mismatch
raises ``ValueError`` naming both shapes. Each loss is the mean over samples.

The regularisers take hidden-layer ``spikes`` of shape ``(T, B, *neurons)`` and
penalise per-neuron firing rates outside a bound.

Example:
    >>> spikes = jnp.zeros((10, 2, 3)).at[:, :, 0].set(1.0)
    >>> loss = spike_count_cross_entropy(spikes, jnp.array([0, 1]))
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from snnx.metrics import _check_readout, _time_axis

__all__ = [
    "first_spike_cross_entropy",
    "max_membrane_cross_entropy",
    "silence_penalty",
    "sparsity_penalty",
    "spike_count_cross_entropy",
    "spike_rate_mse",
]


def _number(name: str, value, low: float, high: float, *, open_high: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"`{name}` must be a number, got {value!r}")
    ok = low <= value < high if open_high else low <= value <= high
    if not ok:
        bound = f"[{low}, {high})" if open_high else f"[{low}, {high}]"
        raise ValueError(f"`{name}` must lie in {bound}, got {value!r}")
    return float(value)


def spike_count_cross_entropy(
    outputs: jax.Array, targets: jax.Array, *, time_axis: int = 0, label_smoothing: float = 0.0
) -> jax.Array:
    """Softmax cross-entropy of the spike counts.

    With ``n[b, c] = sum_t outputs[t, b, c]`` and ``q = (1 - s) onehot(targets) + s / C``
    (``s = label_smoothing``, ``optax.smooth_labels``)::

        loss = mean_b  -sum_c q[b, c] * log_softmax(n[b])[c]

    Args:
        outputs: ``(T, B, C)`` output spikes.
        targets: ``(B,)`` integer labels.
        time_axis: the time axis of ``outputs``.
        label_smoothing: ``s`` in [0, 1).

    Returns:
        float32 scalar.
    """
    s = _number("label_smoothing", label_smoothing, 0.0, 1.0, open_high=True)
    outputs, targets = _check_readout(outputs, targets, time_axis)
    return _cross_entropy(jnp.sum(outputs, axis=0), targets, s)


def _cross_entropy(logits: jax.Array, targets: jax.Array, smoothing: float) -> jax.Array:
    """Mean softmax cross-entropy against (optionally smoothed) one-hot targets."""
    if smoothing == 0:
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, targets))
    labels = optax.smooth_labels(jax.nn.one_hot(targets, logits.shape[-1], dtype=logits.dtype), smoothing)
    return jnp.mean(optax.softmax_cross_entropy(logits, labels))


def max_membrane_cross_entropy(
    outputs: jax.Array, targets: jax.Array, *, time_axis: int = 0, label_smoothing: float = 0.0
) -> jax.Array:
    """Softmax cross-entropy of the maximum membrane over time (LI read-outs).

    With ``m[b, c] = max_t outputs[t, b, c]`` and ``q`` the (smoothed) one-hot
    targets as in :func:`spike_count_cross_entropy`::

        loss = mean_b  -sum_c q[b, c] * log_softmax(m[b])[c]

    Args:
        outputs: ``(T, B, C)`` membrane traces.
        targets: ``(B,)`` integer labels.
        time_axis: the time axis of ``outputs``.
        label_smoothing: ``s`` in [0, 1).

    Returns:
        float32 scalar.
    """
    s = _number("label_smoothing", label_smoothing, 0.0, 1.0, open_high=True)
    outputs, targets = _check_readout(outputs, targets, time_axis)
    return _cross_entropy(jnp.max(outputs, axis=0), targets, s)


def spike_rate_mse(
    outputs: jax.Array,
    targets: jax.Array,
    *,
    time_axis: int = 0,
    on_rate: float = 0.8,
    off_rate: float = 0.2,
) -> jax.Array:
    """Mean squared error between firing rates and target rates.

    Rates are spikes per step, ``r[b, c] = mean_t outputs[t, b, c]``; the target
    rate is ``on_rate`` for the true class and ``off_rate`` for the others (both
    rates, in [0, 1], so a perfect binary read-out reaches zero loss)::

        loss = mean_{b, c} (r[b, c] - target[b, c])**2

    Args:
        outputs: ``(T, B, C)`` output spikes.
        targets: ``(B,)`` integer labels.
        time_axis: the time axis of ``outputs``.
        on_rate: target rate of the true class, in [0, 1].
        off_rate: target rate of the other classes, in [0, 1].

    Returns:
        float32 scalar.
    """
    on = _number("on_rate", on_rate, 0.0, 1.0)
    off = _number("off_rate", off_rate, 0.0, 1.0)
    outputs, targets = _check_readout(outputs, targets, time_axis)
    rates = jnp.mean(outputs, axis=0)
    onehot = jax.nn.one_hot(targets, rates.shape[-1], dtype=rates.dtype)
    goal = off + (on - off) * onehot
    return jnp.mean(optax.squared_error(rates, goal))


def first_spike_cross_entropy(
    spikes: jax.Array, targets: jax.Array, *, time_axis: int = 0, temperature: float = 1.0
) -> jax.Array:
    """Cross-entropy on differentiable first-spike times (earliest class wins).

    The first-spike time is written as the number of steps before the first
    spike::

        tau[b, c] = sum_{t<T} prod_{s<=t} (1 - spikes[s, b, c])

    which equals :func:`snnx.metrics.first_spike_times` (``T`` when silent) for
    binary spikes and passes surrogate gradients to every step up to and past
    the first spike. Then ``logits = -tau / temperature`` and
    ``loss = mean_b -log_softmax(logits[b])[targets[b]]``.

    Args:
        spikes: ``(T, B, C)`` output spikes in [0, 1].
        targets: ``(B,)`` integer labels.
        time_axis: the time axis of ``spikes``.
        temperature: positive softmax temperature, in steps.

    Returns:
        float32 scalar.
    """
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"`temperature` must be a positive number, got {temperature!r}")
    spikes, targets = _check_readout(spikes, targets, time_axis, name="spikes")
    not_yet = jnp.cumprod(1.0 - spikes, axis=0)
    tau = jnp.sum(not_yet, axis=0)
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(-tau / temperature, targets))


def _rates(spikes: jax.Array, time_axis: int) -> jax.Array:
    spikes = jnp.asarray(spikes)
    ax = _time_axis("spikes", spikes, time_axis, min_ndim=2, allow_last=True)
    spikes = jnp.moveaxis(spikes, ax, 0)
    return jnp.mean(spikes, axis=(0, 1))


def silence_penalty(spikes: jax.Array, min_rate: float, *, time_axis: int = 0) -> jax.Array:
    """Squared hinge on neurons that fire less than ``min_rate`` spikes per step.

    ``spikes`` has shape ``(T, B, *neurons)`` (time on ``time_axis``; the batch
    axis is the first non-time axis). With ``r[n] = mean_{t, b} spikes[t, b, n]``::

        penalty = mean_n max(0, min_rate - r[n])**2

    Args:
        spikes: hidden-layer spikes.
        min_rate: lower bound on each neuron's rate, in [0, 1].
        time_axis: the time axis of ``spikes``.

    Returns:
        float32 scalar; zero when every neuron fires at ``min_rate`` or more.
    """
    bound = _number("min_rate", min_rate, 0.0, 1.0)
    return jnp.mean(jnp.maximum(0.0, bound - _rates(spikes, time_axis)) ** 2)


def sparsity_penalty(spikes: jax.Array, max_rate: float, *, time_axis: int = 0) -> jax.Array:
    """Squared hinge on neurons that fire more than ``max_rate`` spikes per step.

    Shapes as :func:`silence_penalty`; with ``r[n] = mean_{t, b} spikes[t, b, n]``::

        penalty = mean_n max(0, r[n] - max_rate)**2

    Args:
        spikes: hidden-layer spikes.
        max_rate: upper bound on each neuron's rate, in [0, 1].
        time_axis: the time axis of ``spikes``.

    Returns:
        float32 scalar; zero when no neuron fires above ``max_rate``.
    """
    bound = _number("max_rate", max_rate, 0.0, 1.0)
    return jnp.mean(jnp.maximum(0.0, _rates(spikes, time_axis) - bound) ** 2)
