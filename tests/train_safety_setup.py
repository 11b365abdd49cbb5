"""The small training job shared by ``test_train_safety.py`` and its signal worker process."""

from __future__ import annotations

import jax
import numpy as np
import optax
from flax import nnx

from snnx import losses
from snnx.engine import Sequential
from snnx.neurons import LI, LIF

EPOCHS, STEPS, T, B, D, C = 3, 6, 5, 4, 3, 2


def make_run(seed: int = 0):
    """(model, optimizer, loss_fn, batches) where ``batches(epoch)`` depends on ``epoch`` only."""
    model = Sequential(
        nnx.Linear(D, 8, rngs=nnx.Rngs(seed)), LIF(8, 0.8), nnx.Linear(8, C, rngs=nnx.Rngs(1)), LI(C, 0.9)
    )
    optimizer = optax.adam(1e-2)

    def batches(epoch):
        rng = np.random.default_rng([seed, epoch])
        for _ in range(STEPS):
            x = rng.uniform(0, 2, size=(T, B, D)).astype(np.float32)
            yield x, rng.integers(0, C, size=(B,)).astype(np.int32)

    return model, optimizer, losses.max_membrane_cross_entropy, batches


def params(model) -> dict:
    flat, _ = jax.tree_util.tree_flatten_with_path(nnx.to_pure_dict(nnx.state(model, nnx.Param)))
    return {jax.tree_util.keystr(k): np.asarray(v) for k, v in flat}


def without_times(history):
    return [{k: v for k, v in r.items() if k not in ("time_s", "samples_per_s")} for r in history]
