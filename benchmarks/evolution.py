"""Evolution strategies on the digits task: accuracy reached within a wall-clock budget.

``python benchmarks/evolution.py [--es-budget 52] [--cma-budget 120] [--only open_es,snes]``

The model is examples/02_digits.py's ``Linear(64, 128) -> LIF(128) -> Linear(128, 10) -> LI(10)``
(9,610 parameters) on ``snnx.datasets.digits("rate", num_steps=25, seed=0)`` (1,437 training /
360 test digits), loss ``max_membrane_cross_entropy``. Each row runs ``snnx.evolve.evolve`` with
one solver until its wall budget is spent (checked after every epoch, so a run may overshoot by
up to one epoch), evaluating the test set after every epoch. The clock starts when ``evolve`` is
called: priming, compilation and evaluation are all inside it.

Columns: generations run; milliseconds per generation (median epoch time over generations per
epoch, compilation excluded); the best test accuracy seen and the wall time at which it was first
reached. ``open_es zero-surrogate`` evolves the same network whose LIF has a zero backward pass
(``snnx.surrogate.custom`` of a constant): no gradient reaches its first layer, evolution does not
need one. The ``fit adam`` rows train the same networks by gradient (``optax.adam(2e-3)``; ms/gen
is then ms per step): with the zero surrogate only the read-out layer learns. The last row
(``open_es sigma=1.0``) is evosax's default step size, for comparison with the ``sigma=None`` rule
(a tenth of the parameters' RMS).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import platform
import time

import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import snnx
from snnx import losses, metrics
from snnx.evolve import ES, evolve
from snnx.train import fit

#: name -> (solver, batch size, budget kind); a name ending in "zero-surrogate" uses the zero-backward LIF
CONFIGS = {
    "open_es": (ES("open_es", population_size=64, learning_rate=0.01), 32, "es"),
    "snes": (ES("snes", population_size=64), 32, "es"),
    "pgpe": (ES("pgpe", population_size=64), 32, "es"),
    "sep_cma_es": (ES("sep_cma_es", population_size=64), 32, "cma"),
    "sep_cma_es+prime": (ES("sep_cma_es", population_size=64, prime_steps=200), 32, "cma"),
    "open_es zero-surrogate": (ES("open_es", population_size=64, learning_rate=0.01), 32, "es"),
    "fit adam zero-surrogate": (None, 32, "short"),
    "fit adam": (None, 32, "short"),
    "open_es sigma=1.0": (ES("open_es", population_size=64, learning_rate=0.01, sigma=1.0), 32, "short"),
}


def _constant(x):
    return jnp.zeros_like(x)  # its derivative, the surrogate's backward pass, is exactly zero


def model(zero_surrogate: bool = False):
    rngs = nnx.Rngs(0)
    surrogate = snnx.surrogate.custom(_constant) if zero_surrogate else None
    return snnx.Sequential(
        nnx.Linear(64, 128, rngs=rngs),
        snnx.LIF(128, beta=0.9, surrogate=surrogate),
        nnx.Linear(128, 10, rngs=rngs),
        snnx.LI(10, beta=0.9),
    )


def measure(solver: ES | None, batch_size: int, budget: float, train, test, zero_surrogate: bool) -> dict:
    log: list[tuple[float, float]] = []
    start = time.perf_counter()

    def stop(record, _):
        log.append((time.perf_counter() - start, record["eval_accuracy"]))
        return log[-1][0] >= budget

    run = (
        functools.partial(fit, optimizer=optax.adam(2e-3))
        if solver is None
        else functools.partial(evolve, solver=solver)
    )
    history = run(
        model(zero_surrogate), loss_fn=losses.max_membrane_cross_entropy, train_data=train, epochs=10**6,
        batch_size=batch_size, eval_data=test, eval_batch_size=360,
        metrics={"accuracy": metrics.max_membrane_accuracy}, progress=False, callbacks=[stop],
    )  # fmt: skip
    per_epoch = train[1].shape[0] // batch_size
    accuracy = [a for _, a in log]
    best = int(np.argmax(accuracy))
    times = [r["time_s"] for r in history[1:]] or [history[0]["time_s"]]
    return {
        "generations": len(history) * per_epoch,
        "ms_per_generation": 1000 * float(np.median(times)) / per_epoch,
        "accuracy": accuracy[best],
        "time_to_best_s": log[best][0],
        "final_accuracy": accuracy[-1],
        "wall_s": log[-1][0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--es-budget", type=float, default=52.0, help="seconds for open_es, snes, pgpe")
    parser.add_argument("--cma-budget", type=float, default=120.0, help="seconds for the CMA family")
    parser.add_argument("--short-budget", type=float, default=20.0, help="seconds for the sigma=1.0 row")
    parser.add_argument("--only", default="", help="comma-separated row names (default: all)")
    args = parser.parse_args()
    budgets = {"es": args.es_budget, "cma": args.cma_budget, "short": args.short_budget}
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(CONFIGS)
    train, test = snnx.datasets.digits("rate", num_steps=25, seed=0)
    print(f"# {datetime.date.today()}  {platform.machine()}  {platform.processor() or ''}  budgets {budgets}")
    print(
        f"| {'strategy':<20} | pop | batch | budget s | generations | ms/gen | test acc "
        "| reached at s | final acc |"
    )
    print(
        f"|{'-' * 22}|-----|-------|----------|-------------|--------|----------|--------------|-----------|"
    )
    for name in names:
        solver, batch_size, kind = CONFIGS[name]
        population = "-" if solver is None else solver.population_size
        r = measure(solver, batch_size, budgets[kind], train, test, name.endswith("zero-surrogate"))
        print(
            f"| {name:<20} | {population:>3} | {batch_size:>5} | {budgets[kind]:>8.0f} | "
            f"{r['generations']:>11} | {r['ms_per_generation']:>6.1f} | {100 * r['accuracy']:>7.1f}% | "
            f"{r['time_to_best_s']:>12.1f} | {100 * r['final_accuracy']:>8.1f}% |",
            flush=True,
        )


if __name__ == "__main__":
    main()
