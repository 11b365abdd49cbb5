"""Recording hidden layers: what ``run(..., record=...)`` returns beside the outputs.

Every layer of a model has a *key*: its index in the enclosing ``Sequential``
(``"1"``; nested ones joined with dots, ``"2.0"``), its node name in a
``Graph`` (``"lif"``, ``"1.lif"`` for a graph inside a ``Sequential``), or the
NIR node name of a layer imported from NIR (``Sequential.nir_names``). A layer
without a NIR name among named ones (a gain ``Scale``, a layout adapter) keeps
its index, written ``"#2"`` when ``"2"`` is another layer's NIR name, so a NIR
name always means that node. A single-layer model (a neuron given to ``run``
alone) has the key of its type name. :func:`layer_keys` lists them.

A selection (``record=`` for outputs, ``record_states=`` for states) is one of,
or a list of:

* ``"spikes"``: every spiking neuron (one with a threshold); ``"neurons"``: every
  neuron (spiking or not, e.g. an ``LI`` readout's membrane); ``"all"``: every layer;
* a key (``"1"``, ``"lif"``), or an ``int``: an index into the top-level ``Sequential``;
* a layer type (``snnx.LIF``): every layer of that type.

Recording changes nothing that is computed: the values are read where the
engine already has them. It can only change the plan where a recorded value
would otherwise never exist (a fused neuron's spikes projected straight into
the next ``Linear``, or that ``Linear``'s output before its bias), and the plan
says so (``print(snnx.engine.plan(model, x, record=...))``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import jax

from snnx.engine._rules import is_plain_sequential, leaves
from snnx.engine._sequential import is_stateful

SHORTHANDS = ("spikes", "neurons", "all")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Recording:
    """The recorded layers of one ``run``: a pytree (works under ``jit``, ``grad``, ``vmap``).

    ``outputs``: ``{key: (T, B, *shape)}``, each recorded layer's output at
    every step (spikes for a spiking neuron). ``states``: ``{key: state}``,
    each recorded layer's state after every step, stacked on time like the
    outputs (a neuron's ``{"v": (T, B, *shape)}``). Keys are in the order of
    the layers in the model (see :func:`layer_keys`).
    """

    outputs: dict = dataclasses.field(default_factory=dict)
    states: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, eq=False)
class Entry:
    """One addressable layer: its key, its path (indices and node names) and the layer."""

    key: str
    path: tuple
    layer: object
    leaf: bool


def _plain_graph(model) -> bool:
    from snnx.engine._graph import Graph

    return isinstance(model, Graph) and type(model).__call__ is Graph.__call__


def _walk(model, path: tuple, prefix: str, out: list[Entry], used: set[str]) -> None:
    if is_plain_sequential(model):
        names = getattr(model, "nir_names", None) or ()
        children = [(i, layer, names[i] if i < len(names) else None) for i, layer in enumerate(model.layers)]
    elif _plain_graph(model):
        children = [(name, model.nodes[name], name) for name in model.nodes]
    else:
        return
    names_here = {str(name) for _, _, name in children if name is not None}
    for seg, layer, name in children:
        if name is not None:
            local = str(name)
        else:  # an unnamed layer among named ones: its index, unless that is another layer's name
            local = str(seg) if str(seg) not in names_here else f"#{seg}"
        key = f"{prefix}.{local}" if prefix else local
        if key in used:  # a name that repeats another key (not in a valid NIR graph): "#" + index
            key = f"{prefix}.#{seg}" if prefix else f"#{seg}"
        used.add(key)
        container = is_plain_sequential(layer) or _plain_graph(layer)
        out.append(Entry(key, (*path, seg), layer, not container))
        _walk(layer, (*path, seg), key, out, used)


def catalogue(model) -> list[Entry]:
    """Every addressable layer of ``model``, in order (containers before their layers)."""
    out: list[Entry] = []
    _walk(model, (), "", out, set())
    if not out:  # a single layer: itself
        out.append(Entry(type(model).__name__, (), model, True))
    return out


def layer_keys(model) -> list[str]:
    """The keys ``run(model, x, record=...)`` knows for ``model``'s layers, in order.

    Example:
        >>> layer_keys(Sequential(nnx.Linear(4, 8, rngs=nnx.Rngs(0)), LIF(8)))
        ['0', '1']
    """
    if not callable(model):
        raise TypeError(f"`model` must be a module or a callable one-step model, got {type(model).__name__}")
    return [e.key for e in catalogue(model)]


def is_spiking(layer) -> bool:
    """A neuron that emits spikes (it has a firing threshold and a surrogate)."""
    from snnx.neurons import Neuron

    return isinstance(layer, Neuron) and hasattr(layer, "threshold") and hasattr(layer, "surrogate")


def _describe(entries: list[Entry]) -> str:
    return ", ".join(f"{e.key!r} ({type(e.layer).__name__})" for e in entries)


def _available(arg: str, entries: list[Entry]) -> str:
    return (
        f"available layers: {_describe(entries)}; or {', '.join(map(repr, SHORTHANDS))}, a layer type, "
        f"or an int index (see snnx.engine.layer_keys)"
    )


def select(arg: str, selection, model) -> dict[str, Entry]:
    """Resolve a ``record``/``record_states`` selection to ``{key: Entry}`` (model order)."""
    if selection is None:
        return {}
    entries = catalogue(model)
    by_key = {e.key: e for e in entries}
    items = list(selection) if isinstance(selection, (list, tuple, set, frozenset)) else [selection]
    if not items:
        return {}
    chosen: set[str] = set()
    for item in items:
        chosen.update(_one(arg, item, model, entries, by_key))
    return {e.key: e for e in entries if e.key in chosen}


def _one(arg: str, item, model, entries: list[Entry], by_key: dict) -> list[str]:
    from snnx.neurons import Neuron

    if isinstance(item, str):
        if item in SHORTHANDS:
            if item in by_key:
                raise ValueError(
                    f"`{arg}`={item!r} is ambiguous: it is a shorthand and the key of layer "
                    f"{item!r}; select that layer by its type or index instead"
                )
            tests = {"spikes": is_spiking, "neurons": lambda m: isinstance(m, Neuron), "all": lambda m: True}
            test = tests[item]
            keys = [e.key for e in entries if e.leaf and test(e.layer)]
            if not keys:
                raise ValueError(
                    f"`{arg}`={item!r} selects no layer of this model; {_available(arg, entries)}"
                )
            return keys
        if item in by_key:
            return [item]
        raise ValueError(f"`{arg}` names no layer {item!r}; {_available(arg, entries)}")
    if isinstance(item, bool):
        raise TypeError(f"`{arg}` entries must be keys, indices or layer types, got {item!r}")
    if isinstance(item, int):
        top = [e for e in entries if len(e.path) == 1 and isinstance(e.path[0], int)]
        n = len(top)
        if not top or not -n <= item < n:
            raise ValueError(f"`{arg}` index {item} is out of range for {n} top-level layers; "
                             f"{_available(arg, entries)}")
        return [top[item % n].key]
    if isinstance(item, type):
        keys = [e.key for e in entries if isinstance(e.layer, item)]
        if not keys:
            raise ValueError(f"`{arg}`: the model has no layer of type {item.__name__}; "
                             f"{_available(arg, entries)}")
        return keys
    raise TypeError(
        f"`{arg}` must be a layer key (str), an index (int), a layer type, one of {list(SHORTHANDS)}, "
        f"or a list of these, got {type(item).__name__}"
    )


@dataclasses.dataclass(frozen=True)
class Want:
    """A resolved selection: ``{path: (key, ...)}`` for outputs and for states."""

    outputs: Mapping
    states: Mapping

    def __bool__(self) -> bool:
        return bool(self.outputs or self.states)

    def below(self, path: tuple) -> bool:
        """Something strictly inside the layer at ``path`` is wanted."""
        n = len(path)
        return any(len(p) > n and p[:n] == path for p in (*self.outputs, *self.states))

    def keys(self) -> tuple[list[str], list[str]]:
        return [k for ks in self.outputs.values() for k in ks], [k for ks in self.states.values() for k in ks]


NOTHING = Want({}, {})


def resolve(model, record, record_states) -> Want:
    """The paths ``run`` records for ``record``/``record_states``; stateless layers have no state."""
    outs = select("record", record, model)
    states = select("record_states", record_states, model)
    for key, e in states.items():
        if not is_stateful(e.layer):
            raise ValueError(
                f"`record_states`: layer {key!r} ({type(e.layer).__name__}) is stateless; it has no state "
                f"to record (record its output with `record=`)"
            )

    def by_path(chosen: dict[str, Entry]) -> dict:
        out: dict = {}
        for key, e in chosen.items():
            out.setdefault(e.path, []).append(key)
        return {p: tuple(ks) for p, ks in out.items()}

    return Want(by_path(outs), by_path(states))


# -- step-major recording ----------------------------------------------------------------------


def step(layer, x, s, want: Want, path: tuple, outs: dict, states: dict):
    """One step of ``layer`` that also stores every wanted output/state in ``outs``/``states``.

    Plain ``Sequential``s and ``Graph``s with something wanted inside are
    stepped layer by layer here (exactly as their own ``__call__``); anything
    else is called as itself.
    """
    if want.below(path) and is_plain_sequential(layer):
        new = []
        for i, child in enumerate(layer.layers):
            x, si = step(child, x, s[i], want, (*path, i), outs, states)
            new.append(si)
        s = tuple(new)
    elif want.below(path) and _plain_graph(layer):
        n = len(path)
        wanted = {p[n] for p in (*want.outputs, *want.states) if len(p) > n and p[:n] == path}

        def visit(name, node, xin, sin):
            return step(node, xin, sin, want, (*path, name), outs, states)

        x, s = layer._step_visiting(x, s, visit, evaluate=wanted)
    elif is_stateful(layer):
        x, s = layer(x, s)
    else:
        x = layer(x)
    for key in want.outputs.get(path, ()):
        outs[key] = x
    for key in want.states.get(path, ()):
        states[key] = s
    return x, s


# -- layer-major recording ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LeafWant:
    """What the layer-major executor records, per leaf of ``snnx.engine._rules.leaves``.

    ``outputs``: ``{leaf path: keys}`` (a container's output is its last
    leaf's); ``states``: leaf paths whose every-step states are needed;
    ``inner``: leaves (e.g. a ``Graph``) with wanted layers inside, recorded
    by :func:`step` in their time scan; ``state_keys``: ``{key: path}`` to
    assemble a recorded state (a container's from its leaves').
    """

    outputs: Mapping
    states: frozenset
    inner: frozenset
    state_keys: Mapping

    def __bool__(self) -> bool:
        return bool(self.outputs or self.states or self.inner)


def leaf_want(model, want: Want) -> LeafWant:
    """Map a :class:`Want` onto the leaves the layer-major engine runs."""
    leaf_paths = [p for p, _ in leaves(model)]
    leaf_set = set(leaf_paths)

    def leaf_above(path):
        for n in range(len(path), -1, -1):
            if path[:n] in leaf_set:
                return path[:n]
        return None

    outputs: dict = {}
    states: set = set()
    inner: set = set()
    state_keys: dict = {}
    for path, keys in want.outputs.items():
        owner = leaf_above(path)
        if owner is not None and owner != path:
            inner.add(owner)
            continue
        target = path if owner == path else [p for p in leaf_paths if p[:len(path)] == path][-1]
        outputs[target] = outputs.get(target, ()) + keys
    for path, keys in want.states.items():
        owner = leaf_above(path)
        if owner is not None and owner != path:
            inner.add(owner)
            continue
        states.update(p for p in leaf_paths if p[:len(path)] == path)
        for key in keys:
            state_keys[key] = path
    return LeafWant(outputs, frozenset(states), frozenset(inner), state_keys)
