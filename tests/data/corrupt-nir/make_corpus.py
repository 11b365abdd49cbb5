"""Write the corrupted-NIR corpus of this folder: ``python tests/data/corrupt-nir/make_corpus.py``.

Every case starts from a small valid graph written by ``nir.write`` (nir 1.0.8)
and damages it (HDF5 edits with h5py, raw byte surgery, or a graph built
wrongly). ``cases.json`` records, per file, the expected outcome of
``snnx.nir.from_nir(path, dt=1e-3)``: ``"ok"`` (imports and runs) or
``"error"`` with a regex the ``NIRError`` message must match (it names the
node, field or file). ``tests/test_nir_corpus.py`` checks every file against it,
each within one second. The output is deterministic (fixed seeds).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import h5py
import nir
import numpy as np

HERE = Path(__file__).parent
DT = 1e-3
N = 3


def _lif(n=N, tau=0.01):
    return nir.LIF(
        tau=np.full(n, tau),
        r=np.full(n, tau / DT),
        v_leak=np.zeros(n),
        v_threshold=np.full(n, 0.5),
        v_reset=np.zeros(n),
    )


def _io(n=N):
    return nir.Input(input_type={"input": np.array([n])}), nir.Output(output_type={"output": np.array([n])})


def base() -> nir.NIRGraph:
    """input(3) -> affine -> lif -> output."""
    inp, out = _io()
    w = np.arange(9, dtype=np.float64).reshape(3, 3) / 8 - 0.5
    return nir.NIRGraph(
        nodes={
            "input": inp,
            "affine": nir.Affine(weight=w, bias=np.full(N, 0.1)),
            "lif": _lif(),
            "output": out,
        },
        edges=[("input", "affine"), ("affine", "lif"), ("lif", "output")],
    )


def nested() -> nir.NIRGraph:
    """input -> affine -> sub(input -> lif -> output) -> output."""
    inp, out = _io()
    sub_in, sub_out = _io()
    sub = nir.NIRGraph(
        nodes={"input": sub_in, "lif": _lif(), "output": sub_out}, edges=[("input", "lif"), ("lif", "output")]
    )
    g = base()
    return nir.NIRGraph(
        nodes={"input": inp, "affine": g.nodes["affine"], "sub": sub, "output": out},
        edges=[("input", "affine"), ("affine", "sub"), ("sub", "output")],
    )


def conv() -> nir.NIRGraph:
    """input(2, 4, 4) -> conv2d(3x3, pad 1) -> sumpool(2) -> flatten -> affine(2*2*2 -> 3) -> lif."""
    w = np.linspace(-1, 1, 2 * 2 * 9).reshape(2, 2, 3, 3)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 4, 4])}),
        "conv": nir.Conv2d(
            input_shape=(4, 4), weight=w, stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(2)
        ),
        "pool": nir.SumPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)),
        "flat": nir.Flatten(input_type={"input": np.array([2, 2, 2])}, start_dim=0, end_dim=-1),
        "affine": nir.Affine(weight=np.full((N, 8), 0.1), bias=np.zeros(N)),
        "lif": _lif(),
        "output": nir.Output(output_type={"output": np.array([N])}),
    }
    chain = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(chain)), type_check=False)


def delay() -> nir.NIRGraph:
    inp, out = _io()
    return nir.NIRGraph(
        nodes={"input": inp, "delay": nir.Delay(delay=np.full(N, 2 * DT)), "output": out},
        edges=[("input", "delay"), ("delay", "output")],
    )


# -- edits ---------------------------------------------------------------------------------


def _set(path, key, value):
    with h5py.File(path, "r+") as f:
        if key in f:
            del f[key]
        f[key] = value


def _delete(path, key):
    with h5py.File(path, "r+") as f:
        del f[key]


def _rename(path, old, new):
    with h5py.File(path, "r+") as f:
        f.move(old, new)


def _edges(path, edges, key="node/edges"):
    _set(path, key, np.array(edges, dtype=object).astype("S"))


NODE = "node/nodes"


def cases():
    """(name, graph builder, edit(path) or None, expected: "ok" or a regex, description)."""
    lif = f"{NODE}/lif"
    aff = f"{NODE}/affine"
    return [
        ("valid_base", base, None, "ok", "the valid base graph (input -> affine -> lif -> output)"),
        ("valid_nested", nested, None, "ok", "a valid nested subgraph"),
        ("valid_conv", conv, None, "ok", "a valid conv -> pool -> flatten -> affine -> lif stack"),
        ("empty_file", base, lambda p: p.write_bytes(b""), r"cannot read NIR file", "a 0-byte file"),
        (
            "random_bytes",
            base,
            lambda p: p.write_bytes(np.random.default_rng(0).bytes(2048)),
            r"cannot read NIR file",
            "2 KiB of random bytes",
        ),
        (
            "text_file",
            base,
            lambda p: p.write_text("not a NIR file\n"),
            r"cannot read NIR file",
            "plain text",
        ),
        (
            "truncated_half",
            base,
            lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
            r"cannot read NIR file",
            "the first half of a valid file",
        ),
        (
            "truncated_header",
            base,
            lambda p: p.write_bytes(p.read_bytes()[:100]),
            r"cannot read NIR file",
            "only the first 100 bytes (part of the HDF5 superblock)",
        ),
        (
            "flipped_data_bytes",
            base,
            lambda p: _flip(p, f"{lif}/tau"),
            r"cannot read NIR file",
            "the stored (gzip) bytes of the LIF's tau overwritten: bit rot inside a dataset",
        ),
        (
            "flipped_signature",
            base,
            lambda p: _flip(p),
            r"cannot read NIR file",
            "the HDF5 signature (first 8 bytes) overwritten",
        ),
        (
            "hdf5_without_graph",
            base,
            lambda p: _delete(p, "node"),
            r"not a NIR graph",
            "HDF5 with no 'node' group",
        ),
        (
            "top_node_not_graph",
            base,
            lambda p: _set(p, "node/type", "LIF"),
            r"top node is a 'LIF'",
            "the top node says it is a LIF",
        ),
        (
            "missing_type",
            base,
            lambda p: _delete(p, f"{lif}/type"),
            r"'lif'.*'type'",
            "the LIF node has no type",
        ),
        (
            "unknown_type",
            base,
            lambda p: _set(p, f"{lif}/type", "Banana"),
            r"'lif'.*Banana",
            "a node type nir does not define",
        ),
        (
            "type_is_number",
            base,
            lambda p: _set(p, f"{lif}/type", 7),
            r"'lif'.*'type'",
            "a numeric type field",
        ),
        (
            "unsupported_type",
            base,
            lambda p: _retype_to(p, lif, "LIF", "Identity"),
            r"'lif'.*Identity",
            "an Identity node (not defined by nir 1.0.8) in place of the LIF",
        ),
        (
            "deleted_node",
            base,
            lambda p: _delete(p, lif),
            r"'lif'.*does not exist",
            "the LIF node removed, its edges kept",
        ),
        (
            "renamed_node",
            base,
            lambda p: _rename(p, lif, f"{NODE}/lif1"),
            "ok",
            "the LIF stored as 'lif1' while edges say 'lif' (repaired with a warning, as real files need)",
        ),
        (
            "renamed_two_nodes",
            base,
            lambda p: (_rename(p, lif, f"{NODE}/lif1"), _rename(p, aff, f"{NODE}/aff1")),
            r"does not exist",
            "two nodes renamed: ambiguous, not repaired",
        ),
        (
            "edge_to_ghost",
            base,
            lambda p: _edges(p, [("input", "affine"), ("affine", "lif"), ("lif", "ghost")]),
            r"\('lif', 'ghost'\).*'ghost'.*does not exist",
            "an edge into 'ghost' while 'output' has no edge: no sensible candidate (only 'lif' -> 'lif1' "
            "is repaired), refused naming the edge",
        ),
        (
            "duplicate_edge",
            base,
            lambda p: _edges(
                p, [("input", "affine"), ("affine", "lif"), ("affine", "lif"), ("lif", "output")]
            ),
            r"\('affine', 'lif'\) .*listed twice.*into node 'lif'",
            "the edge affine -> lif listed twice (its signal would be added twice)",
        ),
        (
            "duplicate_self_edge",
            base,
            lambda p: _edges(
                p, [("input", "affine"), ("affine", "lif"), ("lif", "lif"), ("lif", "lif"), ("lif", "output")]
            ),
            r"self-edge \('lif', 'lif'\) .*listed twice",
            "the self-edge lif -> lif listed twice (one self-edge is a valid back edge)",
        ),
        (
            "duplicate_edge_two_names",
            nested,
            lambda p: _edges(
                p, [("input", "affine"), ("affine", "sub"), ("affine", "sub.input"), ("sub", "output")]
            ),
            r"\('affine', 'sub.input'\) .*listed twice \(as \('affine', 'sub'\) too\).*into node 'sub.input'",
            "the same edge written twice under two names (into the subgraph, and into its Input node)",
        ),
        (
            "self_edge",
            base,
            lambda p: _edges(p, [("input", "affine"), ("affine", "lif"), ("lif", "lif"), ("lif", "output")]),
            "ok",
            "one self-edge lif -> lif: a back edge (spikes fed to the next step's input)",
        ),
        (
            "huge_dataset",
            base,
            lambda p: _huge(p, f"{aff}/weight"),
            r"'affine'.*'weight'.*refused before reading",
            "the Affine weight declares shape (2**20, 2**20) (8 TiB; stored sparse, never written): "
            "refused from the header",
        ),
        (
            "deleted_edge",
            base,
            lambda p: _edges(p, [("input", "affine"), ("affine", "lif")]),
            r"\['output'\] cannot be reached",
            "the edge lif -> output removed: output unreachable",
        ),
        (
            "no_edges",
            base,
            lambda p: _delete(p, "node/edges"),
            r"cannot be reached|no path",
            "the edge list removed",
        ),
        (
            "edges_odd_length",
            base,
            lambda p: _set(p, "node/edges", np.array([b"input", b"affine", b"lif"])),
            r"'edges'",
            "an edge list of 3 names (not pairs)",
        ),
        (
            "edges_numeric",
            base,
            lambda p: _set(p, "node/edges", np.array([[0, 1], [1, 2], [2, 3]])),
            r"does not exist",
            "edges given as numbers",
        ),
        (
            "edge_into_input",
            base,
            lambda p: _edges(
                p, [("input", "affine"), ("affine", "lif"), ("lif", "output"), ("lif", "input")]
            ),
            r"into Input node 'input'",
            "an edge that leads into the Input node",
        ),
        (
            "no_input_node",
            base,
            lambda p: _delete(p, f"{NODE}/input"),
            r"'input'.*does not exist|no Input",
            "the Input node removed",
        ),
        (
            "no_output_node",
            base,
            lambda p: _delete(p, f"{NODE}/output"),
            r"'output'.*does not exist|no Output",
            "the Output node removed",
        ),
        (
            "weight_wrong_shape",
            base,
            lambda p: _set(p, f"{aff}/weight", np.ones((3, 5))),
            r"'affine'.*weight",
            "Affine weight (3, 5) after a 3-wide input",
        ),
        (
            "weight_rank3",
            base,
            lambda p: _set(p, f"{aff}/weight", np.ones((3, 3, 1))),
            r"'affine'.*'weight'",
            "Affine weight of rank 3",
        ),
        (
            "weight_is_text",
            base,
            lambda p: _set(p, f"{aff}/weight", "heavy"),
            r"'affine'.*'weight'",
            "Affine weight stored as a string",
        ),
        (
            "weight_nan",
            base,
            lambda p: _set(p, f"{aff}/weight", np.full((3, 3), np.nan)),
            r"'affine'.*'weight'",
            "Affine weight full of NaN",
        ),
        (
            "bias_wrong_shape",
            base,
            lambda p: _set(p, f"{aff}/bias", np.ones(4)),
            r"'affine'.*'bias'",
            "Affine bias of 4 values for 3 outputs",
        ),
        (
            "missing_weight",
            base,
            lambda p: _delete(p, f"{aff}/weight"),
            r"'affine'.*'weight'",
            "Affine without weight",
        ),
        ("tau_nan", base, lambda p: _set(p, f"{lif}/tau", np.full(3, np.nan)), r"'lif'.*'tau'", "tau = NaN"),
        ("tau_inf", base, lambda p: _set(p, f"{lif}/tau", np.full(3, np.inf)), r"'lif'.*'tau'", "tau = inf"),
        (
            "tau_negative",
            base,
            lambda p: _set(p, f"{lif}/tau", np.full(3, -0.01)),
            r"'lif'.*'tau'",
            "tau < 0",
        ),
        ("tau_zero", base, lambda p: _set(p, f"{lif}/tau", np.zeros(3)), r"'lif'.*'tau'", "tau = 0"),
        (
            "tau_below_dt",
            base,
            lambda p: _set(p, f"{lif}/tau", np.full(3, 1e-5)),
            r"'lif'.*'tau'.*dt",
            "tau = 1e-5 < dt = 1e-3 (forward Euler unstable)",
        ),
        (
            "tau_is_text",
            base,
            lambda p: _set(p, f"{lif}/tau", "slow"),
            r"'lif'.*'tau'",
            "tau stored as a string",
        ),
        (
            "threshold_wrong_shape",
            base,
            lambda p: _set(p, f"{lif}/v_threshold", np.ones(7)),
            r"'lif'.*'v_threshold'",
            "7 thresholds for 3 units",
        ),
        ("v_reset_missing", base, lambda p: _delete(p, f"{lif}/v_reset"), "ok", "no v_reset (means 0)"),
        (
            "zero_d_parameters",
            base,
            lambda p: [
                _set(p, f"{lif}/{k}", np.float64(v)) for k, v in (("tau", 0.01), ("r", 10.0), ("v_leak", 0.0))
            ],
            "ok",
            "0-d LIF parameters (broadcast)",
        ),
        (
            "batch_axis_in_input",
            base,
            lambda p: _set(p, f"{NODE}/input/shape", np.array([1, 3])),
            "ok",
            "Input shape (1, 3): a stray batch axis",
        ),
        (
            "input_shape_mismatch",
            base,
            lambda p: _set(p, f"{NODE}/input/shape", np.array([5])),
            r"'affine'.*shape",
            "Input says 5 features, the Affine takes 3",
        ),
        (
            "input_shape_negative",
            base,
            lambda p: _set(p, f"{NODE}/input/shape", np.array([-3])),
            r"'input'.*shape",
            "Input shape (-3,)",
        ),
        (
            "input_shape_zero",
            base,
            lambda p: _set(p, f"{NODE}/input/shape", np.array([0])),
            r"'input'.*shape",
            "Input shape (0,)",
        ),
        (
            "input_shape_float",
            base,
            lambda p: _set(p, f"{NODE}/input/shape", np.array([2.5])),
            r"'input'.*shape",
            "Input shape (2.5,)",
        ),
        (
            "input_shape_missing",
            base,
            lambda p: _delete(p, f"{NODE}/input/shape"),
            r"'input'.*missing",
            "Input without a shape",
        ),
        (
            "huge_declared_shape",
            delay,
            lambda p: _set(p, f"{NODE}/input/shape", np.array([10**12])),
            r"'input'.*at most",
            "Input declares 1e12 features (must not allocate them)",
        ),
        (
            "huge_shape_scalar_params",
            base,
            lambda p: [
                _set(p, f"{NODE}/input/shape", np.array([2**40])),
                _delete(p, aff),
                _edges(p, [("input", "lif"), ("lif", "output")]),
                [_set(p, f"{lif}/{k}", np.float64(0.01)) for k in ("tau", "r", "v_leak", "v_threshold")],
                _delete(p, f"{lif}/v_reset"),
                _set(p, f"{NODE}/output/shape", np.array([2**40])),
            ],
            r"'input'.*at most",
            "2**40 units with 0-d LIF parameters (a broadcast would need 8 TiB)",
        ),
        (
            "nested_missing_nodes",
            nested,
            lambda p: _delete(p, f"{NODE}/sub/nodes"),
            r"'sub'.*'nodes'",
            "a subgraph without its nodes group",
        ),
        (
            "nested_edge_to_ghost",
            nested,
            lambda p: _edges(p, [("input", "lif"), ("lif", "ghost")], key=f"{NODE}/sub/edges"),
            r"\('lif', 'ghost'\).*graph 'sub'.*'ghost'.*does not exist",
            "a subgraph edge into 'ghost' while its Output has none: no sensible candidate, refused",
        ),
        (
            "nested_no_output",
            nested,
            lambda p: _delete(p, f"{NODE}/sub/nodes/output"),
            r"sub|does not exist|Output",
            "a subgraph without its Output node",
        ),
        (
            "conv_weight_rank",
            conv,
            lambda p: _set(p, f"{NODE}/conv/weight", np.ones((2, 2, 3))),
            r"'conv'.*'weight'",
            "Conv2d weight of rank 3",
        ),
        (
            "conv_stride_zero",
            conv,
            lambda p: _set(p, f"{NODE}/conv/stride", np.array([0, 0])),
            r"'conv'.*'stride'.*positive integers",
            "Conv2d stride 0",
        ),
        (
            "conv_padding_circular",
            conv,
            lambda p: _set(p, f"{NODE}/conv/padding", "circular"),
            r"'conv'.*padding",
            "Conv2d padding 'circular'",
        ),
        (
            "conv_groups_mismatch",
            conv,
            lambda p: _set(p, f"{NODE}/conv/groups", 3),
            r"'conv'",
            "Conv2d groups 3 for 2 input channels",
        ),
        (
            "conv_kernel_too_big",
            conv,
            lambda p: _set(p, f"{NODE}/conv/weight", np.ones((2, 2, 9, 9))),
            r"'conv'.*kernel",
            "a 9x9 kernel on a 4x4 map",
        ),
        (
            "flatten_bad_dims",
            conv,
            lambda p: _set(p, f"{NODE}/flat/start_dim", 5),
            r"'flat'.*start_dim",
            "Flatten start_dim 5 on a rank-3 map",
        ),
        (
            "delay_not_multiple",
            delay,
            lambda p: _set(p, f"{NODE}/delay/delay", np.full(N, 1.5 * DT)),
            r"'delay'.*'delay'",
            "a delay of 1.5 dt",
        ),
        (
            "delay_negative",
            delay,
            lambda p: _set(p, f"{NODE}/delay/delay", np.full(N, -DT)),
            r"'delay'.*'delay'",
            "a negative delay",
        ),
        (
            "float_dtype_int",
            base,
            lambda p: _set(p, f"{aff}/weight", np.ones((3, 3), np.int64)),
            "ok",
            "integer weights (converted to float)",
        ),
        (
            "complex_weight",
            base,
            lambda p: _set(p, f"{aff}/weight", np.ones((3, 3), np.complex64)),
            r"'affine'.*'weight'",
            "complex weights (no NIR meaning)",
        ),
    ]


def _huge(path, key):
    """Replace ``key`` by a dataset whose header declares 2**40 float64 values (chunked, none written)."""
    with h5py.File(path, "r+") as f:
        del f[key]
        f.create_dataset(key, shape=(2**20, 2**20), dtype="f8", chunks=(64, 64))


def _flip(path: Path, dataset: str | None = None) -> None:
    """Overwrite the stored (gzip) chunk of ``dataset`` with 0xff, or the HDF5 signature when ``None``."""
    data = bytearray(path.read_bytes())
    start, size = 0, 8
    if dataset is not None:
        with h5py.File(path, "r") as f:
            info = f[dataset].id.get_chunk_info(0)
        start, size = info.byte_offset, info.size
    data[start : start + size] = b"\xff" * size
    path.write_bytes(bytes(data))


def _retype_to(path, key, old, new):
    with h5py.File(path, "r+") as f:
        grp = f[key]
        for field in list(grp):
            del grp[field]
        grp["type"] = new


README = """# Corrupted NIR corpus

Made by `python tests/data/corrupt-nir/make_corpus.py` (deterministic; it also writes
`cases.json` and this README) from small valid graphs written with nir 1.0.8, then
damaged with h5py edits or byte surgery. `tests/test_nir_corpus.py` imports every file
with `snnx.nir.from_nir(path, dt=1e-3)` and requires the outcome below within one
second: **ok** (imports and runs; tolerated deviations may warn) or a
`snnx.nir.NIRError` whose message matches the regex (it names the node, field or file).

| file | case | expected |
|---|---|---|
"""


def main() -> None:
    manifest = {}
    for old in HERE.glob("*.nir"):
        old.unlink()
    for name, build, edit, expected, description in cases():
        path = HERE / f"{name}.nir"
        nir.write(path, build())
        if edit is not None:
            edit(path)
        manifest[path.name] = {
            "expected": "ok" if expected == "ok" else "error",
            "match": None if expected == "ok" else expected,
            "case": description,
        }
    (HERE / "cases.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    rows = [
        f"| `{name}` | {case['case']} | "
        + ("ok" if case["match"] is None else "NIRError `" + case["match"].replace("|", "\\|") + "`")
        + " |"
        for name, case in sorted(manifest.items())
    ]
    (HERE / "README.md").write_text(README + "\n".join(rows) + "\n")
    print(f"wrote {len(manifest)} files to {HERE}")


if __name__ == "__main__":
    main()
