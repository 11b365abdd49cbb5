"""The tutorial examples 02, 04, 06, 08, 09, 11 and 12 run and do what their docstrings say, and
``docs/render_examples.py`` turns examples into pages.

Every example writes into a temporary folder: 02, 06 and 09, whose time is compiling,
in this process (conftest's ``run_example_here``); 04, 08, 11 and 12, which train for
longer, as subprocesses with XLA's code optimisation on (``run_example``). The thresholds
are the results measured on a 2-core CPU (2026-12-03) with a wide margin: digits
0.953 test accuracy, events 0.883 (8 classes), custom loop 0.897, recurrent 0.996
against feed-forward 0.506 (chance 0.5).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run_example(name: str, out: Path, *, optimise: bool = False, quick: bool = False) -> str:
    """Run an example as a subprocess.

    ``optimise``: with XLA's optimisation of the generated code, which the suite turns off (conftest)
    but which pays for itself in the examples that train for many steps. ``quick``: with
    ``SNNX_EXAMPLE_QUICK=1``, which the example reads to train for fewer epochs.
    """
    env = dict(os.environ)
    if optimise:
        env["XLA_FLAGS"] = env.get("XLA_FLAGS", "").replace("--xla_backend_optimization_level=0", "").strip()
    if quick:
        env["SNNX_EXAMPLE_QUICK"] = "1"
    done = subprocess.run([sys.executable, str(EXAMPLES / name), str(out)], capture_output=True, text=True,
                          timeout=600, check=False, cwd=out, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in:\n{text}"
    return float(match.group(1))


def assert_files(folder: Path, *names: str) -> None:
    for name in names:
        assert (folder / name).stat().st_size > 1000, name


@pytest.mark.slow
def test_02_digits_learns_and_plots(tmp_path, run_example_here):
    out = run_example_here("02_digits.py", tmp_path)
    assert number(r"test accuracy: ([\d.]+) \(360 held-out digits\)", out) > 0.85
    losses = [float(v) for v in re.findall(r"epoch \d+: loss ([\d.]+)", out)]
    assert len(losses) == 8 and losses[-1] < 0.3 * losses[0]
    assert 0.0 < number(r"hidden layer: ([\d.]+) spikes per neuron per step", out) < 1.0
    assert_files(tmp_path, "curves.png", "raster.png")


@pytest.mark.slow
def test_04_conv_events_infers_shapes_learns_and_plans(tmp_path):
    out = run_example("04_conv_events.py", tmp_path, optimise=True)
    assert "neuron shapes: (17, 17, 8), (8, 8, 16); dense layer: 256 inputs" in out
    assert number(r"test accuracy: ([\d.]+) \(256 test streams, 8 classes\)", out) > 0.6  # chance 0.125
    assert re.search(r"Plan for Sequential on input \(12, 8, 34, 34, 2\) float32, backend \w+", out)
    assert re.search(r"\[1\] LIF\(17, 17, 8\)\s+\w+", out) and re.search(r"\[8\] LI\(8\)", out)
    rates = [float(v) for v in re.findall(r"layer \d \(LIF.*\): ([\d.]+) spikes per neuron", out)]
    assert len(rates) == 2 and all(0 < r < 0.5 for r in rates)
    assert_files(tmp_path, "events.gif", "conv1.gif", "raster.png")


@pytest.mark.slow
def test_06_custom_loop_stops_early_and_restores_the_best_epoch(tmp_path, run_example_here):
    out = run_example_here("06_custom_loop.py", tmp_path)
    lines = re.findall(r"epoch (\d+): loss [\d.]+  validation loss ([\d.]+)", out)
    val = {int(e): float(v) for e, v in lines}
    assert "early stop:" in out and len(val) < 40  # stopped before max_epochs
    restored = int(number(r"restored epoch (\d+)", out))
    assert val[restored] == min(val.values())  # the lowest validation loss
    assert number(r"restored epoch \d+ \(validation loss ([\d.]+)", out) == val[restored]  # weights back
    saved = re.findall(r"epoch (\d+): .*\(best, saved\)", out)
    assert saved and int(saved[-1]) == restored
    assert [p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()] == [str(restored)]
    assert number(r"test accuracy: ([\d.]+)", out) > 0.8
    assert_files(tmp_path, "curves.png")


@pytest.mark.slow
def test_08_recurrent_remembers_and_feed_forward_does_not(tmp_path):
    out = run_example("08_recurrent.py", tmp_path, optimise=True)
    ff = number(r"feed-forward LIF: test accuracy ([\d.]+)", out)
    rec = number(r"recurrent RLIF: test accuracy ([\d.]+)", out)
    assert rec > 0.9 and ff < 0.65 and rec - ff > 0.25
    ff_late = number(r"feed-forward LIF: ([\d.]+) spikes per neuron per step in the answer window", out)
    rec_late = number(r"recurrent RLIF: ([\d.]+) spikes per neuron per step in the answer window", out)
    assert rec_late > 10 * ff_late  # the recurrent layer is still firing when the answer is read
    assert_files(tmp_path, "memory.png")


@pytest.mark.slow
def test_11_long_memory_adaptation_and_lru_remember_and_recurrence_does_not(tmp_path):
    out = run_example("11_long_memory.py", tmp_path, optimise=True, quick=True)  # 15 epochs, not 25
    acc = {kind: number(rf"{re.escape(kind)}\s*: test accuracy ([\d.]+)", out)
           for kind in ("LIF", "RLIF", "RALIF", "LIF -> LRU")}  # fmt: skip
    assert acc["LIF"] < 0.65 and acc["RLIF"] < 0.7, acc  # 130 silent steps: beyond their memory
    assert acc["RALIF"] > 0.8 and acc["LIF -> LRU"] > 0.9, acc
    assert_files(tmp_path, "memory.png")


@pytest.mark.slow
def test_09_nir_peers_agree_and_round_trip(tmp_path, run_example_here):
    out = run_example_here("09_nir_peers.py", tmp_path)
    rows = re.findall(r"^(\w+)\s+(\w+)\s+(\w+)\s+\d+\s+\d+\s+(True|False)\s+(\S+)", out, re.M)
    table = {r[0]: r for r in rows if r[0] != "graph"}
    assert set(table) == {"snntorch_export_leaky", "snntorch_export_synaptic", "lif_norse", "lif_rockpool",
                          "cnn_sinabs"}  # fmt: skip
    assert all(r[3] == "True" for r in table.values()), out  # the peers' spikes, exactly
    for name, r in table.items():
        if name != "lif_rockpool":
            assert float(r[4]) < 1e-5, (name, r[4])
    assert "input gain 0.16, LIF beta 0.80" in out
    assert "the signature of a Spyx 1.0.0 export" in out
    spyx = int(number(r"Spyx 1.0 itself (\d+)", out))
    as_written = int(number(r"the file as written in snnx (\d+)", out))
    assert spyx > 100 and as_written < spyx / 4
    assert f"dialect='spyx' {spyx} (identical True), converted to NIR {spyx} (identical True)" in out
    assert "hidden spikes identical True, readout max |difference| 0.0e+00" in out
    assert_files(tmp_path, "norse_membrane.png", "graph.png", "snnx_model.nir", "spyx_lif_as_nir.nir")


# --------------------------------------------------------------------------- docs/render_examples.py


RENDERER = ROOT / "docs" / "render_examples.py"


def _renderer():
    spec = importlib.util.spec_from_file_location("render_examples", RENDERER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _render(*args: str, examples: Path | None = None) -> subprocess.CompletedProcess:
    """Run the renderer; with ``examples``, on the scripts of that folder instead of examples/."""
    more = ["--examples", str(examples)] if examples is not None else []
    return subprocess.run([sys.executable, str(RENDERER), *args, *more], capture_output=True, text=True,
                          timeout=600, check=False)  # fmt: skip


FIGURE = b"\x89PNG\r\n\x1a\n" + bytes(2000)  # not an image: the renderer copies files, never opens them


def _fake_examples(folder: Path) -> Path:
    folder.mkdir()
    (folder / "01_first.py").write_text(
        '"""A first example.\n\nIt prints ``hello`` and\nwrites ``pic.png``::\n\n    python x.py\n"""\n\n'
        "import sys\nfrom pathlib import Path\n\n"
        "out = Path(sys.argv[1])\nout.mkdir(parents=True, exist_ok=True)\n"
        f"(out / 'pic.png').write_bytes({FIGURE!r})\nprint('hello from', out)\n"
    )  # fmt: skip
    (folder / "02_second.py").write_text('"""Second."""\n\nprint("two")\n')
    return folder


def test_render_pages_figures_and_cache(tmp_path):
    examples = _fake_examples(tmp_path / "examples")
    out, cache = tmp_path / "pages", tmp_path / "cache"
    done = _render("--out", str(out), "--cache", str(cache), examples=examples)
    assert done.returncode == 0, done.stderr
    assert "01_first: ran" in done.stdout and "02_second: ran" in done.stdout
    page = (out / "01_first.md").read_text()
    assert page.startswith("<!-- generated by docs/render_examples.py from examples/01_first.py")
    assert "\n# A first example\n" in page and "It prints `hello` and\nwrites `pic.png`:\n" in page
    code = re.search(r"## Code\n\n```python\n(.*?)\n```", page, re.DOTALL).group(1)
    assert code.startswith("import sys") and '"""' not in code  # the docstring is the introduction
    assert re.search(r"## Output\n\n```text\nhello from OUT_DIR\n```", page)  # not the temporary folder
    assert "## Figures\n\n![pic.png](01_first/pic.png)" in page
    assert (out / "01_first" / "pic.png").read_bytes() == FIGURE
    assert "## Figures" not in (out / "02_second.md").read_text()
    assert "- **02** [Second](02_second.md)" in (out / "index.md").read_text()
    record = json.loads((cache / "01_first.json").read_text())
    assert record["stdout"] == "hello from OUT_DIR\n" and record["figures"] == ["pic.png"]

    again = _render("--out", str(out), "--cache", str(cache), "--only", "01", examples=examples)
    assert again.returncode == 0 and "01_first: cached" in again.stdout and "02_second" not in again.stdout
    forced = _render("--out", str(out), "--cache", str(cache), "--only", "01", "--force", examples=examples)
    assert "01_first: ran" in forced.stdout
    (examples / "01_first.py").write_text((examples / "01_first.py").read_text() + "print('changed')\n")
    changed = _render("--out", str(out), "--cache", str(cache), "--only", "01_first", examples=examples)
    assert "01_first: ran" in changed.stdout and "changed" in (out / "01_first.md").read_text()


def test_render_fails_loudly_naming_the_example(tmp_path):
    examples = _fake_examples(tmp_path / "examples")
    (examples / "03_broken.py").write_text('"""Broken."""\n\nraise RuntimeError("the model exploded")\n')
    done = _render("--out", str(tmp_path / "pages"), "--cache", str(tmp_path / "cache"), examples=examples)
    assert done.returncode == 1
    assert "examples/03_broken.py failed (exit status 1)" in done.stderr
    assert "RuntimeError: the model exploded" in done.stderr
    assert not (tmp_path / "pages" / "03_broken.md").exists()
    unknown = _render("--only", "42", "--out", str(tmp_path / "p"), examples=examples)
    assert unknown.returncode == 1 and "--only '42' names no example" in unknown.stderr


def test_render_times_out(tmp_path):
    examples = tmp_path / "examples"
    examples.mkdir()
    (examples / "01_slow.py").write_text('"""Slow."""\n\nimport time\n\ntime.sleep(60)\n')
    done = _render("--timeout", "1", "--out", str(tmp_path / "p"), "--cache", str(tmp_path / "c"),
                   examples=examples)  # fmt: skip
    assert done.returncode == 1 and "examples/01_slow.py timed out after 1 s" in done.stderr


def test_every_example_has_a_title_and_renders_its_docstring():
    renderer = _renderer()
    for example in renderer.find_examples():
        title, _, code = renderer.split_docstring(example.source, example.path.name)
        assert title and "``" not in title and len(title) < 120, example.stem
        assert not code.lstrip().startswith('"""'), example.stem


@pytest.mark.slow
def test_render_quickstart_page(tmp_path):
    done = _render("--only", "01", "--out", str(tmp_path / "pages"), "--cache", str(tmp_path / "cache"))
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "pages" / "01_quickstart.md").read_text()
    prose = re.sub(r"```.*?```", "", page, flags=re.DOTALL)  # code comments start with "#" too
    headings = re.findall(r"^#+ .*$", prose, re.M)
    _, doc, rest = (EXAMPLES / "01_quickstart.py").read_text().split('"""', 2)
    assert headings == [f"# {doc.splitlines()[0].rstrip('.')}", "## Code", "## Output"]  # no figures
    code = re.search(r"```python\n(.*?)\n```", page, re.DOTALL).group(1)
    assert code == rest.strip()  # the source without its docstring
    output = re.search(r"## Output\n\n```text\n(.*?)\n```", page, re.DOTALL).group(1)
    assert re.search(r"^epoch \d+: loss [\d.]+", output, re.M), output  # what the run printed
    assert "01_quickstart" in (tmp_path / "pages" / "index.md").read_text()


@pytest.mark.slow
def test_12_training_modes_compiled_equals_python_and_evolution_trains_what_gradients_cannot(tmp_path):
    out = run_example("12_training_modes.py", tmp_path, optimise=True)
    assert number(r"largest parameter difference between the two: ([\d.e+-]+)", out) <= 1e-5
    python_acc = number(r"Python loop: test accuracy ([\d.]+)", out)
    assert python_acc > 0.85 and number(r"compiled:\s+test accuracy ([\d.]+)", out) == python_acc
    assert number(r"truncated BPTT \(windows of 5\): test accuracy ([\d.]+)", out) > 0.85
    assert number(r"\(the weights moved by ([\d.e+-]+)\)", out) == 0  # no gradient reached them
    gradient = number(r"hard thresholds, gradient: test accuracy ([\d.]+)", out)
    evolved = number(r"hard thresholds, OpenES: test accuracy ([\d.]+)", out)
    assert evolved > 0.5 and evolved > gradient + 0.3, (gradient, evolved)
    assert_files(tmp_path, "curves.png")


@pytest.mark.slow
def test_15_augmentation_moves_each_sample_its_own_way(tmp_path, run_example_here):
    out = run_example_here("15_augmentation.py", tmp_path)
    shifts = re.search(r"time shift per sample \[([-\d, ]+)\]", out).group(1)
    assert len({int(v) for v in shifts.split(",")}) > 1  # per sample, not one shift for the batch
    events = {name: int(n) for name, n in re.findall(r"^(\w+) \(.*?\)\s+events\s+(\d+)", out, re.M)}
    total = int(number(r"(\d+) events", out))
    assert 0.4 * total < events["drop_events"] < 0.6 * total  # p = 0.5
    assert "(8, 4, 34, 34, 2) -> (8, 4, 28, 28, 2)" in out
    assert_files(tmp_path, "rasters.png", "frames.png")


@pytest.mark.slow
def test_16_streaming_data_trains_as_from_memory(tmp_path, run_example_here):
    out = run_example_here("16_streaming_data.py", tmp_path)
    # 7 bytes per sample and channel: ceil(50 / 8)
    assert "512 samples, 16 batches per epoch; a batch: x (7, 32, 700) uint8, y (32,)" in out
    streamed = re.search(r"streamed : losses ([\d. ]+);", out).group(1)
    assert streamed == re.search(r"in memory: losses ([\d. ]+)\n", out).group(1)
    assert "same losses: True; largest weight difference: 0.0e+00" in out
    assert number(r"test accuracy ([\d.]+)", out) > 0.6  # 5 classes: chance is 0.2
