"""The matmul time of one training step of a workload, measured piece by piece.

``python benchmarks/matmul_floor.py [--workload rec100[,ff100,...]] [--dtype fp32[,bf16]] [--threads N]
[--device cpu|gpu] [--shrink K] [--results bench.json] [--json]``

Times, with XLA and the workload's shapes (``ff`` and ``rec`` workloads), every
matmul one training step of ``Linear -> (R)LIF -> Linear -> LI`` has to do, each
alone in its own ``jax.jit`` (median of ``--repeats`` calls), in the dtype asked for:

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
would require, next to the floor. ``--json`` adds one line ``FLOOR_RESULT {json}``
per (workload, dtype), which ``run.py`` reads.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C

TARGET_SPEEDUP = 3.5  # ">= 3.5x faster than snnTorch and Norse"
KINDS = ("ff", "rec")  # the workload kinds measured here
WORKLOADS = sorted(name for name, w in C.WORKLOADS.items() if w["kind"] in KINDS)


def _workloads(text: str) -> list[str]:
    names = [w.strip() for w in text.split(",") if w.strip()]
    bad = [w for w in names if w not in WORKLOADS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"a comma list from {WORKLOADS}, got {text!r}")
    return names


def _dtypes(text: str) -> list[str]:
    names = [d.strip() for d in text.split(",") if d.strip()]
    if not names or any(d not in C.DTYPES for d in names):
        raise argparse.ArgumentTypeError(f"a comma list from {','.join(C.DTYPES)}, got {text!r}")
    return names


def pieces(s: dict, dtype) -> dict:
    """Every matmul of one training step of ``s`` (a :func:`_common.spec`) as ``name -> (jitted fn, *args)``.

    Operands are ``dtype``; shapes: ``X (T*B, n_in)``, ``G_h``/``Z (T*B, hidden)``, ``G_out (T*B, n_out)``,
    ``W1 (n_in, hidden)``, ``W2 (hidden, n_out)``, ``W_rec (hidden, hidden)``, ``z0 (B, hidden)``.
    """
    import jax
    import jax.numpy as jnp

    T, B, n_in, h, n_out = s["T"], s["B"], s["n_in"], s["hidden"], s["n_out"]
    key = jax.random.split(jax.random.key(0), 6)
    x = (jax.random.uniform(key[0], (T * B, n_in)) < C.DENSITY).astype(dtype)
    g_h = jax.random.normal(key[1], (T * B, h), dtype)
    z = (jax.random.uniform(key[2], (T * B, h)) < 0.1).astype(dtype)
    g_out = jax.random.normal(key[3], (T * B, n_out), dtype)
    w1 = jax.random.normal(key[4], (n_in, h), dtype)
    w2 = jax.random.normal(key[5], (h, n_out), dtype)
    rows = (((0,), (0,)), ((), ()))

    out = {
        "input X @ W1": (jax.jit(lambda x, w: x @ w), x, w1),
        "input weight gradient X^T G": (jax.jit(lambda x, g: jax.lax.dot_general(x, g, rows)), x, g_h),
        "readout Z @ W2": (jax.jit(lambda z, w: z @ w), z, w2),
        "readout weight gradient Z^T G": (jax.jit(lambda z, g: jax.lax.dot_general(z, g, rows)), z, g_out),
        "readout input gradient G W2^T": (jax.jit(lambda g, w: g @ w.T), g_out, w2),
    }
    if s["kind"] == "rec":
        w_rec = (jax.random.normal(key[4], (h, h)) * 0.05).astype(dtype)

        def chain(z0, w, transposed: bool):
            dims = (((1,), (1 if transposed else 0,)), ((), ()))

            def body(c, _):
                # tanh keeps the values bounded and makes each step depend on the last
                return jnp.tanh(jax.lax.dot_general(c, w, dims)), None

            return jax.lax.scan(body, z0, None, length=T)[0]

        z0 = jax.random.normal(key[2], (B, h), dtype)
        out[f"recurrent forward, {T} x ({B},{h})@({h},{h}) in sequence"] = (
            jax.jit(lambda z, w: chain(z, w, False)),
            z0,
            w_rec,
        )
        out[f"recurrent backward, {T} x ({B},{h})@({h},{h})^T in sequence"] = (
            jax.jit(lambda z, w: chain(z, w, True)),
            z0,
            w_rec,
        )
        out["recurrent weight gradient Z_prev^T G"] = (
            jax.jit(lambda z, g: jax.lax.dot_general(z, g, rows)),
            z,
            g_h,
        )
    return out


def main(argv=None) -> list[dict]:
    """Measure and print the floors; returns one dict per (workload, dtype), in the order asked for."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workload", type=_workloads, default=["rec100"], help=f"comma list from {WORKLOADS}"
    )
    parser.add_argument("--dtype", type=_dtypes, default=["fp32"], help="comma list from fp32,bf16")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--device", default="cpu", choices=("cpu", "gpu"), help="gpu: no CPU confinement")
    parser.add_argument("--shrink", type=int, default=1, help="divide T, B and hidden by this (as run.py)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--results", default=None, help="a run.py JSON, for the peers' required step times")
    parser.add_argument("--json", action="store_true", help="also print FLOOR_RESULT {json} lines")
    args = parser.parse_args(argv)
    if args.shrink < 1:
        parser.error(f"--shrink must be an int >= 1, got {args.shrink}")
    if args.device == "cpu":
        C.use_threads(args.threads)
    import jax
    import jax.numpy as jnp

    results = []
    for workload in args.workload:
        s = C.spec(workload, args.shrink)
        for dtype in args.dtype:
            work = pieces(s, jnp.bfloat16 if dtype == "bf16" else jnp.float32)
            measured = {name: C.median_ms(fn, *a, repeats=args.repeats) for name, (fn, *a) in work.items()}
            floor = sum(measured.values())
            where = (
                f"{jax.devices()[0].device_kind}"
                if args.device == "gpu"
                else f"{args.threads} thread(s), CPUs "
                f"{sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else 'all'}"
            )
            print(f"{workload} ({dtype}): matmuls of one training step, {where}, median ms")
            for name, ms in measured.items():
                print(f"  {name:58s} {ms:7.2f}")
            print(f"  {'floor (sum)':58s} {floor:7.2f}")
            out = {
                "workload": workload,
                "dtype": dtype,
                "shrink": args.shrink,
                "threads": args.threads,
                "pieces_ms": measured,
                "floor_ms": floor,
            }
            if args.results:
                out.update(_peers(args.results, workload, floor))
            if args.json:
                print("FLOOR_RESULT " + json.dumps(out), flush=True)
            results.append(out)
    return results


def _peers(path: str, workload: str, floor: float) -> dict:
    """The peers' fp32 train medians from a run.py JSON, and the step time 3.5x faster would need."""
    with open(path) as f:
        agg = json.load(f)["aggregate"]
    out = {}
    for peer in ("snntorch", "norse", "spyx"):
        entry = agg.get(f"{peer}/{workload}")
        if not entry or "train_ms" not in entry:
            continue
        peer_ms = entry["train_ms"][1]
        if peer != "spyx":
            need = peer_ms / TARGET_SPEEDUP
            print(
                f"  3.5x faster than {peer} ({peer_ms:.1f} ms) needs <= {need:.1f} ms per step; "
                f"the floor permits {peer_ms / floor:.2f}x"
            )
        out[f"{peer}_train_ms"] = peer_ms
    return out


if __name__ == "__main__":
    main()
