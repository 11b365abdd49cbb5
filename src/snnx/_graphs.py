"""Directed-graph algorithms shared by the engine's ``Graph`` and the NIR reader (pure Python).

A graph here is a sequence of edges ``(src, dst)`` between hashable node names;
an edge is identified by its index in that sequence, so parallel edges and
self-loops are distinct and ordered. Every algorithm is deterministic: it visits
successors in the order of ``edges`` and, where several nodes are equally ready,
takes them in the order the caller gives.

Example (a two-node cycle fed by ``"in"``)::

    >>> edges = [("in", "a"), ("a", "b"), ("b", "a")]
    >>> reached, back = back_edges(["in"], edges)
    >>> sorted(reached), back
    (['a', 'b', 'in'], {2})
    >>> topological_order(["a", "b"], [e for i, e in enumerate(edges) if i != 2])
    ['a', 'b']
    >>> sorted(reachable(["a"], edges, backward=True))
    ['a', 'b', 'in']
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable, Sequence
from typing import TypeVar

N = TypeVar("N", bound=Hashable)

__all__ = ["back_edges", "reachable", "topological_order"]


def _adjacency(edges: Iterable[tuple[N, N]], *, backward: bool = False) -> dict[N, list[tuple[int, N]]]:
    """``{node: [(edge index, neighbour), ...]}`` in edge order (predecessors if ``backward``)."""
    adj: dict[N, list[tuple[int, N]]] = {}
    for eid, (src, dst) in enumerate(edges):
        if backward:
            src, dst = dst, src
        adj.setdefault(src, []).append((eid, dst))
    return adj


def back_edges(starts: Iterable[N], edges: Sequence[tuple[N, N]]) -> tuple[set[N], set[int]]:
    """Depth-first search from ``starts``: the nodes reached and the edges that close cycles.

    The search starts from each of ``starts`` in turn (skipping one already
    reached) and follows each node's outgoing edges in the order of ``edges``. An
    edge is a *back edge* when it leads to a node still on the search stack (an
    ancestor, or the node itself for a self-loop). Removing the back edges leaves
    the reached part of the graph acyclic. Edges out of nodes that are never
    reached are never classified. Iterative, so deep graphs do not hit Python's
    recursion limit.

    Args:
        starts: the nodes to search from.
        edges: ``(src, dst)`` pairs.

    Returns:
        ``(reached, back)``: the set of nodes reached (``starts`` included) and the
        set of indices into ``edges`` of the back edges.
    """
    succ = _adjacency(edges)
    state: dict[N, int] = {}  # 1: on the stack, 2: finished
    back: set[int] = set()
    for start in starts:
        if start in state:
            continue
        state[start] = 1
        stack = [(start, iter(succ.get(start, ())))]
        while stack:
            name, children = stack[-1]
            for eid, child in children:
                mark = state.get(child)
                if mark == 1:
                    back.add(eid)
                elif mark is None:
                    state[child] = 1
                    stack.append((child, iter(succ.get(child, ()))))
                    break
            else:
                state[name] = 2
                stack.pop()
    return set(state), back


def reachable(starts: Iterable[N], edges: Iterable[tuple[N, N]], *, backward: bool = False) -> set[N]:
    """The nodes reachable from ``starts`` along ``edges`` (``starts`` included).

    Args:
        starts: the nodes to search from.
        edges: ``(src, dst)`` pairs.
        backward: follow edges from ``dst`` to ``src`` instead, i.e. return the
            nodes from which some node of ``starts`` can be reached.
    """
    adj = _adjacency(edges, backward=backward)
    seen = set(starts)
    todo = list(seen)
    while todo:
        for _, nxt in adj.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def topological_order(nodes: Sequence[N], edges: Iterable[tuple[N, N]]) -> list[N]:
    """Order ``nodes`` so that every edge between two of them goes forwards (Kahn's algorithm).

    Stable: whenever several nodes have all their predecessors placed, the one
    that comes first in ``nodes`` is placed next, so an order that is already
    topological is returned unchanged. Edges with an end outside ``nodes`` (e.g.
    from an input pseudo-node) are ignored.

    Args:
        nodes: the node names, in their preferred order.
        edges: ``(src, dst)`` pairs; must be acyclic on ``nodes`` (drop the back
            edges found by :func:`back_edges` first).

    Returns:
        ``nodes`` reordered.

    Raises:
        ValueError: the edges form a cycle; the message names the nodes left.
    """
    rank = {n: i for i, n in enumerate(nodes)}
    indeg = dict.fromkeys(nodes, 0)
    succ: dict[N, list[N]] = {}
    for src, dst in edges:
        if src in rank and dst in rank:
            succ.setdefault(src, []).append(dst)
            indeg[dst] += 1
    pending = [(rank[n], n) for n in nodes if indeg[n] == 0]
    heapq.heapify(pending)
    order = []
    while pending:
        _, name = heapq.heappop(pending)
        order.append(name)
        for dst in succ.get(name, ()):
            indeg[dst] -= 1
            if indeg[dst] == 0:
                heapq.heappush(pending, (rank[dst], dst))
    if len(order) != len(rank):
        left = [n for n in nodes if indeg[n] > 0]
        raise ValueError(f"`edges` must be acyclic on `nodes`, but the nodes {left} lie on or after a cycle")
    return order
