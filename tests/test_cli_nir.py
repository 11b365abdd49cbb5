"""``snnx nir info`` and ``snnx nir run`` on the reference graphs and on snnx's own exports."""

from __future__ import annotations

import argparse
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from flax import nnx

from snnx import neurons as N
from snnx.cli import _nir
from snnx.engine import Sequential
from snnx.nir import to_nir, write

GRAPHS = sorted((Path(__file__).parent / "data" / "nir-refs" / "graphs").glob("*.nir"))


def _cli(argv: list[str]) -> int:
    """Run ``snnx <argv>`` through the nir subcommand's own parser (independent of the other subcommands)."""
    parser = argparse.ArgumentParser(prog="snnx")
    _nir.add_parser(parser.add_subparsers(dest="command"))
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except SystemExit as stop:
        return stop.code


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.stem)
def test_info_lists_every_node_and_edge(path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the *_subgraph files carry a stale edge name (read with a warning)
        assert _cli(["nir", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "edges (" in out and "Input" in out and "Output" in out
    assert "?" not in out.split("edges (")[0], "every shape should be inferred"


def test_info_shows_shapes_and_parameters(nir_refs, capsys):
    assert _cli(["nir", "info", str(nir_refs / "graphs" / "cnn_sinabs.nir")]) == 0
    out = capsys.readouterr().out
    assert "(2, 34, 34)" in out and "(16, 16, 16)" in out and "weight (16, 2, 5, 5)" in out
    assert "SumPool2d" in out and "Flatten" in out and "v_threshold=1" in out
    assert "  input -> 0" in out


def test_run_reproduces_the_snntorch_reference(nir_refs, tmp_path, capsys):
    ref = np.load(
        nir_refs / "snntorch_export_leaky__rand_T100_B3_p30_s5_x2__snntorch_native_zero_nodelay.npz"
    )
    dt = json.loads(str(ref["meta"]))["dt"]
    np.save(tmp_path / "x.npy", ref["x"])
    graph = str(nir_refs / "graphs" / "snntorch_export_leaky.nir")
    rc = _cli(
        [
            "nir",
            "run",
            graph,
            "--dt",
            str(dt),
            "--input",
            str(tmp_path / "x.npy"),
            "--out",
            str(tmp_path / "y.npz"),
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "100 steps x 3 samples" in out and "spikes" in out
    y = np.load(tmp_path / "y.npz")
    np.testing.assert_array_equal(y["output"], ref["out"])
    np.testing.assert_array_equal(y["output_spike_count"], ref["out"].sum(axis=0))


def test_run_on_a_recurrent_subgraph_file_with_random_input(nir_refs, tmp_path, capsys):
    x = (np.random.default_rng(0).random((20, 2, 12)) < 0.3).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    graph = str(nir_refs / "graphs" / "braille_noDelay_bias_zero_subgraph.nir")
    assert _cli(["nir", "run", graph, "--dt", "1e-4", "--input", str(tmp_path / "x.npy")]) == 0
    captured = capsys.readouterr()
    assert "shape (20, 2, 7)" in captured.out
    # the file's stale subgraph edge name, repaired on read: one clean line, no source echo
    assert captured.err.startswith("snnx nir run: warning: NIR graph 'lif1': edges name a node 'lif'")
    assert captured.err.count("\n") == 1


def test_run_on_an_snnx_export_with_subtract_reset(tmp_path, capsys):
    model = Sequential(nnx.Linear(3, 4, rngs=nnx.Rngs(0)), N.LIF(4, reset="subtract"), N.LI(4))
    with pytest.warns(UserWarning, match="subtract"):
        write(tmp_path / "m.nir", to_nir(model, (3,), 1e-3))
    np.save(tmp_path / "x.npy", np.ones((6, 2, 3), np.float32))
    args = ["nir", "run", str(tmp_path / "m.nir"), "--dt", "1e-3", "--input", str(tmp_path / "x.npy")]
    assert _cli([*args, "--reset", "subtract", "--out", str(tmp_path / "y.npz")]) == 0
    assert "not spikes" in capsys.readouterr().out  # an LI readout
    assert set(np.load(tmp_path / "y.npz").files) == {"output"}
    assert _cli(["nir", "info", str(tmp_path / "m.nir")]) == 0
    out = capsys.readouterr().out
    assert "reset=subtract" in out and "dt=0.001" in out


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["nir", "info", "{tmp}/missing.nir"], "does not exist"),
        (["nir", "info", "{tmp}/garbage.nir"], "cannot read NIR file"),
        (["nir", "run", "{graph}", "--dt", "abc", "--input", "{tmp}/x.npy"], "--dt must be a number"),
        (["nir", "run", "{graph}", "--dt", "-1", "--input", "{tmp}/x.npy"], "--dt must be a positive"),
        (["nir", "run", "{graph}", "--dt", "1e-4", "--input", "{tmp}/x.npy"], r"must have shape \(T, B, 8\)"),
        (["nir", "run", "{graph}", "--dt", "1e-4", "--input", "{tmp}/nope.npy"], "does not exist"),
        (["nir", "run", "{graph}", "--input", "{tmp}/x.npy"], r"--dt is required \(seconds per step\)"),
        (
            ["nir", "run", "{graph}", "--dt", "1", "--input", "{tmp}/x.npy", "--reset", "half"],
            "invalid choice",
        ),
        (["nir"], "choose a subcommand"),
    ],
)
def test_errors_are_one_line_with_status_2(argv, match, nir_refs, tmp_path, capsys):
    (tmp_path / "garbage.nir").write_text("not a NIR file")
    np.save(tmp_path / "x.npy", np.zeros((5, 2, 3), np.float32))
    graph = str(nir_refs / "graphs" / "snntorch_export_leaky.nir")
    argv = [a.format(tmp=tmp_path, graph=graph) for a in argv]
    assert _cli(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("snnx nir") and re.search(match, line), line


def test_main_dispatches_to_nir(nir_refs, capsys):
    pytest.importorskip("snnx.cli._bench")
    from snnx.cli import main

    assert main(["nir", "info", str(nir_refs / "graphs" / "lif_norse.nir")]) == 0
    assert "LIF" in capsys.readouterr().out


# --------------------------------------------------------------------------- info --plot


def test_info_plot_writes_the_graph_and_refuses_to_replace_it(nir_refs, tmp_path, capsys):
    graph = str(nir_refs / "graphs" / "braille_noDelay_bias_zero.nir")  # lif1.w_rec -> lif1.lif: a cycle
    png = tmp_path / "graph.png"
    assert _cli(["nir", "info", graph, "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == f"wrote {png} (graph of 7 nodes, 1 back edge dashed)"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    png.write_bytes(b"keep me")
    assert _cli(["nir", "info", graph, "--plot", str(png)]) == 2
    captured = capsys.readouterr()
    line = _one_error_line(captured.err)
    assert line == (
        f"snnx nir info: error: --plot {png} already exists; "
        "replace it with --overwrite, or choose another path"
    )
    assert captured.out == "" and png.read_bytes() == b"keep me"  # refused before anything else
    assert _cli(["nir", "info", graph, "--plot", str(png), "--overwrite"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("; replaced the previous file)")
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("plot", "extra", "match"),
    [
        ("{tmp}/missing/graph.png", [], r"--plot .*/missing/graph\.png: .*/missing does not exist"),
        ("{tmp}/file.txt/graph.png", [], r"--plot .*/file\.txt/graph\.png: .*/file\.txt is not a folder"),
        ("{tmp}", [], r"--plot .* is a folder; give a file name such as .*graph\.png"),
        (
            "{tmp}/g.xyz",
            [],
            r"--plot must end in an image format matplotlib writes \(.*\.png.*\), got '.*g\.xyz'",
        ),
        (None, ["--overwrite"], r"--overwrite replaces the file at --plot PATH: give --plot too"),
    ],
)
def test_info_plot_errors_are_one_line(plot, extra, match, nir_refs, tmp_path, capsys):
    (tmp_path / "file.txt").write_text("")
    argv = ["nir", "info", str(nir_refs / "graphs" / "lif_norse.nir"), *extra]
    if plot is not None:
        argv += ["--plot", plot.format(tmp=tmp_path)]
    assert _cli(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("snnx nir info: error: ") and re.search(match, line), line


def test_info_plot_reports_a_failed_write(nir_refs, tmp_path, capsys, monkeypatch):
    import matplotlib.figure

    def refuse(self, path, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", refuse)
    png = tmp_path / "graph.png"
    assert _cli(["nir", "info", str(nir_refs / "graphs" / "lif_norse.nir"), "--plot", str(png)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line == f"snnx nir info: error: --plot {png}: cannot write the figure: Permission denied"


def test_info_plot_refuses_a_folder_it_may_not_write(nir_refs, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(_nir.os, "access", lambda path, mode: False)  # as for a user without write access
    png = tmp_path / "graph.png"
    assert _cli(["nir", "info", str(nir_refs / "graphs" / "lif_norse.nir"), "--plot", str(png)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line == f"snnx nir info: error: --plot {png}: the folder {tmp_path} is not writable"
