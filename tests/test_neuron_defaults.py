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


def test_every_public_neuron_is_covered():
    public = {name for name in N.__all__ if isinstance(getattr(N, name), type)}
    public -= {"Neuron", "Const"}
    assert public == set(ALL)


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
    assert grad_names <= {"recurrent"}  # only the recurrent weights of RIF/RLIF/RCuBaLIF learn
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
