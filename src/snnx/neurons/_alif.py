"""Adaptive leaky integrate-and-fire neuron (Bellec et al. 2018)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import jax
import jax.numpy as jnp

from snnx import surrogate as _surrogate
from snnx.neurons._base import Neuron, make_parameter, resolve_trainable


class ALIF(Neuron):
    r"""Leaky integrate-and-fire neuron whose threshold rises after each spike.

    Discrete update, per step ``t`` (``x`` is this step's input, ``a`` the
    adaptation left by earlier spikes)::

        v  = beta * v + x
        th = threshold + adaptation * a       # a from the previous step
        z  = v > th                           # strict, on the updated membrane
        v  = 0             where z            (reset="zero")
        v  = v - th        where z            (reset="subtract")
        (no change)                           (reset="none")
        a  = gamma * a + z

    Bellec et al. write ``a = rho a + (1 - rho) z`` and ``th = b0 + beta_a a``;
    that is this model with ``gamma = rho``, ``threshold = b0`` and
    ``adaptation = beta_a (1 - rho)``. The gradient flows into ``a`` through
    ``z``'s surrogate (``detach_reset`` concerns only the membrane reset).

    Output: ``z`` (0./1. spikes, surrogate gradient backward). State: ``{"v", "a"}``.

    NIR: no NIR primitive; not exportable.

    Args:
        shape: per-sample shape of the layer (int or tuple); ``None`` leaves it to
            :meth:`build` (``Sequential(..., input_shape=...)`` calls it).
        beta: membrane decay per step in [0, 1]; scalar or per-unit.
        gamma: adaptation decay per step in [0, 1]; scalar or per-unit.
        threshold: baseline threshold; scalar or per-unit.
        adaptation: threshold increase per unit of ``a``; scalar or per-unit.
        reset: ``"zero"`` (to 0), ``"subtract"`` (the adapted threshold) or ``"none"``.
        surrogate: spike function (name or :class:`snnx.surrogate.Surrogate`).
        trainable: ``False`` (default: all frozen), ``True`` (all of
            ``beta``, ``gamma``, ``threshold``, ``adaptation`` learnt) or the
            names to learn.
        detach_reset: stop the gradient through the reset term.

    Example:
        >>> neuron = ALIF(3, beta=0.9, gamma=0.95, adaptation=0.5)
        >>> state = neuron.init_state(batch_shape=2)
        >>> z, state = neuron(jnp.ones((2, 3)), state)

    References:
        Bellec, Salaj, Subramoney, Legenstein, Maass (2018), "Long short-term
        memory and learning-to-learn in networks of spiking neurons", NeurIPS.
    """

    state_names = ("v", "a")
    param_names = ("beta", "gamma", "threshold", "adaptation")

    def __init__(
        self,
        shape: int | Sequence[int] | None = None,
        beta=0.9,
        gamma=0.95,
        threshold=1.0,
        adaptation=1.0,
        *,
        reset: str = "zero",
        surrogate: str | _surrogate.Surrogate | None = None,
        trainable: bool | Iterable[str] = False,
        detach_reset: bool = True,
    ):
        super().__init__(shape)
        learn = resolve_trainable(trainable, self.param_names)
        self.beta = make_parameter("beta", beta, self.shape, "beta" in learn, unit_interval=True)
        self.gamma = make_parameter("gamma", gamma, self.shape, "gamma" in learn, unit_interval=True)
        self.adaptation = make_parameter("adaptation", adaptation, self.shape, "adaptation" in learn)
        self._init_spiking(learn, threshold, reset=reset, surrogate=surrogate, detach_reset=detach_reset)

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = self._check_step(x, state)
        beta = jnp.clip(self.beta[...], 0.0, 1.0)
        gamma = jnp.clip(self.gamma[...], 0.0, 1.0)
        v = beta * state["v"] + x
        th = self.threshold[...] + self.adaptation[...] * state["a"]
        z, v = self._fire(v, th)
        a = gamma * state["a"] + z
        return z, {"v": v, "a": a}
