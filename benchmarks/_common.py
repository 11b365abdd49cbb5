"""What every framework's benchmark module shares: workloads, data, weights, timing.

Each ``bench_<framework>.py`` builds the same networks from the same NumPy
weights and inputs (seeded), times them with :func:`measure`, and prints one
JSON line. Nothing here imports a deep-learning framework.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
from collections.abc import Callable

import numpy as np

# name -> spec. "ff": Linear(n_in->hidden) -> LIF -> Linear(hidden->n_out) -> LI readout.
# "rec": the same with a recurrent hidden LIF layer. "conv": see conv_shapes().
WORKLOADS: dict[str, dict] = {
    "ff100": {"kind": "ff", "T": 100, "B": 64},
    "ff250": {"kind": "ff", "T": 250, "B": 64},
    "rec100": {"kind": "rec", "T": 100, "B": 64},
    "conv30": {"kind": "conv", "T": 30, "B": 32},
    "long1000": {"kind": "ff", "T": 1000, "B": 64, "remat": False},
    "long1000_remat": {"kind": "ff", "T": 1000, "B": 64, "remat": True},
    # a few milliseconds; for the smoke test
    "tiny": {"kind": "ff", "T": 10, "B": 4, "n_in": 20, "hidden": 16, "n_out": 5},
}
DEFAULT_WORKLOADS = ("ff100", "ff250", "rec100", "conv30", "long1000", "long1000_remat")

N_IN, HIDDEN, N_OUT = 700, 256, 20
DENSITY = 0.05  # Bernoulli input rate
BETA = 0.9
LR = 1e-3
GAIN = 2.0  # weights ~ N(0, (GAIN / sqrt(fan_in))^2) in every framework
CONV_IN = (34, 34, 2)  # (H, W, C), channels-last; torch gets (C, H, W)
CONV_CH, CONV_K, CONV_CLASSES = 16, 5, 10


def spec(name: str) -> dict:
    if name not in WORKLOADS:
        raise ValueError(f"`workload` must be one of {sorted(WORKLOADS)}, got {name!r}")
    s = {"n_in": N_IN, "hidden": HIDDEN, "n_out": N_OUT, "remat": False, **WORKLOADS[name]}
    s["name"] = name
    return s


def conv_shapes() -> dict:
    """Shapes of the conv workload (SAME padding): 34x34x2 -> 17x17x16 -> pool 8x8x16 -> 8x8x16."""
    h1 = math.ceil(CONV_IN[0] / 2)
    p1 = h1 // 2
    return {"h1": h1, "p1": p1, "flat": p1 * p1 * CONV_CH}


def inputs(s: dict) -> tuple[np.ndarray, np.ndarray]:
    """Seeded Bernoulli(DENSITY) input, time-major ``(T, B, ...)`` float32, and integer targets ``(B,)``."""
    rng = np.random.default_rng(1234)
    shape = (s["T"], s["B"], *CONV_IN) if s["kind"] == "conv" else (s["T"], s["B"], s["n_in"])
    x = (rng.random(shape) < DENSITY).astype(np.float32)
    n_cls = CONV_CLASSES if s["kind"] == "conv" else s["n_out"]
    y = rng.integers(0, n_cls, size=(s["B"],)).astype(np.int32)
    return x, y


def _w(rng, fan_in: int, shape: tuple[int, ...]) -> np.ndarray:
    return (rng.standard_normal(shape) * GAIN / math.sqrt(fan_in)).astype(np.float32)


def weights(s: dict) -> dict[str, np.ndarray]:
    """Seeded weights, stored as ``(in, out)`` for dense layers and ``(kh, kw, c_in, c_out)`` for convs."""
    rng = np.random.default_rng(42)
    if s["kind"] == "conv":
        k, c = CONV_K, CONV_CH
        flat = conv_shapes()["flat"]
        return {
            "conv1": _w(rng, k * k * CONV_IN[2], (k, k, CONV_IN[2], c)),
            "conv2": _w(rng, k * k * c, (k, k, c, c)),
            "fc": _w(rng, flat, (flat, CONV_CLASSES)),
            "b_conv1": np.zeros(c, np.float32),
            "b_conv2": np.zeros(c, np.float32),
            "b_fc": np.zeros(CONV_CLASSES, np.float32),
        }
    n_in, h, n_out = s["n_in"], s["hidden"], s["n_out"]
    w = {
        "w1": _w(rng, n_in, (n_in, h)),
        "b1": np.zeros(h, np.float32),
        "w2": _w(rng, h, (h, n_out)),
        "b2": np.zeros(n_out, np.float32),
    }
    if s["kind"] == "rec":
        w["w_rec"] = (_w(rng, h, (h, h)) * 0.5).astype(np.float32)
    return w


def matmul_flops(s: dict) -> tuple[float, float]:
    """Hand-counted matmul/conv FLOPs ``(forward, training step)``; elementwise work is not counted.

    Training = forward + one weight-gradient GEMM per layer + one input-gradient
    GEMM per layer except the first (the input needs no gradient).
    """
    T, B = s["T"], s["B"]
    if s["kind"] == "conv":
        c = conv_shapes()
        k2 = CONV_K * CONV_K
        f1 = 2 * T * B * c["h1"] ** 2 * CONV_CH * k2 * CONV_IN[2]
        f2 = 2 * T * B * c["p1"] ** 2 * CONV_CH * k2 * CONV_CH
        f3 = 2 * T * B * c["flat"] * CONV_CLASSES
        return f1 + f2 + f3, 2 * f1 + 3 * (f2 + f3)
    f1 = 2 * T * B * s["n_in"] * s["hidden"]
    f2 = 2 * T * B * s["hidden"] * s["n_out"]
    fr = 2 * T * B * s["hidden"] ** 2 if s["kind"] == "rec" else 0
    return f1 + f2 + fr, 2 * f1 + 3 * (f2 + fr)


def xla_thread_flags(threads: int) -> str:
    """The ``XLA_FLAGS`` that give XLA's CPU backend ``threads`` threads."""
    multi = "true" if threads > 1 else "false"
    return f"--xla_cpu_multi_thread_eigen={multi} intra_op_parallelism_threads={threads}"


def use_threads(threads: int) -> None:
    """For a script run on its own: ``threads`` CPUs and XLA threads. Call before JAX is imported."""
    confine_to_cpus(threads)
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {xla_thread_flags(threads)}".strip()


def median_ms(fn, *args, repeats: int) -> float:
    """Median wall time of ``fn(*args)`` in ms over ``repeats`` calls, after one call that compiles."""
    import jax

    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def jit_train_step(graphdef, forward):
    """A ``jax.jit``-ed optimizer step on ``nnx.split((model, optimizer))`` state.

    Loss: cross-entropy of the time-summed readout ``forward(model, x)`` of shape
    ``(T, B, classes)``. Returns ``(new_state, loss)``.
    """
    import jax
    import optax
    from flax import nnx

    def loss_fn(m, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(forward(m, x).sum(0), y).mean()

    @jax.jit
    def train_step(state, x, y):
        m, o = nnx.merge(graphdef, state)
        loss, grads = nnx.value_and_grad(loss_fn)(m, x, y)
        o.update(m, grads)
        return nnx.state((m, o)), loss

    return train_step


def confine_to_cpus(threads: int) -> list[int] | None:
    """Confine this process to its first ``threads`` allowed CPUs (before JAX or torch start).

    XLA's CPU matmuls ignore ``intra_op_parallelism_threads``, so affinity is what
    bounds them (``run.py`` does the same for every process it starts). Returns
    the CPUs kept, or ``None`` when nothing changed.
    """
    if not hasattr(os, "sched_getaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if threads >= len(allowed):
        return None
    os.sched_setaffinity(0, allowed[:threads])
    return allowed[:threads]


def rss_bytes() -> int:
    """Peak resident set size of this process so far (``ru_maxrss``), in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="One framework, one workload, one round; prints one JSON line.")
    p.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    p.add_argument("--iters", type=int, default=15)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--variant", default="", help="framework-specific variant (e.g. snnx engine)")
    p.add_argument(
        "--max-seconds", type=float, default=60.0, help="stop timing after this long (at least 3 iterations)"
    )
    return p.parse_args(argv)


def measure(
    train_step: Callable[[], float],
    forward: Callable[[], None],
    *,
    iters: int,
    warmup: int,
    baseline_rss: int,
    max_seconds: float = float("inf"),
) -> dict:
    """Time a training step and a forward pass; both callables block until their result is ready.

    ``train_step()`` returns the loss (a Python float). The first call of each is
    the compile/first-call time; then ``warmup`` untimed calls, then ``iters`` timed
    (fewer, but at least 3, once ``max_seconds`` have passed since the start).
    """
    start = time.perf_counter()
    t0 = time.perf_counter()
    loss0 = float(train_step())
    first_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    forward()
    first_fwd = time.perf_counter() - t0
    losses = [loss0]
    for _ in range(warmup):
        losses.append(float(train_step()))
        forward()
    train_s, fwd_s = [], []
    for i in range(iters):
        if i >= 3 and time.perf_counter() - start > max_seconds:
            break
        t0 = time.perf_counter()
        losses.append(float(train_step()))
        train_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        forward()
        fwd_s.append(time.perf_counter() - t0)
    finite = all(math.isfinite(v) for v in losses)
    return {
        "train_s": train_s,
        "fwd_s": fwd_s,
        "first_train_s": first_train,
        "first_fwd_s": first_fwd,
        "loss_first": loss0,
        "loss_last": losses[-1],
        "loss_ok": bool(finite and losses[-1] < loss0),
        "peak_rss_above_baseline": max(rss_bytes() - baseline_rss, 0),
    }


def emit(framework: str, s: dict, result: dict, **extra) -> None:
    fwd_flops, train_flops = matmul_flops(s)
    out = {
        "framework": framework,
        "workload": s["name"],
        "spec": {k: v for k, v in s.items() if k != "name"},
        "fwd_flops": fwd_flops,
        "train_flops": train_flops,
        "pid": os.getpid(),
        **result,
        **extra,
    }
    print("BENCH_RESULT " + json.dumps(out), flush=True)
