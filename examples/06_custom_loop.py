"""Write your own training loop with snnx's step builders, early stopping and checkpoints.

``python examples/06_custom_loop.py [OUT_DIR]`` (default ``06_custom_loop_out``)
trains the digits network of ``02_digits.py`` with a hand-written loop instead
of ``fit``: ``snnx.train.make_train_step`` and ``make_eval_step`` give the
compiled steps, an ``nnx.Optimizer`` holds Adam behind gradient clipping,
``numpy`` shuffles the batches, the loop stops early when the validation loss
stops improving, and ``snnx.train.Checkpointer`` keeps the best epoch in
``OUT_DIR/checkpoints``, restored at the end. It prints every epoch, the epoch
restored and the test accuracy, and saves ``OUT_DIR/curves.png``.

Use this when ``fit`` is not enough: a schedule that depends on the validation
score, several models or optimizers, your own logging.
"""

import shutil
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import optax
from flax import nnx

import snnx
from snnx import losses, metrics
from snnx.train import Checkpointer, make_eval_step, make_train_step

out = Path(sys.argv[1] if len(sys.argv) > 1 else "06_custom_loop_out")
out.mkdir(parents=True, exist_ok=True)

# ## Data: train, validation and test
#
# The digits again, rate-coded over 20 steps. Early stopping must not look at
# the test set, so 300 of the training digits become a validation set. Only 200
# digits are kept for training: a small training set overfits after a few
# epochs, which gives early stopping something to do.
(x_all, y_all), (x_test, y_test) = snnx.datasets.digits("rate", num_steps=20, seed=1)
x_train, y_train = x_all[:, :200], y_all[:200]
x_val, y_val = x_all[:, -300:], y_all[-300:]
print(f"train {x_train.shape[1]}, validation {x_val.shape[1]}, test {x_test.shape[1]} digits")

rngs = nnx.Rngs(0)
model = snnx.Sequential(
    nnx.Linear(64, 128, rngs=rngs),
    snnx.LIF(128, beta=0.9),
    nnx.Linear(128, 10, rngs=rngs),
    snnx.LI(10, beta=0.9),
)

# ## The optimizer: clip, then Adam
#
# `optax.chain` applies its transformations in order: the gradient is first
# rescaled so that its global norm is at most 1, then Adam makes the update.
# `nnx.Optimizer` ties the optax state to the model's `nnx.Param` variables
# (the neurons' beta and threshold are `Const`, so they are left alone).
optimizer = nnx.Optimizer(model, optax.chain(optax.clip_by_global_norm(1.0), optax.adam(5e-3)), wrt=nnx.Param)

# ## The steps
#
# `make_train_step` returns the compiled step that `fit` runs:
# `train_step(model, optimizer, x, y) -> (loss, metrics, grads_finite)`, which
# updates `model` and `optimizer` in place. `make_eval_step` returns
# `eval_step(model, x, y) -> (loss, metrics)` without an update. Both compile
# once per input shape, so every batch should have the same size.
accuracy = {"accuracy": metrics.max_membrane_accuracy}
train_step = make_train_step(losses.max_membrane_cross_entropy, metrics=accuracy)
eval_step = make_eval_step(losses.max_membrane_cross_entropy, metrics=accuracy)


def evaluate(x, y, batch_size=100):
    """Mean loss and accuracy over every sample, in fixed-size batches (len(y) % batch_size == 0)."""
    model.eval()  # no dropout here, but the habit matters
    results = [eval_step(model, x[:, i : i + batch_size], y[i : i + batch_size])
               for i in range(0, len(y), batch_size)]  # fmt: skip
    model.train()
    loss = float(np.mean([float(r[0]) for r in results]))
    return loss, float(np.mean([float(r[1]["accuracy"]) for r in results]))


# ## The loop
#
# Every epoch draws a new permutation from a seeded numpy generator, so the
# run is reproducible; the last incomplete batch is dropped (one compiled
# shape). After each epoch the validation loss decides: a new lowest loss is
# saved as a checkpoint (only the newest one is kept), and when the loss has not
# fallen by at least `min_delta` below the best for `patience` epochs, the loop stops.
batch_size, max_epochs, patience, min_delta = 25, 40, 3, 0.01
shutil.rmtree(out / "checkpoints", ignore_errors=True)  # a fresh run: no epochs left from an earlier one
checkpoints = Checkpointer(out / "checkpoints", max_to_keep=1)
shuffle = np.random.default_rng(0)
history, best_loss, best_epoch, progress_epoch = [], np.inf, -1, -1
for epoch in range(max_epochs):
    order = shuffle.permutation(len(y_train))
    sums = {"loss": 0.0, "accuracy": 0.0}
    batches = len(order) // batch_size
    for b in range(batches):
        idx = order[b * batch_size : (b + 1) * batch_size]
        loss, values, finite = train_step(model, optimizer, x_train[:, idx], y_train[idx])
        sums["loss"] += float(loss)
        sums["accuracy"] += float(values["accuracy"])
        if not bool(finite):
            raise FloatingPointError(f"non-finite gradient in epoch {epoch}, batch {b}")
    val_loss, val_acc = evaluate(x_val, y_val)
    history.append({"epoch": epoch, "loss": sums["loss"] / batches, "accuracy": sums["accuracy"] / batches,
                    "val_loss": val_loss, "val_accuracy": val_acc})  # fmt: skip
    if val_loss < best_loss - min_delta:
        progress_epoch = epoch
    improved = val_loss < best_loss
    if improved:
        best_loss, best_epoch = val_loss, epoch
        checkpoints.save(epoch, model, optimizer, seed=0, history=history)
    print(f"epoch {epoch}: loss {history[-1]['loss']:.3f}  validation loss {val_loss:.3f}  "
          f"validation accuracy {val_acc:.3f}{'  (best, saved)' if improved else ''}")  # fmt: skip
    if epoch - progress_epoch >= patience:
        print(f"early stop: the validation loss has not fallen by {min_delta} for {patience} epochs")
        break

# ## Back to the best epoch
#
# `restore` loads the saved weights (and the optimizer's state) into the model
# in place and returns the metadata saved with them.
last_loss, _ = evaluate(x_val, y_val)
meta = checkpoints.restore(model, optimizer)
checkpoints.close()
restored_loss, _ = evaluate(x_val, y_val)
print(f"restored epoch {meta['epoch']} (validation loss {restored_loss:.3f}; last epoch {last_loss:.3f})")
test_loss, test_acc = evaluate(x_test, y_test, batch_size=120)
print(f"test accuracy: {test_acc:.4f} (loss {test_loss:.3f}, 360 held-out digits)")

fig, ax = plt.subplots(figsize=(5, 3), layout="constrained")
ax.plot([r["epoch"] for r in history], [r["loss"] for r in history], marker="o", label="train")
ax.plot([r["epoch"] for r in history], [r["val_loss"] for r in history], marker="s", label="validation")
ax.axvline(best_epoch, color="0.5", linestyle="--", label=f"best (epoch {best_epoch})")
ax.set(xlabel="epoch", ylabel="loss")
ax.legend()
fig.savefig(out / "curves.png", dpi=100)
plt.close(fig)
print(f"checkpoint and curves.png in {out}/")
