"""Spyx 1.0 side of ``training_modes.py`` (runs in the peers' environment).

``python spyx_training.py --workloads digits --data FILE --epochs E`` trains
with ``spyx.optimize.compile_fit`` and then ``spyx.optimize.fit`` and prints
one JSON line; ``--evolve es,cmaes --data FILE`` runs Spyx's evolution
solvers (``spyx.experimental.evolve``) through ``compile_fit`` on digits for a
wall budget each. The data file (time-major spikes, labels, initial weights)
is written by ``training_modes.py``, which imports nothing from here.

Spyx's own idiom throughout: ``spyx.nn`` neurons in ``spyx.nn.Sequential``,
``spyx.nn.run`` (time-major, ``[T, B, ...]``), ``spyx.fn.integral_crossentropy``
and ``spyx.fn.integral_accuracy`` with ``time_axis=0`` to match (their default
``time_axis=1`` is batch-major). ``compile_fit`` wants the data staged as
``[n_batches, ...]``: each batch here is ``[T, B, inputs]``, so the staged
array is ``[n_batches, T, B, inputs]`` and its batches go in the same order
every epoch (``compile_fit`` does not reshuffle).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from training_modes import (  # noqa: E402
    BETA,
    LR,
    SMOOTHING,
    TAG,
    WORKLOADS,
    compile_clock,
    load_data,
    step_times,
    warm_up,
    weights,
)

ES_PAIRS, ES_SIGMA, ES_LR = 32, 0.02, 1e-2  # Spyx's es defaults; Adam 1e-2 (snnx's OpenES default)
CMA_POPULATION = 128  # Spyx's cmaes default


def build(s: dict, w: dict):
    import jax.numpy as jnp
    import spyx
    from flax import nnx

    rngs = nnx.Rngs(0)

    def linear(kernel, bias):
        layer = nnx.Linear(*kernel.shape, rngs=rngs)
        layer.kernel[...], layer.bias[...] = jnp.asarray(kernel), jnp.asarray(bias)
        return layer

    return spyx.nn.Sequential(
        linear(w["w1"], w["b1"]),
        spyx.nn.LIF((s["hidden"],), beta=BETA, rngs=rngs),
        linear(w["w2"], w["b2"]),
        spyx.nn.LI((s["n_out"],), beta=BETA, rngs=rngs),
    )


def functions():
    """``loss(model, x, y)`` and ``accuracy(model, x, y)`` on time-major batches."""
    import spyx

    ce = spyx.fn.integral_crossentropy(smoothing=SMOOTHING, time_axis=0)
    acc = spyx.fn.integral_accuracy(time_axis=0)

    def loss(model, x, y):
        return ce(spyx.nn.run(model, x)[0], y)

    def accuracy(model, x, y):
        return acc(spyx.nn.run(model, x)[0], y)[0]

    return loss, accuracy


def staged(x, y, batch: int):
    """``(x [T, N, ...], y [N])`` staged as ``[N // batch, T, batch, ...]`` and ``[N // batch, batch]``."""
    import jax.numpy as jnp

    n = x.shape[1] // batch
    xs = x[:, : n * batch].reshape(x.shape[0], n, batch, *x.shape[2:]).swapaxes(0, 1)
    return jnp.asarray(xs), jnp.asarray(y[: n * batch].reshape(n, batch))


def compile_fit_mode(s: dict, w: dict, train, test, epochs: int) -> dict:
    """``compile_fit`` for 1 and ``epochs + 1`` epochs (each call compiles anew); steady epoch and setup."""
    import jax
    import optax
    import spyx

    loss, accuracy = functions()
    calls = []
    for n in (1, epochs + 1):
        model = build(s, w)
        with compile_clock() as clock:
            t0 = time.perf_counter()
            _, history = spyx.optimize.compile_fit(
                model, optax.adam(LR), loss, train, epochs=n, eval_data=test, metric_fn=accuracy
            )
            history = jax.device_get(history)
            calls.append((time.perf_counter() - t0, sum(clock), history))
    (t1, c1, _), (t2, c2, history) = calls
    # take the compilations out of both calls before differencing: they vary more than an epoch lasts
    steady = ((t2 - c2) - (t1 - c1)) / epochs
    return {
        "steady_epoch_s": steady,
        "setup_s": t1 - steady,
        "compile_events_s": c1,
        "compile_warm_s": c2,
        "call_s": [t1, t2],
        "compile_events_both_s": [c1, c2],
        "loss": [float(v) for v in history["train_loss"][1:]],
        "eval_accuracy": [float(v) for v in history["eval_metric"][1:]],
    }


def fit_mode(s: dict, w: dict, train, test, epochs: int) -> dict:
    """``spyx.optimize.fit`` over the staged batches; wall time between its epoch-end callbacks."""
    import optax
    import spyx

    loss, accuracy = functions()
    batches = [(train[0][i], train[1][i]) for i in range(train[0].shape[0])]
    eval_batches = [(test[0][i], test[1][i]) for i in range(test[0].shape[0])]
    model = build(s, w)
    stamps: list[float] = []
    with compile_clock() as clock:
        t0 = time.perf_counter()
        history = spyx.optimize.fit(
            model,
            optax.adam(LR),
            loss,
            lambda: batches,
            epochs=epochs,
            eval_iter=lambda: eval_batches,
            eval_fn=lambda m, x, y: (accuracy(m, x, y), loss(m, x, y)),
            on_epoch_end=lambda epoch, metrics: stamps.append(time.perf_counter()),
        )
    epoch_s = [b - a for a, b in zip([t0, *stamps[:-1]], stamps, strict=True)]
    steady = statistics.median(epoch_s[1:]) if epochs > 1 else epoch_s[0]
    return {
        "steady_epoch_s": steady,
        "setup_s": epoch_s[0] - steady,
        "compile_events_s": sum(clock),
        "epoch_s": epoch_s,
        "loss": [h["train_loss"] for h in history],
        "eval_accuracy": [h["eval_acc"] for h in history],
    }


def training(name: str, path: str, epochs: int) -> dict:
    """Both Spyx modes on one workload, ``compile_fit`` first."""
    import jax
    import spyx

    warm_up()
    s = WORKLOADS[name]
    (x_tr, y_tr), (x_te, y_te), w = load_data(path)
    train, test = staged(x_tr, y_tr, s["B"]), staged(x_te, y_te, s["eval_B"])
    return {
        "spyx-compile_fit": compile_fit_mode(s, w, train, test, epochs),
        "spyx-fit": fit_mode(s, w, train, test, epochs),
        "versions": {"spyx": getattr(spyx, "__version__", "?"), "jax": jax.__version__},
    }


def _evolve_run(path: str, solver: str, train_batches: int | None, epochs: int) -> dict:
    """One ``compile_fit`` run of an evolution solver on digits: wall, compile and accuracy per epoch."""
    import jax
    import optax
    import spyx
    from spyx.experimental import evolve

    warm_up()
    s = WORKLOADS["digits"]
    (x_tr, y_tr), (x_te, y_te), w = load_data(path)
    loss, accuracy = functions()
    xs, ys = staged(x_tr, y_tr, s["B"])
    train, test = (xs[:train_batches], ys[:train_batches]), staged(x_te, y_te, s["eval_B"])
    if solver == "es":
        opt = evolve.es(optax.adam(ES_LR), num_samples=ES_PAIRS, sigma=ES_SIGMA)
    else:
        opt = evolve.cmaes(population_size=CMA_POPULATION)
    with compile_clock() as compile_s:
        t0 = time.perf_counter()
        _, history = spyx.optimize.compile_fit(
            build(s, w), opt, loss, train, epochs=epochs, eval_data=test, metric_fn=accuracy
        )
        acc = [float(v) for v in jax.device_get(history["eval_metric"])]
    return {
        "wall_s": time.perf_counter() - t0,
        "compile_s": sum(compile_s),
        "accuracy": acc,
        "generations": epochs * int(train[0].shape[0]),
    }


def _child(queue, *args):
    try:
        queue.put(_evolve_run(*args))
    except Exception as e:  # reported, not raised: the parent prints the table
        queue.put({"error": f"{type(e).__name__}: {e}"})


def within(timeout: float, *args) -> tuple[dict | None, float]:
    """:func:`_evolve_run` in a fresh process, stopped after ``timeout`` s: ``(result or None, elapsed)``."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, *args))
    t0 = time.perf_counter()
    proc.start()
    try:
        return queue.get(timeout=timeout), time.perf_counter() - t0
    except Exception:  # queue.Empty: the time ran out
        return None, time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.join()


STARTUP_S = 30.0  # allowance for a fresh process to import JAX and Spyx and load the data (not the budget's)


def evolution(path: str, solver: str, budget: float) -> dict:
    """The longest run of ``solver`` whose estimated wall time fits ``budget``, sized by a calibration run.

    Calibration: one epoch (es: all 44 batches = 44 generations; cmaes: a
    1-batch epoch = one generation); when its ``compile_fit`` call does not end
    within ``budget``, no generation fits. The final run is then
    ``floor((budget - compile) / per_epoch)`` epochs from scratch (stopped at
    1.5 ``budget``; its wall time is reported as measured); when that is one
    epoch or less, or the final run is stopped, the calibration run is the result.
    """
    batches = None if solver == "es" else 1
    base = {"budget_s": budget}
    first, elapsed = within(budget + STARTUP_S, path, solver, batches, 1)
    if first is None or ("error" not in first and first["wall_s"] > budget):
        return {
            **base,
            "generations": 0,
            "wall_s": None,
            "accuracy_last": None,
            "note": f"no generation finished within {budget:.0f} s (calibration: one generation, stopped)",
        }
    if "error" in first:
        return {**base, **first}
    startup = elapsed - first["wall_s"]
    per_epoch = max(first["wall_s"] - first["compile_s"], 1e-9)
    epochs = int((budget - first["compile_s"]) // per_epoch)
    run, note = first, "calibration run (one epoch) is the result"
    if epochs > 1:
        again, _ = within(1.5 * budget + startup, path, solver, batches, epochs)
        if again is None:
            note = f"a {epochs}-epoch run did not finish in 1.5x the budget; calibration run is the result"
        elif "error" not in again:
            run, note = (
                again,
                f"calibration: {first['wall_s']:.1f} s for {first['generations']} generation(s)",
            )
    acc = run["accuracy"]
    return {
        **base,
        "wall_s": run["wall_s"],
        "compile_s": run["compile_s"],
        "generations": run["generations"],
        "generation_s": (run["wall_s"] - run["compile_s"]) / run["generations"],
        "accuracy_last": acc[-1],
        "accuracy_best": max(acc),
        "accuracy": acc,
        "note": note,
        "calibration": first,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", default="digits")
    p.add_argument("--data", default=None)
    p.add_argument("--profile", action="store_true", help="time one jitted step of digits vs T")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--evolve", default="", help="comma-separated solvers: es, cmaes")
    p.add_argument("--es-budget", type=float, default=52.0)
    p.add_argument("--cmaes-budget", type=float, default=120.0)
    args = p.parse_args(argv)
    if args.profile:
        import spyx

        warm_up()
        ce = spyx.fn.integral_crossentropy(smoothing=SMOOTHING, time_axis=0)
        model = build(WORKLOADS["digits"], weights("digits"))
        print(TAG, json.dumps({"spyx": step_times(model, lambda m, x: spyx.nn.run(m, x)[0], ce)}), flush=True)
        return 0
    if args.data is None:
        p.error("--data is required (a file written by training_modes.py)")
    if args.evolve:
        budgets = {"es": args.es_budget, "cmaes": args.cmaes_budget}
        out = {}
        for solver in args.evolve.split(","):
            if solver not in budgets:
                raise SystemExit(f"--evolve: expected solvers from {sorted(budgets)}, got {solver!r}")
            out[solver] = evolution(args.data, solver, budgets[solver])
            print(
                f"{solver}: {json.dumps({k: v for k, v in out[solver].items() if k != 'accuracy'})}",
                file=sys.stderr,
                flush=True,
            )
    else:
        name = args.workloads
        out = training(name, args.data, args.epochs or WORKLOADS[name]["epochs"])
    print(TAG, json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
