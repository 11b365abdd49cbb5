"""The machine's GEMM throughput through XLA: best of several square matmuls, per dtype.

``python benchmarks/gemm_peak.py [--n 2048] [--repeats 10] [--dtype fp32,bf16]`` prints one
JSON line ``GEMM_RESULT {"gflops": ..., "n": ..., "dtype": ...}`` per dtype (default fp32).
Threads (and, for the GPU, ``JAX_PLATFORMS``) come from the caller's environment, like every
benchmark process.
"""

from __future__ import annotations

import argparse
import json
import time

DTYPES = {"fp32": "float32", "bf16": "bfloat16"}


def _dtypes(text: str) -> list[str]:
    names = [d.strip() for d in text.split(",") if d.strip()]
    if not names or any(d not in DTYPES for d in names):
        raise argparse.ArgumentTypeError(f"a comma list from {','.join(DTYPES)}, got {text!r}")
    return names


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--dtype", type=_dtypes, default=["fp32"], help="comma list from fp32,bf16")
    args = p.parse_args(argv)
    import jax
    import jax.numpy as jnp

    n = args.n
    for name in args.dtype:
        dtype = jnp.dtype(DTYPES[name])
        a = jax.random.normal(jax.random.key(0), (n, n), dtype)
        b = jax.random.normal(jax.random.key(1), (n, n), dtype)
        mm = jax.jit(lambda a, b: a @ b)
        mm(a, b).block_until_ready()
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            mm(a, b).block_until_ready()
            best = min(best, time.perf_counter() - t0)
        out = {"gflops": 2 * n**3 / best / 1e9, "n": n, "best_s": best, "dtype": name}
        print("GEMM_RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
