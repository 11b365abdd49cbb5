"""N-MNIST and DVS Gesture through ``tonic`` (optional extra ``snnx[data]``)."""

from __future__ import annotations

import os

import numpy as np

from snnx.datasets._common import check_int, check_shard


def _import_tonic():
    try:
        import tonic
        import tonic.transforms
    except ImportError as err:
        raise ImportError(
            "this loader needs the optional package `tonic`; install it with `pip install 'snnx[data]'`"
        ) from err
    return tonic


def _event_frames(
    dataset_cls, sensor_size, root, *, train, num_steps, downsample, pack, process_index, process_count
):
    tonic = _import_tonic()
    num_steps = check_int("num_steps", num_steps, 1)
    downsample = check_int("downsample", downsample, 1)
    process_index, process_count = check_shard(process_index, process_count)
    if not isinstance(train, bool):
        raise TypeError(f"`train` must be a bool, got {type(train).__name__} {train!r}")
    width, height, polarities = sensor_size
    size = (width // downsample, height // downsample, polarities)
    steps = [tonic.transforms.ToFrame(sensor_size=size, n_time_bins=num_steps)]
    if downsample > 1:
        steps.insert(0, tonic.transforms.Downsample(spatial_factor=1.0 / downsample))
    dataset = getattr(tonic.datasets, dataset_cls)(
        save_to=os.fspath(root), train=train, transform=tonic.transforms.Compose(steps)
    )
    indices = range(process_index, len(dataset), process_count)
    steps_out = -(-num_steps // 8) if pack else num_steps
    x = np.zeros((steps_out, len(indices), size[1], size[0], polarities), dtype=np.uint8)
    y = np.zeros(len(indices), dtype=np.int32)
    for j, i in enumerate(indices):
        frames, label = dataset[i]
        frames = np.asarray(frames)  # (T, polarity, H, W) event counts
        if frames.shape != (num_steps, polarities, size[1], size[0]):
            raise ValueError(
                f"tonic returned frames of shape {frames.shape} for sample {i}, expected "
                f"{(num_steps, polarities, size[1], size[0])}"
            )
        spikes = (np.moveaxis(frames, 1, -1) > 0).astype(np.uint8)  # (T, H, W, polarity), binary
        x[:, j] = np.packbits(spikes, axis=0) if pack else spikes
        y[j] = int(label)
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

    Uses ``tonic.datasets.NMNIST(save_to=root, train=train)`` (tonic downloads
    the files into ``root`` if they are missing) and ``tonic.transforms.ToFrame``
    with ``n_time_bins=num_steps``; ``downsample`` > 1 first applies
    ``tonic.transforms.Downsample(spatial_factor=1/downsample)``. A frame
    pixel is 1 when at least one event falls into it.

    Args:
        root: tonic's ``save_to`` folder.
        train: the training (60,000) or test (10,000) split.
        num_steps: ``T``.
        downsample: integer spatial reduction factor.
        pack: bit-pack along time (see :func:`snnx.encoders.pack_spikes`).
        process_index: return samples ``process_index::process_count``.
        process_count: see ``process_index``.

    Returns:
        ``(x, y)``: ``x`` uint8 channels-last spikes ``(T, N, H, W, 2)``
        (packed: ``(ceil(T/8), N, H, W, 2)``), ``y`` int32 ``(N,)``.

    Raises:
        ImportError: tonic is not installed (``pip install 'snnx[data]'``).
    """
    return _event_frames(
        "NMNIST",
        (34, 34, 2),
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

    Uses ``tonic.datasets.DVSGesture(save_to=root, train=train)`` (tonic
    downloads into ``root`` if needed); arguments and result as in
    :func:`nmnist`, with ``H = W = 128 // downsample`` (32 by default).
    """
    return _event_frames(
        "DVSGesture",
        (128, 128, 2),
        root,
        train=train,
        num_steps=num_steps,
        downsample=downsample,
        pack=pack,
        process_index=process_index,
        process_count=process_count,
    )
