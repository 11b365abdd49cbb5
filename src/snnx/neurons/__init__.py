"""Spiking and non-spiking neuron models, one family per module."""

from snnx.neurons._adex import AdEx as AdEx
from snnx.neurons._adex import ExpLIF as ExpLIF
from snnx.neurons._alif import ALIF as ALIF
from snnx.neurons._alpha import Alpha as Alpha
from snnx.neurons._base import Const as Const
from snnx.neurons._base import Neuron as Neuron
from snnx.neurons._coba import CobaLIF as CobaLIF
from snnx.neurons._cuba import CuBaLI as CuBaLI
from snnx.neurons._cuba import CuBaLIF as CuBaLIF
from snnx.neurons._i import I as I
from snnx.neurons._if import IF as IF
from snnx.neurons._izhikevich import Izhikevich as Izhikevich
from snnx.neurons._lapicque import Lapicque as Lapicque
from snnx.neurons._li import LI as LI
from snnx.neurons._lif import LIF as LIF
from snnx.neurons._psu import PSU_LIF as PSU_LIF
from snnx.neurons._ralif import RALIF as RALIF
from snnx.neurons._recurrent import RIF as RIF
from snnx.neurons._recurrent import RLIF as RLIF
from snnx.neurons._recurrent import RCuBaLIF as RCuBaLIF
from snnx.neurons._refractory import LIFRefrac as LIFRefrac
from snnx.neurons._resonate import ResonateFire as ResonateFire
from snnx.neurons._sigma_delta import SigmaDelta as SigmaDelta
from snnx.neurons._slstm import SLSTM as SLSTM
from snnx.neurons._slstm import SConvLSTM as SConvLSTM
from snnx.neurons._state_quant import FixedPoint as FixedPoint

__all__ = [
    "ALIF",
    "IF",
    "LI",
    "LIF",
    "PSU_LIF",
    "RALIF",
    "RIF",
    "RLIF",
    "SLSTM",
    "AdEx",
    "Alpha",
    "CobaLIF",
    "Const",
    "CuBaLI",
    "CuBaLIF",
    "ExpLIF",
    "FixedPoint",
    "I",
    "Izhikevich",
    "LIFRefrac",
    "Lapicque",
    "Neuron",
    "RCuBaLIF",
    "ResonateFire",
    "SConvLSTM",
    "SigmaDelta",
]
