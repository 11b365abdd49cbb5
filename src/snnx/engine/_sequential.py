"""``Sequential``: a chain of stateful and stateless layers stepped together."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
from flax import nnx


def is_stateful(layer) -> bool:
    """A layer is stateful when it implements ``init_state`` (the neuron contract)."""
    return callable(getattr(layer, "init_state", None))


class Sequential(nnx.Module):
    """Layers applied in order, one time step per call.

    Stateful layers (anything with ``init_state``, e.g. neurons and ``Delay``)
    are called as ``layer(x, s) -> (y, s')``; stateless ones (``nnx.Linear``,
    ``nnx.Conv``, ``Flatten``, pooling, plain functions) as ``layer(x) -> y``.

    The state is a tuple aligned with ``layers``; stateless layers hold ``None``.

    Args:
        *layers: modules or callables, applied first to last.

    Example:
        >>> model = Sequential(nnx.Linear(4, 8, rngs=nnx.Rngs(0)), LIF(8))
        >>> state = model.init_state(batch_shape=2)
        >>> y, state = model(jnp.ones((2, 4)), state)
    """

    def __init__(self, *layers: nnx.Module | Callable):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not callable(layer):
                raise TypeError(f"`layers[{i}]` must be a module or a callable, got {type(layer).__name__}")
        self.layers = nnx.List(list(layers))

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
