"""Spiking Heidelberg Digits (SHD) and Spiking Speech Commands (SSC) from their HDF5 files."""

from __future__ import annotations

import os

import numpy as np

from snnx.datasets._common import check_int, check_shard

#: Input channels of the Heidelberg cochlea model (units 0..699).
HEIDELBERG_UNITS = 700
#: Classes: SHD's 20 spoken digits (English and German), SSC's 35 speech commands.
CLASSES = {"shd": 20, "ssc": 35}
_KEYS = ("spikes/times", "spikes/units", "labels")


def _check_window(window) -> float:
    if isinstance(window, bool) or not isinstance(window, (int, float, np.floating, np.integer)):
        raise TypeError(f"`window` must be a number of seconds, got {type(window).__name__} {window!r}")
    if not np.isfinite(window) or window <= 0:
        raise ValueError(f"`window` must be a positive number of seconds, got {window}")
    return float(window)


def _open(path: str):
    """The HDF5 file at ``path``, checked for the Heidelberg layout; errors name the file."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as err:  # truncated, corrupted, or not HDF5 at all
        raise ValueError(
            f"`path` {path!r} is not a readable HDF5 file (expected a Heidelberg spike file with "
            f"{', '.join(_KEYS)}); it may be truncated or corrupted: {err}"
        ) from None
    for key in _KEYS:
        if key not in f:
            f.close()
            raise ValueError(f"`path` {path!r} is not a Heidelberg spike file: dataset {key!r} is missing")
    return f


class HeidelbergSource:
    """A Heidelberg spike file as a random-access source of binned, bit-packed samples.

    ``source[i]`` is ``(x, label)``: ``x`` uint8 of shape ``(ceil(T/8), num_units)``,
    sample ``i``'s spikes binned into ``T = num_steps`` steps (see
    :func:`load_heidelberg` for the rule) and bit-packed along time
    (:func:`numpy.packbits`, axis 0); ``label`` an int. The file is opened
    lazily in each process that reads it, so the source can be sent to
    :class:`snnx.datasets.Loader`'s worker processes.

    Args:
        path: the ``.h5`` file.
        num_steps: ``T``.
        window: seconds covered by the ``T`` bins.
        num_units: output channels (1..700).
        num_classes: labels must lie in ``[0, num_classes)`` (default: no upper
            bound); checked for the whole file when the source is made.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ValueError: not a readable HDF5 file in the Heidelberg layout, labels
            out of range, or no samples.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        num_steps: int = 100,
        window: float = 1.0,
        num_units: int = HEIDELBERG_UNITS,
        num_classes: int | None = None,
    ):
        self.num_steps = check_int("num_steps", num_steps, 1)
        self.window = _check_window(window)
        self.num_units = check_int("num_units", num_units, 1)
        if self.num_units > HEIDELBERG_UNITS:
            raise ValueError(f"`num_units` must be <= {HEIDELBERG_UNITS}, got {self.num_units}")
        self.num_classes = None if num_classes is None else check_int("num_classes", num_classes, 1)
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"`path` {self.path!r} is not a file")
        import h5py

        with _open(self.path) as f:
            counts = {key: len(f[key]) for key in _KEYS}
            labels = self._read(f, "labels", slice(None))
            for key in _KEYS[:2]:
                if h5py.check_vlen_dtype(f[key].dtype) is None:
                    raise ValueError(
                        f"`path` {self.path!r}: {key!r} must hold one variable-length array per sample "
                        f"(the Heidelberg layout), got a dataset of {f[key].dtype} with shape {f[key].shape}"
                    )
        if len(set(counts.values())) != 1:
            raise ValueError(
                f"`path` {self.path!r}: spikes/times ({counts['spikes/times']}), spikes/units "
                f"({counts['spikes/units']}) and labels ({counts['labels']}) must have the same number of "
                "samples"
            )
        if len(labels) == 0:
            raise ValueError(f"`path` {self.path!r} holds no samples (an empty split)")
        labels = np.asarray(labels)
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"`path` {self.path!r}: 'labels' must be integers, one per sample, got {labels.dtype} "
                f"with shape {labels.shape}"
            )
        self.labels = labels.astype(np.int64)
        upper = np.inf if self.num_classes is None else self.num_classes
        bad = np.flatnonzero((self.labels < 0) | (self.labels >= upper))
        if bad.size:
            raise ValueError(
                f"`path` {self.path!r}: label {self.labels[bad[0]]} of sample {bad[0]} is outside "
                f"[0, {upper}) ({bad.size} samples out of range)"
            )
        self.sample_shape = (self.num_units,)
        self.description = self.path
        self._file = self._spikes = None

    def _read(self, f, key, index):
        try:
            return f[key][index]
        except (OSError, RuntimeError) as err:  # a damaged chunk inside an otherwise readable file
            name = _KEYS[key] if isinstance(key, int) else key
            raise ValueError(
                f"`path` {self.path!r}: cannot read {name!r} (the file is corrupted): {err}"
            ) from None

    def __len__(self) -> int:
        return len(self.labels)

    def __getstate__(self):
        return {**self.__dict__, "_file": None, "_spikes": None}  # h5py handles do not cross processes

    def __getitem__(self, i: int):
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample {i} of {self.path!r} is out of range: it holds {len(self)} samples")
        i = int(i) % len(self)
        if self._file is None:  # opened once per process; the dataset handles are kept (a lookup costs)
            self._file = _open(self.path)
            self._spikes = self._file["spikes/times"], self._file["spikes/units"]
        times = np.asarray(self._read(self._spikes, 0, i), dtype=np.float64)
        units = np.asarray(self._read(self._spikes, 1, i), dtype=np.int64)
        where = f"{self.path!r}: sample {i}"
        return bin_spikes(times, units, self.num_steps, self.window, self.num_units, where), int(
            self.labels[i]
        )

    def close(self) -> None:
        """Close this process's handle on the file (the next read opens it again)."""
        file, self._file, self._spikes = getattr(self, "_file", None), None, None
        if file is not None:
            file.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass


def bin_spikes(times, units, num_steps: int, window: float, num_units: int, where: str) -> np.ndarray:
    """One sample's spikes ``(times, units)`` as a binary raster, bit-packed along time:
    ``(ceil(num_steps / 8), num_units)`` uint8 (a transposed view: packing runs along the
    last, contiguous axis of a ``(num_units, num_steps)`` raster)."""
    if times.shape != units.shape:
        raise ValueError(f"`path` {where} has {times.size} times but {units.size} units")
    if units.size and (units.min() < 0 or units.max() >= HEIDELBERG_UNITS):
        raise ValueError(
            f"`path` {where} has units outside [0, {HEIDELBERG_UNITS}): {units.min()}..{units.max()} "
            f"(a Heidelberg file has {HEIDELBERG_UNITS} channels)"
        )
    keep = np.isfinite(times) & (times >= 0) & (times < window)
    bins = np.minimum((times[keep] * (num_steps / window)).astype(np.int64), num_steps - 1)
    out = np.zeros((num_units, num_steps), dtype=np.uint8)
    out[units[keep] * num_units // HEIDELBERG_UNITS, bins] = 1
    return np.packbits(out, axis=1).T


def load_heidelberg(
    path: str | os.PathLike,
    *,
    num_steps: int = 100,
    window: float = 1.0,
    num_units: int = HEIDELBERG_UNITS,
    num_classes: int | None = None,
    pack: bool = False,
    process_index: int = 0,
    process_count: int = 1,
):
    """Read a Heidelberg spike file (``spikes/times``, ``spikes/units``, ``labels``) and bin it.

    Sample ``n`` has spike times ``spikes/times[n]`` (seconds, float) of the
    input units ``spikes/units[n]`` (0..699). Spikes with ``0 <= t < window``
    fall into step ``floor(t * num_steps / window)``; later ones are dropped.
    Unit ``u`` maps to channel ``u * num_units // 700`` (``num_units < 700``
    merges neighbouring channels). A bin holds 1 when at least one spike falls
    into it (binary spikes). The whole split is read into memory; for one that
    does not fit, stream it: ``Loader(HeidelbergSource(path), batch_size)``.

    Args:
        path: the ``.h5`` file (e.g. ``shd_train.h5``, ``ssc_test.h5``).
        num_steps: ``T``, number of time bins over ``window``.
        window: seconds covered by the ``T`` bins.
        num_units: number of output channels (1..700).
        num_classes: labels must lie in ``[0, num_classes)`` (default: only
            ``>= 0``; :func:`shd` and :func:`ssc` pass 20 and 35).
        pack: return bit-packed spikes (:func:`numpy.packbits` along time,
            big-endian, the layout of :func:`snnx.encoders.pack_spikes`; give
            ``fit(..., num_steps=T)`` to unpack them per batch).
        process_index: return only samples ``process_index::process_count``
            (one host's shard).
        process_count: see ``process_index``.

    Returns:
        ``(x, y)``: ``x`` uint8 spikes of shape ``(T, N, num_units)`` (packed:
        ``(ceil(T/8), N, num_units)``), ``y`` int32 labels of shape ``(N,)``.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ValueError: the file is truncated, corrupted or not in the Heidelberg
            layout; a unit outside 0..699; a label out of range; no samples.
    """
    process_index, process_count = check_shard(process_index, process_count)
    source = HeidelbergSource(
        path, num_steps=num_steps, window=window, num_units=num_units, num_classes=num_classes
    )
    indices = range(process_index, len(source), process_count)
    steps_out = -(-source.num_steps // 8) if pack else source.num_steps
    x = np.zeros((steps_out, len(indices), source.num_units), dtype=np.uint8)
    try:
        for j, i in enumerate(indices):
            packed, _ = source[i]
            x[:, j] = packed if pack else np.unpackbits(packed, axis=0, count=source.num_steps)
    finally:
        source.close()
    return x, source.labels[process_index::process_count].astype(np.int32)


def shd(path: str | os.PathLike, **kwargs):
    """Spiking Heidelberg Digits (20 classes): :func:`load_heidelberg` on ``shd_train.h5``/``shd_test.h5``.

    Keyword arguments as in :func:`load_heidelberg` (``num_steps=100``,
    ``window=1.0``, ``num_units=700``, ``pack=False``, ``process_index``,
    ``process_count``); labels are checked to lie in 0..19. The files come
    from https://zenkelab.org/datasets/ (Cramer et al. 2022);
    :func:`snnx.datasets.fetch` downloads them.
    """
    return load_heidelberg(path, **{"num_classes": CLASSES["shd"], **kwargs})


def ssc(path: str | os.PathLike, **kwargs):
    """Spiking Speech Commands (35 classes): :func:`load_heidelberg` on ``ssc_{train,valid,test}.h5``.

    Same format and arguments as :func:`shd`, labels in 0..34; consider
    ``pack=True`` (the unpacked training split is ``T * 75,466 * num_units``
    bytes) or streaming (:class:`snnx.datasets.Loader`).
    """
    return load_heidelberg(path, **{"num_classes": CLASSES["ssc"], **kwargs})
