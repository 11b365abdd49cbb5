"""Fixed-point membranes: ``FixedPoint`` and the ``state_quant`` option of the leaky neurons.

Expectations are float64 numpy loops of the documented update, with the grid's
constants written out by hand (not read from the object under test)::

    u = Q(beta * v + (1 - beta) * v_leak + x)
    z = u > Q(threshold)
    v = Q(v_reset) where z | Q(u - Q(threshold)) where z | u

The neuron tests use a power-of-two step (1/16) and inputs on a 1/64 grid with
decays 0.75 / 0.5: every intermediate value is exact in float32 as in float64,
so exact ties (``v / step = n + 1/2``) occur and both sides must round them half
to even, and the comparison has no near-tie ambiguity.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import snnx
from snnx.engine import plan
from snnx.neurons import IF, LI, LIF, RIF, RLIF, CuBaLI, CuBaLIF, FixedPoint
from snnx.neurons._leaky import fusable

STEP = 1.0 / 16  # FixedPoint(8, -8, 7.9375): (7.9375 + 8) / 255 = 1/16, kmin = -128, kmax = 127
GRID = FixedPoint(bits=8, lo=-8.0, hi=7.9375)
SMALL = FixedPoint(bits=6, lo=-2.0, hi=1.9375)  # step 1/16, k in [-32, 31]: clips at -2 and 1.9375
T, B, N = 16, 3, 5
ZERO = nnx.initializers.zeros_init()
REFUSAL = "fixed-point membranes (state_quant), which the fused kernel does not round"


def q_np(v, kmin=-128, kmax=127, step=STEP):
    """Q in float64, with the grid's constants given explicitly."""
    return step * np.clip(np.round(np.asarray(v, np.float64) / step), kmin, kmax)


def dyadic(shape, lo, hi, seed, unit=1.0 / 64):
    """Random multiples of ``unit`` in [lo, hi] (exact in float32)."""
    rng = np.random.default_rng(seed)
    return rng.integers(round(lo / unit), round(hi / unit) + 1, size=shape) * unit


def run_states(layer, x):
    """``snnx.run`` of ``Sequential(layer)``: outputs and the layer's per-step states, as numpy."""
    y, (states,) = snnx.run(snnx.Sequential(layer), jnp.asarray(x, jnp.float32), return_states=True)
    return np.asarray(y), {k: np.asarray(v) for k, v in states.items()}


def assert_on_grid(v, step=STEP):
    k = np.asarray(v, np.float64) / step
    np.testing.assert_array_equal(k, np.round(k))


# --------------------------------------------------------------------------- FixedPoint numerics


def test_grid_constants_by_hand():
    q = FixedPoint(bits=4, lo=-1.0, hi=2.0)  # step 3/15 = 0.2, kmin = -5, kmax = 10
    assert (q.step, q.kmin, q.kmax) == pytest.approx((0.2, -5, 10)) and q.range == pytest.approx((-1.0, 2.0))
    q = FixedPoint(bits=3, lo=-1, hi=1)  # step 2/7; lo / step = -3.5 -> -4 (half to even); kmax = 3
    assert (q.kmin, q.kmax) == (-4, 3)
    assert q.range == pytest.approx((-8 / 7, 6 / 7))
    np.testing.assert_allclose(q.levels, np.arange(-4, 4) * 2 / 7)
    assert (GRID.step, GRID.kmin, GRID.kmax) == (STEP, -128, 127)


def test_levels_contain_zero_and_stay_within_half_a_step_of_the_range():
    rng = np.random.default_rng(0)
    for _ in range(20):
        bits = int(rng.integers(2, 17))
        lo, hi = -float(rng.uniform(0, 5)), float(rng.uniform(0.01, 5))
        q = FixedPoint(bits, lo, hi)
        levels = q.levels
        assert len(levels) == 2**bits and np.any(levels == 0.0)
        np.testing.assert_allclose(np.diff(levels), (hi - lo) / (2**bits - 1), rtol=1e-9)
        assert abs(levels[0] - lo) <= q.step / 2 + 1e-12 and abs(levels[-1] - hi) <= q.step / 2 + 1e-12


def test_rounding_matches_numpy_clips_and_is_idempotent():
    q = FixedPoint(bits=5, lo=-1.5, hi=3.0)  # a step that is not a power of two
    step = 4.5 / 31
    kmin = round(-1.5 / step)
    rng = np.random.default_rng(1)
    codes = rng.integers(kmin - 6, kmin + 31 + 6, size=200)  # some beyond either end
    frac = rng.uniform(-0.45, 0.45, size=200)  # well away from ties
    v = ((codes + frac) * step).astype(np.float32)
    want = step * np.clip(codes, kmin, kmin + 31)
    got = q(jnp.asarray(v))
    np.testing.assert_allclose(np.asarray(got, np.float64), want, atol=1e-6)
    np.testing.assert_array_equal(q.to_int(jnp.asarray(v)), np.clip(codes, kmin, kmin + 31))
    assert q.to_int(v).dtype == jnp.int32
    assert np.any(codes < kmin) and np.any(codes > kmin + 31)
    np.testing.assert_array_equal(q(got), got)
    np.testing.assert_array_equal(jax.jit(q)(jnp.asarray(v)), got)


def test_halves_round_to_even():
    q = FixedPoint(bits=4, lo=-2.0, hi=1.75)  # step 0.25 exactly, k in [-8, 7]
    v = jnp.array([0.125, 0.375, 0.625, -0.125, -0.375, 1.875, -2.125])  # v / step = n + 1/2
    np.testing.assert_array_equal(q(v), [0.0, 0.5, 0.5, 0.0, -0.5, 1.75, -2.0])
    np.testing.assert_array_equal(q.to_int(v), [0, 2, 2, 0, -2, 7, -8])


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32])
def test_dtype_is_kept(dtype):
    v = jnp.array([0.3, -0.7, 9.0], dtype)
    assert GRID(v).dtype == dtype
    assert GRID(jnp.array([1, 2])).dtype == jnp.float32  # integers become float32


def test_gradient_is_straight_through_also_outside_the_range():
    v = jnp.array([0.03, -0.5, 0.1, 9.0, -9.0])  # the last two are clipped
    np.testing.assert_array_equal(jax.grad(lambda a: jnp.sum(GRID(a) * 3.0))(v), np.full(5, 3.0))
    _, tangent = jax.jvp(GRID, (v,), (jnp.arange(5.0),))
    np.testing.assert_array_equal(tangent, np.arange(5.0))


def test_plain_data_round_trip_and_hashing():
    q = FixedPoint(bits=np.int64(6), lo=-2, hi=np.float32(1.9375))
    d = q.as_dict()
    assert d == {"bits": 6, "lo": -2.0, "hi": 1.9375} and d == q.describe()
    assert type(d["bits"]) is int and type(d["lo"]) is float and type(d["hi"]) is float
    assert FixedPoint.from_dict(d) == q == SMALL and hash(q) == hash(SMALL)
    assert FixedPoint(6, -2.0, 2.0) != q


# --------------------------------------------------------------------------- neurons vs numpy


def leaky_np(x, *, beta=None, v_leak=0.0, th=None, v_reset=0.0, reset="zero", w_rec=None, q=q_np):
    """The documented update in float64; ``beta=None``: no leak; ``th=None``: no spikes (output v).

    Returns the outputs, the membranes and how many integrations landed exactly half-way between
    two levels (rounded half to even: the test exercises the tie rule when it is above 0).
    """
    v = np.zeros(x.shape[1:])
    z = np.zeros(x.shape[1:])
    ys, vs, ties = [], [], 0
    for xt in x:
        pre = v + xt if beta is None else beta * v + (1 - beta) * v_leak + xt
        if w_rec is not None:
            pre = pre + z @ w_rec
        ties += int(np.sum(pre / STEP - np.floor(pre / STEP) == 0.5))
        u = q(pre)
        if th is None:
            v = u
            ys.append(u)
        else:
            z = (u > q(th)).astype(np.float64)
            if reset == "zero":
                v = np.where(z > 0, q(v_reset), u)
            elif reset == "subtract":
                v = np.where(z > 0, q(u - q(th)), u)
            else:
                v = u
            ys.append(z)
        vs.append(v)
    return np.stack(ys), np.stack(vs), ties


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_lif_matches_numpy(reset):
    x = dyadic((T, B, N), -0.5, 0.75, seed=2)
    th = np.array([0.47, 0.75, 1.0, 1.2, 0.9])  # Q(th) = 0.5 (up: 0.47 / step = 7.52), .75, 1, 1.1875, .875
    lif = LIF(N, beta=0.75, threshold=th, v_leak=0.25, v_reset=0.1, reset=reset, state_quant=GRID)
    z, s = run_states(lif, x)
    z_np, v_np, n_ties = leaky_np(x, beta=0.75, v_leak=0.25, th=th, v_reset=0.1, reset=reset)
    np.testing.assert_array_equal(z, z_np)
    np.testing.assert_allclose(s["v"], v_np, atol=1e-6)
    assert_on_grid(s["v"])
    assert 0.05 < z.mean() < 0.7 and n_ties > 0


def test_if_matches_numpy():
    x = dyadic((T, B, N), -0.3, 0.5, seed=3)
    layer = IF(N, threshold=0.97, reset="subtract", state_quant=GRID)
    z, s = run_states(layer, x)
    z_np, v_np, n_ties = leaky_np(x, th=0.97, reset="subtract")
    np.testing.assert_array_equal(z, z_np)
    np.testing.assert_allclose(s["v"], v_np, atol=1e-6)
    assert_on_grid(s["v"])
    assert 0.05 < z.mean() < 0.7 and n_ties > 0


def test_subtractive_reset_is_rounded_and_clipped():
    """A negative threshold lifts a membrane at the top level above it: the reset clips it back."""
    x = np.tile(np.array([1.5, 0.5, -0.25]), (4, 1, 1))  # (T, B, 3) with B = 1
    z, s = run_states(IF(3, threshold=-0.53, reset="subtract", state_quant=SMALL), x)  # Q(th) = -0.5
    z_np, v_np, _ = leaky_np(x, th=-0.53, reset="subtract", q=lambda v: q_np(v, -32, 31))
    np.testing.assert_array_equal(z, z_np)
    np.testing.assert_allclose(s["v"], v_np, atol=1e-6)
    assert s["v"].max() == 1.9375 and z_np.all()


def test_li_matches_numpy_and_clips():
    x = dyadic((T, B, N), -1.0, 1.0, seed=4)
    x[:, 0] = 1.0  # drives unit 0 of sample 0 towards 4, beyond the top level 1.9375
    y, s = run_states(LI(N, beta=0.75, state_quant=SMALL), x)
    _, v_np, n_ties = leaky_np(x, beta=0.75, q=lambda v: q_np(v, -32, 31))
    np.testing.assert_allclose(y, v_np, atol=1e-6)
    np.testing.assert_allclose(s["v"], v_np, atol=1e-6)
    assert_on_grid(y)
    assert np.any(v_np == 1.9375) and n_ties > 0


def test_rlif_matches_numpy():
    x = dyadic((T, B, N), -0.25, 0.6, seed=5)
    w = dyadic((N, N), -0.5, 0.5, seed=6)
    layer = RLIF(N, beta=0.75, threshold=0.8, kernel_init=ZERO, rngs=nnx.Rngs(0), state_quant=GRID)
    layer.recurrent.kernel[...] = jnp.asarray(w, jnp.float32)
    z, s = run_states(layer, x)
    z_np, v_np, n_ties = leaky_np(x, beta=0.75, th=0.8, w_rec=w)
    np.testing.assert_array_equal(z, z_np)
    np.testing.assert_array_equal(s["z"], z_np)
    np.testing.assert_allclose(s["v"], v_np, atol=1e-6)
    assert_on_grid(s["v"])
    assert 0.05 < z.mean() < 0.7 and n_ties > 0


def test_rif_and_cuba_take_the_option():
    x = dyadic((T, B, N), -0.25, 0.6, seed=7)
    rif = RIF(N, threshold=0.8, kernel_init=ZERO, rngs=nnx.Rngs(0), state_quant=GRID)  # zero recurrence: IF
    z, s = run_states(rif, x)
    z_np, v_np, _ = leaky_np(x, th=0.8)
    np.testing.assert_array_equal(z, z_np)
    np.testing.assert_allclose(s["v"], v_np, atol=1e-6)
    # CuBaLIF: i = Q(0.5 i + x), then the LIF lines on i (the same grid for both)
    cuba = CuBaLIF(N, alpha=0.5, beta=0.75, threshold=0.9, reset="subtract", state_quant=GRID)
    z, s = run_states(cuba, x)
    i_np = np.zeros((B, N))
    cur = []
    for xt in x:
        i_np = q_np(0.5 * i_np + xt)
        cur.append(i_np)
    z_np, v_np, _ = leaky_np(np.stack(cur), beta=0.75, th=0.9, reset="subtract")
    np.testing.assert_array_equal(z, z_np)
    np.testing.assert_allclose(s["i"], np.stack(cur), atol=1e-6)
    np.testing.assert_allclose(s["v"], v_np, atol=1e-6)
    assert_on_grid(s["i"]) and assert_on_grid(s["v"])
    y, s = run_states(CuBaLI(N, alpha=0.5, beta=0.75, state_quant=GRID), x)
    np.testing.assert_allclose(y, leaky_np(np.stack(cur), beta=0.75)[1], atol=1e-6)


def test_many_bits_match_the_float_neuron_and_few_bits_do_not():
    x = np.random.default_rng(8).normal(0.3, 0.5, (T, B, N))
    spikes = {}
    for bits in (None, 16, 3):
        q = None if bits is None else FixedPoint(bits, -2.0, 2.0)
        spikes[bits] = run_states(LIF(N, beta=0.9, threshold=1.0, state_quant=q), x)[0]
    assert spikes[None].sum() > 0
    np.testing.assert_array_equal(spikes[16], spikes[None])
    assert not np.array_equal(spikes[3], spikes[None])


# --------------------------------------------------------------------------- gradients


def test_gradients_flow_through_run():
    r = nnx.Rngs(0)
    model = snnx.Sequential(
        nnx.Linear(4, 6, rngs=r, kernel_init=nnx.initializers.normal(1.0)),
        LIF(6, beta=0.9, threshold=0.5, state_quant=FixedPoint(4, -2.0, 2.0)),
        nnx.Linear(6, 3, rngs=r),
        LI(3, beta=0.8, state_quant=FixedPoint(6, -4.0, 4.0)),
    )
    x = jnp.asarray(np.random.default_rng(9).normal(0.5, 1.0, (8, 2, 4)), jnp.float32)
    grads = nnx.jit(nnx.grad(lambda m: jnp.sum(snnx.run(m, x)[0] ** 2)))(model)
    for leaf in jax.tree.leaves(grads):
        assert np.all(np.isfinite(leaf))
    for layer in (0, 2):
        assert np.any(np.asarray(grads.layers[layer].kernel[...]) != 0), layer


def test_li_input_gradient_is_the_float_one():
    """LI is linear, so with the straight-through Q: d sum_t v_t / d x_s = sum_{t >= s} beta^(t - s)."""
    x = jnp.asarray(dyadic((T, 1, 2), -1.0, 1.0, seed=10), jnp.float32)
    model = snnx.Sequential(LI(2, beta=0.75, state_quant=SMALL))
    g = jax.grad(lambda a: jnp.sum(snnx.run(model, a)[0]))(x)
    want = np.array([sum(0.75**k for k in range(T - s)) for s in range(T)])
    np.testing.assert_allclose(g[:, 0, 0], want, rtol=1e-6)
    np.testing.assert_allclose(g[:, 0, 1], want, rtol=1e-6)


# --------------------------------------------------------------------------- the plan


def test_plan_says_why_the_fused_kernel_is_not_used():
    x = jax.ShapeDtypeStruct((6, 2, 4), jnp.float32)
    assert plan(LIF(4, beta=0.9), x).steps[0].kind == "FusedNeuron"
    layers = {
        "LIF": LIF(4, state_quant=GRID),
        "IF": IF(4, state_quant=GRID),
        "LI": LI(4, state_quant=GRID),
        "RLIF": RLIF(4, rngs=nnx.Rngs(0), kernel_init=ZERO, state_quant=GRID),
    }
    for name, layer in layers.items():
        (step,) = plan(layer, x).steps
        assert not fusable(layer) and step.kind == "Scan", name
        why = f"not fused: {name} has {REFUSAL}"
        assert step.notes[0] == why, step.notes
        assert why in str(plan(layer, x))


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: FixedPoint(1, -1.0, 1.0), ValueError,
         r"`bits` of FixedPoint must be an int in \[2, 16\], got 1"),
        (lambda: FixedPoint(17, -1.0, 1.0), ValueError, r"`bits` .* in \[2, 16\], got 17"),
        (lambda: FixedPoint(8.0, -1.0, 1.0), TypeError, r"`bits` of FixedPoint must be an int .*got float"),
        (lambda: FixedPoint(True, -1.0, 1.0), TypeError, r"`bits` of FixedPoint .*got bool"),
        (lambda: FixedPoint(8, 1.0, 1.0), ValueError,
         r"`lo` of FixedPoint must be below `hi`, got lo=1.0, hi=1.0"),
        (lambda: FixedPoint(8, 0.0, -1.0), ValueError, r"`lo` of FixedPoint must be below `hi`"),
        (lambda: FixedPoint(8, 0.5, 2.0), ValueError,
         r"\[`lo`, `hi`\] of FixedPoint must contain 0 .*\[0.5, 2.0\]"),
        (lambda: FixedPoint(8, -2.0, -0.5), ValueError, r"must contain 0"),
        (lambda: FixedPoint(8, -np.inf, 1.0), ValueError, r"`lo` of FixedPoint must be finite, got -inf"),
        (lambda: FixedPoint(8, -1.0, np.nan), ValueError, r"`hi` of FixedPoint must be finite"),
        (lambda: FixedPoint(8, "-1", 1.0), TypeError, r"`lo` of FixedPoint must be a real number, got str"),
        (lambda: FixedPoint.from_dict({"bits": 8, "lo": -1.0}), ValueError,
         r"`d` must have exactly the keys \['bits', 'lo', 'hi'\], got \['bits', 'lo'\]"),
        (lambda: FixedPoint.from_dict([8, -1.0, 1.0]), TypeError, r"`d` must be a mapping"),
        (lambda: GRID("a"), TypeError, r"`v` must be a real numeric array, got str"),
        (lambda: GRID.to_int(jnp.ones(2, jnp.complex64)), TypeError,
         r"`v` .*got an array of dtype complex64"),
        (lambda: LIF(3, state_quant=8), TypeError,
         r"`state_quant` must be None or a snnx.neurons.FixedPoint\(bits, lo, hi\), got int"),
        (lambda: IF(3, state_quant=GRID.as_dict()), TypeError, r"`state_quant` .*got dict"),
        (lambda: LI(3, state_quant="int8"), TypeError, r"`state_quant` must be None or .*got str"),
        (lambda: RLIF(3, rngs=nnx.Rngs(0), state_quant=4), TypeError, r"`state_quant` .*got int"),
        (lambda: CuBaLIF(3, state_quant=4), TypeError, r"`state_quant` .*got int"),
        (lambda: CuBaLI(3, state_quant=4.0), TypeError, r"`state_quant` .*got float"),
        # lo=-1, hi=1, 3 bits: the top level is 6/7, and Q(1.0) = 6/7 too: the membrane never exceeds it
        (lambda: LIF(3, threshold=1.0, state_quant=FixedPoint(3, -1.0, 1.0)), ValueError,
         r"`threshold` \(max 1\) must round below the top level 0.857143 of `state_quant` "
         r"FixedPoint\(bits=3, lo=-1.0, hi=1.0\): .*raise `hi`"),
        (lambda: IF(3, threshold=[0.5, 9.0, 0.5], state_quant=GRID), ValueError, r"`threshold` \(max 9\)"),
    ],
)  # fmt: skip
def test_bad_input_names_the_field(make, error, match):
    with pytest.raises(error, match=match):
        make()
