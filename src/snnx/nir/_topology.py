"""Graph structure of an imported NIR graph: flatten nested graphs, find cycles, infer shapes."""

from __future__ import annotations

from dataclasses import dataclass

import nir

from snnx import _graphs
from snnx.nir import _convert
from snnx.nir._errors import NIRError, node_error
from snnx.nir._import_table import TABLE, entry
from snnx.nir._io import checked_shape, repaired_edges


@dataclass
class Flat:
    """A flat NIR graph: ``nodes`` (name -> nir node, no NIRGraph), ``edges``, I/O names."""

    nodes: dict
    edges: list
    inputs: list
    outputs: list


def _endpoint(graph: nir.NIRGraph, prefix: str, name: str, role: str, edge) -> str:
    """Full flat name of edge endpoint ``name`` in ``graph`` (a subgraph stands for its Input/Output)."""
    node = graph.nodes.get(name)
    if node is None:
        head, dot, rest = name.partition(".")
        while dot:
            sub = graph.nodes.get(head)
            if isinstance(sub, nir.NIRGraph):
                return _endpoint(sub, f"{prefix}{head}.", rest, role, edge)
            nxt, dot, rest = rest.partition(".")
            head = f"{head}.{nxt}"
        where = f"graph {prefix[:-1]!r}" if prefix else "the graph"
        raise NIRError(
            f"edge {tuple(edge)} in {where} names node {name!r}, which does not exist; "
            f"nodes: {sorted(graph.nodes)}",
            node=f"{prefix}{name}",
            field="edges",
        )
    if isinstance(node, nir.NIRGraph):
        want = nir.Output if role == "src" else nir.Input
        ends = [n for n, v in node.nodes.items() if isinstance(v, want)]
        if len(ends) != 1:
            raise NIRError(
                f"edge {tuple(edge)}: subgraph {prefix + name!r} has {len(ends)} {want.__name__} nodes; "
                f"address one as '{name}.<node>'",
                node=prefix + name,
                field="edges",
            )
        return _endpoint(node, f"{prefix}{name}.", ends[0], role, edge)
    return prefix + name


def _collect(graph: nir.NIRGraph, prefix: str, flat: Flat, inner_io: list) -> None:
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            _collect(node, full + ".", flat, inner_io)
            continue
        if full in flat.nodes:
            raise NIRError(f"node name {full!r} occurs twice after flattening nested graphs", node=full)
        flat.nodes[full] = node
        if isinstance(node, (nir.Input, nir.Output)):
            if prefix:
                inner_io.append(full)
            else:
                (flat.inputs if isinstance(node, nir.Input) else flat.outputs).append(full)
    edges = repaired_edges(graph, prefix[:-1] or "<top>")
    seen: dict = {}  # resolved (source, destination) -> the edge as the file wrote it
    for edge in edges:
        src = _endpoint(graph, prefix, edge[0], "src", edge)
        resolved = (src, _endpoint(graph, prefix, edge[1], "dst", edge))
        if resolved in seen:
            where = f"graph {prefix[:-1]!r}" if prefix else "the graph"
            kind = "self-edge" if edge[0] == edge[1] else "edge"
            also = "" if seen[resolved] == edge else f" (as {seen[resolved]} too)"
            raise NIRError(
                f"{kind} {edge} in {where} is listed twice{also}: both lead from {resolved[0]!r} into node "
                f"{resolved[1]!r}; an edge is listed once, since a repeated one would add its signal again",
                node=resolved[1],
                field="edges",
            )
        seen[resolved] = edge
        flat.edges.append(resolved)


def flatten(graph: nir.NIRGraph) -> Flat:
    """Nested graphs become ``outer.inner`` names; their Input/Output nodes are wired through.

    ``graph`` is not modified.
    """
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"`graph` must be a nir.NIRGraph or a path to a NIR file, got {type(graph).__name__}")
    flat, inner_io = Flat({}, [], [], []), []
    _collect(graph, "", flat, inner_io)
    for name in inner_io:  # identity: connect every predecessor to every successor (sums distribute)
        preds = [s for s, d in flat.edges if d == name and s != name]
        succs = [d for s, d in flat.edges if s == name and d != name]
        first = next(i for i, e in enumerate(flat.edges) if name in e) if preds or succs else 0
        kept = [e for e in flat.edges[:first] if name not in e]
        rest = [e for e in flat.edges[first:] if name not in e]
        flat.edges = kept + [(p, s) for p in preds for s in succs] + rest
        del flat.nodes[name]
    for name, node in flat.nodes.items():
        entry(name, node)  # an unsupported type is refused before any shape is looked at
    if not flat.inputs:
        raise NIRError("the graph has no Input node (expected at least one nir.Input)", field="nodes")
    if not flat.outputs:
        raise NIRError("the graph has no Output node (expected at least one nir.Output)", field="nodes")
    for src, dst in flat.edges:
        if dst in flat.inputs:
            raise NIRError(f"edge ({src!r}, {dst!r}) leads into Input node {dst!r}", node=dst, field="edges")
        if src in flat.outputs:
            raise NIRError(f"edge ({src!r}, {dst!r}) leaves Output node {src!r}", node=src, field="edges")
    return flat


def _declared(name, node) -> tuple[int, ...]:
    io = node.input_type if isinstance(node, nir.Input) else node.output_type
    key = "input_type" if isinstance(node, nir.Input) else "output_type"
    value = next(iter(io.values()), None) if isinstance(io, dict) else io
    return tuple(int(d) for d in checked_shape(name, _convert.kind(node), key, value))


def _want(node, shape):
    """The per-sample shape a successor needs, when it says so (for stripping batch axes)."""
    needs = TABLE[_convert.kind(node)].needs
    return None if needs is None else needs(node, shape)


def analyse(flat: Flat) -> tuple[dict, dict, set]:
    """Check structure and shapes: returns (in_shapes, out_shapes, back edge ids)."""
    reached, back = _graphs.back_edges(flat.inputs, flat.edges)
    missing = [n for n in flat.nodes if n not in reached]
    if missing:
        raise NIRError(f"nodes {missing} cannot be reached from an Input node {flat.inputs}", node=missing[0])
    alive = _graphs.reachable(flat.outputs, flat.edges, backward=True)
    dead = [n for n in flat.nodes if n not in alive]
    if dead:
        raise NIRError(
            f"nodes {dead} have no path to an Output node {flat.outputs} (a node is never dropped)",
            node=dead[0],
        )

    out_shape: dict[str, tuple] = {}
    for name in flat.inputs:
        shape = _declared(name, flat.nodes[name])
        for dst in (d for s, d in flat.edges if s == name):  # tolerate batch axes left in the Input shape
            want = _want(flat.nodes[dst], shape) if dst in flat.nodes else None
            if (
                not want
                or want == shape
                or len(want) >= len(shape)
                or shape[len(shape) - len(want) :] != want
            ):
                continue
            # Affine/Conv/Pool fix the rank, so any prefix is batch; a parameter shape only
            # tells that much when the prefix is all ones (a stray batch of one).
            if TABLE[_convert.kind(flat.nodes[dst])].fixed_rank or all(d == 1 for d in shape[: -len(want)]):
                shape = want
        out_shape[name] = shape
    forward = [edge for eid, edge in enumerate(flat.edges) if eid not in back]
    in_shape: dict[str, tuple] = {}
    preds: dict[str, list] = {}
    for eid, (src, dst) in enumerate(flat.edges):
        preds.setdefault(dst, []).append((eid, src))
    for name in _graphs.topological_order(list(flat.nodes), forward):
        node = flat.nodes[name]
        if name not in flat.inputs:
            fwd = [(src, out_shape[src]) for eid, src in preds.get(name, ()) if eid not in back]
            shape = fwd[0][1]
            for src, other in fwd[1:]:
                if other != shape:
                    raise node_error(
                        name, _convert.kind(node), "input",
                        f"equal shapes on all incoming edges ({fwd[0][0]!r} gives {shape})",
                        f"{other} from {src!r}",
                    )  # fmt: skip
            in_shape[name] = shape
            if isinstance(node, nir.Output):
                declared = _declared(name, node)
                if declared != shape and declared[len(declared) - len(shape) :] != shape:
                    raise node_error(name, "Output", "shape", f"{shape} (from {fwd[0][0]!r})", declared)
                out_shape[name] = shape
            else:
                try:
                    out_shape[name] = entry(name, node).output_shape(name, node, shape)
                except NIRError as err:
                    srcs = sorted({s for s, _ in fwd})
                    raise NIRError(f"{err} (shape mismatch along the edge from {srcs})", node=name,
                                   field=err.field) from None  # fmt: skip
    for eid in back:
        src, dst = flat.edges[eid]
        if out_shape[src] != in_shape[dst]:
            raise node_error(
                dst, _convert.kind(flat.nodes[dst]), "input",
                f"shape {in_shape[dst]} on the back edge from {src!r}", f"{out_shape[src]}",
            )  # fmt: skip
    return in_shape, out_shape, back
