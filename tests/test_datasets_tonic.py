"""N-MNIST and DVS Gesture through the real tonic 1.7.0, on tiny files in the real formats.

The files are written at test time by ``tests/data/tonic/make_event_files.py``
(the layout and formats are explained there). Expected frames come from
``reference_frames``, a numpy restatement of how ``tonic.transforms.ToFrame(
n_time_bins=T)`` bins events (``tonic/slicers.py``, ``SliceByTimeBins``): bin
width ``w = (t_last - t0) // T``, bin ``k`` = ``[t0 + k*w, t0 + (k+1)*w)``;
checked first against hand-placed events at the bin edges.
"""

from __future__ import annotations

import importlib.util
import pickle
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from snnx import datasets
from snnx.datasets._tonic import EventFrames

SCRIPT = Path(__file__).parent / "data" / "tonic" / "make_event_files.py"
_spec = importlib.util.spec_from_file_location("make_event_files", SCRIPT)
files = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(files)


def reference_frames(events, num_steps, size, downsample):
    """Binary frames ``(T, H, W, 2)`` of time-sorted ``events`` ``(N, 4)`` (x, y, p, t [us])."""
    side = -(-size // downsample)
    out = np.zeros((num_steps, side, side, 2), np.uint8)
    events = np.asarray(events, np.int64).reshape(-1, 4)
    if len(events) == 0:
        return out
    t = events[:, 3]
    width = (t[-1] - t[0]) // num_steps
    if width == 0:
        return out
    k = (t - t[0]) // width
    keep = k < num_steps
    out[k[keep], events[keep, 1] // downsample, events[keep, 0] // downsample, events[keep, 2]] = 1
    return out


def random_events(rng, size, duration, count):
    return files.random_events(rng, count, size, duration)


NMNIST_LABELS = {"train": [3, 0, 7, 3, 9], "test": [1, 1]}
DVS_LABELS = {"train": [10, 2, 2, 5], "test": [0, 4]}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Both datasets in one ``root``: ``(root, {dataset: {split: [(events [us], label)] in load order}})``."""
    root = tmp_path_factory.mktemp("tonic")
    rng = np.random.default_rng(16)
    nmnist = {s: [(random_events(rng, 34, 300_000, 40), y) for y in ys] for s, ys in NMNIST_LABELS.items()}
    dvs = {s: [(random_events(rng, 128, 2_000, 60), y) for y in ys] for s, ys in DVS_LABELS.items()}
    files.write_nmnist(root, nmnist)
    files.write_dvs_gesture(root, dvs)
    # load order: N-MNIST by label folder then file name; DVS Gesture by user folder (k-th sample of a label
    # is in user<k>) then label. DVS timestamps are written in ms and read in us.
    expected = {"nmnist": {}, "dvs_gesture": {}}
    for split, items in nmnist.items():
        order = sorted(range(len(items)), key=lambda i: (items[i][1], i))
        expected["nmnist"][split] = [items[i] for i in order]
    for split, items in dvs.items():
        rank = [sum(y == items[i][1] for _, y in items[:i]) for i in range(len(items))]
        order = sorted(range(len(items)), key=lambda i: (rank[i], items[i][1]))
        expected["dvs_gesture"][split] = [(items[i][0] * [1, 1, 1, 1000], items[i][1]) for i in order]
    return root, expected


def test_binning_at_bin_edges(tmp_path):
    # T = 4, times 1000 + [0, 9, 10, 19, 20, 39, 40, 41]: w = 41 // 4 = 10, bins [1000, 1010), ...,
    # [1030, 1040); the events at 1040 and 1041 fall after the last bin. Event i: pixel x = i, y = 0, p = 0.
    times = 1000 + np.array([0, 9, 10, 19, 20, 39, 40, 41])
    events = np.stack([np.arange(8), np.zeros(8, int), np.zeros(8, int), times], 1)
    by_hand = np.zeros((4, 34, 34, 2), np.uint8)
    for x, k in [(0, 0), (1, 0), (2, 1), (3, 1), (4, 2), (5, 3)]:
        by_hand[k, 0, x, 0] = 1
    np.testing.assert_array_equal(reference_frames(events, 4, 34, 1), by_hand)
    files.write_nmnist(tmp_path, {"train": [(events, 6)]})
    x, y = datasets.nmnist(tmp_path, num_steps=4)
    np.testing.assert_array_equal(x[:, 0], by_hand)
    assert y.tolist() == [6]


def test_short_recordings_give_empty_frames_and_empty_files_are_refused(tmp_path):
    short = np.array([[1, 2, 0, 500], [3, 4, 1, 503]])  # spans 3 us < T = 4 bins: w = 0, every bin empty
    files.write_nmnist(tmp_path / "short", {"train": [(short, 0), (short, 1)]})
    x, y = datasets.nmnist(tmp_path / "short", num_steps=4)
    assert x.shape == (4, 2, 34, 34, 2) and not x.any() and y.tolist() == [0, 1]
    assert not reference_frames(short, 4, 34, 1).any()
    files.write_nmnist(tmp_path / "empty", {"train": [(short, 0), (np.zeros((0, 4), int), 1)]})
    with pytest.raises(ValueError, match=r"\.bin: this N-MNIST event file is empty \(0 bytes\)"):
        datasets.nmnist(tmp_path / "empty", num_steps=4)


@pytest.mark.parametrize("downsample", [1, 3])
@pytest.mark.parametrize("split", ["train", "test"])
def test_nmnist_matches_numpy_binning(data, split, downsample):
    root, expected = data
    x, y = datasets.nmnist(root, train=split == "train", num_steps=7, downsample=downsample)
    side = -(-34 // downsample)  # 34 and 12 (34 = 3 * 11 + 1: the last pixel row is a partial block)
    assert x.shape == (7, len(NMNIST_LABELS[split]), side, side, 2) and x.dtype == np.uint8
    assert y.dtype == np.int32 and y.tolist() == [label for _, label in expected["nmnist"][split]]
    want = np.stack([reference_frames(e, 7, 34, downsample) for e, _ in expected["nmnist"][split]], 1)
    np.testing.assert_array_equal(x, want)
    assert want.any()


@pytest.mark.parametrize("split", ["train", "test"])
def test_dvs_gesture_matches_numpy_binning(data, split):
    root, expected = data
    x, y = datasets.dvs_gesture(root, train=split == "train", num_steps=6)
    assert x.shape == (6, len(DVS_LABELS[split]), 32, 32, 2)
    assert y.tolist() == [label for _, label in expected["dvs_gesture"][split]]
    want = np.stack([reference_frames(e, 6, 128, 4) for e, _ in expected["dvs_gesture"][split]], 1)
    np.testing.assert_array_equal(x, want)
    assert sorted(set(y.tolist())) == sorted(set(DVS_LABELS[split]))


@pytest.mark.parametrize(
    ("name", "size", "downsample", "classes"), [("nmnist", 34, 2, 10), ("dvs_gesture", 128, 4, 11)]
)
def test_event_frames_source(data, name, size, downsample, classes):
    root, expected = data
    src = EventFrames(name, root, train=True, num_steps=11, downsample=None if name == "dvs_gesture" else 2)
    side = size // downsample
    assert (src.num_steps, src.sample_shape, src.num_classes) == (11, (side, side, 2), classes)
    assert (
        str(root) in src.description and ("N-MNIST" if name == "nmnist" else "DVS Gesture") in src.description
    )
    assert len(src) == len(expected[name]["train"])
    for i, (events, label) in enumerate(expected[name]["train"]):
        x, y = src[i]
        assert x.shape == (2, side, side, 2) and x.dtype == np.uint8 and y == label and type(y) is int
        np.testing.assert_array_equal(x, np.packbits(reference_frames(events, 11, size, downsample), axis=0))
    for bad in (len(src), -1):
        with pytest.raises(IndexError, match=rf"`index` {bad} is out of range \[0, {len(src)}\)"):
            src[bad]


def test_sharding_and_packing_agree(data):
    root, _ = data
    full, y_full = datasets.nmnist(root, num_steps=10)
    packed, y_packed = datasets.nmnist(root, num_steps=10, pack=True)
    assert packed.shape == (2, 5, 34, 34, 2)
    np.testing.assert_array_equal(np.unpackbits(packed, axis=0, count=10), full)
    np.testing.assert_array_equal(y_packed, y_full)
    for index in range(3):
        x, y = datasets.nmnist(root, num_steps=10, process_index=index, process_count=3)
        np.testing.assert_array_equal(x, full[:, index::3])
        np.testing.assert_array_equal(y, y_full[index::3])


def test_event_frames_pickles_before_and_after_first_use(data):
    root, _ = data
    src = EventFrames("dvs_gesture", root, num_steps=5)
    fresh = pickle.loads(pickle.dumps(src))
    first = src[1]
    used = pickle.loads(pickle.dumps(src))  # the opened tonic dataset (a local class) must not be pickled
    for copy in (fresh, used):
        assert copy.description == src.description and len(copy) == len(src)
        np.testing.assert_array_equal(copy[1][0], first[0])
        assert copy[1][1] == first[1]


def one_sample_root(tmp_path, name, events, label=2):
    writer = files.write_nmnist if name == "nmnist" else files.write_dvs_gesture
    return writer(tmp_path, {"train": [(events, label)]})["train"][0]


def test_truncated_nmnist_file(tmp_path):
    path = one_sample_root(tmp_path, "nmnist", [[1, 2, 1, 30], [3, 4, 0, 90]])
    with open(path, "ab") as file:
        file.write(b"\x07\x07")
    with pytest.raises(ValueError, match=re.escape(path) + r".* 12 bytes \(not a multiple of 5\)"):
        datasets.nmnist(tmp_path)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"this is not a numpy file", "pickled"),
        (np.zeros((5, 3), np.int64), "index 3 is out of bounds"),
        (np.zeros(8, np.int64), "1-dimensional"),
    ],
)
def test_damaged_dvs_gesture_file(tmp_path, content, why):
    path = one_sample_root(tmp_path, "dvs_gesture", [[1, 2, 1, 3], [3, 4, 0, 9]])
    if isinstance(content, bytes):
        Path(path).write_bytes(content)
    else:
        np.save(path, content)
    src = EventFrames("dvs_gesture", tmp_path)
    with pytest.raises(ValueError, match=re.escape(path) + rf": tonic cannot read .*{why}.*array \(N, 4\)"):
        src[0]


@pytest.mark.parametrize(
    ("name", "event", "message"),
    [
        ("nmnist", [34, 5, 0, 10], r"event x coordinates must lie in \[0, 34\) .* got 3\.\.34"),
        ("nmnist", [5, 200, 0, 10], r"event y coordinates must lie in \[0, 34\) .* got 3\.\.200"),
        ("dvs_gesture", [130, 5, 1, 1], r"event x coordinates must lie in \[0, 128\) .* got 3\.\.130"),
        ("dvs_gesture", [5, -1, 1, 1], r"event y coordinates must lie in \[0, 128\) .* got -1\.\.3"),
    ],
)
def test_events_outside_the_sensor(tmp_path, name, event, message):
    path = one_sample_root(tmp_path, name, [[3, 3, 0, 0], event])
    with pytest.raises(ValueError, match=re.escape(path) + ": " + message):
        getattr(datasets, name)(tmp_path)


def test_labels_out_of_range(tmp_path):
    path = one_sample_root(tmp_path / "dvs", "dvs_gesture", [[1, 1, 0, 1]], label=11)
    with pytest.raises(ValueError, match=re.escape(path) + r": label 11 .* outside 0\.\.10"):
        datasets.dvs_gesture(tmp_path / "dvs")
    path = one_sample_root(tmp_path / "nm", "nmnist", [[1, 1, 0, 1]], label=12)  # tonic would read label 2
    with pytest.raises(ValueError, match=re.escape(path) + r": .* one digit 0-9, got folder '12'"):
        datasets.nmnist(tmp_path / "nm")


def test_names_tonic_cannot_parse(tmp_path):
    stray = tmp_path / "nm" / "NMNIST" / "Train" / "00000.bin"  # not inside a label folder
    stray.parent.mkdir(parents=True)
    stray.write_bytes(files.encode_nmnist([[1, 1, 0, 1]]))
    with pytest.raises(ValueError, match=re.escape(str(stray)) + ": tonic cannot take a N-MNIST label"):
        datasets.nmnist(tmp_path / "nm")
    one_sample_root(tmp_path / "dvs", "dvs_gesture", [[1, 1, 0, 1]])
    odd = tmp_path / "dvs" / "DVSGesture" / "ibmGestureTrain" / "extra"  # not user<NN>_<lighting>
    odd.mkdir()
    with pytest.raises(ValueError, match=re.escape(str(odd)) + ": tonic cannot take a DVS Gesture label"):
        datasets.dvs_gesture(tmp_path / "dvs")


@pytest.mark.parametrize(
    ("name", "folder"), [("nmnist", "NMNIST/Test"), ("dvs_gesture", "DVSGesture/ibmGestureTest")]
)
def test_empty_split(tmp_path, name, folder):
    (tmp_path / folder).mkdir(parents=True)
    with pytest.raises(
        ValueError, match=re.escape(repr(str(tmp_path / folder))) + " holds no samples; expected"
    ):
        getattr(datasets, name)(tmp_path, train=False)


@pytest.fixture
def offline(monkeypatch):
    """Every URL fails as on a machine without network; records the URLs tonic asked for."""
    asked = []

    def urlopen(request, *args, **kwargs):
        asked.append(getattr(request, "full_url", request))
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return asked


@pytest.mark.parametrize(
    ("name", "folder", "archive", "md5"),
    [
        ("nmnist", "NMNIST/Train", "NMNIST/train.zip", "20959b8e626244a1b502305a9e6e2031"),
        ("dvs_gesture", "DVSGesture/ibmGestureTrain", "DVSGesture/ibmGestureTrain.tar.gz", "3a8f0d4"),
    ],
)
@pytest.mark.parametrize("incomplete", [False, True])
def test_absent_files_and_no_network(tmp_path, offline, name, folder, archive, md5, incomplete):
    if incomplete:  # an archive next to a folder with fewer files than tonic counts: tonic downloads again
        writer = files.write_nmnist if name == "nmnist" else files.write_dvs_gesture
        writer(tmp_path, {"train": [(np.array([[1, 1, 0, 1]]), 1)]}, archive=True)
    message = (
        rf"no usable copy in .* and tonic could not download it \(URLError: .*name resolution.*\)\. "
        rf"Put either the extracted folder {re.escape(repr(str(tmp_path / folder)))} holding .*, "
        rf"or tonic's archive {re.escape(repr(str(tmp_path / archive)))} \(md5 {md5}"
    )
    with pytest.raises(OSError, match=message):
        getattr(datasets, name)(tmp_path)
    assert len(offline) == 1 and offline[0].startswith("https://")


def test_tonic_own_classes_accept_the_layout(tmp_path, offline):
    """With as many files as tonic counts and the archive names present, unmodified tonic reads the files."""
    import tonic

    rng = np.random.default_rng(3)
    dvs = [(random_events(rng, 128, 50, 3), i % 11) for i in range(100)]
    nm = [(random_events(rng, 34, 1000, 1), i % 10) for i in range(10_000)]
    dvs_paths = files.write_dvs_gesture(tmp_path, {"test": dvs}, archive=True)["test"]
    nm_paths = files.write_nmnist(tmp_path, {"test": nm}, archive=True)["test"]
    for cls, samples, paths, ms in [
        (tonic.datasets.DVSGesture, dvs, dvs_paths, 1000),
        (tonic.datasets.NMNIST, nm, nm_paths, 1),
    ]:
        dataset = cls(save_to=str(tmp_path), train=False)
        by_path = dict(zip(paths, samples, strict=True))
        assert sorted(dataset.data) == sorted(paths)
        for i in (0, 1, len(dataset) - 1):
            events, label = dataset[i]
            want, want_label = by_path[dataset.data[i]]
            got = np.stack([events["x"], events["y"], events["p"], events["t"] // ms], 1)
            np.testing.assert_array_equal(got, want)
            assert label == want_label and np.all(events["t"] % ms == 0)
    assert offline == []
    assert len(EventFrames("dvs_gesture", tmp_path, train=False)) == 100


def test_bad_arguments_and_missing_tonic(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"`name` must be one of 'nmnist', 'dvs_gesture', got 'mnist'"):
        EventFrames("mnist", tmp_path)
    with pytest.raises(TypeError, match=r"`train` must be a bool, got str 'yes'"):
        EventFrames("nmnist", tmp_path, train="yes")
    with pytest.raises(ValueError, match=r"`downsample` must be >= 1, got 0"):
        datasets.dvs_gesture(tmp_path, downsample=0)
    monkeypatch.setitem(sys.modules, "tonic", None)
    with pytest.raises(ImportError, match=r"pip install 'snnx\[data\]'"):
        EventFrames("nmnist", tmp_path)
