"""Feed-forward neurons: closed-form membranes, hand-derived spike trains, shapes, training, errors.

Every expected number here is derived by hand (the step-by-step tables are in the
comments) or from the closed-form solution of the linear recurrence, computed
in float64 numpy; none is copied from the code's output. The closed forms and
spike trains are checked on every engine of ``run`` (step, layer, fused), eagerly
and under ``jit`` (``engine_variants.run_every_way``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import snnx
from engine_variants import run_every_way
from snnx.neurons import ALIF, IF, LI, LIF, PSU_LIF, CuBaLI, CuBaLIF, I, ResonateFire
from snnx.neurons._base import Const

T = 8


def const_input(value: float, steps: int = T, shape=(1,)) -> jax.Array:
    return jnp.full((steps, 1, *shape), value, jnp.float32)


def seq_input(values) -> jax.Array:
    return jnp.asarray(values, jnp.float32).reshape(-1, 1, 1)


def spike_steps(z: jax.Array) -> list[int]:
    """1-based steps at which the single unit of a (T, 1, 1) spike train fired."""
    return [t + 1 for t, s in enumerate(np.asarray(z).reshape(-1)) if s == 1.0]


# --------------------------------------------------------------------------- closed forms


def test_lif_subthreshold_membrane_matches_closed_form():
    beta, x, v_leak = 0.8, 0.3, 0.5
    lif = LIF(1, beta=beta, threshold=1e9, v_leak=v_leak)
    _, states = run_every_way(lif, const_input(x, 12), return_states=True)
    t = np.arange(1, 13)
    # v_t = beta v_{t-1} + (1-beta) v_leak + x, v_0 = 0 -> (1 - beta^t) (v_leak + x / (1 - beta))
    expected = (1 - beta**t) * (v_leak + x / (1 - beta))
    np.testing.assert_allclose(np.asarray(states["v"]).reshape(-1), expected, rtol=1e-5)


def test_li_membrane_matches_closed_form_and_is_output():
    beta, x = 0.9, 0.7
    li = LI(1, beta=beta)
    v, states = run_every_way(li, const_input(x, 20), return_states=True)
    t = np.arange(1, 21)
    expected = x * (1 - beta**t) / (1 - beta)
    np.testing.assert_allclose(np.asarray(v).reshape(-1), expected, rtol=1e-5)
    np.testing.assert_array_equal(v, states["v"])


def test_i_integrates_exactly():
    v, _ = run_every_way(I(1), const_input(0.25, 8))
    np.testing.assert_array_equal(np.asarray(v).reshape(-1), 0.25 * np.arange(1, 9))


def test_cubali_matches_two_pole_closed_form():
    a, b, x = 0.6, 0.85, 0.4
    neuron = CuBaLI(1, alpha=a, beta=b)
    v, states = run_every_way(neuron, const_input(x, 15), return_states=True)
    t = np.arange(1, 16)
    # i_t = x (1 - a^t) / (1 - a);  v_t = sum_k b^(t-k) i_k
    #     = x / (1 - a) * [(1 - b^t) / (1 - b) - a (a^t - b^t) / (a - b)]
    i_expected = x * (1 - a**t) / (1 - a)
    v_expected = x / (1 - a) * ((1 - b**t) / (1 - b) - a * (a**t - b**t) / (a - b))
    np.testing.assert_allclose(np.asarray(states["i"]).reshape(-1), i_expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(v).reshape(-1), v_expected, rtol=1e-5)


def test_cubali_with_leak_matches_numpy_loop():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 2, 3))
    alpha, beta, v_leak = np.array([0.2, 0.5, 0.9]), 0.7, np.array([0.0, -0.3, 1.0])
    i = np.zeros((2, 3))
    v = np.zeros((2, 3))
    expected = []
    for xt in x:
        i = alpha * i + xt
        v = beta * v + (1 - beta) * v_leak + i
        expected.append(v)
    out, _ = run_every_way(CuBaLI(3, alpha=alpha, beta=beta, v_leak=v_leak), jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(out, np.stack(expected), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- spike trains

# LIF, beta = 1, threshold 1, input 0.75 each step:
#   zero:     v = .75, 1.5*, .75, 1.5*, ...                       -> 2, 4, 6, 8
#   subtract: v = .75, 1.5*->.5, 1.25*->.25, 1.0 (not > 1), 1.75*->.75, 1.5*->.5, 1.25*->.25, 1.0
#                                                                 -> 2, 3, 5, 6, 7
#   none:     v = .75, 1.5, 2.25, ...                             -> 2..8
LIF_TRAINS = {"zero": [2, 4, 6, 8], "subtract": [2, 3, 5, 6, 7], "none": [2, 3, 4, 5, 6, 7, 8]}


@pytest.mark.parametrize("reset", ["zero", "subtract", "none"])
def test_lif_spike_train_by_hand(reset):
    z, _ = run_every_way(LIF(1, beta=1.0, threshold=1.0, reset=reset), const_input(0.75))
    assert spike_steps(z) == LIF_TRAINS[reset]


# IF, threshold 1, input 0.625 = 5/8 each step (exact in binary):
#   zero:      .625, 1.25*->0, .625, 1.25*, ...                                 -> 2, 4, 6, 8
#   subtract:  .625, 1.25*->.25, .875, 1.5*->.5, 1.125*->.125, .75, 1.375*->.375, 1.0 (not > 1)
#                                                                               -> 2, 4, 5, 7
#   none:      1.25 at step 2 and growing                                       -> 2..8
#   zero with v_reset = -.25: .625, 1.25*->-.25, .375, 1.0, 1.625*->-.25, .375, 1.0, 1.625*->-.25
#                                                                               -> 2, 5, 8
IF_TRAINS = {"zero": [2, 4, 6, 8], "subtract": [2, 4, 5, 7], "none": [2, 3, 4, 5, 6, 7, 8]}


@pytest.mark.parametrize("reset", ["zero", "subtract", "none"])
def test_if_spike_train_by_hand(reset):
    z, _ = run_every_way(IF(1, threshold=1.0, reset=reset), const_input(0.625))
    assert spike_steps(z) == IF_TRAINS[reset]


def test_if_reset_to_v_reset_by_hand():
    z, final = run_every_way(IF(1, reset="zero", v_reset=-0.25), const_input(0.625))
    assert spike_steps(z) == [2, 5, 8]
    assert float(final["v"][0, 0]) == -0.25


@pytest.mark.parametrize("reset", ["zero", "subtract", "none"])
def test_cubalif_with_alpha_zero_is_lif(reset):
    z, _ = snnx.run(CuBaLIF(1, alpha=0.0, beta=1.0, reset=reset), const_input(0.75))
    assert spike_steps(z) == LIF_TRAINS[reset]


# CuBaLIF, alpha = beta = .5, threshold 1, input 1, 1, 0, 0, 0, 0:
#   i = 1, 1.5, .75, .375, .1875, .09375           (never reset)
#   zero:     v = 1 (not > 1), 2*->0, .75, .75, .5625, .375           -> 2
#   subtract: v = 1, 2*->1, 1.25*->.25, .5, .4375, .3125              -> 2, 3
#   none:     v = 1, 2*, 1.75*, 1.25*, .8125, .5                      -> 2, 3, 4
CUBA_TRAINS = {"zero": ([2], 0.375), "subtract": ([2, 3], 0.3125), "none": ([2, 3, 4], 0.5)}


@pytest.mark.parametrize("reset", ["zero", "subtract", "none"])
def test_cubalif_spike_train_by_hand(reset):
    neuron = CuBaLIF(1, alpha=0.5, beta=0.5, threshold=1.0, reset=reset)
    z, final = snnx.run(neuron, seq_input([1, 1, 0, 0, 0, 0]))
    steps, v_final = CUBA_TRAINS[reset]
    assert spike_steps(z) == steps
    assert float(final["v"][0, 0]) == v_final
    assert float(final["i"][0, 0]) == 0.09375


# ALIF, threshold 1, adaptation 1, gamma .5, input .75 each step; th = 1 + a (a before update):
#   beta 1, zero:     v .75 | 1.5 > 1* a=1 | .75<2 a=.5 | 1.5 = 1.5 a=.25 | 2.25>1.25* a=1.125
#                     | .75 a=.5625 | 1.5<1.5625 a=.28125 | 2.25>1.28125* a=1.140625  -> 2, 5, 8
#   beta 1, subtract: v .75 | 1.5*->.5 a=1 | 1.25<2 a=.5 | 2>1.5*->.5 a=1.25 | 1.25<2.25 a=.625
#                     | 2>1.625*->.375 a=1.3125 | 1.125 a=.65625 | 1.875>1.65625* a=1.328125 -> 2, 4, 6, 8
#   beta .5, none:    v .75 | 1.125>1* a=1 | 1.3125<2 a=.5 | 1.40625<1.5 a=.25 | 1.453125>1.25* a=1.125
#                     | 1.4765625<2.125 | 1.48828125<1.5625 | 1.494140625>1.28125*        -> 2, 5, 8
ALIF_TRAINS = {
    "zero": (1.0, [2, 5, 8], 1.140625),
    "subtract": (1.0, [2, 4, 6, 8], 1.328125),
    "none": (0.5, [2, 5, 8], 1.140625),
}


@pytest.mark.parametrize("reset", ["zero", "subtract", "none"])
def test_alif_threshold_rises_after_spikes_by_hand(reset):
    beta, steps, a_final = ALIF_TRAINS[reset]
    neuron = ALIF(1, beta=beta, gamma=0.5, threshold=1.0, adaptation=1.0, reset=reset)
    z, final = snnx.run(neuron, const_input(0.75))
    assert spike_steps(z) == steps
    assert float(final["a"][0, 0]) == a_final


def test_alif_without_adaptation_is_lif():
    z, _ = snnx.run(ALIF(1, beta=1.0, adaptation=0.0, reset="subtract"), const_input(0.75))
    assert spike_steps(z) == LIF_TRAINS["subtract"]


def test_spike_is_strict_and_uses_this_steps_input():
    # one step: v = 0 + x; spike iff x > threshold
    neuron = LIF(3, beta=0.5, threshold=1.0)
    z, state = neuron(jnp.array([[1.0, 1.0001, 0.5]]), neuron.init_state(1))
    np.testing.assert_array_equal(z, [[0.0, 1.0, 0.0]])
    np.testing.assert_array_equal(state["v"], [[1.0, 0.0, 0.5]])


# --------------------------------------------------------------------------- shapes

P = np.array([0.3, 0.6, 0.9, 1.0], np.float32)  # per-channel values for C = 4

CONV_CASES = {
    "LIF": lambda shape, p: LIF(shape, beta=p, threshold=0.5 + p, reset="subtract"),
    "IF": lambda shape, p: IF(shape, threshold=0.5 + p),
    "LI": lambda shape, p: LI(shape, beta=p),
    "I": lambda shape, p: I(shape),
    "CuBaLIF": lambda shape, p: CuBaLIF(shape, alpha=p[..., ::-1] * 0.9, beta=p, threshold=1 + p),
    "CuBaLI": lambda shape, p: CuBaLI(shape, alpha=0.5, beta=p),
    "ALIF": lambda shape, p: ALIF(shape, beta=p, gamma=0.9, adaptation=p),
    "PSU_LIF": lambda shape, p: PSU_LIF(shape, beta=p),
    "ResonateFire": lambda shape, p: ResonateFire(shape, lam=p * 0.2, omega=p, threshold=0.5),
}


@pytest.mark.parametrize("name", sorted(CONV_CASES))
def test_conv_shaped_state_matches_flat_neuron(name):
    h, w, c = 2, 3, 4
    make = CONV_CASES[name]
    x = jnp.asarray(np.random.default_rng(1).normal(0.5, 1.0, (6, 2, h, w, c)), jnp.float32)
    conv = make((h, w, c), P)
    flat = make(h * w * c, np.broadcast_to(P, (h, w, c)).reshape(-1))
    y_conv, s_conv = snnx.run(conv, x)
    y_flat, s_flat = snnx.run(flat, x.reshape(6, 2, -1))
    assert y_conv.shape == x.shape
    assert set(s_conv) == set(conv.state_names)
    np.testing.assert_allclose(y_conv.reshape(6, 2, -1), y_flat, rtol=1e-6, atol=1e-6)
    for key in s_conv:
        assert s_conv[key].shape == (2, h, w, c)
        np.testing.assert_allclose(s_conv[key].reshape(2, -1), s_flat[key], rtol=1e-6, atol=1e-6)


def test_init_state_shapes_and_dtypes():
    assert LIF((4, 5)).init_state((2, 3))["v"].shape == (2, 3, 4, 5)
    assert LIF(4).init_state()["v"].shape == (4,)
    assert set(CuBaLIF(2).init_state(1)) == {"i", "v"}
    assert set(ALIF(2).init_state(1)) == {"v", "a"}
    assert ResonateFire(2).init_state(1)["u"].dtype == jnp.complex64


def test_scalar_and_per_unit_parameters_agree():
    x = jnp.asarray(np.random.default_rng(0).uniform(0, 0.8, (6, 2, 3)), jnp.float32)
    scalar = LIF(3, beta=0.7, threshold=1.0)
    per_unit = LIF(3, beta=jnp.full((3,), 0.7), threshold=np.ones(3))
    np.testing.assert_array_equal(snnx.run(scalar, x)[0], snnx.run(per_unit, x)[0])


def test_decay_is_clipped_when_it_drifts_outside_unit_interval():
    li = LI(1, beta=0.5)
    li.beta[...] = jnp.asarray(1.5)  # as an optimiser might leave it
    v, _ = snnx.run(li, const_input(1.0, 3))
    np.testing.assert_array_equal(np.asarray(v).reshape(-1), [1.0, 2.0, 3.0])  # beta used as 1


def test_jit_matches_eager():
    x = jnp.asarray(np.random.default_rng(2).uniform(0, 0.6, (8, 2, 3)), jnp.float32)
    neuron = CuBaLIF(3, alpha=0.5, beta=0.8, reset="subtract")
    eager, _ = snnx.run(neuron, x)
    jitted, _ = nnx.jit(lambda m, x: snnx.run(m, x))(neuron, x)
    np.testing.assert_array_equal(eager, jitted)


# --------------------------------------------------------------------------- training


def _sgd_step(model, x):
    def loss_fn(m):
        y, _ = snnx.run(m, x)
        return jnp.sum(y)

    optimizer = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)
    _, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return grads


@pytest.mark.parametrize(
    ("make", "learnt", "frozen"),
    [
        (lambda: LIF(3, beta=0.8, threshold=0.5, trainable=("beta",)), ["beta"], ["threshold", "v_leak"]),
        (lambda: CuBaLIF(3, trainable=["alpha", "threshold"]), ["alpha", "threshold"], ["beta"]),
        (lambda: ALIF(3, threshold=0.5, trainable=False), [], ["beta", "gamma", "threshold", "adaptation"]),
        (lambda: LI(3, trainable="beta"), ["beta"], ["v_leak"]),
        (lambda: ResonateFire(3, threshold=0.5, trainable="omega"), ["omega"], ["lam", "threshold"]),
    ],
)
def test_frozen_parameters_are_not_updated(make, learnt, frozen):
    model = make()
    before = {name: np.asarray(getattr(model, name)[...]).copy() for name in learnt + frozen}
    x = jnp.linspace(0.1, 0.9, 5 * 2 * 3).reshape(5, 2, 3)
    grads = _sgd_step(model, x)
    grad_names = {str(path[0]) for path, _ in nnx.to_flat_state(grads)}
    assert grad_names == set(learnt)
    for name in frozen:
        assert isinstance(getattr(model, name), Const)
        np.testing.assert_array_equal(getattr(model, name)[...], before[name])
    for name in learnt:
        assert isinstance(getattr(model, name), nnx.Param)
        assert not np.array_equal(getattr(model, name)[...], before[name]), name


# --------------------------------------------------------------------------- errors


def test_wrong_input_shape_names_x():
    neuron = LIF(3)
    with pytest.raises(ValueError, match=r"`x` must have shape \(\*batch, 3\), got \(2, 4\)"):
        neuron(jnp.ones((2, 4)), neuron.init_state(2))
    conv = ALIF((2, 2, 3))
    with pytest.raises(ValueError, match="`x`"):
        conv(jnp.ones((1, 2, 3, 2)), conv.init_state(1))


def test_wrong_state_keys():
    neuron = CuBaLIF(3)
    with pytest.raises(ValueError, match="`state` must be a dict with keys"):
        neuron(jnp.ones((1, 3)), {"v": jnp.zeros((1, 3))})


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: LIF(2, beta=1.5), "beta"),
        (lambda: LI(2, beta=-0.1), "beta"),
        (lambda: CuBaLIF(2, alpha=[0.5, 1.2]), "alpha"),
        (lambda: CuBaLI(2, beta=2.0), "beta"),
        (lambda: ALIF(2, gamma=1.01), "gamma"),
        (lambda: PSU_LIF(2, beta=-1.0), "beta"),
    ],
)
def test_decay_outside_unit_interval_is_an_error(make, name):
    with pytest.raises(ValueError, match=rf"`{name}` must lie in \[0, 1\]"):
        make()


def test_negative_lam_is_an_error():
    with pytest.raises(ValueError, match="`lam` must be >= 0"):
        ResonateFire(2, lam=-0.1)


@pytest.mark.parametrize("cls", [LIF, IF, CuBaLIF, ALIF])
def test_unknown_reset_is_an_error(cls):
    with pytest.raises(
        ValueError, match=r"`reset` must be one of \['zero', 'subtract', 'none'\], got 'soft'"
    ):
        cls(2, reset="soft")


@pytest.mark.parametrize("cls", [LIF, IF, CuBaLIF, ALIF, PSU_LIF, ResonateFire])
def test_unknown_surrogate_is_an_error(cls):
    with pytest.raises(ValueError, match="`surrogate` must be one of"):
        cls(2, surrogate="nope")
    with pytest.raises(TypeError, match="`surrogate` must be a name"):
        cls(2, surrogate=3)


@pytest.mark.parametrize("shape", [0, -3, (2, 0), "4", 2.5])
@pytest.mark.parametrize("cls", [IF, LI, I, ResonateFire])
def test_bad_shape_is_an_error(cls, shape):
    with pytest.raises(ValueError, match="`shape` must be a positive int"):
        cls(shape)


@pytest.mark.parametrize("cls", [IF, LI, I, ResonateFire])
def test_shape_none_is_an_unbuilt_neuron(cls):
    # None (the default) means: set from the input by Sequential(..., input_shape=...); see test_shapes.py
    assert cls().shape is None
    assert cls(None).build((2, 3)).shape == (2, 3)


@pytest.mark.parametrize(
    ("make", "unknown"),
    [
        (lambda: LIF(2, trainable=("beta", "tau")), "tau"),
        (lambda: IF(2, trainable="beta"), "beta"),
        (lambda: I(2, trainable=("v",)), "v"),
        (lambda: ALIF(2, trainable=["rho"]), "rho"),
        (lambda: ResonateFire(2, trainable="freq"), "freq"),
    ],
)
def test_unknown_trainable_name_is_an_error(make, unknown):
    with pytest.raises(ValueError, match=rf"`trainable` names unknown parameters \['{unknown}'\]"):
        make()


def test_trainable_of_wrong_type_and_bad_parameter_values():
    with pytest.raises(TypeError, match="`trainable` must be a bool"):
        LI(2, trainable=3)
    with pytest.raises(
        ValueError, match=r"`threshold` must be a scalar or broadcast to the layer shape \(3,\)"
    ):
        IF(3, threshold=np.ones(2))
    with pytest.raises(TypeError, match="`omega` must be a number"):
        ResonateFire(3, omega=None)
    with pytest.raises(ValueError, match="`v_leak` must be finite"):
        LI(3, v_leak=np.nan)


def test_every_neuron_steps_identically_under_jit():
    models = [make((3,), P[:3]) for make in CONV_CASES.values()]
    x = jnp.asarray(np.random.default_rng(4).uniform(0, 1.2, (2, 2, 3)), jnp.float32)

    def two_steps(models, x):
        outs = []
        for m in models:
            s = m.init_state(2)
            for t in range(2):
                y, s = m(x[t], s)
                outs.append(y)
        return outs

    for eager, jitted in zip(two_steps(models, x), nnx.jit(two_steps)(models, x), strict=True):
        np.testing.assert_allclose(eager, jitted, rtol=1e-6, atol=1e-6)
