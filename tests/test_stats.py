"""``snnx.stats`` against NeuroBench 2.3 itself and against closed forms.

The NeuroBench numbers in ``tests/data/neurobench/reference.json`` were computed
by ``tests/data/neurobench/make_reference.py`` (NeuroBench 2.3.0 on snnTorch
1.0.0's import of the same NIR files, see the README there); this file only reads
them: no torch at run time. Where NeuroBench-on-snnTorch counts differently
because of how snnTorch builds the model, the test pins the exact difference
(docs/stats.md, "Where the numbers differ").
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import snnx
from snnx import stats
from snnx.nir import from_nir, to_nir

HERE = Path(__file__).parent / "data" / "neurobench"
REFERENCE = json.loads((HERE / "reference.json").read_text())
MANIFEST = json.loads((HERE / "cases.json").read_text())
CASES = sorted(MANIFEST["cases"])
_CACHE: dict = {}


def _case(name: str):
    """``(model, x, report)`` for a reference case, built once per session."""
    if name not in _CACHE:
        case = MANIFEST["cases"][name]
        model = from_nir(HERE / case["nir"], dt=MANIFEST["dt"])
        x = np.load(HERE / "inputs.npz")[case["input"]]
        _CACHE[name] = model, x, stats.measure(model, x)
    return _CACHE[name]


def _params(name):
    # the conv case compiles for a few seconds; the quick tier keeps the feed-forward and recurrent ones
    marks = [pytest.mark.slow] if name in ("conv", "ff_real", "sparse") else []
    return pytest.param(name, marks=marks)


def _snnx_key(nb_path: str) -> str:
    """NeuroBench's module path -> the snnx row key (snnTorch's recurrent weight is ``<graph>.w_rec``)."""
    return nb_path.removesuffix(".w_rec") + ".lif.recurrent" if nb_path.endswith(".w_rec") else nb_path


# -- provenance -----------------------------------------------------------------------------------


def test_reference_was_made_with_the_pinned_versions():
    lines = [line.split("#")[0].strip() for line in (HERE / "requirements.txt").read_text().splitlines()]
    pins = dict(line.split("==") for line in lines if line)
    for package, version in REFERENCE["versions"].items():
        assert pins[package] == version.split("+")[0], package  # torch reports 2.13.0+cpu
    assert pins["nir"] == next(line.split("==")[1] for line in (Path(__file__).parents[1] / "constraints.txt")
                               .read_text().splitlines() if line.startswith("nir=="))


# -- the same network in snnTorch and snnx ---------------------------------------------------------


@pytest.mark.parametrize("name", [_params(n) for n in CASES])
def test_spike_trains_equal_snntorch(name):
    model, x, report = _case(name)
    neurons = [r.key for r in report.layers if r.role == "neuron"]
    _, _, rec = snnx.run(model, x, record="all", record_states=neurons)  # measure's own run (compiled once)
    theirs = np.load(HERE / "snntorch_spikes.npz")
    paths = [k.split("/", 1)[1] for k in theirs.files if k.startswith(f"{name}/")]
    assert sorted(paths) == sorted(r.key for r in report.layers if r.spiking)
    for path in paths:
        ours = np.asarray(rec.outputs[path])
        if ours.ndim == 5:  # snnx maps are channels-last, the reference channels-first
            ours = np.moveaxis(ours, -1, 2)
        np.testing.assert_array_equal(ours, theirs[f"{name}/{path}"], err_msg=path)


# -- NeuroBench's totals ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", [_params(n) for n in CASES])
def test_totals_equal_neurobench(name):
    _, _, report = _case(name)
    ref = REFERENCE["cases"][name]
    nb = ref["neurobench"]
    assert report.parameter_count == nb["ParameterCount"]
    assert round(report.connection_sparsity, 4) == nb["ConnectionSparsity"]  # NeuroBench rounds to 4 places
    assert report.activation_sparsity == nb["ActivationSparsity"]
    assert report.membrane_updates == nb["MembraneUpdates"]
    assert report.neuron_ops == nb["NeuronOperations"]["Effective Neuron Ops"]
    assert report.neuron_dense_ops == nb["NeuronOperations"]["Neuron Dense Ops"]
    syn = nb["SynapticOperations"]
    assert report.effective_macs == syn["Effective_MACs"]
    assert report.dense_ops == syn["Dense"]
    # snnTorch's import runs the recurrent weight once more, on the last step's spikes (see _last_call)
    assert report.effective_acs == syn["Effective_ACs"] - _last_call(ref) / ref["batch_size"]


def _last_call(ref) -> int:
    """Operations of the recurrent weights' last call in the snnTorch model (0 without recurrence)."""
    return sum(c["steps"][-1]["effective"] for p, c in ref["connections"].items() if p.endswith(".w_rec"))


def test_the_recurrent_difference_is_exercised():
    assert _last_call(REFERENCE["cases"]["rec"]) > 0
    assert [n for n in CASES if _last_call(REFERENCE["cases"][n])] == ["rec"]


@pytest.mark.parametrize("name", [_params(n) for n in CASES])
def test_footprint_differs_from_neurobench_by_the_neuron_constants(name):
    model, _, report = _case(name)
    ref = REFERENCE["cases"][name]
    parts = ref["footprint_parts"]
    # NeuroBench: parameters + snnTorch's buffers (beta, threshold, graded_spikes_factor,
    # reset_mechanism_val, and the membrane `mem`, empty before the run)
    assert ref["neurobench"]["Footprint"] == sum(p["bytes"] for p in parts["parameters"] + parts["buffers"])
    assert report.parameter_bytes == sum(p["bytes"] for p in parts["parameters"])
    consts = jax.tree.leaves(nnx.state(model, snnx.Const))
    assert report.footprint == report.parameter_bytes + sum(a.size * a.dtype.itemsize for a in consts)


# -- NeuroBench's per-layer numbers ----------------------------------------------------------------


@pytest.mark.parametrize("name", [_params(n) for n in CASES])
def test_layers_equal_neurobench(name):
    _, _, report = _case(name)
    ref = REFERENCE["cases"][name]
    rows = {r.key: r for r in report.layers}
    for path, n in ref["neurons"].items():
        row = rows[path]
        assert (row.spikes, row.neuron_updates, row.membrane_updates) == (
            n["spikes"], n["neuron_updates"], n["membrane_updates"]), path
        assert 1.0 - row.spike_rate == pytest.approx(n["activation_sparsity_by_layer"], rel=1e-12), path
    for path, c in ref["connections"].items():
        row = rows[_snnx_key(path)]
        last = c["steps"][-1]["effective"] if path.endswith(".w_rec") else 0
        assert (row.effective_macs, row.effective_acs + last, row.dense_ops) == (
            c["effective_macs"], c["effective_acs"], c["dense"]), path
    assert {r.key for r in report.layers if r.role in ("neuron", "connection")} == {
        *ref["neurons"], *map(_snnx_key, ref["connections"])}


def test_macs_and_acs_are_decided_per_step_over_the_batch():
    ref = REFERENCE["cases"]["conv"]["connections"]["layer_3"]  # fed by an AvgPool: fractions
    assert not any(s["ac"] for s in ref["steps"]) and ref["effective_macs"] > 0
    real = REFERENCE["cases"]["ff_real"]["connections"]
    assert real["layer_0"]["effective_acs"] == 0 and real["layer_2"]["effective_macs"] == 0


# -- closed forms ----------------------------------------------------------------------------------


def _linear(kernel, bias=None):
    kernel = np.asarray(kernel, np.float32)
    layer = nnx.Linear(*kernel.shape, use_bias=bias is not None, rngs=nnx.Rngs(0))
    layer.kernel[...] = kernel
    if bias is not None:
        layer.bias[...] = np.asarray(bias, np.float32)
    return layer


W = np.array([[1.0, 0.0, -2.0], [0.0, 0.0, 0.5], [3.0, 1.0, 1.0], [0.0, 0.0, 0.0]])  # fan-out 2, 1, 3, 0


def _ops(x, w):
    """Per step: products with a non-zero input and a non-zero weight, over the batch."""
    return ((np.asarray(x) != 0).astype(int) @ (w != 0).astype(int)).reshape(len(x), -1).sum(axis=1)


def test_linear_on_spikes_counts_nonzero_inputs_times_fanout():
    x = (np.random.default_rng(0).random((6, 3, 4)) < 0.4).astype(np.float32)
    report = stats.measure(snnx.Sequential(_linear(W), snnx.LIF(3)), x)
    fanout = (W != 0).sum(axis=1)
    assert report.effective_acs == (x * fanout).sum() / 3
    assert report.effective_macs == 0
    assert report.dense_ops == 6 * 4 * 3
    assert report.connection_sparsity == 6 / 12
    assert report.parameter_count == 12
    assert report.layers[0].weights == 12 and report.layers[0].zero_weights == 6


def test_one_real_value_turns_that_step_into_macs():
    x = (np.random.default_rng(1).random((5, 2, 4)) < 0.5).astype(np.float32)
    x[1, 0, 0], x[3, 1, 2] = 0.5, 2.0  # steps 1 and 3 are no longer spikes; -1 still counts as a spike
    x[4, 1, 1] = -1.0
    report = stats.measure(_linear(W), x)
    ops = _ops(x, W)
    assert report.effective_macs == (ops[1] + ops[3]) / 2
    assert report.effective_acs == (ops[0] + ops[2] + ops[4]) / 2


def test_bias_is_not_a_synaptic_operation():
    x = np.zeros((3, 2, 4), np.float32)
    report = stats.measure(_linear(W, bias=[1.0, 2.0, 3.0]), x)
    assert (report.effective_acs, report.effective_macs, report.dense_ops) == (0, 0, 3 * 12)
    assert report.parameter_count == 15 and report.connection_sparsity == 0.5


def test_conv_dense_counts_only_taps_inside_the_map():
    conv = nnx.Conv(2, 3, (3, 3), padding=1, rngs=nnx.Rngs(0))
    x = np.ones((2, 1, 5, 5, 2), np.float32)
    report = stats.measure(conv, x)
    taps = np.array([2, 3, 3, 3, 2])  # in-bounds taps per axis of a 3-wide kernel, padding 1
    dense = taps.sum() ** 2 * 2 * 3
    assert report.dense_ops == 2 * dense
    assert report.effective_acs == 2 * dense  # all inputs are 1, no zero weight
    kernel = np.asarray(conv.kernel[...]).copy()
    kernel[:, :, 0, :] = 0.0  # channel 0 has no weights left
    conv.kernel[...] = kernel
    assert stats.measure(conv, x).effective_acs == 2 * dense / 2


def test_membrane_updates_count_changes_after_the_first_step():
    # unit 0 gets nothing (never changes), unit 1 integrates below threshold (changes every step)
    x = np.zeros((7, 2, 2), np.float32)
    x[..., 1] = 0.1
    report = stats.measure(snnx.LIF(2, beta=0.5, threshold=10.0), x)
    assert report.membrane_updates == 2 + 6 * 1  # every unit at t = 0, then unit 1 at each later step
    assert report.neuron_ops == 4 * report.membrane_updates  # a snnTorch Leaky costs 4 per update
    assert report.neuron_dense_ops == 4 * 7 * 2
    assert report.spike_rate == 0 and report.activation_sparsity == 1.0


def test_spike_rate_of_an_integrate_and_fire_neuron():
    # IF, threshold 1.5, input 1: v = 1, 2 -> spike -> 0, 1, 2 -> spike ...: every second step
    report = stats.measure(snnx.IF(3, threshold=1.5), np.ones((10, 2, 3), np.float32))
    (row,) = report.layers
    assert (row.spikes, row.neuron_updates, row.spike_rate) == (5 * 3 * 2, 10 * 3 * 2, 0.5)
    assert report.spikes == 15 and report.activation_sparsity == 0.5
    # reset to zero from 2 and integrating again changes v every step
    assert row.membrane_updates == 10 * 3 * 2


def test_synaptic_neuron_costs_and_uncosted_neurons():
    x = np.full((4, 1, 2), 0.3, np.float32)
    zero = stats.measure(snnx.CuBaLIF(2, alpha=0.5, beta=0.5), x)
    sub = stats.measure(snnx.CuBaLIF(2, alpha=0.5, beta=0.5, reset="subtract"), x)
    assert zero.neuron_ops == 8 * zero.membrane_updates and sub.neuron_ops == 6 * sub.membrane_updates
    alif = stats.measure(snnx.ALIF(2), x)
    assert alif.neuron_ops is None and alif.neuron_dense_ops is None
    assert alif.membrane_updates == 8 and "'ALIF'" in alif.notes[0]


def test_recurrent_weights_see_the_previous_spikes():
    rlif = snnx.RLIF(3, beta=0.9, threshold=0.5, rngs=nnx.Rngs(0))
    rlif.recurrent.kernel[...] = W[:3].astype(np.float32)
    x = (np.random.default_rng(2).random((8, 2, 3)) < 0.5).astype(np.float32)
    report = stats.measure(rlif, x)
    z = np.asarray(snnx.run(rlif, x)[0])
    rows = {r.key: r for r in report.layers}
    rec = rows["RLIF.recurrent"]
    previous = np.concatenate([np.zeros_like(z[:1]), z[:-1]])
    assert rec.effective_acs == _ops(previous, W[:3]).sum()
    assert rec.dense_ops == 8 * 2 * 9
    assert rows["RLIF"].spikes == z.sum() and rows["RLIF"].parameters == 0
    assert rec.parameters == 9 and report.parameter_count == 9


def test_pooling_flatten_scale_delay_cost_nothing():
    model = snnx.Sequential(
        snnx.Scale((4, 4, 2), 2.0), snnx.SumPool((2, 2)), snnx.MaxPool((1, 1)), snnx.Flatten(),
        snnx.Delay(8, steps=1), _linear(np.ones((8, 2))), snnx.LIF(2),
    )
    x = np.ones((3, 2, 4, 4, 2), np.float32)
    report = stats.measure(model, x)
    assert [r.role for r in report.layers] == ["free"] * 5 + ["connection", "neuron"]
    # the Linear gets the delayed sums (4 * 2 = 8 per unit from step 1, zeros at step 0): MACs
    assert report.effective_macs == 2 * 8 * 2 and report.effective_acs == 0
    assert report.dense_ops == 3 * 16


# -- Graph models ----------------------------------------------------------------------------------


def test_graph_inputs_are_edge_sums_with_back_edges_from_the_previous_step():
    fc1 = _linear(W[:3], bias=[0.0, 0.0, 0.0])
    fc2 = _linear([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]], bias=[0.5, 0.0, 0.0])
    g = snnx.Graph(
        {"fc1": fc1, "lif": snnx.LIF(3, beta=0.8, threshold=0.8), "fc2": fc2},
        [("input", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "fc1"), ("lif", "output")],
        input_shape=3,
    )
    assert g.back_edges == (("fc2", "fc1"),)
    x = (np.random.default_rng(3).random((9, 2, 3)) < 0.4).astype(np.float32)
    _, _, rec = snnx.run(g, x, record="all")
    z = np.asarray(rec.outputs["lif"], np.float64)
    w2, b2 = np.asarray(fc2.kernel[...], np.float64), np.asarray(fc2.bias[...], np.float64)
    fb = z @ w2 + b2
    fc1_in = x + np.concatenate([np.broadcast_to(b2, (1, 2, 3)), fb[:-1]])  # fc2(0) = bias at t = 0
    report = stats.measure(g, x)
    rows = {r.key: r for r in report.layers}
    ops1, ternary = _ops(fc1_in, W[:3]), np.all(np.isin(fc1_in, (-1, 0, 1)), axis=(1, 2))
    fc1 = rows["fc1"]
    assert (fc1.effective_acs, fc1.effective_macs) == (ops1[ternary].sum(), ops1[~ternary].sum())
    assert fc1.effective_macs > 0  # the bias arriving at t = 0 is not a spike
    assert rows["fc2"].effective_acs == _ops(z, np.asarray(fc2.kernel[...])).sum()
    assert rows["lif"].spikes == z.sum()


def test_graph_imported_from_nir_counts_like_the_original():
    rngs = nnx.Rngs(4)
    g = snnx.Graph(
        {"a": nnx.Linear(4, 3, rngs=rngs), "b": nnx.Linear(4, 3, rngs=rngs), "lif": snnx.LIF(3, beta=0.9)},
        [("input", "a"), ("input", "b"), ("a", "lif"), ("b", "lif"), ("lif", "output")],
    )
    back = from_nir(to_nir(g, (4,), dt=1e-3), dt=1e-3)
    assert isinstance(back, snnx.Graph)
    x = (np.random.default_rng(5).random((6, 3, 4)) < 0.5).astype(np.float32)
    ours, theirs = stats.measure(g, x), stats.measure(back, x)
    assert ours.as_dict()["totals"] == theirs.as_dict()["totals"]
    assert ours.effective_acs == 2 * x.sum() * 3 / 3


@pytest.mark.slow  # one of the quick tier's longest (it compiles many programs)
def test_totals_per_sample_do_not_depend_on_how_the_batch_is_cut():
    model, x, report = _case("ff_binary")
    halves = [stats.measure(model, x[:, :2]), stats.measure(model, x[:, 2:])]
    for name in ("effective_acs", "dense_ops", "membrane_updates", "neuron_ops"):
        assert getattr(report, name) == (getattr(halves[0], name) + getattr(halves[1], name)) / 2


# -- errors, table, dict ---------------------------------------------------------------------------


class _Counter(nnx.Module):
    """A stateful module the metrics know nothing about."""

    def init_state(self, batch_shape=()):
        return {"n": jnp.zeros(batch_shape)}

    def __call__(self, x, state):
        return x, {"n": state["n"] + 1}


class _MyLinear(nnx.Linear):
    pass


@pytest.mark.parametrize(("layer", "match"), [
    (lambda x: 2 * x, r"layer '1' is the plain function '<lambda>', whose cost is unknown"),
    (_Counter(), r"layer '1' is a stateful module of type _Counter, whose cost is unknown"),
    (nnx.Dropout(0.5, rngs=nnx.Rngs(0)), r"layer '1' is a module of type Dropout, .* with `free=`"),
    (_MyLinear(3, 3, rngs=nnx.Rngs(0)), r"layer '1' is a module of type _MyLinear, whose cost"),
])
def test_uncountable_layers_are_refused_by_key_and_type(layer, match):
    model = snnx.Sequential(_linear(W), layer, snnx.LIF(3))
    with pytest.raises(snnx.ArgumentTypeError, match=match):
        stats.measure(model, np.ones((2, 1, 4), np.float32))


def test_free_declares_more_types_cost_free():
    model = snnx.Sequential(_linear(W), nnx.Dropout(0.0, deterministic=True, rngs=nnx.Rngs(0)), snnx.LIF(3))
    report = stats.measure(model, np.ones((2, 1, 4), np.float32), free=(nnx.Dropout,))
    assert [r.role for r in report.layers] == ["connection", "free", "neuron"]
    with pytest.raises(snnx.ArgumentTypeError, match="`free` must hold layer types, got 'Dropout'"):
        stats.measure(model, np.ones((2, 1, 4), np.float32), free=("Dropout",))


def test_a_neuron_holding_an_unknown_connection_is_refused():
    lif = snnx.LIF(3)
    lif.extra = nnx.Linear(3, 3, rngs=nnx.Rngs(0))
    match = r"layer 'LIF' \(LIF\) holds the module 'extra' \(Linear\) whose input is unknown"
    with pytest.raises(snnx.ArgumentTypeError, match=match):
        stats.measure(lif, np.ones((2, 1, 3), np.float32))


def test_table_and_dict():
    _, _, report = _case("ff_binary")
    text = report.table()
    assert str(report) == text
    for key in ("layer_0", "layer_1", "layer_2", "layer_3", "total", "activation sparsity 0.8547"):
        assert key in text
    d = report.as_dict()
    assert d["totals"]["effective_acs"] == report.effective_acs
    assert d["layers"]["layer_1"]["spikes"] == report.layers[1].spikes
    assert json.loads(json.dumps(d)) == d
    with pytest.raises(AttributeError):
        report.batch_size = 3  # frozen
