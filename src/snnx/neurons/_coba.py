"""Conductance-based leaky integrate-and-fire neuron: ``CobaLIF``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from snnx import _checks
from snnx import surrogate as _surrogate
from snnx.neurons._base import Neuron, make_parameter, resolve_trainable


class CobaLIF(Neuron):
    r"""Conductance-based LIF neuron: excitatory and inhibitory conductances pull ``v`` to their reversals.

    Discrete update, per step ``t`` (``x`` is this step's input; ``v`` on the
    right-hand side is the previous step's)::

        g_e = alpha_e * (g_e + max(x, 0))          # the positive part excites
        g_i = alpha_i * (g_i + max(-x, 0))         # the negative part inhibits
        v = v + (1 - beta) * (v_leak - v) + g_e * (e_e - v) + g_i * (e_i - v)
        z = v > threshold                          # strict, on the updated membrane
        v = v_reset        where z

    The sign of the input chooses the synapse, as in Norse: ``nnx.Linear(...)``
    then ``CobaLIF`` keeps the one-step contract (``x`` has the layer's shape), and
    the conductances are non-negative by construction. The conductances are per
    step (``g dt / C``, dimensionless) and are never reset. It is forward Euler at
    step ``dt`` of ``C dv/dt = g_L (v_leak - v) + g_e (e_e - v) + g_i (e_i - v)``,
    ``tau_e dg_e/dt = -g_e`` (and ``g_i``), with ``beta = 1 - dt g_L / C``,
    ``alpha_e = 1 - dt / tau_e``, ``alpha_i = 1 - dt / tau_i`` and ``x`` the
    conductance jump times ``dt / C``. ``v`` stays between the lowest and highest
    of ``v_leak``, ``e_i``, ``e_e`` (and its start) while ``(1 - beta) + g_e + g_i
    <= 1``; larger conductances overshoot (a forward-Euler limit, not clipped).
    ``init_state`` is the resting state ``v = v_leak``, ``g_e = g_i = 0``.

    Norse 1.1's ``coba_lif_feed_forward_step`` (``CobaLIFParameters``, step ``dt``)
    is this model with ``beta = 1 - dt * c_m_inv * g_l``, ``alpha_e = 1 - dt *
    tau_syn_exc_inv``, ``alpha_i = 1 - dt * tau_syn_inh_inv``, ``e_e = e_rev_E``,
    ``e_i = e_rev_I``, ``v_leak = v_rest``, ``threshold = v_thresh``, ``v_reset``,
    input ``x = dt * c_m_inv * input`` and conductances ``g = dt * c_m_inv *
    g_norse``. (Its ``CobaLIFCell`` steps with ``coba_lif_step``, which overwrites
    the input's conductance jump with the recurrent one, so its input is lost;
    that is not copied.)

    Output: ``z`` (0./1. spikes, surrogate gradient backward). State: ``{"v", "g_e", "g_i"}``.

    NIR: no NIR primitive (NIR's neurons take a current; a conductance multiplies
    the input by the membrane's distance to a reversal potential); ``to_nir`` refuses it.

    Args:
        shape: per-sample shape of the layer (int or tuple); ``None`` leaves it to
            :meth:`build` (``Sequential(..., input_shape=...)`` calls it).
        beta: membrane decay per step in [0, 1] (``1 - beta`` is the per-step leak
            conductance); scalar or per-unit.
        alpha_e: excitatory conductance decay per step in [0, 1].
        alpha_i: inhibitory conductance decay per step in [0, 1].
        threshold: firing threshold (mV); scalar or per-unit.
        v_leak: resting potential (mV; also the initial ``v``).
        v_reset: membrane value after a spike (mV).
        e_e: excitatory reversal potential (mV); must lie above ``e_i``.
        e_i: inhibitory reversal potential (mV).
        surrogate: spike function (name or :class:`snnx.surrogate.Surrogate`).
        trainable: ``False`` (default: all frozen), ``True`` (all of ``beta``,
            ``alpha_e``, ``alpha_i``, ``threshold``, ``v_leak``, ``v_reset``,
            ``e_e``, ``e_i`` learnt) or the names to learn.
        detach_reset: stop the gradient through the reset term.

    Example:
        >>> neuron = CobaLIF(3)                               # mV, decays for dt = 1 ms
        >>> state = neuron.init_state(batch_shape=2)          # v = v_leak = -60
        >>> z, state = neuron(jnp.array([[0.1, -0.1, 0.0]] * 2), state)

    References:
        Kuhn, Aertsen, Rotter (2004), "Neuronal integration of synaptic input in
        the fluctuation-driven regime", *J. Neurosci.* 24(10); Vogels, Abbott (2005),
        "Signal propagation and logic gating in networks of integrate-and-fire
        neurons", *J. Neurosci.* 25(46) (the default constants, at dt = 1 ms).
    """

    state_names = ("v", "g_e", "g_i")
    param_names = ("beta", "alpha_e", "alpha_i", "threshold", "v_leak", "v_reset", "e_e", "e_i")

    def __init__(
        self,
        shape: int | Sequence[int] | None = None,
        beta=0.95,
        alpha_e=0.8,
        alpha_i=0.9,
        threshold=-50.0,
        *,
        v_leak=-60.0,
        v_reset=-60.0,
        e_e=0.0,
        e_i=-80.0,
        surrogate: str | _surrogate.Surrogate | None = None,
        trainable: bool | Iterable[str] = False,
        detach_reset: bool = True,
    ):
        super().__init__(shape)
        learn = resolve_trainable(trainable, self.param_names)
        for name, value in (("beta", beta), ("alpha_e", alpha_e), ("alpha_i", alpha_i)):
            setattr(self, name, make_parameter(name, value, self.shape, name in learn, unit_interval=True))
        for name, value in (("v_leak", v_leak), ("e_e", e_e), ("e_i", e_i)):
            setattr(self, name, make_parameter(name, value, self.shape, name in learn))
        _reversal_order(self.e_e[...], self.e_i[...])
        self._init_spiking(
            learn, threshold, reset="zero", v_reset=v_reset, surrogate=surrogate, detach_reset=detach_reset
        )

    def init_state(self, batch_shape: int | Sequence[int] = ()) -> dict[str, jax.Array]:
        """The resting state ``v = v_leak``, ``g_e = g_i = 0``, of shape ``(*batch_shape, *self.shape)``."""
        state = super().init_state(batch_shape)
        state["v"] = state["v"] + self.v_leak[...]
        return state

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = self._check_step(x, state)
        beta = jnp.clip(self.beta[...], 0.0, 1.0)
        g_e = jnp.clip(self.alpha_e[...], 0.0, 1.0) * (state["g_e"] + jnp.maximum(x, 0.0))
        g_i = jnp.clip(self.alpha_i[...], 0.0, 1.0) * (state["g_i"] + jnp.maximum(-x, 0.0))
        v = state["v"]
        v = v + (1.0 - beta) * (self.v_leak[...] - v) + g_e * (self.e_e[...] - v) + g_i * (self.e_i[...] - v)
        z, v = self._fire(v)
        return z, {"v": v, "g_e": g_e, "g_i": g_i}


def _reversal_order(e_e, e_i) -> None:
    """``e_i < e_e`` everywhere (concrete values; traced ones are left alone)."""
    if isinstance(e_e, jax.core.Tracer) or isinstance(e_i, jax.core.Tracer):
        return
    e_e, e_i = np.broadcast_arrays(np.asarray(e_e, np.float64), np.asarray(e_i, np.float64))
    bad = ~(e_i < e_e)
    if np.any(bad):
        raise _checks.OptionError(
            f"`e_i` (inhibitory reversal potential) must lie below `e_e` (excitatory), got e_i = "
            f"{e_i[bad].ravel()[:4].tolist()} with e_e = {e_e[bad].ravel()[:4].tolist()}"
        )
