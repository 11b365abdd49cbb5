"""``Population``: sum each class's population of read-out units (population coding)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from snnx import _checks


class Population(nnx.Module):
    """Sum each class's ``P`` units: ``(..., C*P) -> (..., C)``.

    A population-coded read-out has ``num_classes * per_class`` units on the
    last axis, class-major: units ``c*P ... c*P + P - 1`` belong to class ``c``.
    With ``C = num_classes`` and ``P = x.shape[-1] // C``::

        y[..., c] = sum_{p<P} x[..., c*P + p]      # x.reshape(..., C, P).sum(-1)

    Only the last axis is regrouped: every leading (batch, time) axis is kept,
    so samples are never mixed. Stateless and per-sample, so it runs inside
    ``snnx.Sequential``/``snnx.run`` (one step ``(B, C*P) -> (B, C)``) and
    after :func:`snnx.run` on whole recordings ``(T, B, C*P)``.
    :func:`snnx.losses.population_cross_entropy` and
    :func:`snnx.metrics.population_accuracy` do the same grouping on raw outputs.
    NIR: none (refused by ``to_nir``).

    Args:
        num_classes: ``C``, a positive int; the input's last axis must be a
            positive multiple of it.

    Raises:
        snnx.ShapeError: on a call whose last axis is not a positive multiple of
            ``num_classes``.

    Example:
        >>> pop = Population(3)
        >>> pop(jnp.arange(12.0).reshape(2, 6))    # 2 samples, 3 classes of 2 units
        Array([[ 1.,  5.,  9.],
               [13., 17., 21.]], dtype=float32)
    """

    per_sample = True  # each sample on the leading axes is treated on its own (engine rule)

    def __init__(self, num_classes: int):
        self.num_classes = _checks.positive_int("num_classes", num_classes)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        c = self.num_classes
        n = x.shape[-1] if x.ndim else 0
        if n == 0 or n % c:
            raise _checks.ShapeError(
                f"Population(num_classes={c}): the last axis of `x` (size {n}) must be a positive "
                f"multiple of `num_classes` (={c}), num_classes * per_class units; got shape {x.shape}"
            )
        return jnp.sum(x.reshape(*x.shape[:-1], c, n // c), axis=-1)
