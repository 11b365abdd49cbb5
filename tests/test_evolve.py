"""``snnx.evolve``: evolution strategies through evosax.

Expectations are independent of the code under test: a least-squares optimum
from ``numpy.linalg.lstsq``, the parameters :func:`snnx.train.fit` reaches with
the same optimizer and batches, the sigma rule recomputed with numpy, a zero
gradient that leaves ``fit`` exactly where it started. The 2-device sharding
check runs this file as a script in a subprocess (``_worker``), because JAX
reads ``XLA_FLAGS`` once, at import.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import snnx
from snnx import losses, metrics
from snnx.evolve import ES, FULL_COVARIANCE_LIMIT, evolve
from snnx.train import evaluate, fit

T, D, H, C = 6, 8, 12, 3


def small_data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.random((T, n, D)) < 0.3).astype(np.float32)
    return x, rng.integers(0, C, n).astype(np.int32)


def small_model(seed=0):
    rngs = nnx.Rngs(seed)
    return snnx.Sequential(nnx.Linear(D, H, rngs=rngs), snnx.LIF(H), nnx.Linear(H, C, rngs=rngs), snnx.LI(C))


def params(model) -> np.ndarray:
    return np.concatenate([np.ravel(p) for p in jax.tree.leaves(nnx.state(model, nnx.Param))])


def run_small(solver=None, **kw):
    model = small_model()
    kw = {"epochs": 2, "batch_size": 16, "progress": False, **kw}
    history = evolve(model, solver or ES("open_es", population_size=8), losses.max_membrane_cross_entropy,
                     small_data(), **kw)  # fmt: skip
    return model, history


# --- arguments -------------------------------------------------------------------------------------


def test_unknown_strategy_lists_the_known_ones():
    with pytest.raises(
        ValueError, match=r"`strategy` must be one of 'open_es', 'snes', 'sep_cma_es', 'pgpe'"
    ):
        ES("cmaes")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"strategy": "open_es", "population_size": 7}, ValueError, r"even for 'open_es'.*got 7"),
        ({"strategy": "pgpe", "population_size": 9}, ValueError, r"even for 'pgpe'"),
        ({"population_size": 1}, ValueError, r"`population_size` must be an int >= 2, got 1"),
        ({"sigma": -0.1}, ValueError, r"`sigma` must be a positive number"),
        ({"learning_rate": 0.0}, ValueError, r"`learning_rate` must be a positive number"),
        ({"prime_steps": -1}, ValueError, r"`prime_steps` must be an int >= 0"),
        ({"prime_optimizer": "adam"}, TypeError, r"`prime_optimizer` must be an optax"),
    ],
)
def test_solver_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ES(**kwargs)


def test_solver_is_a_hashable_frozen_record():
    a, b = ES("snes", population_size=16, sigma=0.05), ES("snes", population_size=16, sigma=0.05)
    assert a == b and hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.sigma = 1.0


def test_sigma_rule_is_a_tenth_of_the_rms():
    flat = np.random.default_rng(1).normal(0.0, 0.3, 500).astype(np.float32)
    expected = 0.1 * np.sqrt(np.mean(flat.astype(np.float64) ** 2))
    assert ES().initial_sigma(flat) == pytest.approx(expected, rel=1e-12)
    assert ES(sigma=0.7).initial_sigma(flat) == 0.7
    assert ES().initial_sigma(np.zeros(4)) == 0.01  # no scale to take a fraction of


def test_cma_es_refused_above_the_size_limit():
    model = nnx.Linear(64, 40, rngs=nnx.Rngs(0))  # 2600 parameters
    x, y = np.zeros((1, 8, 64), np.float32), np.zeros(8, np.int32)
    assert 64 * 40 + 40 > FULL_COVARIANCE_LIMIT
    with pytest.raises(
        ValueError, match=r"'cma_es' keeps a full 2600 x 2600 covariance.*'sep_cma_es'.*'snes'"
    ):
        evolve(model, ES("cma_es", population_size=8), lambda o, t: jnp.mean(o), (x, y), epochs=1,
               batch_size=8, forward=lambda m, x: m(x), progress=False)  # fmt: skip


def test_evolve_arguments():
    acc = {"accuracy": metrics.max_membrane_accuracy}
    with pytest.raises(
        ValueError, match=r"`fitness` must be 'loss' or the name of one of `metrics` \('accuracy'\)"
    ):
        run_small(metrics=acc, fitness="acc")
    with pytest.raises(TypeError, match=r"`maximize` must be None, True or False, got str"):
        run_small(maximize="yes")
    with pytest.raises(TypeError, match=r"`solver` must be a snnx.evolve.ES, got GradientTransformation"):
        evolve(small_model(), optax.adam(1e-3), losses.max_membrane_cross_entropy, small_data(), epochs=1)
    with pytest.raises(
        ValueError, match=r"`batch_size` \(64\) must not exceed the number of training samples"
    ):
        run_small(batch_size=64)
    with pytest.raises(
        ValueError, match=r"`strategy_kwargs` \['bogus'\] are neither arguments of evosax's SNES"
    ):
        run_small(ES("snes", population_size=8, bogus=1))


def test_without_evosax_import_works_and_use_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "evosax", None)
    monkeypatch.setitem(sys.modules, "evosax.algorithms", None)
    for name in [m for m in sys.modules if m.startswith("snnx.evolve")]:
        monkeypatch.delitem(sys.modules, name)
    module = importlib.import_module("snnx.evolve")  # no evosax needed to import
    solver = module.ES("snes", population_size=8)
    with pytest.raises(ImportError, match=r"pip install 'snnx\[evo\]'"):
        module.evolve(small_model(), solver, losses.max_membrane_cross_entropy, small_data(), epochs=1)


# --- behaviour -------------------------------------------------------------------------------------


def test_history_and_the_model_holds_the_centre():
    acc = {"accuracy": metrics.max_membrane_accuracy}
    start = params(small_model())
    model, history = run_small(metrics=acc, eval_data=small_data(20, seed=3), eval_batch_size=20)
    assert [r["epoch"] for r in history] == [1, 2]
    assert set(history[0]) == {
        "epoch", "loss", "accuracy", "fitness", "fitness_best", "eval_loss", "eval_accuracy", "time_s",
        "samples_per_s",
    }  # fmt: skip
    assert not np.allclose(params(model), start)
    # the last evaluation saw the parameters the model holds afterwards
    again = evaluate(model, losses.max_membrane_cross_entropy, small_data(20, seed=3), metrics=acc)
    assert again["loss"] == pytest.approx(history[-1]["eval_loss"], rel=1e-5)
    # a loss fitness is minimised: the best candidate is never worse than the population mean
    assert all(r["fitness_best"] <= r["fitness"] for r in history)


@pytest.mark.slow  # compiles several programs; the quick tier keeps a cheaper check
def test_determinism_per_seed():
    a, ha = run_small(ES("snes", population_size=8), seed=3)
    b, hb = run_small(ES("snes", population_size=8), seed=3)
    c, _ = run_small(ES("snes", population_size=8), seed=4)
    np.testing.assert_array_equal(params(a), params(b))
    assert [r["loss"] for r in ha] == [r["loss"] for r in hb]
    assert not np.allclose(params(a), params(c))


def test_one_compilation_per_run():
    """The forward pass is traced once (the centre and the vmapped population): epochs reuse the program."""
    traces = []

    def forward(model, x):
        traces.append(x.shape)
        return snnx.run(model, x)[0]

    run_small(ES("open_es", population_size=8), epochs=3, forward=forward)
    assert traces == [(T, 16, D), (T, 16, D)]


def _mean_output(outputs, targets):
    return jnp.mean(outputs)


@pytest.mark.parametrize("maximize", [True, False])
def test_fitness_direction(maximize):
    """The fitness is a metric (the readout's mean value): maximised it rises, minimised it falls."""
    model = nnx.Linear(D, 1, rngs=nnx.Rngs(0))
    x, y = small_data(64)
    before = float(np.mean(np.asarray(model(jnp.asarray(x)))))
    history = evolve(
        model, ES("open_es", population_size=8, learning_rate=0.05), lambda o, t: jnp.float32(0.0), (x, y),
        epochs=3, batch_size=16, metrics={"level": _mean_output}, fitness="level", maximize=maximize,
        forward=lambda m, x: m(x), progress=False,
    )  # fmt: skip
    after = float(np.mean(np.asarray(model(jnp.asarray(x)))))
    assert (after > before + 0.5) if maximize else (after < before - 0.5)
    direction = np.sign(history[-1]["level"] - history[0]["level"])
    assert direction == (1 if maximize else -1)
    # the best candidate is the highest (maximise) or lowest (minimise) of the population
    assert all((r["fitness_best"] >= r["fitness"]) == maximize for r in history)


def test_metric_fitness_is_maximised_by_default():
    model = nnx.Linear(D, 1, rngs=nnx.Rngs(0))
    x, y = small_data(64)
    before = float(np.mean(np.asarray(model(jnp.asarray(x)))))
    evolve(model, ES("open_es", population_size=8, learning_rate=0.05), lambda o, t: jnp.float32(0.0), (x, y),
           epochs=2, batch_size=16, metrics={"level": _mean_output}, fitness="level",
           forward=lambda m, x: m(x), progress=False)  # fmt: skip
    assert float(np.mean(np.asarray(model(jnp.asarray(x))))) > before + 0.3


@pytest.mark.slow  # compiles several programs; the quick tier keeps a cheaper check
@pytest.mark.parametrize("strategy", ["cma_es", "sep_cma_es"])
def test_least_squares_optimum_is_reached(strategy):
    """A linear readout fitted to a noiseless linear target: the optimum is ``lstsq``'s, loss 0."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 256, 4)).astype(np.float32)
    w_true, b_true = np.array([[0.5], [-1.0], [0.25], [2.0]]), 0.75
    y = (x[0] @ w_true)[:, 0] + b_true
    design = np.concatenate([x[0], np.ones((256, 1))], axis=1)
    optimum = np.linalg.lstsq(design, y, rcond=None)[0]
    model = nnx.Linear(4, 1, rngs=nnx.Rngs(0))
    mse = lambda o, t: jnp.mean((o[0, :, 0] - t) ** 2)  # noqa: E731
    evolve(model, ES(strategy, population_size=16, sigma=0.3), mse, (x, y.astype(np.float32)), epochs=10,
           batch_size=32, forward=lambda m, x: m(x), progress=False)  # fmt: skip
    found = np.concatenate([np.asarray(model.kernel[...])[:, 0], np.asarray(model.bias[...])])
    np.testing.assert_allclose(found, optimum, atol=2e-2)


def _flat(x):
    return jnp.zeros_like(x)  # constant: the surrogate derivative is exactly zero


@pytest.mark.slow  # compiles several programs; the quick tier keeps a cheaper check
def test_surrogate_free_model_learns_by_evolution_not_by_gradient():
    """A hidden ``LIF`` whose backward pass is zero: no gradient reaches the first layer, ES trains it."""
    (x_train, y_train), (x_test, y_test) = snnx.datasets.digits("rate", num_steps=8, seed=0)
    x_train, y_train = x_train[:, :512], y_train[:512]

    def model():
        rngs = nnx.Rngs(0)
        lif = snnx.LIF(32, beta=0.9, surrogate=snnx.surrogate.custom(_flat))
        return snnx.Sequential(nnx.Linear(64, 32, rngs=rngs), lif, nnx.Linear(32, 10, rngs=rngs), snnx.LI(10))

    def first_layer(m):
        return np.concatenate([np.ravel(m.layers[0].kernel[...]), np.ravel(m.layers[0].bias[...])])

    start = first_layer(model())
    by_gradient = model()
    fit(by_gradient, optax.adam(1e-2), losses.max_membrane_cross_entropy, (x_train, y_train), epochs=1,
        batch_size=64, progress=False)  # fmt: skip
    np.testing.assert_array_equal(first_layer(by_gradient), start)  # its gradient is exactly zero

    by_evolution = model()
    history = evolve(by_evolution, ES("open_es", population_size=32, learning_rate=0.03),
                     losses.max_membrane_cross_entropy, (x_train, y_train), epochs=6, batch_size=64,
                     eval_data=(x_test, y_test), eval_batch_size=360,
                     metrics={"accuracy": metrics.max_membrane_accuracy}, progress=False)  # fmt: skip
    assert np.max(np.abs(first_layer(by_evolution) - start)) > 0.05
    assert history[-1]["eval_accuracy"] > 0.35  # chance: 0.1


def test_prime_steps_start_where_fit_would():
    """``prime_steps`` = one epoch of batches: the start is ``fit``'s model after that epoch."""
    data = small_data()
    tx = optax.adam(5e-2)
    reference = small_model()
    fit(
        reference,
        tx,
        losses.max_membrane_cross_entropy,
        data,
        epochs=2,
        batch_size=16,
        seed=5,
        progress=False,
    )
    primed = small_model()
    solver = ES("snes", population_size=8, prime_steps=6, prime_optimizer=tx)
    history = evolve(primed, solver, losses.max_membrane_cross_entropy, data, epochs=0, batch_size=16, seed=5,
                     progress=False)  # fmt: skip
    assert history == []
    np.testing.assert_allclose(params(primed), params(reference), rtol=1e-6, atol=1e-6)
    assert not np.allclose(params(primed), params(small_model()))


def test_callable_data_and_callbacks():
    x, y = small_data()
    batches = lambda epoch: [(x[:, i : i + 16], y[i : i + 16]) for i in range(0, 48, 16)]  # noqa: E731
    seen = []
    model = small_model()
    stop = lambda r, m: seen.append(r["epoch"]) or r["epoch"] == 2  # noqa: E731
    history = evolve(model, ES("pgpe", population_size=8), losses.max_membrane_cross_entropy, batches,
                     epochs=5, progress=False, callbacks=[stop])  # fmt: skip
    assert seen == [1, 2] and len(history) == 2
    ragged = lambda epoch: [(x[:, :16], y[:16]), (x[:, 16:20], y[16:20])]  # noqa: E731
    with pytest.raises(ValueError, match=r"`train_data` batches must all have one shape"):
        evolve(small_model(), ES(population_size=8), losses.max_membrane_cross_entropy, ragged, epochs=1,
               progress=False)  # fmt: skip


@pytest.mark.slow  # a subprocess with 2 simulated devices: imports JAX and compiles again
def test_two_devices_match_one_and_population_must_divide():
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2".strip()
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}  # keeps the suite's flags (conftest)
    done = subprocess.run(
        [sys.executable, __file__], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["device_count"] == 2
    assert report["population_spec"] in ("PartitionSpec('data',)", "P('data',)")
    assert report["max_param_diff"] < 1e-5
    assert report["loss_diff"] < 1e-5
    assert "`population_size` (5) must be a multiple of the 2 devices" in report["error"]
    assert "use e.g. 4 or 6" in report["error"]


def _worker() -> None:
    """Run as a script with 2 simulated CPU devices: print one JSON line for the test above."""
    from snnx.evolve._evolve import _population_sharding

    out = {"device_count": jax.device_count()}
    solver = ES("sep_cma_es", population_size=4)
    one, h1 = run_small(solver)
    two, h2 = run_small(solver, mesh=2)
    out["max_param_diff"] = float(np.max(np.abs(params(one) - params(two))))
    out["loss_diff"] = max(abs(a["loss"] - b["loss"]) for a, b in zip(h1, h2, strict=True))
    out["population_spec"] = str(_population_sharding(2, 4)[0].spec)
    try:
        run_small(ES("snes", population_size=5), mesh="auto")
    except ValueError as error:
        out["error"] = str(error)
    print(json.dumps(out))


if __name__ == "__main__":
    _worker()


# --- the solver interface of fit ------------------------------------------------------------------


@pytest.mark.slow  # compiles several programs; the quick tier keeps a cheaper check
def test_fit_with_an_evolution_strategy_is_evolve():
    model, history = run_small()
    via_fit = small_model()
    fit_history = fit(via_fit, ES("open_es", population_size=8), losses.max_membrane_cross_entropy,
                      small_data(), epochs=2, batch_size=16, progress=False)  # fmt: skip
    np.testing.assert_array_equal(params(model), params(via_fit))
    assert [r["loss"] for r in fit_history] == [r["loss"] for r in history]


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"tbptt": 3}, "`tbptt`"),
        ({"record": "spikes", "checkpoint_dir": "ckpt"}, "`checkpoint_dir`, `record`"),
        ({"sync_every": 3}, "`sync_every`"),
    ],
)
def test_fit_refuses_gradient_only_arguments_with_a_strategy(kwargs, names):
    with pytest.raises(ValueError, match=f"{names} apply to gradient training; with an evolution strategy"):
        fit(small_model(), ES("snes", population_size=8), losses.max_membrane_cross_entropy, small_data(),
            epochs=1, **kwargs)  # fmt: skip
