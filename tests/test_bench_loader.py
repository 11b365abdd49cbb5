"""Smoke test of ``benchmarks/loader.py``: its SHD-like file, its ``--quick`` run's JSON, its summary."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "loader.py"


@pytest.fixture(scope="module")
def lb():
    spec = importlib.util.spec_from_file_location("bench_loader", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def binned_counts(path, num_steps, window=1.0):
    """Independently: per sample, the distinct (time bin, unit) pairs of its spikes before ``window``."""
    with h5py.File(path, "r") as f:
        times, units = f["spikes/times"][:], f["spikes/units"][:]
    out = []
    for t, u in zip(times, units, strict=True):
        keep = t.astype(np.float64) < window
        bins = np.minimum(np.floor(t[keep].astype(np.float64) * num_steps / window), num_steps - 1)
        out.append(len({(int(b), int(v)) for b, v in zip(bins, u[keep], strict=True)}))
    return np.asarray(out)


def test_shd_like_file_has_the_heidelberg_layout_and_documented_statistics(lb, tmp_path):
    path = tmp_path / "shd.h5"
    stats = lb.write_shd_like(path, 30, seed=1)
    with h5py.File(path, "r") as f:
        times, units, labels = f["spikes/times"][:], f["spikes/units"][:], f["labels"][:]
        assert f["spikes/times"].dtype.metadata["vlen"] == np.float32
        assert f["spikes/units"].dtype.metadata["vlen"] == np.uint16
    assert labels.dtype == np.uint16 and labels.shape == (30,) and labels.max() < 20
    counts = np.array([len(t) for t in times])
    assert counts.min() >= 2000 and counts.max() <= 8000
    assert [len(u) for u in units] == counts.tolist()
    assert stats["samples"] == 30 and stats["spikes_mean"] == pytest.approx(counts.mean())
    assert (stats["spikes_min"], stats["spikes_max"]) == (counts.min(), counts.max())
    for t, u in zip(times, units, strict=True):
        assert np.all(np.diff(t) >= 0) and t.min() >= 0 and t.max() < 1.2  # sorted, inside [0, 1.2)
        assert u.max() < 700
    # the source reads it: sample 4's packed raster holds the distinct (bin, unit) pairs before 1 s
    x, label = lb.source(path, 10)[4]
    assert x.shape == (2, 700) and label == labels[4]
    assert np.unpackbits(x, axis=0, count=10).sum() == binned_counts(path, 10)[4]


@pytest.mark.slow
def test_quick_run_writes_consistent_json(lb, tmp_path):
    out = tmp_path / "loader.json"
    lb.main(["--quick", "--json", str(out)])
    report = json.loads(out.read_text())
    m = report["machine"]
    assert m["cpu"] and m["cores"] >= 1 and m["versions"]["jax"] and m["versions"]["grain"]
    cfg = report["config"]
    assert (cfg["samples"], cfg["num_steps"], cfg["rounds"], cfg["workers"]) == (256, 20, 1, [0, 1])
    assert cfg["fit_workers"] == [1]  # the streamed fit runs with worker processes only
    assert report["data"]["samples"] == 256 and 2000 <= report["data"]["spikes_mean"] <= 8000
    (r,) = report["rounds"]
    # the same seeded file again: the read's mean spikes after binning, counted with numpy
    lb.write_shd_like(tmp_path / "again.h5", 256)
    assert r["read"]["binned_spikes_mean"] == pytest.approx(binned_counts(tmp_path / "again.h5", 20).mean())
    assert r["read"]["samples_per_s"] == pytest.approx(256 / r["read"]["seconds"])
    mem = r["memory"]
    assert mem["samples"] == 256 and len(mem["epoch_s"]) == 3 and min(mem["epoch_s"]) > 0
    assert mem["samples_per_s"] == pytest.approx(3 * 256 / sum(mem["epoch_s"]))
    assert sorted(r["stream"]) == ["0", "1"] and list(r["fit_stream"]) == ["1"]
    for s in r["stream"].values():
        assert s["samples"] == 256 and min(s["epoch_s"]) > 0 and 0 < s["first_batch_s"] <= s["epoch_s"][0]
        assert s["samples_per_s"] == pytest.approx(256 / s["epoch_s"][1])
        assert s["startup_s"] == pytest.approx(s["epoch_s"][0] - s["epoch_s"][1])
    for f in [r["fit"], *r["fit_stream"].values()]:
        assert len(f["epoch_s"]) == 2 and min(f["epoch_s"]) > 0 and np.all(np.isfinite(f["loss"]))
        assert f["samples_per_s"] == pytest.approx(256 / f["epoch_s"][1], rel=1e-3)
    for w, f in r["fit_stream"].items():
        # the Loader draws fit's batch order (seed, epoch): the same batches, so the same losses
        np.testing.assert_allclose(f["loss"], r["fit"]["loss"], rtol=1e-5)
        assert f["ratio_to_fit"] == pytest.approx(f["samples_per_s"] / r["fit"]["samples_per_s"])
        summary = report["summary"][f"ratio/{w}"]
        assert summary["min"] == summary["median"] == summary["max"] == f["ratio_to_fit"]  # one round
    # the PackedCache of the file: read in this process, the same batches again
    np.testing.assert_allclose(r["fit_cache"]["loss"], r["fit"]["loss"], rtol=1e-5)
    assert r["cache_stream"]["samples"] == 256 and report["data"]["cache_build_s"] > 0
    lines = report["table"].splitlines()
    assert len(lines) == 2 + 2 + 2 + 1 + 1 + 2  # header, read, memory, 2 streamed, fit, 1 streamed fit, cache
    assert lines[-3].startswith("| `fit` ff100, streamed `Loader` | 1 |")
    assert lines[-1].startswith("| `fit` ff100, streamed `Loader(PackedCache)` | 0 |")


def test_summary_gives_median_and_range_over_rounds(lb):
    def one(k):
        run = {"samples_per_s": 10.0 * k, "startup_s": k, "first_batch_s": k / 2}
        return {
            "read": {"seconds": k, "samples_per_s": 100.0 / k},
            "memory": {"samples_per_s": 1e5 * k},
            "fit": {"samples_per_s": 2.0 * k, "epoch_s": [3.0 * k, 1.0]},
            "stream": {"2": run},
            "fit_stream": {"2": {"samples_per_s": 1.0 * k, "ratio_to_fit": 0.5 + k}},
        }

    rounds = [one(k) for k in (3.0, 1.0, 2.0, 8.0)]
    s = lb.summarise(rounds, [2], [2])
    assert s["read"] == {"median": np.median([100 / 3, 100, 50, 12.5]), "min": 12.5, "max": 100.0}
    assert s["ratio/2"] == {"median": 3.0, "min": 1.5, "max": 8.5}
    assert s["fit_first_epoch_s"] == {"median": 7.5, "min": 3.0, "max": 24.0}
    assert s["stream_first_batch_s/2"]["max"] == 4.0
    text = lb.table(s, [2], [2], 2)
    assert "| streamed epoch 1: `Loader` | 2 | 25 | 10–80 |" in text
    assert "× in-memory `fit`: 3.00 (1.50–8.50)" in text


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--workers", "1,-2"], r"`--workers` must be a comma list of ints >= 0, got '1,-2'"),
        (["--workers", "a"], r"`--workers` must be a comma list of ints >= 0, got 'a'"),
        (["--samples", "10"], r"`--samples` must be >= the batch size 64, got 10"),
        (["--rounds", "0"], r"`--rounds` must be >= 1, got 0"),
        (["--fit-workers", ""], r"`--fit-workers` must be a comma list of ints >= 0, got ''"),
    ],
)
def test_bad_arguments_are_named(lb, capsys, argv, match):
    with pytest.raises(SystemExit):
        lb.parse_args(argv)
    assert re.search(match, capsys.readouterr().err)


def test_quick_flag_shrinks_and_explicit_flags_win(lb):
    quick = lb.parse_args(["--quick", "--workers", "2,0,2"])
    assert (quick.samples, quick.num_steps, quick.rounds, quick.workers) == (256, 20, 1, [0, 2])
    full = lb.parse_args([])
    assert (full.samples, full.num_steps, full.rounds, full.workers) == (4096, 100, 3, [0, 1, 2, 4])
    assert full.fit_workers == [1, 2, 4]
    assert lb.parse_args(["--workers", "0"]).fit_workers == [0]  # nothing else to stream with
    assert lb.parse_args(["--fit-workers", "4,0"]).fit_workers == [0, 4]
