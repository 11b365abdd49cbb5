"""Smoke test of the benchmark suite: the snnx side of ``benchmarks/run.py --quick``."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "benchmarks" / "run.py"

pytestmark = pytest.mark.skipif(not RUNNER.is_file(), reason="benchmarks/ is not in this checkout")


@pytest.mark.slow
def test_quick_run_writes_results(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(RUNNER), "--quick", "--frameworks", "snnx", "--workloads", "tiny"]
    cmd += ["--threads", "1", "--no-gemm", "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "| tiny | snnx |" in r.stdout
    report = json.loads(out.read_text())
    agg = report["aggregate"]["snnx/tiny"]
    assert agg["loss_ok"] and agg["samples"] >= 3
    assert 0 < agg["train_ms"][0] <= agg["train_ms"][1] <= agg["train_ms"][2]
    assert report["threads"] == 1 and report["env"]["OMP_NUM_THREADS"] == "1"
    # XLA ignores its thread flags for matmuls: the processes are confined to one CPU instead
    assert report["cpus_used"] == "all" or len(report["cpus_used"]) == 1
    assert "intra_op_parallelism_threads=1" in report["env"]["XLA_FLAGS"]
    run = report["runs"][0]
    assert run["train_flops"] > run["fwd_flops"] > 0


def test_bench_subcommand_forwards_options(monkeypatch):
    from snnx.cli import _bench

    parser = argparse.ArgumentParser()
    _bench.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "--quick", "--workloads", "tiny", "--threads", "1"])
    assert _bench._forwarded(args) == ["--quick", "--workloads", "tiny", "--threads", "1"]
    assert _bench.find_runner() == RUNNER
    calls = []
    monkeypatch.setattr(_bench.subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    assert args.func(args) == 0
    assert calls[0][1] == str(RUNNER) and calls[0][2:] == ["--quick", "--workloads", "tiny", "--threads", "1"]


def test_bench_subcommand_outside_a_checkout(monkeypatch, capsys):
    from snnx.cli import _bench

    monkeypatch.setattr(_bench, "find_runner", lambda: None)
    parser = argparse.ArgumentParser()
    _bench.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench"])
    assert args.func(args) == 2
    assert "benchmarks/run.py not found" in capsys.readouterr().err


@pytest.mark.slow
def test_event_input_variants_agree_with_the_dense_matmul(tmp_path):
    """``benchmarks/event_input.py`` checks every event-driven variant against ``X @ W`` before timing."""
    out = tmp_path / "event.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "event_input.py"), "--rows", "200", "--threads", "1"]
    cmd += ["--densities", "0.02,0.2", "--repeats", "2", "--json", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    results = json.loads(out.read_text())["results"]
    assert [row["density"] for row in results] == [0.02, 0.2]
    # K, the padded index-list width, grows with the density (200 rows x 700 inputs)
    assert 1 <= results[0]["max_active_per_row"] < results[1]["max_active_per_row"] <= 700
    assert all(row[k] > 0 for row in results for k in row if k.endswith("_ms"))


@pytest.mark.slow
def test_profile_step_reports_time_faults_and_temporaries(monkeypatch, capsys):
    script = str(ROOT / "benchmarks" / "profile_step.py")
    cmd = [sys.executable, script, "--workload", "tiny", "--steps", "2", "--warmup", "1", "--threads", "1"]
    flags = [*cmd, "--json", "--set", "project_min_sample_bytes=0", "--ops", "4"]
    r = subprocess.run(flags, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["settings"] == {"project_min_sample_bytes": 0} and out["loss_finite"]
    assert out["train_ms_median"] > 0 and out["minor_faults_per_step"] >= 0 and out["xla_temp_bytes"] > 0
    ops = out["ops_ms_per_step"]  # the traced step's slowest XLA operations, slowest first
    assert 1 <= len(ops) <= 4 and list(ops.values()) == sorted(ops.values(), reverse=True)
    assert all(ms > 0 and not name.startswith(("$", "ThunkExecutor")) for name, ms in ops.items())
    # an unknown switch is refused before anything compiles: checked in this process, no second start-up
    # (no --threads: with every CPU, main() leaves this process's CPU affinity alone)
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))  # main() appends to it; restored after
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import profile_step

    with pytest.raises(SystemExit) as bad:
        profile_step.main(["--workload", "tiny", "--set", "NO_SUCH_SWITCH=1"])
    assert bad.value.code == 2 and "NO_SUCH_SWITCH" in capsys.readouterr().err


@pytest.mark.slow
def test_matmul_floor_sums_the_pieces_and_states_the_peer_targets(tmp_path, monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))  # main() appends to it; restored after
    results = tmp_path / "bench.json"
    agg = {"snntorch/rec100": {"train_ms": [60.0, 70.0, 80.0]}, "spyx/rec100": {"train_ms": [1.0, 2.0, 3.0]}}
    results.write_text(json.dumps({"aggregate": agg}))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import matmul_floor
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    (out,) = matmul_floor.main(["--workload", "rec100", "--repeats", "1", "--results", str(results)])
    pieces = out["pieces_ms"]
    assert len(pieces) == 8 and any(name.startswith("recurrent forward, 100 x") for name in pieces)
    assert out["floor_ms"] == sum(pieces.values()) and all(ms > 0 for ms in pieces.values())
    assert out["snntorch_train_ms"] == 70.0  # the median of run.py's quartiles


@pytest.mark.slow
def test_compare_hlo_finds_this_checkout_identical_to_itself():
    script = str(ROOT / "benchmarks" / "compare_hlo.py")
    cmd = [sys.executable, script, "--before", str(ROOT / "src"), "--workloads", "tiny"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("tiny: identical (")
    bad = subprocess.run([*cmd[:2], "--before", "/nonexistent"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--before must be a src folder" in bad.stderr


@pytest.mark.slow
def test_compare_revisions_reports_a_ratio_per_workload(tmp_path):
    out = tmp_path / "ab.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "compare_revisions.py"), "--before", str(ROOT / "src"),
           "--workloads", "tiny", "--rounds", "1", "--threads", "1", "--out", str(out)]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads(out.read_text())["summary"]
    assert {row["measure"] for row in summary} == {"train", "forward"}
    for row in summary:
        assert len(row["before_all"]) == len(row["after_all"]) > 0
        assert row["ratio"] == pytest.approx(row["after_ms"] / row["before_ms"])
