"""Recurrent adaptive LIF layer: the LSNN of Bellec et al. (2018)."""

from __future__ import annotations

from collections.abc import Iterable

import jax
import jax.numpy as jnp
from flax import nnx

from snnx import surrogate as _surrogate
from snnx.neurons._base import Neuron, make_parameter, resolve_trainable
from snnx.neurons._recurrent import _recurrent_linear, _units


class RALIF(Neuron):
    r"""Recurrent adaptive leaky integrate-and-fire layer of ``N`` units (an LSNN layer).

    :class:`snnx.neurons.ALIF` plus ``self.recurrent = nnx.Linear(N, N)`` fed
    with the layer's own spikes from the previous step, as in
    :class:`snnx.neurons.RLIF`. Discrete update, per step ``t`` (``x`` is this
    step's input, ``z_prev`` the previous step's spikes, zero at ``t = 0``;
    ``a`` the adaptation left by earlier spikes)::

        v  = beta * v + x + recurrent(z_prev)          # recurrent = nnx.Linear(N, N)
        th = threshold + adaptation * a                # a from the previous step
        z  = v > th                                    # strict, on the updated membrane
        v  = 0             where z                     (reset="zero")
        v  = v - th        where z                     (reset="subtract")
        (no change)                                    (reset="none")
        a  = gamma * a + z

    Bellec et al. write ``a = rho a + (1 - rho) z`` and ``th = b0 + beta_a a``:
    this model with ``gamma = rho``, ``threshold = b0`` and
    ``adaptation = beta_a (1 - rho)``. With ``adaptation = 0`` it is
    :class:`snnx.neurons.RLIF` (``v_leak = v_reset = 0``).

    Norse's ``LSNNRecurrent`` (1.1.0) integrates a synaptic current first: its
    input and recurrent spikes enter ``i`` *after* the spike of the step, so the
    membrane sees the input one step late and the recurrence two steps late
    (here: one). With ``dt * tau_syn_inv = 1`` and no recurrent weights it is
    this layer on the input delayed by one step, with ``beta = 1 - dt *
    tau_mem_inv``, ``x = dt * tau_mem_inv * w_in x_norse``, ``gamma = 1 - dt *
    tau_adapt_inv``, ``threshold = v_th`` and ``adaptation = gamma * beta_norse``
    (Norse's ``b - v_th`` is ``beta_norse * a``); with recurrent weights no
    setting makes the two equal.

    Output: ``z`` (0./1. spikes, surrogate gradient backward). State: ``{"v", "a", "z"}``.

    NIR: no NIR primitive has an adaptive threshold; not exportable.

    Args:
        shape: number of units ``N`` (an int).
        beta: as in :class:`snnx.neurons.ALIF`.
        gamma: as in :class:`snnx.neurons.ALIF`.
        threshold: as in :class:`snnx.neurons.ALIF`.
        adaptation: as in :class:`snnx.neurons.ALIF`.
        reset: as in :class:`snnx.neurons.ALIF`.
        surrogate: as in :class:`snnx.neurons.ALIF`.
        trainable: ``False`` (default: all frozen), ``True`` (all of ``beta``,
            ``gamma``, ``threshold``, ``adaptation`` learnt) or the names to
            learn. The recurrent weights are always ``nnx.Param``.
        detach_reset: as in :class:`snnx.neurons.ALIF`.
        rngs: ``nnx.Rngs`` used to initialise the recurrent weights.
        use_bias: give the recurrent ``nnx.Linear`` a bias (it enters at ``t = 0`` too).
        kernel_init: recurrent kernel initialiser; default truncated normal,
            std ``0.5 / sqrt(N)`` (as in :class:`snnx.neurons.RLIF`).

    Example:
        >>> layer = RALIF(8, beta=0.9, gamma=0.95, adaptation=0.5, rngs=nnx.Rngs(0))
        >>> z, state = layer(jnp.ones((2, 8)), layer.init_state(2))

    References:
        Bellec, Salaj, Subramoney, Legenstein, Maass (2018), "Long short-term
        memory and learning-to-learn in networks of spiking neurons", NeurIPS.
    """

    state_names = ("v", "a", "z")
    param_names = ("beta", "gamma", "threshold", "adaptation")

    def __init__(
        self,
        shape: int,
        beta=0.9,
        gamma=0.95,
        threshold=1.0,
        adaptation=1.0,
        *,
        reset: str = "zero",
        surrogate: str | _surrogate.Surrogate | None = None,
        trainable: bool | Iterable[str] = False,
        detach_reset: bool = True,
        rngs: nnx.Rngs,
        use_bias: bool = False,
        kernel_init=None,
    ):
        n = _units(shape)
        super().__init__(n)
        learn = resolve_trainable(trainable, self.param_names)
        self.beta = make_parameter("beta", beta, self.shape, "beta" in learn, unit_interval=True)
        self.gamma = make_parameter("gamma", gamma, self.shape, "gamma" in learn, unit_interval=True)
        self.adaptation = make_parameter("adaptation", adaptation, self.shape, "adaptation" in learn)
        self._init_spiking(learn, threshold, reset=reset, surrogate=surrogate, detach_reset=detach_reset)
        self.recurrent = _recurrent_linear(n, use_bias, kernel_init, rngs)

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = self._check_step(x, state)
        beta = jnp.clip(self.beta[...], 0.0, 1.0)
        gamma = jnp.clip(self.gamma[...], 0.0, 1.0)
        v = beta * state["v"] + x + self.recurrent(state["z"])
        th = self.threshold[...] + self.adaptation[...] * state["a"]
        z, v = self._fire(v, th)
        a = gamma * state["a"] + z
        return z, {"v": v, "a": a, "z": z}
