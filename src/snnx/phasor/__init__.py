"""Phasor networks: complex-valued layers, phase codes and a spiking phasor layer.

A phasor network carries unit complex numbers ``exp(i theta)`` between layers:
the information is in the phase ``theta``. Its spiking form sends one spike per
unit per cycle, at the step of the cycle that encodes the phase.

The phase convention, used by every function and layer here: a phase lies in
``[-pi, pi)``; one cycle is ``period`` steps; a spike at step ``k`` of a cycle
(``k = 0, ..., period - 1``) encodes the grid phase ``2 pi k / period - pi``.

* Codes: :func:`real_to_phasor` / :func:`phasor_to_value` (inverse pair),
  :func:`phasor_to_real` (real part), :func:`phase_of`,
  :func:`phase_to_spikes` / :func:`spikes_to_phase` (inverse pair on the grid),
  :func:`spikes_to_phasor` (magnitude 0 marks silent units).
* Layers: :class:`PhasorLinear`, :class:`PhasorActivation`,
  :class:`PhasorReadout`, :class:`PhasorMLP` (train these), and
  :class:`SpikingPhasor` (one step at a time, in ``Sequential`` and ``run``).

None of them has a NIR form (NIR's nodes are real-valued).

References:
    Noest (1988), "Discrete-state phasor neural networks", Phys. Rev. A 38(4);
    Frady & Sommer (2019), "Robust computation with rhythmic spike patterns", PNAS 116(36);
    Bybee, Frady & Sommer (2022), "Deep learning in spiking phasor neural networks", arXiv:2204.00507.
"""

from __future__ import annotations

from snnx.phasor._codes import phase_of as phase_of
from snnx.phasor._codes import phase_to_spikes as phase_to_spikes
from snnx.phasor._codes import phasor_to_real as phasor_to_real
from snnx.phasor._codes import phasor_to_value as phasor_to_value
from snnx.phasor._codes import real_to_phasor as real_to_phasor
from snnx.phasor._codes import spikes_to_phase as spikes_to_phase
from snnx.phasor._codes import spikes_to_phasor as spikes_to_phasor
from snnx.phasor._layers import PhasorActivation as PhasorActivation
from snnx.phasor._layers import PhasorLinear as PhasorLinear
from snnx.phasor._layers import PhasorMLP as PhasorMLP
from snnx.phasor._layers import PhasorReadout as PhasorReadout
from snnx.phasor._spiking import SpikingPhasor as SpikingPhasor

__all__ = [
    "PhasorActivation",
    "PhasorLinear",
    "PhasorMLP",
    "PhasorReadout",
    "SpikingPhasor",
    "phase_of",
    "phase_to_spikes",
    "phasor_to_real",
    "phasor_to_value",
    "real_to_phasor",
    "spikes_to_phase",
    "spikes_to_phasor",
]
