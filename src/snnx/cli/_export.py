"""``snnx export``: write a trained run or a NIR file as ONNX, StableHLO or NIR.

``snnx export onnx|stablehlo|nir SOURCE --out PATH`` loads the model (:func:`load_source`) and
writes it with :func:`snnx.export.to_onnx`, :func:`snnx.export.to_stablehlo` or
:func:`snnx.nir.to_nir`. ``SOURCE`` is a run folder of ``snnx train`` (``config.json`` and
``checkpoint/``: the model is rebuilt from the saved options and its latest checkpoint restored, as
``snnx train --resume`` does) or a NIR file (imported at ``--dt`` seconds per step, as ``snnx nir
run`` does). ``--mode step`` exports one time step instead of the whole loop; ``--time-steps`` and
``--batch`` fix those sizes (symbolic otherwise). An existing ``--out`` is replaced only with
``--overwrite``. Errors print one line (``snnx export: error: ...``) and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

import numpy as np

from snnx.cli import _runs

PROG = "snnx export"
TARGETS = ("onnx", "stablehlo", "nir")
MODES = ("sequence", "step")
#: Steps and samples of the example input when ``--time-steps``/``--batch`` leave them symbolic
#: (``to_onnx`` runs the model once at these sizes to check it).
EXAMPLE_STEPS = 4


class UsageError(Exception):
    """A bad argument or source (reported as one line, exit status 2)."""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "export",
        help="export a trained run or a NIR file to ONNX, StableHLO or NIR",
        description="Write the model of SOURCE (a run folder of snnx train, or a NIR file) as ONNX "
        "(onnxruntime), serialised StableHLO (jax.export) or NIR. docs/export.md shows how to run the "
        "result.",
    )
    p.add_argument("target", choices=TARGETS, help="onnx, stablehlo or nir")
    p.add_argument(
        "source", metavar="SOURCE", help="run folder of snnx train (config.json + checkpoint/) or a NIR file"
    )
    p.add_argument("--out", required=True, help="the file to write")
    p.add_argument(
        "--mode",
        choices=MODES,
        default=None,
        help="sequence: the whole time loop, x (T, B, ...) -> y (T, B, ...); step: one time step with "
        "the state as named inputs and outputs (default: sequence; onnx and stablehlo only)",
    )
    p.add_argument("--time-steps", default=None, metavar="T", help="fix the number of steps (default: any)")
    p.add_argument("--batch", default=None, metavar="B", help="fix the batch size (default: any)")
    p.add_argument(
        "--dt",
        default=None,
        help="seconds per step: needed for a NIR SOURCE; the step written into a nir target "
        "(default for a run folder: the 1e-3 of snnx train's model.nir)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace the file already at --out")

    def one_line_error(message: str):
        print(f"{PROG}: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    p.error = one_line_error  # argparse's own errors (unknown options, bad choices) as one line too
    p.set_defaults(func=command)
    return p


def _positive_int(name: str, text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"--{name} must be a positive integer, got {text!r}") from None
    if value < 1:
        raise UsageError(f"--{name} must be a positive integer, got {value}")
    return value


def _dt(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--dt must be a number of seconds, got {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise UsageError(f"--dt must be a positive finite number of seconds, got {text}")
    return value


def load_source(source: str, dt: float | None):
    """The model of ``source`` and its per-sample input shape: ``(model, input_shape)``.

    ``source``: a run folder of ``snnx train`` (``dt`` is not used) or a NIR file (imported at
    ``dt`` seconds per step; ``input_shape`` in NIR layout, channels-first, or a dict
    ``{input name: shape}`` for several inputs). Raises :class:`UsageError` for a source that is
    neither, or a NIR file without ``dt``.
    """
    if os.path.isdir(source):
        return _load_run(source)
    if os.path.isfile(source):
        return _load_nir(source, dt)
    raise UsageError(f"SOURCE {source!r} does not exist (give a run folder of snnx train or a NIR file)")


def _load_run(folder: str):
    from snnx.cli import _train
    from snnx.train import restore

    config = os.path.join(folder, _runs.CONFIG)
    ckpt = os.path.join(folder, "checkpoint")
    if not os.path.isfile(config):
        raise UsageError(
            f"SOURCE {folder} is a folder without {_runs.CONFIG}: not a run folder of snnx train"
        )
    if not _runs.has_checkpoint(ckpt):
        raise UsageError(f"SOURCE {folder} holds no complete checkpoint in {ckpt}")
    try:
        with open(config) as f:
            cfg = json.load(f)
        if "sample_shape" in cfg:  # written by snnx train since its recipes (any --model)
            shape, hidden, n_out = tuple(cfg["sample_shape"]), cfg.get("hidden"), cfg["num_classes"]
        else:  # an older run: the digits MLP, sized from its two Linear kernels
            n_in, hidden, n_out = _saved_sizes(ckpt)
            shape = (n_in,)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, StopIteration) as err:
        raise UsageError(f"SOURCE {folder}: cannot read the run ({type(err).__name__}: {err})") from None
    if cfg.get("hidden") != hidden:
        raise UsageError(
            f"SOURCE {folder}: config.json says --hidden {cfg.get('hidden')}, the checkpoint holds {hidden}"
        )
    # snnx train --quant: the checkpoint holds the trained model (float, or latent QAT weights); the
    # run delivers its quantised form, as model.nir does
    try:
        model = _train.trainable_model(cfg, _train.build_model(cfg, shape, n_out))
        restore(ckpt, model)
        return _train.deployable_model(cfg, model), shape
    except _train.UsageError as err:
        raise UsageError(f"SOURCE {folder}: {err}") from None


def _saved_sizes(ckpt: str) -> tuple[int, int, int]:
    """``(inputs, hidden, classes)``: the kernel shapes of the checkpoint's two ``Linear`` layers."""
    import jax
    import orbax.checkpoint as ocp

    epoch = max(int(n) for n in os.listdir(ckpt) if n.isdigit())
    absl = logging.getLogger("absl")  # orbax notes that snnx's per-item folders have no step metadata
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        metadata = ocp.StandardCheckpointer().metadata(os.path.join(ckpt, str(epoch), "model"))
    finally:
        absl.setLevel(level)
    layers = metadata.item_metadata.tree["layers"]

    def matrix(i: str):  # the layer's kernel, wherever a quantised variable keeps it
        return next(a for a in jax.tree.leaves(layers[i]) if len(getattr(a, "shape", ())) == 2)

    first, last = matrix("0"), matrix("2")
    return int(first.shape[0]), int(first.shape[1]), int(last.shape[1])


def _load_nir(path: str, dt: float | None):
    import nir

    from snnx.nir import _topology, from_nir, read

    if dt is None:
        raise UsageError(f"SOURCE {path} is a NIR file: give --dt, the seconds per step to import it at")
    graph = read(path)
    names = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    _, shapes, _ = _topology.analyse(_topology.flatten(graph))
    input_shape = {n: tuple(int(d) for d in shapes[n]) for n in names}
    model = from_nir(graph, dt)
    return model, next(iter(input_shape.values())) if len(names) == 1 else input_shape


def _example(input_shape, steps: int, batch: int):
    import jax
    import jax.numpy as jnp

    def one(shape):
        return jax.ShapeDtypeStruct((steps, batch, *shape), jnp.float32)

    return {k: one(s) for k, s in input_shape.items()} if isinstance(input_shape, dict) else one(input_shape)


def _describe(input_shape) -> str:
    if isinstance(input_shape, dict):
        return ", ".join(f"{k} {tuple(s)}" for k, s in input_shape.items())
    return str(tuple(input_shape))


def _run(args) -> str:
    dt = _dt(args.dt)
    steps, batch = _positive_int("time-steps", args.time_steps), _positive_int("batch", args.batch)
    if args.target == "nir" and (args.mode is not None or steps is not None or batch is not None):
        raise UsageError("--mode, --time-steps and --batch apply to onnx and stablehlo, not to nir")
    if os.path.isdir(args.out):
        raise UsageError(f"--out {args.out} is a folder; give a file name")
    if os.path.exists(args.out) and not args.overwrite:
        raise UsageError(
            f"--out {args.out} already exists; replace it with --overwrite, or choose another path"
        )
    folder = os.path.dirname(args.out) or "."
    if not os.path.isdir(folder):
        raise UsageError(f"--out {args.out}: the folder {folder} does not exist")
    is_run = os.path.isdir(args.source)
    if is_run and dt is not None and args.target != "nir":
        raise UsageError(
            "--dt is read for a NIR SOURCE or the nir target; a run folder's model has its decays"
        )
    model, input_shape = load_source(args.source, dt)
    if args.target == "nir":
        from snnx.cli._train import NIR_DT, nir_input_shape
        from snnx.nir import to_nir, write

        if isinstance(input_shape, dict):
            raise UsageError("the nir target takes a model with one input")
        step = dt if dt is not None else NIR_DT
        if is_run:  # a run's event frames (H, W, C): NIR's (C, H, W)
            input_shape = nir_input_shape(input_shape)
        write(args.out, to_nir(model, input_shape, step))
        return f"wrote {args.out} (NIR at dt = {step:g} s, input {_describe(input_shape)})"
    from snnx import export

    mode = args.mode or "sequence"
    dynamic = tuple(n for n, v in (("T", steps), ("B", batch)) if v is None)
    example = _example(input_shape, steps or EXAMPLE_STEPS, batch or 1)
    if args.target == "onnx":
        export.to_onnx(model, example, mode=mode, path=args.out, dynamic=dynamic)
    else:
        export.to_stablehlo(model, example, mode=mode, path=args.out, dynamic=dynamic)
    state = list(export.initial_state(model, 1))
    shown = (("B", batch),) if mode == "step" else (("T", steps), ("B", batch))
    sizes = ", ".join(f"{n}={'any' if v is None else v}" for n, v in shown)
    return (
        f"wrote {args.out} ({args.target}, {mode} mode, input {_describe(input_shape)} per sample, {sizes}; "
        f"state: {', '.join(state) or 'none'})"
    )


def command(args: argparse.Namespace) -> int:
    from snnx.nir import NIRError

    try:
        print(_run(args))
    except (UsageError, NIRError, ValueError, TypeError, OSError, ImportError) as err:
        message = " ".join(str(err).split())  # one line
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    return 0
