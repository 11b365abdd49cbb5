"""N-MNIST and DVS Gesture through ``tonic`` (optional extra ``snnx[data]``).

tonic finds, downloads and parses the files (``tonic.datasets.NMNIST`` /
``DVSGesture``, whose ``__getitem__`` reads one sample) and bins the events
(``tonic.transforms.ToFrame``); this module checks what tonic hands back and
turns it into binary channels-last frames. :class:`EventFrames` reads one sample
at a time (a random-access source for streaming loaders); :func:`nmnist` and
:func:`dvs_gesture` read a whole split into memory.

Where tonic looks (tonic 1.7.0), for ``save_to=root``::

    root/NMNIST/train.zip, test.zip                   archives (md5 checked only when tonic downloads)
    root/NMNIST/Train/<label 0-9>/<name>.bin          extracted: 40-bit event records
    root/NMNIST/Test/...
    root/DVSGesture/ibmGestureTrain.tar.gz, ibmGestureTest.tar.gz
    root/DVSGesture/ibmGestureTrain/user<NN>_<lighting>/<label 0-10>.npy   arrays (N, 4): x, y, p, t [ms]
    root/DVSGesture/ibmGestureTest/...

tonic itself downloads unless the archive is present *and* the extracted
folder holds at least 10,000 ``.bin`` (N-MNIST) / 100 ``.npy`` (DVS Gesture)
files. Here an extracted folder without its archive next to it is also taken
as it is (your own copy, or a subset); everything else goes to tonic's
download, which verifies and extracts an archive that is already there.
"""

from __future__ import annotations

import dataclasses
import os
import pickle

import numpy as np

from snnx.datasets._common import check_int, check_shard

_READ_ERRORS = (ValueError, IndexError, TypeError, EOFError, pickle.UnpicklingError)


def _import_tonic():
    try:
        import tonic
        import tonic.datasets
        import tonic.transforms
    except ImportError as err:
        raise ImportError(
            "this loader needs the optional package `tonic`; install it with `pip install 'snnx[data]'`"
        ) from err
    return tonic


@dataclasses.dataclass(frozen=True)
class _Spec:
    title: str  # the dataset's name in messages
    tonic_class: str  # tonic.datasets.<tonic_class>, also tonic's subfolder of ``root``
    folders: tuple[str, str]  # tonic's extracted folders (train, test)
    width: int
    height: int
    num_classes: int
    downsample: int  # default spatial reduction
    layout: str  # the extracted folder's content, for messages


_SPECS = {
    "nmnist": _Spec(
        title="N-MNIST",
        tonic_class="NMNIST",
        folders=("Train", "Test"),
        width=34,
        height=34,
        num_classes=10,
        downsample=1,
        layout="<label 0-9>/<name>.bin files of 5-byte event records (x, y, polarity bit, 23-bit time [us])",
    ),
    "dvs_gesture": _Spec(
        title="DVS Gesture",
        tonic_class="DVSGesture",
        folders=("ibmGestureTrain", "ibmGestureTest"),
        width=128,
        height=128,
        num_classes=11,
        downsample=4,
        layout="user<NN>_<lighting>/<label 0-10>.npy files, each an array (N, 4) of x, y, p, t [ms]",
    ),
}


def _tonic_class(name: str):
    """tonic's dataset class, with the existence rule of the module docstring and a clear download error."""
    spec = _SPECS[name]
    base = getattr(_import_tonic().datasets, spec.tonic_class)

    class Local(base):
        def _split_folder(self) -> str:
            return os.path.join(self.location_on_system, self.folder_name)

        def _check_exists(self) -> bool:
            if super()._check_exists():
                return True
            return not self._is_file_present() and os.path.isdir(self._split_folder())

        def download(self) -> None:
            try:
                super().download()
            except Exception as err:  # offline, refused, corrupt archive: say where the files belong
                archive = os.path.join(self.location_on_system, self.filename)
                raise OSError(
                    f"{spec.title}: no usable copy in {self.location_on_system!r} and tonic could not "
                    f"download it ({type(err).__name__}: {err}). Put either the extracted folder "
                    f"{self._split_folder()!r} holding {spec.layout}, or tonic's archive {archive!r} "
                    f"(md5 {self.file_md5}), which tonic verifies and extracts."
                ) from err

    Local.__name__ = Local.__qualname__ = base.__name__  # tonic's subfolder of ``root`` is the class name
    return Local


def _misplaced(name: str, folder: str) -> str:
    """The first path under ``folder`` whose name tonic cannot parse a label or user from, else ``folder``."""
    for path, dirs, files in os.walk(folder):
        dirs.sort()
        names = [os.path.join(path, file) for file in sorted(files) if file.endswith(_SUFFIX[name])]
        if name == "nmnist":
            if names and not path[-1].isdigit():
                return names[0]
            continue
        relative = os.path.relpath(path, folder)
        if relative != "." and ("_" not in relative or not _is_int(relative.split("_", 1)[0][4:])):
            return path
        for file in names:
            if not _is_int(os.path.basename(file)[:-4]):
                return file
    return folder


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


_SUFFIX = {"nmnist": "bin", "dvs_gesture": "npy"}  # as tonic 1.7.0 matches them (no dot)


def _open(name: str, root: str, train: bool):
    """tonic's dataset for one split, its samples sorted and their labels checked."""
    spec = _SPECS[name]
    try:
        dataset = _tonic_class(name)(save_to=root, train=train)
    except ValueError as err:  # tonic parses labels and users from folder and file names
        folder = os.path.join(os.path.expanduser(root), spec.tonic_class, spec.folders[not train])
        raise ValueError(
            f"{_misplaced(name, folder)}: tonic cannot take a {spec.title} label from this name ({err}); "
            f"{folder!r} must hold {spec.layout}"
        ) from err
    folder = os.path.join(dataset.location_on_system, dataset.folder_name)
    if not dataset.data:
        raise ValueError(f"{spec.title}: {folder!r} holds no samples; expected {spec.layout}")
    # tonic lists DVS Gesture files in directory order, which differs between file systems
    order = sorted(
        range(len(dataset.data)), key=lambda i: (os.path.dirname(dataset.data[i]), dataset.targets[i])
    )
    for attr in ("data", "targets", "users", "lighting"):
        if hasattr(dataset, attr):
            setattr(dataset, attr, [getattr(dataset, attr)[i] for i in order])
    for path, label in zip(dataset.data, dataset.targets, strict=True):
        parent = os.path.basename(os.path.dirname(path))
        if name == "nmnist" and not (len(parent) == 1 and parent.isdigit()):
            raise ValueError(
                f"{path}: N-MNIST takes a sample's label from its folder's name, which must be one "
                f"digit 0-9, got folder {parent!r}"
            )
        if not 0 <= label < spec.num_classes:
            raise ValueError(
                f"{path}: label {label} (from the file name) is outside 0..{spec.num_classes - 1} "
                f"for {spec.title}"
            )
    return dataset


class EventFrames:
    """One split of N-MNIST or DVS Gesture as binary, time-packed frames, one sample at a time.

    Sample ``i`` is tonic's ``i``-th event recording (N-MNIST: folders ``0``..``9``
    then file names in order; DVS Gesture: user folders in order, then label).
    Its events ``(x, y, p, t)`` fall on the pixel ``(x // downsample, y //
    downsample)`` of an ``H x W`` grid, ``H = ceil(sensor_height / downsample)``
    (same for ``W``), and into one of ``T = num_steps`` time bins by
    ``tonic.transforms.ToFrame(n_time_bins=T)``: with ``t0`` the first
    timestamp and ``w = (t_last - t0) // T`` (integer microseconds), bin ``k``
    holds the events with ``t0 + k*w <= t < t0 + (k+1)*w``. So events at or
    after ``t0 + T*w`` (at least the last one) are dropped, and a recording
    that spans less than ``T`` microseconds gives empty frames; tonic assumes
    the events are in time order. A frame pixel is 1 when at least one event
    falls into it.

    The tonic dataset is opened on first use in each process and is not
    pickled, so the source can be sent to worker processes.

    Args:
        name: ``"nmnist"`` (34x34 sensor, 10 classes) or ``"dvs_gesture"``
            (128x128 sensor, 11 classes).
        root: tonic's ``save_to`` folder (layout in this module's docstring;
            tonic downloads into it what is missing).
        train: the training or the test split.
        num_steps: ``T``, the number of time bins.
        downsample: integer spatial reduction factor; ``None`` for the
            dataset's default (1 for N-MNIST, 4 for DVS Gesture).

    Attributes:
        num_steps: ``T``.
        sample_shape: ``(H, W, 2)``, channels (polarity) last.
        num_classes: 10 or 11.
        description: the dataset, split and folder, in words.

    Raises:
        ImportError: tonic is not installed (``pip install 'snnx[data]'``).
        ValueError, TypeError: a bad argument.
        OSError, ValueError: on first use (``len``, indexing), absent files
            that tonic cannot download, an empty split or unusable labels, as
            :func:`nmnist` and :func:`dvs_gesture` describe.
    """

    def __init__(
        self,
        name: str,
        root: str | os.PathLike,
        *,
        train: bool = True,
        num_steps: int = 20,
        downsample: int | None = None,
    ):
        if name not in _SPECS:
            raise ValueError(f"`name` must be one of {', '.join(map(repr, _SPECS))}, got {name!r}")
        spec = _SPECS[name]
        if not isinstance(train, bool):
            raise TypeError(f"`train` must be a bool, got {type(train).__name__} {train!r}")
        self.name, self.root, self.train = name, os.fspath(root), train
        self.num_steps = check_int("num_steps", num_steps, 1)
        self.downsample = spec.downsample if downsample is None else check_int("downsample", downsample, 1)
        self.sample_shape = (-(-spec.height // self.downsample), -(-spec.width // self.downsample), 2)
        self.num_classes = spec.num_classes
        self.description = (
            f"{spec.title} {'train' if train else 'test'} split under {self.root!r} (tonic; "
            f"{self.num_steps} time bins, {self.sample_shape[0]}x{self.sample_shape[1]} pixels)"
        )
        _import_tonic()
        self._dataset = None

    def __repr__(self) -> str:
        return f"EventFrames({self.description})"

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_dataset": None}

    def _tonic(self):
        if self._dataset is None:
            self._dataset = _open(self.name, self.root, self.train)
        return self._dataset

    def __len__(self) -> int:
        return len(self._tonic().data)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        """Sample ``index``: ``(x, label)``.

        Returns:
            ``x`` uint8 ``(ceil(T/8), H, W, 2)``, the binary frames bit-packed
            along time (``numpy.packbits(axis=0)``, as
            :func:`snnx.encoders.pack_spikes`); ``label`` an int.

        Raises:
            TypeError: ``index`` is not an int.
            IndexError: ``index`` is not in ``[0, len(self))``.
            ValueError: the sample's file is damaged or holds events outside the sensor.
        """
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"`index` must be an int, got {type(index).__name__} {index!r}")
        dataset = self._tonic()
        if not 0 <= index < len(dataset.data):
            raise IndexError(
                f"`index` {index} is out of range [0, {len(dataset.data)}) for {self.description}"
            )
        events, label = self._read(dataset, int(index))
        height, width, polarities = self.sample_shape
        if len(events) == 0:
            return np.zeros((-(-self.num_steps // 8), height, width, polarities), np.uint8), int(label)
        events = events.copy()
        events["x"] //= self.downsample
        events["y"] //= self.downsample
        to_frame = _import_tonic().transforms.ToFrame(
            sensor_size=(width, height, polarities), n_time_bins=self.num_steps
        )
        frames = np.asarray(to_frame(events))  # (T, polarity, H, W) event counts
        spikes = np.moveaxis(frames, 1, -1) > 0
        return np.packbits(spikes, axis=0), int(label)

    def _read(self, dataset, index: int):
        """tonic's events and label for sample ``index``, checked against the format and the sensor."""
        spec = _SPECS[self.name]
        path = dataset.data[index]
        if self.name == "nmnist":
            size = os.path.getsize(path)
            if size == 0:
                raise ValueError(
                    f"{path}: this N-MNIST event file is empty (0 bytes); a recording holds 5-byte event "
                    "records: the file was truncated or not copied"
                )
            if size % 5:
                raise ValueError(
                    f"{path}: N-MNIST event files are 5-byte records, but this one has {size} bytes "
                    "(not a multiple of 5): truncated or not an N-MNIST .bin file"
                )
        try:
            events, label = dataset[index]
        except _READ_ERRORS as err:
            raise ValueError(
                f"{path}: tonic cannot read this {spec.title} file ({type(err).__name__}: {err}); "
                f"expected {spec.layout}"
            ) from err
        for axis, size in (("x", spec.width), ("y", spec.height)):
            values = events[axis]
            if len(values) and (values.min() < 0 or values.max() >= size):
                raise ValueError(
                    f"{path}: event {axis} coordinates must lie in [0, {size}) on the {spec.width}x"
                    f"{spec.height} {spec.title} sensor, got {values.min()}..{values.max()}"
                )
        return events, label


def _load(name, root, *, train, num_steps, downsample, pack, process_index, process_count):
    source = EventFrames(name, root, train=train, num_steps=num_steps, downsample=downsample)
    process_index, process_count = check_shard(process_index, process_count)
    indices = range(process_index, len(source), process_count)
    x = np.zeros((-(-source.num_steps // 8), len(indices), *source.sample_shape), np.uint8)
    y = np.zeros(len(indices), np.int32)
    for j, i in enumerate(indices):
        x[:, j], y[j] = source[i]
    if not pack:
        x = np.unpackbits(x, axis=0, count=source.num_steps)
    return x, y


def nmnist(
    root: str | os.PathLike,
    *,
    train: bool = True,
    num_steps: int = 20,
    downsample: int = 1,
    pack: bool = False,
    process_index: int = 0,
    process_count: int = 1,
):
    """N-MNIST (10 classes, 34x34 sensor, 2 polarities) binned into ``num_steps`` frames.

    Reads the split with ``tonic.datasets.NMNIST(save_to=root, train=train)``
    (tonic downloads what is missing; the layout it expects is in
    ``snnx.datasets._tonic``'s docstring) and bins each recording as
    :class:`EventFrames` describes: pixel ``(x // downsample, y //
    downsample)``, ``T`` equal time bins by tonic's ``ToFrame(n_time_bins=T)``
    from the first event on (the last event falls outside them), 1 where at
    least one event falls.

    Args:
        root: tonic's ``save_to`` folder.
        train: the training (60,000) or test (10,000) split.
        num_steps: ``T``.
        downsample: integer spatial reduction factor; ``H = W = ceil(34 / downsample)``.
        pack: bit-pack along time (see :func:`snnx.encoders.pack_spikes`).
        process_index: return samples ``process_index::process_count``.
        process_count: see ``process_index``.

    Returns:
        ``(x, y)``: ``x`` uint8 channels-last spikes ``(T, N, H, W, 2)``
        (packed: ``(ceil(T/8), N, H, W, 2)``), ``y`` int32 ``(N,)``.

    Raises:
        ImportError: tonic is not installed (``pip install 'snnx[data]'``).
        OSError: the files are absent and tonic cannot download them; the
            message names the folder and the files expected there.
        ValueError: an empty split folder, a sample outside ``<label 0-9>``
            folders, a file whose size is not a multiple of 5 bytes, or events
            outside the 34x34 sensor; the message names the folder or file.
    """
    return _load(
        "nmnist",
        root,
        train=train,
        num_steps=num_steps,
        downsample=downsample,
        pack=pack,
        process_index=process_index,
        process_count=process_count,
    )


def dvs_gesture(
    root: str | os.PathLike,
    *,
    train: bool = True,
    num_steps: int = 20,
    downsample: int = 4,
    pack: bool = False,
    process_index: int = 0,
    process_count: int = 1,
):
    """DVS Gesture (11 classes, 128x128 sensor, 2 polarities) binned into ``num_steps`` frames.

    Reads the split with ``tonic.datasets.DVSGesture(save_to=root,
    train=train)`` (tonic downloads what is missing) and bins it as
    :func:`nmnist` does; timestamps are tonic's (milliseconds in the files,
    microseconds after reading).

    Args:
        root: tonic's ``save_to`` folder.
        train: the training (1,077) or test (264) split.
        num_steps: ``T``.
        downsample: integer spatial reduction factor; ``H = W = ceil(128 / downsample)`` (32 by default).
        pack: bit-pack along time (see :func:`snnx.encoders.pack_spikes`).
        process_index: return samples ``process_index::process_count``.
        process_count: see ``process_index``.

    Returns:
        ``(x, y)``: ``x`` uint8 channels-last spikes ``(T, N, H, W, 2)``
        (packed: ``(ceil(T/8), N, H, W, 2)``), ``y`` int32 ``(N,)``.

    Raises:
        ImportError: tonic is not installed (``pip install 'snnx[data]'``).
        OSError: the files are absent and tonic cannot download them; the
            message names the folder and the files expected there.
        ValueError: an empty split folder, a label (file name) outside 0..10,
            a file that is not an ``(N, 4)`` array, or events outside the
            128x128 sensor; the message names the folder or file.
    """
    return _load(
        "dvs_gesture",
        root,
        train=train,
        num_steps=num_steps,
        downsample=downsample,
        pack=pack,
        process_index=process_index,
        process_count=process_count,
    )
