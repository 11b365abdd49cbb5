"""What ``snnx nir`` prints around its results: node order, library warnings, the prog of errors."""

from __future__ import annotations

import warnings

import pytest

from snnx.cli import _nir
from test_cli_nir import _cli  # the nir subcommand's own parser


def _table(out: str) -> list[str]:
    """The node column of ``snnx nir info`` (between the header and the edges)."""
    lines = out.split("edges (")[0].splitlines()[2:]
    return [line.split()[0] for line in lines]


def test_natural_key_compares_numbers_as_numbers():
    names = ["10", "2", "lif10", "lif2", "1", "lif", "0"]
    assert sorted(names, key=_nir.natural_key) == ["0", "1", "2", "10", "lif", "lif2", "lif10"]


def test_info_lists_nodes_and_edges_in_natural_order(nir_refs, capsys):
    assert _cli(["nir", "info", str(nir_refs / "graphs" / "cnn_sinabs.nir")]) == 0
    out = capsys.readouterr().out
    assert _table(out) == ["input", *map(str, range(13)), "output"]  # not 0, 1, 10, 11, 12, 2, ...
    edges = out.split("edges (14):\n")[1].splitlines()
    assert edges[:3] == ["  input -> 0", "  0 -> 1", "  1 -> 2"] and edges[-1] == "  12 -> output"


def test_info_prints_a_library_warning_as_one_line(nir_refs, capsys):
    graph = nir_refs / "graphs" / "braille_noDelay_bias_zero_subgraph.nir"  # a stale subgraph edge name
    assert _cli(["nir", "info", str(graph)]) == 0
    assert capsys.readouterr().err == (
        "snnx nir info: warning: NIR graph 'lif1': edges name a node 'lif' that does not exist; the only "
        "node no edge names is 'lif1', reading those edges as 'lif1'\n"
    )  # once, without the file name, line number and source line Python's warnings show


def test_deprecation_notices_are_dropped_and_repeats_shown_once(monkeypatch, capsys):
    def info(args):
        warnings.warn("h5py: a library's upkeep notice", DeprecationWarning, stacklevel=1)
        for _ in range(2):
            warnings.warn("node 'x': something\n   about the file", UserWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(_nir, "_info", info)  # the parser wraps it when built
    assert _cli(["nir", "info", "any.nir"]) == 0
    assert capsys.readouterr().err == "snnx nir info: warning: node 'x': something about the file\n"


@pytest.mark.parametrize(
    ("argv", "first_line"),
    [
        (
            ["nir", "convert", "a.nir", "b.nir", "--dt", "1"],
            "snnx nir convert: error: the following arguments are ",
        ),
        (["nir", "info"], "snnx nir info: error: the following arguments are required: file"),
        (["nir", "bogus"], "snnx nir: error: argument {info,run,convert}: invalid choice: 'bogus'"),
    ],
)
def test_argparse_errors_carry_the_full_subcommand(argv, first_line, capsys):
    assert _cli(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(first_line) and err.count("\n") == 1, err
    if argv[:2] == ["nir", "convert"]:
        assert "--from" in err
