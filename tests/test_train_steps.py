"""``make_train_step`` / ``make_eval_step``, ``options`` in ``fit``/``evaluate``, the eval-step cache,
eval-mode restoration, and the batched read-back of step results (``sync_every``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from snnx import losses, metrics
from snnx.engine import Options, Sequential, run
from snnx.neurons import LI, LIF
from snnx.train import (
    Checkpointer,
    TrainingDivergedError,
    _steps,
    _sync,
    evaluate,
    fit,
    make_eval_step,
    make_train_step,
)

LOSS = losses.max_membrane_cross_entropy
ACC = {"accuracy": metrics.max_membrane_accuracy}
T, D, C = 6, 5, 2


def data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.random((T, n, D)) < 0.4).astype(np.float32)
    return x, rng.integers(0, C, n).astype(np.int32)


def model(seed=0, dropout=False):
    rngs = nnx.Rngs(seed)
    layers = [nnx.Linear(D, 8, rngs=rngs)]
    if dropout:
        layers += [nnx.Dropout(0.5, rngs=rngs), nnx.Dropout(0.25, rngs=rngs)]
    return Sequential(*layers, LIF(8), nnx.Linear(8, C, rngs=rngs), LI(C))


def params(m) -> dict:
    flat, _ = jax.tree_util.tree_flatten_with_path(nnx.to_pure_dict(nnx.state(m, nnx.Param)))
    return {jax.tree_util.keystr(k): np.asarray(v) for k, v in flat}


@pytest.mark.slow
def test_train_step_is_one_sgd_update_of_the_loss_gradient():
    x, y = data()
    m, lr = model(), 0.5
    graphdef, before, rest = nnx.split(m, nnx.Param, ...)

    def pure_loss(p):  # the same loss, differentiated with jax.grad on the pure parameter state
        return LOSS(run(nnx.merge(graphdef, p, rest), jnp.asarray(x))[0], y)

    want_loss, grads = jax.value_and_grad(pure_loss)(before)
    want = jax.tree.map(lambda p, g: p - lr * g, before, grads)
    outputs = run(m, jnp.asarray(x))[0]

    step = make_train_step(LOSS, metrics=ACC)
    loss, values, finite = step(m, nnx.Optimizer(m, optax.sgd(lr), wrt=nnx.Param), x, y)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-6)
    np.testing.assert_allclose(values["accuracy"], metrics.max_membrane_accuracy(outputs, y))
    assert bool(finite)
    got = nnx.state(m, nnx.Param)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_eval_step_is_loss_and_metrics_of_run():
    x, y = data()
    m = model()
    outputs = run(m, jnp.asarray(x))[0]
    loss, values = make_eval_step(LOSS, metrics=[metrics.max_membrane_accuracy])(m, x, y)
    np.testing.assert_allclose(loss, LOSS(outputs, y), rtol=1e-6)
    np.testing.assert_allclose(values["max_membrane_accuracy"], metrics.max_membrane_accuracy(outputs, y))


@pytest.fixture
def seen_options(monkeypatch):
    """The ``options`` every default-forward call passes to ``run``."""
    seen = []

    def recording_run(m, x, *, options=None, **kwargs):
        seen.append(options)
        return run(m, x, options=options, **kwargs)

    monkeypatch.setattr(_steps, "run", recording_run)
    return seen


def test_options_reach_run_from_every_entry_point(seen_options):
    x, y = data()
    opts = Options(fused=False)
    make_train_step(LOSS, options=opts)(model(), nnx.Optimizer(model(), optax.sgd(0.1), wrt=nnx.Param), x, y)
    make_eval_step(LOSS, options=opts)(model(), x, y)
    evaluate(model(), LOSS, (x, y), batch_size=16, options=opts)
    fit(
        model(),
        optax.sgd(0.1),
        LOSS,
        (x, y),
        epochs=1,
        batch_size=16,
        eval_data=(x, y),
        options=opts,
        progress=False,
    )
    assert seen_options and all(o is opts for o in seen_options)
    seen_options.clear()
    make_eval_step(LOSS)(model(), x, y)
    assert seen_options == [None]  # no options: run's own default (the model's, else Options())


@pytest.mark.parametrize(
    "call",
    [
        lambda: make_train_step(LOSS, forward=run, options=Options()),
        lambda: make_eval_step(LOSS, forward=run, options=Options()),
        lambda: evaluate(model(), LOSS, data(), forward=run, options=Options()),
        lambda: fit(model(), optax.sgd(0.1), LOSS, data(), epochs=1, forward=run, options=Options()),
    ],
)
def test_forward_and_options_together_are_refused(call):
    with pytest.raises(ValueError, match=r"`forward` and `options` were both given"):
        call()


def test_evaluate_compiles_once_per_shape():
    x, y = data(n=64)
    traces = []

    def forward(m, xb):  # runs in Python only while jit traces
        traces.append(xb.shape)
        return run(m, xb)[0]

    m = model()
    first = evaluate(m, LOSS, (x, y), batch_size=32, metrics=ACC, forward=forward)
    assert traces == [(T, 32, D)]
    again = evaluate(m, LOSS, (x, y), batch_size=32, metrics=ACC, forward=forward)
    assert traces == [(T, 32, D)]  # the cached step: not traced again
    assert again == first
    evaluate(m, LOSS, (x[:, :48], y[:48]), batch_size=32, metrics=ACC, forward=forward)
    assert traces == [(T, 32, D), (T, 16, D)]  # only the new remainder shape


def test_evaluate_with_unhashable_arguments_still_works_uncached():
    class Loss:  # defines __eq__ and no __hash__: unhashable
        def __eq__(self, other):
            return isinstance(other, Loss)

        def __call__(self, outputs, targets):
            return LOSS(outputs, targets)

    x, y = data()
    scores = evaluate(model(), Loss(), (x, y), batch_size=16)
    assert scores["loss"] == pytest.approx(evaluate(model(), LOSS, (x, y), batch_size=16)["loss"], rel=1e-6)


def _modes(m):
    return [m[1].deterministic, m[2].deterministic]


@pytest.mark.parametrize("mode", ["eval", "train", "mixed"])
def test_evaluate_restores_the_callers_mode(mode):
    m = model(dropout=True)
    if mode == "eval":
        m.eval()
    elif mode == "train":
        m.train()
    else:  # only the first dropout frozen
        m[1].deterministic = True
    before = _modes(m)
    during = []

    def forward(mm, xb):
        during.append(_modes(mm))
        return run(mm, xb)[0]

    evaluate(m, LOSS, data(), batch_size=16, forward=forward)
    assert during == [[True, True]]  # evaluation itself in eval mode
    assert _modes(m) == before


def _nan_at(bad_step, steps=8, n=4):
    """``steps`` batches per epoch; in epoch 2 (index 1) batch ``bad_step`` (1-based) holds a NaN."""
    x, y = data(n=steps * n)

    def batches(epoch):
        for i in range(steps):
            xb = x[:, i * n : (i + 1) * n].copy()
            if epoch == 1 and i == bad_step - 1:
                xb[0, 0, 0] = np.nan
            yield xb, y[i * n : (i + 1) * n]

    return batches


def _poisonable(m, xb):  # a NaN input value poisons the outputs (and so the loss)
    return run(m, xb)[0] + 0.0 * xb[0, 0, 0]


@pytest.mark.parametrize("sync_every", [1, 5])
@pytest.mark.parametrize("bad_step", [3, 7])
def test_nan_names_the_exact_step_whatever_sync_every(tmp_path, sync_every, bad_step):
    with pytest.raises(TrainingDivergedError, match=rf"epoch 2, step {bad_step};") as err:
        fit(
            model(),
            optax.adam(1e-2),
            LOSS,
            _nan_at(bad_step),
            epochs=3,
            forward=_poisonable,
            checkpoint_dir=tmp_path,
            sync_every=sync_every,
            progress=False,
        )
    assert (err.value.epoch, err.value.step, err.value.last_checkpoint) == (2, bad_step, 0)
    with Checkpointer(tmp_path) as ckpt:
        assert ckpt.all_epochs() == [0]  # the failing epoch's checkpoint is never written


def _without_times(history):
    return [{k: v for k, v in r.items() if k not in ("time_s", "samples_per_s")} for r in history]


@pytest.mark.slow  # a few seconds of compiling; the quick tier has smaller cases
def test_sync_every_changes_nothing_but_when_results_are_read(monkeypatch):
    x, y = data(n=32)
    reads = []
    sync = _sync.Tally.sync

    def counting(self, **kwargs):
        reads.append(len(self))
        return sync(self, **kwargs)

    runs = []
    for sync_every in (1, 3):
        reads.clear()
        monkeypatch.setattr(_sync.Tally, "sync", counting)
        m = model()
        history = fit(
            m,
            optax.adam(1e-2),
            LOSS,
            (x, y),
            epochs=2,
            batch_size=4,
            metrics=ACC,
            eval_data=data(n=20, seed=1),
            eval_batch_size=4,
            sync_every=sync_every,
            progress=False,
        )
        runs.append((params(m), _without_times(history)))
        if sync_every == 3:  # 8 training steps per epoch: read after 3, 6 and 8; eval: 5 batches, 3 + 2
            assert [r for r in reads if r] == [3, 3, 2, 3, 2] * 2
    (p1, h1), (p3, h3) = runs
    assert h1 == h3  # the same floats, summed in the same order
    for k in p1:
        np.testing.assert_array_equal(p1[k], p3[k], err_msg=k)
