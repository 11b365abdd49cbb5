"""Sequence (state-space) layers on the one-step contract, each with a parallel form.

Every layer maps ``d_model`` features to ``d_model`` features: ``init_state(batch_shape)``,
``layer(x, state) -> (y, state)`` for one step (``x`` of shape ``(*batch, d_model)``) and
``layer.parallel(x)`` for a whole sequence ``(T, *batch, d_model)`` from zero state with an
associative scan, equal to stepping. They run in ``Sequential`` and ``snnx.run`` like any
neuron; ``snnx.run(..., options=Options(parallel=True))`` uses ``parallel``.

* :class:`LRU`: linear recurrent unit (Orvieto et al. 2023).
* :class:`S5`: diagonal HiPPO-N state space, ZOH-discretised with a learnt step (Smith et al. 2023).
* :class:`ChunkedSSM`: a causal two-level layer, an inner layer per step and an outer one per chunk.
* :class:`Mamba`: the selective scan, its decay and maps computed from each input (Gu & Dao 2023).
* :class:`MambaBlock`: projections, a causal depthwise convolution, the selective scan and a gate around it.
"""

from snnx.ssm._chunked import ChunkedSSM as ChunkedSSM
from snnx.ssm._lru import LRU as LRU
from snnx.ssm._mamba import MambaBlock as MambaBlock
from snnx.ssm._s5 import S5 as S5
from snnx.ssm._selective import Mamba as Mamba

__all__ = ["LRU", "S5", "ChunkedSSM", "Mamba", "MambaBlock"]
