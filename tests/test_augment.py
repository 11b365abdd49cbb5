"""``snnx.augment``: per-sample augmentations, checked as properties against plain numpy.

Each test recovers what was done to every sample from the output alone (the
shift, the crop window, the stretch bounds, the partner) and checks it against a
numpy transcription of the docstring's formula; none reuses the implementation's
random draws.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from snnx import augment

T, B, N = 40, 32, 12


def _spikes(seed=0, p=0.3, shape=(T, B, N)):
    return (np.random.default_rng(seed).random(shape) < p).astype(np.float32)


def _zfill_shift(a: np.ndarray, k: int, axis: int) -> np.ndarray:
    """``a`` moved by ``k`` along ``axis``, zero-filled (no wrap)."""
    out = np.zeros_like(a)
    n = a.shape[axis]
    src = [slice(None)] * a.ndim
    dst = [slice(None)] * a.ndim
    if k >= 0:
        src[axis], dst[axis] = slice(0, max(n - k, 0)), slice(k, n)
    else:
        src[axis], dst[axis] = slice(-k, n), slice(0, max(n + k, 0))
    out[tuple(dst)] = a[tuple(src)]
    return out


@pytest.mark.parametrize(("axis", "max_shift"), [(0, 6), (2, 3), (-1, 3)])
def test_shift_moves_each_sample_by_its_own_amount(axis, max_shift):
    x = _spikes()
    y = np.asarray(augment.shift(jax.random.key(1), x, max_shift, axis=axis))
    found, per_sample = [], 0 if axis == 0 else axis % 3 - 1  # the axis within one sample (T, N)
    for b in range(B):
        ks = [k for k in range(-max_shift, max_shift + 1)
              if np.array_equal(y[:, b], _zfill_shift(x[:, b], k, per_sample))]  # fmt: skip
        assert ks, f"sample {b} is no shift of its input within {max_shift}"
        found.append(ks[0])
    assert len(set(found)) > 3  # per sample, not one shift for the batch (Spyx 1.0's shift_augment)
    again = np.asarray(augment.shift(jax.random.key(1), x, max_shift, axis=axis))
    np.testing.assert_array_equal(y, again)  # seeded


def test_channel_shift_moves_channels_together():
    x = _spikes(shape=(T, B, 50))
    y = np.asarray(augment.channel_shift(jax.random.key(2), x, 5))
    for b in range(B):
        assert any(np.array_equal(y[:, b], _zfill_shift(x[:, b], k, 1)) for k in range(-5, 6))


def test_drop_events_removes_about_p_of_them_and_nothing_else():
    x = _spikes(shape=(200, B, N))
    y = np.asarray(augment.drop_events(jax.random.key(3), x, 0.25))
    assert np.all((y == x) | (y == 0)) and np.all(y <= x)
    kept = y.sum() / x.sum()
    n = x.sum()
    assert abs(kept - 0.75) < 4 * np.sqrt(0.25 * 0.75 / n)  # a binomial within 4 standard deviations
    np.testing.assert_array_equal(np.asarray(augment.drop_events(jax.random.key(3), x, 0.0)), x)
    assert np.asarray(augment.drop_events(jax.random.key(3), x, 1.0)).sum() == 0


def test_time_jitter_moves_each_event_at_most_max_jitter_steps():
    x = np.zeros((T, B, N), np.float32)
    t0 = np.random.default_rng(4).integers(5, T - 5, size=(B, N))  # one event per unit, away from the ends
    x[t0, np.arange(B)[:, None], np.arange(N)[None, :]] = 1.0
    y = np.asarray(augment.time_jitter(jax.random.key(5), x, 3))
    assert y.sum() == x.sum()  # nothing lost away from the ends
    t1 = y.argmax(axis=0)  # the one event's new step, (B, N)
    moved = t1 - t0
    assert np.abs(moved).max() <= 3 and len(np.unique(moved)) == 7  # every offset in [-3, 3] occurs
    np.testing.assert_array_equal(np.asarray(augment.time_jitter(jax.random.key(5), x, 0)), x)


def test_time_stretch_maps_steps_through_floor_t_over_s():
    x = np.broadcast_to(np.arange(1, T + 1, dtype=np.float32)[:, None, None], (T, B, 2)).copy()  # x = t + 1
    y = np.asarray(augment.time_stretch(jax.random.key(6), x, 0.5, 2.0))
    t = np.arange(T)[:, None]
    src = y[:, :, 0] - 1  # the source step of each output step (-1: zero-filled)
    inside = src >= 0
    assert np.all(src[inside] >= np.floor(t / 2.0).repeat(B, 1)[inside])
    assert np.all(src[inside] <= np.floor(t / 0.5).repeat(B, 1)[inside])
    assert np.all(np.diff(np.where(inside, src, T), axis=0) >= 0)  # in order; zeros only at the end
    assert len({tuple(col) for col in src.T}) > 3  # a factor per sample
    same = np.asarray(augment.time_stretch(jax.random.key(6), x, 1.0, 1.0))
    np.testing.assert_array_equal(same, x)


def test_random_crop_takes_one_window_per_sample_for_every_step():
    frames = np.random.default_rng(7).random((5, 8, 10, 12, 2)).astype(np.float32)
    y = np.asarray(augment.random_crop(jax.random.key(8), frames, (6, 7)))
    assert y.shape == (5, 8, 6, 7, 2)
    windows = set()
    for b in range(8):
        hits = [(i, j) for i in range(5) for j in range(6)
                if np.array_equal(y[:, b], frames[:, b, i:i + 6, j:j + 7])]  # fmt: skip
        assert len(hits) == 1
        windows.add(hits[0])
    assert len(windows) > 1


def test_flip_mirrors_whole_samples_with_probability_p():
    frames = np.random.default_rng(9).random((4, 64, 5, 6, 2)).astype(np.float32)
    y = np.asarray(augment.flip(jax.random.key(10), frames, 0.5))
    flipped = [np.array_equal(y[:, b], frames[:, b, :, ::-1]) for b in range(64)]
    kept = [np.array_equal(y[:, b], frames[:, b]) for b in range(64)]
    assert all(f != k for f, k in zip(flipped, kept, strict=True)) and 10 < sum(flipped) < 54
    np.testing.assert_array_equal(np.asarray(augment.flip(jax.random.key(10), frames, 0.0)), frames)


def test_mixup_takes_elements_from_the_sample_or_its_partner_and_mixes_labels_alike():
    x = np.broadcast_to(np.arange(1, B + 1, dtype=np.float32)[None, :, None], (200, B, N)).copy()  # x = b + 1
    labels = np.arange(B) % 5
    y, target = augment.mixup(jax.random.key(11), x, labels, 5, alpha=0.4)
    y, target = np.asarray(y), np.asarray(target)
    np.testing.assert_allclose(target.sum(axis=1), 1.0, rtol=1e-6)
    for b in range(B):
        sources = set(np.unique(y[:, b]).astype(int) - 1)
        assert sources <= {b} | set(range(B)) and len(sources) <= 2
        partner = next(iter(sources - {b}), b)
        own = float(np.mean(y[:, b] == b + 1)) if partner != b else 1.0
        expected = np.zeros(5)
        expected[labels[b]] += own
        expected[labels[partner]] += 1 - own
        np.testing.assert_allclose(target[b], expected, atol=0.08)  # lam_b estimated from 2400 draws


def test_all_run_under_jit_and_agree_with_eager():
    x = _spikes()
    key = jax.random.key(12)
    for fn, args in [(augment.shift, (3,)), (augment.channel_shift, (2,)), (augment.drop_events, (0.2,)),
                     (augment.time_jitter, (2,)), (augment.time_stretch, (0.8, 1.2))]:  # fmt: skip
        eager = np.asarray(fn(key, x, *args))
        jitted = np.asarray(jax.jit(fn, static_argnums=tuple(range(2, 2 + len(args))))(key, x, *args))
        np.testing.assert_array_equal(eager, jitted)


KEY = jax.random.key(0)
BAD = [
    (lambda x: augment.shift(KEY, x, -1), r"`max_shift` must be an int >= 0, got -1"),
    (lambda x: augment.shift(KEY, x, 2, axis=1), r"`axis` must not be 1, the batch axis"),
    (lambda x: augment.shift(KEY, x, 2, axis=3), r"`axis` must be an axis .* rank 3, got 3"),
    (lambda x: augment.shift(KEY, x[0, 0], 2), r"`x` must be a time-major batch \(T, B"),
    (lambda x: augment.drop_events(KEY, x, 1.5), r"`p` must be a probability in \[0, 1\]"),
    (lambda x: augment.time_stretch(KEY, x, 1.2, 0.8), r"`high` must be >= `low`"),
    (lambda x: augment.random_crop(KEY, x, (2, 2)), r"`frames` must be .*\(T, B, H, W, C\)"),
    (lambda x: augment.mixup(KEY, x, np.zeros(3), 5), r"`labels` must have shape \(B,\)"),
    (lambda x: augment.mixup(KEY, x, np.zeros(B), 5, alpha=0), r"`alpha` must be a positive number, got 0"),
]


@pytest.mark.parametrize(("call", "match"), BAD)
def test_bad_arguments_name_themselves(call, match):
    with pytest.raises(ValueError, match=match):
        call(_spikes())


def test_crop_larger_than_the_frame_is_refused():
    with pytest.raises(ValueError, match=r"`size` \(7, 7\) must fit in the frames' \(H, W\) = \(6, 6\)"):
        augment.random_crop(jax.random.key(0), np.zeros((2, 2, 6, 6, 1)), (7, 7))
    with pytest.raises(ValueError, match=r"`size` must be an int >= 1, got 2.5"):  # never truncated silently
        augment.random_crop(jax.random.key(0), np.zeros((2, 2, 6, 6, 1)), (2.5, 3))
