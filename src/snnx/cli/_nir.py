"""``snnx nir``: inspect and simulate NIR files.

``snnx nir info FILE`` prints one row per node (name, type, input and output
shapes, key parameters), then the edges; ``--plot graph.png`` also draws the
graph with :func:`snnx.plot.graph` (an existing file is replaced only with
``--overwrite``). ``snnx nir run FILE --dt DT --input
x.npy`` imports the graph with :func:`snnx.nir.from_nir`, runs it on the
time-major input ``(T, B, *shape)`` (NIR layout, channels-first) and prints a
summary; ``--out y.npz`` saves every output and, for spiking outputs, the spike
count per sample and unit; ``--dialect spyx`` (or snntorch, norse, rockpool, sinabs)
runs the file as that framework does. ``snnx nir convert IN OUT --from spyx --dt DT``
rewrites a file written for a framework into NIR with the same behaviour
(:func:`snnx.nir.convert`), or refuses with the reason. Errors print one line (``snnx nir run: error: ...``)
and exit with status 2. Warnings (e.g. a repaired edge name) print one line each
on stderr (``snnx nir info: warning: ...``); library deprecation notices are dropped.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import warnings

import numpy as np

PROG = "snnx nir"


class UsageError(Exception):
    """A bad argument or file (reported as one line, exit status 2)."""


def _one_line_error(prog: str):
    """argparse's ``error`` for the parser ``prog`` (``snnx nir run``): one line, exit status 2."""

    def error(message: str):
        print(f"{prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    return error


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "nir",
        help="inspect (info) or simulate (run) a NIR file",
        description="Inspect or simulate a NIR graph file (docs/nir.md has the conventions).",
    )
    sub = p.add_subparsers(dest="nir_command", metavar="{info,run,convert}")
    info = sub.add_parser("info", help="list the nodes (type, shapes, parameters) and edges of a NIR file")
    info.add_argument("file", help="NIR file (.nir, HDF5)")
    info.add_argument("--plot", metavar="PATH", help="also draw the graph into this image (.png, .pdf, .svg)")
    info.add_argument("--overwrite", action="store_true", help="replace the file already at --plot PATH")
    info.set_defaults(func=_guard(_info))
    run = sub.add_parser(
        "run",
        help="simulate a NIR file on a time-major input",
        description="Import FILE with snnx.nir.from_nir at step DT and run it on INPUT, an .npy array "
        "(T, B, *shape) in NIR layout (channels-first), or an .npz with one array per Input node.",
    )
    run.add_argument("file", help="NIR file (.nir, HDF5)")
    run.add_argument(
        "--dt",
        default=None,
        help="seconds per step (NIR files do not store it; only --dialect sinabs, "
        "rockpool and snntorch, which count in steps, run without it)",
    )
    run.add_argument("--input", required=True, help=".npy (T, B, *shape) or .npz keyed by Input node names")
    run.add_argument("--out", default=None, help="write outputs and spike counts to this .npz")
    run.add_argument("--reset", default=None, choices=("zero", "subtract"), help="override every reset")
    run.add_argument(
        "--dialect",
        default=None,
        metavar="NAME",
        help="run the file as that framework runs it: spyx, snntorch, norse, rockpool or sinabs "
        "(default: NIR's equations, with a warning for a known deviant export)",
    )
    run.set_defaults(func=_guard(_run))
    convert = sub.add_parser(
        "convert",
        help="rewrite a file written for another framework into NIR with the same behaviour",
        description="Rewrite IN, a NIR file as FRAMEWORK runs it, into OUT, a NIR file that any faithful NIR "
        "reader runs the same way at step DT (snnx.nir.convert); refuses, with the reason, what NIR cannot "
        "express (e.g. several spikes per step).",
    )
    convert.add_argument("file", help="the file to convert (.nir)")
    convert.add_argument("out", help="the NIR file to write")
    convert.add_argument("--from", dest="dialect", required=True, metavar="FRAMEWORK",
                         help="spyx, snntorch, norse, rockpool or sinabs")  # fmt: skip
    convert.add_argument("--dt", required=True, help="seconds per step the new file is meant for")
    convert.add_argument("--compat", default=None, help="write for an older reader: nir-1.0.4 (Sinabs 3.1)")
    convert.add_argument("--overwrite", action="store_true", help="replace the file already at OUT")
    convert.set_defaults(func=_guard(_convert))
    for parser in (p, info, run, convert):
        parser.error = _one_line_error(parser.prog)  # argparse's own errors as one line too
    p.set_defaults(func=_missing_subcommand)
    return p


def _missing_subcommand(args) -> int:
    print(f"{PROG}: error: choose a subcommand: info, run or convert (see snnx nir --help)", file=sys.stderr)
    return 2


def _guard(command):
    """Errors as one line (exit status 2); Python warnings as one line each, once, on stderr."""

    def wrapped(args) -> int:
        from snnx.nir import NIRError

        prog = f"{PROG} {args.nir_command}"
        shown = set()

        def show(message, category, filename, lineno, file=None, line=None):
            text = " ".join(str(message).split())
            if text not in shown:
                shown.add(text)
                print(f"{prog}: warning: {text}", file=sys.stderr)

        with warnings.catch_warnings():
            warnings.simplefilter("always")
            for noise in (DeprecationWarning, PendingDeprecationWarning):  # libraries' upkeep, not the file's
                warnings.simplefilter("ignore", noise)
            warnings.showwarning = show
            try:
                return command(args)
            except (UsageError, NIRError, ValueError, TypeError, OSError) as err:
                message = " ".join(str(err).split())  # one line
                print(f"{prog}: error: {message}", file=sys.stderr)
                return 2

    return wrapped


# --------------------------------------------------------------------------- info


def _fmt_shape(shape) -> str:
    if shape is None:
        return "?"
    return (
        "("
        + ", ".join(str(int(d)) for d in np.ravel(np.asarray(shape)))
        + ("," if np.size(shape) == 1 else "")
        + ")"
    )


def _fmt_value(value) -> str:
    arr = np.asarray(value)
    if arr.dtype.kind in "SUO":
        return str(arr.item() if arr.size == 1 else arr.tolist())
    if arr.size == 0:
        return "[]"
    flat = arr.astype(np.float64).ravel()
    if np.all(flat == flat[0]):
        return f"{flat[0]:.4g}"
    if arr.dtype.kind in "iu" and arr.size <= 4:  # per-axis stride, padding, ...
        return "(" + ", ".join(str(int(v)) for v in flat) + ")"
    return f"{flat.min():.4g}..{flat.max():.4g}"


def _describe(node) -> str:
    kind = type(node).__name__
    parts = []
    if hasattr(node, "weight"):
        parts.append(f"weight {_fmt_shape(np.shape(node.weight))}")
        if getattr(node, "bias", None) is not None and kind == "Affine":
            parts.append(f"bias {_fmt_shape(np.shape(node.bias))}")
    from snnx.nir._import_table import TABLE

    entry = TABLE.get(kind)
    for field in () if entry is None else (*entry.fields(), *entry.shows):
        value = getattr(node, field, None)
        if value is not None:
            parts.append(f"{field}={_fmt_value(value)}")
    meta = getattr(node, "metadata", None) or {}
    if meta.get("reset") is not None:
        parts.append(f"reset={_fmt_value(meta['reset'])}")
    quant = meta.get("quant")
    if isinstance(quant, dict) and "qtype" in quant:  # snnx.quant: weights on an integer grid
        scales = np.size(quant.get("scale", ()))
        parts.append(f"quant={_fmt_value(quant['qtype'])} ({scales} scale{'s' if scales != 1 else ''})")
    grid = meta.get("state_quant")
    if isinstance(grid, dict) and "bits" in grid:  # fixed-point membranes
        parts.append(f"state_quant={int(np.asarray(grid['bits']))} bits")
    return " ".join(parts)


def natural_key(name: str) -> list:
    """Sort key comparing digit runs as numbers: ``2`` before ``10``, ``lif2`` before ``lif10``."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part]


def _order_key(graph, name: str):
    """Input nodes first, Output nodes last, the rest in natural order of their names."""
    import nir

    node = graph.nodes.get(name.split(".")[0])
    rank = -1 if isinstance(node, nir.Input) else 1 if isinstance(node, nir.Output) else 0
    return rank, natural_key(name)


def _rows(graph, prefix: str, depth: int):
    import nir

    for name in sorted(graph.nodes, key=lambda n: _order_key(graph, n)):
        node = graph.nodes[name]
        yield prefix + name, depth, node
        if isinstance(node, nir.NIRGraph):
            yield from _rows(node, f"{prefix}{name}.", depth + 1)


def _edges(graph, prefix: str):
    import nir

    edges = sorted(graph.edges, key=lambda e: (_order_key(graph, e[0]), _order_key(graph, e[1])))
    for src, dst in edges:
        yield f"{prefix}{src}", f"{prefix}{dst}"
    for name in sorted(graph.nodes, key=lambda n: _order_key(graph, n)):
        if isinstance(graph.nodes[name], nir.NIRGraph):
            yield from _edges(graph.nodes[name], f"{prefix}{name}.")


def _declared(node, key: str):
    types = getattr(node, key, None)
    if not isinstance(types, dict) or not types:
        return None
    return next(iter(types.values()))


def _check_plot_path(path: str | None, overwrite: bool) -> None:
    """Before reading anything: refuse a --plot PATH that cannot or should not be written."""
    if path is None:
        if overwrite:
            raise UsageError("--overwrite replaces the file at --plot PATH: give --plot too")
        return
    import matplotlib

    matplotlib.use("Agg")  # no window: the figure only goes to a file
    from matplotlib.figure import Figure

    if os.path.isdir(path):
        example = os.path.join(path, "graph.png")
        raise UsageError(f"--plot {path} is a folder; give a file name such as {example}")
    suffix = os.path.splitext(path)[1].lower().lstrip(".")
    formats = sorted(Figure().canvas.get_supported_filetypes())
    if suffix not in formats:
        known = ", ".join("." + f for f in formats)
        raise UsageError(f"--plot must end in an image format matplotlib writes ({known}), got {path!r}")
    if os.path.exists(path) and not overwrite:
        raise UsageError(f"--plot {path} already exists; replace it with --overwrite, or choose another path")
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        what = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise UsageError(f"--plot {path}: {folder} {what}")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"--plot {path}: the folder {folder} is not writable")


def _write_plot(graph, path: str) -> str:
    """Draw ``graph`` into ``path``; returns what to print."""
    import matplotlib.pyplot as plt

    from snnx.plot import graph as draw

    replaced = os.path.exists(path)
    fig, ax = draw(graph)
    try:
        fig.savefig(path, dpi=150)
    except OSError as err:
        raise UsageError(f"--plot {path}: cannot write the figure: {err.strerror or err}") from None
    finally:
        plt.close(fig)
    back = sum(1 for p in ax.patches if p.get_gid() == "back edge")
    note = f", {back} back edge{'s' if back != 1 else ''} dashed" if back else ""
    if replaced:
        note += "; replaced the previous file"
    return f"wrote {path} (graph of {len(graph.nodes)} nodes{note})"


def _info(args) -> int:
    import nir

    from snnx.nir import NIRError, _topology, read

    _check_plot_path(args.plot, args.overwrite)
    graph = read(args.file)
    in_shapes, out_shapes, note = {}, {}, None
    try:
        in_shapes, out_shapes, _ = _topology.analyse(_topology.flatten(graph))
    except NIRError as err:
        note = f"shapes could not be inferred: {' '.join(str(err).split())}"
    rows = []
    for name, depth, node in _rows(graph, "", 0):
        kind = type(node).__name__
        if isinstance(node, nir.NIRGraph):
            ins = [
                _fmt_shape(_declared(n, "input_type"))
                for n in node.nodes.values()
                if isinstance(n, nir.Input)
            ]
            outs = [
                _fmt_shape(_declared(n, "output_type"))
                for n in node.nodes.values()
                if isinstance(n, nir.Output)
            ]
            shape_in, shape_out = " ".join(ins) or "?", " ".join(outs) or "?"
            desc = f"subgraph of {len(node.nodes)} nodes"
        else:
            shape_in = in_shapes.get(
                name, _declared(node, "input_type") if not isinstance(node, nir.Input) else None
            )
            shape_out = out_shapes.get(name, _declared(node, "output_type"))
            shape_in = "-" if isinstance(node, nir.Input) else _fmt_shape(shape_in)
            shape_out = "-" if isinstance(node, nir.Output) else _fmt_shape(shape_out)
            desc = _describe(node)
        rows.append(("  " * depth + name, kind, shape_in, shape_out, desc))
    header = ("node", "type", "input", "output", "parameters")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    meta = dict(getattr(graph, "metadata", None) or {})
    print(f"{args.file}: {len(rows)} nodes" + (f", metadata {_fmt_meta(meta)}" if meta else ""))
    for row in [header, *rows]:
        line = "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
        print(line.rstrip())
    edges = list(_edges(graph, ""))
    print(f"edges ({len(edges)}):")
    for src, dst in edges:
        print(f"  {src} -> {dst}")
    if note:
        print(f"note: {note}")
    if args.plot is not None:
        print(_write_plot(graph, args.plot))
    return 0


def _fmt_meta(meta: dict) -> str:
    return ", ".join(f"{k}={_fmt_value(v)}" for k, v in sorted(meta.items()))


# --------------------------------------------------------------------------- run


def _dt(text: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UsageError(f"--dt must be a number of seconds, got {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise UsageError(f"--dt must be a positive finite number of seconds, got {text}")
    return value


def _load_input(path: str, names: list[str]):
    if not os.path.isfile(path):
        raise UsageError(f"--input file {path!r} does not exist")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise UsageError(f"--input {path!r} is not a .npy/.npz array file: {err}") from None
    if isinstance(data, np.ndarray):
        if len(names) != 1:
            raise UsageError(f"the graph has inputs {names}: give --input as an .npz with those keys")
        return {names[0]: data}
    with data:
        if len(names) == 1 and len(data.files) == 1:
            return {names[0]: data[data.files[0]]}
        if set(data.files) != set(names):
            raise UsageError(f"--input {path!r} must hold the arrays {names}, got {sorted(data.files)}")
        return {n: data[n] for n in names}


def _run(args) -> int:
    import jax.numpy as jnp
    import nir

    from snnx import run
    from snnx.nir import _topology, from_nir, read

    if args.dt is None and args.dialect is None:
        raise UsageError(
            "--dt is required (seconds per step), unless a --dialect that counts in steps is given"
        )
    dt = None if args.dt is None else _dt(args.dt)
    graph = read(args.file)
    names = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    xs = _load_input(args.input, names)
    for name, x in xs.items():
        if x.ndim < 3:
            raise UsageError(f"input {name!r} must have shape (T, B, *shape), got {x.shape}")
        if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
            raise UsageError(f"input {name!r} must be real numbers, got dtype {x.dtype}")
    _, shapes, _ = _topology.analyse(_topology.flatten(graph))
    for name, x in xs.items():
        want = tuple(shapes[name])
        if tuple(x.shape[2:]) != want:
            dims = ", ".join(map(str, want))
            raise UsageError(f"input {name!r} must have shape (T, B, {dims}) (NIR layout), got {x.shape}")
    uses_dt = True
    if args.dialect is not None:
        from snnx.nir._dialects import get

        # a --dt the dialect does not use is passed on all the same: from_nir warns that it is not used
        uses_dt = get(_known_dialect(args.dialect, "--dialect")).uses_dt
    model = from_nir(graph, dt, reset=args.reset, dialect=args.dialect)
    x = xs[names[0]] if len(names) == 1 else xs
    x = (
        {k: jnp.asarray(v, jnp.float32) for k, v in x.items()}
        if isinstance(x, dict)
        else jnp.asarray(x, jnp.float32)
    )
    ys, _ = run(model, x)
    outs = (
        {k: np.asarray(v) for k, v in ys.items()}
        if isinstance(ys, dict)
        else {_output_name(graph): np.asarray(ys)}
    )
    steps, batch = next(iter(xs.values())).shape[:2]
    when = f"at dt = {dt:g} s" if uses_dt else "in the framework's own steps"
    how = f" as {args.dialect} runs it" if args.dialect else ""
    print(f"{args.file}: {steps} steps x {batch} samples {when}{how}")
    saved = {}
    for name, y in outs.items():
        saved[name] = y
        if y.size and np.all(y >= 0) and np.all(y == np.round(y)):  # spikes (several per step: counts)
            counts = y.sum(axis=0)
            saved[f"{name}_spike_count"] = counts
            rate = float(y.mean()) if y.size else 0.0
            per_sample = counts.reshape(batch, -1).sum(axis=1).astype(int).tolist()
            print(
                f"  output {name!r}: shape {y.shape}, spikes {int(counts.sum())} "
                f"({rate:.4f} per unit per step), per sample {per_sample}"
            )
        else:
            print(
                f"  output {name!r}: shape {y.shape}, values in [{y.min():.4g}, {y.max():.4g}] (not spikes)"
            )
    if args.out:
        np.savez(args.out, **saved)
        print(f"wrote {args.out} ({', '.join(sorted(saved))})")
    return 0


def _known_dialect(name: str, option: str, *, converting: bool = False) -> str:
    from snnx.nir import dialects

    known = [d for d in dialects() if not (converting and d == "nir")]
    if name.lower() not in known:
        raise UsageError(f"{option} must be one of {', '.join(known)}, got {name!r}")
    return name.lower()


def _convert(args) -> int:
    from snnx.nir import convert, write
    from snnx.nir._io import COMPAT

    dialect = _known_dialect(args.dialect, "--from", converting=True)
    if args.compat is not None and args.compat not in COMPAT:
        raise UsageError(f"--compat must be one of {', '.join(COMPAT)}, got {args.compat!r}")
    dt = _dt(args.dt)
    if os.path.abspath(args.out) == os.path.abspath(args.file):
        raise UsageError("OUT is the input file: write the converted graph to another path")
    if os.path.exists(args.out) and not args.overwrite:
        raise UsageError(f"{args.out} already exists; replace it with --overwrite, or choose another path")
    graph = convert(args.file, dialect, dt)
    write(args.out, graph, compat=args.compat)
    kinds = sorted({type(n).__name__ for n in graph.nodes.values()})
    framework = graph.metadata["converted_from"]
    print(f"wrote {args.out}: {args.file} as {framework} runs it, in NIR at dt = {dt:g} s "
          f"({len(graph.nodes)} nodes: {', '.join(kinds)})")  # fmt: skip
    return 0


def _output_name(graph) -> str:
    import nir

    names = [k for k, n in graph.nodes.items() if isinstance(n, nir.Output)]
    return names[0] if names else "output"
