"""Loader throughput: streamed SHD-like batches against the in-memory path and the ff100 training step.

``python benchmarks/loader.py [--samples 4096] [--rounds 3] [--workers 0,1,2,4] [--quick] [--json OUT]``
(``--fit-workers``: the worker counts of the streamed ``fit``, default those of ``--workers`` above 0)

Writes an SHD-shaped HDF5 file (the Heidelberg layout of ``snnx.datasets.HeidelbergSource``)
into a temporary folder, then measures, in every round, samples per second of an epoch of
batches (``B = 64``, ``T = 100``, 700 channels, bit-packed along time):

* ``read``: one ``Loader(...).arrays()`` read of the whole file (the in-memory path's load), with
  the largest ``--workers``;
* ``memory``: iterating ``fit``'s array path, ``ArrayData(x_packed, y).batches(64, shuffle=True,
  drop_remainder=True)``, epochs 1..3;
* ``stream``: ``Loader(HeidelbergSource(path), 64, workers=w)`` for each ``w``: epoch 0 (worker
  start-up; also the time to its first batch) and epoch 1 (the steady rate);
* ``fit``: ``snnx.train.fit`` of the ff100 network (``bench_snnx.build``: Linear(700->256) ->
  LIF -> Linear(256->20) -> LI, Adam 1e-3, cross-entropy of the time-summed readout) for two
  epochs on the packed arrays (``num_steps=T``); the second epoch's ``samples_per_s`` is the
  steady step rate (the first compiles);
* ``fit_stream``: the same ``fit`` fed by the streamed ``Loader`` with ``w`` workers (each
  ``--fit-workers``); its steady rate divided by ``fit``'s of the same round is the loader's cost
  to training (1.0: none).

The rounds are interleaved (every measurement once per round), and the table gives the median
and the range over rounds. Everything runs on every CPU this process may use: the loader's
worker processes share the cores with XLA's threads.

Data (``write_shd_like``): per sample ``SPIKES`` spike counts drawn uniformly from 2,000 to 8,000
(mean 5,000; real SHD samples hold a few thousand spikes over about a second on 700 channels),
units uniform over 0..699, times sorted and uniform over ``[0, d)`` with the sample's duration
``d`` uniform in ``DURATION`` = [0.5, 1.2) s, labels uniform over 20 classes. With ``window``
1 s, spikes after 1 s are dropped and spikes of one unit in one 10 ms bin merge.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

BATCH = 64
UNITS = 700
CLASSES = 20
SPIKES = (2000, 8000)  # spikes per sample: uniform integers in [low, high]
DURATION = (0.5, 1.2)  # seconds: a sample's spikes lie in [0, d), d uniform in this range
WINDOW = 1.0
LR = 1e-3
MEMORY_EPOCHS = 3
QUICK = {"samples": 256, "num_steps": 20, "rounds": 1, "workers": "0,1"}
FULL = {"samples": 4096, "num_steps": 100, "rounds": 3, "workers": "0,1,2,4"}


def write_shd_like(path, samples: int, *, seed: int = 0) -> dict:
    """Write ``samples`` SHD-like samples to ``path`` in the Heidelberg layout; return their statistics.

    Layout: vlen float32 ``spikes/times`` (seconds), vlen uint16 ``spikes/units`` (0..699), uint16
    ``labels`` (0..19), as in the Zenke-lab releases.

    Returns:
        ``{"samples", "spikes_mean", "spikes_min", "spikes_max", "max_time_s", "bytes"}``.
    """
    import h5py

    rng = np.random.default_rng(seed)
    counts = rng.integers(SPIKES[0], SPIKES[1] + 1, samples)
    durations = rng.uniform(*DURATION, samples)
    times = np.empty(samples, dtype=object)
    units = np.empty(samples, dtype=object)
    for i, (k, d) in enumerate(zip(counts, durations, strict=True)):
        times[i] = np.sort(rng.uniform(0.0, d, k)).astype(np.float32)
        units[i] = rng.integers(0, UNITS, k).astype(np.uint16)
    labels = rng.integers(0, CLASSES, samples).astype(np.uint16)
    with h5py.File(path, "w") as f:
        spikes = f.create_group("spikes")
        spikes.create_dataset("times", data=times, dtype=h5py.vlen_dtype(np.float32))
        spikes.create_dataset("units", data=units, dtype=h5py.vlen_dtype(np.uint16))
        f.create_dataset("labels", data=labels)
    return {
        "samples": samples,
        "spikes_mean": float(counts.mean()),
        "spikes_min": int(counts.min()),
        "spikes_max": int(counts.max()),
        "max_time_s": float(max(t.max() for t in times)),
        "bytes": os.path.getsize(path),
    }


def source(path, num_steps: int):
    from snnx.datasets import HeidelbergSource

    return HeidelbergSource(path, num_steps=num_steps, window=WINDOW, num_units=UNITS, num_classes=CLASSES)


def read_arrays(path, num_steps: int, workers: int) -> dict:
    """The in-memory path's load: ``Loader(...).arrays()``; its time, and the packed arrays."""
    from snnx.datasets import Loader

    t0 = time.perf_counter()
    x, y = Loader(source(path, num_steps), BATCH, workers=workers).arrays()
    seconds = time.perf_counter() - t0
    return {"x": x, "y": y, "seconds": seconds, "samples_per_s": len(y) / seconds}


def memory_epochs(x, y, epochs: int = MEMORY_EPOCHS) -> dict:
    """Seconds per epoch of ``fit``'s array batching (epochs 1..``epochs``), and the samples of one."""
    from snnx.train._data import ArrayData

    data, out, seen = ArrayData(x, y), [], 0
    for epoch in range(1, epochs + 1):
        t0, seen = time.perf_counter(), 0
        for _, yb in data.batches(BATCH, epoch=epoch, seed=0, shuffle=True, drop_remainder=True):
            seen += len(yb)
        out.append(time.perf_counter() - t0)
    return {"epoch_s": out, "samples": seen, "samples_per_s": seen * epochs / sum(out)}


def stream_epochs(path, num_steps: int, workers: int, src=None) -> dict:
    """Epochs 0 and 1 of a streamed ``Loader`` (of ``src``, default the HDF5 file's source): time to the
    first batch, each epoch's seconds."""
    from snnx.datasets import Loader

    epoch_s, first, seen = [], None, 0
    src = source(path, num_steps) if src is None else src
    with Loader(src, BATCH, workers=workers, seed=0) as loader:
        loader.plan_epochs(2)  # one set of workers for both epochs, as fit plans its run
        for epoch in (0, 1):
            t0, seen = time.perf_counter(), 0
            for _, yb in loader(epoch):
                if first is None:
                    first = time.perf_counter() - t0
                seen += len(yb)
            epoch_s.append(time.perf_counter() - t0)
    return {
        "first_batch_s": first,
        "epoch_s": epoch_s,
        "samples": seen,
        "samples_per_s": seen / epoch_s[1],
        "startup_s": epoch_s[0] - epoch_s[1],
    }


def fit_rate(data, num_steps: int) -> dict:
    """Two epochs of ``fit`` on the ff100 network; ``data`` is ``(x_packed, y)`` or a ``Loader``."""
    import _common as C
    import optax
    from bench_snnx import build
    from flax import nnx

    from snnx.train import fit

    def loss(out, y):  # cross-entropy of the readout summed over time, as in _common.jit_train_step
        return optax.softmax_cross_entropy_with_integer_labels(out.sum(0), y).mean()

    model = build(C.spec("ff100"), nnx.Rngs(0))
    history = fit(
        model, optax.adam(LR), loss, data, epochs=2, batch_size=BATCH, num_steps=num_steps, progress=False
    )
    return {
        "epoch_s": [h["time_s"] for h in history],
        "samples_per_s": history[1]["samples_per_s"],
        "loss": [h["loss"] for h in history],
    }


def one_round(path, num_steps: int, workers: list[int], fit_workers: list[int], cache=None) -> dict:
    """Every measurement once, in a fixed order; the read's arrays are dropped afterwards. ``cache``: a
    ``PackedCache`` of the file, streamed in this process (``workers=0``) as well."""
    from snnx.datasets import Loader

    read = read_arrays(path, num_steps, max(workers))
    x, y = read.pop("x"), read.pop("y")
    binned = float(np.unpackbits(x, axis=0, count=num_steps).sum(dtype=np.int64) / len(y))
    out = {"read": {**read, "workers": max(workers), "binned_spikes_mean": binned}}
    out["memory"] = memory_epochs(x, y)
    out["stream"] = {str(w): stream_epochs(path, num_steps, w) for w in workers}
    out["fit"] = fit_rate((x, y), num_steps)
    out["fit_stream"] = {}
    for w in fit_workers:
        with Loader(source(path, num_steps), BATCH, workers=w, seed=0) as loader:
            r = fit_rate(loader, num_steps)
        r["ratio_to_fit"] = r["samples_per_s"] / out["fit"]["samples_per_s"]
        out["fit_stream"][str(w)] = r
    if cache is not None:
        out["cache_stream"] = stream_epochs(path, num_steps, 0, src=cache)
        with Loader(cache, BATCH, workers=0, seed=0) as loader:
            r = fit_rate(loader, num_steps)
        r["ratio_to_fit"] = r["samples_per_s"] / out["fit"]["samples_per_s"]
        out["fit_cache"] = r
    return out


def spread(values) -> dict:
    """``{"median", "min", "max"}`` of a list of numbers."""
    v = np.asarray(values, dtype=np.float64)
    return {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max())}


def summarise(rounds: list[dict], workers: list[int], fit_workers: list[int]) -> dict:
    """Median and range over rounds of every rate, start-up time and ratio."""

    def pick(*keys) -> dict:
        values = []
        for r in rounds:
            for key in keys:
                r = r[key]
            values.append(r)
        return spread(values)

    s = {
        "read_s": pick("read", "seconds"),
        "read": pick("read", "samples_per_s"),
        "memory": pick("memory", "samples_per_s"),
        "fit": pick("fit", "samples_per_s"),
        "fit_first_epoch_s": pick("fit", "epoch_s", 0),
    }
    for w in map(str, workers):
        s[f"stream/{w}"] = pick("stream", w, "samples_per_s")
        s[f"stream_startup_s/{w}"] = pick("stream", w, "startup_s")
        s[f"stream_first_batch_s/{w}"] = pick("stream", w, "first_batch_s")
    for w in map(str, fit_workers):
        s[f"fit_stream/{w}"] = pick("fit_stream", w, "samples_per_s")
        s[f"ratio/{w}"] = pick("fit_stream", w, "ratio_to_fit")
    if "cache_stream" in rounds[0]:
        s["cache_stream"] = pick("cache_stream", "samples_per_s")
        s["fit_cache"] = pick("fit_cache", "samples_per_s")
        s["ratio/cache"] = pick("fit_cache", "ratio_to_fit")
    return s


def _cells(d: dict, fmt: str = "{:,.0f}") -> tuple[str, str]:
    """``(median, "min–max")`` of a :func:`spread`."""
    return fmt.format(d["median"]), f"{fmt.format(d['min'])}–{fmt.format(d['max'])}"


def _seconds(d: dict, fmt: str = "{:.2f}") -> str:
    median, low_high = _cells(d, fmt)
    return f"{median} s ({low_high})"


def table(summary: dict, workers: list[int], fit_workers: list[int], read_workers: int) -> str:
    """The Markdown table: samples/s (median, range over rounds) and what else each row measured."""
    rate = lambda key: " | ".join(_cells(summary[key]))  # noqa: E731
    rows = [
        "| measurement | workers | samples/s | range | notes |",
        "|---|---|---|---|---|",
        f"| read once: `Loader.arrays()` | {read_workers} | {rate('read')} | {_seconds(summary['read_s'])} |",
        f"| in-memory epoch: `ArrayData.batches` | – | {rate('memory')} | |",
    ]
    for w in workers:
        up, first = _seconds(summary[f"stream_startup_s/{w}"]), _seconds(summary[f"stream_first_batch_s/{w}"])
        rows.append(
            f"| streamed epoch 1: `Loader` | {w} | {rate(f'stream/{w}')} | "
            f"start-up {up}, first batch {first} |"
        )
    first = _seconds(summary["fit_first_epoch_s"], "{:.1f}")
    rows.append(f"| `fit` ff100, in-memory packed | – | {rate('fit')} | first epoch (compiles) {first} |")
    for w in fit_workers:
        ratio, low_high = _cells(summary[f"ratio/{w}"], "{:.2f}")
        rows.append(
            f"| `fit` ff100, streamed `Loader` | {w} | {rate(f'fit_stream/{w}')} | "
            f"× in-memory `fit`: {ratio} ({low_high}) |"
        )
    if "cache_stream" in summary:
        ratio, low_high = _cells(summary["ratio/cache"], "{:.2f}")
        rows.append(f"| streamed epoch 1: `Loader(PackedCache)` | 0 | {rate('cache_stream')} | |")
        rows.append(
            f"| `fit` ff100, streamed `Loader(PackedCache)` | 0 | {rate('fit_cache')} | "
            f"× in-memory `fit`: {ratio} ({low_high}) |"
        )
    return "\n".join(rows)


def machine() -> dict:
    """CPU model, CPUs, date and the versions that matter."""
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), model)
    except OSError:
        pass
    versions = {}
    for name in ("snnx", "jax", "jaxlib", "flax", "grain", "h5py", "numpy"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "cpus_usable": usable,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "versions": versions,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def parse_workers(text: str, name: str = "workers") -> list[int]:
    try:
        workers = [int(w) for w in text.split(",") if w.strip()]
    except ValueError:
        workers = []
    if not workers or min(workers) < 0:
        raise argparse.ArgumentTypeError(f"`--{name}` must be a comma list of ints >= 0, got {text!r}")
    return sorted(set(workers))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--samples", type=int, default=None, help=f"samples in the file ({FULL['samples']})")
    p.add_argument("--num-steps", type=int, default=None, help=f"T ({FULL['num_steps']})")
    p.add_argument("--rounds", type=int, default=None, help=f"interleaved rounds ({FULL['rounds']})")
    p.add_argument("--workers", default=None, help=f"comma list of worker counts ({FULL['workers']})")
    p.add_argument("--fit-workers", default=None, help="worker counts of the streamed fit (--workers > 0)")
    p.add_argument("--quick", action="store_true", help="smoke test: " + json.dumps(QUICK))
    p.add_argument("--json", default=None, help="JSON path (default benchmarks/results/loader-<time>.json)")
    args = p.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    try:
        args.workers = parse_workers(args.workers)
        if args.fit_workers is None:
            args.fit_workers = [w for w in args.workers if w > 0] or args.workers
        else:
            args.fit_workers = parse_workers(args.fit_workers, "fit-workers")
    except argparse.ArgumentTypeError as err:
        p.error(str(err))
    if args.samples < BATCH:
        p.error(f"`--samples` must be >= the batch size {BATCH}, got {args.samples}")
    for name in ("num_steps", "rounds"):
        if getattr(args, name) < 1:
            p.error(f"`--{name.replace('_', '-')}` must be >= 1, got {getattr(args, name)}")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    report = {"machine": machine(), "config": {**vars(args), "batch_size": BATCH, "window_s": WINDOW}}
    with tempfile.TemporaryDirectory(prefix="snnx-loaderbench-") as tmp:
        path = os.path.join(tmp, "shd_like.h5")
        t0 = time.perf_counter()
        report["data"] = write_shd_like(path, args.samples)
        report["data"]["write_s"] = time.perf_counter() - t0
        from snnx.datasets import PackedCache

        t0 = time.perf_counter()
        cache = PackedCache(
            source(path, args.num_steps), os.path.join(tmp, "cache.packed"), workers=max(args.workers)
        )
        report["data"]["cache_build_s"] = time.perf_counter() - t0
        rounds = []
        for r in range(args.rounds):
            t0 = time.perf_counter()
            rounds.append(one_round(path, args.num_steps, args.workers, args.fit_workers, cache))
            print(
                f"round {r + 1}/{args.rounds}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True
            )
    report["rounds"] = rounds
    report["summary"] = summarise(rounds, args.workers, args.fit_workers)
    text = table(report["summary"], args.workers, args.fit_workers, max(args.workers))
    report["table"] = text
    d = report["data"]
    print(
        f"{report['machine']['cpu']}, {report['machine']['cpus_usable']} CPUs, {report['machine']['date']}; "
        f"{d['samples']} samples, {d['spikes_mean']:.0f} spikes/sample "
        f"({rounds[0]['read']['binned_spikes_mean']:.0f} after binning), T={args.num_steps}, B={BATCH}, "
        f"{args.rounds} round(s); PackedCache built once in {d['cache_build_s']:.1f} s\n"
    )
    print(text)
    out = Path(args.json) if args.json else HERE / "results" / f"loader-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"\nJSON: {out}")
    return report


if __name__ == "__main__":
    main()
