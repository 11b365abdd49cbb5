"""Quickstart: train a tiny spiking network on synthetic spikes and watch the loss fall."""

import numpy as np
import optax
from flax import nnx

import snnx
from snnx import losses, metrics
from snnx.neurons import LI, LIF
from snnx.train import fit

# 256 samples, 20 steps, 10 inputs: class 0 fires more on inputs 0-4, class 1 on inputs 5-9
rng = np.random.default_rng(0)
y = rng.integers(0, 2, 256)
rates = np.where((np.arange(10) < 5) == (y[:, None] == 0), 0.2, 0.1)
x = (rng.random((20, 256, 10)) < rates).astype(np.float32)  # time-major (T, N, inputs)

rngs = nnx.Rngs(0)
model = snnx.Sequential(nnx.Linear(10, 32, rngs=rngs), LIF(32), nnx.Linear(32, 2, rngs=rngs), LI(2))
loss_fn, accuracy = losses.max_membrane_cross_entropy, {"accuracy": metrics.max_membrane_accuracy}
history = fit(
    model, optax.adam(5e-3), loss_fn, (x, y), epochs=5, batch_size=32, metrics=accuracy, progress=False
)
for record in history:
    print(f"epoch {record['epoch']}: loss {record['loss']:.3f}  accuracy {record['accuracy']:.2f}")
