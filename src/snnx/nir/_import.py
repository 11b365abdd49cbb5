"""``from_nir``: a NIR graph -> a snnx model that runs it with forward Euler at step ``dt``."""

from __future__ import annotations

import os
import warnings

import nir
import numpy as np
from flax import nnx

from snnx.engine import Graph, Sequential
from snnx.nir import _convert, _dialects, _discretise, _quant, _topology
from snnx.nir._errors import NIRError
from snnx.nir._import_table import Site
from snnx.nir._io import read
from snnx.nir._layout import ToChannelsFirst, ToChannelsLast


def _restore_state_quant(name: str, node, layer) -> None:
    """Give ``layer`` the fixed-point membranes ``node.metadata["state_quant"]`` records (snnx exports)."""
    grid = (getattr(node, "metadata", None) or {}).get("state_quant")
    if not grid:
        return
    from snnx.neurons import FixedPoint
    from snnx.neurons._state_quant import check_option

    if not hasattr(layer, "state_quant"):
        raise NIRError(
            f"node {name!r}: metadata 'state_quant' asks for fixed-point membranes, which snnx's "
            f"{type(layer).__name__} does not offer"
        )
    try:
        fp = FixedPoint.from_dict({k: np.asarray(v).item() for k, v in grid.items()})
        layer.state_quant = check_option(fp, layer.threshold[...] if hasattr(layer, "threshold") else None)
    except (TypeError, ValueError) as err:
        raise NIRError(f"node {name!r}: metadata 'state_quant' is not a valid grid: {err}") from err


def _fuse_recurrent(flat: _topology.Flat, in_shapes: dict, prims: dict) -> dict[str, str]:
    """Find ``neuron <-> Affine/Linear`` two-node cycles; returns neuron -> dense name.

    A pair is fused when the dense node's only input is the neuron and its only
    output goes back to it, the neuron is IF/LIF/CubaLIF over a flat ``(N,)``
    shape and the weight is ``(N, N)``. The result is exact: RIF/RLIF/RCuBaLIF
    add ``W z[t-1] + b`` with ``z[-1] = 0``, which is what NIR's back edge
    carries (the dense node's output on zero state, ``b``, at ``t = 0``).
    """
    fused: dict[str, str] = {}
    for name, node in flat.nodes.items():
        if _convert.kind(node) not in ("Affine", "Linear") or name not in prims:
            continue
        ins = [s for s, d in flat.edges if d == name]
        outs = [d for s, d in flat.edges if s == name]
        if len(ins) != 1 or outs != ins:
            continue
        neuron = ins[0]
        shape = in_shapes.get(neuron)
        if (
            neuron in prims
            and prims[neuron].recurrent
            and neuron not in fused
            and shape is not None
            and len(shape) == 1
            and np.shape(node.weight) == (shape[0], shape[0])
        ):
            fused[neuron] = name
    return fused


def _chain(flat: _topology.Flat, edges: list) -> list[str] | None:
    """The node names in order when the graph is one path Input -> ... -> Output, else None."""
    if len(flat.inputs) != 1 or len(flat.outputs) != 1:
        return None
    succ: dict[str, list] = {}
    indeg: dict[str, int] = {}
    for src, dst in edges:
        succ.setdefault(src, []).append(dst)
        indeg[dst] = indeg.get(dst, 0) + 1
    path, cur = [], flat.inputs[0]
    while cur != flat.outputs[0]:
        nxt = succ.get(cur, [])
        if len(nxt) != 1 or indeg.get(nxt[0]) != 1 or len(path) > len(flat.nodes):
            return None
        cur = nxt[0]
        path.append(cur)
    path.pop()
    return path if len(edges) == len(path) + 1 else None


def _max_rank(ranks: int | dict) -> int:
    return max(ranks.values()) if isinstance(ranks, dict) else ranks


def _named_sequential(layers: list, names: list) -> Sequential:
    seq = Sequential(*layers)
    seq.nir_names = tuple(names)
    return seq


def from_nir(
    graph_or_path: nir.NIRGraph | str | os.PathLike,
    dt: float | None,
    *,
    reset: str | None = None,
    channels_last: bool = False,
    dialect: str | None = None,
) -> Sequential | Graph:
    """Build a snnx model that runs a NIR graph in discrete time with step ``dt``.

    The meaning of every primitive is fixed in ``docs/nir-semantics.md``: forward Euler
    (``beta = 1 - dt/tau``, input gain ``r dt/tau``), spike on ``v > v_threshold``
    after integrating the step's input, reset to ``v_reset`` in the same step,
    several edges into a node summed, a back edge delays by one step and carries
    its source's output on zero state at ``t = 0``.

    The model follows the one-step contract (use it with :func:`snnx.run`):

    * a path ``Input -> ... -> Output`` becomes a :class:`~snnx.engine.Sequential`
      of native layers (a neuron with a non-unit input gain is preceded by a
      ``Scale``); a ``LIF|CubaLIF|IF <-> Affine|Linear`` two-node cycle becomes
      one ``RLIF``/``RCuBaLIF``/``RIF``;
    * anything else (branches, sums, longer cycles, several inputs/outputs) runs
      on a :class:`~snnx.engine.Graph` whose node names are the NIR names
      (nested graphs flattened to ``"outer.inner"``). With several Input/Output
      nodes, ``x``/``y`` are dicts keyed by their names.

    Layers built from a NIR node carry its name: every ``Sequential`` made here
    has ``nir_names`` (the NIR node per layer, ``None`` for helpers such as the
    gain ``Scale``); :func:`node_states` maps a state to NIR names.

    Args:
        graph_or_path: a ``nir.NIRGraph`` (not modified) or a path to a NIR file
            (read with :func:`snnx.nir.read`).
        dt: the step in seconds (NIR files do not store it).
        reset: ``None`` (reset to each node's ``v_reset``, NIR's meaning) or
            ``"zero"``/``"subtract"`` to override every spiking node (NIR cannot
            express subtraction; use it for graphs trained that way).
        channels_last: ``False`` (default): the model takes and returns NIR
            layout, ``(B, C, H, W)`` per step, i.e. ``x`` of shape
            ``(T, B, C, H, W)`` for ``run``. ``True``: snnx layout
            ``(B, H, W, C)`` in and out. Flat ``(B, N)`` data is the same either way.

    Returns:
        The model (``Sequential`` or ``Graph``; NIR-layout adapters around it
        when a feature map crosses the boundary).

    Raises:
        NIRError: unsupported or malformed graph; the message names the node,
            the field, what was expected and what arrived.

    Example:
        >>> model = from_nir("lif_norse.nir", dt=1e-4)
        >>> spikes, _ = run(model, x)          # x: (T, B, 1)
    """
    spoken = _dialects.get("nir" if dialect is None else dialect)
    if dt is None and spoken.uses_dt:
        raise TypeError(
            f"`dt` must be a positive number (seconds per step); only a dialect that counts time in "
            f"steps takes dt=None, and {spoken.name!r} does not"
        )
    dt = None if dt is None else _discretise.check_dt(dt)
    if dt is not None and not spoken.uses_dt:
        warnings.warn(
            f"dialect={spoken.name!r} does not use dt={dt:g}: {spoken.no_dt}; pass dt=None", stacklevel=2
        )
        dt = None
    reset = _convert.check_reset(reset)
    if reset is not None and spoken is not _dialects.NIR:
        raise ValueError(
            f"`reset` overrides NIR's reset and cannot be combined with dialect={spoken.name!r}, "
            f"which runs {spoken.framework}'s own reset"
        )
    if not isinstance(channels_last, bool):
        raise TypeError(f"`channels_last` must be a bool, got {channels_last!r}")
    if isinstance(graph_or_path, (str, os.PathLike)):
        graph = read(graph_or_path)
    elif isinstance(graph_or_path, nir.NIRGraph):
        graph = graph_or_path
    else:
        raise TypeError(
            "`graph_or_path` must be a nir.NIRGraph or a path to a NIR file, "
            f"got {type(graph_or_path).__name__}"
        )
    flat = _topology.flatten(graph)
    if spoken.prepare is not None:
        spoken.prepare(flat)
    if dialect is None and dt is not None:
        _dialects.warn_signatures(flat.nodes, dt, stacklevel=3)
    prims = {
        name: spoken.primitive(name, node)
        for name, node in flat.nodes.items()
        if name not in flat.inputs and name not in flat.outputs
    }
    in_shapes, out_shapes, back = _topology.analyse(flat)
    fused = _fuse_recurrent(flat, in_shapes, prims)
    dense = set(fused.values())
    spoken.check_cycles(flat, back, skip=dense)
    edges = [(s, d) for s, d in flat.edges if not (s in dense or d in dense)]

    rngs = nnx.Rngs(0)  # parameters are overwritten from the file
    units: dict[str, list] = {}
    for name, node in flat.nodes.items():
        if name in flat.inputs or name in flat.outputs or name in dense:
            continue
        site = Site(name, node, tuple(in_shapes[name]), dt=dt, reset=reset, rngs=rngs)
        if name in fused:
            rec = flat.nodes[fused[name]]
            site.recurrent = np.asarray(rec.weight, np.float64)
            site.recurrent_bias = np.asarray(rec.bias, np.float64) if hasattr(rec, "bias") else None
        units[name] = prims[name].build(site)
        _restore_state_quant(name, node, units[name][-1])
        if name in fused and hasattr(units[name][-1], "recurrent"):  # the recurrent weights carry their
            # quantisation unless a gain rescaled them (a framework's own neuron keeps none)
            inner = units[name][-1].recurrent
            if np.array_equal(np.asarray(inner.kernel[...]), site.recurrent.T.astype(np.float32)):
                _quant.restore(inner, flat.nodes[fused[name]], fused[name], np.transpose)

    in_ranks = {n: len(out_shapes[n]) for n in flat.inputs}
    out_ranks = {n: len(out_shapes[n]) for n in flat.outputs}
    layers, names = [], []
    path = _chain(flat, edges)
    if path is not None:
        for name in path:
            layers += units[name]
            names += [None] * (len(units[name]) - 1) + [name]
    else:
        nodes = {
            n: u[0] if len(u) == 1 else _named_sequential(u, [None] * (len(u) - 1) + [n])
            for n, u in units.items()
        }
        single_in, single_out = len(flat.inputs) == 1, len(flat.outputs) == 1
        graph_model = Graph(
            nodes,
            edges,
            inputs=flat.inputs[0] if single_in else tuple(flat.inputs),
            outputs=flat.outputs[0] if single_out else tuple(flat.outputs),
            input_shape=(
                _convert.snnx_shape(out_shapes[flat.inputs[0]])
                if single_in
                else {n: _convert.snnx_shape(out_shapes[n]) for n in flat.inputs}
            ),
        )
        layers, names = [graph_model], [None]
        in_ranks = in_ranks[flat.inputs[0]] if single_in else in_ranks
        out_ranks = out_ranks[flat.outputs[0]] if single_out else out_ranks
    if path is not None:
        in_ranks, out_ranks = in_ranks[flat.inputs[0]], out_ranks[flat.outputs[0]]
    if not channels_last:
        if _max_rank(in_ranks) >= 2:
            layers, names = [ToChannelsLast(in_ranks), *layers], [None, *names]
        if _max_rank(out_ranks) >= 2:
            layers, names = [*layers, ToChannelsFirst(out_ranks)], [*names, None]
    if len(layers) == 1 and isinstance(layers[0], Graph):
        return layers[0]
    return _named_sequential(layers, names)


def node_states(model, states) -> dict:
    """Map a state of a model made by :func:`from_nir` to NIR node names.

    Works on one step's state and on the stacked states of
    ``run(..., return_states=True)``. A fused recurrent neuron appears under the
    neuron's name (with its previous spikes as ``"z"``); a CubaLIF current is
    NIR's ``i`` times ``(1 - beta) r`` (identical when that gain is 1).
    """
    out: dict = {}
    if isinstance(model, Graph):
        for name, st in states["nodes"].items():
            layer = model.nodes[name]
            if isinstance(layer, (Sequential, Graph)):
                out.update(node_states(layer, st) if getattr(layer, "nir_names", None) else {name: st})
            else:
                out[name] = st
        return out
    for layer, name, st in zip(model.layers, getattr(model, "nir_names", ()), states, strict=False):
        if isinstance(layer, (Graph, Sequential)) and getattr(layer, "nir_names", isinstance(layer, Graph)):
            out.update(node_states(layer, st))
        elif name is not None and st is not None:
            out[name] = st
    return out
