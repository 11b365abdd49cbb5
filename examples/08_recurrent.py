"""Memory from recurrence: a recurrent spiking layer remembers what a feed-forward one forgets.

``python examples/08_recurrent.py [OUT_DIR]`` (default ``08_recurrent_out``)
trains two networks of the same size on a delayed-recall task: one of two input
channels fires a short burst in the first steps, then only background noise
arrives for about 35 steps, and the network must say *which channel fired* in
the last 10 steps. The network with a recurrent hidden layer (``snnx.RLIF``)
solves it; the same network with a feed-forward ``LIF`` layer stays at chance,
because nothing in it lasts long enough. It prints both test accuracies and
saves ``OUT_DIR/memory.png``, the hidden spikes of both networks for one sample
of each class.

It teaches recurrent layers (``RLIF`` feeds its own spikes back through a
learnt ``nnx.Linear(N, N)``), a loss that only looks at a time window, and why
the length of a network's memory is a property of its dynamics.
"""

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
from snnx.train import fit

out = Path(sys.argv[1] if len(sys.argv) > 1 else "08_recurrent_out")
out.mkdir(parents=True, exist_ok=True)

T, WINDOW, PER_CHANNEL, HIDDEN = 50, 10, 8, 64  # steps, answer window, inputs per channel, hidden units


# ## The task: remember which channel fired
#
# Sixteen inputs form two channels of eight. In one of steps 1 to 5, channel
# `y` starts a 4-step burst (each of its inputs fires with probability 0.5 per
# step). From then on every input fires only at the background rate of 1 % per
# step, for both classes alike. The answer is read in the last WINDOW = 10
# steps, at least 31 steps after the burst ended.
def make_data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = np.zeros((T, n, 2, PER_CHANNEL), np.float32)
    start = rng.integers(1, 6, n)
    for k in range(4):
        x[start + k, np.arange(n), y] = rng.random((n, PER_CHANNEL)) < 0.5
    x = x.reshape(T, n, 2 * PER_CHANNEL)
    x = np.maximum(x, rng.random(x.shape) < 0.01)  # background noise everywhere
    return x.astype(np.float32), y.astype(np.int32)


train, test = make_data(1024, seed=0), make_data(512, seed=1)


# ## Two networks of the same size
#
# Both are Linear(16 -> 64) -> hidden -> Linear(64 -> 2) -> LI. The hidden layer
# is either 64 feed-forward LIF neurons or 64 recurrent RLIF neurons, whose
# input at each step also holds `recurrent(z_prev)`, a learnt Linear(64, 64) of
# the layer's own spikes one step earlier. Both decay their membrane by
# beta = 0.8 per step: after 31 steps 0.8**31 = 0.001 of a charge remains. The
# LI readout is fast (beta = 0.5), so it cannot be the memory either.
def build(recurrent: bool) -> snnx.Sequential:
    rngs = nnx.Rngs(0)
    hidden = snnx.RLIF(HIDDEN, beta=0.8, rngs=rngs) if recurrent else snnx.LIF(HIDDEN, beta=0.8)
    return snnx.Sequential(
        nnx.Linear(2 * PER_CHANNEL, HIDDEN, rngs=rngs),
        hidden,
        nnx.Linear(HIDDEN, 2, rngs=rngs),
        snnx.LI(2, beta=0.5),
    )


# ## A loss on the answer window only
#
# `max_membrane_cross_entropy` takes the readout's peak over the time axis it
# is given; slicing the last WINDOW steps makes the burst itself useless as an
# answer. The accuracy is measured on the same window.
def window_loss(outputs, targets):
    return losses.max_membrane_cross_entropy(outputs[-WINDOW:], targets)


def window_accuracy(outputs, targets):
    return metrics.max_membrane_accuracy(outputs[-WINDOW:], targets)


# ## Training both
#
# Gradients through 50 steps of recurrence can be large, so they are clipped
# to a global norm of 1 before Adam.
models, accuracy = {}, {}
for name, recurrent in (("feed-forward LIF", False), ("recurrent RLIF", True)):
    model = build(recurrent)
    history = fit(
        model,
        optax.chain(optax.clip_by_global_norm(1.0), optax.adam(3e-3)),
        window_loss,
        train,
        epochs=20,
        batch_size=64,
        eval_data=test,
        metrics={"accuracy": window_accuracy},
        progress=False,
    )
    models[name], accuracy[name] = model, history[-1]["eval_accuracy"]
    curve = " ".join(f"{r['eval_accuracy']:.2f}" for r in history[::4])
    print(f"{name}: test accuracy {accuracy[name]:.3f} (every 4th epoch: {curve})")
gain = accuracy["recurrent RLIF"] - accuracy["feed-forward LIF"]
print(f"chance is 0.5; the recurrent layer is {gain:+.3f} better")

# ## Where the memory is
#
# The trained RLIF keeps firing after the burst: a group of its neurons excite
# each other through the recurrent weights, and which group depends on the
# channel that fired. The LIF layer falls silent once the burst is over.
x_test, y_test = test
samples = [int(np.flatnonzero(y_test == c)[0]) for c in (0, 1)]
fig, axes = plt.subplots(2, 2, figsize=(9, 5), sharex=True, layout="constrained")
for row, (name, model) in enumerate(models.items()):
    _, _, rec = snnx.run(model, jnp.asarray(x_test[:, samples]), record="spikes")
    spikes = rec.outputs["1"]
    late = float(spikes[T - WINDOW :].mean())
    print(f"{name}: {late:.3f} spikes per neuron per step in the answer window")
    for col, sample in enumerate(samples):
        snnx.plot.raster(spikes, sample=col, ax=axes[row, col],
                         title=f"{name}, channel {int(y_test[sample])} fired")  # fmt: skip
        axes[row, col].axvspan(T - WINDOW - 0.5, T - 0.5, color="0.9", zorder=0)
        if row == 0:
            axes[row, col].set_xlabel("")
fig.savefig(out / "memory.png", dpi=100)
plt.close(fig)
print(f"figure in {out}/: memory.png (grey: the answer window)")
