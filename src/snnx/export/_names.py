"""The names of an export's arrays: ``x``, ``y``, ``state.<key>.<variable>``, ``state_out.*``.

``<key>`` is the layer's key (``snnx.engine.layer_keys``: its index in a ``Sequential``, its node
name in a ``Graph``, its NIR node name), ``<variable>`` the name of the array in the layer's state
(``v``, ``z``, ...), so that ``state.1.v`` is the membrane of layer ``1``. A ``Graph``'s back-edge
buffers are ``state.back.<source node>`` (``state.<key>.back.<source>`` for a nested graph). The
order is that of ``jax.tree.leaves(model.init_state(B))``.
"""

from __future__ import annotations

import jax
import numpy as np

from snnx import _checks
from snnx.engine import Graph
from snnx.engine._record import catalogue
from snnx.engine._rules import is_plain_sequential
from snnx.engine._sequential import is_stateful


def is_graph(model) -> bool:
    """A ``Graph`` stepped by ``Graph.__call__`` (its state is ``{"nodes": ..., "back": ...}``)."""
    return isinstance(model, Graph) and type(model).__call__ is Graph.__call__


def _part(key) -> str:
    for attr in ("key", "idx", "name"):
        if hasattr(key, attr):
            return f".{getattr(key, attr)}"
    return f".{key}"


def leaf_names(prefix: str, tree) -> list[str]:
    """``prefix`` and the path of each array in ``tree``: ``y`` for an array, ``y.out`` in a dict."""
    paths = jax.tree_util.tree_flatten_with_path(tree)[0]
    return [prefix + "".join(_part(k) for k in path) for path, _ in paths]


def _name_tree(layer, s, path: tuple, keys: dict):
    """``s`` (the state of ``layer`` at ``path``) with every array replaced by its name."""
    if s is None:
        return None
    if is_plain_sequential(layer):
        pairs = enumerate(zip(layer.layers, s, strict=True))
        return tuple(_name_tree(child, si, (*path, i), keys) for i, (child, si) in pairs)
    if is_graph(layer):
        prefix = f"state.{keys[path]}.back" if path else "state.back"
        nodes = {n: _name_tree(layer.nodes[n], si, (*path, n), keys) for n, si in s["nodes"].items()}
        back = {
            src: jax.tree.unflatten(jax.tree.structure(buf), leaf_names(f"{prefix}.{src}", buf))
            for src, buf in s["back"].items()
        }
        return {"nodes": nodes, "back": back}
    base = "state." + keys.get(path, type(layer).__name__)
    return jax.tree.unflatten(jax.tree.structure(s), leaf_names(base, s))


def state_names(model, state) -> list[str]:
    """The name of every array of ``state`` (``model``'s), in ``jax.tree.leaves`` order."""
    keys = {e.path: e.key for e in catalogue(model)}
    names = jax.tree.leaves(_name_tree(model, state, (), keys))
    seen: dict[str, int] = {}
    unique = []
    for name in names:  # two layers whose keys and variables spell the same name: number the later ones
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}~{seen[name]}")
    return unique


def initial_state(model, batch: int) -> dict[str, np.ndarray]:
    """The initial state of ``model`` for ``batch`` samples, by name, in the order of the exported inputs.

    A ``mode="step"`` export takes these arrays (ONNX inputs ``state.<key>.<variable>``) at the first
    step and the previous step's ``state_out.*`` afterwards.

    Args:
        model: the exported model.
        batch: the number of samples ``B``.

    Returns:
        ``{name: array}``: ``model.init_state(batch)`` flattened (an empty dict for a stateless model).

    Example:
        >>> model = Sequential(nnx.Linear(4, 8, rngs=nnx.Rngs(0)), LIF(8))
        >>> {k: v.shape for k, v in initial_state(model, 2).items()}
        {'state.1.v': (2, 8)}
    """
    _checks.positive_int("batch", batch)
    if not is_stateful(model):
        return {}
    state = model.init_state(batch)
    return dict(zip(state_names(model, state), (np.asarray(a) for a in jax.tree.leaves(state)), strict=True))
