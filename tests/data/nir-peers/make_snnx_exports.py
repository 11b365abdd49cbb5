"""Write small snnx models as NIR files (``snnx_<net>.nir``) and snnx's own run of each file.

Run with the project environment (no peer needed)::

    .venv/bin/python tests/data/nir-peers/make_snnx_exports.py tests/data/nir-peers

Each network is built natively with seeded weights, exported with
``snnx.nir.to_nir`` at ``dt = 1e-3`` and written with ``snnx.nir.write``. The file is
then imported with ``snnx.nir.from_nir(file, dt)`` (default NIR semantics: forward
Euler, one spike per step, reset to ``v_reset``) and run with ``snnx.run`` on a fixed
input ``x`` (time-major NIR layout ``(T, B, *channels-first shape)``, Bernoulli
p = 0.3, T = 60, B = 2). ``snnx_<net>.npz`` holds ``x``, ``out`` (``(T, B, *out)``)
and ``meta`` (JSON: dt, net, versions, notes). The native model is run on the same
input as a check (identical output required); it is not saved.

``make_rockpool.py`` and ``make_sinabs.py`` import these files into Rockpool and
Sinabs (README-rockpool-sinabs.md has the comparison).
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import flax
import jax
import jax.numpy as jnp
import nir
import numpy as np
from flax import nnx

import snnx
from snnx import layers as L
from snnx import neurons as N
from snnx.engine import Sequential
from snnx.nir import from_nir, to_nir, write

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
DT = 1e-3
T, B = 60, 2
RNG = np.random.default_rng(20240614)


def _dense(n_in, n_out, mean, std, bias=None):
    """nnx.Linear with seeded weights (kernel is (in, out) = NIR weight.T)."""
    layer = nnx.Linear(n_in, n_out, use_bias=bias is not None, rngs=nnx.Rngs(0))
    layer.kernel[...] = jnp.asarray(RNG.normal(mean, std, (n_in, n_out)), jnp.float32)
    if bias is not None:
        layer.bias[...] = jnp.full((n_out,), bias, jnp.float32)
    return layer


def _nets():
    thr5 = np.array([0.8, 1.0, 1.2, 1.5, 0.9], np.float32)
    yield (
        "lif",
        (8,),
        Sequential(_dense(8, 5, 0.5, 0.8, bias=0.05), N.LIF(5, beta=0.8, threshold=thr5)),
        ("Affine(8->5) -> LIF(beta 0.8, per-unit thresholds, reset to 0)"),
    )
    yield (
        "cubalif",
        (8,),
        Sequential(_dense(8, 5, 0.5, 0.8, bias=0.05), N.CuBaLIF(5, alpha=0.7, beta=0.8, threshold=thr5)),
        "Affine(8->5) -> CuBaLIF(alpha 0.7, beta 0.8, per-unit thresholds, reset to 0)",
    )
    yield (
        "if",
        (8,),
        Sequential(_dense(8, 5, 0.5, 0.8, bias=0.05), N.IF(5, threshold=1.2)),
        ("Affine(8->5) -> IF(threshold 1.2, reset to 0)"),
    )
    yield (
        "li",
        (8,),
        Sequential(
            _dense(8, 5, 0.5, 0.8, bias=0.05),
            N.LIF(5, beta=0.8, threshold=thr5),
            _dense(5, 3, 0.3, 0.6, bias=0.0),
            N.LI(3, beta=0.8),
        ),
        "Affine(8->5) -> LIF(beta 0.8) -> Affine(5->3) -> LI(beta 0.8) readout",
    )
    conv = nnx.Conv(2, 4, (3, 3), padding="VALID", rngs=nnx.Rngs(0))
    conv.kernel[...] = jnp.asarray(RNG.normal(0.15, 0.4, (3, 3, 2, 4)), jnp.float32)  # HWIO
    conv.bias[...] = jnp.zeros((4,), jnp.float32)
    yield (
        "conv",
        (2, 6, 6),
        Sequential(
            conv,
            N.IF((4, 4, 4), threshold=1.0),
            L.SumPool((2, 2)),
            L.Flatten(),
            _dense(16, 3, -0.05, 0.35, bias=0.0),
            N.IF(3, threshold=2.0),
        ),
        (
            "Conv2d(2->4, 3x3, valid) on (2,6,6) -> IF -> SumPool2d 2 -> "
            "Flatten -> Affine(16->3) -> IF(threshold 2.0)"
        ),
    )


def main():
    versions = {
        "snnx": snnx.__version__,
        "nir": nir.__version__,
        "jax": jax.__version__,
        "flax": flax.__version__,
    }
    for net, in_shape, model, desc in _nets():
        graph = to_nir(model, in_shape, DT)
        path = OUT / f"snnx_{net}.nir"
        write(path, graph)
        x = (RNG.random((T, B, *in_shape)) < 0.3).astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            imported = from_nir(path, DT)
            out, _ = snnx.run(imported, jnp.asarray(x))
            xn = np.moveaxis(x, 2, -1) if len(in_shape) > 1 else x  # native snnx is channels-last
            native, _ = snnx.run(model, jnp.asarray(xn))
        out, native = np.asarray(out), np.asarray(native)
        np.testing.assert_array_equal(out, native)  # snnx's file reproduces snnx's model
        meta = {
            "peer": "snnx",
            "versions": versions,
            "dt": DT,
            "net": net,
            "description": desc,
            "how": "snnx.nir.to_nir(model, input_shape, dt) -> snnx.nir.write; "
            "snnx.nir.from_nir(file, dt) (default NIR Euler semantics) + snnx.run on x (T, B, *NIR shape)",
            "nodes": {k: type(v).__name__ for k, v in graph.nodes.items()},
            "notes": "out equals the native model's output exactly (asserted)",
        }
        np.savez_compressed(OUT / f"snnx_{net}.npz", x=x, out=out, meta=json.dumps(meta))
        print(f"snnx_{net}: out {out.shape}, sum {out.sum():.3f}, nodes {meta['nodes']}")


if __name__ == "__main__":
    main()
