"""Spiking and non-spiking neuron models, one family per module."""

from snnx.neurons._alif import ALIF as ALIF
from snnx.neurons._base import Const as Const
from snnx.neurons._base import Neuron as Neuron
from snnx.neurons._cuba import CuBaLI as CuBaLI
from snnx.neurons._cuba import CuBaLIF as CuBaLIF
from snnx.neurons._i import I as I
from snnx.neurons._if import IF as IF
from snnx.neurons._li import LI as LI
from snnx.neurons._lif import LIF as LIF
from snnx.neurons._psu import PSU_LIF as PSU_LIF
from snnx.neurons._recurrent import RIF as RIF
from snnx.neurons._recurrent import RLIF as RLIF
from snnx.neurons._recurrent import RCuBaLIF as RCuBaLIF
from snnx.neurons._resonate import ResonateFire as ResonateFire

__all__ = [
    "ALIF",
    "IF",
    "LI",
    "LIF",
    "PSU_LIF",
    "RIF",
    "RLIF",
    "Const",
    "CuBaLI",
    "CuBaLIF",
    "I",
    "Neuron",
    "RCuBaLIF",
    "ResonateFire",
]
