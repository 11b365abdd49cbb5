"""``SpikingPhasor``: a phasor layer that takes and emits phase-coded spikes, one step at a time."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from snnx import _checks
from snnx._params import make_parameter
from snnx.phasor._codes import check_period, grid_phasors, step_of_phase
from snnx.phasor._layers import PhasorLinear

STATE = ("q", "p", "t")


class SpikingPhasor(nnx.Module):
    r"""A :class:`PhasorLinear` on spike times: integrate one cycle, fire in the next.

    Input and output are 0/1 spike trains in the phase code of
    :func:`phase_to_spikes` with cycle length ``period = P``: a spike at step
    ``k`` of a cycle stands for the unit phasor ``exp(i rho_k)``,
    ``rho_k = 2 pi k / P - pi``. Cycles start at step 0 of the state from
    :meth:`init_state`.

    Discrete update, per step (``x`` are this step's input spikes, ``W``/``b``
    the complex kernel and bias of ``linear``, ``t`` counts steps from 0)::

        k = t mod P                                   # step within the cycle
        p = q            where k == 0                 # latch the finished cycle
        q = (b if k == 0 else q) + (x @ W) * exp(i rho_k)
        phi = angle(p)                                # in [-pi, pi)
        z = (|p| > threshold) and (k == floor((phi + pi) / (2 pi) * P + 1/2) mod P)
        t = t + 1

    ``q`` integrates the cycle in progress; at the start of the next cycle it
    becomes ``p``, which is then emitted as one spike per unit at the step of
    its phase, exactly as ``phase_to_spikes(angle(p), P)`` would. Seen from the
    lab frame, ``v_t = p * exp(-i rho_k)`` is a resonator rotating by
    ``exp(-2 pi i / P)`` per step, and the unit fires when the phase of ``v``
    crosses the reference phase 0 (lies in ``[-pi/P, pi/P)``) with
    ``|v| > threshold``; the per-cycle latch keeps ``|v|`` bounded.

    So, with one input spike per unit per cycle at phases ``theta`` (any
    silent input contributing 0), the cycle after it emits
    ``phase_to_spikes(angle(W e^{i theta} + b), P)`` for every unit with
    ``|W e^{i theta} + b| > threshold`` and nothing for the others: the phases
    of :class:`PhasorActivation` ``(linear(e^{i theta}))`` rounded to the
    grid (error at most ``pi / P``). **Latency: one cycle** (``P`` steps) per
    layer; the first cycle is silent. The output spikes carry no gradient (spike
    times are not differentiable): train the complex network, then deploy its
    weights here.

    Output: float32 0/1 spikes ``(*batch, out_features)``.
    State: ``{"q": complex64, "p": complex64}`` of shape ``(*batch, out_features)``
    and ``{"t": int32}`` of shape ``(*batch,)``.

    NIR: not exportable (complex state and weights).

    Args:
        linear: the :class:`PhasorLinear` whose weights (and bias) are used; shared, not copied.
        period: steps per cycle ``P`` (an int >= 1).
        threshold: magnitude ``|p|`` a unit must exceed to fire (>= 0); scalar or
            per output unit. Frozen (:class:`snnx.Const`).

    Example:
        >>> layer = SpikingPhasor(PhasorLinear(4, 3, rngs=nnx.Rngs(0)), period=8)
        >>> x = phase_to_spikes(jnp.zeros((2, 4)), 8, cycles=3)   # (24, 2, 4)
        >>> out, state = snnx.run(layer, x)                     # (24, 2, 3)
        >>> phases = spikes_to_phase(out[8:16], 8)             # the second cycle

    References:
        Frady & Sommer (2019), "Robust computation with rhythmic spike patterns", PNAS 116(36);
        Bybee, Frady & Sommer (2022), "Deep learning in spiking phasor neural networks", arXiv:2204.00507.
    """

    def __init__(self, linear: PhasorLinear, period: int, threshold=0.0):
        _checks.instance_of("linear", linear, PhasorLinear, "a snnx.phasor.PhasorLinear")
        self.linear = linear
        self.period = check_period(period)
        self.threshold = make_parameter("threshold", threshold, (linear.out_features,), False)
        th = self.threshold[...]
        if not isinstance(th, jax.core.Tracer) and np.any(np.asarray(th) < 0):
            bad = np.asarray(th)[np.asarray(th) < 0].ravel()[:4].tolist()
            raise _checks.OptionError(f"`threshold` must be >= 0 (a magnitude), got {bad}")

    @property
    def in_features(self) -> int:
        """Number of input units."""
        return self.linear.in_features

    @property
    def out_features(self) -> int:
        """Number of output units."""
        return self.linear.out_features

    def init_state(self, batch_shape: int | Sequence[int] = ()) -> dict[str, jax.Array]:
        """Zero state at the start of a cycle (``q``, ``p``: ``(*batch_shape, out_features)``; ``t``)."""
        batch = _checks.batch_tuple("batch_shape", batch_shape)
        full = (*batch, self.out_features)
        return {
            "q": jnp.zeros(full, jnp.complex64),
            "p": jnp.zeros(full, jnp.complex64),
            "t": jnp.zeros(batch, jnp.int32),
        }

    def _check(self, x, state) -> jax.Array:
        x = jnp.asarray(x)
        if jnp.issubdtype(x.dtype, jnp.complexfloating):
            raise _checks.ArgumentTypeError(
                f"`x` must be real 0/1 spikes in the phase code (phase_to_spikes), got dtype {x.dtype}"
            )
        _checks.trailing_shape("x", x, (self.in_features,))
        if not isinstance(state, dict) or set(state) != set(STATE):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(
                f"`state` must be a dict with keys {list(STATE)} (from SpikingPhasor.init_state), got {got}"
            )
        if tuple(jnp.shape(state["t"])) != tuple(x.shape[:-1]):
            raise _checks.ShapeError(
                f"`x` must have the batch shape of the state {tuple(jnp.shape(state['t']))}, "
                f"got {tuple(x.shape)}"
            )
        return x

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        """One step: spikes ``x`` of shape ``(*batch, in_features)`` -> spikes ``(*batch, out_features)``."""
        x = self._check(x, state)
        k = jnp.mod(state["t"], self.period)[..., None]
        start = k == 0
        drive = (x.astype(jnp.complex64) @ self.linear.kernel) * jnp.asarray(grid_phasors(self.period))[k]
        p = jnp.where(start, state["q"], state["p"])
        q = jnp.where(start, self.linear.bias, state["q"]) + drive
        held = jax.lax.stop_gradient(p)
        phi = jnp.angle(held)
        fire = (jnp.abs(held) > self.threshold[...]) & (step_of_phase(phi, self.period) == k)
        return fire.astype(jnp.float32), {"q": q, "p": p, "t": state["t"] + 1}
