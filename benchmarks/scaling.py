"""Data-parallel scaling of ``snnx.train.fit(..., mesh=N)``: training samples/s on 1, 2, 4, ... devices.

    python benchmarks/scaling.py                    # 1, 2, 4 devices (simulated on a CPU)
    python benchmarks/scaling.py --devices auto     # 1, 2, 4, ... up to every device JAX sees

The workload is SHD-style: 700 Bernoulli(5%) input channels, ``T=100`` steps,
``Linear(700 -> 256) -> LIF -> Linear(256 -> 20) -> LI`` with a max-membrane
cross-entropy loss, trained with Adam through :func:`snnx.train.fit`. The
global batch is fixed (strong scaling; ``--batch-size``, default 256), so each of
``N`` devices holds ``256 / N`` samples per step. Each device count trains for
``--epochs`` epochs of ``--steps`` steps; the first epoch (compilation) is not
timed, the rest give samples/s (the mean of ``fit``'s per-epoch
``samples_per_s``).

On a machine without accelerators the script asks XLA for as many simulated
CPU devices as the largest count (``--xla_force_host_platform_device_count``,
set before JAX is imported). Simulated devices share the same CPU cores, so the
numbers there show that the sharded program runs, not a speed-up. On a
multi-GPU machine or a TPU slice the same command uses the real devices (the
flag only affects the CPU platform). One JSON line per device count goes to
stdout, then a table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

T, N_IN, HIDDEN, N_OUT, DENSITY = 100, 700, 256, 20, 0.05


def _parse(argv) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", nargs="+", default=["1", "2", "4"], help="device counts, or 'auto'")
    p.add_argument("--batch-size", type=int, default=256, help="global batch (default: 256)")
    p.add_argument("--steps", type=int, default=4, help="steps per epoch (default: 4)")
    p.add_argument("--epochs", type=int, default=3, help="epochs; the first is not timed (default: 3)")
    args = p.parse_args(argv)
    if args.epochs < 2:
        p.error(f"--epochs must be >= 2 (the first one compiles), got {args.epochs}")
    if args.devices != ["auto"]:
        try:
            args.devices = [int(d) for d in args.devices]
        except ValueError:
            p.error(f"--devices must be integers or 'auto', got {' '.join(args.devices)}")
        if min(args.devices) < 1:
            p.error(f"--devices must be >= 1, got {min(args.devices)}")
    return args


def _simulate_cpu_devices(count: int) -> None:
    """Ask XLA for ``count`` host devices (before JAX is imported); no effect on GPUs/TPUs."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()


def _data(n: int):
    import numpy as np

    rng = np.random.default_rng(0)
    x = (rng.random((T, n, N_IN)) < DENSITY).astype(np.uint8)  # cast to float32 on the device
    y = rng.integers(0, N_OUT, n).astype(np.int32)
    return x, y


def measure(devices: int, args, data) -> dict:
    import optax
    from flax import nnx

    from snnx import losses
    from snnx.engine import Sequential
    from snnx.neurons import LI, LIF
    from snnx.train import fit

    rngs = nnx.Rngs(0)
    model = Sequential(
        nnx.Linear(N_IN, HIDDEN, rngs=rngs), LIF(HIDDEN), nnx.Linear(HIDDEN, N_OUT, rngs=rngs), LI(N_OUT)
    )
    t0 = time.perf_counter()
    history = fit(
        model, optax.adam(1e-3), losses.max_membrane_cross_entropy, data,
        epochs=args.epochs, batch_size=args.batch_size, progress=False, mesh=devices,
    )  # fmt: skip
    timed = history[1:]
    return {
        "devices": devices,
        "global_batch": args.batch_size,
        "per_device_batch": args.batch_size // devices,
        "samples_per_s": sum(r["samples_per_s"] for r in timed) / len(timed),
        "first_epoch_s": history[0]["time_s"],
        "wall_s": time.perf_counter() - t0,
    }


def main(argv=None) -> int:
    args = _parse(argv)
    if args.devices != ["auto"]:
        _simulate_cpu_devices(max(args.devices))
    import jax

    available = jax.device_count()
    if args.devices == ["auto"]:
        args.devices = [1 << k for k in range(available.bit_length()) if 1 << k <= available]
    platform = f"{jax.devices()[0].platform}:{jax.devices()[0].device_kind}"
    data = _data(args.batch_size * args.steps)
    rows = []
    for n in args.devices:
        if n > available:
            print(f"skipping {n} devices: JAX sees {available}", file=sys.stderr)
            continue
        if args.batch_size % n:
            print(f"skipping {n} devices: --batch-size {args.batch_size} does not split", file=sys.stderr)
            continue
        row = {
            "workload": f"shd-style T={T} {N_IN}-{HIDDEN}-{N_OUT}",
            "platform": platform,
            **measure(n, args, data),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    if rows:
        base = rows[0]["samples_per_s"] / rows[0]["devices"]
        print(
            f"\n{'devices':>7} {'per-device batch':>16} {'samples/s':>10} {'speed-up':>8} {'efficiency':>10}"
        )
        for r in rows:
            speedup = r["samples_per_s"] / rows[0]["samples_per_s"]
            eff = r["samples_per_s"] / (base * r["devices"])
            print(
                f"{r['devices']:>7} {r['per_device_batch']:>16} {r['samples_per_s']:>10.1f} "
                f"{speedup:>8.2f} {eff:>10.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
