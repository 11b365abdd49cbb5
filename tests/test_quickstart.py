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
    assert len(code.splitlines()) <= 25
    exec(compile(code, "README.md:quickstart", "exec"), {"__name__": "__main__"})
    losses = [float(v) for v in re.findall(r"loss (\d+\.\d+)", capsys.readouterr().out)]
    assert len(losses) == 5
    assert all(b < a for a, b in itertools.pairwise(losses)) and losses[-1] < 0.5 * losses[0]


def test_example_file_is_the_quickstart():
    assert quickstart_code() in (ROOT / "examples" / "01_quickstart.py").read_text()
