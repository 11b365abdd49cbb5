"""Long memory: threshold adaptation and a state-space layer remember what recurrence forgets.

``python examples/11_long_memory.py [OUT_DIR]`` (default ``11_long_memory_out``)
trains four networks of the same width on a store-and-recall task with a long
gap: one of two input channels fires a short burst in the first steps, then
only background noise arrives for about 130 steps, and in the last 10 steps a
*recall cue* (the same for both classes) asks which channel fired. It compares
a feed-forward ``LIF`` layer, a recurrent ``RLIF`` layer, a recurrent adaptive
layer ``snnx.neurons.RALIF`` (Bellec et al.'s LSNN) and a spiking layer followed
by a linear recurrent unit ``snnx.ssm.LRU``, prints each one's test accuracy and
saves ``OUT_DIR/memory.png``: what the two that remember keep in their state.

It teaches where a spiking network can keep information for a long time: not in
a membrane that decays by 0.9 per step (0.9**130 is about 1e-6), but in a
slow adaptation variable (``RALIF``, decay 0.995 per step) or in a learnt
complex recurrence whose eigenvalues start near the unit circle (``LRU``), and
that ``snnx.engine.Options(parallel=True)`` runs the LRU as one associative scan.
"""

import os
import sys
from pathlib import Path

import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import optax
from flax import nnx

import snnx
from snnx import losses, metrics
from snnx.engine import Options
from snnx.train import fit

out = Path(sys.argv[1] if len(sys.argv) > 1 else "11_long_memory_out")
out.mkdir(parents=True, exist_ok=True)

T, WINDOW, PER_CHANNEL, HIDDEN = 150, 10, 8, 32  # steps, recall window, inputs per channel, hidden units
# SNNX_EXAMPLE_QUICK=1 (the test suite sets it) trains 15 epochs instead of 25: the same four outcomes,
# with the two that remember a little less far along
EPOCHS = 15 if os.environ.get("SNNX_EXAMPLE_QUICK") == "1" else 25


# ## The task: store, wait, recall
#
# 24 inputs form three channels of eight. In one of steps 1 to 5, channel `y`
# (0 or 1) starts a 4-step burst (each input fires with probability 0.5 per
# step). Then every input fires only at the background rate of 1 % per step.
# In the last WINDOW = 10 steps the third channel, the recall cue, fires at
# 0.5 per step for every sample: it says *when* to answer, not what. The answer
# is read in that window, at least 131 steps after the burst ended.
def make_data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = np.zeros((T, n, 3, PER_CHANNEL), np.float32)
    start = rng.integers(1, 6, n)
    for k in range(4):
        x[start + k, np.arange(n), y] = rng.random((n, PER_CHANNEL)) < 0.5
    x[T - WINDOW :, :, 2] = rng.random((WINDOW, n, PER_CHANNEL)) < 0.5
    x = x.reshape(T, n, 3 * PER_CHANNEL)
    x = np.maximum(x, rng.random(x.shape) < 0.01)  # background noise everywhere
    return x.astype(np.float32), y.astype(np.int32)


train, test = make_data(512, seed=0), make_data(256, seed=1)


# ## Four networks of the same width
#
# Each is Linear(24 -> 32) -> hidden -> Linear(32 -> 2) -> LI. The hidden part is
#
# * `LIF`: 32 feed-forward neurons, membrane decay 0.9 per step;
# * `RLIF`: the same with a learnt recurrent Linear(32, 32) of their own spikes;
# * `RALIF`: the same recurrent layer whose threshold rises by `adaptation` = 1
#   per unit of `a`, with `a = 0.995 a + z`: each spike raises the threshold
#   for about 200 steps, so the neurons the burst excited answer the recall cue
#   less than the others;
# * `LIF -> LRU`: 32 LIF neurons followed by a linear recurrent unit with 32
#   complex states, whose |lambda| start uniform in [0.9, 0.999] (Orvieto et al.
#   2023). Its output is real, and the LI readout reads it like any input.
def build(kind: str) -> snnx.Sequential:
    rngs = nnx.Rngs(0)
    hidden = {
        "LIF": lambda: [snnx.LIF(HIDDEN, beta=0.9)],
        "RLIF": lambda: [snnx.RLIF(HIDDEN, beta=0.9, rngs=rngs)],
        "RALIF": lambda: [snnx.neurons.RALIF(HIDDEN, beta=0.9, gamma=0.995, adaptation=1.0, rngs=rngs)],
        "LIF -> LRU": lambda: [
            snnx.LIF(HIDDEN, beta=0.9),
            snnx.ssm.LRU(HIDDEN, 32, r_min=0.9, r_max=0.999, rngs=rngs),
        ],
    }[kind]()
    return snnx.Sequential(
        nnx.Linear(3 * PER_CHANNEL, HIDDEN, rngs=rngs), *hidden, nnx.Linear(HIDDEN, 2, rngs=rngs),
        snnx.LI(2, beta=0.5),
    )  # fmt: skip


def window_loss(outputs, targets):
    return losses.max_membrane_cross_entropy(outputs[-WINDOW:], targets)


def window_accuracy(outputs, targets):
    return metrics.max_membrane_accuracy(outputs[-WINDOW:], targets)


# ## Training all four
#
# The same optimiser, data and epochs for each. `Options(parallel=True)` lets
# `run` compute the LRU's 150 steps as one associative scan (the neurons are
# stepped as usual); the result equals stepping it.
models, accuracy = {}, {}
for kind in ("LIF", "RLIF", "RALIF", "LIF -> LRU"):
    model = build(kind)
    history = fit(
        model,
        optax.chain(optax.clip_by_global_norm(1.0), optax.adam(3e-3)),
        window_loss,
        train,
        epochs=EPOCHS,
        batch_size=64,
        eval_data=test,
        metrics={"accuracy": window_accuracy},
        progress=False,
        options=Options(parallel=True),
    )
    last = [r["eval_accuracy"] for r in history[-3:]]
    models[kind], accuracy[kind] = model, float(np.mean(last))
    curve = " ".join(f"{r['eval_accuracy']:.2f}" for r in history[::5])
    print(f"{kind:10s}: test accuracy {accuracy[kind]:.3f} (mean of the last 3 epochs; every 5th: {curve})")
print("chance is 0.5")

# ## Where the memory is
#
# Top: the RALIF layer's adaptation `a` (units by time) for one sample of each
# class. Each class leaves a different set of units adapted (some keep firing
# through the recurrent weights), and the trace is still there when the recall
# cue arrives. Bottom: the LRU's output, which
# carries the burst's class through the gap the same way.
x_test, y_test = test
samples = [int(np.flatnonzero(y_test == c)[0]) for c in (0, 1)]
x_two = jnp.asarray(x_test[:, samples])
_, _, rec_ralif = snnx.run(models["RALIF"], x_two, record_states="1")
_, _, rec_lru = snnx.run(models["LIF -> LRU"], x_two, record="2")
panels = [("RALIF adaptation a", np.asarray(rec_ralif.states["1"]["a"])),
          ("LRU output", np.asarray(rec_lru.outputs["2"]))]  # fmt: skip
fig, axes = plt.subplots(2, 2, figsize=(10, 5), sharex=True, layout="constrained")
for row, (title, values) in enumerate(panels):
    for col, sample in enumerate(samples):
        ax = axes[row, col]
        image = ax.imshow(values[:, col].T, aspect="auto", origin="lower", cmap="viridis")
        ax.axvspan(T - WINDOW - 0.5, T - 0.5, color="white", alpha=0.3)
        ax.set_title(f"{title}, channel {int(y_test[sample])} fired")
        ax.set_ylabel("unit")
        fig.colorbar(image, ax=ax)
for ax in axes[1]:
    ax.set_xlabel("step")
fig.savefig(out / "memory.png", dpi=100)
plt.close(fig)
print(f"figure in {out}/: memory.png (light band: the recall window)")
