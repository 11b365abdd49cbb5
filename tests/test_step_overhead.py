"""The ``StateJit`` steps of ``make_train_step``/``make_eval_step``/``fit``/``evaluate`` against reference
steps written here with plain ``jax.jit`` over ``nnx.split`` state and optax; in-place updates, the
structure cache (other models, ``model.eval()``), and the ``benchmarks/step_overhead.py`` smoke run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from snnx import losses, metrics
from snnx.engine import Sequential, run
from snnx.neurons import LI, LIF
from snnx.train import evaluate, fit, make_eval_step, make_train_step
from snnx.train._steps import StateJit

LOSS = losses.max_membrane_cross_entropy
ACC = metrics.max_membrane_accuracy
T, D, C = 5, 4, 3
LR = 0.05
ROOT = Path(__file__).resolve().parents[1]


def data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.random((T, n, D)) < 0.5).astype(np.float32)
    return x, rng.integers(0, C, n).astype(np.int32)


def model(hidden=6, seed=0, dropout=False):
    rngs = nnx.Rngs(seed)
    layers = [nnx.Linear(D, hidden, rngs=rngs)]
    if dropout:
        layers.append(nnx.Dropout(0.5, rngs=rngs))
    return Sequential(*layers, LIF(hidden), nnx.Linear(hidden, C, rngs=rngs), LI(C))


def params(m) -> list[np.ndarray]:
    return [np.asarray(a) for a in jax.tree.leaves(nnx.state(m, nnx.Param))]


def close(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-6)


class Reference:
    """Adam on ``LOSS`` by hand: ``jax.jit`` over the parameters split off ``m`` and optax's own state."""

    def __init__(self, m):
        # nnx.split's state holds m's own Variables: copies, so that updating m in place leaves them be
        self.graphdef, *state = nnx.split(m, nnx.Param, ...)
        self.params, self.rest = jax.tree.map(jnp.array, state)
        self.tx = optax.adam(LR)
        self.opt_state = self.tx.init(self.params)

        def outputs(p, x):
            return run(nnx.merge(self.graphdef, p, self.rest), x)[0]

        @jax.jit
        def train(p, opt_state, x, y):
            def objective(p):
                out = outputs(p, x)
                return LOSS(out, y), out

            (loss, out), grads = jax.value_and_grad(objective, has_aux=True)(p)
            updates, opt_state = self.tx.update(grads, opt_state, p)
            return optax.apply_updates(p, updates), opt_state, loss, ACC(out, y)

        @jax.jit
        def score(p, x, y):
            out = outputs(p, x)
            return LOSS(out, y), ACC(out, y)

        self._train, self.score = train, score

    def step(self, x, y):
        self.params, self.opt_state, loss, acc = self._train(self.params, self.opt_state, x, y)
        return float(loss), float(acc)

    def leaves(self):
        return jax.tree.leaves(self.params)


def test_train_step_equals_the_reference_and_updates_model_and_optimizer_in_place():
    x, y = data()
    m = model()
    ref = Reference(m)
    opt = nnx.Optimizer(m, optax.adam(LR), wrt=nnx.Param)
    kernel, count = m.layers[0].kernel, opt.step
    step = make_train_step(LOSS, metrics={"accuracy": ACC})
    for _ in range(3):
        loss, values, finite = step(m, opt, x, y)
        want_loss, want_acc = ref.step(x, y)
        assert float(loss) == pytest.approx(want_loss, rel=1e-5)
        assert float(values["accuracy"]) == pytest.approx(want_acc)
        assert bool(finite)
    assert m.layers[0].kernel is kernel and opt.step is count  # the same Variables, new values
    close(params(m), ref.leaves())
    assert int(opt.step[...]) == 3
    adam = opt.opt_state[0]  # optax's ScaleByAdamState(count, mu, nu), held as nnx variables
    close([adam.count[...]], [ref.opt_state[0].count])
    close(jax.tree.leaves(adam.mu), jax.tree.leaves(ref.opt_state[0].mu))
    close(jax.tree.leaves(adam.nu), jax.tree.leaves(ref.opt_state[0].nu))


def test_one_step_serves_models_of_other_shapes_and_instances_each_with_its_own_state():
    x, y = data()
    models = [model(hidden=6, seed=0), model(hidden=9, seed=1), model(hidden=6, seed=2)]
    refs = [Reference(m) for m in models]
    opts = [nnx.Optimizer(m, optax.adam(LR), wrt=nnx.Param) for m in models]
    step = make_train_step(LOSS)
    for i in (0, 1, 2, 1, 0, 2):  # interleaved: each call must use its own model's structure and state
        loss, _, _ = step(models[i], opts[i], x, y)
        assert float(loss) == pytest.approx(refs[i].step(x, y)[0], rel=1e-5)
    for m, ref in zip(models, refs, strict=True):
        close(params(m), ref.leaves())


def test_a_layer_used_twice_keeps_one_set_of_variables():
    x, y = data()
    shared = nnx.Linear(D, C, rngs=nnx.Rngs(0))
    m = Sequential(shared, LIF(C), nnx.Linear(C, D, rngs=nnx.Rngs(1)), LIF(D), shared, LI(C))
    ref = Reference(m)  # nnx.split lists the shared kernel once: its gradient sums both uses
    opt = nnx.Optimizer(m, optax.adam(LR), wrt=nnx.Param)
    step = make_train_step(LOSS)
    for _ in range(2):
        loss, _, _ = step(m, opt, x, y)
        assert float(loss) == pytest.approx(ref.step(x, y)[0], rel=1e-5)
    assert m.layers[0].kernel is m.layers[4].kernel
    close(params(m), ref.leaves())


def test_eval_step_equals_the_reference_and_changes_nothing():
    x, y = data()
    m = model()
    ref = Reference(m)
    before, kernel = params(m), m.layers[0].kernel.get_raw_value()
    loss, values = make_eval_step(LOSS, metrics=[ACC])(m, x, y)
    want_loss, want_acc = ref.score(ref.params, x, y)
    assert float(loss) == pytest.approx(float(want_loss), rel=1e-6)
    assert float(values["max_membrane_accuracy"]) == pytest.approx(float(want_acc))
    close(params(m), before)
    assert m.layers[0].kernel.get_raw_value() is kernel  # nothing assigned, nothing written back


def test_model_eval_recompiles_and_a_changed_rng_count_is_written_back():
    x, y = data(n=16)
    m = model(dropout=True)
    step = make_eval_step(LOSS)
    count = m.layers[1].rngs.count  # the Dropout's stream: its count advances with every draw
    train_mode, _ = step(m, x, y)
    draws = int(count[...])
    assert draws > 0  # the forward pass drew its masks, and the advanced count was written back
    m.eval()  # Dropout.deterministic = True: another graph, another compilation
    eval_mode, _ = step(m, x, y)
    graphdef, state = nnx.split(m)
    want = jax.jit(lambda s: LOSS(run(nnx.merge(graphdef, s), jnp.asarray(x))[0], y))(state)
    assert float(eval_mode) == pytest.approx(float(want), rel=1e-6)
    assert float(eval_mode) != pytest.approx(float(train_mode), rel=1e-3)  # a stale graph would drop
    assert int(count[...]) == draws  # nothing drawn in eval mode
    m.train()
    step(m, x, y)
    assert int(count[...]) == 2 * draws


def test_fit_and_evaluate_equal_the_reference():
    batches = [data(n=8, seed=s) for s in (1, 2)]
    x_eval, y_eval = data(n=12, seed=3)
    m = model()
    ref = Reference(m)
    history = fit(m, optax.adam(LR), LOSS, lambda epoch: batches, epochs=2, batch_size=8,
                  eval_data=(x_eval, y_eval), metrics={"accuracy": ACC}, progress=False)  # fmt: skip
    for record in history:
        losses_, accs = zip(*(ref.step(x, y) for x, y in batches), strict=True)
        assert record["loss"] == pytest.approx(np.mean(losses_), rel=1e-5)
        assert record["accuracy"] == pytest.approx(np.mean(accs))
        # eval batches of 8 and 4 (eval_batch_size = batch_size): sample-weighted means
        scores = [ref.score(ref.params, x_eval[:, s], y_eval[s]) for s in (slice(0, 8), slice(8, 12))]
        want = (8 * float(scores[0][0]) + 4 * float(scores[1][0])) / 12
        assert record["eval_loss"] == pytest.approx(want, rel=1e-5)
    close(params(m), ref.leaves())
    got = evaluate(m, LOSS, (x_eval, y_eval), batch_size=5, metrics={"accuracy": ACC})
    parts = [slice(0, 5), slice(5, 10), slice(10, 12)]
    scores = [(s.stop - s.start, ref.score(ref.params, x_eval[:, s], y_eval[s])) for s in parts]
    assert got["loss"] == pytest.approx(sum(n * float(ls) for n, (ls, _) in scores) / 12, rel=1e-5)
    assert got["accuracy"] == pytest.approx(sum(n * float(a) for n, (_, a) in scores) / 12)


def test_a_step_that_changes_the_graph_falls_back_to_nnx_jit():
    def grow(m, x):  # adds a Variable: the structure after the call is not the one compiled
        m.extra = nnx.Variable(jnp.sum(x))
        return jnp.sum(x)

    m = nnx.Linear(2, 2, rngs=nnx.Rngs(0))
    why = r"'grow': the step changes its nodes' graph structure; compiled with nnx.jit instead"
    with pytest.warns(UserWarning, match=why):
        out = StateJit(grow, num_nodes=1)(m, jnp.ones(3))
    assert float(out) == 3.0
    assert float(m.extra[...]) == 3.0  # nnx.jit carried the new attribute out


def test_bind_needs_the_graph_nodes():
    with pytest.raises(TypeError, match=r"`bind` takes the 2 graph node\(s\), got 1"):
        make_train_step(LOSS).bind(model())


@pytest.mark.slow
def test_step_overhead_benchmark_prints_every_variant():
    script = ROOT / "benchmarks" / "step_overhead.py"
    cmd = [sys.executable, str(script), "--workload", "tiny", "--rounds", "1", "--calls", "2"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = {line.split()[0]: line.split()[1:] for line in r.stdout.splitlines()[2:]}
    assert set(rows) == {"bare", "train_step", "fit", "bare_eval", "eval_step", "evaluate"}
    for name, (median, quartiles, ratio, reference) in rows.items():
        assert float(median) > 0 and reference in ("bare", "bare_eval")
        q1, q3 = (float(q) for q in quartiles.split("-"))
        assert q1 <= float(median) <= q3
        if name == reference:
            assert float(ratio) == 1.0
