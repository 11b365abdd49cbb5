"""A causal two-level sequence layer: a fast inner layer every step, a slow outer one per chunk."""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from snnx import _checks
from snnx._params import make_parameter
from snnx.ssm._scan import SequenceLayer, check_sequence, check_step

POOLS = ("mean", "last")


def _check_layer(name: str, layer) -> int:
    """``layer`` follows the sequence-layer contract; returns its ``d_model``."""
    missing = [m for m in ("init_state", "parallel", "__call__") if not callable(getattr(layer, m, None))]
    d = getattr(layer, "d_model", None)
    if not isinstance(layer, nnx.Module) or missing or not isinstance(d, int):
        raise _checks.ArgumentTypeError(
            f"`{name}` must be a sequence layer (an nnx.Module with `d_model`, `init_state`, `__call__` "
            f"and `parallel`, e.g. snnx.ssm.LRU), got {type(layer).__name__}"
        )
    return d


def _where_batch(done: jax.Array, new: jax.Array, old: jax.Array) -> jax.Array:
    """``new`` where ``done`` (shape ``(*batch,)``), else ``old``; both ``(*batch, ...)``."""
    return jnp.where(done.reshape(done.shape + (1,) * (jnp.ndim(new) - done.ndim)), new, old)


class ChunkedSSM(SequenceLayer):
    r"""Causal two-level sequence layer: ``inner`` at every step, ``outer`` once per completed chunk.

    Time is cut into chunks of ``chunk_size`` steps. ``inner`` runs at every
    step; when a chunk is complete its summary (the mean of ``inner``'s outputs
    over the chunk, or its last output) goes through one step of ``outer``, and
    that output is the context ``ctx`` for every step of the *next* chunk (zero
    in the first chunk). Per step ``t`` (``x`` of shape ``(*batch, d_model)``)::

        h, s_inner = inner(x, s_inner)
        y   = h + g * ctx                       # g: learnt per-feature blend, (d_model,)
        acc = acc + h;  pos = pos + 1
        if pos == chunk_size:                   # the chunk is complete
            summary = acc / chunk_size          (pool="mean")
                      h                         (pool="last")
            ctx, s_outer = outer(summary, s_outer)
            acc = 0;  pos = 0

    So ``y`` at step ``t`` depends only on inputs up to ``t``: the context a
    step sees summarises chunks that ended before it. (Adding a chunk's own
    summary to its steps, as Spyx 1.0 does, leaks later steps into earlier
    ones.) ``g`` starts at ``blend_init`` (default 1: the plain sum ``h + ctx``)
    and is an ``nnx.Param``.

    :meth:`parallel` runs ``inner.parallel`` over all ``T`` steps, pools each
    chunk by a reshape (the last, incomplete chunk padded; its summary is never
    used), runs ``outer.parallel`` over the ``ceil(T / chunk_size)`` summaries,
    shifts them by one chunk and broadcasts them back; it agrees with stepping
    for any ``T``.

    Output: ``y`` (``(*batch, d_model)``). State: ``{"inner", "outer", "acc",
    "pos", "ctx"}``: the two layers' states, the running sum of ``inner``'s
    outputs in the current chunk (``(*batch, d_model)``), the position in the
    chunk (int32, ``(*batch,)``) and the current context (``(*batch, d_model)``).

    NIR: none; its chunk clock and per-chunk pooling have no NIR node, so
    ``to_nir`` refuses it.

    Args:
        inner: the per-step sequence layer (``d_model`` in and out, e.g.
            ``LRU``).
        outer: the per-chunk sequence layer, with the same ``d_model``.
        chunk_size: steps per chunk (a positive int).
        pool: chunk summary, ``"mean"`` of ``inner``'s outputs or its ``"last"`` one.
        blend_init: initial ``g``, a number or an array of shape ``(d_model,)``.

    Example:
        >>> r = nnx.Rngs(0)
        >>> layer = ChunkedSSM(LRU(4, 8, rngs=r), LRU(4, 8, rngs=r), chunk_size=5)
        >>> ys = layer.parallel(jnp.ones((12, 2, 4)))    # (T, B, d_model)

    References:
        Hwang, Wang, Gu (2025), "Dynamic Chunking for End-to-End Hierarchical
        Sequence Modeling" (H-Net), for the idea of a fast inner and a slow,
        chunk-level outer sequence model.
    """

    state_keys = ("inner", "outer", "acc", "pos", "ctx")

    def __init__(self, inner, outer, *, chunk_size: int, pool: str = "mean", blend_init=1.0):
        d = _check_layer("inner", inner)
        d_outer = _check_layer("outer", outer)
        if d_outer != d:
            raise _checks.ShapeError(
                f"`outer` must have the d_model of `inner` ({d}): it reads pooled inner outputs, "
                f"got d_model={d_outer}"
            )
        self._set_width(d)
        self.inner, self.outer = inner, outer
        self.chunk_size = _checks.positive_int("chunk_size", chunk_size)
        _checks.one_of("pool", pool, POOLS)
        self.pool = pool
        self.g = make_parameter("blend_init", blend_init, self.shape, True)

    def init_state(self, batch_shape: int | Sequence[int] = ()) -> dict:
        """Zero state; ``pos`` is int32 of shape ``batch_shape``; ``acc``, ``ctx``: ``(*batch, d_model)``."""
        batch = _checks.batch_tuple("batch_shape", batch_shape)
        zeros = jnp.zeros((*batch, self.d_model), jnp.float32)
        return {
            "inner": self.inner.init_state(batch),
            "outer": self.outer.init_state(batch),
            "acc": zeros,
            "pos": jnp.zeros(batch, jnp.int32),
            "ctx": zeros,
        }

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        """One step: ``x`` of shape ``(*batch, d_model)``; returns ``(y, new_state)``."""
        x = check_step(self, x, state, "acc")
        h, s_inner = self.inner(x, state["inner"])
        y = h + self.g[...] * state["ctx"]
        acc = state["acc"] + h
        pos = state["pos"] + 1
        done = pos >= self.chunk_size
        summary = acc / self.chunk_size if self.pool == "mean" else h
        out, s_outer = self.outer(summary.astype(h.dtype), state["outer"])
        new = {
            "inner": s_inner,
            "outer": jax.tree.map(lambda n, o: _where_batch(done, n, o), s_outer, state["outer"]),
            "acc": _where_batch(done, jnp.zeros_like(acc), acc),
            "pos": jnp.where(done, 0, pos).astype(jnp.int32),
            "ctx": _where_batch(done, out.astype(state["ctx"].dtype), state["ctx"]),
        }
        return y, new

    def parallel(self, x: jax.Array, *, return_states: bool = False):
        """The whole sequence from zero state (equal to stepping, for any ``T``).

        Args:
            x: input of shape ``(T, *batch, d_model)`` (time first).
            return_states: also return every step's state (each leaf of
                ``init_state`` with a leading time axis ``T``).

        Returns:
            ``y`` of shape ``(T, *batch, d_model)``; with ``return_states``, ``(y, states)``.
        """
        x = check_sequence(x, self.d_model)
        T, batch, c = x.shape[0], tuple(x.shape[1:-1]), self.chunk_size
        n = math.ceil(T / c)
        h, s_inner = self.inner.parallel(x, return_states=True) if return_states else (self.inner.parallel(x),
                                                                                       None)
        padded = jnp.pad(h, [(0, n * c - T)] + [(0, 0)] * (h.ndim - 1))
        chunks = padded.reshape(n, c, *h.shape[1:])
        summary = chunks.sum(axis=1) / c if self.pool == "mean" else chunks[:, -1]
        if return_states:
            out, s_outer = self.outer.parallel(summary, return_states=True)
        else:
            out = self.outer.parallel(summary)
        ctx = jnp.concatenate([jnp.zeros_like(out[:1]), out]).astype(h.dtype)  # ctx[k]: after k chunks
        seen = jnp.arange(T) // c  # chunks completed before step t
        y = h + self.g[...] * ctx[seen]
        if not return_states:
            return y
        after = (jnp.arange(T) + 1) // c  # chunks completed after step t
        zero_outer = self.outer.init_state(batch)
        outer_states = jax.tree.map(lambda z, s: jnp.concatenate([z[None], s])[after], zero_outer, s_outer)
        done = ((jnp.arange(T) + 1) % c == 0).reshape((T,) + (1,) * (h.ndim - 1))
        acc = jnp.cumsum(chunks, axis=1).reshape(n * c, *h.shape[1:])[:T]
        pos = jnp.broadcast_to(((jnp.arange(T) + 1) % c).reshape((T,) + (1,) * len(batch)), (T, *batch))
        states = {
            "inner": s_inner,
            "outer": outer_states,
            "acc": jnp.where(done, 0.0, acc).astype(jnp.float32),
            "pos": pos.astype(jnp.int32),
            "ctx": ctx[after].astype(jnp.float32),
        }
        return y, states
