"""Run by ``test_sharding.py`` in a subprocess with 4 simulated CPU devices; prints one JSON line.

``XLA_FLAGS=--xla_force_host_platform_device_count=4`` must be set before JAX is
imported, which is why these checks live in their own process.
"""

from __future__ import annotations

import json
import os
import re

import jax
import numpy as np
import optax
from flax import nnx
from jax.sharding import PartitionSpec as P

from snnx import losses
from snnx.engine import Sequential
from snnx.neurons import LI, LIF
from snnx.train import _steps, default_forward, fit
from snnx.train._sharding import Placement, make_mesh

T, D, H, C, B = 8, 6, 16, 3, 8


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.random((T, n, D)) < 0.3).astype(np.float32)
    return x, rng.integers(0, C, n).astype(np.int32)


def model():
    rngs = nnx.Rngs(0)
    return Sequential(nnx.Linear(D, H, rngs=rngs), LIF(H), nnx.Linear(H, C, rngs=rngs), LI(C))


def params(m):
    return [np.asarray(p) for p in jax.tree.leaves(nnx.state(m, nnx.Param))]


def max_diff(a, b):
    return max(float(np.max(np.abs(u - v))) for u, v in zip(params(a), params(b), strict=True))


def train(mesh=None, batch_size=B, **kw):
    """Three steps of ``batch_size`` (one epoch of ``3 * B`` samples when ``batch_size == B``)."""
    m = model()
    history = fit(
        m, optax.adam(1e-2), losses.max_membrane_cross_entropy, data(3 * B),
        epochs=1, batch_size=batch_size, progress=False, mesh=mesh, **kw,
    )  # fmt: skip
    return m, history


def main():
    out = {"device_count": jax.device_count()}
    seen = []

    def spy(m, x):  # records the sharding of the batch inside the jitted step
        jax.debug.inspect_array_sharding(
            x, callback=lambda s: seen.append((str(s.spec), s.shard_shape(x.shape)))
        )
        return default_forward(m, x)

    # 10 eval samples in batches of 8: the remainder of 2 does not split over 4 devices
    evald = data(10, seed=1)
    one, h1 = train(eval_data=evald)
    four, h4 = train("auto", forward=spy, eval_data=evald)
    out["param_diff_4"] = max_diff(one, four)
    out["loss_diff_4"] = abs(h1[0]["loss"] - h4[0]["loss"])
    out["eval_loss_diff"] = abs(h1[0]["eval_loss"] - h4[0]["eval_loss"])
    kernel = four.layers[0].kernel[...]
    out["param_replicated"] = (
        bool(kernel.sharding.is_fully_replicated) and len(kernel.sharding.device_set) == 4
    )
    out["batch_spec"], shard_shape = seen[0]  # the training step compiles first
    out["batch_shard_shape"] = list(shard_shape)
    out["global_batch_shape"] = [T, B, D]

    # compiled=True: whole epochs in one program, the batch sharded inside it, same parameters
    seen.clear()
    compiled_four, hc = train("auto", forward=spy, eval_data=evald, compiled=True)
    out["compiled_param_diff_4"] = max_diff(one, compiled_four)
    out["compiled_eval_loss_diff"] = abs(h1[0]["eval_loss"] - hc[0]["eval_loss"])
    out["compiled_batch_spec"], compiled_shard = seen[0]
    out["compiled_batch_shard_shape"] = list(compiled_shard)

    # the default forward runs per device (shard_map): the model sees its local (T, B / 4, D) block;
    # the mesh comes from jax.make_mesh with its default Explicit axes (fit makes them Auto)
    shapes = []

    def recording_run(m, x, **kw):
        shapes.append(list(x.shape))
        return real_run(m, x, **kw)

    real_run, _steps.run = _steps.run, recording_run
    try:
        default_four, _ = train(jax.make_mesh((4,), ("data",)))
    finally:
        _steps.run = real_run
    out["param_diff_default_4"] = max_diff(one, default_four)
    out["local_batch_shape"] = shapes[0]

    # ... and the compiled gradient step keeps the batch split: one all-reduce, no all-gather
    m = model()
    placement = Placement(make_mesh(4))
    placement.state(m)
    forward = placement.per_device(default_forward, m)
    x, y = placement.batch(data(B))

    def loss(m, x, y):
        return losses.max_membrane_cross_entropy(forward(m, x), y)

    hlo = nnx.jit(nnx.grad(loss)).lower(m, x, y).compile().as_text()
    out["hlo_all_gather"] = len(re.findall(r" all-gather(-start)?\(", hlo))
    out["hlo_all_reduce"] = len(re.findall(r" all-reduce(-start)?\(", hlo))

    # a loss that sees the recorded hidden spikes (fit(record=...)), per device under shard_map
    def reg_loss(outputs, targets, activity):
        return losses.max_membrane_cross_entropy(outputs, targets) + losses.sparsity_penalty(activity, 0.05)

    def train_reg(mesh):
        m = model()
        h = fit(m, optax.adam(1e-2), reg_loss, data(3 * B), epochs=1, batch_size=B, progress=False, mesh=mesh,
                record="spikes", eval_data=data(10, seed=1))  # fmt: skip
        return m, h

    reg_one, rh1 = train_reg(None)
    reg_four, rh4 = train_reg("auto")
    out["record_param_diff_4"] = max_diff(reg_one, reg_four)
    out["record_rate_diff_4"] = abs(rh1[0]["rate/1"] - rh4[0]["rate/1"])
    out["record_eval_rate_diff_4"] = abs(rh1[0]["eval_rate/1"] - rh4[0]["eval_rate/1"])
    out["record_rate_4"] = rh4[0]["rate/1"]

    try:
        train("auto", batch_size=6)
    except ValueError as err:
        out["indivisible_error"] = str(err)

    try:
        fit(model(), optax.adam(1e-2), losses.max_membrane_cross_entropy, lambda epoch: [data(6)],
            epochs=1, progress=False, mesh="auto")  # fmt: skip
    except ValueError as err:
        out["indivisible_callable_error"] = str(err)

    # explicit 2 x 2 mesh ("data", "model") with the first kernel split over "model"
    two_by_two, _ = train(make_mesh(4, model=2), param_sharding={r"layers/0/kernel$": P(None, "model")})
    out["param_diff_2x2"] = max_diff(one, two_by_two)
    out["kernel_spec_2x2"] = str(two_by_two.layers[0].kernel[...].sharding.spec)

    # `snnx train --devices 4` (tiny configuration)
    import argparse
    import tempfile

    from snnx.cli import _train

    parser = argparse.ArgumentParser(prog="snnx")
    _train.add_parser(parser.add_subparsers())
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["train", "--epochs", "1", "--hidden", "16", "--time-steps", "5", "--batch-size", "128"]
        args = parser.parse_args([*argv, "--devices", "4", "--out", tmp, "--name", "dp"])
        out["cli_status"] = args.func(args)
        with open(os.path.join(tmp, "dp", "metrics.json")) as f:
            out["cli_config_devices"] = json.load(f)["config"]["devices"]
        args = parser.parse_args([*argv[:-1], "126", "--devices", "auto", "--out", tmp, "--name", "bad"])
        out["cli_bad_batch_status"] = args.func(args)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
