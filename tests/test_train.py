"""``snnx.train.fit``: learning, shuffling, data validation, NaN handling."""

from __future__ import annotations

import jax
import numpy as np
import optax
import pytest
from flax import nnx

from snnx import losses, metrics
from snnx.engine import Sequential, run
from snnx.neurons import LI, LIF
from snnx.train import TrainingDivergedError, evaluate, fit
from snnx.train._data import epoch_rng


def toy_data(n=96, t=8, d=6, seed=0):
    """Two classes; class c drives inputs of half c with rate 0.6, the rest with 0.05."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(np.int32)
    p = np.full((n, d), 0.05)
    p[y == 0, : d // 2] = 0.6
    p[y == 1, d // 2 :] = 0.6
    x = (rng.random((t, n, d)) < p).astype(np.float32)
    return x, y


def tiny_model(seed=0, d=6, h=16, c=2):
    rngs = nnx.Rngs(seed)
    return Sequential(nnx.Linear(d, h, rngs=rngs), LIF(h), nnx.Linear(h, c, rngs=rngs), LI(c))


ACC = {"accuracy": metrics.max_membrane_accuracy}


@pytest.mark.slow
def test_fit_lowers_loss_and_beats_chance():
    x, y = toy_data()
    model = tiny_model()
    history = fit(
        model,
        optax.adam(2e-2),
        losses.max_membrane_cross_entropy,
        (x, y),
        epochs=6,
        batch_size=32,
        eval_data=toy_data(seed=1),
        metrics=ACC,
        progress=False,
    )
    assert [r["epoch"] for r in history] == list(range(1, 7))
    assert history[-1]["loss"] < 0.6 * history[0]["loss"]
    assert history[-1]["eval_accuracy"] > 0.85  # chance is 0.5
    assert {"loss", "accuracy", "eval_loss", "eval_accuracy", "time_s", "samples_per_s"} <= set(history[-1])
    scores = evaluate(model, losses.max_membrane_cross_entropy, toy_data(seed=1), batch_size=40, metrics=ACC)
    assert scores["accuracy"] == pytest.approx(history[-1]["eval_accuracy"], abs=1e-6)


def test_fit_accepts_nnx_optimizer_and_batch_factory():
    x, y = toy_data()
    model = tiny_model()
    opt = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    seen = []

    def batches(epoch):
        seen.append(epoch)
        return [(x[:, :48], y[:48]), (x[:, 48:], y[48:])]

    history = fit(model, opt, losses.max_membrane_cross_entropy, batches, epochs=2, progress=True)  # rich
    assert seen == [0, 1] and len(history) == 2
    assert int(opt.step[...]) == 4


def test_shuffling_depends_only_on_seed_and_epoch():
    a = epoch_rng(3, 5).permutation(10)
    assert np.array_equal(a, epoch_rng(3, 5).permutation(10))
    assert not np.array_equal(a, epoch_rng(3, 6).permutation(10))


def test_plain_progress_lines(capsys):
    x, y = toy_data(n=32)
    fit(tiny_model(), optax.adam(1e-2), losses.max_membrane_cross_entropy, (x, y), epochs=2, batch_size=16)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2  loss ") and lines[0].endswith("/s")


def test_nan_stops_and_names_epoch_and_step(tmp_path):
    x, y = toy_data(n=64)

    def forward(model, xb):  # a NaN input value poisons the outputs (and so the loss)
        return run(model, xb)[0] + 0.0 * xb[0, 0, 0]

    def batches(epoch):  # finite in epoch 1, NaN at epoch 2, step 2
        for i in range(2):
            xb = x[:, i * 32 : (i + 1) * 32].copy()
            if epoch == 1 and i == 1:
                xb[0, 0, 0] = np.nan
            yield xb, y[i * 32 : (i + 1) * 32]

    model = tiny_model()
    with pytest.raises(
        TrainingDivergedError, match=r"epoch 2, step 2.*last good checkpoint \(epoch 1\)"
    ) as err:
        fit(
            model,
            optax.adam(1e-2),
            losses.max_membrane_cross_entropy,
            batches,
            epochs=3,
            checkpoint_dir=tmp_path / "ck",
            forward=forward,
            progress=False,
        )
    assert (err.value.epoch, err.value.step, err.value.last_checkpoint) == (2, 2, 0)
    from snnx.train import Checkpointer

    with Checkpointer(tmp_path / "ck") as ckpt:
        assert ckpt.all_epochs() == [0]
        restored = tiny_model(seed=5)
        meta = ckpt.restore(restored)
    assert meta["epoch"] == 0 and len(meta["history"]) == 1
    leaves = jax.tree.leaves(nnx.state(restored, nnx.Param))
    assert all(np.isfinite(leaf).all() for leaf in leaves)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"epochs": -1}, ValueError, r"`epochs` must be >= 0, got -1"),
        ({"epochs": 1, "batch_size": 1000}, ValueError, r"`batch_size` \(1000\) must not exceed .* \(96\)"),
        ({"epochs": 1, "batch_size": 0}, ValueError, r"`batch_size` must be >= 1"),
        ({"epochs": 1.5}, TypeError, r"`epochs` must be an int"),
        (
            {"epochs": 1, "batch_size": 8, "resume": True},
            ValueError,
            r"`resume=True` needs a `checkpoint_dir`",
        ),
        (
            {"epochs": 1, "batch_size": 8, "metrics": {"loss": metrics.max_membrane_accuracy}},
            ValueError,
            r"reserved",
        ),
    ],
)
def test_bad_arguments(kwargs, error, match):
    x, y = toy_data()
    with pytest.raises(error, match=match):
        fit(
            tiny_model(),
            optax.adam(1e-2),
            losses.max_membrane_cross_entropy,
            (x, y),
            progress=False,
            **kwargs,
        )


def test_bad_data_and_optimizer():
    x, y = toy_data()
    loss = losses.max_membrane_cross_entropy
    with pytest.raises(ValueError, match=r"N=96 samples .* y has shape \(95,\)"):
        fit(tiny_model(), optax.adam(1e-2), loss, (x, y[:-1]), epochs=1, progress=False)
    with pytest.raises(TypeError, match=r"`train_data` must be a pair"):
        fit(tiny_model(), optax.adam(1e-2), loss, x, epochs=1, progress=False)
    with pytest.raises(TypeError, match=r"`optimizer` must be an optax.GradientTransformation"):
        fit(tiny_model(), "adam", loss, (x, y), epochs=1, batch_size=32, progress=False)
    with pytest.raises(ValueError, match=r"`loss_fn` must return a scalar"):
        fit(
            tiny_model(),
            optax.adam(1e-2),
            lambda o, t: o.max(0),
            (x, y),
            epochs=1,
            batch_size=32,
            progress=False,
        )


def test_packed_input_matches_unpacked():
    from snnx.encoders import pack_spikes

    x, y = toy_data(n=64, t=11)
    packed = np.asarray(pack_spikes(x, axis=0))
    runs = []
    for data, num_steps in (((x, y), None), ((packed, y), 11)):
        model = tiny_model()
        fit(
            model,
            optax.adam(1e-2),
            losses.max_membrane_cross_entropy,
            data,
            epochs=1,
            batch_size=32,
            num_steps=num_steps,
            progress=False,
        )
        runs.append(np.asarray(model[0].kernel[...]))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_public_placement_runs_a_custom_forward_per_device():
    # docs/scaling.md: a custom forward= gets the per-device forward through snnx.train.Placement.
    import jax.numpy as jnp
    from jax.sharding import AxisType

    from snnx.train import Placement

    x, _ = toy_data(n=4)
    model = tiny_model()
    placement = Placement(jax.make_mesh((1,), ("data",), axis_types=(AxisType.Explicit,)))
    assert placement.mesh.axis_types == (AxisType.Auto,)  # rebuilt as fit does

    def forward(m, batch):  # per sample and step, as a feed-forward run is (kept small for speed)
        return m[0](batch)

    sharded = placement.per_device(forward, model)
    np.testing.assert_allclose(sharded(model, jnp.asarray(x)), forward(model, jnp.asarray(x)), atol=1e-6)
    assert Placement(1).mesh.shape == {"data": 1}
