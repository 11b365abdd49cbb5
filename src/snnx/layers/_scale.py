"""``Scale``: elementwise gain, NIR's ``Scale`` node."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from snnx import _checks
from snnx._params import make_parameter


class Scale(nnx.Module):
    """Multiply by a scalar or per-unit factor: ``y = scale * x``.

    ``x`` has shape ``(*batch, *shape)``; ``scale`` is a scalar or an array
    broadcastable to ``shape``. NIR: ``nir.Scale(scale)``.

    Args:
        shape: per-sample shape (int or tuple).
        scale: the factor; scalar or per-unit.
        trainable: store ``scale`` as ``nnx.Param`` (learnt) instead of a frozen
            :class:`snnx.neurons.Const`.

    Example:
        >>> layer = Scale(3, scale=[1.0, 2.0, 3.0])
        >>> layer(jnp.ones((2, 3)))[0]
        Array([1., 2., 3.], dtype=float32)
    """

    def __init__(self, shape: int | Sequence[int], scale=1.0, *, trainable: bool = False):
        self.shape = _checks.shape_tuple("shape", shape)
        if not isinstance(trainable, bool):
            raise TypeError(f"`trainable` must be a bool, got {trainable!r}")
        self.scale = make_parameter("scale", scale, self.shape, trainable)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        _checks.trailing_shape("x", x, self.shape)
        return self.scale[...] * x
