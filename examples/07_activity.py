"""Look inside a spiking network: train with activity regularisation, count its cost, plot its spikes.

``python examples/07_activity.py [OUT_DIR]`` (default ``activity_out``) trains the
same small network twice on synthetic spike data, once plainly and once with a
sparsity penalty on the recorded hidden spikes, prints the hidden firing rates
and NeuroBench's cost table for both, and saves the figures of the regularised
one to ``OUT_DIR``: raster.png, traces.png, rates.png, io.png, hidden.gif.
See docs/activity.md, docs/stats.md and docs/plots.md.
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

out = Path(sys.argv[1] if len(sys.argv) > 1 else "activity_out")
out.mkdir(parents=True, exist_ok=True)

# 512 samples, 40 steps, 20 inputs: class c fires more on inputs 5c .. 5c+4
rng = np.random.default_rng(0)
y = rng.integers(0, 4, 512)
rates = np.where(np.arange(20) // 5 == y[:, None], 0.3, 0.05)
x = (rng.random((40, 512, 20)) < rates).astype(np.float32)  # time-major (T, N, inputs)
train, test = (x[:, :384], y[:384]), (x[:, 384:], y[384:])


def build():
    r = nnx.Rngs(0)
    return snnx.Sequential(nnx.Linear(20, 64, rngs=r), snnx.LIF(64, beta=0.9),
                           nnx.Linear(64, 4, rngs=r), snnx.LI(4, beta=0.9))  # fmt: skip


def train_with(weight):
    """Cross-entropy plus `weight` times a sparsity penalty on the hidden spikes (rate above 0.02)."""

    def loss_fn(outputs, targets, activity):
        ce = losses.max_membrane_cross_entropy(outputs, targets)
        return ce + weight * losses.sparsity_penalty(activity, 0.02)

    model = build()
    accuracy = {"accuracy": metrics.max_membrane_accuracy}
    history = fit(model, optax.adam(5e-3), loss_fn, train, epochs=15, batch_size=32, eval_data=test,
                  metrics=accuracy, record="spikes", progress=False)  # fmt: skip
    return model, history[-1]


for name, weight in (("plain", 0.0), ("regularised", 100.0)):
    model, last = train_with(weight)
    rate = last["eval_rate/1"]  # spikes per hidden neuron per step, on the test set
    print(f"{name}: test accuracy {last['eval_accuracy']:.3f}, hidden rate {rate:.4f} spikes/step")
    report = snnx.stats.measure(model, jnp.asarray(test[0]))
    print(report.table())

# Figures of the regularised model on the test set
_, _, rec = snnx.run(model, jnp.asarray(test[0]), record="spikes", record_states=snnx.LI)
figures = {
    "raster.png": snnx.plot.raster(rec, sample=0, sort_by_rate=True)[0],
    "traces.png": snnx.plot.traces(rec.states["3"]["v"], sample=0, neurons=[0, 1, 2, 3])[0],
    "rates.png": snnx.plot.rate_histogram(rec)[0],
    "io.png": snnx.plot.input_output(test[0], rec.outputs["1"], sample=0)[0],
}
for filename, fig in figures.items():
    fig.savefig(out / filename, dpi=100)
    plt.close(fig)
snnx.plot.animate(rec.outputs["1"], out / "hidden.gif", sample=0, shape=(8, 8), fps=10)
print(f"figures in {out}/: {', '.join([*figures, 'hidden.gif'])}")
