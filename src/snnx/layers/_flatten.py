"""``Flatten``: one feature vector per sample, in NIR/PyTorch (C, H, W) order."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from snnx import _checks

ORDERS = ("chw", "hwc")


class Flatten(nnx.Module):
    """Flatten every axis but the first: ``(B, *S) -> (B, prod(S))``.

    The first axis is the (single) batch axis; a step of ``snnx.run`` sees
    ``(B, *S)``. Inputs with several batch axes must be reshaped to one first.

    With ``order="chw"`` (default) an input of three or more axes is read as a
    channels-last map ``(B, *spatial, C)``, e.g. ``(B, H, W, C)`` or
    ``(B, L, C)``, and flattened in channels-first element order::

        y = moveaxis(x, -1, 1).reshape(B, -1)      # (B, C, H, W) -> (B, C*H*W)

    so that ``y[b, c*H*W + h*W + w] = x[b, h, w, c]``. This is NIR's and
    PyTorch's ``flatten`` of the ``(C, H, W)`` tensor, so a dense layer after a
    conv stack has the same weights here as in a channels-first framework.
    With ``order="hwc"`` the elements are taken as stored:
    ``y = x.reshape(B, -1)``. A ``(B, N)`` input is returned unchanged by both.

    Args:
        order: ``"chw"`` (channels-first element order) or ``"hwc"`` (storage order).

    Example:
        >>> flat = Flatten()
        >>> flat(jnp.zeros((2, 4, 4, 3))).shape
        (2, 48)
    """

    def __init__(self, order: str = "chw"):
        _checks.one_of("order", order, ORDERS)
        self.order = order

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        if x.ndim < 2:
            raise ValueError(
                f"`x` must have shape (B, *S) with one batch axis and at least one feature axis, "
                f"got {x.shape}"
            )
        if self.order == "chw" and x.ndim >= 3:
            x = jnp.moveaxis(x, -1, 1)
        return x.reshape(x.shape[0], -1)
