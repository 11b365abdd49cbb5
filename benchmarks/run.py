"""Side-by-side benchmark driver: snnx against Spyx, snnTorch and Norse.

``python benchmarks/run.py`` (or ``snnx bench``) runs every (framework,
workload, dtype) in its own process, interleaved over several rounds, with the
thread counts pinned through the environment; measures the machine's GEMM peak
and each workload's matmul floor (``matmul_floor.py``) in the same run; prints
a table with ratios to snnx and to the floor, and the issue's targets; and
writes everything (raw samples included) as JSON to ``benchmarks/results/``.

``--device gpu`` runs the JAX processes on CUDA and the torch peers on
``"cuda"`` (``benchmarks/gpu.sh`` is the prepared script for a GPU machine);
``--dtype fp32,bf16`` adds bf16 compute; ``--shrink K`` divides every
workload's T, B, hidden size and channels by K, to exercise a suite quickly.

Peers run in ``benchmarks/.venv-peers`` when it exists (see README.md);
a peer that does not import there (or, on the GPU, sees no CUDA device) is
skipped, with the reason recorded. Standard library only: the driver itself
imports no framework.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common as C  # noqa: E402
from _procs import _run_one, _run_tagged, cpu_set, importable, machine, pinned_env  # noqa: E402
from _report import _fmt, aggregate, entry_key, floor_key, table, target_table, targets  # noqa: E402


class Framework(NamedTuple):
    script: str
    variant: str  # passed as --variant (e.g. snnx's engine)
    module: str  # must import in its interpreter
    env: str  # "snnx": --snnx-python; "peers": --peers-python
    lib: str  # "jax" or "torch": what must see the GPU under --device gpu
    no_remat: str = ""  # why it has no rematerialisation (its bench script says the same); "": it has


FRAMEWORKS = {
    "snnx": Framework("bench_snnx.py", "", "snnx", "snnx", "jax"),
    "snnx-step": Framework("bench_snnx.py", "step", "snnx", "snnx", "jax"),
    "spyx": Framework(
        "bench_spyx.py", "", "spyx", "peers", "jax", "spyx.nn.run has no rematerialisation option"
    ),
    "snntorch": Framework(
        "bench_snntorch.py", "", "snntorch", "peers", "torch", "no rematerialisation in snnTorch's time loop"
    ),
    "norse": Framework(
        "bench_norse.py", "", "norse", "peers", "torch", "no rematerialisation in Norse's time loop"
    ),
}
DEFAULT_FRAMEWORKS = ("snnx", "snnx-step", "spyx", "snntorch", "norse")
GEMM_N = {"cpu": 2048, "gpu": 8192, "quick": 512}  # square GEMM side for the peak


def _python_for(kind: str, args) -> str:
    if kind == "snnx":
        return args.snnx_python
    return args.peers_python


def _default_snnx_python() -> str:
    """This interpreter when snnx is installed for it, else the checkout's .venv.

    Only looks the package up (no JAX start-up); ``importable`` then imports it in the pinned environment.
    """
    if importlib.util.find_spec("snnx") is not None:
        return sys.executable
    venv = HERE.parent / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _default_peers_python() -> str:
    venv = HERE / ".venv-peers" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def probe(fw: str, device: str) -> str:
    """Python code that exits non-zero, its reason last on stderr, when ``fw`` cannot run on ``device``."""
    f = FRAMEWORKS[fw]
    code = f"import {f.module}\n"
    if device == "gpu" and f.lib == "torch":
        code += (
            "import sys, torch\n"
            "if not torch.cuda.is_available():\n"
            "    sys.exit('torch sees no CUDA device' if torch.version.cuda else 'no CUDA build of torch')\n"
        )
    elif device == "gpu":
        code += (
            "import sys, jax\n"
            "try:\n"
            "    b = jax.default_backend()\n"
            "except Exception as e:\n"
            "    sys.exit(f'jax cannot start its cuda backend ({type(e).__name__}: {e})')\n"
            "if b != 'gpu':\n"
            "    sys.exit(f'jax backend is {b!r}, not gpu: no CUDA jax in this interpreter')\n"
        )
    return code


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be an int >= 1, got {text!r}")
    return v


def _dtypes(text: str) -> list[str]:
    names = [d.strip() for d in text.split(",") if d.strip()]
    bad = [d for d in names if d not in C.DTYPES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"a comma list from {','.join(C.DTYPES)}, got {text!r}")
    return list(dict.fromkeys(names))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke test: 1 round, 3 iterations, tiny workload")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5; --quick: 1)")
    p.add_argument("--iters", type=int, default=None, help="timed steps per process (default 5; --quick: 3)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps after the first call (default 2)")
    p.add_argument(
        "--workloads",
        default=None,
        help=f"comma list from {sorted(C.WORKLOADS)} (default: {','.join(C.DEFAULT_WORKLOADS)}; "
        f"--device gpu adds {','.join(w for w in C.GPU_WORKLOADS if w not in C.DEFAULT_WORKLOADS)})",
    )
    p.add_argument("--frameworks", default=None, help=f"comma list from {list(FRAMEWORKS)}")
    p.add_argument("--device", default="cpu", choices=("cpu", "gpu"), help="where every framework computes")
    p.add_argument("--dtype", type=_dtypes, default=["fp32"], help="comma list of compute dtypes: fp32,bf16")
    p.add_argument(
        "--shrink",
        type=_positive_int,
        default=1,
        metavar="K",
        help="divide T, B, hidden and channels of every workload by K (default 1)",
    )
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for every library")
    p.add_argument("--max-seconds", type=float, default=30.0, help="timing budget per process")
    p.add_argument("--timeout", type=float, default=900.0, help="kill a process after this long")
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        help="start no benchmark process once run.py has run this many seconds (the rest: not_run)",
    )
    p.add_argument("--snnx-python", default=None, help="interpreter for snnx (default: this one or .venv)")
    p.add_argument(
        "--peers-python", default=None, help="interpreter for peers (default benchmarks/.venv-peers)"
    )
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/bench-<time>.json)")
    p.add_argument("--no-gemm", action="store_true", help="skip the GEMM peak and matmul floor measurements")
    p.add_argument("--no-floor", action="store_true", help="skip the matmul floor measurements")
    args = p.parse_args(argv)
    for name in ("rounds", "iters", "threads"):
        v = getattr(args, name)
        if v is not None and v < 1:
            p.error(f"--{name} must be >= 1, got {v}")
    if args.warmup is not None and args.warmup < 0:
        p.error(f"--warmup must be >= 0, got {args.warmup}")
    for name in ("max_seconds", "timeout"):
        v = getattr(args, name)
        if not v > 0:
            p.error(f"--{name.replace('_', '-')} must be > 0 seconds, got {v}")
    if args.budget is not None and not args.budget >= 0:
        p.error(f"--budget must be >= 0 seconds (0: start no benchmark process), got {args.budget}")
    args.rounds = args.rounds or (1 if args.quick else 5)
    args.iters = args.iters or (3 if args.quick else 5)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    default_wl = C.GPU_WORKLOADS if args.device == "gpu" else C.DEFAULT_WORKLOADS
    args.workloads = (
        args.workloads.split(",") if args.workloads else (["tiny"] if args.quick else list(default_wl))
    )
    args.frameworks = (
        args.frameworks.split(",")
        if args.frameworks
        else (["snnx"] if args.quick else list(DEFAULT_FRAMEWORKS))
    )
    for flag, names in (("--workloads", args.workloads), ("--frameworks", args.frameworks)):
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            p.error(f"{flag} names {', '.join(twice)} more than once")
    for wl in args.workloads:
        if wl not in C.WORKLOADS:
            p.error(f"unknown workload {wl!r}; choose from {sorted(C.WORKLOADS)}")
    for fw in args.frameworks:
        if fw not in FRAMEWORKS:
            p.error(f"unknown framework {fw!r}; choose from {list(FRAMEWORKS)}")
    args.snnx_python = args.snnx_python or _default_snnx_python()
    args.peers_python = args.peers_python or _default_peers_python()
    return args


def _references(args, env, cpus, specs) -> tuple[dict, dict]:
    """One round's GEMM peaks (GFLOP/s per dtype) and matmul floors (ms per ``wl`` / ``wl/dtype``)."""
    gemm, floors = {}, {}
    if args.no_gemm:
        return gemm, floors
    # bf16 gets its own peak on the GPU; on the CPU its rows are divided by the fp32 peak
    peak_dtypes = ["fp32"] + (["bf16"] if args.device == "gpu" and "bf16" in args.dtype else [])
    n = GEMM_N["quick" if args.quick else args.device]
    cmd = [args.snnx_python, str(HERE / "gemm_peak.py"), "--n", str(n), "--dtype", ",".join(peak_dtypes)]
    for g in _run_tagged(cmd, env, "GEMM_RESULT", args.timeout, cpus):
        if "gflops" in g:
            gemm[g.get("dtype", "fp32")] = g["gflops"]
        else:
            print(f"GEMM peak: {g.get('error')}", flush=True)
    if args.no_floor:
        return gemm, floors
    groups = {}  # one floor per distinct shape (long1000_remat shares long1000's)
    for wl in args.workloads:
        key = floor_key(specs[wl])
        if key is not None:
            groups.setdefault(key, []).append(wl)
    if not groups:
        return gemm, floors
    cmd = [args.snnx_python, str(HERE / "matmul_floor.py"), "--json", "--device", args.device]
    cmd += ["--workload", ",".join(wls[0] for wls in groups.values()), "--dtype", ",".join(args.dtype)]
    cmd += [
        "--shrink",
        str(args.shrink),
        "--threads",
        str(args.threads),
        "--repeats",
        "3" if args.quick else "10",
    ]
    for f in _run_tagged(cmd, env, "FLOOR_RESULT", args.timeout, cpus):
        if "floor_ms" not in f:
            print(f"matmul floor: {f.get('error')}", flush=True)
            continue
        for wl in groups[floor_key(specs[f["workload"]])]:
            floors[entry_key("", wl, f["dtype"])[1:]] = f["floor_ms"]
    return gemm, floors


def main(argv=None) -> int:
    t0 = time.time()  # --budget counts from here
    args = parse_args(argv)
    env = pinned_env(args.threads, args.device)
    cpus = cpu_set(args.threads) if args.device == "cpu" else None
    specs = {wl: C.spec(wl, args.shrink) for wl in args.workloads}
    info = machine()
    skipped, frameworks = {}, []
    for fw in args.frameworks:
        f = FRAMEWORKS[fw]
        why = importable(_python_for(f.env, args), f.module, env, probe(fw, args.device))
        if why:
            skipped[fw] = why
            print(f"skipping {fw}: {why}", flush=True)
        else:
            frameworks.append(fw)
    gemm, floor_samples, runs, not_run = {}, {}, [], []
    started = time.time()
    for rnd in range(args.rounds):
        in_budget = args.budget is None or time.time() - t0 <= args.budget
        g, fl = _references(args, env, cpus, specs) if in_budget else ({}, {})
        for k, v in g.items():
            gemm.setdefault(k, []).append(v)
        for k, v in fl.items():
            floor_samples.setdefault(k, []).append(v)
        order = (
            frameworks[rnd % len(frameworks) :] + frameworks[: rnd % len(frameworks)] if frameworks else []
        )
        # every workload in the first dtype before the next: what --budget cuts is bf16 first
        for dt in args.dtype:
            for wl in args.workloads:
                for fw in order:
                    tag = f"[round {rnd + 1}/{args.rounds}] {wl:>15} {fw:>10} {dt}"
                    if specs[wl]["remat"] and FRAMEWORKS[fw].no_remat:
                        r = {"unsupported": FRAMEWORKS[fw].no_remat}  # known without starting it
                    elif args.budget is not None and time.time() - t0 > args.budget:
                        not_run.append({"framework": fw, "workload": wl, "dtype": dt, "round": rnd})
                        print(f"{tag}: not run (--budget {args.budget:.0f} s used up)", flush=True)
                        continue
                    else:
                        r = _run_one(_bench_cmd(args, fw, wl, dt), env, "BENCH_RESULT", args.timeout, cpus)
                    r.setdefault("framework", fw)
                    r.setdefault("workload", wl)
                    r.setdefault("dtype", dt)
                    r["round"] = rnd
                    runs.append(r)
                    status = r.get("error") or (
                        "unsupported"
                        if "unsupported" in r
                        else f"train {1e3 * statistics.median(r['train_s']):.1f} ms"
                    )
                    print(f"{tag}: {status}", flush=True)
    gemm_med = {k: statistics.median(v) for k, v in gemm.items()}
    floors = {k: statistics.median(v) for k, v in floor_samples.items()}
    agg = aggregate(runs, gemm_med, floors)
    rows = targets(agg, floors)
    info["load_average_end"] = os.getloadavg()
    report = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "wall_s": time.time() - started,
        "machine": info,
        "device": args.device,
        "dtypes": args.dtype,
        "shrink": args.shrink,
        "specs": {wl: {k: v for k, v in s.items() if k != "name"} for wl, s in specs.items()},
        "threads": args.threads,
        "cpus_used": sorted(cpus) if cpus else "all",
        "env": {
            k: env.get(k)
            for k in (
                "OMP_NUM_THREADS",
                "MKL_NUM_THREADS",
                "OPENBLAS_NUM_THREADS",
                "XLA_FLAGS",
                "JAX_PLATFORMS",
            )
        },
        "rounds": args.rounds,
        "iters": args.iters,
        "warmup": args.warmup,
        "gemm_gflops": gemm.get("fp32", []),
        "gemm_gflops_median": gemm_med.get("fp32"),
        "gemm_gflops_by_dtype": {k: {"samples": v, "median": gemm_med[k]} for k, v in gemm.items()},
        "floor_ms": {k: {"samples": v, "median": floors[k]} for k, v in floor_samples.items()},
        "skipped": skipped,
        "not_run": not_run,
        "aggregate": agg,
        "targets": rows,
        "runs": runs,
    }
    out = Path(args.out) if args.out else HERE / "results" / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print()
    where = (
        f"device gpu ({_device_name(runs)})"
        if args.device == "gpu"
        else f"threads pinned to {args.threads} (CPUs: {report['cpus_used']})"
    )
    print(
        f"machine: {info.get('cpu', '?')}, {info['cpus']} CPUs, {info.get('memory_gib', '?')} GiB; {where}; "
        f"load average {info['load_average_start'][0]:.1f} -> {info['load_average_end'][0]:.1f}"
        + (f"; workloads shrunk by {args.shrink}" if args.shrink > 1 else "")
    )
    peaks = ", ".join(f"{k} {_fmt(v)}" for k, v in gemm_med.items()) or "-"
    print(f"GEMM peak (XLA): {peaks} GFLOP/s; rounds {args.rounds} x {args.iters} iterations")
    if floors:
        print("matmul floor ms: " + ", ".join(f"{k} {v:.2f}" for k, v in floors.items()))
    print(table(agg, args.workloads, [fw for fw in args.frameworks if fw in frameworks], args.dtype))
    if len(frameworks) > 1:
        print()
        print(target_table(rows))
    errors = [r for r in runs if "error" in r]
    for r in errors:
        print(f"error: {r['framework']}/{r['workload']}/{r['dtype']} round {r['round']}: {r['error']}")
    if not_run:
        print(f"not run (--budget): {len(not_run)} of {len(not_run) + len(runs)} processes")
    print(f"\nwrote {out}")
    return 1 if errors else 0


def _bench_cmd(args, fw: str, wl: str, dtype: str) -> list[str]:
    f = FRAMEWORKS[fw]
    cmd = [_python_for(f.env, args), str(HERE / f.script), "--workload", wl, "--dtype", dtype]
    cmd += ["--iters", str(args.iters), "--warmup", str(args.warmup), "--threads", str(args.threads)]
    cmd += ["--max-seconds", str(args.max_seconds), "--device", args.device, "--shrink", str(args.shrink)]
    if f.variant:
        cmd += ["--variant", f.variant]
    return cmd


def _device_name(runs: list[dict]) -> str:
    return next((r["device"] for r in runs if r.get("device") not in (None, "cpu")), "?")


if __name__ == "__main__":
    sys.exit(main())
