"""``snnx train --dataset shd|ssc|nmnist|dvs_gesture``: each recipe end to end on small generated files in the
datasets' real formats (HDF5; N-MNIST's 40-bit records and DVS Gesture's .npy layout, read by tonic)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import nir
import numpy as np
import pytest

from snnx.cli import _recipes
from test_cli_train import run_train  # the in-process `snnx train` harness
from test_cli_train_runs import config
from test_datasets import write_heidelberg

_spec = importlib.util.spec_from_file_location(
    "make_event_files", Path(__file__).parent / "data" / "tonic" / "make_event_files.py"
)
files = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(files)


def heidelberg_split(path, n, classes, seed):
    """Class c fires units 20c..20c+19 early in the window: learnable, in the layout of the real files."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    times = [np.sort(rng.random(40) * 0.5) for _ in labels]
    units = [20 * c + rng.integers(0, 20, 40) for c in labels]
    write_heidelberg(path, times, units, labels)


def event_split(name, n, seed):
    rng = np.random.default_rng(seed)
    size = 34 if name == "nmnist" else 128
    classes = 10 if name == "nmnist" else 11
    return [(files.random_events(rng, 60, size, 200_000), int(rng.integers(0, classes))) for _ in range(n)]


def small_run(dataset, data_dir, out, *more, epochs=1):
    """``snnx train`` arguments for a tiny run of ``dataset``'s recipe: 6 steps, 8 hidden, batches of 8."""
    return ["--dataset", dataset, "--data-dir", str(data_dir), "--epochs", str(epochs), "--time-steps", "6",
            "--batch-size", "8", "--hidden", "8", "--out", str(out), *more]  # fmt: skip


@pytest.fixture
def data_dir(tmp_path):
    for name, classes in (("shd", 20), ("ssc", 35)):
        heidelberg_split(tmp_path / f"{name}_train.h5", 48, classes, 0)
        heidelberg_split(tmp_path / f"{name}_test.h5", 16, classes, 1)
    files.write_nmnist(tmp_path, {"train": event_split("nmnist", 24, 2), "test": event_split("nmnist", 8, 3)})
    files.write_dvs_gesture(tmp_path, {"train": event_split("dvs", 24, 4), "test": event_split("dvs", 8, 5)})
    return tmp_path


def test_recipes_fill_what_the_command_line_leaves_out():
    cfg = config(["--dataset", "shd", "--data-dir", "d"])
    assert {k: cfg[k] for k in _recipes.RECIPES["shd"]} == _recipes.RECIPES["shd"]
    assert cfg["workers"] >= 1 and cfg["stream"] is False
    assert config(["--dataset", "dvsgesture", "--data-dir", "d"])["dataset"] == "dvs_gesture"
    mine = config(["--dataset", "nmnist", "--data-dir", "d", "--model", "mlp", "--time-steps", "7"])
    assert (mine["model"], mine["time_steps"], mine["epochs"]) == (
        "mlp",
        7,
        _recipes.RECIPES["nmnist"]["epochs"],
    )
    digits = config([])
    assert (digits["epochs"], digits["batch_size"], digits["hidden"], digits["time_steps"]) == (
        50,
        32,
        256,
        25,
    )


@pytest.mark.slow  # four short trainings, one per recipe
@pytest.mark.parametrize(
    ("dataset", "model", "sample_shape"),
    [
        ("shd", "recurrent", [700]),
        ("ssc", "recurrent", [700]),
        ("nmnist", "conv", [34, 34, 2]),
        ("dvs_gesture", "conv", [32, 32, 2]),
    ],
)
def test_each_recipe_trains_end_to_end(data_dir, tmp_path, capsys, dataset, model, sample_shape):
    nodes = {"Input", "Affine", "LI", "Output"} | (
        {"NIRGraph"}  # the recurrent LIF: a subgraph with its weighted back edge
        if model == "recurrent"
        else {"Conv2d", "LIF", "SumPool2d", "Flatten"}
    )
    unused = tmp_path / "unused-cache"  # a split held in memory does not use --cache, and says so
    argv = small_run(dataset, data_dir, tmp_path / "runs", "--workers", "0", "--cache", str(unused))
    assert run_train(argv) == 0
    assert "--cache is for a streamed training split; this one (0.00 GiB bit-packed) is held in memory" in (
        capsys.readouterr().err
    )
    assert not unused.exists()
    run = tmp_path / "runs" / dataset
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["config"]["model"] == model and summary["config"]["sample_shape"] == sample_shape
    assert summary["train_samples"] == (48 if dataset in ("shd", "ssc") else 24)
    assert summary["test_samples"] == (16 if dataset in ("shd", "ssc") else 8)
    assert 0.0 <= summary["test_accuracy"] <= 1.0 and np.isfinite(summary["test_loss"])
    assert summary["nir"].endswith("model.nir") and (run / "raster.png").is_file()
    graph = nir.read(run / "model.nir")
    assert {type(node).__name__ for node in graph.nodes.values()} == nodes
    assert cli(str(run), "nir", "--out", str(tmp_path / "again.nir")) == 0  # snnx export of the run folder
    again = nir.read(tmp_path / "again.nir")
    assert {type(node).__name__ for node in again.nodes.values()} == nodes
    np.testing.assert_array_equal(
        again.nodes["input"].input_type["input"], graph.nodes["input"].input_type["input"]
    )


def cli(run, target, *argv):
    """``snnx export TARGET RUN ARGV`` in-process."""
    from test_cli_export import cli as export

    return export(target, run, *argv)


@pytest.mark.slow  # four short trainings
def test_streaming_trains_exactly_as_in_memory(data_dir, tmp_path, capsys):
    """--stream (grain workers every epoch) sees the batches of the in-memory path: identical runs; a
    streamed run resumes in memory (--stream and --workers may change); a cached stream too."""
    runs = {}
    cache = str(tmp_path / "cache")
    for how in (["--workers", "0"], ["--stream", "--workers", "2"], ["--stream", "--cache", cache]):
        name = "cached" if "--cache" in how else "stream" if "--stream" in how else "memory"
        argv = small_run("shd", data_dir, tmp_path, "--name", name, *how, epochs=2)
        assert run_train(argv) == 0, capsys.readouterr().err
        runs[name] = json.loads((tmp_path / name / "metrics.json").read_text())["history"]
    for key in ("loss", "accuracy", "eval_loss", "eval_accuracy"):
        assert [h[key] for h in runs["stream"]] == [h[key] for h in runs["memory"]], key
        assert [h[key] for h in runs["cached"]] == [h[key] for h in runs["memory"]], key
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        "shd-train-T6.packed",
        "shd-train-T6.packed.json",
    ]
    argv = small_run("shd", data_dir, tmp_path, "--name", "stream", "--resume", "--workers", "0", epochs=3)
    assert run_train(argv) == 0
    assert "--stream on -> off; --workers 2 -> 0" in capsys.readouterr().err.replace("True", "on").replace(
        "False", "off"
    )
    history = json.loads((tmp_path / "stream" / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3] and history[:2] == runs["stream"]


def test_bad_files_are_one_line_errors(data_dir, tmp_path, capsys, monkeypatch):
    (data_dir / "shd_test.h5").write_bytes(b"\x89HDF\r\n" + b"\x00" * 40)
    argv = ["--dataset", "shd", "--data-dir", str(data_dir), "--workers", "0", "--out", str(tmp_path)]
    assert run_train(argv) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("snnx train: error: --dataset shd: `path` ")
        and "shd_test.h5' is not a readable HDF5" in err
    )
    assert len(err.splitlines()) == 1
    (data_dir / "shd_test.h5").unlink()
    assert run_train(argv) == 2
    assert "--data-dir must contain shd_test.h5" in capsys.readouterr().err
    argv = ["--dataset", "ssc", "--data-dir", str(data_dir), "--batch-size", "49", "--out", str(tmp_path)]
    assert run_train(argv) == 2
    assert "--batch-size (49) must not exceed the training set size (48)" in capsys.readouterr().err
    argv = ["--dataset", "ssc", "--data-dir", str(data_dir), "--stream", "--compiled", "--out", str(tmp_path)]
    assert run_train(argv) == 2
    assert (
        "--compiled keeps the training set on the device: it cannot take --stream" in capsys.readouterr().err
    )
    monkeypatch.setattr(_recipes, "IN_MEMORY_BYTES", 1000)  # SSC's 48 samples: 48 * 700 * 1 bytes, streamed
    argv = small_run("ssc", data_dir, tmp_path, "--compiled", "--workers", "0")
    assert run_train(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "snnx train: the training split is 0.00 GiB bit-packed, over the 0 GiB held in memory: streaming it "
        "every epoch (--cache DIR bins it once)",
        "snnx train: error: --compiled keeps the training set on the device: it cannot take a training split "
        "of 0.00 GiB bit-packed, which is streamed",
    ]


@pytest.mark.slow  # reads until the bad sample inside training
def test_a_bad_sample_met_while_streaming_is_one_line(data_dir, tmp_path, capsys):
    write_heidelberg(
        data_dir / "ssc_train.h5", [[0.1]] * 15 + [[0.2, 0.3]], [[1]] * 15 + [[2, 700]], [0] * 16
    )
    argv = small_run("ssc", data_dir, tmp_path, "--stream", "--workers", "0")
    assert run_train(argv) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("snnx train: error: --dataset ssc: `path` ")
        and "ssc_train.h5': sample 15 has units" in err
    )
    assert len(err.splitlines()) == 1
