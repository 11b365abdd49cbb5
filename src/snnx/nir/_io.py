"""Reading and writing NIR files (HDF5), tolerant where the meaning is unambiguous.

``nir.read`` of nir 1.0.8 type-checks every graph and refuses real files that
are fine to run (an Output shape with a stray batch axis, subgraph edges that
name a node by a stale name). :func:`read` walks the HDF5 layout itself and
builds the ``nir`` node objects without that check; the shape checks happen in
:func:`snnx.nir.from_nir`, with errors that name the node and field.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import warnings

import h5py
import nir
import numpy as np

from snnx.nir._errors import NIRError

# NIR node types from_nir knows; other types are still read when nir defines them.
_IO_TYPES = ("Input", "Output")


MAX_DATASET_ELEMENTS = 2**30  # one stored array; ~8 GiB as float64, far above any real network


def _value(item, node: str = "", field: str = ""):
    if isinstance(item, h5py.Group):
        return {k: _value(v, node, f"{field}.{k}" if field else k) for k, v in item.items()}
    size = item.size  # from the header: nothing is read yet
    if size is not None and size > MAX_DATASET_ELEMENTS:
        raise NIRError(
            f"node {node or '<top>'!r}, field {field!r}: the file declares an array of shape "
            f"{tuple(item.shape)} ({size:.3g} elements); expected at most {MAX_DATASET_ELEMENTS:.3g} "
            f"elements per array (refused before reading it)",
            node=node or None,
            field=field,
        )
    value = item[()]
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf8", errors="replace")
    if isinstance(value, np.ndarray) and (value.dtype == object or value.dtype.kind == "S"):
        # variable-length (nir.write) or fixed-length (other writers) strings
        return np.vectorize(lambda b: b.decode("utf8", errors="replace") if isinstance(b, bytes) else b,
                            otypes=[object])(value)  # fmt: skip
    return value


def _check_numeric(fields: dict, name: str, kind: str) -> None:
    from snnx.nir._import_table import NUMERIC_FIELDS, TABLE

    for key in NUMERIC_FIELDS:
        if key not in fields:
            continue
        value = fields[key]
        arr = np.asarray(value) if not isinstance(value, dict) else None
        if arr is None or arr.dtype.kind not in "biuf":
            got = repr(value) if arr is None or arr.dtype.kind in "OSU" else f"dtype {arr.dtype}"
            raise NIRError(
                f"node {name!r} ({kind}), field {key!r}: expected a real numeric array, got {got[:80]}",
                node=name,
                field=key,
            )
    for key in ("stride", "dilation", "kernel_size", "groups"):  # nir's own checks divide by them
        value = fields.get(key)
        if value is None or isinstance(value, (str, dict)):
            continue
        arr = np.asarray(value)
        if arr.dtype.kind not in "iuf" or arr.size == 0 or np.any(arr < 1) or np.any(np.mod(arr, 1) != 0):
            raise NIRError(
                f"node {name!r} ({kind}), field {key!r}: expected positive integers, got {value!r}",
                node=name,
                field=key,
            )
    # nir requires the per-unit fields of one node to share a shape; 0-d values are broadcast.
    per_unit = TABLE[kind].fields() if kind in TABLE else ()
    params = {k: np.asarray(fields[k]) for k in per_unit if k in fields and np.ndim(fields[k]) > 0}
    shapes = {a.shape for a in params.values()}
    if len(shapes) > 1:
        first = next(iter(params))
        odd = next(k for k, a in params.items() if a.shape != params[first].shape)
        raise NIRError(
            f"node {name!r} ({kind}), field {odd!r}: expected shape {params[first].shape} "
            f"(as {first!r}) or a scalar, got shape {params[odd].shape}",
            node=name,
            field=odd,
        )
    if shapes:  # 0-d values next to per-unit arrays: broadcast them (real files mix both)
        shape = shapes.pop()
        for k in per_unit:
            if k in fields and np.ndim(fields[k]) == 0:
                fields[k] = np.full(shape, fields[k], dtype=np.float64)


def _shape_field(fields: dict, key: str, name: str, kind: str):
    value = fields.get(key)
    if isinstance(value, dict):  # some writers store {"input": shape}
        value = next(iter(value.values()), None)
    if value is None:
        raise NIRError(f"node {name!r} ({kind}): field {key!r} is missing", node=name, field=key)
    return checked_shape(name, kind, key, value)


MAX_ELEMENTS = 10**8  # per sample; far above any real network, far below what would exhaust memory


def checked_shape(name: str, kind: str, key: str, value) -> np.ndarray:
    """A declared Input/Output shape: positive integers, at most ``MAX_ELEMENTS`` elements."""
    try:
        arr = np.asarray(value).reshape(-1)
        ok = arr.dtype.kind in "iuf" and arr.size > 0
        ok = ok and bool(np.all(np.mod(arr, 1) == 0) and np.all(arr > 0))
    except (TypeError, ValueError):
        arr, ok = None, False
    if not ok:
        raise NIRError(
            f"node {name!r} ({kind}), field {key!r}: expected a shape of positive integers, got {value!r}",
            node=name,
            field=key,
        )
    if float(np.prod(arr.astype(np.float64))) > MAX_ELEMENTS:
        raise NIRError(
            f"node {name!r} ({kind}), field {key!r}: expected a shape of at most {MAX_ELEMENTS} elements "
            f"per sample, got shape {tuple(int(d) for d in arr)}",
            node=name,
            field=key,
        )
    return arr.astype(np.int64)


def _node(group: h5py.Group, name: str, path: str) -> nir.NIRNode:
    fields = {k: _value(v, name, k) for k, v in group.items() if k != "nodes"}
    kind = fields.pop("type", None)
    if not isinstance(kind, str):
        raise NIRError(f"{path}: node {name!r} has no 'type' field", node=name, field="type")
    metadata = fields.pop("metadata", {}) or {}
    if kind == "NIRGraph":
        nodes_group = group.get("nodes")
        if not isinstance(nodes_group, h5py.Group):
            raise NIRError(f"{path}: graph node {name!r} has no 'nodes' group", node=name, field="nodes")
        nodes = {k: _node(v, f"{name}.{k}" if name else k, path) for k, v in nodes_group.items()}
        raw = np.asarray(fields.get("edges", np.zeros((0, 2))))
        if raw.size % 2 or (raw.ndim == 2 and raw.shape[1] != 2) or raw.ndim > 2:
            raise NIRError(
                f"{path}: graph {name or '<top>'!r}, field 'edges': expected (source, destination) pairs, "
                f"got an array of shape {raw.shape}",
                node=name or None,
                field="edges",
            )
        edges = [(str(a), str(b)) for a, b in raw.reshape(-1, 2)]
        graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=dict(metadata), type_check=False)
        graph.edges = repaired_edges(graph, name or "<top>")
        return graph
    if kind == "Input":
        key = "shape" if "shape" in fields else "input_type"
        return nir.Input(input_type={"input": _shape_field(fields, key, name, kind)})
    if kind == "Output":
        key = "shape" if "shape" in fields else "output_type"
        return nir.Output(output_type={"output": _shape_field(fields, key, name, kind)})
    cls = getattr(nir, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, nir.NIRNode) and dataclasses.is_dataclass(cls)):
        raise NIRError(f"node {name!r}: unknown NIR node type {kind!r}", node=name, field="type")
    if "input_type" in {f.name for f in dataclasses.fields(cls)}:  # Flatten, Identity: {"input": shape}
        it = fields.get("input_type")
        if isinstance(it, dict):
            it = next(iter(it.values()), None)
        fields["input_type"] = {"input": None if it is None else np.asarray(it)}
    _check_numeric(fields, name, kind)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name == "metadata" or not f.init:
            continue
        if f.name in fields:
            kwargs[f.name] = fields[f.name]
        elif f.name == "input_shape":
            kwargs[f.name] = None  # Conv: inferred from the predecessor
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise NIRError(
                f"node {name!r} ({kind}), field {f.name!r}: expected a value, got nothing (missing)",
                node=name,
                field=f.name,
            )
    try:
        return cls(**kwargs, metadata=dict(metadata))
    except Exception as err:  # nir's own __post_init__ checks
        raise NIRError(f"node {name!r} ({kind}): cannot be built from the file: {err}", node=name) from err


def _resolvable(graph: nir.NIRGraph, name: str) -> bool:
    if name in graph.nodes:
        return True
    head, dot, rest = name.partition(".")
    while dot:
        sub = graph.nodes.get(head)
        if isinstance(sub, nir.NIRGraph):
            return _resolvable(sub, rest)
        nxt, dot, rest = rest.partition(".")
        head = f"{head}.{nxt}"
    return False


def _same_stem(old: str, new: str) -> bool:
    """Whether ``new`` can be the node ``old`` meant: equal up to a trailing number (``lif``, ``lif1``)."""
    stem = lambda n: n.rstrip("0123456789").rstrip("_-.").lower()  # noqa: E731
    return bool(stem(old)) and stem(old) == stem(new)


def repaired_edges(graph: nir.NIRGraph, where: str) -> list[tuple[str, str]]:
    """Fix edges that name a missing node when exactly one unused node can be meant.

    Real files (the NIR paper's braille subgraphs) name a node ``lif`` that is
    stored as ``lif1``. When exactly one name is unknown, exactly one node is
    named by no edge, and the two names differ only by a trailing number, the
    edge is rewritten and a warning says so. Anything else (an edge into
    ``ghost`` while ``output`` is unused) is left for :func:`snnx.nir.from_nir`
    to refuse, naming the edge and the node. ``graph`` is not modified.
    """
    edges = [(str(a), str(b)) for a, b in graph.edges]
    names = {n for e in edges for n in e}
    unknown = sorted(n for n in names if not _resolvable(graph, n))
    if not unknown:
        return edges
    used = {n.split(".")[0] for n in names} | names
    unused = [n for n in graph.nodes if n not in used]
    if len(unknown) != 1 or len(unused) != 1 or not _same_stem(unknown[0], unused[0]):
        return edges  # no sensible candidate: from_nir refuses the edge, naming it
    old, new = unknown[0], unused[0]
    warnings.warn(
        f"NIR graph {where!r}: edges name a node {old!r} that does not exist; the only node no "
        f"edge names is {new!r}, reading those edges as {new!r}",
        stacklevel=3,
    )
    return [(new if a == old else a, new if b == old else b) for a, b in edges]


def read(path: str | os.PathLike) -> nir.NIRGraph:
    """Read a NIR file into a ``nir.NIRGraph`` (tolerantly, without nir's type check).

    Accepted deviations (see ``docs/nir.md``): batch axes in Input/Output shapes
    and 0-d parameters (resolved by :func:`from_nir`), a missing ``v_reset``
    (means 0), ``Conv.input_shape`` missing, subgraph edges naming a missing
    node when exactly one node can be meant (fixed with a warning).

    Args:
        path: file name.

    Returns:
        The graph, as ``nir`` objects.

    Raises:
        NIRError: the file is not HDF5, is truncated, or is not a NIR graph.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise NIRError(f"NIR file {path!r} does not exist")
    try:
        with h5py.File(path, "r") as f:
            group = f.get("node")
            if not isinstance(group, h5py.Group):
                raise NIRError(f"{path!r} is an HDF5 file but not a NIR graph (no 'node' group)")
            top = _value(group["type"], "", "type") if "type" in group else None
            if top != "NIRGraph":
                raise NIRError(f"{path!r}: the top node is a {top!r}, expected a 'NIRGraph'", field="type")
            graph = _node(group, "", path)
    except NIRError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as err:
        raise NIRError(f"cannot read NIR file {path!r} (not HDF5 or truncated): {err}") from err
    except Exception as err:  # anything else h5py/nir raise on a damaged file: never a raw traceback
        raise NIRError(f"cannot read NIR file {path!r} ({type(err).__name__}): {err}") from err
    if not isinstance(graph, nir.NIRGraph):
        raise NIRError(f"{path!r}: the top node is a {type(graph).__name__}, expected a NIRGraph")
    return graph


COMPAT = {
    "nir-1.0.4": "readers pinned to nir <= 1.0.4 (Sinabs 3.1): no v_reset field, no CubaLI node",
}
"""The ``compat=`` targets of :func:`write`, with the readers each one is for."""

# What nir 1.0.4's reader accepts: node types and the fields each type's constructor takes (nir 1.0.4
# builds every node with ``cls(**fields)``, nir/ir/node.py:36-40; Input/Output read a stored "shape").
# Recorded from its wheel by tests/data/nir-compat/make_nir104_fields.py; the compat tests check it.
_NIR_104 = {
    "Affine": {"bias", "input_type", "metadata", "output_type", "weight"},
    "AvgPool2d": {"kernel_size", "padding", "stride"},
    "Conv1d": {"bias", "dilation", "groups", "input_shape", "input_type", "metadata", "output_type",
               "padding", "stride", "weight"},
    "Conv2d": {"bias", "dilation", "groups", "input_shape", "padding", "stride", "weight"},
    "CubaLIF": {"input_type", "metadata", "output_type", "r", "tau_mem", "tau_syn", "v_leak", "v_threshold",
                "w_in"},
    "Delay": {"delay", "input_type", "metadata", "output_type"},
    "Flatten": {"end_dim", "input_type", "metadata", "output_type", "start_dim"},
    "I": {"input_type", "metadata", "output_type", "r"},
    "IF": {"input_type", "metadata", "output_type", "r", "v_threshold"},
    "Input": {"input_type", "shape"},
    "LI": {"input_type", "metadata", "output_type", "r", "tau", "v_leak"},
    "LIF": {"input_type", "metadata", "output_type", "r", "tau", "v_leak", "v_threshold"},
    "Linear": {"weight"},
    "NIRGraph": {"edges", "input_type", "metadata", "nodes", "output_type"},
    "Output": {"output_type", "shape"},
    "Scale": {"scale"},
    "SumPool2d": {"input_type", "kernel_size", "metadata", "output_type", "padding", "stride"},
    "Threshold": {"input_type", "metadata", "output_type", "threshold"},
}  # fmt: skip


def _check_compat(graph: nir.NIRNode, compat: str, prefix: str = "") -> None:
    """Refuse, before anything is written, what nir 1.0.4 cannot hold: a node type it lacks, v_reset != 0."""
    nodes = graph.nodes.items() if isinstance(graph, nir.NIRGraph) else ()
    for name, node in nodes:
        full, kind = prefix + name, type(node).__name__
        if isinstance(node, nir.NIRGraph):
            _check_compat(node, compat, full + ".")
        elif kind not in _NIR_104:
            raise NIRError(
                f"node {full!r} ({kind}): compat={compat!r} cannot hold it: nir 1.0.4 has no {kind} node "
                f"(it knows {sorted(_NIR_104)})",
                node=full,
                field="type",
            )
        elif getattr(node, "v_reset", None) is not None and np.any(np.asarray(node.v_reset, np.float64) != 0):
            raise NIRError(
                f"node {full!r} ({kind}), field 'v_reset': compat={compat!r} needs 0 (nir 1.0.4 has no "
                f"v_reset and its readers reset to 0), got {np.asarray(node.v_reset).ravel()[:4]}",
                node=full,
                field="v_reset",
            )


def _strip_for_104(group: h5py.Group, prefix: str = "") -> list[str]:
    """Delete what nir 1.0.4 does not take (a zero v_reset, metadata where its class has none); returns
    ``"node: field"`` for each non-empty metadata dropped. Any other unknown field is a NIRError."""
    dropped = []
    for name, item in group["nodes"].items():
        full = prefix + name
        kind = _value(item["type"], full, "type")
        for field in sorted(set(item) - {"type"} - _NIR_104[kind]):
            if field == "metadata" and len(item[field]):
                dropped.append(f"{full}: {sorted(item[field])}")
            elif field not in ("metadata", "v_reset"):
                raise NIRError(
                    f"node {full!r} ({kind}), field {field!r}: nir 1.0.4's {kind} has no such field "
                    f"(it takes {sorted(_NIR_104[kind])})",
                    node=full,
                    field=field,
                )
            del item[field]
        if kind == "NIRGraph":
            dropped += _strip_for_104(item, full + ".")
    return dropped


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write(path: str | os.PathLike, graph: nir.NIRGraph, *, compat: str | None = None) -> None:
    """Write ``graph`` (a ``nir.NIRGraph``, e.g. from :func:`snnx.nir.to_nir`) to ``path``.

    The file is written next to ``path`` and moved over it when complete, so a
    failed write never leaves a damaged file behind.

    Args:
        path: file name (``.nir``).
        graph: the graph.
        compat: ``None`` (default: the installed nir's format) or a reader to stay
            loadable by: ``"nir-1.0.4"`` (Sinabs 3.1, which pins ``nir<=1.0.4``)
            keeps only the fields nir 1.0.4's classes take: it omits ``v_reset``
            where it is 0 (nir 1.0.4's meaning) and the metadata of the node types
            that have none there (with a warning when some is dropped, such as
            the quantisation record of a Linear), and refuses a non-zero
            ``v_reset`` or a node type that nir 1.0.4 lacks (``CubaLI``).

    Raises:
        NIRError: the graph holds something the ``compat`` target cannot express
            (the message names the node and the field).

    Example:
        >>> write("model.nir", to_nir(model, (4,), dt=1e-3), compat="nir-1.0.4")
    """
    if not isinstance(graph, nir.NIRNode):
        raise TypeError(f"`graph` must be a nir.NIRGraph (or nir node), got {type(graph).__name__}")
    if compat is not None and compat not in COMPAT:
        raise ValueError(f"`compat` must be None or one of {list(COMPAT)}, got {compat!r}")
    if compat is not None:
        _check_compat(graph, compat)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path)) if path else ""
    if not path or os.path.isdir(path):
        raise ValueError(f"`path` must name a file, got {path!r}" + (" (a directory)" if path else ""))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {path!r}: the folder {folder!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".snnx-nir-", suffix=".nir", dir=folder)
    os.close(fd)
    try:
        nir.write(tmp, graph)
        if compat is not None:
            with h5py.File(tmp, "r+") as f:
                dropped = _strip_for_104(f["node"])
            if dropped:
                warnings.warn(
                    f"compat={compat!r}: nir 1.0.4 has no metadata on these node types, so it is left out "
                    f"of {path!r}: {'; '.join(dropped)} (snnx's own reader restores, e.g., quantisation "
                    f"from it)",
                    stacklevel=2,
                )
        os.chmod(tmp, os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
