"""``fit``'s progress: the bar's total for a callable of batches, and the 80-column epoch line."""

from __future__ import annotations

import numpy as np
import optax
import pytest
from flax import nnx

from snnx import losses
from snnx.engine import Sequential
from snnx.neurons import LI
from snnx.train import _fit, fit
from snnx.train._progress import Progress, format_record


def _model():
    return Sequential(nnx.Linear(3, 2, rngs=nnx.Rngs(0)), LI(2))


def _batches(epoch):
    x = np.ones((4, 8, 3), np.float32)
    y = np.zeros(8, np.int32)
    return [(x, y), (x, y), (x, y)]


def test_a_callable_with_steps_per_epoch_gives_the_bar_its_total(monkeypatch):
    totals = []

    class Recording(Progress):
        def start_epoch(self, epoch, total_steps, completed=0):
            totals.append((total_steps, completed))
            super().start_epoch(epoch, total_steps, completed)

    monkeypatch.setattr(_fit, "Progress", Recording)
    loss = losses.max_membrane_cross_entropy
    fit(_model(), optax.adam(1e-3), loss, _batches, epochs=2, steps_per_epoch=3, progress=False)
    fit(_model(), optax.adam(1e-3), loss, _batches, epochs=1, progress=False)
    assert totals == [(3, 0), (3, 0), (None, 0)]  # None: unknown, the bar shows "?"


def test_rich_bar_shows_the_total():
    bar = Progress(True, 2)
    bar.start_epoch(0, 44)
    try:
        assert bar._rich.tasks[0].total == 44
    finally:
        bar.close()


def test_steps_per_epoch_with_arrays_is_an_error():
    x, y = np.ones((4, 8, 3), np.float32), np.zeros(8, np.int32)
    with pytest.raises(
        ValueError, match=r"`steps_per_epoch` is for a callable `train_data`.*got steps_per_epoch=2"
    ):
        fit(
            _model(), optax.adam(1e-3), losses.max_membrane_cross_entropy, (x, y), epochs=1, steps_per_epoch=2
        )


@pytest.mark.parametrize(
    "record",
    [
        {
            "epoch": 999,
            "loss": 12.3456,
            "accuracy": 0.99,
            "eval_loss": 0.01234,
            "eval_accuracy": 0.9917,
            "time_s": 99.94,
            "samples_per_s": 9999.4,
        },
        {
            "epoch": 3,
            "loss": 2.3026,
            "accuracy": 0.1,
            "eval_loss": 2.1,
            "eval_accuracy": 0.2,
            "time_s": 1234.5,
            "samples_per_s": 123456.0,
        },
    ],
)
def test_epoch_line_fits_80_columns(record):
    line = format_record(record, 999)
    assert len(line) <= 80, line
    assert (
        line.startswith(f"epoch {record['epoch']}/999  loss ") and " acc " in line and "  eval loss " in line
    )


def test_epoch_line_rounds_and_abbreviates():
    record = {
        "epoch": 12,
        "loss": 0.40123,
        "accuracy": 0.915,
        "eval_loss": 0.38171,
        "eval_accuracy": 0.93056,
        "time_s": 1.234,
        "samples_per_s": 2345.4,
    }
    assert (
        format_record(record, 50)
        == "epoch 12/50  loss 0.4012 acc 0.9150  eval loss 0.3817 acc 0.9306  1.2s 2345/s"
    )
