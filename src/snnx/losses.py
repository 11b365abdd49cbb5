"""Losses and activity regularisers for spiking networks.

Read-out losses take ``outputs`` of shape ``(T, B, C)`` (time on ``time_axis``,
default 0; classes last; any batch axes in between) and integer ``targets`` of
shape ``(B,)`` (``outputs.shape`` without the time and class axes); a mismatch
raises ``ValueError`` naming both shapes. Each loss is the mean over samples.

:func:`population_cross_entropy` reads ``num_classes * per_class`` units,
class-major, summed per class first.

The regularisers (:func:`silence_penalty`, :func:`sparsity_penalty`,
:func:`l1_rate_penalty`, :func:`l2_rate_penalty`, :func:`target_rate_penalty`)
take ``activity`` in one of three forms:

* one spikes array ``(T, B, *neurons)`` (one layer, keyed ``"0"``);
* a dict ``{layer key: spikes array}``, one entry per layer;
* a recording: any object whose ``.outputs`` is such a dict (what
  ``snnx.run(..., record=...)`` returns).

Every layer's spikes have time on ``time_axis`` and the batch axis on the first
other axis; the rate of neuron ``n`` is ``r[n] = mean_{t, b} spikes[t, b, n]``.
A bound (``min_rate``, ``max_rate``, ``rate``) is one number in [0, 1] for every
layer or a dict ``{layer key: number}`` naming exactly the layers.
``per_layer=False`` returns the sum of the layers' penalties (a scalar);
``per_layer=True`` returns ``{layer key: penalty}`` (``{"0": penalty}`` for one
array). A bad layer raises ``ValueError``/``TypeError`` naming it, e.g.
"`activity['1']` must be a spikes array (T, B, *neurons), got dict with keys ['v']".

Example:
    >>> spikes = jnp.zeros((10, 2, 3)).at[:, :, 0].set(1.0)
    >>> loss = spike_count_cross_entropy(spikes, jnp.array([0, 1]))
    >>> reg = sparsity_penalty({"1": spikes, "3": spikes[..., :2]}, 0.1)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from snnx._regularisers import (
    _number,
    l1_rate_penalty,
    l2_rate_penalty,
    silence_penalty,
    sparsity_penalty,
    target_rate_penalty,
)
from snnx.metrics import _check_readout, _population_counts

__all__ = [
    "first_spike_cross_entropy",
    "l1_rate_penalty",
    "l2_rate_penalty",
    "max_membrane_cross_entropy",
    "population_cross_entropy",
    "silence_penalty",
    "sparsity_penalty",
    "spike_count_cross_entropy",
    "spike_rate_mse",
    "target_rate_penalty",
]


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


def population_cross_entropy(
    outputs: jax.Array,
    targets: jax.Array,
    num_classes: int,
    *,
    time_axis: int = 0,
    label_smoothing: float = 0.0,
) -> jax.Array:
    """Softmax cross-entropy of the spike counts of class populations.

    ``outputs`` holds ``C * P`` units per sample (``C = num_classes``,
    ``P = per_class``), class-major: units ``c*P ... c*P + P - 1`` vote for
    class ``c``. With the population counts
    ``n[b, c] = sum_t sum_{p<P} outputs[t, b, c*P + p]`` and ``q`` the
    (smoothed) one-hot targets as in :func:`spike_count_cross_entropy`::

        loss = mean_b  -sum_c q[b, c] * log_softmax(n[b])[c]

    Only the last axis is regrouped, so batch axes are never merged.

    Args:
        outputs: ``(T, B, C*P)`` output spikes.
        targets: ``(B,)`` integer labels in ``[0, C)``.
        num_classes: ``C``; the last axis of ``outputs`` must be a multiple of it.
        time_axis: the time axis of ``outputs``.
        label_smoothing: ``s`` in [0, 1).

    Returns:
        float32 scalar.

    Raises:
        snnx.ShapeError: the last axis is not a multiple of ``num_classes``.

    Example:
        >>> spikes = jnp.zeros((5, 2, 6)).at[:, 0, 1].set(1.0)   # 3 classes of 2 units
        >>> loss = population_cross_entropy(spikes, jnp.array([0, 2]), 3)
    """
    counts = _population_counts(outputs, targets, num_classes, time_axis)
    return spike_count_cross_entropy(counts, targets, time_axis=time_axis, label_smoothing=label_smoothing)


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


# -- activity regularisers -----------------------------------------------------------------------
