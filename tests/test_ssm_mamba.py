"""Mamba (selective SSM) and MambaBlock: float64 numpy recurrences, step == parallel, engines, init, errors.

The references below step the equations of Gu & Dao (2023) in a Python loop in
float64 numpy, from the layers' parameters read out as arrays; the causal
convolution is written with explicit lags (``u_{t-j}``, zero before the first
step), not with the windows the layer uses. No expected number comes from the
layers' own output.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import snnx
from snnx.engine import Options
from snnx.ssm._mamba import Mamba, MambaBlock

T, B = 13, 2
DT = {"dt_min": 0.05, "dt_max": 0.5}  # larger steps than the default: the states move more in 13 steps


def f64(a) -> np.ndarray:
    return np.asarray(a, np.float64)


def softplus(a):
    return np.logaddexp(0.0, a)


def silu(a):
    return a / (1.0 + np.exp(-a))


def np_ssm_step(core: Mamba, x, h):
    """One step of the selective scan in float64; ``x`` (B, D), ``h`` (B, D, N)."""
    r, n = core.dt_rank, core.d_state
    p = x @ f64(core.x_proj[...])
    dt_low, b, c = p[:, :r], p[:, r : r + n], p[:, r + n :]
    delta = softplus(dt_low @ f64(core.dt_proj[...]) + f64(core.dt_bias[...]))
    a = -np.exp(f64(core.A_log[...]))
    h = np.exp(delta[:, :, None] * a) * h + delta[:, :, None] * b[:, None, :] * x[:, :, None]
    y = np.einsum("bdn,bn->bd", h, c) + f64(core.D[...]) * x
    return y, h


def np_ssm(core: Mamba, xs):
    h = np.zeros((xs.shape[1], core.d_inner, core.d_state))
    ys, hs = [], []
    for x in f64(xs):
        y, h = np_ssm_step(core, x, h)
        ys.append(y)
        hs.append(h)
    return np.stack(ys), np.stack(hs)


def np_block(blk: MambaBlock, xs):
    """The block in float64: in_proj, causal conv with explicit lags, SiLU, SSM, gate, out_proj."""
    k = blk.d_conv
    w, bias = f64(blk.conv_weight[...]), f64(blk.conv_bias[...])
    uz = f64(xs) @ f64(blk.in_proj[...])
    u, z = uz[..., : blk.d_inner], uz[..., blk.d_inner :]
    h = np.zeros((xs.shape[1], blk.d_inner, blk.d_state))
    outs, hs, convs = [], [], []
    for t in range(xs.shape[0]):
        # c_t = bias + sum_j w[K-1-j] * u_{t-j}, u_s = 0 for s < 0
        c = bias + sum(w[k - 1 - j] * u[t - j] for j in range(k) if t - j >= 0)
        y, h = np_ssm_step(blk.mamba, silu(c), h)
        outs.append((y * silu(z[t])) @ f64(blk.out_proj[...]))
        hs.append(h)
        convs.append(np.stack([u[s] if s >= 0 else np.zeros_like(u[0]) for s in range(t - k + 2, t + 1)], -2))
    return np.stack(outs), np.stack(hs), np.stack(convs)


def close(a, b, rtol=1e-5, atol=1e-6, msg=""):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=atol,
                               err_msg=msg)


def normal(seed: int, shape) -> jax.Array:
    return jnp.asarray(np.random.default_rng(seed).normal(0.0, 1.0, shape), jnp.float32)


@pytest.fixture(scope="module")
def chain():
    """A MambaBlock then a Mamba core in a Sequential, and one ``nnx.jit``-ed function (compiled once)
    that runs it with ``Options(parallel=True)`` (with gradients) and ``Options(parallel=False)``."""
    r = nnx.Rngs(0)
    model = snnx.Sequential(MambaBlock(4, d_state=3, d_conv=3, expand=2, rngs=r, **DT),
                            Mamba(4, d_state=2, dt_rank=2, rngs=r, **DT))
    target = normal(1, (T, B, 4))

    @nnx.jit
    def both(m, xs):
        def loss(m):
            y, states = snnx.run(m, xs, options=Options(parallel=True), return_states=True)
            return jnp.mean((y - target) ** 2), (y, states)

        (_, parallel), grads = nnx.value_and_grad(loss, has_aux=True)(m)
        step = snnx.run(m, xs, options=Options(parallel=False), return_states=True)
        blk = m.layers[0]  # no batch axis: one step from init_state()
        return {"parallel": parallel, "step": step, "grads": grads,
                "unbatched": blk(xs[0, 0], blk.init_state())[0]}

    xs = 2.0 * normal(0, (T, B, 4))
    return model, both, xs, both(model, xs)


def test_plan_runs_both_layers_by_associative_scan(chain):
    model, _, xs, _ = chain
    kinds = [s.kind for s in snnx.engine.plan(model, xs, options=Options(parallel=True)).steps]
    assert kinds == ["Parallel", "Parallel"]
    assert [s.kind for s in snnx.engine.plan(model, xs).steps] == ["Scan", "Scan"]


def test_step_matches_numpy_recurrence(chain):
    model, _, xs, res = chain
    blk, core = model.layers
    assert (blk.d_inner, blk.mamba.dt_rank, core.dt_rank) == (8, 1, 2)
    out_ref, h_ref, conv_ref = np_block(blk, xs)
    y_ref, h2_ref = np_ssm(core, out_ref)
    assert np.abs(h_ref).max() > 0.05 and np.abs(h2_ref).max() > 0.05  # well above the tolerances
    y, states = res["step"]
    assert states[0]["conv"].shape == (T, B, 2, 8) and states[0]["h"].shape == (T, B, 8, 3)
    close(y, y_ref, msg="output")
    close(states[0]["conv"], conv_ref, msg="block conv window")
    close(states[0]["h"], h_ref, msg="block SSM state")
    close(states[1]["h"], h2_ref, msg="core SSM state")
    close(res["unbatched"], out_ref[0, 0], msg="one unbatched step")


def test_parallel_equals_step(chain):
    _, _, _, res = chain
    assert res["parallel"][1][1]["h"].shape == (T, B, 4, 2)
    for a, b in zip(jax.tree.leaves(res["parallel"]), jax.tree.leaves(res["step"]), strict=True):
        close(a, b, msg="parallel=True vs parallel=False")


def test_gradients_reach_every_parameter(chain):
    flat = dict(nnx.to_flat_state(chain[3]["grads"]))
    core = {"x_proj", "dt_proj", "dt_bias", "A_log", "D"}
    names = {f"layers.0.{n}" for n in ("in_proj", "out_proj", "conv_weight", "conv_bias")}
    names |= {f"layers.0.mamba.{n}" for n in core} | {f"layers.1.{n}" for n in core}
    assert {".".join(map(str, k)) for k in flat} == names  # every parameter, nothing else
    for key, g in flat.items():
        g = np.asarray(g[...])
        assert np.all(np.isfinite(g)) and np.abs(g).max() > 0, key


def test_causal_on_both_paths(chain):
    model, both, xs, res = chain
    later = xs.at[7:].set(2.0 * normal(3, (T - 7, B, 4)))  # a different future from step 7 on
    res2 = both(model, later)  # the same compiled function
    for name in ("parallel", "step"):
        old, new = np.asarray(res[name][0]), np.asarray(res2[name][0])
        np.testing.assert_array_equal(old[:7], new[:7], err_msg=name)
        assert np.all(np.abs(old[7:] - new[7:]).reshape(T - 7, -1).max(axis=1) > 0), name


def test_initialisation_as_in_the_paper():
    core = Mamba(20, d_state=5, rngs=nnx.Rngs(4))  # dt_min 1e-3, dt_max 1e-1
    assert core.dt_rank == math.ceil(20 / 16) == 2
    a = -np.exp(f64(core.A_log[...]))
    np.testing.assert_allclose(a, -np.broadcast_to(np.arange(1, 6), (20, 5)), rtol=1e-6)  # S4D-real
    assert np.all(a < 0)
    np.testing.assert_array_equal(core.D[...], np.ones(20))
    dt = softplus(f64(core.dt_bias[...]))
    assert np.all(dt >= 1e-3 * (1 - 1e-5)) and np.all(dt <= 1e-1 * (1 + 1e-5))
    assert dt.min() < 1e-2 < dt.max()  # log-uniform: both decades occupied
    assert np.abs(f64(core.dt_proj[...])).max() <= 2**-0.5
    # dt_floor lifts every initial step size below it: softplus(dt_bias) = max(dt, dt_floor)
    floored = Mamba(20, d_state=5, dt_min=1e-4, dt_max=1e-3, dt_floor=5e-4, rngs=nnx.Rngs(0))
    floored = softplus(f64(floored.dt_bias[...]))
    assert np.all(floored >= 5e-4 * (1 - 1e-5)) and np.isclose(floored.min(), 5e-4, rtol=1e-4)
    assert floored.max() > 5e-4 * 1.01
    blk = MambaBlock(6, rngs=nnx.Rngs(5))  # d_state 16, d_conv 4, expand 2
    assert (blk.d_inner, blk.mamba.dt_rank, blk.conv_weight.shape) == (12, 1, (4, 12))
    assert np.abs(f64(blk.conv_weight[...])).max() <= 0.5  # 1 / sqrt(d_conv)
    assert np.abs(f64(blk.in_proj[...])).max() <= 6**-0.5 and np.abs(f64(blk.out_proj[...])).max() <= 12**-0.5
    assert np.abs(f64(blk.in_proj[...])).max() > 0.8 * 6**-0.5  # uniform over the range, not a constant
    shapes = jax.tree.map(jnp.shape, blk.init_state((2, 3)))
    assert shapes == {"conv": (2, 3, 3, 12), "h": (2, 3, 12, 16)}
    # parameters only (no RNG streams, batch statistics, ...): the layer-major engine may run it
    _, _, rest = nnx.split(blk, nnx.Param, ...)
    assert jax.tree.leaves(rest) == []


def _rngs():
    return nnx.Rngs(0)


BAD_CONSTRUCTORS = [
    (lambda: Mamba(0, rngs=_rngs()), ValueError, r"`d_inner` must be a positive int, got 0"),
    (lambda: Mamba(4, d_state=-1, rngs=_rngs()), ValueError, r"`d_state` must be a positive int, got -1"),
    (lambda: Mamba(4, dt_rank=0, rngs=_rngs()), ValueError, r"`dt_rank` must be a positive int, got 0"),
    (lambda: Mamba(4.0, rngs=_rngs()), ValueError, r"`d_inner` must be a positive int, got 4.0"),
    (lambda: Mamba(4, dt_min=0.0, rngs=_rngs()), ValueError, r"`dt_min` must be a positive number"),
    (lambda: Mamba(4, dt_max=-1.0, rngs=_rngs()), ValueError, r"`dt_max` must be a positive number"),
    (lambda: Mamba(4, dt_floor=float("nan"), rngs=_rngs()), ValueError, r"`dt_floor` must be a positive"),
    (lambda: Mamba(4, dt_min=0.2, dt_max=0.1, rngs=_rngs()), ValueError,
     r"`dt_min` \(=0.2\) must not exceed `dt_max` \(=0.1\)"),
    (lambda: Mamba(4, rngs=0), TypeError, r"`rngs` must be an nnx.Rngs .*, got int"),
    (lambda: MambaBlock(0, rngs=_rngs()), ValueError, r"`d_model` must be a positive int, got 0"),
    (lambda: MambaBlock(4, d_state=0, rngs=_rngs()), ValueError, r"`d_state` must be a positive int, got 0"),
    (lambda: MambaBlock(4, d_conv=0, rngs=_rngs()), ValueError, r"`d_conv` must be a positive int, got 0"),
    (lambda: MambaBlock(4, expand=True, rngs=_rngs()), ValueError,
     r"`expand` must be a positive int, got True"),
    (lambda: MambaBlock(4, dt_min=1.0, rngs=_rngs()), ValueError, r"`dt_min` \(=1.0\) must not exceed"),
    (lambda: MambaBlock(4, rngs=None), TypeError, r"`rngs` must be an nnx.Rngs .*, got NoneType"),
]


@pytest.mark.parametrize(("make", "error", "match"), BAD_CONSTRUCTORS)
def test_bad_constructor_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_bad_inputs_and_states(chain):
    blk, core = chain[0].layers  # MambaBlock(4, d_state=3, d_conv=3), Mamba(4, d_state=2)
    with pytest.raises(ValueError, match=r"`x` must have shape \(\*batch, 4\), got \(2, 5\)"):
        core(jnp.ones((2, 5)), core.init_state(2))
    with pytest.raises(ValueError, match=r"`x` must have shape \(\*batch, 4\), got \(2, 3\)"):
        blk(jnp.ones((2, 3)), blk.init_state(2))
    with pytest.raises(ValueError, match=r"`x` must have shape \(\*batch, 4\), got \(5, 2, 3\)"):
        core.parallel(jnp.ones((5, 2, 3)))
    time_first = r"`x` must have shape \(T, \*batch, 4\) with time first, got \(4,\)"
    with pytest.raises(ValueError, match=time_first):
        blk.parallel(jnp.ones(4))
    with pytest.raises(TypeError, match=r"`x` must be a real array, got dtype complex64"):
        core(jnp.ones((2, 4), jnp.complex64), core.init_state(2))
    with pytest.raises(ValueError, match=r"`state` must be a dict with keys \['conv', 'h'\] .*got \['h'\]"):
        blk(jnp.ones((2, 4)), core.init_state(2))
    with pytest.raises(ValueError, match=r"`state\['h'\]` must have shape \(2, 4, 2\) for `x` of shape "
                       r"\(2, 4\) \(from Mamba.init_state\), got \(4, 2\)"):
        core(jnp.ones((2, 4)), core.init_state())
    with pytest.raises(ValueError, match=r"`batch_shape` must be a positive int"):
        core.init_state(-1)
