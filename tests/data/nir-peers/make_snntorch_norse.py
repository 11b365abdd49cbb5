"""snnTorch 1.0 and Norse 1.1 exporting and re-importing their own NIR files, and importing others'.

Run in a peer environment (``requirements-torch-peers.txt`` beside this file), never the
project's ``.venv``::

    python3 -m venv /work/peers/venv-a
    /work/peers/venv-a/bin/pip install -r tests/data/nir-peers/requirements-torch-peers.txt
    /work/peers/venv-a/bin/python tests/data/nir-peers/make_snntorch_norse.py tests/data/nir-peers

Per network: build natively (seeded weights), run natively (``native``), export
(``snntorch.export_to_nir`` / ``norse.torch.to_nir``) to ``<peer>_<net>.nir``, read the file
back with ``nir.read``, import it (``snntorch.import_from_nir`` / ``norse.torch.from_nir``)
and step the imported module once per time step (``out, state = m(x[t], state)``). Then the
reverse direction: each peer imports the reference graphs of tests/data/nir-refs/graphs,
the other torch peer's files and ``spyx_*.nir`` (when make_spyx.py has run):
``<peer>_runs_<graph>.npz``. Every run is compared with a numpy transcription of the import
(``snntorch_transcription`` / ``norse_transcription``), which is evidence for README.md, not
a test.
"""

import contextlib
import io
import json
import logging
import sys
import traceback
import warnings
from pathlib import Path

import nir
import nirtorch
import norse
import norse.torch as nt
import numpy as np
import snntorch
import snntorch as snn
import snntorch.export_nir
import snntorch.import_nir
import snntorch.utils
import torch
from norse.torch.functional.iaf import IAFParameters
from norse.torch.functional.leaky_integrator_box import LIBoxParameters
from norse.torch.functional.lif import LIFParameters
from norse.torch.functional.lif_box import LIFBoxParameters
from norse.torch.module.iaf import IAFCell
from norse.torch.module.leaky_integrator_box import LIBoxCell
from norse.torch.module.lif import LIFCell
from norse.torch.module.lif_box import LIFBoxCell

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
torch.manual_seed(0)

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
REFS = Path(__file__).resolve().parent.parent / "nir-refs" / "graphs"
T, B, P = 60, 2, 0.3
BETA, ALPHA = 0.8, 0.7
THR, THR_OUT = 1.25, 0.9
SNNTORCH_DT = 1e-4  # hard-coded in snntorch/export_nir.py and import_nir.py
NORSE_DT = 1.0  # see README: Norse's exporter writes tau = dt * tau_mem, right only at dt = 1
VERSIONS = {
    "snntorch": snntorch.__version__,
    "norse": norse.__version__,
    "torch": torch.__version__,
    "nir": nir.__version__,
    "nirtorch": nirtorch.__version__,
}


def spikes_input(shape, seed):
    rng = np.random.default_rng(seed)
    return (rng.random((T, B, *tuple(shape))) < P).astype(np.float32)


def dense(rng, n_out, n_in, mean=0.35, std=0.9):
    w = rng.normal(mean, std, (n_out, n_in)).astype(np.float32)
    b = rng.normal(0.1, 0.1, (n_out,)).astype(np.float32)
    return w, b


def torch_linear(w, b=None):
    m = torch.nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
    m.weight.data = torch.from_numpy(w)
    if b is not None:
        m.bias.data = torch.from_numpy(b)
    return m


def torch_conv(rng):
    m = torch.nn.Conv2d(2, 4, 3, padding=1)
    m.weight.data = torch.from_numpy(rng.normal(0.15, 0.4, (4, 2, 3, 3)).astype(np.float32))
    m.bias.data = torch.from_numpy(rng.normal(0.05, 0.05, (4,)).astype(np.float32))
    return m


def quiet(fn, *a, **k):
    with contextlib.redirect_stdout(io.StringIO()) as buf:
        r = fn(*a, **k)
    return r, buf.getvalue()


# --------------------------------------------------------------------------------------
# numpy helpers shared by the transcriptions
# --------------------------------------------------------------------------------------


def conv2d(x, node):
    w, b = node.weight.astype(np.float64), node.bias
    pad = np.atleast_1d(node.padding).astype(int).tolist()
    pad = pad * 2 if len(pad) == 1 else pad
    st = np.atleast_1d(node.stride).astype(int).tolist()
    st = st * 2 if len(st) == 1 else st
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    kh, kw = w.shape[-2:]
    hh, ww = (xp.shape[2] - kh) // st[0] + 1, (xp.shape[3] - kw) // st[1] + 1
    y = np.zeros((x.shape[0], w.shape[0], hh, ww))
    for i in range(hh):
        for j in range(ww):
            y[:, :, i, j] = np.einsum(
                "bchw,ochw->bo", xp[:, :, i * st[0] : i * st[0] + kh, j * st[1] : j * st[1] + kw], w
            )
    return y + b[None, :, None, None]


def topo(graph):
    """Feed-forward order of the non-I/O nodes (graphs here are chains; cycles only inside subgraphs)."""
    inp = next(k for k, v in graph.nodes.items() if isinstance(v, nir.Input))
    order, frontier, seen = [], [inp], {inp}
    while frontier:
        cur = frontier.pop(0)
        for s, d in graph.edges:
            if s == cur and d not in seen:
                seen.add(d)
                frontier.append(d)
                if not isinstance(graph.nodes[d], (nir.Input, nir.Output)):
                    order.append(d)
    return order


def stateless(node, h):
    if isinstance(node, nir.Affine):
        return h @ node.weight.T.astype(np.float64) + node.bias
    if isinstance(node, nir.Linear):
        return h @ node.weight.T.astype(np.float64)
    if isinstance(node, nir.Conv2d):
        return conv2d(h, node)
    if isinstance(node, nir.Flatten):
        # torch.nn.Flatten(node.start_dim, node.end_dim) applied WITH the batch axis
        return torch.nn.Flatten(int(node.start_dim), int(node.end_dim))(torch.from_numpy(h)).numpy()
    raise NotImplementedError(type(node).__name__)


def input_feeds_wrec(sub):
    inp = next(k for k, v in sub.nodes.items() if isinstance(v, nir.Input))
    return any(a == inp and isinstance(sub.nodes[b], (nir.Linear, nir.Affine)) for a, b in sub.edges)


def run_chain(graph, x, step_neuron):
    """Step the nodes in feed-forward order. An edge from a node not yet computed in this step
    (a back edge) carries that node's output of the previous step, nothing at t = 0: this is
    what both nirtorch executors do (graph_executor.py:112-121, nir_interpreter.py:248-255)."""
    names = topo(graph)
    inp = next(k for k, v in graph.nodes.items() if isinstance(v, nir.Input))
    mem, rec, prev = {}, {}, {}
    outs = []
    for t in range(x.shape[0]):
        cur = {inp: x[t].astype(np.float64)}
        for n in names:
            srcs = [a for a, b in graph.edges if b == n]
            parts = [cur[a] if a in cur else prev[a] for a in srcs if a in cur or a in prev]
            h = parts[0] if len(parts) == 1 else np.sum(parts, axis=0)
            node = graph.nodes[n]
            if isinstance(node, (nir.LIF, nir.CubaLIF, nir.IF, nir.LI, nir.NIRGraph)):
                h, st = step_neuron(n, node, h, mem, t)
                for k, v in st.items():
                    rec.setdefault(f"{k}__{n}", []).append(v)
            else:
                h = stateless(node, h)
            cur[n] = h
        prev = cur
        out_node = next(k for k, v in graph.nodes.items() if isinstance(v, nir.Output))
        last = next(a for a, b in graph.edges if b == out_node)
        outs.append(cur[last])
    return np.stack(outs), {k: np.stack(v) for k, v in rec.items()}


# ---- snnTorch (snntorch/import_nir.py + snntorch/_neurons) ----------------------------


def _snn_lif_params(node):
    dt = SNNTORCH_DT  # import_nir.py:243
    beta = 1 - dt / node.tau
    w_scale = node.r * dt / node.tau
    vthr = node.v_threshold
    if not np.allclose(w_scale, 1.0):
        vthr = vthr / np.unique(w_scale)[0]  # import_nir.py:254-256
    return beta.astype(np.float32).astype(np.float64), float(np.float32(np.unique(vthr)[0]))


def snntorch_transcription(graph, x):
    def step(name, node, h, mem, t):
        if isinstance(node, nir.LIF):  # snn.Leaky(reset zero, reset_delay False)
            beta, thr = _snn_lif_params(node)
            m = mem.get(name, np.zeros_like(h))
            reset = (m - thr > 0).astype(float)  # leaky.py:209 (previous membrane)
            m = (1 - reset) * m  # _base_zero leaky.py:245-247
            m = beta * m + h
            s = (m - thr > 0).astype(float)
            m = m - (s - reset) * m  # leaky.py:222-229
            mem[name] = m
            return s, {"v": m}
        if isinstance(node, nir.CubaLIF):
            dt = SNNTORCH_DT
            a, b = 1 - dt / node.tau_syn, 1 - dt / node.tau_mem
            a, b = [np.float64(np.float32(np.unique(q)[0])) for q in (a, b)]
            w_scale = node.w_in * dt / node.tau_syn
            thr = node.v_threshold / w_scale if not np.allclose(w_scale, 1.0) else node.v_threshold
            thr = float(np.float32(np.unique(thr)[0]))
            m, syn = mem.get(name, np.zeros_like(h)), mem.get(name + ":i", np.zeros_like(h))
            reset = (m - thr > 0).astype(float)
            syn = a * syn + h
            m = (b * m + syn) * (1 - reset)  # synaptic.py:281-286
            s = (m - thr > 0).astype(float)
            m = m - (s - reset) * m
            mem[name], mem[name + ":i"] = m, syn
            return s, {"v": m, "i": syn}
        if isinstance(node, nir.NIRGraph):  # LIF <-> W_rec cycle run by nirtorch.nir_to_torch
            lif = next(n for n in node.nodes.values() if isinstance(n, nir.LIF))
            wrec = next(n for n in node.nodes.values() if isinstance(n, (nir.Linear, nir.Affine)))
            beta, thr = _snn_lif_params(lif)
            m = mem.get(name, np.zeros_like(h))
            fb = mem.get(name + ":fb", np.zeros_like(h))  # t = 0: zeros, not the bias
            b = wrec.bias if isinstance(wrec, nir.Affine) else 0
            if input_feeds_wrec(node):  # Spyx's subgraph wiring: input -> w_rec -> lif
                i_lif = (h + mem.get(name + ":s", np.zeros_like(h))) @ wrec.weight.T.astype(np.float64) + b
            else:
                i_lif = h + fb
            reset = (m - thr > 0).astype(float)
            m = beta * ((1 - reset) * m) + i_lif
            s = (m - thr > 0).astype(float)
            m = m - (s - reset) * m
            fb = s @ wrec.weight.T.astype(np.float64) + b
            mem[name], mem[name + ":fb"], mem[name + ":s"] = m, fb, s
            return s, {"v": m}
        raise NotImplementedError(type(node).__name__)

    return run_chain(graph, x, step)


# ---- Norse (norse/torch/utils/import_nir.py + functional steps) ------------------------


def norse_transcription(graph, x, dt):
    def step(name, node, h, mem, t):
        if isinstance(node, nir.LIF):  # LIFBoxCell: r and v_reset ignored, v starts at v_leak
            vl = node.v_leak.astype(np.float64)
            v = mem.get(name, np.broadcast_to(vl, h.shape))
            v = v + dt * (1 / node.tau.astype(np.float32)) * (h + vl - v)
            s = (v - node.v_threshold > 0).astype(float)
            v = (1 - s) * v  # reset_value to p.v_reset = 0
            mem[name] = v
            return s, {"v": v}
        if isinstance(node, nir.IF):  # IAFCell: v starts at v_reset = 0, r ignored
            v = mem.get(name, np.zeros_like(h)) + h
            s = (v - node.v_threshold > 0).astype(float)
            v = (1 - s) * v
            mem[name] = v
            return s, {"v": v}
        if isinstance(node, nir.CubaLIF):  # import_nir.py:38-52, 96-118
            vl = node.v_leak.astype(np.float64)
            i = mem.get(name + ":i", np.broadcast_to(vl, h.shape))
            v = mem.get(name, np.broadcast_to(vl, h.shape))
            i = i + dt * (1 / node.tau_syn.astype(np.float32)) * ((vl - i) + node.w_in * h)
            v = v + dt * (1 / node.tau_mem.astype(np.float32)) * (node.r * i + vl - v)
            s = (v - node.v_threshold > 0).astype(float)
            v = (1 - s) * v
            mem[name], mem[name + ":i"] = v, i
            return s, {"v": v, "i": i}
        if isinstance(node, nir.LI):
            # no LI mapping (import_nir.py:58-140 returns None): nirtorch skips the node and the
            # graph returns the output of the node executed before Output (graph_executor.py:165-167)
            return h, {}
        if isinstance(node, nir.NIRGraph):  # nested GraphExecutor: back edge sends nothing at t = 0
            lif = next(n for n in node.nodes.values() if isinstance(n, (nir.LIF, nir.CubaLIF)))
            wrec = next(n for n in node.nodes.values() if isinstance(n, (nir.Linear, nir.Affine)))
            fb = mem.get(name + ":fb", np.zeros_like(h))
            b = wrec.bias if isinstance(wrec, nir.Affine) else 0
            if input_feeds_wrec(node):  # Spyx's subgraph wiring: input -> w_rec -> lif
                s_prev = mem.get(name + ":s")
                pre = h if s_prev is None else h + s_prev  # t = 0: the back edge sends nothing
                s, st = step(name + ".lif", lif, pre @ wrec.weight.T.astype(np.float64) + b, mem, t)
                mem[name + ":s"] = s
                return s, st
            s, st = step(name + ".lif", lif, h + fb, mem, t)
            mem[name + ":fb"] = s @ wrec.weight.T.astype(np.float64) + (
                wrec.bias if isinstance(wrec, nir.Affine) else 0
            )
            return s, st
        raise NotImplementedError(type(node).__name__)

    return run_chain(graph, x, step)


# --------------------------------------------------------------------------------------
# running the imports
# --------------------------------------------------------------------------------------


def _neuron_modules(root):
    return {
        n: m
        for n, m in root.named_modules()
        if type(m).__name__ in ("Leaky", "Synaptic", "RLeaky", "RSynaptic")
    }


def snntorch_import_run(path, x):
    info = {
        "how": "m = snntorch.import_from_nir(nir.read(file)); state = None; "
        "for t: out_t, state = m(x[t], state)  (m is a nirtorch.nir_to_torch GraphModule; "
        "v__ read from each Leaky/Synaptic .mem/.syn after the step)",
        "dt_used_by_peer": SNNTORCH_DT,
    }
    try:
        m, printed = quiet(snntorch.import_nir.import_from_nir, nir.read(path))
        info["modules"] = {n: type(mm).__name__ for n, mm in m.named_modules() if n and "." not in n}
        neurons = _neuron_modules(m)
        info["neuron_params"] = {
            n: {
                "beta": mm.beta.detach().reshape(-1)[:1].tolist(),
                "threshold": float(mm.threshold),
                "reset_mechanism": mm.reset_mechanism,
                "init_hidden": mm.init_hidden,
                "reset_delay": mm.reset_delay,
                **({"alpha": mm.alpha.detach().reshape(-1)[:1].tolist()} if hasattr(mm, "alpha") else {}),
            }
            for n, mm in neurons.items()
        }
        if printed.strip():
            info["peer_printed"] = printed.strip().splitlines()[:4]
        outs, rec, state = [], {}, None
        with torch.no_grad():
            for t in range(x.shape[0]):
                o, state = m(torch.from_numpy(x[t]), state)
                if isinstance(o, tuple):
                    raise TypeError(f"imported module returned a {len(o)}-tuple, not a tensor, at the output")
                outs.append(o.numpy().copy())
                for n, mm in neurons.items():
                    rec.setdefault("v__" + n.replace("_", "."), []).append(mm.mem.numpy().copy())
                    if hasattr(mm, "syn"):
                        rec.setdefault("i__" + n.replace("_", "."), []).append(mm.syn.numpy().copy())
    except Exception as e:
        info["import_error"] = f"{type(e).__name__}: {e}"
        info["traceback_tail"] = traceback.format_exc().splitlines()[-3:]
        return None, {}, info
    return np.stack(outs), {k: np.stack(v) for k, v in rec.items()}, info


def norse_import_run(path, x, dt):
    info = {
        "how": f"m = norse.torch.from_nir(nir.read(file), dt={dt}); state = None; "
        "for t: out_t, state = m(x[t], state)  (m is a nirtorch GraphExecutor; v__ from state.state)",
        "dt_used_by_peer": dt,
    }
    try:
        m = nt.from_nir(nir.read(path), dt=dt)
        info["modules"] = {n: type(mm).__name__ for n, mm in m.named_modules() if n and "." not in n}
        g = nir.read(path)
        dropped = [
            k
            for k, v in g.nodes.items()
            if not isinstance(v, (nir.Input, nir.Output)) and k.replace(".", "_") not in info["modules"]
        ]
        if dropped:
            info["dropped_nodes"] = dropped
        outs, rec, state = [], {}, None
        with torch.no_grad():
            for t in range(x.shape[0]):
                o, state = m(torch.from_numpy(x[t]), state)
                outs.append(o.numpy().copy())
                for n, st in state.state.items():
                    st = st[0]
                    if isinstance(st, tuple) and type(st).__name__ == "tuple":  # CubaLIF: (syn, lif)
                        rec.setdefault("i__" + n, []).append(st[0].v.numpy().copy())
                        rec.setdefault("v__" + n, []).append(st[1].v.numpy().copy())
                    elif hasattr(st, "v"):
                        rec.setdefault("v__" + n, []).append(st.v.numpy().copy())
                    elif hasattr(st, "state"):  # nested GraphExecutor (subgraph)
                        for n2, st2 in st.state.items():
                            if hasattr(st2[0], "v"):
                                rec.setdefault(f"v__{n}.{n2}", []).append(st2[0].v.numpy().copy())
    except Exception as e:
        info["import_error"] = f"{type(e).__name__}: {e}"
        info["traceback_tail"] = traceback.format_exc().splitlines()[-3:]
        return None, {}, info
    return np.stack(outs), {k: np.stack(v) for k, v in rec.items()}, info


def check(peer, path, x, dt, out, states):
    g = nir.read(path)
    if peer == "snntorch":
        g = snntorch.import_nir._replace_rnn_subgraph_with_nirgraph(quiet(lambda: g)[0])
        ref_out, ref_states = quiet(snntorch_transcription, g, x)[0]
    else:
        ref_out, ref_states = norse_transcription(g, x, dt)
    if not np.array_equal(ref_out.astype(np.float32), out) and not np.allclose(ref_out, out, atol=1e-4):
        raise AssertionError(f"out differs: {int((np.abs(ref_out - out) > 1e-4).sum())} elements")
    compared = []
    for k, v in states.items():
        k2 = k if k in ref_states else k.replace(".lif", "") if k.replace(".lif", "") in ref_states else None
        if k2 is None:
            continue
        scale = max(1.0, float(np.abs(v).max()))
        if not np.allclose(ref_states[k2], v, atol=1e-4 * scale):
            raise AssertionError(f"{k} differs: max {np.abs(ref_states[k2] - v).max()}")
        compared.append(k)
    return f"numpy transcription ({peer}_transcription) reproduces out and {compared} (atol 1e-4 x max|v|)"


def save(name, x, out, states, meta, native=None):
    arrays = {"x": x}
    if out is not None:
        arrays["out"] = np.asarray(out, np.float32)
    big = x.ndim == 5
    arrays.update({k: np.asarray(v, np.float32) for k, v in states.items() if not (big and v.ndim == 5)})
    if native is not None:
        arrays["native"] = np.asarray(native, np.float32)
    np.savez_compressed(OUT / f"{name}.npz", **arrays, meta=json.dumps(meta))
    n = "-" if out is None else int(out.sum())
    print(
        f"{name}: out sum {n}; {meta.get('check', '')[:60]} {meta.get('import_error', '')}"
        f"{meta.get('dropped_nodes', '')}"
    )


def try_check(peer, path, x, dt, out, states, meta):
    if out is None:
        return
    try:
        meta["check"] = check(peer, path, x, dt, out, states)
    except Exception as e:
        meta["check"] = f"transcription FAILED: {type(e).__name__}: {e}"
        print("CHECK FAILED", peer, path.name, e)


def write(path, graph):
    nir.write(path, graph, compression=None)  # uncompressed HDF5 is half the size for small arrays


# --------------------------------------------------------------------------------------
# snnTorch networks
# --------------------------------------------------------------------------------------


def snntorch_net(net, rng):
    # beta / threshold as per-neuron tensors: with Python floats export_to_nir writes 0-d arrays
    # and its own nir_graph.infer_types() (export_nir.py:299) raises a type mismatch
    def full(n, v):
        return torch.full(n if isinstance(n, tuple) else (n,), float(v))

    def leaky(n, thr=THR):
        return snn.Leaky(beta=full(n, BETA), threshold=full(n, thr), init_hidden=True)

    if net == "lif":
        return torch.nn.Sequential(torch_linear(*dense(rng, 5, 8)), leaky(5)), (8,), "Linear(8->5) -> Leaky"
    if net == "cubalif":
        return (
            torch.nn.Sequential(
                torch_linear(*dense(rng, 5, 8)),
                snn.Synaptic(
                    alpha=full(5, ALPHA), beta=full(5, BETA), threshold=full(5, THR), init_hidden=True
                ),
            ),
            (8,),
            "Linear(8->5) -> Synaptic",
        )
    if net == "conv":
        return (
            torch.nn.Sequential(
                torch_conv(rng),
                leaky((4, 6, 6)),
                torch.nn.Flatten(),
                torch_linear(*dense(rng, 3, 144, 0.02, 0.15)),
                leaky(3, THR_OUT),
            ),
            (2, 6, 6),
            "Conv2d(2->4, 3x3, pad 1) -> Leaky -> Flatten -> Linear(144->3) -> Leaky",
        )
    if net == "rlif":
        r = snn.RLeaky(
            beta=full(5, BETA), threshold=full(5, THR), linear_features=5, all_to_all=True, init_hidden=True
        )
        w, b = dense(rng, 5, 5, 0.0, 0.6)
        r.recurrent.weight.data, r.recurrent.bias.data = torch.from_numpy(w), torch.from_numpy(b)
        return (
            torch.nn.Sequential(torch_linear(*dense(rng, 5, 8)), r),
            (8,),
            "Linear(8->5) -> RLeaky(all_to_all, bias)",
        )
    raise KeyError(net)


def run_snntorch_native(model, x):
    snntorch.utils.reset(model)
    with torch.no_grad():
        out = [model(torch.from_numpy(x[t])) for t in range(x.shape[0])]
    snntorch.utils.reset(model)
    return np.stack([o.numpy() for o in out])


# --------------------------------------------------------------------------------------
# Norse networks
# --------------------------------------------------------------------------------------


def norse_net(net, rng, dt):
    tau, tau_syn = dt / (1 - BETA), dt / (1 - ALPHA)  # in the units of dt

    def lifbox(n, thr=THR, v_leak=0.0):
        return LIFBoxCell(
            LIFBoxParameters(
                tau_mem_inv=torch.full(n, 1 / tau), v_th=torch.full(n, thr), v_leak=torch.full(n, v_leak)
            ),
            dt=dt,
        )

    if net == "lif":
        return (
            nt.SequentialState(torch_linear(*dense(rng, 5, 8)), lifbox((5,), v_leak=0.1)),
            (8,),
            "Linear(8->5) -> LIFBoxCell(v_leak=0.1)",
        )
    if net == "cubalif":
        p = LIFParameters(
            tau_syn_inv=torch.full((5,), 1 / tau_syn),
            tau_mem_inv=torch.full((5,), 1 / tau),
            v_th=torch.full((5,), THR),
            v_leak=torch.zeros(5),
        )
        return (
            nt.SequentialState(torch_linear(*dense(rng, 5, 8)), LIFCell(p, dt=dt)),
            (8,),
            "Linear(8->5) -> LIFCell (Norse's current-based LIF)",
        )
    if net == "if":
        return (
            nt.SequentialState(
                torch_linear(*dense(rng, 5, 8)), IAFCell(IAFParameters(v_th=torch.full((5,), THR)))
            ),
            (8,),
            "Linear(8->5) -> IAFCell",
        )
    if net == "li":
        li = LIBoxCell(LIBoxParameters(tau_mem_inv=torch.full((3,), 1 / tau), v_leak=torch.zeros(3)), dt=dt)
        return (
            nt.SequentialState(
                torch_linear(*dense(rng, 5, 8)), lifbox((5,)), torch_linear(*dense(rng, 3, 5, 0.2, 0.8)), li
            ),
            (8,),
            "Linear(8->5) -> LIFBoxCell -> Linear(5->3) -> LIBoxCell (membrane out)",
        )
    if net == "conv":
        return (
            nt.SequentialState(
                torch_conv(rng),
                lifbox((4, 6, 6)),
                torch.nn.Flatten(),
                torch_linear(*dense(rng, 3, 144, 0.02, 0.15)),
                lifbox((3,), THR_OUT),
            ),
            (2, 6, 6),
            "Conv2d(2->4, 3x3, pad 1) -> LIFBoxCell -> Flatten -> Linear(144->3) -> LIFBoxCell",
        )
    raise KeyError(net)


def run_norse_native(model, x):
    outs, state = [], None
    with torch.no_grad():
        for t in range(x.shape[0]):
            o, state = model(torch.from_numpy(x[t]), state)
            outs.append(o.to_dense().numpy() if o.is_sparse else o.numpy())
    return np.stack(outs)


# --------------------------------------------------------------------------------------


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    made = []
    for k, net in enumerate(["lif", "cubalif", "conv", "rlif"]):
        rng = np.random.default_rng(400 + k)
        model, shape, desc = snntorch_net(net, rng)
        x = spikes_input(shape, 500 + k)
        native = run_snntorch_native(model, x)
        graph, _printed = quiet(
            snntorch.export_nir.export_to_nir, model, torch.from_numpy(x[0]), ignore_dims=[0]
        )
        snntorch.utils.reset(model)
        path = OUT / f"snntorch_{net}.nir"
        write(path, graph)
        out, states, info = snntorch_import_run(path, x)
        meta = {
            "peer": "snntorch",
            "versions": VERSIONS,
            "dt": SNNTORCH_DT,
            "net": desc,
            "x": f"Bernoulli(p={P}) spikes, seed {500 + k}, NIR layout",
            "export": (
                "snntorch.export_to_nir(model, x[0], ignore_dims=[0]) (dt "
                "= 1e-4 hard-coded in export_nir.py:68)"
            ),
            "native": "model(x[t]) per step, snnTorch defaults otherwise (reset_mechanism='subtract', "
            "reset_delay=True)",
            "nir_nodes": {k2: type(v).__name__ for k2, v in graph.nodes.items()},
            **info,
        }
        try_check("snntorch", path, x, SNNTORCH_DT, out, states, meta)
        save(f"snntorch_{net}", x, out, states, meta, native)
        made.append((path, SNNTORCH_DT))

    for dt, nets, suffix in [
        (NORSE_DT, ["lif", "cubalif", "if", "li", "conv"], ""),
        (1e-3, ["lif"], "_dt1e-3"),
    ]:
        for k, net in enumerate(nets):
            rng = np.random.default_rng(600 + k)
            model, shape, desc = norse_net(net, rng, dt)
            x = spikes_input(shape, 700 + k)
            native = run_norse_native(model, x)
            # sample without the batch axis: with x[0] (B, ...) the Input node gets the batch dim
            # and nir's type check rejects the graph on read
            # (conv: a batch of 1, since torch.nn.Flatten() needs the batch axis to trace)
            sample = x[0, :1] if net == "conv" else x[0, 0]
            graph = nt.to_nir(model, torch.from_numpy(sample), dt=dt)
            path = OUT / f"norse_{net}{suffix}.nir"
            try:
                write(path, graph)
            except Exception as e:
                path.unlink(missing_ok=True)  # nir.write leaves a half-written HDF5 file
                meta = {
                    "peer": "norse",
                    "versions": VERSIONS,
                    "dt": dt,
                    "net": desc,
                    "x": f"Bernoulli(p={P}) spikes, seed {700 + k}, NIR layout",
                    "export": f"norse.torch.to_nir(model, x[0, 0] (conv: x[0, :1]), dt={dt})",
                    "export_error": f"{type(e).__name__}: {e}",
                    "nir_nodes": {k2: type(v).__name__ for k2, v in graph.nodes.items()},
                    "native": "out_t, s = model(x[t], s) with the cells' own dt",
                }
                save(f"norse_{net}{suffix}", x, None, {}, meta, native)
                continue
            out, states, info = norse_import_run(path, x, dt)
            meta = {
                "peer": "norse",
                "versions": VERSIONS,
                "dt": dt,
                "net": desc,
                "x": f"Bernoulli(p={P}) spikes, seed {700 + k}, NIR layout",
                "export": f"norse.torch.to_nir(model, x[0, 0] (conv: x[0, :1]), dt={dt})",
                "native": "out_t, s = model(x[t], s) with the cells' own dt",
                "nir_nodes": {k2: type(v).__name__ for k2, v in graph.nodes.items()},
                **info,
            }
            if suffix:
                meta["notes"] = (
                    "norse/torch/utils/export_nir.py:37 writes tau = dt / tau_mem_inv = dt * tau_mem "
                    "(5e-6 here instead of 5e-3), so the import decays by 1 - dt/tau = -199 per step"
                )
            try_check("norse", path, x, dt, out, states, meta)
            save(f"norse_{net}{suffix}", x, out, states, meta, native)
            if not suffix:
                made.append((path, dt))

    # reverse direction and cross-imports
    foreign = [
        (REFS / "lif_norse.nir", 1e-4),
        (REFS / "snntorch_export_leaky.nir", 1e-4),
        (REFS / "snntorch_export_synaptic.nir", 1e-4),
        (REFS / "spyx_export_lif.nir", 1e-3),
    ]
    for p in sorted(OUT.glob("spyx_*.nir")):
        foreign.append((p, 1e-3))
    for peer in ("snntorch", "norse"):
        for k, (path, dt) in enumerate(foreign + [m for m in made if not m[0].name.startswith(peer)]):
            g = nir.read(path)
            inp = next(n for n in g.nodes.values() if isinstance(n, nir.Input))
            shape = tuple(int(d) for d in np.asarray(next(iter(inp.input_type.values()))).ravel())
            x = spikes_input(shape, 800 + k)
            if peer == "snntorch":
                out, states, info = snntorch_import_run(path, x)
            else:
                out, states, info = norse_import_run(path, x, dt)
            meta = {
                "peer": peer,
                "versions": VERSIONS,
                "dt": dt,
                "graph": path.name,
                "x": f"Bernoulli(p={P}) spikes, seed {800 + k}, NIR layout",
                **info,
            }
            try_check(peer, path, x, dt, out, states, meta)
            save(f"{peer}_runs_{path.stem}", x, out, states, meta)


if __name__ == "__main__":
    main()
