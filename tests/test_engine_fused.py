"""The fused neuron scans (``Options(fused=True)``) equal jax autodiff of the plain step scan.

Spikes must be identical; outputs, states and the gradients of the input, the
initial state and every parameter (beta clipped at 1, reset modes,
``detach_reset``, recurrent weights) equal to 1e-5. Neurons are built with
``trainable=True`` (the default freezes them) wherever parameter gradients are checked.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnx import surrogate
from snnx.engine import Options, Sequential, plan, run
from snnx.neurons import ALIF, IF, LI, LIF, RIF, RLIF

T, B, N = 12, 3, 8

NEURONS = {
    "lif": lambda: LIF(N, 0.9, trainable=True),
    "lif_beta1_nodetach": lambda: LIF(
        N, 1.0, reset="zero", detach_reset=False, v_reset=0.2, v_leak=0.1, trainable=True
    ),
    "lif_subtract_nodetach": lambda: LIF(N, 0.9, reset="subtract", detach_reset=False, trainable=True),
    "lif_none_perunit": lambda: LIF(
        N, jnp.linspace(0.5, 1.0, N), threshold=jnp.linspace(0.5, 1.5, N), reset="none", trainable=True
    ),
    "lif_frozen": lambda: LIF(N, 0.9, threshold=0.8),  # the default: every parameter a Const
    "lif_arctan": lambda: LIF(N, 0.8, surrogate=surrogate.arctan(), trainable=("beta",)),
    "li": lambda: LI(N, 0.8, v_leak=0.1, trainable=True),
    "if_subtract": lambda: IF(N, reset="subtract", trainable=True),
    "if_zero_nodetach": lambda: IF(N, v_reset=-0.1, detach_reset=False, trainable=True),
    "rlif": lambda: RLIF(N, 0.9, rngs=nnx.Rngs(0), trainable=True),
    "rlif_bias_subtract": lambda: RLIF(
        N, 0.9, rngs=nnx.Rngs(1), use_bias=True, reset="subtract", detach_reset=False, trainable=True
    ),
    "rif_bias": lambda: RIF(N, rngs=nnx.Rngs(2), use_bias=True, v_reset=0.1, trainable=True),
}


def _loss_and_grads(make, fused: bool, return_states: bool, x, state_scale=0.0):
    m = make()
    graphdef, params, rest = nnx.split(m, nnx.Param, ...)
    s0 = jax.tree.map(lambda a: a + state_scale, m.init_state(B))
    if "z" in s0:
        s0["z"] = (s0["z"] > 0.5 * state_scale).astype(jnp.float32) * (state_scale > 0)

    def f(params, x, s0):
        mm = nnx.merge(graphdef, params, rest)
        ys, st = run(mm, x, s0, options=Options(fused=fused), return_states=return_states)
        aux = sum((jnp.cos(a) * a).sum() for a in jax.tree.leaves(st))
        return (ys * jnp.sin(x)).sum() + aux, (ys, st)

    (loss, (ys, st)), grads = jax.value_and_grad(f, argnums=(0, 1, 2), has_aux=True)(params, x, s0)
    return loss, ys, st, grads


@pytest.mark.parametrize("return_states", [False, pytest.param(True, marks=pytest.mark.slow)])
@pytest.mark.parametrize("name", sorted(NEURONS))
def test_fused_scan_equals_autodiff_of_step(name, return_states):
    x = jax.random.normal(jax.random.key(1), (T, B, N)) * 0.8
    ref = _loss_and_grads(NEURONS[name], False, return_states, x, state_scale=0.3)
    got = _loss_and_grads(NEURONS[name], True, return_states, x, state_scale=0.3)
    if name != "li":  # spikes exact; LI's output is a membrane, equal to 1e-5 like the states (below)
        np.testing.assert_array_equal(np.asarray(got[1]), np.asarray(ref[1]))
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
    # every parameter of the neuron got a gradient (same tree as autodiff's)
    assert jax.tree.structure(got[3]) == jax.tree.structure(ref[3])


@pytest.mark.parametrize("name", sorted(NEURONS))
def test_fused_path_is_taken(name):
    (step,) = plan(NEURONS[name](), jnp.ones((T, B, N))).steps
    assert step.kind == "FusedNeuron" and step.cast is None
    (step,) = plan(NEURONS[name](), jnp.ones((T, B, N)), options=Options(fused=False)).steps
    assert step.kind == "Scan" and "options.fused is False" in step.notes[0]


def test_plan_says_why_a_neuron_is_not_fused():
    class MyLIF(LIF):  # changes the step: the kernel would compute something else
        def __call__(self, x, state):
            return super().__call__(2 * x, state)

    x = jnp.ones((T, B, N))
    (step,) = plan(MyLIF(N, 0.9), x).steps
    assert step.kind == "Scan" and "MyLIF overrides the leaky step" in step.notes[0]
    (step,) = plan(ALIF(N), x).steps
    assert step.kind == "Scan" and "ALIF has no fused kernel" in step.notes[0]
    # a state dtype that differs from the computation's: the step engine's carry would change type too
    lif = LIF(N, 0.9)
    (step,) = plan(lif, x, {"v": jnp.zeros((B, N), jnp.bfloat16)}).steps
    assert step.kind == "Scan" and "state dtypes {'v': 'bfloat16'} differ" in step.notes[0]

    class Plain(LIF):  # a subclass that keeps the step is still fused
        pass

    assert plan(Plain(N, 0.9), x).steps[0].kind == "FusedNeuron"


@pytest.mark.parametrize(
    ("x_dtype", "param_dtype", "state_dtype", "cast"),
    [
        (jnp.int32, jnp.float32, jnp.float32, "float32"),  # integer spikes, promoted by the step
        (jnp.bfloat16, jnp.float32, jnp.float32, "float32"),  # bf16 input into a float32 neuron
        (jnp.bfloat16, jnp.bfloat16, jnp.bfloat16, None),  # an all-bf16 neuron
        (jnp.float16, jnp.float16, jnp.float16, None),
    ],
)
def test_other_dtypes_keep_the_fused_path_and_equal_the_step_engine(x_dtype, param_dtype, state_dtype, cast):
    """Not only float32: the kernel computes in the dtype the step promotes to, with identical spikes."""
    x = (jax.random.normal(jax.random.key(4), (T, B, N)) * 2).astype(x_dtype)
    lif = LIF(N, 0.9, threshold=0.7, trainable=True)
    for name in ("beta", "threshold", "v_leak", "v_reset"):
        getattr(lif, name).set_value(getattr(lif, name)[...].astype(param_dtype))
    s0 = jax.tree.map(lambda a: a.astype(state_dtype), lif.init_state(B))
    (step,) = plan(lif, x, s0).steps
    assert step.kind == "FusedNeuron" and step.cast == cast

    def loss(m, engine):
        ys, final = run(m, x, s0, engine=engine)
        return (ys.astype(jnp.float32) * jnp.arange(N)).sum() + final["v"].astype(jnp.float32).sum(), ys

    (l_ref, y_ref), g_ref = nnx.value_and_grad(lambda m: loss(m, "step"), has_aux=True)(lif)
    (l_got, y_got), g_got = nnx.value_and_grad(lambda m: loss(m, "auto"), has_aux=True)(lif)
    assert y_got.dtype == y_ref.dtype and float(y_ref.astype(jnp.float32).sum()) > 0
    np.testing.assert_array_equal(np.asarray(y_got, np.float32), np.asarray(y_ref, np.float32))
    tol = 1e-5 if param_dtype == jnp.float32 else 2e-2
    np.testing.assert_allclose(float(l_got), float(l_ref), rtol=tol)
    for a, b in zip(jax.tree.leaves(g_got), jax.tree.leaves(g_ref), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32), rtol=tol, atol=tol)


def test_forward_mode_through_the_fused_kernel_says_what_to_do():
    lif, x = LIF(N, 0.9), jax.random.normal(jax.random.key(5), (T, B, N))

    def f(x, options=None):
        return run(lif, x, options=options)[0].sum()

    with pytest.raises(TypeError, match=r"reverse-mode autodiff only.*Options\(fused=False"):
        jax.jvp(f, (x,), (jnp.ones_like(x),))
    _, tangent = jax.jvp(lambda x: f(x, Options(fused=False)), (x,), (jnp.ones_like(x),))
    _, ref = jax.jvp(lambda x: run(lif, x, engine="step")[0].sum(), (x,), (jnp.ones_like(x),))
    np.testing.assert_allclose(float(tangent), float(ref), rtol=1e-5)


def test_beta_clipped_gradient_matches_jnp_clip():
    """A learnt beta that drifted above 1 (or below 0): the gradient is jnp.clip's (zero outside)."""
    x = jax.random.normal(jax.random.key(2), (T, B, N))
    for value in (1.2, -0.1, 1.0, 0.0):

        def make(v=value):
            lif = LIF(N, 0.5, trainable=True)
            lif.beta[...] = jnp.asarray(v, jnp.float32)
            return lif

        ref = _loss_and_grads(make, False, False, x)
        got = _loss_and_grads(make, True, False, x)
        np.testing.assert_array_equal(np.asarray(got[1]), np.asarray(ref[1]))
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_training_step_through_run_matches_step_engine():
    r = nnx.Rngs(0)
    model = Sequential(
        nnx.Linear(6, N, rngs=r, kernel_init=nnx.initializers.normal(1.0)),
        RLIF(N, 0.9, rngs=r, trainable=("beta",)),
        nnx.Linear(N, 4, rngs=r),
        LI(4, 0.8, trainable=True),
    )
    x = (jax.random.uniform(jax.random.key(3), (T, B, 6)) < 0.3).astype(jnp.float32)

    def loss(m, engine):
        out, _ = run(m, x, engine=engine)
        return (out.sum(0) ** 2).mean()

    ref = nnx.jit(nnx.grad(lambda m: loss(m, "step")))(model)
    got = nnx.jit(nnx.grad(lambda m: loss(m, "auto")))(model)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bias_into_neuron", [pytest.param(False, marks=pytest.mark.slow), True])
def test_bias_into_neuron_equals_step_engine(bias_into_neuron):
    options = Options(bias_into_neuron=bias_into_neuron)
    r = nnx.Rngs(4)
    model = Sequential(
        nnx.Linear(
            6, N, rngs=r, kernel_init=nnx.initializers.normal(1.0), bias_init=nnx.initializers.normal(0.5)
        ),
        LIF(N, 0.9, trainable=True),
        nnx.Linear(N, 4, rngs=r, bias_init=nnx.initializers.normal(0.5)),
        LI(4, 0.8, trainable=True),
    )
    x = (jax.random.uniform(jax.random.key(5), (T, B, 6)) < 0.3).astype(jnp.float32)

    steps = plan(model, x, options=options, return_states=True).steps
    moved = [s.bias_to for s in steps if s.kind == "PerSample"]
    assert moved == ([(1,), (3,)] if bias_into_neuron else [None, None])

    def loss(m, engine):
        out, states = run(m, x, engine=engine, return_states=True, options=options)
        return (out.sum(0) ** 2).mean() + sum(a.sum() for a in jax.tree.leaves(states)), out

    (l_ref, out_ref), g_ref = nnx.value_and_grad(lambda m: loss(m, "step"), has_aux=True)(model)
    (l_got, out_got), g_got = nnx.value_and_grad(lambda m: loss(m, "auto"), has_aux=True)(model)
    np.testing.assert_allclose(np.asarray(out_got), np.asarray(out_ref), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(float(l_got), float(l_ref), rtol=1e-5)
    for a, b in zip(jax.tree.leaves(g_got), jax.tree.leaves(g_ref), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


SPIKING = ["lif", "lif_subtract_nodetach", "lif_none_perunit", "if_zero_nodetach", "rlif_bias_subtract"]


def _kinds(model, x, **kwargs):
    return [s.kind for s in plan(model, x, **kwargs).steps]


def _readout_model(name, out_bias: bool, n_out: int = 4):
    normal = nnx.initializers.normal
    r = nnx.Rngs(7)
    return Sequential(
        nnx.Linear(
            6, N, rngs=r, kernel_init=nnx.initializers.normal(1.0), bias_init=nnx.initializers.normal(0.3)
        ),
        NEURONS[name](),
        nnx.Linear(N, n_out, rngs=r, use_bias=out_bias, bias_init=normal(0.3)),
        LI(n_out, 0.8, trainable=True),
    )


@pytest.mark.parametrize("out_bias", [pytest.param(True, marks=pytest.mark.slow), False])
@pytest.mark.parametrize("name", SPIKING)
def test_projection_into_neuron_equals_step_engine(name, out_bias):
    """The Linear after a spiking neuron, applied per step inside the fused loop: same values, grads."""
    options = Options(project_min_sample_bytes=0)  # project these small sequences too
    model = _readout_model(name, out_bias)
    x = (jax.random.uniform(jax.random.key(8), (T, B, 6)) < 0.4).astype(jnp.float32)
    # the neuron projects; the LI readout runs on its own
    assert _kinds(model, x, options=options) == ["PerSample", "FusedNeuron", "InLoop", "FusedNeuron"]

    def loss(m, x, engine):
        out, final = run(m, x, engine=engine, options=options)
        aux = sum((jnp.cos(a) * a).sum() for a in jax.tree.leaves(final))
        return (out * jnp.sin(jnp.arange(out.size).reshape(out.shape))).sum() + aux, out

    def grads(engine):
        f = nnx.value_and_grad(lambda m, x: loss(m, x, engine), argnums=(0, 1), has_aux=True)
        return nnx.jit(f)(model, x)

    (ref_loss, ref_out), ref_g = grads("step")
    (got_loss, got_out), got_g = grads("auto")
    np.testing.assert_allclose(np.asarray(got_out), np.asarray(ref_out), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(float(got_loss), float(ref_loss), rtol=1e-5)
    for a, b in zip(jax.tree.leaves(got_g), jax.tree.leaves(ref_g), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


def test_projection_only_for_small_linears_and_without_states():
    model = _readout_model("lif", True, n_out=4)
    x = jnp.ones((T, B, 6))
    sample_bytes = T * N * 4  # one sample's (T, N) float32 hidden sequence
    apart = ["PerSample", "FusedNeuron", "PerSample", "FusedNeuron"]
    inside = ["PerSample", "FusedNeuron", "InLoop", "FusedNeuron"]
    too_short = Options(project_min_sample_bytes=sample_bytes + 1)
    assert _kinds(model, x, options=too_short) == apart
    assert "project_min_sample_bytes" in plan(model, x, options=too_short).steps[1].notes[-1]
    too_wide = Options(project_min_sample_bytes=sample_bytes, project_max_out=3)  # Linear(N, 4)
    assert _kinds(model, x, options=too_wide) == apart
    wide, _ = run(model, x, options=too_wide)
    fits = Options(project_min_sample_bytes=sample_bytes)
    # the hidden spikes are wanted: not projected
    assert _kinds(model, x, options=fits, return_states=True) == apart
    _, states = run(model, x, return_states=True, options=fits)
    assert _kinds(model, x, options=fits) == inside
    # the rule depends on T and the model, never on the batch: evaluation batches take the same path
    assert _kinds(model, jnp.ones((T, 7 * B, 6)), options=fits) == inside
    assert _kinds(model, jnp.ones((T, 1, 6)), options=fits) == inside
    assert _kinds(model, x, options=Options(project_readout=False)) == apart
    narrow, _ = run(model, x, options=fits)
    np.testing.assert_allclose(np.asarray(narrow), np.asarray(wide), rtol=1e-5, atol=1e-5)
    assert states[1]["v"].shape == (T, B, N)
