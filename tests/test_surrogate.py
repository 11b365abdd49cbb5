"""Surrogates: Heaviside forward; backward equals the derivative of the smooth step each docstring names.

For every factory the smooth function ``f`` is written out here from the
docstring, independently of the module, and differentiated with ``jax.grad``;
a hand-written formula for ``f'`` is checked as well. The absolute tolerance is
1e-6 because the module's logistic derivative ``k s (1 - s)`` loses relative
precision in float32 far in the tail (``1 - s`` cancels), e.g. 1e-7 absolute at
``k x = 12.5``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnx import surrogate
from snnx.neurons import LIF

# avoid the kinks of boxcar (|x| = width/2) and triangular (|x| = 1/k)
POINTS = jnp.array([-1.7, -0.6, -0.23, -0.05, 0.0, 0.02, 0.3, 0.45, 1.1, 2.5])


def fast_sigmoid_f(k):
    return lambda x: x / (1 + k * jnp.abs(x))


def arctan_f(k):
    return lambda x: jnp.arctan(math.pi * k * x / 2) / math.pi + 0.5


def sigmoid_f(k):
    return lambda x: 1 / (1 + jnp.exp(-k * x))


def tanh_f(k):
    return lambda x: (1 + jnp.tanh(k * x)) / 2


def triangular_f(k):
    def f(x):
        y = jnp.clip(x, -1 / k, 1 / k)
        return y - k * y * jnp.abs(y) / 2

    return f


def boxcar_f(width, height):
    return lambda x: height * jnp.clip(x + width / 2, 0, width)


CASES = {
    "fast_sigmoid": (
        surrogate.fast_sigmoid(k=4.0),
        fast_sigmoid_f(4.0),
        lambda x: 1 / (1 + 4 * np.abs(x)) ** 2,
    ),
    "superspike": (
        surrogate.superspike(k=10.0),
        fast_sigmoid_f(10.0),
        lambda x: 1 / (1 + 10 * np.abs(x)) ** 2,
    ),
    "arctan": (
        surrogate.arctan(k=3.0),
        arctan_f(3.0),
        lambda x: 1.5 / (1 + (1.5 * np.pi * x) ** 2),
    ),
    "sigmoid": (
        surrogate.sigmoid(k=5.0),
        sigmoid_f(5.0),
        lambda x: 5 * np.exp(-5 * x) / (1 + np.exp(-5 * x)) ** 2,
    ),
    "tanh": (surrogate.tanh(k=2.0), tanh_f(2.0), lambda x: 1 / np.cosh(2 * x) ** 2),
    "triangular": (
        surrogate.triangular(k=2.0),
        triangular_f(2.0),
        lambda x: np.maximum(0, 1 - 2 * np.abs(x)),
    ),
    "boxcar": (
        surrogate.boxcar(width=0.8, height=2.0),
        boxcar_f(0.8, 2.0),
        lambda x: np.where(np.abs(x) <= 0.4, 2.0, 0.0),
    ),
    "straight_through": (surrogate.straight_through(), lambda x: x, lambda x: np.ones_like(x)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_is_heaviside(name):
    s = CASES[name][0]
    y = s(jnp.array([-2.0, -1e-7, 0.0, 1e-7, 3.0]))
    np.testing.assert_array_equal(y, [0.0, 0.0, 0.0, 1.0, 1.0])
    assert y.dtype == jnp.float32
    assert s(jnp.array([0, 1, -1])).dtype == jnp.float32  # ints become float spikes


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_is_derivative_of_named_smooth_step(name):
    s, f, formula = CASES[name]
    grad_s = jax.vmap(jax.grad(s))(POINTS)
    grad_f = jax.vmap(jax.grad(f))(POINTS)
    np.testing.assert_allclose(grad_s, grad_f, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad_s, formula(np.asarray(POINTS, np.float64)), rtol=1e-5, atol=1e-6)


def test_defaults_and_get():
    assert surrogate.get(None) == surrogate.fast_sigmoid(25.0)
    assert surrogate.get("arctan") == surrogate.arctan()
    s = surrogate.arctan(k=3.0)
    assert surrogate.get(s) is s
    # f'(0) values stated in the docstrings
    assert float(jax.grad(surrogate.arctan(k=2.0))(0.0)) == pytest.approx(1.0)
    assert float(jax.grad(surrogate.sigmoid(k=8.0))(0.0)) == pytest.approx(2.0)
    assert float(jax.grad(surrogate.tanh(k=2.0))(0.0)) == pytest.approx(1.0)
    assert repr(surrogate.fast_sigmoid(4.0)) == "fast_sigmoid(k=4.0)"


def test_get_errors():
    with pytest.raises(ValueError, match=r"`surrogate` must be one of \[.*'arctan'.*\].*got 'nope'"):
        surrogate.get("nope")
    with pytest.raises(
        TypeError, match=r"`surrogate` must be a name or a snnx\.surrogate\.Surrogate, got int$"
    ):
        surrogate.get(3)


@pytest.mark.parametrize(
    ("factory", "kwargs", "name"),
    [
        (surrogate.fast_sigmoid, {"k": 0.0}, "k"),
        (surrogate.arctan, {"k": -1.0}, "k"),
        (surrogate.boxcar, {"width": 0.0}, "width"),
        (surrogate.boxcar, {"height": True}, "height"),
    ],
)
def test_hyperparameters_must_be_positive(factory, kwargs, name):
    with pytest.raises(ValueError, match=rf"`{name}` must be a positive number"):
        factory(**kwargs)


def test_custom_uses_the_derivative_of_fn():
    def softplus_step(x):
        return jnp.log1p(jnp.exp(3.0 * x)) / 3.0  # f'(x) = sigmoid(3x)

    s = surrogate.custom(softplus_step, name="softplus")
    np.testing.assert_array_equal(s(POINTS), (POINTS > 0).astype(jnp.float32))
    expected = 1 / (1 + np.exp(-3 * np.asarray(POINTS, np.float64)))
    np.testing.assert_allclose(jax.vmap(jax.grad(s))(POINTS), expected, rtol=1e-5)
    assert repr(s) == "softplus(fn='softplus_step')"
    with pytest.raises(TypeError, match="`fn` must be a callable"):
        surrogate.custom(3.0)


def test_neuron_spike_gradient_uses_its_surrogate():
    # one LIF step from zero state: v = x, z = H(x - threshold); dz/dx = f'(x - threshold)
    s = surrogate.arctan(k=3.0)
    lif = LIF(1, threshold=0.5, surrogate=s)
    state = lif.init_state(1)
    x = jnp.array([[0.8]])
    g = jax.grad(lambda x: lif(x, state)[0].sum())(x)
    np.testing.assert_allclose(g, 1.5 / (1 + (1.5 * np.pi * 0.3) ** 2), rtol=1e-5)


# -- identity: a surrogate is its derivative (compiled code is shared only between equals) --


def _model(spike: surrogate.Surrogate):
    from flax import nnx

    import snnx

    rngs = nnx.Rngs(0)
    return snnx.Sequential(
        nnx.Linear(3, 4, rngs=rngs),
        LIF(4, beta=0.9, threshold=0.2, surrogate=spike),
        nnx.Linear(4, 2, rngs=rngs),
    )


def _loss(model, x, engine):
    import snnx

    y, _ = snnx.run(model, x) if engine is None else snnx.run(model, x, engine=engine)
    return jnp.sum(y**2)


def _param_grads(grad, spike: surrogate.Surrogate, engine: str | None):
    from flax import nnx

    x = jnp.asarray(np.random.default_rng(1).normal(size=(6, 5, 3)), jnp.float32)
    return jax.tree.leaves(nnx.to_pure_dict(grad(_model(spike), x, engine)))


@pytest.mark.parametrize("engine", [pytest.param("step", marks=pytest.mark.slow), None])
@pytest.mark.parametrize("jit", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_custom_surrogates_with_different_fns_give_their_own_gradients(engine, jit):
    # Two custom surrogates in one process, through one gradient function (under
    # nnx.jit its compiled code is keyed on the model's static attributes): the steep
    # one, built second, must get its own gradient, not the shallow one's. Reference:
    # the built-in sigmoid(k), whose k s (1 - s) is d/dv sigmoid(k v).
    from flax import nnx

    grad = nnx.grad(_loss)
    if jit:
        grad = nnx.jit(grad, static_argnums=2)
    shallow = surrogate.custom(lambda v: jax.nn.sigmoid(4.0 * v))
    steep = surrogate.custom(lambda v: jax.nn.sigmoid(100.0 * v))
    got_shallow = _param_grads(grad, shallow, engine)
    got_steep = _param_grads(grad, steep, engine)
    for got, k in ((got_shallow, 4.0), (got_steep, 100.0)):
        want = _param_grads(grad, surrogate.sigmoid(k=k), engine)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
    assert not all(np.allclose(a, b) for a, b in zip(got_shallow, got_steep, strict=True))


def test_surrogate_equality_follows_the_derivative():
    assert surrogate.fast_sigmoid(25.0) == surrogate.fast_sigmoid(25.0)
    assert hash(surrogate.fast_sigmoid(25.0)) == hash(surrogate.fast_sigmoid(25.0))
    assert surrogate.boxcar(0.5, 2.0) == surrogate.boxcar(0.5, 2.0)
    assert hash(surrogate.straight_through()) == hash(surrogate.straight_through())
    assert surrogate.fast_sigmoid(25.0) != surrogate.fast_sigmoid(24.0)
    assert surrogate.superspike(25.0) != surrogate.fast_sigmoid(25.0)  # names differ

    def f(v):
        return jax.nn.sigmoid(4.0 * v)

    def g(v):
        return jax.nn.sigmoid(4.0 * v)

    assert surrogate.custom(f) == surrogate.custom(f)
    assert hash(surrogate.custom(f)) == hash(surrogate.custom(f))
    assert surrogate.custom(f) != surrogate.custom(g)  # same name, different function
    assert surrogate.custom(lambda v: v) != surrogate.custom(lambda v: v)
    assert surrogate.Surrogate("x", f) != surrogate.Surrogate("x", g)
    assert surrogate.Surrogate("x", f) == surrogate.Surrogate("x", f)
    assert repr(surrogate.custom(f)) == "custom(fn='f')"
