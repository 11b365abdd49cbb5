"""model -> to_nir -> file -> from_nir: the same spikes, the same parameters, for every exportable layer."""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import nir
import numpy as np
import pytest
from flax import nnx

import snnx
from snnx import layers as L
from snnx import neurons as N
from snnx.engine import Graph, Sequential
from snnx.nir import from_nir, read, to_nir, write

DT = 1e-3


def _lin(n_out, rngs, **kw):
    return nnx.Linear(3, n_out, rngs=rngs, **kw)


CASES = {
    "LIF": (lambda r: Sequential(_lin(4, r), N.LIF(4, [0.5, 0.6, 0.7, 0.9], v_leak=0.1, v_reset=-0.2)), (3,)),
    "IF": (lambda r: Sequential(_lin(4, r, use_bias=False), N.IF(4, threshold=0.7)), (3,)),
    "LI": (lambda r: Sequential(_lin(4, r), N.LI(4, 0.8, v_leak=0.3)), (3,)),
    "I": (lambda r: Sequential(_lin(4, r), N.I(4)), (3,)),
    "CuBaLIF": (lambda r: Sequential(_lin(4, r), N.CuBaLIF(4, 0.5, [0.8, 0.7, 0.6, 0.9])), (3,)),
    "CuBaLI": (lambda r: Sequential(_lin(4, r), N.CuBaLI(4, 0.4, 0.8)), (3,)),
    "CuBaLIF-alpha1": (lambda r: Sequential(_lin(4, r), N.CuBaLIF(4, 1.0, 0.8)), (3,)),
    "LIF-beta1": (lambda r: Sequential(_lin(4, r), N.LIF(4, 1.0)), (3,)),
    "PSU_LIF": (lambda r: Sequential(_lin(4, r), N.PSU_LIF(4, 0.8, threshold=0.6)), (3,)),
    "RIF": (lambda r: Sequential(_lin(4, r), N.RIF(4, rngs=r)), (3,)),
    "RLIF": (lambda r: Sequential(_lin(4, r), N.RLIF(4, 0.8, use_bias=True, rngs=r)), (3,)),
    "RCuBaLIF": (lambda r: Sequential(_lin(4, r), N.RCuBaLIF(4, 0.6, 0.8, rngs=r)), (3,)),
    "Delay-Scale-Threshold": (
        lambda r: Sequential(
            _lin(4, r), L.Delay(4, [0, 1, 2, 3]), L.Scale(4, [2.0, -1.0, 0.5, 1.0]), L.Threshold(4, 0.1)
        ),
        (3,),
    ),
    "conv-pool-flatten-dense-recurrent": (
        lambda r: Sequential(
            nnx.Conv(2, 4, (3, 3), padding="SAME", rngs=r),
            N.IF((6, 6, 4), threshold=0.5),
            L.SumPool(2),
            L.AvgPool(3, strides=1, padding="SAME"),
            N.LIF((3, 3, 4), beta=[0.5, 0.6, 0.7, 0.8], threshold=0.3),
            L.Flatten(),
            nnx.Linear(36, 5, rngs=r),
            N.RLIF(5, 0.9, rngs=r),
        ),
        (2, 6, 6),
    ),
    "conv1d-dilated-grouped": (
        lambda r: Sequential(
            nnx.Conv(2, 4, 3, kernel_dilation=2, feature_group_count=2, padding=2, rngs=r),
            N.LIF((8, 4), 0.8, threshold=0.5),
            L.Flatten(),
            nnx.Linear(32, 5, rngs=r),
            N.LI(5),
        ),
        (2, 8),
    ),
}


def _input(shape, steps=10, seed=0):
    return (np.random.default_rng(seed).normal(size=(steps, 2, *shape)) * 2).astype(np.float32)


def _last(x):
    return np.moveaxis(x, 2, -1) if x.ndim > 3 else x


def _chain(graph: nir.NIRGraph):
    """The graph's computing nodes in data-flow order (subgraphs inlined), as (type, fields)."""
    out, seen, todo = [], set(), [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        node = graph.nodes[name]
        if isinstance(node, nir.NIRGraph):
            out.extend(_chain(node))
        elif not isinstance(node, (nir.Input, nir.Output)):
            fields = {
                k: np.asarray(v)
                for k, v in vars(node).items()
                if k not in ("input_type", "output_type", "metadata")
            }
            out.append((type(node).__name__, fields))
        todo.extend(d for s, d in graph.edges if s == name)
    return out


def _same_nodes(a: nir.NIRGraph, b: nir.NIRGraph):
    ca, cb = _chain(a), _chain(b)
    assert [t for t, _ in ca] == [t for t, _ in cb]
    for (kind, fa), (_, fb) in zip(ca, cb, strict=True):
        assert set(fa) == set(fb), kind
        for key in fa:
            if fa[key].dtype.kind in "fc":
                np.testing.assert_allclose(fa[key], fb[key], rtol=1e-6, atol=1e-7, err_msg=f"{kind}.{key}")
            else:
                np.testing.assert_array_equal(fa[key], fb[key], err_msg=f"{kind}.{key}")


# compiles for seconds; the quick tier still runs this stack in test_nir_layout_import_and_its_re_export
SLOW_CASES = {"conv-pool-flatten-dense-recurrent"}


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=[pytest.mark.slow] if c in SLOW_CASES else []) for c in CASES]
)
def test_round_trip_gives_identical_outputs_and_parameters(case, tmp_path):
    make, shape = CASES[case]
    model = make(nnx.Rngs(0))
    graph = to_nir(model, shape, DT)
    write(tmp_path / "m.nir", graph)
    back = from_nir(tmp_path / "m.nir", DT, channels_last=True)
    x = jnp.asarray(_last(_input(shape)))
    y_model, _ = snnx.run(model, x)
    y_back, _ = snnx.run(back, x)
    np.testing.assert_array_equal(np.asarray(y_back), np.asarray(y_model))
    _same_nodes(graph, read(tmp_path / "m.nir"))  # the file holds what to_nir made
    _same_nodes(graph, to_nir(back, shape, DT))  # the imported model has the same parameters


@pytest.mark.slow  # a few seconds of compiling; the quick tier has smaller cases
def test_nir_layout_import_and_its_re_export(tmp_path):
    make, shape = CASES["conv-pool-flatten-dense-recurrent"]
    model = make(nnx.Rngs(1))
    write(tmp_path / "m.nir", to_nir(model, shape, DT))
    back = from_nir(tmp_path / "m.nir", DT)  # channels-first in and out, layout adapters inside
    x = _input(shape)
    y_model, _ = snnx.run(model, jnp.asarray(_last(x)))
    y_back, _ = snnx.run(back, jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(y_back), np.asarray(y_model))
    _same_nodes(read(tmp_path / "m.nir"), to_nir(back, shape, DT))  # the adapters write no node


def test_subtract_reset_round_trips_with_the_override(tmp_path):
    model = Sequential(_lin(4, nnx.Rngs(0)), N.LIF(4, 0.9, threshold=0.5, reset="subtract"))
    with pytest.warns(UserWarning, match="'layer_1' \\(LIF\\)"):
        write(tmp_path / "m.nir", to_nir(model, (3,), DT))
    x = jnp.asarray(_input((3,), steps=20))
    y_model, _ = snnx.run(model, x)
    y_sub, _ = snnx.run(from_nir(tmp_path / "m.nir", DT, reset="subtract"), x)
    y_file, _ = snnx.run(from_nir(tmp_path / "m.nir", DT), x)  # what the file says: reset to 0
    np.testing.assert_array_equal(np.asarray(y_sub), np.asarray(y_model))
    assert not np.array_equal(np.asarray(y_file), np.asarray(y_model))


def test_graph_with_branches_and_a_cycle_round_trips(tmp_path):
    r = nnx.Rngs(2)
    g = Graph(
        {
            "fc": nnx.Linear(3, 5, rngs=r),
            "skip": nnx.Linear(3, 5, use_bias=False, rngs=r),
            "lif": N.LIF(5, beta=0.8),
            "rec": nnx.Linear(5, 5, rngs=r),
            "delay": L.Delay(5, 2),
            "out": N.LI(5, beta=0.9),
        },
        [("input", "fc"), ("input", "skip"), ("fc", "lif"), ("skip", "lif"), ("lif", "rec"),
         ("rec", "delay"), ("delay", "lif"), ("lif", "out"), ("out", "output")],
        input_shape=(3,),
    )  # fmt: skip
    g.nodes["rec"].kernel[...] = jnp.asarray(np.random.default_rng(1).normal(size=(5, 5)), jnp.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no reset or layout warning expected here
        graph = to_nir(g, (3,), DT)
    write(tmp_path / "g.nir", graph)
    back = from_nir(tmp_path / "g.nir", DT, channels_last=True)
    x = jnp.asarray(_input((3,), steps=16))
    y_model, _ = snnx.run(g, x)
    y_back, _ = snnx.run(back, x)
    np.testing.assert_array_equal(np.asarray(y_back), np.asarray(y_model))


@pytest.mark.parametrize(
    "name",
    ["lif_norse", "two_lif_neurons", "snntorch_export_synaptic", "braille_noDelay_noBias_subtract_subgraph"],
)
def test_peer_graphs_survive_import_and_re_export(name, nir_refs, tmp_path):
    dt = 1e-4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stale subgraph edge names in the *_subgraph file
        imported = from_nir(nir_refs / "graphs" / f"{name}.nir", dt)
    shape = {"lif_norse": (1,), "two_lif_neurons": (1,)}.get(name, (12,) if "braille" in name else (8,))
    write(tmp_path / "again.nir", to_nir(imported, shape, dt))
    again = from_nir(tmp_path / "again.nir", dt)
    x = jnp.asarray((np.random.default_rng(0).random((40, 2, *shape)) < 0.3).astype(np.float32) * 2)
    np.testing.assert_array_equal(np.asarray(snnx.run(again, x)[0]), np.asarray(snnx.run(imported, x)[0]))
