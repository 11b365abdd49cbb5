"""What the pair-based rules share: parameter checks, the trace step, the pairing terms and the bounds.

Conventions (``docs/plasticity.md`` has the full account):

* weights ``w`` have the layout of ``nnx.Linear.kernel``: ``(n_pre, n_post)``;
* spikes are ``(B, n)`` per step, ``(T, B, n)`` for a recording (time-major);
* at step ``t`` both traces first decay and then take this step's spikes; potentiation reads the
  presynaptic trace *after* this step's presynaptic spikes, depression reads the postsynaptic trace
  *before* this step's postsynaptic spikes, so a pre and a post spike in the same step form one
  causal (pre -> post) pair: snnx propagates a spike to the next layer within the step it is emitted.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from snnx import _checks

BOUNDS = ("hard", "soft")
REDUCTIONS = ("sum", "mean")
_HI = jax.lax.Precision.HIGHEST


def check_decay(name: str, value) -> float:
    """A decay per step: a real number in [0, 1) (1 would never forget)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise _checks.ArgumentTypeError(
            f"`{name}` must be a real number in [0, 1), got {type(value).__name__}"
        )
    if not 0.0 <= float(value) < 1.0:
        raise _checks.OptionError(f"`{name}` must lie in [0, 1) (a decay per step), got {value!r}")
    return float(value)


def check_amplitude(name: str, value) -> float:
    """An amplitude or learning rate: a finite real number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise _checks.ArgumentTypeError(f"`{name}` must be a real number >= 0, got {type(value).__name__}")
    if not (math.isfinite(float(value)) and float(value) >= 0.0):
        raise _checks.OptionError(
            f"`{name}` must be a finite number >= 0, got {value!r} (the sign of each half of the window "
            f"is fixed: potentiation adds, depression subtracts)"
        )
    return float(value)


def check_bounds(w_min, w_max, bounds: str, batch_reduce: str) -> tuple[float | None, float | None]:
    """Check the weight range and the options; returns ``(w_min, w_max)`` as floats or None."""
    _checks.one_of("bounds", bounds, BOUNDS)
    _checks.one_of("batch_reduce", batch_reduce, REDUCTIONS)
    out = []
    for name, value in (("w_min", w_min), ("w_max", w_max)):
        if value is None:
            out.append(None)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise _checks.ArgumentTypeError(
                f"`{name}` must be a real number or None, got {type(value).__name__}"
            )
        if not math.isfinite(float(value)):
            raise _checks.OptionError(f"`{name}` must be finite, got {value!r}")
        out.append(float(value))
    lo, hi = out
    if lo is not None and hi is not None and not lo < hi:
        raise _checks.OptionError(f"`w_min` (={lo}) must be below `w_max` (={hi})")
    if bounds == "soft" and (lo is None or hi is None):
        raise _checks.OptionError(
            f"bounds='soft' scales potentiation by (w_max - w) and depression by (w - w_min): it needs "
            f"both `w_min` and `w_max`, got w_min={lo}, w_max={hi}"
        )
    return lo, hi


def check_weight(w) -> jax.Array:
    """``w`` as a float array of shape ``(n_pre, n_post)``."""
    w = jnp.asarray(w)
    if w.ndim != 2:
        raise _checks.ShapeError(
            f"`w` must have shape (n_pre, n_post) (the layout of nnx.Linear.kernel), got {tuple(w.shape)}"
        )
    if not jnp.issubdtype(w.dtype, jnp.floating):
        w = w.astype(jnp.float32)
    return w


def check_spikes(name: str, s, w: jax.Array, *, side: str, lead: str) -> jax.Array:
    """``s`` of shape ``(*lead, n)`` with ``n`` the ``side`` ("pre" or "post") size of ``w``."""
    s = jnp.asarray(s)
    n = w.shape[0] if side == "pre" else w.shape[1]
    n_lead = len(lead.split(", "))
    if s.ndim != n_lead + 1 or s.shape[-1] != n:
        raise _checks.ShapeError(
            f"`{name}` must have shape ({lead}, n_{side}={n}) to match `w` of shape {tuple(w.shape)} "
            f"(n_pre, n_post), got {tuple(s.shape)}"
        )
    return s.astype(w.dtype)


def same_lead(names: tuple[str, str], a: jax.Array, b: jax.Array, axes: int, what: str) -> None:
    """The first ``axes`` axes of ``a`` and ``b`` agree (``what`` names them, e.g. "(T, B)")."""
    if a.shape[:axes] != b.shape[:axes]:
        raise _checks.ShapeError(
            f"`{names[0]}` and `{names[1]}` must share their leading {what} axes, got {tuple(a.shape)} "
            f"and {tuple(b.shape)}"
        )


def check_state(state, want: dict[str, tuple[int, ...]], kind: str) -> None:
    """``state`` is a dict with exactly the keys and shapes of ``want`` (from ``init_state``)."""
    if not isinstance(state, dict) or set(state) != set(want):
        got = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValueError(
            f"`state` must be a dict with keys {sorted(want)} (from {kind}.init_state), got {got}"
        )
    for key, shape in want.items():
        if tuple(jnp.shape(state[key])) != shape:
            raise _checks.ShapeError(
                f"`state[{key!r}]` must have shape {shape} for these spikes and `w`, got "
                f"{tuple(jnp.shape(state[key]))} (make it with {kind}.init_state(batch, n_pre, n_post))"
            )


def trace_step(x_pre, x_post, s_pre, s_post, decay_pre: float, decay_post: float):
    """One step of both traces; returns ``(x_pre_new, x_post_before, x_post_new)``.

    ``x_pre_new = decay_pre * x_pre + s_pre`` (read by potentiation),
    ``x_post_before = decay_post * x_post`` (read by depression, before this step's post spikes),
    ``x_post_new = x_post_before + s_post`` (carried to the next step).
    """
    x_pre_new = decay_pre * x_pre + s_pre
    x_post_before = decay_post * x_post
    return x_pre_new, x_post_before, x_post_before + s_post


def traces(pre: jax.Array, post: jax.Array, decay_pre: float, decay_post: float):
    """Traces over a recording ``(T, B, n)``: ``(x_pre_new, x_post_before)`` at every step, from zero."""

    def body(carry, s):
        x_pre, x_post = carry
        x_pre, x_post_before, x_post = trace_step(x_pre, x_post, s[0], s[1], decay_pre, decay_post)
        return (x_pre, x_post), (x_pre, x_post_before)

    init = (jnp.zeros_like(pre[0]), jnp.zeros_like(post[0]))
    _, (x_pre, x_post_before) = jax.lax.scan(body, init, (pre, post))
    return x_pre, x_post_before


def pair(a: jax.Array, b: jax.Array, spec: str) -> jax.Array:
    """``einsum(spec, a, b)`` at full float32 precision on every backend."""
    return jnp.einsum(spec, a, b, precision=_HI)


def soft_factors(w: jax.Array, w_min, w_max, bounds: str):
    """``(f_plus, f_minus)``: ``(w_max - w, w - w_min)`` for soft bounds, ``(1, 1)`` otherwise."""
    if bounds == "soft":
        return w_max - w, w - w_min
    return 1.0, 1.0


def clip_update(w: jax.Array, dw: jax.Array, w_min, w_max, bounds: str) -> jax.Array:
    """For hard bounds, the ``dw`` that lands ``w + dw`` in ``[w_min, w_max]``; ``dw`` otherwise."""
    if bounds != "hard" or (w_min is None and w_max is None):
        return dw
    return jnp.clip(w + dw, w_min, w_max) - w


class PairRule:
    """Fields and checks shared by :class:`~snnx.plasticity.STDP` and :class:`~snnx.plasticity.RSTDP`.

    Subclasses are frozen dataclasses registered as static pytrees: hashable, so ``jax.jit`` takes
    them as arguments (a different rule is a different compilation) and they carry no arrays.
    """

    def _check_common(self) -> None:
        for name in ("decay_pre", "decay_post"):
            object.__setattr__(self, name, check_decay(name, getattr(self, name)))
        for name in ("a_plus", "a_minus"):
            object.__setattr__(self, name, check_amplitude(name, getattr(self, name)))
        lo, hi = check_bounds(self.w_min, self.w_max, self.bounds, self.batch_reduce)
        object.__setattr__(self, "w_min", lo)
        object.__setattr__(self, "w_max", hi)

    def _state_shapes(self, batch, n_pre, n_post) -> dict[str, tuple[int, ...]]:
        b = _checks.positive_int("batch", batch)
        n_pre = _checks.positive_int("n_pre", n_pre)
        n_post = _checks.positive_int("n_post", n_post)
        return {"x_pre": (b, n_pre), "x_post": (b, n_post)}

    def _reduce(self, value: jax.Array, batch: int) -> jax.Array:
        return value / batch if self.batch_reduce == "mean" else value

    def _pairing(self, w, pot: jax.Array, dep: jax.Array) -> jax.Array:
        """``a_plus * f_plus(w) * pot - a_minus * f_minus(w) * dep`` (the bounds' factors, if soft)."""
        f_plus, f_minus = soft_factors(w, self.w_min, self.w_max, self.bounds)
        return self.a_plus * f_plus * pot - self.a_minus * f_minus * dep

    def _clip(self, w: jax.Array, dw: jax.Array) -> jax.Array:
        return clip_update(w, dw, self.w_min, self.w_max, self.bounds)

    def _check_step(self, state, s_pre, s_post, w, *, eligibility: bool = False):
        """Check one step's arguments; ``eligibility``: the state also holds ``e`` ``(B, n_pre, n_post)``."""
        w = check_weight(w)
        s_pre = check_spikes("s_pre", s_pre, w, side="pre", lead="B")
        s_post = check_spikes("s_post", s_post, w, side="post", lead="B")
        same_lead(("s_pre", "s_post"), s_pre, s_post, 1, "batch")
        want = self._state_shapes(s_pre.shape[0], *w.shape)
        if eligibility:
            want["e"] = (s_pre.shape[0], *w.shape)
        check_state(state, want, type(self).__name__)
        return w, s_pre, s_post


def check_recording(pre_spikes, post_spikes, w):
    """Check a recording: ``pre_spikes`` ``(T, B, n_pre)``, ``post_spikes`` ``(T, B, n_post)``, ``w``."""
    w = check_weight(w)
    pre = check_spikes("pre_spikes", pre_spikes, w, side="pre", lead="T, B")
    post = check_spikes("post_spikes", post_spikes, w, side="post", lead="T, B")
    same_lead(("pre_spikes", "post_spikes"), pre, post, 2, "(T, B)")
    return w, pre, post
