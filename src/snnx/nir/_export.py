"""``to_nir``: write an snnx model as a NIR graph that NIR's own equations run identically.

The per-layer mapping lives in :mod:`snnx.nir._export_layers` (one table,
``EXPORTERS``, plus the documented refusals ``REFUSED``); this module walks the
model (a single layer, a ``Sequential`` or a ``Graph``), tracks the
channels-first shape of every tensor, wires the fragments together and lets
``nir.NIRGraph`` check the types. See docs/nir.md for the mapping table.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import nir
import numpy as np
from flax import nnx

from snnx._checks import ShapeError
from snnx.engine import Graph, Sequential
from snnx.nir._discretise import check_dt
from snnx.nir._errors import NIRError
from snnx.nir._export_base import Context, Fragment, Shape, chain
from snnx.nir._export_layers import EXPORTERS, REFUSED
from snnx.nir._layout import ToChannelsFirst, ToChannelsLast

__all__ = ["exportable_types", "refused_types", "to_nir"]


def exportable_types() -> tuple[type, ...]:
    """The layer types :func:`to_nir` can write (besides ``Sequential`` and ``Graph``).

    Exact types: a subclass is not exportable as its parent (it may change the
    maths). The tuple also holds the layout helpers that :func:`from_nir` puts
    into the models it builds, so that such models can be written back.

    Example:
        >>> nnx.Linear in exportable_types()
        True
    """
    return tuple(EXPORTERS)


def refused_types() -> dict[type, str]:
    """Layer types :func:`to_nir` refuses on purpose, with the reason it gives.

    Returns:
        A new dict ``{type: reason}``; the reason is the text of the
        :class:`~snnx.nir.NIRError` that ``to_nir`` raises for that type.

    Example:
        >>> from snnx.layers import MaxPool
        >>> "max-pooling" in refused_types()[MaxPool]
        True
    """
    return dict(REFUSED)


def _shape(arg: str, value) -> Shape:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value,)
    try:
        out = tuple(int(d) for d in np.ravel(np.asarray(value)))
        ok = len(out) > 0 and all(d > 0 for d in out) and np.asarray(value).dtype.kind in "iu"
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            f"`{arg}` must be a channels-first shape without batch, e.g. (N,) or (C, H, W), got {value!r}"
        )
    return out


def _shapes(arg: str, value, names: tuple[str, ...], *, free_name: bool) -> dict[str, Shape]:
    """``value`` is one shape (when ``names`` has one entry) or a dict ``{name: shape}``.

    With ``free_name`` a one-entry dict may use any key (it names the node).
    """
    if isinstance(value, Mapping):
        if free_name and len(names) == 1 and len(value) == 1:
            ((key, shape),) = value.items()
            return {str(key): _shape(f"{arg}[{key!r}]", shape)}
        if set(value) != set(names):
            raise ValueError(f"`{arg}` must have the keys {list(names)}, got {sorted(map(str, value))}")
        return {n: _shape(f"{arg}[{n!r}]", value[n]) for n in names}
    if len(names) != 1:
        raise ValueError(f"`{arg}` must be a dict with one shape per name {list(names)}, got {value!r}")
    return {names[0]: _shape(arg, value)}


def _names(value) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _supported_in_words() -> str:
    """The exportable types as a user writes them (from_nir's internal helpers left out)."""
    groups: dict[str, list[str]] = {"flax": [], "snnx.layers": [], "snnx.neurons": []}
    for kind in EXPORTERS:
        module = kind.__module__
        if module.startswith("flax"):
            groups["flax"].append(f"nnx.{kind.__name__}")
        elif module.startswith("snnx.layers"):
            groups["snnx.layers"].append(kind.__name__)
        elif module.startswith("snnx.neurons"):
            groups["snnx.neurons"].append(kind.__name__)
    return (
        f"{', '.join(groups['flax'])}; the layers {', '.join(sorted(groups['snnx.layers']))}; "
        f"the neurons {', '.join(sorted(groups['snnx.neurons']))}; and Sequential and Graph "
        "containers of these"
    )


def _unknown(layer, name: str, where: str) -> NIRError:
    """The error for a layer that is neither exportable nor a documented refusal."""
    kind = type(layer)
    at = f"layer {name!r} ({where})" if where else f"layer {name!r}"
    if not isinstance(layer, nnx.Module) and callable(layer) and hasattr(layer, "__name__"):
        what = (
            f"is the plain function {layer.__name__!r} (not an nnx.Module), which has no NIR "
            "exporter: to_nir cannot see what a function computes"
        )
    elif not isinstance(layer, nnx.Module):
        what = f"is a {kind.__name__} object (not an nnx.Module), which has no NIR exporter"
    else:
        parent = next((t.__name__ for t in EXPORTERS if isinstance(layer, t)), None)
        what = f"is a {kind.__name__} ({kind.__module__}.{kind.__qualname__}), which has no NIR exporter"
        if parent is not None:
            what += f" (a subclass of {parent} may change its maths, so it is not written as one)"
    return NIRError(
        f"{at} {what}, so the model cannot be written (a layer is never skipped). to_nir writes "
        f"{_supported_in_words()}.",
        node=name,
    )


def _export_layer(layer, name: str, shape: Shape, ctx: Context, where: str = "") -> Fragment | None:
    """One layer (or a nested container) as a fragment of NIR nodes; ``None``: no node (identity).

    ``where`` says where the layer sits (its index in a Sequential) for error messages.
    """
    if isinstance(layer, Sequential):
        frag = None
        for i, child in enumerate(layer.layers):
            within = "the Sequential" if name == "layer" else f"the Sequential {name!r}"
            part = _export_layer(child, f"{name}_{i}", shape, ctx, f"index {i} in {within}")
            if part is not None:
                frag = part if frag is None else chain(frag, part)
                shape = part.shape
        return frag
    if isinstance(layer, Graph):
        if len(_names(layer.inputs)) != 1 or len(_names(layer.outputs)) != 1:
            raise NIRError(f"layer {name!r} (Graph): a nested graph needs exactly one input and one output")
        sub = _build(layer, {_names(layer.inputs)[0]: shape}, ctx)
        out_shape = tuple(int(d) for d in next(iter(sub.output_type.values())))
        return Fragment({name: sub}, [], name, name, out_shape)
    kind = type(layer)
    if kind in EXPORTERS:
        frag = EXPORTERS[kind](layer, name, tuple(shape), ctx)
        if getattr(layer, "state_quant", None) is not None and frag is not None:
            _note_state_quant(frag.nodes.values(), layer.state_quant.as_dict())
            ctx.state_quant.append(f"{name!r} ({kind.__name__})")
        return frag
    if kind in REFUSED:
        at = f"{where}, {kind.__name__}" if where else kind.__name__
        raise NIRError(f"layer {name!r} ({at}) cannot be exported to NIR: {REFUSED[kind]}", node=name)
    raise _unknown(layer, name, where)


_NEURON_NODES = (nir.LIF, nir.IF, nir.LI, nir.I, nir.CubaLIF, nir.CubaLI)


def _note_state_quant(nodes, grid: dict) -> None:
    """Record a layer's fixed-point membrane grid on its neuron nodes (inside a recurrent subgraph too)."""
    for node in nodes:
        if isinstance(node, nir.NIRGraph):
            _note_state_quant(node.nodes.values(), grid)
        elif isinstance(node, _NEURON_NODES):
            node.metadata = {**(node.metadata or {}), "state_quant": dict(grid)}


def _unwrap(model):
    """``Sequential(adapter, Graph, adapter)`` (what from_nir builds for a graph) is the Graph itself."""
    if isinstance(model, Sequential):
        kept = [layer for layer in model.layers if type(layer) not in (ToChannelsLast, ToChannelsFirst)]
        if len(kept) == 1 and isinstance(kept[0], Graph):
            return kept[0]
    return model


def _sequence(model, in_name: str, shape: Shape, ctx: Context):
    # A Sequential's layers are named layer_0, layer_1, ...; a lone layer is layer_0.
    frag = _export_layer(model, "layer" if isinstance(model, Sequential) else "layer_0", shape, ctx)
    if frag is None:
        raise NIRError(
            f"the model ({type(model).__name__}) has no layer that NIR can represent: nothing to export"
        )
    out_name = "output" if in_name != "output" else "output_0"
    nodes = {in_name: nir.Input(input_type=np.array(shape)), **frag.nodes}
    nodes[out_name] = nir.Output(output_type=np.array(frag.shape))
    edges = [(in_name, frag.entry), *frag.edges, (frag.exit, out_name)]
    return nodes, edges


def _graph(model: Graph, shapes: dict[str, Shape], ctx: Context):
    """Export a :class:`snnx.engine.Graph`: one fragment per node, edges rewired to fragment ends.

    A node name with a '.' (``from_nir`` flattens nested graphs to ``"outer.inner"``) is
    written with ``'_'`` instead, since NIR reads '.' as a path into a nested graph.
    A node that writes no NIR node (an identity) is bypassed: each of its sources
    feeds each of its destinations directly (NIR sums edges, so nothing changes).
    """
    in_names, out_names = _names(model.inputs), _names(model.outputs)
    back = set(model.back_edges)
    node_shape: dict[str, Shape] = dict(shapes)
    frags: dict[str, Fragment | None] = {}
    nodes: dict[str, nir.NIRNode] = {n: nir.Input(input_type=np.array(shapes[n])) for n in in_names}

    def incoming(dst: str) -> Shape:
        srcs = [s for s, d in model.edges if d == dst and (s, d) not in back]
        got = {s: node_shape[s] for s in srcs}
        if len(set(got.values())) != 1:
            raise NIRError(f"graph node {dst!r}: the edges into it carry different shapes {got}", node=dst)
        return next(iter(got.values()))

    for name in model.order:
        # NIR reserves '.' for addressing nested graphs; a flattened name ("outer.inner", as
        # from_nir makes them) is written as "outer_inner" (a clash is refused below).
        frag = _export_layer(model.nodes[name], name.replace(".", "_"), incoming(name), ctx)
        if frag is not None:
            clash = set(frag.nodes) & set(nodes)
            if clash:
                raise NIRError(
                    f"graph node {name!r}: NIR node names {sorted(clash)} are used twice", node=name
                )
            nodes.update(frag.nodes)
        frags[name] = frag
        node_shape[name] = incoming(name) if frag is None else frag.shape
    for name in out_names:
        node_shape[name] = incoming(name)
        nodes[name] = nir.Output(output_type=np.array(node_shape[name]))
    for src, dst in back:
        if node_shape[src] != incoming(dst):
            raise NIRError(
                f"back edge ({src!r}, {dst!r}) carries shape {node_shape[src]}, but {dst!r} takes "
                f"{incoming(dst)}",
                node=dst,
            )

    def sources(name: str, trail: tuple = ()) -> list[str]:
        """The NIR node(s) whose output ``name`` emits."""
        if name in in_names:
            return [name]
        if frags[name] is not None:
            return [frags[name].exit]
        if name in trail:
            raise NIRError(f"graph node {name!r}: a cycle of identity nodes has no NIR form", node=name)
        return [s for src, d in model.edges if d == name for s in sources(src, (*trail, name))]

    edges = [edge for frag in frags.values() if frag is not None for edge in frag.edges]
    for src, dst in model.edges:
        if dst not in out_names and frags[dst] is None:
            continue  # bypassed identity
        target = dst if dst in out_names else frags[dst].entry
        for origin in sources(src):
            if (origin, target) in edges:
                raise NIRError(
                    f"edge {(src, dst)}: NIR would need the edge {(origin, target)} twice", node=dst
                )
            edges.append((origin, target))
    return nodes, edges


def _build(model, shapes: dict[str, Shape], ctx: Context) -> nir.NIRGraph:
    if isinstance(model, Graph):
        nodes, edges = _graph(model, shapes, ctx)
    else:
        ((in_name, shape),) = shapes.items()
        nodes, edges = _sequence(model, in_name, shape, ctx)
    metadata = {"source": "snnx", "dt": ctx.dt}
    try:
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)
    except (ValueError, AssertionError) as err:
        raise NIRError(f"NIR's type inference rejected the exported graph: {err}") from err


def to_nir(model, input_shape=None, dt: float | None = None, output_shape=None) -> nir.NIRGraph:
    """Write an snnx model as a NIR graph (channels-first, forward-Euler faithful).

    Every layer becomes NIR nodes whose forward-Euler reading at step ``dt``
    (docs/nir-semantics.md) reproduces what snnx computes: ``beta`` is written as
    ``tau = dt / (1 - beta)`` with ``r = tau / dt`` (unit input gain),
    ``alpha`` as ``tau_syn = dt / (1 - alpha)`` with ``w_in = tau_syn / dt``;
    decays are clipped to [0, 1] as the neurons do, and a decay of 1 is written
    as ``nir.I`` / ``nir.IF``. Channels-last snnx maps ``(H, W, C)`` appear as
    NIR ``(C, H, W)``: per-unit parameters are transposed, conv kernels go from
    HWIO to OIHW, padding becomes explicit symmetric amounts. Recurrent layers
    become nested graphs ``input -> neuron -> w_rec -> neuron -> output``;
    ``PSU_LIF`` (and any neuron with ``reset="none"``) becomes its membrane
    node followed by ``nir.Threshold``.

    Nothing is ever skipped: a layer without a faithful NIR form (``ALIF``,
    ``ResonateFire``, unknown types, asymmetric padding, ...) raises
    :class:`~snnx.nir.NIRError` saying why. ``reset="subtract"`` has no NIR
    form: it is written as reset to ``v_reset = 0``, recorded as
    ``metadata["reset"] = "subtract"`` on the node, and one warning names the
    affected layers.

    Args:
        model: an ``nnx.Linear``/``nnx.Conv``/snnx layer or neuron, a
            :class:`~snnx.Sequential`, or a :class:`~snnx.engine.Graph`.
        input_shape: the per-sample input shape in NIR's channels-first order,
            without batch or time: ``(N,)``, ``(C, L)`` or ``(C, H, W)``; or a
            dict ``{input_name: shape}`` (one entry per input of a ``Graph``).
            The input node takes the dict's key (default ``"input"``).
            ``None``: the ``input_shape`` a :class:`~snnx.Sequential` was built
            with (channels-last there), e.g. ``to_nir(model, dt=1e-3)``.
        dt: seconds per step; it is not stored in NIR files, so readers must be
            given the same ``dt`` (it is noted in ``graph.metadata["dt"]``).
        output_shape: optional expected output shape (channels-first, or a dict
            ``{output_name: shape}``); a mismatch raises ``NIRError``.

    Returns:
        A type-checked ``nir.NIRGraph``. Write it with ``snnx.nir.write(path, graph)``.

    Example:
        >>> model = Sequential(nnx.Linear(4, 8, rngs=nnx.Rngs(0)), LIF(8, beta=0.9))
        >>> graph = to_nir(model, (4,), dt=1e-3)
        >>> sorted(graph.nodes)
        ['input', 'layer_0', 'layer_1', 'output']
    """
    dt = check_dt(dt)
    if input_shape is None:
        built_for = model.input_shape if isinstance(model, Sequential) else None
        if built_for is None:
            raise ShapeError(
                "`input_shape` is required unless the model is a Sequential built with "
                f"Sequential(..., input_shape=...), got None for a {type(model).__name__}"
            )
        input_shape = built_for if len(built_for) < 2 else (built_for[-1], *built_for[:-1])
    model = _unwrap(model)
    if isinstance(model, Graph):
        shapes = _shapes("input_shape", input_shape, _names(model.inputs), free_name=False)
    else:
        shapes = _shapes("input_shape", input_shape, ("input",), free_name=True)
    ctx = Context(dt)
    graph = _build(model, shapes, ctx)
    got = {k: tuple(int(d) for d in v) for k, v in graph.output_type.items()}
    if output_shape is not None:
        want = _shapes("output_shape", output_shape, tuple(got), free_name=False)
        if want != got:
            raise NIRError(f"`output_shape`: expected {want}, but the model produces {got} (channels-first)")
    if ctx.state_quant:
        warnings.warn(
            "fixed-point membranes (state_quant) have no NIR form: layers "
            + ", ".join(ctx.state_quant)
            + " are written with their float equations (metadata['state_quant'] records the grid, which "
            "snnx.nir.from_nir restores; other readers compute unrounded membranes)",
            UserWarning,
            stacklevel=2,
        )
    if ctx.subtract_resets:
        warnings.warn(
            "reset='subtract' has no NIR form: layers "
            + ", ".join(ctx.subtract_resets)
            + " are written as reset to v_reset = 0 (metadata['reset'] = 'subtract' records the truth; "
            "read them back with from_nir(..., reset='subtract'))",
            UserWarning,
            stacklevel=2,
        )
    return graph
