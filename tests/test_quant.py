"""snnx.quant: post-training and quantisation-aware training of weights, checked against numpy.

The references below are written from the definitions (symmetric integer grids
with qwix's half-step bound, BitNet's absmean ternary, the GPTQ objective), not
from qwix's code, and compared with what the quantised model computes with.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import nir
import numpy as np
import optax
import pytest
from flax import nnx

import snnx
from snnx import quant
from snnx.engine import plan
from snnx.nir import NIRError, from_nir, read, to_nir, write
from snnx.train import fit

T, B, N_IN, N_HID, N_OUT = 12, 4, 10, 24, 5


def _model(seed=0, recurrent=False):
    r = nnx.Rngs(seed)
    hidden = snnx.RLIF(N_HID, beta=0.9, rngs=r) if recurrent else snnx.LIF(N_HID, beta=0.9)
    return snnx.Sequential(
        nnx.Linear(N_IN, N_HID, rngs=r), hidden, nnx.Linear(N_HID, N_OUT, rngs=r), snnx.LI(N_OUT, beta=0.9)
    )


@pytest.fixture(scope="module")
def x():
    return (jax.random.uniform(jax.random.key(3), (T, B, N_IN)) < 0.4).astype(jnp.float32) * 2.5


# -- numpy references ------------------------------------------------------------------------------------


def np_symmetric(w, bits, per_channel=True, ratio=1.0):
    """Codes and dequantised values of a symmetric grid whose bound is qmax + 1/2 (half-even rounding)."""
    axes = tuple(range(w.ndim - 1)) if per_channel else None
    absmax = np.max(np.abs(w), axis=axes, keepdims=True) * ratio
    scale = (absmax / (2 ** (bits - 1) - 0.5)).astype(np.float32)
    codes = np.clip(np.round(w / scale), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return codes, (codes * scale).astype(np.float32), scale


def np_ternary(w):
    scale = np.mean(np.abs(w), axis=0, keepdims=True)
    codes = np.clip(np.round(w / scale), -1, 1)
    return codes, (codes * scale).astype(np.float32)


def assert_codes(got, want, w, scale):
    """Equal codes, but at exact ties (w / scale a half-integer, as the absmax entry is: qmax + 1/2),
    where one ulp of the division decides the rounding, and may differ by one."""
    ratio = w / scale
    tie = np.abs(np.abs(ratio - np.floor(ratio)) - 0.5) < 1e-4
    np.testing.assert_array_equal(got[~tie], want[~tie])
    assert np.all(np.abs(got[tie] - want[tie]) <= 1)


def kernel(m, i):
    return np.asarray(m.layers[i].kernel[...])


def codes_of(m, i):
    return np.asarray(m.layers[i].kernel.get_raw_value().qvalue).astype(np.int32)


# -- post-training quantisation ----------------------------------------------------------------------------


@pytest.mark.parametrize(("qtype", "bits"), [("int8", 8), ("int4", 4)])
def test_ptq_absmax_matches_numpy_grid(qtype, bits):
    m = _model()
    q = quant.ptq(m, qtype)
    for i in (0, 2):
        codes, _, scale = np_symmetric(kernel(m, i), bits)
        assert_codes(codes_of(q, i), codes, kernel(m, i), scale)
        np.testing.assert_allclose(kernel(q, i), codes_of(q, i) * scale, rtol=1e-6, atol=0)
        assert len(np.unique(codes_of(q, i)[:, 0])) <= 2**bits
    assert isinstance(m.layers[0].kernel, nnx.Param)  # the float model is untouched


def test_ptq_per_tensor_has_one_scale():
    m = _model()
    q = quant.ptq(m, quant.Rule("int4", per_channel=False))
    codes, _, scale = np_symmetric(kernel(m, 0), 4, per_channel=False)
    assert q.layers[0].kernel.get_raw_value().scale.size == 1
    assert_codes(codes_of(q, 0), codes, kernel(m, 0), scale)
    np.testing.assert_allclose(kernel(q, 0), codes_of(q, 0) * scale, rtol=1e-6)


def test_ternary_is_absmean():
    m = _model()
    q = quant.ptq(m, "ternary")
    codes, deq = np_ternary(kernel(m, 0))
    np.testing.assert_array_equal(codes_of(q, 0), codes)
    np.testing.assert_allclose(kernel(q, 0), deq, rtol=1e-6)
    assert set(np.unique(codes_of(q, 0))) <= {-1, 0, 1}


def test_mse_picks_the_best_clipping_ratio_per_channel():
    m = _model()
    w = kernel(m, 0)
    q = quant.ptq(m, quant.Rule("int4", calibration="mse"))
    got = np.sum((kernel(q, 0) - w) ** 2, axis=0)
    ratios = np.linspace(0.5, 1.0, 51, dtype=np.float32)
    best = np.min([np.sum((np_symmetric(w, 4, ratio=r)[1] - w) ** 2, axis=0) for r in ratios], axis=0)
    absmax = np.sum((np_symmetric(w, 4)[1] - w) ** 2, axis=0)
    np.testing.assert_allclose(got, best, rtol=1e-4)
    assert np.all(got <= absmax * (1 + 1e-6)) and np.any(got < absmax * 0.99)


@pytest.mark.slow  # trains, or compiles several programs
def test_gptq_lowers_the_output_error_on_its_calibration_data(x):
    m = _model()
    a = quant.ptq(m, quant.Rule("int4", path="0"))
    g = quant.ptq(m, quant.Rule("int4", path="0", calibration="gptq"), data=x)
    rows = np.asarray(x).reshape(-1, N_IN)
    w = kernel(m, 0)

    def err(qm):
        return float(np.sum((rows @ (kernel(qm, 0) - w)) ** 2))

    assert err(g) < err(a)
    assert len(np.unique(codes_of(g, 0))) <= 16
    assert isinstance(g.layers[2].kernel, nnx.Param)  # the rule's path took layer 0 only


def test_ptq_model_runs_like_the_float_model_with_its_values(x):
    m = _model()
    q = quant.ptq(m, "int4")
    ref = nnx.clone(m)  # float weights: the codes times numpy's scales
    for i in (0, 2):
        ref.layers[i].kernel[...] = jnp.asarray(codes_of(q, i) * np_symmetric(kernel(m, i), 4)[2])
    yq, sq = snnx.run(q, x)
    yr, sr = snnx.run(ref, x)
    np.testing.assert_allclose(np.asarray(yq), np.asarray(yr), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(sq[1]["v"] > 0), np.asarray(sr[1]["v"] > 0))
    text = str(plan(q, x))
    assert "FusedNeuron" in text and "StepScan" not in text  # the fast engine is kept


@pytest.mark.slow  # trains, or compiles several programs
def test_quantised_weights_are_frozen_in_fit_and_checkpointed(x, tmp_path):
    from snnx.train import restore

    q = quant.ptq(_model(), "int4")
    codes, bias = codes_of(q, 0), np.asarray(q.layers[0].bias[...])
    y = jnp.arange(B) % N_OUT

    def loss(out, t):
        return snnx.losses.max_membrane_cross_entropy(out, t)

    fit(
        q,
        optax.adam(1e-2),
        loss,
        (x, y),
        epochs=2,
        batch_size=B,
        checkpoint_dir=str(tmp_path),
        progress=False,
    )
    np.testing.assert_array_equal(codes_of(q, 0), codes)
    assert not np.array_equal(np.asarray(q.layers[0].bias[...]), bias)  # the rest still learns
    other = quant.ptq(_model(seed=7), "int4")
    restore(str(tmp_path), other)
    np.testing.assert_array_equal(codes_of(other, 0), codes)
    np.testing.assert_array_equal(np.asarray(other.layers[0].bias[...]), np.asarray(q.layers[0].bias[...]))


def test_size_bytes_counts_packed_codes_and_scales():
    m = _model()
    floats = sum(int(np.size(a)) for a in jax.tree.leaves(nnx.state(m, nnx.Param, snnx.neurons.Const)))
    assert quant.size_bytes(m) == 4 * floats
    q = quant.ptq(m, "int4")
    weights = N_IN * N_HID + N_HID * N_OUT
    scales = N_HID + N_OUT
    assert quant.size_bytes(q) == 4 * (floats - weights) + weights // 2 + 4 * scales
    rows = {r.key: r for r in quant.summary(q)}
    assert rows["0"].state == "quantized" and rows["0"].qtype == "int4" and rows["0"].bytes == 120 + 4 * N_HID


# -- quantisation-aware training ----------------------------------------------------------------------------


@pytest.mark.slow  # one of the quick tier's longest (it compiles many programs)
def test_qat_forward_is_the_ptq_model_and_gradient_is_straight_through(x):
    m = _model()
    qa = quant.qat(m, "int4")
    ptq = quant.ptq(m, "int4")
    np.testing.assert_array_equal(np.asarray(snnx.run(qa, x)[0]), np.asarray(snnx.run(ptq, x)[0]))

    def loss(model):
        return jnp.sum(snnx.run(model, x)[0] ** 2)

    # a gradient state holds FakeQuant variables too: read the gradient itself, not its quantised value
    g_qat = nnx.grad(loss)(qa)["layers"][0]["kernel"].get_raw_value()
    ref = quant.dequantize(ptq)  # float weights equal to the quantised values
    g_ref = nnx.grad(loss)(ref)["layers"][0]["kernel"][...]
    np.testing.assert_allclose(np.asarray(g_qat), np.asarray(g_ref), rtol=1e-5, atol=1e-6)
    assert float(jnp.abs(g_qat).max()) > 0


@pytest.mark.slow  # trains, or compiles several programs
def test_qat_trains_latent_weights_and_convert_freezes_the_same_model(x, tmp_path):
    from snnx.train import restore

    qa = quant.qat(_model(recurrent=True), quant.Rule("ternary"))
    latent = np.asarray(qa.layers[0].kernel.get_raw_value())
    y = jnp.arange(B) % N_OUT
    fit(qa, optax.adam(1e-2), snnx.losses.max_membrane_cross_entropy, (x, y), epochs=3, batch_size=B,
        progress=False, checkpoint_dir=str(tmp_path))  # fmt: skip
    trained = np.asarray(qa.layers[0].kernel.get_raw_value())
    assert not np.array_equal(trained, latent)
    again = quant.qat(_model(seed=5, recurrent=True), quant.Rule("ternary"))
    restore(str(tmp_path), again)  # the checkpoint holds the latent weights, not their ternary values
    np.testing.assert_array_equal(np.asarray(again.layers[0].kernel.get_raw_value()), trained)
    frozen = quant.convert(qa)
    np.testing.assert_array_equal(np.asarray(snnx.run(frozen, x)[0]), np.asarray(snnx.run(qa, x)[0]))
    assert {r.state for r in quant.summary(frozen)} == {"quantized"}
    assert {r.key for r in quant.summary(frozen)} == {"0", "1.recurrent", "2"}


# -- NIR -----------------------------------------------------------------------------------------------------


@pytest.mark.slow  # one of the quick tier's longest (it compiles many programs)
def test_nir_round_trip_restores_codes_and_scales(x, tmp_path):
    q = quant.ptq(
        _model(recurrent=True), [quant.Rule("int4", path="0"), quant.Rule("int8", calibration="minmax")]
    )
    path = tmp_path / "q.nir"
    write(path, to_nir(q, (N_IN,), 1e-3))
    graph = read(path)
    first = next(
        n for n in graph.nodes.values() if isinstance(n, nir.Affine) and n.weight.shape == (N_HID, N_IN)
    )
    assert first.metadata["quant"]["qtype"] == "int4" and first.metadata["quant"]["scale"].shape == (N_HID, 1)
    back = from_nir(path, dt=1e-3)
    rows = {(r.qtype, r.op, r.shape): r for r in quant.summary(back)}
    assert set(rows) == {("int4", "dense", (N_IN, N_HID)), ("int8", "recurrent", (N_HID, N_HID)),
                         ("int8", "dense", (N_HID, N_OUT))}  # fmt: skip
    y1, _ = snnx.run(q, x)
    y2, _ = snnx.run(back, x)
    np.testing.assert_array_equal(np.asarray(y1), np.asarray(y2))
    src = {r.key: r for r in quant.targets(q)}
    for t in quant.targets(back):
        want = {"dense": src["0"] if t.module.kernel[...].shape[0] == N_IN else src["2"]}.get(
            t.op, src["1.recurrent"]
        )
        a, b = t.module.kernel.get_raw_value(), want.module.kernel.get_raw_value()
        np.testing.assert_array_equal(np.asarray(a.qvalue), np.asarray(b.qvalue))
        np.testing.assert_array_equal(np.asarray(a.scale), np.asarray(b.scale))


def test_nir_import_refuses_weights_off_their_recorded_grid(tmp_path):
    q = quant.ptq(_model(), "int4")
    graph = to_nir(q, (N_IN,), 1e-3)
    name = next(k for k, n in graph.nodes.items() if isinstance(n, nir.Affine))
    graph.nodes[name].weight = graph.nodes[name].weight * np.float32(1.001)
    with pytest.raises(NIRError, match=rf"node '{name}'.*not the values its metadata 'quant'"):
        from_nir(graph, dt=1e-3)
    graph = to_nir(q, (N_IN,), 1e-3)
    graph.nodes[name].metadata["quant"]["scale"] = np.ones((3, 1), np.float32)
    with pytest.raises(NIRError, match=r"scales of shape \(1, 3\)"):
        from_nir(graph, dt=1e-3)


# -- rules and bad input -------------------------------------------------------------------------------------


def test_rules_select_by_path_and_op_and_accept_qwix_rules():
    import qwix

    m = _model(recurrent=True)
    q = quant.ptq(m, [quant.Rule("int4", ops=("recurrent",)), quant.Rule("int8", path="2")])
    states = {r.key: (r.state, r.qtype) for r in quant.summary(q)}
    assert states == {"0": ("float", None), "1.recurrent": ("quantized", "int4"), "2": ("quantized", "int8")}
    qw = quant.ptq(m, qwix.QtRule(module_path="0", weight_qtype=jnp.int4, op_names=("dot_general",)))
    assert quant.summary(qw)[0].qtype == "int4" and quant.summary(qw)[2].state == "float"


def test_bad_input_names_what_was_expected():
    import qwix

    m = _model()
    with pytest.raises(snnx.OptionError, match=r"`qtype` must be one of \['int8'.*'ternary'.*got 'int9'"):
        quant.ptq(m, "int9")
    with pytest.raises(snnx.OptionError, match=r"rule 0 \(path='fc'.*the weights are: '0' \(dense\), '2'"):
        quant.ptq(m, quant.Rule("int8", path="fc"))
    with pytest.raises(snnx.OptionError, match="act_qtype"):
        quant.ptq(m, qwix.QtRule(module_path=".*", weight_qtype=jnp.int8, act_qtype=jnp.int8))
    with pytest.raises(snnx.OptionError, match=r"'minmax'.*qtype 'fp8'"):
        quant.Rule("fp8", calibration="minmax")
    with pytest.raises(snnx.OptionError, match="`calibration` must be one of"):
        quant.Rule("int8", calibration="percentile")
    with pytest.raises(snnx.OptionError, match="needs calibration inputs: pass `data=`"):
        quant.ptq(m, quant.Rule("int4", calibration="gptq"))
    with pytest.raises(snnx.OptionError, match=r"weight '0': `tile_size`=3 must divide its input axis of 10"):
        quant.ptq(m, quant.Rule("int8", tile_size=3))
    with pytest.raises(snnx.OptionError, match=r"gptq.*one-off"):
        quant.qat(m, quant.Rule("int4", calibration="gptq"))
    with pytest.raises(snnx.OptionError, match="quantised already"):
        quant.ptq(quant.ptq(m, "int8"), "int4")
    with pytest.raises(snnx.OptionError, match="no FakeQuant weight"):
        quant.convert(m)
    with pytest.raises(snnx.ArgumentTypeError, match="`model` must be a snnx model"):
        quant.ptq(lambda x: x, "int8")
    with pytest.raises(snnx.ArgumentTypeError, match="`rules` must be a qtype name"):
        quant.ptq(m, 8)
    conv = snnx.Sequential(
        nnx.Conv(2, 3, (3, 3), rngs=nnx.Rngs(0)), snnx.LIF(beta=0.9), input_shape=(6, 6, 2)
    )
    with pytest.raises(snnx.OptionError, match=r"weight '0' \(conv\): calibration 'gptq' takes dense"):
        quant.ptq(conv, quant.Rule("int4", calibration="gptq"), data=jnp.ones((2, 1, 6, 6, 2)))


# -- fixed-point membranes on a built model, and in NIR ---------------------------------------------------


@pytest.mark.slow  # trains, or compiles several programs
def test_quantize_membranes_sets_the_option_and_nir_keeps_it(x):
    grid = quant.FixedPoint(6, -2.0, 2.0)
    m = _model(recurrent=True)
    q = quant.quantize_membranes(m, grid, layers=["1"])
    assert (
        q.layers[1].state_quant == grid
        and m.layers[1].state_quant is None
        and q.layers[3].state_quant is None
    )
    _, _, rec = snnx.run(q, x, record_states="1")
    v = np.asarray(rec.states["1"]["v"])
    np.testing.assert_allclose(v / grid.step, np.round(v / grid.step), atol=1e-4)  # every membrane a level
    assert "fixed-point membranes" in str(plan(q, x))
    with pytest.warns(UserWarning, match=r"state_quant.*'layer_1' \(RLIF\)"):
        graph = to_nir(q, (N_IN,), 1e-3)
    back = from_nir(graph, dt=1e-3)
    np.testing.assert_array_equal(np.asarray(snnx.run(back, x)[0]), np.asarray(snnx.run(q, x)[0]))
    for node in graph.nodes.values():  # without the metadata the membranes are float again
        if isinstance(node, nir.NIRGraph):
            for inner in node.nodes.values():
                (inner.metadata or {}).pop("state_quant", None)
    plain = from_nir(graph, dt=1e-3)
    assert not np.array_equal(np.asarray(snnx.run(plain, x)[0]), np.asarray(snnx.run(q, x)[0]))
    with pytest.raises(snnx.OptionError, match=r"`layers` names \['3'\].*those are: \['1'\]"):
        quant.quantize_membranes(snnx.Sequential(nnx.Linear(3, 3, rngs=nnx.Rngs(0)), snnx.LIF(3)), grid,
                                 layers=["3"])  # fmt: skip
    with pytest.raises(snnx.OptionError, match=r"layer '1' \(RLIF\): `threshold`.*top level"):
        quant.quantize_membranes(m, quant.FixedPoint(3, -1.0, 1.0))


def test_without_qwix_the_error_says_what_to_install(monkeypatch):
    import importlib
    import sys

    for name in [m for m in sys.modules if m == "snnx.quant" or m.startswith("snnx.quant.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "qwix", None)  # `import qwix` raises ImportError
    with pytest.raises(ImportError, match=r"snnx.quant needs qwix.*pip install 'snnx\[quant\]'"):
        importlib.import_module("snnx.quant")
