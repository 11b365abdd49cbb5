"""Progress display for :func:`snnx.train.fit`: ``rich`` on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys

#: Short names in the per-epoch line.
_SHORT = {"accuracy": "acc"}


def _number(value: float) -> str:
    """Four decimals below 10, four significant digits above: at most 6 characters below 10,000."""
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.4g}"


def format_record(record: dict, epochs: int) -> str:
    """One line per epoch that fits 80 columns for ``fit``'s loss, one metric and their eval values.

    ``epoch 12/50  loss 0.4012 acc 0.9150  eval loss 0.3817 acc 0.9306  1.2s 2345/s``: training
    means, then the ``eval_`` entries, then the epoch's time and throughput (samples per second).
    """
    train, evals = [], []
    for key, value in record.items():
        if key in ("epoch", "time_s", "samples_per_s"):
            continue
        group, name = (evals, key[5:]) if key.startswith("eval_") else (train, key)
        group.append(f"{_SHORT.get(name, name)} {_number(value)}")
    parts = [f"epoch {record['epoch']}/{epochs}", " ".join(train)]
    if evals:
        parts.append("eval " + " ".join(evals))
    seconds, rate = record["time_s"], record["samples_per_s"]
    took = f"{seconds:.1f}s" if seconds < 99.95 else f"{seconds:.0f}s"
    speed = f"{rate:.0f}/s" if rate < 9999.5 else f"{rate / 1000:.0f}k/s"
    parts.append(f"{took} {speed}")
    return "  ".join(parts)


class Progress:
    """Per-step and per-epoch reporting.

    Args:
        mode: ``None`` (rich bar when stdout is a terminal, one plain line per
            epoch otherwise), ``True`` (always rich), ``False`` (silent).
        epochs: total number of epochs (for the ``epoch i/n`` label).
    """

    def __init__(self, mode: bool | None, epochs: int):
        self.epochs = epochs
        self.enabled = mode is not False
        self._rich = None
        self._task = None
        if not self.enabled:
            return
        interactive = sys.stdout.isatty() if mode is None else True
        if interactive:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._rich = Progress(
                TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                transient=True,
            )

    def start_epoch(self, epoch: int, total_steps: int | None, completed: int = 0) -> None:
        if self._rich is None:
            return
        if self._task is None:
            self._rich.start()
        else:
            self._rich.remove_task(self._task)
        self._task = self._rich.add_task(
            "train", total=total_steps, completed=completed, epoch=epoch + 1, epochs=self.epochs, info=""
        )

    def step(self, loss: float, metrics: dict[str, float], samples_per_s: float, advance: int = 1) -> None:
        if self._rich is None:
            return
        info = f"loss {loss:.4f}"
        for key, value in metrics.items():
            info += f"  {key} {value:.4f}"
        info += f"  {samples_per_s:.0f} samples/s"
        self._rich.update(self._task, advance=advance, info=info)

    def end_epoch(self, record: dict) -> None:
        if not self.enabled:
            return
        line = format_record(record, self.epochs)
        if self._rich is not None:
            self._rich.console.print(line)
        else:
            print(line, flush=True)

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self._rich is not None:
            self._rich.console.print(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self._rich is not None and self._task is not None:
            self._rich.stop()
            self._task = None
