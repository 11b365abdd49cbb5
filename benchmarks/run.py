"""Side-by-side benchmark driver: snnx against Spyx, snnTorch and Norse.

``python benchmarks/run.py`` (or ``snnx bench``) runs every (framework,
workload) pair in its own process, interleaved over several rounds, with the
thread counts pinned through the environment; measures the machine's GEMM peak
in the same run; prints a table with ratios to snnx and the issue's targets;
and writes everything (raw samples included) as JSON to ``benchmarks/results/``.

Peers run in ``benchmarks/.venv-peers`` when it exists (see README.md);
a peer that does not import there is skipped, with the reason recorded.
Standard library only: the driver itself imports no framework.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common as C  # noqa: E402

# name -> (script, variant, module that must import, environment kind)
FRAMEWORKS = {
    "snnx": ("bench_snnx.py", "", "snnx", "snnx"),
    "snnx-step": ("bench_snnx.py", "step", "snnx", "snnx"),
    "spyx": ("bench_spyx.py", "", "spyx", "peers"),
    "snntorch": ("bench_snntorch.py", "", "snntorch", "peers"),
    "norse": ("bench_norse.py", "", "norse", "peers"),
}
DEFAULT_FRAMEWORKS = ("snnx", "snnx-step", "spyx", "snntorch", "norse")


def pinned_env(threads: int) -> dict[str, str]:
    """The environment of every benchmark process: one thread count for every library."""
    n = str(threads)
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
        env[var] = n
    env["XLA_FLAGS"] = C.xla_thread_flags(threads)
    env["JAX_PLATFORMS"] = "cpu"
    env["CUDA_VISIBLE_DEVICES"] = ""
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["PYTHONWARNINGS"] = "ignore"
    return env


def cpu_set(threads: int) -> set[int] | None:
    """The CPUs every benchmark process is confined to: the first ``threads`` this process may use.

    Thread-count variables alone do not bound XLA: its CPU matmuls run on a
    thread pool that ignores ``intra_op_parallelism_threads`` (``gemm_peak.py``
    gave the same GFLOP/s with one "thread" as with two, and half once the
    process was confined to one CPU; benchmarks/README.md). ``None`` when
    affinity is not available or every allowed CPU is used anyway.
    """
    if not hasattr(os, "sched_getaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if threads >= len(allowed):
        return None
    return set(allowed[:threads])


def machine() -> dict:
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_start": os.getloadavg(),
    }
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
            "unknown",
        )
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        info["memory_gib"] = round(int(mem) / 2**20, 1)
    except OSError:
        pass
    return info


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


def importable(python: str, module: str, env: dict) -> str | None:
    """None when ``module`` imports under ``python``, else the reason."""
    try:
        r = subprocess.run(
            [python, "-c", f"import {module}"], capture_output=True, text=True, env=env, timeout=300
        )
    except (OSError, subprocess.SubprocessError) as e:
        return f"{python}: {e}"
    if r.returncode != 0:
        return (r.stderr.strip().splitlines() or ["import failed"])[-1]
    return None


def _run_one(cmd: list[str], env: dict, tag: str, timeout: float, cpus: set[int] | None = None) -> dict:
    t0 = time.perf_counter()
    confine = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    try:
        r = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=HERE, preexec_fn=confine
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in r.stdout.splitlines():
        if line.startswith(tag + " "):
            out = json.loads(line[len(tag) + 1 :])
            out["process_s"] = time.perf_counter() - t0
            return out
    tail = (r.stderr or r.stdout).strip().splitlines()[-5:]
    return {"error": f"exit {r.returncode}: " + " | ".join(tail)}


def _quartiles(xs: list[float]) -> tuple[float, float, float]:
    if len(xs) == 1:
        return xs[0], xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], statistics.median(xs), q[2]


def aggregate(runs: list[dict], gemm_gflops: float) -> dict:
    """Pool every round's samples per (framework, workload)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in runs:
        if "framework" in r and "error" not in r:
            groups.setdefault((r["framework"], r["workload"]), []).append(r)
    out = {}
    for (fw, wl), rs in groups.items():
        if any("unsupported" in r for r in rs):
            out[f"{fw}/{wl}"] = {"framework": fw, "workload": wl, "unsupported": rs[0]["unsupported"]}
            continue
        train = [t for r in rs for t in r["train_s"]]
        fwd = [t for r in rs for t in r["fwd_s"]]
        tq, fq = _quartiles(train), _quartiles(fwd)
        out[f"{fw}/{wl}"] = {
            "framework": fw,
            "workload": wl,
            "rounds": len(rs),
            "samples": len(train),
            "train_ms": [1e3 * v for v in tq],
            "fwd_ms": [1e3 * v for v in fq],
            "first_train_s": statistics.median(r["first_train_s"] for r in rs),
            "first_fwd_s": statistics.median(r["first_fwd_s"] for r in rs),
            "peak_rss_mib": statistics.median(r["peak_rss_above_baseline"] for r in rs) / 2**20,
            "train_util": rs[0]["train_flops"] / tq[1] / (gemm_gflops * 1e9) if gemm_gflops else None,
            "fwd_util": rs[0]["fwd_flops"] / fq[1] / (gemm_gflops * 1e9) if gemm_gflops else None,
            "loss_ok": all(r["loss_ok"] for r in rs),
            "loss_first": rs[0]["loss_first"],
            "loss_last": rs[0]["loss_last"],
        }
    return out


def targets(agg: dict) -> list[dict]:
    """The issue's targets, evaluated on this run's medians."""

    def get(fw, wl, key, i=1):
        a = agg.get(f"{fw}/{wl}")
        if not a or "unsupported" in a:
            return None
        v = a[key]
        return v[i] if isinstance(v, list) else v

    def ratio(num, den):
        return None if num is None or den is None else num / den

    rows = []

    def add(name, value, limit, better="<="):
        ok = None if value is None else (value <= limit if better == "<=" else value >= limit)
        rows.append({"target": name, "value": value, "limit": limit, "op": better, "met": ok})

    add(
        "ff100 train snnx/spyx",
        ratio(get("snnx", "ff100", "train_ms"), get("spyx", "ff100", "train_ms")),
        0.5,
    )
    add("ff100 forward snnx/spyx", ratio(get("snnx", "ff100", "fwd_ms"), get("spyx", "ff100", "fwd_ms")), 0.5)
    add(
        "ff250 train snnx/spyx",
        ratio(get("snnx", "ff250", "train_ms"), get("spyx", "ff250", "train_ms")),
        0.55,
    )
    add(
        "rec100 train snnx/spyx",
        ratio(get("snnx", "rec100", "train_ms"), get("spyx", "rec100", "train_ms")),
        0.65,
    )
    for peer in ("snntorch", "norse"):
        for wl in ("ff100", "ff250", "rec100"):
            add(
                f"{wl} train {peer}/snnx",
                ratio(get(peer, wl, "train_ms"), get("snnx", wl, "train_ms")),
                3.5,
                ">=",
            )
    add(
        "conv30 train snnx/spyx",
        ratio(get("snnx", "conv30", "train_ms"), get("spyx", "conv30", "train_ms")),
        0.7,
    )
    add("long1000_remat peak RSS MiB", get("snnx", "long1000_remat", "peak_rss_mib"), 1024.0)
    add(
        "first ff100 train call snnx/spyx",
        ratio(get("snnx", "ff100", "first_train_s"), get("spyx", "ff100", "first_train_s")),
        1.5,
    )
    rows.append(
        {
            "target": "remat time cost long1000 (remat/plain, report only)",
            "value": ratio(get("snnx", "long1000_remat", "train_ms"), get("snnx", "long1000", "train_ms")),
            "limit": None,
            "op": "",
            "met": None,
        }
    )
    return rows


def _fmt(v, spec="{:.1f}"):
    return "-" if v is None else spec.format(v)


def table(agg: dict, workloads, frameworks) -> str:
    head = (
        "| workload | framework | train ms (q1-q3) | ×snnx | forward ms (q1-q3) | ×snnx | "
        "first call s | peak RSS MiB | util train | loss falls |"
    )
    lines = [head, "|" + "---|" * 10]
    for wl in workloads:
        base = agg.get(f"snnx/{wl}")
        for fw in frameworks:
            a = agg.get(f"{fw}/{wl}")
            if a is None:
                continue
            if "unsupported" in a:
                lines.append(f"| {wl} | {fw} | unsupported: {a['unsupported']} |  |  |  |  |  |  |  |")
                continue
            tr, fw_ = a["train_ms"], a["fwd_ms"]
            rt = rf = None
            if base and "unsupported" not in base:
                rt, rf = tr[1] / base["train_ms"][1], fw_[1] / base["fwd_ms"][1]
            lines.append(
                f"| {wl} | {fw} | {tr[1]:.1f} ({tr[0]:.1f}-{tr[2]:.1f}) | {_fmt(rt, '{:.2f}')} | "
                f"{fw_[1]:.1f} ({fw_[0]:.1f}-{fw_[2]:.1f}) | {_fmt(rf, '{:.2f}')} | "
                f"{a['first_train_s']:.2f} | {a['peak_rss_mib']:.0f} | "
                f"{_fmt(a['train_util'] and 100 * a['train_util'], '{:.0f} %')} | "
                f"{'yes' if a['loss_ok'] else 'NO'} |"
            )
    return "\n".join(lines)


def target_table(rows: list[dict]) -> str:
    lines = ["| target | measured | limit | met |", "|---|---|---|---|"]
    for r in rows:
        met = "-" if r["met"] is None else ("yes" if r["met"] else "no")
        limit = "" if r["limit"] is None else f"{r['op']} {r['limit']}"
        lines.append(f"| {r['target']} | {_fmt(r['value'], '{:.2f}')} | {limit} | {met} |")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke test: 1 round, 3 iterations, tiny workload")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5; --quick: 1)")
    p.add_argument("--iters", type=int, default=None, help="timed steps per process (default 5; --quick: 3)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps after the first call (default 2)")
    p.add_argument("--workloads", default=None, help=f"comma list from {sorted(C.WORKLOADS)}")
    p.add_argument("--frameworks", default=None, help=f"comma list from {list(FRAMEWORKS)}")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for every library")
    p.add_argument("--max-seconds", type=float, default=30.0, help="timing budget per process")
    p.add_argument("--timeout", type=float, default=900.0, help="kill a process after this long")
    p.add_argument("--snnx-python", default=None, help="interpreter for snnx (default: this one or .venv)")
    p.add_argument(
        "--peers-python", default=None, help="interpreter for peers (default benchmarks/.venv-peers)"
    )
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/bench-<time>.json)")
    p.add_argument("--no-gemm", action="store_true", help="skip the GEMM peak measurement")
    args = p.parse_args(argv)
    for name in ("rounds", "iters", "threads"):
        v = getattr(args, name)
        if v is not None and v < 1:
            p.error(f"--{name} must be >= 1, got {v}")
    args.rounds = args.rounds or (1 if args.quick else 5)
    args.iters = args.iters or (3 if args.quick else 5)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    args.workloads = (
        args.workloads.split(",")
        if args.workloads
        else (["tiny"] if args.quick else list(C.DEFAULT_WORKLOADS))
    )
    args.frameworks = (
        args.frameworks.split(",")
        if args.frameworks
        else (["snnx"] if args.quick else list(DEFAULT_FRAMEWORKS))
    )
    for wl in args.workloads:
        if wl not in C.WORKLOADS:
            p.error(f"unknown workload {wl!r}; choose from {sorted(C.WORKLOADS)}")
    for fw in args.frameworks:
        if fw not in FRAMEWORKS:
            p.error(f"unknown framework {fw!r}; choose from {list(FRAMEWORKS)}")
    args.snnx_python = args.snnx_python or _default_snnx_python()
    args.peers_python = args.peers_python or _default_peers_python()
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    env = pinned_env(args.threads)
    cpus = cpu_set(args.threads)
    info = machine()
    skipped, frameworks = {}, []
    for fw in args.frameworks:
        _, _, module, kind = FRAMEWORKS[fw]
        why = importable(_python_for(kind, args), module, env)
        if why:
            skipped[fw] = why
            print(f"skipping {fw}: {why}", flush=True)
        else:
            frameworks.append(fw)
    gemm, runs = [], []
    started = time.time()
    for rnd in range(args.rounds):
        if not args.no_gemm:
            n = 512 if args.quick else 2048
            cmd = [args.snnx_python, str(HERE / "gemm_peak.py"), "--n", str(n)]
            g = _run_one(cmd, env, "GEMM_RESULT", args.timeout, cpus)
            if "gflops" in g:
                gemm.append(g["gflops"])
        order = (
            frameworks[rnd % len(frameworks) :] + frameworks[: rnd % len(frameworks)] if frameworks else []
        )
        for wl in args.workloads:
            for fw in order:
                script, variant, _, kind = FRAMEWORKS[fw]
                cmd = [_python_for(kind, args), str(HERE / script), "--workload", wl]
                cmd += [
                    "--iters",
                    str(args.iters),
                    "--warmup",
                    str(args.warmup),
                    "--threads",
                    str(args.threads),
                ]
                cmd += ["--max-seconds", str(args.max_seconds)]
                if variant:
                    cmd += ["--variant", variant]
                r = _run_one(cmd, env, "BENCH_RESULT", args.timeout, cpus)
                r.setdefault("framework", fw)
                r.setdefault("workload", wl)
                r["round"] = rnd
                runs.append(r)
                status = r.get("error") or (
                    "unsupported"
                    if "unsupported" in r
                    else f"train {1e3 * statistics.median(r['train_s']):.1f} ms"
                )
                print(f"[round {rnd + 1}/{args.rounds}] {wl:>15} {fw:>10}: {status}", flush=True)
    gemm_gflops = statistics.median(gemm) if gemm else None
    agg = aggregate(runs, gemm_gflops or 0.0)
    rows = targets(agg)
    info["load_average_end"] = os.getloadavg()
    report = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "wall_s": time.time() - started,
        "machine": info,
        "threads": args.threads,
        "cpus_used": sorted(cpus) if cpus else "all",
        "env": {
            k: env[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "XLA_FLAGS")
        },
        "rounds": args.rounds,
        "iters": args.iters,
        "warmup": args.warmup,
        "gemm_gflops": gemm,
        "gemm_gflops_median": gemm_gflops,
        "skipped": skipped,
        "aggregate": agg,
        "targets": rows,
        "runs": runs,
    }
    out = Path(args.out) if args.out else HERE / "results" / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print()
    print(
        f"machine: {info.get('cpu', '?')}, {info['cpus']} CPUs, {info.get('memory_gib', '?')} GiB; "
        f"threads pinned to {args.threads} (CPUs: {report['cpus_used']}); "
        f"load average {info['load_average_start'][0]:.1f} -> "
        f"{info['load_average_end'][0]:.1f}"
    )
    print(
        f"GEMM peak (fp32, XLA): {_fmt(gemm_gflops)} GFLOP/s; rounds {args.rounds} x {args.iters} iterations"
    )
    print(table(agg, args.workloads, [fw for fw in args.frameworks if fw in frameworks]))
    if len(frameworks) > 1:
        print()
        print(target_table(rows))
    errors = [r for r in runs if "error" in r]
    for r in errors:
        print(f"error: {r['framework']}/{r['workload']} round {r['round']}: {r['error']}")
    print(f"\nwrote {out}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
