"""The machine's fp32 GEMM throughput through XLA: best of several square matmuls.

``python benchmarks/gemm_peak.py [--n 2048] [--repeats 10]`` prints one JSON line
``GEMM_RESULT {"gflops": ..., "n": ...}``. Threads are pinned by the caller's
environment (``XLA_FLAGS``), like every benchmark process.
"""

from __future__ import annotations

import argparse
import json
import time


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args(argv)
    import jax
    import jax.numpy as jnp

    n = args.n
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    mm = jax.jit(lambda a, b: a @ b)
    mm(a, b).block_until_ready()
    best = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        mm(a, b).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    print("GEMM_RESULT " + json.dumps({"gflops": 2 * n**3 / best / 1e9, "n": n, "best_s": best}), flush=True)


if __name__ == "__main__":
    main()
