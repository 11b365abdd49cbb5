"""``Sequential``: a chain of stateful and stateless layers stepped together."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
from flax import nnx

from snnx import _checks
from snnx.engine._shapes import build_chain, is_stateful


class Sequential(nnx.Module):
    r"""Layers applied in order, one time step per call.

    Stateful layers (anything with ``init_state``, e.g. neurons and ``Delay``)
    are called as ``layer(x, s) -> (y, s')``; stateless ones (``nnx.Linear``,
    ``nnx.Conv``, ``Flatten``, pooling, plain functions) as ``layer(x) -> y``.

    The state is a tuple aligned with ``layers``; stateless layers hold ``None``.

    With ``input_shape`` nobody computes shapes by hand: construction walks the
    layers in order with ``jax.eval_shape`` (a batch of one, nothing computed),
    gives every neuron made without a shape the shape of its input (and checks
    its per-unit parameters against it), replaces every
    :class:`~snnx.layers.Deferred` with the layer its factory makes from its
    input shape, and builds nested ``Sequential``\ s the same way. A layer that
    does not fit raises :class:`snnx.ShapeError` naming its index and type, the
    shape it got and from which layer, and what it expected.

    Args:
        *layers: modules or callables, applied first to last.
        input_shape: the per-sample input shape, without batch or time axes
            (channels-last, e.g. ``(34, 34, 2)``); ``None`` (default): no
            inference, every layer must be complete. Kept as ``self.input_shape``.

    Example:
        >>> model = Sequential(nnx.Linear(4, 8, rngs=nnx.Rngs(0)), LIF(8))
        >>> state = model.init_state(batch_shape=2)
        >>> y, state = model(jnp.ones((2, 4)), state)

        Shapes inferred from the input (no ``H * W * C`` by hand):

        >>> r = nnx.Rngs(0)
        >>> model = Sequential(
        ...     nnx.Conv(2, 8, (3, 3), rngs=r), LIF(beta=0.9), SumPool(2), Flatten(),
        ...     Deferred(lambda s: nnx.Linear(s[-1], 10, rngs=r)), LI(beta=0.9),
        ...     input_shape=(16, 16, 2),
        ... )
        >>> model[1].shape, model[4].in_features
        ((16, 16, 8), 512)
    """

    def __init__(self, *layers: nnx.Module | Callable, input_shape: int | Sequence[int] | None = None):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not callable(layer):
                raise TypeError(f"`layers[{i}]` must be a module or a callable, got {type(layer).__name__}")
        self.layers = nnx.List(list(layers))
        self.input_shape = None
        if input_shape is not None:
            self.build(input_shape)

    def build(self, input_shape: int | Sequence[int]) -> Sequential:
        """Build every layer from the per-sample ``input_shape`` (what ``input_shape=`` does).

        A ``Sequential`` built already accepts only the same shape. Returns ``self``.
        """
        shape = _checks.shape_tuple("input_shape", input_shape)
        if self.input_shape is not None:
            if self.input_shape != shape:
                raise _checks.ShapeError(
                    f"this Sequential was built for per-sample input shape {self.input_shape}, got {shape}"
                )
            return self
        built, _ = build_chain(list(self.layers), shape)
        for i, layer in enumerate(built):
            if layer is not self.layers[i]:
                self.layers[i] = layer
        self.input_shape = shape
        return self

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def init_state(self, batch_shape: int | Sequence[int] = ()) -> tuple:
        """Per-layer zero state (``None`` for stateless layers)."""
        return tuple(layer.init_state(batch_shape) if is_stateful(layer) else None for layer in self.layers)

    def __call__(self, x: jax.Array, state: Sequence) -> tuple[jax.Array, tuple]:
        if not isinstance(state, (tuple, list)) or len(state) != len(self.layers):
            got = len(state) if isinstance(state, (tuple, list)) else type(state).__name__
            raise ValueError(
                f"`state` must be a tuple with one entry per layer ({len(self.layers)}, from "
                f"Sequential.init_state), got {got}"
            )
        new_state = []
        for layer, s in zip(self.layers, state, strict=True):
            if is_stateful(layer):
                x, s = layer(x, s)
            else:
                x = layer(x)
            new_state.append(s)
        return x, tuple(new_state)
