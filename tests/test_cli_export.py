"""``snnx export``: a run folder or a NIR file to ONNX, StableHLO or NIR, checked by running the result.

The run folder is made by hand with the layout ``snnx train`` writes (its ``config.json`` from
``snnx train``'s own option parser, an orbax checkpoint of the model) so that the test needs no
training; its first kernel is scaled before saving, so a model that was not restored differs.
"""

from __future__ import annotations

import argparse
import re

import jax
import numpy as np
import pytest

import snnx
from snnx.cli import _export, _runs, _train
from snnx.export import initial_state, load_stablehlo

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("jax2onnx")

ATOL = 1e-5


def cli(*argv: str) -> int:
    """``snnx export ARGV`` in-process (through ``snnx.cli.main`` once it lists the subcommand)."""
    from snnx.cli import _SUBCOMMANDS, main

    if "export" in _SUBCOMMANDS:
        return main(["export", *argv])
    parser = argparse.ArgumentParser(prog="snnx")
    _export.add_parser(parser.add_subparsers())
    args = parser.parse_args(["export", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run folder of the digits model (16 hidden units) and the saved model itself."""
    folder = tmp_path_factory.mktemp("runs") / "digits"
    folder.mkdir()
    parser = argparse.ArgumentParser()
    _train.add_parser(parser.add_subparsers())
    cfg = _train.parse_config(parser.parse_args(["train", "--hidden", "16", "--time-steps", "5"]))
    _runs.write_config(str(folder), cfg)
    model = _train.build_model(cfg, 64, 10)
    model.layers[0].kernel[...] = model.layers[0].kernel[...] * 4.0
    from snnx.train import Checkpointer

    with Checkpointer(folder / "checkpoint") as ckpt:
        ckpt.save(0, model)
    x = np.asarray(jax.random.uniform(jax.random.key(0), (5, 3, 64)) < 0.3, np.float32)
    want = np.asarray(snnx.run(model, x)[0])
    assert not np.allclose(want, snnx.run(_train.build_model(cfg, 64, 10), x)[0])  # restoring matters
    return folder, model, x, want


def _session(path):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def test_load_source_rebuilds_and_restores(run):
    folder, model, _, _ = run
    loaded, input_shape = _export.load_source(str(folder), None)
    assert input_shape == (64,)
    np.testing.assert_array_equal(loaded.layers[0].kernel[...], model.layers[0].kernel[...])


def test_onnx_of_a_run_folder(run, tmp_path, capsys):
    folder, _, x, want = run
    out = tmp_path / "model.onnx"
    assert cli("onnx", str(folder), "--out", str(out)) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out} (onnx, sequence mode")
    session = _session(out)
    assert session.get_inputs()[0].shape == ["T", "B", 64]
    np.testing.assert_allclose(session.run(None, {"x": x})[0], want, atol=ATOL, rtol=0)


def test_stablehlo_step_of_a_run_folder(run, tmp_path):
    folder, model, x, want = run
    out = tmp_path / "model.stablehlo"
    assert cli("stablehlo", str(folder), "--out", str(out), "--mode", "step") == 0
    step, state, ys = load_stablehlo(str(out)), initial_state(model, x.shape[1]), []
    for x_t in x:
        y, state = step(x_t, state)
        ys.append(np.asarray(y))
    np.testing.assert_allclose(np.stack(ys), want, atol=ATOL, rtol=0)


def test_nir_target_then_a_nir_source_with_fixed_sizes(run, tmp_path):
    folder, _, x, want = run
    nir_file, onnx_file = tmp_path / "model.nir", tmp_path / "model.onnx"
    assert cli("nir", str(folder), "--out", str(nir_file)) == 0
    fixed = ("--time-steps", "5", "--batch", "3")
    assert cli("onnx", str(nir_file), "--dt", "1e-3", "--out", str(onnx_file), *fixed) == 0
    session = _session(onnx_file)
    assert session.get_inputs()[0].shape == [5, 3, 64]
    np.testing.assert_allclose(session.run(None, {"x": x})[0], want, atol=ATOL, rtol=0)


def test_overwrite(run, tmp_path, capsys):
    folder = run[0]
    out = tmp_path / "model.onnx"
    out.write_text("not a model")
    assert cli("onnx", str(folder), "--out", str(out)) == 2
    assert "already exists; replace it with --overwrite" in capsys.readouterr().err
    assert out.read_text() == "not a model"
    assert cli("onnx", str(folder), "--out", str(out), "--overwrite") == 0
    assert _session(out).get_outputs()[0].name == "y"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("onnx", "{tmp}/missing", "--out", "{tmp}/m.onnx"), r"SOURCE '.*missing' does not exist"),
        (("onnx", "{tmp}", "--out", "{tmp}/m.onnx"), r"is a folder without config.json: not a run folder"),
        (("onnx", "{nir}", "--out", "{tmp}/m.onnx"), r"is a NIR file: give --dt"),
        (("onnx", "{run}", "--out", "{tmp}/m.onnx", "--batch", "0"), r"--batch must be a positive integer"),
        (("onnx", "{run}", "--out", "{tmp}/m.onnx", "--dt", "1e-3"), r"--dt is read for a NIR SOURCE"),
        (("nir", "{run}", "--out", "{tmp}/m.nir", "--mode", "step"), r"apply to onnx and stablehlo, not"),
        (("onnx", "{run}", "--out", "{tmp}"), r"--out .* is a folder"),
    ],
)
def test_usage_errors_are_one_line(run, tmp_path, capsys, argv, message):
    nir_file = tmp_path / "model.nir"
    nir_file.write_bytes(b"")  # the --dt check comes before reading the file
    argv = [a.format(tmp=tmp_path, run=run[0], nir=nir_file) for a in argv]
    assert cli(*argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("snnx export: error: ")
    assert re.search(message, err), err


def test_bad_target_exits_2(run, capsys):
    with pytest.raises(SystemExit) as done:
        cli("pdf", str(run[0]), "--out", "m.pdf")
    assert done.value.code == 2
    assert "invalid choice: 'pdf'" in capsys.readouterr().err
