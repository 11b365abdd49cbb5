"""Augment spike trains per sample, and see what each augmentation does on a raster plot.

``python examples/15_augmentation.py [OUT_DIR]`` (default ``15_augmentation_out``)
builds an SHD-like batch (spoken-digit-like sweeps across 100 channels over 100
steps, four samples), applies every function of :mod:`snnx.augment` with its own
key, prints what each did to each sample, and saves ``OUT_DIR/rasters.png``
(a sample before, in grey, and after each augmentation, in black) and ``OUT_DIR/frames.png`` (an
event frame cropped and flipped). Every random draw is per sample: the four
samples of a batch get four different shifts, where Spyx 1.0's
``shift_augment`` gives them one.
"""

import sys
from pathlib import Path

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from snnx import augment

out = Path(sys.argv[1] if len(sys.argv) > 1 else "15_augmentation_out")
out.mkdir(parents=True, exist_ok=True)
T, B, N = 100, 4, 100

# ## An SHD-like batch
#
# Three rising sweeps per sample, each a diagonal band of spikes across the
# channels, with some background noise: easy to follow by eye.
rng = np.random.default_rng(0)
x = (rng.random((T, B, N)) < 0.005).astype(np.float32)
for b in range(B):
    for start in (10, 40, 70):
        for t in range(start, min(start + 25, T)):
            c = min(int((t - start) * 3.5) + 5 * b + 1, N - 2)
            x[t, b, c - 1 : c + 2] = (rng.random(3) < 0.8).astype(np.float32)
print(f"batch: {T} steps x {B} samples x {N} channels, {int(x.sum())} events")

# ## Every augmentation, one key each
#
# Each function draws its random values per sample from the key, so running it
# again with the same key gives the same batch.
keys = jax.random.split(jax.random.key(1), 8)
labels = np.arange(B) % 2
mixed, targets = augment.mixup(keys[7], x, labels, num_classes=2, alpha=0.4)
variants = {
    "shift (time, up to 15 steps)": augment.shift(keys[0], x, 15),
    "channel_shift (up to 20)": augment.channel_shift(keys[1], x, 20),
    "drop_events (p = 0.5)": augment.drop_events(keys[2], x, 0.5),
    "time_jitter (up to 3 steps)": augment.time_jitter(keys[3], x, 3),
    "time_stretch (0.7 to 1.3)": augment.time_stretch(keys[4], x, 0.7, 1.3),
    "mixup (alpha = 0.4)": mixed,
}


def moved(a: np.ndarray, b: np.ndarray, axis: int) -> list[int]:
    """For each sample, the shift along ``axis`` (0: time, 1: channel) that best matches ``b`` to ``a``."""
    best = []
    for s in range(B):
        scores = [float((np.roll(a[:, s], k, axis=axis) * b[:, s]).sum()) for k in range(-25, 26)]
        best.append(int(np.argmax(scores)) - 25)
    return best


shown = dict.fromkeys(["original", *variants], 0)  # the sample each panel shows: where the effect is largest
for name, y in variants.items():
    y = np.asarray(y)
    print(f"{name:30} events {int(y.sum()):5d}", end="")
    if name.startswith(("shift", "channel_shift")):
        shifts = moved(x, y, 0 if name.startswith("shift") else 1)
        shown[name] = int(np.argmax(np.abs(shifts)))
        print(f", {'time' if name.startswith('shift') else 'channel'} shift per sample {shifts}", end="")
    if name.startswith("mixup"):
        own = [round(float(v), 2) for v in np.asarray(targets)[np.arange(B), labels]]
        shown[name] = int(np.argmin(own))
        print(f", label share of the sample itself {own}", end="")
    print()

fig, axes = plt.subplots(2, 4, figsize=(12, 5.5), sharex=True, sharey=True, layout="constrained")
panels = [("original", x), *variants.items()]
for ax, (name, y) in zip(axes.flat, panels, strict=False):
    b = shown[name]
    t, c = np.nonzero(x[:, b])
    ax.scatter(t, c, s=1.5, color="0.8", label="sample before")  # the input, in grey
    t, c = np.nonzero(np.asarray(y)[:, b])
    ax.scatter(t, c, s=1.5, color="black", label="after")
    ax.set_title(f"{name}, sample {b}", fontsize=9)
for ax in axes[-1]:
    ax.set_xlabel("step")
for ax in axes[:, 0]:
    ax.set_ylabel("channel")
axes.flat[-1].axis("off")
fig.savefig(out / "rasters.png", dpi=90)
plt.close(fig)

# ## Event frames: crop and flip
#
# For camera events binned into frames `(T, B, H, W, C)`, `random_crop` cuts
# one window per sample (the same at every step) and `flip` mirrors whole
# samples.
frames = np.zeros((8, B, 34, 34, 2), np.float32)
frames[:, :, 8:26, 12:16, 0] = 1.0  # a vertical bar ...
frames[:, :, 8:12, 12:26, 1] = 1.0  # ... with an arm to the right: an "F"
crops = np.asarray(augment.random_crop(keys[5], frames, (28, 28)))
flips = np.asarray(augment.flip(keys[6], frames, 0.5))
mirrored = [bool(np.array_equal(flips[:, b], frames[:, b, :, ::-1])) for b in range(B)]
print(f"random_crop: {frames.shape} -> {crops.shape}; flip mirrored samples {mirrored}")
fig, axes = plt.subplots(1, 3, figsize=(8, 3), layout="constrained")
shown = [("frame", frames), ("random_crop 28x28", crops), ("flip", flips)]
for ax, (name, f) in zip(axes, shown, strict=True):
    b = mirrored.index(True) if name == "flip" and any(mirrored) else 0
    ax.imshow(f[:, b].sum(axis=(0, 3)), cmap="Greys")
    ax.set_title(f"{name} (sample {b})", fontsize=9)
    ax.axis("off")
fig.savefig(out / "frames.png", dpi=90)
plt.close(fig)
print(f"files in {out}/: rasters.png, frames.png")
