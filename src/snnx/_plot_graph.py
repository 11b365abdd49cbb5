"""Drawing a NIR graph (``snnx.plot.graph``): layered layout, boxes and arrows, no graph library.

Layout: the back edges (edges that close a cycle, found by a depth-first search
from the Input nodes) are set aside; every node's column is its longest-path
depth from the inputs over the remaining acyclic graph; inside a column the
nodes are stacked top to bottom in the order of the mean row of their
predecessors (fewer crossings), then in topological order. Sizes are in
inches: one data unit is one inch in a figure this module makes.
"""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import nir
import numpy as np
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.textpath import TextPath

from snnx import _graphs
from snnx._checks import ArgumentTypeError

_FONT = 8.5  # points
_LINE = _FONT * 1.35 / 72  # inches per text line
_PAD = 0.08  # inches of box around the text
_GAP_X, _GAP_Y = 0.55, 0.3  # inches between columns, between boxes of a column
_EDGE, _BACK = "0.2", "#D55E00"  # Okabe-Ito vermillion for back edges
# box colours by kind (Okabe-Ito): what the node does
_KINDS = {
    "Input": "#56B4E9", "Output": "#56B4E9",
    "LIF": "#E69F00", "LI": "#E69F00", "IF": "#E69F00", "I": "#E69F00", "CubaLIF": "#E69F00",
    "CubaLI": "#E69F00", "Threshold": "#E69F00",
    "Affine": "#0072B2", "Linear": "#0072B2", "Conv1d": "#0072B2", "Conv2d": "#0072B2", "Scale": "#0072B2",
    "NIRGraph": "#CC79A7",
}  # fmt: skip
_OTHER = "#009E73"  # Flatten, pooling, Delay, ...


def _shape_text(shape) -> str:
    if shape is None:
        return "?"
    dims = [str(int(d)) for d in np.ravel(np.asarray(shape))]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _declared(node, key: str):
    types = getattr(node, key, None)
    if isinstance(types, dict) and types:
        value = next(iter(types.values()))
        return None if value is None or np.size(value) == 0 else value
    return None


def _shapes(g: nir.NIRGraph) -> tuple[dict, dict]:
    """Inferred input and output shapes of the top-level nodes (declared ones where inference fails)."""
    from snnx.nir import NIRError, _topology

    try:
        ins, outs, _ = _topology.analyse(_topology.flatten(g))
    except (NIRError, ValueError, TypeError, KeyError):
        ins, outs = {}, {}
    shape_in, shape_out = {}, {}
    for name, node in g.nodes.items():
        if isinstance(node, nir.NIRGraph):
            inner = list(node.nodes.values())
            shape_in[name] = next(
                (_declared(n, "input_type") for n in inner if isinstance(n, nir.Input)), None
            )
            shape_out[name] = next(
                (_declared(n, "output_type") for n in inner if isinstance(n, nir.Output)), None
            )
        else:
            shape_in[name] = ins.get(name, _declared(node, "input_type"))
            shape_out[name] = outs.get(name, _declared(node, "output_type"))
    return shape_in, shape_out


def _label(name: str, node, shape_in, shape_out) -> tuple[str, str]:
    """The name line (bold) and the detail lines of a node's box."""
    kind = type(node).__name__ if node is not None else "missing node"
    if isinstance(node, nir.NIRGraph):
        kind = f"NIRGraph ({len(node.nodes)} nodes)"
    if isinstance(node, nir.Input):
        shape = _shape_text(shape_out)
    elif isinstance(node, nir.Output):
        shape = _shape_text(shape_in)
    elif shape_in is None and shape_out is None:
        shape = ""
    else:
        a, b = _shape_text(shape_in), _shape_text(shape_out)
        shape = a if a == b else f"{a} → {b}"
    return name, kind + ("\n" + shape if shape else "")


def _width(text: str, weight: str = "normal") -> float:
    prop = FontProperties(size=_FONT, weight=weight)
    widths = [TextPath((0, 0), line, prop=prop).get_extents().width for line in text.split("\n") if line]
    return max(widths, default=0.0) / 72


def _layout(names: list[str], edges: list[tuple[str, str]], inputs: list[str]):
    """Column and in-column order of every node, and the indices of the back edges."""
    _, back = _graphs.back_edges(inputs + [n for n in names if n not in inputs], edges)
    forward = [e for i, e in enumerate(edges) if i not in back]
    order = _graphs.topological_order(names, forward)
    preds: dict[str, list[str]] = {n: [] for n in names}
    for src, dst in forward:
        preds[dst].append(src)
    depth: dict[str, int] = {}
    for n in order:
        depth[n] = max((depth[p] + 1 for p in preds[n]), default=0)
    columns: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    row: dict[str, float] = {}
    rank = {n: i for i, n in enumerate(order)}
    for n in order:
        columns[depth[n]].append(n)
    for col in columns:
        col.sort(key=lambda n: (np.mean([row[p] for p in preds[n]]) if preds[n] else rank[n], rank[n]))
        for i, n in enumerate(col):
            row[n] = i - (len(col) - 1) / 2
    return columns, back


def _arc(a: str, b: str, is_back: bool, centre: dict, size: dict, span: int):
    """Ends and ``arc3`` curvature of an edge: back edges bow above, edges that skip columns below."""
    (xa, ya), (xb, yb) = centre[a], centre[b]
    if a == b:  # self-loop: from the top right of the box to its top left, over the top
        half = max(0.3 * size[a][0], 0.15)
        top = ya + size[a][1] / 2
        return (xa + half, top), (xa - half, top), 1.4
    length = float(np.hypot(xb - xa, yb - ya))
    if is_back:  # rises at most about 0.6 in above the line between the centres
        return (xa, ya), (xb, yb), min(0.35, 1.2 / length)
    return (xa, ya), (xb, yb), (min(0.2, 0.8 / length) if span > 1 else 0.0)


def graph(g, *, ax=None, title: str | None = None):
    """Draw a NIR graph: nodes as labelled boxes, edges as arrows, back edges dashed.

    Each box names the node, its NIR primitive (``LIF``, ``Affine``, ...) and its
    shape (``in → out`` where they differ; shapes are inferred as
    :func:`snnx.nir.from_nir` does, falling back on the node's declared
    ``input_type``/``output_type``). Box colours group the primitives (Okabe–Ito):
    inputs and outputs sky blue, neurons orange, weights blue, nested graphs
    purple, the rest green. Columns run left to right by longest-path depth from
    the Input nodes; a *back edge* (one that closes a cycle, e.g. a recurrent
    weight feeding a neuron) is a dashed vermillion arc, named in the legend.
    A nested ``nir.NIRGraph`` is one box "NIRGraph (k nodes)", not expanded;
    edges into ``sub.node`` attach to the box of ``sub``.

    Args:
        g: a ``nir.NIRGraph`` (e.g. from :func:`snnx.nir.read`) or the path of a NIR file.
        ax: the axes to draw into (its axis lines are hidden); None makes a
            figure sized to the graph (one data unit = one inch). In a much
            smaller ``ax`` the labels may overflow their boxes.
        title: the axes title; None writes none.

    Returns:
        ``(fig, ax)``.

    Example:
        >>> g = snnx.nir.to_nir(model, (20,), 1e-3)
        >>> fig, ax = graph(g)
        >>> fig.savefig("graph.png", dpi=150)
    """
    if isinstance(g, (str, os.PathLike)):
        from snnx.nir import read

        g = read(g)
    if not isinstance(g, nir.NIRGraph):
        raise ArgumentTypeError(
            f"`g` must be a nir.NIRGraph or the path of a NIR file, got {type(g).__name__}"
        )
    names = list(g.nodes)

    def top(endpoint: str) -> str:  # "sub.node" -> "sub" for a nested graph's node
        endpoint = str(endpoint)
        if endpoint in g.nodes:
            return endpoint
        head = endpoint.split(".")[0]
        if head in g.nodes:
            return head
        if endpoint not in names:
            names.append(endpoint)  # drawn as a grey "missing node" box
        return endpoint

    edges = [(top(a), top(b)) for a, b in g.edges]
    inputs = [n for n, v in g.nodes.items() if isinstance(v, nir.Input)]
    columns, back = _layout(names, edges, inputs)
    column = {n: i for i, col in enumerate(columns) for n in col}
    shape_in, shape_out = _shapes(g)
    labels = {n: _label(n, g.nodes.get(n), shape_in.get(n), shape_out.get(n)) for n in names}
    size = {}
    for n, (head, rest) in labels.items():
        lines = 1 + rest.count("\n") + 1
        size[n] = (max(_width(head, "bold"), _width(rest)) + 2 * _PAD, lines * _LINE + 2 * _PAD)
    centre, x = {}, 0.0
    for col in columns:
        width = max(size[n][0] for n in col)
        height = sum(size[n][1] for n in col) + _GAP_Y * (len(col) - 1)
        y = height / 2
        for n in col:
            centre[n] = (x + width / 2, y - size[n][1] / 2)
            y -= size[n][1] + _GAP_Y
        x += width + _GAP_X
    arcs = [_arc(a, b, i in back, centre, size, abs(column[a] - column[b])) for i, (a, b) in enumerate(edges)]
    # extent: the boxes, the apex of every curved edge, a strip below for the legend
    left = min(x - size[n][0] / 2 for n, (x, _) in centre.items())
    right = max(x + size[n][0] / 2 for n, (x, _) in centre.items())
    bottom = min(y - size[n][1] / 2 for n, (_, y) in centre.items())
    top = max(y + size[n][1] / 2 for n, (_, y) in centre.items())
    for (xa, ya), (xb, yb), rad in arcs:  # a quadratic Bezier's apex lies halfway to its control point
        mid_x, mid_y = (xa + xb) / 2 + rad * (yb - ya) / 2, (ya + yb) / 2 - rad * (xb - xa) / 2
        left, right = min(left, mid_x), max(right, mid_x)
        bottom, top = min(bottom, mid_y), max(top, mid_y)
    xlim = (left - 0.15, right + 0.15)
    ylim = (bottom - 0.15 - 0.35, top + 0.15)  # 0.35 in: the legend
    if ax is None:
        title_room = 0.0 if title is None else 0.35
        width, height = max(xlim[1] - xlim[0], 3.0), max(ylim[1] - ylim[0], 1.5) + title_room
        fig, ax = plt.subplots(figsize=(width, height))
        fig.subplots_adjust(0, 0, 1, 1 - title_room / height)
    fig = ax.figure
    boxes = {}
    for n, (cx, cy) in centre.items():
        w, h = size[n]
        node = g.nodes.get(n)
        colour = _KINDS.get(type(node).__name__, _OTHER) if node is not None else "#999999"
        box = FancyBboxPatch((cx - w / 2, cy - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.06",
                             fc=colour + "33", ec=colour, lw=1.3, zorder=2)  # fmt: skip
        ax.add_patch(box)
        boxes[n] = box
        head, rest = labels[n]
        top_text = cy + h / 2 - _PAD
        ax.text(cx, top_text, head, ha="center", va="top", fontsize=_FONT, fontweight="bold", zorder=3,
                gid="node")  # fmt: skip
        ax.text(cx, top_text - _LINE, rest, ha="center", va="top", fontsize=_FONT, linespacing=1.35, zorder=3,
                gid="node")  # fmt: skip
    for i, ((a, b), (pos_a, pos_b, rad)) in enumerate(zip(edges, arcs, strict=True)):
        is_back = i in back
        ends = {} if a == b else {"patchA": boxes[a], "patchB": boxes[b], "shrinkA": 1, "shrinkB": 1}
        arrow = FancyArrowPatch(pos_a, pos_b, connectionstyle=f"arc3,rad={rad:.3f}", arrowstyle="-|>",
                                mutation_scale=11, lw=1.3 if is_back else 1.1, zorder=1,
                                color=_BACK if is_back else _EDGE, linestyle="--" if is_back else "-",
                                **ends)  # fmt: skip
        arrow.set_gid("back edge" if is_back else "edge")
        ax.add_patch(arrow)
    handles = [Line2D([], [], color=_EDGE, lw=1.1, label="edge")]
    if back:
        handles.append(Line2D([], [], color=_BACK, lw=1.3, ls="--", label="back edge (closes a cycle)"))
    ax.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=_FONT)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title)
    return fig, ax
