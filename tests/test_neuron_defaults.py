"""Every neuron freezes its parameters by default, as its docstring says; ``trainable=True`` opts in.

The default is checked the way a user meets it: after one optimizer step
(``nnx.Optimizer(..., wrt=nnx.Param)``) a default neuron's parameters are
unchanged and no gradient names them; built with ``trainable=True`` every one
is an ``nnx.Param`` that the step changes.
"""

from __future__ import annotations

import inspect
import re

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import snnx
from snnx import layers
from snnx import neurons as N

N_UNITS = 3
ALL = {
    "LIF": lambda **kw: N.LIF(N_UNITS, threshold=0.5, **kw),
    "IF": lambda **kw: N.IF(N_UNITS, threshold=0.5, **kw),
    "LI": lambda **kw: N.LI(N_UNITS, **kw),
    "I": lambda **kw: N.I(N_UNITS, **kw),
    "CuBaLIF": lambda **kw: N.CuBaLIF(N_UNITS, threshold=0.5, **kw),
    "CuBaLI": lambda **kw: N.CuBaLI(N_UNITS, **kw),
    "ALIF": lambda **kw: N.ALIF(N_UNITS, threshold=0.5, **kw),
    "RIF": lambda **kw: N.RIF(N_UNITS, threshold=0.5, rngs=nnx.Rngs(0), **kw),
    "RLIF": lambda **kw: N.RLIF(N_UNITS, threshold=0.5, rngs=nnx.Rngs(0), **kw),
    "RCuBaLIF": lambda **kw: N.RCuBaLIF(N_UNITS, threshold=0.5, rngs=nnx.Rngs(0), **kw),
    "PSU_LIF": lambda **kw: N.PSU_LIF(N_UNITS, threshold=0.5, **kw),
    "ResonateFire": lambda **kw: N.ResonateFire(N_UNITS, threshold=0.5, **kw),
}


#: The model zoo, checked together (one compile for all): (constructor, input offset). CobaLIF needs a
#: signed input (its sign picks the excitatory or the inhibitory conductance); Izhikevich starts at
#: -40 mV so that it spikes within the six steps.
ZOO = {
    "Alpha": (lambda **kw: N.Alpha(N_UNITS, threshold=0.5, **kw), 0.0),
    "Lapicque": (lambda **kw: N.Lapicque(N_UNITS, threshold=0.2, **kw), 0.0),
    "LIFRefrac": (lambda **kw: N.LIFRefrac(N_UNITS, threshold=0.5, **kw), 0.0),
    "ExpLIF": (lambda **kw: N.ExpLIF(N_UNITS, threshold=0.5, **kw), 0.0),
    "AdEx": (lambda **kw: N.AdEx(N_UNITS, threshold=0.5, **kw), 0.0),
    "Izhikevich": (lambda **kw: N.Izhikevich(N_UNITS, v_init=-40.0, **kw), 0.0),
    "CobaLIF": (lambda **kw: N.CobaLIF(N_UNITS, **kw), -0.5),
    "RALIF": (lambda **kw: N.RALIF(N_UNITS, threshold=0.5, rngs=nnx.Rngs(0), **kw), 0.0),
    "SLSTM": (lambda **kw: N.SLSTM(N_UNITS, N_UNITS, threshold=0.05, rngs=nnx.Rngs(0), **kw), 0.0),
}
#: Weights that always learn (nnx.Param whatever `trainable` says): recurrent and LSTM gate kernels.
WEIGHTS = {"recurrent", "input_gates", "hidden_gates", "gates"}
#: SigmaDelta has no `trainable`: its only parameter, the threshold, gets no gradient (straight-through
#: gating). SConvLSTM's only neuron parameter is SLSTM's threshold, with the same code path.
#: FixedPoint is not a neuron: the grid of the `state_quant` option (tests/test_state_quant.py).
UNCOVERED = {"Neuron", "Const", "SigmaDelta", "SConvLSTM", "FixedPoint"}


def test_every_public_neuron_is_covered():
    public = {name for name in N.__all__ if isinstance(getattr(N, name), type)}
    public -= UNCOVERED
    assert public == set(ALL) | set(ZOO)
    assert not set(ALL) & set(ZOO)


def _parameters(neuron) -> dict:
    return {name: np.asarray(getattr(neuron, name)[...]).copy() for name in neuron.param_names}


def _one_step(neuron):
    """One SGD step on a loss that touches every output and final state; returns the gradient names."""
    x = jnp.linspace(0.1, 0.9, 6 * 2 * N_UNITS).reshape(6, 2, N_UNITS)

    def loss(m):
        y, final = snnx.run(m, x)
        return jnp.sum(jnp.real(y)) + sum(jnp.sum(jnp.real(v)) for v in final.values())

    optimizer = nnx.Optimizer(neuron, optax.sgd(0.1), wrt=nnx.Param)
    grads = nnx.grad(loss)(neuron)
    optimizer.update(neuron, grads)
    return {str(path[0]) for path, _ in nnx.to_flat_state(grads)}


@pytest.mark.parametrize("name", sorted(ALL))
def test_default_freezes_every_parameter(name):
    cls = getattr(N, name)
    assert inspect.signature(cls.__init__).parameters["trainable"].default is False
    trainable_doc = re.search(r"trainable:(.*?)(?:\n        \w+:|\n\n)", cls.__doc__, re.DOTALL).group(1)
    assert "default" in trainable_doc and "False" in trainable_doc, trainable_doc
    neuron = ALL[name]()
    before = _parameters(neuron)
    grad_names = _one_step(neuron)
    assert grad_names <= WEIGHTS  # only the recurrent weights of RIF/RLIF/RCuBaLIF learn
    for param, value in _parameters(neuron).items():
        assert isinstance(getattr(neuron, param), N.Const), param
        np.testing.assert_array_equal(value, before[param])


@pytest.mark.parametrize("name", sorted(ALL))
def test_trainable_true_learns_every_parameter(name):
    neuron = ALL[name](trainable=True)
    before = _parameters(neuron)
    grad_names = _one_step(neuron)
    assert grad_names - {"recurrent"} == set(neuron.param_names)
    for param, value in _parameters(neuron).items():
        assert isinstance(getattr(neuron, param), nnx.Param), param
        assert not np.array_equal(value, before[param]), param


class _Zoo(nnx.Module):
    def __init__(self, **kw):
        self.neurons = nnx.Dict({name: make(**kw) for name, (make, _) in ZOO.items()})


def _zoo_step(zoo: _Zoo) -> dict[str, set[str]]:
    """One SGD step of every zoo neuron on its own input, in one compiled program: the gradient names."""
    x = jnp.linspace(0.1, 0.9, 6 * 2 * N_UNITS).reshape(6, 2, N_UNITS)

    def loss(m):
        total = 0.0
        for name, (_, offset) in ZOO.items():
            y, final = snnx.run(m.neurons[name], x + offset)
            floats = [v for v in final.values() if jnp.issubdtype(v.dtype, jnp.floating)]
            total += jnp.sum(y) + sum(jnp.sum(v) for v in floats)
        return total

    optimizer = nnx.Optimizer(zoo, optax.sgd(0.1), wrt=nnx.Param)
    grads = nnx.jit(nnx.grad(loss))(zoo)
    optimizer.update(zoo, grads)
    names = {name: set() for name in ZOO}
    for path, _ in nnx.to_flat_state(grads):
        names[str(path[1])].add(str(path[2]))
    return names


def test_zoo_neurons_freeze_by_default_and_learn_every_parameter_when_asked():
    for name in ZOO:
        cls = getattr(N, name)
        assert inspect.signature(cls.__init__).parameters["trainable"].default is False
        trainable_doc = re.search(r"trainable:(.*?)(?:\n        \w+:|\n\n)", cls.__doc__, re.DOTALL).group(1)
        assert "default" in trainable_doc and "False" in trainable_doc, (name, trainable_doc)
    frozen = _Zoo()
    before = {name: _parameters(frozen.neurons[name]) for name in ZOO}
    for name, grad_names in _zoo_step(frozen).items():
        assert grad_names <= WEIGHTS, name
        for param, value in _parameters(frozen.neurons[name]).items():
            assert isinstance(getattr(frozen.neurons[name], param), N.Const), (name, param)
            np.testing.assert_array_equal(value, before[name][param])
    learnt = _Zoo(trainable=True)
    before = {name: _parameters(learnt.neurons[name]) for name in ZOO}
    for name, grad_names in _zoo_step(learnt).items():
        neuron = learnt.neurons[name]
        assert grad_names - WEIGHTS == set(neuron.param_names), name
        for param, value in _parameters(neuron).items():
            assert isinstance(getattr(neuron, param), nnx.Param), (name, param)
            assert not np.array_equal(value, before[name][param]), (name, param)


def test_layers_with_parameters_default_to_frozen():
    assert isinstance(layers.Scale(3).scale, N.Const)
    assert isinstance(layers.Threshold(3).threshold, N.Const)
    for cls in (layers.Scale, layers.Threshold):
        assert inspect.signature(cls.__init__).parameters["trainable"].default is False


def test_imported_neurons_are_frozen_and_can_be_unfrozen():
    """``from_nir``: weights learn, neuron parameters are frozen; docs/nir.md's recipe unfreezes one."""
    from snnx.nir import from_nir, to_nir

    r = nnx.Rngs(0)
    model = snnx.Sequential(
        nnx.Linear(4, 3, rngs=r), N.LIF(3, trainable=True), nnx.Linear(3, 2, rngs=r), N.LI(2)
    )
    imported = from_nir(to_nir(model, (4,), 1e-3), dt=1e-3)
    lif, li = imported.layers[1], imported.layers[3]
    assert isinstance(lif, N.LIF) and isinstance(li, N.LI)
    for neuron in (lif, li):
        assert all(isinstance(getattr(neuron, p), N.Const) for p in neuron.param_names)
    assert isinstance(imported.layers[0].kernel, nnx.Param)
    lif.beta = nnx.Param(lif.beta[...])
    x = jnp.ones((5, 2, 4))
    grads = nnx.grad(lambda m: jnp.sum(snnx.run(m, x)[0]))(imported)
    names = {"/".join(map(str, path)) for path, _ in nnx.to_flat_state(grads)}
    assert "layers/1/beta" in names and not any(n.startswith("layers/3/") for n in names)
