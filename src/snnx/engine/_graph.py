"""``Graph``: any directed graph of layers (branches, skips, sums, cycles) stepped together."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from snnx import _checks, _graphs
from snnx.engine._sequential import is_stateful


def _names(arg: str, value) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else value
    if not isinstance(names, (tuple, list)) or not names or not all(isinstance(n, str) and n for n in names):
        raise TypeError(f"`{arg}` must be a non-empty name or a tuple of names, got {value!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"`{arg}` names must be distinct, got {value!r}")
    return tuple(names)


class Graph(nnx.Module):
    """A directed graph of layers, one time step per call (the one-step contract).

    Nodes are stateful layers (``init_state`` + ``layer(x, s) -> (y, s)``: neurons,
    ``Delay``, ``Sequential``, another ``Graph``) or stateless ones
    (``layer(x) -> y``: ``nnx.Linear``, ``nnx.Conv``, pooling, plain functions).
    ``inputs`` and ``outputs`` are pseudo-nodes that only appear in edges.

    Semantics (those of NIR, see ``docs/nir-semantics.md``), per step:

    * the input of a node is the **sum** over all its incoming edges (shapes must
      be equal);
    * a **back edge** (an edge that closes a cycle, found by depth-first search
      from the inputs, visiting successors in the order of ``edges``) carries its
      source's output of the *previous* step. At ``t = 0`` it carries the source's
      output on zero state: ``f(0)`` for a stateless source (an affine layer's
      bias), zeros for a stateful one;
    * the other edges form a DAG, evaluated in topological order, so every edge
      that is not a back edge has no delay.

    The state is ``{"nodes": {name: node_state}, "back": {source: buffer}}``;
    ``buffer`` is the previous output of a stateful back-edge source, or the
    previous *input* of a stateless one (its output ``f(buffer)`` is recomputed, so
    gradients reach its parameters at every step, ``t = 0`` included).

    Public attributes (read by the NIR exporter; treat as read-only):

    * ``nodes``: mapping name -> layer (an ``nnx.Dict``);
    * ``edges``: tuple of ``(src, dst)`` name pairs, in the given order;
    * ``inputs`` / ``outputs``: the pseudo-node name(s), as given;
    * ``back_edges``: the edges found to close cycles; ``order``: evaluation order.

    Args:
        nodes: mapping from node name (any non-empty string) to layer.
        edges: ``(src, dst)`` pairs of node or pseudo-node names.
        inputs: name of the input pseudo-node, or a tuple of names; with several,
            ``x`` is a dict ``{name: array}``.
        outputs: name of the output pseudo-node, or a tuple of names; with several,
            ``y`` is a dict ``{name: array}``.
        input_shape: per-sample input shape (a dict ``{name: shape}`` for several
            inputs). Needed only when the graph has back edges (to size the
            buffers they carry); when given, shapes are checked at construction.

    Example (a residual block)::

        >>> rngs = nnx.Rngs(0)
        >>> g = Graph(
        ...     {"fc": nnx.Linear(8, 8, rngs=rngs), "lif": LIF(8)},
        ...     [("input", "fc"), ("fc", "lif"), ("input", "lif"), ("lif", "output")],
        ... )
        >>> spikes, state = run(g, jnp.ones((10, 2, 8)))
    """

    def __init__(
        self,
        nodes: Mapping[str, nnx.Module | Callable],
        edges: Iterable[tuple[str, str]],
        *,
        inputs: str | Sequence[str] = "input",
        outputs: str | Sequence[str] = "output",
        input_shape: int | Sequence[int] | Mapping[str, int | Sequence[int]] | None = None,
    ):
        if not isinstance(nodes, Mapping):
            raise TypeError(f"`nodes` must be a mapping name -> layer, got {type(nodes).__name__}")
        in_names, out_names = _names("inputs", inputs), _names("outputs", outputs)
        for name, layer in nodes.items():
            if not isinstance(name, str) or not name:
                raise TypeError(f"`nodes` keys must be non-empty strings, got {name!r}")
            if name in in_names or name in out_names:
                raise ValueError(f"node name {name!r} is also used for an input/output pseudo-node")
            if not callable(layer):
                raise TypeError(
                    f"`nodes[{name!r}]` must be a module or a callable, got {type(layer).__name__}"
                )
        clash = set(in_names) & set(out_names)
        if clash:
            raise ValueError(f"`inputs` and `outputs` share the names {sorted(clash)}")
        edge_list = self._check_edges(edges, set(nodes), in_names, out_names)

        reached, back = _graphs.back_edges(in_names, edge_list)
        sources = {src for src, _ in edge_list}
        for name in in_names:
            if name not in sources:
                raise ValueError(f"input {name!r} feeds no node: add an edge ({name!r}, <node>)")
        unreachable = [n for n in nodes if n not in reached]
        if unreachable:
            raise ValueError(f"nodes {unreachable} cannot be reached from the inputs {list(in_names)}")
        for name in out_names:
            if name not in reached:
                raise ValueError(f"output {name!r} receives no edge from the inputs")
        alive = _graphs.reachable(out_names, edge_list, backward=True)
        dead = [n for n in nodes if n not in alive]
        if dead:
            raise ValueError(f"nodes {dead} have no path to an output {list(out_names)}")

        # Topological order of the DAG left without back edges (stable: node order).
        forward = [edge for eid, edge in enumerate(edge_list) if eid not in back]
        order = _graphs.topological_order(list(nodes), forward)
        preds: dict[str, list[tuple[str, bool]]] = {n: [] for n in (*nodes, *out_names)}
        for eid, (src, dst) in enumerate(edge_list):
            preds[dst].append((src, eid in back))

        self.nodes = nnx.Dict(dict(nodes))
        self.edges = tuple(edge_list)
        self.inputs = inputs if isinstance(inputs, str) else tuple(inputs)
        self.outputs = outputs if isinstance(outputs, str) else tuple(outputs)
        self.back_edges = tuple(edge_list[e] for e in sorted(back))
        self.order = tuple(order)
        self._in_names, self._out_names = in_names, out_names
        self._preds = tuple((n, tuple(preds[n])) for n in (*order, *out_names))
        self._back_sources = tuple(dict.fromkeys(src for src, _ in self.back_edges))
        fwd_used = {src for eid, (src, _) in enumerate(edge_list) if eid not in back}
        self._evaluate = tuple(n for n in order if is_stateful(nodes[n]) or n in fwd_used)
        self.input_shape = self._check_input_shape(input_shape, in_names)
        if self.input_shape is not None:
            self._trace_shapes((1,))

    # -- construction helpers -------------------------------------------------------------

    @staticmethod
    def _check_edges(edges, node_names, in_names, out_names) -> list[tuple[str, str]]:
        if isinstance(edges, (str, bytes)) or not isinstance(edges, Iterable):
            raise TypeError(f"`edges` must be an iterable of (src, dst) pairs, got {edges!r}")
        known = node_names | set(in_names) | set(out_names)
        out = []
        for edge in edges:
            if not isinstance(edge, (tuple, list)) or len(edge) != 2:
                raise TypeError(f"`edges` entries must be (src, dst) pairs, got {edge!r}")
            src, dst = edge
            for end in (src, dst):
                if end not in known:
                    raise ValueError(
                        f"edge ({src!r}, {dst!r}) names unknown node {end!r}; known: {sorted(known)}"
                    )
            if dst in in_names:
                raise ValueError(f"edge ({src!r}, {dst!r}) leads into input {dst!r}")
            if src in out_names:
                raise ValueError(f"edge ({src!r}, {dst!r}) leaves output {src!r}")
            out.append((src, dst))
        return out

    @staticmethod
    def _check_input_shape(input_shape, in_names):
        if input_shape is None:
            return None
        if len(in_names) == 1 and not isinstance(input_shape, Mapping):
            return _checks.shape_tuple("input_shape", input_shape)
        if not isinstance(input_shape, Mapping) or set(input_shape) != set(in_names):
            raise ValueError(
                f"`input_shape` must be a dict with one shape per input {list(in_names)}, got {input_shape!r}"
            )
        return tuple((n, _checks.shape_tuple(f"input_shape[{n!r}]", input_shape[n])) for n in in_names)

    def _input_shapes(self) -> dict[str, tuple[int, ...]]:
        if isinstance(self.input_shape, tuple) and self.input_shape and isinstance(self.input_shape[0], int):
            return {self._in_names[0]: self.input_shape}
        return dict(self.input_shape)

    # -- the step ----------------------------------------------------------------------

    @staticmethod
    def _sum(name: str, parts: list[tuple[str, jax.Array]]) -> jax.Array:
        total = parts[0][1]
        for src, value in parts[1:]:
            if value.shape != total.shape:
                raise ValueError(
                    f"edges into {name!r} carry different shapes: {parts[0][0]!r} gives "
                    f"{tuple(total.shape)}, {src!r} gives {tuple(value.shape)}"
                )
            total = total + value
        return total

    def _forward(
        self, xs: dict, node_states: dict, back_values: dict | None, checked: bool = False, visit=None,
        evaluate=(),
    ):
        """Evaluate the nodes in order; ``visit(name, layer, x, s) -> (y, s)`` replaces the call of
        each node (recording), ``evaluate``: nodes to evaluate although no forward edge reads them."""
        values = dict(xs)
        node_in, new_states = {}, {}
        for name, preds in self._preds:
            parts = [
                (src, back_values[src] if is_back else values[src])
                for src, is_back in preds
                if not (is_back and back_values is None)
            ]
            total = self._sum(name, parts)
            if name in self._out_names:
                values[name] = total
                continue
            node_in[name] = total
            if name not in self._evaluate and name not in evaluate:
                continue
            layer = self.nodes[name]
            try:
                if visit is not None:
                    s = node_states[name] if is_stateful(layer) else None
                    values[name], s = visit(name, layer, total, s)
                    if is_stateful(layer):
                        new_states[name] = s
                elif is_stateful(layer):
                    values[name], new_states[name] = layer(total, node_states[name])
                else:
                    values[name] = layer(total)
            except (ValueError, TypeError) as err:
                if not checked:
                    raise
                raise ValueError(
                    f"Graph node {name!r} ({type(layer).__name__}) rejects its input of shape "
                    f"{tuple(total.shape)}: {err}"
                ) from err
        return values, node_in, new_states

    def _trace_shapes(self, batch: tuple[int, ...]):
        shapes = self._input_shapes()
        graphdef, st = nnx.split(self)

        def probe(st):
            model = nnx.merge(graphdef, st)
            xs = {n: jnp.zeros((*batch, *shapes[n]), jnp.float32) for n in self._in_names}
            states = {n: model.nodes[n].init_state(batch) for n in self.order if is_stateful(model.nodes[n])}
            values, node_in, _ = model._forward(xs, states, None, checked=True)
            return values, node_in

        return jax.eval_shape(probe, st)

    def init_state(self, batch_shape: int | Sequence[int] = ()) -> dict:
        """Zero state: every stateful node's ``init_state`` and the back-edge buffers."""
        batch = _checks.batch_tuple("batch_shape", batch_shape)
        states = {n: self.nodes[n].init_state(batch) for n in self.order if is_stateful(self.nodes[n])}
        back = {}
        if self._back_sources:
            if self.input_shape is None:
                raise ValueError(
                    f"this Graph has back edges {list(self.back_edges)}; pass `input_shape` "
                    "(per-sample input shape) to Graph so that their buffers can be sized, got None"
                )
            values, node_in = self._trace_shapes(batch)
            for src in self._back_sources:
                spec = values[src] if is_stateful(self.nodes[src]) else node_in[src]
                back[src] = jnp.zeros(spec.shape, spec.dtype)
        return {"nodes": states, "back": back}

    def __call__(self, x, state: dict):
        return self._step_visiting(x, state)

    def _step_visiting(self, x, state: dict, visit=None, evaluate=()):
        """One step (``__call__``) where ``visit(name, layer, x, s) -> (y, s)`` calls each node.

        ``run(..., record=...)`` passes a ``visit`` that records what it wants;
        ``evaluate`` names nodes to evaluate although only back edges read them.
        """
        if isinstance(self.inputs, str):
            xs = {self.inputs: jnp.asarray(x)}
        else:
            if not isinstance(x, Mapping) or set(x) != set(self._in_names):
                got = sorted(x) if isinstance(x, Mapping) else type(x).__name__
                raise ValueError(f"`x` must be a dict with keys {list(self._in_names)}, got {got}")
            xs = {n: jnp.asarray(x[n]) for n in self._in_names}
        if not isinstance(state, Mapping) or set(state) != {"nodes", "back"}:
            got = sorted(state) if isinstance(state, Mapping) else type(state).__name__
            raise ValueError(
                f"`state` must be a dict with keys ['back', 'nodes'] (from Graph.init_state), got {got}"
            )
        back_values = {}
        for src in self._back_sources:
            layer, buf = self.nodes[src], state["back"][src]
            back_values[src] = buf if is_stateful(layer) else layer(buf)
        values, node_in, new_states = self._forward(xs, state["nodes"], back_values, visit=visit,
                                                    evaluate=evaluate)
        new_back = {
            src: values[src] if is_stateful(self.nodes[src]) else node_in[src] for src in self._back_sources
        }
        if isinstance(self.outputs, str):
            y = values[self.outputs]
        else:
            y = {n: values[n] for n in self._out_names}
        return y, {"nodes": new_states, "back": new_back}
