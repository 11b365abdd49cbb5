"""The matmul time of one training step of a workload, measured piece by piece.

``python benchmarks/matmul_floor.py [--workload rec100] [--threads N] [--results bench.json]``

Times, with XLA on the CPU and the workload's shapes, every matmul one
training step of ``Linear -> (R)LIF -> Linear -> LI`` has to do, each alone in
its own ``jax.jit`` (median of ``--repeats`` calls):

* the input projection ``X @ W1`` over all ``T * B`` rows, its weight gradient
  ``X^T G`` (the input gradient is not needed);
* the readout ``Z @ W2``, its weight gradient and its input gradient;
* for ``rec``: ``T`` sequential ``(B, H) @ (H, H)`` matmuls forward and ``T``
  backward (each step needs the previous one's result, so they cannot be
  batched), and the recurrent weight gradient as one ``T * B``-row GEMM.

The sum is what the step's matmuls cost when each runs alone at the speed XLA
runs it here: a floor for a step that does these matmuls with XLA, with every
elementwise operation, the loss and the optimizer for free. With ``--results``
(a ``run.py`` JSON) it also prints the step time each peer's ratio target
would require, next to the floor.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C

TARGET_SPEEDUP = 3.5  # ">= 3.5x faster than snnTorch and Norse"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="rec100", choices=("ff100", "ff250", "rec100"))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--results", default=None, help="a run.py JSON, for the peers' required step times")
    args = parser.parse_args(argv)
    C.use_threads(args.threads)
    import jax
    import jax.numpy as jnp

    s = C.spec(args.workload)
    T, B, n_in, h, n_out = s["T"], s["B"], s["n_in"], s["hidden"], s["n_out"]
    key = jax.random.split(jax.random.key(0), 6)
    x = (jax.random.uniform(key[0], (T * B, n_in)) < C.DENSITY).astype(jnp.float32)
    g_h = jax.random.normal(key[1], (T * B, h))
    z = (jax.random.uniform(key[2], (T * B, h)) < 0.1).astype(jnp.float32)
    g_out = jax.random.normal(key[3], (T * B, n_out))
    w1 = jax.random.normal(key[4], (n_in, h))
    w2 = jax.random.normal(key[5], (h, n_out))
    rows = (((0,), (0,)), ((), ()))

    pieces = {
        "input X @ W1": (jax.jit(lambda x, w: x @ w), x, w1),
        "input weight gradient X^T G": (jax.jit(lambda x, g: jax.lax.dot_general(x, g, rows)), x, g_h),
        "readout Z @ W2": (jax.jit(lambda z, w: z @ w), z, w2),
        "readout weight gradient Z^T G": (jax.jit(lambda z, g: jax.lax.dot_general(z, g, rows)), z, g_out),
        "readout input gradient G W2^T": (jax.jit(lambda g, w: g @ w.T), g_out, w2),
    }
    if s["kind"] == "rec":
        w_rec = jax.random.normal(key[4], (h, h)) * 0.05

        def chain(z0, w, transposed: bool):
            dims = (((1,), (1 if transposed else 0,)), ((), ()))

            def body(c, _):
                # tanh keeps the values bounded and makes each step depend on the last
                return jnp.tanh(jax.lax.dot_general(c, w, dims)), None

            return jax.lax.scan(body, z0, None, length=T)[0]

        z0 = jax.random.normal(key[2], (B, h))
        pieces[f"recurrent forward, {T} x ({B},{h})@({h},{h}) in sequence"] = (
            jax.jit(lambda z, w: chain(z, w, False)),
            z0,
            w_rec,
        )
        pieces[f"recurrent backward, {T} x ({B},{h})@({h},{h})^T in sequence"] = (
            jax.jit(lambda z, w: chain(z, w, True)),
            z0,
            w_rec,
        )
        pieces["recurrent weight gradient Z_prev^T G"] = (
            jax.jit(lambda z, g: jax.lax.dot_general(z, g, rows)),
            z,
            g_h,
        )
    measured = {name: C.median_ms(fn, *a, repeats=args.repeats) for name, (fn, *a) in pieces.items()}
    floor = sum(measured.values())
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "all"
    print(f"{args.workload}: matmuls of one training step, {args.threads} thread(s), CPUs {cpus}, median ms")
    for name, ms in measured.items():
        print(f"  {name:58s} {ms:7.2f}")
    print(f"  {'floor (sum)':58s} {floor:7.2f}")
    out = {"workload": args.workload, "threads": args.threads, "pieces_ms": measured, "floor_ms": floor}
    if args.results:
        agg = json.loads(open(args.results).read())["aggregate"]
        for peer in ("snntorch", "norse", "spyx"):
            entry = agg.get(f"{peer}/{args.workload}")
            if not entry or "train_ms" not in entry:
                continue
            peer_ms = entry["train_ms"][1]
            need = peer_ms / TARGET_SPEEDUP if peer != "spyx" else None
            if need is not None:
                print(f"  3.5x faster than {peer} ({peer_ms:.1f} ms) needs <= {need:.1f} ms per step")
            out[f"{peer}_train_ms"] = peer_ms
    return out


if __name__ == "__main__":
    main()
