"""``snnx train`` as a new user meets it: reused run names, ``--resume`` with other options,
Ctrl-C before training, the progress total and the tonic datasets.

Most tests stop before training (a prepared run folder, or a stand-in for ``fit``); the few that
train or start a process are marked slow.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import snnx.train
from snnx.cli import _runs, _train
from test_cli_train import run_train  # the in-process `snnx train` harness

SMALL = ["--epochs", "1", "--hidden", "16", "--time-steps", "5"]


def config(argv: list[str]) -> dict:
    """The validated config ``snnx train ARGV`` would run with."""
    parser = argparse.ArgumentParser(prog="snnx")
    _train.add_parser(parser.add_subparsers())
    return _train.parse_config(parser.parse_args(["train", *argv]))


def fake_run(run_dir, argv: list[str]) -> None:
    """A finished run's folder as ``snnx train ARGV`` leaves it (a stand-in checkpoint step)."""
    os.makedirs(run_dir / "checkpoint" / "1")
    _runs.write_config(str(run_dir), config(argv))
    (run_dir / "metrics.json").write_text('{"old": true}')
    (run_dir / "raster.png").write_bytes(b"old")


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


class Stop(Exception):
    """Raised by the stand-in for ``fit``: the test ends where training would start."""


@pytest.fixture
def no_training(monkeypatch):
    """Replace ``snnx.train.fit`` (imported by ``train()`` at call time) and skip building the model;
    returns the keyword arguments ``fit`` was called with."""
    calls = []

    def fit(*args, **kwargs):
        calls.append(kwargs)
        raise Stop

    monkeypatch.setattr(snnx.train, "fit", fit)
    monkeypatch.setattr(_train, "build_model", lambda cfg, num_inputs, num_classes: None)
    return calls


@pytest.fixture
def no_data(monkeypatch):
    """A stand-in for the digits: 64 training and 8 test samples of 3 inputs."""
    x, y = np.zeros((5, 64, 3), np.float32), np.zeros(64, np.int32)
    monkeypatch.setattr(_train, "_load", lambda cfg: ((x, y), 64, 3, (x[:, :8], y[:8]), 2))


# ------------------------------------------------------------------ a reused run name


def test_existing_run_is_refused_and_kept(tmp_path, capsys):
    run = tmp_path / "tiny"
    fake_run(run, SMALL)
    assert run_train([*SMALL, "--out", str(tmp_path), "--name", "tiny"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line == (
        f"snnx train: error: {run} already holds a run (checkpoint, config.json, metrics.json, raster.png); "
        "continue it with --resume, replace it with --overwrite, or choose another --name"
    )
    assert (run / "metrics.json").read_text() == '{"old": true}' and (run / "checkpoint" / "1").is_dir()


def test_a_lone_config_is_no_run(tmp_path):
    _runs.write_config(str(tmp_path), config(SMALL))  # a run stopped before its first checkpoint
    assert _runs.check_fresh(str(tmp_path), overwrite=False) == []
    os.makedirs(tmp_path / "checkpoint")  # an empty checkpoint folder holds nothing either
    assert _runs.check_fresh(str(tmp_path), overwrite=False) == []


def test_overwrite_replaces_only_the_previous_outputs_and_says_so(tmp_path, capsys, no_training, no_data):
    run = tmp_path / "tiny"
    fake_run(run, [*SMALL, "--hidden", "64"])
    (run / "notes.txt").write_text("mine")
    with pytest.raises(Stop):
        run_train([*SMALL, "--out", str(tmp_path), "--name", "tiny", "--overwrite"])
    assert one_line(capsys.readouterr().err) == (
        f"snnx train: --overwrite: replaced the previous run in {run} "
        "(checkpoint, config.json, metrics.json, raster.png)"
    )
    assert sorted(os.listdir(run)) == ["config.json", "notes.txt"]  # the new config, the user's file
    assert json.loads((run / "config.json").read_text())["hidden"] == 16


def test_resume_and_overwrite_exclude_each_other(tmp_path, capsys):
    assert run_train([*SMALL, "--out", str(tmp_path), "--resume", "--overwrite"]) == 2
    assert one_line(capsys.readouterr().err) == (
        "snnx train: error: --resume continues the run and --overwrite replaces it: give one of them"
    )


# ------------------------------------------------------------------ --resume


def test_resume_without_a_run_is_an_error(tmp_path, capsys):
    assert run_train([*SMALL, "--out", str(tmp_path), "--name", "nope", "--resume"]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"snnx train: error: --resume: {tmp_path / 'nope'} does not exist, so there is nothing to resume; "
        "leave out --resume to start a new run"
    )
    (tmp_path / "nope").mkdir()  # a run stopped before its first checkpoint
    _runs.write_config(str(tmp_path / "nope"), config(SMALL))
    assert run_train([*SMALL, "--out", str(tmp_path), "--name", "nope", "--resume"]) == 2
    assert one_line(capsys.readouterr().err).endswith(
        f"{tmp_path / 'nope'} holds no checkpoint to resume from; leave out --resume to start a new run"
    )


def test_resume_names_every_changed_option_and_refuses(tmp_path, capsys):
    fake_run(tmp_path / "tiny", [*SMALL, "--hidden", "256"])
    changed = ["--hidden", "128", "--seed", "1", "--encoding", "latency", "--lr", "1e-3", "--epochs", "4"]
    assert run_train([*SMALL, *changed, "--out", str(tmp_path), "--name", "tiny", "--resume"]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"snnx train: error: --resume {tmp_path / 'tiny'}: the options differ from the saved run "
        "(saved -> now): --epochs 1 -> 4; --lr 0.002 -> 0.001; --hidden 256 -> 128; "
        "--encoding rate -> latency; --seed 0 -> 1; only --epochs, --data-dir, --devices, --stream, "
        "--workers, --cache may change when resuming: rerun with the saved values, or start a new run with "
        "--overwrite or another --name"
    )


def test_resume_accepts_longer_training_and_says_so(tmp_path, capsys, no_training, no_data):
    fake_run(tmp_path / "tiny", SMALL)
    with pytest.raises(Stop):
        run_train([*SMALL, "--epochs", "3", "--out", str(tmp_path), "--name", "tiny", "--resume"])
    assert one_line(capsys.readouterr().err) == (
        f"snnx train: resuming {tmp_path / 'tiny'} with changed options (saved -> now): --epochs 1 -> 3 "
        "(the learning-rate schedule is recomputed for the new --epochs)"
    )
    assert no_training[0]["resume"] is True
    assert json.loads((tmp_path / "tiny" / "config.json").read_text())["epochs"] == 3  # next resume's base


def test_resume_of_an_older_run_without_config_warns(tmp_path):
    os.makedirs(tmp_path / "checkpoint" / "0")
    note = _runs.check_resume(str(tmp_path), str(tmp_path / "checkpoint"), config(SMALL))
    assert note == (
        f"snnx train: warning: {tmp_path} has no config.json (an older run); "
        "its options cannot be compared with these"
    )


# ------------------------------------------------------------------ Ctrl-C before training


def test_ctrl_c_while_loading_is_one_line_and_status_130(tmp_path, capsys, monkeypatch):
    def load(cfg):
        raise KeyboardInterrupt

    monkeypatch.setattr(_train, "_load", load)
    assert run_train([*SMALL, "--out", str(tmp_path)]) == 130
    assert capsys.readouterr().err == "snnx train: interrupted before training started\n"


def test_ctrl_c_while_starting_the_cli_is_one_line(capsys, monkeypatch):
    import snnx.cli

    def build_parser():
        raise KeyboardInterrupt  # e.g. while a subcommand module imports its libraries

    monkeypatch.setattr(snnx.cli, "build_parser", build_parser)
    assert snnx.cli.main(["train"]) == 130
    assert capsys.readouterr().err == "snnx: interrupted\n"


def _interrupt(code: str, ready: str, tmp_path) -> tuple[int, str]:
    """Run ``python -c code train ...``, send SIGINT once it prints ``ready``; (exit status, stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "train", *SMALL, "--out", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline() == ready + "\n"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    return proc.returncode, err


@pytest.mark.slow  # a process that imports JAX (~3 s)
def test_sigint_right_after_start_exits_130_with_one_line(tmp_path):
    # through the console script's entry: its handler covers the moment before main() runs;
    # the signal lands in imports, data loading or (checkpointed) training
    code = "import sys, _snnx_entry; print('in main', flush=True); sys.exit(_snnx_entry.main())"
    returncode, err = _interrupt(code, "in main", tmp_path)
    assert returncode == 130, err
    assert "Traceback" not in err and 1 <= len(err.splitlines()) <= 2, err
    assert err.startswith(
        ("snnx: interrupted", "snnx train: interrupted", "snnx train: training interrupted")
    )


# ------------------------------------------------------------------ progress total


def test_cli_gives_fit_the_steps_per_epoch(tmp_path, no_training):
    with pytest.raises(Stop):  # digits, rate code: a fresh code each epoch, a callable of batches
        run_train([*SMALL, "--batch-size", "32", "--out", str(tmp_path)])
    assert no_training[0]["steps_per_epoch"] == 1437 // 32


# ------------------------------------------------------------------ N-MNIST, DVS Gesture


def test_tonic_dataset_without_tonic_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tonic", None)  # `import tonic` fails as when it is not installed
    argv = [*SMALL, "--dataset", "nmnist", "--data-dir", str(tmp_path), "--out", str(tmp_path)]
    assert run_train(argv) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("snnx train: error: --dataset nmnist: ") and "pip install 'snnx[data]'" in line


def test_tonic_dataset_needs_data_dir(tmp_path, capsys):
    assert run_train([*SMALL, "--dataset", "dvs_gesture", "--out", str(tmp_path)]) == 2
    assert one_line(capsys.readouterr().err) == (
        "snnx train: error: --dataset dvs_gesture needs --data-dir, the folder tonic downloads it into"
    )


@pytest.mark.parametrize("delay", [0.0, 0.5])
def test_sigint_while_the_console_script_still_imports_jax_is_one_line(tmp_path, delay):
    """The `snnx` script's own entry (src/_snnx_entry.py) covers the seconds `import snnx` takes."""
    code = (
        "import sys, time; sys.argv[0] = 'snnx'; import _snnx_entry, signal; "
        f"time.sleep({delay}); print('starting', flush=True); sys.exit(_snnx_entry.main())"
    )
    returncode, err = _interrupt(code, "starting", tmp_path)  # `import snnx` (JAX) is still loading
    assert returncode == 130, err
    first = err.splitlines()[0]
    assert first in ("snnx: interrupted", "snnx train: interrupted before training started"), err
    assert "Traceback" not in err and "Exception ignored" not in err and len(err.splitlines()) <= 2, err
