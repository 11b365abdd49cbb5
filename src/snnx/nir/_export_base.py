"""Shared pieces of the NIR exporter: fragments, layout and parameter helpers.

An exporter turns one snnx layer into a :class:`Fragment`: one or more NIR
nodes, the edges between them, the node that receives the layer's input
(``entry``), the node that emits its output (``exit``) and the output shape.
Shapes are NIR's, channels-first and without batch: ``(N,)``, ``(C, L)`` or
``(C, H, W)``; the snnx layer sees the same tensor channels-last, ``(L, C)`` or
``(H, W, C)``.
"""

from __future__ import annotations

import dataclasses

import jax
import nir
import numpy as np
from flax import nnx

from snnx.nir import _discretise as disc
from snnx.nir._errors import NIRError, node_error
from snnx.nir._quant import metadata as quant_metadata

Shape = tuple[int, ...]


@dataclasses.dataclass
class Fragment:
    """The NIR nodes that stand for one snnx layer."""

    nodes: dict[str, nir.NIRNode]
    edges: list[tuple[str, str]]
    entry: str
    exit: str
    shape: Shape


@dataclasses.dataclass
class Context:
    """What every exporter needs besides the layer: ``dt`` and the reset notes it leaves."""

    dt: float
    subtract_resets: list[str] = dataclasses.field(default_factory=list)
    state_quant: list[str] = dataclasses.field(default_factory=list)


def single(name: str, node: nir.NIRNode, shape: Shape) -> Fragment:
    """A fragment of one node with output ``shape``."""
    return Fragment({name: node}, [], name, name, tuple(int(d) for d in shape))


def chain(first: Fragment, second: Fragment) -> Fragment:
    """``first`` feeding ``second``; a NIR node name used by both is an error."""
    clash = set(first.nodes) & set(second.nodes)
    if clash:
        raise NIRError(f"NIR node names {sorted(clash)} would be used twice; rename the layers")
    return Fragment(
        {**first.nodes, **second.nodes},
        [*first.edges, (first.exit, second.entry), *second.edges],
        first.entry,
        second.exit,
        second.shape,
    )


def snnx_shape(shape: Shape) -> Shape:
    """The channels-last shape snnx uses for the channels-first NIR ``shape``."""
    return tuple(shape) if len(shape) < 2 else (*shape[1:], shape[0])


def type_name(layer) -> str:
    """The layer's class name, as error messages show it."""
    return type(layer).__name__


def check_units(layer, name: str, shape: Shape) -> None:
    """A layer with a ``shape`` must match the incoming tensor (channels-last)."""
    want = snnx_shape(shape)
    if layer.shape is None:
        raise node_error(
            name,
            type_name(layer),
            "shape",
            "a layer with a shape (pass `shape`, or build it with Sequential(..., input_shape=...))",
            "an unbuilt layer (shape None)",
        )
    if tuple(layer.shape) != want:
        raise node_error(
            name,
            type_name(layer),
            "shape",
            f"{want} (channels-last view of the incoming NIR shape {tuple(shape)})",
            tuple(layer.shape),
        )


def param(layer, attr: str, shape: Shape) -> np.ndarray:
    """A per-unit parameter as a full float64 array of the NIR (channels-first) ``shape``."""
    value = np.asarray(jax.device_get(getattr(layer, attr)[...]), dtype=np.float64)
    full = np.broadcast_to(value, snnx_shape(shape))
    return np.ascontiguousarray(np.moveaxis(full, -1, 0) if len(shape) >= 2 else full)


def f32(a) -> np.ndarray:
    """Parameters are written as float32 arrays, as NIR files from every peer are."""
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32))


def decay(layer, attr: str, name: str, shape: Shape) -> np.ndarray | None:
    """The clipped decay, or ``None`` when every unit has decay 1 (a perfect integrator)."""
    values = disc.clip_decay(param(layer, attr, shape))
    ones = values >= 1.0
    if ones.all():
        return None
    if ones.any():
        raise node_error(
            name,
            type_name(layer),
            attr,
            "every unit below 1 (leaky) or every unit at 1 (integrator): one NIR node cannot mix both",
            f"{int(ones.sum())} of {ones.size} units at 1",
        )
    return values


def dense_node(layer: nnx.Linear, name: str, shape: Shape) -> nir.NIRNode:
    """``nnx.Linear`` as ``nir.Affine`` (with bias) or ``nir.Linear``; weight ``(out, in) = kernel.T``."""
    if len(shape) != 1 or shape[0] != layer.in_features:
        raise node_error(
            name,
            "Linear",
            "input",
            f"a vector of {layer.in_features} features (add a Flatten after feature maps)",
            f"shape {tuple(shape)}",
        )
    weight = f32(np.asarray(jax.device_get(layer.kernel[...])).T)  # (in, out) -> (out, in)
    meta = quant_metadata(layer.kernel, np.transpose)
    if layer.bias is None:
        return nir.Linear(weight=weight, metadata=meta)
    return nir.Affine(weight=weight, bias=f32(jax.device_get(layer.bias[...])), metadata=meta)
