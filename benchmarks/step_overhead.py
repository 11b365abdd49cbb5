"""Time per training/evaluation step of snnx's public step builders, ``fit`` and ``evaluate``,
against a bare ``jax.jit`` of the same step over ``nnx.split`` state.

``python benchmarks/step_overhead.py [--workload ff100|tiny] [--rounds 20] [--calls 5] [--threads 2]``
(``--json``: the raw samples too, as one line ``STEP_OVERHEAD {...}``)

Every variant trains (or evaluates) ``bench_snnx.build``'s network for the
workload with Adam (lr ``_common.LR``) on ``_common.inputs``' one batch, kept on
the device, with one loss: cross-entropy of the readout summed over time (the
loss of ``_common.jit_train_step``):

* ``bare``: ``_common.jit_train_step``, a ``jax.jit`` of a pure
  ``(state, x, y) -> (state, loss)`` step over ``nnx.split((model, optimizer))``,
  the state kept as a pytree between calls: the reference.
* ``train_step``: ``snnx.train.make_train_step(loss)(model, optimizer, x, y)``,
  model and optimizer updated in place.
* ``fit``: ``snnx.train.fit`` over ``calls`` batches per epoch (a callable
  ``train_data`` yielding the device batch), per step: the wall time from one
  epoch's end to the next (callbacks), with this script's own work in the
  callback left out. Its first epoch (the compilation) is not counted.
* ``bare_eval``: ``jax.jit`` of ``(state, x, y) -> loss`` over ``nnx.split(model)``.
* ``eval_step``: ``snnx.train.make_eval_step(loss)(model, x, y)``.
* ``evaluate``: ``snnx.train.evaluate`` over ``calls`` batches, per batch.

Interleaved in one process: round ``r`` is fit's epoch ``r + 1`` followed, in
fit's callback, by ``calls`` calls of every other variant; each variant's time
for a round is its wall time over the ``calls`` calls up to its last result
being ready (``fit`` and ``evaluate`` read results back as they do), divided by
``calls``. Everything is compiled before the first round. The table gives the
median over rounds, the quartiles, and the ratio to ``bare`` (``bare_eval`` for
the evaluation variants): the median over rounds of the variant's time over
the reference's in the same round, so that a load that drifts between rounds
(the CPUs are shared) cancels. Many short rounds (``--calls 5 --rounds 20``)
(the defaults) pair more closely than a few long ones.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C

TRAIN = ("bare", "train_step", "fit")
EVAL = ("bare_eval", "eval_step", "evaluate")
REFERENCE = {name: "bare" for name in TRAIN} | {name: "bare_eval" for name in EVAL}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", default="ff100", choices=("ff100", "tiny"))
    p.add_argument("--rounds", type=int, default=20, help="timed rounds (fit epochs after the first)")
    p.add_argument("--calls", type=int, default=5, help="steps per variant and round")
    p.add_argument("--threads", type=int, default=2, help="CPUs and XLA threads (_common.use_threads)")
    p.add_argument("--json", action="store_true", help="print the raw samples as one JSON line too")
    args = p.parse_args(argv)
    for name in ("rounds", "calls", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    return args


def cross_entropy(outputs, y):
    """Cross-entropy of the readout ``(T, B, classes)`` summed over time, as in ``_common.jit_train_step``."""
    import optax

    return optax.softmax_cross_entropy_with_integer_labels(outputs.sum(0), y).mean()


def variants(s: dict, calls: int) -> tuple[dict, object]:
    """``{name: chunk()}`` for every variant but ``fit`` (each ``chunk()`` runs ``calls`` steps and
    returns once the last result is ready), and ``run_fit(epochs, callback)``."""
    import bench_snnx
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx

    from snnx.engine import run
    from snnx.train import default_forward, evaluate, fit, make_eval_step, make_train_step

    def build():
        model = bench_snnx.build(s, nnx.Rngs(0))
        return model, nnx.Optimizer(model, optax.adam(C.LR), wrt=nnx.Param)

    xs, ys = C.inputs(s)
    x, y = jnp.asarray(xs), jnp.asarray(ys)
    batches = lambda epoch: [(x, y)] * calls  # noqa: E731  (the same device batch, as the reference)

    model, opt = build()
    graphdef, state = nnx.split((model, opt))
    bare_step = C.jit_train_step(graphdef, default_forward)
    box = {"state": state}

    def bare():
        for _ in range(calls):
            box["state"], loss = bare_step(box["state"], x, y)
        jax.block_until_ready(loss)

    step_model, step_opt = build()
    train_step = make_train_step(cross_entropy)

    def step():
        for _ in range(calls):
            loss, _, _ = train_step(step_model, step_opt, x, y)
        jax.block_until_ready(loss)

    eval_model, _ = build()
    eval_graphdef, eval_state = nnx.split(eval_model)

    @jax.jit
    def bare_eval_step(state, x, y):
        return cross_entropy(run(nnx.merge(eval_graphdef, state), x)[0], y)

    def bare_eval():
        for _ in range(calls):
            loss = bare_eval_step(eval_state, x, y)
        jax.block_until_ready(loss)

    eval_step = make_eval_step(cross_entropy)

    def step_eval():
        for _ in range(calls):
            loss, _ = eval_step(eval_model, x, y)
        jax.block_until_ready(loss)

    def run_evaluate():
        evaluate(eval_model, cross_entropy, batches, batch_size=s["B"])

    fit_model, fit_opt = build()

    def run_fit(epochs, callback):
        fit(fit_model, fit_opt, cross_entropy, batches, epochs=epochs, batch_size=s["B"],
            steps_per_epoch=calls, callbacks=[callback], progress=False)  # fmt: skip

    chunks = {"bare": bare, "train_step": step, "bare_eval": bare_eval, "eval_step": step_eval,
              "evaluate": run_evaluate}  # fmt: skip
    return chunks, run_fit


def measure(s: dict, rounds: int, calls: int) -> dict[str, list[float]]:
    """Milliseconds per step of every variant, one sample per round, rounds interleaved."""
    chunks, run_fit = variants(s, calls)
    for chunk in chunks.values():  # compile (and warm up) everything but fit
        chunk()
    times: dict[str, list[float]] = {name: [] for name in (*TRAIN, *EVAL)}
    mark = {"t": None}

    def callback(record, model):
        now = time.perf_counter()
        if mark["t"] is not None:  # epoch 1 compiled the step: not counted
            times["fit"].append((now - mark["t"]) / calls * 1e3)
        for name, chunk in chunks.items():
            t0 = time.perf_counter()
            chunk()
            times[name].append((time.perf_counter() - t0) / calls * 1e3)
        mark["t"] = time.perf_counter()

    run_fit(rounds + 1, callback)
    for name in chunks:  # the first callback's chunks (after the compiling epoch): as many as fit's
        times[name] = times[name][1:]
    return times


def summary(times: dict[str, list[float]]) -> list[dict]:
    """Per variant: median and quartiles of its ms per step, and ``ratio``, the median over rounds of
    its time divided by its reference's in the same round (paired: the machine's load drifts between
    rounds and cancels within one)."""
    rows = []
    for name, samples in times.items():
        q1, med, q3 = np.percentile(samples, [25, 50, 75])
        paired = np.asarray(samples) / np.asarray(times[REFERENCE[name]])
        rows.append({"variant": name, "median_ms": float(med), "q1_ms": float(q1), "q3_ms": float(q3),
                     "ratio": float(np.median(paired)), "reference": REFERENCE[name]})  # fmt: skip
    return rows


def table(rows: list[dict], s: dict, rounds: int, calls: int, threads: int) -> str:
    lines = [
        f"workload {s['name']} (T={s['T']}, B={s['B']}), {threads} thread(s), {rounds} round(s) "
        f"of {calls} steps per variant",
        f"{'variant':<12} {'median ms':>10} {'q1-q3 ms':>17} {'ratio':>7}  reference",
    ]
    for r in rows:
        quartiles = f"{r['q1_ms']:.3f}-{r['q3_ms']:.3f}"
        lines.append(
            f"{r['variant']:<12} {r['median_ms']:>10.3f} {quartiles:>17} {r['ratio']:>7.3f}  {r['reference']}"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    args = parse_args(argv)
    C.use_threads(args.threads)
    s = C.spec(args.workload)
    times = measure(s, args.rounds, args.calls)
    rows = summary(times)
    print(table(rows, s, args.rounds, args.calls, args.threads), flush=True)
    if args.json:
        out = {"workload": s["name"], "threads": args.threads, "rounds": args.rounds, "calls": args.calls,
               "samples_ms": times, "summary": rows}  # fmt: skip
        print("STEP_OVERHEAD " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
