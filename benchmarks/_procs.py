"""The processes of ``run.py``: their environment, CPUs and interpreters, and running one of them.

Standard library only, like ``run.py``; ``run.py`` re-exports ``pinned_env``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path

import _common as C

HERE = Path(__file__).resolve().parent


def pinned_env(threads: int, device: str = "cpu") -> dict[str, str]:
    """The environment of every benchmark process: one thread count for every library.

    ``device="cpu"`` also hides every GPU from JAX and torch (``JAX_PLATFORMS=cpu``,
    ``CUDA_VISIBLE_DEVICES=""``); ``"gpu"`` sets ``JAX_PLATFORMS=cuda`` and leaves
    ``XLA_FLAGS`` and the visible devices as they are.
    """
    n = str(threads)
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
        env[var] = n
    if device == "gpu":
        env["JAX_PLATFORMS"] = "cuda"
    else:
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


def importable(python: str, module: str, env: dict, code: str | None = None) -> str | None:
    """None when ``module`` imports under ``python`` (and ``code``, if given, exits 0), else the reason."""
    try:
        r = subprocess.run(
            [python, "-c", code or f"import {module}"], capture_output=True, text=True, env=env, timeout=300
        )
    except (OSError, subprocess.SubprocessError) as e:
        return f"{python}: {e}"
    if r.returncode != 0:
        return (r.stderr.strip().splitlines() or ["import failed"])[-1]
    return None


def _run_tagged(
    cmd: list[str], env: dict, tag: str, timeout: float, cpus: set[int] | None = None
) -> list[dict]:
    """Run ``cmd``; every stdout line ``TAG {json}`` as a dict, or ``[{"error": ...}]`` when there is none."""
    t0 = time.perf_counter()
    confine = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    try:
        r = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=HERE, preexec_fn=confine
        )
    except subprocess.TimeoutExpired:
        return [{"error": f"timed out after {timeout:.0f} s"}]
    found = [json.loads(line[len(tag) + 1 :]) for line in r.stdout.splitlines() if line.startswith(tag + " ")]
    for out in found:
        out["process_s"] = time.perf_counter() - t0
    if found:
        return found
    tail = (r.stderr or r.stdout).strip().splitlines()[-5:]
    return [{"error": f"exit {r.returncode}: " + " | ".join(tail)}]


def _run_one(cmd: list[str], env: dict, tag: str, timeout: float, cpus: set[int] | None = None) -> dict:
    return _run_tagged(cmd, env, tag, timeout, cpus)[0]
