"""Recurrent layers: equal to an explicit numpy loop with the same weights, bias enters at t = 0."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import snnx
from snnx.neurons import RIF, RLIF, RCuBaLIF

N, B, T = 5, 2, 12


def numpy_loop(kind, x, kernel, bias, *, alpha=0.0, beta=1.0, threshold=1.0, reset="zero", v_reset=0.0):
    """The recurrent layer written out in float64 numpy: y = z_prev @ kernel + bias."""
    i = np.zeros(x.shape[1:])
    v = np.zeros(x.shape[1:])
    z = np.zeros(x.shape[1:])
    out = []
    for xt in x:
        rec = z @ kernel + bias
        if kind == "RCuBaLIF":
            i = alpha * i + xt + rec
            v = beta * v + i
        else:
            v = beta * v + xt + rec
        z = (v > threshold).astype(np.float64)
        if reset == "zero":
            v = np.where(z > 0, v_reset, v)
        elif reset == "subtract":
            v = v - z * threshold
        out.append(z)
    return np.stack(out), v


def make(kind, reset, use_bias=True):
    rngs = nnx.Rngs(0)
    if kind == "RIF":
        return RIF(N, threshold=1.0, reset=reset, v_reset=0.1, rngs=rngs, use_bias=use_bias), {"v_reset": 0.1}
    if kind == "RLIF":
        return RLIF(N, beta=0.8, reset=reset, rngs=rngs, use_bias=use_bias), {"beta": 0.8}
    return RCuBaLIF(N, alpha=0.5, beta=0.8, reset=reset, rngs=rngs, use_bias=use_bias), {
        "alpha": 0.5,
        "beta": 0.8,
    }


@pytest.mark.parametrize("reset", ["zero", "subtract", "none"])
@pytest.mark.parametrize("kind", ["RIF", "RLIF", "RCuBaLIF"])
def test_recurrent_equals_numpy_loop(kind, reset):
    layer, kw = make(kind, reset)
    rng = np.random.default_rng(7)
    kernel = rng.normal(scale=0.6, size=(N, N))
    bias = rng.normal(scale=0.3, size=N)
    layer.recurrent.kernel[...] = jnp.asarray(kernel, jnp.float32)
    layer.recurrent.bias[...] = jnp.asarray(bias, jnp.float32)
    x = rng.uniform(0.0, 0.7, size=(T, B, N))
    expected, v_expected = numpy_loop(kind, x, kernel, bias, reset=reset, **kw)
    z, final = snnx.run(layer, jnp.asarray(x, jnp.float32))
    assert expected.sum() > 0  # the case is not trivially silent
    np.testing.assert_array_equal(z, expected)
    np.testing.assert_array_equal(final["z"], expected[-1])
    np.testing.assert_allclose(final["v"], v_expected, rtol=1e-5, atol=1e-5)


def test_rif_spike_train_by_hand():
    # kernel[0, 1] = .5 (unit 0 excites unit 1), bias = (0, .25); x = (.75, .25) each step.
    # unit 0: no recurrent input -> IF with .75: spikes 2, 4, 6, 8.
    # unit 1: v += .25 + .25 + .5 * z0_prev
    #   t1: .5 | t2: 1.0 (not > 1) | t3: z0(2)=1 -> 2.0* -> 0 | t4: .5 | t5: 1.5* | t6: .5 | t7: 1.5* | t8: .5
    layer = RIF(2, rngs=nnx.Rngs(0), use_bias=True)
    layer.recurrent.kernel[...] = jnp.array([[0.0, 0.5], [0.0, 0.0]])
    layer.recurrent.bias[...] = jnp.array([0.0, 0.25])
    z, final = snnx.run(layer, jnp.tile(jnp.array([0.75, 0.25]), (8, 1, 1)))
    steps = [[t + 1 for t in range(8) if z[t, 0, k] == 1] for k in range(2)]
    assert steps == [[2, 4, 6, 8], [3, 5, 7]]
    np.testing.assert_array_equal(final["v"], [[0.0, 0.5]])


def test_bias_reaches_the_first_step():
    # zero input, zero kernel, bias 1.5: step 1 already sees v = 1.5 > 1
    layer = RLIF(3, beta=0.5, rngs=nnx.Rngs(0), use_bias=True)
    layer.recurrent.kernel[...] = jnp.zeros((3, 3))
    layer.recurrent.bias[...] = jnp.full((3,), 1.5)
    z, _ = layer(jnp.zeros((1, 3)), layer.init_state(1))
    np.testing.assert_array_equal(z, np.ones((1, 3)))


def test_rcubalif_recurrence_enters_the_current():
    # one step, bias .5, x = .25, alpha = beta = .5: i = .75, v = .75 (the current carries it)
    layer = RCuBaLIF(1, alpha=0.5, beta=0.5, rngs=nnx.Rngs(0), use_bias=True)
    layer.recurrent.bias[...] = jnp.array([0.5])
    _, state = layer(jnp.array([[0.25]]), layer.init_state(1))
    assert float(state["i"][0, 0]) == 0.75
    assert float(state["v"][0, 0]) == 0.75


def test_default_init_is_small_and_bias_free():
    layer = RLIF(400, rngs=nnx.Rngs(1))
    kernel = np.asarray(layer.recurrent.kernel[...])
    assert kernel.shape == (400, 400)
    assert layer.recurrent.bias is None
    np.testing.assert_allclose(kernel.std(), 0.5 / np.sqrt(400), rtol=0.05)
    assert set(layer.init_state(2)) == {"v", "z"}
    assert set(RCuBaLIF(3, rngs=nnx.Rngs(0)).init_state(2)) == {"i", "v", "z"}


def test_custom_kernel_init_and_gradient_reaches_recurrent_weights():
    layer = RLIF(4, threshold=0.5, trainable=False, rngs=nnx.Rngs(0), kernel_init=nnx.initializers.ones)
    np.testing.assert_array_equal(layer.recurrent.kernel[...], np.ones((4, 4)))
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(6, 2, 4)), jnp.float32)

    def loss(m):
        z, _ = snnx.run(m, x)
        return jnp.sum(z)

    grads = nnx.grad(loss)(layer)
    names = {"/".join(map(str, path)) for path, _ in nnx.to_flat_state(grads)}
    assert names == {"recurrent/kernel"}


@pytest.mark.parametrize("cls", [RIF, RLIF, RCuBaLIF])
@pytest.mark.parametrize("shape", [(4,), (2, 2), 0, 2.0, True])
def test_shape_must_be_an_int(cls, shape):
    with pytest.raises(ValueError, match="`shape` of a recurrent layer must be a positive int N"):
        cls(shape, rngs=nnx.Rngs(0))


def test_recurrent_argument_errors():
    with pytest.raises(TypeError, match=r"`rngs` must be an nnx\.Rngs"):
        RIF(3, rngs=0)
    with pytest.raises(ValueError, match="`reset` must be one of"):
        RLIF(3, reset="zeros", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"`beta` must lie in \[0, 1\]"):
        RCuBaLIF(3, beta=1.2, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="`trainable` names unknown parameters"):
        RIF(3, trainable=("beta",), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="`surrogate` must be one of"):
        RLIF(3, surrogate="nope", rngs=nnx.Rngs(0))
    layer = RIF(3, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"`x` must have shape \(\*batch, 3\)"):
        layer(jnp.ones((1, 4)), layer.init_state(1))
    with pytest.raises(ValueError, match="`state` must be a dict with keys"):
        layer(jnp.ones((1, 3)), {"v": jnp.zeros((1, 3))})
