"""SigmaDelta, Alpha, Lapicque, LIFRefrac and PSU_LIF's snnTorch conversions.

Expectations come from float64 numpy recurrences written here, from hand-derived
spike trains, and from the peers' own outputs in ``tests/data/peers/zoo_synaptic.npz``
(snnTorch 1.0.0 ``Alpha``/``Lapicque``/``StateLeaky``, Norse 1.1.0 ``LIFRefracCell``;
written by ``tests/data/peers/make_zoo_synaptic.py``, see ``README_zoo_synaptic.md``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import nir
import numpy as np
import pytest
from flax import nnx

import snnx
from snnx.neurons import LIF, PSU_LIF
from snnx.neurons._alpha import Alpha
from snnx.neurons._lapicque import Lapicque
from snnx.neurons._refractory import LIFRefrac
from snnx.neurons._sigma_delta import SigmaDelta
from snnx.nir import NIRError, from_nir, to_nir

PEERS = np.load(Path(__file__).parent / "data" / "peers" / "zoo_synaptic.npz")
META = json.loads(str(PEERS["meta"]))


def peer(case: str, name: str) -> np.ndarray:
    return PEERS[f"{case}__{name}"]


def run_states(model, x, state=None):
    """Step ``model`` over ``x`` eagerly (no compiled scan: the tests stay fast); ``(y, states)`` stacked."""
    x = jnp.asarray(x, jnp.float32)
    state = model.init_state(x.shape[1]) if state is None else state
    ys, states = [], []
    for x_t in x:
        y, state = model(x_t, state)
        ys.append(y), states.append(state)
    return np.stack(ys), jax.tree.map(lambda *steps: np.stack(steps), *states)


# --------------------------------------------------------------------------- LIFRefrac


def lifrefrac_reference(x, beta, threshold, refractory, reset, v_reset=0.0, v_leak=0.0, v0=0.0):
    """Float64 LIF with an absolute refractory period: held membrane, no spike, counter."""
    v = np.full(x.shape[1:], v0, np.float64)
    n = np.zeros(x.shape[1:], np.int64)
    zs, vs, ns = [], [], []
    for x_t in np.asarray(x, np.float64):
        u = beta * v + (1 - beta) * v_leak + x_t
        z = u > threshold
        if reset == "zero":
            u = np.where(z, v_reset, u)
        elif reset == "subtract":
            u = u - threshold * z
        hold = n > 0
        z = z & ~hold
        v = np.where(hold, v, u)
        n = np.where(z, refractory, np.maximum(n - 1, 0))
        zs.append(z), vs.append(v), ns.append(n)
    return np.stack(zs).astype(np.float32), np.stack(vs), np.stack(ns)


def test_lifrefrac_numpy_reference_and_by_hand():
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.2, 0.9, (20, 3, 8)).astype(np.float32)
    beta = np.linspace(0.7, 1.0, 8)
    neuron = LIFRefrac(8, beta=beta, threshold=1.0, refractory=2, reset="subtract", v_leak=0.1)
    z, states = run_states(neuron, x)
    z_ref, v_ref, n_ref = lifrefrac_reference(x, beta, 1.0, 2, "subtract", v_leak=0.1)
    assert z_ref.sum() >= 20 and (n_ref == 2).sum() == z_ref.sum()
    np.testing.assert_array_equal(z, z_ref)
    np.testing.assert_allclose(states["v"], v_ref, atol=1e-5)
    np.testing.assert_array_equal(states["n"], n_ref)
    assert states["n"].dtype == np.int32

    # IF (beta = 1), threshold 1, input 0.75, refractory 2, zero reset, by hand:
    #   .75, 1.5* -> 0, held 0, held 0, .75, 1.5* -> 0, held, held, .75, 1.5*  -> spikes at 2, 6, 10
    z, states = run_states(LIFRefrac(8, beta=1.0, refractory=2), np.full((10, 3, 8), 0.75))
    assert [t + 1 for t in np.flatnonzero(z[:, 0, 0])] == [2, 6, 10]
    assert states["v"][:, 0, 0].tolist() == [0.75, 0, 0, 0, 0.75, 0, 0, 0, 0.75, 0]
    assert (z == z[:, :1, :1]).all()


def test_lifrefrac_with_zero_refractory_is_lif_exactly():
    rng = np.random.default_rng(1)
    x = rng.uniform(0.0, 0.8, (20, 3, 8))
    kw = {"beta": np.linspace(0.6, 1.0, 8), "threshold": 0.9, "v_leak": -0.1, "v_reset": 0.2}
    z, states = run_states(LIFRefrac(8, refractory=0, **kw), x)
    z_lif, states_lif = run_states(LIF(8, **kw), x)
    assert z.sum() > 5
    np.testing.assert_array_equal(z, z_lif)
    np.testing.assert_array_equal(states["v"], states_lif["v"])
    assert not states["n"].any()


def test_lifrefrac_matches_norse_lifrefraccell():
    """Norse with tau_syn = dt is LIFRefrac(beta = 1 - dt/tau_mem) on the input (dt/tau_mem) x."""
    m = META["norse_lifrefrac"]
    a = m["dt"] * m["tau_mem_inv"]  # 25/256, exact in binary
    x = peer("norse_lifrefrac", "x")
    neuron = LIFRefrac(
        8,
        beta=1 - a,
        threshold=m["v_th"],
        refractory=m["rho_reset"],
        v_leak=m["v_leak"],
        v_reset=m["v_reset"],
    )
    state = {"v": jnp.full((3, 8), m["v_leak"], jnp.float32), "n": jnp.zeros((3, 8), jnp.int32)}
    z, states = run_states(neuron, a * x, state)
    z_norse = peer("norse_lifrefrac", "z")
    assert z_norse.sum() > 50
    np.testing.assert_array_equal(z, z_norse)
    np.testing.assert_allclose(states["v"], peer("norse_lifrefrac", "v"), atol=1e-5)
    np.testing.assert_array_equal(states["n"], peer("norse_lifrefrac", "rho"))


# --------------------------------------------------------------------------- Alpha


def alpha_reference(x, alpha, beta, threshold, reset):
    """Float64 alpha neuron, snnx's rule: spike on this step's membrane, reset in the same step."""
    exc = np.zeros(x.shape[1:])
    inh = np.zeros(x.shape[1:])
    k = np.log(beta) / (np.log(beta) - np.log(alpha))
    out = {"z": [], "i_exc": [], "i_inh": [], "v": []}
    for x_t in np.asarray(x, np.float64):
        exc, inh = alpha * exc + x_t, beta * inh - x_t
        v = k * (exc + inh)
        z = (v > threshold).astype(np.float64)
        if reset == "zero":
            exc, inh, v = exc * (1 - z), inh * (1 - z), v * (1 - z)
        elif reset == "subtract":
            exc, v = exc - z * threshold / k, v - z * threshold
        for name, value in zip(out, (z, exc, inh, v), strict=True):
            out[name].append(value)
    return {name: np.stack(values) for name, values in out.items()}


def _before_first_spike(z):
    """Mask of the steps up to and including each unit's first spike (all steps for a silent unit)."""
    fired = np.cumsum(np.asarray(z), axis=0)
    return (fired - np.asarray(z)) == 0


@pytest.mark.parametrize("reset", ["zero", "subtract", "none"])
def test_alpha_matches_numpy_and_snntorch_up_to_its_delayed_reset(reset):
    case = f"alpha_{reset}"
    m = META[case]
    x = peer(case, "x")
    z, states = run_states(
        Alpha(8, alpha=m["alpha"], beta=m["beta"], threshold=m["threshold"], reset=reset), x
    )
    ref = alpha_reference(x, np.asarray(m["alpha"]), np.asarray(m["beta"]), m["threshold"], reset)
    np.testing.assert_array_equal(z, ref["z"])
    for name in ("i_exc", "i_inh", "v"):
        np.testing.assert_allclose(states[name], ref[name], atol=1e-5, err_msg=name)
    spk = peer(case, "spk")
    assert spk.sum() > 40
    if reset == "none":  # no reset: the same neuron as snnTorch's, step for step
        np.testing.assert_array_equal(z, spk)
        for ours, theirs in (("i_exc", "syn_exc"), ("i_inh", "syn_inh"), ("v", "mem")):
            np.testing.assert_allclose(states[ours], peer(case, theirs), atol=1e-5, err_msg=ours)
    else:  # snnTorch resets a step later: identical until each unit's first spike, then not
        until = _before_first_spike(spk)
        np.testing.assert_array_equal(z[until], spk[until])
        np.testing.assert_allclose(states["i_exc"][until & (spk == 0)],
                                   peer(case, "syn_exc")[until & (spk == 0)], atol=1e-5)  # fmt: skip
        assert (z != spk).any()


def test_alpha_kernel_is_a_scaled_difference_of_exponentials():
    a, b = 0.9, 0.7
    x = np.zeros((20, 3, 8), np.float32)
    x[0] = 1.0
    _, states = run_states(Alpha(8, alpha=a, beta=b, threshold=1e9), x)
    n = np.arange(20)
    k = np.log(b) / (np.log(b) - np.log(a))
    np.testing.assert_allclose(states["v"][:, 1, 2], k * (a**n - b**n), atol=1e-6)


# --------------------------------------------------------------------------- Lapicque


def lapicque_reference(x, beta, gain, threshold, reset, v_reset=0.0):
    v = np.zeros(x.shape[1:])
    zs, vs = [], []
    for x_t in np.asarray(x, np.float64):
        v = beta * v + gain * x_t
        z = v > threshold
        if reset == "zero":
            v = np.where(z, v_reset, v)
        elif reset == "subtract":
            v = v - threshold * z
        zs.append(z), vs.append(v)
    return np.stack(zs).astype(np.float32), np.stack(vs)


def test_lapicque_matches_snntorch_and_numpy():
    m = META["lapicque_rc_none"]
    R, C, dt = m["R"], m["C"], m["time_step"]
    beta, gain = 1 - dt / (R * C), dt / C
    x = peer("lapicque_rc_none", "x")
    # reset "none": snnTorch's update exactly (its reset is one step late, so resets are compared below)
    z, states = run_states(Lapicque(8, R=R, C=C, dt=dt, reset="none"), x)
    assert peer("lapicque_rc_none", "spk").sum() > 40
    np.testing.assert_array_equal(z, peer("lapicque_rc_none", "spk"))
    np.testing.assert_allclose(states["v"], peer("lapicque_rc_none", "mem"), rtol=1e-5, atol=1e-5)
    # snnTorch's construction from beta: decay 1 + ln(beta), gain -ln(beta)
    xb = peer("lapicque_beta_none", "x")
    neuron = Lapicque.from_beta(8, beta=META["lapicque_beta_none"]["beta"], reset="none")
    zb, states_b = run_states(neuron, xb)
    np.testing.assert_array_equal(zb, peer("lapicque_beta_none", "spk"))
    np.testing.assert_allclose(states_b["v"], peer("lapicque_beta_none", "mem"), rtol=1e-5, atol=1e-5)
    # resets: ours in the spike's step (numpy); snnTorch's one step later agrees up to the first spike
    for reset in ("zero", "subtract"):
        z, states = run_states(Lapicque(8, R=R, C=C, dt=dt, reset=reset), x)
        z_ref, v_ref = lapicque_reference(x, beta, gain, 1.0, reset)
        np.testing.assert_array_equal(z, z_ref)
        np.testing.assert_allclose(states["v"], v_ref, atol=1e-5)
        spk = peer(f"lapicque_rc_{reset}", "spk")
        first = np.where(spk.any(0), spk.argmax(0), len(spk) - 1)
        upto = np.arange(len(spk))[:, None, None] <= first
        assert upto.all(0).sum() < upto.size and spk.sum() > 5
        np.testing.assert_array_equal(z[upto], spk[upto])


def test_lapicque_nir_is_lif_with_tau_rc_and_r_and_round_trips():
    rng = np.random.default_rng(2)
    x = rng.uniform(0.0, 2.0, (20, 3, 8))
    R, C, dt = np.linspace(0.5, 4.0, 8), 5e-3, 1e-3
    model = Lapicque(8, R=R, C=C, dt=dt, v_reset=-0.1)
    z, _ = run_states(model, x)
    assert z.sum() > 20
    graph = to_nir(model, (8,), dt)
    (node,) = [n for name, n in graph.nodes.items() if name not in ("input", "output")]
    assert isinstance(node, nir.LIF)
    np.testing.assert_allclose(node.tau, R * C, rtol=1e-6)
    np.testing.assert_allclose(node.r, R, rtol=1e-6)
    np.testing.assert_array_equal(node.v_leak, 0.0)
    np.testing.assert_allclose(node.v_reset, -0.1)
    for export_dt in (dt, 2.5e-4):  # any export dt writes the same per-step model
        back = from_nir(to_nir(model, (8,), export_dt), export_dt)
        assert [type(layer).__name__ for layer in back.layers] == ["Scale", "LIF"]  # gain dt/C, then LIF
        z_back, _ = run_states(back, x)
        np.testing.assert_array_equal(z_back, z)


# --------------------------------------------------------------------------- SigmaDelta


def sigma_delta_reference(x, threshold, activation):
    sigma = np.zeros(x.shape[1:])
    sent = np.zeros(x.shape[1:])
    ys, acts = [], []
    for x_t in np.asarray(x, np.float64):
        sigma = sigma + x_t
        a = np.maximum(sigma, 0) if activation == "relu" else sigma
        d = a - sent
        y = np.where(np.abs(d) > threshold, d, 0.0)
        sent = sent + y
        ys.append(y), acts.append(a)
    return np.stack(ys), np.stack(acts)


@pytest.mark.parametrize("activation", ["relu", "identity"])
def test_sigma_delta_numpy_reference_and_no_drift(activation):
    rng = np.random.default_rng(3)
    signal = np.cumsum(rng.normal(0.0, 0.15, (20, 3, 8)), axis=0) + np.linspace(0.0, 0.6, 20)[:, None, None]
    x = np.diff(signal, axis=0, prepend=0.0).astype(np.float32)  # the deltas of a slow signal
    threshold = np.array([0.0, 0.1, 0.2, 0.4, 0.0, 0.05, 0.3, 0.4])
    y, states = run_states(SigmaDelta(8, threshold=threshold, activation=activation), x)
    y_ref, a = sigma_delta_reference(x, threshold, activation)
    np.testing.assert_allclose(y, y_ref, atol=1e-5)
    assert (y[..., 3] == 0).mean() > 0.5  # a high threshold sends rarely
    received = np.cumsum(y.astype(np.float64), axis=0)  # what a receiving sigma holds
    np.testing.assert_allclose(states["sent"], received, atol=1e-5)
    assert np.all(np.abs(a - received) <= threshold + 1e-5)  # at every step: no drift
    np.testing.assert_allclose(received[..., 0], a[..., 0], atol=1e-5)  # threshold 0 is lossless
    # a per-step quantiser without the residual (drop every sub-threshold change) drifts past it
    steps = np.diff(a, axis=0, prepend=0.0)
    naive = np.cumsum(np.where(np.abs(steps) > threshold, steps, 0.0), axis=0)
    assert np.any(np.abs(a - naive)[..., 1:] > threshold[1:] + 1e-3)


# --------------------------------------------------------------------------- PSU_LIF <-> snnTorch


def test_psu_lif_from_snntorch_reproduces_stateleaky():
    b = np.asarray(META["stateleaky"]["beta"])
    np.testing.assert_allclose(PSU_LIF.beta_from_snntorch(b), np.exp(b - 1.0))
    np.testing.assert_allclose(PSU_LIF.snntorch_beta_from_beta(PSU_LIF.beta_from_snntorch(b)), b, atol=1e-12)
    assert PSU_LIF.beta_from_snntorch(0.0) == pytest.approx(math.exp(-1))
    assert PSU_LIF.beta_from_snntorch(1.0) == 1.0

    x = peer("stateleaky", "x")
    spk, mem = peer("stateleaky", "spk"), peer("stateleaky", "mem")
    psu = PSU_LIF.from_snntorch(8, beta=b, threshold=META["stateleaky"]["threshold"])
    assert psu.surrogate == snnx.surrogate.arctan(2.0)
    z, states = psu.parallel(jnp.asarray(x), return_states=True)
    assert 20 < spk.sum() < spk.size - 20
    np.testing.assert_array_equal(np.asarray(z), spk)
    np.testing.assert_allclose(np.asarray(states["v"]), mem, rtol=1e-5, atol=1e-5)
    # the same beta read as a per-step decay (what Leaky means by it) is a different neuron
    _, plain = PSU_LIF(8, beta=b).parallel(jnp.asarray(x), return_states=True)
    assert np.abs(np.asarray(plain["v"]) - mem).max() > 0.1


# --------------------------------------------------------------------------- contract: Sequential, jit, grad


def test_chain_of_all_four_in_sequential_under_jit_with_gradients():
    """One compile: every neuron in a Sequential behind its own Linear, run and differentiated under jit.

    The gradient reaching the Linear in front of neuron k has passed through neurons k, k+1, ...,
    so finite non-zero kernels, checked from the last one back, show each neuron passes one.
    """
    r = nnx.Rngs(0)
    model = snnx.Sequential(
        nnx.Linear(3, 8, rngs=r), SigmaDelta(8, threshold=0.05),
        nnx.Linear(8, 8, rngs=r), Alpha(8, alpha=0.9, beta=0.6, threshold=0.1),
        nnx.Linear(8, 8, rngs=r), Lapicque(8, R=1.0, C=2e-3, dt=1e-3, threshold=0.1),
        nnx.Linear(8, 8, rngs=r), LIFRefrac(8, beta=0.8, threshold=0.1, refractory=1),
    )  # fmt: skip
    x = jnp.abs(jax.random.normal(jax.random.key(1), (20, 3, 3)))

    @nnx.jit
    def forward_and_grad(m, x):
        def loss(m):
            y, _ = snnx.run(m, x)
            return jnp.sum(y), y

        return nnx.value_and_grad(loss, has_aux=True)(m)

    (loss, y), grads = forward_and_grad(model, x)

    def dense(i, h):
        lin = model.layers[i]
        return h @ np.asarray(lin.kernel[...], np.float64) + np.asarray(lin.bias[...], np.float64)

    h, _ = sigma_delta_reference(dense(0, np.asarray(x)), 0.05, "relu")  # the chain in float64 numpy
    h = alpha_reference(dense(2, h), 0.9, 0.6, 0.1, "zero")["z"].astype(np.float64)
    lap = model.layers[5]
    h, _ = lapicque_reference(dense(4, h), float(lap.beta[...]), float(lap.gain[...]), 0.1, "zero")
    z_ref, _, n_ref = lifrefrac_reference(dense(6, h), 0.8, 0.1, 1, "zero")
    assert 0 < z_ref.sum() < z_ref.size and n_ref.any()
    np.testing.assert_array_equal(np.asarray(y), z_ref)
    assert float(loss) == z_ref.sum()
    for i in (6, 4, 2, 0):
        kernel = np.asarray(grads["layers"][i]["kernel"][...])
        assert np.isfinite(kernel).all() and np.abs(kernel).sum() > 0, f"no gradient into layers[{i}]"


def test_nir_export_refuses_the_neurons_it_cannot_express():
    for neuron in (SigmaDelta(3), Alpha(3), LIFRefrac(3)):
        with pytest.raises(NIRError, match=type(neuron).__name__):
            to_nir(neuron, (3,), 1e-3)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: LIFRefrac(3, refractory=-1), ValueError, r"`refractory` must be an int >= 0.*got -1"),
        (lambda: LIFRefrac(3, refractory=1.5), ValueError, r"`refractory` must be an int >= 0.*got 1.5"),
        (lambda: LIFRefrac(3, refractory=True), ValueError, r"`refractory`.*got True"),
        (
            lambda: Alpha(3, alpha=0.7, beta=0.8),
            ValueError,
            r"`alpha` must be greater than `beta`.*0\.7.*0\.8",
        ),
        (lambda: Alpha(3, alpha=0.9, beta=0.0), ValueError, r"`beta` must lie in \(0, 1\).*got \[0\.0\]"),
        (lambda: Alpha(3, alpha=1.5), ValueError, r"`alpha` must lie in \[0, 1\]"),
        (
            lambda: Lapicque(3, R=1.0, C=1e-3, dt=2e-3),
            ValueError,
            r"`dt` must lie in \(0, R\*C\].*R\*C=0\.001",
        ),
        (lambda: Lapicque(3, R=0.0), ValueError, r"`R` must be positive and finite, got \[0\.0\]"),
        (lambda: Lapicque(3, C="big"), TypeError, r"`C` must be a number or an array, got str"),
        (lambda: Lapicque(3, dt=-1.0), ValueError, r"`dt` must be a positive number"),
        (lambda: Lapicque.from_beta(3, beta=0.2), ValueError, r"`beta` must lie in \[exp\(-1\), 1\)"),
        (lambda: SigmaDelta(3, threshold=-0.1), ValueError, r"`threshold` must be >= 0.*got \[-0\.1"),
        (lambda: SigmaDelta(3, activation="tanh"), ValueError, r"`activation` must be one of.*'tanh'"),
        (lambda: PSU_LIF.beta_from_snntorch(1.5), ValueError, r"`beta` must lie in \[0, 1\].*1\.5"),
        (lambda: PSU_LIF.snntorch_beta_from_beta(0.3), ValueError, r"`beta` must lie in \[0\.3679, 1\]"),
        (lambda: PSU_LIF.from_snntorch(3, beta=None), TypeError, r"`beta` must be a number or an array"),
    ],
)
def test_bad_input_names_the_argument(make, error, match):
    with pytest.raises(error, match=match):
        make()
