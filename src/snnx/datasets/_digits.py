"""scikit-learn's bundled 8x8 digits, spike-encoded (no download)."""

from __future__ import annotations

import jax
import numpy as np

from snnx.datasets._common import check_int, check_shard

#: Seed of the fixed stratified train/test split (independent of the encoding seed).
SPLIT_SEED = 0
#: Fraction of the 1,797 samples held out for testing: 1,437 train / 360 test.
TEST_FRACTION = 0.2
ENCODINGS = ("rate", "latency")


def digits_images(*, process_index: int = 0, process_count: int = 1):
    """The fixed split of :func:`digits` before encoding: pixel intensities in [0, 1].

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: ``x`` float32 of shape
        ``(N, 64)`` (pixel / 16), ``y`` int32 of shape ``(N,)``; 1,437 / 360
        samples (or this process's shard of them).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    process_index, process_count = check_shard(process_index, process_count)
    images, labels = load_digits(return_X_y=True)
    images = (images / 16.0).astype(np.float32)
    labels = labels.astype(np.int32)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, labels, test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED
    )
    step = slice(process_index, None, process_count)
    return (x_tr[step], y_tr[step]), (x_te[step], y_te[step])


def digits(
    encoding: str = "rate",
    num_steps: int = 25,
    *,
    seed: int = 0,
    gain: float = 1.0,
    threshold: float = 0.01,
    process_index: int = 0,
    process_count: int = 1,
):
    """The 1,797 8x8 handwritten digits of scikit-learn as time-major spike trains.

    Pixels (0..16) are scaled to [0, 1] and encoded with
    :func:`snnx.encoders.rate` (``Bernoulli(gain * x)`` per step; train and test
    sets use independent keys derived from ``seed``) or
    :func:`snnx.encoders.latency` (one spike at ``round((1 - x)(T - 1))``,
    silent for ``x <= threshold``; deterministic).

    The split is fixed: stratified by class, ``test_size=0.2``, seed
    ``SPLIT_SEED = 0`` (``sklearn.model_selection.train_test_split``), giving
    1,437 training and 360 test samples whatever ``seed`` is.

    Args:
        encoding: ``"rate"`` or ``"latency"``.
        num_steps: ``T``, steps per sample.
        seed: seed of the rate code's randomness.
        gain: rate code gain (spike probability ``gain * x``), in (0, 1].
        threshold: latency code silence threshold.
        process_index: return only samples ``process_index::process_count``
            of each split (one host's shard).
        process_count: see ``process_index``.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: ``x`` float32 spikes of shape
        ``(T, N, 64)``, ``y`` int32 labels 0..9 of shape ``(N,)``.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = digits("rate", num_steps=25)
        >>> x_train.shape, x_test.shape
        ((25, 1437, 64), (25, 360, 64))
    """
    from snnx import encoders

    if encoding not in ENCODINGS:
        raise ValueError(f"`encoding` must be one of {ENCODINGS}, got {encoding!r}")
    num_steps = check_int("num_steps", num_steps, 1)
    seed = check_int("seed", seed, 0)
    splits = digits_images(process_index=process_index, process_count=process_count)
    out = []
    for part, (x, y) in enumerate(splits):
        if encoding == "rate":
            key = jax.random.fold_in(jax.random.key(seed), part)
            spikes = encoders.rate(key, x, num_steps, gain=gain)
        else:
            spikes = encoders.latency(x, num_steps, threshold=threshold)
        out.append((np.asarray(spikes, dtype=np.float32), y))
    return tuple(out)
