"""The GPU side of the benchmark suite, checked on the CPU: workloads, --shrink, --dtype, gpu.sh, targets."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


@pytest.fixture
def bench(monkeypatch):
    """``benchmarks/run.py`` and ``_common`` as modules; sys.path and XLA_FLAGS restored afterwards."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))
    spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)  # puts benchmarks/ on sys.path (restored by monkeypatch)
    return run, run.C


def _old_draw(shapes_fan_in):
    """The conv30 weights as drawn before the per-workload conv list: seed 42, in this order."""
    rng = np.random.default_rng(42)
    return [
        (rng.standard_normal(shape) * 2.0 / math.sqrt(fan_in)).astype(np.float32)
        for shape, fan_in in shapes_fan_in
    ]


def test_conv30_draws_the_same_weights_and_convnm_has_the_issue_shapes(bench):
    _, C = bench
    w = C.weights(C.spec("conv30"))
    expected = _old_draw([((5, 5, 2, 16), 5 * 5 * 2), ((5, 5, 16, 16), 5 * 5 * 16), ((1024, 10), 1024)])
    for key, want in zip(("conv1", "conv2", "fc"), expected, strict=True):
        np.testing.assert_array_equal(w[key], want)
    assert list(w) == ["conv1", "conv2", "fc", "b_conv1", "b_conv2", "b_fc"]

    s = C.spec("convnm")
    assert (s["T"], s["B"]) == (30, 64)
    w = C.weights(s)
    assert {k: v.shape for k, v in w.items()} == {
        "conv1": (3, 3, 2, 32), "conv2": (3, 3, 32, 64), "fc": (8 * 8 * 64, 10),
        "b_conv1": (32,), "b_conv2": (64,), "b_fc": (10,),
    }  # fmt: skip
    # 34 -> conv (SAME, stride 1) 34 -> pool 17 -> conv 17 -> pool 8; 3x3 kernels
    T, B = 30, 64
    f1 = 2 * T * B * 34 * 34 * 32 * 9 * 2
    f2 = 2 * T * B * 17 * 17 * 64 * 9 * 32
    f3 = 2 * T * B * 4096 * 10
    assert C.matmul_flops(s) == (f1 + f2 + f3, 2 * f1 + 3 * (f2 + f3))


def test_shrink_divides_time_batch_hidden_and_channels(bench):
    _, C = bench
    s = C.spec("shd1000", 8)
    assert (s["T"], s["B"], s["n_in"], s["hidden"], s["n_out"], s["shrink"]) == (125, 32, 700, 128, 20, 8)
    assert C.spec("wide16k")["hidden"] == 16384 and C.spec("wide16k", 8)["hidden"] == 2048
    assert C.spec("convnm", 8)["conv"] == [[4, 3, 1, True], [8, 3, 1, True]]
    assert C.conv_shapes(C.spec("convnm", 8))["flat"] == 8 * 8 * 8
    tiny = C.spec("tiny", 1000)  # never below 1
    assert (tiny["T"], tiny["B"], tiny["hidden"]) == (1, 1, 1)
    with pytest.raises(ValueError, match=r"`shrink` must be an int >= 1, got 0"):
        C.spec("ff100", 0)
    assert "shd1000" not in C.DEFAULT_WORKLOADS and "convnm" in C.DEFAULT_WORKLOADS
    assert set(C.GPU_WORKLOADS) == {*C.DEFAULT_WORKLOADS, "shd1000", "wide16k"}


@pytest.mark.parametrize(
    ("argv", "flag"),
    [(["--shrink", "0"], "--shrink"), (["--shrink", "x"], "--shrink"), (["--dtype", "fp16"], "--dtype"),
     (["--dtype", "fp32,fp16"], "--dtype")],
)  # fmt: skip
def test_bad_shrink_and_dtype_are_refused_naming_the_flag(bench, capsys, argv, flag):
    run, C = bench
    with pytest.raises(SystemExit) as bad:
        run.parse_args(argv)
    assert bad.value.code == 2 and f"argument {flag}" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the per-framework scripts too
        C.parse_args(["--workload", "tiny", *argv])
    assert flag in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "flag"),
    [(["--timeout", "0"], "--timeout"), (["--warmup", "-3"], "--warmup"),
     (["--max-seconds", "-1"], "--max-seconds"),
     (["--budget", "-1"], "--budget"), (["--frameworks", "snnx,snnx"], "--frameworks"),
     (["--workloads", "ff100,tiny,ff100"], "--workloads")],
)  # fmt: skip
def test_run_py_refuses_bad_times_and_repeated_names(bench, capsys, argv, flag):
    run, _ = bench
    with pytest.raises(SystemExit) as bad:
        run.parse_args(argv)
    err = capsys.readouterr().err
    assert bad.value.code == 2 and f"error: {flag} " in err and argv[1].split(",")[0] in err


def test_gpu_defaults_and_the_environment_of_each_device(bench):
    run, C = bench
    args = run.parse_args(["--device", "gpu", "--dtype", "bf16,fp32"])
    assert args.workloads == list(C.GPU_WORKLOADS) and args.dtype == ["bf16", "fp32"]
    assert run.parse_args([]).workloads == list(C.DEFAULT_WORKLOADS)
    gpu, cpu = run.pinned_env(2, "gpu"), run.pinned_env(2, "cpu")
    assert gpu["JAX_PLATFORMS"] == "cuda" and gpu.get("CUDA_VISIBLE_DEVICES") == os.environ.get(
        "CUDA_VISIBLE_DEVICES"
    )
    assert cpu["JAX_PLATFORMS"] == "cpu" and cpu["CUDA_VISIBLE_DEVICES"] == ""


def test_a_peer_without_cuda_is_skipped_with_the_reason(bench, tmp_path, monkeypatch):
    run, _ = bench
    fake = tmp_path / "fake"
    for name, body in {
        "torch": "class cuda:\n    is_available = staticmethod(lambda: False)\n"
        "class version:\n    cuda = None\n",
        "snntorch": "",
        "norse": "",
        "spyx": "",
        "jax": "def default_backend():\n    return 'cpu'\n",
    }.items():
        (fake / name).mkdir(parents=True)
        (fake / name / "__init__.py").write_text(body)
    monkeypatch.setenv("PYTHONPATH", str(fake))
    out = tmp_path / "gpu.json"
    argv = ["--device", "gpu", "--frameworks", "snntorch,spyx", "--peers-python", sys.executable]
    assert run.main([*argv, "--no-gemm", "--rounds", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["skipped"]["snntorch"] == "no CUDA build of torch"
    assert report["skipped"]["spyx"].startswith("jax backend is 'cpu', not gpu")
    assert report["device"] == "gpu" and report["cpus_used"] == "all" and report["runs"] == []


def test_budget_stops_starting_processes_and_known_unsupported_pairs_start_none(bench, tmp_path, monkeypatch):
    run, _ = bench
    (tmp_path / "fake" / "norse").mkdir(parents=True)
    (tmp_path / "fake" / "norse" / "__init__.py").write_text("")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "fake"))
    out = tmp_path / "cut.json"
    argv = ["--workloads", "tiny,long1000_remat", "--frameworks", "norse", "--peers-python", sys.executable]
    assert run.main([*argv, "--budget", "0", "--rounds", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [(r["workload"], r["framework"]) for r in report["not_run"]] == [("tiny", "norse")]
    assert (
        report["aggregate"]["norse/long1000_remat"]["unsupported"]
        == "no rematerialisation in Norse's time loop"
    )
    assert report["gemm_gflops"] == [] and report["floor_ms"] == {}  # no time left for the references either


def _entry(train_ms, flops=6e9, **extra):
    return {"train_s": [t / 1e3 for t in train_ms], "fwd_s": [1e-3] * len(train_ms), "first_train_s": 1.0,
            "first_fwd_s": 0.5, "peak_rss_above_baseline": 2**20, "train_flops": flops, "fwd_flops": 1e9,
            "loss_ok": True, "loss_first": 3.0, "loss_last": 2.0, **extra}  # fmt: skip


def test_aggregate_keys_dtypes_and_divides_by_the_floor_and_the_matching_peak(bench):
    run, _ = bench
    runs = [
        {"framework": "snnx", "workload": "rec100", **_entry([10.0, 30.0, 20.0])},
        {"framework": "snnx", "workload": "rec100", "dtype": "bf16", **_entry([5.0, 7.0, 6.0])},
        {"framework": "norse", "workload": "rec100", "error": "exit 1"},
    ]
    agg = run.aggregate(runs, {"fp32": 100.0, "bf16": 400.0}, {"rec100": 16.0, "rec100/bf16": 4.0})
    assert set(agg) == {"snnx/rec100", "snnx/rec100/bf16"}
    fp32, bf16 = agg["snnx/rec100"], agg["snnx/rec100/bf16"]
    assert fp32["train_ms"][1] == pytest.approx(20.0) and bf16["train_ms"][1] == pytest.approx(6.0)
    assert fp32["x_floor"] == pytest.approx(20.0 / 16.0) and bf16["x_floor"] == pytest.approx(6.0 / 4.0)
    assert fp32["train_util"] == pytest.approx(6e9 / 20e-3 / 100e9)
    assert bf16["train_util"] == pytest.approx(6e9 / 6e-3 / 400e9) and bf16["util_peak"].startswith("bf16")
    only_fp32 = run.aggregate(runs, {"fp32": 100.0})["snnx/rec100/bf16"]  # no bf16 peak (the CPU)
    assert only_fp32["train_util"] == pytest.approx(6e9 / 6e-3 / 100e9) and only_fp32["util_peak"].startswith(
        "fp32"
    )
    assert only_fp32["x_floor"] is None


def test_issue_17_targets_from_a_hand_made_aggregate(bench):
    run, _ = bench

    def med(ms):
        return {"train_ms": [ms * 0.9, ms, ms * 1.1], "fwd_ms": [1.0, 1.0, 1.0], "first_train_s": 1.0}

    agg = {
        "snnx/rec100": med(20.0), "snntorch/rec100": med(70.0), "norse/rec100": med(50.0),
        "snnx/conv30": med(10.0), "snntorch/conv30": med(20.0),
        "snnx/convnm": med(30.0), "snntorch/convnm": med(35.0),
    }  # fmt: skip
    rows = {r["target"]: r for r in run.targets(agg, {"rec100": 18.0})}
    floor = rows["rec100 train snnx/floor"]
    assert floor["value"] == pytest.approx(20 / 18) and floor["op"] == "<=" and floor["limit"] == 1.15
    assert floor["met"] is True
    torch_ = rows["rec100 train snntorch/snnx (issue 17)"]
    assert torch_["value"] == pytest.approx(3.5) and torch_["limit"] == 3.0 and torch_["met"] is True
    assert torch_["permits"] == pytest.approx(70 / 18)
    norse = rows["rec100 train norse/snnx (issue 17)"]
    assert norse["value"] == pytest.approx(2.5) and norse["met"] is False
    assert norse["permits"] == pytest.approx(50 / 18)
    assert rows["conv30 train snnx/snntorch"]["value"] == pytest.approx(0.5)
    assert rows["conv30 train snnx/snntorch"]["met"] is True
    assert rows["convnm train snnx/snntorch"]["value"] == pytest.approx(30 / 35)
    assert (
        rows["convnm train snnx/snntorch"]["met"] is False
        and rows["convnm train snnx/snntorch"]["limit"] == 0.8
    )
    assert rows["rec100 train snntorch/snnx"]["limit"] == 3.5  # the earlier target is kept
    no_floor = {r["target"]: r for r in run.targets(agg)}["rec100 train snnx/floor"]
    assert no_floor["value"] is None and no_floor["met"] is None
    table = run.target_table(run.targets(agg, {"rec100": 18.0}))
    assert "| rec100 train snntorch/snnx (issue 17) | 3.50 | >= 3.0 | yes | 3.89 |" in table


def test_gpu_scripts_parse():
    for script in ("gpu.sh", "gpu_wheels.sh"):
        r = subprocess.run(["bash", "-n", str(BENCH / script)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def test_gpu_sh_installs_the_wheels_and_hands_run_py_its_arguments(tmp_path):
    """gpu.sh in a copy of the tree, with a ``python3`` on PATH that only records how it was called."""
    tree = tmp_path / "repo"
    (tree / "benchmarks").mkdir(parents=True)
    (tree / "benchmarks" / "gpu.sh").write_text((BENCH / "gpu.sh").read_text())
    (tree / ".whl").mkdir()
    (tree / ".whl" / "nir-1.0.8-py3-none-any.whl").write_bytes(b"")
    shims, log = tmp_path / "bin", tmp_path / "calls.jsonl"
    shims.mkdir()
    shim = shims / "python3"
    shim.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "stdin = sys.stdin.read() if sys.argv[1:] == ['-'] else ''\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    call = {'argv': sys.argv[1:], 'pythonpath': os.environ.get('PYTHONPATH', '')}\n"
        "    f.write(json.dumps(call) + '\\n')\n"
        "if os.environ.get('SHIM_NO_SNNX') and sys.argv[1:] == ['-c', 'import snnx']:\n"
        "    sys.exit(1)\n"
        "if os.environ.get('SHIM_FAIL_RUN') and sys.argv[1:2] == ['benchmarks/run.py']:\n"
        "    sys.exit(1)\n"
    )
    shim.chmod(0o755)
    out = tmp_path / "out"
    env = {
        **os.environ,
        "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}",
        "OUT": str(out),
        "GPU_BENCH_ROUNDS": "3",
    }
    env.pop("PYTHONPATH", None)
    r = subprocess.run(["bash", str(tree / "benchmarks" / "gpu.sh"), "--shrink", "8"], env=env,
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    pip = calls[0]["argv"]
    assert pip[:3] == ["-m", "pip", "install"] and pip[-1] == ".whl/nir-1.0.8-py3-none-any.whl"
    assert {"--no-index", "--no-deps", "--target"} <= set(pip) and pip[
        pip.index("--target") + 1
    ] == "/tmp/site"
    bench = next(c for c in calls if c["argv"][:1] == ["benchmarks/run.py"])
    argv = bench["argv"]
    pairs = {argv[i]: argv[i + 1] for i in range(1, len(argv) - 1) if argv[i].startswith("--")}
    assert pairs["--device"] == "gpu" and pairs["--dtype"] == "fp32,bf16" and pairs["--rounds"] == "3"
    assert pairs["--snnx-python"] == "python3" and pairs["--peers-python"] == "python3"
    assert pairs["--out"] == f"{out}/gpu.json" and float(pairs["--budget"]) > 0
    assert argv[-2:] == ["--shrink", "8"]  # "$@" last, so that it wins
    assert bench["pythonpath"].split(os.pathsep)[:2] == [str(tree / "src"), "/tmp/site"]
    assert (out / "gpu.log").exists()
    tune = next(c["argv"] for c in calls if c["argv"][:1] == ["benchmarks/tune_options.py"])
    assert tune[tune.index("--json") + 1] == f"{out}/tune.json"  # the GPU defaults re-measured after

    # a failed benchmark process: the defaults are still re-measured, and gpu.sh says it failed
    log.unlink()
    r = subprocess.run(["bash", str(tree / "benchmarks" / "gpu.sh")], env={**env, "SHIM_FAIL_RUN": "1"},
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    calls = [json.loads(line)["argv"][:1] for line in log.read_text().splitlines()]
    assert r.returncode == 1 and ["benchmarks/tune_options.py"] in calls

    # snnx that does not import (no nir on a bare GPU machine): stop at once, saying how to fix it
    log.unlink()
    r = subprocess.run(["bash", str(tree / "benchmarks" / "gpu.sh")], env={**env, "SHIM_NO_SNNX": "1"},
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    calls = [json.loads(line)["argv"][:1] for line in log.read_text().splitlines()]
    assert r.returncode == 2 and "gpu_wheels.sh" in r.stderr and ["benchmarks/run.py"] not in calls


@pytest.mark.slow
def test_shrunk_gpu_suite_runs_on_the_cpu(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(BENCH / "run.py"), "--device", "cpu", "--shrink", "8"]
    cmd += ["--workloads", "shd1000,wide16k,convnm", "--dtype", "fp32,bf16", "--frameworks", "snnx"]
    cmd += ["--rounds", "1", "--iters", "3", "--warmup", "0", "--no-gemm", "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "workloads shrunk by 8" in r.stdout and "| convnm | snnx | bf16 |" in r.stdout
    report = json.loads(out.read_text())
    assert report["shrink"] == 8 and report["dtypes"] == ["fp32", "bf16"]
    specs = report["specs"]
    assert (specs["shd1000"]["T"], specs["shd1000"]["B"], specs["shd1000"]["hidden"]) == (125, 32, 128)
    assert (specs["wide16k"]["T"], specs["wide16k"]["B"], specs["wide16k"]["hidden"]) == (12, 8, 2048)
    assert specs["convnm"]["conv"] == [[4, 3, 1, True], [8, 3, 1, True]]
    agg = report["aggregate"]
    for wl in ("shd1000", "wide16k", "convnm"):
        for key, dtype in ((f"snnx/{wl}", "fp32"), (f"snnx/{wl}/bf16", "bf16")):
            assert agg[key]["dtype"] == dtype and agg[key]["samples"] == 3 and agg[key]["loss_ok"]
    # convnm shrunk: T 3, B 8; conv 2 -> 4 channels on 34x34, conv 4 -> 8 on 17x17, Linear(8*8*8 -> 10)
    f1, f2, f3 = 2 * 24 * 34 * 34 * 4 * 9 * 2, 2 * 24 * 17 * 17 * 8 * 9 * 4, 2 * 24 * 512 * 10
    for row in report["runs"]:
        assert row["spec"]["shrink"] == 8
        if row["workload"] == "convnm":
            assert (row["fwd_flops"], row["train_flops"]) == (f1 + f2 + f3, 2 * f1 + 3 * (f2 + f3))


@pytest.mark.slow
def test_matmul_floor_prints_one_json_line_per_workload_and_dtype(bench, capsys):
    sys.path.insert(0, str(BENCH))  # restored by the fixture
    import matmul_floor

    argv = ["--workload", "tiny,ff100", "--dtype", "fp32,bf16", "--shrink", "10", "--repeats", "1", "--json"]
    out = matmul_floor.main(argv)
    assert [(o["workload"], o["dtype"]) for o in out] == [
        ("tiny", "fp32"), ("tiny", "bf16"), ("ff100", "fp32"), ("ff100", "bf16")
    ]  # fmt: skip
    lines = [json.loads(line.split(" ", 1)[1]) for line in capsys.readouterr().out.splitlines()
             if line.startswith("FLOOR_RESULT ")]  # fmt: skip
    assert [line["floor_ms"] for line in lines] == [o["floor_ms"] for o in out]
    assert all(
        o["floor_ms"] == pytest.approx(sum(o["pieces_ms"].values())) and len(o["pieces_ms"]) == 5 for o in out
    )
