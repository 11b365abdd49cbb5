"""The fused neuron scans (``snnx.engine._fused``) equal jax autodiff of the plain step scan.

Spikes must be identical; outputs, states and the gradients of the input, the
initial state and every parameter (beta clipped at 1, reset modes,
``detach_reset``, recurrent weights) equal to 1e-5.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnx import surrogate
from snnx.engine import Sequential, _fused, _layerwise, run
from snnx.neurons import IF, LI, LIF, RLIF

T, B, N = 12, 3, 8

NEURONS = {
    "lif": lambda: LIF(N, 0.9),
    "lif_beta1_nodetach": lambda: LIF(N, 1.0, reset="zero", detach_reset=False, v_reset=0.2, v_leak=0.1),
    "lif_subtract_nodetach": lambda: LIF(N, 0.9, reset="subtract", detach_reset=False),
    "lif_none_perunit": lambda: LIF(
        N, jnp.linspace(0.5, 1.0, N), threshold=jnp.linspace(0.5, 1.5, N), reset="none"
    ),
    "lif_arctan": lambda: LIF(N, 0.8, surrogate=surrogate.arctan(), trainable=("beta",)),
    "li": lambda: LI(N, 0.8, v_leak=0.1),
    "if_subtract": lambda: IF(N, reset="subtract"),
    "if_zero_nodetach": lambda: IF(N, v_reset=-0.1, detach_reset=False),
    "rlif": lambda: RLIF(N, 0.9, rngs=nnx.Rngs(0)),
    "rlif_bias_subtract": lambda: RLIF(
        N, 0.9, rngs=nnx.Rngs(1), use_bias=True, reset="subtract", detach_reset=False
    ),
}


def _loss_and_grads(make, fused: bool, return_states: bool, monkeypatch, x, state_scale=0.0):
    monkeypatch.setattr(_layerwise, "FUSED_NEURONS", fused)
    m = make()
    graphdef, params, rest = nnx.split(m, nnx.Param, ...)
    s0 = jax.tree.map(lambda a: a + state_scale, m.init_state(B))
    if "z" in s0:
        s0["z"] = (s0["z"] > 0.5 * state_scale).astype(jnp.float32) * (state_scale > 0)

    def f(params, x, s0):
        mm = nnx.merge(graphdef, params, rest)
        ys, st = _layerwise._scan_stateful(mm, x, s0, unroll=1, remat=False, return_states=return_states)
        aux = sum((jnp.cos(a) * a).sum() for a in jax.tree.leaves(st))
        return (ys * jnp.sin(x)).sum() + aux, (ys, st)

    (loss, (ys, st)), grads = jax.value_and_grad(f, argnums=(0, 1, 2), has_aux=True)(params, x, s0)
    return loss, ys, st, grads


@pytest.mark.parametrize("return_states", [False, True])
@pytest.mark.parametrize("name", sorted(NEURONS))
def test_fused_scan_equals_autodiff_of_step(monkeypatch, name, return_states):
    x = jax.random.normal(jax.random.key(1), (T, B, N)) * 0.8
    ref = _loss_and_grads(NEURONS[name], False, return_states, monkeypatch, x, state_scale=0.3)
    got = _loss_and_grads(NEURONS[name], True, return_states, monkeypatch, x, state_scale=0.3)
    np.testing.assert_array_equal(np.asarray(got[1]), np.asarray(ref[1]))  # spikes / outputs exact
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
    # every parameter of the neuron got a gradient (same tree as autodiff's)
    assert jax.tree.structure(got[3]) == jax.tree.structure(ref[3])


@pytest.mark.parametrize("name", sorted(NEURONS))
def test_fused_path_is_taken(name):
    m = NEURONS[name]()
    out = _fused.fused_neuron_scan(m, jnp.ones((T, B, N)), m.init_state(B), return_states=False)
    assert out is not None


def test_not_covered_falls_back():
    lif = LIF(N, 0.9)
    # integer input: promotion differs from the float kernel, so the caller's scan is used
    xs = jnp.ones((T, B, N), jnp.int32)
    assert _fused.fused_neuron_scan(lif, xs, lif.init_state(B), return_states=False) is None

    class MyLIF(LIF):
        pass

    sub = MyLIF(N, 0.9)
    assert _fused.fused_neuron_scan(sub, jnp.ones((T, B, N)), sub.init_state(B), return_states=False) is None


def test_beta_clipped_gradient_matches_jnp_clip(monkeypatch):
    """A learnt beta that drifted above 1 (or below 0): the gradient is jnp.clip's (zero outside)."""
    x = jax.random.normal(jax.random.key(2), (T, B, N))
    for value in (1.2, -0.1, 1.0, 0.0):

        def make(v=value):
            lif = LIF(N, 0.5)
            lif.beta[...] = jnp.asarray(v, jnp.float32)
            return lif

        ref = _loss_and_grads(make, False, False, monkeypatch, x)
        got = _loss_and_grads(make, True, False, monkeypatch, x)
        np.testing.assert_array_equal(np.asarray(got[1]), np.asarray(ref[1]))
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


def test_training_step_through_run_matches_step_engine():
    r = nnx.Rngs(0)
    model = Sequential(
        nnx.Linear(6, N, rngs=r, kernel_init=nnx.initializers.normal(1.0)),
        RLIF(N, 0.9, rngs=r, trainable=("beta",)),
        nnx.Linear(N, 4, rngs=r),
        LI(4, 0.8),
    )
    x = (jax.random.uniform(jax.random.key(3), (T, B, 6)) < 0.3).astype(jnp.float32)

    def loss(m, engine):
        out, _ = run(m, x, engine=engine)
        return (out.sum(0) ** 2).mean()

    ref = nnx.jit(nnx.grad(lambda m: loss(m, "step")))(model)
    got = nnx.jit(nnx.grad(lambda m: loss(m, "auto")))(model)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bias_into_neuron", [False, True])
def test_bias_into_neuron_equals_step_engine(monkeypatch, bias_into_neuron):
    monkeypatch.setattr(_layerwise, "BIAS_INTO_NEURON", bias_into_neuron)
    r = nnx.Rngs(4)
    model = Sequential(
        nnx.Linear(
            6, N, rngs=r, kernel_init=nnx.initializers.normal(1.0), bias_init=nnx.initializers.normal(0.5)
        ),
        LIF(N, 0.9),
        nnx.Linear(N, 4, rngs=r, bias_init=nnx.initializers.normal(0.5)),
        LI(4, 0.8),
    )
    x = (jax.random.uniform(jax.random.key(5), (T, B, 6)) < 0.3).astype(jnp.float32)

    def loss(m, engine):
        out, states = run(m, x, engine=engine, return_states=True)
        return (out.sum(0) ** 2).mean() + sum(a.sum() for a in jax.tree.leaves(states)), out

    (l_ref, out_ref), g_ref = nnx.value_and_grad(lambda m: loss(m, "step"), has_aux=True)(model)
    (l_got, out_got), g_got = nnx.value_and_grad(lambda m: loss(m, "auto"), has_aux=True)(model)
    np.testing.assert_allclose(np.asarray(out_got), np.asarray(out_ref), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(float(l_got), float(l_ref), rtol=1e-5)
    for a, b in zip(jax.tree.leaves(g_got), jax.tree.leaves(g_ref), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


SPIKING = ["lif", "lif_subtract_nodetach", "lif_none_perunit", "if_zero_nodetach", "rlif_bias_subtract"]


def _spy_projection(monkeypatch):
    """Record, per call of ``leaky_scan``, whether a Linear was applied inside the loop."""
    calls = []
    real = _fused.leaky_scan

    def spy(*args, **kwargs):
        calls.append(kwargs.get("w_out") is not None)
        return real(*args, **kwargs)

    monkeypatch.setattr(_fused, "leaky_scan", spy)
    return calls


def _readout_model(name, out_bias: bool, n_out: int = 4):
    normal = nnx.initializers.normal
    r = nnx.Rngs(7)
    return Sequential(
        nnx.Linear(
            6, N, rngs=r, kernel_init=nnx.initializers.normal(1.0), bias_init=nnx.initializers.normal(0.3)
        ),
        NEURONS[name](),
        nnx.Linear(N, n_out, rngs=r, use_bias=out_bias, bias_init=normal(0.3)),
        LI(n_out, 0.8),
    )


@pytest.mark.parametrize("out_bias", [True, False])
@pytest.mark.parametrize("name", SPIKING)
def test_projection_into_neuron_equals_step_engine(monkeypatch, name, out_bias):
    """The Linear after a spiking neuron, applied per step inside the fused loop: same values, grads."""
    calls = _spy_projection(monkeypatch)
    monkeypatch.setattr(_layerwise, "PROJECT_MIN_BYTES", 0)  # project these small sequences too
    model = _readout_model(name, out_bias)
    x = (jax.random.uniform(jax.random.key(8), (T, B, 6)) < 0.4).astype(jnp.float32)

    def loss(m, x, engine):
        out, final = run(m, x, engine=engine)
        aux = sum((jnp.cos(a) * a).sum() for a in jax.tree.leaves(final))
        return (out * jnp.sin(jnp.arange(out.size).reshape(out.shape))).sum() + aux, out

    def grads(engine):
        f = nnx.value_and_grad(lambda m, x: loss(m, x, engine), argnums=(0, 1), has_aux=True)
        return nnx.jit(f)(model, x)

    (ref_loss, ref_out), ref_g = grads("step")
    (got_loss, got_out), got_g = grads("auto")
    assert calls == [True, False]  # the neuron projected; the LI readout ran without
    np.testing.assert_allclose(np.asarray(got_out), np.asarray(ref_out), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(float(got_loss), float(ref_loss), rtol=1e-5)
    for a, b in zip(jax.tree.leaves(got_g), jax.tree.leaves(ref_g), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


def test_projection_only_for_small_linears_and_without_states(monkeypatch):
    calls = _spy_projection(monkeypatch)
    model = _readout_model("lif", True, n_out=4)
    x = jnp.ones((T, B, 6))
    seq_bytes = T * B * N * 4  # the hidden neuron's (T, B, N) float32 sequence
    monkeypatch.setattr(_layerwise, "PROJECT_MIN_BYTES", seq_bytes + 1)  # too short a sequence
    run(model, x)
    assert calls == [False, False]
    calls.clear()
    monkeypatch.setattr(_layerwise, "PROJECT_MIN_BYTES", seq_bytes)
    monkeypatch.setattr(_layerwise, "PROJECT_MAX_OUT", 3)  # Linear(N, 4) is now too wide
    wide, _ = run(model, x)
    assert calls == [False, False]
    calls.clear()
    _, states = run(model, x, return_states=True)  # the hidden spikes are wanted: not projected
    assert calls == [False, False]
    calls.clear()
    monkeypatch.setattr(_layerwise, "PROJECT_MAX_OUT", 64)
    narrow, _ = run(model, x)
    assert calls == [True, False]
    np.testing.assert_allclose(np.asarray(narrow), np.asarray(wide), rtol=1e-5, atol=1e-5)
    assert states[1]["v"].shape == (T, B, N)
