"""Phasor codes and layers: numpy complex128 references, exact inverses, rounding, the spiking layer.

Every expectation is computed here, independently of the code under test: the
phase code from its definition ``k = floor((theta + pi) / (2 pi) * P + 1/2) mod P``
in float64 numpy, the layers as complex128 matrix products, the spiking layer
both as a float64 numpy loop over its documented discrete update and as the
closed form its docstring promises (one cycle later, ``phase_to_spikes`` of the
non-spiking layer's phases).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import snnx
from snnx.phasor._codes import (
    phase_of,
    phase_to_spikes,
    phasor_to_real,
    phasor_to_value,
    real_to_phasor,
    spikes_to_phase,
    spikes_to_phasor,
)
from snnx.phasor._layers import PhasorActivation, PhasorLinear, PhasorMLP, PhasorReadout
from snnx.phasor._spiking import SpikingPhasor

PI = np.pi


def np_step(theta, P):
    """The spike step of each phase, by the definition (float64)."""
    u = (np.asarray(theta, np.float64) + PI) / (2 * PI) * P
    return np.mod(np.floor(u + 0.5).astype(int), P)


def np_grid(P):
    return (2 * PI * np.arange(P) / P - PI).astype(np.float32)


def circ_dist(a, b):
    return np.abs(np.angle(np.exp(1j * (np.asarray(a, np.float64) - np.asarray(b, np.float64)))))


def tie_margin(theta, P):
    """Distance of ``(theta + pi) / (2 pi) * P`` from the nearest rounding boundary (a half-integer)."""
    u = (np.asarray(theta, np.float64) + PI) / (2 * PI) * P
    return np.abs((u + 0.5) - np.round(u + 0.5))


def one_hot_trains(steps, active, P):
    """(P, *units) 0/1 train: a spike at ``steps`` where ``active``."""
    return (np.arange(P).reshape((P,) + (1,) * steps.ndim) == steps) & active


# --------------------------------------------------------------------------- the phase code
# Every code check uses P = 8 and 24 units, so each jitted encoder/decoder compiles once.

P8, N = 8, 24


def test_phase_to_spikes_rounds_half_up_and_wraps():
    d = 2 * PI / P8
    k = np.arange(P8)
    below = np_grid(P8) + (0.5 - 1e-3) * d  # just below the boundary: stays on step k
    above = np_grid(P8) + (0.5 + 1e-3) * d  # just above: the next step (a floor would give k)
    wraps = [-PI, PI, PI - 1e-3 * d, 0.3, 0.3 + 2 * PI, 0.3 - 4 * PI]  # pi and just below: step 0
    rand = np.random.default_rng(0).uniform(-PI, PI, size=2)
    theta = np.concatenate([below, above, wraps, rand]).astype(np.float32)
    assert tie_margin(rand, P8).min() > 1e-4
    train = np.asarray(phase_to_spikes(jnp.asarray(theta), P8, cycles=2))
    assert train.shape == (2 * P8, N) and train.dtype == np.float32
    want_steps = np.concatenate([k, (k + 1) % P8, [0, 0, 0], [np_step(0.3, P8)] * 3, np_step(rand, P8)])
    want = one_hot_trains(want_steps, True, P8).astype(np.float32)  # one spike per unit per cycle
    np.testing.assert_array_equal(train, np.concatenate([want, want]))
    # An exact tie, in float32 and in exact arithmetic: theta = 0, P = 5 is u = 2.5; halves go up
    # (a floor, or round-half-to-even, would give step 2).
    np.testing.assert_array_equal(phase_to_spikes(jnp.zeros(()), 5), [0, 0, 0, 1, 0])


def test_spikes_to_phase_inverts_phase_to_spikes():
    rng = np.random.default_rng(1)
    off = rng.uniform(-PI, PI, size=N - P8)
    theta = jnp.asarray(np.concatenate([np_grid(P8), off]).astype(np.float32))
    train = phase_to_spikes(theta, P8, cycles=2)
    back = np.asarray(spikes_to_phase(train, P8))
    np.testing.assert_array_equal(back[:P8], np_grid(P8))  # on the grid: exact
    assert np.all(circ_dist(back[P8:], theta[P8:]) <= PI / P8 + 1e-6)  # off it: within half a step
    assert np.all((back >= -PI) & (back < PI))
    np.testing.assert_allclose(np.abs(spikes_to_phasor(train, P8)), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(spikes_to_phase(train[:P8]), back)  # period=None: one cycle


def test_spikes_to_phase_is_the_circular_mean_and_silent_units_have_magnitude_zero():
    rng = np.random.default_rng(2)
    spikes = (rng.random((2 * P8, N)) < 0.3).astype(np.float32)
    spikes[:, :3] = 0.0  # unit 0 silent
    spikes[[0, 4, P8, P8 + 4], 1] = 1.0  # unit 1: steps 0 and 4 (phases -pi and 0) cancel
    spikes[P8 + P8 // 2, 2] = 1.0  # unit 2: phase 0 in one of the two cycles
    rho = 2 * PI * (np.arange(2 * P8) % P8) / P8 - PI
    z = (spikes * np.exp(1j * rho)[:, None]).sum(0) / 2  # complex128 mean phasor per cycle
    phase = np.asarray(spikes_to_phase(jnp.asarray(spikes), P8))
    phasor = np.asarray(spikes_to_phasor(jnp.asarray(spikes), P8))
    np.testing.assert_array_equal(phase[:3], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(phasor[:3], [0.0, 0.0, 0.5])  # silent, cancelling: magnitude 0
    np.testing.assert_allclose(phasor[3:], z[3:], atol=2e-6)
    np.testing.assert_allclose(circ_dist(phase[3:], np.angle(z[3:])), 0.0, atol=2e-6)


def test_real_and_phase_codes_are_inverse_pairs():
    rng = np.random.default_rng(3)
    x = rng.uniform(-0.999, 0.999, size=N).astype(np.float32)
    for scale in (PI, 2.0):  # |scale * x| < pi
        z = real_to_phasor(jnp.asarray(x), scale)
        assert z.dtype == jnp.complex64
        np.testing.assert_allclose(z, np.exp(1j * scale * x.astype(np.float64)), atol=1e-6)
        np.testing.assert_allclose(phasor_to_value(z, scale), x, atol=2e-6)
        np.testing.assert_allclose(phasor_to_real(z), np.cos(scale * x.astype(np.float64)), atol=1e-6)
    w = jnp.asarray(rng.normal(size=N) + 1j * rng.normal(size=N), jnp.complex64)  # the other way round
    np.testing.assert_allclose(real_to_phasor(phasor_to_value(w, 2.0), 2.0), w / np.abs(w), atol=2e-6)
    theta = np.linspace(-PI + 1e-3, PI - 1e-3, N).astype(np.float32)
    np.testing.assert_allclose(phase_of(real_to_phasor(jnp.asarray(theta), 1.0)), theta, atol=2e-6)
    edge = jnp.asarray(np.resize([-1 + 0j, 0j, 1j], N), jnp.complex64)
    np.testing.assert_array_equal(phase_of(edge)[:3], np.float32([-PI, 0.0, PI / 2]))  # [-pi, pi)


# --------------------------------------------------------------------------- complex layers


def _np(a):
    return np.asarray(a, np.float64)


def np_linear(layer, z):
    w = _np(layer.kernel_re[...]) + 1j * _np(layer.kernel_im[...])
    b = _np(layer.bias_re[...]) + 1j * _np(layer.bias_im[...]) if layer.use_bias else 0.0
    return z @ w + b


def _set_bias(layer, rng):
    layer.bias_re[...] = jnp.asarray(rng.normal(size=layer.out_features) * 0.3, jnp.float32)
    layer.bias_im[...] = jnp.asarray(rng.normal(size=layer.out_features) * 0.3, jnp.float32)


def test_phasor_layers_match_complex128_numpy():
    rng = np.random.default_rng(4)  # every kernel is (4, 4): one compiled initialiser for the file
    x = rng.uniform(0, 1, size=(3, 4)).astype(np.float32)
    mlp = PhasorMLP(4, 4, 4, depth=2, rngs=nnx.Rngs(0))
    for layer in mlp.layers:
        _set_bias(layer, rng)
    b_out = np.float32([0.5, -0.25, 0.0, 1.0])
    mlp.readout.bias[...] = jnp.asarray(b_out)
    z = np.exp(1j * PI * x.astype(np.float64))
    for layer in mlp.layers:
        h = np_linear(layer, z)
        np.testing.assert_allclose(layer(jnp.asarray(z, jnp.complex64)), h, atol=2e-5)
        z = h / np.abs(h)
        np.testing.assert_allclose(PhasorActivation()(jnp.asarray(h, jnp.complex64)), z, atol=2e-6)
    logits = np.real(np_linear(mlp.readout.linear, z)) + b_out
    np.testing.assert_allclose(mlp.readout(jnp.asarray(z, jnp.complex64)), logits, atol=2e-5)
    np.testing.assert_allclose(mlp(jnp.asarray(x)), logits, atol=5e-5)
    np.testing.assert_allclose(mlp(jnp.asarray(np.exp(1j * PI * x), jnp.complex64)), logits, atol=5e-5)
    bare = PhasorReadout(4, 4, use_bias=False, rngs=nnx.Rngs(1))
    want = np.real(np_linear(bare.linear, z))
    np.testing.assert_allclose(bare(jnp.asarray(z, jnp.complex64)), want, atol=2e-5)
    # Initialisation: complex Glorot, Re and Im ~ N(0, 1 / (in + out)), pooled over 32 draws of (4, 4)
    parts = np.stack([np.stack([_np(w.kernel_re[...]), _np(w.kernel_im[...])])
                      for w in (PhasorLinear(4, 4, rngs=nnx.Rngs(i)) for i in range(32))])
    assert abs(parts.std() * np.sqrt(8) - 1) < 0.1 and abs(parts.mean()) < 0.03
    np.testing.assert_array_equal(PhasorLinear(4, 4, rngs=nnx.Rngs(0)).bias, np.zeros(4))
    phase = PhasorLinear(4, 4, init="phase", rngs=nnx.Rngs(3))  # unit phases / sqrt(in)
    np.testing.assert_allclose(jnp.abs(phase.kernel), 0.5, rtol=1e-6)
    assert np.ptp(np.angle(_np(phase.kernel_re[...]) + 1j * _np(phase.kernel_im[...]))) > 3


def test_activation_is_finite_at_zero_and_mlp_gradients_train():
    act = PhasorActivation()

    @jax.jit
    def value_and_grads(re, im):
        def f(re, im):
            return jnp.sum(jnp.real(act(jax.lax.complex(re, im)) * (1 + 2j)))

        return act(jax.lax.complex(re, im)), jax.grad(f, (0, 1))(re, im)

    value, grads = value_and_grads(jnp.array([0.0, 1e-12, 3.0]), jnp.array([0.0, 0.0, 4.0]))
    np.testing.assert_allclose(value, [0, 1e-4, 0.6 + 0.8j], rtol=1e-6)
    assert np.all(np.isfinite(grads)) and np.abs(grads).max() > 0  # finite at z = 0 too

    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.uniform(0, 1, size=(6, 4)), jnp.float32)
    y = jnp.asarray([0, 1, 2, 3, 1, 2])
    model = PhasorMLP(4, 4, 4, depth=2, rngs=nnx.Rngs(0))
    for layer in model.layers:  # a non-zero bias, so every parameter's gradient can be non-zero
        _set_bias(layer, rng)
    optimizer = nnx.Optimizer(model, optax.adam(0.05), wrt=nnx.Param)

    def loss_fn(m):
        return optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean()

    @nnx.jit
    def step(m, opt):
        loss, grads = nnx.value_and_grad(loss_fn)(m)
        opt.update(m, grads)
        return loss, grads

    losses = []
    for i in range(6):
        loss, grads = step(model, optimizer)
        losses.append(float(loss))
        if i == 0:  # every parameter gets a finite, non-zero gradient
            for path, leaf in jax.tree_util.tree_leaves_with_path(nnx.state(grads)):
                leaf = np.asarray(leaf)
                assert np.all(np.isfinite(leaf)) and np.abs(leaf).max() > 0, path
    assert losses[-1] < losses[0] - 0.05, losses


# --------------------------------------------------------------------------- the spiking layer


def np_spiking(x, layer, threshold, P):
    """The documented discrete update of SpikingPhasor, stepped in float64 numpy."""
    w = _np(layer.kernel_re[...]) + 1j * _np(layer.kernel_im[...])
    b = _np(layer.bias_re[...]) + 1j * _np(layer.bias_im[...])
    q = np.zeros((*x.shape[1:-1], w.shape[1]), complex)
    p, out, margins = q.copy(), [], []
    for t, xt in enumerate(x):
        k = t % P
        if k == 0:
            p, q = q, np.broadcast_to(b, q.shape).copy()
            live = np.abs(p) > threshold
            margins.append(tie_margin(np.angle(p)[live], P))
            margins.append(np.abs(np.abs(p) - threshold)[np.abs(p) > 0])  # p = 0: silent in both
        q = q + (xt @ w) * np.exp(1j * (2 * PI * k / P - PI))
        fire = (np.abs(p) > threshold) & (np_step(np.angle(p), P) == k)
        out.append(fire.astype(np.float32))
    return np.stack(out), np.concatenate([m.ravel() for m in margins])


def test_spiking_phasor_equals_the_phasor_layer_one_cycle_later():
    P, cycles, rng = 6, 3, np.random.default_rng(6)
    lin1, lin2 = PhasorLinear(4, 4, rngs=nnx.Rngs(1)), PhasorLinear(4, 4, rngs=nnx.Rngs(2))
    _set_bias(lin1, rng)
    _set_bias(lin2, rng)
    th1, th2 = np.zeros(4, np.float32), np.float32(0.05)
    # batch: on-grid phases (input unit 3 silent), off-grid phases, random spikes
    grid_theta = np_grid(P)[rng.integers(0, P, size=4)]
    off_theta = (grid_theta + rng.uniform(-0.3, 0.3, size=4) * 2 * PI / P).astype(np.float32)
    x = np.array(phase_to_spikes(jnp.asarray(np.stack([grid_theta, off_theta])), P, cycles))
    x[:, 0, 3] = 0.0
    x = np.concatenate([x, (rng.random((P * cycles, 1, 4)) < 0.3).astype(np.float32)], axis=1)
    e_in = np.exp(1j * np.stack([grid_theta, np_grid(P)[np_step(off_theta, P)]]).astype(np.float64))
    e_in[0, 3] = 0.0  # what the spikes of samples 0 and 1 encode (the off-grid phases rounded)
    z1 = np_linear(lin1, e_in)
    weakest = np.argmin(np.abs(z1[0]))  # a threshold that silences one unit of sample 0
    th1[weakest] = np.abs(z1[0, weakest]) * 1.02 + 1e-3
    model = snnx.Sequential(SpikingPhasor(lin1, P, th1), SpikingPhasor(lin2, P, th2))

    # snnx.run under nnx.jit, step-major and layer-major; the first layer's spikes recorded
    runs = [nnx.jit(lambda m, x, e=engine: snnx.run(m, x, engine=e, record=0))(model, jnp.asarray(x))
            for engine in ("step", "layer")]
    for a, b in zip(jax.tree.leaves(runs[0]), jax.tree.leaves(runs[1]), strict=True):
        np.testing.assert_array_equal(a, b)
    y, h = np.asarray(runs[0][0]), np.asarray(runs[0][2].outputs["0"])

    h_np, m1 = np_spiking(x, lin1, th1, P)  # 1. the documented update, in numpy
    y_np, m2 = np_spiking(h_np, lin2, th2, P)
    assert min(m1.min(), m2.min()) > 1e-4, "test inputs too close to a rounding or threshold boundary"
    np.testing.assert_array_equal(h, h_np)
    np.testing.assert_array_equal(y, y_np)

    # 2. the closed form: cycle c + 1 is phase_to_spikes(angle(W e^{i theta} + b)) of cycle c
    assert not h[:P].any() and not y[:P].any()  # latency: one cycle per layer, the first is silent
    active = np.abs(z1) > th1
    assert not active[0, weakest] and active.sum() >= 6
    want1 = one_hot_trains(np_step(np.angle(z1), P), active, P)
    for c in (1, 2):
        np.testing.assert_array_equal(h[c * P:(c + 1) * P, :2], want1)
    z2 = np_linear(lin2, np.where(active, np.exp(1j * np.float64(np_grid(P))[np_step(np.angle(z1), P)]), 0))
    want2 = one_hot_trains(np_step(np.angle(z2), P), np.abs(z2) > th2, P)
    np.testing.assert_array_equal(y[2 * P:, :2], want2)
    b2 = np.broadcast_to(np_linear(lin2, np.zeros(4)), (2, 4))  # cycle 1 of layer 2 saw a silent cycle
    want2 = one_hot_trains(np_step(np.angle(b2), P), np.abs(b2) > th2, P)
    np.testing.assert_array_equal(y[P:2 * P, :2], want2)

    # 3. against the non-spiking layer: decoded phases within pi / P of PhasorActivation(PhasorLinear(.))
    decoded = np.asarray(spikes_to_phasor(jnp.asarray(h[P:]), P))
    ref = np.asarray(PhasorActivation()(lin1(jnp.asarray(e_in, jnp.complex64))))
    np.testing.assert_array_equal(np.abs(decoded[:2]) > 0, active)
    assert np.all(circ_dist(np.angle(decoded[:2]), np.angle(ref))[active] <= PI / P + 1e-5)
    # off-grid inputs: within 2 pi / P of angle(W e^{i theta} + b) where the input rounding moves
    # the sum by at most |Z| sin(pi / P) (so its phase by at most pi / P)
    z_off = np_linear(lin1, np.exp(1j * off_theta.astype(np.float64)))
    sure = active[1] & (np.abs(z1[1] - z_off) <= np.abs(z_off) * np.sin(PI / P))
    assert sure.any()
    assert np.all(circ_dist(np.angle(decoded[1]), np.angle(z_off))[sure] <= 2 * PI / P + 1e-5)


def test_spiking_phasor_state_and_parameters():
    layer = SpikingPhasor(PhasorLinear(4, 4, use_bias=False, rngs=nnx.Rngs(0)), period=2, threshold=0.5)
    state = layer.init_state()  # no batch axes
    assert state["t"].shape == () and state["q"].shape == (4,) and state["q"].dtype == jnp.complex64
    out, state = jax.eval_shape(layer, jax.ShapeDtypeStruct((4,), jnp.float32), state)
    assert out.shape == (4,) and out.dtype == jnp.float32 and state["t"].dtype == jnp.int32
    assert layer.init_state((2, 3))["t"].shape == (2, 3)
    # the weights stay the PhasorLinear's nnx.Params; the threshold is frozen
    assert {path[0] for path, _ in nnx.to_flat_state(nnx.state(layer, nnx.Param))} == {"linear"}
    assert isinstance(layer.threshold, snnx.Const)


# --------------------------------------------------------------------------- bad input


def test_bad_input_names_the_argument():
    lin = PhasorLinear(4, 4, rngs=nnx.Rngs(0))
    layer = SpikingPhasor(lin, 4)
    s1 = layer.init_state(1)
    c4 = jnp.ones((1, 4), jnp.complex64)
    cases = [
        (lambda: phase_to_spikes(jnp.zeros(3), 0), ValueError, r"`period` must be a positive int"),
        (lambda: phase_to_spikes(jnp.zeros(3), 4, cycles=0), ValueError, r"`cycles`"),
        (lambda: phase_to_spikes(jnp.zeros(3, jnp.complex64), 4), TypeError, r"`theta` must be real"),
        (lambda: phase_to_spikes(jnp.array([jnp.nan]), 4), ValueError, r"`theta` must be finite"),
        (lambda: spikes_to_phase(jnp.zeros((6, 2)), 4), ValueError, r"`spikes` .*of `period` \(=4\)"),
        (lambda: spikes_to_phase(jnp.zeros(()), 4), ValueError, r"`spikes` must have shape \(T, \*units\)"),
        (lambda: spikes_to_phasor(jnp.zeros((4, 2)), 2.5), ValueError, r"`period`"),
        (lambda: real_to_phasor(jnp.zeros(2), scale=0.0), ValueError, r"`scale` must be a positive"),
        (lambda: real_to_phasor(jnp.zeros(2, jnp.complex64)), TypeError, r"`x` must be real"),
        (lambda: phasor_to_real(jnp.zeros(2)), TypeError, r"`z` must be complex"),
        (lambda: phase_of(jnp.zeros(2)), TypeError, r"`z` must be complex"),
        (lambda: phasor_to_value(c4, -1.0), ValueError, r"`scale`"),
        (lambda: PhasorLinear(0, 2, rngs=nnx.Rngs(0)), ValueError, r"`in_features` must be a positive int"),
        (lambda: PhasorLinear(3, 2, init="normal", rngs=nnx.Rngs(0)), ValueError, r"`init` must be one of"),
        (lambda: PhasorLinear(3, 2, rngs=0), TypeError, r"`rngs` must be an nnx.Rngs"),
        (lambda: lin(jnp.ones((1, 4))), TypeError, r"`x` must be complex phasors .*real_to_phasor"),
        (lambda: lin(jnp.ones((1, 3), jnp.complex64)), ValueError, r"`x` must have shape \(\*batch, 4\)"),
        (lambda: PhasorActivation(eps=0.0), ValueError, r"`eps`"),
        (lambda: PhasorActivation()(jnp.ones(2)), TypeError, r"`z` must be complex"),
        (lambda: PhasorReadout(3, 0, rngs=nnx.Rngs(0)), ValueError, r"`out_features`"),
        (lambda: PhasorMLP(3, 4, 2, depth=0, rngs=nnx.Rngs(0)), ValueError, r"`depth`"),
        (lambda: SpikingPhasor(PhasorActivation(), 4), TypeError, r"`linear` must be a snnx.phasor.Phasor"),
        (lambda: SpikingPhasor(lin, 0), ValueError, r"`period`"),
        (lambda: SpikingPhasor(lin, 4, threshold=-1.0), ValueError, r"`threshold` must be >= 0"),
        (lambda: SpikingPhasor(lin, 4, threshold=[1.0, 2.0, 3.0]), ValueError, r"`threshold`"),
        (lambda: layer(c4, s1), TypeError, r"`x` must be real 0/1 spikes"),
        (lambda: layer(jnp.ones((1, 2)), s1), ValueError, r"`x` must have shape \(\*batch, 4\)"),
        (lambda: layer(jnp.ones((2, 4)), s1), ValueError, r"`x` must have the batch shape"),
        (lambda: layer(jnp.ones((1, 4)), {"v": 0}), ValueError, r"`state` must be a dict with keys"),
    ]
    for call, kind, pattern in cases:
        with pytest.raises(kind, match=pattern):
            call()
