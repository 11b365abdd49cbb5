"""Phase codes: real values <-> phasors <-> phases <-> spike times.

The phase convention, used everywhere in :mod:`snnx.phasor`: a phase lies in
``[-pi, pi)``; one cycle is ``period`` steps; a spike at step ``k`` of a cycle
(``k = 0, ..., period - 1``) encodes the grid phase ``2 pi k / period - pi``.
Step 0 is ``-pi``, step ``period / 2`` is phase 0.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from snnx import _checks

__all__ = [
    "phase_of",
    "phase_to_spikes",
    "phasor_to_real",
    "phasor_to_value",
    "real_to_phasor",
    "spikes_to_phase",
    "spikes_to_phasor",
]

_CANCEL = 1e-6  # a mean phasor below this (times the spike count) has no defined phase


def check_period(period, name: str = "period") -> int:
    """A cycle length: an int >= 1 (``OptionError`` naming the argument otherwise)."""
    return _checks.positive_int(name, period, what="a positive int (steps per cycle)")


def _real_array(name: str, value, what: str) -> jax.Array:
    arr = jnp.asarray(value)
    if jnp.issubdtype(arr.dtype, jnp.complexfloating):
        raise _checks.ArgumentTypeError(f"`{name}` must be real ({what}), got dtype {arr.dtype}")
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.float32)
    return arr


def _complex_array(name: str, value) -> jax.Array:
    arr = jnp.asarray(value)
    if not jnp.issubdtype(arr.dtype, jnp.complexfloating):
        raise _checks.ArgumentTypeError(
            f"`{name}` must be complex (phasors, e.g. from real_to_phasor), got dtype {arr.dtype}"
        )
    return arr


def wrap(phase: jax.Array) -> jax.Array:
    """Phases from ``jnp.angle`` (``(-pi, pi]``) moved into ``[-pi, pi)``: ``pi`` becomes ``-pi``."""
    pi = jnp.asarray(np.pi, phase.dtype)
    return jnp.where(phase >= pi, phase - 2 * pi, phase)


def grid(period: int) -> np.ndarray:
    """The ``period`` grid phases ``2 pi k / period - pi`` (float64 numpy, rounded once to float32)."""
    return (2 * np.pi * np.arange(period) / period - np.pi).astype(np.float32)


def grid_phasors(period: int) -> np.ndarray:
    """``exp(i * grid(period))`` as complex64, computed in float64 from the float32 grid phases."""
    return np.exp(1j * grid(period).astype(np.float64)).astype(np.complex64)


def step_of_phase(theta: jax.Array, period: int) -> jax.Array:
    """``k = floor((theta + pi) / (2 pi) * period + 1/2) mod period`` (int32): the nearest grid step.

    Computed as ``floor(theta * c + (period + 1) / 2)`` with ``c = period / (2 pi)``
    rounded once: exact at ``theta = 0`` (the tie ``period / 2`` for an odd period),
    and within a few ulp of the definition elsewhere.
    """
    u = theta * jnp.asarray(period / (2 * np.pi), theta.dtype) + jnp.asarray((period + 1) / 2, theta.dtype)
    return jnp.mod(jnp.floor(u).astype(jnp.int32), period)


def real_to_phasor(x: jax.Array, scale: float = np.pi) -> jax.Array:
    """Encode real values as unit phasors: ``z = exp(i * scale * x)``.

    Its inverse is :func:`phasor_to_value` (exact for ``-pi <= scale * x < pi``). With the
    default ``scale = pi``, inputs in ``[0, 1]`` fill the upper half circle.

    Args:
        x: real array of any shape.
        scale: radians per unit of ``x`` (a positive number).

    Returns:
        complex64 array of the shape of ``x``.

    Example:
        >>> z = real_to_phasor(jnp.array([0.0, 0.5]))   # [1, i]
    """
    scale = _checks.positive_number("scale", scale)
    x = _real_array("x", x, "values to encode")
    return jnp.exp(1j * (scale * x)).astype(jnp.complex64)


def phasor_to_real(z: jax.Array) -> jax.Array:
    """The real part ``Re(z)`` (the cosine of the phase for a unit phasor), e.g. for a real readout.

    This is not the inverse of :func:`real_to_phasor` (``cos`` folds ``x`` and
    ``-x`` together); :func:`phasor_to_value` is.

    Args:
        z: complex array of any shape.

    Returns:
        real array of the shape of ``z``.

    Example:
        >>> phasor_to_real(jnp.array([1j, -1 + 0j]))
        Array([ 0., -1.], dtype=float32)
    """
    return jnp.real(_complex_array("z", z))


def phase_of(z: jax.Array) -> jax.Array:
    """The phase of ``z`` in ``[-pi, pi)`` (``jnp.angle``, with ``pi`` moved to ``-pi``); 0 where ``z = 0``.

    Inverse of ``real_to_phasor(theta, scale=1)`` for ``theta`` in ``[-pi, pi)``. Not
    differentiable at ``z = 0``.

    Args:
        z: complex array of any shape.

    Returns:
        real array of the shape of ``z``.

    Example:
        >>> phase_of(jnp.array([1j, -1 + 0j]))   # [pi/2, -pi]
    """
    return wrap(jnp.angle(_complex_array("z", z)))


def phasor_to_value(z: jax.Array, scale: float = np.pi) -> jax.Array:
    """The inverse of :func:`real_to_phasor`: ``x = phase_of(z) / scale``.

    ``phasor_to_value(real_to_phasor(x, scale), scale) == x`` (to float rounding) for
    ``-pi < scale * x < pi``; outside, ``x`` comes back modulo ``2 pi / scale``. The
    magnitude of ``z`` is ignored (``z = 0`` gives 0).

    Args:
        z: complex array of any shape.
        scale: the ``scale`` the values were encoded with (a positive number).

    Returns:
        real array of the shape of ``z``.

    Example:
        >>> phasor_to_value(real_to_phasor(jnp.array([0.25, -0.5])))   # [0.25, -0.5]
    """
    scale = _checks.positive_number("scale", scale)
    return phase_of(z) / scale


def phase_to_spikes(theta: jax.Array, period: int, cycles: int = 1) -> jax.Array:
    """Encode phases as spike times: one spike per unit per cycle of ``period`` steps.

    Unit ``n`` spikes at step ``k = round((theta[n] + pi) / (2 pi) * period) mod period``
    of every cycle, where ``round(u) = floor(u + 1/2)`` (halves go to the later
    step). ``theta`` is taken modulo ``2 pi``, so ``pi`` (and anything just below it)
    lands on step 0, the step of ``-pi``. The code is exact on the grid phases
    ``2 pi k / period - pi`` and otherwise moves a phase by at most ``pi / period``.

    Args:
        theta: real phases of any shape ``(*units)``.
        period: steps per cycle (an int >= 1).
        cycles: how many identical cycles to emit (an int >= 1).

    Returns:
        float32 0/1 spike train of shape ``(cycles * period, *units)`` (time first).

    Example:
        >>> phase_to_spikes(jnp.array([-jnp.pi, 0.0]), period=4)[:, 1]   # phase 0: step 2
        Array([0., 0., 1., 0.], dtype=float32)
    """
    period = check_period(period)
    cycles = _checks.positive_int("cycles", cycles, what="a positive int (repetitions of the cycle)")
    theta = _real_array("theta", theta, "phases in radians")
    _checks.finite("theta", theta)
    return _encode(theta, period, cycles)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _encode(theta: jax.Array, period: int, cycles: int) -> jax.Array:
    k = step_of_phase(theta, period)
    one = (jnp.arange(period).reshape((period,) + (1,) * theta.ndim) == k).astype(jnp.float32)
    return jnp.tile(one, (cycles,) + (1,) * theta.ndim)


def _decode(spikes, period) -> tuple[jax.Array, jax.Array]:
    """``(phase, magnitude)`` of each unit of a spike train (see :func:`spikes_to_phasor`)."""
    s = _real_array("spikes", spikes, "a 0/1 spike train")
    if s.ndim < 1:
        raise _checks.ShapeError(f"`spikes` must have shape (T, *units) with time first, got {s.shape}")
    T = s.shape[0]
    period = T if period is None else check_period(period)
    if T == 0 or T % period:
        raise _checks.ShapeError(
            f"`spikes` must have a length (axis 0) that is a positive multiple of `period` (={period}) "
            f"steps, got {T} steps"
        )
    return _decode_cycles(s, period)


@functools.partial(jax.jit, static_argnums=1)
def _decode_cycles(s: jax.Array, period: int) -> tuple[jax.Array, jax.Array]:
    cycles = s.shape[0] // period
    counts = s.reshape((cycles, period, *s.shape[1:])).sum(axis=0)  # spikes at each step of the cycle
    phases, unit = grid(period), grid_phasors(period)
    shape = (period,) + (1,) * (counts.ndim - 1)
    re = jnp.sum(counts * unit.real.reshape(shape), axis=0)
    im = jnp.sum(counts * unit.imag.reshape(shape), axis=0)
    n = counts.sum(axis=0)
    size = jnp.hypot(re, im)
    one_step = jnp.sum(counts != 0, axis=0) == 1  # every spike at one step: that step's grid phase, exactly
    on_grid = jnp.asarray(phases)[jnp.argmax(counts != 0, axis=0)]
    phase = jnp.where(one_step, on_grid, wrap(jnp.arctan2(im, re)))
    defined = one_step | (size > _CANCEL * n)
    phase = jnp.where(defined, phase, 0.0)
    magnitude = jnp.where(one_step, n, jnp.where(defined, size, 0.0)) / cycles
    return phase.astype(s.dtype), magnitude.astype(s.dtype)


def spikes_to_phase(spikes: jax.Array, period: int | None = None) -> jax.Array:
    """Decode each unit's phase from its spike steps: the inverse of :func:`phase_to_spikes`.

    Each spike at step ``k`` of a cycle stands for the unit phasor of the grid
    phase ``2 pi k / period - pi``; the decoded phase is the angle of their sum
    over all spikes and cycles (the circular mean), in ``[-pi, pi)``. A unit
    whose spikes all fall on one step decodes to that step's grid phase exactly,
    so ``spikes_to_phase(phase_to_spikes(theta, P), P) == theta`` on the grid and
    lies within ``pi / P`` of ``theta`` (on the circle) otherwise.

    A **silent** unit, or one whose spikes cancel (a mean phasor of 0), has no
    phase: it decodes to 0 here, and :func:`spikes_to_phasor` reports it with
    magnitude 0, which is how to tell it from a unit at phase 0.

    Args:
        spikes: spike train of shape ``(T, *units)``, time first; 0/1 values (other
            values weight their step).
        period: steps per cycle; ``T`` must be a multiple of it. ``None``: ``T``
            (one cycle).

    Returns:
        phases of shape ``(*units)``, in ``[-pi, pi)``.

    Example:
        >>> theta = jnp.array([-jnp.pi, 0.0, jnp.pi / 2])
        >>> spikes_to_phase(phase_to_spikes(theta, 8, cycles=2), 8)   # == theta
    """
    return _decode(spikes, period)[0]


def spikes_to_phasor(spikes: jax.Array, period: int | None = None) -> jax.Array:
    """Decode each unit as a phasor ``m * exp(i * phase)``: magnitude 0 marks a silent unit.

    ``phase`` is :func:`spikes_to_phase`'s. ``m`` is the length of the summed
    spike phasors divided by the number of cycles: 1 for one spike per cycle at
    a fixed step, less when the spike steps disagree, and exactly 0 for a unit
    that never spikes (or whose spikes cancel). This is the decoder to use where
    silence matters, e.g. to read the output of :class:`SpikingPhasor`.

    Args:
        spikes: spike train of shape ``(T, *units)``, time first; 0/1 values.
        period: steps per cycle; ``T`` must be a multiple of it. ``None``: ``T``
            (one cycle).

    Returns:
        complex64 phasors of shape ``(*units)``.

    Example:
        >>> spikes = phase_to_spikes(jnp.zeros(2), 4).at[:, 1].set(0.0)   # unit 1 silent
        >>> spikes_to_phasor(spikes)   # [1, 0]
    """
    phase, magnitude = _decode(spikes, period)
    return jax.lax.complex(magnitude * jnp.cos(phase), magnitude * jnp.sin(phase)).astype(jnp.complex64)
