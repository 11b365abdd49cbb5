"""``snnx.plot.animate``: one spiking layer over time as a GIF or MP4 (matplotlib.animation)."""

from __future__ import annotations

import math
import os

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation
from matplotlib.ticker import MaxNLocator

from snnx import _plot_common as _common
from snnx._checks import ArgumentTypeError, OptionError, ShapeError, positive_number, shape_tuple


def _writer_for(path, fps: float):
    """The writer for ``path`` by its suffix; refuses before anything is drawn."""
    if not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError(f"`path` must be a file name (.gif or .mp4), got {type(path).__name__}")
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".gif":
        return animation.PillowWriter(fps=fps)
    if suffix == ".mp4":
        if not animation.writers.is_available("ffmpeg"):
            raise RuntimeError(
                f"`path` ({path!r}) asks for an MP4 file, which needs ffmpeg, but matplotlib "
                "found no ffmpeg: install ffmpeg, or give a path ending in .gif"
            )
        return animation.FFMpegWriter(fps=fps)
    raise OptionError(f"`path` must end in .gif or .mp4, got the suffix {suffix or '(none)'!r} in {path!r}")


def _frames(s: np.ndarray, shape, channels: str) -> tuple[np.ndarray, list[str]]:
    """``s (T, *neurons)`` as images ``(T, panels, H, W)``, and a caption per panel."""
    steps, n = s.shape[0], math.prod(s.shape[1:])
    if shape is not None:
        shape = shape_tuple("shape", shape)
        if math.prod(shape) != n:
            raise ShapeError(f"`shape` must hold the {n} neurons of `spikes` (product {n}), got {shape}")
        s = s.reshape(steps, *shape)
    if s.ndim == 2:  # flat neurons: a near-square grid, row by row; cells past the end stay blank
        cols = math.ceil(math.sqrt(n))
        rows = math.ceil(n / cols)
        grid = np.full((steps, rows * cols), np.nan)
        grid[:, :n] = s
        return grid.reshape(steps, 1, rows, cols), [f"{n} neurons, row by row ({rows} × {cols})"]
    if s.ndim == 3:
        return s[:, None], [""]
    if s.ndim == 4:  # (H, W, C), channels-last as everywhere in snnx
        if channels == "sum":
            return s.sum(axis=-1)[:, None], [f"sum of {s.shape[-1]} channels"]
        return np.moveaxis(s, -1, 1), [f"channel {c}" for c in range(s.shape[-1])]
    raise ShapeError(
        f"`spikes` must have neurons of shape (N,), (H, W) or (H, W, C) per step, got {s.shape[1:]}; "
        "pass `shape` to reshape them"
    )


def animate(spikes, path=None, *, sample: int = 0, shape=None, channels: str = "sum", fps: float = 10,
            dt: float | None = None, fig=None, cmap: str = "cividis"):  # fmt: skip
    """Animation of one spiking layer over time, one image of the layer per step.

    Args:
        spikes: spikes of shape ``(T, B, *neurons)``; the neurons of one step
            form the image: ``(H, W)``, ``(H, W, C)`` (channels-last), or flat
            ``(N,)``, shown as a near-square grid filled row by row.
        path: where to write the animation: ``.gif`` (Pillow) or ``.mp4``
            (needs ffmpeg); None writes nothing.
        sample: the batch index ``b`` to draw.
        shape: reshape the neurons of one step to this shape first (e.g.
            ``(34, 34, 2)`` for flat N-MNIST spikes).
        channels: for ``(H, W, C)``: ``"sum"`` adds the channels into one image,
            ``"split"`` draws one panel per channel.
        fps: frames (steps) per second.
        dt: seconds per step; the frame titles then give the time in seconds.
        fig: an empty figure to draw into; None makes one.
        cmap: the colour map (perceptually uniform and colour-blind safe by default).

    Returns:
        The ``matplotlib.animation.FuncAnimation`` (keep a reference while it plays).

    Raises:
        snnx.OptionError: ``path`` ends in neither .gif nor .mp4.
        RuntimeError: ``path`` ends in .mp4 and matplotlib finds no ffmpeg.

    Example:
        >>> spikes = (np.random.default_rng(0).random((20, 1, 16, 16)) < 0.1).astype(np.float32)
        >>> anim = animate(spikes, "layer.gif", fps=5)
    """
    fps = positive_number("fps", fps)
    if channels not in ("sum", "split"):
        raise OptionError(f"`channels` must be 'sum' or 'split', got {channels!r}")
    writer = None if path is None else _writer_for(path, fps)
    arr = _common.array("spikes", spikes)
    _common.timeline("spikes", arr, sample)  # checks the shape and `sample`
    images, captions = _frames(arr[:, sample].astype(np.float64), shape, channels)
    steps, panels = images.shape[:2]
    t, _, _ = _common.time_axis(steps, dt)
    low = min(0.0, float(np.nanmin(images)))
    high = max(float(np.nanmax(images)), low + 1e-12)
    if fig is None:
        fig = plt.figure(figsize=(min(3.2 * panels + 1.2, 14), 3.6), layout="constrained")
    axes = np.ravel(fig.subplots(1, panels, squeeze=False))
    shown = []
    for a, caption, image in zip(axes, captions, images[0], strict=True):
        shown.append(a.imshow(image, cmap=cmap, vmin=low, vmax=high, interpolation="nearest"))
        a.set_xticks([])
        a.set_yticks([])
        a.set_xlabel(caption)
    bar = fig.colorbar(shown[0], ax=list(axes), label="spikes", shrink=0.9)
    if np.all(np.mod(images[np.isfinite(images)], 1) == 0):  # counts: whole-number ticks
        bar.locator = MaxNLocator(integer=True)
        bar.update_ticks()
    heading = fig.suptitle("")

    def draw(i):
        for k, image in enumerate(shown):
            image.set_data(images[i, k])
        when = f"t = {t[i]:.4g} s" if dt is not None else f"step {i}"
        heading.set_text(f"sample {sample}, {when} ({i + 1} of {steps})")
        return [*shown, heading]

    draw(0)
    if fig.get_layout_engine() is not None:  # lay out once, not again for every frame
        fig.draw_without_rendering()
        fig.set_layout_engine("none")
    anim = animation.FuncAnimation(fig, draw, frames=steps, interval=1000 / fps, blit=False)
    if writer is not None:
        anim.save(os.fspath(path), writer=writer)
    return anim
