"""Stream a dataset from its files with grain workers, and train on it exactly as from memory.

``python examples/16_streaming_data.py [OUT_DIR]`` (default ``16_streaming_data_out``)
writes a small file in the layout of the Spiking Heidelberg Digits
(``spikes/times``, ``spikes/units``, ``labels``), reads it one sample at a time
with :class:`snnx.datasets.HeidelbergSource`, batches it with a
:class:`snnx.datasets.Loader` whose two worker processes bin and bit-pack the
spikes, and trains a recurrent network with :func:`snnx.train.fit`. Then it
trains the same network from the split held in memory: the batches are the
same, so the two runs agree to the last bit. With the real files, the same
lines stream SHD or SSC (``snnx.datasets.fetch("shd")`` downloads them).

The workers are new Python processes that import this script again (Python's
"spawn" start method), so a script that uses them keeps its work under
``if __name__ == "__main__":``, as this one does.
"""

import sys
from pathlib import Path

import h5py
import numpy as np
import optax
from flax import nnx

from snnx import losses, metrics
from snnx.datasets import HeidelbergSource, Loader
from snnx.engine import Sequential
from snnx.neurons import LI, RLIF
from snnx.train import evaluate, fit

CLASSES, T = 5, 50


# ## A file in the Heidelberg layout
#
# Each sample holds spike times (seconds) and the cochlea channels (0..699)
# that fired. Class c fires mostly in channels 140c..140c+139, early or late
# by class parity: a task a small network learns in a few epochs.
def write(path, n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    times = [np.sort(rng.random(120) * 0.5 + 0.4 * (c % 2)).astype(np.float32) for c in labels]
    units = [np.where(rng.random(120) < 0.8, 140 * c + rng.integers(0, 140, 120), rng.integers(0, 700, 120))
             for c in labels]  # fmt: skip
    with h5py.File(path, "w") as f:
        vlen = h5py.vlen_dtype
        f.create_dataset("spikes/times", data=np.array([*times, None], dtype=vlen(np.float32))[:-1])
        f.create_dataset("spikes/units", data=np.array([*units, None], dtype=vlen(np.uint16))[:-1])
        f.create_dataset("labels", data=labels.astype(np.uint16))


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write(out / "train.h5", 512, 0)
    write(out / "test.h5", 128, 1)

    # ## Sources and loaders
    #
    # A source reads one sample per index; the loader's workers build whole
    # batches, bit-packed along time (8 steps per byte), and fit unpacks them on
    # the device. Batches follow numpy's permutation of (seed, epoch): the order
    # of fit on arrays.
    train = HeidelbergSource(out / "train.h5", num_steps=T, num_classes=CLASSES)
    test = HeidelbergSource(out / "test.h5", num_steps=T, num_classes=CLASSES)
    loader = Loader(train, 32, seed=0, workers=2)
    x, y = next(iter(Loader(train, 32, seed=0)(0)))
    print(
        f"{len(train)} samples, {len(loader)} batches per epoch; a batch: x {x.shape} {x.dtype}, y {y.shape}"
    )
    print(
        f"bytes per batch: {x.nbytes} bit-packed, {x.nbytes * 8} as uint8 spikes, {x.nbytes * 32} as float32"
    )

    def model():
        rngs = nnx.Rngs(0)
        return Sequential(
            nnx.Linear(700, 64, rngs=rngs),
            RLIF(64, rngs=rngs),
            nnx.Linear(64, CLASSES, rngs=rngs),
            LI(CLASSES),
        )

    loss = losses.max_membrane_cross_entropy
    accuracy = {"accuracy": metrics.max_membrane_accuracy}

    # ## Train from the stream, then from memory
    streamed = model()
    with loader:  # the workers stop when the block ends
        history = fit(streamed, optax.adam(2e-3), loss, loader, epochs=4, seed=0, progress=False)
    scores = evaluate(streamed, loss, Loader(test, 64, shuffle=False), metrics=accuracy)
    print("streamed : losses " + " ".join(f"{h['loss']:.6f}" for h in history), end="; ")
    print(f"test accuracy {scores['accuracy']:.3f}")

    x_train, y_train = Loader(train, 64, shuffle=False, workers=0).arrays()  # read once, still packed
    in_memory = model()
    again = fit(
        in_memory, optax.adam(2e-3), loss, (x_train, y_train), epochs=4, batch_size=32, seed=0, num_steps=T,
        progress=False,
    )  # fmt: skip
    print("in memory: losses " + " ".join(f"{h['loss']:.6f}" for h in again))
    same = all(a["loss"] == b["loss"] for a, b in zip(history, again, strict=True))
    kernel = np.abs(np.asarray(streamed[0].kernel[...]) - np.asarray(in_memory[0].kernel[...])).max()
    print(f"same losses: {same}; largest weight difference: {kernel:.1e}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "16_streaming_data_out"))
