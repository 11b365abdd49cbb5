"""The README quickstart runs exactly as written and its loss falls."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quickstart_code() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "README.md has no ```python block under '## Quickstart'"
    return match.group(1)


def test_readme_quickstart_runs_and_loss_falls(capsys):
    code = quickstart_code()
    assert len([line for line in code.splitlines() if line.strip()]) <= 15  # the README promises 15 lines
    exec(compile(code, "README.md:quickstart", "exec"), {"__name__": "__main__"})
    losses = [float(v) for v in re.findall(r"loss (\d+\.\d+)", capsys.readouterr().out)]
    assert len(losses) == 5
    assert all(b < a for a, b in itertools.pairwise(losses)) and losses[-1] < 0.5 * losses[0]


def test_example_file_is_the_quickstart():
    assert quickstart_code() in (ROOT / "examples" / "01_quickstart.py").read_text()


def test_nir_doc_example_runs_and_round_trips(tmp_path, monkeypatch):
    doc = (ROOT / "docs" / "nir.md").read_text()
    section = doc.split("## Run another simulator's graph", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    reference = ROOT / "tests" / "data" / "nir-refs" / "graphs" / "braille_noDelay_bias_zero.nir"
    code = code.replace('"tests/data/nir-refs/graphs/braille_noDelay_bias_zero.nir"', repr(str(reference)))
    monkeypatch.chdir(tmp_path)  # the example writes braille_again.nir into the working directory
    namespace: dict = {"__name__": "__main__"}
    exec(compile(code, "docs/nir.md:run-another", "exec"), namespace)
    assert namespace["spikes"].shape == (256, 4, 7)
    again = namespace["from_nir"](tmp_path / "braille_again.nir", dt=1e-4)
    spikes_again, _ = namespace["snnx"].run(again, namespace["x"])
    assert (spikes_again == namespace["spikes"]).all()
