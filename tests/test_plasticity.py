"""snnx.plasticity: STDP and reward-modulated STDP against numpy references written here.

Two independent references: an all-pairs sum over spike times (the STDP window summed over every
pre/post pair, no traces at all) and a plain numpy loop over steps and samples of the trace
equations in docs/plasticity.md. Peers: Norse 1.1 ``stdp_step_linear`` and snnTorch 1.0
``stdp_linear_single_step``, saved by tests/data/peers/make_stdp_norse.py (README_stdp.md).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import snnx
from snnx.plasticity import RSTDP, STDP, train_stdp

PEERS = Path(__file__).resolve().parent / "data" / "peers" / "stdp_norse.npz"


def trains(seed, t=20, b=3, n_pre=5, n_post=4, p_pre=0.3, p_post=0.3):
    rng = np.random.default_rng(seed)
    pre = (rng.random((t, b, n_pre)) < p_pre).astype(np.float32)
    post = (rng.random((t, b, n_post)) < p_post).astype(np.float32)
    return pre, post


def all_pairs(pre, post, decay_pre, decay_post, a_plus, a_minus):
    """Sum of the STDP window over every (pre spike, post spike) pair of each sample: ``(n_pre, n_post)``
    potentiation and depression, before amplitudes' soft factors and batch reduction."""
    b_len, n_pre = pre.shape[1:]
    n_post = post.shape[2]
    pot, dep = np.zeros((n_pre, n_post)), np.zeros((n_pre, n_post))
    for b in range(b_len):
        for i in range(n_pre):
            for j in range(n_post):
                for tp in np.flatnonzero(pre[:, b, i]):
                    for tq in np.flatnonzero(post[:, b, j]):
                        if tq >= tp:
                            pot[i, j] += a_plus * decay_pre ** (tq - tp)
                        else:
                            dep[i, j] += a_minus * decay_post ** (tp - tq)
    return pot, dep


def np_loop(pre, post, w0, *, decay_pre, decay_post, a_plus, a_minus, w_min=None, w_max=None,
            bounds="hard", reduce="sum", online=True, decay_e=None, lr=1.0, reward=None):  # fmt: skip
    """The trace equations step by step, sample by sample. ``online``: w += dw every step.
    With ``decay_e`` the rule is R-STDP (``reward`` of shape (T, B)). Returns (w after every step, dws)."""
    t_len, b_len, n_pre = pre.shape
    n_post = post.shape[2]
    x_pre, x_post = np.zeros((b_len, n_pre)), np.zeros((b_len, n_post))
    e = np.zeros((b_len, n_pre, n_post))
    w = np.array(w0, np.float64)
    ws, dws = [], []
    for t in range(t_len):
        fp, fm = (w_max - w, w - w_min) if bounds == "soft" else (1.0, 1.0)
        dw = np.zeros_like(w)
        for b in range(b_len):
            x_pre[b] = decay_pre * x_pre[b] + pre[t, b]
            before = decay_post * x_post[b]
            term = a_plus * fp * np.outer(x_pre[b], post[t, b]) - a_minus * fm * np.outer(pre[t, b], before)
            x_post[b] = before + post[t, b]
            if decay_e is None:
                dw += term
            else:
                e[b] = decay_e * e[b] + term
                dw += lr * reward[t, b] * e[b]
        if reduce == "mean":
            dw /= b_len
        if bounds == "hard" and (w_min is not None or w_max is not None):
            lo = -np.inf if w_min is None else w_min
            hi = np.inf if w_max is None else w_max
            dw = np.clip(w + dw, lo, hi) - w
        dws.append(dw)
        if online:
            w = w + dw
        ws.append(w.copy())
    return np.stack(ws), np.stack(dws)


@functools.partial(jax.jit, static_argnames="online")
def _scan(rule, pre, post, w0, reward, online):
    def body(carry, inputs):
        state, w = carry
        if reward is None:
            state, dw = rule.step(state, inputs[0], inputs[1], w)
        else:
            state, dw = rule.step(state, inputs[0], inputs[1], w, inputs[2])
        w = w + dw if online else w
        return (state, w), (w, dw)

    state = rule.init_state(pre.shape[1], pre.shape[2], post.shape[2])
    xs = (pre, post) if reward is None else (pre, post, reward)
    _, (ws, dws) = jax.lax.scan(body, (state, w0), xs)
    return ws, dws


def scan_steps(rule, pre, post, w0, reward=None, online=True):
    """Our rule.step scanned over time (compiled once per rule and shapes); returns the weights after
    every step and every step's change."""
    pre, post, w0 = (jnp.asarray(a, jnp.float32) for a in (pre, post, w0))
    return _scan(
        rule, pre, post, w0, None if reward is None else jnp.asarray(reward, jnp.float32), bool(online)
    )


from_recording = jax.jit(lambda rule, *args: rule.from_recording(*args))  # rules are static pytrees


# -- the window --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("t0", "t1"), [(2, 7), (5, 5), (8, 1), (6, 5), (0, 11)])
@pytest.mark.parametrize(
    ("decay_pre", "decay_post", "a_plus", "a_minus"), [(0.8, 0.6, 0.05, 0.03), (0.5, 0.9, 1.0, 2.0)]
)
def test_single_pair_gives_the_closed_form_window(t0, t1, decay_pre, decay_post, a_plus, a_minus):
    pre, post = np.zeros((12, 1, 1), np.float32), np.zeros((12, 1, 1), np.float32)
    pre[t0], post[t1] = 1.0, 1.0
    expected = a_plus * decay_pre ** (t1 - t0) if t1 >= t0 else -a_minus * decay_post ** (t0 - t1)
    rule = STDP(decay_pre=decay_pre, decay_post=decay_post, a_plus=a_plus, a_minus=a_minus)
    w = jnp.zeros((1, 1))
    np.testing.assert_allclose(from_recording(rule, pre, post, w)[0, 0], expected, rtol=1e-6)
    _, dws = scan_steps(rule, pre, post, w, online=False)
    np.testing.assert_allclose(dws.sum(0)[0, 0], expected, rtol=1e-6)
    # the change arrives at the later of the two spikes
    assert int(np.flatnonzero(np.asarray(dws)[:, 0, 0])[0]) == max(t0, t1)


# -- STDP against the references ----------------------------------------------------------------------

PARAMS = [
    dict(decay_pre=0.9, decay_post=0.9, a_plus=0.01, a_minus=0.012),
    dict(decay_pre=0.5, decay_post=0.8, a_plus=0.3, a_minus=0.1),
    dict(decay_pre=0.0, decay_post=0.95, a_plus=0.02, a_minus=0.0),
]


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_from_recording_equals_the_sum_over_all_spike_pairs(params, reduce):
    pre, post = trains(1)
    w = np.random.default_rng(2).uniform(-1, 1, (5, 4)).astype(np.float32)
    pot, dep = all_pairs(pre, post, **params)
    expected = (pot - dep) / (pre.shape[1] if reduce == "mean" else 1)
    rule = STDP(**params, batch_reduce=reduce)
    np.testing.assert_allclose(rule.from_recording(pre, post, w), expected, rtol=1e-5, atol=1e-6)
    _, dws = scan_steps(rule, pre, post, w, online=False)  # the step path, w fixed
    np.testing.assert_allclose(dws.sum(0), expected, rtol=1e-5, atol=1e-6)


def test_from_recording_with_fixed_weights_soft_and_hard_bounds():
    pre, post = trains(3, p_pre=0.5, p_post=0.5)
    w = np.random.default_rng(4).uniform(0.1, 0.9, (5, 4)).astype(np.float32)
    params = dict(decay_pre=0.7, decay_post=0.6, a_plus=0.04, a_minus=0.1)
    pot, dep = all_pairs(pre, post, **params)
    soft = STDP(**params, w_min=0.0, w_max=1.0, bounds="soft").from_recording(pre, post, w)
    np.testing.assert_allclose(soft, (1.0 - w) * pot - (w - 0.0) * dep, rtol=1e-5, atol=1e-6)
    hard = STDP(**params, w_min=0.2, w_max=0.8).from_recording(pre, post, w)
    np.testing.assert_allclose(hard, np.clip(w + pot - dep, 0.2, 0.8) - w, rtol=1e-5, atol=1e-6)
    assert np.any(w + pot - dep < 0.2) and np.any(w + pot - dep > 0.8)  # both bounds bite
    only_max = STDP(**params, w_max=0.6).from_recording(pre, post, w)
    np.testing.assert_allclose(only_max, np.minimum(w + pot - dep, 0.6) - w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("bounds", "w_min", "w_max", "reduce"),
    [("hard", None, None, "sum"), ("hard", 0.0, 1.0, "sum"), ("soft", 0.0, 1.0, "sum"),
     ("soft", -0.5, 0.5, "mean"), ("hard", -0.2, None, "mean")],
)  # fmt: skip
def test_online_steps_match_the_numpy_loop(bounds, w_min, w_max, reduce):
    pre, post = trains(5, t=25, p_pre=0.4, p_post=0.35)
    lo, hi = (w_min if w_min is not None else -0.5), (w_max if w_max is not None else 0.5)
    w0 = np.random.default_rng(6).uniform(lo, hi, (5, 4)).astype(np.float32)
    params = dict(decay_pre=0.8, decay_post=0.7, a_plus=0.06, a_minus=0.12)
    rule = STDP(**params, w_min=w_min, w_max=w_max, bounds=bounds, batch_reduce=reduce)
    ws, _ = scan_steps(rule, pre, post, w0)
    ref, _ = np_loop(pre, post, w0, **params, w_min=w_min, w_max=w_max, bounds=bounds, reduce=reduce)
    np.testing.assert_allclose(ws, ref, rtol=1e-5, atol=1e-6)
    if bounds == "hard" and w_min is not None:
        assert ws.min() >= w_min - 1e-7 and np.any(np.isclose(ws, w_min))  # the lower bound bites


def test_same_step_pair_potentiates_only():
    rule = STDP(decay_pre=0.5, decay_post=0.5, a_plus=0.1, a_minus=0.3)
    state = rule.init_state(1, 1, 1)
    state, dw = rule.step(state, jnp.ones((1, 1)), jnp.ones((1, 1)), jnp.zeros((1, 1)))
    np.testing.assert_allclose(dw, [[0.1]])
    np.testing.assert_allclose(state["x_pre"], [[1.0]])
    np.testing.assert_allclose(state["x_post"], [[1.0]])
    state, dw = rule.step(state, jnp.ones((1, 1)), jnp.zeros((1, 1)), jnp.zeros((1, 1)))
    np.testing.assert_allclose(dw, [[-0.3 * 0.5]])  # the post spike one step back depresses


# -- reward-modulated STDP -------------------------------------------------------------------------------


@pytest.mark.parametrize("reward_kind", ["scalar", "per_sample"])
@pytest.mark.parametrize(("bounds", "reduce"), [("hard", "sum"), ("soft", "mean")])
def test_rstdp_steps_match_the_numpy_loop(reward_kind, bounds, reduce):
    pre, post = trains(7, t=18, p_pre=0.4, p_post=0.4)
    rng = np.random.default_rng(8)
    reward = rng.normal(size=(18,) if reward_kind == "scalar" else (18, 3)).astype(np.float32)
    w0 = rng.uniform(0.2, 0.8, (5, 4)).astype(np.float32)
    params = dict(decay_pre=0.75, decay_post=0.85, a_plus=1.0, a_minus=1.2)
    rule = RSTDP(**params, decay_e=0.8, lr=0.02, w_min=0.0, w_max=1.0, bounds=bounds, batch_reduce=reduce)
    ws, _ = scan_steps(rule, pre, post, w0, reward=jnp.asarray(reward))
    full = np.broadcast_to(reward[:, None] if reward.ndim == 1 else reward, (18, 3))
    ref, _ = np_loop(pre, post, w0, **params, w_min=0.0, w_max=1.0, bounds=bounds, reduce=reduce,
                     decay_e=0.8, lr=0.02, reward=full)  # fmt: skip
    np.testing.assert_allclose(ws, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(16,), (16, 3)])
def test_rstdp_from_recording_equals_the_summed_steps(shape):
    pre, post = trains(9, t=16)
    rng = np.random.default_rng(10)
    reward = rng.normal(size=shape).astype(np.float32)
    w = rng.uniform(0.0, 1.0, (5, 4)).astype(np.float32)
    full = np.broadcast_to(reward[:, None] if reward.ndim == 1 else reward, (16, 3))
    for bounds in ("soft", "hard"):
        rule = RSTDP(decay_pre=0.6, decay_post=0.9, decay_e=0.7, a_plus=0.5, a_minus=0.4, lr=0.1, w_min=0.0,
                     w_max=1.0, bounds=bounds)  # fmt: skip
        _, dws = np_loop(pre, post, w, decay_pre=0.6, decay_post=0.9, a_plus=0.5, a_minus=0.4, w_min=0.0,
                         w_max=1.0, bounds="soft" if bounds == "soft" else "none", online=False, decay_e=0.7,
                         lr=0.1, reward=full)  # fmt: skip
        expected = dws.sum(0) if bounds == "soft" else np.clip(w + dws.sum(0), 0.0, 1.0) - w
        np.testing.assert_allclose(rule.from_recording(pre, post, w, reward), expected, rtol=1e-5, atol=1e-6)


def test_rstdp_reward_at_the_end_uses_the_final_eligibility():
    pre, post = trains(11, t=15)
    outcome = np.array([1.0, -0.5, 2.0], np.float32)
    reward = np.zeros((15, 3), np.float32)
    reward[-1] = outcome
    rule = RSTDP(decay_pre=0.8, decay_post=0.8, decay_e=0.9, a_plus=1.0, a_minus=1.0, lr=0.05)
    # the eligibility left at the end, by the numpy loop: with decay_e = 0.9, lr = 1 and a reward of 1
    # for sample b only at the last step, the loop's last dw is e_T[b]
    e_final = []
    for b in range(3):
        one = np.zeros((15, 3))
        one[-1, b] = 1.0
        _, dws = np_loop(pre, post, np.zeros((5, 4)), decay_pre=0.8, decay_post=0.8, a_plus=1.0, a_minus=1.0,
                         bounds="none", online=False, decay_e=0.9, lr=1.0, reward=one)  # fmt: skip
        e_final.append(dws[-1])
    expected = 0.05 * np.einsum("b,bij->ij", outcome, np.stack(e_final))
    got = from_recording(rule, pre, post, jnp.zeros((5, 4)), reward)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    # with decay_e = 0 the eligibility is the last step's pairings only: the all-pairs difference
    pot, dep = all_pairs(pre, post, 0.8, 0.8, 1.0, 1.0)
    pot0, dep0 = all_pairs(pre[:-1], post[:-1], 0.8, 0.8, 1.0, 1.0)
    last = RSTDP(decay_pre=0.8, decay_post=0.8, decay_e=0.0, a_plus=1.0, a_minus=1.0, lr=1.0)
    ones = np.zeros((15,), np.float32)
    ones[-1] = 1.0
    np.testing.assert_allclose(
        from_recording(last, pre, post, jnp.zeros((5, 4)), ones),
        (pot - dep) - (pot0 - dep0),
        rtol=1e-5,
        atol=1e-6,
    )


def test_rstdp_with_unit_reward_and_no_eligibility_memory_is_stdp():
    pre, post = trains(12)
    w = np.random.default_rng(13).uniform(0, 1, (5, 4)).astype(np.float32)
    kw = dict(decay_pre=0.7, decay_post=0.8, a_plus=0.3, a_minus=0.2, w_min=0.0, w_max=1.0, bounds="soft")
    r = RSTDP(**kw, decay_e=0.0, lr=0.5).from_recording(pre, post, w, np.ones(20, np.float32))
    np.testing.assert_allclose(r, 0.5 * STDP(**kw).from_recording(pre, post, w), rtol=1e-5, atol=1e-7)


# -- jit ----------------------------------------------------------------------------------------------


def test_step_and_from_recording_under_jit_equal_eager():
    pre, post = trains(14)
    w = jnp.asarray(np.random.default_rng(15).uniform(0, 1, (5, 4)), jnp.float32)
    rule = STDP(a_plus=0.05, a_minus=0.04, w_min=0.0, w_max=1.0, bounds="soft")
    jitted = jax.jit(lambda r, a, b, c: r.from_recording(a, b, c))  # the rule is a (static) argument
    np.testing.assert_allclose(
        jitted(rule, pre, post, w), rule.from_recording(pre, post, w), rtol=1e-6, atol=1e-8
    )
    state = rule.init_state(3, 5, 4)
    s1, d1 = jax.jit(rule.step)(state, pre[0], post[0], w)
    s2, d2 = rule.step(state, pre[0], post[0], w)
    np.testing.assert_allclose(d1, d2, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(s1["x_pre"], s2["x_pre"])
    rr = RSTDP(decay_e=0.8)
    reward = jnp.linspace(-1, 1, 20)
    np.testing.assert_allclose(jax.jit(rr.from_recording)(pre, post, w, reward),
                               rr.from_recording(pre, post, w, reward), rtol=1e-6, atol=1e-8)  # fmt: skip
    assert hash(STDP(a_plus=0.05)) == hash(STDP(a_plus=0.05)) and STDP(a_plus=0.05) != STDP(a_plus=0.06)


# -- train_stdp: Linear + LIF + rule in one loop ----------------------------------------------------------


def np_lif_stdp(x, k0, bias, beta, thr, params, online=True):
    """numpy: v = beta v + x_t @ K + b; z = v > thr; v = 0 where z; then the STDP step on (x_t, z)."""
    t_len, b_len, _ = x.shape
    v = np.zeros((b_len, k0.shape[1]))
    k = np.array(k0, np.float64)
    zs = []
    xp, xq = np.zeros((b_len, k0.shape[0])), np.zeros((b_len, k0.shape[1]))
    for t in range(t_len):
        v = beta * v + x[t] @ k + bias
        z = (v > thr).astype(np.float64)
        v = v * (1 - z)
        zs.append(z)
        xp = params["decay_pre"] * xp + x[t]
        before = params["decay_post"] * xq
        dw = params["a_plus"] * xp.T @ z - params["a_minus"] * x[t].T @ before
        xq = before + z
        if online:
            k = np.clip(k + dw, 0.0, 1.0)
    return np.stack(zs), k


def test_train_stdp_online_matches_numpy_and_writes_the_kernel():
    rng = np.random.default_rng(16)
    x = (rng.random((30, 2, 8)) < 0.4).astype(np.float32)
    layer = nnx.Linear(8, 5, rngs=nnx.Rngs(0))
    k0 = rng.uniform(0.0, 0.6, (8, 5)).astype(np.float32)
    layer.kernel[...] = jnp.asarray(k0)
    layer.bias[...] = jnp.full((5,), 0.05)
    lif = snnx.LIF(5, beta=0.8, threshold=1.0)
    params = dict(decay_pre=0.8, decay_post=0.7, a_plus=0.02, a_minus=0.025)
    rule = STDP(**params, w_min=0.0, w_max=1.0)
    spikes, dw = nnx.jit(train_stdp)(layer, lif, rule, x)
    z_ref, k_ref = np_lif_stdp(x, k0, 0.05, 0.8, 1.0, params)
    assert spikes.shape == (30, 2, 5) and 0 < float(spikes.sum()) < spikes.size
    np.testing.assert_array_equal(spikes, z_ref)
    np.testing.assert_allclose(layer.kernel[...], k_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dw, k_ref - k0, rtol=1e-5, atol=1e-6)


def test_train_stdp_end_update_equals_run_then_from_recording():
    rng = np.random.default_rng(17)
    x = jnp.asarray((rng.random((20, 3, 6)) < 0.5).astype(np.float32))
    layer = nnx.Linear(6, 4, rngs=nnx.Rngs(1))
    lif = snnx.LIF(4, beta=0.9, threshold=0.5)
    k0 = layer.kernel[...]
    expected_spikes, _, rec = snnx.run(snnx.Sequential(layer, lif), x, record="spikes", engine="step")
    reward = jnp.asarray(rng.normal(size=(20, 3)), jnp.float32)
    for rule, extra in ((STDP(a_plus=0.01, a_minus=0.02), {}), (RSTDP(decay_e=0.8), {"reward": reward})):
        layer.kernel[...] = k0
        spikes, dw = train_stdp(layer, lif, rule, x, update="end", **extra)
        np.testing.assert_array_equal(spikes, expected_spikes)
        expected = rule.from_recording(x, rec.outputs["1"], k0, *extra.values())
        np.testing.assert_allclose(dw, expected, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(layer.kernel[...], k0 + expected, rtol=1e-6, atol=1e-7)


def test_train_stdp_rstdp_online_matches_scanned_steps_and_jit():
    rng = np.random.default_rng(18)
    x = jnp.asarray((rng.random((15, 2, 6)) < 0.5).astype(np.float32))
    reward = jnp.asarray(rng.normal(size=(15,)), jnp.float32)
    rule = RSTDP(decay_e=0.9, lr=0.05, w_min=-1.0, w_max=1.0, bounds="soft")
    layer = nnx.Linear(6, 3, rngs=nnx.Rngs(2))
    lif = snnx.LIF(3, beta=0.9, threshold=0.3)
    k0 = layer.kernel[...]
    spikes, dw = nnx.jit(train_stdp)(layer, lif, rule, x, reward=reward)
    np.testing.assert_allclose(layer.kernel[...], k0 + dw, rtol=1e-6, atol=1e-7)
    assert 0 < float(spikes.sum()) < spikes.size
    # given the spikes it produced, the weights follow the rule's own online steps
    ws, _ = scan_steps(rule, x, spikes, k0, reward=jnp.broadcast_to(reward[:, None], (15, 2)))
    np.testing.assert_allclose(ws[-1], k0 + dw, rtol=1e-5, atol=1e-6)
    assert float(jnp.abs(dw).max()) > 0


# -- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(decay_pre=1.0), r"`decay_pre` must lie in \[0, 1\).*1\.0"),
        (dict(decay_post=-0.1), r"`decay_post` must lie in \[0, 1\)"),
        (dict(decay_pre="0.9"), r"`decay_pre` must be a real number.*str"),
        (dict(a_plus=-0.01), r"`a_plus` must be a finite number >= 0, got -0.01"),
        (dict(a_minus=float("nan")), r"`a_minus` must be a finite number >= 0"),
        (dict(bounds="soft", w_min=0.0), r"bounds='soft'.*needs both `w_min` and `w_max`.*w_max=None"),
        (dict(w_min=1.0, w_max=0.5), r"`w_min` \(=1.0\) must be below `w_max` \(=0.5\)"),
        (dict(bounds="clip"), r"`bounds` must be one of \['hard', 'soft'\], got 'clip'"),
        (dict(batch_reduce="max"), r"`batch_reduce` must be one of \['sum', 'mean'\]"),
    ],
)
def test_bad_options_are_refused(kwargs, match):
    with pytest.raises(ValueError if "str" not in match else TypeError, match=match):
        STDP(**kwargs)


def test_bad_rstdp_options_are_refused():
    with pytest.raises(snnx.OptionError, match=r"`decay_e` must lie in \[0, 1\)"):
        RSTDP(decay_e=1.5)
    with pytest.raises(snnx.OptionError, match=r"`lr` must be a finite number >= 0, got -1"):
        RSTDP(lr=-1)


def test_shape_errors_name_the_argument_and_both_shapes():
    rule = STDP()
    w = jnp.zeros((4, 3))
    state = rule.init_state(2, 4, 3)
    with pytest.raises(snnx.ShapeError, match=r"`s_pre` must have shape \(B, n_pre=4\) to match `w` of shape "
                                              r"\(4, 3\) \(n_pre, n_post\), got \(2, 5\)"):  # fmt: skip
        rule.step(state, jnp.zeros((2, 5)), jnp.zeros((2, 3)), w)
    with pytest.raises(
        snnx.ShapeError, match=r"`s_post` must have shape \(B, n_post=3\).*\(4, 3\).*got \(2, 4\)"
    ):
        rule.step(state, jnp.zeros((2, 4)), jnp.zeros((2, 4)), w)
    with pytest.raises(snnx.ShapeError, match=r"`s_pre` and `s_post` must share.*\(2, 4\) and \(3, 3\)"):
        rule.step(state, jnp.zeros((2, 4)), jnp.zeros((3, 3)), w)
    with pytest.raises(snnx.ShapeError, match=r"`state\['x_pre'\]` must have shape \(3, 4\).*got \(2, 4\)"):
        rule.step(state, jnp.zeros((3, 4)), jnp.zeros((3, 3)), w)
    with pytest.raises(ValueError, match=r"`state` must be a dict with keys \['x_post', 'x_pre'\]"):
        rule.step({"x_pre": state["x_pre"]}, jnp.zeros((2, 4)), jnp.zeros((2, 3)), w)
    with pytest.raises(snnx.ShapeError, match=r"`w` must have shape \(n_pre, n_post\).*got \(12,\)"):
        rule.from_recording(jnp.zeros((5, 2, 4)), jnp.zeros((5, 2, 3)), jnp.zeros(12))
    with pytest.raises(
        snnx.ShapeError, match=r"`post_spikes` must have shape \(T, B, n_post=3\).*got \(5, 3\)"
    ):
        rule.from_recording(jnp.zeros((5, 2, 4)), jnp.zeros((5, 3)), w)
    with pytest.raises(
        snnx.ShapeError, match=r"`pre_spikes` and `post_spikes` must share their leading \(T, B\)"
    ):
        rule.from_recording(jnp.zeros((5, 2, 4)), jnp.zeros((6, 2, 3)), w)
    rr = RSTDP()
    with pytest.raises(
        snnx.ShapeError, match=r"`reward` must be a scalar or \(B,\) = \(2,\), got shape \(3,\)"
    ):
        rr.step(rr.init_state(2, 4, 3), jnp.zeros((2, 4)), jnp.zeros((2, 3)), w, jnp.zeros(3))
    with pytest.raises(
        snnx.ShapeError, match=r"`reward` must be \(T,\) = \(5,\) or \(T, B\) = \(5, 2\), got shape \(\)"
    ):
        rr.from_recording(jnp.zeros((5, 2, 4)), jnp.zeros((5, 2, 3)), w, 1.0)
    with pytest.raises(snnx.OptionError, match=r"`batch` must be a positive int, got 0"):
        rule.init_state(0, 4, 3)


def test_train_stdp_errors():
    layer, lif, x = nnx.Linear(4, 3, rngs=nnx.Rngs(0)), snnx.LIF(3), jnp.zeros((5, 2, 4))
    with pytest.raises(snnx.ArgumentTypeError, match=r"`layer` must be a flax.nnx.Linear, got LIF"):
        train_stdp(lif, lif, STDP(), x)
    with pytest.raises(
        snnx.ArgumentTypeError, match=r"`rule` must be snnx.plasticity.STDP or RSTDP, got dict"
    ):
        train_stdp(layer, lif, {}, x)
    with pytest.raises(
        snnx.ShapeError, match=r"`neuron` must have shape \(3,\).*kernel \(4, 3\)\), got \(7,\)"
    ):
        train_stdp(layer, snnx.LIF(7), STDP(), x)
    with pytest.raises(snnx.ShapeError, match=r"`x` must have shape \(T, B, n_pre=4\).*got \(5, 4\)"):
        train_stdp(layer, lif, STDP(), jnp.zeros((5, 4)))
    with pytest.raises(ValueError, match=r"`reward` is required with an RSTDP rule"):
        train_stdp(layer, lif, RSTDP(), x)
    with pytest.raises(ValueError, match=r"`reward` is for RSTDP only"):
        train_stdp(layer, lif, STDP(), x, reward=jnp.zeros(5))
    with pytest.raises(
        snnx.ShapeError, match=r"`reward` must have shape \(T,\) = \(5,\) or \(T, B\) = \(5, 2\), got \(2,\)"
    ):
        train_stdp(layer, lif, RSTDP(), x, reward=jnp.zeros(2))
    with pytest.raises(snnx.OptionError, match=r"`update` must be one of \['step', 'end'\], got 'epoch'"):
        train_stdp(layer, lif, STDP(), x, update="epoch")


# -- peers: Norse 1.1 and snnTorch 1.0 on the same spike trains ------------------------------------------


@pytest.fixture(scope="module")
def peers():
    data = np.load(PEERS)
    return data, json.loads(str(data["meta"]))


def same_step_pairs(pre, post):
    """sum_b pre[t, b, i] * post[t, b, j] per step ``(T, n_pre, n_post)``: the pairs the peers count twice."""
    return np.einsum("tbi,tbj->tij", pre, post)


def test_norse_additive_matches_with_the_same_step_pairs_counted_twice(peers):
    data, meta = peers
    m, case = meta["norse_additive"], "norse_additive"
    pre, post, w0 = data[f"{case}__pre"], data[f"{case}__post"], data[f"{case}__w0"].T  # (n_pre, n_post)
    rule = STDP(decay_pre=1 - m["dt"] * m["tau_pre_inv"], decay_post=1 - m["dt"] * m["tau_post_inv"],
                a_plus=m["eta_plus"], a_minus=m["eta_minus"])  # fmt: skip
    ws, _ = scan_steps(rule, pre, post, w0)
    # Norse pairs a same-step pre and post spike both ways (a_plus - a_minus); snnx only as causal
    norse_ws = np.asarray(ws) - m["eta_minus"] * np.cumsum(same_step_pairs(pre, post), axis=0)
    assert same_step_pairs(pre, post).sum() > 0  # the correction is exercised
    np.testing.assert_allclose(norse_ws, data[f"{case}__w"].transpose(0, 2, 1), rtol=1e-5, atol=1e-6)


def test_norse_multiplicative_matches_soft_bounds_stepped_online(peers):
    data, meta = peers
    m, case = meta["norse_multiplicative"], "norse_multiplicative"
    pre, post, w0 = data[f"{case}__pre"], data[f"{case}__post"], data[f"{case}__w0"].T
    assert same_step_pairs(pre, post).sum() == 0  # interleaved trains: the conventions agree exactly
    rule = STDP(decay_pre=1 - m["dt"] * m["tau_pre_inv"], decay_post=1 - m["dt"] * m["tau_post_inv"],
                a_plus=m["eta_plus"], a_minus=m["eta_minus"], w_min=m["w_min"], w_max=m["w_max"],
                bounds="soft")  # fmt: skip
    ws, _ = scan_steps(rule, pre, post, w0)
    norse_ws = data[f"{case}__w"].transpose(0, 2, 1)
    assert np.abs(norse_ws[-1] - w0).max() > 0.05  # the weights moved
    np.testing.assert_allclose(ws, norse_ws, rtol=1e-5, atol=1e-6)


def test_snntorch_functional_step_matches(peers):
    data, meta = peers
    m, case = meta["snntorch_additive"], "snntorch_additive"
    pre, post = data[f"{case}__pre"], data[f"{case}__post"]
    rule = STDP(decay_pre=1 - 1 / m["tau_pre"], decay_post=1 - 1 / m["tau_post"], a_plus=m["f_post"],
                a_minus=m["f_pre"])  # fmt: skip
    _, dws = scan_steps(rule, pre, post, np.zeros((6, 4), np.float32), online=False)
    peer = data[f"{case}__dw"].transpose(0, 2, 1) + m["f_pre"] * same_step_pairs(pre, post)
    np.testing.assert_allclose(dws, peer, rtol=1e-5, atol=1e-6)
