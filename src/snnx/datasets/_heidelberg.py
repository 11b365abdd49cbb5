"""Spiking Heidelberg Digits (SHD) and Spiking Speech Commands (SSC) from their HDF5 files."""

from __future__ import annotations

import os

import numpy as np

from snnx.datasets._common import check_int, check_shard

#: Input channels of the Heidelberg cochlea model (units 0..699).
HEIDELBERG_UNITS = 700
#: Samples binned at a time (bounds the memory of the unpacked chunk).
_CHUNK = 1024


def _check_window(window) -> float:
    if isinstance(window, bool) or not isinstance(window, (int, float, np.floating, np.integer)):
        raise TypeError(f"`window` must be a number of seconds, got {type(window).__name__} {window!r}")
    if not np.isfinite(window) or window <= 0:
        raise ValueError(f"`window` must be a positive number of seconds, got {window}")
    return float(window)


def load_heidelberg(
    path: str | os.PathLike,
    *,
    num_steps: int = 100,
    window: float = 1.0,
    num_units: int = HEIDELBERG_UNITS,
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
    into it (binary spikes).

    Args:
        path: the ``.h5`` file (e.g. ``shd_train.h5``, ``ssc_test.h5``).
        num_steps: ``T``, number of time bins over ``window``.
        window: seconds covered by the ``T`` bins.
        num_units: number of output channels (1..700).
        pack: return bit-packed spikes (:func:`numpy.packbits` along time,
            big-endian, the layout of :func:`snnx.encoders.pack_spikes`; give
            ``fit(..., num_steps=T)`` to unpack them per batch).
        process_index: return only samples ``process_index::process_count``
            (one host's shard).
        process_count: see ``process_index``.

    Returns:
        ``(x, y)``: ``x`` uint8 spikes of shape ``(T, N, num_units)`` (packed:
        ``(ceil(T/8), N, num_units)``), ``y`` int32 labels of shape ``(N,)``.
    """
    import h5py

    num_steps = check_int("num_steps", num_steps, 1)
    window = _check_window(window)
    num_units = check_int("num_units", num_units, 1)
    if num_units > HEIDELBERG_UNITS:
        raise ValueError(f"`num_units` must be <= {HEIDELBERG_UNITS}, got {num_units}")
    process_index, process_count = check_shard(process_index, process_count)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"`path` {path!r} is not a file")
    with h5py.File(path, "r") as f:
        for key in ("spikes/times", "spikes/units", "labels"):
            if key not in f:
                raise ValueError(
                    f"`path` {path!r} is not a Heidelberg spike file: dataset {key!r} is missing"
                )
        times = f["spikes/times"][process_index::process_count]
        units = f["spikes/units"][process_index::process_count]
        labels = np.asarray(f["labels"][process_index::process_count], dtype=np.int32)
    n = len(labels)
    if len(times) != n or len(units) != n:
        raise ValueError(
            f"`path` {path!r}: spikes/times ({len(times)}), spikes/units ({len(units)}) and labels ({n}) "
            "must have the same number of samples"
        )
    steps_out = -(-num_steps // 8) if pack else num_steps
    x = np.zeros((steps_out, n, num_units), dtype=np.uint8)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        chunk = np.zeros((num_steps, stop - start, num_units), dtype=np.uint8)
        for j in range(start, stop):
            t = np.asarray(times[j], dtype=np.float64)
            u = np.asarray(units[j], dtype=np.int64)
            if t.shape != u.shape:
                raise ValueError(
                    f"`path` {path!r}: sample {j * process_count + process_index} has {t.size} times but "
                    f"{u.size} units"
                )
            if u.size and (u.min() < 0 or u.max() >= HEIDELBERG_UNITS):
                raise ValueError(
                    f"`path` {path!r}: sample {j * process_count + process_index} has units outside "
                    f"[0, {HEIDELBERG_UNITS}): {u.min()}..{u.max()}"
                )
            keep = np.isfinite(t) & (t >= 0) & (t < window)
            bins = np.minimum((t[keep] * (num_steps / window)).astype(np.int64), num_steps - 1)
            chunk[bins, j - start, u[keep] * num_units // HEIDELBERG_UNITS] = 1
        x[:, start:stop] = np.packbits(chunk, axis=0) if pack else chunk
    return x, labels


def shd(path: str | os.PathLike, **kwargs):
    """Spiking Heidelberg Digits (20 classes): :func:`load_heidelberg` on ``shd_train.h5``/``shd_test.h5``.

    Keyword arguments as in :func:`load_heidelberg` (``num_steps=100``,
    ``window=1.0``, ``num_units=700``, ``pack=False``, ``process_index``,
    ``process_count``). The files come from https://zenkelab.org/datasets/
    (Cramer et al. 2020); snnx downloads nothing.
    """
    return load_heidelberg(path, **kwargs)


def ssc(path: str | os.PathLike, **kwargs):
    """Spiking Speech Commands (35 classes): :func:`load_heidelberg` on ``ssc_{train,valid,test}.h5``.

    Same format and arguments as :func:`shd`; consider ``pack=True`` (the
    unpacked training split is ``T * 75,466 * num_units`` bytes).
    """
    return load_heidelberg(path, **kwargs)
