"""Training safety: NaN stops keep the last good checkpoint, SIGINT/SIGTERM checkpoint first,
interrupted checkpoint writes never hide the previous one, and every resume continues exactly
(bit-identical on CPU to an uninterrupted run); the same seed gives the same run twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from snnx.train import Checkpointer, TrainingDivergedError, fit
from train_safety_setup import EPOCHS, make_run, params, without_times

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def reference():
    """An uninterrupted run: (params, history)."""
    model, opt, loss_fn, batches = make_run()
    history = fit(model, opt, loss_fn, batches, epochs=EPOCHS, progress=False)
    return params(model), without_times(history)


def _resume(ckpt_dir, batches=None):
    model, opt, loss_fn, default = make_run()
    history = fit(
        model,
        opt,
        loss_fn,
        batches or default,
        epochs=EPOCHS,
        checkpoint_dir=ckpt_dir,
        resume=True,
        progress=False,
    )
    return params(model), without_times(history)


def _same(run, reference):
    got, history = run
    want, want_history = reference
    assert history == want_history
    assert got.keys() == want.keys()
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def test_same_seed_gives_identical_parameters_and_metrics(reference):
    model, opt, loss_fn, batches = make_run()
    history = fit(model, opt, loss_fn, batches, epochs=EPOCHS, progress=False)
    _same((params(model), without_times(history)), reference)


def test_nan_stops_naming_the_step_keeps_the_last_checkpoint_and_resumes_exactly(tmp_path, reference):
    model, opt, loss_fn, batches = make_run()

    def poisoned(epoch):
        for step, (x, y) in enumerate(batches(epoch)):
            yield (np.full_like(x, np.nan) if (epoch, step) == (1, 2) else x), y

    with pytest.raises(
        TrainingDivergedError, match=r"epoch 2, step 3.*last good checkpoint \(epoch 1\)"
    ) as info:
        fit(model, opt, loss_fn, poisoned, epochs=EPOCHS, checkpoint_dir=tmp_path, progress=False)
    assert (info.value.epoch, info.value.step, info.value.last_checkpoint) == (2, 3, 0)
    with Checkpointer(tmp_path) as ckpt:
        assert ckpt.all_epochs() == [0]
    _same(_resume(tmp_path), reference)  # the bad batch fixed, training continues as if never stopped


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_fit_checkpoints_then_resume_continues_exactly(tmp_path, reference, signum):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "train_signal_worker.py"), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        for line in proc.stdout:
            if line.startswith("step 1 2"):  # inside the second epoch
                proc.send_signal(signum)
                break
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signum, err[-2000:]
    assert "interrupted 2 " in out
    with Checkpointer(tmp_path) as ckpt:
        assert ckpt.latest_epoch() == 1  # the partial checkpoint of epoch 2
    _same(_resume(tmp_path), reference)
    with Checkpointer(tmp_path) as ckpt:
        assert ckpt.latest_epoch() == EPOCHS - 1


def test_signal_handlers_are_restored_after_fit():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    model, opt, loss_fn, batches = make_run()
    fit(model, opt, loss_fn, batches, epochs=1, progress=False)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_an_interrupted_checkpoint_write_leaves_the_previous_one(tmp_path, reference):
    model, opt, loss_fn, batches = make_run()
    fit(model, opt, loss_fn, batches, epochs=1, checkpoint_dir=tmp_path, progress=False)
    # what a process killed while writing epoch 2 leaves: orbax's temporary directory, half full
    stale = tmp_path / "1.orbax-checkpoint-tmp-1700000000000000"
    (stale / "model").mkdir(parents=True)
    (stale / "model" / "half_written").write_bytes(b"\0" * 100)
    with Checkpointer(tmp_path) as ckpt:
        assert ckpt.latest_epoch() == 0
    _same(_resume(tmp_path), reference)


@pytest.mark.slow
def test_a_failing_save_keeps_the_previous_checkpoint(tmp_path, reference, monkeypatch):
    model, opt, loss_fn, batches = make_run()
    fit(model, opt, loss_fn, batches, epochs=1, checkpoint_dir=tmp_path, progress=False)

    def dies_midway(self, *args, **kwargs):
        (Path(self.directory) / "1.orbax-checkpoint-tmp-1").mkdir()
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(Checkpointer, "save", dies_midway)
    model, opt, loss_fn, batches = make_run()
    with pytest.raises(KeyboardInterrupt):
        fit(model, opt, loss_fn, batches, epochs=EPOCHS, checkpoint_dir=tmp_path, resume=True, progress=False)
    monkeypatch.undo()
    _same(_resume(tmp_path), reference)


@pytest.mark.slow
def test_snnx_train_checkpoints_on_sigint_and_resumes(tmp_path, monkeypatch, capsys):
    import argparse

    from snnx.cli import _train
    from snnx.train import _fit

    def snnx_train(*argv):
        parser = argparse.ArgumentParser(prog="snnx")
        _train.add_parser(parser.add_subparsers())
        args = parser.parse_args(
            [
                "train",
                "--epochs",
                "2",
                "--hidden",
                "16",
                "--time-steps",
                "5",
                "--batch-size",
                "128",
                "--out",
                str(tmp_path),
                "--name",
                "run",
                *argv,
            ]
        )
        return args.func(args)

    calls, place = [], _fit.place

    def place_then_signal(*args, **kwargs):  # Ctrl-C arrives while the third training step runs
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return place(*args, **kwargs)

    monkeypatch.setattr(_fit, "place", place_then_signal)
    assert snnx_train() == 128 + signal.SIGINT
    assert "interrupted by SIGINT in epoch 1, after step 3; checkpoint in" in capsys.readouterr().err
    monkeypatch.setattr(_fit, "place", place)
    assert snnx_train("--resume") == 0
    assert [r["epoch"] for r in json.loads((tmp_path / "run" / "metrics.json").read_text())["history"]] == [
        1,
        2,
    ]
