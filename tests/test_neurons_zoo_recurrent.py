"""Recurrent ALIF (LSNN), spiking LSTMs and LIF's graded-spike and lateral-inhibition options.

Expectations come from float64 numpy recurrences written here, small cases
worked by hand, and peers' saved outputs from the same weights (snnTorch 1.0.0,
Norse 1.1.0: ``tests/data/peers/zoo_recurrent_*.npz``, made by
``tests/data/peers/make_zoo_recurrent.py``; the mappings are in
``tests/data/peers/README_zoo_recurrent.md``).
"""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import snnx
from engine_variants import run_every_way
from snnx.engine import plan
from snnx.neurons import LIF, RLIF
from snnx.neurons._leaky import LeakyConfig, fusable
from snnx.neurons._ralif import RALIF
from snnx.neurons._slstm import SLSTM, SConvLSTM

PEERS = pathlib.Path(__file__).parent / "data" / "peers"
ZERO = nnx.initializers.zeros_init()  # weights are set by hand below; a random init costs seconds eagerly


def peer(name: str) -> dict:
    with np.load(PEERS / f"zoo_recurrent_{name}.npz") as f:
        return {k: f[k] for k in f.files}


def f32(a) -> jax.Array:
    return jnp.asarray(a, jnp.float32)


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def reset_np(u, th, reset):
    z = (u > th).astype(np.float64)
    if reset == "zero":
        return z, np.where(z > 0, 0.0, u)
    if reset == "subtract":
        return z, u - z * th
    return z, u


# --------------------------------------------------------------------------- LIF options


def lif_numpy(x, beta, th, reset, factor=None, inhibition=False):
    """LIF in float64; inhibition keeps the first argmax of u - th; the reset acts on every crossing."""
    v, ys, vs = np.zeros(x.shape[1:]), [], []
    for xt in x:
        u = beta * v + xt
        z, v = reset_np(u, th, reset)
        if inhibition:
            z = z * (np.arange(u.shape[-1]) == np.argmax(u - th, axis=-1)[:, None])
        ys.append(z if factor is None else factor * z)
        vs.append(v)
    return np.stack(ys), np.stack(vs)


def run_all(models, xs):
    """``snnx.run(m, x, return_states=True)`` for every model (``xs``: one input, or one per model), in one
    ``nnx.jit`` (one compilation)."""
    xs = [f32(x) for x in xs] if isinstance(xs, list) else [f32(xs)] * len(models)
    run = nnx.jit(lambda ms, xs: [snnx.run(m, x, return_states=True) for m, x in zip(ms, xs, strict=True)])
    return run(nnx.List(models), xs)


def test_lif_options_match_snntorch():
    """snnTorch's Leaky (reset to zero, its default delayed reset) is LIF: mem is the pre-reset v."""
    d = peer("leaky")
    th = float(d["threshold"])
    graded = LIF(5, beta=d["beta"], threshold=th, graded_spikes_factor=d["factor"])
    inhib = LIF(5, beta=d["beta"], threshold=th, inhibition=True)
    assert (np.asarray(d["inhib_mem"] > th).sum(-1) > 1).any()  # several units crossed at once
    for name, (y, states) in zip(("graded", "inhib"), run_all([graded, inhib], f32(d["x"])), strict=True):
        mem = d[f"{name}_mem"]
        np.testing.assert_array_equal(y, d[f"{name}_spk"])
        np.testing.assert_allclose(states["v"], np.where(mem > th, 0.0, mem), atol=1e-6)


def both_options_case():
    """Both options, subtract reset, per-unit threshold and factor; numpy with and without inhibition."""
    rng = np.random.default_rng(3)
    x = rng.uniform(0.0, 0.9, size=(14, 3, 5))
    beta, th, factor = 0.85, np.array([0.6, 1.0, 0.8, 1.2, 0.7]), np.array([1.0, -0.5, 2.0, 0.25, 3.0])
    layer = LIF(5, beta=beta, threshold=th, reset="subtract", graded_spikes_factor=factor, inhibition=True,
                trainable=("graded_spikes_factor", "threshold"))  # fmt: skip
    free = lif_numpy(x, beta, th, "subtract", factor)[0]
    return layer, x, lif_numpy(x, beta, th, "subtract", factor, inhibition=True), free


def test_lif_options_equal_numpy_in_sequential_under_jit():
    layer, x, (y_np, v_np), free = both_options_case()
    assert (np.abs(y_np) > 0).sum(-1).max() == 1 and (np.abs(free) > 0).sum(-1).max() > 1
    ((y, (states,)),) = run_all([snnx.Sequential(layer)], f32(x))
    np.testing.assert_allclose(y, y_np, rtol=1e-6)
    np.testing.assert_allclose(states["v"], v_np, rtol=1e-5, atol=1e-5)


def test_inhibition_winner_by_hand_and_over_every_unit_axis():
    step = nnx.jit(lambda m, x: m(x, m.init_state(x.shape[0])))
    lif = LIF(3, beta=0.5, threshold=np.array([0.5, 1.5, 1.0]), inhibition=True)
    # u - th = (1.0, 0.7, -0.5): unit 0 wins although unit 1 has the higher membrane; both are reset.
    # Second sample, a tie of u - th = 0.5 at units 0 and 1: the first wins; third: nobody crosses.
    z, s = step(lif, f32([[1.5, 2.2, 0.5], [1.0, 2.0, 0.0], [0.2, 0.3, 0.9]]))
    np.testing.assert_array_equal(z, [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(s["v"], [[0.0, 0.0, 0.5], [0.0, 0.0, 0.0], [0.2, 0.3, 0.9]], rtol=1e-7)
    # a (2, 2) layer competes over its four units
    grid = LIF((2, 2), threshold=1.0, inhibition=True, graded_spikes_factor=2.0)
    z, _ = step(grid, f32([[[1.2, 1.1], [3.0, 0.0]]]))
    np.testing.assert_array_equal(z, [[[0.0, 0.0], [2.0, 0.0]]])


def test_lif_options_leave_the_fused_kernel_and_the_plan_says_why():
    plain = LIF(4, beta=0.9)
    cfg, p = plain.leaky()
    assert fusable(plain) and set(p) == {"beta", "v_leak", "threshold", "v_reset"}
    assert cfg == LeakyConfig(leak=True, spiking=True, reset="zero", surrogate=plain.surrogate)
    x = jnp.ones((6, 2, 4))
    assert plan(plain, x).steps[0].kind == "FusedNeuron"
    for kw, why in (({"inhibition": True}, "lateral inhibition"), ({"graded_spikes_factor": 2.0}, "graded")):
        layer = LIF(4, beta=0.9, **kw)
        (step,) = plan(layer, x).steps
        assert not fusable(layer) and step.kind == "Scan"
        assert step.notes[0].startswith(f"not fused: LIF has {why}"), step.notes


# --------------------------------------------------------------------------- RALIF


def ralif_numpy(x, kernel, bias, beta, gamma, th0, adaptation, reset):
    v = a = z = np.zeros(x.shape[1:])
    zs, vs, as_ = [], [], []
    for xt in x:
        v = beta * v + xt + z @ kernel + bias
        th = th0 + adaptation * a
        z, v = reset_np(v, th, reset)
        a = gamma * a + z
        zs.append(z)
        vs.append(v)
        as_.append(a)
    return np.stack(zs), np.stack(vs), np.stack(as_)


def ralif_case():
    rng = np.random.default_rng(5)
    n = 5
    kernel, bias = rng.normal(scale=0.6, size=(n, n)), rng.normal(scale=0.2, size=n)
    layer = RALIF(n, beta=0.85, gamma=0.9, threshold=1.0, adaptation=0.6, reset="subtract",
                  trainable=True, rngs=nnx.Rngs(0), use_bias=True, kernel_init=ZERO)  # fmt: skip
    layer.recurrent.kernel[...] = f32(kernel)
    layer.recurrent.bias[...] = f32(bias)
    x = rng.uniform(0.0, 0.8, size=(16, 2, n))
    return layer, x, ralif_numpy(x, kernel, bias, 0.85, 0.9, 1.0, 0.6, "subtract"), (kernel, bias)


def norse_case():
    """Norse's LSNNRecurrent with dt*tau_syn_inv = 1 and w_rec = 0 is RALIF on the input one step late."""
    d = peer("lsnn")
    k = float(d["dt"] * d["tau_mem_inv"])
    gamma = 1.0 - float(d["dt"] * d["tau_adapt_inv"])
    adaptation = gamma * float(d["beta_adapt"])
    layer = RALIF(4, beta=1.0 - k, gamma=gamma, threshold=float(d["v_th"]), adaptation=adaptation,
                  rngs=nnx.Rngs(0), kernel_init=ZERO)  # fmt: skip
    x = np.concatenate([np.zeros_like(d["x"][:1]), k * d["x"][:-1]])  # identity input weights
    return layer, x, d


def rlif_case():
    """RALIF with adaptation = 0 and RLIF with the same recurrent weights."""
    n = 4
    kw = {"beta": 0.8, "threshold": 0.7, "reset": "subtract", "use_bias": True, "kernel_init": ZERO}
    ralif = RALIF(n, adaptation=0.0, rngs=nnx.Rngs(3), **kw)
    rlif = RLIF(n, rngs=nnx.Rngs(3), **kw)
    rng = np.random.default_rng(2)
    ralif.recurrent.kernel[...] = rlif.recurrent.kernel[...] = f32(rng.normal(scale=0.5, size=(n, n)))
    ralif.recurrent.bias[...] = rlif.recurrent.bias[...] = f32(np.linspace(-0.2, 0.3, n))
    return ralif, rlif, rng.uniform(0.0, 0.6, size=(12, 2, n))


def test_ralif_equals_numpy_norse_and_rlif_without_adaptation():
    layer, x, (z_np, v_np, a_np), (kernel, bias) = ralif_case()
    norse, x_norse, d = norse_case()
    ralif, rlif, x_rlif = rlif_case()
    runs = run_all([snnx.Sequential(layer), norse, ralif, rlif], [x, x_norse, x_rlif, x_rlif])
    # float64 numpy, in a Sequential under jit
    assert 0 < z_np.mean() < 0.6
    no_adaptation = ralif_numpy(x, kernel, bias, 0.85, 0.9, 1.0, 0.0, "subtract")[0]
    assert (no_adaptation != z_np).any()  # the adaptation changes the spike train
    z, (states,) = runs[0]
    np.testing.assert_array_equal(z, z_np)
    np.testing.assert_array_equal(states["z"], z_np)
    np.testing.assert_allclose(states["v"], v_np, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(states["a"], a_np, rtol=1e-5, atol=1e-5)
    # Norse: Norse's b - v_th is beta_norse * a
    z, states = runs[1]
    assert 0 < d["z"].mean() < 1
    np.testing.assert_array_equal(z, d["z"])
    np.testing.assert_allclose(states["v"], d["v"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(states["a"], (d["b"] - d["v_th"]) / d["beta_adapt"], rtol=1e-5, atol=1e-5)
    # adaptation = 0 is RLIF
    (z, states), (z_ref, states_ref) = runs[2:]
    assert 0 < float(z.mean()) < 1
    np.testing.assert_array_equal(z, z_ref)
    np.testing.assert_allclose(states["v"], states_ref["v"], atol=1e-6)


# --------------------------------------------------------------------------- SLSTM / SConvLSTM


def slstm_numpy(x, w_ih, w_hh, b, th, reset):
    """PyTorch's LSTMCell equations (gates i | f | g | o) in float64, then spike and reset h."""
    hidden = w_hh.shape[1]
    c = h = np.zeros((*x.shape[1:-1], hidden))
    zs, cs, hs = [], [], []
    for xt in x:
        i, f, g, o = np.split(xt @ w_ih.T + h @ w_hh.T + b, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        z, h = reset_np(sigmoid(o) * np.tanh(c), th, reset)
        zs.append(z)
        cs.append(c)
        hs.append(h)
    return np.stack(zs), np.stack(cs), np.stack(hs)


def slstm_from(d, **kw) -> SLSTM:
    layer = SLSTM(d["weight_ih"].shape[1], d["weight_hh"].shape[1], threshold=float(d["threshold"]),
                  rngs=nnx.Rngs(0), kernel_init=ZERO, recurrent_kernel_init=ZERO, **kw)  # fmt: skip
    layer.input_gates.kernel[...] = f32(d["weight_ih"].T)
    layer.input_gates.bias[...] = f32(d["bias_ih"] + d["bias_hh"])
    layer.hidden_gates.kernel[...] = f32(d["weight_hh"].T)
    return layer


def check_slstm(resets):
    """SLSTM with snnTorch's weights, in a Sequential under jit, against snnTorch (reset "none", its
    default; its other resets act a step late) and float64 numpy."""
    d = peer("slstm")
    runs = run_all([snnx.Sequential(slstm_from(d, reset=r)) for r in resets], f32(d["x"]))
    assert 0 < d["spk"].mean() < 1
    b, th = d["bias_ih"].astype(np.float64) + d["bias_hh"], float(d["threshold"])
    for reset, (z, (states,)) in zip(resets, runs, strict=True):
        z_np, c_np, h_np = slstm_numpy(d["x"], d["weight_ih"], d["weight_hh"], b, th, reset)
        if reset == "none":
            np.testing.assert_array_equal(z, d["spk"])
            np.testing.assert_allclose(states["c"], d["syn"], atol=1e-5)
            np.testing.assert_allclose(states["h"], d["mem"], atol=1e-5)
        else:
            assert (z_np != d["spk"]).any()  # the reset changes the spike train
        np.testing.assert_array_equal(z, z_np)
        np.testing.assert_allclose(states["c"], c_np, atol=1e-5)
        np.testing.assert_allclose(states["h"], h_np, atol=1e-5)


def test_slstm_matches_snntorch_and_numpy():
    check_slstm(("none", "zero"))


def conv_same_np(x, kernel):
    """'SAME' cross-correlation, channels-last, odd kernel: x (B, H, W, C), kernel (kh, kw, C, O)."""
    kh, kw = kernel.shape[:2]
    pad = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    h, w = x.shape[1:3]
    return sum(pad[:, i:i + h, j:j + w] @ kernel[i, j] for i in range(kh) for j in range(kw))


def sconvlstm_case(reset):
    """snnTorch's SConv2dLSTM weights in an SConvLSTM built by Sequential: (model, x, d, kernel, bias)."""
    d = peer("sconvlstm")
    c_out = d["spk"].shape[2]
    perm = np.concatenate([np.arange(c_out) + k * c_out for k in (0, 1, 3, 2)])  # i|f|o|g -> i|f|g|o
    kernel, bias = d["weight"][perm].transpose(2, 3, 1, 0), d["bias"][perm]
    x = np.moveaxis(d["x"], 2, -1)  # (T, B, C, H, W) -> (T, B, H, W, C)
    layer = SConvLSTM(x.shape[-1], c_out, 3, threshold=float(d["threshold"]), reset=reset, rngs=nnx.Rngs(0),
                      kernel_init=ZERO)  # fmt: skip
    model = snnx.Sequential(layer, input_shape=x.shape[2:])  # builds the layer
    assert layer.input_shape == x.shape[2:]
    layer.gates.kernel[...] = f32(kernel)
    layer.gates.bias[...] = f32(bias)
    return model, x, d, kernel, bias


def test_sconvlstm_matches_snntorch():
    model, x, d, _, _ = sconvlstm_case("none")
    ((z, (states,)),) = run_all([model], f32(x))
    assert 0 < d["spk"].mean() < 1
    np.testing.assert_array_equal(z, np.moveaxis(d["spk"], 2, -1))
    np.testing.assert_allclose(states["c"], np.moveaxis(d["syn"], 2, -1), atol=1e-5)
    np.testing.assert_allclose(states["h"], np.moveaxis(d["mem"], 2, -1), atol=1e-5)


def test_gradients_flow_through_the_surrogate():
    """One step of each layer from a non-zero state: every gradient of the (graded) spikes is finite and
    not all zero (the recurrent and adaptation terms act through the state)."""
    lif = both_options_case()[0]
    ralif = ralif_case()[0]
    slstm = SLSTM(3, 4, threshold=0.05, reset="zero", trainable=True, rngs=nnx.Rngs(1), kernel_init=ZERO,
                  recurrent_kernel_init=ZERO)  # fmt: skip
    conv = SConvLSTM(2, 3, 3, input_shape=(4, 4, 2), threshold=0.05, trainable=True, rngs=nnx.Rngs(2),
                     kernel_init=ZERO)  # fmt: skip
    rng = np.random.default_rng(6)
    for w in (slstm.input_gates.kernel, slstm.hidden_gates.kernel, conv.gates.kernel):
        w[...] = f32(rng.normal(scale=0.5, size=w[...].shape))
    models = nnx.List([lif, ralif, slstm, conv])
    xs = [f32(rng.uniform(0.5, 1.5, size=(2, *shape))) for shape in ((5,), (5,), (3,), (4, 4, 2))]
    states = [{k: jnp.full_like(v, 1.0 if k == "z" else 0.5) for k, v in m.init_state(2).items()}
              for m in models]  # fmt: skip

    def spikes(ms, xs, ss):
        return sum(jnp.sum(m(x, s)[0]) for m, x, s in zip(ms, xs, ss, strict=True))

    grads = nnx.jit(nnx.grad(spikes))(models, xs, states)
    leaves = {"/".join(map(str, k)): np.asarray(v) for k, v in nnx.to_flat_state(grads)}
    assert {"0/graded_spikes_factor", "0/threshold", "1/adaptation", "1/beta", "1/recurrent/kernel",
            "2/input_gates/kernel", "2/hidden_gates/kernel", "3/gates/kernel", "3/threshold"} <= set(leaves)
    for name, g in leaves.items():
        if name != "1/gamma":  # a's decay acts on the next step's threshold only
            assert np.all(np.isfinite(g)) and np.any(g != 0), name


@pytest.mark.slow
def test_every_engine_agrees_and_the_other_resets():
    """The step, layer and fused engines (the last falls back to the scan here), eager and jitted; the
    resets the quick tests leave out."""
    layer, x, (y_np, v_np), _ = both_options_case()
    y, states = run_every_way(layer, f32(x), return_states=True)
    np.testing.assert_allclose(y, y_np, rtol=1e-6)
    np.testing.assert_allclose(states["v"], v_np, rtol=1e-5, atol=1e-5)
    layer, x, (z_np, _, _), _ = ralif_case()
    z, _ = run_every_way(layer, f32(x), return_states=True)
    np.testing.assert_array_equal(z, z_np)
    d = peer("slstm")
    z, _ = run_every_way(slstm_from(d), f32(d["x"]))
    np.testing.assert_array_equal(z, d["spk"])
    check_slstm(("subtract",))
    # SConvLSTM, same-step reset to zero, against float64 numpy
    model, x, d, kernel, bias = sconvlstm_case("zero")
    ((z, (states,)),) = run_all([model], f32(x))
    c = h = np.zeros((*x.shape[1:-1], kernel.shape[-1] // 4))
    z_np = []
    for xt in x:
        i, f, g, o = np.split(conv_same_np(np.concatenate([xt, h], -1), kernel) + bias, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        z_t, h = reset_np(sigmoid(o) * np.tanh(c), float(d["threshold"]), "zero")
        z_np.append(z_t)
    assert (np.stack(z_np) != np.moveaxis(d["spk"], 2, -1)).any()  # the reset changes the spike train
    np.testing.assert_array_equal(z, np.stack(z_np))
    np.testing.assert_allclose(states["c"][-1], c, atol=1e-5)
    np.testing.assert_allclose(states["h"][-1], h, atol=1e-5)


# --------------------------------------------------------------------------- bad input


BAD = [
    (lambda: LIF(3, inhibition="yes"), TypeError, r"`inhibition` must be a bool, got str"),
    (lambda: LIF(3, graded_spikes_factor=np.nan), ValueError, r"`graded_spikes_factor` must be finite"),
    (lambda: LIF(3, graded_spikes_factor=[1.0, 2.0]), ValueError, r"`graded_spikes_factor` must be a scalar"),
    (lambda: LIF(3, trainable=("graded_spikes_factor",)), ValueError, r"binary spikes: pass `graded_spikes"),
    (lambda: RALIF(0, rngs=nnx.Rngs(0)), ValueError, r"`shape` of a recurrent layer must be a positive int"),
    (lambda: RALIF(3, gamma=1.5, rngs=nnx.Rngs(0)), ValueError, r"`gamma` must lie in \[0, 1\]"),
    (lambda: RALIF(3, rngs=None), TypeError, r"`rngs` must be an nnx.Rngs"),
    (lambda: SLSTM(0, 4, rngs=nnx.Rngs(0)), ValueError, r"`in_features` must be a positive int, got 0"),
    (lambda: SLSTM(3, 4, reset="soft", rngs=nnx.Rngs(0)), ValueError, r"`reset` must be one of"),
    (lambda: SLSTM(3, 4, threshold=[0.1, 0.2], rngs=nnx.Rngs(0)), ValueError,
     r"`threshold` must be a scalar"),
    (lambda: SLSTM(3, 4, rngs=0), TypeError, r"`rngs` must be an nnx.Rngs"),
    (lambda: SConvLSTM(2, 3, (3, 3, 3), rngs=nnx.Rngs(0)), ValueError,
     r"`kernel_size` must be an int or a pair"),
    (lambda: SConvLSTM(2, 3, 3, input_shape=(5, 5, 3), rngs=nnx.Rngs(0)), ValueError,
     r"`input_shape` of SConvLSTM must be \(H, W, 2\)"),
    (lambda: SConvLSTM(2, 3, 3, rngs=nnx.Rngs(0), kernel_init=ZERO).init_state(1), ValueError,
     r"has no input shape yet"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_arguments_are_named(i):
    make, kind, match = BAD[i]
    with pytest.raises(kind, match=match):
        make()


def test_bad_step_input_is_named():
    layer = SLSTM(3, 4, rngs=nnx.Rngs(0), kernel_init=ZERO, recurrent_kernel_init=ZERO)
    with pytest.raises(ValueError, match=r"`x` must have shape \(\*batch, 3\), got \(2, 4\)"):
        layer(jnp.ones((2, 4)), layer.init_state(2))
    with pytest.raises(ValueError, match=r"`state\['c'\]` must have shape \(2, 4\) for `x` of shape"):
        layer(jnp.ones((2, 3)), layer.init_state(1))
    with pytest.raises(ValueError, match=r"`state` must be a dict with keys \['c', 'h'\]"):
        layer(jnp.ones((2, 3)), {"v": jnp.zeros((2, 4))})
    conv = SConvLSTM(2, 3, 3, input_shape=(4, 4, 2), rngs=nnx.Rngs(0), kernel_init=ZERO)
    with pytest.raises(ValueError, match=r"this SConvLSTM has input shape \(4, 4, 2\), got \(5, 5, 2\)"):
        conv.build((5, 5, 2))
