"""Spyx 1.0 exporting and re-importing its own NIR files, and importing others' files.

Run in a peer environment (``requirements-spyx.txt`` beside this file), never the
project's ``.venv``::

    python3 -m venv /work/peers/venv-a
    /work/peers/venv-a/bin/pip install -r tests/data/nir-peers/requirements-spyx.txt
    /work/peers/venv-a/bin/python tests/data/nir-peers/make_spyx.py tests/data/nir-peers

For each small network it builds the model natively (seeded weights), exports it with
``spyx.nir.to_nir(..., dt=DT)`` to ``spyx_<net>.nir``, reads that file back with
``nir.read`` and runs it with ``spyx.nir.from_nir(graph, x, dt=DT, return_all_states=True)``
(which builds a ``spyx.nn.Sequential`` and scans it with ``jax.lax.scan``). The result
goes to ``spyx_<net>.npz`` (layout: README.md). It then imports foreign graphs
(tests/data/nir-refs/graphs and the snnTorch/Norse files of this folder, when present)
into Spyx and saves ``spyx_runs_<graph>.npz``.

Every run is checked against ``spyx_transcription`` below: a numpy transcription of
what the Spyx import does (source lines cited in README.md). The transcription is
evidence for the README, not a test.
"""

import json
import sys
import traceback
from pathlib import Path

import flax
import jax
import jax.numpy as jnp
import nir
import numpy as np
import spyx
import spyx.nn as snn
from flax import nnx

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
REFS = Path(__file__).resolve().parent.parent / "nir-refs" / "graphs"
DT = 1e-3
T, B, P = 60, 2, 0.3
BETA, ALPHA = 0.8, 0.7  # tau_mem = 5 ms, tau_syn = 3.33 ms at dt = 1 ms
THR, THR_OUT = 1.25, 0.9
VERSIONS = {
    "spyx": spyx.__version__,
    "jax": jax.__version__,
    "flax": flax.__version__,
    "nir": nir.__version__,
}


def spikes_input(shape, seed):
    rng = np.random.default_rng(seed)
    return (rng.random((T, B, *tuple(shape))) < P).astype(np.float32)


def dense(rng, n_out, n_in, mean=0.35, std=0.9):
    """NIR layout (out, in) weight and a non-zero bias."""
    w = rng.normal(mean, std, (n_out, n_in)).astype(np.float32)
    b = rng.normal(0.1, 0.1, (n_out,)).astype(np.float32)
    return w, b


def set_linear(layer, w, b=None):
    layer.kernel[...] = jnp.asarray(w.T)
    if b is not None:
        layer.bias[...] = jnp.asarray(b)


# --------------------------------------------------------------------------------------
# numpy transcription of spyx.nir.from_nir (+ spyx.nn neuron steps)
# --------------------------------------------------------------------------------------


def _chain(graph):
    """spyx/nir.py:262-274: follow edges from the node literally named 'input'."""
    order, cur = [], "input"
    while cur != "output":
        nxt = next((d for s, d in graph.edges if s == cur), None)
        if nxt is None:
            break
        order.append(cur)
        cur = nxt
    return order[1:]


def _conv2d_chw(x, w, b, stride, pad):
    """Cross-correlation, x (B, C, H, W), w OIHW, symmetric integer padding."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    o, _, kh, kw = w.shape
    hh = (xp.shape[2] - kh) // stride[0] + 1
    ww = (xp.shape[3] - kw) // stride[1] + 1
    y = np.zeros((x.shape[0], o, hh, ww), np.float64)
    for i in range(hh):
        for j in range(ww):
            patch = xp[:, :, i * stride[0] : i * stride[0] + kh, j * stride[1] : j * stride[1] + kw]
            y[:, :, i, j] = np.einsum("bchw,ochw->bo", patch, w)
    return y + (0 if b is None else b[None, :, None, None])


def spyx_transcription(graph, x, dt):
    """What Spyx 1.0 computes for ``graph`` (NIR layout in and out). Returns (out, states)."""
    names = _chain(graph)
    states, mem = {}, {}
    outs = []
    for t in range(x.shape[0]):
        h = x[t].astype(np.float64)
        for name in names:
            node = graph.nodes[name]
            if isinstance(node, nir.Affine):
                h = h @ node.weight.T + node.bias
            elif isinstance(node, nir.Linear):
                h = h @ node.weight.T
            elif isinstance(node, nir.Conv2d):
                pad = (int(node.padding[0]), int(node.padding[1]))
                st = np.atleast_1d(node.stride).astype(int).tolist()
                st = st * 2 if len(st) == 1 else st
                h = _conv2d_chw(h, node.weight, node.bias, st, pad)
            elif isinstance(node, nir.Flatten):
                # spyx.nn.Flatten reshapes the channels-last tensor: (C,H,W) -> H,W,C order
                h = h.transpose(0, 2, 3, 1).reshape(h.shape[0], -1) if h.ndim == 4 else h
            elif isinstance(node, (nir.LIF, nir.CubaLIF, nir.IF)):
                thr = np.asarray(node.v_threshold, np.float64)
                v = mem.get(name, np.zeros_like(h))
                s = (v - thr > 0).astype(np.float64)  # spike on the PREVIOUS membrane
                if isinstance(node, nir.LIF):
                    beta = np.clip(1 - dt / np.asarray(node.tau, np.float64), 0, 1)
                    v = beta * v + h - s * thr  # r, v_leak, v_reset ignored
                elif isinstance(node, nir.IF):
                    v = v + h - s * thr  # r, v_reset ignored
                else:
                    alpha = np.clip(1 - dt / np.asarray(node.tau_syn, np.float64), 0, 1)
                    beta = np.clip(1 - dt / np.asarray(node.tau_mem, np.float64), 0, 1)
                    i = mem.get(name + ":i", np.zeros_like(h))
                    v = v - s * thr  # subtract BEFORE the decay
                    i = alpha * i + h  # w_in ignored
                    v = beta * v + i  # r ignored
                    mem[name + ":i"] = i
                    states.setdefault("i__" + name, []).append(i)
                mem[name] = v
                states.setdefault("v__" + name, []).append(v)
                h = s
            elif isinstance(node, nir.NIRGraph):  # RLIF subgraph (spyx/nir.py:230-239)
                lif = next(n for n in node.nodes.values() if isinstance(n, (nir.LIF, nir.CubaLIF, nir.IF)))
                wrec = next(n for n in node.nodes.values() if isinstance(n, (nir.Affine, nir.Linear)))
                thr = np.asarray(lif.v_threshold, np.float64)
                v = mem.get(name, np.zeros_like(h))
                s = (v - thr > 0).astype(np.float64)
                fb = s @ wrec.weight.T  # recurrent bias (if Affine) is dropped
                if isinstance(lif, nir.LIF):
                    beta = np.clip(1 - dt / np.asarray(lif.tau, np.float64), 0, 1)
                    v = beta * v + h + fb - s * thr
                else:
                    raise NotImplementedError(type(lif))
                mem[name] = v
                states.setdefault("v__" + name, []).append(v)
                h = s
            else:
                raise NotImplementedError(type(node))
        outs.append(h)
    return np.stack(outs), {k: np.stack(v) for k, v in states.items()}


# --------------------------------------------------------------------------------------
# running the Spyx import
# --------------------------------------------------------------------------------------


def _to_spyx_layout(x):
    """NIR (T, B, C, H, W) -> Spyx channels-last (T, B, H, W, C)."""
    return np.moveaxis(x, 2, -1) if x.ndim == 5 else x


def _to_nir_layout(a):
    return np.moveaxis(a, -1, 2) if a.ndim == 5 else a


def spyx_import_run(path, x, dt):
    """nir.read + spyx.nir.from_nir; returns (out, states, info)."""
    graph = nir.read(path)
    info = {
        "how": f"g = nir.read(file); model, (out, states) = spyx.nir.from_nir(g, x, dt={dt}, "
        "return_all_states=True); x fed channels-last (T, B, H, W, C) for 5-d inputs"
    }
    try:
        model, (out, st) = spyx.nir.from_nir(
            graph, jnp.asarray(_to_spyx_layout(x)), dt=dt, return_all_states=True
        )
    except Exception as e:
        info["import_error"] = f"{type(e).__name__}: {e}"
        info["traceback_tail"] = traceback.format_exc().splitlines()[-3:]
        return None, {}, info
    graph = nir.read(path)
    names = _chain(spyx.nir._replace_rnn_subgraph_with_nirgraph(graph))
    mapped = [n for n in names if not isinstance(graph.nodes[n], (nir.Input, nir.Output))]
    info["modules"] = [
        {
            "nir_node": n,
            "nir_type": type(graph.nodes[n]).__name__,
            "spyx_module": type(m).__name__,
            **({"beta": np.asarray(m.beta[...]).ravel()[:1].tolist()} if hasattr(m, "beta") else {}),
            **({"alpha": np.asarray(m.alpha[...]).ravel()[:1].tolist()} if hasattr(m, "alpha") else {}),
            **(
                {"threshold": np.asarray(m.threshold).ravel()[:1].tolist()} if hasattr(m, "threshold") else {}
            ),
        }
        for n, m in zip(mapped, model.layers, strict=False)
    ]
    all_nodes = [k for k, v in graph.nodes.items() if not isinstance(v, (nir.Input, nir.Output))]
    dropped = [k for k in all_nodes if k not in mapped]
    if dropped:
        info["dropped_nodes"] = dropped
    states = {}
    for n, m, s in zip(mapped, model.layers, st, strict=False):
        if s is None:
            continue
        s = np.asarray(s)
        if type(m).__name__ in ("CuBaLIF", "RCuBaLIF"):
            v, i = np.split(s, 2, axis=-1)
            states["v__" + n], states["i__" + n] = _to_nir_layout(v), _to_nir_layout(i)
        else:
            states["v__" + n] = _to_nir_layout(s)
    return _to_nir_layout(np.asarray(out)), states, info


def check(graph_path, x, dt, out, states):
    """Assert the numpy transcription reproduces the peer's numbers."""
    g = nir.read(graph_path)
    g = spyx.nir._replace_rnn_subgraph_with_nirgraph(g)
    ref_out, ref_states = spyx_transcription(g, x, dt)
    assert np.array_equal(ref_out.astype(np.float32), out.astype(np.float32)) or np.allclose(
        ref_out, out, atol=1e-4
    ), f"{graph_path.name}: out differs, max {np.abs(ref_out - out).max()}"
    for k, v in states.items():
        assert np.allclose(ref_states[k], v, atol=1e-4), f"{graph_path.name}: {k} differs"
    return "numpy transcription (spyx_transcription in make_spyx.py) reproduces out and states (atol 1e-4)"


def save(name, x, out, states, meta, native=None):
    arrays = {"x": x}
    if out is not None:
        arrays["out"] = np.asarray(out, np.float32)
    # conv hidden-layer membranes (5-d) are left out to keep the folder small
    arrays.update({k: np.asarray(v, np.float32) for k, v in states.items() if np.ndim(v) < 5})
    if native is not None:
        arrays["native"] = np.asarray(native, np.float32)
    np.savez_compressed(OUT / f"{name}.npz", **arrays, meta=json.dumps(meta))
    n = "-" if out is None else int(np.asarray(out).sum()) if out.max() <= 1 else "analog"
    print(f"{name}: out spikes {n}; {meta.get('import_error', '')}{meta.get('dropped_nodes', '')}")


# --------------------------------------------------------------------------------------
# the networks
# --------------------------------------------------------------------------------------


def build(net, rng):
    r = nnx.Rngs(0)
    if net in ("lif", "cubalif", "if", "rlif"):
        lin = nnx.Linear(8, 5, rngs=r)
        set_linear(lin, *dense(rng, 5, 8))
        neuron = {
            "lif": lambda: snn.LIF((5,), beta=BETA, threshold=THR, rngs=r),
            "cubalif": lambda: snn.CuBaLIF((5,), alpha=ALPHA, beta=BETA, threshold=THR, rngs=r),
            "if": lambda: snn.IF((5,), threshold=THR),
            "rlif": lambda: snn.RLIF((5,), beta=BETA, threshold=THR, rngs=r),
        }[net]()
        if net == "rlif":
            neuron.recurrent_w[...] = jnp.asarray(rng.normal(0.0, 0.6, (5, 5)), jnp.float32)
        return snn.Sequential(lin, neuron), (8,), "Linear(8->5, bias) -> " + type(neuron).__name__
    if net == "li":
        l1, l2 = nnx.Linear(8, 5, rngs=r), nnx.Linear(5, 3, rngs=r)
        set_linear(l1, *dense(rng, 5, 8))
        set_linear(l2, *dense(rng, 3, 5, 0.2, 0.8))
        model = snn.Sequential(
            l1, snn.LIF((5,), beta=BETA, threshold=THR, rngs=r), l2, snn.LI((3,), beta=BETA, rngs=r)
        )
        return model, (8,), "Linear(8->5) -> LIF -> Linear(5->3) -> LI (membrane out)"
    if net == "conv":
        conv = nnx.Conv(2, 4, (3, 3), padding=[(1, 1), (1, 1)], rngs=r)
        w = rng.normal(0.15, 0.4, (4, 2, 3, 3)).astype(np.float32)  # OIHW
        conv.kernel[...] = jnp.asarray(w.transpose(2, 3, 1, 0))  # HWIO
        conv.bias[...] = jnp.asarray(rng.normal(0.05, 0.05, (4,)), jnp.float32)
        lin = nnx.Linear(144, 3, rngs=r)
        # native Spyx layout: this dense layer sees the H*W*C (channels-last) flatten
        set_linear(lin, *dense(rng, 3, 144, 0.02, 0.15))
        model = snn.Sequential(
            conv,
            snn.LIF((6, 6, 4), beta=BETA, threshold=THR, rngs=r),
            snn.Flatten(),
            lin,
            snn.LIF((3,), beta=BETA, threshold=THR_OUT, rngs=r),
        )
        return (
            model,
            (2, 6, 6),
            (
                "Conv(2->4, 3x3, pad 1) -> LIF(6,6,4) -> Flatten -> Linear(144->3) -> LIF; "
                "native dense weights act on Spyx's H,W,C flatten order"
            ),
        )
    raise KeyError(net)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    nets = ["lif", "cubalif", "if", "li", "conv", "rlif"]
    for k, net in enumerate(nets):
        rng = np.random.default_rng(100 + k)
        model, in_shape, desc = build(net, rng)
        x = spikes_input(in_shape, 200 + k)
        native, _ = snn.run(model, jnp.asarray(_to_spyx_layout(x)))
        native = _to_nir_layout(np.asarray(native))
        graph = spyx.nir.to_nir(
            model, {"input": np.array(in_shape)}, {"output": np.array(native.shape[2:])}, dt=DT
        )
        path = OUT / f"spyx_{net}.nir"
        nir.write(path, graph, compression=None)  # uncompressed HDF5: half the size for small arrays
        out, states, info = spyx_import_run(path, x, DT)
        meta = {
            "peer": "spyx",
            "versions": VERSIONS,
            "dt": DT,
            "net": desc,
            "x": f"Bernoulli(p={P}) spikes, seed {200 + k}, NIR layout (T, B, *C-first shape)",
            "export": f"spyx.nir.to_nir(model, {{'input': {list(in_shape)}}}, ..., dt={DT}); nir.write",
            "native": "spyx.nn.run(model, x) of the native model (channels-last input for conv)",
            "nir_nodes": {k2: type(v).__name__ for k2, v in graph.nodes.items()},
            **info,
        }
        if net == "li":
            meta["export_note"] = (
                "to_nir printed '[Warning] Layer LI not recognized/supported for NIR "
                "export' and skipped it: the file ends at the Linear(5->3), so `out` is "
                "that Linear's output of the hidden spikes, `native` is the LI membrane"
            )
            meta["dropped_on_export"] = ["LI (layer_3)"]
        if out is not None:
            meta["check"] = check(path, x, DT, out, states)
        save(f"spyx_{net}", x, out, states, meta, native)

    # reverse direction: foreign graphs run by Spyx
    foreign = [
        (REFS / "lif_norse.nir", 1e-4),
        (REFS / "snntorch_export_leaky.nir", 1e-4),
        (REFS / "snntorch_export_synaptic.nir", 1e-4),
        (REFS / "spyx_export_lif.nir", 1e-3),
    ]
    for p in sorted(OUT.glob("snntorch_*.nir")) + sorted(OUT.glob("norse_*.nir")):
        dt = (
            json.loads(str(np.load(p.with_suffix(".npz"))["meta"]))["dt"]
            if p.with_suffix(".npz").exists()
            else None
        )
        if dt is not None and "_runs_" not in p.stem:
            foreign.append((p, dt))
    for k, (path, dt) in enumerate(foreign):
        g = nir.read(path)
        inp = next(n for n in g.nodes.values() if isinstance(n, nir.Input))
        shape = tuple(int(d) for d in np.asarray(next(iter(inp.input_type.values()))).ravel())
        x = spikes_input(shape, 300 + k)
        out, states, info = spyx_import_run(path, x, dt)
        meta = {
            "peer": "spyx",
            "versions": VERSIONS,
            "dt": dt,
            "graph": str(path.name),
            "x": f"Bernoulli(p={P}) spikes, seed {300 + k}, NIR layout",
            **info,
        }
        if out is not None:
            try:
                meta["check"] = check(path, x, dt, out, states)
            except (AssertionError, NotImplementedError) as e:
                meta["check"] = f"transcription FAILED: {e}"
                print("CHECK FAILED", path.name, e)
        save(f"spyx_runs_{path.stem}", x, out, states, meta)


if __name__ == "__main__":
    main()
