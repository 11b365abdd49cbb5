"""Current-based (two-state) leaky neurons: ``CuBaLIF`` and its non-spiking ``CuBaLI``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import jax
import jax.numpy as jnp

from snnx import surrogate as _surrogate
from snnx.neurons._base import Neuron, make_parameter, resolve_trainable
from snnx.neurons._leaky import LeakyConfig, leaky_fire
from snnx.neurons._state_quant import FixedPoint, check_option


def _current_and_membrane(alpha, beta, v_leak, x, state, q: FixedPoint | None):
    """``i = alpha i + x``; ``v = beta v + (1 - beta) v_leak + i`` with the new ``i``; each rounded
    by ``q`` unless it is None."""
    alpha = jnp.clip(alpha, 0.0, 1.0)
    beta = jnp.clip(beta, 0.0, 1.0)
    i = alpha * state["i"] + x
    if q is not None:
        i = q(i)
    v = beta * state["v"] + (1.0 - beta) * v_leak + i
    return i, (v if q is None else q(v))


class CuBaLIF(Neuron):
    r"""Current-based leaky integrate-and-fire neuron (synaptic current ``i``, membrane ``v``).

    Discrete update, per step ``t`` (``x`` is this step's input)::

        i = alpha * i + x
        v = beta * v + (1 - beta) * v_leak + i       # uses the new i
        z = v > threshold                            # strict, on the updated membrane
        v = v_reset        where z                   (reset="zero")
        v = v - threshold  where z                   (reset="subtract")
        (no change)                                  (reset="none")

    The current ``i`` is never reset. ``alpha = 0`` gives a LIF neuron.

    With ``state_quant=FixedPoint(bits, lo, hi)`` (``Q``: round to the grid, half
    to even, and clip; straight-through gradient) both states are stored in
    fixed point on the same grid::

        i = Q(alpha * i + x)
        v = Q(beta * v + (1 - beta) * v_leak + i)
        z = v > Q(threshold)
        v = Q(v_reset)            where z             (reset="zero")
        v = Q(v - Q(threshold))   where z             (reset="subtract")

    Output: ``z`` (0./1. spikes, surrogate gradient backward). State: ``{"i", "v"}``.

    NIR: ``nir.CubaLIF`` with ``tau_syn = dt / (1 - alpha)``, ``w_in = tau_syn / dt``,
    ``tau_mem = dt / (1 - beta)``, ``r = tau_mem / dt`` (unit gains), ``v_leak``,
    ``v_threshold = threshold``, ``v_reset``. Subtractive reset has no NIR form
    (exported as reset-to-value with a warning).

    Args:
        shape: per-sample shape of the layer (int or tuple), e.g. ``128`` or
            ``(28, 28, 16)`` for a channels-last feature map; ``None`` leaves it to
            :meth:`build` (``Sequential(..., input_shape=...)`` calls it).
        alpha: synaptic-current decay per step in [0, 1]; scalar or per-unit.
        beta: membrane decay per step in [0, 1]; scalar or per-unit.
        threshold: firing threshold; scalar or per-unit.
        reset: ``"zero"`` (to ``v_reset``), ``"subtract"`` or ``"none"``.
        v_reset: value after a ``"zero"`` reset.
        v_leak: resting potential the membrane decays towards (default 0).
        surrogate: spike function (name or :class:`snnx.surrogate.Surrogate`).
        trainable: ``False`` (default: all frozen), ``True`` (all of
            ``alpha``, ``beta``, ``threshold``, ``v_leak``, ``v_reset`` learnt)
            or the names to learn.
        detach_reset: stop the gradient through the reset term.
        state_quant: ``None`` (default: float state) or a
            :class:`snnx.neurons.FixedPoint`: ``i`` and ``v`` are kept on its grid (see above).

    Example:
        >>> neuron = CuBaLIF(3, alpha=0.8, beta=0.9)
        >>> state = neuron.init_state(batch_shape=2)
        >>> z, state = neuron(jnp.ones((2, 3)), state)

    References:
        Zenke & Vogels (2021), "The remarkable robustness of surrogate gradient
        learning...", *Neural Computation* 33(4).
    """

    state_names = ("i", "v")
    param_names = ("alpha", "beta", "threshold", "v_leak", "v_reset")

    def __init__(
        self,
        shape: int | Sequence[int] | None = None,
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
        state_quant: FixedPoint | None = None,
    ):
        super().__init__(shape)
        learn = resolve_trainable(trainable, self.param_names)
        self.alpha = make_parameter("alpha", alpha, self.shape, "alpha" in learn, unit_interval=True)
        self.beta = make_parameter("beta", beta, self.shape, "beta" in learn, unit_interval=True)
        self.v_leak = make_parameter("v_leak", v_leak, self.shape, "v_leak" in learn)
        self._init_spiking(
            learn, threshold, reset=reset, v_reset=v_reset, surrogate=surrogate, detach_reset=detach_reset
        )
        self.state_quant = check_option(state_quant, self.threshold[...])

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = self._check_step(x, state)
        q = self.state_quant
        i, v = _current_and_membrane(self.alpha[...], self.beta[...], self.v_leak[...], x, state, q)
        # the leaky family's spike and reset (with q: threshold, v_reset and the reset on the grid)
        cfg = LeakyConfig(
            leak=True, spiking=True, reset=self.reset, detach_reset=self.detach_reset,
            surrogate=self.surrogate, state_quant=q,
        )  # fmt: skip
        z, v = leaky_fire(cfg, {"threshold": self.threshold[...], "v_reset": self.v_reset[...]}, v)
        return z, {"i": i, "v": v}


class CuBaLI(Neuron):
    r"""Current-based leaky integrator: :class:`CuBaLIF` without threshold, a readout.

    Discrete update, per step ``t`` (``x`` is this step's input)::

        i = alpha * i + x
        v = beta * v + (1 - beta) * v_leak + i       # uses the new i

    No spike, no reset. Output: ``v``. State: ``{"i", "v"}``. With
    ``state_quant`` (``Q``, as in :class:`CuBaLIF`) both lines are rounded:
    ``i = Q(alpha * i + x)``, ``v = Q(beta * v + (1 - beta) * v_leak + i)``.

    NIR: ``nir.CubaLI`` with ``tau_syn = dt / (1 - alpha)``, ``w_in = tau_syn / dt``,
    ``tau_mem = dt / (1 - beta)``, ``r = tau_mem / dt``, ``v_leak``.

    Args:
        shape: per-sample shape of the layer (int or tuple); ``None`` leaves it to
            :meth:`build` (``Sequential(..., input_shape=...)`` calls it).
        alpha: synaptic-current decay per step in [0, 1]; scalar or per-unit.
        beta: membrane decay per step in [0, 1]; scalar or per-unit.
        v_leak: resting potential the membrane decays towards (default 0).
        trainable: ``False`` (default: all frozen), ``True`` (``alpha``,
            ``beta``, ``v_leak`` learnt) or the names to learn.
        state_quant: ``None`` (default: float state) or a
            :class:`snnx.neurons.FixedPoint`: ``i`` and ``v`` are kept on its grid (see above).

    Example:
        >>> readout = CuBaLI(10, alpha=0.8, beta=0.9)
        >>> state = readout.init_state(batch_shape=2)
        >>> v, state = readout(jnp.ones((2, 10)), state)

    References:
        Zenke & Vogels (2021), *Neural Computation* 33(4).
    """

    state_names = ("i", "v")
    param_names = ("alpha", "beta", "v_leak")

    def __init__(
        self,
        shape: int | Sequence[int] | None = None,
        alpha=0.8,
        beta=0.9,
        *,
        v_leak=0.0,
        trainable: bool | Iterable[str] = False,
        state_quant: FixedPoint | None = None,
    ):
        super().__init__(shape)
        learn = resolve_trainable(trainable, self.param_names)
        self.alpha = make_parameter("alpha", alpha, self.shape, "alpha" in learn, unit_interval=True)
        self.beta = make_parameter("beta", beta, self.shape, "beta" in learn, unit_interval=True)
        self.v_leak = make_parameter("v_leak", v_leak, self.shape, "v_leak" in learn)
        self.state_quant = check_option(state_quant)

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = self._check_step(x, state)
        q = self.state_quant
        i, v = _current_and_membrane(self.alpha[...], self.beta[...], self.v_leak[...], x, state, q)
        return v, {"i": i, "v": v}
