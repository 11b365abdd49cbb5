"""Losses and metrics vs numpy, shape checks (also when T == B), jit and time_axis=1."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnx import losses, metrics

RNG = np.random.default_rng(1)
T, B, C = 6, 4, 3


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _spikes(shape=(T, B, C), p=0.4):
    return (RNG.random(shape) < p).astype(np.float32)


def test_public_names():
    assert sorted(losses.__all__) == [
        "first_spike_cross_entropy",
        "max_membrane_cross_entropy",
        "silence_penalty",
        "sparsity_penalty",
        "spike_count_cross_entropy",
        "spike_rate_mse",
    ]
    assert sorted(metrics.__all__) == [
        "first_spike_accuracy",
        "first_spike_times",
        "integral_accuracy",
        "max_membrane_accuracy",
    ]


def test_spike_count_cross_entropy_by_hand():
    s = _spikes()
    y = np.array([0, 2, 1, 1])
    logp = _log_softmax(s.sum(0))
    expected = -np.mean(logp[np.arange(B), y])
    np.testing.assert_allclose(losses.spike_count_cross_entropy(s, y), expected, rtol=1e-6)
    # label smoothing 0.3: q = 0.7 onehot + 0.1
    q = 0.7 * np.eye(C)[y] + 0.3 / C
    expected_s = -np.mean((q * logp).sum(-1))
    got = losses.spike_count_cross_entropy(s, y, label_smoothing=0.3)
    np.testing.assert_allclose(got, expected_s, rtol=1e-6)


def test_time_axis_1_and_jit_agree():
    s = _spikes()
    y = np.array([0, 2, 1, 1])
    f = jax.jit(lambda s, y: losses.spike_count_cross_entropy(s, y, time_axis=1))
    np.testing.assert_allclose(f(s.transpose(1, 0, 2), y), losses.spike_count_cross_entropy(s, y), rtol=1e-6)
    g = jax.jit(lambda s, y: metrics.integral_accuracy(s, y, time_axis=1))
    np.testing.assert_allclose(g(s.transpose(1, 0, 2), y), metrics.integral_accuracy(s, y))


def test_max_membrane_cross_entropy_and_accuracy():
    v = RNG.normal(size=(T, B, C)).astype(np.float32)
    y = np.array([1, 0, 2, 2])
    logits = v.max(0)
    expected = -np.mean(_log_softmax(logits)[np.arange(B), y])
    np.testing.assert_allclose(losses.max_membrane_cross_entropy(v, y), expected, rtol=1e-6)
    acc = np.mean(logits.argmax(-1) == y)
    np.testing.assert_allclose(metrics.max_membrane_accuracy(v, y), acc)
    # label smoothing s: target q = (1 - s) onehot + s / C
    s = 0.2
    q = np.full((B, C), s / C)
    q[np.arange(B), y] += 1 - s
    smoothed = -np.mean(np.sum(q * _log_softmax(logits), axis=-1))
    np.testing.assert_allclose(
        losses.max_membrane_cross_entropy(v, y, label_smoothing=s), smoothed, rtol=1e-6
    )


def test_spike_rate_mse_uses_rates():
    s = np.zeros((10, 2, 3), np.float32)
    s[:8, 0, 1] = 1.0  # class 1 at rate 0.8
    s[:2, 0, [0, 2]] = 1.0  # others at 0.2
    y = np.array([1, 0])
    # sample 0 matches its targets exactly; sample 1: rates (0, 0, 0) vs (0.8, 0.2, 0.2)
    expected = (0.8**2 + 0.2**2 + 0.2**2) / 6
    np.testing.assert_allclose(losses.spike_rate_mse(s, y), expected, rtol=1e-6)
    np.testing.assert_allclose(losses.spike_rate_mse(s[:, :1], y[:1]), 0.0, atol=1e-12)
    np.testing.assert_allclose(
        losses.spike_rate_mse(s, y, on_rate=1.0, off_rate=0.0),
        ((1 - 0.8) ** 2 + 0.2**2 + 0.2**2 + 1.0) / 6,
        rtol=1e-6,
    )


def test_integral_accuracy():
    s = np.zeros((T, B, C), np.float32)
    s[:, :, 1] = 1.0
    s[:3, 3, 2] = 1.0  # sample 3: class 1 (6 spikes) beats its label 2 (3 spikes): wrong
    s[:, 2, 0] = 1.0  # sample 2: tie between 0 and 1 -> lowest index 0
    np.testing.assert_allclose(metrics.integral_accuracy(s, np.array([1, 1, 0, 2])), 0.75)


def test_first_spike_times_and_accuracy():
    s = np.zeros((5, 2, 3), np.float32)
    s[2, 0, 0] = s[4, 0, 0] = 1.0
    s[1, 0, 1] = 1.0
    s[0, 1, 2] = 1.0
    times = np.array([[2, 1, 5], [5, 5, 0]])
    np.testing.assert_array_equal(metrics.first_spike_times(s), times)
    np.testing.assert_array_equal(metrics.first_spike_times(s.transpose(1, 0, 2), time_axis=1), times)
    np.testing.assert_allclose(metrics.first_spike_accuracy(s, np.array([1, 2])), 1.0)
    np.testing.assert_allclose(metrics.first_spike_accuracy(s, np.array([0, 2])), 0.5)


def test_first_spike_cross_entropy_value_and_gradient():
    s = np.zeros((5, 2, 3), np.float32)
    s[2, 0, 0] = s[1, 0, 1] = s[0, 1, 2] = 1.0
    y = np.array([1, 2])
    times = np.array([[2.0, 1.0, 5.0], [5.0, 5.0, 0.0]])
    temp = 2.0
    expected = -np.mean(_log_softmax(-times / temp)[np.arange(2), y])
    loss = losses.first_spike_cross_entropy(s, y, temperature=temp)
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    g = jax.jit(jax.grad(lambda s: losses.first_spike_cross_entropy(s, y)))(jnp.asarray(s))
    assert np.all(np.isfinite(g))
    assert np.any(g != 0)
    # the silent target class of a silent read-out is pushed to fire (negative gradient)
    g0 = jax.grad(lambda s: losses.first_spike_cross_entropy(s, y))(jnp.zeros((5, 2, 3)))
    assert np.all(g0[:, 0, 1] < 0) and np.all(g0[:, 0, 0] > 0)


def test_penalties_formula():
    s = np.zeros((4, 2, 3), np.float32)
    s[:, :, 0] = 1.0  # rate 1
    s[:2, 0, 1] = 1.0  # rate 2/8 = 0.25; neuron 2 silent (rate 0)
    rates = np.array([1.0, 0.25, 0.0])
    expected_sil = np.mean(np.maximum(0, 0.5 - rates) ** 2)
    expected_spa = np.mean(np.maximum(0, rates - 0.2) ** 2)
    np.testing.assert_allclose(losses.silence_penalty(s, 0.5), expected_sil, rtol=1e-6)
    np.testing.assert_allclose(losses.sparsity_penalty(s, 0.2), expected_spa, rtol=1e-6)
    f = jax.jit(lambda s: losses.sparsity_penalty(s, 0.2, time_axis=1))
    np.testing.assert_allclose(f(s.transpose(1, 0, 2)), expected_spa, rtol=1e-6)
    np.testing.assert_allclose(losses.silence_penalty(s, 0.0), 0.0)


# ---------------------------------------------------------------- errors


READOUTS = [
    losses.spike_count_cross_entropy,
    losses.max_membrane_cross_entropy,
    losses.spike_rate_mse,
    losses.first_spike_cross_entropy,
    metrics.integral_accuracy,
    metrics.max_membrane_accuracy,
    metrics.first_spike_accuracy,
]


@pytest.mark.parametrize("fn", READOUTS)
def test_shape_mismatch_even_when_t_equals_b(fn):
    out = jnp.zeros((4, 4, 3))  # T == B
    with pytest.raises(ValueError, match=r"shape \(4,\).*\(4, 4, 3\).*shape \(4, 3\)"):
        fn(out, jnp.zeros((4, 3), jnp.int32))  # one-hot
    with pytest.raises(ValueError, match=r"shape \(4,\).*\(4, 4, 3\).*shape \(4, 4\)"):
        fn(out, jnp.zeros((4, 4), jnp.int32))  # targets with a time axis
    with pytest.raises(ValueError, match=r"integer class indices.*float32"):
        fn(out, jnp.zeros((4,), jnp.float32))


def test_other_errors():
    s = jnp.zeros((4, 2, 3))
    y = jnp.array([0, 1])
    with pytest.raises(ValueError, match="`time_axis` must be an axis other than the last"):
        losses.spike_count_cross_entropy(s, y, time_axis=2)
    with pytest.raises(ValueError, match="`outputs` must have at least 2 axes"):
        metrics.integral_accuracy(jnp.zeros(3), jnp.zeros((), jnp.int32))
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\)"):
        losses.spike_count_cross_entropy(s, jnp.array([0, 3]))
    with pytest.raises(ValueError, match=r"`label_smoothing` must lie in \[0.0, 1.0\)"):
        losses.spike_count_cross_entropy(s, y, label_smoothing=1.0)
    with pytest.raises(ValueError, match="`on_rate` must lie in"):
        losses.spike_rate_mse(s, y, on_rate=2.0)
    with pytest.raises(ValueError, match="`temperature` must be a positive number"):
        losses.first_spike_cross_entropy(s, y, temperature=0.0)
    with pytest.raises(ValueError, match="`min_rate` must lie in"):
        losses.silence_penalty(s, -0.1)
