"""``to_nir``: every export is checked against an independent numpy reading of the written graph.

The reference simulator (``tests/nir_euler.py``) is written from docs/nir-semantics.md only
(forward Euler at step ``dt``, spike after update, back edges one step late);
it shares no code with snnx. Each test builds a small snnx model, exports it,
runs the NIR graph in the simulator and requires identical spikes and
membranes/outputs to 1e-5.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import jax.numpy as jnp
import nir
import numpy as np
import pytest
from flax import nnx

import snnx
from nir_euler import EulerGraph
from snnx import layers as L
from snnx import neurons as N
from snnx import phasor as PH
from snnx import ssm as SSM
from snnx.engine import Graph, Sequential
from snnx.nir import exportable_types, refused_types, to_nir
from snnx.nir._errors import NIRError

DT = 1e-3


# ----------------------------------------------------------------------------- helpers


def _rngs():
    return nnx.Rngs(0)


def _per_unit(shape, lo, hi, seed=1):
    return np.random.default_rng(seed).uniform(lo, hi, size=shape).astype(np.float32)


def _input(shape, steps=12, batch=2, seed=0, scale=1.5):
    return (np.random.default_rng(seed).normal(size=(steps, batch, *shape)) * scale).astype(np.float32)


def _to_last(x, rank):
    return np.moveaxis(x, 2, -1) if rank >= 2 else x


def _to_first(y, rank):
    return np.moveaxis(y, -1, 2) if rank >= 2 else y


def _check(model, in_shape, *, spikes=True, membranes=(), steps=12, scale=1.5):
    """Export ``model``; require the NIR Euler reading to reproduce snnx's outputs (and membranes)."""
    graph = to_nir(model, in_shape, DT)
    with tempfile.TemporaryDirectory() as tmp:  # simulate what the file holds, read back by nir itself
        nir.write(Path(tmp) / "m.nir", graph)
        written = nir.read(Path(tmp) / "m.nir", type_check=False)
    x = _input(in_shape, steps=steps, scale=scale)
    ys, states = snnx.run(model, jnp.asarray(_to_last(x, len(in_shape))), return_states=True)
    ys = np.asarray(ys)
    out_rank = ys.ndim - 2
    sim = EulerGraph(written, DT)
    outs, rec = sim.run(x, record=[name for _, name in membranes])
    ref = outs[sim.outputs[0]]
    got = _to_first(ys, out_rank)
    if spikes:
        assert set(np.unique(got)) <= {0.0, 1.0}
        assert got.sum() > 0, "the test input should make the model spike"
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    for index, name in membranes:
        v = np.asarray(states[index]["v"])
        np.testing.assert_allclose(_to_first(v, v.ndim - 2), rec[name], rtol=1e-5, atol=1e-5)
    return graph


# ----------------------------------------------------------------------------- every layer vs NIR Euler


def test_lif_per_unit_parameters_match_nir_euler():
    model = Sequential(
        nnx.Linear(5, 6, rngs=_rngs()),
        N.LIF(6, beta=_per_unit(6, 0.5, 0.95), threshold=_per_unit(6, 0.5, 1.0, 2),
              v_leak=_per_unit(6, -0.2, 0.2, 3), v_reset=_per_unit(6, -0.3, 0.0, 4)),
    )  # fmt: skip
    graph = _check(model, (5,), membranes=[(1, "layer_1")])
    lif = graph.nodes["layer_1"]
    np.testing.assert_allclose(lif.r, lif.tau / DT, rtol=1e-6)  # r = tau/dt, not beta


def test_if_without_bias_matches_nir_euler():
    model = Sequential(nnx.Linear(5, 4, use_bias=False, rngs=_rngs()), N.IF(4, threshold=0.8, v_reset=0.1))
    graph = _check(model, (5,), membranes=[(1, "layer_1")])
    assert isinstance(graph.nodes["layer_0"], nir.Linear) and isinstance(graph.nodes["layer_1"], nir.IF)


@pytest.mark.parametrize(
    "make",
    [
        lambda: N.LI(4, beta=_per_unit(4, 0.3, 0.9), v_leak=0.2),
        lambda: N.I(4),
        lambda: N.CuBaLI(4, alpha=_per_unit(4, 0.2, 0.9), beta=0.8, v_leak=-0.1),
        lambda: N.LI(4, beta=1.0),
        lambda: N.CuBaLI(4, alpha=1.0, beta=0.7),
        lambda: N.CuBaLI(4, alpha=0.6, beta=1.0),
    ],
    ids=["LI", "I", "CuBaLI", "LI-beta1", "CuBaLI-alpha1", "CuBaLI-beta1"],
)
def test_non_spiking_neurons_match_nir_euler(make):
    _check(Sequential(nnx.Linear(3, 4, rngs=_rngs()), make()), (3,), spikes=False)


@pytest.mark.parametrize(
    "make",
    [
        lambda: N.CuBaLIF(4, alpha=_per_unit(4, 0.2, 0.8), beta=_per_unit(4, 0.5, 0.9, 2), v_leak=0.1),
        lambda: N.CuBaLIF(4, alpha=1.0, beta=0.8),
        lambda: N.CuBaLIF(4, alpha=0.5, beta=1.0),
        lambda: N.CuBaLIF(4, alpha=1.0, beta=1.0, threshold=2.0),
        lambda: N.LIF(4, beta=1.0, threshold=0.7),
        lambda: N.LIF(4, beta=0.8, reset="none"),
        lambda: N.IF(4, reset="none"),
        lambda: N.CuBaLIF(4, alpha=0.5, beta=0.7, reset="none"),
        lambda: N.PSU_LIF(4, beta=0.8, threshold=0.9),
        lambda: N.PSU_LIF(4, beta=1.0),
    ],
    ids=[
        "CuBaLIF", "CuBaLIF-alpha1", "CuBaLIF-beta1", "CuBaLIF-both1", "LIF-beta1",
        "LIF-noreset", "IF-noreset", "CuBaLIF-noreset", "PSU_LIF", "PSU_LIF-beta1",
    ],
)  # fmt: skip
def test_spiking_neurons_match_nir_euler(make):
    _check(Sequential(nnx.Linear(3, 4, rngs=_rngs()), make()), (3,))


@pytest.mark.parametrize(
    "make",
    [
        lambda r: N.RIF(5, threshold=0.8, rngs=r),
        lambda r: N.RLIF(5, beta=0.8, use_bias=True, rngs=r),
        lambda r: N.RCuBaLIF(5, alpha=0.5, beta=0.8, use_bias=True, rngs=r),
        lambda r: N.RLIF(5, beta=0.8, reset="none", rngs=r),
    ],
    ids=["RIF", "RLIF-bias", "RCuBaLIF-bias", "RLIF-noreset"],
)
def test_recurrent_layers_are_subgraphs_matching_nir_euler(make):
    r = nnx.Rngs(3)
    model = Sequential(nnx.Linear(3, 5, rngs=r), make(r))
    # strong recurrent weights so that the back edge matters
    rec = model.layers[1].recurrent
    rec.kernel[...] = jnp.asarray(np.random.default_rng(5).normal(size=(5, 5)), jnp.float32)
    graph = _check(model, (3,), steps=16)
    sub = graph.nodes["layer_1"]
    assert isinstance(sub, nir.NIRGraph)
    inner = next(k for k in sub.nodes if k not in ("input", "output", "w_rec"))
    edges = {tuple(e) for e in sub.edges}
    assert ("input", inner) in edges and ("w_rec", inner) in edges and ("input", "w_rec") not in edges
    assert isinstance(sub.nodes["w_rec"], nir.Affine if rec.bias is not None else nir.Linear)
    np.testing.assert_array_equal(sub.nodes["w_rec"].weight, np.asarray(rec.kernel[...]).T)


def test_delay_scale_threshold_match_nir_euler():
    steps = np.array([0, 1, 3, 2], dtype=np.int32)
    model = Sequential(
        nnx.Linear(3, 4, rngs=_rngs()),
        L.Delay(4, steps),
        L.Scale(4, [1.0, -2.0, 0.5, 3.0]),
        L.Threshold(4, threshold=_per_unit(4, -0.2, 0.3)),
    )
    graph = _check(model, (3,))
    np.testing.assert_allclose(graph.nodes["layer_1"].delay, steps * DT, rtol=1e-6)


@pytest.mark.slow  # the conv export stays in the quick tier through test_conv1d_matches_nir_euler
def test_conv2d_stack_matches_nir_euler():
    # 'SAME' with dilation, explicit pairs, groups, stride; per-channel LIF parameters on a map;
    # pools with SAME; Flatten in (C, H, W) order; a dense LI readout.
    r = _rngs()
    model = Sequential(
        nnx.Conv(2, 4, (3, 3), padding="SAME", kernel_dilation=(2, 1), rngs=r),
        N.LIF((6, 7, 4), beta=_per_unit(4, 0.5, 0.9), threshold=_per_unit((7, 4), 0.3, 0.8)),
        nnx.Conv(4, 6, (3, 2), strides=(2, 1), padding=((1, 1), (0, 0)), feature_group_count=2, rngs=r),
        N.IF((3, 6, 6), threshold=0.5),
        L.SumPool(3, strides=1, padding="SAME"),
        L.AvgPool((2, 2), padding=((1, 1), (0, 0))),
        N.IF((2, 3, 6), threshold=0.2),
        L.Flatten(),
        nnx.Linear(36, 5, rngs=r),
        N.LI(5, beta=0.9),
    )
    graph = _check(model, (2, 6, 7), spikes=False, membranes=[(1, "layer_1"), (3, "layer_3")])
    conv = graph.nodes["layer_2"]
    assert conv.groups == 2 and tuple(conv.stride) == (2, 1) and tuple(conv.padding) == (1, 0)
    assert tuple(graph.nodes["layer_0"].dilation) == (2, 1) and tuple(graph.nodes["layer_0"].padding) == (
        2,
        1,
    )
    assert tuple(graph.nodes["layer_7"].input_type["input"]) == (6, 2, 3)


def test_conv1d_matches_nir_euler():
    r = _rngs()
    model = Sequential(
        nnx.Conv(2, 4, 3, strides=2, kernel_dilation=2, padding=2, feature_group_count=2, rngs=r),
        N.LIF((5, 4), beta=_per_unit(4, 0.6, 0.9)),
        L.Flatten(),
        nnx.Linear(20, 3, rngs=r),
        N.IF(3, threshold=0.5),
    )
    graph = _check(model, (2, 9), membranes=[(1, "layer_1")])
    conv = graph.nodes["layer_0"]
    assert isinstance(conv, nir.Conv1d) and conv.dilation == 2 and conv.groups == 2 and conv.padding == 2


def test_graph_with_branch_and_back_edge_matches_nir_euler():
    r = nnx.Rngs(2)
    g = Graph(
        {
            "fc": nnx.Linear(4, 6, rngs=r),
            "skip": nnx.Linear(4, 6, use_bias=False, rngs=r),
            "lif": N.LIF(6, beta=0.8),
            "rec": nnx.Linear(6, 6, rngs=r),
            "out": N.LI(6, beta=0.9),
        },
        [("input", "fc"), ("input", "skip"), ("fc", "lif"), ("skip", "lif"), ("lif", "rec"),
         ("rec", "lif"), ("lif", "out"), ("out", "output")],
        input_shape=(4,),
    )  # fmt: skip
    g.nodes["rec"].kernel[...] = jnp.asarray(np.random.default_rng(1).normal(size=(6, 6)), jnp.float32)
    graph = _check(g, (4,), spikes=False, steps=16)
    assert ("rec", "lif") in {tuple(e) for e in graph.edges}


# ----------------------------------------------------------------------------- the seed's defects, fixed


def test_beta_one_is_an_integrator_never_tau_inf():
    graph = to_nir(
        Sequential(N.LIF(3, beta=1.0), N.LI(3, beta=1.0), N.CuBaLIF(3, alpha=1.0, beta=1.0)), (3,), DT
    )
    kinds = {k: type(n).__name__ for k, n in graph.nodes.items()}
    assert kinds["layer_0"] == "IF" and kinds["layer_1"] == "I"
    assert kinds["layer_2"] == "I" and kinds["layer_2_mem"] == "IF"
    for node in graph.nodes.values():
        for field in ("tau", "tau_mem", "tau_syn"):
            if hasattr(node, field):
                assert np.all(np.isfinite(getattr(node, field)))


def test_learnt_decay_above_one_is_clipped_like_the_neuron():
    lif = N.LIF(2, beta=[0.9, 0.9])
    lif.beta[...] = jnp.array([1.3, 0.5])  # drifted during training; the neuron clips it
    with pytest.raises(NIRError, match="beta"):  # mixed 1 / <1 cannot be one NIR node
        to_nir(lif, (2,), DT)
    lif.beta[...] = jnp.array([1.3, 1.0])
    assert isinstance(to_nir(lif, (2,), DT).nodes["layer_0"], nir.IF)


def test_sumpool_same_k3_s1_on_5x5_passes_type_inference():
    graph = to_nir(L.SumPool(3, strides=1, padding="SAME"), (2, 5, 5), DT)
    pool = graph.nodes["layer_0"]
    assert tuple(pool.padding) == (1, 1)
    assert tuple(graph.nodes["output"].output_type["output"]) == (2, 5, 5)


@pytest.mark.parametrize(
    "layer",
    [
        nnx.Conv(1, 2, (2, 2), padding="SAME", rngs=nnx.Rngs(0)),  # total 1 per axis: (0, 1)
        nnx.Conv(1, 2, (3, 3), padding=((1, 1), (0, 2)), rngs=nnx.Rngs(0)),
        nnx.Conv(1, 2, 3, padding="CAUSAL", rngs=nnx.Rngs(0)),
        L.SumPool(2, strides=1, padding="SAME"),
        L.AvgPool(3, padding=((0, 1), (1, 1))),
    ],
    ids=["conv-SAME-even", "conv-pairs", "conv-causal", "sumpool-SAME-even", "avgpool-pairs"],
)
def test_asymmetric_padding_is_an_error_not_a_truncation(layer):
    shape = (1, 8) if layer.__class__ is nnx.Conv and len(layer.kernel_size) == 1 else (1, 6, 6)
    with pytest.raises(
        NIRError, match=r"'layer_0' \((Conv|SumPool|AvgPool)\), field 'padding'.*\(low, high\)"
    ):
        to_nir(layer, shape, DT)


SUPPORTED = (
    r"to_nir writes nnx\.Linear, nnx\.Conv; the layers AvgPool, Delay, Flatten, Scale, SumPool, "
    r"Threshold; the neurons CuBaLI, .*LIF.*; and Sequential and Graph containers of these\.$"
)


def test_unknown_layer_is_an_error_never_skipped():
    model = Sequential(nnx.Linear(3, 4, rngs=_rngs()), nnx.Dropout(0.5), N.LI(4))
    with pytest.raises(
        NIRError,
        match=r"'layer_1' \(index 1 in the Sequential\) is a Dropout \(flax\..*Dropout\), which has "
        r"no NIR exporter.*never skipped.*" + SUPPORTED,
    ):
        to_nir(model, (3,), DT)
    with pytest.raises(NIRError, match=r"'layer_0' \(index 0 .*\) is the plain function 'tanh'"):
        to_nir(Sequential(jnp.tanh), (3,), DT)


def test_a_lambda_around_max_pool_names_its_index_and_the_supported_layers():
    # What a new user writes before finding MaxPool: it runs, but to_nir cannot see inside.
    model = Sequential(
        nnx.Conv(1, 2, (3, 3), rngs=_rngs()), N.IF(), lambda x: nnx.max_pool(x, (2, 2)), L.Flatten(),
        input_shape=(6, 6, 1),
    )
    with pytest.raises(
        NIRError,
        match=r"^layer 'layer_2' \(index 2 in the Sequential\) is the plain function '<lambda>' \(not an "
        r"nnx\.Module\), which has no NIR exporter: to_nir cannot see what a function computes.*"
        + SUPPORTED,
    ) as caught:
        to_nir(model, dt=DT)
    message = str(caught.value)
    for internal in ("ToChannelsLast", "NIRFlatten", "Identity", "builtins", "<function", "snnx.nir"):
        assert internal not in message


def test_maxpool_is_refused_with_the_reason_and_the_alternatives():
    model = Sequential(nnx.Linear(4, 4, rngs=_rngs()), Sequential(N.LIF(4), L.MaxPool(2)))
    with pytest.raises(
        NIRError,
        match=r"'layer_1_1' \(index 1 in the Sequential 'layer_1', MaxPool\) cannot be exported to NIR: "
        r"NIR \(1\.0\.8\) has no max-pooling node; use SumPool or AvgPool",
    ):
        to_nir(model, (4,), DT)
    assert not any("max" in name.lower() for name in dir(nir))  # re-check when NIR grows one


class _MyLIF(N.LIF):
    pass


def test_subclass_is_not_silently_exported_as_its_parent():
    with pytest.raises(NIRError, match="_MyLIF"):
        to_nir(_MyLIF(3), (3,), DT)


def test_subtract_reset_warns_once_and_is_recorded():
    r = _rngs()
    model = Sequential(
        nnx.Linear(3, 4, rngs=r),
        N.LIF(4, reset="subtract", v_reset=0.3),
        N.RCuBaLIF(4, reset="subtract", rngs=r),
        N.LIF(4),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = to_nir(model, (3,), DT)
    msgs = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(msgs) == 1
    assert "'layer_1' (LIF)" in msgs[0] and "'layer_2' (RCuBaLIF)" in msgs[0] and "layer_3" not in msgs[0]
    lif = graph.nodes["layer_1"]
    assert lif.metadata["reset"] == "subtract" and np.all(lif.v_reset == 0)
    assert graph.nodes["layer_2"].nodes["cubalif"].metadata["reset"] == "subtract"
    assert graph.nodes["layer_3"].metadata["reset"] == "zero"


@pytest.mark.parametrize(
    ("layer", "match"),
    [
        (N.ALIF(3), "adaptive threshold"),
        (N.ResonateFire(3), "complex"),
        (L.MaxPool(2), "no max-pooling node"),
    ],
)
def test_refused_layers_say_why(layer, match):
    with pytest.raises(NIRError, match=match):
        to_nir(Sequential(layer), (3,), DT)


# ----------------------------------------------------------------------------- the registry


def _public_layer_types():
    out = []
    for module in (N, L, SSM, PH):
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and issubclass(obj, nnx.Module) and obj is not N.Neuron:
                out.append(obj)
    return out


#: Refused layers that `kind(3)` does not build (the rest do).
_MAKE = {
    L.Deferred: lambda: L.Deferred(L.Flatten),
    N.RALIF: lambda: N.RALIF(3, rngs=_rngs()),
    N.SLSTM: lambda: N.SLSTM(3, 3, rngs=_rngs()),
    N.SConvLSTM: lambda: N.SConvLSTM(3, 3, 3, rngs=_rngs()),
    SSM.LRU: lambda: SSM.LRU(3, 4, rngs=_rngs()),
    SSM.S5: lambda: SSM.S5(3, 4, rngs=_rngs()),
    SSM.Mamba: lambda: SSM.Mamba(3, rngs=_rngs()),
    SSM.MambaBlock: lambda: SSM.MambaBlock(3, rngs=_rngs()),
    SSM.ChunkedSSM: lambda: SSM.ChunkedSSM(
        SSM.LRU(3, 4, rngs=_rngs()), SSM.LRU(3, 4, rngs=_rngs()), chunk_size=2
    ),
    PH.PhasorLinear: lambda: PH.PhasorLinear(3, 3, rngs=_rngs()),
    PH.PhasorReadout: lambda: PH.PhasorReadout(3, 3, rngs=_rngs()),
    PH.PhasorMLP: lambda: PH.PhasorMLP(3, 4, 3, rngs=_rngs()),
    PH.PhasorActivation: lambda: PH.PhasorActivation(),
    PH.SpikingPhasor: lambda: PH.SpikingPhasor(PH.PhasorLinear(3, 3, rngs=_rngs()), period=4),
}


def test_every_public_layer_has_an_exporter_or_a_documented_refusal():
    exportable, refused = set(exportable_types()), refused_types()
    missing = [t.__name__ for t in _public_layer_types() if t not in exportable and t not in refused]
    assert not missing, f"public layers with neither exporter nor refusal: {missing}"
    assert not set(refused) & exportable
    for kind, reason in refused.items():
        assert len(reason) > 20
        layer = _MAKE[kind]() if kind in _MAKE else kind(3)
        with pytest.raises(NIRError, match=rf"\({kind.__name__}\) cannot be exported to NIR: ") as info:
            to_nir(layer, (3,), DT)
        assert reason in str(info.value)
    assert nnx.Linear in exportable and nnx.Conv in exportable


def test_lif_with_graded_spikes_is_lif_then_scale_and_matches_nir_euler():
    factor = _per_unit((5,), 0.5, 2.0)
    lif = N.LIF(5, beta=0.8, threshold=0.5, graded_spikes_factor=factor)
    graph = _check(Sequential(nnx.Linear(4, 5, rngs=_rngs()), lif), (4,), spikes=False)
    assert isinstance(graph.nodes["layer_1"], nir.LIF)
    assert isinstance(graph.nodes["layer_1_graded"], nir.Scale)
    np.testing.assert_array_equal(graph.nodes["layer_1_graded"].scale, factor)


def test_lif_with_lateral_inhibition_is_refused_naming_it():
    with pytest.raises(NIRError, match=r"'layer_1' \(LIF\) has lateral inhibition.*no NIR form"):
        to_nir(Sequential(nnx.Linear(4, 5, rngs=_rngs()), N.LIF(5, inhibition=True)), (4,), DT)


def test_lapicque_exports_as_lif_with_r_equal_to_the_resistance():
    model = Sequential(nnx.Linear(4, 5, rngs=_rngs()), N.Lapicque(5, R=2.0, C=5e-3, dt=1e-3, threshold=0.2))
    graph = _check(model, (4,))
    node = graph.nodes["layer_1"]
    np.testing.assert_allclose(node.tau, 2.0 * 5e-3, rtol=1e-6)  # tau = R C
    np.testing.assert_allclose(node.r, 2.0, rtol=1e-6)


# ----------------------------------------------------------------------------- argument errors


def test_shape_mismatch_names_the_layer():
    with pytest.raises(NIRError, match=r"'layer_1' \(LIF\), field 'shape'.*\(6,\).*got \(8,\)"):
        to_nir(Sequential(nnx.Linear(4, 6, rngs=_rngs()), N.LIF(8)), (4,), DT)


def test_dense_after_a_map_needs_a_flatten():
    with pytest.raises(NIRError, match="Flatten"):
        to_nir(nnx.Linear(3, 4, rngs=_rngs()), (3, 2, 2), DT)


def test_flatten_in_storage_order_is_refused_on_maps():
    with pytest.raises(NIRError, match="order"):
        to_nir(L.Flatten(order="hwc"), (3, 2, 2), DT)
    assert to_nir(L.Flatten(order="hwc"), (1, 2, 2), DT)  # one channel: the orders coincide


def test_bad_arguments():
    lif = N.LIF(3)
    with pytest.raises(TypeError, match="dt"):
        to_nir(lif, (3,), None)
    with pytest.raises(ValueError, match="dt"):
        to_nir(lif, (3,), -1.0)
    with pytest.raises(ValueError, match="input_shape"):
        to_nir(lif, (0,), DT)
    with pytest.raises(NIRError, match="output_shape"):
        to_nir(lif, (3,), DT, output_shape=(4,))
    graph = to_nir(lif, {"x": (3,)}, DT, output_shape={"output": (3,)})
    assert "x" in graph.nodes and graph.metadata["dt"] == DT


def test_importer_helpers_write_no_node_or_their_nir_node():
    from snnx.nir._layout import Identity, NIRFlatten, ToChannelsFirst, ToChannelsLast

    r = nnx.Rngs(4)
    model = Sequential(
        ToChannelsLast(3),
        NIRFlatten((2, 3, 3), 1, 2),  # (2, 3, 3) -> (2, 9), NIR's partial flatten
        N.LIF((9, 2), beta=[0.7, 0.9]),
        L.Flatten(),
        Identity(),
        nnx.Linear(18, 3, rngs=r),
        N.IF(3, threshold=0.3),
        ToChannelsFirst(1),
    )
    graph = _check(Sequential(*model.layers[1:-1]), (2, 3, 3), membranes=[(1, "layer_1")])
    assert [type(n).__name__ for n in graph.nodes.values()] == [
        "Input", "Flatten", "LIF", "Flatten", "Affine", "IF", "Output",
    ]  # fmt: skip
    assert graph.nodes["layer_0"].start_dim == 1
    with_adapters = to_nir(model, (2, 3, 3), DT)
    assert [type(n) for n in with_adapters.nodes.values()] == [type(n) for n in graph.nodes.values()]


def test_graph_identity_node_is_bypassed():
    from snnx.nir._layout import Identity

    r = nnx.Rngs(5)
    g = Graph(
        {"fc": nnx.Linear(4, 4, rngs=r), "id": Identity(), "lif": N.LIF(4, beta=0.8)},
        [("input", "fc"), ("input", "id"), ("fc", "lif"), ("id", "lif"), ("lif", "output")],
    )
    graph = _check(g, (4,))
    assert "id" not in graph.nodes and ("input", "lif") in {tuple(e) for e in graph.edges}


def test_graph_inside_a_sequential_is_a_nested_nir_graph():
    r = nnx.Rngs(6)
    inner = Graph(
        {"a": nnx.Linear(4, 4, rngs=r), "b": N.LIF(4, beta=0.7)},
        [("input", "a"), ("a", "b"), ("input", "b"), ("b", "output")],
    )
    graph = _check(Sequential(nnx.Linear(3, 4, rngs=r), inner, N.LI(4)), (3,), spikes=False)
    assert isinstance(graph.nodes["layer_1"], nir.NIRGraph)


def test_graph_with_several_inputs_and_outputs():
    r = nnx.Rngs(7)
    g = Graph(
        {"fa": nnx.Linear(3, 4, rngs=r), "fb": nnx.Linear(2, 4, rngs=r), "lif": N.LIF(4), "li": N.LI(4)},
        [
            ("x1", "fa"),
            ("x2", "fb"),
            ("fa", "lif"),
            ("fb", "lif"),
            ("lif", "li"),
            ("li", "y1"),
            ("lif", "y2"),
        ],
        inputs=("x1", "x2"),
        outputs=("y1", "y2"),
    )
    graph = to_nir(g, {"x1": (3,), "x2": (2,)}, DT, output_shape={"y1": (4,), "y2": (4,)})
    assert set(graph.inputs) == {"x1", "x2"} and set(graph.outputs) == {"y1", "y2"}
    xs = {"x1": _input((3,), seed=1), "x2": _input((2,), seed=2)}
    state, got = g.init_state(2), {"y1": [], "y2": []}
    for t in range(xs["x1"].shape[0]):
        y, state = g({k: jnp.asarray(v[t]) for k, v in xs.items()}, state)
        for k in got:
            got[k].append(np.asarray(y[k]))
    ref, _ = EulerGraph(graph, DT).run(xs)
    np.testing.assert_array_equal(np.stack(got["y2"]), ref["y2"])
    np.testing.assert_allclose(np.stack(got["y1"]), ref["y1"], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="input_shape"):
        to_nir(g, (3,), DT)
    with pytest.raises(ValueError, match=r"`input_shape` must have the keys \['x1', 'x2'\]"):
        to_nir(g, {"x1": (3,), "x3": (2,)}, DT)
    with pytest.raises(NIRError, match="output_shape"):
        to_nir(g, {"x1": (3,), "x2": (2,)}, DT, output_shape={"y1": (4,), "y2": (5,)})


def test_files_pass_nirs_own_type_checked_reader(tmp_path):
    r = nnx.Rngs(8)
    model = Sequential(
        nnx.Conv(2, 4, (3, 3), strides=2, padding="SAME", rngs=r),
        N.LIF((3, 3, 4)),
        L.SumPool(3, strides=1, padding="SAME"),
        L.Flatten(),
        nnx.Linear(36, 5, rngs=r),
        N.RCuBaLIF(5, rngs=r),
        N.PSU_LIF(5),
    )
    nir.write(tmp_path / "m.nir", to_nir(model, (2, 5, 5), DT))
    graph = nir.read(tmp_path / "m.nir")  # type_check=True, as peers read files
    assert tuple(graph.nodes["output"].output_type["output"]) == (5,)


@pytest.mark.parametrize(
    ("layer", "shape", "match"),
    [
        (
            nnx.Conv(1, 2, (3, 3), padding="CIRCULAR", rngs=nnx.Rngs(0)),
            (1, 5, 5),
            "field 'padding'.*circular",
        ),
        (nnx.Conv(1, 2, (3, 3), input_dilation=2, rngs=nnx.Rngs(0)), (1, 5, 5), "field 'input_dilation'"),
        (nnx.Conv(1, 2, (2, 2, 2), rngs=nnx.Rngs(0)), (1, 4, 4, 4), "field 'kernel_size'.*Conv1d and Conv2d"),
        (nnx.Conv(3, 2, (3, 3), rngs=nnx.Rngs(0)), (2, 5, 5), r"field 'input'.*\(3, H, W\)"),
        (L.SumPool(2), (3, 8), r"field 'input'.*\(C, H, W\)"),
    ],
    ids=["circular", "input-dilation", "conv3d", "channels", "pool1d"],
)
def test_convolutions_and_pools_nir_cannot_express_are_refused(layer, shape, match):
    with pytest.raises(NIRError, match=match):
        to_nir(layer, shape, DT)
