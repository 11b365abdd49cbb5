"""The leaky family's one-step maths, written once: ``LIF``, ``LI``, ``IF``, ``RIF``, ``RLIF``.

These neurons share one update (the Norse split: a static configuration, a
dict of parameter arrays, and a pure step function)::

    u = beta * v + (1 - beta) * v_leak + x        (leak; u = v + x without)
    u = u + z_prev @ w_rec (+ b_rec)              (recurrent: the previous step's spikes)
    z = u > threshold                             (spiking; strict)
    v = v_reset where z | v - threshold where z | v     (reset "zero" | "subtract" | "none")

``LIF``'s two options (both off by default) change the step: lateral inhibition
keeps only the spike of the unit with the largest ``u - threshold`` of each
sample (the reset still acts on every unit that crossed), and graded spikes
output ``graded_spikes_factor * z``. The fused kernel computes neither, so a
layer with either is run by the scan path (:func:`fusion_refusal` says why).

Fixed-point membranes (``state_quant=FixedPoint(...)``, the grid ``Q`` of
:mod:`snnx.neurons._state_quant`, on ``LIF``, ``IF``, ``LI``, ``RIF``, ``RLIF``)
round the state, with a straight-through gradient; the fused kernel does not
round, so these layers too take the scan path::

    u = Q(beta * v + (1 - beta) * v_leak + x (+ z_prev @ w_rec (+ b_rec)))
    z = u > Q(threshold)
    v = Q(v_reset) where z | Q(u - Q(threshold)) where z | u     (reset "zero" | "subtract" | "none")

:func:`leaky_step` is what each neuron's ``__call__`` computes, and the fused
kernel of ``snnx.engine`` calls :func:`leaky_integrate` and :func:`leaky_fire`
in its forward loop, so the forward maths exists in this file only; the
kernel's backward pass is hand-written from the same equations.

The protocol the engine relies on: a neuron offers a fused kernel when
``layer.leaky()`` returns ``(LeakyConfig, params)``, its ``__call__`` is
:meth:`LeakyNeuron.__call__` (a subclass that changes the step opts out) and the
config asks for nothing the kernel lacks (:attr:`LeakyConfig.fused_refusal`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from snnx import surrogate as _surrogate
from snnx.neurons._base import Neuron
from snnx.neurons._state_quant import FixedPoint, check_option


@dataclasses.dataclass(frozen=True)
class LeakyConfig:
    """The static part of a leaky neuron's step (hashable).

    Args:
        leak: decay towards ``v_leak`` with ``beta`` (else a perfect integrator).
        spiking: threshold, spike and reset (else the output is the membrane).
        reset: ``"zero"`` (to ``v_reset``), ``"subtract"`` or ``"none"``.
        detach_reset: no gradient through the reset term.
        surrogate: the spike function (spiking neurons).
        recurrent: add ``z_prev @ w_rec (+ b_rec)``; the state is then ``{"v", "z"}``.
        graded: the output is ``graded_spikes_factor * z`` (``p["graded_spikes_factor"]``).
        inhibition_axes: lateral inhibition over the last ``inhibition_axes`` axes (the
            layer's units; 0: off): only the unit with the largest ``u - threshold`` spikes.
        state_quant: round the membrane to this fixed-point grid every step (``None``: off).
    """

    leak: bool
    spiking: bool
    reset: str = "none"
    detach_reset: bool = True
    surrogate: _surrogate.Surrogate | None = None
    recurrent: bool = False
    graded: bool = False
    inhibition_axes: int = 0
    state_quant: FixedPoint | None = None

    @property
    def state_names(self) -> tuple[str, ...]:
        return ("v", "z") if self.recurrent else ("v",)

    @property
    def fused_refusal(self) -> str | None:
        """Why the fused kernel cannot compute this step (``None``: it can)."""
        if self.inhibition_axes:
            return (
                "lateral inhibition (inhibition=True), which couples the units of a sample; "
                "the fused kernel steps each unit alone"
            )
        if self.graded:
            return "graded spikes (graded_spikes_factor), which the fused kernel does not compute"
        if self.state_quant is not None:
            return "fixed-point membranes (state_quant), which the fused kernel does not round"
        return None


def winner_mask(s: jax.Array, axes: int) -> jax.Array:
    """1. at the largest entry of ``s`` over its last ``axes`` axes (the first one on a tie), 0. elsewhere."""
    lead = s.shape[: s.ndim - axes]
    flat = jnp.reshape(s, (*lead, -1))
    mask = jax.nn.one_hot(jnp.argmax(flat, axis=-1), flat.shape[-1], dtype=s.dtype)
    return jax.lax.stop_gradient(jnp.reshape(mask, s.shape))


def leaky_integrate(cfg: LeakyConfig, p: dict, v: jax.Array, x: jax.Array, z_prev=None) -> jax.Array:
    """The membrane after this step's input, before the reset (``u``; on the grid with ``state_quant``).

    ``p``: ``beta`` (already clipped to [0, 1]) and ``v_leak`` with ``leak``;
    ``w_rec`` (and optionally ``b_rec``) with ``recurrent``.
    """
    u = p["beta"] * v + (1.0 - p["beta"]) * p["v_leak"] + x if cfg.leak else v + x
    if cfg.recurrent:
        r = jax.lax.dot_general(z_prev, p["w_rec"], (((z_prev.ndim - 1,), (0,)), ((), ())))
        if "b_rec" in p:
            r = r + jnp.reshape(p["b_rec"], (1,) * (r.ndim - 1) + (-1,))
        u = u + r
    return u if cfg.state_quant is None else cfg.state_quant(u)


def leaky_fire(cfg: LeakyConfig, p: dict, u: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Spikes (surrogate gradient) and the membrane after the reset; ``(u, u)`` when not spiking.

    With ``cfg.inhibition_axes`` only the winner's spike is kept; the reset acts
    on every unit that crossed the threshold. With ``cfg.state_quant`` (``Q``)
    the threshold and ``v_reset`` are put on the grid and a subtractive reset
    rounds again: ``Q(u - Q(threshold))``.
    """
    if not cfg.spiking:
        return u, u
    q = cfg.state_quant
    th = p["threshold"] if q is None else q(p["threshold"])
    z = cfg.surrogate(u - th)
    zr = jax.lax.stop_gradient(z) if cfg.detach_reset else z
    if cfg.inhibition_axes:
        z = z * winner_mask(u - th, cfg.inhibition_axes)
    if cfg.reset == "zero":
        v_reset = p["v_reset"] if q is None else q(p["v_reset"])
        return z, u * (1.0 - zr) + zr * v_reset
    if cfg.reset == "subtract":
        v = u - zr * th
        return z, (v if q is None else q(v))
    return z, u


def leaky_step(cfg: LeakyConfig, p: dict, state: dict, x: jax.Array) -> tuple[jax.Array, dict]:
    """One step: ``(output, new_state)``; the output is ``z`` (spiking) or ``u`` (not)."""
    u = leaky_integrate(cfg, p, state["v"], x, state.get("z"))
    y, v = leaky_fire(cfg, p, u)
    if cfg.graded:
        y = p["graded_spikes_factor"] * y
    return y, ({"v": v, "z": y} if cfg.recurrent else {"v": v})


class LeakyNeuron(Neuron):
    """Base of the leaky family: ``__call__`` is :func:`leaky_step` on :meth:`leaky`.

    Subclasses implement :meth:`leaky`; the engine then runs them with its
    fused kernel (see ``snnx.engine.Options.fused``).
    """

    state_quant: FixedPoint | None = None  # the neurons that offer the option set it in __init__

    def leaky(self) -> tuple[LeakyConfig, dict]:  # pragma: no cover - abstract
        """``(config, params)``: this neuron's step as data (decays clipped to [0, 1])."""
        raise NotImplementedError

    def _init_state_quant(self, state_quant) -> None:
        """Check and keep the ``state_quant`` option (after ``threshold`` is set, for a spiking neuron)."""
        threshold = self.threshold[...] if hasattr(self, "threshold") else None
        self.state_quant = check_option(state_quant, threshold)

    def _spiking_config(self, *, leak: bool, recurrent: bool = False) -> LeakyConfig:
        return LeakyConfig(
            leak=leak,
            spiking=True,
            reset=self.reset,
            detach_reset=self.detach_reset,
            surrogate=self.surrogate,
            recurrent=recurrent,
            state_quant=self.state_quant,
        )

    def _leak_params(self) -> dict:
        return {"beta": jnp.clip(self.beta[...], 0.0, 1.0), "v_leak": self.v_leak[...]}

    def _spike_params(self) -> dict:
        return {"threshold": self.threshold[...], "v_reset": self.v_reset[...]}

    def _recurrent_params(self) -> dict:
        lin = self.recurrent
        p = {"w_rec": lin.kernel[...]}
        if lin.use_bias:
            p["b_rec"] = lin.bias[...]
        return p

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = self._check_step(x, state)
        cfg, p = self.leaky()
        return leaky_step(cfg, p, state, x)


def fusion_refusal(layer) -> str | None:
    """Why the fused kernel cannot run ``layer`` (``None``: it can); the planner shows it in the plan."""
    name = type(layer).__name__
    if not isinstance(layer, LeakyNeuron):
        return f"{name} has no fused kernel (only the leaky family does)"
    if type(layer).__call__ is not LeakyNeuron.__call__:
        return f"{name} overrides the leaky step (__call__)"
    why = layer.leaky()[0].fused_refusal
    return None if why is None else f"{name} has {why}"


def fusable(layer) -> bool:
    """``layer`` follows the leaky protocol (:meth:`LeakyNeuron.leaky`, its step unchanged, no option
    the kernel lacks)."""
    return fusion_refusal(layer) is None
