"""Checkpoints: resume is bit-identical to an uninterrupted run; keys and errors."""

from __future__ import annotations

import jax
import numpy as np
import optax
import pytest
from flax import nnx

from snnx import losses
from snnx.engine import Sequential
from snnx.neurons import LI, LIF
from snnx.train import Checkpointer, fit, restore


def toy_data(n=64, t=6, d=5, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n).astype(np.int32)
    x = (rng.random((t, n, d)) < 0.2 + 0.2 * (np.arange(d) % 3 == y[:, None])).astype(np.float32)
    return x, y


def make_model():
    rngs = nnx.Rngs(1)
    return Sequential(nnx.Linear(5, 12, rngs=rngs), LIF(12), nnx.Linear(12, 3, rngs=rngs), LI(3))


def params(model):
    return [np.asarray(leaf) for leaf in jax.tree.leaves(nnx.state(model, nnx.Param))]


def train(model, epochs, ckpt=None, resume=False, seed=7):
    return fit(
        model,
        optax.adam(1e-2),
        losses.max_membrane_cross_entropy,
        toy_data(),
        epochs=epochs,
        batch_size=24,
        eval_data=toy_data(seed=1),
        checkpoint_dir=ckpt,
        resume=resume,
        seed=seed,
        progress=False,
    )


@pytest.mark.slow  # three fits, each compiled anew
def test_resume_is_bit_identical_to_uninterrupted(tmp_path):
    full = make_model()
    history_full = train(full, 4)

    first = make_model()
    train(first, 2, tmp_path / "ck")
    resumed = make_model()  # fresh process state: the checkpoint restores everything
    history = train(resumed, 4, tmp_path / "ck", resume=True)

    for a, b in zip(params(full), params(resumed), strict=True):
        np.testing.assert_array_equal(a, b)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert [r["loss"] for r in history] == [r["loss"] for r in history_full]
    assert Checkpointer(tmp_path / "ck").latest_epoch() == 3


@pytest.mark.slow  # a few seconds of compiling; the quick tier has smaller cases
def test_resume_without_checkpoint_starts_fresh_and_finished_run_is_noop(tmp_path):
    model = make_model()
    assert len(train(model, 1, tmp_path / "ck", resume=True)) == 1
    before = params(model)
    again = make_model()
    assert len(train(again, 1, tmp_path / "ck", resume=True)) == 1  # nothing left to do
    for a, b in zip(before, params(again), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow  # one of the quick tier's longest (it compiles many programs)
def test_existing_checkpoints_need_resume_and_same_seed(tmp_path):
    train(make_model(), 1, tmp_path / "ck")
    with pytest.raises(ValueError, match=r"already holds checkpoints .* resume=True"):
        train(make_model(), 2, tmp_path / "ck")
    with pytest.raises(ValueError, match=r"`seed` \(8\) differs .* \(7\)"):
        train(make_model(), 2, tmp_path / "ck", resume=True, seed=8)


def test_restore_round_trips_rng_keys_and_optimizer(tmp_path):
    class Noisy(nnx.Module):
        def __init__(self):
            self.lin = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
            self.rngs = nnx.Rngs(dropout=5)

    model = Noisy()
    opt = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    model.rngs.dropout()  # advance the key counter
    with Checkpointer(tmp_path / "ck") as ckpt:
        ckpt.save(0, model, opt, seed=3, history=[{"epoch": 1, "loss": 1.0}])
    other = Noisy()
    other.lin.kernel[...] = other.lin.kernel[...] * 0
    other_opt = nnx.Optimizer(other, optax.adam(1e-3), wrt=nnx.Param)
    meta = restore(tmp_path / "ck", other, other_opt)
    assert meta["seed"] == 3 and meta["history"] == [{"epoch": 1, "loss": 1.0}]
    np.testing.assert_array_equal(other.lin.kernel[...], model.lin.kernel[...])
    assert int(other.rngs.dropout.count[...]) == int(model.rngs.dropout.count[...]) == 1
    np.testing.assert_array_equal(
        jax.random.key_data(other.rngs.dropout.key[...]), jax.random.key_data(model.rngs.dropout.key[...])
    )
    with pytest.raises(FileNotFoundError, match="does not exist"):
        restore(tmp_path / "missing", other)
