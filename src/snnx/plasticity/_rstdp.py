"""Reward-modulated STDP: pairings fill an eligibility trace, a reward turns it into a weight change."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from snnx import _checks
from snnx.plasticity import _common


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class RSTDP(_common.PairRule):
    r"""Reward-modulated STDP (three-factor rule) with a per-sample eligibility trace.

    Per step ``t``, with the traces of :class:`STDP` (``x_pre`` after this step's pre spikes,
    ``x_post'`` before this step's post spikes) and ``r`` this step's reward (scalar or ``(B,)``)::

        x_pre   = decay_pre  * x_pre + s_pre
        x_post' = decay_post * x_post
        e[b] = decay_e * e[b] + a_plus  * f_plus(w)  * x_pre[b, :, None] * s_post[b, None, :]
                              - a_minus * f_minus(w) * s_pre[b, :, None] * x_post'[b, None, :]
        dw = lr * R_b(r[b] * e[b])
        x_post = x_post' + s_post

    The eligibility ``e`` (shape ``(B, n_pre, n_post)``) includes this step's pairings, so a reward
    in the step of a pairing already acts on it. ``R_b``, ``f_plus``, ``f_minus`` and the hard
    clipping are those of :class:`STDP`. With ``r = 1`` at every step and ``decay_e = 0`` the rule
    is :class:`STDP` scaled by ``lr``.

    A reward that arrives at the end of a trial is a reward array that is zero except at the last
    step: ``dw = lr * R_b(r[b] * e_T[b])``, the eligibility left at the end weighted by the outcome.

    Args:
        decay_pre: decay per step of the presynaptic trace, in [0, 1).
        decay_post: decay per step of the postsynaptic trace, in [0, 1).
        decay_e: decay per step of the eligibility trace, in [0, 1).
        a_plus: potentiation amplitude of a pairing, >= 0.
        a_minus: depression amplitude of a pairing, >= 0.
        lr: learning rate multiplying ``reward * e``, >= 0 (the reward carries the sign).
        w_min: lower weight bound (None: unbounded; required for soft bounds).
        w_max: upper weight bound (None: unbounded; required for soft bounds).
        bounds: ``"hard"`` (clip ``w + dw``) or ``"soft"`` (multiplicative factors in the pairings).
        batch_reduce: ``"sum"`` or ``"mean"`` over the samples of ``r[b] * e[b]``.

    Example:
        >>> rule = RSTDP(decay_e=0.9, a_plus=1.0, a_minus=1.0, lr=0.01)
        >>> state = rule.init_state(batch=2, n_pre=4, n_post=3)
        >>> state, dw = rule.step(state, jnp.ones((2, 4)), jnp.ones((2, 3)), jnp.zeros((4, 3)),
        ...                       reward=jnp.array([1.0, -1.0]))

    References:
        Izhikevich (2007), *Cereb. Cortex* 17(10); Frémaux & Gerstner (2016), *Front. Neural
        Circuits* 9:85 (three-factor rules).
    """

    decay_pre: float = 0.9
    decay_post: float = 0.9
    decay_e: float = 0.95
    a_plus: float = 1.0
    a_minus: float = 1.0
    lr: float = 0.01
    w_min: float | None = None
    w_max: float | None = None
    bounds: str = "hard"
    batch_reduce: str = "sum"

    def __post_init__(self):
        self._check_common()
        object.__setattr__(self, "decay_e", _common.check_decay("decay_e", self.decay_e))
        object.__setattr__(self, "lr", _common.check_amplitude("lr", self.lr))

    def init_state(self, batch: int, n_pre: int, n_post: int) -> dict[str, jax.Array]:
        """Zero state: ``x_pre`` (batch, n_pre), ``x_post`` (batch, n_post), ``e`` (batch, n_pre, n_post)."""
        shapes = self._state_shapes(batch, n_pre, n_post)
        shapes["e"] = (shapes["x_pre"][0], n_pre, n_post)
        return {k: jnp.zeros(s, jnp.float32) for k, s in shapes.items()}

    def step(self, state: dict, s_pre, s_post, w, reward) -> tuple[dict[str, jax.Array], jax.Array]:
        """One time step: update traces and eligibility, return this step's weight change.

        Args:
            state: traces and eligibility, from :meth:`init_state` or the previous step.
            s_pre: presynaptic spikes of shape ``(B, n_pre)``.
            s_post: postsynaptic spikes of shape ``(B, n_post)``.
            w: current weights of shape ``(n_pre, n_post)`` (read by the bounds only).
            reward: this step's reward, a scalar or one per sample ``(B,)`` (0: no change).

        Returns:
            ``(new_state, dw)`` with ``dw`` of shape ``(n_pre, n_post)``.
        """
        w, s_pre, s_post = self._check_step(state, s_pre, s_post, w, eligibility=True)
        batch = s_pre.shape[0]
        r = _reward(reward, (batch,), "a scalar or (B,) = " + str((batch,)), w.dtype)
        x_pre, x_post_before, x_post = _common.trace_step(
            state["x_pre"], state["x_post"], s_pre, s_post, self.decay_pre, self.decay_post
        )
        term = self._pairing(
            w, x_pre[:, :, None] * s_post[:, None, :], s_pre[:, :, None] * x_post_before[:, None, :]
        )
        e = self.decay_e * state["e"] + term
        dw = self.lr * self._reduce(_common.pair(r, e, "b,bij->ij"), batch)
        return {"x_pre": x_pre, "x_post": x_post, "e": e}, self._clip(w, dw)

    def from_recording(self, pre_spikes, post_spikes, w, reward) -> jax.Array:
        """The total weight change over a recording, with ``w`` held fixed while it ran.

        Equals the sum of :meth:`step`'s changes from zero state with the same ``w`` at every step
        (hard bounds clip once, at the end). Computed without the ``(B, n_pre, n_post)``
        eligibility: each pairing at step ``k`` is weighted by the discounted reward to come,
        ``G_k = sum_{t >= k} decay_e ** (t - k) * r_t``.

        Args:
            pre_spikes: presynaptic spikes of shape ``(T, B, n_pre)``.
            post_spikes: postsynaptic spikes of shape ``(T, B, n_post)``.
            w: weights of shape ``(n_pre, n_post)``.
            reward: the reward at every step, ``(T,)`` (shared by the samples) or ``(T, B)``.

        Returns:
            ``dw`` of shape ``(n_pre, n_post)``.
        """
        w, pre, post = _common.check_recording(pre_spikes, post_spikes, w)
        t, b = pre.shape[:2]
        r = _reward(reward, (t, b), f"(T,) = {(t,)} or (T, B) = {(t, b)}", w.dtype, lead=True)

        def back(g, r_t):
            g = r_t + self.decay_e * g
            return g, g

        _, g = jax.lax.scan(back, jnp.zeros((b,), w.dtype), r, reverse=True)
        x_pre, x_post_before = _common.traces(pre, post, self.decay_pre, self.decay_post)
        pot = _common.pair(x_pre * g[:, :, None], post, "tbi,tbj->ij")
        dep = _common.pair(pre * g[:, :, None], x_post_before, "tbi,tbj->ij")
        return self._clip(w, self.lr * self._reduce(self._pairing(w, pot, dep), b))


def _reward(reward, full: tuple[int, ...], expected: str, dtype, *, lead: bool = False) -> jax.Array:
    """``reward`` broadcast to ``full``: a scalar or ``(B,)`` per step, or ``(T,)``/``(T, B)`` (``lead``)."""
    r = jnp.asarray(reward, dtype)
    ok = r.shape in ((full[0],), full) if lead else r.shape in ((), full)
    if not ok:
        raise _checks.ShapeError(f"`reward` must be {expected}, got shape {tuple(r.shape)}")
    if lead and r.ndim == 1:
        r = r[:, None]
    return jnp.broadcast_to(r, full)
