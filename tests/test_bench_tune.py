"""benchmarks/tune_options.py: every value of each engine option, timed interleaved against the default."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def tune(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    return importlib.import_module("tune_options")


def test_variants_time_every_value_and_always_the_default(tune):
    defaults = {"fused": True, "unroll": 2, "chunk_steps": "auto"}
    got = tune.variants(["fused", "unroll", "chunk_steps", "conv_weight_grad"], defaults)
    # a default outside the sweep is timed first; a field this snnx lacks is left out
    assert got == [("fused", True), ("fused", False), ("unroll", 2), ("unroll", 1), ("unroll", 4),
                   ("chunk_steps", "auto"), ("chunk_steps", "off")]  # fmt: skip


def test_summarise_divides_by_the_default_and_marks_the_fastest(tune):
    samples = {
        ("ff100", "fused", True): [0.010, 0.012, 0.011],
        ("ff100", "fused", False): [0.022, 0.020, 0.021],
        ("ff100", "unroll", 1): [0.030],
        ("ff100", "unroll", 4): "ValueError: not for this model",
    }
    rows = {(r["field"], r["value"]): r for r in tune.summarise(samples, {"fused": True, "unroll": 1})}
    assert rows[("fused", True)]["train_ms"] == pytest.approx(11.0)
    assert rows[("fused", False)]["x_default"] == pytest.approx(21.0 / 11.0)
    assert rows[("fused", True)]["fastest"] and not rows[("fused", False)]["fastest"]
    assert rows[("fused", True)]["default"] and not rows[("fused", False)]["default"]
    assert rows[("unroll", 4)]["error"].startswith("ValueError")
    assert rows[("unroll", 1)]["fastest"]  # the only value that ran
    assert "error: ValueError" in tune.table(list(rows.values()), "cpu")


@pytest.mark.parametrize(("argv", "flag"), [(["--fields", "fused,warp"], "--fields"),
                                            (["--workloads", "ff999"], "--workloads"),
                                            (["--rounds", "0"], "--rounds")])  # fmt: skip
def test_bad_arguments_are_refused_naming_the_flag(tune, capsys, argv, flag):
    with pytest.raises(SystemExit):
        tune.parse_args(argv)
    assert flag in capsys.readouterr().err


@pytest.mark.slow
def test_a_tiny_sweep_runs_and_writes_json(tmp_path):
    out = tmp_path / "tune.json"
    cmd = [sys.executable, str(BENCH / "tune_options.py"), "--workloads", "tiny", "--fields", "fused,unroll",
           "--rounds", "2", "--steps", "1", "--threads", "1", "--json", str(out)]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(out.read_text())
    rows = [(row["field"], row["value"]) for row in report["rows"]]
    assert rows == [("fused", "True"), ("fused", "False"), ("unroll", "1"), ("unroll", "4")]
    assert all(row["train_ms"] > 0 for row in report["rows"])
    assert sum(row["default"] for row in report["rows"]) == 2
    assert "| tiny | unroll | 4 |" in r.stdout
