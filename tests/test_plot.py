"""``snnx.plot``: what each figure draws, checked against numpy, and its argument errors.

Every expectation is computed independently from the input arrays (``np.nonzero``
for spike positions, ``np.histogram`` for rate histograms); the figures are read
back through matplotlib's artists (segments, line data, bar heights, arrows).
"""

from __future__ import annotations

import gc
import types
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import nir
import numpy as np
import pytest
from matplotlib import animation
from matplotlib.collections import LineCollection
from matplotlib.image import AxesImage
from matplotlib.patches import FancyArrowPatch
from PIL import Image

import snnx
from snnx import plot


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _spikes(shape, p=0.2, seed=0) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) < p).astype(np.float32)


def _ticks(ax) -> np.ndarray:
    """The raster's ticks as (x, y centre) pairs, in drawing order."""
    (ticks,) = [c for c in ax.collections if isinstance(c, LineCollection) and c.get_gid() == "spikes"]
    segments = np.asarray(ticks.get_segments()).reshape(-1, 2, 2)
    return np.stack([segments[:, 0, 0], segments[:, :, 1].mean(axis=1)], axis=-1)


# --------------------------------------------------------------------------- raster


def test_raster_draws_one_tick_per_spike_of_the_sample():
    spikes = _spikes((20, 3, 4, 5))  # multi-axis neurons: flattened in C order
    _, ax = plot.raster(spikes, sample=2)
    t, n = np.nonzero(spikes[:, 2].reshape(20, -1))
    ticks = _ticks(ax)
    assert len(ticks) == len(t) == np.count_nonzero(spikes[:, 2])
    np.testing.assert_array_equal(ticks[:, 0], t)
    np.testing.assert_allclose(ticks[:, 1], n)
    assert ax.get_xlabel() == "time (steps)" and ax.get_ylabel() == "neuron"
    assert ax.get_ylim() == (-0.5, 19.5)
    assert f"{len(t)} spikes" in ax.get_title()


def test_raster_dt_scales_time_and_names_seconds():
    spikes = _spikes((30, 2, 8), seed=1)
    _, ax = plot.raster(spikes, dt=1e-3)
    t, _ = np.nonzero(spikes[:, 0])
    np.testing.assert_allclose(_ticks(ax)[:, 0], t * 1e-3)
    assert ax.get_xlabel() == "time (s)"


def test_raster_sort_by_rate_puts_the_most_active_neuron_on_top():
    counts = np.array([3, 0, 5, 1, 3])
    spikes = np.zeros((6, 1, 5), np.float32)
    for neuron, c in enumerate(counts):
        spikes[:c, 0, neuron] = 1
    _, ax = plot.raster(spikes, sort_by_rate=True)
    # rank from the bottom by ascending count; equal counts: the lower index higher up
    expected_row = {1: 0, 3: 1, 4: 2, 0: 3, 2: 4}
    _, n = np.nonzero(spikes[:, 0])
    np.testing.assert_allclose(_ticks(ax)[:, 1], [expected_row[i] for i in n])
    assert "most active on top" in ax.get_ylabel()


def test_raster_of_a_recording_draws_a_panel_per_layer():
    layers = {"lif1": _spikes((10, 2, 6)), "lif2": _spikes((10, 2, 3), seed=3)}
    for recording in (layers, types.SimpleNamespace(outputs=layers)):
        _, axes = plot.raster(recording, sample=1)
        assert len(axes) == 2
        for ax, (key, s) in zip(axes, layers.items(), strict=True):
            assert key in ax.get_title()
            assert len(_ticks(ax)) == np.count_nonzero(s[:, 1])
        assert axes[-1].get_xlabel() == "time (steps)"


@pytest.mark.parametrize(
    ("spikes", "kwargs", "error", "match"),
    [
        (np.zeros(10), {}, ValueError, r"`spikes` must have shape \(T, B, \*neurons\).*got shape \(10,\)"),
        (np.zeros((4, 3, 2)), {"sample": 3}, ValueError, r"`sample` must be in \[0, 3\).*\(4, 3, 2\).*got 3"),
        (np.zeros((4, 3, 2)), {"sample": 1.0}, TypeError, r"`sample` must be an int, got float"),
        ({"a": "text"}, {}, TypeError, r"`spikes\['a'\]` must be an array of real numbers.*got str"),
        ({"a": {"v": np.zeros((2, 1, 1))}}, {}, TypeError, r"`spikes\['a'\]`.*got dict with keys \['v'\]"),
        ({}, {}, ValueError, r"`spikes` must hold at least one layer"),
        (types.SimpleNamespace(outputs="x"), {}, TypeError, r"`spikes` must be an array.*SimpleNamespace"),
        (np.zeros((4, 3, 2)), {"dt": -1.0}, ValueError, r"`dt` must be a positive number"),
    ],
)
def test_raster_errors_name_the_argument(spikes, kwargs, error, match):
    with pytest.raises(error, match=match):
        plot.raster(spikes, **kwargs)


# --------------------------------------------------------------------------- traces


def test_traces_draw_the_membrane_the_threshold_and_the_spikes():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(25, 2, 8))
    spikes = (v > 1.0).astype(np.float32)
    _, ax = plot.traces(v, sample=1, neurons=[2, 5], threshold=1.0, spikes=spikes, dt=0.5)
    curves = [line for line in ax.lines if line.get_label().startswith("neuron")]
    assert [c.get_label() for c in curves] == ["neuron 2", "neuron 5"]
    for curve, i in zip(curves, (2, 5), strict=True):
        np.testing.assert_allclose(curve.get_xdata(), np.arange(25) * 0.5)
        np.testing.assert_allclose(curve.get_ydata(), v[:, 1, i])
    (threshold,) = [line for line in ax.lines if line.get_gid() == "threshold"]
    np.testing.assert_array_equal(threshold.get_ydata(), [1.0, 1.0])
    assert threshold.get_label() == "threshold" and threshold.get_linestyle() == "--"
    ticks = [line for line in ax.lines if line.get_gid() == "spikes"]
    for tick, i in zip(ticks, (2, 5), strict=True):
        np.testing.assert_allclose(tick.get_xdata(), np.nonzero(spikes[:, 1, i])[0] * 0.5)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["neuron 2", "neuron 5", "threshold", "spike"]
    assert ax.get_xlabel() == "time (s)"


def test_traces_default_neurons_and_per_neuron_threshold():
    v = np.zeros((5, 1, 3, 4))  # 12 neurons of shape (3, 4)
    thresholds = np.arange(12.0).reshape(3, 4)
    _, ax = plot.traces(v, threshold=thresholds)
    labels = [line.get_label() for line in ax.lines if line.get_label().startswith("neuron")]
    assert labels == ["neuron (0, 0)", "neuron (0, 1)", "neuron (0, 2)", "neuron (0, 3)", "neuron (1, 0)"]
    drawn = [line.get_ydata()[0] for line in ax.lines if line.get_gid() == "threshold"]
    np.testing.assert_array_equal(drawn, thresholds.reshape(-1)[:5])
    assert "threshold (per neuron)" in [t.get_text() for t in ax.get_legend().get_texts()]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"neurons": [0, 8]}, ValueError, r"`neurons` must be .* in \[0, 8\) .*got \[0, 8\]"),
        ({"neurons": []}, ValueError, r"`neurons` must be a non-empty sequence"),
        (
            {"threshold": np.ones(3)},
            ValueError,
            r"`threshold` must be a scalar or one value per neuron.*\(3,\)",
        ),
        ({"spikes": np.zeros((6, 2, 7))}, ValueError, r"`spikes` must have the shape of `membrane` \(6, 2,"),
    ],
)
def test_traces_errors_name_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        plot.traces(np.zeros((6, 2, 8)), **kwargs)


# --------------------------------------------------------------------------- rate histogram


def _bars(ax):
    return [p for p in ax.patches if p.get_gid() != "silent"]


def test_rate_histogram_matches_numpy():
    spikes = _spikes((50, 4, 30), p=0.1)
    spikes[:, :, :4] = 0  # four silent neurons
    _, ax = plot.rate_histogram(spikes, bins=10)
    rates = spikes.astype(np.float64).mean(axis=(0, 1))  # as the plot: rates on bin edges are exact
    counts, edges = np.histogram(rates, bins=10, range=(0, rates.max()))
    np.testing.assert_array_equal([p.get_height() for p in _bars(ax)], counts)
    np.testing.assert_allclose([p.get_x() for p in _bars(ax)], edges[:-1])
    (silent,) = [p for p in ax.patches if p.get_gid() == "silent"]
    assert silent.get_height() == np.count_nonzero(rates == 0) == 4
    assert "4 silent (rate 0)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert ax.get_xlabel() == "firing rate (spikes/step)"
    assert f"mean {rates.mean():.3g} spikes/step" in ax.get_title()


def test_rate_histogram_per_layer_in_hz():
    layers = {"lif1": _spikes((40, 2, 16), p=0.3), "lif2": _spikes((40, 2, 5), p=0.05, seed=2)}
    _, axes = plot.rate_histogram(layers, dt=1e-3)
    assert len(axes) == 2
    for ax, (key, s) in zip(axes, layers.items(), strict=True):
        rates = s.astype(np.float64).mean(axis=(0, 1)) / 1e-3
        counts, edges = np.histogram(rates, bins=20, range=(0, rates.max()))
        np.testing.assert_array_equal([p.get_height() for p in _bars(ax)], counts)
        np.testing.assert_allclose([p.get_x() for p in _bars(ax)], edges[:-1], rtol=1e-6)
        assert ax.get_xlabel() == "firing rate (Hz)"
        assert key in ax.get_title() and f"mean {rates.mean():.3g} Hz" in ax.get_title()


def test_rate_histogram_errors():
    with pytest.raises(ValueError, match=r"`bins` must be a positive int"):
        plot.rate_histogram(np.zeros((3, 1, 2)), bins=0)
    with pytest.raises(ValueError, match=r"`activity\['h'\]` must have shape \(T, B, \*neurons\).*\(3, 2\)"):
        plot.rate_histogram({"h": np.zeros((3, 2))})


# --------------------------------------------------------------------------- input and output


def test_input_output_raster_and_traces():
    x = _spikes((12, 2, 6)) * 3.0  # two-valued: drawn as spikes
    y = np.cumsum(np.random.default_rng(1).normal(size=(12, 2, 4)), axis=0)
    _, (ax_in, ax_out) = plot.input_output(x, y, sample=1)
    assert len(_ticks(ax_in)) == np.count_nonzero(x[:, 1])
    curves = [line for line in ax_out.lines if line.get_label().startswith("neuron")]
    assert len(curves) == 4
    np.testing.assert_allclose(curves[3].get_ydata(), y[:, 1, 3])


def test_input_output_heatmap_and_output_raster():
    x = np.random.default_rng(0).random((10, 1, 5))
    y = _spikes((10, 1, 3))
    _, (ax_in, ax_out) = plot.input_output(x, y, dt=1e-3)
    (image,) = [a for a in ax_in.get_children() if isinstance(a, AxesImage)]
    np.testing.assert_allclose(image.get_array(), x[:, 0].T)
    assert len(_ticks(ax_out)) == np.count_nonzero(y)
    assert ax_out.get_xlabel() == "time (s)"
    _, (_, ax_out) = plot.input_output(x, y, y_kind="traces")
    assert len([line for line in ax_out.lines if line.get_label().startswith("neuron")]) == 3


def test_input_output_errors():
    with pytest.raises(ValueError, match=r"`y_kind` must be one of 'auto', 'spikes', 'traces', got 'image'"):
        plot.input_output(np.zeros((4, 1, 2)), np.zeros((4, 1, 2)), y_kind="image")
    with pytest.raises(ValueError, match=r"`x` and `y` must share T and B.*\(4, 1, 2\) and \(5, 1, 2\)"):
        plot.input_output(np.zeros((4, 1, 2)), np.zeros((5, 1, 2)))


# --------------------------------------------------------------------------- animation


def test_animate_writes_a_gif_with_one_frame_per_step(tmp_path):
    spikes = _spikes((4, 2, 6, 6, 2))
    fig = plt.figure(figsize=(2.5, 2), dpi=40)
    anim = plot.animate(spikes, tmp_path / "layer.gif", sample=1, fps=5, fig=fig)
    assert isinstance(anim, animation.FuncAnimation)
    with Image.open(tmp_path / "layer.gif") as gif:
        assert gif.n_frames == 4


@pytest.mark.filterwarnings("ignore:Animation was deleted")  # never saved nor shown, on purpose
def test_animate_frames_show_the_layer():
    spikes = _spikes((3, 1, 10))  # flat: a 3 x 4 grid filled row by row, two cells blank
    anim = plot.animate(spikes, fig=plt.figure(figsize=(2.5, 2), dpi=40))
    (image,) = anim._fig.axes[0].images
    expected = np.full(12, np.nan)
    expected[:10] = spikes[0, 0]
    np.testing.assert_array_equal(np.ma.filled(image.get_array(), np.nan), expected.reshape(3, 4))
    summed = _spikes((3, 1, 4, 5, 2))
    other = plot.animate(summed.reshape(3, 1, -1), shape=(4, 5, 2), fig=plt.figure(figsize=(2.5, 2), dpi=40))
    np.testing.assert_array_equal(other._fig.axes[0].images[0].get_array(), summed[0, 0].sum(axis=-1))
    del anim, other
    gc.collect()  # their "deleted without rendering" warnings, here where the filter applies


def test_animate_refuses_mp4_without_ffmpeg_and_unknown_suffixes(tmp_path, monkeypatch):
    monkeypatch.setattr(animation.writers, "is_available", lambda name: False)
    spikes = _spikes((3, 1, 4))
    with pytest.raises(RuntimeError, match=r"`path` \('.*a\.mp4'\).*needs ffmpeg.*no ffmpeg.*\.gif"):
        plot.animate(spikes, str(tmp_path / "a.mp4"))
    with pytest.raises(ValueError, match=r"`path` must end in \.gif or \.mp4, got the suffix '\.avi'"):
        plot.animate(spikes, str(tmp_path / "a.avi"))
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match=r"`shape` must hold the 4 neurons of `spikes`.*got \(3, 3\)"):
        plot.animate(spikes, shape=(3, 3))


# --------------------------------------------------------------------------- NIR graph


def _lif(n: int) -> nir.LIF:
    return nir.LIF(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n))


def _cycle_graph() -> nir.NIRGraph:
    """in -> a (LIF) <-> w (Linear), a -> out: the edge w -> a closes a cycle."""
    return nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type={"input": np.array([3])}),
            "a": _lif(3),
            "w": nir.Linear(weight=np.eye(3)),
            "out": nir.Output(output_type={"output": np.array([3])}),
        },
        edges=[("in", "a"), ("a", "w"), ("w", "a"), ("a", "out")],
        type_check=False,
    )


def _node_texts(ax) -> dict[str, str]:
    """{node name: its box's text}, the name line bold and the details below it."""
    texts = [t for t in ax.texts if t.get_gid() == "node"]
    return {head.get_text(): rest.get_text() for head, rest in zip(texts[::2], texts[1::2], strict=True)}


def test_graph_draws_every_edge_and_dashes_the_back_edge():
    _, ax = plot.graph(_cycle_graph())
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == 4
    back = [a for a in arrows if a.get_gid() == "back edge"]
    assert len(back) == 1 and back[0].get_linestyle() == "--"
    assert all(a.get_linestyle() == "-" for a in arrows if a not in back)
    assert back[0].get_edgecolor() != arrows[0].get_edgecolor()
    texts = _node_texts(ax)
    assert texts["a"].startswith("LIF") and texts["w"].startswith("Linear") and "(3,)" in texts["a"]
    assert texts["in"].startswith("Input") and texts["out"].startswith("Output")
    assert "back edge (closes a cycle)" in [t.get_text() for t in ax.get_legend().get_texts()]
    # columns by longest path over the edges without the back edge: in | a | w, out
    x = {t.get_text(): t.get_position()[0] for t in ax.texts if t.get_fontweight() == "bold"}
    assert x["in"] < x["a"] < x["w"] == x["out"]


def test_graph_self_loop_and_shapes_of_an_affine():
    g = nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type={"input": np.array([2])}),
            "fc": nir.Affine(weight=np.ones((5, 2)), bias=np.zeros(5)),
            "lif": _lif(5),
            "out": nir.Output(output_type={"output": np.array([5])}),
        },
        edges=[("in", "fc"), ("fc", "lif"), ("lif", "lif"), ("lif", "out")],
        type_check=False,
    )
    _, ax = plot.graph(g, title="one layer")
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == 4 and [a.get_gid() for a in arrows].count("back edge") == 1
    assert _node_texts(ax)["fc"] == "Affine\n(2,) → (5,)"
    assert ax.get_title() == "one layer"


def test_graph_from_a_file_with_a_nested_graph(nir_refs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the file's stale subgraph edge name is repaired with a warning
        _, ax = plot.graph(nir_refs / "graphs" / "braille_noDelay_bias_zero_subgraph.nir")
    texts = _node_texts(ax)
    assert set(texts) == {"input", "fc1", "lif1", "fc2", "lif2", "output"}
    assert texts["lif1"] == "NIRGraph (4 nodes)\n(38,)"
    assert len([p for p in ax.patches if isinstance(p, FancyArrowPatch)]) == 5


def test_graph_refuses_other_objects():
    with pytest.raises(TypeError, match=r"`g` must be a nir.NIRGraph or the path of a NIR file, got int"):
        plot.graph(42)


def test_plot_is_a_lazy_public_module():
    assert snnx.plot is plot
    assert set(plot.__all__) == {"animate", "graph", "input_output", "raster", "rate_histogram", "traces"}
