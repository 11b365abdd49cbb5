"""Biophysical neurons: ``ExpLIF``, ``AdEx``, ``Izhikevich``, ``CobaLIF``.

Every expectation is computed independently: what Norse 1.1.0 computed
(``tests/data/peers/zoo_biophysical.npz``, written by
``tests/data/peers/make_zoo_biophysical.py``; ``README_zoo_biophysical.md`` there
gives the parameter mapping), a float64 numpy recurrence written here from each
model's equations, or the qualitative firing patterns the papers publish. Each
Norse case runs once under ``nnx.jit`` and is checked against both Norse and
numpy; the Izhikevich cells also run on every engine of ``run``. Nothing is
copied from snnx's own output.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import snnx
from engine_variants import run_every_way
from snnx.neurons import LI
from snnx.neurons._adex import AdEx, ExpLIF
from snnx.neurons._coba import CobaLIF
from snnx.neurons._izhikevich import Izhikevich
from snnx.nir._discretise import decay_from_tau

T, B = 20, 2
NORSE = Path(__file__).parent / "data" / "peers" / "zoo_biophysical.npz"


# --------------------------------------------------------------------------- float64 numpy references


def np_explif(x, beta, v_th, delta_t, v_leak, v_reset, threshold, a=0.0, b=0.0, gamma=1.0):
    """ExpLIF (a = b = 0) and AdEx: forward Euler from the previous state, spike, reset v, w += b."""
    v = np.broadcast_to(np.asarray(v_leak, np.float64), x.shape[1:]).copy()
    w = np.zeros(x.shape[1:])
    zs, vs, ws, margin = [], [], [], np.inf
    for x_t in x:
        e = delta_t * np.exp(np.minimum((v - v_th) / delta_t, 20.0))
        w_new = gamma * w + (1 - gamma) * a * (v - v_leak)
        v = beta * v + (1 - beta) * (v_leak + e - w) + x_t
        margin = min(margin, np.abs(v - threshold).min())
        z = v > threshold
        v = np.where(z, v_reset, v)
        w = w_new + b * z
        zs.append(z), vs.append(v), ws.append(w)
    return np.stack(zs), np.stack(vs), np.stack(ws), margin


def np_izhikevich(x, a, b, c, d, h, v0, threshold=30.0):
    v = np.full(x.shape[1:], v0, np.float64)
    u = b * v
    zs, vs, us, margin = [], [], [], np.inf
    for x_t in x:
        u_new = u + h * a * (b * v - u)
        v = v + h * (0.04 * v**2 + 5 * v + 140 - u) + x_t
        margin = min(margin, np.abs(v - threshold).min())
        z = v > threshold
        v = np.where(z, c, v)
        u = u_new + d * z
        zs.append(z), vs.append(v), us.append(u)
    return np.stack(zs), np.stack(vs), np.stack(us), margin


def np_coba(x, beta, alpha_e, alpha_i, threshold, v_leak, v_reset, e_e, e_i):
    v = np.full(x.shape[1:], v_leak, np.float64)
    g_e, g_i = np.zeros(x.shape[1:]), np.zeros(x.shape[1:])
    zs, vs, ges, gis, margin = [], [], [], [], np.inf
    for x_t in x:
        g_e = alpha_e * (g_e + np.maximum(x_t, 0))
        g_i = alpha_i * (g_i + np.maximum(-x_t, 0))
        v = v + (1 - beta) * (v_leak - v) + g_e * (e_e - v) + g_i * (e_i - v)
        margin = min(margin, np.abs(v - threshold).min())
        z = v > threshold
        v = np.where(z, v_reset, v)
        zs.append(z), vs.append(v), ges.append(g_e), gis.append(g_i)
    return np.stack(zs), np.stack(vs), np.stack(ges), np.stack(gis), margin


def np_li(x, beta):
    """Norse's synaptic current as an LI in front: ``i = beta * i + x``."""
    i, out = np.zeros(x.shape[1:]), []
    for x_t in x:
        i = beta * i + x_t
        out.append(i)
    return np.stack(out)


# --------------------------------------------------------------------------- Norse 1.1.0 cases


@pytest.fixture(scope="module")
def norse():
    data = np.load(NORSE)
    return data, json.loads(str(data["meta"]))


def _norse_case(case: str, meta: dict):
    """The snnx model Norse's case maps to (README_zoo_biophysical.md), its input gain, and a numpy
    reference ``x -> {"z", state...}, margin`` with the same mapping."""
    m = meta[case]
    p, dt = m.get("params", {}), m["dt"]
    if case == "lif_ex":
        gain = dt * p["tau_mem_inv"]
        kw = {"beta": 1 - gain, "v_th": p["v_th"], "delta_t": np.asarray(p["delta_T"]), "v_leak": p["v_leak"],
              "v_reset": p["v_reset"], "threshold": p["v_th"]}  # fmt: skip

        def ref(x):
            z, v, _, margin = np_explif(x, **kw)
            return {"z": z, "v": v}, margin

        return ExpLIF(4, **kw), gain, ref
    if case == "lif_adex":
        gain, syn = dt * p["tau_mem_inv"], 1 - dt * p["tau_syn_inv"]
        kw = {"beta": 1 - gain, "gamma": 1 - dt * p["tau_ada_inv"], "a": np.asarray(p["adaptation_current"]),
              "b": np.asarray(p["adaptation_spike"]), "v_th": p["v_th"], "delta_t": p["delta_T"],
              "v_leak": p["v_leak"], "v_reset": p["v_reset"], "threshold": p["v_th"]}  # fmt: skip

        def ref(x):
            z, v, w, margin = np_explif(np_li(x, syn), **kw)
            return {"z": z, "v": v, "w": w}, margin

        return snnx.Sequential(LI(4, beta=syn), AdEx(4, **kw)), gain, ref  # Norse's current: an LI
    if case == "izhikevich":
        h = m["tau_inv"] * dt
        kw = {k: np.asarray(m[k]) for k in "abcd"}

        def ref(x):
            z, v, u, margin = np_izhikevich(x, **kw, h=h, v0=m["v0"], threshold=m["v_th"])
            return {"z": z, "v": v, "u": u}, margin

        return Izhikevich(7, **kw, h=h, threshold=m["v_th"], v_init=m["v0"]), h, ref
    gain = dt * p["c_m_inv"]
    kw = {"beta": 1 - gain * p["g_l"], "alpha_e": 1 - dt * p["tau_syn_exc_inv"],
          "alpha_i": 1 - dt * p["tau_syn_inh_inv"], "threshold": np.asarray(p["v_thresh"]),
          "v_leak": p["v_rest"], "v_reset": p["v_reset"], "e_e": p["e_rev_E"],
          "e_i": p["e_rev_I"]}  # fmt: skip

    def ref(x):
        z, v, g_e, g_i, margin = np_coba(x, **kw)
        return {"z": z, "v": v, "g_e": g_e, "g_i": g_i}, margin

    return CobaLIF(4, **kw), gain, ref


#: snnx state -> Norse's name for it (AdEx's w is Norse's a)
NORSE_STATES = {
    "lif_ex": {"v": "v"},
    "lif_adex": {"v": "v", "w": "a"},
    "izhikevich": {"v": "v", "u": "u"},
    "coba": {"v": "v", "g_e": "g_e", "g_i": "g_i"},
}


def _close(got, want, key, case):
    """Within 1e-5 of the array's range, except Izhikevich's ``v``: within 0.02 mV (3e-4 of its range).
    In float32 its upswing before a spike multiplies a rounding difference by up to
    ``1 + h (0.08 v + 5)`` ~ 4.7 per step, and XLA rounds some products one ulp differently
    from torch (numpy in float32 with Norse's operation order reproduces Norse bit for bit);
    its spikes agree exactly and its ``u`` to 1e-5."""
    atol = 0.02 if (case, key) == ("izhikevich", "v") else 1e-5 * max(1.0, np.abs(want).max())
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=atol, err_msg=f"{case}: {key}")


@pytest.mark.parametrize("case", sorted(NORSE_STATES))
def test_matches_norse_and_float64_numpy(norse, case):
    """One jitted run on Norse's input: equal to Norse's float32 run and to a float64 numpy recurrence."""
    data, meta = norse
    model, gain, ref = _norse_case(case, meta)
    x = gain * data[f"{case}__x"].astype(np.float64)
    z, states = nnx.jit(lambda m, x: snnx.run(m, x, return_states=True))(model, jnp.asarray(x, jnp.float32))
    if case == "lif_adex":
        li_v, states = states[0]["v"], states[1]
        # Norse records its current after the decay: i = syn * (our LI membrane) / gain
        syn = 1 - meta[case]["dt"] * meta[case]["params"]["tau_syn_inv"]
        _close(syn * li_v / gain, data[f"{case}__i"], "i", case)
    expected, margin = ref(x)
    scale = max(1.0, np.abs(expected["v"]).max())
    assert margin > 1e-5 * scale  # no spike a rounding away from the threshold
    assert 0 < expected["z"].sum() < expected["z"].size / 2
    np.testing.assert_array_equal(z, data[f"{case}__z"])
    np.testing.assert_array_equal(z, expected["z"].astype(np.float32))
    assert set(states) == set(NORSE_STATES[case])
    for ours, theirs in NORSE_STATES[case].items():
        _close(states[ours], data[f"{case}__{theirs}"], ours, case)
        _close(states[ours], expected[ours], ours, case)


def test_izhikevich_on_every_engine():
    """The paper's RS, CH and FS cells from a non-zero initial state, on every engine and under jit."""
    abcd = {"a": np.array([0.02, 0.02, 0.1]), "b": np.array([0.2, 0.2, 0.2]),
            "c": np.array([-65.0, -50.0, -65.0]), "d": np.array([8.0, 2.0, 2.0])}  # fmt: skip
    x = 0.5 * np.random.default_rng(2).uniform(5.0, 40.0, (T, B, 3))  # x = h * I
    z_ref, v_ref, u_ref, margin = np_izhikevich(x, **abcd, h=0.5, v0=-60.0)
    assert margin > 1e-3 and 0 < z_ref.sum()
    neuron = Izhikevich(3, **abcd, h=0.5, v_init=-60.0)
    z, states = run_every_way(neuron, jnp.asarray(x, jnp.float32), return_states=True)
    np.testing.assert_array_equal(z, z_ref.astype(np.float32))
    _close(states["v"], v_ref, "v", "izhikevich")
    _close(states["u"], u_ref, "u", "izhikevich")


# --------------------------------------------------------------------------- published firing patterns


def bursts(isi: np.ndarray, short: float, long: float) -> int:
    """How many times a run of short intervals (< short ms) ends in a long one (> long ms)."""
    return int(np.sum((isi[:-1] < short) & (isi[1:] > long)))


def assert_published_patterns(times: dict[str, np.ndarray]) -> None:
    """Spike times (ms) under a step current from 20 ms: the patterns of Izhikevich (2003, fig. 2)
    and Brette & Gerstner (2005, fig. 2). Also used by tests/test_example_firing_patterns.py."""
    isi = {k: np.diff(v) for k, v in times.items()}
    assert all(np.all(v > 20.0) for v in times.values())  # nothing fires before the step current
    assert len(times["FS"]) > 2 * len(times["RS"]) >= 8  # fast spiking: a higher rate
    assert isi["RS"][-1] > 1.5 * isi["RS"][0] and np.all(isi["RS"] > 15)  # regular spiking: adapts, no bursts
    assert isi["IB"][0] < 10 and np.all(isi["IB"][2:] > 25)  # intrinsically bursting: a burst, then singles
    assert bursts(isi["CH"], short=10, long=25) >= 2  # chattering: repeated bursts
    assert isi["LTS"][-1] > 2 * isi["LTS"][0]  # low-threshold spiking: fast and adapting
    adapting, bursting = isi["AdEx adapting"], isi["AdEx bursting"]
    assert np.all(np.diff(adapting) > 0) and adapting[-1] > 2 * adapting[0]  # intervals grow at every spike
    assert bursts(bursting, short=5, long=25) >= 3  # doublets separated by long pauses


def test_presets_and_adex_regimes_fire_the_published_patterns():
    """The set-up of examples/10_firing_patterns.py: I = 10 from 20 ms (h = 0.5 ms) for Izhikevich;
    Brette & Gerstner's cell (C = 281 pF, g_L = 30 nS, tau_w, a, b, V_r of their two regimes) at
    dt = 0.1 ms with I = 1 nA, w in mV (a / g_L, b / g_L) and the input dt * I / C."""
    names = list(Izhikevich.PRESETS)
    columns = zip(*Izhikevich.PRESETS.values(), strict=True)
    izh = Izhikevich(7, **{k: np.array(col) for k, col in zip("abcd", columns, strict=True)})
    tau_w, b, v_r = np.array([144.0, 20.0]), np.array([80.5, 500.0]) / 30, np.array([-70.6, -45.4])
    adex = AdEx(2, beta=decay_from_tau(281.0 / 30.0, 0.1), gamma=decay_from_tau(tau_w, 0.1), a=4.0 / 30,
                b=b, v_th=-50.4, delta_t=2.0, v_leak=-70.6, v_reset=v_r)  # fmt: skip
    x_izh = np.where(np.arange(400) * 0.5 >= 20, 0.5 * 10.0, 0.0)[:, None, None] * np.ones(7)
    x_adex = np.where(np.arange(2000) * 0.1 >= 20, 0.1 * 1000.0 / 281.0, 0.0)[:, None, None] * np.ones(2)
    run = nnx.jit(lambda m1, m2, x1, x2: (snnx.run(m1, x1)[0], snnx.run(m2, x2)[0]))
    z_izh, z_adex = run(izh, adex, jnp.asarray(x_izh, jnp.float32), jnp.asarray(x_adex, jnp.float32))
    times = {name: (np.flatnonzero(z_izh[:, 0, i]) + 1) * 0.5 for i, name in enumerate(names)}
    for i, name in enumerate(["AdEx adapting", "AdEx bursting"]):
        times[name] = (np.flatnonzero(z_adex[:, 0, i]) + 1) * 0.1
    assert_published_patterns(times)


# --------------------------------------------------------------------------- gradients, Sequential, jit


def test_surrogate_gradients_through_a_sequential_of_all_four():
    """Unbuilt neurons built by Sequential(input_shape=...), under nnx.jit. Every Linear feeds one
    neuron only, so its weights get gradient only through that neuron's surrogate: all finite, non-zero."""
    r, uniform, const = nnx.Rngs(0), nnx.initializers.uniform, nnx.initializers.constant
    model = snnx.Sequential(
        nnx.Linear(4, 3, kernel_init=uniform(0.8), rngs=r), ExpLIF(),
        nnx.Linear(3, 3, kernel_init=uniform(1.0), bias_init=const(0.2), rngs=r), AdEx(),
        nnx.Linear(3, 3, kernel_init=uniform(10.0), bias_init=const(6.0), rngs=r),
        Izhikevich.preset("CH", h=1.0, trainable=True),
        nnx.Linear(3, 3, kernel_init=nnx.initializers.normal(0.3), bias_init=const(0.05), rngs=r),
        CobaLIF(trainable=True),
        input_shape=(4,),
    )  # fmt: skip
    assert all(model[i].shape == (3,) for i in (1, 3, 5, 7))
    x = jnp.asarray(np.random.default_rng(5).uniform(0, 1, (T, B, 4)), jnp.float32)

    @nnx.jit
    def grads(m, x):
        def loss(m):
            _, _, rec = snnx.run(m, x, record="spikes")
            counts = {k: jnp.sum(s) for k, s in rec.outputs.items()}
            return sum(counts.values()), counts

        return nnx.value_and_grad(loss, has_aux=True, argnums=nnx.DiffState(0, nnx.Param))(m)

    (_, counts), g = grads(model, x)
    assert sorted(counts) == ["1", "3", "5", "7"] and all(c > 0 for c in counts.values()), counts
    leaves = {"/".join(map(str, path)): np.asarray(v[...]) for path, v in nnx.to_flat_state(g)}
    neuron_params = {f"layers/5/{k}" for k in "abcd"} | {f"layers/7/{k}" for k in CobaLIF.param_names}
    linear_params = {f"layers/{i}/{k}" for i in (0, 2, 4, 6) for k in ("kernel", "bias")}
    assert set(leaves) == neuron_params | {"layers/5/threshold"} | linear_params
    for key, value in leaves.items():
        assert np.all(np.isfinite(value)), key
        assert np.any(value != 0), key


def test_exponential_is_capped_and_stays_finite():
    """A membrane far above v_th (a user state, or a tiny learnt slope): finite value and gradient."""
    neuron = AdEx(2, v_th=0.0, delta_t=0.01, threshold=1e9)

    @jax.jit
    def v_and_slope(v0):
        step = lambda v0: neuron(jnp.zeros(2), {"v": v0, "w": jnp.zeros(2)})[1]["v"]  # noqa: E731
        return step(v0), jax.grad(lambda v0: step(v0)[0])(v0)

    v, g = v_and_slope(jnp.array([50.0, 0.0]))
    cap = 0.1 * 0.01 * np.exp(20.0)  # (1 - beta) * delta_t * e^20
    np.testing.assert_allclose(v, [0.9 * 50.0 + cap, 0.1 * 0.01], rtol=1e-5)
    np.testing.assert_allclose(g, [0.9, 0.0])  # above the cap only the leak's slope is left


# --------------------------------------------------------------------------- construction


def test_defaults_rest_state_and_presets():
    e = ExpLIF(2, v_th=-50.0, delta_t=2.0, v_leak=-70.0)
    np.testing.assert_allclose(e.threshold[...], -40.0)  # v_th + 5 delta_t
    assert set(AdEx(2).init_state(3)) == {"v", "w"}
    np.testing.assert_array_equal(e.init_state(3)["v"], np.full((3, 2), -70.0))
    s = Izhikevich.preset("LTS", (2, 2)).init_state(1)
    np.testing.assert_allclose(s["v"], np.full((1, 2, 2), -65.0))
    np.testing.assert_allclose(s["u"], np.full((1, 2, 2), 0.25 * -65.0))
    coba = CobaLIF(2).init_state()
    np.testing.assert_array_equal(coba["v"], [-60.0, -60.0])
    np.testing.assert_array_equal(coba["g_e"] + coba["g_i"], [0.0, 0.0])
    # Izhikevich (2003), figure 2: (a, b, c, d)
    paper = {"RS": (0.02, 0.2, -65, 8), "IB": (0.02, 0.2, -55, 4), "CH": (0.02, 0.2, -50, 2),
             "FS": (0.1, 0.2, -65, 2), "LTS": (0.02, 0.25, -65, 2), "TC": (0.02, 0.25, -65, 0.05),
             "RZ": (0.1, 0.26, -65, 2)}  # fmt: skip
    assert set(Izhikevich.PRESETS) == set(paper)
    for name, abcd in paper.items():
        neuron = Izhikevich.preset(name, 1, h=0.25)
        got = tuple(float(getattr(neuron, k)[...]) for k in "abcd")
        np.testing.assert_allclose(got, abcd, rtol=1e-6, err_msg=name)
        assert neuron.h == 0.25
    assert float(Izhikevich.preset("RS", 1, d=4.0).d[...]) == 4.0
    assert Izhikevich().shape is None and Izhikevich(None).build(3).shape == (3,)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: ExpLIF(2, delta_t=0.0), ValueError, r"`delta_t` must be > 0 .*got \[0\.0\]"),
        (lambda: AdEx(2, delta_t=[0.5, -1.0]), ValueError, r"`delta_t` must be > 0 .*got \[-1\.0\]"),
        (lambda: ExpLIF(2, beta=1.5), ValueError, r"`beta` must lie in \[0, 1\], got \[1\.5\]"),
        (lambda: AdEx(2, gamma=-0.1), ValueError, r"`gamma` must lie in \[0, 1\]"),
        (lambda: ExpLIF(3, v_th=np.ones(2)), ValueError, r"`v_th` must be a scalar or broadcast to .*\(3,\)"),
        (lambda: AdEx(2, trainable="tau_w"), ValueError, r"`trainable` names unknown parameters \['tau_w'\]"),
        (lambda: Izhikevich(2, h=0.0), ValueError, r"`h` must be a positive number \(finite\), got 0\.0"),
        (lambda: Izhikevich(2, h=2.0), ValueError, r"`h` must lie in \(0, 1\] \(the step in ms\), got 2\.0"),
        (lambda: Izhikevich(2, a=np.nan), ValueError, r"`a` must be finite"),
        (lambda: Izhikevich(2, c=None), TypeError, r"`c` must be a number or an array, got None"),
        (lambda: Izhikevich.preset("XY"), ValueError, r"`name` must be one of \['RS', 'IB', 'CH', 'FS'"),
        (lambda: CobaLIF(2, alpha_e=1.2), ValueError, r"`alpha_e` must lie in \[0, 1\], got \[1\.2"),
        (lambda: CobaLIF(2, alpha_i=[0.5, -0.5]), ValueError, r"`alpha_i` must lie in \[0, 1\], got \[-0\.5"),
        (lambda: CobaLIF(2, beta=2.0), ValueError, r"`beta` must lie in \[0, 1\]"),
        (lambda: CobaLIF(2, e_e=-90.0), ValueError, r"`e_i` \(inhibitory .*\) must lie below `e_e`.*-90"),
        (lambda: CobaLIF(2, surrogate="nope"), ValueError, r"`surrogate` must be one of"),
    ],
)
def test_bad_arguments_name_the_argument(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("cls", [ExpLIF, AdEx, Izhikevich, CobaLIF])
def test_bad_step_input_names_x(cls):
    neuron = cls(3)
    with pytest.raises(ValueError, match=r"`x` must have shape \(\*batch, 3\), got \(2, 4\)"):
        neuron(jnp.ones((2, 4)), neuron.init_state(2))
    with pytest.raises(ValueError, match="`state` must be a dict with keys"):
        neuron(jnp.ones((2, 3)), {"q": jnp.zeros((2, 3))})


def test_to_nir_refuses_them():
    """No NIR primitive expresses any of the four; to_nir raises instead of skipping or approximating."""
    from snnx.nir import NIRError, to_nir

    for neuron in (ExpLIF(3), AdEx(3), Izhikevich(3), CobaLIF(3)):
        model = snnx.Sequential(nnx.Linear(2, 3, rngs=nnx.Rngs(0)), neuron)
        with pytest.raises(NIRError, match=rf"layer 'layer_1' \(.*{type(neuron).__name__}"):
            to_nir(model, (2,), 1e-3)
