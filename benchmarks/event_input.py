"""Is an event-driven input layer faster than the dense matmul on sparse binary input?

``python benchmarks/event_input.py [--threads N] [--rows 6400] [--densities 0.01,0.02,0.05]``

The ``ff`` workloads feed Bernoulli(p) spikes, ``(T * B, 700)`` rows, into
``Linear(700 -> 256)``. A dense matmul does ``2 * rows * 700 * 256`` flops
whatever ``p`` is; an event-driven layer only touches the weight rows of the
active inputs. This script times, in one process and with XLA on the CPU:

* ``dense``: ``X @ W`` (what ``run`` does);
* ``gather``: the active inputs given as padded index lists ``(rows, K)``
  (``K`` = most active inputs in any row; padding points at an appended zero
  row of ``W``), output ``W[idx].sum(1)``: the best case, indices prepared
  outside the training step (e.g. by the data loader);
* ``top_k + gather``: the index lists computed inside the step from the dense
  input, which is what ``run`` would have to do;
* weight gradient ``X^T G``: dense, against a scatter-add of ``G``'s rows into
  the active inputs' rows.

All variants are checked against the dense result first. The event path
would go into the engine only if it beat the dense matmul at <= 5 % density.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rows", type=int, default=6400, help="T * B rows (ff100: 100 * 64)")
    parser.add_argument("--inputs", type=int, default=700)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--densities", default="0.01,0.02,0.05")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    C.use_threads(args.threads)
    import jax
    import jax.numpy as jnp
    import numpy as np

    rows, n_in, n_out = args.rows, args.inputs, args.units
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.normal(size=(n_in, n_out)).astype(np.float32))
    g = jnp.asarray(rng.normal(size=(rows, n_out)).astype(np.float32))

    dense = jax.jit(lambda x, w: x @ w)
    gather = jax.jit(lambda idx, w: jnp.concatenate([w, jnp.zeros((1, n_out), w.dtype)])[idx].sum(1))
    wgrad_dense = jax.jit(lambda x, g: x.T @ g)

    results = []
    for p in (float(d) for d in args.densities.split(",")):
        x_np = (rng.random((rows, n_in)) < p).astype(np.float32)
        k = max(int((x_np > 0).sum(1).max()), 1)
        idx_np = np.full((rows, k), n_in, np.int32)
        for r in range(rows):
            active = np.flatnonzero(x_np[r])
            idx_np[r, : active.size] = active
        x, idx = jnp.asarray(x_np), jnp.asarray(idx_np)

        def top_k_gather(x, w, k=k):
            _, ix = jax.lax.top_k(x, k)
            on = jnp.take_along_axis(x, ix, 1) > 0
            return (w[ix] * on[..., None]).sum(1)

        def wgrad_scatter(idx, g, k=k):
            rows_k = jnp.broadcast_to(g[:, None, :], (rows, k, n_out))
            return jnp.zeros((n_in + 1, n_out), g.dtype).at[idx].add(rows_k)[:n_in]

        top_k_gather, wgrad_scatter = jax.jit(top_k_gather), jax.jit(wgrad_scatter)
        ref, ref_w = np.asarray(dense(x, w)), np.asarray(wgrad_dense(x, g))
        for got in (gather(idx, w), top_k_gather(x, w)):
            np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(np.asarray(wgrad_scatter(idx, g)), ref_w, rtol=1e-4, atol=1e-3)
        row = {
            "density": p,
            "max_active_per_row": k,
            "dense_ms": C.median_ms(dense, x, w, repeats=args.repeats),
            "gather_ms": C.median_ms(gather, idx, w, repeats=args.repeats),
            "top_k_gather_ms": C.median_ms(top_k_gather, x, w, repeats=args.repeats),
            "wgrad_dense_ms": C.median_ms(wgrad_dense, x, g, repeats=args.repeats),
            "wgrad_scatter_ms": C.median_ms(wgrad_scatter, idx, g, repeats=args.repeats),
        }
        results.append(row)

    print(f"rows {rows}, {n_in} -> {n_out}, {args.threads} thread(s), jax {jax.__version__}, median ms")
    print("| density | K | dense fwd | gather (indices given) | top_k + gather | dense X^T G | scatter-add |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['density']:.0%} | {r['max_active_per_row']} | {r['dense_ms']:.2f} | {r['gather_ms']:.2f} "
            f"| {r['top_k_gather_ms']:.2f} | {r['wgrad_dense_ms']:.2f} | {r['wgrad_scatter_ms']:.2f} |"
        )
    out = {"threads": args.threads, "rows": rows, "inputs": n_in, "units": n_out, "results": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()
