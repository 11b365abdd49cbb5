"""Graph algorithms (``snnx._graphs``) on small hand-made graphs; expected results worked out by hand.

Edges are listed as ``(src, dst)``; an edge's id is its index in the list.
"""

from __future__ import annotations

import pytest

from snnx._graphs import back_edges, reachable, topological_order

CHAIN = [("in", "a"), ("a", "b"), ("b", "out")]
#        in -> a -> b -> out

DIAMOND = [("in", "a"), ("a", "b"), ("a", "c"), ("c", "d"), ("b", "d"), ("d", "out")]
#        in -> a -> {b, c} -> d -> out   (c listed before d's other parent b)

SELF_LOOP = [("in", "a"), ("a", "a"), ("a", "out")]

TWO_CYCLE = [("in", "a"), ("a", "b"), ("b", "a"), ("b", "out")]
#        in -> a <-> b -> out: b -> a closes the cycle (a is still on the stack)

UNREACHABLE = [("in", "a"), ("a", "out"), ("x", "a"), ("a", "y"), ("x", "y")]
#        x is never reached from "in"; y never reaches "out"


def forward(edges, back):
    return [e for i, e in enumerate(edges) if i not in back]


@pytest.mark.parametrize(
    ("edges", "reached", "back"),
    [
        (CHAIN, {"in", "a", "b", "out"}, set()),
        (DIAMOND, {"in", "a", "b", "c", "d", "out"}, set()),
        (SELF_LOOP, {"in", "a", "out"}, {1}),
        (TWO_CYCLE, {"in", "a", "b", "out"}, {2}),
        (UNREACHABLE, {"in", "a", "out", "y"}, set()),
    ],
    ids=["chain", "diamond", "self-loop", "two-cycle", "unreachable"],
)
def test_back_edges(edges, reached, back):
    assert back_edges(["in"], edges) == (reached, back)


def test_back_edge_depends_on_where_the_search_enters_the_cycle():
    # entering the 2-cycle at b instead of a makes a -> b the back edge
    edges = [("in", "b"), ("a", "b"), ("b", "a")]
    assert back_edges(["in"], edges) == ({"in", "a", "b"}, {1})


def test_back_edges_longer_cycle_and_several_starts():
    # in1 -> a -> b -> c -> a (back: c -> a), in2 -> c (c already finished: not a back edge)
    edges = [("in1", "a"), ("a", "b"), ("b", "c"), ("c", "a"), ("in2", "c")]
    assert back_edges(["in1", "in2"], edges) == ({"in1", "in2", "a", "b", "c"}, {3})
    # a start already reached is skipped
    assert back_edges(["in1", "a"], edges) == ({"in1", "a", "b", "c"}, {3})


def test_back_edges_deep_chain_needs_no_recursion():
    edges = [(i, i + 1) for i in range(5000)] + [(5000, 0)]
    reached, back = back_edges([0], edges)
    assert reached == set(range(5001)) and back == {5000}


@pytest.mark.parametrize(
    ("edges", "starts", "backward", "expected"),
    [
        (CHAIN, ["in"], False, {"in", "a", "b", "out"}),
        (CHAIN, ["b"], False, {"b", "out"}),
        (CHAIN, ["b"], True, {"in", "a", "b"}),
        (DIAMOND, ["b"], False, {"b", "d", "out"}),
        (DIAMOND, ["d"], True, {"in", "a", "b", "c", "d"}),
        (SELF_LOOP, ["a"], True, {"in", "a"}),
        (TWO_CYCLE, ["b"], False, {"a", "b", "out"}),
        (UNREACHABLE, ["in"], False, {"in", "a", "out", "y"}),
        (UNREACHABLE, ["out"], True, {"in", "a", "out", "x"}),
        (UNREACHABLE, ["zzz"], False, {"zzz"}),  # a start with no edges reaches itself
    ],
)
def test_reachable(edges, starts, backward, expected):
    assert reachable(starts, edges, backward=backward) == expected


@pytest.mark.parametrize(
    ("nodes", "edges", "expected"),
    [
        (["a", "b"], CHAIN, ["a", "b"]),
        (["b", "a"], CHAIN, ["a", "b"]),
        # a first; then b and c are both ready: b comes first in `nodes`; d needs both
        (["a", "b", "c", "d"], DIAMOND, ["a", "b", "c", "d"]),
        (["d", "c", "b", "a"], DIAMOND, ["a", "c", "b", "d"]),
        (["a"], forward(SELF_LOOP, {1}), ["a"]),
        (["b", "a"], forward(TWO_CYCLE, {2}), ["a", "b"]),
        # edges with an end outside `nodes` ("in", "out", "x", "y") are ignored
        (["a"], UNREACHABLE, ["a"]),
        (["x", "a", "y"], UNREACHABLE, ["x", "a", "y"]),
        (["y", "a", "x"], UNREACHABLE, ["x", "a", "y"]),
        (["p", "q"], [], ["p", "q"]),
    ],
)
def test_topological_order(nodes, edges, expected):
    assert topological_order(nodes, edges) == expected


def test_topological_order_refuses_a_cycle():
    with pytest.raises(ValueError, match=r"`edges` must be acyclic on `nodes`, but the nodes \['a', 'b'\]"):
        topological_order(["a", "b"], TWO_CYCLE)
    with pytest.raises(ValueError, match=r"the nodes \['a'\]"):
        topological_order(["a"], SELF_LOOP)
