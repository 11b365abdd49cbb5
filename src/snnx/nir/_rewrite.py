"""``convert``: a file written for another framework's semantics -> a NIR file with the same behaviour.

A dialect (:mod:`snnx.nir._peers`) says how a framework runs a NIR file. Where
NIR's own primitives can express that behaviour, :func:`convert` rewrites the
graph so that any faithful NIR reader (snnx's default, or NIR's equations by
hand) computes what the framework computed; where they cannot, it refuses and
says why. The rewrites, per framework:

* Spyx 1.0: a spike tested on last step's membrane with subtractive reset is an
  ``LI`` (or ``I``) whose spikes come back through ``Scale(-threshold)`` on a back
  edge, followed by a one-step ``Delay``; a CubaLIF is two ``LI`` (current, then
  membrane); its RLIF (an LIF <-> dense pair) also sends the spikes back through
  ``Linear(W)``, without the bias Spyx drops; its H, W, C flatten order becomes a
  permutation of the next dense layer's columns; ``r`` becomes ``tau/dt`` (gain 1, as Spyx runs it).
* snnTorch 1.0: its fixed step of 1e-4 s is written at ``dt``; the gain moves
  back from the threshold into ``r`` / ``w_in``; ``v_reset`` is 0.
* Norse 1.1: ``r`` is 1 for LIF and IF (Norse does not read it), ``v_reset`` is 0;
  a non-zero ``v_leak`` is refused (Norse starts its membranes there, NIR at 0).
* Sinabs 3.1, Rockpool 3.1: their leaky readouts get NIR time constants; their
  spiking layers emit several spikes per step, which no NIR primitive does, and
  are refused.

The check: ``from_nir(convert(f, d, dt), dt)`` gives what ``from_nir(f, dt,
dialect=d)`` gives, spike for spike (``tests/test_nir_convert.py``).
"""

from __future__ import annotations

import os
import warnings

import nir
import numpy as np

from snnx.nir import _convert as C
from snnx.nir import _dialects, _discretise, _topology
from snnx.nir._errors import NIRError
from snnx.nir._import import _fuse_recurrent, from_nir
from snnx.nir._io import read


def _f32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def _io_pair(shape):
    shape = np.asarray(shape, np.int64)
    return nir.Input(input_type={"input": shape}), nir.Output(output_type={"output": shape})


def _tau(decay, dt) -> np.ndarray:
    """The NIR time constant whose forward-Euler decay at ``dt`` is ``decay``."""
    return dt / (1.0 - np.asarray(decay, np.float64))


def _li(decay, dt, shape) -> nir.LI:
    """An ``LI`` with decay ``decay`` per step and unit input gain (``r = tau/dt``)."""
    tau = np.broadcast_to(_tau(decay, dt), shape)
    return nir.LI(tau=_f32(tau), r=_f32(tau / dt), v_leak=np.zeros(shape, np.float32))


def _late_spikes(shape, dt, thr, *, neuron_nodes: dict, neuron_edges: list, back_scale, w_rec=None):
    """A subgraph: ``neuron_nodes`` (ending in node ``"v"``) -> Threshold -> Delay(dt) -> Output, and the
    spikes back into ``"v"`` through ``Scale(back_scale)`` on a back edge (subtractive reset) and, for a
    recurrent layer, through ``Linear(w_rec)`` (NIR's ``(out, in)``)."""
    inp, out = _io_pair(shape)
    nodes = {
        "input": inp, **neuron_nodes, "spike": nir.Threshold(threshold=_f32(thr)),
        "reset": nir.Scale(scale=_f32(back_scale)), "late": nir.Delay(delay=np.full(shape, dt, np.float32)),
        "output": out,
    }  # fmt: skip
    edges = [*neuron_edges, ("v", "spike"), ("spike", "reset"), ("reset", "v"), ("spike", "late"),
             ("late", "output")]  # fmt: skip
    if w_rec is not None:
        nodes["recurrent"] = nir.Linear(weight=_f32(w_rec))
        edges += [("spike", "recurrent"), ("recurrent", "v")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


# -- Spyx ---------------------------------------------------------------------------------------


def _spyx_beta(node, field, dt):
    return np.clip(1.0 - dt / np.asarray(getattr(node, field), np.float64), 0.0, 1.0)


def _spyx_lif(name, node, shape, dt, recurrent=None):
    """Spyx's LIF; with ``recurrent`` (a dense node's weight folded in), its RLIF: the spikes also come back
    through the weight (its bias is dropped, as Spyx does)."""
    thr = np.broadcast_to(np.asarray(node.v_threshold, np.float64), shape)
    return _late_spikes(shape, dt, thr, neuron_nodes={"v": _li(_spyx_beta(node, "tau", dt), dt, shape)},
                        neuron_edges=[("input", "v")], back_scale=-thr, w_rec=recurrent)  # fmt: skip


def _spyx_if(name, node, shape, dt):
    thr = np.broadcast_to(np.asarray(node.v_threshold, np.float64), shape)
    return _late_spikes(shape, dt, thr, neuron_nodes={"v": nir.I(r=np.ones(shape, np.float32))},
                        neuron_edges=[("input", "v")], back_scale=-thr)  # fmt: skip


def _spyx_cuba(name, node, shape, dt):
    thr = np.broadcast_to(np.asarray(node.v_threshold, np.float64), shape)
    alpha, beta = _spyx_beta(node, "tau_syn", dt), _spyx_beta(node, "tau_mem", dt)
    if np.any(beta >= 1.0) or np.any(alpha >= 1.0):
        raise NIRError(f"node {name!r} (CubaLIF): a decay of 1 has no NIR time constant", node=name)
    # Spyx subtracts before the decay: v = beta (v - s thr) + i, so the spikes come back scaled by -beta thr
    nodes = {"i": _li(alpha, dt, shape), "v": _li(beta, dt, shape)}
    return _late_spikes(shape, dt, thr, neuron_nodes=nodes, neuron_edges=[("input", "i"), ("i", "v")],
                        back_scale=-np.broadcast_to(beta, shape) * thr)  # fmt: skip


def _spyx_flatten_permutations(flat, in_shapes) -> dict:
    """``{dense node: column permutation}`` for every dense layer after a Flatten (Spyx flattens H, W, C)."""
    perms = {}
    for name, node in flat.nodes.items():
        if C.kind(node) != "Flatten" or len(in_shapes[name]) < 2:
            continue
        shape = in_shapes[name]
        order = np.arange(int(np.prod(shape))).reshape(*shape[1:], shape[0])
        perm = np.moveaxis(order, -1, 0).ravel()  # NIR's (c, h, w) position -> Spyx's (h, w, c) position
        for src, dst in flat.edges:
            if src != name:
                continue
            if C.kind(flat.nodes[dst]) not in ("Affine", "Linear"):
                raise NIRError(
                    f"node {name!r} (Flatten): Spyx flattens in H, W, C order, which NIR writes as a "
                    f"permutation of the next dense layer's columns; {dst!r} is a {C.kind(flat.nodes[dst])}, "
                    f"not a dense layer",
                    node=name,
                )
            perms[dst] = perm
    return perms


# -- snnTorch, Norse, Sinabs, Rockpool ------------------------------------------------------------


def _snntorch_lif(name, node, shape, dt):
    from snnx.nir._peers import SNNTORCH_DT, snntorch_decay

    site_thr, tau = _np(node.v_threshold), _np(node.tau)
    scale = _np(node.r) * SNNTORCH_DT / tau
    scale = np.unique(scale)[0] if not np.allclose(scale, 1.0) else scale
    thr = site_thr / scale if not np.allclose(scale, 1.0) else site_thr
    tau_nir = _tau(snntorch_decay(1.0 - SNNTORCH_DT / tau), dt)
    z = np.zeros(np.shape(tau_nir), np.float32)
    return nir.LIF(tau=_f32(tau_nir), r=_f32(tau_nir / dt), v_leak=z, v_threshold=_f32(np.unique(thr)[0] + z),
                   v_reset=z)  # fmt: skip


def _snntorch_cuba(name, node, shape, dt):
    from snnx.nir._peers import SNNTORCH_DT, snntorch_decay

    tau_syn, tau_mem = _np(node.tau_syn), _np(node.tau_mem)
    scale = _np(node.w_in if node.w_in is not None else 1.0) * SNNTORCH_DT / tau_syn
    thr = _np(node.v_threshold) / scale if not np.allclose(scale, 1.0) else _np(node.v_threshold)
    ts = _tau(snntorch_decay(1.0 - SNNTORCH_DT / tau_syn), dt)
    tm = _tau(snntorch_decay(1.0 - SNNTORCH_DT / tau_mem), dt)
    z = np.zeros(np.broadcast_shapes(np.shape(ts), np.shape(tm)), np.float32)
    return nir.CubaLIF(tau_syn=_f32(ts + z), tau_mem=_f32(tm + z), r=_f32(tm / dt + z),
                       w_in=_f32(ts / dt + z),
                       v_leak=z, v_threshold=_f32(np.unique(thr)[0] + z), v_reset=z)  # fmt: skip


def _np(a) -> np.ndarray:
    return np.asarray(a, np.float64)


def _norse_no_leak(name, node):
    if np.any(_np(node.v_leak) != 0):
        raise NIRError(
            f"node {name!r} ({C.kind(node)}), field 'v_leak': Norse starts the membrane at v_leak, NIR at 0; "
            f"a non-zero v_leak has no NIR form",
            node=name,
            field="v_leak",
        )


def _norse_lif(name, node, shape, dt):
    _norse_no_leak(name, node)
    z = np.zeros(np.shape(node.tau), np.float32)
    return nir.LIF(tau=_f32(node.tau), r=z + 1, v_leak=z, v_threshold=_f32(node.v_threshold) + z, v_reset=z)


def _norse_cuba(name, node, shape, dt):
    _norse_no_leak(name, node)
    z = np.zeros(np.shape(node.tau_mem), np.float32)
    w_in = node.w_in if node.w_in is not None else 1.0
    return nir.CubaLIF(tau_syn=_f32(node.tau_syn) + z, tau_mem=_f32(node.tau_mem) + z, r=_f32(node.r) + z,
                       w_in=_f32(w_in) + z, v_leak=z, v_threshold=_f32(node.v_threshold) + z,
                       v_reset=z)  # fmt: skip


def _norse_if(name, node, shape, dt):
    z = np.zeros(np.shape(node.v_threshold), np.float32)
    return nir.IF(r=z + 1, v_threshold=_f32(node.v_threshold), v_reset=z)


def _sinabs_li(name, node, shape, dt):
    return _li(np.exp(-1.0 / _np(node.tau)), dt, shape)


def _rockpool_li(name, node, shape, dt):
    from snnx.nir._peers import rockpool_li_decay

    tau = _np(node.tau)
    decay = rockpool_li_decay(tau, float(np.min(tau / (1.0 + _np(node.r)))))  # the dialect checked r > -1
    tau_nir = _tau(decay, dt)
    return nir.LI(tau=_f32(tau_nir), r=_f32(decay * tau_nir / dt), v_leak=np.zeros(np.shape(tau), np.float32))


def _many_spikes(framework):
    def refuse(name, node, shape, dt):
        raise NIRError(
            f"node {name!r} ({C.kind(node)}): {framework} emits several spikes per step "
            f"(floor(v / threshold)) "
            f"and resets by subtraction; no NIR primitive emits more than one spike per step",
            node=name,
            field="type",
        )

    return refuse


def _as_is(name, node, shape, dt):
    return node  # the dialect's import has checked it runs as NIR says (an unpadded pool; Spyx's flatten,
    # whose order moves into the next dense layer)


REWRITES = {
    "spyx": {"LIF": _spyx_lif, "IF": _spyx_if, "CubaLIF": _spyx_cuba, "Flatten": _as_is, "SumPool2d": _as_is},
    "snntorch": {"LIF": _snntorch_lif, "CubaLIF": _snntorch_cuba},
    "norse": {"LIF": _norse_lif, "CubaLIF": _norse_cuba, "IF": _norse_if, "SumPool2d": _as_is},
    "sinabs": {
        "LI": _sinabs_li,
        "LIF": _many_spikes("Sinabs 3.1.3"),
        "IF": _many_spikes("Sinabs 3.1.3"),
        "SumPool2d": _as_is,
    },
    "rockpool": {"LI": _rockpool_li, "CubaLIF": _many_spikes("Rockpool 3.1.0")},
}
"""Per dialect: ``kind -> (name, node, NIR shape, dt) -> a NIR node or subgraph``. The primitives a dialect
runs as NIR does are copied; the others are refused with the dialect's reason."""


def convert(graph_or_path, dialect: str, dt: float) -> nir.NIRGraph:
    """Rewrite a graph written for ``dialect`` into NIR with the same behaviour at step ``dt``.

    Args:
        graph_or_path: a ``nir.NIRGraph`` or a NIR file (read with :func:`snnx.nir.read`).
        dialect: the framework the file was written for (``"spyx"``, ``"snntorch"``,
            ``"norse"``, ``"sinabs"``, ``"rockpool"``).
        dt: the step the new file is meant for (NIR files do not store it). For
            frameworks that count time in steps (Sinabs, snnTorch's fixed 1e-4 s,
            Rockpool's own step) the time constants are rewritten for this ``dt``.

    Returns:
        A flat ``nir.NIRGraph`` (nested graphs become ``outer_inner`` names); a
        rewritten neuron may become a subgraph under its own name.

    Raises:
        NIRError: a node whose behaviour NIR cannot express (several spikes per
            step, a state that starts away from 0, a cycle run differently), or one
            the dialect refuses; the message names the node and the reason.

    Example:
        >>> graph = convert("spyx_lif.nir", "spyx", dt=1e-3)
        >>> snnx.nir.write("lif_nir.nir", graph)    # runs in any faithful NIR reader as in Spyx
    """
    spoken = _dialects.get(dialect)
    if spoken is _dialects.NIR:
        raise ValueError(
            "`dialect` must name the framework the file was written for; 'nir' needs no conversion"
        )
    dt = _discretise.check_dt(dt)
    graph = read(graph_or_path) if isinstance(graph_or_path, (str, os.PathLike)) else graph_or_path
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"`graph_or_path` must be a nir.NIRGraph or a path, got {type(graph).__name__}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the import below only checks; its warnings are the import's
        from_nir(graph, dt if spoken.uses_dt else None, dialect=spoken.name)  # every refusal of the dialect
    flat = _topology.flatten(graph)
    if spoken.prepare is not None:
        spoken.prepare(flat)
    in_shapes, _, _ = _topology.analyse(flat)
    prims = {n: spoken.primitive(n, node) for n, node in flat.nodes.items()
             if n not in flat.inputs and n not in flat.outputs}  # fmt: skip
    fused = _fuse_recurrent(flat, in_shapes, prims)  # neuron -> the dense node folded into it
    dense = set(fused.values())
    rewrites = REWRITES.get(spoken.name, {})
    perms = _spyx_flatten_permutations(flat, in_shapes) if spoken.name == "spyx" else {}
    rename = {n: n.replace(".", "_") for n in flat.nodes}
    if len(set(rename.values())) != len(rename):
        raise NIRError(
            "flattening nested graph names into 'outer_inner' makes two names equal", field="nodes"
        )
    nodes = {}
    for name, node in flat.nodes.items():
        if name in flat.inputs or name in flat.outputs:
            nodes[rename[name]] = node
            continue
        if name in dense:
            continue  # folded into its neuron's subgraph
        if name in fused:
            weight = np.asarray(flat.nodes[fused[name]].weight, np.float64)
            rewrite = rewrites[C.kind(node)]
            nodes[rename[name]] = rewrite(name, node, tuple(in_shapes[name]), dt, recurrent=weight)
            continue
        kind = C.kind(node)
        if kind in rewrites:
            nodes[rename[name]] = rewrites[kind](name, node, tuple(in_shapes[name]), dt)
        elif name in perms:
            weight = np.asarray(node.weight)[:, perms[name]]
            nodes[rename[name]] = (
                nir.Affine(weight=weight, bias=np.asarray(node.bias))
                if kind == "Affine"
                else nir.Linear(weight)
            )
        elif kind in spoken.builds:
            raise NIRError(
                f"node {name!r} ({kind}): {spoken.framework} runs it its own way ({spoken.summary}), and "
                f"snnx has "
                f"no NIR form for that",
                node=name,
                field="type",
            )
        else:
            nodes[rename[name]] = node
    edges = [(rename[s], rename[d]) for s, d in flat.edges if s not in dense and d not in dense]
    metadata = {"converted_from": spoken.framework, "dt": dt}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=False)
