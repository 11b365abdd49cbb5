"""Batching for :func:`snnx.train.fit`: arrays or an epoch-indexed batch factory, and their placement."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np


def check_count(name: str, value, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum``; ``ValueError``/``TypeError`` naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}")
    return int(value)


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The shuffling RNG of epoch ``epoch``: a pure function of ``(seed, epoch)``."""
    return np.random.default_rng([int(seed), int(epoch)])


@dataclass(frozen=True)
class ArrayData:
    """Time-major ``x`` of shape ``(T, N, ...)`` (packed: ``(ceil(T/8), N, ...)``), ``y`` of ``(N, ...)``."""

    x: np.ndarray
    y: np.ndarray

    @property
    def size(self) -> int:
        return self.x.shape[1]

    def steps(self, batch_size: int, *, drop_remainder: bool) -> int:
        full, rest = divmod(self.size, batch_size)
        return full + (0 if drop_remainder or rest == 0 else 1)

    def batches(
        self, batch_size: int, *, epoch: int = 0, seed: int = 0, shuffle: bool, drop_remainder: bool
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = self.size
        order = epoch_rng(seed, epoch).permutation(n) if shuffle else np.arange(n)
        stop = n - n % batch_size if drop_remainder else n
        for start in range(0, stop, batch_size):
            idx = order[start : start + batch_size]
            if not shuffle:
                idx = slice(start, start + batch_size)
            yield self.x[:, idx], self.y[idx]


def as_data(name: str, data) -> ArrayData | Callable[[int], Iterable]:
    """Validate ``train_data``/``eval_data``: an ``(x, y)`` pair or a callable ``epoch -> batches``."""
    if callable(data):
        return data
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(
            f"`{name}` must be a pair (x, y) of arrays or a callable epoch -> iterable of (x, y) batches, "
            f"got {type(data).__name__}"
        )
    x, y = np.asarray(data[0]), np.asarray(data[1])
    if x.ndim < 2:
        raise ValueError(f"`{name}` x must be time-major with shape (T, N, ...), got shape {x.shape}")
    if y.ndim < 1 or y.shape[0] != x.shape[1]:
        raise ValueError(
            f"`{name}` x of shape {x.shape} holds N={x.shape[1]} samples (axis 1) but y has shape {y.shape}; "
            "y must have shape (N, ...)"
        )
    if x.shape[1] == 0:
        raise ValueError(f"`{name}` is empty: x has shape {x.shape}")
    return ArrayData(x, y)


def is_loader(data) -> bool:
    """Whether ``data`` is a :class:`snnx.datasets.Loader` (batches of its own size, resumable mid-epoch)."""
    from snnx.datasets._loader import Loader

    return isinstance(data, Loader)


def loader_defaults(train_data, eval_data, num_steps, steps_per_epoch):
    """``(num_steps, steps_per_epoch)`` for ``fit``: what its :class:`snnx.datasets.Loader` arguments imply.

    A bit-packed loader brings its ``T`` (``num_steps``) and its batches per
    epoch; explicit values that disagree are errors.
    """
    for name, data in (("train_data", train_data), ("eval_data", eval_data)):
        if not is_loader(data) or data.num_steps is None:
            continue
        if num_steps is not None and num_steps != data.num_steps:
            raise ValueError(
                f"`num_steps` ({num_steps}) disagrees with `{name}`, a Loader of bit-packed spikes with "
                f"num_steps={data.num_steps}"
            )
        num_steps = data.num_steps
    if is_loader(train_data):
        if steps_per_epoch is not None and steps_per_epoch != len(train_data):
            raise ValueError(
                f"`steps_per_epoch` ({steps_per_epoch}) disagrees with `train_data`, a Loader of "
                f"{len(train_data)} batches per epoch"
            )
        steps_per_epoch = len(train_data)
    return num_steps, steps_per_epoch


def iterate(data, batch_size: int, *, epoch: int, seed: int, train: bool, start: int = 0) -> Iterable:
    """Epoch ``epoch``'s batches from batch ``start`` on: shuffled, remainder dropped (``train``), or in
    order, every sample; a callable's from its first batch (the caller skips to ``start``)."""
    if isinstance(data, ArrayData):
        batches = data.batches(batch_size, epoch=epoch, seed=seed, shuffle=train, drop_remainder=train)
        return itertools.islice(batches, start, None)
    if is_loader(data):  # evaluation reads every sample once, in order, whatever the loader's shuffling
        return data(epoch, start) if train else data.evaluation()(epoch, start)
    return itertools.islice(data(epoch), start, None)


def batch_size_of(y) -> int:
    """Samples in a batch: the leading size of its targets ``y`` (1 for a scalar)."""
    shape = np.shape(y)
    return int(shape[0]) if shape else 1


def place(batch, placement=None, *, allow_replicated: bool = False):
    """Move a host batch to the device(s): as is, or sharded over ``placement``'s mesh."""
    if placement is None:
        return batch
    return placement.batch(batch, allow_replicated=allow_replicated)
