"""Data-parallel ``fit(..., mesh=...)`` on 4 simulated CPU devices (``sharding_worker.py``).

JAX reads ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` once, at import,
so the 4-device checks run in one subprocess that prints a JSON report; the
argument checks run here, on this process's single device.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import optax
import pytest
from flax import nnx
from jax.sharding import Mesh, PartitionSpec

from snnx import losses
from snnx.engine import Sequential
from snnx.neurons import LI, LIF
from snnx.train import fit
from snnx.train._sharding import Placement, as_mesh, make_mesh

WORKER = Path(__file__).with_name("sharding_worker.py")


def _four_device_report() -> dict:
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4".strip()
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}  # keeps the suite's flags (conftest)
    done = subprocess.run(
        [sys.executable, str(WORKER)], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def report(once_per_run) -> dict:
    return once_per_run("sharding_report", _four_device_report)  # one subprocess even when xdist splits us


@pytest.mark.slow  # the 4-device subprocess (module fixture `report`)
def test_four_devices_are_simulated(report):
    assert report["device_count"] == 4


@pytest.mark.slow  # the 4-device subprocess (module fixture `report`)
def test_three_steps_on_four_devices_equal_one_device(report):
    assert report["param_diff_4"] <= 1e-5
    assert report["loss_diff_4"] <= 1e-5


@pytest.mark.slow  # the 4-device subprocess (module fixture `report`)
def test_compiled_fit_on_four_devices_equals_one_device_python_loop(report):
    assert report["compiled_param_diff_4"] <= 1e-5
    assert report["compiled_eval_loss_diff"] <= 1e-5
    assert report["compiled_batch_spec"] == "P(None, 'data')"
    assert report["compiled_batch_shard_shape"] == [8, 2, 6]  # (T, B / 4, D) per device


@pytest.mark.slow  # the 4-device subprocess (module fixture `report`)
def test_loss_on_recorded_activity_trains_the_same_on_four_devices(report):
    assert report["record_param_diff_4"] <= 1e-5
    assert report["record_rate_diff_4"] <= 1e-6 and report["record_eval_rate_diff_4"] <= 1e-6
    assert 0.0 < report["record_rate_4"] < 1.0  # the hidden layer fires: the rates are not vacuous


@pytest.mark.slow  # the 4-device subprocess (module fixture `report`)
def test_parameters_stay_replicated_on_every_device(report):
    assert report["param_replicated"]


@pytest.mark.slow  # the 4-device subprocess (module fixture `report`)
def test_batch_is_split_along_batch_axis_inside_the_step(report):
    # time-major (T, B, D): axis 1 is sharded, each device holds B / 4 samples of every step
    # (seen by a custom forward, which XLA partitions as it is)
    assert report["batch_spec"] == "P(None, 'data')"
    t, b, d = report["global_batch_shape"]
    assert report["batch_shard_shape"] == [t, b // 4, d]


@pytest.mark.slow  # the 4-device subprocess (module fixture `report`)
def test_indivisible_batch_size_is_a_clear_error(report):
    assert "`batch_size` (6) must be divisible by the 4 data-parallel devices" in report["indivisible_error"]
    assert "does not split over the 4 data-parallel devices" in report["indivisible_callable_error"]


@pytest.mark.slow  # the 4-device subprocess (module fixture `report`)
def test_param_sharding_rule_on_a_data_model_mesh(report):
    assert report["kernel_spec_2x2"] == "P(None, 'model')"
    assert report["param_diff_2x2"] <= 1e-5


@pytest.mark.slow  # the 4-device subprocess (module fixture `report`)
def test_default_forward_runs_per_device_on_its_quarter(report):
    # run() inside the step sees the local block (T, B / 4, D); an Explicit-axis mesh works as well
    t, b, d = report["global_batch_shape"]
    assert report["local_batch_shape"] == [t, b // 4, d]
    assert report["param_diff_default_4"] <= 1e-5


@pytest.mark.slow  # the 4-device subprocess (module fixture `report`)
def test_compiled_step_reduces_gradients_without_gathering_the_batch(report):
    assert report["hlo_all_gather"] == 0
    assert report["hlo_all_reduce"] >= 1


@pytest.mark.slow  # the 4-device subprocess (module fixture `report`)
def test_eval_remainder_batch_gives_the_same_loss(report):
    # 10 eval samples in batches of 8: the last 2 do not split over 4 devices and run replicated
    assert report["eval_loss_diff"] <= 1e-6


@pytest.mark.slow  # the 4-device subprocess (module fixture `report`)
def test_cli_devices_trains_on_four(report):
    assert report["cli_status"] == 0
    assert report["cli_config_devices"] == 4
    assert report["cli_bad_batch_status"] == 2


# --- argument checks (one device) ---


def _tiny():
    rngs = nnx.Rngs(0)
    return Sequential(nnx.Linear(4, 8, rngs=rngs), LIF(8), nnx.Linear(8, 2, rngs=rngs), LI(2))


def _fit(**kw):
    x = np.zeros((5, 8, 4), np.float32)
    y = np.zeros(8, np.int32)
    return fit(_tiny(), optax.adam(1e-3), losses.max_membrane_cross_entropy, (x, y),
               epochs=1, batch_size=4, progress=False, **kw)  # fmt: skip


@pytest.mark.parametrize(
    ("mesh", "error", "match"),
    [
        ("all", ValueError, r"`mesh` must be None, 'auto', a device count or a jax.sharding.Mesh, got 'all'"),
        (2.5, TypeError, r"`mesh` must be None, 'auto', a device count .* got float"),
        (0, ValueError, r"`mesh` as a device count must be in \[1, 1\].* got 0"),
        (2, ValueError, r"`mesh` as a device count must be in \[1, 1\].* got 2"),
    ],
)
def test_bad_mesh(mesh, error, match):
    with pytest.raises(error, match=match):
        _fit(mesh=mesh)


def test_mesh_without_data_axis():
    mesh = Mesh(np.array(jax.devices()[:1]), ("batch",))
    with pytest.raises(ValueError, match=r"`mesh` must have an axis named 'data'.*got axes \('batch',\)"):
        _fit(mesh=mesh)


def test_param_sharding_needs_a_mesh():
    with pytest.raises(ValueError, match=r"`param_sharding` needs a `mesh`"):
        _fit(param_sharding={"kernel": PartitionSpec(None, "data")})


def test_bad_param_sharding_rules():
    with pytest.raises(TypeError, match=r"`param_sharding\['kernel'\]` must be a jax.sharding.PartitionSpec"):
        _fit(mesh=1, param_sharding={"kernel": ("data",)})
    with pytest.raises(ValueError, match=r"has more axes than its shape"):
        Placement(make_mesh(1), {"layers/1/beta": PartitionSpec(None, None, "data")}).state(_tiny())


def test_one_device_mesh_trains_like_no_mesh():
    a, b = _tiny(), _tiny()
    x = (np.random.default_rng(0).random((5, 8, 4)) < 0.5).astype(np.float32)
    y = np.arange(8, dtype=np.int32) % 2
    for m, mesh in ((a, None), (b, "auto")):
        fit(m, optax.adam(1e-2), losses.max_membrane_cross_entropy, (x, y),
            epochs=2, batch_size=4, progress=False, mesh=mesh)  # fmt: skip
    for u, v in zip(
        jax.tree.leaves(nnx.state(a, nnx.Param)), jax.tree.leaves(nnx.state(b, nnx.Param)), strict=True
    ):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), atol=1e-6)


def test_as_mesh_none_and_auto():
    assert as_mesh(None) is None
    mesh = as_mesh("auto")
    assert mesh.axis_names == ("data",) and mesh.shape["data"] == jax.device_count()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "--devices must be >= 1, got 0"),
        ("two", "--devices must be an integer, got 'two'"),
        ("2", "--devices (2) must not exceed the 1 devices JAX sees"),
    ],
)
def test_cli_bad_devices(value, message, capsys, tmp_path):
    import argparse

    from snnx.cli import _train

    parser = argparse.ArgumentParser(prog="snnx")
    _train.add_parser(parser.add_subparsers())
    args = parser.parse_args(["train", "--epochs", "1", "--devices", value, "--out", str(tmp_path)])
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("snnx train: error: ") and message in err and err.count("\n") == 1
