"""Spiking and non-spiking neuron models, one family per module."""

from snnx.neurons._base import Const as Const
from snnx.neurons._base import Neuron as Neuron
from snnx.neurons._lif import LIF as LIF

__all__ = ["LIF", "Const", "Neuron"]
