"""``snnx train --quant``: the run delivers a quantised model (metrics, model.nir) and refuses bad options."""

from __future__ import annotations

import json

import numpy as np
import pytest

from test_cli_train import TINY, run_train

HIDDEN = 16  # TINY's --hidden
WEIGHTS = 64 * HIDDEN + HIDDEN * 10  # the two Linear kernels of the digits model
SCALES = HIDDEN + 10  # one per output channel


@pytest.mark.slow  # trains
def test_post_training_int4_run_delivers_the_quantised_model(tmp_path, capsys):
    import jax.numpy as jnp

    from snnx import datasets, nir, quant
    from snnx.engine import run

    assert run_train([*TINY, "--epochs", "1", "--quant", "int4", "--out", str(tmp_path), "--name", "q"]) == 0
    assert "int4 weights (post-training quantisation)" in capsys.readouterr().out
    summary = json.loads((tmp_path / "q" / "metrics.json").read_text())
    q = summary["quant"]
    assert q["qtype"] == "int4" and summary["test_accuracy"] == q["test_accuracy"]
    # float32 kernels (4 bytes each) became 4-bit codes plus one float32 scale per output channel
    assert q["float32_size_bytes"] - q["size_bytes"] == 4 * WEIGHTS - (WEIGHTS // 2 + 4 * SCALES)
    imported = nir.from_nir(tmp_path / "q" / "model.nir", 1e-3)
    assert {r.qtype for r in quant.summary(imported)} == {"int4"}
    for r in quant.targets(imported):
        levels = np.unique(np.asarray(r.module.kernel[...]), axis=0)  # per output channel: <= 16 values
        assert max(len(np.unique(levels[:, j])) for j in range(levels.shape[1])) <= 16
    cfg = summary["config"]
    _, (x_test, y_test) = datasets.digits(cfg["encoding"], cfg["time_steps"], seed=cfg["seed"])
    out, _ = run(imported, jnp.asarray(x_test))
    accuracy = float(np.mean(np.asarray(jnp.argmax(jnp.max(out, axis=0), axis=-1)) == y_test))
    assert accuracy == pytest.approx(q["test_accuracy"], abs=1e-6)  # the file is the model that scored
    # snnx export rebuilds the same quantised model from config.json and the (float) checkpoint
    from snnx.cli import main

    assert main(["export", "nir", str(tmp_path / "q"), "--out", str(tmp_path / "again.nir")]) == 0
    written, again = nir.read(tmp_path / "q" / "model.nir"), nir.read(tmp_path / "again.nir")
    for name in ("layer_0", "layer_2"):
        np.testing.assert_array_equal(again.nodes[name].weight, written.nodes[name].weight)
        np.testing.assert_array_equal(again.nodes[name].metadata["quant"]["scale"],
                                      written.nodes[name].metadata["quant"]["scale"])  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--quant-aware"], "--quant-aware trains through quantised weights: give their type with --quant"),
        (["--quant", "int9"], "--quant must be one of int8, int7"),
    ],
)
def test_bad_quant_options_one_line(argv, message, tmp_path, capsys):
    assert run_train([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
