"""Where a training step's time goes besides arithmetic: temporaries and page faults.

``python benchmarks/profile_step.py --workload ff250 [--framework snnx|spyx] [--set NAME=VALUE ...]``

Builds the workload's model exactly as ``bench_snnx.py`` / ``bench_spyx.py`` do,
wraps one Adam training step in ``jax.jit`` (the same step for both
frameworks: ``nnx.value_and_grad`` of the time-summed cross-entropy, then the
optimizer update), and reports

* the median step time over ``--steps`` calls after ``--warmup``;
* the minor page faults per step (``getrusage``): memory the step touched for
  the first time, e.g. a temporary that malloc handed out as a fresh ``mmap``;
* XLA's own accounting of the compiled step (``memory_analysis()``): the bytes
  of temporaries, arguments and outputs.

``--set`` sets a field of the ``snnx.engine.Options`` the step runs with
(``--set project_readout=0``, ``--set fused=0``,
``--set project_min_sample_bytes=0``, ``--set conv_weight_grad=xla``: a VALUE
that is not a number is passed as a string), to measure what an engine feature buys;
the plan the step runs is printed with ``--plan``. Run the Spyx side with the
peers' interpreter (``benchmarks/.venv-peers/bin/python``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C


def _parse_setting(text: str) -> tuple[str, int | float | str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"--set expects NAME=VALUE, got {text!r}")
    for kind in (int, float):
        try:
            return name, kind(value)
        except ValueError:
            pass
    return name, value  # a string field (conv_weight_grad=xla, chunk_steps=off); Options checks it


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="ff100", choices=sorted(C.WORKLOADS))
    parser.add_argument("--framework", default="snnx", choices=("snnx", "spyx"))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--set", dest="settings", action="append", default=[], type=_parse_setting)
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of the summary")
    parser.add_argument("--plan", action="store_true", help="print snnx's execution plan first")
    parser.add_argument(
        "--ops", type=int, default=0, metavar="N", help="trace 3 steps; print the N slowest XLA operations"
    )
    args = parser.parse_args(argv)
    C.use_threads(args.threads)
    if args.ops:  # XLA's CPU runtime marks each operation only with this flag, set before JAX starts
        os.environ["XLA_FLAGS"] += " --xla_cpu_enable_xprof_traceme=true"
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    from flax import nnx

    s = C.spec(args.workload)
    if args.framework == "snnx":
        import dataclasses

        import bench_snnx as bench

        from snnx.engine import Options, plan, run

        fields = {f.name: f for f in dataclasses.fields(Options)}
        given = {}
        for name, value in args.settings:
            if name not in fields:
                parser.error(f"--set {name}: snnx.engine.Options has no such field; it has {sorted(fields)}")
            given[name] = bool(value) if fields[name].type == "bool | None" else value
        options = Options(remat=s["remat"], **given)

        def forward(m, x):
            return run(m, x, options=options)[0]
    else:
        if args.settings:
            parser.error("--set applies to snnx only")
        import bench_spyx as bench
        import spyx

        def forward(m, x):
            return spyx.nn.run(m, x)[0]

    model = bench.build(s, nnx.Rngs(0))
    opt = nnx.Optimizer(model, optax.adam(C.LR), wrt=nnx.Param)
    xs, ys = C.inputs(s)
    x, y = jnp.asarray(xs), jnp.asarray(ys)
    del xs
    if args.plan and args.framework == "snnx":
        print(plan(model, x, options=options))
    graphdef, state = nnx.split((model, opt))

    compiled = C.jit_train_step(graphdef, forward).lower(state, x, y).compile()
    memory = compiled.memory_analysis()
    for _ in range(args.warmup):
        state, loss = compiled(state, x, y)
        loss.block_until_ready()
    times, faults = [], []
    for _ in range(args.steps):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        state, loss = compiled(state, x, y)
        loss.block_until_ready()
        times.append(time.perf_counter() - t0)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    page = resource.getpagesize()
    out = {
        "framework": args.framework,
        "workload": args.workload,
        "threads": args.threads,
        "settings": dict(args.settings),
        "train_ms_median": float(np.median(times) * 1e3),
        "train_ms_q1_q3": [float(np.percentile(times, q) * 1e3) for q in (25, 75)],
        "minor_faults_per_step": int(np.median(faults)),
        "faulted_mib_per_step": float(np.median(faults) * page / 2**20),
        "xla_temp_bytes": int(getattr(memory, "temp_size_in_bytes", -1)),
        "xla_argument_bytes": int(getattr(memory, "argument_size_in_bytes", -1)),
        "xla_output_bytes": int(getattr(memory, "output_size_in_bytes", -1)),
        "loss_finite": bool(np.isfinite(float(loss))),
        "jax": jax.__version__,
    }
    if args.ops:
        out["ops_ms_per_step"] = _trace_ops(lambda: compiled(state, x, y)[1].block_until_ready(), args.ops)
    if args.json:
        print(json.dumps(out))
    else:
        settings = " ".join(f"{k}={v}" for k, v in out["settings"].items()) or "defaults"
        print(
            f"{out['framework']} {out['workload']} ({settings}, {out['threads']} threads): "
            f"train step {out['train_ms_median']:.1f} ms "
            f"(q1-q3 {out['train_ms_q1_q3'][0]:.1f}-{out['train_ms_q1_q3'][1]:.1f}), "
            f"{out['minor_faults_per_step']} minor faults/step ({out['faulted_mib_per_step']:.1f} MiB), "
            f"XLA temporaries {out['xla_temp_bytes'] / 1e6:.1f} MB"
        )
    if args.ops and not args.json:
        print(f"the {args.ops} XLA operations that took longest, ms per step (fusions named as in the")
        print("optimised HLO, `compiled.as_text()`; an operation XLA hands to a thread pool and does")
        print("not wait for, such as some dots and convolutions, shows its dispatch time only):")
        for name, ms in out["ops_ms_per_step"].items():
            print(f"  {ms:8.2f}  {name}")
    return out


def _trace_ops(step, top: int, steps: int = 3) -> dict[str, float]:
    """The ``top`` XLA operations by total time over ``steps`` traced calls of ``step``, in ms per step."""
    import collections
    import glob
    import gzip
    import tempfile

    import jax

    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder, create_perfetto_trace=True):
            for _ in range(steps):
                step()
        (path,) = glob.glob(f"{folder}/**/perfetto_trace.json.gz", recursive=True)
        events = json.load(gzip.open(path))
    events = events["traceEvents"] if isinstance(events, dict) else events
    total: collections.Counter = collections.Counter()
    for e in events:
        name = e.get("name", "")
        # XLA's operations only: not the executor's own spans, not Python frames ("$file:line")
        if e.get("ph") == "X" and "dur" in e and not name.startswith(("$", "ThunkExecutor", "Pjit")):
            total[name] += e["dur"]
    return {name: us / 1e3 / steps for name, us in total.most_common(top)}


if __name__ == "__main__":
    main()
