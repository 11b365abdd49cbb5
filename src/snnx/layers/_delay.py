"""``Delay``: a fixed per-unit delay line (NIR's ``Delay`` node)."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from snnx import _checks


def _to_tuple(value):
    return tuple(_to_tuple(v) for v in value) if isinstance(value, list) else value


class Delay(nnx.Module):
    """Delay every unit by a whole number of steps: ``y[t] = x[t - steps]``.

    Zeros come out before the first input arrives (``y[t] = 0`` for
    ``t < steps``); ``steps=0`` is the identity. ``steps`` is an int or an int
    array broadcastable to ``shape`` (one delay per unit, as in ``nir.Delay``,
    whose ``delay`` is ``steps * dt``).

    State: ``{"buffer": (*batch, D, *shape)}`` with ``D = max(steps)``, the
    last ``D`` inputs oldest first. Per step::

        full = concat(buffer, x[None])            # full[k] = x[t - D + k]
        y    = full[D - steps]                    # per unit
        buffer = full[1:]

    Args:
        shape: per-sample shape (int or tuple).
        steps: non-negative int delay, scalar or per-unit.

    Example:
        >>> delay = Delay(3, steps=2)
        >>> state = delay.init_state(batch_shape=1)
        >>> y, state = delay(jnp.ones((1, 3)), state)   # y is zero for two steps
    """

    def __init__(self, shape: int | Sequence[int], steps: int | Sequence[int] = 1):
        self.shape = _checks.shape_tuple("shape", shape)
        arr = np.asarray(steps)
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer) or np.any(arr < 0):
            raise ValueError(f"`steps` must be a non-negative int or an array of them, got {steps!r}")
        _checks.broadcastable("steps", arr, self.shape)
        self.steps = int(arr) if arr.ndim == 0 else _to_tuple(arr.tolist())
        self.max_steps = int(arr.max()) if arr.size else 0

    def init_state(self, batch_shape: int | Sequence[int] = ()) -> dict[str, jax.Array]:
        """Zero buffer of shape ``(*batch_shape, max(steps), *shape)``."""
        batch = _checks.batch_tuple("batch_shape", batch_shape)
        return {"buffer": jnp.zeros((*batch, self.max_steps, *self.shape), jnp.float32)}

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = jnp.asarray(x)
        _checks.trailing_shape("x", x, self.shape)
        if not isinstance(state, dict) or set(state) != {"buffer"}:
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"`state` must be a dict with key 'buffer' (from Delay.init_state), got {got}")
        buf = state["buffer"]
        nb = x.ndim - len(self.shape)
        if buf.shape != (*x.shape[:nb], self.max_steps, *self.shape):
            raise ValueError(
                f"`state['buffer']` must have shape {(*x.shape[:nb], self.max_steps, *self.shape)} "
                f"for `x` of shape {x.shape}, got {buf.shape}"
            )
        if self.max_steps == 0:
            return x, state
        full = jnp.concatenate([buf, jnp.expand_dims(x, nb).astype(buf.dtype)], axis=nb)
        if isinstance(self.steps, int):
            y = jax.lax.index_in_dim(full, self.max_steps - self.steps, axis=nb, keepdims=False)
        else:
            idx = self.max_steps - np.broadcast_to(np.asarray(self.steps), self.shape)
            idx = jnp.broadcast_to(idx.reshape((1,) * (nb + 1) + self.shape), (*x.shape[:nb], 1, *self.shape))
            y = jnp.take_along_axis(full, idx, axis=nb).squeeze(nb)
        new_buf = jax.lax.slice_in_dim(full, 1, self.max_steps + 1, axis=nb)
        return y, {"buffer": new_buf}
