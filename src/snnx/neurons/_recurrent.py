"""Recurrent spiking layers: ``RIF``, ``RLIF``, ``RCuBaLIF``.

Each is its feed-forward neuron plus ``self.recurrent = nnx.Linear(N, N)`` fed
with the layer's own spikes from the previous step (state ``"z"``). At ``t = 0``
``z`` is zero, so the recurrent input is the bias (zero without ``use_bias``):
NIR's back-edge semantics, where a back edge carries its source's output on
zero state.

The default recurrent kernel is a truncated normal with standard deviation
``0.5 / sqrt(N)`` (``variance_scaling(0.25, "fan_in")``): small enough that a
freshly built layer is driven by its input rather than by runaway recurrence.
The recurrent weights are always ``nnx.Param``; ``trainable`` (default ``False``)
chooses among the neuron parameters only.
"""

from __future__ import annotations

from collections.abc import Iterable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from snnx import surrogate as _surrogate
from snnx.neurons._base import Neuron, make_parameter, resolve_trainable
from snnx.neurons._leaky import LeakyConfig, LeakyNeuron
from snnx.neurons._state_quant import FixedPoint

DEFAULT_KERNEL_INIT = nnx.initializers.variance_scaling(0.25, "fan_in", "truncated_normal")


def _units(shape) -> int:
    if isinstance(shape, bool) or not isinstance(shape, (int, np.integer)) or shape <= 0:
        raise ValueError(
            f"`shape` of a recurrent layer must be a positive int N (the number of units), got {shape!r}"
        )
    return int(shape)


def _recurrent_linear(n: int, use_bias: bool, kernel_init, rngs: nnx.Rngs) -> nnx.Linear:
    if not isinstance(rngs, nnx.Rngs):
        raise TypeError(f"`rngs` must be an nnx.Rngs (it initialises the recurrent weights), got {rngs!r}")
    init = DEFAULT_KERNEL_INIT if kernel_init is None else kernel_init
    return nnx.Linear(n, n, use_bias=bool(use_bias), kernel_init=init, rngs=rngs)


class RIF(LeakyNeuron):
    r"""Recurrent integrate-and-fire layer of ``N`` units.

    Discrete update, per step ``t`` (``x`` is this step's input, ``z_prev`` the
    layer's spikes from the previous step, zero at ``t = 0``)::

        v = v + x + recurrent(z_prev)          # recurrent = nnx.Linear(N, N)
        z = v > threshold                      # strict, on the updated membrane
        v = v_reset        where z             (reset="zero")
        v = v - threshold  where z             (reset="subtract")
        (no change)                            (reset="none")

    With ``state_quant`` (``Q``, as in :class:`snnx.neurons.IF`) the first line
    becomes ``v = Q(v + x + recurrent(z_prev))``, the threshold is ``Q(threshold)``
    and the reset lands on the grid.

    Output: ``z``. State: ``{"v", "z"}``.

    NIR: a subgraph ``nir.IF`` with a back edge through ``nir.Affine``
    (``nir.Linear`` without bias) from the IF's output to its input.

    Args:
        shape: number of units ``N`` (an int).
        threshold: as in :class:`snnx.neurons.IF`.
        reset: as in :class:`snnx.neurons.IF`.
        v_reset: as in :class:`snnx.neurons.IF`.
        surrogate: as in :class:`snnx.neurons.IF`.
        detach_reset: as in :class:`snnx.neurons.IF`.
        trainable: ``False`` (default: ``threshold`` and ``v_reset`` frozen),
            ``True`` (both learnt) or the names to learn.
        rngs: ``nnx.Rngs`` used to initialise the recurrent weights.
        use_bias: give the recurrent ``nnx.Linear`` a bias.
        kernel_init: recurrent kernel initialiser; default truncated normal,
            std ``0.5 / sqrt(N)``. The recurrent weights are always ``nnx.Param``.
        state_quant: as in :class:`snnx.neurons.IF`: the membrane (after the
            recurrent input) is kept on the grid.

    Example:
        >>> layer = RIF(8, rngs=nnx.Rngs(0))
        >>> z, state = layer(jnp.ones((2, 8)), layer.init_state(2))

    References:
        NIR recurrent-graph semantics (Pedersen et al. 2024, *Nature Communications* 15, 8122).
    """

    state_names = ("v", "z")
    param_names = ("threshold", "v_reset")

    def __init__(
        self,
        shape: int,
        threshold=1.0,
        *,
        reset: str = "zero",
        v_reset=0.0,
        surrogate: str | _surrogate.Surrogate | None = None,
        trainable: bool | Iterable[str] = False,
        detach_reset: bool = True,
        rngs: nnx.Rngs,
        use_bias: bool = False,
        kernel_init=None,
        state_quant: FixedPoint | None = None,
    ):
        n = _units(shape)
        super().__init__(n)
        learn = resolve_trainable(trainable, self.param_names)
        self._init_spiking(
            learn, threshold, reset=reset, v_reset=v_reset, surrogate=surrogate, detach_reset=detach_reset
        )
        self.recurrent = _recurrent_linear(n, use_bias, kernel_init, rngs)
        self._init_state_quant(state_quant)

    def leaky(self) -> tuple[LeakyConfig, dict]:
        """The step as data for :func:`snnx.neurons._leaky.leaky_step` (``__call__`` and the fused kernel)."""
        return self._spiking_config(leak=False, recurrent=True), {
            **self._spike_params(),
            **self._recurrent_params(),
        }


class RLIF(LeakyNeuron):
    r"""Recurrent leaky integrate-and-fire layer of ``N`` units.

    Discrete update, per step ``t`` (``z_prev``: the layer's previous spikes, zero at ``t = 0``)::

        v = beta * v + (1 - beta) * v_leak + x + recurrent(z_prev)
        z = v > threshold                      # strict, on the updated membrane
        v = v_reset        where z             (reset="zero")
        v = v - threshold  where z             (reset="subtract")
        (no change)                            (reset="none")

    With ``state_quant`` (``Q``, as in :class:`snnx.neurons.LIF`) the first line
    becomes ``v = Q(beta * v + (1 - beta) * v_leak + x + recurrent(z_prev))``, the
    threshold is ``Q(threshold)`` and the reset lands on the grid.

    Output: ``z``. State: ``{"v", "z"}``.

    NIR: a subgraph ``nir.LIF`` with a back edge through ``nir.Affine``/``nir.Linear``.

    Args:
        shape: number of units ``N`` (an int).
        beta: as in :class:`snnx.neurons.LIF`.
        threshold: as in :class:`snnx.neurons.LIF`.
        reset: as in :class:`snnx.neurons.LIF`.
        v_reset: as in :class:`snnx.neurons.LIF`.
        v_leak: as in :class:`snnx.neurons.LIF`.
        surrogate: as in :class:`snnx.neurons.LIF`.
        detach_reset: as in :class:`snnx.neurons.LIF`.
        trainable: ``False`` (default: all frozen), ``True`` (all of ``beta``,
            ``threshold``, ``v_leak``, ``v_reset`` learnt) or the names to learn.
        rngs: ``nnx.Rngs`` used to initialise the recurrent weights.
        use_bias: give the recurrent ``nnx.Linear`` a bias.
        kernel_init: recurrent kernel initialiser; default truncated normal,
            std ``0.5 / sqrt(N)``.
        state_quant: as in :class:`snnx.neurons.LIF`: the membrane (after the
            recurrent input) is kept on the grid.

    Example:
        >>> layer = RLIF(8, beta=0.9, rngs=nnx.Rngs(0))
        >>> z, state = layer(jnp.ones((2, 8)), layer.init_state(2))

    References:
        Bellec et al. (2018), NeurIPS; Zenke & Vogels (2021), *Neural Computation* 33(4).
    """

    state_names = ("v", "z")
    param_names = ("beta", "threshold", "v_leak", "v_reset")

    def __init__(
        self,
        shape: int,
        beta=0.9,
        threshold=1.0,
        *,
        reset: str = "zero",
        v_reset=0.0,
        v_leak=0.0,
        surrogate: str | _surrogate.Surrogate | None = None,
        trainable: bool | Iterable[str] = False,
        detach_reset: bool = True,
        rngs: nnx.Rngs,
        use_bias: bool = False,
        kernel_init=None,
        state_quant: FixedPoint | None = None,
    ):
        n = _units(shape)
        super().__init__(n)
        learn = resolve_trainable(trainable, self.param_names)
        self.beta = make_parameter("beta", beta, self.shape, "beta" in learn, unit_interval=True)
        self.v_leak = make_parameter("v_leak", v_leak, self.shape, "v_leak" in learn)
        self._init_spiking(
            learn, threshold, reset=reset, v_reset=v_reset, surrogate=surrogate, detach_reset=detach_reset
        )
        self.recurrent = _recurrent_linear(n, use_bias, kernel_init, rngs)
        self._init_state_quant(state_quant)

    def leaky(self) -> tuple[LeakyConfig, dict]:
        """The step as data for :func:`snnx.neurons._leaky.leaky_step` (``__call__`` and the fused kernel)."""
        return self._spiking_config(leak=True, recurrent=True), {
            **self._leak_params(),
            **self._spike_params(),
            **self._recurrent_params(),
        }


class RCuBaLIF(Neuron):
    r"""Recurrent current-based LIF layer of ``N`` units; the recurrence enters the current.

    Discrete update, per step ``t`` (``z_prev``: the layer's previous spikes, zero at ``t = 0``)::

        i = alpha * i + x + recurrent(z_prev)
        v = beta * v + (1 - beta) * v_leak + i        # uses the new i
        z = v > threshold                             # strict, on the updated membrane
        v = v_reset        where z                    (reset="zero")
        v = v - threshold  where z                    (reset="subtract")
        (no change)                                   (reset="none")

    Output: ``z``. State: ``{"i", "v", "z"}``.

    NIR: a subgraph ``nir.CubaLIF`` with a back edge through ``nir.Affine``/``nir.Linear``.

    Args:
        shape: number of units ``N`` (an int).
        alpha: as in :class:`snnx.neurons.CuBaLIF`.
        beta: as in :class:`snnx.neurons.CuBaLIF`.
        threshold: as in :class:`snnx.neurons.CuBaLIF`.
        reset: as in :class:`snnx.neurons.CuBaLIF`.
        v_reset: as in :class:`snnx.neurons.CuBaLIF`.
        v_leak: as in :class:`snnx.neurons.CuBaLIF`.
        surrogate: as in :class:`snnx.neurons.CuBaLIF`.
        detach_reset: as in :class:`snnx.neurons.CuBaLIF`.
        trainable: ``False`` (default: all frozen), ``True`` (all of ``alpha``,
            ``beta``, ``threshold``, ``v_leak``, ``v_reset`` learnt) or the
            names to learn.
        rngs: ``nnx.Rngs`` used to initialise the recurrent weights.
        use_bias: give the recurrent ``nnx.Linear`` a bias.
        kernel_init: recurrent kernel initialiser; default truncated normal,
            std ``0.5 / sqrt(N)``.

    Example:
        >>> layer = RCuBaLIF(8, alpha=0.8, beta=0.9, rngs=nnx.Rngs(0))
        >>> z, state = layer(jnp.ones((2, 8)), layer.init_state(2))

    References:
        Zenke & Vogels (2021), *Neural Computation* 33(4).
    """

    state_names = ("i", "v", "z")
    param_names = ("alpha", "beta", "threshold", "v_leak", "v_reset")

    def __init__(
        self,
        shape: int,
        alpha=0.8,
        beta=0.9,
        threshold=1.0,
        *,
        reset: str = "zero",
        v_reset=0.0,
        v_leak=0.0,
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
        self.alpha = make_parameter("alpha", alpha, self.shape, "alpha" in learn, unit_interval=True)
        self.beta = make_parameter("beta", beta, self.shape, "beta" in learn, unit_interval=True)
        self.v_leak = make_parameter("v_leak", v_leak, self.shape, "v_leak" in learn)
        self._init_spiking(
            learn, threshold, reset=reset, v_reset=v_reset, surrogate=surrogate, detach_reset=detach_reset
        )
        self.recurrent = _recurrent_linear(n, use_bias, kernel_init, rngs)

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = self._check_step(x, state)
        alpha = jnp.clip(self.alpha[...], 0.0, 1.0)
        beta = jnp.clip(self.beta[...], 0.0, 1.0)
        i = alpha * state["i"] + x + self.recurrent(state["z"])
        v = beta * state["v"] + (1.0 - beta) * self.v_leak[...] + i
        z, v = self._fire(v)
        return z, {"i": i, "v": v, "z": z}
