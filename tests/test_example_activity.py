"""examples/07_activity.py runs: the penalty lowers the hidden rate and the effective ACs, and the
figures are written."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.slow  # trains the example network twice


def test_example_regularises_counts_and_plots(tmp_path, run_example_here):
    out = run_example_here("07_activity.py", tmp_path)  # in this process (conftest)
    pattern = r"(\w+): test accuracy ([\d.]+), hidden rate ([\d.]+)"
    rates = {m[0]: float(m[2]) for m in re.findall(pattern, out)}
    assert set(rates) == {"plain", "regularised"}
    assert rates["regularised"] < 0.5 * rates["plain"]
    totals = re.findall(r"^total\s+\S+\s+\S+\s+\S+\s+\S+\s+([\d,.]+)", out, re.M)  # the eff ACs column
    acs = [float(v.replace(",", "")) for v in totals]
    assert len(acs) == 2 and acs[1] < acs[0]  # fewer hidden spikes: fewer accumulates downstream
    for name in ("raster.png", "traces.png", "rates.png", "io.png", "hidden.gif"):
        assert (tmp_path / name).stat().st_size > 1000
