"""``snnx train`` end to end (tiny configuration) and its argument errors."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from snnx.cli import _plots, _train

TINY = ["--epochs", "2", "--hidden", "16", "--time-steps", "5", "--batch-size", "128"]


def run_train(argv: list[str]) -> int:
    """``snnx train ARGV`` in-process (only the ``train`` subcommand registered)."""
    parser = argparse.ArgumentParser(prog="snnx")
    _train.add_parser(parser.add_subparsers())
    args = parser.parse_args(["train", *argv])
    return args.func(args)


def check_png(path) -> None:
    import matplotlib.image

    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    assert run_train([*TINY, "--out", str(out), "--name", "tiny"]) == 0
    return out / "tiny"


@pytest.mark.slow  # trains (module fixture `tiny_run`)
def test_writes_every_file(tiny_run, capsys):
    assert (tiny_run / "checkpoint").is_dir() and os.listdir(tiny_run / "checkpoint")
    for name in ("curves.png", "raster.png", "layers.png", "rates.png"):
        check_png(tiny_run / name)
    summary = json.loads((tiny_run / "metrics.json").read_text())
    assert set(summary["hidden_rates"]) == {"1"} and 0.0 <= summary["hidden_rates"]["1"] <= 1.0
    assert summary["config"]["epochs"] == 2 and len(summary["history"]) == 2
    assert 0.0 <= summary["test_accuracy"] <= 1.0 and summary["test_samples"] == 360
    assert summary["nir"].endswith("model.nir") and (tiny_run / "model.nir").is_file()


@pytest.mark.slow  # trains (module fixture `tiny_run`)
def test_nir_round_trip_gives_same_predictions(tiny_run):
    import jax.numpy as jnp
    from flax import nnx

    from snnx import datasets, nir
    from snnx.engine import run
    from snnx.train import restore

    cfg = json.loads((tiny_run / "metrics.json").read_text())["config"]
    _, (x_test, _) = datasets.digits(cfg["encoding"], cfg["time_steps"], seed=cfg["seed"])
    model = _train.build_model(cfg, 64, 10)
    restore(tiny_run / "checkpoint", model)
    imported = nir.from_nir(tiny_run / "model.nir", _train.NIR_DT)
    x = jnp.asarray(x_test)
    ours = np.asarray(jnp.argmax(jnp.max(run(model, x)[0], axis=0), axis=-1))
    theirs = np.asarray(jnp.argmax(jnp.max(run(imported, x)[0], axis=0), axis=-1))
    np.testing.assert_array_equal(ours, theirs)
    assert isinstance(model, nnx.Module)


@pytest.mark.slow  # trains (module fixture `tiny_run`)
def test_resume_continues_the_run(tiny_run, capsys):
    out = str(tiny_run.parent)
    assert run_train([*TINY[:1], "3", *TINY[2:], "--out", out, "--name", "tiny", "--resume"]) == 0
    summary = json.loads((tiny_run / "metrics.json").read_text())
    assert [r["epoch"] for r in summary["history"]] == [1, 2, 3]
    captured = capsys.readouterr()
    assert "test accuracy:" in captured.out
    epoch_lines = [line for line in captured.out.splitlines() if line.startswith("epoch ")]
    assert epoch_lines and all(len(line) <= 80 for line in epoch_lines)
    assert captured.err.splitlines() == [  # --epochs may change on --resume, and stderr says so
        f"snnx train: resuming {out}/tiny with changed options (saved -> now): --epochs 2 -> 3 "
        "(the learning-rate schedule is recomputed for the new --epochs)"
    ]


@pytest.mark.slow  # trains (module fixture `tiny_run`)
def test_model_nir_holds_the_lif_the_readme_names(tiny_run):
    """The hidden neurons keep their (frozen) beta = 0.9: exported as LIF, never IF."""
    from snnx import nir

    graph = nir.read(tiny_run / "model.nir")
    kinds = sorted(type(node).__name__ for node in graph.nodes.values())
    assert kinds == ["Affine", "Affine", "Input", "LI", "LIF", "Output"]
    (lif,) = (node for node in graph.nodes.values() if type(node).__name__ == "LIF")
    np.testing.assert_allclose(lif.tau, _train.NIR_DT / (1 - 0.9), rtol=1e-5)


@pytest.mark.slow
def test_raster_shows_spikes_and_the_readout_membrane(tmp_path, monkeypatch):
    """raster.png: input and hidden spikes, then one membrane line per class with the winner marked."""
    import matplotlib.pyplot as plt

    close, kept = plt.close, []
    monkeypatch.setattr(plt, "close", kept.append)  # keep the figures to inspect them
    model = _train.build_model({"neuron": "lif", "hidden": 16, "seed": 0}, 64, 10)
    x = (np.random.default_rng(0).random((6, 64)) < 0.3).astype(np.float32)
    predicted = None
    for i in range(2):  # label 0, then the other case of right or wrong
        label = 0 if i == 0 else (predicted if predicted != 0 else 1)
        path = tmp_path / f"raster{i}.png"
        got = _plots.plot_raster(model, x, label, str(path))
        assert predicted in (None, got)
        predicted = got
        check_png(path)
        fig = kept[-1]
        assert [ax.get_ylabel() for ax in fig.axes] == ["input unit", "hidden unit", "membrane"]
        readout = fig.axes[2]
        assert readout.get_xlabel() == "time step"
        assert f"true label {label}, predicted {predicted}" in readout.get_title()
        curves = [line for line in readout.get_lines() if len(line.get_xdata()) == 6]
        assert len(curves) == 10  # one membrane line per class
        legend = [t.get_text() for t in readout.get_legend().get_texts()]
        assert f"predicted class {predicted}" in legend
        assert (f"true class {label}" in legend) == (label != predicted)
    for fig in kept:
        close(fig)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "nope"], "--dataset must be one of digits, shd, ssc, nmnist, dvs_gesture, got 'nope'"),
        (["--epochs", "-3"], "--epochs must be >= 1, got -3"),
        (["--epochs", "x"], "--epochs must be an integer, got 'x'"),
        (["--batch-size", "5000"], "--batch-size (5000) must not exceed the training set size (1437)"),
        (["--lr", "0"], "--lr must be a positive finite number, got 0"),
        (["--neuron", "hh"], "--neuron must be one of lif, if, cubalif, alif, got 'hh'"),
        (["--dataset", "shd"], "--dataset shd needs --data-dir"),
        (["--reg-sparsity", "2"], "--reg-sparsity must be a rate in [0, 1] (spikes per step), got 2"),
        (["--reg-silence", "x"], "--reg-silence must be a rate in [0, 1] (spikes per step), got 'x'"),
        (["--reg-weight", "-1"], "--reg-weight must be a positive finite number, got -1"),
        (["--tbptt", "0"], "--tbptt must be >= 1, got 0"),
    ],
)
def test_bad_arguments_one_line(argv, message, capsys, tmp_path):
    assert run_train([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snnx train: error: ") and message in err and err.count("\n") == 1


def test_argparse_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_train(["--epochs"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == "snnx train: error: argument --epochs: expected one argument\n"


BAD_DATASET = "snnx train: error: --dataset must be one of digits, shd, ssc, nmnist, dvs_gesture, got 'nope'"
NEEDS_EVERY_SUBCOMMAND = pytest.mark.skipif(
    any(importlib.util.find_spec(f"snnx.cli._{name}") is None for name in ("nir", "bench")),
    reason="the `snnx` entry point needs every subcommand module (snnx.cli._nir, snnx.cli._bench)",
)


@NEEDS_EVERY_SUBCOMMAND
def test_entry_point_main_bad_dataset(tmp_path, capsys):
    from snnx.cli import main

    assert main(["train", "--dataset", "nope", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.splitlines() == [BAD_DATASET]


@pytest.mark.slow  # a process that imports JAX (~3 s); the same through main() in-process above
@NEEDS_EVERY_SUBCOMMAND
def test_console_entry_point_bad_dataset(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from snnx.cli import main; sys.exit(main())",
            "train",
            "--dataset",
            "nope",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [BAD_DATASET]


def test_activity_penalties_enter_the_loss_and_the_history():
    import jax.numpy as jnp

    from snnx import losses

    cfg = {"label_smoothing": 0.0, "reg_silence": 0.3, "reg_sparsity": 0.1, "reg_weight": 7.0}
    loss, record = _train.make_loss(cfg)
    assert record == "spikes"
    rng = np.random.default_rng(0)
    outputs = jnp.asarray(rng.normal(size=(5, 4, 3)), jnp.float32)
    y = jnp.asarray([0, 1, 2, 0])
    spikes = jnp.asarray(rng.random((5, 4, 6)) < np.linspace(0, 1, 6), jnp.float32)
    rates = np.asarray(spikes).mean(axis=(0, 1))  # per neuron, in numpy
    penalty = np.mean(np.maximum(0, 0.3 - rates) ** 2) + np.mean(np.maximum(0, rates - 0.1) ** 2)
    expected = float(losses.max_membrane_cross_entropy(outputs, y)) + 7.0 * penalty
    assert float(loss(outputs, y, {"1": spikes})) == pytest.approx(expected, rel=1e-5)
    plain, none = _train.make_loss({"label_smoothing": 0.0, "reg_silence": None, "reg_sparsity": None})
    assert none is None and float(plain(outputs, y)) == pytest.approx(
        float(losses.max_membrane_cross_entropy(outputs, y)), rel=1e-6
    )


@pytest.mark.slow  # trains
def test_reg_sparsity_run_logs_hidden_rates(tmp_path):
    assert run_train([*TINY, "--reg-sparsity", "0.05", "--out", str(tmp_path), "--name", "reg"]) == 0
    summary = json.loads((tmp_path / "reg" / "metrics.json").read_text())
    assert summary["config"]["reg_sparsity"] == 0.05 and summary["config"]["reg_silence"] is None
    last = summary["history"][-1]
    assert 0.0 <= last["rate/1"] <= 1.0 and 0.0 <= last["eval_rate/1"] <= 1.0


@pytest.mark.slow  # trains
def test_compiled_run_with_truncated_bptt(tmp_path, capsys):
    argv = [*TINY, "--compiled", "--tbptt", "2", "--out", str(tmp_path), "--name", "comp"]
    assert run_train(argv) == 0
    summary = json.loads((tmp_path / "comp" / "metrics.json").read_text())
    assert summary["config"]["compiled"] is True and summary["config"]["tbptt"] == 2
    history = summary["history"]
    assert [r["epoch"] for r in history] == [1, 2]
    assert history[0]["compile_s"] > 0 and "compile_s" not in history[1]
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    captured = capsys.readouterr()
    assert "test accuracy" in captured.out
    assert "--compiled: the digits rate code is drawn once for the run, not every epoch" in captured.err
