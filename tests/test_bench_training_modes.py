"""Smoke test of ``benchmarks/training_modes.py``'s snnx half (no peers' environment needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"

pytestmark = pytest.mark.skipif(
    not (BENCH / "training_modes.py").is_file(), reason="benchmarks/ is not in this checkout"
)


@pytest.fixture(scope="module")
def tm():
    sys.path.insert(0, str(BENCH))
    try:
        import training_modes

        yield training_modes
    finally:
        sys.path.remove(str(BENCH))


def test_loss_is_spyx_integral_cross_entropy(tm):
    # numpy: cross-entropy of the time-summed readout against labels smoothed by 0.3
    rng = np.random.default_rng(0)
    out = rng.standard_normal((7, 5, 4)).astype(np.float32)
    y = np.array([0, 3, 1, 2, 3])
    logits = out.sum(0).astype(np.float64)
    logp = logits - logits.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    q = np.full((5, 4), 0.3 / 4) + 0.7 * np.eye(4)[y]
    expected = -(q * logp).sum(1).mean()
    assert float(tm.summed_cross_entropy(out, y)) == pytest.approx(expected, rel=1e-5)


def test_synthetic_data_marks_the_label_block(tm):
    s = tm.WORKLOADS["ff100"]
    x, y = tm.synthetic(s, 200, seed=3)
    assert x.shape == (s["T"], 200, s["n_in"]) and x.dtype == np.uint8 and y.shape == (200,)
    block = s["n_in"] // s["n_out"]
    on = np.stack([x[:, i, y[i] * block : (y[i] + 1) * block] for i in range(200)])
    assert on.mean() == pytest.approx(0.15, abs=0.01)
    assert (x.sum() - on.sum()) / (x.size - on.size) == pytest.approx(0.05, abs=0.005)


@pytest.mark.slow
def test_snnx_modes_train_alike_and_report_times(tm, tmp_path):
    path = tm.write_data("tiny", str(tmp_path))
    out = tm.snnx_modes("tiny", path, epochs=2)
    fast, loop = out["snnx-compiled"], out["snnx-python"]
    # same update, same batch order: the compiled run and the Python loop follow the same path
    np.testing.assert_allclose(fast["loss"], loop["loss"], rtol=1e-4)
    np.testing.assert_allclose(fast["eval_accuracy"], loop["eval_accuracy"], atol=1e-6)
    assert fast["compile_s"] > 0 and fast["compile_warm_s"] > 0 and loop["compile_s"] is None
    for r in (fast, loop):
        assert len(r["epoch_s"]) == 2 and r["steady_epoch_s"] > 0
    agg = tm.aggregate([{"tiny": out}], ["tiny"])
    assert set(agg) == {"tiny/snnx-compiled", "tiny/snnx-python"}
    assert agg["tiny/snnx-compiled"]["ratio_to_compile_fit"] is None  # no Spyx side to divide by
    text = tm.table(agg, ["tiny"], {"tiny": 2})
    assert "| tiny (2 ep.) | snnx-compiled |" in text and "spyx" not in text.split("\n", 2)[2]
