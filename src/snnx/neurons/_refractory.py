"""Leaky integrate-and-fire neuron with an absolute refractory period counted in steps."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import jax
import jax.numpy as jnp

from snnx import _checks
from snnx import surrogate as _surrogate
from snnx.neurons._base import make_parameter, resolve_trainable
from snnx.neurons._leaky import LeakyConfig, LeakyNeuron, leaky_fire, leaky_integrate


def check_refractory(refractory) -> int:
    """``refractory`` must be an int (not a bool) >= 0: a number of whole steps."""
    return _checks.positive_int(
        "refractory", refractory, minimum=0, what="an int >= 0 (a number of steps; 0 = no refractory period)"
    )


class LIFRefrac(LeakyNeuron):
    r"""Leaky integrate-and-fire neuron that is silent for ``refractory`` steps after each spike.

    Discrete update, per step ``t`` (``x`` is this step's input, ``n`` the
    steps of refractory period left, ``hold = n > 0``)::

        u = beta * v + (1 - beta) * v_leak + x
        z = u > threshold                     # strict, on the updated membrane
        u = v_reset        where z            (reset="zero")
        u = u - threshold  where z            (reset="subtract")
        (no change)                           (reset="none")
        z = 0 where hold                      # no spike while refractory
        v = v where hold, else u              # the membrane is held, input ignored
        n = refractory where z, else max(n - 1, 0)

    After a spike at step ``t`` the membrane stays at its reset value
    (``v_reset`` for ``reset="zero"``) through steps ``t+1 ... t+refractory``
    and integrates again from step ``t+refractory+1``. ``refractory=0`` is
    :class:`~snnx.neurons.LIF` exactly (same spikes, membrane and gradients).

    Output: ``z`` (0./1. spikes, surrogate gradient backward; a held step has
    zero gradient). State: ``{"v", "n"}`` (``n`` int32).

    Norse's ``LIFRefracCell`` (``rho_reset = refractory``) has the same
    refractory rule: it holds ``v`` and masks ``z`` while ``rho > 0`` and sets
    ``rho = rho_reset`` on a spike. Its membrane is current-based; with
    ``tau_syn = dt`` its current lasts one step and it is this neuron with
    ``beta = 1 - dt / tau_mem`` on the input ``(dt / tau_mem) * x``
    (docs/zoo/synaptic.md; tested against Norse 1.1.0's outputs).

    NIR: no primitive has a refractory period; ``to_nir`` refuses it.

    Args:
        shape: per-sample shape of the layer (int or tuple), e.g. ``128`` or
            ``(28, 28, 16)`` for a channels-last feature map; ``None`` leaves it to
            :meth:`build` (``Sequential(..., input_shape=...)`` calls it).
        beta: membrane decay per step in [0, 1]; scalar or per-unit.
        threshold: firing threshold; scalar or per-unit.
        refractory: steps without spiking or integrating after each spike, an
            int >= 0 (the same for every unit).
        reset: ``"zero"`` (to ``v_reset``), ``"subtract"`` or ``"none"``.
        v_reset: value after a ``"zero"`` reset.
        v_leak: resting potential the membrane decays towards (default 0).
        surrogate: spike function (name or :class:`snnx.surrogate.Surrogate`).
        trainable: ``False`` (default: all frozen), ``True`` (all of
            ``beta``, ``threshold``, ``v_leak``, ``v_reset`` learnt) or the
            names to learn.
        detach_reset: stop the gradient through the reset term.

    Example:
        >>> neuron = LIFRefrac(3, beta=0.9, refractory=2)
        >>> state = neuron.init_state(batch_shape=2)
        >>> z, state = neuron(jnp.full((2, 3), 1.5), state)
        >>> state["n"].tolist()   # every unit spiked: two silent steps follow
        [[2, 2, 2], [2, 2, 2]]

    References:
        Gerstner, Kistler, Naud, Paninski (2014), *Neuronal Dynamics*, §1.3
        (absolute refractoriness); Pehle & Pedersen (2021), *Norse*,
        ``norse.torch.LIFRefracCell``.
    """

    state_names = ("v", "n")
    state_dtypes = {"n": jnp.int32}  # noqa: RUF012 - read-only class default
    param_names = ("beta", "threshold", "v_leak", "v_reset")

    def __init__(
        self,
        shape: int | Sequence[int] | None = None,
        beta=0.9,
        threshold=1.0,
        refractory: int = 1,
        *,
        reset: str = "zero",
        v_reset=0.0,
        v_leak=0.0,
        surrogate: str | _surrogate.Surrogate | None = None,
        trainable: bool | Iterable[str] = False,
        detach_reset: bool = True,
    ):
        super().__init__(shape)
        self.refractory = check_refractory(refractory)
        learn = resolve_trainable(trainable, self.param_names)
        self.beta = make_parameter("beta", beta, self.shape, "beta" in learn, unit_interval=True)
        self.v_leak = make_parameter("v_leak", v_leak, self.shape, "v_leak" in learn)
        self._init_spiking(
            learn, threshold, reset=reset, v_reset=v_reset, surrogate=surrogate, detach_reset=detach_reset
        )

    def leaky(self) -> tuple[LeakyConfig, dict]:
        """The LIF part of the step as data (the refractory hold is applied on top in ``__call__``)."""
        return self._spiking_config(leak=True), {**self._leak_params(), **self._spike_params()}

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = self._check_step(x, state)
        cfg, p = self.leaky()
        u = leaky_integrate(cfg, p, state["v"], x)
        z, u = leaky_fire(cfg, p, u)
        n = state["n"]
        hold = n > 0
        z = jnp.where(hold, jnp.zeros_like(z), z)
        v = jnp.where(hold, state["v"], u)
        n = jnp.where(z > 0, jnp.asarray(self.refractory, n.dtype), jnp.maximum(n - 1, 0))
        return z, {"v": v, "n": n}
