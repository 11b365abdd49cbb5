"""Parallel spiking unit: a reset-free LIF with an exact parallel-in-time path."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import jax
import jax.numpy as jnp

from snnx import _checks
from snnx import surrogate as _surrogate
from snnx.neurons._base import Neuron, make_parameter, resolve_trainable


@jax.jit
def linear_recurrence(a: jax.Array, b: jax.Array) -> jax.Array:
    """All ``h[t] = a[t] * h[t-1] + b[t]`` (``h[-1] = 0``) along axis 0, in O(log T) depth.

    The pairs ``(a, b)`` compose associatively as affine maps,
    ``(a1, b1) then (a2, b2) = (a1 a2, a2 b1 + b2)``, so
    ``jax.lax.associative_scan`` evaluates every prefix at once. Jitted, so an
    eager call compiles the whole scan once per shape instead of dispatching
    its many small operations one by one.
    """

    def compose(first, second):
        a1, b1 = first
        a2, b2 = second
        return a1 * a2, a2 * b1 + b2

    _, h = jax.lax.associative_scan(compose, (a, b), axis=0)
    return h


def check_sequence(x, shape: tuple[int, ...]) -> jax.Array:
    """Check ``x`` has shape ``(T, B, *shape)`` (one or more batch axes)."""
    if shape is None:
        raise _checks.ShapeError(
            "this neuron has no shape yet: pass `shape` or build it inside Sequential(..., input_shape=...)"
        )
    x = jnp.asarray(x)
    _checks.trailing_shape("x", x, shape)
    if x.ndim < len(shape) + 2:
        raise ValueError(
            f"`x` must have shape (T, B, {', '.join(map(str, shape))}) with time first, got {x.shape}"
        )
    return x


class PSU_LIF(Neuron):
    r"""Reset-free LIF neuron (parallel spiking unit) with an exact parallel path.

    Discrete update, per step ``t`` (``x`` is this step's input)::

        v = beta * v + x
        z = v > threshold                     # strict; no reset

    Without a reset the membrane is a linear recurrence, so :meth:`parallel`
    computes all ``T`` steps at once with ``jax.lax.associative_scan``
    (O(log T) depth) and gives the same result as stepping.

    Output: ``z`` (0./1. spikes, surrogate gradient backward). State: ``{"v"}``.

    NIR: ``nir.LIF`` has a reset, so there is no exact NIR node; the membrane
    alone is ``nir.LI`` (``tau = dt / (1 - beta)``, ``r = tau / dt``) followed by
    ``nir.Threshold``.

    Args:
        shape: per-sample shape of the layer (int or tuple); ``None`` leaves it to
            :meth:`build` (``Sequential(..., input_shape=...)`` calls it).
        beta: membrane decay per step in [0, 1]; scalar or per-unit.
        threshold: firing threshold; scalar or per-unit.
        surrogate: spike function (name or :class:`snnx.surrogate.Surrogate`).
        trainable: ``False`` (default: both frozen), ``True`` (``beta`` and
            ``threshold`` learnt) or the names to learn.

    Example:
        >>> psu = PSU_LIF(3, beta=0.9)
        >>> spikes = psu.parallel(jnp.ones((10, 2, 3)))   # (T, B, 3)

    References:
        Li, Lei, Yang (2023), "Parallel spiking unit for efficient training of
        spiking neural networks"; Fang et al. (2023), "Parallel spiking neurons
        with high efficiency and ability to learn long-term dependencies", NeurIPS.
    """

    state_names = ("v",)
    param_names = ("beta", "threshold")

    def __init__(
        self,
        shape: int | Sequence[int] | None = None,
        beta=0.9,
        threshold=1.0,
        *,
        surrogate: str | _surrogate.Surrogate | None = None,
        trainable: bool | Iterable[str] = False,
    ):
        super().__init__(shape)
        learn = resolve_trainable(trainable, self.param_names)
        self.beta = make_parameter("beta", beta, self.shape, "beta" in learn, unit_interval=True)
        self.threshold = make_parameter("threshold", threshold, self.shape, "threshold" in learn)
        self.surrogate = _surrogate.get(surrogate)

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = self._check_step(x, state)
        v = jnp.clip(self.beta[...], 0.0, 1.0) * state["v"] + x
        return self.surrogate(v - self.threshold[...]), {"v": v}

    def parallel(self, x: jax.Array, *, return_states: bool = False):
        """All time steps at once from zero state.

        Args:
            x: input of shape ``(T, B, *shape)`` (time first).
            return_states: also return ``{"v": v}`` with ``v`` of shape
                ``(T, B, *shape)``, like ``snnx.run(..., return_states=True)``.

        Returns:
            spikes of shape ``(T, B, *shape)``; with ``return_states``,
            ``(spikes, {"v": v})``.
        """
        x = check_sequence(x, self.shape)
        x = x.astype(jnp.result_type(x.dtype, jnp.float32))
        beta = jnp.broadcast_to(jnp.clip(self.beta[...], 0.0, 1.0), x.shape).astype(x.dtype)
        v = linear_recurrence(beta, x)
        z = self.surrogate(v - self.threshold[...])
        return (z, {"v": v}) if return_states else z
