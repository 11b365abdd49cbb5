"""``make_tbptt_update``: truncated BPTT against a plain-Python window loop with ``jax.grad`` and optax."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from snnx import losses, metrics
from snnx.encoders import pack_spikes
from snnx.engine import Sequential, run
from snnx.neurons import LI, LIF
from snnx.train import make_train_step
from snnx.train._tbptt import make_tbptt_update

LOSS = losses.max_membrane_cross_entropy
ACC = {"accuracy": metrics.max_membrane_accuracy}
T, D, C = 10, 5, 3
TX = optax.sgd(0.5, momentum=0.9)  # one object: the optimizer is part of nnx.jit's cache key


@functools.cache
def jitted_update(window: int, num_steps: int | None = None):
    """One compiled update per window, shared by the tests (compiled once per shape)."""
    return nnx.jit(make_tbptt_update(LOSS, window=window, metrics=ACC, num_steps=num_steps))


def data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.random((T, n, D)) < 0.4).astype(np.float32)
    return x, rng.integers(0, C, n).astype(np.int32)


def model(seed=0, dropout=False):
    rngs = nnx.Rngs(seed)
    layers = [nnx.Linear(D, 8, rngs=rngs)]
    if dropout:
        layers.append(nnx.Dropout(0.3, rngs=rngs))
    return Sequential(*layers, LIF(8), nnx.Linear(8, C, rngs=rngs), LI(C))


def params(m) -> dict:
    flat, _ = jax.tree_util.tree_flatten_with_path(nnx.to_pure_dict(nnx.state(m, nnx.Param)))
    return {jax.tree_util.keystr(k): np.asarray(v) for k, v in flat}


def assert_same_params(a, b, rtol=1e-5, atol=1e-6):
    pa, pb = params(a), params(b)
    assert pa.keys() == pb.keys()
    for k in pa:
        np.testing.assert_allclose(pa[k], pb[k], rtol=rtol, atol=atol, err_msg=k)


def reference(m, tx, x, y, k, loss_fn, record=None):
    """Truncated BPTT written out: a Python loop over windows, ``jax.value_and_grad`` on the pure
    parameters, ``optax`` by hand; the non-parameter state (dropout RNG counters) threaded explicitly.

    Returns ``(parameters, mean window loss, whole-sequence outputs, whole-sequence activity)``.
    """
    graphdef, p, rest = nnx.split(m, nnx.Param, ...)
    opt_state = tx.init(p)

    def f(p, rest, s, x_w):
        mm = nnx.merge(graphdef, p, rest, copy=True)  # fresh Variables, mutable in this trace
        res = run(mm, x_w, s, record=record)
        act = None if record is None else res[2].outputs
        value = loss_fn(res[0], y) if record is None else loss_fn(res[0], y, act)
        return value, (res[0], act, res[1], nnx.split(mm, nnx.Param, ...)[2])

    grad_f = jax.jit(jax.value_and_grad(f, has_aux=True))
    x = jnp.asarray(x)
    state, window_losses, outs, acts = m.init_state(x.shape[1]), [], [], []
    for start in range(0, x.shape[0], k):
        (value, (out, act, state, rest)), g = grad_f(p, rest, state, x[start : start + k])
        updates, opt_state = tx.update(g, opt_state, p)
        p = optax.apply_updates(p, updates)
        window_losses.append(float(value))
        outs.append(out)
        acts.append(act)
    act = None if record is None else {key: jnp.concatenate([a[key] for a in acts]) for key in acts[0]}
    return nnx.merge(graphdef, p, rest), np.mean(window_losses), jnp.concatenate(outs), act


@pytest.mark.parametrize("window", [T, T + 5])
def test_window_at_least_T_is_make_train_step(window):
    x, y = data()
    a, b = model(dropout=True), model(dropout=True)
    got = nnx.jit(make_tbptt_update(LOSS, window=window, metrics=ACC))(
        a, nnx.Optimizer(a, optax.sgd(0.5), wrt=nnx.Param), x, y
    )
    want = make_train_step(LOSS, metrics=ACC)(b, nnx.Optimizer(b, optax.sgd(0.5), wrt=nnx.Param), x, y)
    assert_same_params(a, b, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    np.testing.assert_allclose(got[1]["accuracy"], want[1]["accuracy"])
    assert bool(got[2]) and bool(want[2])


@pytest.mark.slow  # compiles several programs; the quick tier keeps a cheaper check
@pytest.mark.parametrize(("k", "dropout", "packed"), [(3, True, False), (5, False, True)])
def test_windows_match_a_python_loop_with_jax_grad_and_optax(k, dropout, packed):
    x, y = data()
    m, ref = model(dropout=dropout), model(dropout=dropout)
    update = jitted_update(k, num_steps=T if packed else None)  # packed: bit-packed input, 8 steps a byte
    loss, values, finite = update(m, nnx.Optimizer(m, TX, wrt=nnx.Param), pack_spikes(x) if packed else x, y)
    want, want_loss, outputs, _ = reference(ref, TX, x, y, k, LOSS)  # optimizer state crosses windows
    assert_same_params(m, want)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-5)
    np.testing.assert_allclose(values["accuracy"], metrics.max_membrane_accuracy(outputs, y))
    assert bool(finite)


def recording_sgd(n_windows: int) -> optax.GradientTransformation:
    """Zero updates; the state keeps every window's gradient (row ``i``: window ``i``)."""

    def init(p):
        return (
            jnp.zeros((), jnp.int32),
            jax.tree.map(lambda a: jnp.zeros((n_windows, *a.shape), a.dtype), p),
        )

    def update(g, state, p=None):
        i, seen = state
        seen = jax.tree.map(lambda s, gi: s.at[i].set(gi), seen, g)
        return jax.tree.map(jnp.zeros_like, g), (i + 1, seen)

    return optax.GradientTransformation(init, update)


@pytest.mark.slow  # compiles several programs; the quick tier keeps a cheaper check
def test_gradient_does_not_cross_a_window_boundary():
    # a linear leaky readout: window 2's loss depends on window 1's inputs only through the membrane
    x = jnp.asarray(np.random.default_rng(1).normal(size=(T, 4, D)), jnp.float32)
    y = jnp.zeros(4, jnp.int32)
    m = Sequential(nnx.Linear(D, C, rngs=nnx.Rngs(0)), LI(C, beta=0.9))

    def loss_fn(out, _):
        return jnp.mean(out**2)

    k = T // 2
    opt = nnx.Optimizer(m, recording_sgd(2), wrt=nnx.Param)
    nnx.jit(make_tbptt_update(loss_fn, window=k))(m, opt, x, y)
    seen = nnx.to_pure_dict(opt.opt_state[1])

    graphdef, p, rest = nnx.split(m, nnx.Param, ...)
    mid = run(m, x[:k])[1]

    def window2(p, s):
        return loss_fn(run(nnx.merge(graphdef, p, rest), x[k:], s)[0], y)

    def through_state(p):  # full BPTT of the same window-2 loss
        return window2(p, run(nnx.merge(graphdef, p, rest), x[:k])[1])

    def window1(p):
        return loss_fn(run(nnx.merge(graphdef, p, rest), x[:k])[0], y)

    want = [nnx.to_pure_dict(jax.grad(window1)(p)), nnx.to_pure_dict(jax.grad(window2)(p, mid))]
    for i in range(2):
        got = jax.tree.leaves(jax.tree.map(lambda a, i=i: a[i], seen))
        for g, w in zip(got, jax.tree.leaves(want[i]), strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-7)
    # the state path carries gradient to the input weights, which truncation must drop
    full = nnx.to_pure_dict(jax.grad(through_state)(p))
    gap = np.abs(np.asarray(full["layers"][0]["kernel"]) - np.asarray(want[1]["layers"][0]["kernel"]))
    assert gap.max() > 1e-3


@pytest.mark.slow  # compiles several programs; the quick tier keeps a cheaper check
def test_inside_jax_jit_with_split_and_merge():
    x, y = data()
    update = make_tbptt_update(LOSS, window=3, metrics=ACC)
    a, b = model(dropout=True), model(dropout=True)
    opt_a, opt_b = nnx.Optimizer(a, TX, wrt=nnx.Param), nnx.Optimizer(b, TX, wrt=nnx.Param)
    graphdef, pure = nnx.split((b, opt_b))

    @jax.jit
    def compiled(pure, x, y):  # the integrator's compiled loop, in miniature
        mm, oo = nnx.merge(graphdef, pure)
        out = update(mm, oo, x, y)
        return nnx.state((mm, oo)), out

    got, want = [], []
    for _ in range(2):  # the dropout RNG counters and the optimizer state carry over between calls
        pure, out = compiled(pure, jnp.asarray(x), jnp.asarray(y))
        got.append(out)
        want.append(jitted_update(3)(a, opt_a, x, y))
    nnx.update((b, opt_b), pure)
    assert_same_params(a, b)
    assert int(opt_b.step[...]) == int(opt_a.step[...]) == 8  # windows 3 + 3 + 3 + 1, twice
    for (lg, vg, fg), (lw, vw, fw) in zip(got, want, strict=True):
        np.testing.assert_allclose(lg, lw, rtol=1e-5)
        np.testing.assert_allclose(vg["accuracy"], vw["accuracy"])
        assert bool(fg) and bool(fw)


def test_record_spikes_with_a_regulariser():
    x, y = data()

    def loss_fn(out, targets, activity):
        return LOSS(out, targets) + losses.silence_penalty(activity, 0.3)

    tx = optax.sgd(0.5)
    m, ref = model(), model()
    loss, values, _ = nnx.jit(make_tbptt_update(loss_fn, window=5, metrics=ACC, record="spikes"))(
        m, nnx.Optimizer(m, tx, wrt=nnx.Param), x, y
    )
    want, want_loss, outputs, activity = reference(ref, tx, x, y, 5, loss_fn, record="spikes")
    assert_same_params(m, want)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-5)
    assert set(values) == {"accuracy", "rate/1"}
    np.testing.assert_allclose(values["rate/1"], np.mean(np.asarray(activity["1"])), rtol=1e-6)
    np.testing.assert_allclose(values["accuracy"], metrics.max_membrane_accuracy(outputs, y))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"window": 0}, ValueError, r"`window` must be >= 1, got 0"),
        ({"window": 2.5}, TypeError, r"`window` must be an int, got float 2.5"),
        ({"window": True}, TypeError, r"`window` must be an int, got bool"),
        ({"window": 3, "options": "fast"}, TypeError, r"`options` must be a snnx.engine.Options"),
        ({"window": 3, "num_steps": 0}, ValueError, r"`num_steps` must be >= 1"),
        (
            {"window": 3, "metrics": {"loss": metrics.max_membrane_accuracy}},
            ValueError,
            r"'loss' is reserved",
        ),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_tbptt_update(LOSS, **kwargs)


def test_bad_loss_fn_is_refused():
    with pytest.raises(
        TypeError, match=r"`loss_fn` must be callable as loss_fn\(outputs, targets, activity\)"
    ):
        make_tbptt_update("mse", window=2, record="spikes")


# ---- integration: make_train_step(tbptt=) and fit(tbptt=), Python loop and compiled ----


@pytest.mark.slow  # compiles several programs; the quick tier keeps a cheaper check
def test_fit_with_tbptt_runs_the_window_update_in_both_loops():
    from snnx.train import fit

    x = (np.random.default_rng(0).random((10, 24, 4)) < 0.4).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 3, 24).astype(np.int32)

    def make():
        rngs = nnx.Rngs(0)
        return Sequential(nnx.Linear(4, 8, rngs=rngs), LIF(8), nnx.Linear(8, 3, rngs=rngs), LI(3))

    kw = {"epochs": 2, "batch_size": 8, "progress": False, "tbptt": 3}
    py, comp, plain = make(), make(), make()
    fit(py, optax.sgd(0.1), losses.max_membrane_cross_entropy, (x, y), **kw)
    fit(comp, optax.sgd(0.1), losses.max_membrane_cross_entropy, (x, y), compiled=True, **kw)
    fit(plain, optax.sgd(0.1), losses.max_membrane_cross_entropy, (x, y), **{**kw, "tbptt": None})
    # the same windowed updates by hand: 3 batches x 2 epochs, each cut into windows 3, 3, 3, 1
    ref = make()
    step = make_tbptt_update(losses.max_membrane_cross_entropy, window=3)
    opt = nnx.Optimizer(ref, optax.sgd(0.1), wrt=nnx.Param)
    for epoch in range(2):
        order = np.random.default_rng([0, epoch]).permutation(24)
        for b in range(3):
            idx = order[b * 8 : (b + 1) * 8]
            nnx.jit(step)(ref, opt, x[:, idx], y[idx])
    def leaves(m):
        return [np.asarray(p) for p in jax.tree.leaves(nnx.state(m, nnx.Param))]

    for got in (py, comp):
        for u, v in zip(leaves(got), leaves(ref), strict=True):
            np.testing.assert_allclose(u, v, atol=1e-5)
    assert opt.step[...] == 2 * 3 * 4  # one update per window
    diff = max(float(np.max(np.abs(u - v))) for u, v in zip(leaves(py), leaves(plain), strict=True))
    assert diff > 1e-4  # truncation changed the training


def test_tbptt_with_a_custom_forward_is_refused():
    from snnx.train import default_forward, fit, make_train_step

    with pytest.raises(ValueError, match=r"`tbptt` \(4\) needs the default forward"):
        make_train_step(losses.max_membrane_cross_entropy, forward=default_forward, tbptt=4)
    x = np.zeros((6, 4, 4), np.float32)
    y = np.zeros(4, np.int32)
    with pytest.raises(ValueError, match=r"`tbptt` \(4\) needs the default forward"):
        fit(Sequential(LIF(4)), optax.sgd(0.1), losses.max_membrane_cross_entropy, (x, y), epochs=1,
            forward=lambda m, x: default_forward(m, x), tbptt=4, progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="`tbptt` must be >= 1"):
        fit(Sequential(LIF(4)), optax.sgd(0.1), losses.max_membrane_cross_entropy, (x, y), epochs=1, tbptt=0)
