"""Write the NIR models and input spike trains that NeuroBench's metrics are compared on.

Run with the project environment (it needs snnx, not torch)::

    .venv/bin/python tests/data/neurobench/make_inputs.py

It writes, next to this file:

* ``ff.nir``: Linear(16->12, bias) -> LIF(12) -> Linear(12->5, bias) -> LIF(5);
* ``sparse.nir``: the same without biases and with about half of the weights exactly 0;
* ``conv.nir``: (2, 8, 8) -> Conv(2->4, 3x3, pad 1) -> LIF -> AvgPool(2)
  -> Conv(4->4, 3x3, stride 2, pad 1) -> LIF -> Flatten -> Linear(16->5) -> LIF;
* ``rec.nir``: Linear(16->12) -> RLIF(12, recurrent weights without bias) -> Linear(12->5) -> LIF;
* ``inputs.npz``: one time-major ``(T, B, *shape)`` float32 input per case;
* ``cases.json``: which NIR file and which input each case uses, and ``dt``.

Every model is exported with ``dt = 1e-4``: snnTorch 1.0's NIR importer
assumes that step (``beta = 1 - 1e-4 / tau``), so with ``r = tau / dt`` (what
``to_nir`` writes) its neurons step exactly like snnx's. Weights and inputs come
from fixed seeds, so the files are reproducible.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from flax import nnx

import snnx
from snnx.nir import to_nir, write

HERE = Path(__file__).parent
DT = 1e-4
T, B = 25, 4


def _linear(rng, n_in, n_out, *, bias=True, scale=1.0, zero_fraction=0.0):
    layer = nnx.Linear(n_in, n_out, use_bias=bias, rngs=nnx.Rngs(0))
    w = rng.normal(0.0, scale / np.sqrt(n_in), (n_in, n_out)).astype(np.float32)
    if zero_fraction:
        w[rng.random(w.shape) < zero_fraction] = 0.0
    layer.kernel[...] = w
    if bias:
        layer.bias[...] = rng.normal(0.0, 0.1, n_out).astype(np.float32)
    return layer


def _conv(rng, c_in, c_out, *, stride=1, scale=1.0):
    layer = nnx.Conv(c_in, c_out, (3, 3), strides=stride, padding=1, rngs=nnx.Rngs(0))
    fan_in = 9 * c_in
    layer.kernel[...] = rng.normal(0.0, scale / np.sqrt(fan_in), (3, 3, c_in, c_out)).astype(np.float32)
    layer.bias[...] = rng.normal(0.0, 0.1, c_out).astype(np.float32)
    return layer


def models() -> dict[str, tuple[snnx.Sequential, tuple[int, ...]]]:
    """The snnx models, with their NIR (channels-first) input shapes."""
    rng = np.random.default_rng(2024)
    ff = snnx.Sequential(
        _linear(rng, 16, 12, scale=2.0), snnx.LIF(12, beta=0.9),
        _linear(rng, 12, 5, scale=2.5), snnx.LIF(5, beta=0.8),
    )
    sparse = snnx.Sequential(
        _linear(rng, 16, 12, bias=False, scale=2.5, zero_fraction=0.6), snnx.LIF(12, beta=0.9),
        _linear(rng, 12, 5, bias=False, scale=3.0, zero_fraction=0.5), snnx.LIF(5, beta=0.8),
    )
    conv = snnx.Sequential(
        _conv(rng, 2, 4, scale=2.5), snnx.LIF((8, 8, 4), beta=0.9),
        snnx.AvgPool((2, 2)),
        _conv(rng, 4, 4, stride=2, scale=4.0), snnx.LIF((2, 2, 4), beta=0.9),
        snnx.Flatten(),
        _linear(rng, 16, 5, scale=2.5), snnx.LIF(5, beta=0.8),
    )
    rlif = snnx.RLIF(12, beta=0.9, rngs=nnx.Rngs(0))
    rlif.recurrent.kernel[...] = rng.normal(0.0, 1.0 / np.sqrt(12), (12, 12)).astype(np.float32)
    rec = snnx.Sequential(
        _linear(rng, 16, 12, scale=2.0), rlif,
        _linear(rng, 12, 5, scale=2.5), snnx.LIF(5, beta=0.8),
    )
    return {"ff": (ff, (16,)), "sparse": (sparse, (16,)), "conv": (conv, (2, 8, 8)), "rec": (rec, (16,))}


def inputs() -> dict[str, np.ndarray]:
    """Seeded inputs, time-major ``(T, B, *shape)``, NIR (channels-first) layout."""
    rng = np.random.default_rng(7)
    binary = (rng.random((T, B, 16)) < 0.3).astype(np.float32)
    # real-valued: uniform magnitudes on a random half of the entries, exact zeros elsewhere
    real = (rng.random((T, B, 16)) * (rng.random((T, B, 16)) < 0.5)).astype(np.float32)
    sparse = (rng.random((T, B, 16)) < 0.3).astype(np.float32)
    conv = (rng.random((T, B, 2, 8, 8)) < 0.2).astype(np.float32)
    rec = (rng.random((T, B, 16)) < 0.3).astype(np.float32)
    return {"ff_binary": binary, "ff_real": real, "sparse": sparse, "conv": conv, "rec": rec}


CASES = {
    "ff_binary": {"nir": "ff.nir", "description": "(a) Linear-LIF-Linear-LIF, binary spikes in"},
    "ff_real": {"nir": "ff.nir", "description": "(b) the same model, real-valued input (first layer: MACs)"},
    "sparse": {"nir": "sparse.nir", "description": "(c) about half of the weights exactly zero, no biases"},
    "conv": {"nir": "conv.nir", "description": "(d) Conv-LIF-AvgPool-Conv-LIF-Flatten-Linear-LIF"},
    "rec": {"nir": "rec.nir", "description": "(e) Linear-RLIF(recurrent, no bias)-Linear-LIF"},
}


def main() -> None:
    for name, (model, shape) in models().items():
        write(HERE / f"{name}.nir", to_nir(model, shape, dt=DT))
    np.savez(HERE / "inputs.npz", **inputs())
    manifest = {"dt": DT, "T": T, "B": B, "cases": {k: {**v, "input": k} for k, v in CASES.items()}}
    (HERE / "cases.json").write_text(json.dumps(manifest, indent=2) + "\n")
    written = sorted(p.name for p in HERE.iterdir() if p.suffix in (".nir", ".npz", ".json"))
    print(f"wrote {', '.join(written)}")


if __name__ == "__main__":
    main()
