"""``fit(..., compiled=True)``: whole epochs in one ``jax.jit``, checked against the Python-loop ``fit``.

The Python loop is the reference: the same seed must give the same parameters and
history (float rounding aside), with the same per-epoch reshuffle.
"""

from __future__ import annotations

import jax
import numpy as np
import optax
import pytest
from flax import nnx

from snnx import losses, metrics
from snnx.engine import Sequential
from snnx.neurons import LI, LIF
from snnx.train import TrainingDivergedError, _compiled, fit
from snnx.train._data import epoch_rng

T, D, H, C = 8, 6, 16, 3
ACC = {"accuracy": metrics.max_membrane_accuracy}


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.random((T, n, D)) < 0.3).astype(np.float32)
    return x, rng.integers(0, C, n).astype(np.int32)


def model(dropout=False):
    rngs = nnx.Rngs(0)
    layers = [nnx.Linear(D, H, rngs=rngs), LIF(H), nnx.Linear(H, C, rngs=rngs), LI(C)]
    if dropout:
        layers.insert(2, nnx.Dropout(0.2, rngs=nnx.Rngs(dropout=3)))
    return Sequential(*layers)


def params(m):
    return [np.asarray(p) for p in jax.tree.leaves(nnx.state(m, nnx.Param))]


def max_diff(a, b):
    return max(float(np.max(np.abs(u - v))) for u, v in zip(params(a), params(b), strict=True))


def train(compiled, m=None, **kw):
    m = model() if m is None else m
    kw = {"epochs": 3, "batch_size": 8, "progress": False, "metrics": ACC, **kw}
    history = fit(m, optax.adam(1e-2), losses.max_membrane_cross_entropy, data(44), compiled=compiled, **kw)
    return m, history


def same_history(h1, h2, tol=1e-5):
    assert [r["epoch"] for r in h1] == [r["epoch"] for r in h2]
    for r1, r2 in zip(h1, h2, strict=True):
        keys = set(r1) - {"time_s", "samples_per_s", "compile_s"}
        assert keys == set(r2) - {"time_s", "samples_per_s", "compile_s"}
        for k in keys:
            assert abs(r1[k] - r2[k]) <= tol * max(1.0, abs(r1[k])), (r1["epoch"], k, r1[k], r2[k])


def test_same_parameters_and_history_as_the_python_loop():
    eval_data = data(13, seed=1)  # 13 = one batch of 8 and a remainder of 5
    py, h_py = train(False, eval_data=eval_data)
    comp, h_comp = train(True, eval_data=eval_data)
    assert max_diff(py, comp) <= 1e-5
    same_history(h_py, h_comp)
    assert list(h_comp[0])[: len(h_py[0]) - 2] == list(h_py[0])[:-2]  # same keys, same order
    assert h_comp[0]["compile_s"] > 0 and "compile_s" not in h_comp[1]
    # the run trained: the epochs differ (no frozen state, reshuffled batches)
    assert h_comp[0]["loss"] != h_comp[2]["loss"]


@pytest.mark.slow  # compiles several programs; the quick tier keeps a cheaper check
def test_reshuffles_every_epoch_from_seed_and_epoch():
    # an epoch's batches follow epoch_rng(seed, epoch): with batch_size = N there is one batch per epoch,
    # so only the order inside it could differ; with batch_size < N, different seeds give different weights
    a, _ = train(True, seed=0)
    b, _ = train(True, seed=1)
    assert max_diff(a, b) > 1e-4
    orders = [epoch_rng(0, e).permutation(44) for e in range(2)]
    assert not np.array_equal(orders[0], orders[1])
    # a two-epoch compiled run equals two one-epoch Python-loop fits only if epoch 2 used epoch_rng(0, 1)
    c, _ = train(True, epochs=2)
    d, _ = train(False, epochs=2)
    assert max_diff(c, d) <= 1e-5


@pytest.mark.slow  # compiles several programs; the quick tier keeps a cheaper check
def test_dropout_and_recorded_activity_match_the_python_loop():
    def loss(outputs, targets, activity):
        return losses.max_membrane_cross_entropy(outputs, targets) + losses.sparsity_penalty(activity, 0.05)

    kw = {"record": "spikes", "metrics": None}
    m_py = model(dropout=True)
    h_py = fit(m_py, optax.adam(1e-2), loss, data(44), epochs=2, batch_size=8, progress=False, **kw)
    m_c = model(dropout=True)
    h_c = fit(m_c, optax.adam(1e-2), loss, data(44), epochs=2, batch_size=8, progress=False, compiled=True,
              **kw)  # fmt: skip
    assert max_diff(m_py, m_c) <= 1e-5
    same_history(h_py, h_c)
    assert 0 < h_c[0]["rate/1"] < 1


@pytest.mark.slow  # compiles several programs; the quick tier keeps a cheaper check
@pytest.mark.parametrize("chunk", [2])
def test_checkpoints_between_chunks_and_resumes_exactly(tmp_path, chunk):
    whole, h_whole = train(True, epochs=4, checkpoint_dir=tmp_path / "whole", chunk_epochs=chunk)
    train(True, epochs=2, checkpoint_dir=tmp_path / "split", chunk_epochs=chunk)
    resumed, h_resumed = train(True, epochs=4, checkpoint_dir=tmp_path / "split", chunk_epochs=chunk,
                               resume=True)  # fmt: skip
    for u, v in zip(params(whole), params(resumed), strict=True):
        np.testing.assert_array_equal(u, v)
    assert [r["epoch"] for r in h_resumed] == [1, 2, 3, 4]
    same_history(h_whole, h_resumed, tol=0)
    # a chunk of 2 writes checkpoints after epochs 2 and 4 only (orbax keeps the latest three)
    saved = sorted(p.name for p in (tmp_path / "whole").iterdir() if p.name.isdigit())
    assert saved == ["1", "3"]


@pytest.mark.slow  # compiles several programs; the quick tier keeps a cheaper check
def test_python_loop_checkpoint_resumes_compiled_exactly(tmp_path):
    whole, _ = train(False, epochs=3)
    train(False, epochs=1, checkpoint_dir=tmp_path)
    resumed, _ = train(True, epochs=3, checkpoint_dir=tmp_path, resume=True)
    assert max_diff(whole, resumed) <= 1e-5


def first_batch_with(sample, n, batch_size, epochs, seed=0):
    """(1-based epoch, 1-based step) of the first training batch holding ``sample``: numpy, from the
    documented order ``default_rng([seed, epoch]).permutation(n)`` with the remainder dropped."""
    for epoch in range(epochs):
        order = np.random.default_rng([seed, epoch]).permutation(n)[: n - n % batch_size]
        where = np.flatnonzero(order == sample)
        if where.size:
            return epoch + 1, int(where[0]) // batch_size + 1
    raise AssertionError("the sample is never used")


@pytest.mark.parametrize("bad_sample", [30])
def test_non_finite_step_stops_with_its_epoch_and_step_and_keeps_the_last_good_state(bad_sample):
    x, y = data(44)
    x[:, bad_sample] = np.nan
    m = model()
    with pytest.raises(TrainingDivergedError, match=r"(not finite|is nan) at epoch") as err:
        fit(m, optax.adam(1e-2), losses.max_membrane_cross_entropy, (x, y), epochs=3, batch_size=8,
            progress=False, compiled=True)  # fmt: skip
    assert (err.value.epoch, err.value.step) == first_batch_with(bad_sample, 44, 8, 3)
    assert all(np.all(np.isfinite(p)) for p in params(m))  # the state from before the bad step
    # ... which is where the Python loop stands after the same good steps
    epoch, step = err.value.epoch, err.value.step
    ref = model()
    good = [(e, s) for e in range(epoch) for s in range(5) if (e + 1, s + 1) < (epoch, step)]
    if good:
        def batches(e):
            order = np.random.default_rng([0, e]).permutation(44)[:40].reshape(5, 8)
            return [(x[:, order[s]], y[order[s]]) for ee, s in good if ee == e]

        fit(ref, optax.adam(1e-2), losses.max_membrane_cross_entropy, batches, epochs=epoch, progress=False)
        assert max_diff(ref, m) <= 1e-5
    else:
        assert max_diff(ref, m) == 0


def test_callback_stops_after_the_chunk():
    seen = []
    stop = [lambda r, m: seen.append(r["epoch"]) or True]
    _, history = train(True, epochs=5, chunk_epochs=2, callbacks=stop)
    assert seen == [1, 2] and [r["epoch"] for r in history] == [1, 2]


def test_refuses_what_it_cannot_hold():
    with pytest.raises(TypeError, match="compiled=True needs `train_data` as arrays"):
        fit(model(), optax.adam(1e-2), losses.max_membrane_cross_entropy, lambda epoch: [data(8)], epochs=1,
            progress=False, compiled=True)  # fmt: skip
    with pytest.raises(TypeError, match="compiled=True needs `eval_data` as arrays"):
        train(True, eval_data=lambda epoch: [data(8)])
    with pytest.raises(ValueError, match=r"`chunk_epochs` \(2\) is for compiled=True"):
        train(False, chunk_epochs=2)
    with pytest.raises(ValueError, match="`chunk_epochs` must be >= 1"):
        train(True, chunk_epochs=0)
    with pytest.raises(TypeError, match="`compiled` must be a bool"):
        train("yes")


def test_dataset_larger_than_the_device_is_refused_with_its_size(monkeypatch):
    monkeypatch.setattr(_compiled, "device_memory_bytes", lambda device: 10_000)
    x, y = data(44)
    size = x.nbytes + y.nbytes
    with pytest.raises(ValueError, match=rf"{size / 1024:.1f} KiB, more than 50% of .* use compiled=False"):
        train(True)


def test_device_memory_of_the_cpu_is_the_host_ram():
    limit = _compiled.device_memory_bytes(jax.devices("cpu")[0])
    assert limit is None or limit > 2**20
