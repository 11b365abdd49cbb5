"""Re-measure the engine's backend defaults: every value of each ``Options`` field, timed interleaved.

``python benchmarks/tune_options.py [--workloads ff100,rec100,conv30] [--fields fused,unroll] [--rounds 3]``

For each workload (built as ``bench_snnx.py`` builds it) and each field in
``SWEEP``, compiles the training step once per value of the field (the other
fields at the backend's defaults), then times the variants round-robin in one
process, so that machine drift hits them alike. Prints, per workload and field,
the median step time of each value, its ratio to the backend default's, and
the faster value; ``--json PATH`` writes every sample.

The defaults in ``snnx.engine._options`` (``backend_defaults()``) come from CPU
measurements; the GPU column is a starting point (``docs/design/engine-plan.md``).
On a GPU machine ``benchmarks/gpu.sh`` runs this script after the suite, so the
GPU defaults can be re-measured there; on the CPU, ``--shrink`` makes it quick.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C

# field -> the values timed; the backend default is always among them
SWEEP: dict[str, tuple] = {
    "fused": (True, False),
    "bias_into_neuron": (True, False),
    "project_readout": (True, False),
    "recompute_neuron_steps": (True, False),
    "chunk_steps": ("auto", "off"),
    "unroll": (1, 4),
    "parallel": (False, True),
    "conv_weight_grad": ("auto", "xla", "gemm"),
}
DEFAULT_WORKLOADS = ("ff100", "rec100", "conv30")


def _csv(choices):
    def parse(text: str) -> list[str]:
        items = [t for t in text.split(",") if t]
        bad = [t for t in items if t not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"expected a comma list from {sorted(choices)}, got {text!r}")
        return items

    return parse


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", type=_csv(C.WORKLOADS), default=list(DEFAULT_WORKLOADS))
    p.add_argument("--fields", type=_csv(SWEEP), default=list(SWEEP))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=3, help="timed steps per variant per round")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads (ignored on a GPU)")
    p.add_argument("--shrink", type=int, default=1, help="divide T, B, hidden and channels by this")
    p.add_argument("--json", default=None, help="write every sample here")
    args = p.parse_args(argv)
    for name in ("rounds", "steps", "threads", "shrink"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    return args


def variants(fields: list[str], defaults: dict) -> list[tuple[str, object]]:
    """``(field, value)`` for every value of every field the installed ``Options`` has."""
    out = []
    for field in fields:
        if field not in defaults:  # an older snnx without this field
            continue
        values = list(SWEEP[field])
        if defaults[field] not in values:
            values.insert(0, defaults[field])
        out += [(field, v) for v in values]
    return out


def summarise(samples: dict, defaults: dict) -> list[dict]:
    """One row per (workload, field, value) from ``{(wl, field, value): [seconds, ...]}``."""
    rows = []
    for (wl, field, value), ts in samples.items():
        if isinstance(ts, str):
            rows.append({"workload": wl, "field": field, "value": value, "error": ts})
            continue
        base = samples.get((wl, field, defaults[field]))
        ms = 1e3 * statistics.median(ts)
        ratio = ms / (1e3 * statistics.median(base)) if base and not isinstance(base, str) else None
        rows.append(
            {
                "workload": wl,
                "field": field,
                "value": value,
                "train_ms": ms,
                "x_default": ratio,
                "default": value == defaults[field],
            }
        )
    for row in rows:  # the fastest value per (workload, field)
        peers = [
            r
            for r in rows
            if r["workload"] == row["workload"] and r["field"] == row["field"] and "train_ms" in r
        ]
        row["fastest"] = "train_ms" in row and row["train_ms"] == min(r["train_ms"] for r in peers)
    return rows


def table(rows: list[dict], backend: str) -> str:
    lines = [f"| workload | field | value | train ms | × {backend} default | |", "|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['workload']} | {r['field']} | {r['value']!r} | error: {r['error']} | | |")
            continue
        mark = " ".join(m for m, on in (("default", r["default"]), ("fastest", r["fastest"])) if on)
        ratio = "-" if r["x_default"] is None else f"{r['x_default']:.2f}"
        lines.append(
            f"| {r['workload']} | {r['field']} | {r['value']!r} | {r['train_ms']:.1f} | {ratio} | {mark} |"
        )
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    C.use_threads(args.threads)
    import bench_snnx
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx

    from snnx.engine import Options, run
    from snnx.engine._options import backend_defaults

    backend = jax.default_backend()
    defaults = backend_defaults()
    steps: dict[tuple, object] = {}
    for wl in args.workloads:
        s = C.spec(wl, args.shrink)
        model = bench_snnx.build(s, nnx.Rngs(0))
        opt = nnx.Optimizer(model, optax.adam(C.LR), wrt=nnx.Param)
        xs, ys = C.inputs(s)
        x, y = jnp.asarray(xs), jnp.asarray(ys)
        graphdef, state = nnx.split((model, opt))
        for field, value in variants(args.fields, defaults):
            options = Options(remat=s["remat"], **{field: value})

            def forward(m, x, options=options):
                return run(m, x, options=options)[0]

            step = C.jit_train_step(graphdef, forward)
            try:
                jax.block_until_ready(step(state, x, y))  # compile, and check the setting applies
            except (ValueError, TypeError) as e:
                steps[(wl, field, value)] = str(e).splitlines()[0][:120]
                continue
            steps[(wl, field, value)] = (step, state, x, y)
    samples: dict[tuple, object] = {k: v if isinstance(v, str) else [] for k, v in steps.items()}
    for _ in range(args.rounds):
        for key, entry in steps.items():
            if isinstance(entry, str):
                continue
            step, state, x, y = entry
            for _ in range(args.steps):
                t0 = time.perf_counter()
                jax.block_until_ready(step(state, x, y))
                samples[key].append(time.perf_counter() - t0)
    rows = summarise(samples, defaults)
    print(
        f"backend {backend} ({jax.devices()[0].device_kind}), {args.rounds} rounds x {args.steps} steps, "
        f"shrink {args.shrink}"
    )
    print(table(rows, backend))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "backend": backend,
                    "defaults": {k: repr(v) for k, v in defaults.items()},
                    "rows": [{**r, "value": repr(r["value"])} for r in rows],
                    "command": " ".join(sys.argv),
                },
                f,
                indent=1,
            )
    return rows


if __name__ == "__main__":
    main()
