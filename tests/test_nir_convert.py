"""``snnx.nir.convert`` and ``snnx nir convert``: a framework's file -> NIR with the same behaviour.

For every framework run in ``tests/data/nir-peers`` that the framework's dialect
reproduces, the converted graph, run with NIR's own equations (snnx's default
import), must give the framework's own outputs: identical spikes, readouts within
1e-5. Where NIR cannot express the behaviour, ``convert`` refuses with the reason.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import snnx
from snnx.cli import main as cli
from snnx.nir import NIRError, convert, from_nir, read, write
from test_nir_dialects import FAILED_RUNS_THAT_RUN, PEERS, REFUSED, _import, _load, _runs

MANY = r"several spikes per step.*no NIR primitive emits more than one spike per step"
# Runs the dialect reproduces but NIR cannot express (the reason, as a regex).
SEVERAL_SPIKES = (
    "rockpool_li", "rockpool_lif", "rockpool_lif_rec", "rockpool_runs_snnx_cubalif", "sinabs_conv",
    "sinabs_if", "sinabs_lif", "sinabs_lif_norm", "sinabs_runs_snnx_conv", "sinabs_runs_snnx_if",
    "sinabs_runs_snnx_lif",
)  # fmt: skip
NOT_EXPRESSIBLE = {
    "norse_lif": r"'v_leak': Norse starts the membrane at v_leak, NIR at 0",
    "norse_lif_dt1e-3": r"'v_leak': Norse starts the membrane at v_leak",
    **dict.fromkeys(SEVERAL_SPIKES, MANY),
}


def _dt(dialect, meta):
    return meta["dt"] if dialect in ("spyx", "norse") else 1e-3


def _reproduced():
    """The runs whose dialect import succeeds (the others are refused by the import, tested elsewhere)."""
    for case in _runs():
        base, _, _, npz = case.values
        data, _ = _load(npz)
        if base not in REFUSED and ("out" in data.files or base in FAILED_RUNS_THAT_RUN):
            yield case


@pytest.mark.slow  # every peer run again; the quick tier keeps the dialect test of the peers' own files
@pytest.mark.parametrize(("base", "path", "dialect", "npz"), list(_reproduced()))
def test_converted_file_runs_in_nir_as_the_framework_ran_it(base, path, dialect, npz, tmp_path):
    data, meta = _load(npz)
    dt = _dt(dialect, meta)
    if base in NOT_EXPRESSIBLE:
        with pytest.raises(NIRError, match=NOT_EXPRESSIBLE[base]):
            convert(path, dialect, dt)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. Rockpool's always-zero LI
        graph = convert(path, dialect, dt)
        expected = np.asarray(snnx.run(_import(path, dialect, meta), data["x"])[0])
    write(tmp_path / "converted.nir", graph)
    with warnings.catch_warnings():
        # a framework's own file, converted, carries no deviant signature (a file run by another framework
        # may keep the first one's: Norse honours Spyx's r = beta on a CubaLIF)
        warnings.simplefilter("ignore" if "_runs_" in base else "error")
        model = from_nir(tmp_path / "converted.nir", dt)
    got = np.asarray(snnx.run(model, data["x"])[0])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    if "out" in data.files:  # and so the framework's own run
        ref = data["out"]
        if set(np.unique(ref)) <= {0.0, 1.0}:
            np.testing.assert_array_equal(got, ref)
        else:
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_every_case_is_converted_or_refused_for_a_stated_reason():
    names = {c.values[0] for c in _reproduced()}
    assert set(NOT_EXPRESSIBLE) <= names
    converted = names - set(NOT_EXPRESSIBLE)
    assert {"spyx_lif", "spyx_cubalif", "spyx_if", "spyx_conv", "snntorch_lif", "snntorch_cubalif",
            "norse_cubalif", "norse_if", "sinabs_li"} <= converted  # fmt: skip


def test_spyx_late_spikes_become_a_delayed_threshold_with_a_subtracting_back_edge():
    graph = convert(PEERS / "spyx_lif.nir", "spyx", 1e-3)
    lif = graph.nodes["layer_1"]
    kinds = {name: type(node).__name__ for name, node in lif.nodes.items()}
    assert kinds == {"input": "Input", "v": "LI", "spike": "Threshold", "reset": "Scale", "late": "Delay",
                     "output": "Output"}  # fmt: skip
    assert ("reset", "v") in lif.edges and ("spike", "late") in lif.edges
    np.testing.assert_allclose(lif.nodes["v"].r, lif.nodes["v"].tau / 1e-3, rtol=1e-6)  # gain 1, as Spyx
    assert graph.metadata["converted_from"] == "Spyx 1.0.0"


def test_convert_writes_files_older_readers_load(tmp_path):
    graph = convert(PEERS / "snntorch_cubalif.nir", "snntorch", 1e-3)
    write(tmp_path / "old.nir", graph, compat="nir-1.0.4")
    assert type(read(tmp_path / "old.nir").nodes["1"]).__name__ == "CubaLIF"


def test_convert_argument_errors():
    with pytest.raises(ValueError, match="'nir' needs no conversion"):
        convert(PEERS / "spyx_lif.nir", "nir", 1e-3)
    with pytest.raises(ValueError, match=r"`dialect` must be one of .*got 'brian'"):
        convert(PEERS / "spyx_lif.nir", "brian", 1e-3)
    with pytest.raises(ValueError, match=r"`dt` must be a positive finite number"):
        convert(PEERS / "spyx_lif.nir", "spyx", -1.0)
    with pytest.raises(NIRError, match=r"\(LI\).*Spyx refuses LI"):
        convert(PEERS / "norse_li.nir", "spyx", 1.0)


def test_cli_convert(tmp_path, capsys):
    out = tmp_path / "lif.nir"
    argv = ["nir", "convert", str(PEERS / "spyx_lif.nir"), str(out), "--from", "spyx", "--dt", "1e-3"]
    assert cli(argv) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"wrote {out}: ") and "as Spyx 1.0.0 runs it" in said and "NIRGraph" in said
    before = out.read_bytes()
    assert cli(argv) == 2  # never replaced without --overwrite
    assert re.fullmatch(r"snnx nir convert: error: .*already exists; replace it with --overwrite.*\n",
                        capsys.readouterr().err)  # fmt: skip
    assert out.read_bytes() == before
    assert cli([*argv, "--overwrite"]) == 0
    capsys.readouterr()
    bad = [
        "nir",
        "convert",
        str(PEERS / "sinabs_lif.nir"),
        str(tmp_path / "s.nir"),
        "--from",
        "sinabs",
        "--dt",
        "1",
    ]
    assert cli(bad) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(MANY, err) and not (tmp_path / "s.nir").exists()
    same = ["nir", "convert", str(out), str(out), "--from", "spyx", "--dt", "1e-3"]
    assert cli(same) == 2 and "OUT is the input file" in capsys.readouterr().err
    other = str(tmp_path / "o.nir")
    assert cli(["nir", "convert", str(out), other, "--from", "nir", "--dt", "1"]) == 2
    assert (
        "--from must be one of spyx, snntorch, norse, rockpool, sinabs, got 'nir'" in capsys.readouterr().err
    )
    assert cli(["nir", "convert", str(out), other, "--from", "spyx", "--dt", "1", "--compat", "old"]) == 2
    assert "--compat must be one of nir-1.0.4, got 'old'" in capsys.readouterr().err


def test_cli_run_with_a_dialect_counts_several_spikes_per_step(tmp_path, capsys):
    data, _ = _load(PEERS / "sinabs_lif.npz")
    np.save(tmp_path / "x.npy", data["x"])
    argv = ["nir", "run", str(PEERS / "sinabs_lif.nir"), "--input", str(tmp_path / "x.npy"),
            "--dialect", "sinabs", "--out", str(tmp_path / "y.npz")]  # fmt: skip
    assert cli(argv) == 0
    said = capsys.readouterr().out
    assert (
        "in the framework's own steps as sinabs runs it" in said
        and f"spikes {int(data['out'].sum())}" in said
    )
    np.testing.assert_array_equal(np.load(tmp_path / "y.npz")["output"], data["out"])
    assert cli([*argv, "--dt", "1e-3"]) == 0  # a --dt that Sinabs does not use is said, not dropped silently
    err = capsys.readouterr().err
    assert "snnx nir run: warning: dialect='sinabs' does not use dt=0.001" in err
