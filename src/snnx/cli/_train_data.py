"""``snnx train``'s data: the dataset of a config as ``fit`` takes it (in memory or streamed)."""

from __future__ import annotations

import functools
import os
import sys

import numpy as np

from snnx.cli import _recipes

#: Datasets read through the optional ``tonic`` (``--data-dir`` is tonic's download folder).
TONIC_DATASETS = ("nmnist", "dvs_gesture")
#: Classes of each dataset (labels outside are refused by the loaders).
CLASSES = {"digits": 10, "shd": 20, "ssc": 35, "nmnist": 10, "dvs_gesture": 11}
#: Largest evaluation batch (a whole N-MNIST test set at once would not fit in memory).
EVAL_BATCH = 1024


class UsageError(Exception):
    """A bad command-line argument (reported as one line, exit status 2)."""


def _fresh_rate_code(images, labels, cfg: dict):
    """Training data re-encoded every epoch: ``epoch -> batches`` (a function of (seed, epoch))."""
    import jax

    from snnx import encoders
    from snnx.train._data import ArrayData

    key = jax.random.fold_in(jax.random.key(cfg["seed"]), 2)

    def batches(epoch: int):
        x = encoders.rate(jax.random.fold_in(key, epoch), images, cfg["time_steps"])
        data = ArrayData(np.asarray(x), labels)
        return data.batches(
            cfg["batch_size"], epoch=epoch, seed=cfg["seed"], shuffle=True, drop_remainder=True
        )

    return batches


def load(cfg: dict):
    """``(train_data, train_size, sample_shape, (x_test, y_test), num_classes)`` for :func:`snnx.train.fit`.

    Files are read through :class:`snnx.datasets.Loader` (``--workers`` grain
    processes), bit-packed along time. The training split is held in memory
    unless ``--stream`` or its packed size exceeds ``_recipes.IN_MEMORY_BYTES``,
    in which case the loader streams it every epoch; the test split is held in
    memory (the plots and metrics read it).
    """
    from snnx import datasets

    if cfg["dataset"] == "digits":
        train, test = datasets.digits(cfg["encoding"], cfg["time_steps"], seed=cfg["seed"])
        if cfg["encoding"] == "rate" and cfg.get("compiled"):
            print(
                "snnx train: --compiled: the digits rate code is drawn once for the run, not every epoch "
                "(the compiled loop keeps the training set on the device)",
                file=sys.stderr,
            )
        if cfg["encoding"] == "rate" and not cfg.get("compiled"):
            # a fresh rate code each epoch: augmentation against overfitting (the compiled loop needs arrays)
            (images, labels), _ = datasets.digits_images()
            return _fresh_rate_code(images, labels, cfg), len(labels), images.shape[1:], test, 10
        return train, train[0].shape[1], train[0].shape[2:], test, 10
    train_source, test_source = _sources(cfg)
    if cfg["batch_size"] > len(train_source):
        raise UsageError(
            f"--batch-size ({cfg['batch_size']}) must not exceed the training set size ({len(train_source)})"
        )
    loader = functools.partial(datasets.Loader, workers=cfg.get("workers", 0), seed=cfg["seed"])
    try:
        x_test, y_test = loader(test_source, min(len(test_source), EVAL_BATCH), shuffle=False).arrays()
        train = loader(train_source, cfg["batch_size"])
        packed_bytes = (
            len(train_source) * int(np.prod(train_source.sample_shape)) * -(-cfg["time_steps"] // 8)
        )
        packed = f"{packed_bytes / 2**30:.2f} GiB bit-packed"
        if not (cfg.get("stream") or packed_bytes > _recipes.IN_MEMORY_BYTES):
            if cfg.get("cache"):
                print(
                    f"snnx train: --cache is for a streamed training split; this one ({packed}) is held in "
                    "memory: add --stream to stream it from the cache",
                    file=sys.stderr,
                )
            train = train.arrays()  # the fast in-memory path: read once, shuffled by fit
        elif not cfg.get("stream"):
            print(
                f"snnx train: the training split is {packed}, over the "
                f"{_recipes.IN_MEMORY_BYTES / 2**30:.0f} GiB held in memory: streaming it every epoch "
                "(--cache DIR bins it once)",
                file=sys.stderr,
            )
        if isinstance(train, datasets.Loader) and cfg.get("cache"):  # streamed from a file binned once
            name = f"{cfg['dataset']}-train-T{cfg['time_steps']}.packed"
            cached = datasets.PackedCache(
                train_source, os.path.join(cfg["cache"], name), workers=cfg["workers"]
            )
            train = loader(cached, cfg["batch_size"])
    except ValueError as err:  # a damaged file, a label out of range, an empty split: named by the source
        raise UsageError(f"--dataset {cfg['dataset']}: {' '.join(str(err).split())}") from None
    if cfg.get("compiled") and isinstance(train, datasets.Loader):  # --stream itself: parse_config
        raise UsageError(
            f"--compiled keeps the training set on the device: it cannot take a training split of "
            f"{packed}, which is streamed"
        )
    size = train.num_samples if isinstance(train, datasets.Loader) else train[0].shape[1]  # this process's
    return train, size, train_source.sample_shape, (x_test, y_test), CLASSES[cfg["dataset"]]


def _sources(cfg: dict):
    """The training and test splits of ``cfg["dataset"]`` as random-access sources (files in --data-dir)."""
    from snnx import datasets

    if cfg["dataset"] in TONIC_DATASETS:
        parts = []
        for train in (True, False):
            try:
                source = datasets.EventFrames(
                    cfg["dataset"], cfg["data_dir"], train=train, num_steps=cfg["time_steps"]
                )
                len(source)  # tonic finds (or downloads) the files now, not in a worker
            except ImportError as err:  # tonic missing: the loader's message says how to install it
                raise UsageError(f"--dataset {cfg['dataset']}: {' '.join(str(err).split())}") from None
            except (OSError, ValueError) as err:  # no files and no network, or a damaged file
                raise UsageError(
                    f"--dataset {cfg['dataset']}: tonic could not load it from --data-dir "
                    f"{cfg['data_dir']!r}: {' '.join(str(err).split())}"
                ) from None
            parts.append(source)
        return tuple(parts)
    parts = []
    for part in ("train", "test"):
        path = os.path.join(cfg["data_dir"], f"{cfg['dataset']}_{part}.h5")
        if not os.path.isfile(path):
            raise UsageError(
                f"--data-dir must contain {os.path.basename(path)}; {path!r} does not exist "
                f"(snnx.datasets.fetch('{cfg['dataset']}') downloads it)"
            )
        try:
            parts.append(
                datasets.HeidelbergSource(
                    path, num_steps=cfg["time_steps"], num_classes=CLASSES[cfg["dataset"]]
                )
            )
        except ValueError as err:
            raise UsageError(f"--dataset {cfg['dataset']}: {' '.join(str(err).split())}") from None
    return tuple(parts)
