"""Encoders: statistics, hand-made signals, per-sample shifts, packing round trips."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnx import encoders

KEY = jax.random.key(0)


def test_public_names():
    assert sorted(encoders.__all__) == [
        "delta",
        "latency",
        "pack_spikes",
        "population",
        "rate",
        "time_shift",
        "unpack_spikes",
    ]


def test_rate_statistics_and_shape():
    x = jnp.array([[0.0, 0.1, 0.5], [0.9, 1.0, 0.25]])
    s = encoders.rate(KEY, x, 2000)
    assert s.shape == (2000, 2, 3) and s.dtype == jnp.float32
    assert set(np.unique(s)) <= {0.0, 1.0}
    # binomial std at p=0.5, n=2000 is ~0.011; allow ~4 sigma
    np.testing.assert_allclose(s.mean(0), x, atol=0.045)
    assert float(s[:, 0, 0].sum()) == 0.0 and float(s[:, 1, 1].sum()) == 2000.0
    g = encoders.rate(KEY, jnp.array([0.4]), 2000, gain=2.0)
    np.testing.assert_allclose(g.mean(), 0.8, atol=0.045)


def test_rate_errors():
    with pytest.raises(ValueError, match=r"`gain \* x` .* must lie in \[0, 1\]"):
        encoders.rate(KEY, jnp.array([0.5, 1.2]), 4)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        encoders.rate(KEY, jnp.array([0.6]), 4, gain=2.0)
    with pytest.raises(ValueError, match="`num_steps` must be an int >= 1"):
        encoders.rate(KEY, jnp.array([0.5]), 0)


def test_latency_ordering_and_threshold():
    x = jnp.array([1.0, 0.75, 0.5, 0.2, 0.01, 0.0])
    s = encoders.latency(x, 5)
    assert s.shape == (5, 6)
    # t = round((1 - x) * 4): 0, 1, 2, round(3.2) = 3; x <= 0.01 silent
    expected = np.zeros((5, 6))
    for u, t in enumerate([0, 1, 2, 3]):
        expected[t, u] = 1.0
    np.testing.assert_array_equal(s, expected)
    with pytest.raises(ValueError, match=r"`x` must lie in \[0, 1\]"):
        encoders.latency(jnp.array([1.5]), 5)


def test_delta_hand_made_signal():
    x = np.array([0.0, 0.5, 1.2, 1.0, 2.5, 0.0, 0.3])[:, None]
    # ref 0; t1 d=.5 no; t2 d=1.2 on (ref 1.2); t3 d=-.2 no; t4 d=1.3 on (ref 2.5);
    # t5 d=-2.5 off (ref 0); t6 d=.3 no
    on = np.array([0, 0, 1, 0, 1, 0, 0], np.float32)[:, None]
    np.testing.assert_array_equal(encoders.delta(x, 1.0), on)
    signed = on.copy()
    signed[5] = -1.0
    np.testing.assert_array_equal(encoders.delta(x, 1.0, off_spikes=True), signed)
    xb = np.stack([x[:, 0], -x[:, 0]])  # (B, T)
    got = encoders.delta(xb, 1.0, time_axis=1, off_spikes=True)
    np.testing.assert_array_equal(got, np.stack([signed[:, 0], -signed[:, 0]]))


def test_population_peaks_at_nearest_centre():
    x = jnp.array([0.0, 0.26, 0.74, 1.0])
    y = encoders.population(x, 5, low=0.0, high=1.0)  # centres 0, .25, .5, .75, 1
    assert y.shape == (4, 5)
    np.testing.assert_array_equal(np.argmax(y, axis=-1), [0, 1, 3, 4])
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    np.testing.assert_allclose(y[0, 1], np.exp(-0.5), rtol=1e-6)  # one spacing away = one sigma
    np.testing.assert_allclose(
        encoders.population(jnp.array(0.5), 3, low=0.0, high=1.0, sigma=0.1)[0], np.exp(-0.5 * 25), rtol=1e-5
    )
    with pytest.raises(ValueError, match="`high` must be greater than `low`"):
        encoders.population(x, 3, low=1.0, high=1.0)


def test_time_shift_per_sample_inclusive_zero_filled():
    t, b, m = 9, 64, 2
    spikes = jnp.zeros((t, b, 1)).at[4].set(1.0)  # one spike per sample at t = 4
    y = encoders.time_shift(jax.random.key(3), spikes, m)
    assert y.shape == spikes.shape
    np.testing.assert_array_equal(y.sum(axis=(0, 2)), 1.0)  # nothing lost, nothing wrapped
    shifts = np.argmax(np.asarray(y[:, :, 0]), axis=0) - 4
    assert set(shifts.tolist()) == {-2, -1, 0, 1, 2}  # per sample, both ends included
    # zero-filled, not rolled: a spike shifted past the end disappears
    edge = jnp.zeros((3, 16, 1)).at[2].set(1.0)
    ye = np.asarray(encoders.time_shift(jax.random.key(1), edge, 1))
    assert ye.sum() < 16 and ye[0].sum() == 0  # never wraps to t = 0
    # batch-major agrees with time-major for the same key
    yb = encoders.time_shift(jax.random.key(3), jnp.swapaxes(spikes, 0, 1), m, time_axis=1)
    np.testing.assert_array_equal(jnp.swapaxes(yb, 0, 1), y)
    np.testing.assert_array_equal(encoders.time_shift(KEY, spikes, 0), spikes)


@pytest.mark.parametrize(("shape", "axis"), [((13, 2, 3), 0), ((2, 21), 1), ((5,), -1)])
def test_pack_unpack_round_trip(shape, axis):
    s = (np.random.default_rng(0).random(shape) < 0.5).astype(np.float32)
    packed = encoders.pack_spikes(s, axis=axis)
    n = shape[axis]
    assert packed.dtype == jnp.uint8 and packed.shape[axis] == -(-n // 8)
    np.testing.assert_array_equal(packed, np.packbits(s.astype(bool), axis=axis))
    np.testing.assert_array_equal(encoders.unpack_spikes(packed, n, axis=axis), s)


def test_pack_errors():
    with pytest.raises(ValueError, match=r"`spikes` must be binary .* got values \[0.5\]"):
        encoders.pack_spikes(jnp.array([0.0, 0.5, 1.0]))
    with pytest.raises(ValueError, match=r"`num_steps` \(17\) needs 3 bytes"):
        encoders.unpack_spikes(jnp.zeros((2, 4), jnp.uint8), 17)
    with pytest.raises(TypeError, match="`packed` must be uint8"):
        encoders.unpack_spikes(jnp.zeros((2,), jnp.int32), 9)


def test_encoders_under_jit_match_eager():
    x = jnp.array([[0.2, 0.9], [0.5, 0.0]])

    @jax.jit
    def encode(key, x):
        r = encoders.rate(key, x, 12)
        lat = encoders.latency(x, 12)
        shifted = encoders.time_shift(key, r, 2)
        return r, lat, shifted, encoders.unpack_spikes(encoders.pack_spikes(shifted), 12)

    r, lat, shifted, round_trip = encode(KEY, x)
    np.testing.assert_array_equal(r, encoders.rate(KEY, x, 12))
    np.testing.assert_array_equal(lat, encoders.latency(x, 12))
    np.testing.assert_array_equal(shifted, encoders.time_shift(KEY, r, 2))
    np.testing.assert_array_equal(round_trip, shifted)
