"""Accuracy and size of the default digits model under quantisation (the table in docs/quantisation.md).

For each seed: train the model of ``snnx train`` (its defaults, its data) in float32, then

* post-training quantisation (``snnx.quant.ptq``): int8, int4 (absmax, mse and
  GPTQ calibration, per channel), int4 per tensor (Spyx 1.0's qwix default);
* quantisation-aware fine-tuning (``snnx.quant.qat``) for ``--qat-epochs``
  epochs at int4 and ternary, frozen with ``snnx.quant.convert``, beside a
  float32 control fine-tuned for the same epochs;
* 8-bit fixed-point membranes (``state_quant``) on the float32 and int8 models.

Test accuracy is over the 360 held-out digits; size is
``snnx.quant.size_bytes`` (quantised weights packed at their bit width plus
their scales; everything else float32).

    python benchmarks/quantisation.py --seeds 0 1 2 --json build/quantisation.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

CALIBRATION_SAMPLES = 256


def _config(seed: int, out: str, epochs: int | None) -> dict:
    from snnx.cli import build_parser
    from snnx.cli._train import parse_config

    argv = ["train", "--seed", str(seed), "--out", out, "--name", f"seed{seed}"]
    if epochs is not None:
        argv += ["--epochs", str(epochs)]
    return parse_config(build_parser().parse_args(argv))


def _train_float(cfg: dict):
    """The float32 model ``snnx train`` makes for ``cfg`` (its run folder under cfg["out"])."""
    from snnx.cli._train import build_model, train
    from snnx.train import restore

    summary = train(cfg)
    model = build_model(cfg, 64, 10)
    restore(os.path.join(cfg["out"], cfg["name"], "checkpoint"), model)
    return model, summary["test_accuracy"]


def _evaluator(cfg: dict):
    from snnx import datasets, losses, metrics
    from snnx.train import evaluate

    (train, test) = datasets.digits(cfg["encoding"], cfg["time_steps"], seed=cfg["seed"])

    def accuracy(model) -> float:
        got = evaluate(
            model,
            losses.max_membrane_cross_entropy,
            test,
            batch_size=test[0].shape[1],
            metrics={"accuracy": metrics.max_membrane_accuracy},
        )
        return float(got["accuracy"])

    return accuracy, train[0][:, :CALIBRATION_SAMPLES]


def _fine_tune(model, cfg: dict, epochs: int, lr: float):
    """``epochs`` more epochs of the ``snnx train`` loop (fresh rate code per epoch) at peak rate ``lr``."""
    import optax

    from snnx import datasets
    from snnx.cli._train import _fresh_rate_code, make_loss
    from snnx.train import fit

    (images, labels), _ = datasets.digits_images()
    steps = epochs * (len(labels) // cfg["batch_size"])
    loss, _ = make_loss(cfg)
    fit(
        model,
        optax.adamw(optax.cosine_decay_schedule(lr, steps)),
        loss,
        _fresh_rate_code(images, labels, {**cfg, "seed": cfg["seed"] + 1000}),
        epochs=epochs,
        batch_size=cfg["batch_size"],
        steps_per_epoch=len(labels) // cfg["batch_size"],
        seed=cfg["seed"] + 1000,
        progress=False,
    )
    return model


def _with_membranes(model, bits: int):
    """A copy whose spiking and readout neurons keep fixed-point membranes of ``bits`` bits."""
    from snnx import quant

    # threshold 1: [-2, 2] holds the hidden membranes; the readout's peak decides the class
    return quant.quantize_membranes(model, quant.FixedPoint(bits, -2.0, 2.0))


def run_seed(seed: int, args) -> dict:
    from flax import nnx

    from snnx import quant

    with tempfile.TemporaryDirectory() as out:
        cfg = _config(seed, out, args.epochs)
        t0 = time.perf_counter()
        model, _ = _train_float(cfg)
        train_s = time.perf_counter() - t0
    accuracy, calib = _evaluator(cfg)
    rows = {}

    def add(name, m, note=""):
        rows[name] = {"accuracy": accuracy(m), "bytes": quant.size_bytes(m), "note": note}
        got = rows[name]
        print(f"  seed {seed}  {name:<34} {got['accuracy']:.4f}  {got['bytes']:>7} B", flush=True)

    add("float32", model)
    add("int8 PTQ", quant.ptq(model, "int8"))
    add("int4 PTQ per-tensor absmax", quant.ptq(model, quant.Rule("int4", per_channel=False)))
    add("int4 PTQ absmax", quant.ptq(model, "int4"))
    add("int4 PTQ mse", quant.ptq(model, quant.Rule("int4", calibration="mse")))
    add("int4 PTQ gptq", quant.ptq(model, quant.Rule("int4", calibration="gptq"), data=calib))
    add("ternary PTQ", quant.ptq(model, "ternary"))
    if not args.no_membranes:
        add("float32 + 8-bit membranes", _with_membranes(model, 8))
        add("int8 PTQ + 8-bit membranes", _with_membranes(quant.ptq(model, "int8"), 8))
    if args.qat_epochs:
        control = _fine_tune(nnx.clone(model), cfg, args.qat_epochs, args.qat_lr)
        add(f"float32 + {args.qat_epochs} epochs (control)", control)
        for qtype in ("int4", "ternary"):
            m = _fine_tune(quant.qat(model, qtype), cfg, args.qat_epochs, args.qat_lr)
            add(f"{qtype} QAT ({args.qat_epochs} epochs)", quant.convert(m))
    return {"seed": seed, "train_s": train_s, "rows": rows}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=None, help="float training epochs (default: snnx train's)")
    p.add_argument("--qat-epochs", type=int, default=10, help="fine-tuning epochs for QAT (0: skip)")
    p.add_argument("--qat-lr", type=float, default=5e-4, help="peak learning rate of the fine-tuning")
    p.add_argument("--no-membranes", action="store_true", help="skip the fixed-point membrane rows")
    p.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args(argv)
    results = [run_seed(s, args) for s in args.seeds]
    names = list(results[0]["rows"])
    base = [r["rows"]["float32"]["accuracy"] for r in results]
    print(f"\n{'variant':<36} {'accuracy mean [min-max]':>24} {'vs float32, worst seed':>24} {'bytes':>8}")
    table = []
    for name in names:
        acc = [r["rows"][name]["accuracy"] for r in results]
        worst = min(a - b for a, b in zip(acc, base, strict=True))
        size = results[0]["rows"][name]["bytes"]
        table.append({"variant": name, "accuracy": acc, "worst_delta": worst, "bytes": size})
        print(
            f"{name:<36} {100 * statistics.mean(acc):>8.2f} % [{100 * min(acc):.2f}-{100 * max(acc):.2f}]"
            f" {100 * worst:>+20.2f} pt {size:>8}"
        )
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as f:
            meta = {"python": platform.python_version(), "machine": platform.machine(), "argv": sys.argv}
            json.dump({"meta": meta, "seeds": results, "table": table}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
