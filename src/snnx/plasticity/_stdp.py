"""Pair-based spike-timing-dependent plasticity with exponential traces."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from snnx.plasticity import _common


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class STDP(_common.PairRule):
    r"""Pair-based STDP: exponential pre/post traces, a weight change at every spike.

    Per step ``t``, with ``s_pre`` ``(B, n_pre)`` and ``s_post`` ``(B, n_post)`` this step's spikes::

        x_pre  = decay_pre  * x_pre + s_pre          # pre trace, this step's spikes included
        x_post' = decay_post * x_post                # post trace before this step's spikes
        dw = a_plus  * f_plus(w)  * R_b(x_pre[b, :, None] * s_post[b, None, :])
           - a_minus * f_minus(w) * R_b(s_pre[b, :, None] * x_post'[b, None, :])
        x_post = x_post' + s_post

    ``R_b`` sums over the batch (``batch_reduce="sum"``, as snnTorch and Norse) or averages
    (``"mean"``). ``f_plus = w_max - w`` and ``f_minus = w - w_min`` for ``bounds="soft"``
    (multiplicative), 1 otherwise; with ``bounds="hard"`` the returned ``dw`` is
    ``clip(w + dw, w_min, w_max) - w`` (each bound that is not None).

    A pre spike at ``t0`` and a post spike at ``t1`` alone give the classic window::

        dw =  a_plus  * decay_pre  ** (t1 - t0)     if t1 >= t0   (causal, potentiation)
        dw = -a_minus * decay_post ** (t0 - t1)     if t1 <  t0   (anti-causal, depression)

    A same-step pair counts as causal: in snnx a spike reaches the next layer within the step it is
    emitted, so a presynaptic spike at ``t`` can cause a postsynaptic spike at ``t``. (snnTorch and
    Norse count a same-step pair twice, ``a_plus - a_minus``; see ``docs/plasticity.md``.)

    The weight layout is ``nnx.Linear.kernel``'s: ``w`` of shape ``(n_pre, n_post)``, so
    ``layer.kernel[...] += dw`` applies a change.

    Args:
        decay_pre: decay per step of the presynaptic trace, in [0, 1).
        decay_post: decay per step of the postsynaptic trace, in [0, 1).
        a_plus: potentiation amplitude, >= 0.
        a_minus: depression amplitude, >= 0.
        w_min: lower weight bound (None: unbounded; required for soft bounds).
        w_max: upper weight bound (None: unbounded; required for soft bounds).
        bounds: ``"hard"`` (clip ``w + dw``) or ``"soft"`` (multiplicative factors above).
        batch_reduce: ``"sum"`` or ``"mean"`` of the per-sample changes.

    Example:
        >>> rule = STDP(decay_pre=0.8, decay_post=0.8, a_plus=0.01, a_minus=0.012, w_min=0.0, w_max=1.0)
        >>> state = rule.init_state(batch=2, n_pre=4, n_post=3)
        >>> w = jnp.full((4, 3), 0.5)
        >>> state, dw = rule.step(state, jnp.ones((2, 4)), jnp.zeros((2, 3)), w)
        >>> pre_spikes, post_spikes = jnp.ones((10, 2, 4)), jnp.ones((10, 2, 3))   # (T, B, n)
        >>> dw_total = rule.from_recording(pre_spikes, post_spikes, w)

    References:
        Bi & Poo (1998), *J. Neurosci.* 18(24); Song, Miller & Abbott (2000), *Nat. Neurosci.* 3(9)
        (pair-based STDP with traces); van Rossum, Bi & Turrigiano (2000), *J. Neurosci.* 20(23)
        (soft bounds).
    """

    decay_pre: float = 0.9
    decay_post: float = 0.9
    a_plus: float = 0.01
    a_minus: float = 0.01
    w_min: float | None = None
    w_max: float | None = None
    bounds: str = "hard"
    batch_reduce: str = "sum"

    def __post_init__(self):
        self._check_common()

    def init_state(self, batch: int, n_pre: int, n_post: int) -> dict[str, jax.Array]:
        """Zero traces: ``{"x_pre": (batch, n_pre), "x_post": (batch, n_post)}``."""
        return {k: jnp.zeros(s, jnp.float32) for k, s in self._state_shapes(batch, n_pre, n_post).items()}

    def step(self, state: dict, s_pre, s_post, w) -> tuple[dict[str, jax.Array], jax.Array]:
        """One time step: update the traces and return this step's weight change.

        Pure (no side effect): ``jax.jit`` and ``jax.lax.scan`` friendly.

        Args:
            state: the traces, from :meth:`init_state` or the previous step.
            s_pre: presynaptic spikes of shape ``(B, n_pre)``.
            s_post: postsynaptic spikes of shape ``(B, n_post)``.
            w: current weights of shape ``(n_pre, n_post)`` (read by the bounds only).

        Returns:
            ``(new_state, dw)`` with ``dw`` of shape ``(n_pre, n_post)``.
        """
        w, s_pre, s_post = self._check_step(state, s_pre, s_post, w)
        x_pre, x_post_before, x_post = _common.trace_step(
            state["x_pre"], state["x_post"], s_pre, s_post, self.decay_pre, self.decay_post
        )
        pot = _common.pair(x_pre, s_post, "bi,bj->ij")
        dep = _common.pair(s_pre, x_post_before, "bi,bj->ij")
        dw = self._reduce(self._pairing(w, pot, dep), s_pre.shape[0])
        return {"x_pre": x_pre, "x_post": x_post}, self._clip(w, dw)

    def from_recording(self, pre_spikes, post_spikes, w) -> jax.Array:
        """The total weight change over a recording, with ``w`` held fixed while it ran.

        Traces start at zero. The result equals the sum of :meth:`step`'s changes over the recording
        with the same ``w`` at every step (the soft bounds read that ``w``); hard bounds clip once,
        at the end: ``clip(w + sum, w_min, w_max) - w``. Computed as one scan of the traces and two
        contractions over time and batch, not ``T`` outer products.

        Args:
            pre_spikes: presynaptic spikes of shape ``(T, B, n_pre)``, e.g. the input of a Linear.
            post_spikes: postsynaptic spikes of shape ``(T, B, n_post)``, e.g. ``recording.outputs[key]``
                from ``snnx.run(model, x, record="spikes")``.
            w: weights of shape ``(n_pre, n_post)``.

        Returns:
            ``dw`` of shape ``(n_pre, n_post)``.
        """
        w, pre, post = _common.check_recording(pre_spikes, post_spikes, w)
        x_pre, x_post_before = _common.traces(pre, post, self.decay_pre, self.decay_post)
        pot = _common.pair(x_pre, post, "tbi,tbj->ij")
        dep = _common.pair(pre, x_post_before, "tbi,tbj->ij")
        return self._clip(w, self._reduce(self._pairing(w, pot, dep), pre.shape[1]))
