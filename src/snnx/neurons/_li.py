"""Leaky integrator (non-spiking)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from snnx.neurons._base import make_parameter, resolve_trainable
from snnx.neurons._leaky import LeakyConfig, LeakyNeuron

_CONFIG = LeakyConfig(leak=True, spiking=False)


class LI(LeakyNeuron):
    r"""Leaky integrator: a LIF membrane without threshold, typically a readout.

    Discrete update, per step ``t`` (``x`` is this step's input)::

        v = beta * v + (1 - beta) * v_leak + x

    No spike, no reset. Output: ``v`` (the updated membrane). State: ``{"v"}``.

    NIR: ``nir.LI`` with ``tau = dt / (1 - beta)``, ``r = tau / dt`` (unit input
    gain), ``v_leak``; ``beta = 1`` is exported as ``nir.I``.

    Args:
        shape: per-sample shape of the layer (int or tuple); ``None`` leaves it to
            :meth:`build` (``Sequential(..., input_shape=...)`` calls it).
        beta: membrane decay per step in [0, 1]; scalar or per-unit.
        v_leak: resting potential the membrane decays towards (default 0).
        trainable: ``False`` (default: both frozen), ``True`` (``beta`` and
            ``v_leak`` learnt) or the names to learn.

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
    ):
        super().__init__(shape)
        learn = resolve_trainable(trainable, self.param_names)
        self.beta = make_parameter("beta", beta, self.shape, "beta" in learn, unit_interval=True)
        self.v_leak = make_parameter("v_leak", v_leak, self.shape, "v_leak" in learn)

    def leaky(self) -> tuple[LeakyConfig, dict]:
        """The step as data for :func:`snnx.neurons._leaky.leaky_step` (``__call__`` and the fused kernel)."""
        return _CONFIG, self._leak_params()
