"""A source binned once into a bit-packed file on disk, then read by memory map: :class:`PackedCache`."""

from __future__ import annotations

import json
import os
import secrets
import warnings

import numpy as np

from snnx.datasets._loader import Loader, describe

#: Version of the cache file layout; a cache of another version is rebuilt.
_FORMAT = 1


def _fingerprint(source) -> dict:
    """What identifies ``source``'s content: its type, description, size and settings, and its file."""
    settings = {
        k: v
        for k, v in sorted(vars(source).items())
        if not k.startswith("_") and isinstance(v, (bool, int, float, str, tuple, type(None)))
    }
    path = getattr(source, "path", None)
    stat = os.stat(path) if isinstance(path, str) and os.path.isfile(path) else None
    return {
        "format": _FORMAT,
        "source": type(source).__name__,
        "description": describe(source),
        "samples": len(source),
        "settings": json.loads(json.dumps(settings, default=list)),
        "file": None if stat is None else {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns},
    }


class PackedCache:
    """``source``'s samples, binned and bit-packed once into the file ``path``, then read from it.

    Streaming a file format that needs decoding (an HDF5 spike file, tonic's
    event files) costs CPU every epoch; on a machine whose cores also run the
    training step, that competes with the step. A ``PackedCache`` decodes
    every sample once (through a :class:`Loader` with ``workers`` processes)
    into ``path``: an array ``(N, ceil(T/8), *sample_shape)`` of uint8, one
    contiguous record per sample, with ``path + ".json"`` holding the labels
    and what the cache was made from. Later epochs (and later runs) read a
    sample with one memory-mapped copy. The cache is rebuilt, with a warning,
    when the source's description, size, settings or file (size and
    modification time) differ from those recorded, or when the file has the
    wrong size; it is written to a temporary name and moved into place, so an
    interrupted build never leaves a cache that looks complete.

    Args:
        source: a bit-packed source (with ``num_steps`` and ``sample_shape``),
            e.g. :class:`HeidelbergSource` or :class:`EventFrames`.
        path: the cache file (its folder is created).
        workers: processes that decode the source when the cache is built.

    Raises:
        ValueError: ``source`` is not bit-packed (no ``num_steps``).
    """

    def __init__(self, source, path: str | os.PathLike, *, workers: int = 0):
        if getattr(source, "num_steps", None) is None or getattr(source, "sample_shape", None) is None:
            raise ValueError(
                f"`source` {describe(source)} must be bit-packed, with `num_steps` and `sample_shape` "
                "attributes (HeidelbergSource, EventFrames, ArraySource(..., num_steps=T))"
            )
        self.path = os.fspath(path)
        self.num_steps = int(source.num_steps)
        self.sample_shape = tuple(int(n) for n in source.sample_shape)
        self.num_classes = getattr(source, "num_classes", None)
        self.description = f"{describe(source)} (cached in {self.path})"
        self._shape = (len(source), -(-self.num_steps // 8), *self.sample_shape)
        wanted = _fingerprint(source)
        found = self._read_header()
        if found is None or found["fingerprint"] != wanted or not self._complete():
            if found is not None:
                warnings.warn(
                    f"{self.path}: the cache does not match {describe(source)} (changed source, settings "
                    "or file, or an incomplete cache file); building it again",
                    stacklevel=2,
                )
            self._build(source, wanted, workers)
            found = self._read_header()
        self.labels = np.asarray(found["labels"])
        self._data = None

    def _read_header(self) -> dict | None:
        try:
            with open(self.path + ".json") as f:
                header = json.load(f)
        except (OSError, ValueError):
            return None
        return header if isinstance(header, dict) and "fingerprint" in header else None

    def _complete(self) -> bool:
        try:
            return os.path.getsize(self.path) == int(np.prod(self._shape))
        except OSError:
            return False

    def _build(self, source, fingerprint: dict, workers: int) -> None:
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".{os.path.basename(self.path)}.{secrets.token_hex(4)}.tmp")
        labels = []
        try:
            data = np.memmap(tmp, dtype=np.uint8, mode="w+", shape=self._shape)
            loader = Loader(source, 256, shuffle=False, workers=workers, process_index=0, process_count=1)
            start = 0
            for x, y in loader.single_pass():
                data[start : start + x.shape[1]] = np.moveaxis(x, 1, 0)
                labels.extend(y.tolist())
                start += x.shape[1]
            data.flush()
            del data
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        header = {"fingerprint": fingerprint, "shape": list(self._shape), "labels": labels}
        with open(self.path + ".json.tmp", "w") as f:
            json.dump(header, f)
        os.replace(self.path + ".json.tmp", self.path + ".json")

    def __len__(self) -> int:
        return self._shape[0]

    def __getstate__(self):
        return {**self.__dict__, "_data": None}  # each process maps the file itself

    def __getitem__(self, i: int):
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample {i} of {self.path!r} is out of range: it holds {len(self)} samples")
        if self._data is None:
            self._data = np.memmap(self.path, dtype=np.uint8, mode="r", shape=self._shape)
        i = int(i) % len(self)
        return np.array(self._data[i]), int(self.labels[i])
