"""A convolutional spiking network on event-camera data shaped like N-MNIST.

``python examples/04_conv_events.py [OUT_DIR]`` (default ``04_conv_events_out``)
makes synthetic event streams of shape ``(T, B, 34, 34, 2)`` (time-major,
channels-last, ON and OFF polarity as the two channels, as N-MNIST's), trains
``Conv -> LIF -> SumPool -> Conv -> LIF -> SumPool -> Flatten -> Linear -> LI``
to tell eight bar orientations apart, prints the test accuracy and the engine's
plan for the model, and saves to ``OUT_DIR``: ``events.gif`` (the input of one
test sample), ``conv1.gif`` (the first conv layer's spikes, one panel per
channel) and ``raster.png`` (every spiking layer of that sample).

It teaches convolutional SNNs with snnx's shape inference: give
``Sequential`` the per-sample input shape and no layer needs its size written
by hand, not even the dense layer after ``Flatten``. Real N-MNIST loads the
same way with ``snnx.datasets.nmnist`` (``pip install 'snnx[data]'``).
"""

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import optax
from flax import nnx

import snnx
from snnx import losses, metrics
from snnx.train import fit

out = Path(sys.argv[1] if len(sys.argv) > 1 else "04_conv_events_out")
out.mkdir(parents=True, exist_ok=True)

T, SIZE, CLASSES = 12, 34, 8  # time steps, sensor width and height (N-MNIST's), classes


# ## Synthetic event streams
#
# An event camera reports changes of brightness, not frames: a pixel emits an
# ON event when it gets brighter and an OFF event when it gets darker. Here a
# bright bar sweeps across the sensor. Its orientation (one of eight, 22.5
# degrees apart) is the class; it moves perpendicular to itself, in either direction,
# from a random start at a random speed. The leading edge makes ON events and
# the trailing edge OFF events, so the two directions of one class swap
# polarities. A fraction of real events is dropped and background noise added,
# as with a real sensor.
def make_events(n: int, seed: int):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    angle = labels * np.pi / CLASSES + rng.normal(0.0, 0.1, n)  # the bar's normal, jittered
    direction = rng.choice([-1.0, 1.0], n)
    normal = np.stack([np.cos(angle), np.sin(angle)], -1) * direction[:, None]  # (n, 2)
    start = rng.uniform(-14.0, -6.0, n)  # the bar's centre, along the normal, at t = 0
    speed = rng.uniform(1.2, 2.2, n)  # pixels per step
    width = rng.uniform(2.0, 4.0, n)
    rows, cols = np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2  # pixel centres around the middle
    along = cols[None] * normal[:, 0, None, None] + rows[None] * normal[:, 1, None, None]  # (n, 34, 34)
    times = np.arange(T + 1)[:, None, None, None]
    centre = start[None, :, None, None] + speed[None, :, None, None] * times
    bright = np.abs(along[None] - centre) < width[None, :, None, None] / 2  # (T + 1, n, 34, 34)
    change = bright[1:].astype(np.int8) - bright[:-1].astype(np.int8)
    events = np.stack([change > 0, change < 0], axis=-1)  # (T, n, 34, 34, 2): ON, OFF
    events &= rng.random(events.shape) < 0.6  # the sensor misses some events ...
    events |= rng.random(events.shape) < 0.005  # ... and adds some of its own
    return events.astype(np.float32), labels.astype(np.int32)


x_train, y_train = make_events(512, seed=0)
x_test, y_test = make_events(256, seed=1)
print(f"events: train {x_train.shape}, test {x_test.shape}, {x_train.mean():.4f} events per pixel per step")

# ## The model, without shape arithmetic
#
# `input_shape=(34, 34, 2)` is the per-sample shape (no time or batch axis,
# channels last). `Sequential` walks the layers with it: each `LIF(beta=0.8)`
# made without a shape takes the shape of its input ((17, 17, 8): the first
# convolution's stride of 2 halves the sensor; then (8, 8, 16)), and `Deferred`
# builds the dense layer once the flattened size (4 * 4 * 16 = 256) is known.
# SumPool(2) adds the spikes of each 2x2 window.
rngs = nnx.Rngs(0)
model = snnx.Sequential(
    nnx.Conv(2, 8, (3, 3), strides=2, rngs=rngs),
    snnx.LIF(beta=0.8),
    snnx.SumPool(2),
    nnx.Conv(8, 16, (3, 3), rngs=rngs),
    snnx.LIF(beta=0.8),
    snnx.SumPool(2),
    snnx.Flatten(),
    snnx.Deferred(lambda s: nnx.Linear(s[-1], CLASSES, rngs=rngs)),
    snnx.LI(beta=0.9),
    input_shape=(34, 34, 2),
)
print(f"neuron shapes: {model[1].shape}, {model[4].shape}; dense layer: {model[7].in_features} inputs")

# ## Training
#
# The same loss as for the digits: cross-entropy of the readout's peak membrane.
history = fit(
    model,
    optax.adam(3e-3),
    losses.max_membrane_cross_entropy,
    (x_train, y_train),
    epochs=6,
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
print(f"test accuracy: {history[-1]['eval_accuracy']:.4f} ({len(y_test)} test streams, {CLASSES} classes)")

# ## What the engine runs
#
# `snnx.run` first makes a plan: which engine, which layers run over the whole
# sequence at once and which inside the neurons' loops, and why. Printing it
# costs nothing (the input is only described by its shape and dtype).
x = jnp.asarray(x_test[:, :8])
print(snnx.engine.plan(model, jax.ShapeDtypeStruct(x.shape, x.dtype)))

# ## Looking at the first conv layer
#
# `record="spikes"` returns every spiking layer's output: layer "1" is the
# first LIF, a (T, B, 17, 17, 8) map. `animate(..., channels="split")` draws
# one panel per feature map and one frame per step.
_, _, recording = snnx.run(model, x, record="spikes")
for key, spikes in recording.outputs.items():
    print(f"layer {key} ({type(model[int(key)]).__name__}{model[int(key)].shape}): "
          f"{float(spikes.mean()):.4f} spikes per neuron per step")  # fmt: skip
snnx.plot.animate(x, out / "events.gif", sample=0, channels="split", fps=6)
snnx.plot.animate(recording.outputs["1"], out / "conv1.gif", sample=0, channels="split", fps=6)
fig, _ = snnx.plot.raster(recording, sample=0, title=f"test sample 0 (class {int(y_test[0])})")
fig.savefig(out / "raster.png", dpi=100)
plt.close("all")
print(f"figures in {out}/: events.gif, conv1.gif, raster.png")
