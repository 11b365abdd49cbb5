"""The figures ``snnx train`` writes: training curves, a held-out sample's raster with its readout,
every spiking layer's raster, and the firing-rate histograms of every spiking layer."""

from __future__ import annotations


def plot_curves(history: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_loss.plot(epochs, [r["loss"] for r in history], label="train")
    ax_loss.plot(epochs, [r["eval_loss"] for r in history], label="test")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.plot(epochs, [r["accuracy"] for r in history], label="train")
    ax_acc.plot(epochs, [r["eval_accuracy"] for r in history], label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_raster(model, x, label: int, path: str) -> int:
    """Input spikes, hidden spikes and readout membranes of one sample ``x`` of shape ``(T, *in)``.

    The readout panel draws the membrane of every class over time: the predicted
    class (highest peak, as :func:`snnx.metrics.max_membrane_accuracy` decides) in
    vermillion with its peak marked, the true class dashed blue when it differs,
    the others grey (Okabe-Ito colours, safe for colour-blind readers). Returns
    the predicted class.
    """
    import jax.numpy as jnp
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from snnx.engine import run

    winner_colour, true_colour, other_colour = "#D55E00", "#0072B2", "#B0B0B0"
    batch = jnp.asarray(x, jnp.float32)[:, None]
    outputs, _, recording = run(model, batch, record="spikes")
    hidden = next(iter(recording.outputs.values()))  # the hidden layer's spikes
    membrane = np.asarray(outputs[:, 0], np.float32).reshape(outputs.shape[0], -1)  # (T, classes)
    predicted = int(np.argmax(membrane.max(axis=0)))
    fig, (ax_in, ax_hid, ax_out) = plt.subplots(
        3, 1, figsize=(7, 8.5), sharex=True, gridspec_kw={"height_ratios": (1, 1.5, 1.5)}
    )
    for ax, spikes, what in (
        (ax_in, np.asarray(batch[:, 0]), "input"),
        (ax_hid, np.asarray(hidden[:, 0]), "hidden"),
    ):
        spikes = spikes.reshape(spikes.shape[0], -1)
        t, unit = np.nonzero(spikes)
        ax.scatter(t, unit, s=4, marker="|", color="black")
        ax.set(ylabel=f"{what} unit", ylim=(-0.5, spikes.shape[1] - 0.5))
    steps = np.arange(membrane.shape[0])
    others = [c for c in range(membrane.shape[1]) if c not in (predicted, label)]
    for i, c in enumerate(others):
        ax_out.plot(steps, membrane[:, c], color=other_colour, lw=1, label=None if i else "other classes")
    gap = 0.06 * max(float(np.ptp(membrane)), 1e-6)  # each line's class at its right end, spread apart
    tag_y = {}
    for c in np.argsort(membrane[-1]):
        below = max(tag_y.values(), default=-np.inf)
        tag_y[int(c)] = max(float(membrane[-1, c]), below + gap)
    for c, y in tag_y.items():
        colour = winner_colour if c == predicted else true_colour if c == label else "#707070"
        ax_out.annotate(
            str(c), (steps[-1], y), xytext=(5, 0), textcoords="offset points", va="center", color=colour
        )
    if label != predicted and 0 <= label < membrane.shape[1]:
        ax_out.plot(steps, membrane[:, label], color=true_colour, lw=2, ls="--", label=f"true class {label}")
    ax_out.plot(
        steps, membrane[:, predicted], color=winner_colour, lw=2.5, label=f"predicted class {predicted}"
    )
    peak = int(np.argmax(membrane[:, predicted]))
    ax_out.plot(peak, membrane[peak, predicted], "o", color=winner_colour, ms=8, mec="black")
    late = peak > steps[-1] / 2  # write the note on the side with room
    ax_out.annotate(
        f"peak of class {predicted}",
        (peak, membrane[peak, predicted]),
        xytext=(-8 if late else 8, 6),
        textcoords="offset points",
        ha="right" if late else "left",
        color=winner_colour,
        fontweight="bold",
    )
    ax_out.margins(y=0.18)  # room for the note and the legend
    verdict = "correct" if predicted == label else "wrong"
    ax_out.set(
        xlabel="time step",
        ylabel="membrane",
        title=f"readout: true label {label}, predicted {predicted} ({verdict}; highest peak wins)",
    )
    ax_out.legend(loc="upper left", fontsize="small", frameon=False)
    ax_out.grid(alpha=0.3)
    ax_in.set_title(f"test sample: label {label}, predicted {predicted}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return predicted


def plot_activity(model, x, raster_path: str, rates_path: str) -> dict[str, float]:
    """Every spiking layer's raster of sample 0 (neurons sorted by rate) and per-layer rate histograms.

    ``x``: held-out inputs ``(T, B, ...)``. Returns each spiking layer's mean rate
    (spikes per neuron per step) over the batch.
    """
    import jax.numpy as jnp
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from snnx import plot
    from snnx.engine import run

    _, _, recording = run(model, jnp.asarray(x, jnp.float32), record="spikes")
    fig, _ = plot.raster(recording, sample=0, sort_by_rate=True)
    fig.savefig(raster_path, dpi=100)
    plt.close(fig)
    fig, _ = plot.rate_histogram(recording)
    fig.savefig(rates_path, dpi=100)
    plt.close(fig)
    return {key: float(jnp.mean(a)) for key, a in recording.outputs.items()}
