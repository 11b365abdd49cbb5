"""SIGINT/SIGTERM during :func:`snnx.train.fit`: finish the step, checkpoint, then stop.

:class:`InterruptGuard` replaces the SIGINT and SIGTERM handlers only while
``fit`` runs (and only in the main thread, where Python delivers signals); the
handler merely records the signal. ``fit`` looks at it after every training
step, writes a checkpoint of that step boundary and raises
:class:`TrainingInterrupted`. A second signal before that stops at once with a
plain ``KeyboardInterrupt``. The previous handlers are restored on the way out.
"""

from __future__ import annotations

import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(KeyboardInterrupt):
    """``fit`` stopped on SIGINT/SIGTERM after writing a checkpoint (when it has a ``checkpoint_dir``).

    A ``KeyboardInterrupt``, so code that stops on Ctrl-C keeps working.

    Attributes:
        signum: the signal number (``signal.SIGINT`` or ``signal.SIGTERM``).
        epoch: 1-based epoch that was running.
        step: 1-based number of training steps of that epoch done (and saved).
        checkpoint_dir: where the checkpoint was written, or ``None``.
    """

    def __init__(self, message: str, *, signum: int, epoch: int, step: int, checkpoint_dir: str | None):
        super().__init__(message)
        self.signum = signum
        self.epoch = epoch
        self.step = step
        self.checkpoint_dir = checkpoint_dir


class InterruptGuard:
    """Record SIGINT/SIGTERM instead of dying; ``install()`` / ``restore()`` bracket ``fit``."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict = {}

    def install(self) -> InterruptGuard:
        if threading.current_thread() is not threading.main_thread():
            return self  # signals reach the main thread only; leave its handlers alone
        for sig in SIGNALS:
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:  # asked twice: stop now, without a checkpoint
            self.restore()
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}: stopped without a checkpoint")
        self.signum = signum

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        self._previous.clear()

    @property
    def name(self) -> str:
        return "" if self.signum is None else signal.Signals(self.signum).name


def stop_on_signal(guard, ckpt, epoch, step, model, optimizer, seed, history, partial=None, save=True):
    """Checkpoint at this step boundary (``step`` None: the epoch's end) and raise TrainingInterrupted."""
    if ckpt is not None and save:
        ckpt.save(epoch, model, optimizer, seed=seed, history=history, partial=partial)
    where = f"epoch {epoch + 1}, " + (f"after step {step}" if step is not None else "at its end")
    saved = (
        f"; checkpoint in {ckpt.directory}, continue with resume=True (snnx train --resume)"
        if ckpt is not None
        else "; nothing saved (no checkpoint_dir)"
    )
    raise TrainingInterrupted(
        f"training interrupted by {guard.name} in {where}{saved}",
        signum=guard.signum,
        epoch=epoch + 1,
        step=step if step is not None else 0,
        checkpoint_dir=None if ckpt is None else ckpt.directory,
    )
