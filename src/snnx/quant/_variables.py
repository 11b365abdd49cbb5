"""Where a quantised weight lives: two ``nnx.Variable`` types whose ``[...]`` is the weight used.

A layer reads its kernel as ``self.kernel[...]``, and so does every path of
``snnx.run`` (fused kernels included), ``snnx.nir.to_nir`` and the exporters.
Swapping the kernel's Variable for one of these types therefore changes what
every consumer computes with, while the layer keeps its type (``nnx.Linear``
stays ``nnx.Linear``, so the engine keeps its fast paths):

* :class:`Quantized`: holds a ``qwix.QArray`` (integer codes and scales);
  ``[...]`` is the dequantised weight. A frozen parameter (``snnx.Const``), not
  an ``nnx.Param``: ``fit`` and the optimizers leave it alone (the codes are frozen; biases and neuron
  parameters still learn).
* :class:`FakeQuant`: an ``nnx.Param`` holding the float latent weight;
  ``[...]`` is the weight quantised and dequantised with a straight-through
  gradient, so ``fit`` trains it (quantisation-aware training).

Both carry their :class:`snnx.quant.Rule` as metadata (``variable.rule``), so
it travels with ``nnx.split``/``nnx.merge`` and ``jit``.
"""

from __future__ import annotations

from flax import nnx
from qwix._src.core.qarray import QArray

from snnx._params import Const
from snnx.quant import _numerics


def _index(value, index):
    return value if index is Ellipsis else value[index]


class Quantized(Const):
    """A frozen quantised weight: a ``qwix.QArray``; ``[...]`` gives the dequantised weight.

    A :class:`snnx.Const` (frozen parameter): never differentiated or optimised,
    and closed over by the engine like any other parameter.
    """

    def get_value(self, *, index=...):
        raw = self.get_raw_value()
        # nnx maps functions over a Variable's raw value (e.g. for its repr); keep those readable
        value = _numerics.dequantize(raw) if isinstance(raw, QArray) else raw
        return _index(value, index)


class FakeQuant(nnx.Param):
    """A float weight trained through its quantised value (straight-through gradient)."""

    def get_value(self, *, index=...):
        raw = self.get_raw_value()
        rule = self.get_metadata().get("rule")
        if rule is None or not hasattr(raw, "dtype"):
            return _index(raw, index)
        return _index(_numerics.fake_quant(raw, rule, self.get_metadata().get("key", "weight")), index)
