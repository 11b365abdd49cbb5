"""examples/10_firing_patterns.py runs, and the spike times it saves have the published patterns.

Izhikevich (2003, figure 2) and Brette & Gerstner (2005, figure 2): fast spiking fires faster
than regular spiking, regular spiking adapts (its intervals grow), intrinsically bursting
starts with a burst and then spikes singly, chattering repeats bursts, and the AdEx's two
regimes adapt and burst. ``tests/test_neurons_zoo_biophysical.py`` checks the same patterns
in-process in the quick tier.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from test_neurons_zoo_biophysical import assert_published_patterns

pytestmark = pytest.mark.slow  # runs an example (about 3 s of work)


def test_example_prints_plots_and_has_the_published_patterns(tmp_path, run_example_here):
    out = run_example_here("10_firing_patterns.py", tmp_path)  # in this process (conftest)
    assert (tmp_path / "firing_patterns.png").stat().st_size > 10_000
    times = {k: np.asarray(v) for k, v in json.loads((tmp_path / "spike_times.json").read_text()).items()}
    printed = dict(re.findall(r"^(\w+(?: \w+)?)\s+(\d+) spikes", out, re.M))
    assert {k: int(v) for k, v in printed.items()} == {k: len(v) for k, v in times.items()}
    assert len(times) == 9
    assert_published_patterns(times)
