"""Shape inference for ``Sequential(..., input_shape=...)``: build layers from the shapes they receive.

The walk goes through the layers in order with the per-sample shape (no batch
axis) that reaches each one. A layer with a ``build(shape)`` method (an unbuilt
neuron, ``Deferred``, a nested ``Sequential``) is built from it first: the method
returns the layer to use (``None``: built in place). The layer's output shape
then comes from ``jax.eval_shape`` on a batch of one, which traces the layer
without computing anything. Every failure is a :class:`~snnx._checks.ShapeError`
that names the layer's index and type, the shape it got, where that shape came
from, and what the layer expected.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from snnx._checks import ShapeError


def is_stateful(layer) -> bool:
    """A layer is stateful when it implements ``init_state`` (the neuron contract)."""
    return callable(getattr(layer, "init_state", None))


def _kind(layer) -> str:
    if isinstance(layer, nnx.Module) or not hasattr(layer, "__name__"):
        return type(layer).__name__
    return layer.__name__


def _expected(layer, in_shape: tuple[int, ...]) -> str | None:
    """What a layer of a known kind expects, when ``in_shape`` is not it (``None``: fine or unknown)."""
    if isinstance(layer, (nnx.Linear, nnx.Conv)) and (not in_shape or in_shape[-1] != layer.in_features):
        unit = "features" if isinstance(layer, nnx.Linear) else "channels"
        return f"expects inputs ending in {layer.in_features} {unit}"
    shape = getattr(layer, "shape", None)
    if is_stateful(layer) and isinstance(shape, tuple) and shape != in_shape:
        return f"expects per-sample shape {shape}"
    return None


def _step(layer, x):
    return layer(x, layer.init_state(1))[0] if is_stateful(layer) else layer(x)


def output_shape(layer, in_shape: tuple[int, ...]):
    """The output of ``layer`` on a batch of one of per-sample ``in_shape``, as a shape/dtype struct."""
    x = jax.ShapeDtypeStruct((1, *in_shape), jnp.float32)
    if isinstance(layer, nnx.Module):
        return nnx.eval_shape(_step, layer, x)
    return jax.eval_shape(lambda x: _step(layer, x), x)


def _unbuilt(layer) -> bool:
    """Whether a buildable ``layer`` is a neuron without shape or a Sequential without input shape."""
    return (hasattr(layer, "shape") and layer.shape is None) or (
        hasattr(layer, "input_shape") and layer.input_shape is None
    )


def _reset(layer) -> None:
    if hasattr(layer, "input_shape"):
        layer.input_shape = None
    else:
        layer.shape = None


def build_chain(layers: Sequence, in_shape: tuple[int, ...]) -> tuple[list, tuple[int, ...]]:
    """Build ``layers`` in order from the per-sample ``in_shape``.

    Returns the layers to use (a ``Deferred`` replaced by what it built) and
    the per-sample output shape. On a failure, the layers built in place are
    made unbuilt again, so they can be reused.
    """
    built_here = []
    try:
        return _walk(layers, in_shape, built_here)
    except BaseException:
        for layer in built_here:
            _reset(layer)
        raise


def _walk(layers: Sequence, in_shape: tuple[int, ...], built_here: list) -> tuple[list, tuple[int, ...]]:
    out = []
    source = "the input"
    for i, layer in enumerate(layers):
        where = f"layer {i} ({_kind(layer)})"
        got = f"per-sample shape {in_shape} from {source}"
        expected = _expected(layer, in_shape)
        # Build until the layer is its own result (a Deferred may make an unbuilt neuron).
        while expected is None and callable(getattr(layer, "build", None)):
            unbuilt = _unbuilt(layer)
            try:
                new = layer.build(in_shape)
            except Exception as err:  # a factory, a parameter or a nested layer rejected the shape
                raise ShapeError(f"{where} cannot be built for {got}: {err}") from err
            if unbuilt:
                built_here.append(layer)
            if new is None or new is layer:
                break
            where = f"layer {i} ({_kind(new)}, made by {_kind(layer)})"
            layer = new
            expected = _expected(layer, in_shape)
        if expected is not None:
            raise ShapeError(f"{where} {expected}, got {got}")
        try:
            y = output_shape(layer, in_shape)
        except Exception as err:
            raise ShapeError(f"{where} rejected {got}: {err}") from err
        if not isinstance(y, jax.ShapeDtypeStruct) or y.ndim < 1 or y.shape[0] != 1:
            shown = getattr(y, "shape", type(y).__name__)
            raise ShapeError(
                f"{where} must return one array with the batch axis first, got {shown} for a batch of "
                f"one of {got}"
            )
        out.append(layer)
        in_shape = tuple(int(d) for d in y.shape[1:])
        source = where
    return out, in_shape
