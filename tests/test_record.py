"""``run(..., record=..., record_states=...)``: hidden layers' outputs and states beside the result.

Expectations come from numpy simulations of the same network (weights read
back from the model) and from ``return_states`` of the full model; every
engine (step, layer, fused), eagerly and under ``nnx.jit``, must agree.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import nir
import numpy as np
import optax
import pytest
from flax import nnx
from tests.engine_variants import VARIANTS, run_every_way

import snnx
from snnx import losses
from snnx.engine import Options, Recording, layer_keys, plan
from snnx.train import evaluate, fit

T, B, D, H, C = 12, 3, 5, 7, 4
BETA, TH = 0.8, 1.0


def spikes_in(seed=0, shape=(T, B, D)):
    rng = np.random.default_rng(seed)
    return jnp.asarray((rng.random(shape) < 0.4).astype(np.float32) * 1.5)


def mlp():
    r = nnx.Rngs(0)
    return snnx.Sequential(
        nnx.Linear(D, H, rngs=r), snnx.LIF(H, beta=BETA, threshold=TH, reset="zero"),
        nnx.Linear(H, C, rngs=r), snnx.LI(C, beta=BETA),
    )  # fmt: skip


def numpy_mlp(model, x):
    """Hidden spikes, hidden membranes (after reset) and readout membranes, step by step in numpy."""
    x = np.asarray(x, np.float64)
    w0, b0 = (np.asarray(a, np.float64) for a in (model[0].kernel[...], model[0].bias[...]))
    w2, b2 = (np.asarray(a, np.float64) for a in (model[2].kernel[...], model[2].bias[...]))
    v, u = np.zeros((x.shape[1], H)), np.zeros((x.shape[1], C))
    zs, vs, us = [], [], []
    for t in range(x.shape[0]):
        v = BETA * v + x[t] @ w0 + b0
        z = (v > TH).astype(np.float64)
        v = np.where(z > 0, 0.0, v)
        u = BETA * u + z @ w2 + b2
        zs.append(z), vs.append(v), us.append(u)
    return np.stack(zs), np.stack(vs), np.stack(us)


@pytest.mark.slow  # one of the quick tier's longest (it compiles many programs)
def test_hidden_spikes_and_states_match_numpy_on_every_engine():
    m, x = mlp(), spikes_in()
    ys, _, rec = run_every_way(m, x, record="spikes", record_states=[snnx.LIF, "3"])
    z, v, u = numpy_mlp(m, x)
    assert isinstance(rec, Recording) and list(rec.outputs) == ["1"] and list(rec.states) == ["1", "3"]
    assert z.sum() > 0 and z.mean() < 1  # the hidden layer fires, and not always
    np.testing.assert_array_equal(rec.outputs["1"], z)
    np.testing.assert_allclose(rec.states["1"]["v"], v, atol=1e-5)
    np.testing.assert_allclose(rec.states["3"]["v"], u, atol=1e-5)
    np.testing.assert_allclose(ys, u, atol=1e-5)


@pytest.mark.parametrize("chunk, remat", [(5, False), (4, True)])
def test_time_chunks_record_every_step(chunk, remat):
    m, x = mlp(), spikes_in(1)
    _, states = snnx.run(m, x, return_states=True, engine="step")
    o = Options(chunk_steps=chunk, remat=remat)
    assert plan(m, x, options=o, record="all").chunk_steps == chunk
    _, _, rec = snnx.run(m, x, options=o, record="all", record_states=1)
    assert list(rec.outputs) == ["0", "1", "2", "3"]
    np.testing.assert_allclose(rec.states["1"]["v"], states[1]["v"], atol=1e-6)
    z = numpy_mlp(m, x)[0]
    np.testing.assert_array_equal(rec.outputs["1"], z)
    w0, b0 = np.asarray(m[0].kernel[...]), np.asarray(m[0].bias[...])
    np.testing.assert_allclose(rec.outputs["0"], np.asarray(x) @ w0 + b0, atol=1e-5)  # with its bias


def test_return_states_and_record_together():
    m, x = mlp(), spikes_in(2)
    for options in VARIANTS.values():
        _, states, rec = snnx.run(m, x, return_states=True, record=1, record_states=1, options=options)
        np.testing.assert_allclose(rec.states["1"]["v"], states[1]["v"], atol=1e-6)
        np.testing.assert_array_equal(rec.outputs["1"], numpy_mlp(m, x)[0])


def test_recording_keeps_the_fused_kernels_and_says_what_gives_way():
    m = mlp()
    x = jax.ShapeDtypeStruct((100, 64, D), jnp.float32)
    o = Options(project_min_sample_bytes=0)  # the readout would go into the LIF's loop
    base = plan(m, x, options=o)
    assert [s.kind for s in base.steps] == ["PerSample", "FusedNeuron", "InLoop", "FusedNeuron"]
    rec = plan(m, x, options=o, record="spikes")
    assert [s.kind for s in rec.steps] == ["PerSample", "FusedNeuron", "PerSample", "FusedNeuron"]
    assert "readout not in the loop: this neuron's spikes are recorded" in rec.steps[1].notes
    assert "its output is recorded" in rec.steps[1].notes
    lin = plan(m, x, options=o, record=0)  # the first Linear's output: its bias stays in it
    assert base.steps[0].bias_to == (1,) and lin.steps[0].bias_to is None
    assert "bias not moved: this layer's output is recorded" in lin.steps[0].notes
    readout = plan(m, x, options=o, record=2)  # computed in the loop, bias included: nothing gives way
    assert [s.kind for s in readout.steps] == [s.kind for s in base.steps]
    states = plan(m, x, options=o, record_states=1)
    assert states.steps[1].kind == "FusedNeuron" and "every step's states" in " ".join(states.steps[1].notes)
    assert "recorded" in str(rec)


def test_recorded_values_where_the_plan_moved_work_into_a_loop():
    m, x = mlp(), spikes_in(12, (T, 64, D))
    o = Options(project_min_sample_bytes=0)
    assert [s.kind for s in plan(m, x, options=o, record=2).steps][2] == "InLoop"
    _, _, rec = snnx.run(m, x, options=o, record=[0, 2])
    z = numpy_mlp(m, x)[0]
    w0, b0 = np.asarray(m[0].kernel[...]), np.asarray(m[0].bias[...])
    w2, b2 = np.asarray(m[2].kernel[...]), np.asarray(m[2].bias[...])
    np.testing.assert_allclose(rec.outputs["0"], np.asarray(x) @ w0 + b0, atol=1e-5)
    np.testing.assert_allclose(rec.outputs["2"], z @ w2 + b2, atol=1e-5)


def test_asking_for_nothing_changes_nothing():
    m, x = mlp(), spikes_in(3)
    plain = jax.make_jaxpr(lambda x: snnx.run(m, x))(x)
    empty = jax.make_jaxpr(lambda x: snnx.run(m, x, record=[])[:2])(x)
    assert str(plain) == str(empty)
    out = snnx.run(m, x, record=[])
    assert len(out) == 3 and out[2] == Recording({}, {})
    assert len(snnx.run(m, x)) == 2
    assert plan(m, x, record=[]) == plan(m, x)


def test_gradient_through_recorded_spikes_equals_the_truncated_model():
    m, x = mlp(), spikes_in(4)

    def via_record(model, options):
        _, _, rec = snnx.run(model, x, options=options, record=1)
        return jnp.mean(rec.outputs["1"] * jnp.arange(1.0, H + 1))

    def via_truncated(model):
        hidden, _ = snnx.run(snnx.Sequential(model[0], model[1]), x, engine="step")
        return jnp.mean(hidden * jnp.arange(1.0, H + 1))

    ref = nnx.grad(via_truncated)(m)
    g_ref = np.asarray(ref["layers"][0]["kernel"][...])
    assert np.abs(g_ref).sum() > 0
    for name, options in VARIANTS.items():
        g = nnx.jit(nnx.grad(via_record), static_argnums=1)(m, options)
        np.testing.assert_allclose(g["layers"][0]["kernel"][...], g_ref, rtol=1e-5, atol=1e-6, err_msg=name)


def test_vmap_over_a_stack_of_inputs():
    m = mlp()
    xs = jnp.stack([spikes_in(s) for s in range(3)])
    got = jax.vmap(lambda x: snnx.run(m, x, record="spikes")[2].outputs["1"])(xs)
    for i in range(3):
        np.testing.assert_array_equal(got[i], numpy_mlp(m, xs[i])[0])


def test_time_axis_one_returns_batch_major_recordings():
    m, x = mlp(), spikes_in(5)
    _, _, rec = snnx.run(m, jnp.swapaxes(x, 0, 1), time_axis=1, record=1, record_states=1)
    z, v, _ = numpy_mlp(m, x)
    np.testing.assert_array_equal(rec.outputs["1"], np.swapaxes(z, 0, 1))
    np.testing.assert_allclose(rec.states["1"]["v"], np.swapaxes(v, 0, 1), atol=1e-5)


def recurrent_graph():
    """fc -> lif, and lif -> rec -> lif as a back edge: ``rec`` is read only by the back edge."""
    r = nnx.Rngs(1)
    nodes = {"fc": nnx.Linear(D, H, rngs=r), "lif": snnx.LIF(H, beta=BETA, reset="zero"),
             "rec": nnx.Linear(H, H, rngs=r)}  # fmt: skip
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")]
    return snnx.Graph(nodes, edges, input_shape=(D,))


def numpy_graph(g, x):
    x = np.asarray(x, np.float64)
    wf, bf = np.asarray(g.nodes["fc"].kernel[...]), np.asarray(g.nodes["fc"].bias[...])
    wr, br = np.asarray(g.nodes["rec"].kernel[...]), np.asarray(g.nodes["rec"].bias[...])
    v = np.zeros((x.shape[1], H))
    z = np.zeros((x.shape[1], H))
    rec_in = z  # the back edge carries rec(0) = its bias at t = 0
    zs, recs = [], []
    for t in range(x.shape[0]):
        v = BETA * v + x[t] @ wf + bf + (rec_in @ wr + br)
        z = (v > TH).astype(np.float64)
        v = np.where(z > 0, 0.0, v)
        rec_in = z
        zs.append(z), recs.append(z @ wr + br)
    return np.stack(zs), np.stack(recs)


def test_graph_nodes_by_name_including_one_only_a_back_edge_reads():
    g, x = recurrent_graph(), spikes_in(6)
    assert layer_keys(g) == ["fc", "lif", "rec"]
    ys, _, rec = run_every_way(g, x, record=["lif", "rec"], record_states="lif")
    z, recs = numpy_graph(g, x)
    assert z.sum() > 0
    np.testing.assert_array_equal(rec.outputs["lif"], z)
    np.testing.assert_allclose(rec.outputs["rec"], recs, atol=1e-5)
    np.testing.assert_array_equal(ys, z)
    assert set(rec.states["lif"]) == {"v"}


def test_graph_inside_a_sequential_on_the_layer_engine():
    r = nnx.Rngs(2)
    inner = snnx.Graph({"fc": nnx.Linear(H, H, rngs=r), "lif": snnx.LIF(H)},
                       [("input", "fc"), ("fc", "lif"), ("input", "lif"), ("lif", "output")])  # fmt: skip
    m = snnx.Sequential(nnx.Linear(D, H, rngs=r), inner, nnx.Linear(H, C, rngs=r))
    assert layer_keys(m) == ["0", "1", "1.fc", "1.lif", "2"]
    x = spikes_in(7)
    assert plan(m, x, record="1.lif").engine == "layer"
    _, _, rec = run_every_way(m, x, record=["1.fc", "1.lif", 1], record_states=[1, "1.lif"])
    np.testing.assert_array_equal(rec.outputs["1"], rec.outputs["1.lif"])  # the graph's output is its lif's
    a = np.asarray(x) @ np.asarray(m[0].kernel[...]) + np.asarray(m[0].bias[...])
    fc = a @ np.asarray(inner.nodes["fc"].kernel[...]) + np.asarray(inner.nodes["fc"].bias[...])
    np.testing.assert_allclose(rec.outputs["1.fc"], fc, atol=1e-5)
    np.testing.assert_array_equal(rec.states["1"]["nodes"]["lif"]["v"], rec.states["1.lif"]["v"])


def test_nested_sequential_output_and_states():
    r = nnx.Rngs(3)
    block = snnx.Sequential(nnx.Linear(D, H, rngs=r), snnx.LIF(H, beta=BETA, reset="zero"))
    m = snnx.Sequential(block, nnx.Linear(H, C, rngs=r), snnx.LI(C, beta=BETA))
    assert layer_keys(m) == ["0", "0.0", "0.1", "1", "2"]
    x = spikes_in(8)
    _, states = snnx.run(m, x, return_states=True, engine="step")
    _, _, rec = run_every_way(m, x, record=0, record_states=0)
    np.testing.assert_array_equal(rec.outputs["0"], snnx.run(block, x)[0])
    assert rec.states["0"][0] is None
    np.testing.assert_allclose(rec.states["0"][1]["v"], states[0][1]["v"], atol=1e-6)


def test_parallel_neuron_records_its_states():
    m = snnx.Sequential(nnx.Linear(D, H, rngs=nnx.Rngs(4)), snnx.PSU_LIF(H, beta=BETA))
    x = spikes_in(9)
    o = Options(parallel=True)
    assert plan(m, x, options=o, record_states=1).steps[1].kind == "Parallel"
    _, _, rec = snnx.run(m, x, options=o, record=1, record_states=1)
    _, states = snnx.run(m, x, return_states=True, engine="step")
    np.testing.assert_allclose(rec.states["1"]["v"], states[1]["v"], atol=1e-5)
    np.testing.assert_array_equal(rec.outputs["1"], snnx.run(m, x, engine="step")[0])


def test_imported_nir_graph_records_by_nir_node_name():
    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(size=(H, D)).astype(np.float32), rng.normal(size=(C, H)).astype(np.float32)
    tau = np.full(H, 2e-3, np.float32)
    one = np.ones(H, np.float32)
    graph = nir.NIRGraph.from_list(
        nir.Affine(w1, np.zeros(H, np.float32)),
        nir.LIF(tau=tau, r=one, v_leak=0 * one, v_threshold=one, v_reset=0 * one),
        nir.Linear(w2),
    )
    model = snnx.nir.from_nir(graph, dt=1e-3)
    keys = layer_keys(model)
    lif = [k for k in keys if k in graph.nodes and isinstance(graph.nodes[k], nir.LIF)]
    assert len(lif) == 1
    x = spikes_in(10)
    _, _, by_name = snnx.run(model, x, record=lif[0])
    _, _, by_type = snnx.run(model, x, record=snnx.LIF)
    assert list(by_name.outputs) == lif and list(by_type.outputs) == lif
    assert float(by_name.outputs[lif[0]].sum()) > 0


def test_numeric_nir_names_mean_their_nodes_not_indices(nir_refs):
    """Sinabs names its nodes "0", "1", ...; from_nir puts a layout adapter first, so layer 1 is node "0"."""
    from snnx.engine._record import select

    model = snnx.nir.from_nir(nir_refs / "graphs" / "cnn_sinabs.nir", dt=1e-4)
    names = model.nir_names
    assert names[0] is None and names[1] == "0"
    keys = layer_keys(model)
    assert keys == ["#0", *names[1:]]
    for name in ("0", "1", "5"):
        assert select("record", name, model)[name].layer is model.layers[names.index(name)]
    assert select("record", "#0", model)["#0"].layer is model.layers[0]
    assert list(select("record", 2, model)) == ["1"]  # an int is still the index


def test_single_layer_model_is_its_own_key():
    lif = snnx.LIF(H, beta=BETA)
    assert layer_keys(lif) == ["LIF"]
    x = spikes_in(11, (T, B, H))
    y, _, rec = snnx.run(lif, x, record="spikes", record_states="LIF")
    np.testing.assert_array_equal(rec.outputs["LIF"], y)
    assert rec.states["LIF"]["v"].shape == (T, B, H)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"record": "nope"}, ValueError,
         r"names no layer 'nope'; available layers: '0' \(Linear\), '1' \(LIF\)"),
        ({"record": 9}, ValueError, r"index 9 is out of range for 4 top-level layers"),
        ({"record": snnx.ALIF}, ValueError, "no layer of type ALIF"),
        ({"record": 1.5}, TypeError, "got float"),
        ({"record": [True]}, TypeError, "got True"),
        ({"record_states": 0}, ValueError, r"layer '0' \(Linear\) is stateless"),
    ],
)
def test_bad_selections_name_the_request_and_the_layers(kwargs, error, match):
    with pytest.raises(error, match=match):
        snnx.run(mlp(), spikes_in(), **kwargs)


def test_shorthands_that_select_nothing_or_clash_with_a_name():
    readout = snnx.Sequential(nnx.Linear(D, C, rngs=nnx.Rngs(0)), snnx.LI(C))
    with pytest.raises(ValueError, match="'spikes' selects no layer"):
        snnx.run(readout, spikes_in(), record="spikes")
    g = snnx.Graph({"spikes": snnx.LIF(D)}, [("input", "spikes"), ("spikes", "output")])
    with pytest.raises(ValueError, match="ambiguous"):
        snnx.run(g, spikes_in(), record="spikes")
    assert list(snnx.run(g, spikes_in(), record=snnx.LIF)[2].outputs) == ["spikes"]


# -- training on recorded activity ---------------------------------------------------------------


def task(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.random((T, n, D)) < 0.4).astype(np.float32) * 1.5
    return x, rng.integers(0, C, n).astype(np.int32)


def test_fit_logs_the_rates_it_recorded():
    m, data = mlp(), task()

    def loss(outputs, targets, activity):
        assert set(activity) == {"1"}
        return losses.max_membrane_cross_entropy(outputs, targets)

    h = fit(m, optax.adam(1e-2), loss, data, epochs=2, batch_size=16, record="spikes", eval_data=data,
            progress=False)  # fmt: skip
    assert {"rate/1", "eval_rate/1"} <= set(h[-1])
    z = numpy_mlp(m, data[0])[0]  # the trained model's hidden spikes on the eval set, in numpy
    assert h[-1]["eval_rate/1"] == pytest.approx(z.mean(), abs=1e-6)
    assert evaluate(m, loss, data, record="spikes")["rate/1"] == pytest.approx(z.mean(), abs=1e-6)


@pytest.mark.slow  # trains twice
def test_a_sparsity_penalty_lowers_the_hidden_rate():
    def run_with(weight):
        m = mlp()

        def loss(outputs, targets, activity):
            reg = losses.sparsity_penalty(activity, 0.0)
            return losses.max_membrane_cross_entropy(outputs, targets) + weight * reg

        return fit(m, optax.adam(2e-2), loss, task(), epochs=4, batch_size=16, record="spikes",
                   progress=False)[-1]["rate/1"]  # fmt: skip

    free, penalised = run_with(0.0), run_with(100.0)
    assert free > 0.05
    assert penalised < 0.5 * free


def test_custom_forward_with_record_must_return_outputs_and_activity():
    with pytest.raises(TypeError, match=r"must return \(outputs, activity\)"):
        fit(mlp(), optax.adam(1e-2), lambda o, t, a: jnp.mean(o), task(), epochs=1, batch_size=16,
            record="spikes", forward=lambda m, x: snnx.run(m, x)[0], progress=False)  # fmt: skip


def test_rate_metric_names_are_reserved():
    with pytest.raises(ValueError, match="reserved"):
        fit(mlp(), optax.adam(1e-2), losses.max_membrane_cross_entropy, task(), epochs=1, batch_size=16,
            metrics={"rate/1": lambda o, t: jnp.mean(o)}, progress=False)  # fmt: skip
