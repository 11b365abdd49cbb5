"""XLA's conv gradients against the im2col-GEMM kernel gradient, per shape (``Options.conv_weight_grad``).

``python benchmarks/conv_candidates.py [--shapes NAME|N,H,CIN,COUT,K,S ...] [--repeats 5]``
``[--threads 2] [--chunk-bytes 1048576] [--json]``

For each shape (``N`` samples of ``H x H x CIN``, ``COUT`` output channels, a
``K x K`` kernel, stride ``S``, SAME padding, float32, NHWC/HWIO as ``nnx.Conv``
runs it) it times, each under ``jax.jit``:

* ``fwd``: ``lax.conv_general_dilated`` (the forward pass);
* ``dx``: its input gradient (autodiff, what the engine keeps);
* ``xla dW``: its kernel gradient by autodiff (XLA's own: on CPU a convolution
  with the output gradient as kernel);
* ``gemm dW``: ``snnx.engine._conv.weight_grad``, the im2col GEMM the engine
  runs with ``conv_weight_grad="gemm"`` (patches built in chunks of samples, at
  most ``--chunk-bytes`` each; default the engine's, 1 MiB).

Interleaved in one process: each round calls every candidate once, in turn, so
a load that drifts between rounds (the CPUs are shared) hits all of them; the
table gives the median over ``--repeats`` rounds and ``ratio`` = the median over
rounds of ``gemm dW / xla dW`` in the same round. ``winner``: ``gemm`` when that
ratio is below 1. ``rule`` says what ``snnx.engine._conv.wins`` (the CPU default
of ``conv_weight_grad="auto"``) picks for the shape. Named shapes: ``c30a``,
``c30b`` (conv30's layers), ``nma``, ``nmb`` (convnm's), and ``grid`` (a spread
of Cin, Cout, k, stride and N; the default is all of them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C

NAMED = {
    "c30a": (960, 34, 2, 16, 5, 2),
    "c30b": (960, 8, 16, 16, 5, 1),
    "nma": (1920, 34, 2, 32, 3, 1),
    "nmb": (1920, 17, 32, 64, 3, 1),
}
# (N, H, Cin, Cout, k, s): inputs of the sizes conv SNNs see at each depth (34x34 DVS frames, pooled).
GRID = [
    (960, 34, 2, 64, 3, 1), (960, 34, 2, 128, 3, 1), (960, 34, 2, 32, 5, 2), (960, 34, 2, 64, 5, 2),
    (960, 17, 16, 16, 3, 1), (960, 17, 16, 32, 3, 1), (960, 17, 16, 64, 3, 1), (960, 17, 16, 128, 3, 1),
    (960, 17, 32, 32, 3, 1), (960, 17, 32, 64, 5, 1), (960, 17, 32, 64, 3, 2), (960, 17, 64, 64, 3, 1),
    (960, 8, 16, 32, 5, 1), (960, 8, 32, 64, 3, 1), (960, 8, 64, 128, 3, 1), (960, 8, 64, 64, 5, 1),
    (1920, 17, 16, 32, 3, 1), (1920, 17, 32, 32, 3, 1), (1920, 8, 32, 64, 3, 1), (1920, 34, 2, 16, 3, 1),
    # near the rule's edges: small C_out, long patch rows, tiny outputs
    (960, 34, 2, 8, 3, 1), (960, 34, 1, 8, 5, 2), (960, 8, 8, 16, 5, 1), (960, 8, 16, 8, 5, 1),
    (960, 16, 16, 16, 5, 1), (960, 4, 16, 16, 3, 1), (960, 4, 32, 64, 3, 1), (960, 4, 64, 32, 3, 2),
    (960, 2, 64, 64, 3, 1),
]  # fmt: skip
CANDIDATES = ("fwd", "dx", "xla dW", "gemm dW")


def parse_shape(text: str) -> list[tuple[int, ...]]:
    if text in NAMED:
        return [NAMED[text]]
    if text == "grid":
        return list(GRID)
    parts = text.split(",")
    if len(parts) != 6 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(
            f"expected one of {sorted(NAMED)}, 'grid' or N,H,CIN,COUT,K,S (positive ints), "
            f"got {text!r}"
        )
    return [tuple(int(p) for p in parts)]


def candidates(shape, chunk_bytes=None):
    """The four jitted candidates and their arguments for ``shape``."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    from snnx.engine import _conv

    chunk = _conv.CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    n, h, c_in, c_out, k, s = shape
    x = (jax.random.uniform(jax.random.key(0), (n, h, h, c_in)) < 0.1).astype(jnp.float32)
    w = jax.random.normal(jax.random.key(1), (k, k, c_in, c_out)) * 0.1

    def f(x, w):
        return lax.conv_general_dilated(x, w, (s, s), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    g = jax.random.normal(jax.random.key(2), jax.eval_shape(f, x, w).shape)
    fns = {
        "fwd": (jax.jit(f), (x, w)),
        "dx": (jax.jit(lambda x, w, g: jax.vjp(lambda x: f(x, w), x)[1](g)[0]), (x, w, g)),
        "xla dW": (jax.jit(lambda x, w, g: jax.vjp(lambda w: f(x, w), w)[1](g)[0]), (x, w, g)),
        "gemm dW": (jax.jit(lambda x, g: _conv.weight_grad(x, g, w.shape, (s, s), "SAME", chunk_bytes=chunk)),
                    (x, g)),
    }
    ref, got = fns["xla dW"][0](*fns["xla dW"][1]), fns["gemm dW"][0](*fns["gemm dW"][1])
    err = float(jnp.max(jnp.abs(got - ref)) / jnp.max(jnp.abs(ref)))
    return fns, err


def measure(shape, repeats: int, chunk_bytes=None) -> dict:
    import jax

    fns, err = candidates(shape, chunk_bytes)
    for fn, args in fns.values():  # compile every candidate before the timed rounds
        jax.block_until_ready(fn(*args))
    times = {name: [] for name in CANDIDATES}
    for _ in range(repeats):
        for name in CANDIDATES:
            fn, args = fns[name]
            t0 = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times[name].append(time.perf_counter() - t0)
    ms = {name: float(np.median(t) * 1e3) for name, t in times.items()}
    ratio = float(np.median(np.array(times["gemm dW"]) / np.array(times["xla dW"])))
    return {"shape": list(shape), "ms": ms, "ratio": ratio, "winner": "gemm" if ratio < 1 else "xla",
            "rel_err": err}


def _rule(shape) -> str:
    from flax import nnx

    from snnx.engine import _conv

    n, h, c_in, c_out, k, s = shape
    layer = nnx.eval_shape(lambda: nnx.Conv(c_in, c_out, (k, k), s, rngs=nnx.Rngs(0)))
    return "gemm" if _conv.wins(layer, (n, h, h, c_in)) else "xla"


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", nargs="+", type=parse_shape, default=[[*NAMED.values()], GRID])
    p.add_argument("--repeats", type=int, default=5, help="timed rounds per shape (after one that compiles)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--chunk-bytes", type=int, default=None,
                   help="the most bytes of patches per chunk (default: the engine's)")
    p.add_argument("--json", action="store_true", help="one JSON line per shape instead of the table")
    args = p.parse_args(argv)
    C.use_threads(args.threads)
    shapes = [s for group in args.shapes for s in group]
    if not args.json:
        print(f"{'N, HxWxCin -> Cout, k, s':<30} " + " ".join(f"{c:>9}" for c in CANDIDATES)
              + "  ratio winner rule")
    rows = []
    for shape in shapes:
        row = measure(shape, args.repeats, args.chunk_bytes)
        row["rule"] = _rule(shape)
        rows.append(row)
        n, h, c_in, c_out, k, s = shape
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            label = f"{n}, {h}x{h}x{c_in} -> {c_out}, k{k}, s{s}"
            print(f"{label:<30} " + " ".join(f"{row['ms'][c]:9.1f}" for c in CANDIDATES)
                  + f"  {row['ratio']:5.2f} {row['winner']:<6} {row['rule']}", flush=True)
    return rows


if __name__ == "__main__":
    main()
