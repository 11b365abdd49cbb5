"""examples/03_nir_roundtrip.py runs, re-imports with identical spikes, and docs/nir.md shows its output."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # trains and exports the example network

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "03_nir_roundtrip.py"


def _load():
    spec = importlib.util.spec_from_file_location("example_03_nir_roundtrip", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_round_trip_is_exact(tmp_path, capsys):
    result = _load().main(tmp_path)
    assert result["same_spikes"] and result["readout_diff"] == 0.0
    assert result["losses"][-1] < result["losses"][0]  # it did train
    assert (tmp_path / "tiny_csnn.nir").is_file()
    out = capsys.readouterr().out
    doc = (ROOT / "docs" / "nir.md").read_text()
    wrote = next(line for line in out.splitlines() if line.startswith("wrote "))
    assert wrote in doc, "docs/nir.md must show the example's output"
    assert "identical: True" in doc and "readout max |difference|: 0.0e+00" in doc
