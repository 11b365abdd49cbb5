"""``examples/05_multihost.py``: on one process, and as two real processes over jax.distributed."""

from __future__ import annotations

import os
import re
import runpy
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs the example: one process, then two real processes

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "05_multihost.py"


def test_one_process(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), "--process-count", "1", "--epochs", "2"])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    match = re.search(r"1 process\(es\), \d+ devices, global batch 32: loss \S+, test accuracy (\S+)", out)
    assert match, out
    assert float(match.group(1)) > 0.5


def test_two_processes_on_one_machine():
    # Two processes x two simulated CPU devices, coordinated over loopback.
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2".strip()
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}  # keeps the suite's flags (conftest)
    common = [sys.executable, str(EXAMPLE), "--coordinator", f"localhost:{port}", "--process-count", "2"]
    procs = [
        subprocess.Popen([*common, "--process-id", str(i)], env=env, stdout=subprocess.PIPE, text=True)
        for i in range(2)
    ]
    try:
        outs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], outs
    assert "2 process(es), 4 devices, global batch 64" in outs[0]
