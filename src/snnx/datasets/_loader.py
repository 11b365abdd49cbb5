"""Streaming batches from a random-access source on grain: worker processes, bit-packed transport.

A *source* is anything with ``len(source)`` and ``source[i] -> (x, label)``,
where ``x`` is one sample's time-major array: bit-packed spikes of shape
``(ceil(T/8), *sample_shape)`` when the source has ``num_steps = T`` (the
sources of :mod:`snnx.datasets` all do), otherwise ``(T, *sample_shape)``.
:class:`Loader` turns it into batches ``(x, y)`` with ``x`` of shape
``(ceil(T/8), B, *sample_shape)`` for :func:`snnx.train.fit`, which unpacks
them on the device.
"""

from __future__ import annotations

import atexit
import itertools
import weakref
from collections.abc import Iterator

import numpy as np

from snnx.datasets._common import check_int, check_shard

#: Epochs the worker pipeline is laid out for: it runs across epochs without restarting its workers.
_EPOCHS = 1 << 20
#: Loaders with running workers, closed at exit (before grain's shared memory is torn down).
_LIVE: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for loader in list(_LIVE):
        loader.close()


class DataError(ValueError):
    """A sample could not be read (a damaged file, a label out of range, ...): the message names the file.

    Raised by :class:`Loader` when its source fails, in this process or in a worker.
    """


def _import_grain():
    try:
        import grain
    except ImportError as err:
        raise ImportError(
            "snnx.datasets.Loader needs the optional package `grain`; install it with "
            "`pip install 'snnx[data]'`"
        ) from err
    # grain 0.2.18 reads an Abseil flag when it starts worker processes, which fails unless the
    # flags were parsed (google/grain#1355, fixed after that release): take their defaults, as an
    # absl.app program would have done already.
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()
    return grain


def describe(source) -> str:
    """How errors name ``source``: its ``description`` attribute, else its type."""
    return str(getattr(source, "description", None) or type(source).__name__)


def shard_order(n: int, *, seed: int, epoch: int, shuffle: bool, index: int, count: int, equal: bool):
    """Process ``index``'s samples of epoch ``epoch``, in order.

    Shuffled: ``numpy.random.default_rng([seed, epoch]).permutation(n)`` (the
    order of in-memory ``fit``), of which process ``index`` takes every
    ``count``-th entry. ``equal`` trims the shards to ``n // count`` samples so
    every process takes as many steps.
    """
    from snnx.train._data import epoch_rng

    order = epoch_rng(seed, epoch).permutation(n) if shuffle else np.arange(n)
    part = order[index::count]
    return part[: n // count] if equal else part


class _Batches:
    """The grain source of whole batches: element ``k`` is batch ``k % steps`` of epoch ``k // steps``."""

    def __init__(self, source, batch_size, steps, *, seed, shuffle, drop_remainder, index, count):
        self.source, self.batch_size, self.steps = source, batch_size, steps
        self.seed, self.shuffle, self.drop_remainder = seed, shuffle, drop_remainder
        self.index, self.count = index, count

    def __len__(self) -> int:
        return self.steps * _EPOCHS

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_cached"}  # rebuilt in each worker

    def order(self, epoch: int) -> np.ndarray:
        """This shard's samples of epoch ``epoch``, in order (the last epoch's is kept)."""
        cached = self.__dict__.get("_cached")  # (epoch, order)
        if cached is None or cached[0] != epoch:
            order = shard_order(
                len(self.source),
                seed=self.seed,
                epoch=epoch,
                shuffle=self.shuffle,
                index=self.index,
                count=self.count,
                equal=self.drop_remainder,
            )
            cached = self._cached = (epoch, order)
        return cached[1]

    def __getitem__(self, k: int):
        epoch, step = divmod(int(k), self.steps)
        idx = self.order(epoch)[step * self.batch_size : (step + 1) * self.batch_size]
        return stack([self.source[int(i)] for i in idx], describe(self.source))


def stack(samples, name: str = "source"):
    """``[(x, label), ...]`` -> ``(x of shape (T', B, ...), y of shape (B,))``: samples along axis 1."""
    xs = [np.asarray(x) for x, _ in samples]
    first = xs[0].shape
    for j, x in enumerate(xs):
        if x.shape != first:
            raise ValueError(
                f"{name}: samples of one batch must share a shape; sample 0 has {first}, "
                f"sample {j} has {x.shape}"
            )
    return np.stack(xs, axis=1), np.asarray([label for _, label in samples])


class Loader:
    """Batches of a random-access ``source``, read by grain worker processes, reshuffled every epoch.

    ``loader(epoch)`` yields epoch ``epoch``'s batches ``(x, y)``: ``x`` of shape
    ``(ceil(T/8), B, *sample_shape)`` (bit-packed spikes, unpacked on the
    device by :func:`snnx.train.fit`, which reads ``loader.num_steps``) or
    ``(T, B, ...)`` for an unpacked source; ``y`` of shape ``(B,)``. Pass the
    loader itself as ``fit``'s ``train_data`` or ``eval_data``.

    Order: with ``shuffle``, epoch ``e`` draws the permutation
    ``numpy.random.default_rng([seed, e]).permutation(N)``, the same as
    ``fit`` on in-memory arrays, so a streamed run and an in-memory run see
    the same batches; the order is a pure function of ``(seed, epoch)``
    however many workers read it. With several processes (multi-host
    training), process ``p`` of ``P`` takes every ``P``-th sample of that
    permutation; shuffled shards are trimmed to ``N // P`` samples so every
    process runs the same number of steps.

    Workers: ``workers`` processes (``0``: read in this process) each build
    whole batches; grain hands them back through shared memory, still
    bit-packed (8 steps per byte), and keeps ``buffer`` batches per worker in
    flight. The workers start on an epoch's first batch and end with its last;
    after :meth:`plan_epochs` (which ``fit`` calls), one set of workers serves
    all the planned epochs. :meth:`close` (or leaving a ``with`` block, or the
    end of the program) stops them early. They are started with Python's
    ``spawn`` method, so a script that uses them keeps its work under
    ``if __name__ == "__main__":``. One epoch is read at a time: calling the
    loader again makes an unfinished earlier iterator raise ``RuntimeError``.
    A sample that cannot be read raises :class:`DataError` with the source's
    message (naming the file). As evaluation data, ``fit`` and ``evaluate``
    read :meth:`evaluation`: every sample once, in order.

    Args:
        source: ``len(source)`` samples, ``source[i] -> (x, label)``; bit-packed
            when it has an int attribute ``num_steps``.
        batch_size: samples per batch (per process).
        shuffle: reshuffle every epoch (training); ``False`` keeps the order.
        drop_remainder: drop the last incomplete batch (default: ``shuffle``,
            so training batches keep one shape and evaluation sees every sample).
        seed: the shuffling seed.
        workers: worker processes (default 0).
        buffer: batches in flight per worker (default 2).
        process_index: this process's shard (default ``jax.process_index()``).
        process_count: number of shards (default ``jax.process_count()``).

    Raises:
        ValueError: an empty ``source``, or ``batch_size`` larger than this
            process's shard with ``drop_remainder`` (no batch at all).
        ImportError: grain is not installed (``pip install 'snnx[data]'``).

    Example:
        >>> loader = Loader(ArraySource(x, y), batch_size=64, workers=4)  # doctest: +SKIP
        >>> fit(model, optax.adam(1e-3), loss, loader, epochs=10)  # doctest: +SKIP
    """

    def __init__(
        self,
        source,
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_remainder: bool | None = None,
        seed: int = 0,
        workers: int = 0,
        buffer: int = 2,
        process_index: int | None = None,
        process_count: int | None = None,
    ):
        if not callable(getattr(source, "__getitem__", None)) or not callable(
            getattr(source, "__len__", None)
        ):
            raise TypeError(
                f"`source` must support len(source) and source[i] -> (x, label), got {type(source).__name__}"
            )
        self.batch_size = check_int("batch_size", batch_size, 1)
        for name, flag in (("shuffle", shuffle), ("drop_remainder", drop_remainder)):
            if flag is not None and not isinstance(flag, bool):
                raise TypeError(f"`{name}` must be a bool, got {type(flag).__name__} {flag!r}")
        self.shuffle = shuffle
        self.drop_remainder = shuffle if drop_remainder is None else drop_remainder
        self.seed = check_int("seed", seed, 0)
        self.workers = check_int("workers", workers, 0)
        self.buffer = check_int("buffer", buffer, 1)
        if process_index is None or process_count is None:
            import jax

            process_index = jax.process_index() if process_index is None else process_index
            process_count = jax.process_count() if process_count is None else process_count
        self.process_index, self.process_count = check_shard(process_index, process_count)
        self.source = source
        n = len(source)
        if n == 0:
            raise ValueError(f"`source` {describe(source)} is empty: it holds no samples")
        self._batches = _Batches(
            source, self.batch_size, 0, seed=self.seed, shuffle=self.shuffle,
            drop_remainder=self.drop_remainder, index=self.process_index, count=self.process_count,
        )  # fmt: skip
        shard = len(self._batches.order(0))
        full, rest = divmod(shard, self.batch_size)
        self.steps = self._batches.steps = full + (0 if self.drop_remainder or rest == 0 else 1)
        if self.steps == 0:
            raise ValueError(
                f"`batch_size` ({self.batch_size}) must not exceed the {shard} samples of this process's "
                f"shard of {describe(source)} (drop_remainder=True would leave no batch)"
            )
        self._it = None  # the live grain iterator and the batch it yields next: (epoch, step)
        self._next = None
        self._generation = 0  # which iterator may read from self._it
        self._eval = None  # the evaluation view (see evaluation())
        self._planned = 0  # epochs one pipeline serves (plan_epochs); at least the one asked for
        self._stop = 0  # the batch index where the running pipeline ends

    @property
    def num_steps(self) -> int | None:
        """``T`` of a bit-packed source (``fit`` unpacks its batches), else ``None``."""
        return getattr(self.source, "num_steps", None)

    @property
    def num_samples(self) -> int:
        """Samples of this process's shard that an epoch visits."""
        return min(len(self._batches.order(0)), self.steps * self.batch_size)

    def __len__(self) -> int:
        """Batches per epoch."""
        return self.steps

    def _pipeline(self, epoch: int, start: int, stop: int | None = None):
        """grain's iterator from batch ``start`` of ``epoch`` on: across epochs, or up to batch ``stop``
        of all (a one-pass read, whose workers then do not prefetch the next epoch)."""
        grain = _import_grain()
        first = epoch * self.steps + start
        if stop is None:  # up to the end of the planned epochs (at least this one): the workers then end
            stop = max(self._planned, epoch + 1) * self.steps
        self._stop = stop
        ds = grain.MapDataset.source(self._batches)[first:stop]
        it = ds.to_iter_dataset(grain.ReadOptions(num_threads=0, prefetch_buffer_size=0))
        if self.workers:
            options = grain.MultiprocessingOptions(
                num_workers=self.workers, per_worker_buffer_size=self.buffer
            )
            it = it.mp_prefetch(options)
        return iter(it)

    def __call__(self, epoch: int, start: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Epoch ``epoch``'s batches from batch ``start`` on (``start > 0`` resumes inside an epoch)."""
        epoch = check_int("epoch", epoch, 0)
        start = check_int("start", start, 0)
        if epoch >= _EPOCHS:
            raise ValueError(f"`epoch` must be < {_EPOCHS}, got {epoch}")
        if start > self.steps:
            raise ValueError(f"`start` must be <= the {self.steps} batches of an epoch, got {start}")
        return self._epoch(epoch, start)

    def _epoch(self, epoch: int, start: int):
        # unshuffled epochs are all alike: a finished one is followed by any epoch's first batch
        alike = not self.shuffle and self._next is not None and self._next[1] == start
        at = (epoch, start) if start < self.steps else (epoch + 1, 0)
        ended = self._next is not None and self._next[0] * self.steps + self._next[1] >= self._stop
        if self._it is None or ended or (self._next != at and not alike):
            self.close()
            self._it = self._pipeline(epoch, start)
            _LIVE.add(self)
        self._generation += 1  # an older iterator of this loader may not read any more
        generation = self._generation
        self._next = at  # where the pipeline stands
        for step in range(start, self.steps):
            if self._generation != generation:
                raise RuntimeError(
                    f"this iterator over epoch {epoch} of {self!r} was superseded: the loader was called "
                    "again (or closed) before it finished, and one loader reads one epoch at a time"
                )
            try:
                x, y = next(self._it)
            except ValueError as err:  # a bad sample, named by its source (also from a worker)
                self.close()
                raise DataError(str(err)) from err
            except BaseException:  # an interrupt or a crashed worker: stop the workers
                self.close()
                raise
            # plain arrays: grain's shared-memory views must not outlive their workers (nor this frame)
            batch = np.array(x, copy=True), np.array(y, copy=True)
            del x, y
            self._next = (epoch, step + 1) if step + 1 < self.steps else (epoch + 1, 0)
            yield batch

    def plan_epochs(self, epochs: int) -> None:
        """Let one pipeline serve epochs ``0 .. epochs - 1`` without restarting its workers.

        Without a plan, each epoch's workers start with its first batch and end
        with its last. :func:`snnx.train.fit` plans its ``epochs``. (Stopping
        workers part-way through is slow in grain 0.2.18: it waits up to 25 s
        per worker for one blocked on its full buffer, so pipelines end where
        they are planned to.)
        """
        self._planned = check_int("epochs", epochs, 0)

    def evaluation(self) -> Loader:
        """This loader as evaluation reads it: every sample, in order (``self`` when it already is).

        ``fit``/``evaluate`` read an ``eval_data`` loader through this view, so a
        shuffled loader with ``drop_remainder`` still evaluates every sample once.
        """
        if not self.shuffle and not self.drop_remainder:
            return self
        if self._eval is None:
            self._eval = Loader(
                self.source, self.batch_size, shuffle=False, drop_remainder=False, workers=self.workers,
                buffer=self.buffer, process_index=self.process_index, process_count=self.process_count,
            )  # fmt: skip
        return self._eval

    def single_pass(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Epoch 0's batches, read by workers that stop at its end (one pass over the data).

        For reading a dataset once (:meth:`arrays`, :class:`PackedCache`): unlike
        ``loader(0)``, the workers do not go on to prefetch the next epoch.
        """
        it = self._pipeline(0, 0)
        try:
            for x, y in _checked(itertools.islice(it, self.steps)):
                batch = np.array(x, copy=True), np.array(y, copy=True)
                del x, y
                yield batch
        finally:
            _close(it)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Every sample of this process's shard, in order, as one pair ``(x, y)`` (the in-memory path).

        Reads the source once through the workers; ``x`` has shape
        ``(ceil(T/8), N, *sample_shape)`` (packed) and ``y`` ``(N,)``.
        """
        loader = Loader(
            self.source,
            self.batch_size,
            shuffle=False,
            drop_remainder=False,
            workers=self.workers,
            buffer=self.buffer,
            process_index=self.process_index,
            process_count=self.process_count,
        )
        parts = list(loader.single_pass())
        return np.concatenate([x for x, _ in parts], axis=1), np.concatenate([y for _, y in parts])

    def close(self) -> None:
        """Stop the worker processes (the next batch starts them again)."""
        it, self._it, self._next = self._it, None, None
        self._generation += 1
        _LIVE.discard(self)
        if self._eval is not None:
            self._eval.close()
        if it is not None:
            _close(it)

    def __enter__(self) -> Loader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: grain's modules may be gone already
            pass

    def __repr__(self) -> str:
        return (
            f"Loader({describe(self.source)}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"workers={self.workers}, steps={self.steps})"
        )


def _close(it) -> None:
    close = getattr(it, "close", None)
    if close is not None:
        close()


def _checked(it):
    """``it``'s items; a failed read (a ``ValueError`` naming the file) becomes a :class:`DataError`."""
    while True:
        try:
            item = next(it)
        except StopIteration:
            return
        except ValueError as err:
            raise DataError(str(err)) from err
        yield item
