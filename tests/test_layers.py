"""Layers vs numpy: Flatten order, pooling, Delay, Scale, Threshold."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnx import layers, surrogate
from snnx.engine import Sequential, is_stateful, run
from snnx.layers import AvgPool, Delay, Flatten, MaxPool, Scale, SumPool, Threshold
from snnx.neurons import Const

RNG = np.random.default_rng(0)


def test_public_names():
    assert sorted(layers.__all__) == [
        "AvgPool", "Deferred", "Delay", "Flatten", "MaxPool", "Population", "Scale", "SumPool", "Threshold"
    ]


# ---------------------------------------------------------------- Flatten


def test_flatten_chw_matches_channels_first_numpy():
    x = RNG.normal(size=(2, 3, 4, 5)).astype(np.float32)  # (B, H, W, C)
    np.testing.assert_array_equal(Flatten()(x), x.transpose(0, 3, 1, 2).reshape(2, -1))
    x1 = RNG.normal(size=(2, 6, 3)).astype(np.float32)  # (B, L, C)
    np.testing.assert_array_equal(Flatten()(x1), x1.transpose(0, 2, 1).reshape(2, -1))


def test_flatten_hwc_and_vectors():
    x = RNG.normal(size=(2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(Flatten("hwc")(x), x.reshape(2, -1))
    v = RNG.normal(size=(2, 7)).astype(np.float32)
    np.testing.assert_array_equal(Flatten()(v), v)


def test_flatten_errors():
    with pytest.raises(ValueError, match="`order` must be one of"):
        Flatten("cwh")
    with pytest.raises(ValueError, match=r"`x` must have shape \(B, \*S\).*got \(3,\)"):
        Flatten()(jnp.zeros(3))


def _xcorr_oihw(x_chw: np.ndarray, w_oihw: np.ndarray) -> np.ndarray:
    """Valid 2-D cross-correlation, channels-first, written out in loops."""
    c_out, _, kh, kw = w_oihw.shape
    _, h, w = x_chw.shape
    out = np.zeros((c_out, h - kh + 1, w - kw + 1))
    for o, i, j in itertools.product(range(c_out), range(h - kh + 1), range(w - kw + 1)):
        out[o, i, j] = np.sum(x_chw[:, i : i + kh, j : j + kw] * w_oihw[o])
    return out


def test_conv_flatten_dense_matches_channels_first():
    b, h, w, c_in, c_out, n_out = 2, 4, 5, 2, 3, 4
    w_oihw = RNG.normal(size=(c_out, c_in, 2, 3)).astype(np.float32)
    dense_w = RNG.normal(size=(n_out, c_out * 3 * 3)).astype(np.float32)  # (out, in), NIR/PyTorch
    x_nchw = RNG.normal(size=(b, c_in, h, w)).astype(np.float32)

    expected = np.stack([dense_w @ _xcorr_oihw(xs, w_oihw).reshape(-1) for xs in x_nchw])

    conv = nnx.Conv(c_in, c_out, (2, 3), padding="VALID", use_bias=False, rngs=nnx.Rngs(0))
    conv.kernel[...] = jnp.asarray(w_oihw.transpose(2, 3, 1, 0))  # OIHW -> HWIO
    dense = nnx.Linear(c_out * 9, n_out, use_bias=False, rngs=nnx.Rngs(0))
    dense.kernel[...] = jnp.asarray(dense_w.T)
    model = Sequential(conv, Flatten(), dense)
    y, _ = model(jnp.asarray(x_nchw.transpose(0, 2, 3, 1)), model.init_state(b))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- pooling


def _window_numpy(x, window, strides, pads, reduce, fill):
    """Loop reference: pad with ``fill``, then ``reduce`` each window over its two spatial axes.

    x: (B, H, W, C).
    """
    (pt, pb), (pl, pr) = pads
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=fill)
    kh, kw = window
    sh, sw = strides
    oh = (xp.shape[1] - kh) // sh + 1
    ow = (xp.shape[2] - kw) // sw + 1
    out = np.zeros((x.shape[0], oh, ow, x.shape[3]))
    for i, j in itertools.product(range(oh), range(ow)):
        out[:, i, j, :] = reduce(xp[:, i * sh : i * sh + kh, j * sw : j * sw + kw, :], axis=(1, 2))
    return out


def _pool_numpy(x, window, strides, pads, mean):
    """Zero-pad, then sum (or sum / window size) each window."""
    out = _window_numpy(x, window, strides, pads, np.sum, 0.0)
    return out / (window[0] * window[1]) if mean else out


# SAME with XLA's rule: total = max((ceil(n/s) - 1) s + k - n, 0), lo = total // 2.
POOL_CASES = [
    ((2, 2), None, "VALID", ((0, 0), (0, 0)), (2, 2)),
    ((3, 2), (2, 1), "VALID", ((0, 0), (0, 0)), (2, 1)),
    ((3, 3), (1, 1), "SAME", ((1, 1), (1, 1)), (1, 1)),
    ((2, 2), (2, 2), "SAME", ((0, 1), (0, 0)), (2, 2)),  # H=5: total 1 -> (0, 1); W=6: 0
    ((2, 3), (1, 2), ((1, 0), (2, 1)), ((1, 0), (2, 1)), (1, 2)),
    ((2, 2), None, 1, ((1, 1), (1, 1)), (2, 2)),
]


@pytest.mark.parametrize(("window", "strides", "padding", "pads", "eff_strides"), POOL_CASES)
def test_pools_match_numpy_loop(window, strides, padding, pads, eff_strides):
    x = RNG.normal(size=(2, 5, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(
        SumPool(window, strides, padding)(x), _pool_numpy(x, window, eff_strides, pads, False), atol=1e-5
    )
    np.testing.assert_allclose(
        AvgPool(window, strides, padding)(x), _pool_numpy(x, window, eff_strides, pads, True), atol=1e-5
    )


def test_pool_1d_and_extra_batch_axes():
    x = RNG.normal(size=(4, 7, 2)).astype(np.float32)  # (B, L, C)
    expected = np.stack([x[:, 2 * i : 2 * i + 3].sum(axis=1) for i in range(3)], axis=1)
    np.testing.assert_allclose(SumPool((3,), strides=(2,))(x), expected, atol=1e-5)
    xb = x.reshape(2, 2, 7, 2)  # two batch axes, explicit 1-D window
    np.testing.assert_allclose(SumPool((3,), strides=(2,))(xb), expected.reshape(2, 2, 3, 2), atol=1e-5)


def test_pool_errors():
    with pytest.raises(ValueError, match="`window_shape` must be a positive int"):
        SumPool((2, 0))
    with pytest.raises(ValueError, match="`padding` must be 'VALID', 'SAME'"):
        AvgPool(2, padding="FULL")
    with pytest.raises(ValueError, match="`padding` must be"):
        AvgPool(2, padding=((1, -1), (0, 0)))
    with pytest.raises(ValueError, match="same number of spatial axes"):
        SumPool((2, 2), strides=(1, 1, 1))
    with pytest.raises(ValueError, match=r"does not fit the spatial shape \(2, 2\)"):
        SumPool((3, 3))(jnp.zeros((1, 2, 2, 1)))
    with pytest.raises(ValueError, match="channels-last map"):
        SumPool((2, 2))(jnp.zeros((4, 4)))


# ---------------------------------------------------------------- MaxPool


def _maxpool_numpy(x, window, strides, pads):
    """Pad with -inf, then take the maximum of each window."""
    return _window_numpy(x, window, strides, pads, np.max, -np.inf)


def _maxpool_grad_numpy(x, window, strides, cot):
    """Loop reference of the VJP (VALID padding): each window's cotangent goes to its first
    maximal element in row-major window order (what jax.lax.reduce_window's max does on ties)."""
    kh, kw = window
    sh, sw = strides
    g = np.zeros_like(x)
    for b, i, j, c in itertools.product(*(range(n) for n in cot.shape)):
        win = x[b, i * sh : i * sh + kh, j * sw : j * sw + kw, c]
        p, q = np.unravel_index(np.argmax(win), win.shape)  # argmax: first maximum, row-major
        g[b, i * sh + p, j * sw + q, c] += cot[b, i, j, c]
    return g


@pytest.mark.parametrize(("window", "strides", "padding", "pads", "eff_strides"), POOL_CASES)
def test_maxpool_matches_numpy_loop(window, strides, padding, pads, eff_strides):
    x = RNG.normal(size=(2, 5, 6, 3)).astype(np.float32)
    expected = _maxpool_numpy(x, window, eff_strides, pads)
    pool = MaxPool(window, strides, padding)
    np.testing.assert_array_equal(pool(x), expected)
    np.testing.assert_array_equal(jax.jit(lambda a: pool(a))(x), expected)


def test_maxpool_1d_extra_batch_axes_and_dtypes():
    x = RNG.normal(size=(4, 7, 2)).astype(np.float32)  # (B, L, C)
    expected = np.stack([x[:, 2 * i : 2 * i + 3].max(axis=1) for i in range(3)], axis=1)
    np.testing.assert_array_equal(MaxPool((3,), strides=(2,))(x), expected)
    xb = x.reshape(2, 2, 7, 2)  # two batch axes, explicit 1-D window
    np.testing.assert_array_equal(MaxPool((3,), strides=(2,))(xb), expected.reshape(2, 2, 3, 2))
    ints = jnp.arange(-8, 8, dtype=jnp.int32).reshape(1, 4, 4, 1)
    y = MaxPool(2, padding=1)(ints)  # integer maps pad with the lowest integer, never with 0
    assert y.dtype == jnp.int32
    np.testing.assert_array_equal(y[0, :, :, 0], [[-8, -6, -5], [0, 2, 3], [4, 6, 7]])


def test_maxpool_gradient_on_spike_ties_goes_to_the_first_maximum():
    # A 2x2 window of ties: the whole cotangent goes to the top-left spike.
    x = jnp.array([[0.0, 1.0], [1.0, 1.0]]).reshape(1, 2, 2, 1)
    g = jax.grad(lambda a: MaxPool(2)(a).sum())(x)
    np.testing.assert_array_equal(g[0, :, :, 0], [[0.0, 1.0], [0.0, 0.0]])
    g = jax.grad(lambda a: MaxPool(2)(a).sum())(jnp.zeros((1, 2, 2, 1)))  # silent window: all tie
    np.testing.assert_array_equal(g[0, :, :, 0], [[1.0, 0.0], [0.0, 0.0]])
    # Random spike maps, overlapping windows, random cotangents, under jit.
    for window, strides in (((2, 2), (1, 1)), ((3, 3), (2, 2)), ((3, 2), (1, 2))):
        spikes = (RNG.random((2, 7, 6, 3)) < 0.4).astype(np.float32)
        pool = MaxPool(window, strides)
        cot = RNG.normal(size=pool(spikes).shape).astype(np.float32)
        _, vjp = jax.vjp(lambda a, pool=pool: pool(a), jnp.asarray(spikes))
        expected = _maxpool_grad_numpy(spikes, window, strides, cot)
        np.testing.assert_allclose(vjp(jnp.asarray(cot))[0], expected, atol=1e-6)
        g = jax.jit(jax.grad(lambda a, pool=pool, cot=cot: (pool(a) * cot).sum()))(spikes)
        np.testing.assert_allclose(g, expected, atol=1e-6)


def test_maxpool_over_time_in_sequential():
    # The layer-major engine runs MaxPool on (T*B, H, W, C) at once: same as step by step.
    from snnx.engine._rules import is_per_sample

    assert is_per_sample(MaxPool(2))
    x = (RNG.random((5, 2, 4, 4, 3)) < 0.3).astype(np.float32)  # (T, B, H, W, C) spikes
    model = Sequential(MaxPool(2), Flatten())
    y, _ = run(model, jnp.asarray(x))
    expected = np.stack([np.asarray(Flatten()(MaxPool(2)(x[t]))) for t in range(5)])
    np.testing.assert_array_equal(y, expected)


def test_maxpool_errors():
    with pytest.raises(ValueError, match=r"`padding` must be smaller than the window \(2\).*\(2, 2\)"):
        MaxPool(2, padding=2)(jnp.zeros((1, 4, 4, 1)))
    with pytest.raises(ValueError, match=r"`padding` must be smaller.*axis 1.*\(0, 3\)"):
        MaxPool((2, 3), padding=((1, 1), (0, 3)))(jnp.zeros((1, 4, 4, 1)))
    with pytest.raises(ValueError, match=r"does not fit the spatial shape \(2, 2\)"):
        MaxPool((3, 3))(jnp.zeros((1, 2, 2, 1)))
    with pytest.raises(ValueError, match=r"`window_shape` must be positive, got 0"):
        MaxPool(0)


# ---------------------------------------------------------------- Delay


def test_delay_run_equals_shifted_input():
    x = RNG.normal(size=(7, 2, 3)).astype(np.float32)
    for steps in (0, 1, 3, 9):
        y, _ = run(Delay(3, steps), x)
        expected = np.zeros_like(x)
        if steps < 7:
            expected[steps:] = x[: 7 - steps]
        np.testing.assert_array_equal(y, expected)


def test_delay_per_unit_and_jit():
    x = RNG.normal(size=(6, 2, 3)).astype(np.float32)
    steps = [0, 2, 1]
    delay = Delay(3, steps)
    y, final = jax.jit(lambda x: run(delay, x))(x)
    for u, k in enumerate(steps):
        expected = np.concatenate([np.zeros((k, 2)), x[: 6 - k, :, u]])
        np.testing.assert_array_equal(y[:, :, u], expected)
    assert final["buffer"].shape == (2, 2, 3)
    np.testing.assert_array_equal(final["buffer"][:, -1], x[-1])
    assert is_stateful(delay)


def test_delay_in_sequential_and_errors():
    model = Sequential(Scale(2, 2.0), Delay(2, 1))
    x = np.arange(8, dtype=np.float32).reshape(4, 1, 2)
    y, _ = run(model, x)
    np.testing.assert_array_equal(y[1:], 2 * x[:-1])
    np.testing.assert_array_equal(y[0], 0)
    with pytest.raises(ValueError, match="`steps` must be a non-negative int"):
        Delay(3, -1)
    with pytest.raises(ValueError, match="`steps` must be a non-negative int"):
        Delay(3, 1.5)
    with pytest.raises(ValueError, match="`state` must be a dict with key 'buffer'"):
        Delay(3, 1)(jnp.zeros((1, 3)), {"v": jnp.zeros(3)})


# ---------------------------------------------------------------- Scale / Threshold


def test_scale():
    x = RNG.normal(size=(2, 3)).astype(np.float32)
    np.testing.assert_allclose(Scale(3, 0.5)(x), 0.5 * x)
    s = np.array([1.0, -2.0, 3.0], np.float32)
    np.testing.assert_allclose(Scale(3, s)(x), x * s)
    assert isinstance(Scale(3).scale, Const)
    assert isinstance(Scale(3, trainable=True).scale, nnx.Param)
    with pytest.raises(ValueError, match=r"`scale` must be a scalar or broadcast to the layer shape \(3,\)"):
        Scale(3, np.ones(4))
    with pytest.raises(ValueError, match=r"`x` must have shape \(\*batch, 3\)"):
        Scale(3)(jnp.ones((2, 4)))


def test_threshold_forward_and_surrogate_gradient():
    layer = Threshold(3, threshold=[0.5, 1.0, 1.5], surrogate=surrogate.fast_sigmoid(k=2.0))
    x = jnp.array([[0.5, 1.2, 1.0]])
    np.testing.assert_array_equal(layer(x), [[0.0, 1.0, 0.0]])  # strict: 0.5 > 0.5 is False
    grad = jax.grad(lambda x: layer(x).sum())(x)
    d = np.array([0.0, 0.2, -0.5])  # x - threshold
    np.testing.assert_allclose(grad[0], 1.0 / (1.0 + 2.0 * np.abs(d)) ** 2, rtol=1e-6)
    assert isinstance(layer.threshold, Const)


def test_threshold_trainable_gets_gradient():
    layer = Threshold(2, 1.0, trainable=True, surrogate="straight_through")
    graphdef, params, rest = nnx.split(layer, nnx.Param, ...)

    def f(params):
        return nnx.merge(graphdef, params, rest)(jnp.array([[2.0, 0.0]])).sum()

    g = jax.grad(f)(params)
    np.testing.assert_allclose(g["threshold"][...], -2.0)


def test_pooling_is_differentiable_under_jit():
    # Each input element receives one unit of gradient per window covering it:
    # a 2x2 window with stride 1 on a 3x3 map covers the corners once, the
    # edges twice and the centre four times.
    counts = np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]])
    x = jnp.ones((1, 3, 3, 1))
    g_sum = jax.jit(jax.grad(lambda a: SumPool((2, 2), strides=(1, 1))(a).sum()))(x)
    g_avg = jax.jit(jax.grad(lambda a: AvgPool((2, 2), strides=(1, 1))(a).sum()))(x)
    np.testing.assert_allclose(np.asarray(g_sum)[0, :, :, 0], counts)
    np.testing.assert_allclose(np.asarray(g_avg)[0, :, :, 0], counts / 4.0)
