"""snnx.datasets.Loader: grain batches in fit's order, per-process shards, workers, resumption, errors;
HeidelbergSource streaming the real file layout, and bad files named in errors."""

from __future__ import annotations

import os
import pickle
import signal

import h5py
import numpy as np
import optax
import pytest

from snnx import datasets, losses
from snnx.datasets import ArraySource, HeidelbergSource, Loader
from snnx.train import evaluate, fit
from test_datasets import write_heidelberg
from test_train import tiny_model, toy_data


def packed_source(n=203, t=20, d=7, seed=0):
    rng = np.random.default_rng(seed)
    spikes = (rng.random((t, n, d)) < 0.3).astype(np.uint8)
    labels = rng.integers(0, 5, n)
    return spikes, labels, ArraySource(np.packbits(spikes, axis=0), labels, num_steps=t)


def expected_batches(n, batch_size, *, seed, epoch, index=0, count=1, shuffle=True):
    """Independently: numpy's permutation of (seed, epoch), every count-th entry, equal shards, whole
    batches."""
    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    part = order[index::count]
    if shuffle:
        part = part[: n // count]
        part = part[: len(part) - len(part) % batch_size]
    return [part[i : i + batch_size] for i in range(0, len(part), batch_size)]


def test_batches_follow_seed_and_epoch_and_stay_packed():
    spikes, labels, source = packed_source()
    loader = Loader(source, 32, seed=4, workers=0)
    assert len(loader) == 6 and loader.num_steps == 20 and loader.num_samples == 192
    for epoch in (0, 1, 5):
        got = list(loader(epoch))
        want = expected_batches(203, 32, seed=4, epoch=epoch)
        assert len(got) == len(want) == 6
        for (x, y), idx in zip(got, want, strict=True):
            assert x.dtype == np.uint8 and x.shape == (3, 32, 7)  # ceil(20/8) bytes per step group
            np.testing.assert_array_equal(np.unpackbits(x, axis=0, count=20), spikes[:, idx])
            np.testing.assert_array_equal(y, labels[idx])
    assert not np.array_equal(next(iter(loader(0)))[1], next(iter(loader(1)))[1])  # reshuffled every epoch


def test_workers_give_the_same_batches_and_resume_inside_an_epoch():
    spikes, labels, source = packed_source(n=150)
    plain = Loader(source, 16, seed=2)
    with Loader(source, 16, seed=2, workers=2, buffer=1) as loader:
        loader.plan_epochs(2)  # one set of workers for epochs 0 and 1 (fit plans its epochs)
        for epoch in (0, 1):  # the second epoch continues the running workers
            for (xa, ya), (xb, yb) in zip(loader(epoch), plain(epoch), strict=True):
                np.testing.assert_array_equal(xa, xb)
                np.testing.assert_array_equal(ya, yb)
    resumed = list(plain(3, start=5))  # a fresh pipeline from epoch 3, batch 5
    assert len(resumed) == len(plain) - 5
    for (xa, ya), idx in zip(resumed, expected_batches(150, 16, seed=2, epoch=3)[5:], strict=True):
        np.testing.assert_array_equal(ya, labels[idx])
        np.testing.assert_array_equal(np.unpackbits(xa, axis=0, count=20), spikes[:, idx])
    x, y = plain.arrays()  # the in-memory path: every sample, in order
    np.testing.assert_array_equal(np.unpackbits(x, axis=0, count=20), spikes)
    np.testing.assert_array_equal(y, labels)


@pytest.mark.parametrize("count", [2, 3])
def test_process_shards_are_disjoint_and_equal(count):
    _, labels, source = packed_source(n=100)
    seen = []
    for index in range(count):
        loader = Loader(source, 8, seed=1, process_index=index, process_count=count)
        assert len(loader) == (100 // count) // 8  # every process takes the same number of steps
        batches = [y for _, y in loader(2)]
        want = expected_batches(100, 8, seed=1, epoch=2, index=index, count=count)
        for y, idx in zip(batches, want, strict=True):
            np.testing.assert_array_equal(y, labels[idx])
        seen.extend(np.concatenate(want).tolist())
    assert len(seen) == len(set(seen))  # no sample on two processes


def test_unshuffled_keeps_order_and_every_sample():
    _, labels, source = packed_source(n=70)
    loader = Loader(source, 32, shuffle=False, process_index=1, process_count=2)
    assert len(loader) == 2  # 35 samples: 32 + 3, the remainder kept
    got = list(loader(0))
    assert [len(y) for _, y in got] == [32, 3]
    np.testing.assert_array_equal(np.concatenate([y for _, y in got]), labels[1::2])
    again = list(loader(7))  # any epoch: the same batches
    np.testing.assert_array_equal(again[1][0], got[1][0])


@pytest.mark.slow  # two short trainings
def test_fit_on_a_loader_equals_fit_on_arrays():
    x, y = toy_data(n=100, t=11)
    packed = np.packbits(x.astype(np.uint8), axis=0)
    runs = []
    for data, num_steps in (
        ((x, y), None),
        (Loader(ArraySource(packed, y, num_steps=11), 32, seed=3), None),  # the loader brings T = 11
    ):
        model = tiny_model()
        history = fit(
            model, optax.adam(1e-2), losses.max_membrane_cross_entropy, data,
            epochs=2, batch_size=32, seed=3, num_steps=num_steps, progress=False,
        )  # fmt: skip
        runs.append((np.asarray(model[0].kernel[...]), [h["loss"] for h in history]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    eval_loader = Loader(ArraySource(packed, y, num_steps=11), 40, shuffle=False)
    on_arrays = evaluate(model, losses.max_membrane_cross_entropy, (x, y), batch_size=40)
    on_loader = evaluate(model, losses.max_membrane_cross_entropy, eval_loader)
    assert on_loader["loss"] == pytest.approx(on_arrays["loss"], rel=1e-6)


def test_loader_and_fit_argument_errors():
    source = packed_source(n=10)[2]
    with pytest.raises(TypeError, match=r"`source` must support len\(source\) and source\[i\]"):
        Loader(object(), 4)
    with pytest.raises(ValueError, match=r"`source` empty\.h5 is empty"):
        Loader(ArraySource(np.zeros((3, 0)), np.zeros(0), description="empty.h5"), 4)
    with pytest.raises(ValueError, match=r"`batch_size` \(11\) must not exceed the 10 samples"):
        Loader(source, 11)
    with pytest.raises(ValueError, match=r"`process_index` must be in \[0, process_count=2\), got 2"):
        Loader(source, 2, process_index=2, process_count=2)
    with pytest.raises(ValueError, match=r"`workers` must be >= 0, got -1"):
        Loader(source, 2, workers=-1)
    with pytest.raises(ValueError, match=r"`epochs` must be >= 0, got -1"):
        Loader(source, 2).plan_epochs(-1)
    with pytest.raises(ValueError, match=r"`start` must be <= the 5 batches of an epoch, got 6"):
        Loader(source, 2)(0, start=6)
    with pytest.raises(ValueError, match=r"`x` must be bit-packed uint8 with ceil\(20/8\) = 3 rows"):
        ArraySource(np.zeros((20, 4, 2), np.uint8), np.zeros(4), num_steps=20)
    loader = Loader(source, 2)
    with pytest.raises(ValueError, match=r"`num_steps` \(12\) disagrees with `train_data`.*num_steps=20"):
        fit(tiny_model(d=7), optax.adam(1e-2), losses.max_membrane_cross_entropy, loader, epochs=1,
            num_steps=12)  # fmt: skip
    with pytest.raises(ValueError, match=r"`steps_per_epoch` \(3\) disagrees with `train_data`.* 5 batches"):
        fit(tiny_model(d=7), optax.adam(1e-2), losses.max_membrane_cross_entropy, loader, epochs=1,
            steps_per_epoch=3)  # fmt: skip


# --- HeidelbergSource: the real file layout, streamed ----------------------------------------------


def heidelberg_file(path, n=12, seed=0, labels=None):
    rng = np.random.default_rng(seed)
    times = [np.sort(rng.random(rng.integers(0, 30)) * 1.2) for _ in range(n)]
    units = [rng.integers(0, 700, len(t)) for t in times]
    labels = rng.integers(0, 20, n) if labels is None else labels
    write_heidelberg(path, times, units, labels)
    return times, units, labels


def numpy_raster(times, units, num_steps, window, num_units):
    """Independently: a spike at t in [0, window) lands in bin floor(t T / window), channel u C // 700."""
    out = np.zeros((num_steps, num_units), np.uint8)
    for t, u in zip(times, units, strict=True):
        if 0 <= t < window:
            out[int(np.float64(t) * num_steps / window), u * num_units // 700] = 1
    return out


def test_heidelberg_source_streams_the_file(tmp_path):
    path = tmp_path / "shd_train.h5"
    times, units, labels = heidelberg_file(path)
    source = HeidelbergSource(path, num_steps=25, window=1.0, num_units=350, num_classes=20)
    assert len(source) == 12 and source.sample_shape == (350,) and source.num_steps == 25
    clone = pickle.loads(pickle.dumps(source))  # what a worker process receives
    for i in (0, 5, 11):
        x, label = clone[i]
        assert x.shape == (4, 350) and label == labels[i]
        want = numpy_raster(np.float32(times[i]), units[i], 25, 1.0, 350)
        np.testing.assert_array_equal(np.unpackbits(x, axis=0, count=25), want)
    loader = Loader(source, 4, shuffle=False)
    x, y = loader.arrays()
    packed, y_eager = datasets.shd(path, num_steps=25, num_units=350, pack=True)
    np.testing.assert_array_equal(x, packed)
    np.testing.assert_array_equal(y, y_eager)
    with pytest.raises(IndexError, match=r"sample 12 of .*shd_train\.h5' is out of range: it holds 12"):
        source[12]


def test_bad_heidelberg_files_are_named(tmp_path):
    path = tmp_path / "shd_train.h5"
    heidelberg_file(path, n=40)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"'.*truncated\.h5' is not a readable HDF5 file .* truncated or"):
        HeidelbergSource(truncated)
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not an hdf5 file at all" * 10)
    with pytest.raises(ValueError, match=r"garbage\.h5' is not a readable HDF5 file"):
        datasets.shd(garbage)
    labels = tmp_path / "labels.h5"
    heidelberg_file(labels, n=3, labels=[1, 20, 4])
    with pytest.raises(ValueError, match=r"labels\.h5': label 20 of sample 1 is outside \[0, 20\)"):
        datasets.shd(labels)
    datasets.ssc(labels)  # 35 classes: in range
    empty = tmp_path / "empty.h5"
    write_heidelberg(empty, [], [], np.zeros(0, np.uint16))
    with pytest.raises(ValueError, match=r"empty\.h5' holds no samples \(an empty split\)"):
        HeidelbergSource(empty)
    channels = tmp_path / "channels.h5"
    write_heidelberg(channels, [[0.1, 0.2]], [[3, 701]], [0])
    with pytest.raises(ValueError, match=r"channels\.h5': sample 0 has units outside \[0, 700\): 3\.\.701"):
        HeidelbergSource(channels)[0]
    mismatched = tmp_path / "mismatched.h5"
    write_heidelberg(mismatched, [[0.1], [0.2]], [[1], [2]], [0, 1, 2])
    with pytest.raises(ValueError, match=r"spikes/times \(2\), spikes/units \(2\) and labels \(3\) must"):
        HeidelbergSource(mismatched)
    dense = tmp_path / "dense.h5"
    with h5py.File(dense, "w") as f:
        f.create_dataset("spikes/times", data=np.zeros((3, 4)))
        f.create_dataset("spikes/units", data=np.zeros((3, 4)))
        f.create_dataset("labels", data=np.zeros(3, np.uint16))
    with pytest.raises(ValueError, match=r"'spikes/times' must hold one variable-length array per sample"):
        HeidelbergSource(dense)
    fractional = tmp_path / "fractional.h5"
    write_heidelberg(fractional, [[0.1]], [[1]], [0])
    with h5py.File(fractional, "r+") as f:
        del f["labels"]
        f.create_dataset("labels", data=np.array([0.5]))
    with pytest.raises(
        ValueError, match=r"fractional\.h5': 'labels' must be integers, one per sample, got float64"
    ):
        HeidelbergSource(fractional)


@pytest.mark.slow  # starts a worker process
def test_a_bad_sample_read_by_a_worker_names_the_file(tmp_path):
    path = tmp_path / "shd_test.h5"
    write_heidelberg(path, [[0.1]] * 6 + [[0.2, 0.3]], [[1]] * 6 + [[2, 900]], [0] * 7)
    loader = Loader(HeidelbergSource(path, num_steps=8), 7, shuffle=False, workers=1)
    with pytest.raises(ValueError, match=r"shd_test\.h5': sample 6 has units outside \[0, 700\): 2\.\.900"):
        list(loader(0))


def test_evaluation_reads_every_sample_of_a_shuffled_loader():
    x, y = toy_data(n=100, t=11)
    packed = np.packbits(x.astype(np.uint8), axis=0)
    model = tiny_model()
    shuffled = Loader(ArraySource(packed, y, num_steps=11), 40)  # training defaults: shuffled, 2 full batches
    assert len(shuffled) == 2 and shuffled.evaluation().num_samples == 100
    on_loader = evaluate(model, losses.max_membrane_cross_entropy, shuffled)
    on_arrays = evaluate(model, losses.max_membrane_cross_entropy, (x, y), batch_size=40)
    assert on_loader["loss"] == pytest.approx(on_arrays["loss"], rel=1e-6)


def test_a_superseded_iterator_refuses_to_read_and_bad_samples_raise_data_error(tmp_path):
    _, labels, source = packed_source(n=40)
    loader = Loader(source, 8, seed=5)
    first, second = loader(0), loader(0)
    next(first)
    np.testing.assert_array_equal(next(second)[1], labels[expected_batches(40, 8, seed=5, epoch=0)[0]])
    with pytest.raises(RuntimeError, match=r"epoch 0 of Loader\(.*\) was superseded: the loader was called"):
        next(first)
    partial = loader(1)
    next(partial)  # an epoch left part-way: the next one still starts at its own first batch
    got = [y for _, y in loader(2)]
    for y, idx in zip(got, expected_batches(40, 8, seed=5, epoch=2), strict=True):
        np.testing.assert_array_equal(y, labels[idx])
    path = tmp_path / "shd_test.h5"
    write_heidelberg(path, [[0.1], [0.2, 0.3]], [[1], [2, 900]], [0, 0])
    with pytest.raises(datasets.DataError, match=r"shd_test\.h5': sample 1 has units outside"):
        list(Loader(HeidelbergSource(path, num_steps=8), 2, shuffle=False)(0))


class Interrupting(ArraySource):
    """Sends this process SIGINT when sample ``at`` is read in epoch ``epoch``'s shuffle; counts reads."""

    def __init__(self, *args, at=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.at, self.reads = at, 0

    def __getitem__(self, i):
        self.reads += 1
        if self.at is not None and i == self.at:
            self.at = None
            os.kill(os.getpid(), signal.SIGINT)
        return super().__getitem__(i)


@pytest.mark.slow  # three short trainings
def test_fit_resumed_inside_an_epoch_equals_an_uninterrupted_run(tmp_path):
    from snnx.train import TrainingInterrupted

    x, y = toy_data(n=96, t=11)
    packed = np.packbits(x.astype(np.uint8), axis=0)
    run = dict(epochs=3, seed=2, progress=False)
    reference = tiny_model()
    fit(reference, optax.adam(1e-2), losses.max_membrane_cross_entropy,
        Loader(ArraySource(packed, y, num_steps=11), 16, seed=2), **run)  # fmt: skip
    source = Interrupting(packed, y, num_steps=11)

    def arm(record, model):  # after epoch 1: interrupt when epoch 2 reads its third batch
        source.at = int(expected_batches(96, 16, seed=2, epoch=1)[2][0])

    with pytest.raises(TrainingInterrupted, match=r"in epoch 2, after step 3"):
        fit(tiny_model(), optax.adam(1e-2), losses.max_membrane_cross_entropy, Loader(source, 16, seed=2),
            checkpoint_dir=tmp_path, callbacks=[arm], **run)  # fmt: skip
    resumed = tiny_model()
    source = Interrupting(packed, y, num_steps=11)
    fit(resumed, optax.adam(1e-2), losses.max_membrane_cross_entropy, Loader(source, 16, seed=2),
        checkpoint_dir=tmp_path, resume=True, **run)  # fmt: skip
    np.testing.assert_array_equal(np.asarray(resumed[0].kernel[...]), np.asarray(reference[0].kernel[...]))
    assert source.reads == 16 * (6 - 3) + 16 * 6  # the rest of epoch 1 and all of epoch 2, nothing before


def test_packed_cache_bins_once_then_reads_the_file(tmp_path, monkeypatch):
    path = tmp_path / "shd_train.h5"
    heidelberg_file(path, n=30)
    source = HeidelbergSource(path, num_steps=20, num_classes=20)
    cache_file = tmp_path / "cache" / "shd-20.packed"
    cache = datasets.PackedCache(source, cache_file)
    assert len(cache) == 30 and cache.num_steps == 20 and cache.sample_shape == (700,)
    assert cache_file.stat().st_size == 30 * 3 * 700  # one (ceil(20/8), 700) record per sample
    for i in (0, 17, 29):
        x, label = pickle.loads(pickle.dumps(cache))[i]  # what a worker receives: the path, not the map
        want, want_label = source[i]
        np.testing.assert_array_equal(x, want)
        assert label == want_label
    for (xa, ya), (xb, yb) in zip(Loader(cache, 8, seed=1)(3), Loader(source, 8, seed=1)(3), strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)

    def no_rebuild(*args):
        raise AssertionError("the cache was rebuilt")

    with monkeypatch.context() as m:
        m.setattr(datasets.PackedCache, "_build", no_rebuild)
        datasets.PackedCache(source, cache_file)  # a matching cache is only opened
    with pytest.warns(UserWarning, match=r"shd-20\.packed: the cache does not match .*building it again"):
        datasets.PackedCache(HeidelbergSource(path, num_steps=20, window=0.5), cache_file)  # other settings
    with open(cache_file, "r+b") as f:
        f.truncate(100)  # an incomplete cache file
    with pytest.warns(UserWarning, match=r"incomplete cache file"):
        rebuilt = datasets.PackedCache(source, cache_file)
    np.testing.assert_array_equal(rebuilt[29][0], source[29][0])
    assert sorted(p.name for p in cache_file.parent.iterdir()) == ["shd-20.packed", "shd-20.packed.json"]
