"""Unsupervised features by STDP: competing LIF neurons learn digit prototypes, a linear readout scores them.

``python examples/13_stdp.py [OUT_DIR]`` (default ``13_stdp_out``) shows the 8x8 digits, rate-coded
over T = 25 steps, to 100 LIF neurons behind a ``Linear(64 -> 100)`` with lateral inhibition (only
the most excited neuron spikes in a step). No labels and no gradients: pair-based STDP
(``snnx.plasticity.STDP``) changes the kernel at every step, each neuron's incoming weights are
renormalised to a fixed sum after every batch, and a homeostatic threshold rises for neurons that
win too often. Then a linear readout (ridge regression on the neurons' spike counts) is fitted on the
1,437 training digits and scored on the 360 test digits, for the learnt weights and for the random
weights the network started from. It prints the four test accuracies and saves ``fields.png`` (the
learnt receptive fields) to ``OUT_DIR``. About 20 s on a 2-core CPU.

The point is the loop: ``train_stdp`` steps the layer, the neurons and the rule in one
``jax.lax.scan``, and ``nnx.jit`` compiles it with the two per-batch rules around it.
"""

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

matplotlib.use("Agg")  # write files, open no windows
import matplotlib.pyplot as plt
from flax import nnx

import snnx
from snnx.plasticity import STDP, train_stdp

out = Path(sys.argv[1] if len(sys.argv) > 1 else "13_stdp_out")
out.mkdir(parents=True, exist_ok=True)

# ## The data
#
# Each pixel (brightness in [0, 1]) fires with that probability at each of T = 25 steps; arrays are
# time-major, (T, N, 64). The labels are used only by the readout, after learning.
T, N_HIDDEN, COLUMN_SUM, BATCH, EPOCHS = 25, 100, 8.0, 16, 5
(x_train, y_train), (x_test, y_test) = snnx.datasets.digits("rate", num_steps=T, seed=0)

# ## The network: a plastic Linear and competing neurons
#
# Weights start uniform in [0, 1), each neuron's column scaled to sum to COLUMN_SUM (the same
# normalisation keeps it there during learning). `inhibition=True` lets only the neuron with the
# largest v - threshold spike in each step: the neurons compete for every input.
layer = nnx.Linear(64, N_HIDDEN, use_bias=False, rngs=nnx.Rngs(0))
k0 = jax.random.uniform(jax.random.key(1), (64, N_HIDDEN))
k0 = k0 * COLUMN_SUM / k0.sum(0)
layer.kernel[...] = k0
lif = snnx.LIF(N_HIDDEN, beta=0.9, threshold=jnp.ones(N_HIDDEN), inhibition=True)

# ## The rule
#
# Pair-based STDP with traces decaying by 0.8 per step: a neuron's spike strengthens its weights
# from recently active pixels, a pixel's spike weakens its weight to recently active neurons. With
# rate-coded input both terms grow with the product of the two rates, so the winner's weights move
# towards the digit it won. Weights stay in [0, 1]; the change is averaged over the batch.
rule = STDP(
    decay_pre=0.8, decay_post=0.8, a_plus=0.005, a_minus=0.005, w_min=0.0, w_max=1.0, batch_reduce="mean"
)


@nnx.jit
def learn_batch(layer, lif, x):
    """One batch: STDP at every step, then weight normalisation and threshold homeostasis."""
    spikes, _ = train_stdp(layer, lif, rule, x)  # updates layer.kernel in place
    kernel = layer.kernel[...]
    layer.kernel[...] = kernel * COLUMN_SUM / (kernel.sum(0, keepdims=True) + 1e-9)
    wins = spikes.sum((0, 1))  # spikes per neuron in this batch
    lif.threshold[...] = jnp.maximum(lif.threshold[...] + (wins / wins.mean() - 1.0) / N_HIDDEN, 0.1)
    return wins


rng = np.random.default_rng(0)
for epoch in range(EPOCHS):
    order = rng.permutation(x_train.shape[1])
    wins = sum(
        learn_batch(layer, lif, jnp.asarray(x_train[:, order[i : i + BATCH]]))
        for i in range(0, len(order) - BATCH + 1, BATCH)
    )
    wins = np.asarray(wins)
    active, share = int((wins > 0).sum()), wins.max() / wins.sum()
    print(f"epoch {epoch}: {active} of {N_HIDDEN} neurons won a step; the busiest won {share:.3f} of them")

# ## The readout
#
# Features: each neuron's spike count over the 25 steps, with the weights frozen (snnx.run). A
# ridge regression onto one-hot labels, fitted on the training digits, scores the test digits.


def spike_counts(kernel, threshold, x):
    frozen = nnx.Linear(64, N_HIDDEN, use_bias=False, rngs=nnx.Rngs(0))
    frozen.kernel[...] = kernel
    model = snnx.Sequential(frozen, snnx.LIF(N_HIDDEN, beta=0.9, threshold=threshold, inhibition=True))
    spikes, _ = snnx.run(model, jnp.asarray(x))
    return np.asarray(spikes.sum(0))


def readout_accuracy(f_train, f_test, ridge=1e-2):
    mean, std = f_train.mean(0), f_train.std(0) + 1e-6
    a = np.c_[(f_train - mean) / std, np.ones(len(f_train))]
    b = np.c_[(f_test - mean) / std, np.ones(len(f_test))]
    w = np.linalg.solve(a.T @ a + ridge * len(a) * np.eye(a.shape[1]), a.T @ np.eye(10)[y_train])
    return float((np.argmax(b @ w, 1) == y_test).mean())


learnt_threshold = lif.threshold[...]
cases = {
    "random": (k0, 1.0),  # the untrained network
    "stdp_weights": (layer.kernel[...], 1.0),  # learnt weights, thresholds back at 1
    "stdp": (layer.kernel[...], learnt_threshold),  # learnt weights and thresholds
}
for name, (kernel, threshold) in cases.items():
    acc = readout_accuracy(spike_counts(kernel, threshold, x_train), spike_counts(kernel, threshold, x_test))
    print(f"{name}: test accuracy {acc:.4f}")
# for scale: the same readout on the input's own spike counts (64 pixels, no hidden layer)
print(f"pixels: test accuracy {readout_accuracy(x_train.sum(0), x_test.sum(0)):.4f}")

# ## The receptive fields
fig, axes = plt.subplots(10, 10, figsize=(6, 6), layout="constrained")
kernel = np.asarray(layer.kernel[...])
for unit, ax in enumerate(axes.flat):
    ax.imshow(kernel[:, unit].reshape(8, 8), cmap="gray_r")
    ax.set_axis_off()
fig.suptitle("incoming weights of the 100 neurons after STDP")
fig.savefig(out / "fields.png", dpi=100)
plt.close(fig)
print(f"figure in {out}/: fields.png")
