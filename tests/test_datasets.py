"""Dataset loaders: digits, SHD/SSC on synthetic HDF5 files in the real layout (tonic: see
test_datasets_tonic.py)."""

from __future__ import annotations

import sys

import h5py
import numpy as np
import pytest

from snnx import datasets
from snnx.encoders import unpack_spikes


def test_digits_shapes_split_and_determinism():
    (x_tr, y_tr), (x_te, y_te) = datasets.digits("rate", num_steps=7, seed=1)
    assert x_tr.shape == (7, 1437, 64) and x_te.shape == (7, 360, 64)
    assert x_tr.dtype == np.float32 and y_tr.dtype == np.int32 and y_tr.shape == (1437,)
    assert set(np.unique(x_tr)) <= {0.0, 1.0}
    per_class = np.bincount(np.concatenate([y_tr, y_te]))
    assert np.all(np.abs(np.bincount(y_te) - 0.2 * per_class) <= 1)  # stratified 80/20
    (x2, _), _ = datasets.digits("rate", num_steps=7, seed=1)
    np.testing.assert_array_equal(x_tr, x2)
    (x3, y3), _ = datasets.digits("rate", num_steps=7, seed=2)
    np.testing.assert_array_equal(y_tr, y3)  # the split does not depend on the encoding seed
    assert not np.array_equal(x_tr, x3)


def test_digits_latency_one_spike_and_shards():
    (x, y), _ = datasets.digits("latency", num_steps=10)
    assert x.sum(axis=0).max() == 1.0
    (images, _), _ = datasets.digits_images()
    np.testing.assert_array_equal(x.sum(axis=0) > 0, images > 0.01)
    (s0, l0), (t0, _) = datasets.digits("latency", num_steps=10, process_index=0, process_count=2)
    (s1, _), (t1, _) = datasets.digits("latency", num_steps=10, process_index=1, process_count=2)
    assert s0.shape[1] + s1.shape[1] == 1437 and t0.shape[1] + t1.shape[1] == 360
    np.testing.assert_array_equal(s1, x[:, 1::2])
    np.testing.assert_array_equal(l0, y[0::2])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"encoding": "phase"}, ValueError, r"`encoding` must be one of \('rate', 'latency'\), got 'phase'"),
        ({"num_steps": 0}, ValueError, r"`num_steps` must be >= 1, got 0"),
        (
            {"process_index": 2, "process_count": 2},
            ValueError,
            r"`process_index` must be in \[0, process_count=2\)",
        ),
    ],
)
def test_digits_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        datasets.digits(**kwargs)


def write_heidelberg(path, times, units, labels):
    """A file in the layout of the Zenke-lab SHD/SSC releases (vlen datasets under ``spikes``)."""
    with h5py.File(path, "w") as f:
        spikes = f.create_group("spikes")
        spikes.create_dataset(
            "times",
            data=np.array(
                [np.asarray(t, np.float32) for t in times] + [None], dtype=h5py.vlen_dtype(np.float32)
            )[:-1],
        )
        spikes.create_dataset(
            "units",
            data=np.array(
                [np.asarray(u, np.uint16) for u in units] + [None], dtype=h5py.vlen_dtype(np.uint16)
            )[:-1],
        )
        f.create_dataset("labels", data=np.asarray(labels, np.uint16))
        f.create_group("extra").create_dataset("speaker", data=np.zeros(len(labels), np.uint16))


@pytest.fixture
def shd_file(tmp_path):
    path = tmp_path / "shd_train.h5"
    times = [[0.0, 0.05, 0.051, 0.5, 0.99, 1.2], [0.3], [], [0.1, 0.1]]
    units = [[0, 1, 1, 699, 350, 5], [10], [], [2, 3]]
    write_heidelberg(path, times, units, [3, 19, 0, 7])
    return path


@pytest.mark.parametrize("loader", [datasets.shd, datasets.ssc])
def test_heidelberg_binning(shd_file, loader):
    x, y = loader(shd_file, num_steps=10, window=1.0)
    assert x.shape == (10, 4, 700) and x.dtype == np.uint8
    assert y.dtype == np.int32 and y.tolist() == [3, 19, 0, 7]
    expected = np.zeros((10, 4, 700), np.uint8)
    for t, n, u in [(0, 0, 0), (0, 0, 1), (5, 0, 699), (9, 0, 350), (3, 1, 10), (1, 3, 2), (1, 3, 3)]:
        expected[t, n, u] = 1  # t=1.2 lies outside the 1 s window; two spikes in one bin give 1
    np.testing.assert_array_equal(x, expected)


def test_heidelberg_pack_units_and_shard(shd_file):
    x, _ = datasets.shd(shd_file, num_steps=10)
    packed, _ = datasets.shd(shd_file, num_steps=10, pack=True)
    assert packed.shape == (2, 4, 700) and packed.dtype == np.uint8
    np.testing.assert_array_equal(np.asarray(unpack_spikes(packed, 10, axis=0, dtype=np.uint8)), x)
    merged, _ = datasets.shd(shd_file, num_steps=10, num_units=70)
    assert merged.shape == (10, 4, 70) and merged[5, 0, 69] == 1 and merged[1, 3, 0] == 1
    half, labels = datasets.shd(shd_file, num_steps=10, process_index=1, process_count=2)
    np.testing.assert_array_equal(half, x[:, 1::2])
    assert labels.tolist() == [19, 7]


def test_heidelberg_errors(tmp_path, shd_file):
    with pytest.raises(FileNotFoundError, match="is not a file"):
        datasets.shd(tmp_path / "nope.h5")
    with pytest.raises(ValueError, match=r"`window` must be a positive number of seconds, got -1"):
        datasets.shd(shd_file, window=-1.0)
    with pytest.raises(ValueError, match=r"`num_units` must be <= 700, got 701"):
        datasets.shd(shd_file, num_units=701)
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f.create_dataset("labels", data=np.zeros(2, np.uint16))
    with pytest.raises(ValueError, match=r"'spikes/times' is missing"):
        datasets.shd(bad)
    out_of_range = tmp_path / "range.h5"
    write_heidelberg(out_of_range, [[0.1]], [[700]], [1])
    with pytest.raises(ValueError, match=r"units outside \[0, 700\)"):
        datasets.shd(out_of_range)


def test_tonic_missing_gives_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tonic", None)
    with pytest.raises(ImportError, match=r"pip install 'snnx\[data\]'"):
        datasets.nmnist(tmp_path)
