"""snnx against another revision of itself, interleaved on the same machine.

``python benchmarks/compare_revisions.py --before /tmp/before/src [--rounds 3]``

``--before`` is the ``src`` folder of another checkout (e.g. ``git worktree add
/tmp/before <rev>``). Each round runs ``benchmarks/run.py --frameworks snnx`` once
with that source first on ``PYTHONPATH`` and once with this checkout's, in
alternating order, so that drift of a shared machine hits both alike. It prints
the median over all timed steps of each revision's training and forward times
and their ratio (after / before) per workload, and writes every raw result to
``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _one(src: str | None, workloads: str, threads: int, out: Path) -> dict:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, str(HERE / "run.py"), "--frameworks", "snnx", "--workloads", workloads,
           "--rounds", "1", "--threads", str(threads), "--no-gemm", "--out", str(out)]
    subprocess.run(cmd, check=True, env=env, cwd=HERE.parent, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def _times(result: dict) -> dict[tuple[str, str], list[float]]:
    """Every timed step of every snnx run, in ms, per (workload, "train"|"forward")."""
    out: dict[tuple[str, str], list[float]] = {}
    for row in result["runs"]:
        if row.get("framework") != "snnx" or "error" in row or "unsupported" in row:
            continue
        out.setdefault((row["workload"], "train"), []).extend(1e3 * t for t in row["train_s"])
        out.setdefault((row["workload"], "forward"), []).extend(1e3 * t for t in row["fwd_s"])
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True, help="src folder of the revision to compare against")
    p.add_argument("--workloads", default="ff100,ff250,rec100,conv30")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="JSON file for the raw results")
    args = p.parse_args(argv)
    if not (Path(args.before) / "snnx" / "__init__.py").exists():
        p.error(f"--before must be a src folder holding snnx/, got {args.before!r}")
    samples: dict[str, dict] = {"before": {}, "after": {}}
    raw = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = ("before", "after") if r % 2 == 0 else ("after", "before")
            for rev in order:
                src = args.before if rev == "before" else str(HERE.parent / "src")
                result = _one(src, args.workloads, args.threads, Path(tmp) / f"{rev}-{r}.json")
                raw.append({"revision": rev, "round": r, "result": result})
                for key, ms in _times(result).items():
                    samples[rev].setdefault(key, []).extend(ms)
    print(f"{'workload':<10} {'measure':<11} {'before ms':>10} {'after ms':>10} {'after/before':>13}")
    summary = []
    for key in sorted(samples["after"]):
        if key not in samples["before"]:
            continue
        b, a = statistics.median(samples["before"][key]), statistics.median(samples["after"][key])
        summary.append({"workload": key[0], "measure": key[1], "before_ms": b, "after_ms": a, "ratio": a / b,
                        "before_all": samples["before"][key], "after_all": samples["after"][key]})
        print(f"{key[0]:<10} {key[1]:<11} {b:>10.1f} {a:>10.1f} {a / b:>13.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps({"summary": summary, "raw": raw}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
