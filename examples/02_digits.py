"""Your first spiking classifier: the 8x8 handwritten digits, rate-coded.

``python examples/02_digits.py [OUT_DIR]`` (default ``02_digits_out``) trains
``Linear(64 -> 128) -> LIF -> Linear(128 -> 10) -> LI`` on scikit-learn's 1,437
training digits for a few epochs, prints the loss and accuracy of every epoch
and the test accuracy on the 360 held-out digits, and saves two figures to
``OUT_DIR``: ``curves.png`` (the training curve) and ``raster.png`` (the hidden
layer's spikes for one test digit).

It teaches the whole loop in its smallest form: spike-encode a dataset, stack
layers and neurons in a ``Sequential``, train with ``fit`` on a loss over the
readout membrane, and look at the spikes with ``run(..., record="spikes")``.
``snnx train`` runs the same network for longer (see the README).
"""

import sys
from pathlib import Path

import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")  # write files, open no windows
import matplotlib.pyplot as plt
import optax
from flax import nnx

import snnx
from snnx import losses, metrics
from snnx.train import fit

out = Path(sys.argv[1] if len(sys.argv) > 1 else "02_digits_out")
out.mkdir(parents=True, exist_ok=True)

# ## The data: pixels become spike trains
#
# Each of the 64 pixels (brightness in [0, 1]) becomes a Bernoulli spike train
# over T = 25 steps: at every step the pixel fires with probability equal to its
# brightness. That is rate coding. Arrays in snnx are time-major, so the
# training input has shape (T, N, 64) = (25, 1437, 64); labels are (N,).
(x_train, y_train), (x_test, y_test) = snnx.datasets.digits("rate", num_steps=25, seed=0)
print(f"train {x_train.shape}, test {x_test.shape}, mean input rate {x_train.mean():.3f} spikes/step")

# ## The network
#
# A Linear layer feeds 128 leaky integrate-and-fire neurons (membrane decay
# beta = 0.9 per step, threshold 1). Their spikes feed a second Linear layer and
# ten leaky integrators (LI) that never spike: the readout is their membrane.
# `Sequential` steps every layer once per time step; `snnx.run` scans it over T.
# The neurons' own parameters stay fixed; only the two Linear layers learn.
rngs = nnx.Rngs(0)
model = snnx.Sequential(
    nnx.Linear(64, 128, rngs=rngs),
    snnx.LIF(128, beta=0.9),
    nnx.Linear(128, 10, rngs=rngs),
    snnx.LI(10, beta=0.9),
)

# ## Training
#
# The class score is the readout neuron's highest membrane over the 25 steps;
# the loss is the cross-entropy of those scores (`max_membrane_cross_entropy`),
# and the prediction is the neuron with the highest peak (`max_membrane_accuracy`).
# `fit` compiles one training step, shuffles the data every epoch and evaluates
# on `eval_data` after each epoch. Spikes have no gradient; the LIF's surrogate
# (a fast sigmoid) stands in for it on the way back.
history = fit(
    model,
    optax.adam(2e-3),
    losses.max_membrane_cross_entropy,
    (x_train, y_train),
    epochs=8,
    batch_size=32,
    eval_data=(x_test, y_test),
    metrics={"accuracy": metrics.max_membrane_accuracy},
    progress=False,
)
for record in history:
    print(
        f"epoch {record['epoch']}: loss {record['loss']:.3f}  train accuracy {record['accuracy']:.3f}"
        f"  test accuracy {record['eval_accuracy']:.3f}"
    )
print(f"test accuracy: {history[-1]['eval_accuracy']:.4f} (360 held-out digits)")

# ## Looking inside
#
# `record="spikes"` makes `run` also return every spiking layer's output at
# every step: here the LIF, layer "1", with shape (T, B, 128).
readout, _, recording = snnx.run(model, jnp.asarray(x_test[:, :16]), record="spikes")
hidden = recording.outputs["1"]
predicted = int(jnp.argmax(readout[:, 0].max(axis=0)))
print(f"hidden layer: {float(hidden.mean()):.3f} spikes per neuron per step on 16 test digits")
print(f"test digit 0 is a {int(y_test[0])}; the network says {predicted}")

fig, ax = snnx.plot.raster(hidden, sample=0, sort_by_rate=True)
ax.set_title(f"hidden spikes for one test digit (a {int(y_test[0])})")
fig.savefig(out / "raster.png", dpi=100)
plt.close(fig)

# ## The training curve
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(8, 3), layout="constrained")
epochs = [r["epoch"] for r in history]
ax_loss.plot(epochs, [r["loss"] for r in history], marker="o", label="train")
ax_loss.plot(epochs, [r["eval_loss"] for r in history], marker="s", label="test")
ax_loss.set(xlabel="epoch", ylabel="loss")
ax_loss.legend()
ax_acc.plot(epochs, [r["accuracy"] for r in history], marker="o", label="train")
ax_acc.plot(epochs, [r["eval_accuracy"] for r in history], marker="s", label="test")
ax_acc.set(xlabel="epoch", ylabel="accuracy")
ax_acc.legend()
fig.savefig(out / "curves.png", dpi=100)
plt.close(fig)
print(f"figures in {out}/: curves.png, raster.png")
