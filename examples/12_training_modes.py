"""Training modes: whole epochs in one compiled program, truncated BPTT, and evolution where gradients fail.

``python examples/12_training_modes.py [OUT_DIR]`` (default ``12_training_modes_out``)
trains the digits network of example 02 four ways and prints what each reaches:

1. ``fit`` in its Python loop and ``fit(compiled=True)``, which runs every
   epoch's batches and the evaluation inside one ``jax.jit``. Both reach the same
   parameters; the compiled one does not return to Python between batches.
2. Truncated backpropagation through time, ``fit(tbptt=5)``: the 25 steps are
   cut into windows of 5, with one update per window.
3. A network of hard thresholds, whose spikes have no gradient at all (the
   surrogate derivative is zero), so gradient training cannot move it. An
   evolution strategy (``snnx.evolve.ES``, OpenES on evosax) trains it through
   the same ``fit`` call, because it never takes a gradient.

It writes ``OUT_DIR/curves.png``: test accuracy per epoch for each mode.
"""

import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

matplotlib.use("Agg")  # write files, open no windows
import matplotlib.pyplot as plt
import optax
from flax import nnx

import snnx
from snnx import losses, metrics
from snnx.train import fit

out = Path(sys.argv[1] if len(sys.argv) > 1 else "12_training_modes_out")
out.mkdir(parents=True, exist_ok=True)

(x_train, y_train), (x_test, y_test) = snnx.datasets.digits("rate", num_steps=25, seed=0)
common = {
    "batch_size": 32,
    "eval_data": (x_test, y_test),
    "eval_batch_size": 360,  # the whole test set in one batch
    "metrics": {"accuracy": metrics.max_membrane_accuracy},
    "progress": False,
}


def digits_model(surrogate="fast_sigmoid"):
    rngs = nnx.Rngs(0)
    return snnx.Sequential(
        nnx.Linear(64, 128, rngs=rngs),
        snnx.LIF(128, beta=0.9, surrogate=surrogate),
        nnx.Linear(128, 10, rngs=rngs),
        snnx.LI(10, beta=0.9),
    )


def params(model):
    return [np.asarray(p) for p in jax.tree.leaves(nnx.state(model, nnx.Param))]


curves = {}

# ## 1. The Python loop and the compiled loop
#
# The same seed gives the same batches in both (each epoch reshuffles with
# numpy's default_rng([seed, epoch])), and the update is the same function, so
# the two runs end at the same parameters, up to float rounding. `compiled=True`
# puts the data on the device once and runs all epochs in one program.
# Its history's first record says how long compiling took (`compile_s`).
# `time_s` is the time per epoch without it.
python_model, compiled_model = digits_model(), digits_model()
loss = losses.max_membrane_cross_entropy
python_history = fit(python_model, optax.adam(2e-3), loss, (x_train, y_train), epochs=3, **common)
compiled_history = fit(compiled_model, optax.adam(2e-3), loss, (x_train, y_train), epochs=3, compiled=True,
                       **common)  # fmt: skip
pairs = zip(params(python_model), params(compiled_model), strict=True)
gap = max(float(np.max(np.abs(a - b))) for a, b in pairs)
python_epoch = np.median([r["time_s"] for r in python_history[1:]])  # epoch 1 includes compiling
compiled_epoch = compiled_history[0]["time_s"]
python_accuracy = python_history[-1]["eval_accuracy"]
compiled_accuracy = compiled_history[-1]["eval_accuracy"]
print(f"Python loop: test accuracy {python_accuracy:.3f}, {python_epoch * 1e3:.0f} ms per epoch")
print(
    f"compiled:    test accuracy {compiled_accuracy:.3f}, {compiled_epoch * 1e3:.0f} ms per epoch "
    f"after {compiled_history[0]['compile_s']:.1f} s of compiling"
)
print(f"largest parameter difference between the two: {gap:.1e}")
curves["Python loop"] = [r["eval_accuracy"] for r in python_history]
curves["compiled"] = [r["eval_accuracy"] for r in compiled_history]

# ## 2. Truncated backpropagation through time
#
# With `tbptt=5`, each batch's 25 steps become five windows of 5 steps. The
# state carries on from window to window, but no gradient flows back across a
# window boundary, and each window makes its own update. The loss sees one
# window's readout at a time, so the peak of the readout membrane must be
# reached inside a window.
tbptt_model = digits_model()
tbptt_history = fit(tbptt_model, optax.adam(2e-3), loss, (x_train, y_train), epochs=3, tbptt=5, compiled=True,
                    **common)  # fmt: skip
print(f"truncated BPTT (windows of 5): test accuracy {tbptt_history[-1]['eval_accuracy']:.3f}")
curves["truncated BPTT, k = 5"] = [r["eval_accuracy"] for r in tbptt_history]


# ## 3. When there is no gradient: evolution
#
# Here both layers of neurons spike, and their spike function is a hard
# threshold: the surrogate is a constant, so its derivative is 0 everywhere.
# The readout is the spike count of ten output LIF neurons. The gradient of
# the loss with respect to every weight is then exactly zero, and gradient
# training cannot move the network at all.
#
# An evolution strategy needs only the loss. Each generation samples 64 weight
# vectors around the current centre, scores them on one batch, and moves the
# centre towards the better ones. The initial spread is a tenth of the weights'
# RMS. `fit` takes the strategy where it takes an optax optimizer.
def flat(x):
    return jnp.zeros_like(x)


def hard_threshold_model():
    zero = snnx.surrogate.custom(flat, name="zero")
    rngs = nnx.Rngs(0)
    return snnx.Sequential(
        nnx.Linear(64, 128, rngs=rngs),
        snnx.LIF(128, beta=0.9, surrogate=zero),
        nnx.Linear(128, 10, rngs=rngs),
        snnx.LIF(10, beta=0.9, surrogate=zero),
    )


count_loss = losses.spike_count_cross_entropy
hard = {**common, "metrics": {"accuracy": metrics.integral_accuracy}}
gradient_model = hard_threshold_model()
before = params(gradient_model)
gradient_history = fit(gradient_model, optax.adam(2e-3), count_loss, (x_train, y_train), epochs=1, **hard)
moved = max(float(np.max(np.abs(a - b))) for a, b in zip(before, params(gradient_model), strict=True))
print(
    f"hard thresholds, gradient: test accuracy {gradient_history[-1]['eval_accuracy']:.3f} "
    f"(the weights moved by {moved:.1e})"
)

evolved_model = hard_threshold_model()
start = time.perf_counter()
solver = snnx.evolve.ES("open_es", population_size=64)
es_history = fit(evolved_model, solver, count_loss, (x_train, y_train), epochs=5, **hard)
generations = len(es_history) * (x_train.shape[1] // 32)
print(
    f"hard thresholds, OpenES: test accuracy {es_history[-1]['eval_accuracy']:.3f} after "
    f"{generations} generations in {time.perf_counter() - start:.0f} s"
)
curves["hard thresholds, gradient"] = [r["eval_accuracy"] for r in gradient_history]
curves["hard thresholds, OpenES"] = [r["eval_accuracy"] for r in es_history]

# ## The curves
fig, ax = plt.subplots(figsize=(6.5, 4))
for label, accuracy in curves.items():
    ax.plot(range(1, len(accuracy) + 1), accuracy, marker="o", label=label)
ax.set_xlabel("epoch")
ax.set_ylabel("test accuracy")
ax.set_ylim(0, 1)
ax.legend()
fig.tight_layout()
fig.savefig(out / "curves.png", dpi=110)
print(f"wrote {out / 'curves.png'}")
