"""Stateless and stateful building blocks that are not neurons.

Stateless layers (``Flatten``, ``SumPool``, ``AvgPool``, ``MaxPool``, ``Scale``,
``Threshold``, ``Population``) are ``nnx.Module``\\ s called as ``layer(x) -> y``
on one time step. ``Delay`` follows the one-step contract
(``init_state(batch_shape)`` and ``layer(x, state) -> (y, state)``).
Feature maps are channels-last, ``(B, H, W, C)`` or ``(B, L, C)``.
``Deferred`` stands for a layer made from the shape of its input by
``Sequential(..., input_shape=...)``.
"""

from snnx.layers._deferred import Deferred as Deferred
from snnx.layers._delay import Delay as Delay
from snnx.layers._flatten import Flatten as Flatten
from snnx.layers._pool import AvgPool as AvgPool
from snnx.layers._pool import MaxPool as MaxPool
from snnx.layers._pool import SumPool as SumPool
from snnx.layers._population import Population as Population
from snnx.layers._scale import Scale as Scale
from snnx.layers._threshold import Threshold as Threshold

__all__ = [
    "AvgPool", "Deferred", "Delay", "Flatten", "MaxPool", "Population", "Scale", "SumPool", "Threshold",
]
