"""Reset-free neurons: ``parallel`` (associative scan) equals stepping, values match closed forms."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import snnx
from snnx.neurons import PSU_LIF, ResonateFire
from snnx.neurons._psu import linear_recurrence


def step_path(model, x):
    """The step-by-step reference: ``snnx.run`` from an explicitly given zero state (a scan)."""
    return snnx.run(model, x, model.init_state(x.shape[1]), return_states=True)


@pytest.fixture(scope="module")
def x():
    return jnp.asarray(np.random.default_rng(0).normal(0.2, 0.6, (16, 3, 4)), jnp.float32)


def make_psu():
    return PSU_LIF(
        4, beta=jnp.array([0.0, 0.5, 0.9, 1.0]), threshold=jnp.array([0.5, 1.0, 1.5, 2.0]), trainable=True
    )


def make_rf():
    return ResonateFire(
        4, lam=jnp.array([0.0, 0.05, 0.2, 1.0]), omega=jnp.array([0.3, -1.0, 2.0, 0.0]), trainable=True
    )


def test_linear_recurrence_matches_loop():
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, size=(9, 2))
    b = rng.normal(size=(9, 2))
    h, expected = np.zeros(2), []
    for t in range(9):
        h = a[t] * h + b[t]
        expected.append(h)
    out = linear_recurrence(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32))
    np.testing.assert_allclose(out, np.stack(expected), rtol=1e-5, atol=1e-6)


def test_psu_parallel_equals_step(x):
    psu = make_psu()
    z_step, states = step_path(psu, x)
    z_par, par_states = psu.parallel(x, return_states=True)
    np.testing.assert_allclose(par_states["v"], states["v"], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(z_par, z_step)
    np.testing.assert_array_equal(psu.parallel(x), z_step)


def test_psu_membrane_closed_form():
    # v_t = sum_{k<=t} beta^(t-k) x_k; for constant x: x (1 - beta^t) / (1 - beta)
    beta = 0.8
    _, states = PSU_LIF(1, beta=beta, threshold=1e9).parallel(jnp.full((10, 1, 1), 0.5), return_states=True)
    t = np.arange(1, 11)
    np.testing.assert_allclose(
        np.asarray(states["v"]).reshape(-1), 0.5 * (1 - beta**t) / (1 - beta), rtol=1e-6
    )


def test_psu_has_no_reset():
    # beta 1, input .75: v = .75, 1.5, 2.25, ... never reset -> spikes from step 2 on
    z = PSU_LIF(1, beta=1.0).parallel(jnp.full((6, 1, 1), 0.75))
    np.testing.assert_array_equal(np.asarray(z).reshape(-1), [0, 1, 1, 1, 1, 1])


def test_resonate_parallel_equals_step(x):
    rf = make_rf()
    z_step, states = step_path(rf, x)
    z_par, par_states = rf.parallel(x, return_states=True)
    assert par_states["u"].dtype == jnp.complex64
    np.testing.assert_allclose(par_states["u"], states["u"], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(z_par, z_step)


def test_resonate_state_matches_closed_form():
    # u_t = sum_{k<=t} p^(t-k) x_k with p = exp(-lam + i omega); constant x: x (1 - p^t) / (1 - p)
    lam, omega = 0.1, 0.7
    p = np.exp(-lam + 1j * omega)
    rf = ResonateFire(1, lam=lam, omega=omega, threshold=1.0)
    z, states = rf.parallel(jnp.ones((12, 1, 1)), return_states=True)
    t = np.arange(1, 13)
    u = (1 - p**t) / (1 - p)
    np.testing.assert_allclose(np.asarray(states["u"]).reshape(-1), u, rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(z).reshape(-1), (u.real > 1.0).astype(np.float32))


def test_resonate_pure_rotation_by_hand():
    # lam 0, omega pi/2: p = i. A single unit impulse gives u = 1, i, -1, -i, 1, ...
    rf = ResonateFire(1, lam=0.0, omega=np.pi / 2, threshold=0.5)
    z, states = rf.parallel(jnp.array([1.0, 0, 0, 0, 0]).reshape(5, 1, 1), return_states=True)
    np.testing.assert_allclose(np.asarray(states["u"]).reshape(-1), [1, 1j, -1, -1j, 1], atol=1e-6)
    np.testing.assert_array_equal(np.asarray(z).reshape(-1), [1, 0, 0, 0, 1])


def test_resonate_lam_clipped_at_zero():
    rf = ResonateFire(1, lam=0.0, omega=0.0, threshold=1e9)
    rf.lam[...] = jnp.asarray(-0.5)  # as an optimiser might leave it
    _, states = rf.parallel(jnp.ones((4, 1, 1)), return_states=True)
    np.testing.assert_allclose(np.asarray(states["u"]).reshape(-1), [1, 2, 3, 4], rtol=1e-6)


@pytest.mark.parametrize("make", [make_psu, make_rf])
def test_parallel_equals_step_under_jit_with_gradients(make, x):
    model = make()

    @nnx.jit
    def both(m, x):
        def loss_par(m):
            return jnp.sum(m.parallel(x) * jnp.arange(x.shape[0])[:, None, None])

        def loss_step(m):
            z, _ = snnx.run(m, x, m.init_state(x.shape[1]))
            return jnp.sum(z * jnp.arange(x.shape[0])[:, None, None])

        return nnx.value_and_grad(loss_par)(m), nnx.value_and_grad(loss_step)(m), m.parallel(x)

    (l_par, g_par), (l_step, g_step), z_jit = both(model, x)
    np.testing.assert_array_equal(z_jit, model.parallel(x))
    assert float(l_par) == float(l_step)
    flat_par, flat_step = nnx.to_flat_state(g_par), nnx.to_flat_state(g_step)
    assert len(flat_par) == len(flat_step) > 0
    for (path, g1), (_, g2) in zip(flat_par, flat_step, strict=True):
        assert np.any(g1[...] != 0), path
        np.testing.assert_allclose(g1[...], g2[...], rtol=1e-4, atol=1e-6, err_msg=str(path))


def test_parallel_on_conv_maps_and_several_batch_axes():
    rf = ResonateFire((2, 2, 3), omega=jnp.array([0.1, 0.5, 1.0]))
    x = jnp.asarray(np.random.default_rng(3).normal(size=(5, 2, 2, 2, 3)), jnp.float32)
    z_step, _ = snnx.run(rf, x, rf.init_state(2))
    np.testing.assert_array_equal(rf.parallel(x), z_step)
    psu = PSU_LIF((2, 3))
    xs = jnp.ones((4, 2, 5, 2, 3))  # (T, B1, B2, 2, 3)
    assert psu.parallel(xs).shape == xs.shape


@pytest.mark.parametrize("cls", [PSU_LIF, ResonateFire])
def test_parallel_input_shape_errors(cls):
    neuron = cls(3)
    with pytest.raises(ValueError, match=r"`x` must have shape \(\*batch, 3\), got \(4, 2, 5\)"):
        neuron.parallel(jnp.ones((4, 2, 5)))
    with pytest.raises(ValueError, match=r"`x` must have shape \(T, B, 3\) with time first, got \(2, 3\)"):
        neuron.parallel(jnp.ones((2, 3)))
