"""Local learning rules: weight changes from pre/post spike traces, without backpropagation.

* :class:`STDP`: pair-based spike-timing-dependent plasticity with exponential traces;
* :class:`RSTDP`: reward-modulated STDP (an eligibility trace gated by a reward);
* :func:`train_stdp`: step a ``nnx.Linear`` and a spiking neuron over time while a rule updates
  the kernel, in one compiled loop.

Weights have the layout of ``nnx.Linear.kernel``, ``(n_pre, n_post)``; spikes are time-major.
The equations and the conventions against snnTorch and Norse are in ``docs/plasticity.md``.
"""

from snnx.plasticity._loop import train_stdp as train_stdp
from snnx.plasticity._rstdp import RSTDP as RSTDP
from snnx.plasticity._stdp import STDP as STDP

__all__ = ["RSTDP", "STDP", "train_stdp"]
