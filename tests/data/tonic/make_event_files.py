"""Write small N-MNIST and DVS Gesture datasets in the files and folders tonic 1.7.0 reads.

The layout is the one tonic's own download leaves behind (``save_to=root``)::

    root/NMNIST/train.zip, test.zip                       (only with ``archive=True``)
    root/NMNIST/Train/<label>/<index:05d>.bin, root/NMNIST/Test/...
    root/DVSGesture/ibmGestureTrain.tar.gz, ibmGestureTest.tar.gz   (only with ``archive=True``)
    root/DVSGesture/ibmGestureTrain/user<NN>_led/<label>.npy, root/DVSGesture/ibmGestureTest/...

File formats, as tonic's readers take them apart:

- N-MNIST ``.bin`` (``tonic.io.read_mnist_file``): one 5-byte record per event,
  byte 0 = x, byte 1 = y, byte 2 = polarity (bit 7) and bits 22..16 of the
  timestamp, bytes 3-4 = bits 15..0 of the timestamp (microseconds, 23 bits).
  A record with y = 240 is a timestamp-overflow marker, not an event, so y must
  stay below 240 (the sensor is 34x34 anyway).
- DVS Gesture ``.npy`` (``DVSGesture.__getitem__``): a ``numpy.save``'d array
  ``(N, 4)`` with columns x, y, p, t in milliseconds (tonic multiplies t by
  1000); the file name is the label, the folder ``user<NN>_<lighting>``. The
  k-th sample of a label goes to ``user<k+1:02d>_led``. Written as int64, as
  tonic's own tests write them.

What tonic 1.7.0 checks before it downloads (``Dataset._check_exists``): the
archive file is present (name only: ``check_integrity`` without an md5) and the
extracted folder holds at least 10,000 ``.bin`` (N-MNIST) / 100 ``.npy`` (DVS
Gesture) files. The md5 (N-MNIST train.zip 20959b8e626244a1b502305a9e6e2031,
test.zip 69ca8762b2fe404d9b9bad1103e97832; DVS Gesture ibmGestureTrain.tar.gz
3a8f0d4120a166bac7591f77409cb105, ibmGestureTest.tar.gz
56070e45dadaa85fff82e0fbfbc06de5) is checked only inside the download. A small
dataset therefore cannot satisfy tonic's unmodified classes; these files are
what ``snnx.datasets`` reads, because snnx also takes an extracted folder whose
archive is absent as it is. ``archive=True`` writes *empty placeholder* files
under the archive names: only useful with enough samples to pass tonic's count,
to show that tonic's own classes accept the layout without downloading. They
are not archives, and would make tonic download if its count check failed.

Run by hand: ``python tests/data/tonic/make_event_files.py OUT`` writes a few
random samples of each dataset under ``OUT``.
"""

from __future__ import annotations

import os
import sys

import numpy as np

NMNIST_FOLDERS = {"train": "Train", "test": "Test"}
DVS_FOLDERS = {"train": "ibmGestureTrain", "test": "ibmGestureTest"}
NMNIST_ARCHIVES = {"train": "train.zip", "test": "test.zip"}
DVS_ARCHIVES = {"train": "ibmGestureTrain.tar.gz", "test": "ibmGestureTest.tar.gz"}


def encode_nmnist(events: np.ndarray) -> bytes:
    """The 5-byte records of ``events``, an int array ``(N, 4)`` of x, y, p, t [us]."""
    events = np.asarray(events, dtype=np.int64).reshape(-1, 4)
    x, y, p, t = events.T
    if events.size and (x.min() < 0 or x.max() > 255 or y.min() < 0 or y.max() > 239):
        raise ValueError("N-MNIST records hold x in 0..255 and y in 0..239 (y = 240 marks an overflow)")
    if events.size and (not np.isin(p, (0, 1)).all() or t.min() < 0 or t.max() >= 2**23):
        raise ValueError("N-MNIST records hold p in {0, 1} and t in [0, 2**23) microseconds")
    records = np.stack([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF], axis=1)
    return records.astype(np.uint8).tobytes()


def write_nmnist(root, samples, *, archive: bool = False) -> dict[str, list[str]]:
    """Write ``samples`` as ``root/NMNIST/{Train,Test}/<label>/<index:05d>.bin``.

    Args:
        root: tonic's ``save_to`` folder.
        samples: ``{"train": [(events, label), ...], "test": [...]}``; ``events``
            an int array ``(N, 4)`` of x, y, p, t [us], ``label`` in 0..9 (any
            string works too: it becomes the folder name).
        archive: also write empty placeholder files named as tonic's archives.

    Returns:
        ``{split: [path of each sample, in the order given]}``.
    """
    base = os.path.join(os.fspath(root), "NMNIST")
    paths = {}
    for split, items in samples.items():
        paths[split] = []
        for index, (events, label) in enumerate(items):
            folder = os.path.join(base, NMNIST_FOLDERS[split], str(label))
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, f"{index:05d}.bin")
            with open(path, "wb") as file:
                file.write(encode_nmnist(events))
            paths[split].append(path)
        os.makedirs(os.path.join(base, NMNIST_FOLDERS[split]), exist_ok=True)
        if archive:
            open(os.path.join(base, NMNIST_ARCHIVES[split]), "wb").close()
    return paths


def write_dvs_gesture(root, samples, *, archive: bool = False) -> dict[str, list[str]]:
    """Write ``samples`` as ``root/DVSGesture/ibmGesture{Train,Test}/user<NN>_led/<label>.npy``.

    Args:
        root: tonic's ``save_to`` folder.
        samples: ``{"train": [(events, label), ...], "test": [...]}``; ``events``
            an int array ``(N, 4)`` of x, y, p, t [ms], ``label`` in 0..10 (any
            string works too: it becomes the file name). The k-th sample of a
            label goes to the folder ``user<k+1:02d>_led``.
        archive: also write empty placeholder files named as tonic's archives.

    Returns:
        ``{split: [path of each sample, in the order given]}``.
    """
    base = os.path.join(os.fspath(root), "DVSGesture")
    paths = {}
    for split, items in samples.items():
        paths[split] = []
        seen: dict[str, int] = {}
        for events, label in items:
            seen[str(label)] = seen.get(str(label), 0) + 1
            folder = os.path.join(base, DVS_FOLDERS[split], f"user{seen[str(label)]:02d}_led")
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, f"{label}.npy")
            np.save(path, np.asarray(events, dtype=np.int64).reshape(-1, 4))
            paths[split].append(path)
        os.makedirs(os.path.join(base, DVS_FOLDERS[split]), exist_ok=True)
        if archive:
            open(os.path.join(base, DVS_ARCHIVES[split]), "wb").close()
    return paths


def random_events(rng: np.random.Generator, count: int, size: int, duration: int) -> np.ndarray:
    """``count`` events ``(N, 4)`` of x, y in ``[0, size)``, p in {0, 1}, sorted t in ``[0, duration)``."""
    t = np.sort(rng.integers(0, duration, count))
    return np.stack(
        [rng.integers(0, size, count), rng.integers(0, size, count), rng.integers(0, 2, count), t], 1
    )


def main(out: str) -> None:
    rng = np.random.default_rng(0)
    write_nmnist(
        out,
        {
            split: [(random_events(rng, 50, 34, 300_000), label) for label in range(10)]
            for split in NMNIST_FOLDERS
        },
    )
    write_dvs_gesture(
        out,
        {
            split: [(random_events(rng, 200, 128, 6_000), label) for label in range(11)]
            for split in DVS_FOLDERS
        },
    )
    print(f"wrote N-MNIST and DVS Gesture samples under {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/data/tonic/make_event_files.py OUT")
    main(sys.argv[1])
