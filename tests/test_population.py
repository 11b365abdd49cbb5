"""Population-coded read-outs: the ``Population`` layer, its loss and its metric.

References are numpy with explicit loops over batch, class and population unit
(class-major order: unit ``c * P + p`` belongs to class ``c``), written here
independently of the implementation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import snnx
from snnx import losses, metrics
from snnx.layers import Population
from snnx.nir import NIRError, to_nir

RNG = np.random.default_rng(3)
T, B, C, P = 5, 4, 3, 2


def _np_population(x, num_classes):
    """Loop reference: ``y[..., c] = sum_p x[..., c * P + p]`` over every leading index."""
    x = np.asarray(x, np.float64)
    per = x.shape[-1] // num_classes
    y = np.zeros((*x.shape[:-1], num_classes))
    for idx in np.ndindex(*x.shape[:-1]):
        for c in range(num_classes):
            for p in range(per):
                y[(*idx, c)] += x[(*idx, c * per + p)]
    return y


def _np_log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _np_population_cross_entropy(out, targets, num_classes, smoothing=0.0):
    counts = _np_population(out, num_classes).sum(axis=0)  # (B, C)
    total = 0.0
    for b in range(counts.shape[0]):
        logp = _np_log_softmax(counts[b])
        for c in range(num_classes):
            q = (1 - smoothing) * (c == targets[b]) + smoothing / num_classes
            total -= q * logp[c]
    return total / counts.shape[0]


def _np_population_accuracy(out, targets, num_classes):
    counts = _np_population(out, num_classes).sum(axis=0)
    hits = 0
    for b in range(counts.shape[0]):
        best = 0
        for c in range(1, num_classes):
            if counts[b, c] > counts[b, best]:  # strict: ties keep the lower class
                best = c
        hits += best == targets[b]
    return hits / counts.shape[0]


def _spikes(shape, p=0.4):
    return (RNG.random(shape) < p).astype(np.float32)


# ---------------------------------------------------------------- the layer


def test_population_layer_matches_loops():
    x = RNG.normal(size=(B, C * P)).astype(np.float32)
    np.testing.assert_allclose(Population(C)(x), _np_population(x, C), rtol=1e-6)
    x3 = RNG.normal(size=(T, B, 4 * 5)).astype(np.float32)  # extra leading axes are kept
    y3 = Population(4)(x3)
    assert y3.shape == (T, B, 4)
    np.testing.assert_allclose(y3, _np_population(x3, 4), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(Population(1)(x), x.sum(-1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(Population(C * P)(x), x)  # P = 1: identity


def test_population_never_merges_the_batch_axis():
    """Spyx 1.0's PopulationCode turns (2, 6) with 3 classes into (4,); the batch axis must survive."""
    x = np.arange(12.0, dtype=np.float32).reshape(2, 6)
    y = Population(3)(x)
    assert y.shape == (2, 3)
    np.testing.assert_array_equal(y, [[0 + 1, 2 + 3, 4 + 5], [6 + 7, 8 + 9, 10 + 11]])
    spikes = np.zeros((T, 2, 6), np.float32)
    spikes[:, 0, 4] = 1.0  # sample 0 -> class 2
    spikes[:3, 1, 0] = 1.0  # sample 1 -> class 0
    np.testing.assert_allclose(metrics.population_accuracy(spikes, np.array([2, 0]), 3), 1.0)
    np.testing.assert_allclose(metrics.population_accuracy(spikes, np.array([2, 1]), 3), 0.5)


def test_population_layer_errors():
    msg = r"Population\(num_classes=3\).*\(size 7\).*`num_classes` \(=3\)"
    with pytest.raises(snnx.ShapeError, match=msg):
        Population(3)(jnp.zeros((2, 7)))
    with pytest.raises(snnx.ShapeError, match=r"Population\(num_classes=3\).*size 0"):
        Population(3)(jnp.zeros(()))
    with pytest.raises(snnx.OptionError, match=r"`num_classes` must be a positive int, got 0"):
        Population(0)
    with pytest.raises(snnx.OptionError, match=r"`num_classes` must be a positive int, got True"):
        Population(True)


def _model(**kw):
    return snnx.Sequential(nnx.Linear(4, 12, rngs=nnx.Rngs(0)), snnx.LIF(12), Population(3), **kw)


def test_population_inside_run_on_both_engines():
    x = jnp.asarray(RNG.random((T, B, 4)) * 2, jnp.float32)
    model = _model()
    out, _ = snnx.run(model, x)
    assert out.shape == (T, B, 3)
    hidden, _ = snnx.run(snnx.Sequential(model[0], model[1]), x)
    np.testing.assert_array_equal(out, _np_population(hidden, 3))
    step, _ = snnx.run(model, x, engine="step")
    layer, _ = snnx.run(model, x, engine="layer")  # per_sample = True: layer-major applies
    np.testing.assert_array_equal(step, out)
    np.testing.assert_array_equal(layer, out)


def test_population_with_shape_inference():
    model = snnx.Sequential(nnx.Linear(4, 12, rngs=nnx.Rngs(0)), snnx.LIF(), Population(3), input_shape=(4,))
    assert model[1].shape == (12,)
    out, _ = snnx.run(model, jnp.ones((T, B, 4)))
    assert out.shape == (T, B, 3)
    with pytest.raises(snnx.ShapeError, match=r"layer 2 \(Population\).*size 10.*`num_classes` \(=3\)"):
        snnx.Sequential(nnx.Linear(4, 10, rngs=nnx.Rngs(0)), snnx.LIF(), Population(3), input_shape=(4,))


def test_population_gradient_reaches_the_weights():
    model = _model()
    x = jnp.asarray(RNG.random((T, B, 4)) * 2, jnp.float32)
    y = jnp.array([0, 1, 2, 1])

    def loss(m):
        out, _ = snnx.run(m, x)
        return losses.spike_count_cross_entropy(out, y)

    grads = nnx.grad(loss)(model)
    kernel = grads["layers"][0]["kernel"][...]
    assert np.all(np.isfinite(kernel)) and np.any(kernel != 0)


def test_population_is_refused_by_nir_export_with_the_reason():
    with pytest.raises(NIRError, match=r"Population.*no population-sum node.*nnx.Linear"):
        to_nir(_model(), (4,), 1e-3)


# ---------------------------------------------------------------- loss and metric


def test_population_cross_entropy_matches_loops():
    out = _spikes((T, B, C * P))
    y = np.array([0, 2, 1, 1])
    np.testing.assert_allclose(
        losses.population_cross_entropy(out, y, C), _np_population_cross_entropy(out, y, C), rtol=1e-6
    )
    np.testing.assert_allclose(
        losses.population_cross_entropy(out, y, C, label_smoothing=0.2),
        _np_population_cross_entropy(out, y, C, 0.2),
        rtol=1e-6,
    )
    f = jax.jit(lambda o, y: losses.population_cross_entropy(o, y, C, time_axis=1))
    expected = _np_population_cross_entropy(out, y, C)
    np.testing.assert_allclose(f(out.transpose(1, 0, 2), y), expected, rtol=1e-6)
    # the Spyx defect case: B = 2, 6 units, 3 classes -> per-sample counts (2, 3)
    out2 = _spikes((T, 2, 6))
    y2 = np.array([2, 0])
    np.testing.assert_allclose(
        losses.population_cross_entropy(out2, y2, 3), _np_population_cross_entropy(out2, y2, 3), rtol=1e-6
    )


def test_population_accuracy_matches_loops_and_ties_go_to_the_first_class():
    out = _spikes((T, 8, 4 * 3), 0.3)
    y = RNG.integers(0, 4, 8)
    np.testing.assert_allclose(metrics.population_accuracy(out, y, 4), _np_population_accuracy(out, y, 4))
    g = jax.jit(lambda o, y: metrics.population_accuracy(o, y, 4, time_axis=1))
    np.testing.assert_allclose(g(out.transpose(1, 0, 2), y), _np_population_accuracy(out, y, 4))
    tie = np.zeros((T, 2, 6), np.float32)
    tie[:, :, 2] = tie[:, :, 5] = 1.0  # classes 1 and 2 tie; a silent class 0
    np.testing.assert_allclose(metrics.population_accuracy(tie, np.array([1, 2]), 3), 0.5)
    np.testing.assert_allclose(metrics.population_accuracy(np.zeros((T, 2, 6)), np.array([0, 0]), 3), 1.0)


def test_population_cross_entropy_gradient():
    out = jnp.asarray(RNG.uniform(0.0, 1.0, (T, B, C * P)), jnp.float32)
    y = jnp.array([0, 2, 1, 1])
    g = jax.grad(lambda o: losses.population_cross_entropy(o, y, C))(out)
    assert g.shape == out.shape and np.all(np.isfinite(g)) and np.any(g != 0)
    # the target class's units are pushed up, equally within a population
    assert np.all(g[:, 0, 0:2] < 0) and np.all(g[:, 1, 4:6] < 0)
    np.testing.assert_allclose(g[:, :, 0::2], g[:, :, 1::2])


@pytest.mark.parametrize(
    "fn", [losses.population_cross_entropy, metrics.population_accuracy], ids=["loss", "accuracy"]
)
def test_population_readout_errors(fn):
    out = jnp.zeros((T, 2, 6))
    y = jnp.array([0, 1])
    msg = r"last axis of `outputs` \(size 6\).*`num_classes` \(=4\).*\(5, 2, 6\)"
    with pytest.raises(snnx.ShapeError, match=msg):
        fn(out, y, 4)
    with pytest.raises(snnx.OptionError, match=r"`num_classes` must be a positive int, got 0"):
        fn(out, y, 0)
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\) for 3 classes, got values in \[0, 3\]"):
        fn(out, jnp.array([0, 3]), 3)
    msg = r"`targets` must be integer class indices of shape \(2,\).*\(5, 2, 6\)"
    with pytest.raises(ValueError, match=msg):
        fn(out, jnp.zeros((2, 3), jnp.int32), 3)
    with pytest.raises(ValueError, match="`time_axis` must be an axis other than the last"):
        fn(out, y, 3, time_axis=2)
