"""``snnx train``: train a small spiking network and write a run folder.

``runs/<name>/`` receives ``config.json`` (the options), ``checkpoint/``
(orbax), ``model.nir``, ``metrics.json``, ``curves.png`` and ``raster.png``. A
folder that already holds a run is refused unless ``--resume`` (same options,
bar those in ``_runs.SAFE_TO_CHANGE``) or ``--overwrite`` (see
:mod:`snnx.cli._runs`). Argument errors print one line (``snnx train: error:
...``) and exit with status 2; SIGINT/SIGTERM writes a checkpoint, prints where,
and exits with 128 + the signal number (``--resume`` continues); Ctrl-C before
training starts prints one line and exits with 130; a NaN/Inf loss exits with
status 1, keeping the last good checkpoint.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time

import numpy as np

from snnx.cli import _plots, _recipes, _runs
from snnx.cli._train_data import EVAL_BATCH, TONIC_DATASETS, UsageError
from snnx.cli._train_data import load as _load

DATASETS = ("digits", "shd", "ssc", "nmnist", "dvs_gesture")
#: Other spellings ``--dataset`` accepts.
ALIASES = {"dvsgesture": "dvs_gesture", "dvs-gesture": "dvs_gesture", "n-mnist": "nmnist"}
ACTIVITY_SAMPLES = 256  # held-out samples behind rates.png and metrics.json's hidden_rates
NEURONS = {"lif": "LIF", "if": "IF", "cubalif": "CuBaLIF", "alif": "ALIF"}
#: The recurrent form of each hidden neuron (``--model recurrent``, the SHD/SSC recipes).
RECURRENT = {"lif": "RLIF", "if": "RIF", "cubalif": "RCuBaLIF", "alif": "RALIF"}
ENCODINGS = ("rate", "latency")
#: Epochs between checkpoints (and after the last one); an orbax save costs ~0.2 s here.
CHECKPOINT_EVERY = 10
# Weight of the --reg-* penalties: each is a mean over neurons of a squared rate gap (at most 1), so
# a gap of 0.1 spikes per step in every neuron adds 100 * 0.1**2 = 1 to the loss, against 2.3 for the
# cross-entropy of a uniform guess over 10 classes (docs/activity.md has the measured effect).
REG_WEIGHT = 100.0
#: The time step written into ``model.nir`` (neurons know only per-step decays).
NIR_DT = 1e-3


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train",
        help="train a spiking network (default: 8x8 digits) and write runs/<name>/",
        description="Train a small spiking network and write the checkpoint, model.nir, metrics.json, "
        "curves.png, raster.png, layers.png (every spiking layer's raster) and rates.png (firing-rate "
        "histograms) to <out>/<name>/.",
    )
    p.add_argument(
        "--dataset",
        default="digits",
        help=f"one of {', '.join(DATASETS)} (default: digits); each has a recipe, the defaults of the "
        "options below (docs/datasets.md)",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="shd, ssc: folder with <dataset>_train.h5 and _test.h5 (snnx.datasets.fetch downloads them); "
        "nmnist, dvs_gesture: tonic's download folder (needs pip install 'snnx[data]')",
    )
    p.add_argument("--model", default=None, help=f"{', '.join(_recipes.MODELS)} (default: the recipe's)")
    p.add_argument("--epochs", default=None, help="training epochs (default: the recipe's; digits: 50)")
    p.add_argument("--batch-size", default=None, help="samples per step (default: the recipe's; digits: 32)")
    p.add_argument(
        "--lr", default=None, help="peak Adam learning rate, cosine-decayed to 0 (default: the recipe's)"
    )
    p.add_argument("--neuron", default="lif", help=f"hidden neuron: {', '.join(NEURONS)} (default: lif)")
    p.add_argument(
        "--hidden",
        default=None,
        help="hidden neurons; --model conv: channels of the second convolution (default: the recipe's; "
        "digits: 256)",
    )
    p.add_argument(
        "--time-steps", default=None, help="time steps per sample (default: the recipe's; digits: 25)"
    )
    p.add_argument(
        "--stream",
        action="store_true",
        help="stream the training split through grain workers every epoch instead of reading it into "
        "memory once (the default for splits over 2 GiB bit-packed)",
    )
    p.add_argument(
        "--cache",
        default=None,
        metavar="DIR",
        help="with a streamed training split: bin it once into a bit-packed file in DIR and stream that "
        "(snnx.datasets.PackedCache; later epochs and runs skip the decoding)",
    )
    p.add_argument(
        "--workers",
        default=None,
        help="processes that read and bin the data files (default: half the CPUs, 1 to 4)",
    )
    p.add_argument("--encoding", default="rate", help="digits spike code: rate or latency (default: rate)")
    p.add_argument("--label-smoothing", default="0.15", help="label smoothing of the loss (default: 0.15)")
    p.add_argument("--weight-decay", default="0", help="AdamW decoupled weight decay (default: 0)")
    p.add_argument(
        "--reg-silence",
        default=None,
        metavar="MIN_RATE",
        help="penalise hidden neurons firing below MIN_RATE spikes per step (snnx.losses.silence_penalty)",
    )
    p.add_argument(
        "--reg-sparsity",
        default=None,
        metavar="MAX_RATE",
        help="penalise hidden neurons firing above MAX_RATE spikes per step (snnx.losses.sparsity_penalty)",
    )
    p.add_argument(
        "--reg-weight",
        default=str(REG_WEIGHT),
        help=f"weight of the activity penalties in the loss (default: {REG_WEIGHT:g})",
    )
    p.add_argument("--seed", default="0", help="seed of initialisation, encoding and shuffling (default: 0)")
    p.add_argument("--out", default="runs", help="parent folder of the run folder (default: runs)")
    p.add_argument("--name", default=None, help="run folder name (default: the dataset name)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run folder's run (only --epochs, --data-dir, --devices may change)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace the run already in the run folder")
    p.add_argument(
        "--devices",
        default=None,
        help="data-parallel training over N devices or 'auto' (every device; several hosts after "
        "jax.distributed.initialize); --batch-size must divide evenly (default: one device)",
    )

    p.add_argument(
        "--compiled",
        action="store_true",
        help="run whole epochs inside one jax.jit (fit(compiled=True)); the data stay on the device "
        "(digits' rate code is then drawn once, not every epoch)",
    )
    p.add_argument(
        "--tbptt",
        default=None,
        metavar="K",
        help="truncated backpropagation through time: one update per window of K steps",
    )

    p.add_argument(
        "--quant",
        default=None,
        metavar="QTYPE",
        help="quantise the weights (snnx.quant): int8, int4, ternary, fp8, ... (default: float32); "
        "after training (post-training, 'mse' calibration) unless --quant-aware",
    )
    p.add_argument(
        "--quant-aware",
        action="store_true",
        help="with --quant: train through the quantised weights from the start (quantisation-aware "
        "training, straight-through gradient), then freeze them",
    )

    def one_line_error(message: str):
        print(f"snnx train: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    p.error = one_line_error  # argparse's own errors (unknown options) as one line too
    p.set_defaults(func=command)
    return p


def _int(name: str, text: str, minimum: int) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise UsageError(f"--{name} must be an integer, got {text!r}") from None
    if value < minimum:
        raise UsageError(f"--{name} must be >= {minimum}, got {value}")
    return value


def _positive_float(name: str, text: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UsageError(f"--{name} must be a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise UsageError(f"--{name} must be a positive finite number, got {text}")
    return value


def _fraction(name: str, text: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UsageError(f"--{name} must be a number, got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise UsageError(f"--{name} must be in [0, 1), got {text}")
    return value


def _rate(name: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UsageError(f"--{name} must be a rate in [0, 1] (spikes per step), got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise UsageError(f"--{name} must be a rate in [0, 1] (spikes per step), got {text}")
    return value


def _devices(text: str | None) -> int | str | None:
    """``--devices``: ``None`` (one device, no mesh), ``"auto"`` or a count ``N >= 1``."""
    if text is None or text == "auto":
        return text
    return _int("devices", text, 1)


def _workers(text: str | None) -> int:
    if text is None:  # half the cores, the others for the training step (benchmarks/README.md)
        return max(1, min(4, (os.cpu_count() or 1) // 2))
    return _int("workers", text, 0)


def parse_config(args: argparse.Namespace) -> dict:
    """Validate the parsed arguments into a plain config dict (``UsageError`` on bad input)."""
    dataset = ALIASES.get(args.dataset, args.dataset)
    if dataset not in DATASETS:
        raise UsageError(f"--dataset must be one of {', '.join(DATASETS)}, got {args.dataset!r}")
    defaults = _recipes.recipe(dataset)
    model = args.model if getattr(args, "model", None) is not None else defaults["model"]
    if model not in _recipes.MODELS:
        raise UsageError(f"--model must be one of {', '.join(_recipes.MODELS)}, got {model!r}")

    def given(name: str) -> str:
        value = getattr(args, name, None)
        return str(defaults[name]) if value is None else value

    if args.neuron not in NEURONS:
        raise UsageError(f"--neuron must be one of {', '.join(NEURONS)}, got {args.neuron!r}")
    if args.encoding not in ENCODINGS:
        raise UsageError(f"--encoding must be one of {', '.join(ENCODINGS)}, got {args.encoding!r}")
    if dataset in TONIC_DATASETS and not args.data_dir:
        raise UsageError(f"--dataset {dataset} needs --data-dir, the folder tonic downloads it into")
    if dataset != "digits" and not args.data_dir:
        raise UsageError(
            f"--dataset {dataset} needs --data-dir with {dataset}_train.h5/_test.h5 "
            f"(python -c \"import snnx; print(snnx.datasets.fetch('{dataset}'))\" downloads them)"
        )
    if getattr(args, "stream", False) and getattr(args, "compiled", False):
        raise UsageError("--compiled keeps the training set on the device: it cannot take --stream")
    if args.resume and getattr(args, "overwrite", False):
        raise UsageError("--resume continues the run and --overwrite replaces it: give one of them")
    quant = getattr(args, "quant", None)
    if quant is not None:
        from snnx.quant._rules import QTYPES  # no qwix needed to check the name

        if quant not in QTYPES:
            raise UsageError(f"--quant must be one of {', '.join(QTYPES)}, got {quant!r}")
    if getattr(args, "quant_aware", False) and quant is None:
        raise UsageError("--quant-aware trains through quantised weights: give their type with --quant")
    name = args.name or dataset
    if not name or os.sep in name or name in (".", ".."):
        raise UsageError(f"--name must be a plain folder name, got {name!r}")
    return {
        "dataset": dataset,
        "data_dir": args.data_dir,
        "model": model,
        "epochs": _int("epochs", given("epochs"), 1),
        "batch_size": _int("batch-size", given("batch_size"), 1),
        "lr": _positive_float("lr", given("lr")),
        "neuron": args.neuron,
        "hidden": _int("hidden", given("hidden"), 1),
        "time_steps": _int("time-steps", given("time_steps"), 1),
        "stream": bool(getattr(args, "stream", False)),
        "workers": _workers(getattr(args, "workers", None)),
        "cache": getattr(args, "cache", None),
        "encoding": args.encoding,
        "seed": _int("seed", args.seed, 0),
        "label_smoothing": _fraction("label-smoothing", args.label_smoothing),
        "weight_decay": _fraction("weight-decay", args.weight_decay),
        "reg_silence": _rate("reg-silence", getattr(args, "reg_silence", None)),
        "reg_sparsity": _rate("reg-sparsity", getattr(args, "reg_sparsity", None)),
        "reg_weight": _positive_float("reg-weight", getattr(args, "reg_weight", str(REG_WEIGHT))),
        "out": args.out,
        "name": name,
        "resume": bool(args.resume),
        "overwrite": bool(getattr(args, "overwrite", False)),
        "devices": _devices(getattr(args, "devices", None)),
        "compiled": bool(getattr(args, "compiled", False)),
        "tbptt": None if getattr(args, "tbptt", None) is None else _int("tbptt", args.tbptt, 1),
        "quant": quant,
        "quant_aware": bool(getattr(args, "quant_aware", False)),
    }


def build_model(cfg: dict, sample_shape, num_classes: int):
    """The recipe's network (``cfg["model"]``, default ``mlp``) for inputs of ``sample_shape``.

    ``mlp``: ``Linear(in -> H) -> neuron(H) -> Linear(H -> C) -> LI(C)``;
    ``recurrent``: the same with the neuron's recurrent form (``RLIF`` for
    ``lif``); ``conv``: see :mod:`snnx.cli._recipes`. Only the ``Linear``/``Conv``
    layers (and recurrent weights) learn; the neurons keep their default
    parameters (``trainable=False``). A learnt scalar ``beta`` of the hidden LIF
    climbs to its clip at 1 on digits, and ``model.nir`` would then hold an
    ``IF`` node instead of the ``LIF`` the README names.
    """
    from snnx import neurons

    shape = (int(sample_shape),) if np.ndim(sample_shape) == 0 else tuple(int(n) for n in sample_shape)
    names = {key: (NEURONS[key], RECURRENT[key]) for key in NEURONS}
    missing = [n for n in (*names[cfg["neuron"]], "LI") if getattr(neurons, n, None) is None]
    if missing:
        raise UsageError(
            f"--neuron {cfg['neuron']}: snnx.neurons.{missing[0]} is not available in this install"
        )
    try:
        return _recipes.build({"model": "mlp", **cfg}, shape, num_classes, names)
    except ValueError as err:
        raise UsageError(str(err)) from None


def _quant():
    try:
        from snnx import quant
    except ImportError as err:
        raise UsageError(f"--quant needs the quant extra: {err}") from None
    return quant


def trainable_model(cfg: dict, model):
    """The model ``fit`` trains: with ``--quant --quant-aware``, one read through quantised weights."""
    if cfg.get("quant") and cfg.get("quant_aware"):
        return _quant().qat(model, cfg["quant"])
    return model


def deployable_model(cfg: dict, model):
    """The model a run delivers (NIR file, exports): the trained one, quantised as ``--quant`` says."""
    if not cfg.get("quant"):
        return model
    quant = _quant()
    if cfg.get("quant_aware"):
        return quant.convert(model)
    return quant.ptq(model, quant.Rule(cfg["quant"], calibration="mse"))


def nir_input_shape(sample_shape) -> tuple[int, ...]:
    """A run's per-sample input shape as NIR writes it: event frames ``(H, W, C)`` become ``(C, H, W)``."""
    shape = tuple(sample_shape)
    return (shape[2], shape[0], shape[1]) if len(shape) == 3 else shape


def _write_nir(model, sample_shape, path: str) -> str | None:
    """Export to NIR; returns an explanation when the exporter is not available."""
    try:
        from snnx.nir import to_nir, write
    except ImportError as err:
        return f"snnx.nir.to_nir/write not available ({err})"
    try:
        graph = to_nir(model, nir_input_shape(sample_shape), NIR_DT)
    except (ValueError, TypeError, NotImplementedError) as err:  # e.g. a neuron without a NIR form
        return f"not exportable: {err}"
    write(path, graph)
    return None


def _mesh(cfg: dict):
    """The data-parallel mesh for ``--devices`` (``None`` without it); checks ``--batch-size``."""
    if cfg.get("devices") is None:
        return None
    import jax

    from snnx.train._sharding import make_mesh

    available = jax.device_count()
    count = available if cfg["devices"] == "auto" else cfg["devices"]
    if count > available:
        raise UsageError(f"--devices ({count}) must not exceed the {available} devices JAX sees")
    per_process = max(1, count // jax.process_count())
    if cfg["batch_size"] % per_process:
        raise UsageError(
            f"--batch-size ({cfg['batch_size']}) must be divisible by the {per_process} devices per process "
            f"(--devices {cfg['devices']})"
        )
    try:
        return make_mesh(count)
    except ValueError as err:  # e.g. N below the device count with several processes
        raise UsageError(f"--devices {cfg['devices']}: {err}") from None


def make_loss(cfg: dict):
    """The training loss: cross-entropy of the readout's peak membrane, plus the activity penalties
    on the hidden spikes (``loss(outputs, y, activity)``) when ``--reg-*`` asks for them."""
    from snnx import losses

    ce = functools.partial(losses.max_membrane_cross_entropy, label_smoothing=cfg["label_smoothing"])
    silence, sparsity = cfg.get("reg_silence"), cfg.get("reg_sparsity")
    if silence is None and sparsity is None:
        return ce, None
    weight = cfg.get("reg_weight", REG_WEIGHT)

    def loss(outputs, targets, activity):
        reg = 0.0
        if silence is not None:
            reg = reg + losses.silence_penalty(activity, silence)
        if sparsity is not None:
            reg = reg + losses.sparsity_penalty(activity, sparsity)
        return ce(outputs, targets) + weight * reg

    return loss, "spikes"


def train(cfg: dict) -> dict:
    """Run the whole job for a validated config; returns the summary written to metrics.json."""
    import optax

    from snnx import metrics
    from snnx.train import fit

    start = time.perf_counter()
    run_dir = os.path.join(cfg["out"], cfg["name"])
    ckpt_dir = os.path.join(run_dir, "checkpoint")
    previous = []
    if cfg["resume"]:
        note = _runs.check_resume(run_dir, ckpt_dir, cfg)
        if note:
            print(note, file=sys.stderr)
    else:
        previous = _runs.check_fresh(run_dir, cfg.get("overwrite", False))
    train_data, train_size, sample_shape, (x_test, y_test), num_classes = _load(cfg)
    if cfg["batch_size"] > train_size:
        raise UsageError(
            f"--batch-size ({cfg['batch_size']}) must not exceed the training set size ({train_size})"
        )
    sample_shape = (int(sample_shape),) if np.ndim(sample_shape) == 0 else tuple(map(int, sample_shape))
    cfg = {**cfg, "sample_shape": list(sample_shape), "num_classes": num_classes}  # for snnx export
    mesh = _mesh(cfg)
    model = trainable_model(cfg, build_model(cfg, sample_shape, num_classes))
    if previous:  # only with --overwrite (check_fresh refuses otherwise)
        _runs.replace(run_dir, previous)
        print(
            f"snnx train: --overwrite: replaced the previous run in {run_dir} ({', '.join(previous)})",
            file=sys.stderr,
        )
    os.makedirs(run_dir, exist_ok=True)
    config_path = _runs.write_config(run_dir, cfg)
    packed = cfg["dataset"] != "digits"  # files are read bit-packed along time
    loss, record = make_loss(cfg)
    history = fit(
        model,
        optax.adamw(
            optax.cosine_decay_schedule(cfg["lr"], cfg["epochs"] * (train_size // cfg["batch_size"])),
            weight_decay=cfg["weight_decay"],
        ),
        loss,
        train_data,
        epochs=cfg["epochs"],
        batch_size=cfg["batch_size"],
        eval_data=(x_test, y_test),
        eval_batch_size=min(x_test.shape[1], EVAL_BATCH),
        metrics={"accuracy": metrics.max_membrane_accuracy},
        checkpoint_dir=ckpt_dir,
        checkpoint_every=CHECKPOINT_EVERY,
        resume=cfg["resume"],
        seed=cfg["seed"],
        mesh=mesh,
        num_steps=cfg["time_steps"] if packed else None,
        steps_per_epoch=train_size // cfg["batch_size"]
        if cfg["dataset"] == "digits" and callable(train_data)
        else None,
        record=record,
        compiled=cfg.get("compiled", False),
        tbptt=cfg.get("tbptt"),
    )
    paths = {"config": config_path, "checkpoint": ckpt_dir}
    trained, model = model, deployable_model(cfg, model)
    quant_summary = None
    if cfg.get("quant"):
        from snnx import losses as _losses
        from snnx import metrics as _metrics
        from snnx.train import evaluate

        quant = _quant()
        got = evaluate(
            model,
            _losses.max_membrane_cross_entropy,
            (x_test, y_test),
            batch_size=min(x_test.shape[1], EVAL_BATCH),
            metrics={"accuracy": _metrics.max_membrane_accuracy},
            num_steps=cfg["time_steps"] if packed else None,
        )
        quant_summary = {
            "qtype": cfg["quant"],
            "quant_aware": cfg["quant_aware"],
            "test_accuracy": float(got["accuracy"]),
            "trained_test_accuracy": history[-1]["eval_accuracy"],
            "size_bytes": quant.size_bytes(model),
            "float32_size_bytes": quant.size_bytes(quant.dequantize(trained)),
        }
    nir_path = os.path.join(run_dir, "model.nir")
    nir_note = _write_nir(model, sample_shape, nir_path)
    if nir_note is None:
        paths["nir"] = nir_path
    paths["curves"] = os.path.join(run_dir, "curves.png")
    _plots.plot_curves(history, paths["curves"])
    paths["raster"] = os.path.join(run_dir, "raster.png")
    sample = np.unpackbits(x_test[:, 0], axis=0, count=cfg["time_steps"]) if packed else x_test[:, 0]
    predicted = _plots.plot_raster(model, sample, int(y_test[0]), paths["raster"])
    paths["layers"] = os.path.join(run_dir, "layers.png")
    paths["rates"] = os.path.join(run_dir, "rates.png")
    batch = x_test[:, :ACTIVITY_SAMPLES]
    if packed:
        batch = np.unpackbits(batch, axis=0, count=cfg["time_steps"])
    rates = _plots.plot_activity(model, batch, paths["layers"], paths["rates"])
    paths["metrics"] = os.path.join(run_dir, "metrics.json")
    summary = {
        "config": {k: v for k, v in cfg.items() if k not in ("resume", "overwrite")},
        "test_accuracy": history[-1]["eval_accuracy"]
        if quant_summary is None
        else quant_summary["test_accuracy"],
        "test_loss": history[-1]["eval_loss"],
        "quant": quant_summary,
        "train_samples": int(train_size),
        "test_samples": int(x_test.shape[1]),
        "raster_sample": {"label": int(y_test[0]), "predicted": predicted},
        "hidden_rates": rates,
        "nir": nir_path if nir_note is None else f"not written: {nir_note}",
        "wall_time_s": time.perf_counter() - start,
        "history": history,
        "paths": paths,
    }
    with open(paths["metrics"], "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def command(args: argparse.Namespace) -> int:
    from snnx.datasets import DataError
    from snnx.train import TrainingDivergedError, TrainingInterrupted

    try:
        cfg = parse_config(args)
        summary = train(cfg)
    except (UsageError, _runs.RunFolderError) as err:
        print(f"snnx train: error: {err}", file=sys.stderr)
        return 2
    except TrainingInterrupted as err:  # SIGINT/SIGTERM: fit wrote a checkpoint first
        print(f"snnx train: {err}", file=sys.stderr)
        return 128 + int(err.signum)
    except KeyboardInterrupt as err:  # Ctrl-C before fit took over (imports, data loading), or twice
        why = f"({err})" if str(err) else "before training started"
        print(f"snnx train: interrupted {why}", file=sys.stderr)
        return 130
    except DataError as err:  # a streamed sample that cannot be read: the message names the file
        print(f"snnx train: error: --dataset {args.dataset}: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except TrainingDivergedError as err:  # NaN/Inf loss: the last good checkpoint is kept
        print(f"snnx train: error: {err}; rerun with --resume after fixing it", file=sys.stderr)
        return 1
    print(f"test accuracy: {summary['test_accuracy']:.4f} ({summary['test_samples']} held-out samples)")
    q = summary.get("quant")
    if q:
        how = "quantisation-aware training" if q["quant_aware"] else "post-training quantisation"
        print(
            f"{q['qtype']} weights ({how}): {q['size_bytes']} bytes of parameters against "
            f"{q['float32_size_bytes']} in float32; the trained model scored {q['trained_test_accuracy']:.4f}"
        )
    if not summary["nir"].endswith("model.nir"):
        print(f"model.nir {summary['nir']}")
    for what, path in summary["paths"].items():
        print(f"{what:>10}: {path}")
    return 0
