"""snnx: spiking neural networks on JAX and Flax NNX, with faithful NIR exchange."""

from snnx import surrogate as surrogate
from snnx.engine import Sequential as Sequential
from snnx.engine import run as run
from snnx.neurons import LIF as LIF
from snnx.neurons import Const as Const
from snnx.neurons import Neuron as Neuron

__version__ = "0.1.0"

__all__ = ["LIF", "Const", "Neuron", "Sequential", "run", "surrogate"]
