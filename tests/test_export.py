"""snnx.export: ONNX (jax2onnx, run by onnxruntime) and StableHLO (jax.export) against snnx.run.

Every export is compared with ``snnx.run(model, x)`` under default options (on CPU the layer-major
engine with fused kernels): spikes equal, membranes and readouts within 1e-5. The inputs make the
hidden layers spike (checked: some spikes, some silence). Step-mode exports are looped over time
in numpy, as a deployment would.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import snnx
from snnx import LI, LIF, RLIF, Deferred, Flatten, Graph, Sequential, SumPool
from snnx.export import ExportError, initial_state, load_stablehlo, to_onnx, to_stablehlo

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("jax2onnx")

ATOL = 1e-5


def digits_model():
    """``snnx train``'s default digits model (src/snnx/cli/_train.py build_model), 128 hidden units."""
    rngs = nnx.Rngs(0)
    return Sequential(nnx.Linear(64, 128, rngs=rngs), LIF(128), nnx.Linear(128, 10, rngs=rngs), LI(10))


def conv_model():
    rngs = nnx.Rngs(1)
    return Sequential(
        nnx.Conv(2, 4, (3, 3), rngs=rngs), LIF(beta=0.9), SumPool(2), Flatten(),
        Deferred(lambda s: nnx.Linear(s[-1], 5, rngs=rngs)), LI(beta=0.9),
        input_shape=(8, 8, 2),
    )  # fmt: skip


def recurrent_model():
    rngs = nnx.Rngs(2)
    return Sequential(nnx.Linear(16, 12, rngs=rngs), RLIF(12, rngs=rngs), nnx.Linear(12, 4, rngs=rngs), LI(4))


def spikes_in(shape, p, seed, scale=1.0):
    """Bernoulli(p) spikes of height ``scale``, time-major."""
    return np.asarray(jax.random.uniform(jax.random.key(seed), shape) < p, np.float32) * scale


# name: (model, input (T, B, ...), key of the hidden spiking layer)
CASES = {
    "digits": (digits_model, lambda: spikes_in((8, 3, 64), 0.3, 0), "1"),
    "conv": (conv_model, lambda: spikes_in((6, 2, 8, 8, 2), 0.4, 1, scale=2.0), "1"),
    "recurrent": (recurrent_model, lambda: spikes_in((8, 3, 16), 0.5, 2, scale=1.5), "1"),
}


def reference(model, x, **kwargs):
    """``snnx.run(model, x, **kwargs)`` with default options, under ``jax.jit`` (the model a constant)."""
    return jax.tree.map(np.asarray, jax.jit(lambda x: snnx.run(model, x, **kwargs))(x))


class Case:
    """A model, its input, the reference ``snnx.run`` results (default options) and its exports."""

    def __init__(self, name):
        make_model, make_x, self.hidden = CASES[name]
        self.name, self.model, self.x = name, make_model(), make_x()
        self.y, self.states, rec = reference(self.model, self.x, return_states=True, record="spikes")
        self.spikes = np.asarray(rec.outputs[self.hidden])
        self.final = jax.tree.map(lambda a: np.asarray(a[-1]), self.states)
        self._onnx = {}

    def session(self, mode):
        if mode not in self._onnx:
            self._onnx[mode] = _session(to_onnx(self.model, self.x, mode=mode))
        return self._onnx[mode]

    def named(self, tree) -> dict:
        return dict(zip(initial_state(self.model, 1), jax.tree.leaves(tree), strict=True))


@functools.cache
def get_case(name: str) -> Case:
    return Case(name)


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    return get_case(request.param)


def _session(proto):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _onnx_loop(session, x, state):
    """Step mode as a deployment runs it: one session call per time step, the state fed back."""
    ys, states = [], []
    for x_t in x:
        out = session.run(None, {"x": x_t, **state})
        ys.append(out[0])
        state = dict(zip(state, out[1:], strict=True))
        states.append(state)
    return np.stack(ys), {k: np.stack([s[k] for s in states]) for k in state}


def _assert_state_close(got: dict, want: dict):
    assert list(got) == list(want)
    for name in want:
        if name.endswith(".z"):  # a recurrent neuron's spikes
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
        else:
            np.testing.assert_allclose(got[name], want[name], atol=ATOL, rtol=0, err_msg=name)


def test_reference_runs_the_default_engine(case):
    """The reference is what snnx.run does by default on CPU: layer-major, fused kernels."""
    plan = snnx.engine.plan(case.model, case.x)
    assert plan.engine == "layer"
    assert "FusedNeuron" in {step.kind for step in plan.steps}


def test_hidden_layers_spike(case):
    assert case.spikes.any(), "the input must make the hidden layer spike"
    assert not case.spikes.all(), "the hidden layer must also stay silent sometimes"
    assert 0.02 < case.spikes.mean() < 0.8


def test_onnx_sequence_matches_run(case):
    before = jax.tree.map(np.asarray, nnx.state(case.model))
    session = case.session("sequence")
    state_names = list(initial_state(case.model, 1))
    assert [i.name for i in session.get_inputs()] == ["x"]
    outputs = ["y", *(n.replace("state.", "state_out.") for n in state_names)]
    assert [o.name for o in session.get_outputs()] == outputs
    y, *final = session.run(None, {"x": case.x})
    np.testing.assert_allclose(y, case.y, atol=ATOL, rtol=0)
    _assert_state_close(dict(zip(state_names, final, strict=True)), case.named(case.final))
    after = jax.tree.map(np.asarray, nnx.state(case.model))
    jax.tree.map(np.testing.assert_array_equal, after, before)  # exporting changed nothing in the model


def test_onnx_step_loop_matches_run(case):
    session = case.session("step")
    state = initial_state(case.model, case.x.shape[1])
    assert [i.name for i in session.get_inputs()] == ["x", *state]
    ys, states = _onnx_loop(session, case.x, state)
    np.testing.assert_allclose(ys, case.y, atol=ATOL, rtol=0)
    _assert_state_close(states, case.named(case.states))


@pytest.mark.parametrize("name", ["digits", "conv"])
def test_onnx_hidden_spikes_identical(name):
    """The spiking part of a model alone: its output is the hidden layer's spikes, exactly."""
    c = get_case(name)
    head = Sequential(*c.model.layers[:2])
    spikes = _session(to_onnx(head, c.x)).run(None, {"x": c.x})[0]
    np.testing.assert_array_equal(spikes, c.spikes)


def test_stablehlo_sequence_matches_run(case):
    y, final = load_stablehlo(to_stablehlo(case.model, case.x))(case.x)
    np.testing.assert_allclose(np.asarray(y), case.y, atol=ATOL, rtol=0)
    _assert_state_close({k: np.asarray(v) for k, v in final.items()}, case.named(case.final))


def test_stablehlo_step_loop_matches_run():
    c = get_case("recurrent")
    step = load_stablehlo(to_stablehlo(c.model, c.x, mode="step"))
    state, ys, states = initial_state(c.model, c.x.shape[1]), [], []
    for x_t in c.x:
        y, state = step(x_t, state)
        ys.append(np.asarray(y))
        states.append(state)
    np.testing.assert_allclose(np.stack(ys), c.y, atol=ATOL, rtol=0)
    stacked = {k: np.stack([np.asarray(s[k]) for s in states]) for k in state}
    _assert_state_close(stacked, c.named(c.states))


@pytest.fixture(scope="module")
def digits():
    return get_case("digits")


def test_symbolic_time_and_batch(digits):
    session = digits.session("sequence")
    assert [d for d in session.get_inputs()[0].shape] == ["T", "B", 64]
    assert session.get_outputs()[0].shape == ["T", "B", 10]
    shlo = load_stablehlo(to_stablehlo(digits.model, digits.x))
    for x in (spikes_in((5, 2, 64), 0.3, 7), spikes_in((11, 1, 64), 0.3, 8)):
        want, _ = reference(digits.model, x)
        np.testing.assert_allclose(session.run(None, {"x": x})[0], want, atol=ATOL, rtol=0)
        np.testing.assert_allclose(np.asarray(shlo(x)[0]), want, atol=ATOL, rtol=0)


def test_fixed_sizes(digits):
    proto = to_onnx(digits.model, digits.x, dynamic=False)
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [8, 3, 64]
    y = _session(proto).run(None, {"x": digits.x})[0]
    np.testing.assert_allclose(y, digits.y, atol=ATOL, rtol=0)
    session = _session(to_onnx(digits.model, digits.x, dynamic=("B",)))
    assert session.get_inputs()[0].shape == [8, "B", 64]
    np.testing.assert_allclose(
        session.run(None, {"x": digits.x[:, :1]})[0], digits.y[:, :1], atol=ATOL, rtol=0
    )


def test_step_loop_from_the_file_alone():
    """Izhikevich starts away from zero: a loop that knows only the ONNX file reads its initial state."""
    model = Sequential(nnx.Linear(4, 6, rngs=nnx.Rngs(5)), snnx.neurons.Izhikevich(6))
    x = spikes_in((12, 2, 4), 0.5, 6, scale=20.0)
    want = reference(model, x)[0]
    assert 0 < want.mean() < 1
    session = _session(to_onnx(model, x, mode="step"))
    meta = session.get_modelmeta().custom_metadata_map
    one = json.loads(meta["snnx.initial_state"])
    assert list(one) == json.loads(meta["snnx.state"]) == ["state.1.u", "state.1.v"]
    assert np.any(np.asarray(one["state.1.v"]) != 0)
    state = {k: np.repeat(np.asarray(v, np.float32), 2, axis=0) for k, v in one.items()}
    ys, _ = _onnx_loop(session, x, state)
    np.testing.assert_array_equal(ys, want)


def test_metadata_names_the_state(digits):
    proto = to_onnx(digits.model, jax.ShapeDtypeStruct((8, 3, 64), jnp.float32), mode="step")
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["snnx.mode"] == "step"
    assert json.loads(meta["snnx.state"]) == ["state.1.v", "state.3.v"]
    assert [i.name for i in proto.graph.input] == ["x", "state.1.v", "state.3.v"]
    assert [o.name for o in proto.graph.output] == ["y", "state_out.1.v", "state_out.3.v"]


def test_graph_with_back_edge():
    rngs = nnx.Rngs(3)
    g = Graph(
        {"fc": nnx.Linear(8, 8, rngs=rngs), "lif": LIF(8), "fc2": nnx.Linear(8, 8, rngs=rngs)},
        [("input", "fc"), ("fc", "lif"), ("lif", "fc2"), ("fc2", "lif"), ("lif", "output")],
        input_shape=(8,),
    )
    state = initial_state(g, 2)
    assert list(state) == ["state.back.fc2", "state.lif.v"]  # jax.tree order: "back" before "nodes"
    x = spikes_in((7, 2, 8), 0.5, 4, scale=2.0)
    want, _ = reference(g, x)
    assert 0 < want.mean() < 1
    np.testing.assert_array_equal(_session(to_onnx(g, x)).run(None, {"x": x})[0], want)
    ys, _ = _onnx_loop(_session(to_onnx(g, x, mode="step")), x, state)
    np.testing.assert_array_equal(ys, want)


@pytest.mark.slow
def test_model_from_nir(digits):
    model = snnx.nir.from_nir(snnx.nir.to_nir(digits.model, (64,), 1e-3), 1e-3)
    proto = to_onnx(model, digits.x, mode="step")
    assert [i.name for i in proto.graph.input] == ["x", "state.layer_1.v", "state.layer_3.v"]  # NIR names
    ys, _ = _onnx_loop(_session(proto), digits.x, initial_state(model, 3))
    np.testing.assert_allclose(ys, reference(model, digits.x)[0], atol=ATOL, rtol=0)


def test_no_log_noise(digits, caplog):
    with caplog.at_level(logging.WARNING):
        to_onnx(digits.model, digits.x)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


# -- what cannot be exported -------------------------------------------------------------------


class HostNoise(nnx.Module):
    """A layer that calls back into Python: neither target can hold it."""

    def __call__(self, x):
        return jax.pure_callback(np.tanh, jax.ShapeDtypeStruct(x.shape, x.dtype), x)


def _with(layer, n=4):
    return Sequential(nnx.Linear(n, n, rngs=nnx.Rngs(0)), layer, LIF(n))


@pytest.mark.parametrize(
    ("export", "reason"),
    [(to_onnx, "plugins registered for primitive 'pure_callback'"), (to_stablehlo, "calls back into Python")],
)
def test_unsupported_layer_is_named(export, reason):
    match = rf"layer '1' \(HostNoise\) cannot be exported to .*{reason}"
    with pytest.raises(ExportError, match=match) as err:
        export(_with(HostNoise()), np.ones((3, 2, 4), np.float32))
    assert err.value.layer == "1"


@pytest.mark.slow
def test_complex_layer_refused_by_onnx_not_stablehlo():
    model = _with(snnx.ResonateFire(4))
    x = np.ones((3, 2, 4), np.float32)
    with pytest.raises(ExportError, match=r"layer '1' \(ResonateFire\) .* complex numbers"):
        to_onnx(model, x)
    y, _ = load_stablehlo(to_stablehlo(model, x))(x)
    np.testing.assert_allclose(np.asarray(y), reference(model, x)[0], atol=ATOL, rtol=0)


class Noisy(nnx.Module):
    """Draws the same noise at every step (a constant key): no NNX variable changes."""

    def __call__(self, x):
        return x + jax.random.normal(jax.random.key(0), x.shape)


@pytest.mark.slow
def test_random_numbers_refused_by_onnx_not_stablehlo():
    model, x = _with(Noisy()), np.ones((3, 2, 4), np.float32)
    with pytest.raises(ExportError, match=r"layer '1' \(Noisy\) .* random numbers \(a JAX PRNG key\)"):
        to_onnx(model, x)
    y, _ = load_stablehlo(to_stablehlo(model, x))(x)
    np.testing.assert_allclose(np.asarray(y), reference(model, x)[0], atol=ATOL, rtol=0)


def test_max_pool_refused_by_onnx():
    model = Sequential(snnx.MaxPool(2), Flatten())
    with pytest.raises(ExportError, match=r"layer '0' \(MaxPool\) .* pooling window spans 4 axes"):
        to_onnx(model, np.ones((3, 2, 4, 4, 2), np.float32))


@pytest.mark.parametrize(
    "layer",
    [
        nnx.Dropout(0.5, rngs=nnx.Rngs(1)),
        pytest.param(nnx.BatchNorm(4, rngs=nnx.Rngs(1)), marks=pytest.mark.slow),
    ],
    ids=["Dropout", "BatchNorm"],
)
def test_step_that_updates_nnx_variables_is_refused(layer):
    model, x = _with(layer), np.ones((3, 2, 4), np.float32)
    name = type(layer).__name__
    for export in (to_onnx, to_stablehlo):
        match = rf"layer '1' \({name}\) cannot be exported: it updates NNX variables.*model.eval\(\)"
        with pytest.raises(ExportError, match=match):
            export(model, x)
    model.eval()
    want = snnx.run(model, x)[0]
    y, _ = load_stablehlo(to_stablehlo(model, x))(x)
    np.testing.assert_allclose(np.asarray(y), want, atol=ATOL, rtol=0)
    np.testing.assert_allclose(_session(to_onnx(model, x)).run(None, {"x": x})[0], want, atol=ATOL, rtol=0)


@pytest.mark.parametrize(
    ("example", "error", "match"),
    [
        (np.ones((8, 3, 63), np.float32), ValueError, r"64 input features .* got shape \(8, 3, 63\)"),
        (np.ones((8, 64), np.float32), snnx.ShapeError, r"(?s)layer 0 \(Linear\) rejects .* T=8 steps, B=64"),
        (np.ones((8,), np.float32), snnx.ShapeError, r"`example` must be the time-major input .*\(8,\)"),
        ([[1.0]], snnx.ArgumentTypeError, r"`example` must be an array or a jax.ShapeDtypeStruct .* list"),
    ],
)
def test_bad_example(digits, example, error, match):
    with pytest.raises(error, match=match):
        to_onnx(digits.model, example)
    with pytest.raises(error, match=match):
        to_stablehlo(digits.model, example)


def test_bad_arguments(digits):
    with pytest.raises(snnx.OptionError, match=r"`mode` must be one of \['sequence', 'step'\], got 'batch'"):
        to_onnx(digits.model, digits.x, mode="batch")
    with pytest.raises(snnx.ArgumentTypeError, match=r"`model` must be a model snnx.run accepts"):
        to_stablehlo(42, digits.x)
    with pytest.raises(snnx.ArgumentTypeError, match=r"`source` must be the bytes from to_stablehlo"):
        load_stablehlo(3)
    with pytest.raises(snnx.OptionError, match=r"`batch` must be a positive int, got 0"):
        initial_state(digits.model, 0)
    with pytest.raises(snnx.OptionError, match=r"`dynamic` must be a bool or a tuple .* got 'N'"):
        to_onnx(digits.model, digits.x, dynamic="N")


@pytest.mark.parametrize("package", ["jax2onnx", "onnxruntime"])
def test_missing_package_says_how_to_install(digits, monkeypatch, package):
    monkeypatch.setitem(sys.modules, package, None)
    with pytest.raises(ImportError, match=rf"needs the package '{package}'.*pip install 'snnx\[export\]'"):
        to_onnx(digits.model, digits.x)


@pytest.mark.slow
def test_stablehlo_runs_in_a_fresh_process_without_snnx(tmp_path, digits):
    """The bytes alone, in a Python that imports only jax and numpy, give snnx.run's outputs."""
    to_stablehlo(digits.model, digits.x, path=tmp_path / "model.stablehlo")
    x = spikes_in((9, 2, 64), 0.3, 5)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(
        """
        import sys
        import jax, numpy as np
        exported = jax.export.deserialize(bytearray(open("model.stablehlo", "rb").read()))
        y, final = exported.call(np.load("x.npy"))
        np.save("y.npy", np.asarray(y))
        assert not any(m == "snnx" or m.startswith("snnx.") for m in sys.modules), "snnx was imported"
        print(sorted(final))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PATH": "", "JAX_PLATFORMS": "cpu"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['state.1.v', 'state.3.v']"
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), reference(digits.model, x)[0], atol=ATOL, rtol=0)


def _zoo():
    rngs = nnx.Rngs(0)
    plain = ["ALIF", "IF", "LI", "LIF", "PSU_LIF", "AdEx", "Alpha", "CobaLIF", "CuBaLI", "CuBaLIF", "ExpLIF",
             "I", "Izhikevich", "LIFRefrac", "Lapicque", "SigmaDelta"]  # fmt: skip
    zoo = {name: lambda name=name: getattr(snnx.neurons, name)(8) for name in plain}
    for name in ("RIF", "RLIF", "RALIF", "RCuBaLIF"):
        zoo[name] = lambda name=name: getattr(snnx.neurons, name)(8, rngs=rngs)
    zoo["SLSTM"] = lambda: snnx.neurons.SLSTM(8, 8, rngs=rngs)
    zoo["Mamba"] = lambda: snnx.ssm.Mamba(8, rngs=rngs)
    return zoo


@pytest.mark.slow
@pytest.mark.parametrize("name", list(_zoo()))
def test_neuron_zoo_exports(name):
    """Every neuron of snnx.neurons after a Linear, and Mamba: ONNX and StableHLO equal snnx.run."""
    model = Sequential(nnx.Linear(8, 8, rngs=nnx.Rngs(1)), _zoo()[name]())
    x = np.asarray(jax.random.uniform(jax.random.key(2), (5, 2, 8)) * 2, np.float32)
    want = reference(model, x)[0]
    np.testing.assert_allclose(_session(to_onnx(model, x)).run(None, {"x": x})[0], want, atol=ATOL, rtol=0)
    np.testing.assert_allclose(
        np.asarray(load_stablehlo(to_stablehlo(model, x))(x)[0]), want, atol=ATOL, rtol=0
    )


@pytest.mark.slow
def test_avg_pool_exports():
    model = Sequential(snnx.AvgPool(2), Flatten(), LIF(8))
    x = spikes_in((4, 2, 4, 4, 2), 0.5, 3, scale=3.0)
    want = reference(model, x)[0]
    np.testing.assert_array_equal(_session(to_onnx(model, x)).run(None, {"x": x})[0], want)
    np.testing.assert_array_equal(np.asarray(load_stablehlo(to_stablehlo(model, x))(x)[0]), want)


@pytest.mark.slow
def test_docs_page_runs(tmp_path, monkeypatch):
    """docs/export.md: every python block, in order, in one namespace (its asserts are its claims)."""
    page = Path(__file__).resolve().parent.parent / "docs" / "export.md"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__main__"}
    for i, code in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), re.DOTALL)):
        exec(compile(code, f"docs/export.md#{i}", "exec"), namespace)


@pytest.mark.slow
def test_quantised_model_exports(digits):
    """A snnx.quant model reads its weights dequantised: it exports as it is; sub-byte codes in the time
    loop of mode="sequence" are written as their float values (onnxruntime's Loop takes no int4)."""
    from snnx import quant

    model, x = quant.ptq(digits.model, quant.Rule("int8")), digits.x
    want = reference(model, x)[0]
    assert not np.allclose(want, digits.y, atol=ATOL)  # the quantised weights are in use
    np.testing.assert_allclose(_session(to_onnx(model, x)).run(None, {"x": x})[0], want, atol=ATOL, rtol=0)
    y, _ = load_stablehlo(to_stablehlo(model, x))(x)
    np.testing.assert_allclose(np.asarray(y), want, atol=ATOL, rtol=0)
    four = quant.ptq(digits.model, quant.Rule("int4"))
    want = reference(four, x)[0]
    np.testing.assert_allclose(_session(to_onnx(four, x)).run(None, {"x": x})[0], want, atol=ATOL, rtol=0)
    assert isinstance(four.layers[0].kernel, quant.Quantized)  # the model itself keeps its codes
    ys, _ = _onnx_loop(_session(to_onnx(four, x, mode="step")), x, initial_state(four, 3))
    np.testing.assert_allclose(ys, reference(four, x)[0], atol=ATOL, rtol=0)


@pytest.mark.slow
def test_multi_input_graph():
    """A dict example: one ONNX input per graph input (``x.<name>``), one output per graph output."""
    rngs = nnx.Rngs(4)
    g = Graph(
        {"a": nnx.Linear(3, 5, rngs=rngs), "b": nnx.Linear(4, 5, rngs=rngs), "lif": LIF(5), "li": LI(5)},
        [("u", "a"), ("v", "b"), ("a", "lif"), ("b", "lif"), ("lif", "spikes"), ("lif", "li"), ("li", "vm")],
        inputs=("u", "v"),
        outputs=("spikes", "vm"),
    )
    x = {"u": spikes_in((6, 2, 3), 0.5, 9, scale=2.0), "v": spikes_in((6, 2, 4), 0.5, 10, scale=2.0)}
    want = snnx.run(g, x)[0]
    assert 0 < want["spikes"].mean() < 1
    session = _session(to_onnx(g, x))
    assert [i.name for i in session.get_inputs()] == ["x.u", "x.v"]
    outputs = ["y.spikes", "y.vm", "state_out.li.v", "state_out.lif.v"]
    assert [o.name for o in session.get_outputs()] == outputs
    spikes, vm, *_ = session.run(None, {"x.u": x["u"], "x.v": x["v"]})
    np.testing.assert_array_equal(spikes, want["spikes"])
    np.testing.assert_allclose(vm, want["vm"], atol=ATOL, rtol=0)


def test_stablehlo_for_several_platforms(digits):
    data = to_stablehlo(digits.model, digits.x, platforms=("cpu", "cuda"))
    assert jax.export.deserialize(bytearray(data)).platforms == ("cpu", "cuda")
    np.testing.assert_allclose(np.asarray(load_stablehlo(data)(digits.x)[0]), digits.y, atol=ATOL, rtol=0)
