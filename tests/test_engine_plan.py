"""The explicit plan: options, per-backend defaults, printed reasons, shape errors, remat, gradients."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.test_util import check_grads

import snnx
from snnx.engine import Options, Sequential, plan, run
from snnx.engine._options import backend_defaults
from snnx.neurons import LI, LIF, RLIF

T, B = 12, 3


def _ff(n_in=6, hidden=8, n_out=4, seed=0):
    r = nnx.Rngs(seed)
    return Sequential(
        nnx.Linear(n_in, hidden, rngs=r, kernel_init=nnx.initializers.normal(1.0)),
        LIF(hidden, 0.9),
        nnx.Linear(hidden, n_out, rngs=r),
        LI(n_out, 0.8),
    )


# --------------------------------------------------------------------------- options


def test_options_are_hashable_and_resolve_per_backend():
    assert hash(Options(fused=False)) == hash(Options(fused=False))
    assert Options(fused=False) != Options()
    assert Options(fused=False).given() == {"fused": False}
    cpu = Options().resolve("cpu")
    assert all(v is not None for v in dataclasses.asdict(cpu).values())
    assert cpu == Options(**backend_defaults("cpu"))
    # a field the user set is kept on every backend; the rest follow the backend
    gpu = Options(project_readout=True).resolve("gpu")
    assert gpu.project_readout is True and gpu.chunk_steps == backend_defaults("gpu")["chunk_steps"]
    assert Options().resolve("cuda") == Options().resolve("gpu")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"engine": "fast"}, ValueError, r"`engine` must be one of \['auto', 'step', 'layer'\], got 'fast'"),
        ({"fused": 1}, TypeError, r"`fused` must be a bool or None"),
        ({"unroll": 0}, ValueError, r"`unroll` must be a positive int, got 0"),
        ({"chunk_steps": "sqrt"}, ValueError, r"`chunk_steps` must be a positive int, 'auto', 'off' or None"),
        ({"project_min_sample_bytes": -1}, ValueError, r"`project_min_sample_bytes` must be an int >= 0"),
    ],
)
def test_bad_options_name_the_field(kwargs, error, match):
    with pytest.raises(error, match=match):
        Options(**kwargs)


def test_bad_backend_and_options_argument():
    with pytest.raises(ValueError, match=r"`backend` must be one of \['cpu', 'gpu', 'tpu'\] or None"):
        Options().resolve("abacus")
    with pytest.raises(TypeError, match=r"`options` must be a snnx.engine.Options or None, got dict"):
        run(_ff(), jnp.ones((T, B, 6)), options={"fused": False})


def test_options_on_the_model_are_part_of_the_jit_key():
    """``model.options`` is a static attribute: changing it compiles anew and takes effect."""
    model, x = _ff(), jnp.ones((T, B, 6))
    traces = []

    @nnx.jit
    def forward(m, x):
        traces.append(plan(m, x).steps[1].kind)
        return run(m, x)[0]

    y_fused = forward(model, x)
    model.options = Options(fused=False)
    y_scan = forward(model, x)
    forward(model, x)  # same options: no new trace
    assert traces == ["FusedNeuron", "Scan"]
    np.testing.assert_allclose(np.asarray(y_scan), np.asarray(y_fused), rtol=1e-5, atol=1e-6)
    # an explicit argument wins over the model's attribute
    assert plan(model, x, options=Options()).steps[1].kind == "FusedNeuron"


def test_run_shortcuts_override_options():
    model, x = _ff(), jnp.ones((T, B, 6))
    p = plan(model, x, options=Options(engine="layer", remat=False), engine="step", remat=True)
    assert p.engine == "step" and p.remat and p.given == {"engine": "step", "remat": True}
    assert plan(model, x, unroll=True).options.unroll == T
    assert plan(model, x, unroll="auto").options.unroll == backend_defaults()["unroll"]


# --------------------------------------------------------------------------- the printed plan


def test_plan_lists_every_step_with_its_reasons():
    model = _ff(n_in=20, hidden=256, n_out=10)
    text = str(plan(model, jax.ShapeDtypeStruct((250, 64, 20), jnp.float32)))
    assert "engine: layer" in text
    assert "[0] Linear(20->256)" in text and "PerSample" in text
    assert "bias left out here, added inside the next neuron's loop" in text
    assert "[1] LIF(256)" in text and "FusedNeuron" in text
    # one sample's hidden sequence: 250 steps * 256 units * 4 bytes = 250.0 KiB >= 128 KiB
    assert "applies layer 2 to each step's spikes in its loop (one sample's spikes: 250.0 KiB)" in text
    assert "[2] Linear(256->10)" in text and "InLoop" in text
    short = str(plan(model, jax.ShapeDtypeStruct((100, 64, 20), jnp.float32)))
    assert "readout not in the loop: one sample's spikes take 100.0 KiB < project_min_sample_bytes" in short
    step = str(plan(model, jnp.ones((T, B, 20)), engine="step"))
    assert "engine: step (step-major: engine='step' was requested)" in step
    assert "options set (the rest are cpu defaults): engine='step'" in step


def test_plan_of_a_model_with_mutable_state_says_why_step_major():
    r = nnx.Rngs(0, dropout=1)
    model = Sequential(nnx.Linear(6, 8, rngs=r), nnx.Dropout(0.5, rngs=r), LIF(8))
    p = plan(model, jnp.ones((T, B, 6)))
    assert p.engine == "step" and "mutable NNX state" in p.engine_why
    assert [s.kind for s in p.steps] == ["StepScan"] * 3


# --------------------------------------------------------------------------- shape errors


@pytest.mark.parametrize("engine", ["step", "layer"])
def test_a_wrong_layer_in_the_middle_is_named(engine):
    r = nnx.Rngs(0)
    model = Sequential(nnx.Linear(6, 8, rngs=r), LIF(8), nnx.Linear(9, 4, rngs=r), LI(4))
    with pytest.raises(snnx.ShapeError, match=r"layer 2 \(Linear\) rejects its input .*per sample \(8,\)"):
        run(model, jnp.ones((T, B, 6)), engine=engine)
    nested = Sequential(nnx.Linear(6, 8, rngs=r), Sequential(LIF(8), LI(5)))
    with pytest.raises(snnx.ShapeError, match=r"layer 1\.1 \(LI\) rejects its input"):
        run(nested, jnp.ones((T, B, 6)), engine=engine)


def test_wrong_state_structure_is_named():
    model = _ff()
    with pytest.raises(ValueError, match=r"`state` \(Sequential\) must have one entry per layer \(4"):
        run(model, jnp.ones((T, B, 6)), model.init_state(B)[:3])


# --------------------------------------------------------------------------- remat


def _temporaries(model, x, options) -> int:
    graphdef, variables = nnx.split(model)

    def loss(variables):
        return run(nnx.merge(graphdef, variables), x, options=options)[0].sum()

    compiled = jax.jit(jax.grad(loss)).lower(variables).compile()
    return compiled.memory_analysis().temp_size_in_bytes


@pytest.mark.parametrize(
    "base",
    [
        pytest.param(Options(engine="step"), id="step", marks=pytest.mark.slow),
        pytest.param(Options(fused=False), id="layer", marks=pytest.mark.slow),
        pytest.param(Options(), id="fused", marks=pytest.mark.slow),
    ],
)
def test_remat_cuts_the_temporaries_of_a_training_step_on_every_engine(base):
    r = nnx.Rngs(0)
    model = Sequential(
        nnx.Linear(16, 64, rngs=r),
        LIF(64),
        nnx.Linear(64, 64, rngs=r),
        LIF(64),
        nnx.Linear(64, 10, rngs=r),
        LI(10),
    )
    x = (jax.random.uniform(jax.random.key(0), (144, 8, 16)) < 0.3).astype(jnp.float32)
    plain = _temporaries(model, x, base)
    remat = _temporaries(model, x, dataclasses.replace(base, remat=True))
    assert remat < 0.5 * plain, (plain, remat)

    def grads(options):
        return nnx.grad(lambda m: (run(m, x, options=options)[0] ** 2).sum())(model)

    for a, b in zip(
        jax.tree.leaves(grads(dataclasses.replace(base, remat=True))),
        jax.tree.leaves(grads(base)),
        strict=True,
    ):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- gradients


@pytest.mark.parametrize(
    ("options", "modes"),
    [
        pytest.param(Options(engine="step"), ["fwd", "rev"], id="step", marks=pytest.mark.slow),
        pytest.param(Options(fused=False), ["fwd", "rev"], id="layer", marks=pytest.mark.slow),
        pytest.param(Options(), ["rev"], id="fused"),
    ],
)
def test_check_grads_on_the_non_spiking_path(options, modes):
    """Linear -> LI -> Linear -> LI is smooth: numerical and automatic derivatives agree.

    (The fused kernel has reverse mode only; the others are checked in both modes.)
    """
    jax.config.update("jax_enable_x64", True)
    try:
        r = nnx.Rngs(3)
        model = Sequential(
            nnx.Linear(3, 4, rngs=r, param_dtype=jnp.float64),
            LI(4, 0.7),
            nnx.Linear(4, 2, rngs=r, param_dtype=jnp.float64),
            LI(2, 0.9),
        )
        for name in ("beta", "v_leak"):
            for layer in (model.layers[1], model.layers[3]):
                getattr(layer, name).set_value(getattr(layer, name)[...].astype(jnp.float64))
        x = jax.random.normal(jax.random.key(1), (6, 2, 3), jnp.float64)
        s0 = jax.tree.map(lambda a: a.astype(jnp.float64), model.init_state(2))
        graphdef, params = nnx.split(model)

        def f(params, x):
            return run(nnx.merge(graphdef, params), x, s0, options=options)[0]

        check_grads(jax.jit(f), (params, x), order=1, modes=modes, atol=1e-6, rtol=1e-6)
    finally:
        jax.config.update("jax_enable_x64", False)


def test_recurrent_fused_training_step_equals_the_step_engine_in_bfloat16():
    """A bf16 recurrent layer keeps the fused path; spikes match the step engine exactly."""
    r = nnx.Rngs(2)
    layer = RLIF(8, 0.9, rngs=r)
    x = (jax.random.normal(jax.random.key(2), (T, B, 8)) * 2).astype(jnp.bfloat16)
    assert plan(layer, x).steps[0].cast == "float32"
    y_ref, _ = run(layer, x, engine="step")
    y, _ = run(layer, x)
    assert float(y_ref.sum()) > 0
    np.testing.assert_array_equal(np.asarray(y), np.asarray(y_ref))


# --------------------------------------------------------------------------- the user's shape mistakes


def test_a_neuron_of_the_wrong_shape_after_a_conv_names_both_shapes():
    model = Sequential(nnx.Conv(2, 4, (3, 3), rngs=nnx.Rngs(0)), LIF(8))
    expected = r"layer 1 \(LIF\).*`x` must have shape \(\*batch, 8\), got \(2, 6, 6, 4\)"
    with pytest.raises(snnx.ShapeError, match=expected):
        run(model, jnp.ones((5, 2, 6, 6, 2)))


@pytest.mark.parametrize("engine", ["step", "layer"])
def test_a_forgotten_batch_axis_is_an_error_not_a_broadcast(engine):
    """(T, N) into LIF(N) used to broadcast against the (B=N, N) state and return (T, N, N)."""
    model = Sequential(LIF(8), nnx.Linear(8, 3, rngs=nnx.Rngs(0)))
    with pytest.raises(
        snnx.ShapeError,
        match=r"layer 0 \(LIF\).*must have the shape of the state \(8, 8\)"
        r".*got \(8,\)(.|\n)*read as T=5 steps, B=8 samples, per-sample shape \(\)",
    ):
        run(model, jnp.ones((5, 8)), engine=engine)


def test_a_forgotten_time_axis_says_how_x_was_read():
    model = Sequential(nnx.Linear(8, 3, rngs=nnx.Rngs(0)), LIF(3))
    expected = r"layer 0 \(Linear\)(.|\n)*`x` of shape \(4, 8\) was read as T=4"
    with pytest.raises(snnx.ShapeError, match=expected):
        run(model, jnp.ones((4, 8)))


@pytest.mark.slow  # imports and compiles a conv network (~10 s)
def test_channels_last_data_into_an_imported_channels_first_model_says_what_to_do(nir_refs):
    model = snnx.nir.from_nir(nir_refs / "graphs" / "scnn_mnist.nir", dt=1e-4)
    with pytest.raises(snnx.ShapeError, match=r"layer 1 \(Conv\)(.|\n)*import it with channels_last=True"):
        run(model, jnp.ones((2, 1, 34, 34, 2)))  # (T, B, H, W, C) but the model takes (T, B, C, H, W)
    y, _ = run(model, jnp.ones((2, 1, 2, 34, 34)))
    assert y.shape[:2] == (2, 1)
