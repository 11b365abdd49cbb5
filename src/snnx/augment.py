"""Per-sample augmentation of spike trains and event frames, on the device.

Every function takes an explicit ``jax.random`` key first and a time-major batch
``(T, B, ...)``, draws **one random value per sample** (Spyx 1.0's
``shift_augment`` draws one shift for the whole batch), and runs under
``jax.jit`` (the sizes are Python ints). The same key gives the same result.
``docs/augmentation.md`` shows each one on a raster plot.

* :func:`shift`: move each sample along one axis (time, or a feature axis) by a
  random whole number of positions, zero-filling; :func:`channel_shift` is it
  on the last axis (the SHD trick: a sample's channels move together).
* :func:`drop_events`: remove each event with probability ``p``.
* :func:`time_jitter`: move each event in time by its own random offset.
* :func:`time_stretch`: play each sample faster or slower.
* :func:`random_crop` and :func:`flip`: for event frames ``(T, B, H, W, C)``.
* :func:`mixup`: mix each sample with another one of the batch, element by
  element, and mix the labels by the same proportion.

Example:
    >>> key = jax.random.key(0)
    >>> x = shift(key, x, max_shift=5)            # (T, B, N), per-sample time shifts
    >>> x = channel_shift(key, x, max_shift=10)   # SHD: channels move together
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "channel_shift", "drop_events", "flip", "mixup", "random_crop", "shift", "time_jitter", "time_stretch",
]  # fmt: skip


def _int(name: str, value, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}, got {value!r}")
    return value


def _batch(name: str, x, min_ndim: int = 2) -> jax.Array:
    x = jnp.asarray(x)
    if x.ndim < min_ndim:
        axes = "(T, B, ...)" if min_ndim == 2 else "(T, B, H, W, C)"
        raise ValueError(f"`{name}` must be a time-major batch {axes}, got shape {x.shape}")
    return x


def _axis(x: jax.Array, axis: int) -> int:
    if not isinstance(axis, int) or isinstance(axis, bool) or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"`axis` must be an axis of the (T, B, ...) input of rank {x.ndim}, got {axis!r}")
    axis %= x.ndim
    if axis == 1:
        raise ValueError("`axis` must not be 1, the batch axis: each sample moves along another axis")
    return axis


def _shift_along(x: jax.Array, shifts: jax.Array, axis: int) -> jax.Array:
    """``y[..., i, ...] = x[..., i - k_b, ...]`` along ``axis``, sample ``b``'s shift ``k_b``; 0 outside."""
    n = x.shape[axis]
    src = jnp.arange(n)[None, :] - shifts[:, None]  # (B, n)
    valid = (src >= 0) & (src < n)
    moved = jnp.moveaxis(x, (1, axis), (0, 1))  # (B, n, rest...)
    idx = jnp.clip(src, 0, n - 1).reshape(src.shape + (1,) * (moved.ndim - 2))
    y = jnp.take_along_axis(moved, idx, axis=1)
    y = jnp.where(valid.reshape(idx.shape), y, jnp.zeros((), x.dtype))
    return jnp.moveaxis(y, (0, 1), (1, axis))


def shift(key: jax.Array, x: jax.Array, max_shift: int, *, axis: int = 0) -> jax.Array:
    """Shift each sample along ``axis`` by its own random integer in ``[-max_shift, max_shift]``.

    For sample ``b`` with shift ``k_b`` (drawn uniformly, both ends included)::

        y[..., i, ...] = x[..., i - k_b, ...]   if 0 <= i - k_b < n, else 0

    along ``axis`` (``n`` its length): a positive shift delays (``axis=0``) or
    moves to higher indices. Nothing wraps around.

    Args:
        key: a ``jax.random`` key.
        x: ``(T, B, ...)``.
        max_shift: non-negative int.
        axis: 0 (time, the default) or a feature axis ``>= 2`` (negative counts from the end); not 1.

    Returns:
        An array of the shape and dtype of ``x``.
    """
    x = _batch("x", x)
    axis = _axis(x, axis)
    max_shift = _int("max_shift", max_shift)
    shifts = jax.random.randint(key, (x.shape[1],), -max_shift, max_shift + 1)
    return _shift_along(x, shifts, axis)


def channel_shift(key: jax.Array, x: jax.Array, max_shift: int) -> jax.Array:
    """:func:`shift` along the last axis: each sample's channels move together by one random integer.

    For SHD-like data ``(T, B, 700)``, the augmentation of Cramer et al. (2020):
    a sample heard by cochlear channels a few places higher or lower.
    """
    x = _batch("x", x, 3)
    return shift(key, x, max_shift, axis=-1)


def drop_events(key: jax.Array, x: jax.Array, p: float) -> jax.Array:
    """Remove each event independently with probability ``p``: ``y = x * (u >= p)``, ``u ~ U[0, 1)``."""
    x = _batch("x", x)
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"`p` must be a probability in [0, 1], got {p!r}")
    keep = jax.random.uniform(key, x.shape) >= p
    return jnp.where(keep, x, jnp.zeros((), x.dtype))


def time_jitter(key: jax.Array, x: jax.Array, max_jitter: int) -> jax.Array:
    """Move each event in time by its own random offset in ``[-max_jitter, max_jitter]``.

    Every element ``x[t, b, ...]`` draws an offset ``d`` (uniform, both ends
    included) and lands at step ``t + d``; events moved outside ``[0, T)`` are
    lost, and events landing on the same step and unit add (so binary input can
    give a 2; ``jnp.minimum(y, 1)`` keeps it binary).
    """
    x = _batch("x", x)
    max_jitter = _int("max_jitter", max_jitter)
    offsets = jax.random.randint(key, x.shape, -max_jitter, max_jitter + 1)
    y = jnp.zeros_like(x)
    num_t = x.shape[0]
    for d in range(-max_jitter, max_jitter + 1):  # 2 max_jitter + 1 whole-array shifts: small, jit-friendly
        part = jnp.where(offsets == d, x, jnp.zeros((), x.dtype))
        if d > 0:
            part = jnp.concatenate([jnp.zeros_like(part[:d]), part[: num_t - d]]) if d < num_t else 0 * part
        elif d < 0:
            part = jnp.concatenate([part[-d:], jnp.zeros_like(part[:-d])]) if -d < num_t else 0 * part
        y = y + part
    return y


def time_stretch(key: jax.Array, x: jax.Array, low: float = 0.8, high: float = 1.2) -> jax.Array:
    """Play each sample ``s`` times slower, ``s ~ U[low, high]`` per sample (nearest step).

    ``y[t, b] = x[floor(t / s_b), b]`` while ``floor(t / s_b) < T``, else 0: with
    ``s > 1`` the sample lasts longer (its end is cut at ``T``, and events are
    repeated on the steps that map to the same source step); with ``s < 1`` it
    ends early (zero-filled), and the steps skipped drop their events.
    """
    x = _batch("x", x)
    for name, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not float(v) > 0:
            raise ValueError(f"`{name}` must be a positive number, got {v!r}")
    if not high >= low:
        raise ValueError(f"`high` must be >= `low`, got low={low!r}, high={high!r}")
    num_t = x.shape[0]
    factors = jax.random.uniform(key, (x.shape[1],), minval=low, maxval=high)
    src = jnp.floor(jnp.arange(num_t)[:, None] / factors[None, :]).astype(jnp.int32)  # (T, B)
    valid = src < num_t
    idx = jnp.clip(src, 0, num_t - 1).reshape(src.shape + (1,) * (x.ndim - 2))
    y = jnp.take_along_axis(x, idx, axis=0)
    return jnp.where(valid.reshape(idx.shape), y, jnp.zeros((), x.dtype))


def random_crop(key: jax.Array, frames: jax.Array, size: tuple[int, int]) -> jax.Array:
    """Cut an ``(h, w)`` window out of each sample's ``(H, W)`` frames, at a random place per sample.

    ``frames``: ``(T, B, H, W, C)`` (channels-last event frames). The window is
    the same at every step of a sample. Returns ``(T, B, h, w, C)``.
    """
    frames = _batch("frames", frames, 5)
    if frames.ndim != 5:
        raise ValueError(f"`frames` must be (T, B, H, W, C), got shape {frames.shape}")
    num_h, num_w = frames.shape[2:4]
    if not (isinstance(size, (tuple, list)) and len(size) == 2):
        raise ValueError(f"`size` must be (h, w), got {size!r}")
    h, w = (_int("size", s, 1) for s in size)
    if h > num_h or w > num_w:
        raise ValueError(f"`size` {(h, w)} must fit in the frames' (H, W) = {(num_h, num_w)}")
    kh, kw = jax.random.split(key)
    top = jax.random.randint(kh, (frames.shape[1],), 0, num_h - h + 1)
    left = jax.random.randint(kw, (frames.shape[1],), 0, num_w - w + 1)

    def one(sample, t0, l0):  # (T, H, W, C) -> (T, h, w, C)
        return jax.lax.dynamic_slice(sample, (0, t0, l0, 0), (sample.shape[0], h, w, sample.shape[3]))

    return jnp.moveaxis(jax.vmap(one, in_axes=(1, 0, 0))(frames, top, left), 0, 1)


def flip(key: jax.Array, frames: jax.Array, p: float = 0.5, *, axis: int = 3) -> jax.Array:
    """Mirror each sample along ``axis`` with probability ``p`` (default: W of ``(T, B, H, W, C)``)."""
    frames = _batch("frames", frames, 3)
    axis = _axis(frames, axis)
    if axis == 0:
        raise ValueError("`axis` must be a spatial axis; to reverse time, this is not the function")
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"`p` must be a probability in [0, 1], got {p!r}")
    chosen = jax.random.uniform(key, (frames.shape[1],)) < p
    mask = chosen.reshape((1, -1) + (1,) * (frames.ndim - 2))
    return jnp.where(mask, jnp.flip(frames, axis=axis), frames)


def mixup(
    key: jax.Array, x: jax.Array, labels: jax.Array, num_classes: int, alpha: float = 0.4
) -> tuple[jax.Array, jax.Array]:
    """Mix each sample with another of the batch, element by element, and its label by the same share.

    Sample ``b`` draws ``lam_b ~ Beta(alpha, alpha)`` and a partner ``pi(b)`` (a
    random permutation of the batch); each element of the result comes from
    ``b`` with probability ``lam_b``, else from ``pi(b)``, so spikes stay spikes::

        y[t, b, ...] = x[t, b, ...] if u < lam_b else x[t, pi(b), ...]
        target[b] = lam_b one_hot(labels[b]) + (1 - lam_b) one_hot(labels[pi(b)])

    Returns ``(y, target)``, the soft targets ``(B, num_classes)`` for a
    cross-entropy that takes probabilities (``optax.softmax_cross_entropy``).
    """
    x = _batch("x", x)
    labels = jnp.asarray(labels)
    num_classes = _int("num_classes", num_classes, 1)
    if labels.shape != (x.shape[1],):
        raise ValueError(f"`labels` must have shape (B,) = ({x.shape[1]},), got {labels.shape}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not float(alpha) > 0:
        raise ValueError(f"`alpha` must be a positive number, got {alpha!r}")
    k_lam, k_perm, k_pick = jax.random.split(key, 3)
    lam = jax.random.beta(k_lam, alpha, alpha, (x.shape[1],))
    partner = jax.random.permutation(k_perm, x.shape[1])
    take_own = jax.random.uniform(k_pick, x.shape) < lam.reshape((1, -1) + (1,) * (x.ndim - 2))
    y = jnp.where(take_own, x, x[:, partner])
    one_hot = jax.nn.one_hot(labels, num_classes)
    target = lam[:, None] * one_hot + (1.0 - lam[:, None]) * one_hot[partner]
    return y, target
