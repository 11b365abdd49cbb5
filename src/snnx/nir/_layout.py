"""Layout adapters at the boundary of an imported model: NIR channels-first <-> snnx channels-last.

Inside snnx a feature map is ``(B, *spatial, C)``; NIR (and the reference data)
are ``(B, C, *spatial)``. ``from_nir`` puts :class:`ToChannelsLast` in front of
a model whose input has two or more per-sample axes and :class:`ToChannelsFirst`
behind one whose output has, so the imported model takes and returns NIR-layout
arrays. Both are identities in NIR terms (the exporter skips them).
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
from flax import nnx


class _Move(nnx.Module):
    def __init__(self, ranks: int | Mapping[str, int]):
        # ranks: per-sample rank (NIR shape length) of the array, or of each dict entry.
        self.ranks = ranks if isinstance(ranks, int) else tuple(sorted(dict(ranks).items()))

    def _move(self, x: jax.Array, rank: int) -> jax.Array:
        x = jnp.asarray(x)
        if rank < 2:
            return x
        src, dst = self._axes(rank)
        return jnp.moveaxis(x, src, dst)

    def __call__(self, x):
        if isinstance(self.ranks, int):
            return self._move(x, self.ranks)
        ranks = dict(self.ranks)
        return {k: self._move(v, ranks[k]) if k in ranks else v for k, v in x.items()}


class ToChannelsLast(_Move):
    """``(*batch, C, *spatial) -> (*batch, *spatial, C)`` for arrays with ``rank >= 2`` per-sample axes."""

    # read by snnx.run when a later layer rejects its input (the usual cause: channels-last data)
    input_hint = (
        "this model was imported with from_nir(..., channels_last=False): it takes NIR's channels-first "
        "layout, x of shape (T, B, C, H, W); for (T, B, H, W, C) data import it with channels_last=True"
    )

    @staticmethod
    def _axes(rank: int) -> tuple[int, int]:
        return -rank, -1


class ToChannelsFirst(_Move):
    """``(*batch, *spatial, C) -> (*batch, C, *spatial)``, the inverse of :class:`ToChannelsLast`."""

    @staticmethod
    def _axes(rank: int) -> tuple[int, int]:
        return -1, -rank


class Identity(nnx.Module):
    """``y = x``: a NIR node that computes nothing here (``nir.Identity``, a Flatten of one axis)."""

    def __call__(self, x):
        return x


class NIRFlatten(nnx.Module):
    """NIR's ``Flatten(start_dim, end_dim)`` of a channels-first ``input_shape``, on channels-last data.

    A full flatten (``start_dim=0, end_dim=-1``) is :class:`snnx.layers.Flatten`;
    this covers the partial ones: the array is viewed channels-first, dims
    ``start_dim..end_dim`` of ``input_shape`` are merged in C order (torch's
    ``flatten``), and a result of rank >= 2 is returned channels-last again.

    Args:
        input_shape: the NIR (channels-first, batch-free) input shape.
        start_dim, end_dim: non-negative dims of ``input_shape``, ``start_dim <= end_dim``.
    """

    def __init__(self, input_shape, start_dim: int, end_dim: int):
        self.input_shape = tuple(int(d) for d in input_shape)
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)
        s, e = self.start_dim, self.end_dim
        if not 0 <= s <= e < len(self.input_shape):
            raise ValueError(
                "`start_dim`/`end_dim` must satisfy 0 <= start <= end < "
                f"{len(self.input_shape)}, got {s}, {e}"
            )
        merged = 1
        for d in self.input_shape[s : e + 1]:
            merged *= d
        self.output_shape = (*self.input_shape[:s], merged, *self.input_shape[e + 1 :])

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        rank = len(self.input_shape)
        batch = x.shape[: x.ndim - rank]
        if rank >= 2:
            x = jnp.moveaxis(x, -1, -rank)
        x = x.reshape(*batch, *self.output_shape)
        if len(self.output_shape) >= 2:
            x = jnp.moveaxis(x, -len(self.output_shape), -1)
        return x
