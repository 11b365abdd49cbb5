"""Every fast path of ``run`` equals the plain step-by-step scan (``engine="step"``).

Spikes must be identical, membranes and gradients equal to 1e-5, under
``nnx.jit`` and ``nnx.value_and_grad``. The neurons are built with
``trainable=True`` (the default freezes them) so that the gradients of every
neuron parameter are compared too.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from snnx.engine import Options, Sequential, plan, run
from snnx.engine._rules import choose_chunk, layer_chain
from snnx.layers import Flatten, SumPool
from snnx.neurons import IF, LI, LIF, PSU_LIF, RLIF

T, B = 16, 3


def _bernoulli(shape, p=0.3, seed=0):
    return (jax.random.uniform(jax.random.key(seed), shape) < p).astype(jnp.float32)


def _ff(reset="zero"):
    r = nnx.Rngs(0)
    return Sequential(
        nnx.Linear(12, 16, rngs=r, kernel_init=nnx.initializers.normal(1.0)),
        LIF(16, 0.9, reset=reset, trainable=True),
        nnx.Linear(16, 5, rngs=r),
        LI(5, 0.8, trainable=True),
    )


def _rec():
    r = nnx.Rngs(1)
    return Sequential(
        nnx.Linear(12, 16, rngs=r, kernel_init=nnx.initializers.normal(1.0)),
        RLIF(16, 0.9, rngs=r, trainable=True),
        nnx.Linear(16, 5, rngs=r),
        LI(5, trainable=True),
    )


def _conv(pool=True):
    r = nnx.Rngs(2)
    layers = [
        nnx.Conv(2, 4, (3, 3), strides=2, padding="SAME", rngs=r, kernel_init=nnx.initializers.normal(1.0)),
        IF((5, 5, 4), trainable=True),
    ]
    if pool:
        layers += [
            SumPool((2, 2)),
            nnx.Conv(4, 4, (3, 3), padding="SAME", rngs=r),
            IF((2, 2, 4), trainable=True),
        ]
        flat = 16
    else:
        layers += [nnx.Conv(4, 4, (3, 3), padding="SAME", rngs=r), IF((5, 5, 4), trainable=True)]
        flat = 100
    layers += [Flatten(), nnx.Linear(flat, 5, rngs=r), LIF(5, trainable=True)]
    return Sequential(*layers)


def _psu():
    r = nnx.Rngs(3)
    return Sequential(
        nnx.Linear(12, 16, rngs=r, kernel_init=nnx.initializers.normal(1.0)),
        PSU_LIF(16, 0.9, trainable=True),
        nnx.Linear(16, 5, rngs=r),
        LI(5, trainable=True),
    )


CASES = {
    "ff": (_ff, (T, B, 12)),
    "ff_subtract": (lambda: _ff("subtract"), (T, B, 12)),
    "rec": (_rec, (T, B, 12)),
    "conv": (lambda: _conv(pool=False), (T, B, 10, 10, 2)),
    "psu": (_psu, (T, B, 12)),
}


def _assert_tree_close(a, b, tol=1e-5):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        scale = max(1.0, float(np.abs(y).max(initial=0.0)))
        np.testing.assert_allclose(x, y, rtol=tol, atol=tol * scale)


@nnx.jit(static_argnames=("engine", "return_states"))
def _forward(model, x, engine, return_states=False):
    return run(model, x, engine=engine, return_states=return_states)


def _loss(model, x, y, engine, remat=False, options=None):
    out, states = run(model, x, engine=engine, remat=remat, return_states=True, options=options)
    loss = optax.softmax_cross_entropy_with_integer_labels(out.sum(0), y).mean()
    return loss, (out, states)


@nnx.jit(static_argnames=("engine", "remat", "options"))
def _everything(model, x, y, engine, remat=False, options=None):
    """Outputs, per-step states, loss and gradients, in one compiled call."""
    objective = nnx.value_and_grad(_loss, has_aux=True)
    (loss, (out, states)), grads = objective(model, x, y, engine, remat, options)
    return out, states, loss, grads


@pytest.mark.parametrize(
    ("name", "remat"),
    [pytest.param(n, False, marks=[pytest.mark.slow] if n == "conv" else []) for n in sorted(CASES)]
    + [("rec", True)],
)
def test_layer_major_equals_step_scan(name, remat):
    make, shape = CASES[name]
    x, y = _bernoulli(shape, seed=1), jnp.arange(B) % 5
    model = make()
    assert layer_chain(model) is None
    ref_out, ref_states, ref_loss, ref_grads = _everything(model, x, y, "step", remat)
    out, states, loss, grads = _everything(model, x, y, "layer", remat)
    if name == "conv":
        assert float(ref_out.sum()) > 0
        np.testing.assert_array_equal(np.asarray(out), np.asarray(ref_out))  # spiking output
    else:
        _assert_tree_close(out, ref_out)  # LI membrane readout
    # every layer's per-step state: spikes exactly, membranes to 1e-5
    for s, r in zip(states, ref_states, strict=True):
        if r is None:
            assert s is None
            continue
        for key in r:
            if key == "z":
                np.testing.assert_array_equal(np.asarray(s[key]), np.asarray(r[key]))
            else:
                _assert_tree_close(s[key], r[key])
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-5)
    _assert_tree_close(nnx.to_pure_dict(grads), nnx.to_pure_dict(ref_grads))
    assert any(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(ref_grads))


@pytest.mark.parametrize("name", ["ff", "ff_subtract", "psu"])
def test_hidden_spikes_identical(name):
    make, shape = CASES[name]
    model, x = make(), _bernoulli(shape, seed=5)
    hidden = Sequential(*list(model.layers)[:2])  # input layer + first spiking layer
    ref, _ = _forward(hidden, x, "step")
    got, _ = _forward(hidden, x, "layer")
    assert float(ref.sum()) > 0
    np.testing.assert_array_equal(np.asarray(got), np.asarray(ref))


@pytest.mark.parametrize("remat", [False, pytest.param(True, marks=pytest.mark.slow)])
@pytest.mark.parametrize(
    "chunks",
    [{"chunk_rows": 12, "chunk_above_rows": 0}, pytest.param({"chunk_steps": 5}, marks=pytest.mark.slow)],
)
def test_time_chunks_equal_step_scan(remat, chunks):
    assert choose_chunk(T, B, 12) == 4  # T=16, B=3 -> chunks of 4 steps
    options = Options(**chunks)
    model = _rec()
    x, y = _bernoulli((T, B, 12), seed=7), jnp.arange(B) % 5
    # chunk_steps=5 does not divide T=16: three chunks of 5 and a last one of 1 step
    assert plan(model, x, options=options).chunk_steps == (4 if "chunk_rows" in chunks else 5)
    ref_out, ref_states, ref_loss, ref_grads = _everything(model, x, y, "step", remat)
    out, states, loss, grads = _everything(model, x, y, "layer", remat, options)
    _assert_tree_close(out, ref_out)
    np.testing.assert_array_equal(np.asarray(states[1]["z"]), np.asarray(ref_states[1]["z"]))
    _assert_tree_close(states, ref_states)
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-5)
    _assert_tree_close(nnx.to_pure_dict(grads), nnx.to_pure_dict(ref_grads))
    final, ref_final = run(model, x, engine="layer", options=options)[1], run(model, x, engine="step")[1]
    _assert_tree_close(final, ref_final)


def test_sumpool_stack_forward_equal():
    model, x = _conv(pool=True), _bernoulli((T, B, 10, 10, 2))
    ref, _ = _forward(model, x, "step")
    got, _ = _forward(model, x, "layer")
    np.testing.assert_array_equal(np.asarray(got), np.asarray(ref))


@pytest.mark.slow
def test_given_state_time_axis_and_unroll():
    model = _ff()
    x = _bernoulli((B, T, 12), seed=2)  # batch-major
    state = jax.tree.map(lambda a: a + 0.5, model.init_state(B))
    ref_y, ref_final = run(model, x, state, time_axis=1, engine="step", unroll=1)
    for unroll in ("auto", 4):
        y, final = run(model, x, state, time_axis=1, engine="layer", unroll=unroll)
        _assert_tree_close(y, ref_y)
        _assert_tree_close(final, ref_final)


def test_psu_parallel_path_equals_step_scan():
    par = Options(parallel=True)  # off by default (slower on CPU)
    model, x = _psu(), _bernoulli((T, B, 12), seed=6)
    assert [s.kind for s in plan(model, x, options=par).steps][:2] == ["PerSample", "Parallel"]
    assert [s.kind for s in plan(model, x).steps][:2] == ["PerSample", "Scan"]
    hidden = Sequential(*list(model.layers)[:2])
    ref_z, ref_states = run(hidden, x, engine="step", return_states=True)
    z, states = run(hidden, x, engine="layer", return_states=True, options=par)
    assert float(ref_z.sum()) > 0
    np.testing.assert_array_equal(np.asarray(z), np.asarray(ref_z))
    _assert_tree_close(states, ref_states)
    ref_y, ref_final = run(model, x, engine="step")
    y, final = run(model, x, engine="layer", options=par)
    _assert_tree_close(y, ref_y)
    _assert_tree_close(final, ref_final)


def test_psu_parallel_path_with_given_state_uses_scan():
    par = Options(parallel=True)
    model = _psu()
    x = _bernoulli((T, B, 12), seed=3)
    state = jax.tree.map(lambda a: a + 0.3, model.init_state(B))
    assert plan(model, x, state, options=par).steps[1].kind == "Scan"
    ref_y, ref_final = run(model, x, state, engine="step")
    y, final = run(model, x, state, engine="layer", options=par)
    _assert_tree_close(y, ref_y)
    _assert_tree_close(final, ref_final)


def test_nested_sequential_and_plain_function():
    r = nnx.Rngs(4)
    inner = Sequential(nnx.Linear(12, 8, rngs=r, kernel_init=nnx.initializers.normal(1.0)), LIF(8))
    model = Sequential(inner, jnp.tanh, nnx.Linear(8, 3, rngs=r), LI(3))
    x = _bernoulli((T, B, 12), seed=4)
    ref_y, ref_final = run(model, x, engine="step")
    y, final = run(model, x, engine="layer")
    _assert_tree_close(y, ref_y)
    _assert_tree_close(final, ref_final)
    single = LIF(12)
    np.testing.assert_array_equal(
        np.asarray(run(single, 3 * x, engine="layer")[0]), np.asarray(run(single, 3 * x, engine="step")[0])
    )


def test_mutable_state_falls_back_to_step():
    r = nnx.Rngs(0, dropout=1)
    model = Sequential(nnx.Linear(12, 8, rngs=r), nnx.Dropout(0.5, rngs=r), LIF(8))
    assert "mutable" in layer_chain(model)
    x = _bernoulli((T, B, 12))
    with pytest.raises(ValueError, match=r"engine=.layer..*mutable NNX state"):
        run(model, x, engine="layer")
    y, _ = run(model, x)  # auto: the step engine threads the RNG state
    assert y.shape == (T, B, 8)


def test_bad_engine_and_unroll():
    model, x = _ff(), _bernoulli((T, B, 12))
    with pytest.raises(ValueError, match="`engine` must be one of"):
        run(model, x, engine="fast")
    with pytest.raises(ValueError, match="`unroll` must be 'auto'"):
        run(model, x, unroll="max")
    with pytest.raises(ValueError, match="`unroll` must be 'auto'"):
        run(model, x, unroll=0)
