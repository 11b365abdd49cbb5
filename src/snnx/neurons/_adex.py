"""Exponential and adaptive-exponential integrate-and-fire neurons: ``ExpLIF`` and ``AdEx``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from snnx import surrogate as _surrogate
from snnx.neurons._base import Neuron, make_parameter, resolve_trainable

#: The exponent of the spike-initiation term is capped here (exp(20) ~ 4.9e8), so float32 stays finite.
EXP_CAP = 20.0
#: A learnt ``delta_t`` is kept at or above this (a constant must be > 0).
DELTA_T_FLOOR = 1e-6


def positive(name: str, var, what: str) -> None:
    """Check every value of a concrete parameter is > 0; traced values are left alone."""
    value = var[...]
    if isinstance(value, jax.core.Tracer):
        return
    arr = np.asarray(value, dtype=np.float64)
    if np.any(arr <= 0):
        raise ValueError(f"`{name}` must be > 0 ({what}), got {arr[arr <= 0].ravel()[:4].tolist()}")


def exp_term(v: jax.Array, v_th: jax.Array, delta_t: jax.Array) -> jax.Array:
    """``delta_t * exp(min((v - v_th) / delta_t, EXP_CAP))`` with ``delta_t`` kept >= ``DELTA_T_FLOOR``."""
    delta_t = jnp.maximum(delta_t, DELTA_T_FLOOR)
    return delta_t * jnp.exp(jnp.minimum((v - v_th) / delta_t, EXP_CAP))


class _Exponential(Neuron):
    """What ``ExpLIF`` and ``AdEx`` share: the exponential's parameters, the threshold default, rest state."""

    def _init_exponential(
        self, learn, beta, threshold, v_th, delta_t, v_leak, v_reset, surrogate, detach_reset
    ) -> None:
        self.beta = make_parameter("beta", beta, self.shape, "beta" in learn, unit_interval=True)
        self.v_th = make_parameter("v_th", v_th, self.shape, "v_th" in learn)
        self.delta_t = make_parameter("delta_t", delta_t, self.shape, "delta_t" in learn)
        positive("delta_t", self.delta_t, "the slope factor of the exponential, in units of v")
        self.v_leak = make_parameter("v_leak", v_leak, self.shape, "v_leak" in learn)
        if threshold is None:
            threshold = self.v_th[...] + 5.0 * self.delta_t[...]
        self._init_spiking(
            learn, threshold, reset="zero", v_reset=v_reset, surrogate=surrogate, detach_reset=detach_reset
        )

    def init_state(self, batch_shape: int | Sequence[int] = ()) -> dict[str, jax.Array]:
        """The resting state: ``v = v_leak`` (and ``w = 0``), of shape ``(*batch_shape, *self.shape)``."""
        state = super().init_state(batch_shape)
        state["v"] = state["v"] + self.v_leak[...]
        return state

    def _membrane(self, x: jax.Array, v: jax.Array, w) -> jax.Array:
        """``beta * v + (1 - beta) * (v_leak + e - w) + x`` (``e`` on the previous ``v``)."""
        beta = jnp.clip(self.beta[...], 0.0, 1.0)
        e = exp_term(v, self.v_th[...], self.delta_t[...])
        return beta * v + (1.0 - beta) * (self.v_leak[...] + e - w) + x


class ExpLIF(_Exponential):
    r"""Exponential integrate-and-fire neuron: a LIF with an exponential spike-initiation current.

    Discrete update, per step ``t`` (``x`` is this step's input)::

        e = delta_t * exp(min((v - v_th) / delta_t, 20))     # on the previous v
        v = beta * v + (1 - beta) * (v_leak + e) + x
        z = v > threshold                                    # strict, on the updated membrane
        v = v_reset        where z

    It is forward Euler at step ``dt`` of ``tau_m dv/dt = v_leak - v +
    delta_t exp((v - v_th) / delta_t) + R I`` with ``beta = 1 - dt / tau_m`` and
    the input ``x = (dt / tau_m) R I`` added as it is (unit gain, as every snnx
    neuron). Near ``v_th`` the exponential takes over and ``v`` runs away;
    ``threshold`` is the cut-off where that run-away counts as a spike (default
    ``v_th + 5 delta_t``). The cap on the exponent only matters once ``v`` is
    more than ``20 delta_t`` above ``v_th``, where the term already pushes ``v``
    past any practical cut-off in one step: spikes and resets are unchanged, and
    float32 (gradients included) stays finite. A learnt ``delta_t`` is kept at
    or above 1e-6. ``init_state`` is the resting state ``v = v_leak``.

    Norse 1.1's ``LIFEx`` (``LIFExParameters``, step ``dt``) is this model with
    ``beta = 1 - dt * tau_mem_inv``, ``v_th = v_th``, ``delta_t = delta_T``,
    ``threshold = v_th`` (Norse spikes at ``v_th`` itself), ``v_leak``,
    ``v_reset``, and input ``x = dt * tau_mem_inv * i``; Norse's synaptic current
    ``i`` (decay ``1 - dt * tau_syn_inv``) is an ``LI`` with that ``beta`` in front.

    Output: ``z`` (0./1. spikes, surrogate gradient backward). State: ``{"v"}``.

    NIR: no NIR primitive (the exponential term has none); ``to_nir`` refuses it.

    Args:
        shape: per-sample shape of the layer (int or tuple); ``None`` leaves it to
            :meth:`build` (``Sequential(..., input_shape=...)`` calls it).
        beta: membrane decay per step in [0, 1]; scalar or per-unit.
        threshold: spike cut-off on the updated membrane; ``None`` (default) is
            ``v_th + 5 * delta_t``; scalar or per-unit.
        v_th: centre of the exponential (rheobase threshold), in units of ``v``.
        delta_t: slope factor of the exponential, ``> 0``, in units of ``v``.
        v_leak: resting potential (and the initial ``v``).
        v_reset: membrane value after a spike.
        surrogate: spike function (name or :class:`snnx.surrogate.Surrogate`).
        trainable: ``False`` (default: all frozen), ``True`` (all of ``beta``,
            ``threshold``, ``v_th``, ``delta_t``, ``v_leak``, ``v_reset`` learnt)
            or the names to learn.
        detach_reset: stop the gradient through the reset term.

    Example:
        >>> neuron = ExpLIF(3, beta=0.9, v_th=1.0, delta_t=0.5)
        >>> state = neuron.init_state(batch_shape=2)
        >>> z, state = neuron(jnp.full((2, 3), 0.3), state)

    References:
        Fourcaud-Trocmé, Hansel, van Vreeswijk, Brunel (2003), "How spike
        generation mechanisms determine the neuronal response to fluctuating
        inputs", *J. Neurosci.* 23(37).
    """

    state_names = ("v",)
    param_names = ("beta", "threshold", "v_th", "delta_t", "v_leak", "v_reset")

    def __init__(
        self,
        shape: int | Sequence[int] | None = None,
        beta=0.9,
        threshold=None,
        *,
        v_th=1.0,
        delta_t=0.5,
        v_leak=0.0,
        v_reset=0.0,
        surrogate: str | _surrogate.Surrogate | None = None,
        trainable: bool | Iterable[str] = False,
        detach_reset: bool = True,
    ):
        super().__init__(shape)
        learn = resolve_trainable(trainable, self.param_names)
        self._init_exponential(
            learn, beta, threshold, v_th, delta_t, v_leak, v_reset, surrogate, detach_reset
        )

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = self._check_step(x, state)
        z, v = self._fire(self._membrane(x, state["v"], 0.0))
        return z, {"v": v}


class AdEx(_Exponential):
    r"""Adaptive exponential integrate-and-fire neuron (Brette & Gerstner 2005).

    Discrete update, per step ``t`` (``x`` is this step's input; ``v``, ``w`` on
    the right-hand sides are the previous step's)::

        e = delta_t * exp(min((v - v_th) / delta_t, 20))
        w_new = gamma * w + (1 - gamma) * a * (v - v_leak)
        v = beta * v + (1 - beta) * (v_leak + e - w) + x
        z = v > threshold                                    # strict, on the updated membrane
        v = v_reset        where z
        w = w_new + b * z

    It is forward Euler at step ``dt`` of ``tau_m dv/dt = v_leak - v + delta_t
    exp((v - v_th) / delta_t) - R w + R I`` and ``tau_w dw/dt = a (v - v_leak) - w``
    (``w`` in units of ``v``, i.e. the paper's ``R w`` with ``R = 1 / g_L``):
    ``beta = 1 - dt / tau_m``, ``gamma = 1 - dt / tau_w``, ``a = a_paper / g_L``,
    ``b = b_paper / g_L`` and the input ``x = (dt / tau_m) R I = dt I / C`` added
    as it is (unit gain). ``a = b = 0`` is :class:`ExpLIF`. The exponent's cap
    and ``delta_t``'s floor are as in :class:`ExpLIF`. ``init_state`` is the
    resting state ``v = v_leak``, ``w = 0``. With ``detach_reset`` neither the
    reset of ``v`` nor the jump ``b * z`` carries gradient through ``z``.

    Norse 1.1's ``LIFAdEx`` (``LIFAdExParameters``, step ``dt``) is this model,
    in the same update order, with ``beta = 1 - dt * tau_mem_inv``, ``gamma = 1 -
    dt * tau_ada_inv``, ``a = adaptation_current``, ``b = adaptation_spike``,
    ``delta_t = delta_T``, ``threshold = v_th`` (Norse spikes at ``v_th`` itself),
    ``v_th``, ``v_leak``, ``v_reset``, and input ``x = dt * tau_mem_inv * i``;
    Norse's synaptic current ``i`` is an ``LI`` with ``beta = 1 - dt * tau_syn_inv``
    in front.

    Output: ``z`` (0./1. spikes, surrogate gradient backward). State: ``{"v", "w"}``.

    NIR: no NIR primitive (neither the exponential nor the adaptation current);
    ``to_nir`` refuses it.

    Args:
        shape: per-sample shape of the layer (int or tuple); ``None`` leaves it to
            :meth:`build` (``Sequential(..., input_shape=...)`` calls it).
        beta: membrane decay per step in [0, 1]; scalar or per-unit.
        gamma: adaptation decay per step in [0, 1]; scalar or per-unit.
        threshold: spike cut-off on the updated membrane; ``None`` (default) is
            ``v_th + 5 * delta_t``; scalar or per-unit.
        a: subthreshold adaptation, ``a_paper / g_L`` (dimensionless; may be negative).
        b: jump of ``w`` at each spike, in units of ``v``.
        v_th: centre of the exponential (rheobase threshold), in units of ``v``.
        delta_t: slope factor of the exponential, ``> 0``, in units of ``v``.
        v_leak: resting potential (and the initial ``v``).
        v_reset: membrane value after a spike.
        surrogate: spike function (name or :class:`snnx.surrogate.Surrogate`).
        trainable: ``False`` (default: all frozen), ``True`` (all of ``beta``,
            ``gamma``, ``threshold``, ``a``, ``b``, ``v_th``, ``delta_t``,
            ``v_leak``, ``v_reset`` learnt) or the names to learn.
        detach_reset: stop the gradient through the reset and the jump of ``w``.

    Example:
        >>> neuron = AdEx(3, beta=0.9, gamma=0.99, a=0.1, b=0.1)
        >>> state = neuron.init_state(batch_shape=2)
        >>> z, state = neuron(jnp.full((2, 3), 0.3), state)

    References:
        Brette, Gerstner (2005), "Adaptive exponential integrate-and-fire model
        as an effective description of neuronal activity", *J. Neurophysiol.* 94.
    """

    state_names = ("v", "w")
    param_names = ("beta", "gamma", "threshold", "a", "b", "v_th", "delta_t", "v_leak", "v_reset")

    def __init__(
        self,
        shape: int | Sequence[int] | None = None,
        beta=0.9,
        gamma=0.99,
        threshold=None,
        *,
        a=0.1,
        b=0.1,
        v_th=1.0,
        delta_t=0.5,
        v_leak=0.0,
        v_reset=0.0,
        surrogate: str | _surrogate.Surrogate | None = None,
        trainable: bool | Iterable[str] = False,
        detach_reset: bool = True,
    ):
        super().__init__(shape)
        learn = resolve_trainable(trainable, self.param_names)
        self.gamma = make_parameter("gamma", gamma, self.shape, "gamma" in learn, unit_interval=True)
        self.a = make_parameter("a", a, self.shape, "a" in learn)
        self.b = make_parameter("b", b, self.shape, "b" in learn)
        self._init_exponential(
            learn, beta, threshold, v_th, delta_t, v_leak, v_reset, surrogate, detach_reset
        )

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = self._check_step(x, state)
        v, w = state["v"], state["w"]
        gamma = jnp.clip(self.gamma[...], 0.0, 1.0)
        w_new = gamma * w + (1.0 - gamma) * self.a[...] * (v - self.v_leak[...])
        z, v = self._fire(self._membrane(x, v, w))
        zr = jax.lax.stop_gradient(z) if self.detach_reset else z
        return z, {"v": v, "w": w_new + self.b[...] * zr}
