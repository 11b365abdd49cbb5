"""Reading step results back from the device in batches, not after every step.

A jitted step returns device arrays at once and runs asynchronously; reading a
value (``float(loss)``) waits for the device to finish, so the host cannot
prepare the next batch meanwhile and the device idles. :class:`Tally` keeps
each step's outputs as device arrays (starting their copy to the host without
waiting) and reads them back all at once on :meth:`Tally.sync`, in step order,
so the sums are the same floats, added in the same order, as a read after
every step.

``sync_every`` (default :data:`SYNC_EVERY`) bounds how many steps wait: it is a
trade-off between fewer stalls and later reactions (a NaN stop comes up to
``sync_every - 1`` steps after the bad step, though it names that step) and
device memory (each waiting step keeps its input batch on the device).
:class:`TrainingDivergedError` is raised by ``fit`` for the first non-finite step
a sync finds.
"""

from __future__ import annotations

import jax
import numpy as np

SYNC_EVERY = 10


class TrainingDivergedError(FloatingPointError):
    """The training loss (or a gradient) became NaN or infinite.

    Attributes:
        epoch: 1-based epoch of the bad step.
        step: 1-based step within that epoch.
        last_checkpoint: 0-based epoch of the last good checkpoint, or ``None``.
    """

    def __init__(self, message: str, *, epoch: int, step: int, last_checkpoint: int | None):
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.last_checkpoint = last_checkpoint


def diverged(epoch, step, loss, finite, directory, last_checkpoint) -> TrainingDivergedError:
    """The error for 0-based ``epoch`` and ``step`` whose ``loss`` (or gradient: ``finite``) is bad."""
    kept = (
        f"; the last good checkpoint (epoch {last_checkpoint + 1}) is kept in {directory}"
        if directory is not None and last_checkpoint is not None
        else ""
    )
    what = "a gradient is not finite" if np.isfinite(loss) else f"training loss is {loss}"
    return TrainingDivergedError(
        f"{what} at epoch {epoch + 1}, step {step + 1}; training stopped{kept}",
        epoch=epoch + 1,
        step=step + 1,
        last_checkpoint=last_checkpoint,
    )


class Tally:
    """Sample-weighted sums of the loss and the metrics over the steps read back so far.

    Args:
        names: the metric names.
        sums: sums to continue from (a resumed epoch), else zeros.
        seen: samples already counted in ``sums``.
    """

    def __init__(self, names, *, sums: dict | None = None, seen: int = 0):
        self.sums = {"loss": 0.0, **dict.fromkeys(names, 0.0)}
        self.sums.update(sums or {})
        self.seen = int(seen)
        self.last: tuple[float, dict[str, float]] | None = None  # the latest step read back
        self.advanced = 0  # steps added by the latest sync
        self._pending: list = []

    def __len__(self) -> int:
        """Steps waiting to be read back."""
        return len(self._pending)

    def add(self, step: int, n: int, loss, values: dict, finite=True) -> None:
        """Queue step ``step`` (``n`` samples) with its device outputs; starts their copy to the host."""
        for leaf in jax.tree.leaves((loss, values, finite)):
            if isinstance(leaf, jax.Array):
                leaf.copy_to_host_async()
        self._pending.append((step, n, (loss, values, finite)))

    def sync(self, *, check_finite: bool = False) -> tuple[int, float, bool] | None:
        """Read every waiting step back, in order, and add it to the sums.

        With ``check_finite``, the first step whose loss is not finite or whose
        ``finite`` flag is false stops the reading: it is returned as
        ``(step, loss, finite)`` and neither it nor any later step is added.
        Returns ``None`` when every step was added.
        """
        pending, self._pending = self._pending, []
        host = jax.device_get([outputs for _, _, outputs in pending])
        self.advanced = 0
        for (step, n, _), (loss, values, finite) in zip(pending, host, strict=True):
            loss = float(loss)
            if check_finite and not (np.isfinite(loss) and bool(finite)):
                return step, loss, bool(finite)
            values = {name: float(v) for name, v in values.items()}
            self.sums["loss"] += loss * n
            for name, v in values.items():
                self.sums[name] += v * n
            self.seen += n
            self.last = (loss, values)
            self.advanced += 1
        return None

    def means(self) -> dict[str, float]:
        """``sums / seen``; ``ValueError`` when no sample was seen."""
        if self.seen == 0:
            raise ValueError("no samples were seen")
        return {name: total / self.seen for name, total in self.sums.items()}
