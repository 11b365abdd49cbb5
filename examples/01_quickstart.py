"""Quickstart: train a tiny spiking network on synthetic spikes and watch the loss fall."""

import numpy as np
import optax
from flax import nnx

import snnx

rng = np.random.default_rng(0)  # 256 samples, 20 steps, 10 inputs: class 0 fires more on inputs 0-4
y = rng.integers(0, 2, 256)
rates = np.where((np.arange(10) < 5) == (y[:, None] == 0), 0.2, 0.1)
x = (rng.random((20, 256, 10)) < rates).astype(np.float32)  # time-major (T, N, inputs)

r = nnx.Rngs(0)
model = snnx.Sequential(nnx.Linear(10, 32, rngs=r), snnx.LIF(32), nnx.Linear(32, 2, rngs=r), snnx.LI(2))
history = snnx.train.fit(model, optax.adam(5e-3), snnx.losses.max_membrane_cross_entropy, (x, y), epochs=5,
                         batch_size=32, metrics=[snnx.metrics.max_membrane_accuracy], progress=False)
for h in history:  # means over each epoch's batches
    print(f"epoch {h['epoch']}: loss {h['loss']:.3f}  accuracy {h['max_membrane_accuracy']:.2f}")
