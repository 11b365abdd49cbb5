"""Quantisation of snnx models through qwix: post-training (``ptq``), quantisation-aware (``qat``).

Weights (the kernels of ``nnx.Linear``, ``nnx.Conv`` and recurrent neurons)
are quantised by :class:`Rule`\\ s; the quantised model is still a snnx model:
``snnx.run`` runs it with the same engine, ``fit`` trains it, ``snnx.nir.to_nir``
writes its dequantised weights with the bit width and scales as node metadata.
Membranes are quantised by a neuron option, ``state_quant=FixedPoint(...)``.

Needs the ``quant`` extra: ``pip install 'snnx[quant]'`` (qwix).
"""

from __future__ import annotations

try:
    import qwix as _qwix  # noqa: F401
except ImportError as err:  # pragma: no cover - exercised without the extra
    raise ImportError(
        f"snnx.quant needs qwix, which is not installed ({err}): pip install 'snnx[quant]'"
    ) from None

from snnx.neurons import FixedPoint as FixedPoint
from snnx.quant._api import WeightInfo as WeightInfo
from snnx.quant._api import convert as convert
from snnx.quant._api import dequantize as dequantize
from snnx.quant._api import ptq as ptq
from snnx.quant._api import qat as qat
from snnx.quant._api import quantize_membranes as quantize_membranes
from snnx.quant._api import size_bytes as size_bytes
from snnx.quant._api import summary as summary
from snnx.quant._rules import OPS as OPS
from snnx.quant._rules import QTYPES as QTYPES
from snnx.quant._rules import Rule as Rule
from snnx.quant._rules import targets as targets
from snnx.quant._variables import FakeQuant as FakeQuant
from snnx.quant._variables import Quantized as Quantized

__all__ = [
    "OPS",
    "QTYPES",
    "FakeQuant",
    "FixedPoint",
    "Quantized",
    "Rule",
    "WeightInfo",
    "convert",
    "dequantize",
    "ptq",
    "qat",
    "quantize_membranes",
    "size_bytes",
    "summary",
    "targets",
]
