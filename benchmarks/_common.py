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
# "rec": the same with a recurrent hidden LIF layer. "conv": CONV_IN -> for each (channels, kernel,
# stride, pool) of "conv": Conv (SAME) -> IF [-> SumPool 2] -> ...; then Flatten -> Linear -> LIF
# (see conv_shapes()).
WORKLOADS: dict[str, dict] = {
    "ff100": {"kind": "ff", "T": 100, "B": 64},
    "ff250": {"kind": "ff", "T": 250, "B": 64},
    "rec100": {"kind": "rec", "T": 100, "B": 64},
    "conv30": {"kind": "conv", "T": 30, "B": 32, "conv": ((16, 5, 2, True), (16, 5, 1, False))},
    # N-MNIST-shaped: Conv 32 -> IF -> pool -> Conv 64 -> IF -> pool -> Linear(4096 -> 10) -> LIF
    "convnm": {"kind": "conv", "T": 30, "B": 64, "conv": ((32, 3, 1, True), (64, 3, 1, True))},
    "long1000": {"kind": "ff", "T": 1000, "B": 64, "remat": False},
    "long1000_remat": {"kind": "ff", "T": 1000, "B": 64, "remat": True},
    # large (GPU_WORKLOADS): SHD-sized, and one 16k-neuron layer
    "shd1000": {"kind": "ff", "T": 1000, "B": 256, "hidden": 1024},
    "wide16k": {"kind": "ff", "T": 100, "B": 64, "hidden": 16384},
    # a few milliseconds; for the smoke test
    "tiny": {"kind": "ff", "T": 10, "B": 4, "n_in": 20, "hidden": 16, "n_out": 5},
}
DEFAULT_WORKLOADS = ("ff100", "ff250", "rec100", "conv30", "convnm", "long1000", "long1000_remat")
GPU_WORKLOADS = (*DEFAULT_WORKLOADS, "shd1000", "wide16k")
DTYPES = ("fp32", "bf16")

N_IN, HIDDEN, N_OUT = 700, 256, 20
DENSITY = 0.05  # Bernoulli input rate
BETA = 0.9
LR = 1e-3
GAIN = 2.0  # weights ~ N(0, (GAIN / sqrt(fan_in))^2) in every framework
CONV_IN = (34, 34, 2)  # (H, W, C), channels-last; torch gets (C, H, W)
CONV_CLASSES = 10
POOL = 2  # SumPool window and stride after a conv layer whose "pool" is true


def spec(name: str, shrink: int = 1) -> dict:
    """The workload ``name``'s full description, with T, B, hidden and conv channels divided by ``shrink``.

    Args:
        name: a key of :data:`WORKLOADS`.
        shrink: divisor (an int >= 1) of ``T``, ``B``, ``hidden`` and every conv layer's channels
            (each at least 1), so that a large workload can be exercised quickly.

    Returns:
        ``{"name", "kind", "T", "B", "n_in", "hidden", "n_out", "remat", "shrink"}``, plus ``"conv"``
        (a list of ``[channels, kernel, stride, pool]``) for a conv workload.

    Raises:
        ValueError: for an unknown ``name`` or a ``shrink`` that is not an int >= 1.
    """
    if name not in WORKLOADS:
        raise ValueError(f"`workload` must be one of {sorted(WORKLOADS)}, got {name!r}")
    if isinstance(shrink, bool) or not isinstance(shrink, int) or shrink < 1:
        raise ValueError(f"`shrink` must be an int >= 1, got {shrink!r}")
    s = {"n_in": N_IN, "hidden": HIDDEN, "n_out": N_OUT, "remat": False, **WORKLOADS[name]}
    for key in ("T", "B", "hidden"):
        s[key] = max(1, s[key] // shrink)
    if "conv" in s:
        s["conv"] = [[max(1, c // shrink), k, stride, pool] for c, k, stride, pool in s["conv"]]
    s["shrink"] = shrink
    s["name"] = name
    return s


def conv_shapes(s: dict | None = None) -> dict:
    """Shapes of a conv workload's layers (SAME padding, so a conv's output side is ``ceil(side / stride)``).

    conv30: 34x34x2 -> conv 17x17x16 -> pool 8x8x16 -> conv 8x8x16 -> flat 1024. convnm: 34x34x2 ->
    conv 34x34x32 -> pool 17x17x32 -> conv 17x17x64 -> pool 8x8x64 -> flat 4096.

    Args:
        s: a conv workload's :func:`spec` (default ``spec("conv30")``).

    Returns:
        ``{"layers": [...], "flat": int}``; each layer ``{"c_in", "c_out", "k", "stride", "pool",
        "side_in", "side_conv", "side_out"}`` (``side_conv``: after the conv; ``side_out``: after the
        pool, when there is one).
    """
    s = spec("conv30") if s is None else s
    side, c_in, layers = CONV_IN[0], CONV_IN[2], []
    for c_out, k, stride, pool in s["conv"]:
        side_conv = math.ceil(side / stride)
        side_out = side_conv // POOL if pool else side_conv
        layers.append({"c_in": c_in, "c_out": c_out, "k": k, "stride": stride, "pool": bool(pool),
                       "side_in": side, "side_conv": side_conv, "side_out": side_out})  # fmt: skip
        side, c_in = side_out, c_out
    return {"layers": layers, "flat": side * side * c_in}


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
    """Seeded weights, stored as ``(in, out)`` for dense layers and ``(kh, kw, c_in, c_out)`` for convs.

    Conv workloads: ``conv1``, ``conv2``, ... (drawn in layer order), then ``fc``; zero biases
    ``b_conv1``, ... and ``b_fc``.
    """
    rng = np.random.default_rng(42)
    if s["kind"] == "conv":
        c = conv_shapes(s)
        w = {}
        for i, layer in enumerate(c["layers"], 1):
            k, c_in, c_out = layer["k"], layer["c_in"], layer["c_out"]
            w[f"conv{i}"] = _w(rng, k * k * c_in, (k, k, c_in, c_out))
        w["fc"] = _w(rng, c["flat"], (c["flat"], CONV_CLASSES))
        for i, layer in enumerate(c["layers"], 1):
            w[f"b_conv{i}"] = np.zeros(layer["c_out"], np.float32)
        w["b_fc"] = np.zeros(CONV_CLASSES, np.float32)
        return w
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
    GEMM per layer except the first (the input needs no gradient). A conv layer
    counts ``2 * T * B * side_conv^2 * c_out * k^2 * c_in`` (every output position,
    the zero padding included). The count does not depend on the dtype.
    """
    T, B = s["T"], s["B"]
    if s["kind"] == "conv":
        c = conv_shapes(s)
        convs = [2 * T * B * L["side_conv"] ** 2 * L["c_out"] * L["k"] ** 2 * L["c_in"] for L in c["layers"]]
        fc = 2 * T * B * c["flat"] * CONV_CLASSES
        return sum(convs) + fc, 2 * convs[0] + 3 * (sum(convs[1:]) + fc)
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


def jax_peak_mib(jax) -> float | None:
    """Peak bytes in use on JAX's first device so far, in MiB; ``None`` where the backend keeps no
    statistics (the CPU)."""
    stats = jax.devices()[0].memory_stats()
    if not stats or "peak_bytes_in_use" not in stats:
        return None
    return stats["peak_bytes_in_use"] / 2**20


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
    p.add_argument("--device", default="cpu", choices=("cpu", "gpu"), help="where the model and data live")
    p.add_argument("--dtype", default="fp32", choices=DTYPES, help="compute dtype (parameters stay fp32)")
    p.add_argument("--shrink", type=int, default=1, help="divide T, B, hidden and channels by this")
    args = p.parse_args(argv)
    if args.shrink < 1:
        p.error(f"--shrink must be an int >= 1, got {args.shrink}")
    return args


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
    """Print the one ``BENCH_RESULT {json}`` line that ``run.py`` reads (FLOP counts from ``s`` added)."""
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
