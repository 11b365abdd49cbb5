"""``snnx.nir.write(..., compat="nir-1.0.4")``: files that readers pinned to nir 1.0.4 (Sinabs 3.1) load.

The reference is nir 1.0.4's own record of its node types and constructor fields
(``tests/data/nir-compat/nir-1.0.4-fields.json``, made by the script beside it from
the nir 1.0.4 wheel): that reader builds each node with ``cls(**fields)``, so a file
loads exactly when every node's type is known and its fields are constructor fields.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from flax import nnx

from snnx import layers as L
from snnx import neurons as N
from snnx.engine import Sequential
from snnx.nir import NIRError, from_nir, read, to_nir, write

NIR104 = json.loads((Path(__file__).parent / "data" / "nir-compat" / "nir-1.0.4-fields.json").read_text())


def _problems(path) -> list[str]:
    """What nir 1.0.4's ``cls(**fields)`` would refuse in the file at ``path``."""
    found = []

    def walk(group, prefix):
        for name, node in group["nodes"].items():
            kind = node["type"][()].decode()
            if kind not in NIR104["types"]:
                found.append(f"{prefix}{name}: type {kind}")
                continue
            extra = set(node) - {"type"} - set(NIR104["types"][kind])
            if extra:
                found.append(f"{prefix}{name}: {sorted(extra)}")
            if kind == "NIRGraph":
                walk(node, f"{prefix}{name}.")

    with h5py.File(path, "r") as f:
        walk(f["node"], "")
    return found


def _models():
    r = nnx.Rngs(0)
    return {
        "lif": (Sequential(nnx.Linear(4, 3, rngs=r), N.LIF(3, 0.8, 1.0)), (4,)),
        "cubalif": (Sequential(nnx.Linear(4, 3, rngs=r), N.CuBaLIF(3, 0.5, 0.8, 1.0)), (4,)),
        "if": (Sequential(nnx.Linear(4, 3, rngs=r), N.IF(3, 1.0)), (4,)),
        "rlif": (Sequential(nnx.Linear(4, 3, rngs=r), N.RLIF(3, 0.8, 1.0, rngs=r)), (4,)),
        "conv": (
            Sequential(
                nnx.Conv(2, 4, (3, 3), rngs=r), N.IF((6, 6, 4), 1.0), L.SumPool((2, 2), strides=(2, 2)),
                L.Flatten(), nnx.Linear(36, 3, rngs=r), N.LIF(3, 0.9, 1.0), input_shape=(6, 6, 2),
            ),
            (2, 6, 6),
        ),
    }  # fmt: skip


@pytest.mark.parametrize("name", ["lif", "cubalif", "if", "rlif", "conv"])
def test_compat_file_has_only_what_nir_1_0_4_reads_and_runs_the_same(tmp_path, name):
    import snnx

    model, shape = _models()[name]
    graph = to_nir(model, shape, dt=1e-3)
    plain, old = tmp_path / "plain.nir", tmp_path / "old.nir"
    write(plain, graph)
    write(old, graph, compat="nir-1.0.4")
    assert any("v_reset" in p for p in _problems(plain))  # the default format is not 1.0.4's
    assert _problems(old) == []
    x = (np.random.default_rng(0).random((20, 2, *shape)) < 0.4).astype(np.float32)
    y_plain, _ = snnx.run(from_nir(plain, 1e-3), x)
    y_old, _ = snnx.run(from_nir(old, 1e-3), x)  # a missing v_reset means 0 when read back
    np.testing.assert_array_equal(np.asarray(y_old), np.asarray(y_plain))


def test_compat_refuses_what_nir_1_0_4_cannot_hold_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "model.nir"
    path.write_bytes(b"precious")
    lif = to_nir(
        Sequential(nnx.Linear(4, 3, rngs=nnx.Rngs(0)), N.LIF(3, 0.8, 1.0, v_reset=0.25)), (4,), dt=1e-3
    )
    with pytest.raises(NIRError, match=r"'v_reset'.*nir-1.0.4.*0\.25"):
        write(path, lif, compat="nir-1.0.4")
    cuba_li = to_nir(Sequential(nnx.Linear(4, 3, rngs=nnx.Rngs(0)), N.CuBaLI(3, 0.5, 0.8)), (4,), dt=1e-3)
    with pytest.raises(NIRError, match=r"\(CubaLI\).*no CubaLI"):
        write(path, cuba_li, compat="nir-1.0.4")
    with pytest.raises(ValueError, match=r"`compat` must be None or one of \['nir-1.0.4'\], got 'nir-0.1'"):
        write(path, lif, compat="nir-0.1")
    assert path.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["model.nir"]  # no temporary file left


def test_compat_writes_nested_graphs(tmp_path):
    path = Path(__file__).parent / "data" / "nir-refs" / "graphs" / "braille_noDelay_bias_zero_subgraph.nir"
    with pytest.warns(UserWarning, match="reading those edges"):  # the file's stale edge name, repaired
        graph = read(path)
    write(tmp_path / "b.nir", graph, compat="nir-1.0.4")
    assert _problems(tmp_path / "b.nir") == []
    with h5py.File(tmp_path / "b.nir") as f:  # the nested CubaLIF lost its (zero) v_reset too
        assert "v_reset" not in f["node/nodes/lif1/nodes/lif1"]


def test_compat_drops_metadata_nir_1_0_4_cannot_hold_with_a_warning(tmp_path):
    import snnx.quant as quant

    r = nnx.Rngs(0)
    model = Sequential(nnx.Linear(4, 3, use_bias=False, rngs=r), N.LIF(3, 0.8, 1.0))
    model = quant.ptq(model, quant.Rule("int8"))
    graph = to_nir(model, (4,), dt=1e-3)
    assert "quant" in graph.nodes["layer_0"].metadata  # snnx records the integer codes
    with pytest.warns(UserWarning, match=r"compat='nir-1.0.4'.*layer_0: \['quant'\]"):
        write(tmp_path / "q.nir", graph, compat="nir-1.0.4")
    assert _problems(tmp_path / "q.nir") == []


def test_write_names_the_path_not_a_temporary_file(tmp_path):
    graph = to_nir(_models()["lif"][0], (4,), dt=1e-3)
    with pytest.raises(ValueError, match=r"`path` must name a file, got .*\(a directory\)"):
        write(tmp_path, graph)
    missing = r"cannot write .*nodir/x.nir.*the folder .*nodir.* does not exist"
    with pytest.raises(FileNotFoundError, match=missing):
        write(tmp_path / "nodir" / "x.nir", graph)
    with pytest.raises(ValueError, match=r"`path` must name a file, got ''"):
        write("", graph)
    assert list(tmp_path.iterdir()) == []
