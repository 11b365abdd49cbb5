"""Sigma-delta neuron (Loihi 2 / Lava): integrate incoming deltas, send changes of the activation."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from snnx import _checks
from snnx.neurons._base import Neuron, make_parameter

ACTIVATIONS = ("relu", "identity")


class SigmaDelta(Neuron):
    r"""Sigma-delta neuron: integrate incoming deltas, emit the activation's change once it is large enough.

    Discrete update, per step ``t`` (``x`` is this step's input, a graded delta)::

        sigma = sigma + x                     # sigma: rebuild the sender's signal
        a     = relu(sigma)                   (activation="relu"; sigma for "identity")
        d     = a - sent                      # change not yet sent
        y     = d where |d| > threshold, else 0       # strict
        sent  = sent + y                      # what the receiver has summed so far

    Output: ``y``, graded (a real number or 0). State: ``{"sigma", "sent"}``.

    **No drift.** ``sent`` is exactly the running sum of the outputs (what a
    receiving sigma holds), and the residual ``a - sent`` stays in the state
    until it exceeds the threshold, so after every step
    ``|a - sum of outputs| <= threshold``: the error is bounded by the
    threshold and never accumulates. A scheme that quantises each step's
    change on its own, keeping no residual, drops every sub-threshold change
    for good and drifts without bound. ``threshold = 0`` sends every change:
    the receiver then holds ``a`` exactly (to rounding).

    **No leak.** The sigma is the exact inverse of the sender's delta coding: a
    sender emits ``a[t] - a[t-1]`` only because the receiver adds it to what it
    holds. A decay would make every receiver forget what it was sent while
    the sender, seeing no change, sends nothing, so the bound above would be
    lost; a leaky stage belongs in front, e.g. an ``LI`` neuron.

    **Inputs are deltas.** Drive a first sigma-delta layer with the changes of
    a signal, ``jnp.diff(x, axis=0, prepend=0)``; between two sigma-delta
    layers a bias-free linear map (``nnx.Linear(..., use_bias=False)``) keeps
    the deltas deltas (``W d`` are the changes of ``W a``); a bias would be
    integrated every step.

    **Gradient: straight-through.** The gate is treated as the identity
    backward: ``y = d + stop_gradient(gated - d)``, so ``dy/dd = 1`` and the
    receiver's sum backpropagates as if it were ``a`` itself (the gradient of
    the threshold is zero: it is a constant, not a learnt parameter).

    NIR: no primitive carries graded deltas with a residual; ``to_nir`` refuses it.

    Args:
        shape: per-sample shape of the layer (int or tuple), e.g. ``128`` or
            ``(28, 28, 16)`` for a channels-last feature map; ``None`` leaves it to
            :meth:`build` (``Sequential(..., input_shape=...)`` calls it).
        threshold: smallest change worth sending, ``>= 0``; scalar or per-unit (frozen).
        activation: ``"relu"`` (default, as in the papers) or ``"identity"``.

    Example:
        >>> neuron = SigmaDelta(2, threshold=0.5)
        >>> state = neuron.init_state()
        >>> y, state = neuron(jnp.array([0.3, 0.8]), state)   # a = [0.3, 0.8]
        >>> y.tolist()                                         # 0.3 waits, 0.8 is sent
        [0.0, 0.800000011920929]
        >>> y, state = neuron(jnp.array([0.3, 0.0]), state)   # a = [0.6, 0.8]
        >>> y.tolist()                                         # 0.6 - 0 > 0.5: sent in one piece
        [0.6000000238418579, 0.0]

    References:
        O'Connor & Welling (2016), "Sigma Delta Quantized Networks",
        arXiv:1611.02024; Yousefzadeh, Khoei, Hosseini, Holanda, Leroux,
        Moreira, Linares-Barranco, Serrano-Gotarredona, Linares-Barranco (2019),
        "Asynchronous spiking neurons, the natural key to exploit temporal
        sparsity", *IEEE JETCAS* 9(4); Lava's ``lava.proc.sdn`` (Loihi 2).
    """

    state_names = ("sigma", "sent")
    param_names = ("threshold",)

    def __init__(
        self,
        shape: int | Sequence[int] | None = None,
        threshold=0.1,
        *,
        activation: str = "relu",
    ):
        super().__init__(shape)
        self.threshold = make_parameter("threshold", threshold, self.shape, False)
        th = np.asarray(self.threshold[...])
        if np.any(th < 0):
            raise _checks.OptionError(
                "`threshold` must be >= 0 (the smallest change worth sending; 0 sends every change), "
                f"got {th[th < 0].ravel()[:4].tolist()}"
            )
        _checks.one_of("activation", activation, ACTIVATIONS)
        self.activation = activation

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = self._check_step(x, state)
        sigma = state["sigma"] + x
        a = jax.nn.relu(sigma) if self.activation == "relu" else sigma
        d = a - state["sent"]
        gated = jnp.where(jnp.abs(d) > self.threshold[...], d, jnp.zeros_like(d))
        y = d + jax.lax.stop_gradient(gated - d)
        return y, {"sigma": sigma, "sent": state["sent"] + y}
