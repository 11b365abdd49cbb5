"""Train a tiny spiking network, write it as NIR, read it back: the same spikes.

A Conv -> IF -> Flatten -> Linear -> RLIF -> Linear -> LI network
learns for a few steps to tell two synthetic spike patterns apart. It is then
exported with ``snnx.nir.to_nir`` (channels-first NIR, forward Euler at
``dt``), written to a file, re-imported with ``snnx.nir.from_nir`` and run
again on the same input: spikes and readout agree exactly.

Run: ``python examples/03_nir_roundtrip.py [--out DIR]`` (a few seconds on a CPU).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import snnx
from snnx import layers, losses, neurons
from snnx.nir import from_nir, read, to_nir, write

DT = 1e-3  # seconds per step: not stored in NIR files, given on both sides
T, B, H, W, C = 12, 16, 6, 6, 2  # time steps, batch, a 6x6 two-channel input


def make_data(seed: int = 0):
    """Two classes of Bernoulli spike trains: brighter left half vs brighter right half."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=B)
    rate = np.full((B, H, W, C), 0.05)
    rate[labels == 0, :, : W // 2] = 0.4
    rate[labels == 1, :, W // 2 :] = 0.4
    spikes = (rng.random((T, B, H, W, C)) < rate).astype(np.float32)  # time-major, channels-last
    return jnp.asarray(spikes), jnp.asarray(labels)


def make_model(rngs: nnx.Rngs) -> snnx.Sequential:
    return snnx.Sequential(
        nnx.Conv(C, 4, (3, 3), strides=2, padding=((1, 1), (1, 1)), rngs=rngs),
        neurons.IF((H // 2, W // 2, 4), threshold=0.5),
        layers.Flatten(),  # (C, H, W) element order, as NIR and PyTorch
        nnx.Linear(4 * (H // 2) * (W // 2), 16, rngs=rngs),
        neurons.RLIF(16, beta=0.9, rngs=rngs),
        nnx.Linear(16, 2, rngs=rngs),
        neurons.LI(2, beta=0.8),
    )


def train(model, x, y, steps: int = 5) -> list[float]:
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)

    def loss_fn(m):
        out, _ = snnx.run(m, x)
        return losses.max_membrane_cross_entropy(out, y)

    @nnx.jit
    def step(m, opt):
        loss, grads = nnx.value_and_grad(loss_fn)(m)
        opt.update(m, grads)
        return loss

    return [float(step(model, optimizer)) for _ in range(steps)]


def hidden_spikes(model: snnx.Sequential, states) -> np.ndarray:
    """The recurrent layer's spikes at every step (its state ``z``)."""
    index = next(i for i, layer in enumerate(model.layers) if isinstance(layer, neurons.RLIF))
    return np.asarray(states[index]["z"])


def main(out_dir: Path) -> dict:
    x, y = make_data()
    model = make_model(nnx.Rngs(0))
    history = train(model, x, y)
    print("loss per training step:", " ".join(f"{v:.4f}" for v in history))

    graph = to_nir(model, input_shape=(C, H, W), dt=DT)  # NIR shapes are channels-first
    path = out_dir / "tiny_csnn.nir"
    write(path, graph)
    print(f"wrote {path.name}: " + ", ".join(f"{k}:{type(n).__name__}" for k, n in read(path).nodes.items()))

    imported = from_nir(path, dt=DT, channels_last=True)  # takes the same (T, B, H, W, C) input
    readout, states = snnx.run(model, x, return_states=True)
    readout_back, states_back = snnx.run(imported, x, return_states=True)
    spikes, spikes_back = hidden_spikes(model, states), hidden_spikes(imported, states_back)
    same_spikes = bool(np.array_equal(spikes, spikes_back))
    diff = float(np.max(np.abs(np.asarray(readout) - np.asarray(readout_back))))
    print(f"hidden spikes: {int(spikes.sum())} in both, identical: {same_spikes}")
    print(f"readout max |difference|: {diff:.1e}")
    return {"same_spikes": same_spikes, "readout_diff": diff, "losses": history}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="folder for tiny_csnn.nir (default: a temporary folder)")
    args = parser.parse_args()
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        main(Path(args.out))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
