"""Leaky integrator (non-spiking)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from snnx.neurons._base import make_parameter, resolve_trainable
from snnx.neurons._leaky import LeakyConfig, LeakyNeuron
from snnx.neurons._state_quant import FixedPoint

_CONFIG = LeakyConfig(leak=True, spiking=False)


class LI(LeakyNeuron):
    r"""Leaky integrator: a LIF membrane without threshold, typically a readout.

    Discrete update, per step ``t`` (``x`` is this step's input)::

        v = beta * v + (1 - beta) * v_leak + x

    No spike, no reset. Output: ``v`` (the updated membrane). State: ``{"v"}``.

    With ``state_quant=FixedPoint(bits, lo, hi)`` (``Q``: round to the grid, half
    to even, and clip; straight-through gradient) the membrane is stored in fixed
    point, ``v = Q(beta * v + (1 - beta) * v_leak + x)``, and ``snnx.run`` steps
    the layer with ``jax.lax.scan`` (the fused kernel does not round).

    NIR: ``nir.LI`` with ``tau = dt / (1 - beta)``, ``r = tau / dt`` (unit input
    gain), ``v_leak``; ``beta = 1`` is exported as ``nir.I``.

    Args:
        shape: per-sample shape of the layer (int or tuple); ``None`` leaves it to
            :meth:`build` (``Sequential(..., input_shape=...)`` calls it).
        beta: membrane decay per step in [0, 1]; scalar or per-unit.
        v_leak: resting potential the membrane decays towards (default 0).
        trainable: ``False`` (default: both frozen), ``True`` (``beta`` and
            ``v_leak`` learnt) or the names to learn.
        state_quant: ``None`` (default: float membranes) or a
            :class:`snnx.neurons.FixedPoint`: the membrane is kept on its grid (see above).

    Example:
        >>> readout = LI(10, beta=0.95)
        >>> state = readout.init_state(batch_shape=2)
        >>> v, state = readout(jnp.ones((2, 10)), state)

    References:
        Gerstner, Kistler, Naud, Paninski (2014), *Neuronal Dynamics*, ch. 1.
    """

    state_names = ("v",)
    param_names = ("beta", "v_leak")

    def __init__(
        self,
        shape: int | Sequence[int] | None = None,
        beta=0.9,
        *,
        v_leak=0.0,
        trainable: bool | Iterable[str] = False,
        state_quant: FixedPoint | None = None,
    ):
        super().__init__(shape)
        learn = resolve_trainable(trainable, self.param_names)
        self.beta = make_parameter("beta", beta, self.shape, "beta" in learn, unit_interval=True)
        self.v_leak = make_parameter("v_leak", v_leak, self.shape, "v_leak" in learn)
        self._init_state_quant(state_quant)

    def leaky(self) -> tuple[LeakyConfig, dict]:
        """The step as data for :func:`snnx.neurons._leaky.leaky_step` (``__call__`` and the fused kernel)."""
        return dataclasses.replace(_CONFIG, state_quant=self.state_quant), self._leak_params()
