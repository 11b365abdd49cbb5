"""Fail a test on a hang without timing it: ``no_hang`` calls with a generous SIGALRM limit.

A wall-clock bound such as "imports within a second" flakes on a loaded
machine; ``no_hang`` only tells a hang (an endless loop) from a slow run.

It runs the call in the main thread: h5py's global lock must be taken and
released by one thread, and a NIRError's traceback can hold a suspended h5py
iterator that releases it when freed, so a worker thread would deadlock the
next read. The failure is ``pytest.fail``'s exception, a BaseException, so no
``except Exception`` inside the call can turn a hang into an ordinary error.
"""

from __future__ import annotations

import signal
import threading

import pytest

HANG_S = 60.0


def no_hang(fn, /, *args, seconds: float = HANG_S, **kwargs):
    """``fn(*args, **kwargs)``; the test fails if it is still running after ``seconds``."""
    if not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        return fn(*args, **kwargs)  # no alarm here (Windows, a worker thread): an ordinary call
    name = getattr(fn, "__name__", repr(fn))

    def alarm(signum, frame):
        pytest.fail(f"{name} still running after {seconds:g} s: it hangs")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn(*args, **kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
