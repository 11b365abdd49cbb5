"""examples/14_quantise_and_export.py runs: the quantised variants keep their accuracy at a fraction of
the size, and the NIR, ONNX and StableHLO exports predict exactly as snnx.run does."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # trains for 20 epochs and exports: about 30 s

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "14_quantise_and_export.py"


def test_example_quantises_and_exports(tmp_path):
    done = subprocess.run([sys.executable, str(EXAMPLE), str(tmp_path)], capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = re.findall(r"^(\w+): test accuracy ([\d.]+), (\d+) bytes of parameters$", done.stdout, re.M)
    acc = {name: float(a) for name, a, _ in rows}
    size = {name: int(b) for name, _, b in rows}
    assert set(acc) == {"float32", "int8", "int4", "ternary_qat", "int8_membranes8"}
    assert acc["float32"] > 0.9
    assert acc["int8"] >= acc["float32"] - 0.01 and acc["int8_membranes8"] >= acc["float32"] - 0.02
    assert acc["int4"] >= acc["float32"] - 0.02 and acc["ternary_qat"] >= acc["float32"] - 0.03
    # float32 kernels 64*128 + 128*10 at 4 bytes -> 1 byte (int8), 1/2 (int4), 1/4 (ternary), + scales
    kernels = 64 * 128 + 128 * 10
    assert size["float32"] - size["int8"] == 3 * kernels - 4 * (128 + 10)
    assert size["float32"] - size["int4"] == 3.5 * kernels - 4 * (128 + 10)
    assert size["float32"] - size["ternary_qat"] == 3.75 * kernels - 4 * (128 + 10)
    for line in (
        "nir: predictions identical True",
        "onnx: predictions identical True",
        "stablehlo: predictions identical True",
        "nir: quantised weights ['int4', 'int4']",
    ):
        assert line in done.stdout
    assert (tmp_path / "int4_step.onnx").stat().st_size > 1000 and (tmp_path / "int4.stablehlo").is_file()
