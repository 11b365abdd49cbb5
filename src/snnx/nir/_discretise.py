"""The one place where ``dt`` meets the maths: per-step decays <-> NIR time constants.

NIR describes neurons by ODEs such as ``tau dv/dt = v_leak - v + r x``. snnx
steps them with forward Euler at step ``dt`` (see docs/nir-semantics.md), which gives

    v[t] = beta v[t-1] + (1 - beta) v_leak + (r dt / tau) x[t],  beta = 1 - dt / tau.

So a snnx decay ``beta`` (unit input gain) is written as ``tau = dt / (1 - beta)``
with ``r = tau / dt``, and read back as ``beta = 1 - dt / tau`` with an input
gain ``r dt / tau``. ``beta = 1`` has no finite ``tau``: it is an integrator
(``nir.I`` / ``nir.IF``), never ``tau = inf``.
"""

from __future__ import annotations

import numpy as np


def check_dt(dt) -> float:
    """``dt`` must be a positive finite number (it is never stored in a NIR file)."""
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.floating, np.integer)):
        raise TypeError(f"`dt` must be a positive number (seconds per step), got {dt!r}")
    dt = float(dt)
    if not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"`dt` must be a positive finite number (seconds per step), got {dt!r}")
    return dt


def clip_decay(decay) -> np.ndarray:
    """Decays live in [0, 1] (the neurons clip them the same way every step)."""
    return np.clip(np.asarray(decay, dtype=np.float64), 0.0, 1.0)


def tau_from_decay(decay, dt: float) -> np.ndarray:
    """``tau = dt / (1 - decay)`` for decays in [0, 1) (the caller handles decay == 1)."""
    decay = clip_decay(decay)
    if np.any(decay >= 1.0):
        raise ValueError("a decay of 1 has no finite time constant; export it as an integrator")
    return dt / (1.0 - decay)


def decay_from_tau(tau, dt: float) -> np.ndarray:
    """``decay = 1 - dt / tau`` (forward Euler), as read from a NIR node."""
    return 1.0 - dt / np.asarray(tau, dtype=np.float64)


def gain_from_tau(r, tau, dt: float) -> np.ndarray:
    """The input gain ``r dt / tau`` that forward Euler applies to the input."""
    return np.asarray(r, dtype=np.float64) * dt / np.asarray(tau, dtype=np.float64)


def unit_gain_r(tau, dt: float) -> np.ndarray:
    """The ``r`` (or ``w_in``) that makes the Euler input gain exactly 1: ``tau / dt``."""
    return np.asarray(tau, dtype=np.float64) / dt


def delay_from_steps(steps, dt: float) -> np.ndarray:
    """A delay of ``steps`` whole steps in NIR's units (seconds): ``steps * dt``."""
    return np.asarray(steps, dtype=np.float64) * dt


def steps_from_delay(delay, dt: float) -> np.ndarray:
    """A NIR delay (seconds) in steps, ``delay / dt`` (float: the caller checks it is whole)."""
    return np.asarray(delay, dtype=np.float64) / dt
