"""Figures of spiking activity and of NIR graphs (matplotlib).

Every array is time-major, as everywhere in snnx: spikes and membranes have
shape ``(T, B, *neurons)``; multi-axis neurons (a ``(H, W, C)`` feature map)
are flattened in C order where a figure needs one neuron axis. A *recording* of
several layers is a dict ``{layer key: array (T, B, *neurons)}``, or any object
with such a dict as its ``outputs`` attribute.

Each function draws into the axes it is given (``ax=``) or makes a new figure,
returns the matplotlib objects it made for further styling, and never calls
``plt.show()``. Categorical colours come from the Okabe–Ito palette and images
use ``cividis``: both stay distinct for colour-blind readers.

Example:
    >>> import numpy as np
    >>> from snnx import plot
    >>> spikes = (np.random.default_rng(0).random((100, 4, 64)) < 0.05).astype(np.float32)
    >>> fig, ax = plot.raster(spikes, sample=0, dt=1e-3)
    >>> fig.savefig("raster.png")
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from snnx import _plot_common as _common
from snnx._checks import OptionError, ShapeError, positive_int, positive_number
from snnx._plot_animate import animate as animate
from snnx._plot_graph import graph as graph

__all__ = ["animate", "graph", "input_output", "raster", "rate_histogram", "traces"]

_THRESHOLD_COLOUR = "0.3"
_MAX_OUTPUT_TRACES = 10
_SPIKE_ROW = 0.05  # height of one neuron's row of spike ticks in `traces`, in axes fractions


# --------------------------------------------------------------------------- raster


def _draw_raster(ax, s: np.ndarray, t: np.ndarray, step: float, sort_by_rate: bool, colour: str) -> int:
    """Spike ticks of ``s (T, N)`` on ``ax``; returns the number of spikes."""
    steps, n = s.shape
    row = np.arange(n)
    if sort_by_rate:  # rows by ascending spike count, so the most active neuron is on top
        order = np.lexsort((-np.arange(n), np.count_nonzero(s, axis=0)))  # ties: lower index higher up
        row[order] = np.arange(n)
    ti, ni = np.nonzero(s)
    x, y = t[ti], row[ni].astype(np.float64)
    segments = np.stack([np.stack([x, y - 0.4], -1), np.stack([x, y + 0.4], -1)], axis=1)
    width_pt = ax.get_position().width * ax.figure.get_figwidth() * 72
    ticks = LineCollection(
        segments.reshape(-1, 2, 2),
        colors=colour,
        linewidths=float(np.clip(0.45 * width_pt / steps, 0.4, 1.5)),
    )
    ticks.set_gid("spikes")
    ax.add_collection(ticks)
    ax.set_xlim(t[0] - step / 2, t[-1] + step / 2)
    ax.set_ylim(-0.5, n - 0.5)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True, steps=[1, 2, 2.5, 5, 10]))
    ax.set_ylabel("neuron rank by spike count\n(most active on top)" if sort_by_rate else "neuron")
    return len(ti)


def raster(spikes, *, sample: int = 0, dt: float | None = None, sort_by_rate: bool = False, ax=None,
           title: str | None = None, color: str = "black"):  # fmt: skip
    """Spike raster of one sample: a tick at (time, neuron) for every spike.

    Any non-zero entry counts as a spike (graded spikes are drawn alike). Ticks
    are line segments 0.8 neuron rows tall, so they fill the rows at any number
    of neurons; their width follows the number of steps.

    Args:
        spikes: spikes of shape ``(T, B, *neurons)`` (multi-axis neurons are
            flattened in C order), or a recording: a dict ``{layer key: array}``
            or an object whose ``outputs`` is such a dict, drawn as one panel per
            layer, stacked vertically, titled by the key.
        sample: the batch index ``b`` to draw.
        dt: seconds per step; the x axis is then in seconds ("time (s)"),
            otherwise in steps ("time (steps)").
        sort_by_rate: order the rows by this sample's spike count, the most
            active neuron on top (among equal counts the lower index higher up);
            the y axis then shows the rank from the bottom, not the neuron index.
        ax: the axes to draw into (one per layer for a recording); None makes a figure.
        title: the axes title (the figure title for a recording); None writes the
            sample and the number of spikes.
        color: the colour of the ticks.

    Returns:
        ``(fig, ax)`` for one array; ``(fig, axes)`` for a recording, ``axes`` a
        list in the order of the layers.

    Example:
        >>> spikes = (np.random.default_rng(0).random((100, 2, 256)) < 0.02).astype(np.float32)
        >>> fig, ax = raster(spikes, dt=1e-3, sort_by_rate=True)
    """
    layers = _common.layers("spikes", spikes)
    if layers is None:
        s, _ = _common.timeline("spikes", spikes, sample)
        t, xlabel, step = _common.time_axis(s.shape[0], dt)
        fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained") if ax is None else (ax.figure, ax)
        count = _draw_raster(ax, s, t, step, sort_by_rate, color)
        ax.set_xlabel(xlabel)
        ax.set_title(title if title is not None else f"sample {sample}: {count} spikes, {s.shape[1]} neurons")
        return fig, ax
    data = {key: _common.timeline(f"spikes[{key!r}]", value, sample)[0] for key, value in layers.items()}
    axes = _common.axes_list(ax, len(data))
    if axes is None:
        ratios = [float(np.clip(np.sqrt(s.shape[1]), 2, 8)) for s in data.values()]
        fig, axes = plt.subplots(
            len(data), 1, sharex=True, squeeze=False, figsize=(7, 1.0 + 0.32 * sum(ratios)),
            height_ratios=ratios, layout="constrained",
        )  # fmt: skip
        axes = list(axes[:, 0])
    fig = axes[0].figure
    for a, (key, s) in zip(axes, data.items(), strict=True):
        t, xlabel, step = _common.time_axis(s.shape[0], dt)
        count = _draw_raster(a, s, t, step, sort_by_rate, color)
        a.set_title(f"layer {key}: {count} spikes, {s.shape[1]} neurons", fontsize="medium")
    axes[-1].set_xlabel(xlabel)
    fig.suptitle(title if title is not None else f"sample {sample}")
    return fig, axes


# --------------------------------------------------------------------------- traces


def _neurons(neurons, n: int, shape: tuple[int, ...]) -> list[int]:
    if neurons is None:
        return list(range(min(n, 5)))
    if isinstance(neurons, (int, np.integer)) and not isinstance(neurons, bool):
        neurons = [neurons]
    try:
        idx = [int(i) for i in neurons if not isinstance(i, bool) and isinstance(i, (int, np.integer))]
        ok = len(idx) == len(neurons) and len(idx) > 0
    except TypeError:
        ok = False
    if not ok or any(not 0 <= i < n for i in idx):
        raise OptionError(
            f"`neurons` must be a non-empty sequence of flat neuron indices in [0, {n}) "
            f"(neurons of shape {shape}), got {neurons!r}"
        )
    return idx


def _thresholds(threshold, shape: tuple[int, ...], n: int) -> np.ndarray | None:
    if threshold is None:
        return None
    arr = _common.array("threshold", threshold).astype(np.float64)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape in (shape, (n,)):
        return arr.reshape(-1)
    raise ShapeError(
        f"`threshold` must be a scalar or one value per neuron (shape {shape} or ({n},)), "
        f"got shape {arr.shape}"
    )


def _draw_traces(ax, v, shape, idx, t, xlabel, thr=None, spk=None) -> list:
    """Traces of the neurons ``idx`` of ``v (T, N)``, thresholds, spike ticks; returns legend handles."""
    handles = []
    for k, i in enumerate(idx):
        colour, ls = _common.style(k)
        handles += ax.plot(t, v[:, i], color=colour, ls=ls, lw=1.4, label=_common.neuron_label(i, shape))
    if thr is not None:
        chosen = thr[idx]
        if np.all(chosen == chosen[0]):
            line = ax.axhline(chosen[0], color=_THRESHOLD_COLOUR, ls="--", lw=1.2, label="threshold")
            line.set_gid("threshold")
            handles.append(line)
        else:  # one dashed line per neuron in its colour
            for k, i in enumerate(idx):
                ax.axhline(
                    thr[i], color=_common.style(k)[0], ls="--", lw=1, label="_threshold", gid="threshold"
                )
            handles.append(Line2D([], [], color=_THRESHOLD_COLOUR, ls="--", label="threshold (per neuron)"))
    if spk is not None:  # a strip above the traces: one row of spike ticks per neuron
        low, high = ax.get_ylim()
        ticks = [y for y in ax.get_yticks() if low <= y <= high]
        strip = _SPIKE_ROW * len(idx)
        ax.set_ylim(low, high + (high - low) * strip / (1 - strip))
        ax.set_yticks(ticks)
        ax.axhline(high, color="0.75", lw=0.8, gid="spike strip")
        for k, i in enumerate(idx):
            times = t[np.nonzero(spk[:, i])[0]]
            y = np.full(times.shape, 1 - _SPIKE_ROW * (k + 0.5))
            ax.plot(times, y, ls="none", marker="|", ms=7, mew=1.4, color=_common.style(k)[0],
                    transform=ax.get_xaxis_transform(), gid="spikes")  # fmt: skip
        handles.append(Line2D([], [], ls="none", marker="|", ms=7, mew=1.4, color="0.2", label="spike"))
    ax.set_xlim(t[0], t[-1])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("membrane potential")
    ax.grid(alpha=0.3)
    return handles


def traces(membrane, *, sample: int = 0, neurons: Sequence[int] | None = None, threshold=None,
           dt: float | None = None, spikes=None, ax=None, title: str | None = None):  # fmt: skip
    """Membrane potential of a few neurons of one sample over time.

    Args:
        membrane: membrane potentials of shape ``(T, B, *neurons)``.
        sample: the batch index ``b`` to draw.
        neurons: flat (C-order) indices of the neurons to draw; None draws the
            first five (or fewer). Eight colours, then dashed and dotted lines.
        threshold: the firing threshold: a scalar, or one value per neuron
            (shape ``neurons`` or ``(N,)``), drawn as a dashed horizontal line
            labelled "threshold" (one per drawn neuron, in its colour, when they differ).
        dt: seconds per step; the x axis is then in seconds.
        spikes: optional spikes of the same shape as ``membrane``; each drawn
            neuron's spike times are ticks in its colour along the top of the axes.
        ax: the axes to draw into; None makes a figure.
        title: the axes title; None writes the sample.

    Returns:
        ``(fig, ax)``.

    Example:
        >>> v = np.cumsum(np.random.default_rng(0).normal(0.05, 0.1, (50, 1, 8)), axis=0)
        >>> fig, ax = traces(v, neurons=[0, 3], threshold=1.0)
    """
    v, shape = _common.timeline("membrane", membrane, sample)
    idx = _neurons(neurons, v.shape[1], shape)
    thr = _thresholds(threshold, shape, v.shape[1])
    spk = None
    if spikes is not None:
        if _common.array("spikes", spikes).shape != np.shape(membrane):
            raise ShapeError(
                f"`spikes` must have the shape of `membrane` {np.shape(membrane)}, got {np.shape(spikes)}"
            )
        spk, _ = _common.timeline("spikes", spikes, sample)
    t, xlabel, _ = _common.time_axis(v.shape[0], dt)
    fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained") if ax is None else (ax.figure, ax)
    handles = _draw_traces(ax, v, shape, idx, t, xlabel, thr, spk)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0, frameon=False,
              fontsize="small")  # fmt: skip
    ax.set_title(title if title is not None else f"membrane potential, sample {sample}")
    return fig, ax


# --------------------------------------------------------------------------- firing rates


def _draw_rates(ax, rates: np.ndarray, bins, unit: str, name: str | None) -> None:
    low = min(0.0, float(rates.min()))
    high = float(rates.max()) if rates.max() > low else low + 1.0
    counts, edges, _ = ax.hist(rates, bins=bins, range=(low, high), color=_common.OKABE_ITO[0],
                               edgecolor="white", label="neurons")  # fmt: skip
    silent = int(np.count_nonzero(rates == 0))
    width = edges[1] - edges[0]
    ax.bar(0.0, silent, width=width, align="edge", color=_common.OKABE_ITO[1], edgecolor="black", hatch="///",
           label=f"{silent} silent (rate 0)", gid="silent", zorder=3)  # fmt: skip
    ax.legend(loc="upper right", fontsize="small", frameon=False)
    ax.set_xlabel(f"firing rate ({unit})")
    ax.set_ylabel("neurons")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(float(counts.max()), silent, 1) * 1.2)
    mean = f"mean {rates.mean():.3g} {unit}, {rates.size} neurons"
    ax.set_title(f"layer {name}: {mean}" if name is not None else mean, fontsize="medium")


def rate_histogram(activity, *, dt: float | None = None, bins: int | Sequence[float] = 20, ax=None,
                   title: str | None = None):  # fmt: skip
    """Histogram of per-neuron firing rates (mean over time and batch), one panel per layer.

    The bins span ``[min(0, lowest rate), highest rate]``. The neurons that
    never fire are also drawn as a hatched vermillion bar at rate 0 (inside the
    first bin, which counts them too) and named in the legend ("k silent").

    Args:
        activity: spikes of shape ``(T, B, *neurons)``, or a recording (a dict
            ``{layer key: array}`` or an object whose ``outputs`` is one): one
            panel per layer, titled with its key and mean rate.
        dt: seconds per step; rates are then in Hz, otherwise in spikes/step.
        bins: number of bins, or the bin edges (as ``numpy.histogram``).
        ax: the axes to draw into (one per layer for a recording); None makes a figure.
        title: the figure title; None writes none.

    Returns:
        ``(fig, ax)`` for one array; ``(fig, axes)`` for a recording (a list in
        the order of the layers).

    Example:
        >>> spikes = (np.random.default_rng(0).random((100, 4, 64)) < 0.1).astype(np.float32)
        >>> fig, ax = rate_histogram({"lif1": spikes}, dt=1e-3)
    """
    if isinstance(bins, (int, np.integer)) or isinstance(bins, bool):
        bins = positive_int("bins", bins)
    elif np.ndim(bins) != 1 or np.size(bins) < 2 or np.any(np.diff(np.asarray(bins, np.float64)) <= 0):
        raise OptionError(f"`bins` must be a positive int or increasing bin edges (at least 2), got {bins!r}")
    scale = 1.0 if dt is None else 1.0 / positive_number("dt", dt)
    unit = "spikes/step" if dt is None else "Hz"
    layers = _common.layers("activity", activity)
    named = {None: activity} if layers is None else layers
    rates = {}
    for key, value in named.items():
        name = "activity" if key is None else f"activity[{key!r}]"
        arr = _common.array(name, value)
        if arr.ndim < 3 or 0 in arr.shape:
            raise ShapeError(f"`{name}` must have shape (T, B, *neurons), none empty, got shape {arr.shape}")
        rates[key] = arr.astype(np.float64).mean(axis=(0, 1)).reshape(-1) * scale
    axes = [ax] if layers is None and ax is not None else _common.axes_list(ax, len(rates))
    if axes is None:
        cols = min(len(rates), 3)
        rows = math.ceil(len(rates) / cols)
        fig, grid = plt.subplots(
            rows, cols, squeeze=False, figsize=(4.2 * cols, 3.2 * rows), layout="constrained"
        )
        axes = list(grid.ravel())
        for extra in axes[len(rates) :]:
            extra.remove()
        axes = axes[: len(rates)]
    fig = axes[0].figure
    for a, (key, r) in zip(axes, rates.items(), strict=True):
        _draw_rates(a, r, bins, unit, key)
    if title is not None:
        fig.suptitle(title)
    return (fig, axes[0]) if layers is None else (fig, axes)


# --------------------------------------------------------------------------- input and output


def _two_valued(v: np.ndarray) -> bool:
    """Spikes: every non-zero entry has the same value (0/1, or 0/3 after a gain)."""
    nonzero = v[v != 0]
    return nonzero.size == 0 or bool(np.all(nonzero == nonzero[0]))


def input_output(x, y, *, sample: int = 0, dt: float | None = None, y_kind: str = "auto", axes=None):
    """One sample's input and output side by side, on a shared time axis.

    The input is a raster when it is spikes (all non-zero entries equal, e.g.
    0/1 or 0/3) and a ``cividis`` heatmap (neuron by time) otherwise. The output
    is a raster or membrane traces (at most the first ten neurons), see ``y_kind``.

    Args:
        x: input of shape ``(T, B, *in)``.
        y: output of shape ``(T, B, *out)`` (the same ``T`` and ``B``).
        sample: the batch index ``b`` to draw.
        dt: seconds per step; the x axes are then in seconds.
        y_kind: ``"spikes"`` (raster), ``"traces"`` or ``"auto"`` (raster when
            ``y`` is spikes by the rule above, traces otherwise).
        axes: two axes ``(input, output)`` to draw into; None makes a figure.

    Returns:
        ``(fig, (ax_in, ax_out))``.

    Example:
        >>> x = (np.random.default_rng(0).random((100, 4, 20)) < 0.3).astype(np.float32)
        >>> y = np.cumsum(x[..., :10], axis=0) * 0.1
        >>> fig, (ax_in, ax_out) = input_output(x, y, dt=1e-3)
    """
    if y_kind not in ("auto", "spikes", "traces"):
        raise OptionError(f"`y_kind` must be one of 'auto', 'spikes', 'traces', got {y_kind!r}")
    xs, _ = _common.timeline("x", x, sample)
    ys, out_shape = _common.timeline("y", y, sample)
    if np.shape(x)[:2] != np.shape(y)[:2]:
        raise ShapeError(
            f"`x` and `y` must share T and B (shape (T, B, ...)), got shapes {np.shape(x)} and {np.shape(y)}"
        )
    t, xlabel, step = _common.time_axis(xs.shape[0], dt)
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharex=True, layout="constrained")
    elif len(axes) != 2:
        raise ShapeError(f"`axes` must be two axes (input, output), got {len(axes)}")
    ax_in, ax_out = axes
    fig = ax_in.figure
    if _two_valued(xs):
        count = _draw_raster(ax_in, xs, t, step, False, "black")
        ax_in.set_title(f"input: {count} spikes, {xs.shape[1]} channels", fontsize="medium")
        ax_in.set_ylabel("input channel")
    else:
        image = ax_in.imshow(xs.T, aspect="auto", origin="lower", cmap="cividis", interpolation="nearest",
                             extent=(t[0] - step / 2, t[-1] + step / 2, -0.5, xs.shape[1] - 0.5))  # fmt: skip
        fig.colorbar(image, ax=ax_in, label="input value", pad=0.01)
        ax_in.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
        ax_in.set_title(f"input ({xs.shape[1]} channels)", fontsize="medium")
        ax_in.set_ylabel("input channel")
    ax_in.set_xlabel(xlabel)
    if y_kind == "spikes" or (y_kind == "auto" and _two_valued(ys)):
        count = _draw_raster(ax_out, ys, t, step, False, "black")
        ax_out.set_title(f"output: {count} spikes, {ys.shape[1]} neurons", fontsize="medium")
        ax_out.set_xlabel(xlabel)
        ax_out.set_ylabel("output neuron")
    else:
        idx = list(range(min(ys.shape[1], _MAX_OUTPUT_TRACES)))
        handles = _draw_traces(ax_out, ys, out_shape, idx, t, xlabel)
        ax_out.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0,
                      frameon=False, fontsize="small")  # fmt: skip
        shown = "" if len(idx) == ys.shape[1] else f", first {len(idx)} of {ys.shape[1]}"
        ax_out.set_title(f"output membrane{shown}", fontsize="medium")
    fig.suptitle(f"sample {sample}")
    return fig, (ax_in, ax_out)
