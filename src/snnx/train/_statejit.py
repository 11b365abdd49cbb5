"""``StateJit``: a step compiled with ``jax.jit`` over its NNX nodes' state, flattened once per structure."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Hashable

import jax
from flax import nnx


class _StructureChanged(Exception):
    """Raised while tracing when the step changed its nodes' graph structure (``StateJit`` falls back)."""


def _is_variable(x) -> bool:
    return isinstance(x, nnx.Variable)


def _sharing(variables: list) -> tuple[int, ...] | None:
    """``None`` when every Variable occurs once, else each occurrence's first index (the sharing pattern)."""
    ids = [id(v) for v in variables]
    if len(set(ids)) == len(ids):
        return None
    first: dict[int, int] = {}
    return tuple(first.setdefault(i, k) for k, i in enumerate(ids))


class StateJit:
    """``fn(*nodes, *args)`` compiled with ``jax.jit`` over the nodes' Variables, updated in place.

    ``nnx.jit`` flattens the model and optimizer graph on every call (``nnx.split``
    before, ``nnx.update`` after, in Python): about a millisecond per call, a few
    percent of a training step. Here the graph is flattened once per *structure*:
    each call only runs ``jax.tree.flatten(nodes)`` with the Variables as leaves
    (tens of microseconds). Its tree structure, the Variables' types and metadata
    and which of them are shared form the cache key: a different model, a
    ``model.eval()`` that changes a static attribute, a replaced Variable or
    submodule give a different key, hence a new graph definition and a new
    compilation, never a stale one. Per key, one ``jax.jit`` of a pure function
    ``(raw values, *args) -> (new raw values, out)`` that merges the nodes from
    the cached graph definition, calls ``fn`` and flattens them again, returning
    only the values ``fn`` assigned; the call then writes those into the same
    Variable objects (no donation: the old arrays stay valid for whoever holds
    them).

    What this cannot key falls back to ``nnx.jit(fn)`` (the same results, with
    the per-call graph traversal): state leaves that are not Variables, Variables
    holding array refs (``ref``/``hijax`` metadata), metadata that cannot be
    hashed, a graph too deep or cyclic for ``jax.tree.flatten``, or an ``fn`` that
    changes its nodes' structure.

    Args:
        fn: ``fn(*nodes, *args) -> out``, traceable; it may update the nodes' Variables.
        num_nodes: how many leading arguments are NNX graph nodes (model, optimizer).
    """

    #: structures kept per step (each with its compiled functions); the oldest is dropped beyond
    MAX_STRUCTURES = 16

    def __init__(self, fn: Callable, num_nodes: int):
        self.fn = fn
        self.num_nodes = num_nodes
        self._entries: dict[Hashable, tuple | str] = {}
        self._graph_jit: Callable | None = None
        self._warned: set[str] = set()
        functools.update_wrapper(self, fn)

    def _fallback(self, why: str, *args):
        if why not in self._warned:  # once per reason and step: the results are the same, only slower
            self._warned.add(why)
            warnings.warn(f"snnx step {getattr(self.fn, '__name__', '')!r}: {why}; compiled with nnx.jit "
                          "instead (the same results, about a millisecond more per call)", stacklevel=4)
        if self._graph_jit is None:
            self._graph_jit = nnx.jit(self.fn)
        return self._graph_jit(*args)

    def __call__(self, *args):
        return self.bind(*args[: self.num_nodes])(*args[self.num_nodes :])

    def bind(self, *nodes) -> Callable:
        """``call(*args)``, the same as ``self(*nodes, *args)``, with the structure of ``nodes`` looked up
        now rather than on every call: for a loop in which nothing but ``call`` touches the nodes
        (``fit``'s epoch). Each call still reads the Variables' values and writes the new ones back.
        """
        if len(nodes) != self.num_nodes:
            raise TypeError(f"`bind` takes the {self.num_nodes} graph node(s), got {len(nodes)} argument(s)")
        try:
            variables, treedef = jax.tree.flatten(nodes, is_leaf=_is_variable)
            key = (treedef, jax.tree.structure(variables), _sharing(variables))
            entry = self._entries.get(key, False)
        except (RecursionError, TypeError):
            why = "a cyclic or very deep graph, or unhashable metadata"
            return functools.partial(self._fallback, why, *nodes)
        if entry is False:
            entry = self._build(nodes, variables)
            if len(self._entries) >= self.MAX_STRUCTURES:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = entry
        if isinstance(entry, str):
            return functools.partial(self._fallback, entry, *nodes)
        order, jitted = entry
        selected = [variables[i] for i in order]
        changes_graph = "the step changes its nodes' graph structure"
        broken = []

        def call(*args):
            if broken:
                return self._fallback(changes_graph, *nodes, *args)
            try:
                changed, out = jitted([v.get_raw_value() for v in selected], *args)
            except _StructureChanged:  # raised while tracing, before anything ran
                self._entries[key] = changes_graph
                broken.append(True)
                return self._fallback(changes_graph, *nodes, *args)
            for k, value in changed.items():
                selected[k].set_raw_value(value)
            return out

        return call

    def _build(self, nodes, variables) -> tuple | str:
        """``(order, jitted)`` for this structure, or why it takes the ``nnx.jit`` fallback.

        ``order[k]``: the index in ``variables`` (tree order) of the graph state's ``k``-th Variable.
        """
        if not all(map(_is_variable, variables)):
            return "state leaves that are not nnx.Variables"
        if any(v.get_metadata().get("ref") or v.get_metadata().get("hijax") for v in variables):
            return "Variables holding array refs (ref/hijax metadata)"
        graphdef, flat = nnx.graph.flatten(nodes, graph=True)
        position: dict[int, int] = {}
        for i, v in enumerate(variables):
            position.setdefault(id(v), i)
        if not all(_is_variable(v) and id(v) in position for v in flat.leaves):
            return "graph state that jax.tree.flatten does not see"
        order = tuple(position[id(v)] for v in flat.leaves)
        fn = self.fn

        def pure(values, *rest):
            inner = nnx.graph.unflatten(graphdef, list(values))
            out = fn(*inner, *rest)
            after, new_values = nnx.graph.flatten(inner, with_paths=False, graph=True)
            if after != graphdef:
                raise _StructureChanged
            # only what fn assigned (an evaluation: nothing) comes back and is written
            pairs = enumerate(zip(values, new_values, strict=True))
            changed = {k: new for k, (old, new) in pairs if new is not old}
            return changed, out

        return order, jax.jit(pure)
