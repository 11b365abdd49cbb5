"""Whole training runs: ``snnx.train.fit`` compiled and as a Python loop, against Spyx 1.0.

``python benchmarks/training_modes.py [--rounds 3] [--workloads digits,ff100] [--no-peers] [--out FILE]``
(``--rounds 0``: only the evolution stage; ``--profile``: one jitted step against T instead).

Four modes train the same model from the same weights on the same data, with
Adam (lr ``LR``) and Spyx's integral cross-entropy, evaluating the test set
after every epoch:

* ``snnx-compiled``: ``snnx.train.fit(..., compiled=True)`` (one ``jax.jit``
  for all epochs); its history gives ``compile_s`` and the per-epoch time.
* ``snnx-python``: the same with ``compiled=False`` (one jitted step per batch).
* ``spyx-compile_fit``: ``spyx.optimize.compile_fit`` (one ``jax.jit`` for all
  epochs); it compiles on every call, so it runs twice, for 1 and ``E + 1``
  epochs: steady epoch = the difference of the two calls, each less its
  compilation (``jax.monitoring`` events), / ``E``; setup = the first call
  minus one steady epoch.
* ``spyx-fit``: ``spyx.optimize.fit`` (its Python epoch loop).

Per round and workload: one process for the two snnx modes (this script with
``--worker``), then one for the two Spyx modes (``spyx_training.py``, in the
peers' environment), so that the machine's noise falls on all four alike.
Afterwards, once, ``spyx_training.py --evolve`` runs Spyx's evolution solvers
on digits for a wall budget each. ``--no-peers`` runs the snnx half only.

Workloads (time-major data ``(T, N, inputs)``, remainder batches dropped):

* ``digits``: ``snnx.datasets.digits("rate", num_steps=25, seed=0)``,
  Linear(64->128) -> LIF(0.9) -> Linear(128->10) -> LI(0.9), batch 32
  (44 batches per epoch), test set 360 samples.
* ``ff100``: ``_common``'s ``ff100`` network and weights (Linear(700->256) ->
  LIF -> Linear(256->20) -> LI, T = 100, batch 64) on a synthetic data set made
  here with NumPy (20 training batches, 4 test batches; Bernoulli inputs whose
  rate is higher on a class's block of channels, so the task can be learnt).
* ``tiny``: a few milliseconds per epoch, for the smoke test.

snnx's neurons learn ``beta`` (``trainable=("beta",)``), the parameter set of
Spyx's ``LIF``/``LI`` with a float ``beta`` (a learnt scalar); the neuron models
differ in detail (Spyx's LIF spikes before integrating and subtracts the
threshold; snnx's resets to zero), the matmul work is the same.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common as C  # noqa: E402

LR = 2e-3
BETA = 0.9
SMOOTHING = 0.3  # the label smoothing of spyx.fn.integral_crossentropy's default
TAG = "TRAINING_RESULT"

# name -> model sizes, batch sizes, epochs per measured run; "data": where the samples come from
WORKLOADS: dict[str, dict] = {
    "digits": {"T": 25, "n_in": 64, "hidden": 128, "n_out": 10, "B": 32, "eval_B": 36, "epochs": 20},
    "ff100": {
        **{k: C.spec("ff100")[k] for k in ("T", "n_in", "hidden", "n_out", "B")},
        "eval_B": 64,
        "train_batches": 20,
        "eval_batches": 4,
        "epochs": 3,
    },
    "tiny": {
        "T": 10,
        "n_in": 20,
        "hidden": 16,
        "n_out": 5,
        "B": 8,
        "eval_B": 8,
        "epochs": 3,
        "train_batches": 4,
        "eval_batches": 2,
    },
}
MODES = ("snnx-compiled", "snnx-python", "spyx-compile_fit", "spyx-fit")


def synthetic(s: dict, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples: ``(T, n, n_in)`` uint8 Bernoulli(0.05) spikes, 0.15 on the label's channel block."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, s["n_out"], size=n).astype(np.int32)
    block = s["n_in"] // s["n_out"]
    rate = np.full((n, s["n_in"]), C.DENSITY, np.float32)
    for c in range(s["n_out"]):
        rate[y == c, c * block : (c + 1) * block] = 3 * C.DENSITY
    x = np.stack([rng.random((n, s["n_in"]), dtype=np.float32) < rate for _ in range(s["T"])])
    return x.astype(np.uint8), y


def weights(name: str) -> dict[str, np.ndarray]:
    """Initial weights ``w1 (in, hidden)``, ``b1``, ``w2 (hidden, out)``, ``b2``, the same for every mode."""
    if name == "ff100":
        return {k: v for k, v in C.weights(C.spec("ff100")).items() if k in ("w1", "b1", "w2", "b2")}
    s = WORKLOADS[name]
    rng = np.random.default_rng(7)
    n_in, h, n_out = s["n_in"], s["hidden"], s["n_out"]
    return {  # LeCun normal, as nnx.Linear's default
        "w1": (rng.standard_normal((n_in, h)) / math.sqrt(n_in)).astype(np.float32),
        "b1": np.zeros(h, np.float32),
        "w2": (rng.standard_normal((h, n_out)) / math.sqrt(h)).astype(np.float32),
        "b2": np.zeros(n_out, np.float32),
    }


def write_data(name: str, folder: str) -> str:
    """The workload's data and weights as an ``.npz`` both environments read; returns its path."""
    s = WORKLOADS[name]
    if name == "digits":
        import snnx

        (x_tr, y_tr), (x_te, y_te) = snnx.datasets.digits("rate", num_steps=s["T"], seed=0)
        x_tr, x_te = np.asarray(x_tr, np.uint8), np.asarray(x_te, np.uint8)
    else:
        x_tr, y_tr = synthetic(s, s["train_batches"] * s["B"], seed=11)
        x_te, y_te = synthetic(s, s["eval_batches"] * s["eval_B"], seed=12)
    path = os.path.join(folder, f"{name}.npz")
    arrays = {"x_train": x_tr, "y_train": y_tr, "x_test": x_te, "y_test": y_te}
    np.savez(path, **arrays, **{f"w_{k}": v for k, v in weights(name).items()})
    return path


def load_data(path: str):
    """``(x_train, y_train), (x_test, y_test), weights`` from :func:`write_data`'s file, ``x`` as float32."""
    with np.load(path) as f:
        train = (f["x_train"].astype(np.float32), f["y_train"])
        test = (f["x_test"].astype(np.float32), f["y_test"])
        w = {k[2:]: f[k] for k in f.files if k.startswith("w_")}
    return train, test, w


def summed_cross_entropy(outputs, targets):
    """Spyx's ``integral_crossentropy()`` in snnx: cross-entropy of the readout summed over time.

    ``loss = mean_b -sum_c q[b, c] log_softmax(sum_t outputs[t, b])[c]`` with
    ``q = (1 - 0.3) onehot + 0.3 / C``: exactly :func:`snnx.losses.spike_count_cross_entropy`
    (whose sum over time does not care whether ``outputs`` are spikes or membranes).
    """
    import snnx

    return snnx.losses.spike_count_cross_entropy(outputs, targets, label_smoothing=SMOOTHING)


COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)


@contextlib.contextmanager
def compile_clock():
    """A list to which JAX appends the seconds of every trace, lowering and XLA compilation meanwhile."""
    from jax import monitoring

    seconds: list[float] = []

    def listen(event, secs, **kwargs):
        if event in COMPILE_EVENTS:
            seconds.append(secs)

    monitoring.register_event_duration_secs_listener(listen)
    try:
        yield seconds
    finally:
        monitoring.unregister_event_duration_listener(listen)


def build_snnx(s: dict, w: dict, learn=("beta",)):
    import jax.numpy as jnp
    from flax import nnx

    import snnx

    def linear(kernel, bias):
        layer = nnx.Linear(*kernel.shape, rngs=nnx.Rngs(0))
        layer.kernel[...], layer.bias[...] = jnp.asarray(kernel), jnp.asarray(bias)
        return layer

    return snnx.Sequential(
        linear(w["w1"], w["b1"]),
        snnx.LIF(s["hidden"], beta=BETA, trainable=learn),
        linear(w["w2"], w["b2"]),
        snnx.LI(s["n_out"], beta=BETA, trainable=learn),
    )


def snnx_fit(name: str, train, test, w, epochs: int, compiled: bool, learn=("beta",)) -> dict:
    """One ``snnx.train.fit`` run: steady epoch (training and evaluation), setup, compile and history."""
    import optax

    import snnx

    s = WORKLOADS[name]
    model = build_snnx(s, w, learn)
    stamps: list[float] = []
    with compile_clock() as clock:
        t0 = time.perf_counter()
        history = snnx.train.fit(
            model,
            optax.adam(LR),
            summed_cross_entropy,
            train,
            epochs=epochs,
            batch_size=s["B"],
            eval_data=test,
            eval_batch_size=s["eval_B"],
            metrics={"accuracy": snnx.metrics.integral_accuracy},
            compiled=compiled,
            progress=False,
            callbacks=[lambda record, m: stamps.append(time.perf_counter())],
        )
        call_s = time.perf_counter() - t0
    if compiled:  # the callbacks all run after the one chunk: use the history's times
        epoch_s = [r["time_s"] for r in history]
        steady = statistics.median(epoch_s)
        setup = call_s - epochs * steady
    else:  # wall time between callbacks: training and evaluation, like the other modes
        epoch_s = list(np.diff([t0, *stamps]))
        steady = statistics.median(epoch_s[1:]) if epochs > 1 else epoch_s[0]
        setup = epoch_s[0] - steady
    return {
        "steady_epoch_s": steady,
        "setup_s": setup,
        "compile_s": history[0].get("compile_s"),
        "compile_events_s": sum(clock),
        "call_s": call_s,
        "epoch_s": epoch_s,
        "train_time_s": [r["time_s"] for r in history],
        "loss": [r["loss"] for r in history],
        "eval_accuracy": [r["eval_accuracy"] for r in history],
    }


def snnx_modes(name: str, path: str, epochs: int, learn=("beta",), warm: bool = True) -> dict:
    """``fit(compiled=True)``, then ``fit(compiled=False)``, from the same weights; with ``warm``, a
    second 1-epoch compiled run whose ``compile_s`` is the compile time once the process has compiled
    before (``compile_warm_s``)."""
    train, test, w = load_data(path)
    out = {"snnx-compiled": snnx_fit(name, train, test, w, epochs, True, learn)}
    out["snnx-python"] = snnx_fit(name, train, test, w, epochs, False, learn)
    if warm:
        out["snnx-compiled"]["compile_warm_s"] = snnx_fit(name, train, test, w, 1, True, learn)["compile_s"]
    return out


PROFILE_STEPS = (5, 25, 100)


def step_times(model, forward, loss, *, repeats: int = 100) -> dict:
    """Median and minimum ms of one jitted Adam step and of the forward alone on digits-sized batches.

    ``forward(model, x) -> (T, B, C)``, ``loss(outputs, y)``; for B = 32 and T in
    ``PROFILE_STEPS`` (Bernoulli(0.3) inputs), to separate the per-step cost from
    the per-time-step cost. Framework-neutral: both sides call it with their model.
    """
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx

    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = optax.adam(LR)

    def objective(p, x, y):
        return loss(forward(nnx.merge(graphdef, p, rest), x), y)

    def step(p, o, x, y):
        value, grads = jax.value_and_grad(objective)(p, x, y)
        updates, o = tx.update(grads, o, p)
        return optax.apply_updates(p, updates), o, value

    out = {}
    for t in PROFILE_STEPS:
        rng = np.random.default_rng(0)
        x = jnp.asarray((rng.random((t, 32, WORKLOADS["digits"]["n_in"])) < 0.3).astype(np.float32))
        y = jnp.asarray(rng.integers(0, 10, 32).astype(np.int32))
        for name, fn, args in (
            ("train", step, (params, tx.init(params), x, y)),
            ("forward", objective, (params, x, y)),
        ):
            compiled = jax.jit(fn).lower(*args).compile()
            jax.block_until_ready(compiled(*args))
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                jax.block_until_ready(compiled(*args))
                times.append(time.perf_counter() - t0)
            out[f"{name}_T{t}"] = {"median_ms": 1e3 * statistics.median(times), "min_ms": 1e3 * min(times)}
    return out


def warm_up() -> None:
    """For a measuring process: no persistent compilation cache, and XLA's one-time start-up done.

    The first compilation in a process costs about 1.5 s more than the same one
    later (measured for both Spyx's ``compile_fit`` and snnx's compiled ``fit``):
    a small unrelated program (a scan with a matmul, differentiated) takes it.
    """
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_compilation_cache", False)

    def loss(w, xs):
        return jax.lax.scan(lambda h, x: (jnp.tanh(h @ w + x), None), jnp.zeros(4), xs)[0].sum()

    jax.jit(jax.grad(loss))(jnp.eye(4), jnp.ones((3, 4))).block_until_ready()


# ---------------------------------------------------------------- driver


def _env(threads: int, extra_path: str | None = None) -> dict:
    from run import pinned_env

    env = pinned_env(threads)
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, env.get("PYTHONPATH")) if p)
    return env


def _call(cmd: list[str], env: dict, timeout: float) -> dict:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=HERE)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in r.stdout.splitlines():
        if line.startswith(TAG + " "):
            return json.loads(line[len(TAG) + 1 :])
    tail = (r.stderr or r.stdout).strip().splitlines()[-6:]
    return {"error": f"exit {r.returncode}: " + " | ".join(tail)}


def evosax_path(peers: str, folder: str) -> tuple[str | None, str]:
    """A folder to put on the peers' ``PYTHONPATH`` so that ``evosax`` imports there, and where it came from.

    The peers' environment has no evosax; this one has 0.3.2 (the ``evo`` extra),
    pure Python, which the peers' JAX runs unchanged: a link to it is enough.
    """
    r = subprocess.run([peers, "-c", "import evosax"], capture_output=True)
    if r.returncode == 0:
        return None, "peers environment"
    spec = importlib.util.find_spec("evosax")
    if spec is None or spec.origin is None:
        return None, "not installed"
    link = os.path.join(folder, "evosax-link")
    os.makedirs(link, exist_ok=True)
    os.symlink(os.path.dirname(spec.origin), os.path.join(link, "evosax"))
    from importlib.metadata import version

    return link, f"linked from {os.path.dirname(spec.origin)} (evosax {version('evosax')})"


def _stats(xs: list[float]) -> tuple[float, float, float] | None:
    xs = [x for x in xs if x is not None]
    return (statistics.median(xs), min(xs), max(xs)) if xs else None


def aggregate(rounds: list[dict], workloads) -> dict:
    """Median and range over rounds of every mode's numbers, and the per-round ratios to Spyx compile_fit."""
    agg: dict = {}
    for w in workloads:
        for mode in MODES:
            runs = [r[w][mode] for r in rounds if mode in r.get(w, {})]
            if not runs:
                continue
            ratios = [
                r[w][mode]["steady_epoch_s"] / r[w]["spyx-compile_fit"]["steady_epoch_s"]
                for r in rounds
                if mode in r.get(w, {}) and "spyx-compile_fit" in r.get(w, {})
            ]
            agg[f"{w}/{mode}"] = {
                "steady_ms": _stats([1e3 * r["steady_epoch_s"] for r in runs]),
                "setup_s": _stats([r["setup_s"] for r in runs]),
                # snnx-compiled: fit's own compile_s; the others: JAX's trace + lowering + XLA events
                "compile_s": _stats([r.get("compile_s") or r.get("compile_events_s") for r in runs]),
                "compile_warm_s": _stats([r.get("compile_warm_s") for r in runs]),
                "ratio_to_compile_fit": _stats(ratios),
                "final_accuracy": _stats([r["eval_accuracy"][-1] for r in runs]),
                "rounds": len(runs),
            }
    return agg


def _fmt(stat, scale="{:.0f}") -> str:
    if stat is None:
        return "–"
    med, lo, hi = stat
    return f"{scale.format(med)} [{scale.format(lo)}–{scale.format(hi)}]"


def table(agg: dict, workloads, epochs: dict) -> str:
    rows = [
        "| workload | mode | steady ms/epoch | × Spyx compile_fit | first-call setup s | compile s "
        "| compile s, warm | test acc. |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for w in workloads:
        for mode in MODES:
            a = agg.get(f"{w}/{mode}")
            if a is None:
                continue
            acc = _fmt(a["final_accuracy"], "{:.3f}")
            rows.append(
                f"| {w} ({epochs[w]} ep.) | {mode} | {_fmt(a['steady_ms'])} | "
                f"{_fmt(a['ratio_to_compile_fit'], '{:.2f}')} | {_fmt(a['setup_s'], '{:.2f}')} | "
                f"{_fmt(a['compile_s'], '{:.2f}')} | {_fmt(a['compile_warm_s'], '{:.2f}')} | {acc} |"
            )
    return "\n".join(rows)


def evolve_table(ev: dict) -> str:
    rows = [
        "| solver | budget s | wall s | generations | ms/generation | test acc. (last / best) | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("es", "cmaes"):
        r = ev.get(name)
        if r is None:
            continue
        if "error" in r:
            rows.append(f"| {name} | {r.get('budget_s', '–')} | – | – | – | – | {r['error']} |")
            continue
        gen_ms = f"{1e3 * r['generation_s']:.1f}" if r.get("generation_s") else "–"
        acc = (
            "–" if r.get("accuracy_last") is None else f"{r['accuracy_last']:.3f} / {r['accuracy_best']:.3f}"
        )
        wall = "–" if r.get("wall_s") is None else f"{r['wall_s']:.1f}"
        rows.append(
            f"| {name} | {r['budget_s']:.0f} | {wall} | {r.get('generations', 0)} | {gen_ms} | {acc} | "
            f"{r.get('note', '')} |"
        )
    return "\n".join(rows)


def profile_table(out: dict) -> str:
    rows = [
        "| side | " + " | ".join(f"{k} ms (median / min)" for k in ("train", "forward")) + " | T |",
        "|---|---|---|---|",
    ]
    for side, times in out.items():
        if side == "error":
            rows.append(f"| – | {times} | | |")
            continue
        for t in PROFILE_STEPS:
            tr, fw = times[f"train_T{t}"], times[f"forward_T{t}"]
            rows.append(
                f"| {side} | {tr['median_ms']:.3f} / {tr['min_ms']:.3f} | "
                f"{fw['median_ms']:.3f} / {fw['min_ms']:.3f} | {t} |"
            )
    return "\n".join(rows)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", default="digits,ff100", help=f"comma-separated, of {sorted(WORKLOADS)}")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=None, help="override every workload's epochs")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-peers", action="store_true", help="the snnx modes only (no peers' environment)")
    p.add_argument("--no-evolve", action="store_true", help="skip Spyx's evolution baseline")
    p.add_argument("--es-budget", type=float, default=52.0)
    p.add_argument("--cmaes-budget", type=float, default=120.0)
    p.add_argument("--peers-python", default=str(HERE / ".venv-peers" / "bin" / "python"))
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per worker process")
    p.add_argument("--out", default=None, help="write the JSON here")
    p.add_argument("--profile", action="store_true", help="time one jitted step of digits vs T, both sides")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--data", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    workloads = [w for w in args.workloads.split(",") if w]
    for w in workloads:
        if w not in WORKLOADS:
            raise SystemExit(f"--workloads: expected names from {sorted(WORKLOADS)}, got {w!r}")
    epochs = {w: args.epochs or WORKLOADS[w]["epochs"] for w in workloads}
    if args.profile:
        import snnx

        warm_up()
        model = build_snnx(WORKLOADS["digits"], weights("digits"))
        out = {"snnx": step_times(model, lambda m, x: snnx.run(m, x)[0], summed_cross_entropy)}
        if not args.no_peers:
            cmd = [args.peers_python, str(HERE / "spyx_training.py"), "--profile"]
            out.update(_call(cmd, _env(args.threads), args.timeout))
        print(profile_table(out))
        if args.out:
            Path(args.out).write_text(json.dumps(out, indent=1))
        return 0
    if args.worker:
        warm_up()
        print(TAG, json.dumps(snnx_modes(workloads[0], args.data, epochs[workloads[0]])), flush=True)
        return 0

    with tempfile.TemporaryDirectory(prefix="snnx-training-modes-") as folder:
        return drive(args, workloads, epochs, folder)


def drive(args, workloads: list[str], epochs: dict, folder: str) -> int:
    """The rounds, the table, the evolution stage; data files in ``folder``."""
    from run import machine

    data = {w: write_data(w, folder) for w in workloads}
    peers = None if args.no_peers else args.peers_python
    env = _env(args.threads)
    report: dict = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "argv": sys.argv[1:],
        "epochs": epochs,
        "lr": LR,
        "label_smoothing": SMOOTHING,
        "rounds": [],
    }
    me = [sys.executable, str(Path(__file__).resolve())]
    for i in range(args.rounds):
        rnd: dict = {}
        for w in workloads:
            base = ["--workloads", w, "--data", data[w], "--epochs", str(epochs[w])]
            rnd[w] = _call([*me, "--worker", *base], env, args.timeout)
            if peers is not None:
                spyx = _call([peers, str(HERE / "spyx_training.py"), *base], env, args.timeout)
                rnd[w].update(spyx)
            for mode in MODES:
                if mode in rnd[w]:
                    print(
                        f"round {i + 1} {w} {mode}: {1e3 * rnd[w][mode]['steady_epoch_s']:.1f} ms/epoch, "
                        f"setup {rnd[w][mode]['setup_s']:.2f} s",
                        flush=True,
                    )
            for key in ("error",):
                if key in rnd[w]:
                    print(f"round {i + 1} {w}: {rnd[w][key]}", file=sys.stderr, flush=True)
        report["rounds"].append(rnd)
    report["aggregate"] = agg = aggregate(report["rounds"], workloads)
    text = table(agg, workloads, epochs)
    if args.out:  # before the evolution runs, which take minutes
        Path(args.out).write_text(json.dumps(report, indent=1))
    if peers is not None and not args.no_evolve:
        if "digits" not in data:
            data["digits"] = write_data("digits", folder)
        link, origin = evosax_path(peers, folder)
        report["evosax"] = origin
        budgets = ["--es-budget", str(args.es_budget), "--cmaes-budget", str(args.cmaes_budget)]
        wait = 3 * (args.es_budget + args.cmaes_budget) + 300
        cmd = [
            peers,
            str(HERE / "spyx_training.py"),
            "--evolve",
            "es,cmaes",
            "--data",
            data["digits"],
            *budgets,
        ]
        report["evolve"] = _call(cmd, _env(args.threads, link), wait)
        text += "\n\nSpyx evolution on digits (`compile_fit`, evosax " + origin + "):\n\n"
        text += (
            evolve_table(report["evolve"]) if "error" not in report["evolve"] else report["evolve"]["error"]
        )
    print(text)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
