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

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax

from snnx.metrics import _check_readout, _population_counts, _time_axis

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


def _describe(value) -> str:
    if isinstance(value, Mapping):
        return f"{type(value).__name__} with keys {list(value)}"
    return type(value).__name__


def _activity_layers(activity) -> dict:
    """``{layer key: (name for messages, spikes array)}`` from any accepted ``activity``."""
    if isinstance(activity, Mapping):
        where, layers = "activity", activity
    elif isinstance(getattr(activity, "outputs", None), Mapping):
        where, layers = "activity.outputs", activity.outputs
    else:
        try:
            return {"0": ("activity", jnp.asarray(activity))}
        except TypeError as err:
            raise TypeError(
                "`activity` must be a spikes array (T, B, *neurons), a dict {layer: spikes} or a "
                f"recording whose `.outputs` is such a dict, got {_describe(activity)}"
            ) from err
    if not layers:
        empty = type(layers).__name__
        raise ValueError(f"`{where}` must hold at least one layer's spikes, got an empty {empty}")
    out = {}
    for key, x in layers.items():
        name = f"{where}[{key!r}]"
        if not isinstance(x, (jax.Array, np.ndarray)):
            raise TypeError(f"`{name}` must be a spikes array (T, B, *neurons), got {_describe(x)}")
        out[key] = (name, x)
    return out


def _bounds(name: str, bound, keys: list) -> dict:
    """One number in [0, 1] per layer key, from a number or a dict naming exactly ``keys``."""
    if not isinstance(bound, Mapping):
        value = _number(name, bound, 0.0, 1.0)
        return dict.fromkeys(keys, value)
    missing = [k for k in keys if k not in bound]
    extra = [k for k in bound if k not in keys]
    if missing or extra:
        what = [f"no entry for {missing}"] if missing else []
        what += [f"entries for {extra}, which are not layers"] if extra else []
        raise ValueError(
            f"`{name}` must give a bound for exactly the layers {keys}, got {' and '.join(what)}"
        )
    return {k: _number(f"{name}[{k!r}]", bound[k], 0.0, 1.0) for k in keys}


def _regularise(
    activity,
    per_layer: bool,
    time_axis: int,
    penalty: Callable[[jax.Array, float | None], jax.Array],
    bound_name: str | None = None,
    bound=None,
):
    """Apply ``penalty(spikes moved to (T, B, *neurons), bound)`` to every layer; sum or dict."""
    if not isinstance(per_layer, bool):
        raise TypeError(f"`per_layer` must be a bool, got {per_layer!r}")
    layers = _activity_layers(activity)
    keys = list(layers)
    bounds = _bounds(bound_name, bound, keys) if bound_name else dict.fromkeys(keys)
    values = {}
    for key, (name, x) in layers.items():
        ax = _time_axis(name, x, time_axis, min_ndim=2, allow_last=True)
        values[key] = penalty(jnp.moveaxis(x, ax, 0), bounds[key])
    if per_layer:
        return values
    total, *others = values.values()
    for v in others:
        total = total + v
    return total


def _rates(spikes: jax.Array) -> jax.Array:
    """``r[n] = mean_{t, b} spikes[t, b, n]`` of time-major spikes."""
    return jnp.mean(spikes, axis=(0, 1))


def silence_penalty(
    activity, min_rate: float | Mapping[str, float], *, per_layer: bool = False, time_axis: int = 0
) -> jax.Array | dict[str, jax.Array]:
    """Squared hinge on neurons that fire less than ``min_rate`` spikes per step.

    Per layer, with ``r[n] = mean_{t, b} spikes[t, b, n]``::

        penalty = mean_n max(0, min_rate - r[n])**2

    Args:
        activity: spikes array ``(T, B, *neurons)``, dict ``{layer: spikes}``, or a
            recording with such a dict as ``.outputs`` (module docstring).
        min_rate: lower bound on each neuron's rate, in [0, 1]; or a dict
            ``{layer key: bound}`` naming exactly the layers.
        per_layer: return ``{layer key: penalty}`` instead of the sum over layers.
        time_axis: the time axis of every layer's spikes.

    Returns:
        float32 scalar (sum over layers), or ``{layer key: scalar}``; zero when every
        neuron fires at ``min_rate`` or more.

    Example:
        >>> spikes = jnp.zeros((4, 2, 3)).at[:, :, 0].set(1.0)   # rates (1, 0, 0)
        >>> round(float(silence_penalty(spikes, 0.5)), 4)       # (0 + 0.25 + 0.25) / 3
        0.1667
    """
    return _regularise(
        activity, per_layer, time_axis, lambda s, b: jnp.mean(jnp.maximum(0.0, b - _rates(s)) ** 2),
        "min_rate", min_rate,
    )


def sparsity_penalty(
    activity, max_rate: float | Mapping[str, float], *, per_layer: bool = False, time_axis: int = 0
) -> jax.Array | dict[str, jax.Array]:
    """Squared hinge on neurons that fire more than ``max_rate`` spikes per step.

    Per layer, with ``r[n] = mean_{t, b} spikes[t, b, n]``::

        penalty = mean_n max(0, r[n] - max_rate)**2

    Args:
        activity: spikes array ``(T, B, *neurons)``, dict ``{layer: spikes}``, or a
            recording with such a dict as ``.outputs`` (module docstring).
        max_rate: upper bound on each neuron's rate, in [0, 1]; or a dict
            ``{layer key: bound}`` naming exactly the layers.
        per_layer: return ``{layer key: penalty}`` instead of the sum over layers.
        time_axis: the time axis of every layer's spikes.

    Returns:
        float32 scalar (sum over layers), or ``{layer key: scalar}``; zero when no
        neuron fires above ``max_rate``.

    Example:
        >>> spikes = jnp.zeros((4, 2, 3)).at[:, :, 0].set(1.0)   # rates (1, 0, 0)
        >>> sparsity_penalty({"1": spikes, "2": spikes}, {"1": 0.5, "2": 1.0}, per_layer=True)
        {'1': Array(0.08333334, dtype=float32), '2': Array(0., dtype=float32)}
    """
    return _regularise(
        activity, per_layer, time_axis, lambda s, b: jnp.mean(jnp.maximum(0.0, _rates(s) - b) ** 2),
        "max_rate", max_rate,
    )


def l1_rate_penalty(
    activity, *, per_layer: bool = False, time_axis: int = 0
) -> jax.Array | dict[str, jax.Array]:
    """Mean absolute activity: an L1 penalty that pushes every spike towards zero.

    Per layer::

        penalty = mean_{t, b, n} |spikes[t, b, n]|

    which for non-negative spikes equals ``mean_n r[n]``, the layer's mean rate.
    The gradient is ``sign(spikes) / (T * B * N)`` with ``sign(0) = 1`` (JAX's
    derivative of ``abs`` at 0), so silent steps still pass surrogate gradients.

    Args:
        activity: spikes array ``(T, B, *neurons)``, dict ``{layer: spikes}``, or a
            recording with such a dict as ``.outputs`` (module docstring).
        per_layer: return ``{layer key: penalty}`` instead of the sum over layers.
        time_axis: the time axis of every layer's spikes.

    Returns:
        float32 scalar (sum over layers), or ``{layer key: scalar}``.

    Example:
        >>> spikes = jnp.zeros((4, 2, 3)).at[:, :, 0].set(1.0)
        >>> round(float(l1_rate_penalty(spikes)), 4)
        0.3333
    """
    return _regularise(activity, per_layer, time_axis, lambda s, _: jnp.mean(jnp.abs(s)))


def l2_rate_penalty(
    activity, *, per_layer: bool = False, time_axis: int = 0
) -> jax.Array | dict[str, jax.Array]:
    """Mean squared firing rate: penalises the busiest neurons most.

    Per layer, with ``r[n] = mean_{t, b} spikes[t, b, n]``::

        penalty = mean_n r[n]**2

    Args:
        activity: spikes array ``(T, B, *neurons)``, dict ``{layer: spikes}``, or a
            recording with such a dict as ``.outputs`` (module docstring).
        per_layer: return ``{layer key: penalty}`` instead of the sum over layers.
        time_axis: the time axis of every layer's spikes.

    Returns:
        float32 scalar (sum over layers), or ``{layer key: scalar}``.

    Example:
        >>> spikes = jnp.zeros((4, 2, 2)).at[:2, :, 0].set(1.0)   # rates (0.5, 0)
        >>> float(l2_rate_penalty(spikes))
        0.125
    """
    return _regularise(activity, per_layer, time_axis, lambda s, _: jnp.mean(_rates(s) ** 2))


def target_rate_penalty(
    activity, rate: float | Mapping[str, float], *, per_layer: bool = False, time_axis: int = 0
) -> jax.Array | dict[str, jax.Array]:
    """Squared distance of every neuron's rate from a target ``rate``.

    Per layer, with ``r[n] = mean_{t, b} spikes[t, b, n]``::

        penalty = mean_n (r[n] - rate)**2

    Args:
        activity: spikes array ``(T, B, *neurons)``, dict ``{layer: spikes}``, or a
            recording with such a dict as ``.outputs`` (module docstring).
        rate: target rate in [0, 1]; or a dict ``{layer key: rate}`` naming exactly
            the layers.
        per_layer: return ``{layer key: penalty}`` instead of the sum over layers.
        time_axis: the time axis of every layer's spikes.

    Returns:
        float32 scalar (sum over layers), or ``{layer key: scalar}``; zero when every
        neuron fires at ``rate``.

    Example:
        >>> spikes = jnp.zeros((4, 2, 2)).at[:2, :, 0].set(1.0)   # rates (0.5, 0)
        >>> float(target_rate_penalty(spikes, 0.5))
        0.125
    """
    return _regularise(
        activity, per_layer, time_axis, lambda s, b: jnp.mean((_rates(s) - b) ** 2), "rate", rate
    )
