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
        "l1_rate_penalty",
        "l2_rate_penalty",
        "max_membrane_cross_entropy",
        "population_cross_entropy",
        "silence_penalty",
        "sparsity_penalty",
        "spike_count_cross_entropy",
        "spike_rate_mse",
        "target_rate_penalty",
    ]
    assert sorted(metrics.__all__) == [
        "first_spike_accuracy",
        "first_spike_times",
        "integral_accuracy",
        "max_membrane_accuracy",
        "population_accuracy",
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


@pytest.mark.slow  # a few seconds of compiling; the quick tier has smaller cases
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


# ---------------------------------------------------------------- activity regularisers
# References below are plain numpy: r[n] = mean over (t, b) of each neuron's spikes.


def _np_rates(s):
    return s.reshape(s.shape[0] * s.shape[1], -1).mean(axis=0)


NP_REGULARISERS = {
    "silence_penalty": ("min_rate", lambda s, b: np.mean(np.maximum(0.0, b - _np_rates(s)) ** 2)),
    "sparsity_penalty": ("max_rate", lambda s, b: np.mean(np.maximum(0.0, _np_rates(s) - b) ** 2)),
    "l1_rate_penalty": (None, lambda s, b: np.mean(np.abs(s))),
    "l2_rate_penalty": (None, lambda s, b: np.mean(_np_rates(s) ** 2)),
    "target_rate_penalty": ("rate", lambda s, b: np.mean((_np_rates(s) - b) ** 2)),
}
BOUNDED = [name for name, (arg, _) in NP_REGULARISERS.items() if arg]


class _Recording:
    """A stand-in for what ``snnx.run(..., record=...)`` returns: only ``.outputs`` matters."""

    def __init__(self, outputs):
        self.outputs = outputs


def _call(name, activity, bound=0.3, **kw):
    fn = getattr(losses, name)
    return fn(activity, bound, **kw) if NP_REGULARISERS[name][0] else fn(activity, **kw)


def _two_layers():
    return {"1": _spikes((T, B, 5), 0.3), "3": _spikes((T, B, 2, 3), 0.6)}


@pytest.mark.parametrize("name", sorted(NP_REGULARISERS))
def test_regulariser_one_array_matches_numpy(name):
    ref = NP_REGULARISERS[name][1]
    s = _spikes((T, B, 7), 0.35)
    got = _call(name, s)
    assert got.shape == () and got.dtype == jnp.float32
    np.testing.assert_allclose(got, ref(s, 0.3), rtol=1e-6, atol=1e-9)
    per = _call(name, s, per_layer=True)
    assert list(per) == ["0"]
    np.testing.assert_allclose(per["0"], ref(s, 0.3), rtol=1e-6, atol=1e-9)
    f = jax.jit(lambda s: _call(name, s, time_axis=1))
    np.testing.assert_allclose(f(s.transpose(1, 0, 2)), ref(s, 0.3), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", sorted(NP_REGULARISERS))
def test_regulariser_layers_dict_and_recording_match_numpy(name):
    ref = NP_REGULARISERS[name][1]
    layers = _two_layers()
    expected = {k: ref(s, 0.3) for k, s in layers.items()}
    for activity in (layers, _Recording(layers)):
        per = _call(name, activity, per_layer=True)
        assert list(per) == ["1", "3"]
        for k in layers:
            np.testing.assert_allclose(per[k], expected[k], rtol=1e-6, atol=1e-9)
        total = _call(name, activity)
        assert total.shape == () and total.dtype == jnp.float32
        np.testing.assert_allclose(total, sum(expected.values()), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", BOUNDED)
def test_regulariser_bound_per_layer(name):
    ref = NP_REGULARISERS[name][1]
    layers = _two_layers()
    bounds = {"3": 0.7, "1": 0.1}  # order of the bound dict does not matter
    per = _call(name, layers, bounds, per_layer=True)
    for k, s in layers.items():
        np.testing.assert_allclose(per[k], ref(s, bounds[k]), rtol=1e-6, atol=1e-9)
    expected = ref(layers["1"], 0.1) + ref(layers["3"], 0.7)
    np.testing.assert_allclose(_call(name, _Recording(layers), bounds), expected, rtol=1e-6, atol=1e-9)
    # one array: its key is "0"
    s = layers["1"]
    np.testing.assert_allclose(_call(name, s, {"0": 0.1}), ref(s, 0.1), rtol=1e-6, atol=1e-9)


def test_single_array_penalties_unchanged():
    """The single-array results are exactly those of the former one-array functions."""
    s = jnp.asarray(_spikes((T, B, 2, 3), 0.4))
    rates = jnp.mean(s, axis=(0, 1))
    old_silence = jnp.mean(jnp.maximum(0.0, 0.5 - rates) ** 2)
    old_sparsity = jnp.mean(jnp.maximum(0.0, rates - 0.2) ** 2)
    np.testing.assert_array_equal(losses.silence_penalty(s, 0.5), old_silence)
    np.testing.assert_array_equal(losses.sparsity_penalty(s, 0.2), old_sparsity)


def test_regularisers_on_a_real_recording():
    from flax import nnx

    import snnx

    model = snnx.Sequential(
        nnx.Linear(3, 5, rngs=nnx.Rngs(0)), snnx.LIF(5), nnx.Linear(5, 4, rngs=nnx.Rngs(1)), snnx.LIF(4)
    )
    x = jnp.asarray(RNG.random((8, 2, 3)) * 3, jnp.float32)
    _, _, rec = snnx.run(model, x, record="spikes")
    per = losses.sparsity_penalty(rec, 0.1, per_layer=True)
    assert list(per) == list(rec.outputs)
    for k, s in rec.outputs.items():
        expected = NP_REGULARISERS["sparsity_penalty"][1](np.asarray(s), 0.1)
        np.testing.assert_allclose(per[k], expected, rtol=1e-6)


# -- gradients


def _unit_activity():
    """Smooth values in (0.05, 0.95): no hinge or |.| kink at the evaluation point."""
    rng = np.random.default_rng(7)
    return {
        "a": jnp.asarray(rng.uniform(0.05, 0.95, (T, B, 3)), jnp.float32),
        "b": jnp.asarray(rng.uniform(0.05, 0.95, (T, B, 2, 2)), jnp.float32),
    }


@pytest.mark.parametrize("name", sorted(NP_REGULARISERS))
def test_regulariser_gradient_is_the_sum_of_layer_gradients(name):
    acts = _unit_activity()
    g_total = jax.grad(lambda a: _call(name, a, 0.5))(acts)
    g_sum = jax.grad(lambda a: sum(_call(name, a, 0.5, per_layer=True).values()))(acts)
    for k, x in acts.items():
        g_layer = jax.grad(lambda x, k=k: _call(name, {k: x}, 0.5))(x)
        np.testing.assert_allclose(g_total[k], g_layer, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(g_sum[k], g_layer, rtol=1e-6, atol=1e-12)
        assert np.all(np.isfinite(g_total[k]))


def test_regulariser_gradients_closed_form():
    """d/ds[t, b, n] of each penalty, written out: rates r = mean_{t,b} s; M = T * B * N samples."""
    x = _unit_activity()["b"]
    s = np.asarray(x, np.float64)
    N = s[0, 0].size
    M = T * B * N
    r = _np_rates(s).reshape(s.shape[2:])
    expected = {
        "silence_penalty": -2 * np.maximum(0.0, 0.6 - r) / M,
        "sparsity_penalty": 2 * np.maximum(0.0, r - 0.4) / M,
        "l1_rate_penalty": np.ones_like(r) / M,
        "l2_rate_penalty": 2 * r / M,
        "target_rate_penalty": 2 * (r - 0.5) / M,
    }
    bounds = {"silence_penalty": 0.6, "sparsity_penalty": 0.4, "target_rate_penalty": 0.5}
    for name, e in expected.items():
        g = jax.grad(lambda x, name=name: _call(name, {"h": x}, bounds.get(name)))(x)
        np.testing.assert_allclose(g, np.broadcast_to(e, s.shape), rtol=1e-5, atol=1e-9, err_msg=name)
    # and one numpy central difference (target rate, one entry)
    ref = NP_REGULARISERS["target_rate_penalty"][1]
    eps, idx = 1e-4, (2, 1, 0, 1)
    up, down = s.copy(), s.copy()
    up[idx] += eps
    down[idx] -= eps
    fd = (ref(up, 0.5) - ref(down, 0.5)) / (2 * eps)
    np.testing.assert_allclose(jax.grad(lambda x: losses.target_rate_penalty(x, 0.5))(x)[idx], fd, rtol=1e-4)


# -- errors


@pytest.mark.parametrize("name", sorted(NP_REGULARISERS))
def test_regulariser_structure_errors_name_the_layer(name):
    s = jnp.zeros((T, B, 3))
    msg = r"`activity\['1'\]` must be a spikes array \(T, B, \*neurons\), got dict with keys \['v'\]"
    with pytest.raises(TypeError, match=msg):
        _call(name, {"0": s, "1": {"v": s}})
    with pytest.raises(TypeError, match=r"`activity.outputs\['h'\]` must be a spikes array.*got list"):
        _call(name, _Recording({"h": [1.0, 0.0]}))
    with pytest.raises(ValueError, match=r"`activity\['h'\]` must have at least 2 axes, got shape \(3,\)"):
        _call(name, {"0": s, "h": jnp.zeros(3)})
    msg = r"`time_axis` must be an axis of `activity\['h'\]` with shape \(4, 3\)"
    with pytest.raises(ValueError, match=msg):
        _call(name, {"0": s, "h": jnp.zeros((4, 3))}, time_axis=2)
    with pytest.raises(ValueError, match=r"`activity` must hold at least one layer.*an empty dict$"):
        _call(name, {})
    with pytest.raises(ValueError, match=r"`activity.outputs` must hold at least one layer"):
        _call(name, _Recording({}))
    with pytest.raises(TypeError, match=r"`activity` must be a spikes array.*a dict.*recording.*got object"):
        _call(name, object())
    with pytest.raises(ValueError, match=r"`activity` must have at least 2 axes, got shape \(3,\)"):
        _call(name, jnp.zeros(3))
    with pytest.raises(TypeError, match=r"`per_layer` must be a bool, got 'yes'"):
        _call(name, s, per_layer="yes")


@pytest.mark.parametrize("name", BOUNDED)
def test_regulariser_bound_errors(name):
    arg = NP_REGULARISERS[name][0]
    layers = {"1": jnp.zeros((T, B, 3)), "2": jnp.zeros((T, B, 4))}
    for bad in (float("nan"), float("inf"), -0.1, 1.5):
        with pytest.raises(ValueError, match=rf"`{arg}` must lie in \[0.0, 1.0\], got {bad!r}"):
            _call(name, layers, bad)
    with pytest.raises(TypeError, match=rf"`{arg}` must be a number, got True"):
        _call(name, layers, True)
    with pytest.raises(ValueError, match=rf"`{arg}\['2'\]` must lie in \[0.0, 1.0\], got nan"):
        _call(name, layers, {"1": 0.2, "2": float("nan")})
    with pytest.raises(ValueError, match=rf"`{arg}\['1'\]` must lie in \[0.0, 1.0\], got 2.0"):
        _call(name, _Recording(layers), {"1": 2.0, "2": 0.1})
    msg = rf"`{arg}` must give a bound for exactly the layers \['1', '2'\], got no entry for \['2'\]$"
    with pytest.raises(ValueError, match=msg):
        _call(name, layers, {"1": 0.2})
    with pytest.raises(ValueError, match=r"\['1', '2'\], got entries for \['9'\], which are not layers"):
        _call(name, layers, {"1": 0.2, "2": 0.2, "9": 0.1})
    msg = r"exactly the layers \['0'\], got no entry for \['0'\] and entries for \['x'\]"
    with pytest.raises(ValueError, match=msg):
        _call(name, jnp.zeros((T, B, 3)), {"x": 0.1})
