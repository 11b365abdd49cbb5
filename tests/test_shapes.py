"""Shapes without arithmetic: ``Sequential(..., input_shape=...)`` builds neurons and ``Deferred`` layers.

Every expected shape below is computed by hand in the test (conv output sizes
from the kernel, stride and padding; pooling halves; flatten multiplies), so a
wrong inference cannot agree with itself.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import snnx
from snnx import neurons as N
from snnx.layers import Deferred, Flatten, SumPool
from snnx.nir import NIRError, to_nir

try:
    ShapeError = snnx.ShapeError
except AttributeError:  # pragma: no cover - while the export lands
    from snnx._checks import ShapeError


def _issue_model(seed: int = 0, **lif):
    """The issue's example: Conv -> LIF -> SumPool -> Flatten -> Linear -> LI, no arithmetic."""
    r = nnx.Rngs(seed)
    return snnx.Sequential(
        nnx.Conv(2, 8, (3, 3), rngs=r),
        N.LIF(beta=0.9, threshold=0.5, **lif),
        SumPool(2),
        Flatten(),
        Deferred(lambda s: nnx.Linear(s[-1], 10, rngs=r)),
        N.LI(beta=0.9),
        input_shape=(16, 16, 2),
    )


def _explicit_model(seed: int = 0):
    """The same model with every shape computed by hand."""
    r = nnx.Rngs(seed)
    return snnx.Sequential(
        nnx.Conv(2, 8, (3, 3), rngs=r),  # padding SAME: (16, 16, 8)
        N.LIF((16, 16, 8), beta=0.9, threshold=0.5),
        SumPool(2),  # (8, 8, 8)
        Flatten(),  # 8 * 8 * 8 = 512
        nnx.Linear(512, 10, rngs=r),
        N.LI(10, beta=0.9),
    )


def _spikes(shape, seed=1):
    return (jax.random.uniform(jax.random.key(seed), shape) < 0.3).astype(jnp.float32)


def test_issue_example_builds_and_runs():
    model = _issue_model()
    assert model.input_shape == (16, 16, 2)
    assert isinstance(model[4], nnx.Linear) and model[4].in_features == 8 * 8 * 8
    assert model[1].shape == (16, 16, 8)
    assert model[5].shape == (10,)
    y, _ = snnx.run(model, _spikes((5, 3, 16, 16, 2)))
    assert y.shape == (5, 3, 10)
    assert bool(jnp.all(jnp.isfinite(y)))


@pytest.mark.slow
def test_inferred_model_equals_the_explicit_one():
    inferred, explicit = _issue_model(), _explicit_model()
    assert [getattr(layer, "shape", None) for layer in inferred.layers] == [
        getattr(layer, "shape", None) for layer in explicit.layers
    ]
    # Same seeds, same order of creation: same weights.
    np.testing.assert_array_equal(inferred[4].kernel[...], explicit[4].kernel[...])
    x = _spikes((6, 2, 16, 16, 2))
    hidden, _ = snnx.run(snnx.Sequential(inferred[0], inferred[1]), x)
    assert 0.0 < float(hidden.mean()) < 1.0  # the LIF layer spikes: the comparison is not trivial
    want, _ = snnx.run(explicit, x)
    np.testing.assert_array_equal(snnx.run(inferred, x)[0], want)
    jitted = nnx.jit(lambda m, x: snnx.run(m, x)[0])
    np.testing.assert_allclose(jitted(inferred, x), want, rtol=1e-6, atol=1e-6)


def test_issue_example_exports_to_nir():
    model = _issue_model()
    graph = to_nir(model, (2, 16, 16), dt=1e-3)
    assert sorted(graph.nodes) == ["input", *(f"layer_{i}" for i in range(6)), "output"]
    assert tuple(graph.nodes["layer_1"].tau.shape) == (8, 16, 16)  # channels-first in NIR
    # Without input_shape: the one the Sequential was built with, channels-first.
    again = to_nir(model, dt=1e-3)
    assert tuple(again.nodes["input"].input_type["input"]) == (2, 16, 16)
    assert sorted(again.nodes) == sorted(graph.nodes)


@pytest.mark.slow
def test_hand_computed_shapes_through_a_deeper_stack():
    r = nnx.Rngs(0)
    model = snnx.Sequential(
        nnx.Conv(2, 8, (3, 3), padding="VALID", rngs=r),  # 34 - 2 = 32: (32, 32, 8)
        N.CuBaLIF(alpha=0.8, beta=0.9),
        SumPool(2),  # (16, 16, 8)
        nnx.Conv(8, 16, (3, 3), strides=2, padding="VALID", rngs=r),  # (16 - 3) // 2 + 1 = 7
        N.IF(),
        Flatten(),  # 7 * 7 * 16 = 784
        Deferred(lambda s: nnx.Linear(s[-1], 32, rngs=r)),
        N.ALIF(beta=0.9),
        nnx.Linear(32, 20, rngs=r),
        N.PSU_LIF(),
        N.ResonateFire(),
        N.I(),
        Deferred(lambda s: nnx.Linear(s[-1], 5, rngs=r)),
        N.CuBaLI(),
        input_shape=(34, 34, 2),
    )
    shapes = {i: layer.shape for i, layer in enumerate(model.layers) if isinstance(layer, N.Neuron)}
    assert shapes == {1: (32, 32, 8), 4: (7, 7, 16), 7: (32,), 9: (20,), 10: (20,), 11: (20,), 13: (5,)}
    assert model[6].in_features == 784
    state = model.init_state(2)
    y, _ = model(jnp.ones((2, 34, 34, 2)), state)
    assert y.shape == (2, 5)


@pytest.mark.parametrize(
    "make",
    [N.LIF, N.IF, N.LI, N.I, N.CuBaLIF, N.CuBaLI, N.ALIF, N.PSU_LIF, N.ResonateFire],
    ids=lambda c: c.__name__,
)
def test_every_feed_forward_neuron_takes_its_shape_from_the_input(make):
    r = nnx.Rngs(0)
    neuron = make()
    assert neuron.shape is None
    model = snnx.Sequential(nnx.Linear(4, 6, rngs=r), neuron, input_shape=4)
    assert model.input_shape == (4,)
    assert neuron.shape == (6,)
    y, _ = model(jnp.ones((3, 4)), model.init_state(3))
    assert y.shape == (3, 6)


def test_recurrent_layers_keep_a_required_shape_and_are_checked():
    r = nnx.Rngs(0)
    model = snnx.Sequential(nnx.Linear(4, 6, rngs=r), N.RLIF(6, rngs=r), input_shape=(4,))
    assert model[1].shape == (6,)
    with pytest.raises(TypeError):
        N.RLIF(rngs=r)  # no shape: still required
    with pytest.raises(ShapeError, match=r"layer 1 \(RLIF\) expects per-sample shape \(5,\), got .*\(6,\)"):
        snnx.Sequential(nnx.Linear(4, 6, rngs=r), N.RLIF(5, rngs=r), input_shape=(4,))


def test_wrong_in_features_names_the_layer_and_its_source():
    r = nnx.Rngs(0)
    with pytest.raises(
        ShapeError,
        match=r"^layer 4 \(Linear\) expects inputs ending in 100 features, "
        r"got per-sample shape \(512,\) from layer 3 \(Flatten\)$",
    ):
        snnx.Sequential(
            nnx.Conv(2, 8, (3, 3), rngs=r),
            N.LIF(beta=0.9),
            SumPool(2),
            Flatten(),
            nnx.Linear(100, 10, rngs=r),
            N.LI(beta=0.9),
            input_shape=(16, 16, 2),
        )


def test_shape_errors_are_value_errors_and_name_the_layer():
    r = nnx.Rngs(0)
    assert issubclass(ShapeError, ValueError)
    conv_msg = r"layer 0 \(Conv\) expects inputs ending in 2 channels, got .*\(16,\) from the input"
    with pytest.raises(ShapeError, match=conv_msg):
        snnx.Sequential(nnx.Conv(2, 8, (3, 3), rngs=r), input_shape=(16,))
    lif_msg = r"layer 1 \(LIF\) expects per-sample shape \(16, 16, 4\), got .*\(16, 16, 8\) from layer 0"
    with pytest.raises(ShapeError, match=lif_msg):
        snnx.Sequential(nnx.Conv(2, 8, (3, 3), rngs=r), N.LIF((16, 16, 4)), input_shape=(16, 16, 2))
    # a layer of unknown kind: its own error is kept, behind the index, type and shape
    pool_msg = r"layer 1 \(SumPool\) rejected per-sample shape \(6,\) from layer 0 \(Linear\): "
    with pytest.raises(ShapeError, match=pool_msg):
        snnx.Sequential(nnx.Linear(4, 6, rngs=r), SumPool(2), input_shape=(4,))


def test_per_unit_parameter_of_the_wrong_size_fails_at_build_naming_it():
    r = nnx.Rngs(0)
    lif = N.LIF(beta=np.full(5, 0.9))  # nothing to check against yet
    with pytest.raises(
        ShapeError, match=r"layer 1 \(LIF\) cannot be built for .*shape \(6,\).*`beta`.*\(6,\).*\(5,\)"
    ):
        snnx.Sequential(nnx.Linear(4, 6, rngs=r), lif, input_shape=(4,))
    assert lif.shape is None  # a failed build leaves the neuron unbuilt, reusable
    ok = snnx.Sequential(nnx.Linear(4, 5, rngs=r), lif, input_shape=(4,))
    assert ok[1].shape == (5,)
    per_channel = N.LIF(threshold=np.linspace(0.5, 1.0, 8))  # broadcasts over (H, W, 8)
    snnx.Sequential(nnx.Conv(2, 8, (3, 3), rngs=r), per_channel, input_shape=(6, 6, 2))
    assert per_channel.shape == (6, 6, 8)


def test_unbuilt_neuron_errors_say_how_to_build_it():
    lif = N.LIF(beta=0.9)
    how = r"LIF has no shape yet: pass `shape`.*Sequential\(\.\.\., input_shape=\.\.\.\)"
    with pytest.raises(ShapeError, match=how):
        lif.init_state(2)
    with pytest.raises(ShapeError, match=how):
        lif(jnp.ones((2, 3)), {"v": jnp.zeros((2, 3))})
    with pytest.raises(ShapeError, match=r"no shape yet"):
        N.PSU_LIF().parallel(jnp.ones((4, 2, 3)))
    with pytest.raises(ShapeError, match=how):
        snnx.run(snnx.Sequential(lif), jnp.ones((4, 2, 3)))
    with pytest.raises(NIRError, match=r"'layer_0' \(LIF\), field 'shape'.*input_shape"):
        to_nir(snnx.Sequential(lif), (3,), dt=1e-3)


def test_unbuilt_deferred_errors_say_how_to_build_it():
    layer = Deferred(lambda s: nnx.Linear(s[-1], 3, rngs=nnx.Rngs(0)))
    with pytest.raises(ShapeError, match=r"Deferred layer is not built yet.*input_shape"):
        layer(jnp.ones((2, 4)))
    with pytest.raises(ShapeError, match=r"Deferred layer is not built yet"):
        snnx.Sequential(layer)(jnp.ones((2, 4)), (None,))
    with pytest.raises(TypeError, match=r"`factory` must be a callable.*int"):
        Deferred(3)
    with pytest.raises(ShapeError, match=r"layer 0 \(Deferred\) cannot be built.*`factory` must return.*int"):
        snnx.Sequential(Deferred(lambda s: 3), input_shape=(4,))
    with pytest.raises(ShapeError, match=r"layer 1 \(Deferred\) cannot be built for .*\(6,\).*boom"):
        snnx.Sequential(nnx.Linear(4, 6, rngs=nnx.Rngs(0)), Deferred(_boom), input_shape=(4,))


def _boom(shape):
    raise RuntimeError("boom")


def test_deferred_may_make_an_unbuilt_neuron():
    model = snnx.Sequential(nnx.Linear(4, 6, rngs=nnx.Rngs(0)), Deferred(lambda s: N.LIF()), input_shape=(4,))
    assert isinstance(model[1], N.LIF) and model[1].shape == (6,)


@pytest.mark.slow  # one of the quick tier's longest (it compiles many programs)
def test_nested_sequentials():
    r = nnx.Rngs(0)
    inner = snnx.Sequential(N.LIF(beta=0.9), Deferred(lambda s: nnx.Linear(s[-1], 3, rngs=r)), N.LI())
    assert inner.input_shape is None
    model = snnx.Sequential(nnx.Linear(4, 6, rngs=r), inner, N.IF(), input_shape=(4,))
    assert inner.input_shape == (6,)
    assert inner[0].shape == (6,) and inner[1].in_features == 6 and inner[2].shape == (3,)
    assert model[2].shape == (3,)
    y, _ = snnx.run(model, jnp.ones((4, 2, 4)))
    assert y.shape == (4, 2, 3)

    bad = snnx.Sequential(N.LIF(), nnx.Linear(5, 3, rngs=r))
    with pytest.raises(
        ShapeError,
        match=r"layer 1 \(Sequential\) cannot be built for per-sample shape \(6,\) from layer 0 \(Linear\): "
        r"layer 1 \(Linear\) expects inputs ending in 5 features, "
        r"got per-sample shape \(6,\) from layer 0 \(LIF\)",
    ):
        snnx.Sequential(nnx.Linear(4, 6, rngs=r), bad, input_shape=(4,))
    assert bad.input_shape is None and bad[0].shape is None  # left unbuilt

    built = snnx.Sequential(N.LIF(), input_shape=(7,))
    with pytest.raises(ShapeError, match=r"layer 1 \(Sequential\).*built for .*shape \(7,\), got \(6,\)"):
        snnx.Sequential(nnx.Linear(4, 6, rngs=r), built, input_shape=(4,))


def test_neuron_build_directly():
    lif = N.LIF(beta=0.9).build((3,))
    assert lif.shape == (3,)
    assert lif.build(3) is lif
    with pytest.raises(ShapeError, match=r"LIF has shape \(3,\); it cannot take inputs of .*shape \(4,\)"):
        lif.build(4)


def test_bad_input_shape_is_named():
    with pytest.raises(ValueError, match=r"`input_shape`.*\(0, 3\)"):
        snnx.Sequential(N.LIF(), input_shape=(0, 3))
    with pytest.raises(ValueError, match=r"`input_shape` is required.*LIF"):
        to_nir(N.LIF(3), dt=1e-3)
