"""``snnx.nir.from_nir`` / ``read`` / ``write``: semantics, topologies, tolerance and errors.

Expected numbers come from plain-numpy loops of the NIR equations (docs/nir-semantics.md):
forward Euler, spike after update, reset to v_reset, edges summed, back edges
delayed by one step and carrying the source's output on zero state at t = 0.
"""

from __future__ import annotations

import dataclasses
import warnings

import h5py
import jax
import jax.numpy as jnp
import nir
import numpy as np
import pytest
from flax import nnx

from hang_guard import no_hang
from snnx.engine import Graph, Sequential, run
from snnx.nir import NIRError, from_nir, read, write
from snnx.nir._import import node_states

DT = 1e-3
RNG = np.random.default_rng(0)


def _spikes(shape, p=0.4, scale=1.0, seed=0):
    return (np.random.default_rng(seed).random(shape) < p).astype(np.float32) * scale


def _affine(n_in, n_out, seed, bias=True):
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 1.0, (n_out, n_in)).astype(np.float32)
    if not bias:
        return nir.Linear(weight=w)
    return nir.Affine(weight=w, bias=rng.normal(0.2, 0.2, n_out).astype(np.float32))


def _lif(n, tau=5e-3, r=None, v_leak=0.0, thr=1.0, v_reset=0.0):
    full = np.ones(n)
    return nir.LIF(
        tau=full * tau,
        r=full * (tau / DT if r is None else r),
        v_leak=full * v_leak,
        v_threshold=full * thr,
        v_reset=full * v_reset,
    )


def _graph(nodes, edges):
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _io(n_in, n_out):
    return {"in": nir.Input(input_type=np.array([n_in])), "out": nir.Output(output_type=np.array([n_out]))}


def _np_lif(node, x, v):
    """One forward-Euler step of a nir.LIF on NIR units."""
    v = v + DT / node.tau * (node.v_leak - v + node.r * x)
    z = (v > node.v_threshold).astype(np.float64)
    return z, np.where(z > 0, node.v_reset, v)


def _np_dense(node, x):
    return x @ node.weight.T.astype(np.float64) + (node.bias if isinstance(node, nir.Affine) else 0.0)


# -- single primitives ---------------------------------------------------------------------


def test_lif_gain_leak_and_reset_value_honoured():
    lif = _lif(3, tau=4e-3, r=2.5, v_leak=0.3, thr=0.4, v_reset=-0.2)
    model = from_nir(_graph({**_io(3, 3), "lif": lif}, [("in", "lif"), ("lif", "out")]), DT)
    assert isinstance(model, Sequential) and model.nir_names == (None, "lif")  # Scale(r dt/tau), LIF
    x = _spikes((40, 2, 3), scale=0.8)
    y, states = run(model, jnp.asarray(x), return_states=True)
    v = np.zeros((2, 3))
    for t in range(40):
        z, v = _np_lif(lif, x[t], v)
        np.testing.assert_array_equal(np.asarray(y[t]), z)
        np.testing.assert_allclose(
            np.asarray(node_states(model, states)["lif"]["v"][t]), v, rtol=1e-5, atol=1e-6
        )


def test_unit_gain_needs_no_scale_and_zero_d_params_accepted():
    lif = nir.LIF(tau=np.array(5e-3), r=np.array(5.0), v_leak=np.array(0.0), v_threshold=np.array(1.0))
    g = _graph({**_io(4, 4), "d": _affine(4, 4, 1), "lif": lif}, [("in", "d"), ("d", "lif"), ("lif", "out")])
    model = from_nir(g, DT)
    assert model.nir_names == ("d", "lif")
    assert model.layers[1].beta[...].shape == (4,)


@pytest.mark.parametrize("kind", ["IF", "I", "LI", "CubaLI", "CubaLIF", "Threshold", "Scale"])
def test_other_neurons_match_numpy(kind):
    n, dt = 3, DT
    ones = np.ones(n)
    node = {
        "IF": nir.IF(r=ones * 0.7, v_threshold=ones * 1.2),
        "I": nir.I(r=ones * 0.5),
        "LI": nir.LI(tau=ones * 3e-3, r=ones * 2.0, v_leak=ones * 0.1),
        "CubaLI": nir.CubaLI(
            tau_syn=ones * 2e-3, tau_mem=ones * 4e-3, r=ones * 3.0, v_leak=ones * 0.0, w_in=ones * 1.5
        ),
        "CubaLIF": nir.CubaLIF(
            tau_syn=ones * 2e-3, tau_mem=ones * 4e-3, r=ones * 3.0, v_leak=ones * 0.1,
            v_threshold=ones * 0.5, v_reset=ones * 0.05, w_in=ones * 1.5,
        ),
        "Threshold": nir.Threshold(threshold=ones * 0.5),
        "Scale": nir.Scale(scale=np.array([1.0, -2.0, 0.5])),
    }[kind]  # fmt: skip
    model = from_nir(_graph({**_io(n, n), "node": node}, [("in", "node"), ("node", "out")]), dt)
    x = _spikes((30, 2, n), scale=1.3, seed=2)
    y, _ = run(model, jnp.asarray(x))
    i = v = np.zeros((2, n))
    for t in range(30):
        if kind == "IF":
            v = v + node.r * x[t]
            want = (v > node.v_threshold).astype(float)
            v = np.where(want > 0, 0.0, v)
        elif kind == "I":
            v = want = v + node.r * x[t]
        elif kind == "LI":
            v = want = v + dt / node.tau * (node.v_leak - v + node.r * x[t])
        elif kind in ("CubaLI", "CubaLIF"):
            i = i + dt / node.tau_syn * (-i + node.w_in * x[t])
            v = want = v + dt / node.tau_mem * (node.v_leak - v + node.r * i)
            if kind == "CubaLIF":
                want = (v > node.v_threshold).astype(float)
                v = np.where(want > 0, node.v_reset, v)
        elif kind == "Threshold":
            want = (x[t] > node.threshold).astype(float)
        else:
            want = node.scale * x[t]
        np.testing.assert_allclose(np.asarray(y[t]), want, rtol=1e-5, atol=1e-5)


def test_delay_steps_and_per_unit_delays():
    delay = nir.Delay(delay=np.array([2 * DT, 0.0, 3 * DT]))
    model = from_nir(_graph({**_io(3, 3), "d": delay}, [("in", "d"), ("d", "out")]), DT)
    x = RNG.normal(size=(8, 2, 3)).astype(np.float32)
    y = np.asarray(run(model, jnp.asarray(x))[0])
    for unit, steps in enumerate((2, 0, 3)):
        want = np.concatenate([np.zeros((steps, 2)), x[: 8 - steps, :, unit]])
        np.testing.assert_array_equal(y[:, :, unit], want)


def _np_conv(x, w, b, stride, pad, dil, groups):
    """Cross-correlation, channels-first, PyTorch output size (plain loops)."""
    bsz, _, *sp = x.shape
    c_out, c_g, *k = w.shape
    nd = len(sp)
    xp = np.pad(x, [(0, 0), (0, 0), *[(p, p) for p in pad]])
    out_sp = [(sp[d] + 2 * pad[d] - dil[d] * (k[d] - 1) - 1) // stride[d] + 1 for d in range(nd)]
    y = np.zeros((bsz, c_out, *out_sp))
    per = c_out // groups
    for o in range(c_out):
        g = o // per
        for idx in np.ndindex(*out_sp):
            acc = np.zeros(bsz)
            for kk in np.ndindex(*k):
                pos = tuple(idx[d] * stride[d] + kk[d] * dil[d] for d in range(nd))
                acc += np.einsum(
                    "bc,c->b",
                    xp[(slice(None), slice(g * c_g, (g + 1) * c_g), *pos)],
                    w[(o, slice(None), *kk)],
                )
            y[(slice(None), o, *idx)] = acc + b[o]
    return y


def test_conv2d_stride_padding_dilation_groups_flatten_affine():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(4, 1, 3, 2)).astype(np.float32)
    conv = nir.Conv2d(
        input_shape=None, weight=w, stride=np.array([2, 1]), padding=np.array([1, 2]),
        dilation=np.array([1, 2]), groups=2, bias=rng.normal(size=4).astype(np.float32),
    )  # fmt: skip
    out_hw = ((7 + 2 - 2 - 1) // 2 + 1, (6 + 4 - 2 - 1) // 1 + 1)
    pool = nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([1, 2]), padding=np.array([1, 1]))
    pool_hw = ((out_hw[0] + 2 - 2) // 1 + 1, (out_hw[1] + 2 - 2) // 2 + 1)
    n_flat = 4 * pool_hw[0] * pool_hw[1]
    dense = _affine(n_flat, 3, 4)
    g = _graph(
        {
            "in": nir.Input(input_type=np.array([2, 7, 6])),
            "conv": conv,
            "pool": pool,
            "flat": nir.Flatten(input_type={"input": np.array([4, *pool_hw])}, start_dim=0, end_dim=-1),
            "dense": dense,
            "out": nir.Output(output_type=np.array([3])),
        },
        [("in", "conv"), ("conv", "pool"), ("pool", "flat"), ("flat", "dense"), ("dense", "out")],
    )
    model = from_nir(g, DT)
    x = rng.normal(size=(2, 2, 2, 7, 6)).astype(np.float32)
    y = np.asarray(run(model, jnp.asarray(x))[0])
    for t in range(2):
        c = _np_conv(x[t], w, conv.bias, (2, 1), (1, 2), (1, 2), 2)
        cp = np.pad(c, [(0, 0), (0, 0), (1, 1), (1, 1)])
        p = np.stack(
            [np.stack([cp[:, :, i:i + 2, 2 * j:2 * j + 2].mean(axis=(2, 3)) for j in range(pool_hw[1])], -1)
             for i in range(pool_hw[0])], -2,
        )  # fmt: skip
        np.testing.assert_allclose(y[t], _np_dense(dense, p.reshape(2, -1)), rtol=1e-4, atol=1e-4)


def test_conv1d_same_padding_and_channels_last_option():
    rng = np.random.default_rng(5)
    w = rng.normal(size=(3, 2, 3)).astype(np.float32)
    conv = nir.Conv1d(
        input_shape=9, weight=w, stride=1, padding="same", dilation=2, groups=1, bias=np.zeros(3)
    )
    g = _graph(
        {
            "in": nir.Input(input_type=np.array([2, 9])),
            "c": conv,
            "out": nir.Output(output_type=np.array([3, 9])),
        },
        [("in", "c"), ("c", "out")],
    )
    x = rng.normal(size=(1, 2, 2, 9)).astype(np.float32)
    y = np.asarray(run(from_nir(g, DT), jnp.asarray(x))[0])
    want = _np_conv(x[0], w, np.zeros(3), (1,), (2,), (2,), 1)
    np.testing.assert_allclose(y[0], want, rtol=1e-4, atol=1e-4)
    y_cl = run(from_nir(g, DT, channels_last=True), jnp.asarray(np.moveaxis(x, 2, -1)))[0]
    np.testing.assert_allclose(np.moveaxis(np.asarray(y_cl), -1, 2), y, rtol=1e-6, atol=1e-6)


# -- topologies ------------------------------------------------------------------------------


def test_branches_sum_and_cycle_with_delay_run_on_graph():
    d1, d2, rec = _affine(3, 4, 6), _affine(3, 4, 7), _affine(4, 4, 8)
    a, b = _lif(4, tau=3e-3), _lif(4, tau=6e-3, thr=0.7)
    delay = nir.Delay(delay=np.full(4, 2 * DT))
    g = _graph(
        {**_io(3, 4), "d1": d1, "d2": d2, "a": a, "b": b, "rec": rec, "delay": delay},
        [("in", "d1"), ("in", "d2"), ("d1", "a"), ("d2", "a"), ("a", "b"), ("b", "rec"), ("rec", "delay"),
         ("delay", "a"), ("b", "out")],
    )  # fmt: skip
    model = from_nir(g, DT)
    assert isinstance(model, Graph) and model.back_edges == (("delay", "a"),)
    x = _spikes((25, 2, 3), seed=4)
    y = np.asarray(jax.jit(lambda x: run(model, x)[0])(jnp.asarray(x)))
    va = vb = np.zeros((2, 4))
    zb, buf = np.zeros((2, 4)), [np.zeros((2, 4))] * 2  # Delay output: zeros for 2 steps
    back = np.zeros((2, 4))  # delay is stateful: its previous output, zeros at t = 0
    for t in range(25):
        za, va = _np_lif(a, _np_dense(d1, x[t]) + _np_dense(d2, x[t]) + back, va)
        zb, vb = _np_lif(b, za, vb)
        r = _np_dense(rec, zb)
        back, buf = buf[0], [*buf[1:], r]
        np.testing.assert_array_equal(y[t], zb)


def test_recurrent_pair_fused_and_nested_subgraph():
    inner = _graph(
        {"i": nir.Input(input_type=np.array([5])), "lif": _lif(5, tau=4e-3, r=1.5), "w": _affine(5, 5, 9),
         "o": nir.Output(output_type=np.array([5]))},
        [("i", "lif"), ("lif", "w"), ("w", "lif"), ("lif", "o")],
    )  # fmt: skip
    fc, ro = _affine(2, 5, 10), _affine(5, 2, 11, bias=False)
    g = _graph(
        {**_io(2, 2), "fc": fc, "rnn": inner, "ro": ro},
        [("in", "fc"), ("fc", "rnn"), ("rnn", "ro"), ("ro", "out")],
    )
    edges_before = list(inner.edges)
    model = from_nir(g, DT)
    assert inner.edges == edges_before  # the input graph is not modified
    assert model.nir_names == ("fc", None, "rnn.lif", "ro")  # Scale(r dt/tau) before the RLIF
    x = _spikes((30, 3, 2), scale=1.0, seed=6)
    y = np.asarray(run(model, jnp.asarray(x))[0])
    lif, w = inner.nodes["lif"], inner.nodes["w"]
    v, z = np.zeros((3, 5)), np.zeros((3, 5))
    for t in range(30):
        z, v = _np_lif(lif, _np_dense(fc, x[t]) + _np_dense(w, z), v)  # W z[t-1] + b, bias at t = 0
        np.testing.assert_allclose(y[t], _np_dense(ro, z), rtol=1e-5, atol=1e-5)


def test_multiple_inputs_and_outputs_are_dicts():
    g = _graph(
        {"a": nir.Input(input_type=np.array([2])), "b": nir.Input(input_type=np.array([3])),
         "da": _affine(2, 4, 12), "db": _affine(3, 4, 13), "s": nir.Scale(scale=np.full(4, 2.0)),
         "y1": nir.Output(output_type=np.array([4])), "y2": nir.Output(output_type=np.array([4]))},
        [("a", "da"), ("b", "db"), ("da", "s"), ("db", "s"), ("s", "y1"), ("da", "y2")],
    )  # fmt: skip
    model = from_nir(g, DT)
    xa, xb = RNG.normal(size=(2, 2)), RNG.normal(size=(2, 3))
    y, _ = model({"a": jnp.asarray(xa), "b": jnp.asarray(xb)}, model.init_state(2))
    da, db = _np_dense(g.nodes["da"], xa), _np_dense(g.nodes["db"], xb)
    np.testing.assert_allclose(np.asarray(y["y1"]), 2 * (da + db), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(y["y2"]), da, rtol=1e-5, atol=1e-5)


def test_jit_and_gradient_through_imported_model():
    g = _graph(
        {**_io(3, 2), "d": _affine(3, 4, 14), "lif": _lif(4), "r": _affine(4, 2, 15)},
        [("in", "d"), ("d", "lif"), ("lif", "r"), ("r", "out")],
    )
    model = from_nir(g, DT)
    x = jnp.asarray(_spikes((20, 2, 3), scale=2.0, seed=7))

    @nnx.jit
    def loss(m, x):
        return jnp.sum(run(m, x)[0] ** 2)

    assert float(loss(model, x)) == pytest.approx(float(jnp.sum(run(model, x)[0] ** 2)), rel=1e-5)
    grads = nnx.grad(loss)(model, x)
    assert float(jnp.abs(grads["layers"][0]["kernel"][...]).sum()) > 0


def test_stray_batch_axes_in_input_and_output_shapes():
    g = _graph(
        {"in": nir.Input(input_type=np.array([1, 3])), "d": _affine(3, 2, 16),
         "out": nir.Output(output_type=np.array([1, 1, 2]))},
        [("in", "d"), ("d", "out")],
    )  # fmt: skip
    y, _ = run(from_nir(g, DT), jnp.ones((2, 4, 3)))
    assert y.shape == (2, 4, 2)
    g = _graph(
        {
            "in": nir.Input(input_type=np.array([1, 3])),
            "lif": _lif(3),
            "out": nir.Output(output_type=np.array([3])),
        },
        [("in", "lif"), ("lif", "out")],
    )
    y, _ = run(from_nir(g, DT), jnp.ones((2, 4, 3)))
    assert y.shape == (2, 4, 3)


def test_reset_override():
    lif = _lif(2, tau=1e9 * DT, r=1e9, thr=1.0)  # beta ~ 1, unit gain: an integrator
    g = _graph({**_io(2, 2), "lif": lif}, [("in", "lif"), ("lif", "out")])
    x = jnp.full((3, 1, 2), 0.8)
    for reset, want in (("subtract", [0, 1, 1]), ("zero", [0, 1, 0]), (None, [0, 1, 0])):
        model = from_nir(g, DT, reset=reset)
        _, states = run(model, x, return_states=True)
        v = np.asarray(node_states(model, states)["lif"]["v"])[:, 0, 0]
        assert np.asarray(run(model, x)[0])[:, 0, 0].tolist() == want
        np.testing.assert_allclose(v, [0.8, 0.6, 0.4] if reset == "subtract" else [0.8, 0.0, 0.8], atol=1e-5)


# -- files -----------------------------------------------------------------------------------


def test_write_read_roundtrip_and_missing_v_reset(tmp_path):
    g = _graph(
        {**_io(3, 3), "d": _affine(3, 3, 17), "lif": _lif(3)}, [("in", "d"), ("d", "lif"), ("lif", "out")]
    )
    path = tmp_path / "g.nir"
    write(path, g)
    with h5py.File(path, "a") as f:
        del f["node/nodes/lif/v_reset"]
    back = read(path)
    assert set(back.nodes) == set(g.nodes) and sorted(back.edges) == sorted(g.edges)
    np.testing.assert_array_equal(back.nodes["lif"].v_reset, np.zeros(3))
    x = jnp.asarray(_spikes((10, 2, 3), scale=3.0))
    np.testing.assert_array_equal(
        np.asarray(run(from_nir(path, DT), x)[0]), np.asarray(run(from_nir(g, DT), x)[0])
    )


def test_read_real_files_tolerantly(nir_refs):
    with pytest.warns(UserWarning, match="reading those edges as 'lif1'"):
        g = read(nir_refs / "graphs" / "braille_noDelay_noBias_subtract_subgraph.nir")
    assert ("lif1", "lin") in g.nodes["lif1"].edges
    g = read(nir_refs / "graphs" / "lif_rockpool.nir")  # Output shape [1, 1, 1]
    model = from_nir(g, 1e-4)
    assert model.nir_names == ("0_LinearTorch", None, "1_LIFNeuronTorch")  # Linear, its r dt / tau, LIF
    ref = np.load(nir_refs / "lif_rockpool__paper1000__numpy_nir_euler.npz")  # numpy Euler at dt = 1e-4
    np.testing.assert_array_equal(np.asarray(run(model, jnp.asarray(ref["x"]))[0]), ref["out"])
    model = from_nir(nir_refs / "graphs" / "two_lif_neurons.nir", 1e-4)
    assert model.nir_names == ("linear1", None, "lif1", "linear2", None, "lif2")


# -- malformed input --------------------------------------------------------------------------


def _bad(case):
    io = _io(3, 3)
    if case == "missing node":
        return _graph({**io, "lif": _lif(3)}, [("in", "lif"), ("lif", "ghost"), ("lif", "out")])
    if case == "shape mismatch":
        return _graph(
            {**io, "d": _affine(4, 3, 0), "lif": _lif(3)}, [("in", "d"), ("d", "lif"), ("lif", "out")]
        )
    if case == "no input":
        return _graph({"lif": _lif(3), "out": io["out"]}, [("lif", "out")])
    if case == "unknown type":

        @dataclasses.dataclass(eq=False)
        class Mystery(nir.NIRNode):
            gain: float = 1.0

        return _graph({**io, "m": Mystery()}, [("in", "m"), ("m", "out")])
    if case in ("nan tau", "negative tau", "tau below dt"):
        tau = {"nan tau": np.nan, "negative tau": -1e-3, "tau below dt": DT / 2}[case]
        lif = _lif(3)
        lif.tau = np.array([5e-3, tau, 5e-3])
        return _graph({**io, "lif": lif}, [("in", "lif"), ("lif", "out")])
    if case == "unreachable cycle":
        return _graph(
            {**io, "a": _lif(3), "w": _affine(3, 3, 1), "d": _affine(3, 3, 2)},
            [("in", "d"), ("d", "out"), ("a", "w"), ("w", "a")],
        )
    if case == "dead end":
        return _graph({**io, "a": _lif(3), "probe": _lif(3)}, [("in", "a"), ("a", "out"), ("a", "probe")])
    if case == "fractional delay":
        return _graph({**io, "dl": nir.Delay(delay=np.full(3, 1.5 * DT))}, [("in", "dl"), ("dl", "out")])
    if case == "output shape":
        return _graph({**_io(3, 5), "d": _affine(3, 4, 3)}, [("in", "d"), ("d", "out")])
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("missing node", r"names node 'ghost', which does not exist"),
        ("shape mismatch", r"node 'd' \(Affine\), field 'input': expected shape \(4,\).*got shape \(3,\)"),
        ("no input", "no Input node"),
        ("unknown type", r"node 'm' \(Mystery\), field 'type'"),
        ("nan tau", r"node 'lif' \(LIF\), field 'tau': expected finite values, got \[nan\]"),
        ("negative tau", r"node 'lif' \(LIF\), field 'tau': expected positive finite values, got \[-0.001\]"),
        ("tau below dt", r"node 'lif' \(LIF\), field 'tau': expected values >= dt"),
        ("unreachable cycle", r"cannot be reached from an Input node"),
        ("dead end", r"nodes \['probe'\] have no path to an Output node"),
        ("fractional delay", r"node 'dl' \(Delay\), field 'delay': expected non-negative multiples of dt"),
        ("output shape", r"node 'out' \(Output\), field 'shape'"),
    ],
)
def test_malformed_graphs_raise_nirerror_without_hanging(case, match):
    graph = _bad(case)
    with pytest.raises(NIRError, match=match):
        no_hang(from_nir, graph, DT)


def test_bad_files(tmp_path):
    text = tmp_path / "notes.nir"
    text.write_text("not an HDF5 file")
    with pytest.raises(NIRError, match=r"notes\.nir"):
        read(text)
    good = tmp_path / "good.nir"
    write(good, _graph({**_io(3, 3), "lif": _lif(3)}, [("in", "lif"), ("lif", "out")]))
    cut = tmp_path / "cut.nir"
    cut.write_bytes(good.read_bytes()[:1500])
    with pytest.raises(NIRError, match=r"cut\.nir"):
        no_hang(from_nir, cut, DT)
    with h5py.File(good, "a") as f:
        del f["node/nodes/lif/type"]
        f["node/nodes/lif/type"] = "Foo"
    with pytest.raises(NIRError, match="unknown NIR node type 'Foo'"):
        read(good)
    with pytest.raises(NIRError, match="does not exist"):
        read(tmp_path / "absent.nir")


def test_bad_arguments():
    g = _graph({**_io(3, 3), "lif": _lif(3)}, [("in", "lif"), ("lif", "out")])
    with pytest.raises(TypeError, match="`dt` must be a positive number"):
        from_nir(g, None)
    with pytest.raises(ValueError, match="`reset` must be None, 'zero' or 'subtract', got 'none'"):
        from_nir(g, DT, reset="none")
    with pytest.raises(TypeError, match=r"`graph_or_path` must be a nir\.NIRGraph"):
        from_nir(42, DT)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_nir(g, DT)  # a clean graph imports without warnings


@pytest.mark.parametrize(
    ("start", "end", "out"), [(1, 2, (2, 12)), (0, 1, (6, 4)), (0, 2, (24,)), (1, 1, (2, 3, 4))]
)
def test_partial_flatten_in_channels_first_order(start, end, out):
    g = _graph(
        {
            "in": nir.Input(input_type=np.array([2, 3, 4])),
            "f": nir.Flatten(input_type={"input": np.array([2, 3, 4])}, start_dim=start, end_dim=end),
            "out": nir.Output(output_type=np.array(out)),
        },
        [("in", "f"), ("f", "out")],
    )
    x = RNG.normal(size=(2, 3, 2, 3, 4)).astype(np.float32)
    y = np.asarray(run(from_nir(g, DT), jnp.asarray(x))[0])
    np.testing.assert_array_equal(y, x.reshape(2, 3, *out))


def test_public_names():
    import snnx.nir

    assert sorted(snnx.nir.__all__) == [
        "NIRError", "PeerNeuron", "convert", "dialects", "exportable_types", "from_nir", "read",
        "refused_types", "to_nir", "write",
    ]  # fmt: skip
    assert issubclass(NIRError, ValueError)
