"""Classification metrics for spiking read-outs.

Every function takes ``outputs`` (or ``spikes``) of shape ``(T, B, C)``: time
on ``time_axis`` (default 0, time-major like :func:`snnx.run`), classes on the
last axis, and any batch axes in between (also none). ``targets`` are integer
class indices whose shape is ``outputs.shape`` with the time and class axes
removed, ``(B,)`` for ``(T, B, C)``. Anything else (one-hot or float targets,
targets that still carry a time axis) raises ``ValueError`` naming both shapes,
also when ``T == B``.

The ``population_*`` functions read a population-coded read-out:
``num_classes * per_class`` units on the last axis, class-major (units ``c * P`` to
``c * P + P - 1`` vote for class ``c``), summed per class before anything else
(:class:`snnx.layers.Population` does the same inside a model).

Example:
    >>> spikes = jnp.zeros((10, 4, 3)).at[:, :, 1].set(1.0)
    >>> float(integral_accuracy(spikes, jnp.array([1, 1, 0, 1])))
    0.75
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from snnx import _checks

__all__ = [
    "first_spike_accuracy",
    "first_spike_times",
    "integral_accuracy",
    "max_membrane_accuracy",
    "population_accuracy",
]


def _time_axis(name: str, x: jax.Array, time_axis, *, min_ndim: int, allow_last: bool) -> int:
    """Validate ``time_axis`` for ``x`` and return it as a non-negative index."""
    if x.ndim < min_ndim:
        raise ValueError(f"`{name}` must have at least {min_ndim} axes, got shape {x.shape}")
    if isinstance(time_axis, bool) or not isinstance(time_axis, (int, np.integer)):
        raise TypeError(f"`time_axis` must be an int, got {time_axis!r}")
    last = x.ndim if allow_last else x.ndim - 1
    ax = int(time_axis) + x.ndim if time_axis < 0 else int(time_axis)
    if not 0 <= ax < last:
        what = "an axis" if allow_last else "an axis other than the last (class) axis"
        raise ValueError(f"`time_axis` must be {what} of `{name}` with shape {x.shape}, got {time_axis}")
    return ax


def _check_readout(
    outputs: jax.Array, targets: jax.Array, time_axis: int, name: str = "outputs"
) -> tuple[jax.Array, jax.Array]:
    """Validate a read-out and its labels; return ``(outputs moved to (T, *batch, C), targets)``.

    ``outputs`` needs ``ndim >= 2`` (time and class axes); ``targets`` must be
    integer with shape ``outputs.shape`` minus the time and class axes.
    Concrete targets must lie in ``[0, C)``.
    """
    outputs = jnp.asarray(outputs)
    targets = jnp.asarray(targets)
    ax = _time_axis(name, outputs, time_axis, min_ndim=2, allow_last=False)
    expected = tuple(d for i, d in enumerate(outputs.shape[:-1]) if i != ax)
    if targets.shape != expected or not jnp.issubdtype(targets.dtype, jnp.integer):
        raise ValueError(
            f"`targets` must be integer class indices of shape {expected} (`{name}` shape "
            f"{outputs.shape} without time axis {ax} and the class axis), got {targets.dtype} "
            f"array of shape {targets.shape}"
        )
    if not isinstance(targets, jax.core.Tracer) and targets.size:
        t = np.asarray(targets)
        n = outputs.shape[-1]
        if t.min() < 0 or t.max() >= n:
            raise ValueError(
                f"`targets` must be class indices in [0, {n}) for {n} classes, got values in "
                f"[{t.min()}, {t.max()}]"
            )
    return jnp.moveaxis(outputs, ax, 0), targets


def _population_counts(
    outputs: jax.Array, targets: jax.Array, num_classes: int, time_axis: int
) -> jax.Array:
    """Check a population read-out ``(T, B, C*P)``; return it summed per class, ``(T, B, C)``.

    Only the last axis changes (reshaped to ``(C, P)`` and summed over ``P``), so
    batch axes are never merged and ``time_axis`` still points at time. Targets
    are checked against ``outputs`` here (shape, dtype); their range ``[0, C)``
    is checked by the caller on the counts.
    """
    num_classes = _checks.positive_int("num_classes", num_classes)
    outputs = jnp.asarray(outputs)
    _check_readout(outputs, targets, time_axis)
    n = outputs.shape[-1]
    if n == 0 or n % num_classes:
        raise _checks.ShapeError(
            f"the last axis of `outputs` (size {n}) must be a positive multiple of `num_classes` "
            f"(={num_classes}): num_classes * per_class units, class-major; got shape {outputs.shape}"
        )
    return jnp.sum(outputs.reshape(*outputs.shape[:-1], num_classes, n // num_classes), axis=-1)


def first_spike_times(spikes: jax.Array, *, time_axis: int = 0) -> jax.Array:
    """Index of each unit's first spike, ``T`` if it never spikes.

    ``times[...] = min{t : spikes[t, ...] > 0}``, or ``T`` (the number of
    steps) when there is none.

    Args:
        spikes: spike trains with time on ``time_axis``, e.g. ``(T, B, C)``.
        time_axis: the time axis.

    Returns:
        int32 array of ``spikes.shape`` without the time axis.

    Example:
        >>> first_spike_times(jnp.array([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0]]))
        Array([1, 3], dtype=int32)
    """
    spikes = jnp.asarray(spikes)
    ax = _time_axis("spikes", spikes, time_axis, min_ndim=1, allow_last=True)
    fired = spikes > 0
    first = jnp.argmax(fired, axis=ax).astype(jnp.int32)
    return jnp.where(jnp.any(fired, axis=ax), first, jnp.int32(spikes.shape[ax]))


def integral_accuracy(outputs: jax.Array, targets: jax.Array, *, time_axis: int = 0) -> jax.Array:
    """Fraction of samples whose most active class is the target.

    ``accuracy = mean_b [argmax_c sum_t outputs[t, b, c] == targets[b]]`` (ties go
    to the lowest class index).

    Args:
        outputs: ``(T, B, C)`` spikes (or any per-step read-out).
        targets: ``(B,)`` integer labels.
        time_axis: the time axis of ``outputs``.

    Returns:
        float32 scalar in [0, 1].
    """
    outputs, targets = _check_readout(outputs, targets, time_axis)
    preds = jnp.argmax(jnp.sum(outputs, axis=0), axis=-1)
    return jnp.mean(preds == targets, dtype=jnp.float32)


def max_membrane_accuracy(outputs: jax.Array, targets: jax.Array, *, time_axis: int = 0) -> jax.Array:
    """Accuracy of the class with the largest membrane over time (LI read-outs).

    ``accuracy = mean_b [argmax_c max_t outputs[t, b, c] == targets[b]]``.

    Args:
        outputs: ``(T, B, C)`` membrane traces.
        targets: ``(B,)`` integer labels.
        time_axis: the time axis of ``outputs``.

    Returns:
        float32 scalar in [0, 1].
    """
    outputs, targets = _check_readout(outputs, targets, time_axis)
    preds = jnp.argmax(jnp.max(outputs, axis=0), axis=-1)
    return jnp.mean(preds == targets, dtype=jnp.float32)


def first_spike_accuracy(spikes: jax.Array, targets: jax.Array, *, time_axis: int = 0) -> jax.Array:
    """Accuracy of the class that spikes first (time-to-first-spike coding).

    ``accuracy = mean_b [argmin_c first_spike_times(spikes)[b, c] == targets[b]]``;
    ties (including a silent read-out, every time ``T``) go to the lowest class
    index.

    Args:
        spikes: ``(T, B, C)`` output spikes.
        targets: ``(B,)`` integer labels.
        time_axis: the time axis of ``spikes``.

    Returns:
        float32 scalar in [0, 1].
    """
    spikes, targets = _check_readout(spikes, targets, time_axis, name="spikes")
    preds = jnp.argmin(first_spike_times(spikes, time_axis=0), axis=-1)
    return jnp.mean(preds == targets, dtype=jnp.float32)


def population_accuracy(
    outputs: jax.Array, targets: jax.Array, num_classes: int, *, time_axis: int = 0
) -> jax.Array:
    """Fraction of samples whose most active population is the target's.

    ``outputs`` holds ``C * P`` units per sample (``C = num_classes``,
    ``P = per_class``), class-major. With the population counts
    ``n[b, c] = sum_t sum_{p<P} outputs[t, b, c*P + p]``::

        accuracy = mean_b [argmax_c n[b, c] == targets[b]]

    Ties go to the lowest class index (``argmax`` returns the first maximum),
    so a silent read-out predicts class 0. This is :func:`integral_accuracy`
    of the per-class counts.

    Args:
        outputs: ``(T, B, C*P)`` spikes (or any per-step read-out).
        targets: ``(B,)`` integer labels in ``[0, C)``.
        num_classes: ``C``; the last axis of ``outputs`` must be a multiple of it.
        time_axis: the time axis of ``outputs``.

    Returns:
        float32 scalar in [0, 1].

    Raises:
        snnx.ShapeError: the last axis is not a multiple of ``num_classes``.

    Example:
        >>> spikes = jnp.zeros((5, 2, 6)).at[:, 0, 2].set(1.0).at[:, 1, 5].set(1.0)
        >>> float(population_accuracy(spikes, jnp.array([1, 1]), 3))  # 2 units per class
        0.5
    """
    counts = _population_counts(outputs, targets, num_classes, time_axis)
    return integral_accuracy(counts, targets, time_axis=time_axis)
