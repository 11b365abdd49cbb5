"""``Threshold``: a stateless spike function, NIR's ``Threshold`` node."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from snnx import _checks
from snnx import surrogate as _surrogate
from snnx._params import make_parameter


class Threshold(nnx.Module):
    """Spike where the input exceeds a threshold: ``y = x > threshold``.

    Forward: ``y = H(x - threshold)`` in {0., 1.} (strict, ``H(0) = 0``).
    Backward: ``dy/dx = f'(x - threshold)`` from the surrogate. ``x`` has shape
    ``(*batch, *shape)``; ``threshold`` is a scalar or per-unit array.
    NIR: ``nir.Threshold(threshold)``.

    Args:
        shape: per-sample shape (int or tuple).
        threshold: scalar or per-unit threshold.
        surrogate: spike function (name or :class:`snnx.surrogate.Surrogate`;
            ``None`` is ``fast_sigmoid(25)``).
        trainable: store ``threshold`` as ``nnx.Param`` instead of a frozen
            :class:`snnx.neurons.Const`.

    Example:
        >>> layer = Threshold(3, threshold=0.5)
        >>> layer(jnp.array([[0.2, 0.5, 0.7]]))
        Array([[0., 0., 1.]], dtype=float32)
    """

    def __init__(
        self,
        shape: int | Sequence[int],
        threshold=1.0,
        *,
        surrogate: str | _surrogate.Surrogate | None = None,
        trainable: bool = False,
    ):
        self.shape = _checks.shape_tuple("shape", shape)
        if not isinstance(trainable, bool):
            raise TypeError(f"`trainable` must be a bool, got {trainable!r}")
        self.threshold = make_parameter("threshold", threshold, self.shape, trainable)
        self.surrogate = _surrogate.get(surrogate)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        _checks.trailing_shape("x", x, self.shape)
        return self.surrogate(x - self.threshold[...])
