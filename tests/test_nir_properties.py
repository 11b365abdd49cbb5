"""Property-based NIR tests: random valid graphs round-trip exactly and run as NIR-Euler says.

Graphs are drawn from a small vocabulary (every primitive ``from_nir`` reads,
chains, branches summed into one node, two-node and longer cycles, nested
subgraphs) over a fixed set of shapes, so JAX compiles few distinct programs.
Parameters are dyadic (decays 1/2, 3/4, weights in quarters) and thresholds are
not, so float32 (snnx) and float64 (the reference ``nir_euler``) give identical
spikes. ``derandomize=True`` makes every run draw the same examples.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import jax.numpy as jnp
import nir
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import snnx
from hang_guard import no_hang
from nir_euler import EulerGraph
from snnx.nir import NIRError, from_nir, read, to_nir, write

DT = 1e-3
T, B = 6, 2
FEATURES = (3, 4)  # the fixed set of vector widths
MAP = (2, 4, 4)  # the feature-map shapes: (C, H, W) and (C, L)
MAP_1D = (2, 6)
SETTINGS = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    phases=(Phase.explicit, Phase.generate),  # no shrinking: the failing example is printed as drawn
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

VECTOR_KINDS = (
    "Affine",
    "Linear",
    "Scale",
    "Threshold",
    "Delay",
    "Flatten",
    "I",
    "IF",
    "LI",
    "LIF",
    "CubaLI",
    "CubaLIF",
)
NEURON_KINDS = ("IF", "LIF", "CubaLIF")


def _quarters(draw, shape, lo=-4, hi=4):
    return (
        np.asarray(
            draw(st.lists(st.integers(lo, hi), min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))),
            np.float64,
        ).reshape(shape)
        / 4
    )


def _pick(draw, options, n):
    return np.asarray([draw(st.sampled_from(options)) for _ in range(n)], np.float64)


def _tau_r(draw, n):
    """``tau`` and ``r`` for decays in {1/2, 3/4} and input gains in {1/2, 1, 2}."""
    beta = _pick(draw, (0.5, 0.75), n)
    gain = _pick(draw, (0.5, 1.0, 2.0), n)
    tau = DT / (1 - beta)
    return tau, gain * tau / DT


def _primitive(draw, kind, n):
    """A NIR node of ``kind`` mapping ``(n,)`` to ``(n,)``."""
    thr = _pick(draw, (0.3, 0.7, -0.45), n)
    if kind == "Affine":
        return nir.Affine(weight=_quarters(draw, (n, n)), bias=_quarters(draw, (n,)))
    if kind == "Linear":
        return nir.Linear(weight=_quarters(draw, (n, n)))
    if kind == "Scale":
        return nir.Scale(scale=_pick(draw, (0.5, -1.0, 2.0), n))
    if kind == "Threshold":
        return nir.Threshold(threshold=thr)
    if kind == "Delay":
        return nir.Delay(delay=_pick(draw, (0.0, 1.0, 2.0), n) * DT)
    if kind == "Flatten":
        return nir.Flatten(input_type={"input": np.array([n])}, start_dim=0, end_dim=-1)
    if kind in ("I", "IF"):
        r = _pick(draw, (1.0, 0.5), n)
        if kind == "I":
            return nir.I(r=r)
        return nir.IF(r=r, v_threshold=np.abs(thr), v_reset=_pick(draw, (0.0, -0.5), n))
    leak = _pick(draw, (0.0, 0.25), n)
    if kind in ("LI", "LIF"):
        tau, r = _tau_r(draw, n)
        if kind == "LI":
            return nir.LI(tau=tau, r=r, v_leak=leak)
        return nir.LIF(
            tau=tau, r=r, v_leak=leak, v_threshold=np.abs(thr), v_reset=_pick(draw, (0.0, -0.5), n)
        )
    tau_syn, w_in = _tau_r(draw, n)
    tau_mem, r = _tau_r(draw, n)
    if kind == "CubaLI":
        return nir.CubaLI(tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=leak, w_in=w_in)
    return nir.CubaLIF(
        tau_syn=tau_syn,
        tau_mem=tau_mem,
        r=r,
        v_leak=leak,
        v_threshold=np.abs(thr),
        v_reset=_pick(draw, (0.0, -0.5), n),
        w_in=w_in,
    )


def _map_head(draw, nodes, edges, src, in_shape):
    """Conv1d/Conv2d (+ optional 2-D pool) -> IF -> Flatten -> Affine; returns (last node, width)."""
    c, *spatial = in_shape
    nd = len(spatial)
    padding = draw(st.sampled_from((1, 0, "same")))
    groups = draw(st.sampled_from((1, 2)))
    conv = nir.Conv2d if nd == 2 else nir.Conv1d
    nodes["conv"] = conv(
        input_shape=tuple(spatial) if nd == 2 else spatial[0],
        weight=_quarters(draw, (2, c // groups, *(3,) * nd)),
        stride=1,
        padding=padding,
        dilation=1,
        groups=groups,
        bias=_quarters(draw, (2,)),
    )
    edges.append((src, "conv"))
    size = spatial[0] if padding != 0 else spatial[0] - 2
    last = "conv"
    pool = draw(st.sampled_from((None, "SumPool2d", "AvgPool2d")))
    if nd == 2 and pool is not None and size % 2 == 0:
        nodes["pool"] = getattr(nir, pool)(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))
        edges.append((last, "pool"))
        last, size = "pool", size // 2
    shape = (2, *(size,) * nd)
    nodes["neuron0"] = nir.IF(r=np.ones(shape), v_threshold=np.full(shape, 0.3), v_reset=np.zeros(shape))
    nodes["flat"] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)
    width = int(np.prod(shape))
    nodes["to_n"] = nir.Affine(
        weight=_quarters(draw, (FEATURES[0], width)), bias=_quarters(draw, (FEATURES[0],))
    )
    edges += [(last, "neuron0"), ("neuron0", "flat"), ("flat", "to_n")]
    return "to_n", FEATURES[0]


@st.composite
def nir_graphs(draw):
    """A random valid NIR graph: (graph, input shape)."""
    nodes: dict = {}
    edges: list = []
    in_shape = draw(st.sampled_from(((3,), (4,), MAP, MAP_1D)))
    use_map = len(in_shape) > 1
    n = FEATURES[0] if use_map else in_shape[0]
    nodes["input"] = nir.Input(input_type={"input": np.array(in_shape)})
    last = "input"
    if use_map:
        last, n = _map_head(draw, nodes, edges, last, in_shape)
    for b in range(draw(st.integers(1, 3))):
        block = draw(st.sampled_from(("prim", "prim", "branch", "cycle", "long_cycle", "nested")))
        name = f"b{b}"
        if block == "prim":
            nodes[name] = _primitive(draw, draw(st.sampled_from(VECTOR_KINDS)), n)
            edges.append((last, name))
        elif block == "branch":  # two paths summed into one node
            for arm in ("x", "y"):  # (two parallel identities would be one doubled edge: no NIR form)
                arm_kinds = VECTOR_KINDS[:5] + VECTOR_KINDS[6:] if arm == "y" else VECTOR_KINDS
                nodes[f"{name}{arm}"] = _primitive(draw, draw(st.sampled_from(arm_kinds)), n)
                edges += [(last, f"{name}{arm}"), (f"{name}{arm}", name)]
            nodes[name] = _primitive(draw, draw(st.sampled_from(VECTOR_KINDS)), n)
        elif block in ("cycle", "long_cycle"):  # neuron -> (Scale ->) Affine/Linear -> back into the neuron
            nodes[name] = _primitive(draw, draw(st.sampled_from(NEURON_KINDS)), n)
            dense = _primitive(draw, draw(st.sampled_from(("Affine", "Linear"))), n)
            nodes[f"{name}w"] = dense
            edges += [(last, name), (f"{name}w", name)]
            if block == "cycle":
                edges.append((name, f"{name}w"))
            else:
                nodes[f"{name}s"] = _primitive(draw, "Scale", n)
                edges += [(name, f"{name}s"), (f"{name}s", f"{name}w")]
        else:  # a nested subgraph holding two primitives
            inner = {
                "input": nir.Input(input_type={"input": np.array([n])}),
                "p": _primitive(draw, draw(st.sampled_from(VECTOR_KINDS)), n),
                "q": _primitive(draw, draw(st.sampled_from(VECTOR_KINDS)), n),
                "output": nir.Output(output_type={"output": np.array([n])}),
            }
            nodes[name] = nir.NIRGraph(
                nodes=inner, edges=[("input", "p"), ("p", "q"), ("q", "output")], type_check=False
            )
            edges.append((last, name))
        last = name
    nodes["output"] = nir.Output(output_type={"output": np.array([n])})
    edges.append((last, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), in_shape


def _input(shape, seed):
    """Spike-like input: multiples of 1/2 in [-1, 1.5] (dyadic, so float32 is exact)."""
    rng = np.random.default_rng(seed)
    return (rng.integers(-2, 4, size=(T, B, *shape)) / 2).astype(np.float32)


def _same_node(a, b, where):
    assert type(a) is type(b), where
    if isinstance(a, nir.NIRGraph):
        assert sorted(a.nodes) == sorted(b.nodes), where
        assert sorted(map(tuple, a.edges)) == sorted(map(tuple, b.edges)), where
        for k in a.nodes:
            _same_node(a.nodes[k], b.nodes[k], f"{where}.{k}")
        return
    for field in (
        "weight",
        "bias",
        "tau",
        "tau_syn",
        "tau_mem",
        "r",
        "v_leak",
        "v_threshold",
        "v_reset",
        "w_in",
        "scale",
        "threshold",
        "delay",
        "kernel_size",
        "stride",
        "padding",
        "dilation",
        "groups",
        "start_dim",
        "end_dim",
    ):
        if hasattr(a, field):
            va, vb = getattr(a, field), getattr(b, field)
            if isinstance(va, str) or isinstance(vb, str):
                assert str(va) == str(vb), (where, field)
            else:
                np.testing.assert_array_equal(
                    np.asarray(va, np.float64), np.asarray(vb, np.float64), err_msg=f"{where}.{field}"
                )


def _run(model, x):
    return np.asarray(snnx.run(model, jnp.asarray(x))[0])


@pytest.mark.slow  # 12 graphs, each compiled 3 times
@SETTINGS
@given(case=nir_graphs(), seed=st.integers(0, 3))
def test_random_graphs_run_as_nir_euler_and_round_trip(case, seed):
    graph, in_shape = case
    x = _input(in_shape, seed)
    ref = EulerGraph(graph, DT).run(x)[0]["output"]
    model = from_nir(graph, dt=DT)
    got = _run(model, x)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)  # spikes: exactly equal (0/1)

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("error")  # a valid graph reads back without repairs
        path = Path(tmp) / "g.nir"
        write(path, graph)  # file -> read: the same graph, field for field
        back = read(path)
        _same_node(graph, back, "graph")
        np.testing.assert_array_equal(_run(from_nir(path, dt=DT), x), got)

        exported = to_nir(model, in_shape, DT)  # snnx -> NIR -> file -> snnx: the same function
        write(Path(tmp) / "e.nir", exported)
        again = from_nir(Path(tmp) / "e.nir", dt=DT)
        np.testing.assert_array_equal(_run(again, x), got)
        np.testing.assert_allclose(
            EulerGraph(read(Path(tmp) / "e.nir"), DT).run(x)[0]["output"], ref, rtol=1e-5, atol=1e-5
        )


# ----------------------------------------------------------------------------- corruptions

NUMERIC_FIELDS = (
    "weight",
    "bias",
    "tau",
    "tau_syn",
    "tau_mem",
    "r",
    "v_leak",
    "v_threshold",
    "scale",
    "threshold",
    "delay",
)
BAD_VALUES = ("nan", "inf", "negative", "zero", "wrong_shape", "text", "complex", "rank3")


def _bad(value, how):
    arr = np.asarray(value, np.float64)
    return {
        "nan": np.full_like(arr, np.nan),
        "inf": np.full_like(arr, np.inf),
        "negative": -np.abs(arr) - 1,
        "zero": np.zeros_like(arr),
        "wrong_shape": np.ones(arr.size + 1),
        "text": "0.5",
        "complex": arr.astype(np.complex128) + 1j,
        "rank3": np.ones((2, 2, 2)),
    }[how]


@st.composite
def corrupted_graphs(draw):
    """A valid random graph with one random corruption applied: (graph, description)."""
    graph, _ = draw(nir_graphs())
    nodes, edges = dict(graph.nodes), [tuple(e) for e in graph.edges]
    inner = [k for k, v in nodes.items() if not isinstance(v, (nir.Input, nir.Output, nir.NIRGraph))]
    how = draw(
        st.sampled_from(
            (
                "delete_node",
                "rename_node",
                "delete_edge",
                "ghost_edge",
                "bad_field",
                "input_shape",
                "swap_edge",
            )
        )
    )
    if how == "delete_node":
        victim = draw(st.sampled_from(sorted(nodes)))
        del nodes[victim]
        what = f"deleted node {victim!r}"
    elif how == "rename_node":
        victim = draw(st.sampled_from(sorted(nodes)))
        nodes[victim + "_x"] = nodes.pop(victim)
        what = f"renamed node {victim!r}"
    elif how == "delete_edge":
        edge = draw(st.sampled_from(edges))
        edges.remove(edge)
        what = f"deleted edge {edge}"
    elif how == "ghost_edge":
        edges.append(draw(st.sampled_from([("ghost", k) for k in nodes] + [(k, "ghost") for k in nodes])))
        what = f"edge {edges[-1]}"
    elif how == "swap_edge":
        i = draw(st.integers(0, len(edges) - 1))
        edges[i] = edges[i][::-1]
        what = f"reversed edge {edges[i]}"
    elif how == "input_shape":
        shape = draw(st.sampled_from(((0,), (-3,), (10**12,), (7,), (2, 2, 2, 2))))
        nodes["input"] = nir.Input(input_type={"input": np.array(shape)})
        what = f"input shape {shape}"
    else:
        victim = draw(st.sampled_from(sorted(inner)))
        node = nodes[victim]
        fields = [f for f in NUMERIC_FIELDS if getattr(node, f, None) is not None]
        if not fields:
            return graph, "unchanged"
        field = draw(st.sampled_from(fields))
        bad = draw(st.sampled_from(BAD_VALUES))
        node = type(node).__new__(type(node))
        node.__dict__.update(nodes[victim].__dict__)
        setattr(node, field, _bad(getattr(node, field), bad))
        nodes[victim] = node
        what = f"{victim}.{field} = {bad}"
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), what


def _quiet_import(source):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return from_nir(source, dt=DT)


def _import_or_error(source):
    """from_nir (a hang fails, no timing): a model, or None after a NIRError; anything else propagates."""
    try:
        return no_hang(_quiet_import, source)
    except NIRError as err:
        assert len(str(err)) > 20 and "Traceback" not in str(err), "a NIRError must say what is wrong"
        return None


@SETTINGS
@given(case=corrupted_graphs())
def test_corrupted_graphs_import_correctly_or_raise_nir_error(case):
    graph, what = case
    model = _import_or_error(graph)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.nir"
        try:
            nir.write(path, graph)
        except Exception:  # nir itself cannot write some corruptions (text, ...): nothing to read
            return
        from_file = _import_or_error(path)
        if model is None and from_file is None:
            return
        assert (model is None) == (from_file is None), f"{what}: the file and the graph disagree"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stored = read(path)  # with edge repairs, as from_nir saw it
        in_shape = tuple(int(d) for d in next(iter(stored.nodes["input"].input_type.values())))
        x = _input(in_shape, 0)
        ref = EulerGraph(stored, DT).run(x)[0]  # imported, so it must mean what NIR says: no silent drop
        np.testing.assert_allclose(
            _run(from_file, x), next(iter(ref.values())), rtol=1e-5, atol=1e-5, err_msg=what
        )
