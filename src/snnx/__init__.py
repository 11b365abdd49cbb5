"""snnx: spiking neural networks on JAX and Flax NNX, with faithful NIR exchange.

The names below are the public API; everything in a module whose name starts
with an underscore is private. ``snnx.train``, ``snnx.datasets``,
``snnx.plot``, ``snnx.evolve``, ``snnx.quant``, ``snnx.export`` and ``snnx.cli``
are imported on first use (they pull in orbax, matplotlib, evosax, qwix, jax2onnx, ...).
"""

from __future__ import annotations

import importlib

from snnx import augment as augment
from snnx import encoders as encoders
from snnx import layers as layers
from snnx import losses as losses
from snnx import metrics as metrics
from snnx import neurons as neurons
from snnx import nir as nir
from snnx import phasor as phasor
from snnx import plasticity as plasticity
from snnx import ssm as ssm
from snnx import surrogate as surrogate
from snnx._checks import ArgumentTypeError as ArgumentTypeError
from snnx._checks import OptionError as OptionError
from snnx._checks import ShapeError as ShapeError
from snnx._version import __version__ as __version__
from snnx.engine import Graph as Graph
from snnx.engine import Sequential as Sequential
from snnx.engine import run as run
from snnx.layers import AvgPool as AvgPool
from snnx.layers import Deferred as Deferred
from snnx.layers import Delay as Delay
from snnx.layers import Flatten as Flatten
from snnx.layers import MaxPool as MaxPool
from snnx.layers import Population as Population
from snnx.layers import Scale as Scale
from snnx.layers import SumPool as SumPool
from snnx.layers import Threshold as Threshold
from snnx.neurons import ALIF as ALIF
from snnx.neurons import IF as IF
from snnx.neurons import LI as LI
from snnx.neurons import LIF as LIF
from snnx.neurons import PSU_LIF as PSU_LIF
from snnx.neurons import RIF as RIF
from snnx.neurons import RLIF as RLIF
from snnx.neurons import Const as Const
from snnx.neurons import CuBaLI as CuBaLI
from snnx.neurons import CuBaLIF as CuBaLIF
from snnx.neurons import I as I
from snnx.neurons import Neuron as Neuron
from snnx.neurons import RCuBaLIF as RCuBaLIF
from snnx.neurons import ResonateFire as ResonateFire

_LAZY = ("train", "datasets", "cli", "plot", "stats", "evolve", "quant", "export")


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(f"snnx.{name}")
    raise AttributeError(f"module 'snnx' has no attribute {name!r}")


__all__ = [
    "ALIF",
    "IF",
    "LI",
    "LIF",
    "PSU_LIF",
    "RIF",
    "RLIF",
    "ArgumentTypeError",
    "AvgPool",
    "Const",
    "CuBaLI",
    "CuBaLIF",
    "Deferred",
    "Delay",
    "Flatten",
    "Graph",
    "I",
    "MaxPool",
    "Neuron",
    "OptionError",
    "Population",
    "RCuBaLIF",
    "ResonateFire",
    "Scale",
    "Sequential",
    "ShapeError",
    "SumPool",
    "Threshold",
    "augment",
    "datasets",
    "encoders",
    "evolve",
    "export",
    "layers",
    "losses",
    "metrics",
    "neurons",
    "nir",
    "phasor",
    "plasticity",
    "plot",
    "quant",
    "run",
    "ssm",
    "stats",
    "surrogate",
    "train",
]
