"""The activity regularisers of :mod:`snnx.losses` (silence, sparsity, L1, L2, target rate).

Public through ``snnx.losses``; the conventions (``activity`` as one array, a
dict ``{layer key: spikes}`` or a recording; bounds; ``per_layer``) are in that
module's docstring.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from snnx.metrics import _time_axis


def _number(name: str, value, low: float, high: float, *, open_high: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"`{name}` must be a number, got {value!r}")
    ok = low <= value < high if open_high else low <= value <= high
    if not ok:
        bound = f"[{low}, {high})" if open_high else f"[{low}, {high}]"
        raise ValueError(f"`{name}` must lie in {bound}, got {value!r}")
    return float(value)



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
