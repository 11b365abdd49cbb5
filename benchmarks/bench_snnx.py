"""snnx side of the benchmark: ``python benchmarks/bench_snnx.py --workload ff100 [--variant step]``.

``--variant`` selects ``run``'s engine: ``auto`` (default; layer-major where it
applies) or ``step`` (the step-by-step reference scan), to show what the fast
engine buys.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C

# The neuron parameters that are learnt: the same set as Spyx's neurons (its LIF, RLIF and LI
# learn ``beta``; the threshold is a constant and there is no v_leak / v_reset; its IF has no
# parameters). snnx's default (``trainable=False``) would learn none of them.
LEARN = ("beta",)


def build(s: dict, rngs):
    """The workload's network as a ``snnx.Sequential``, weights from :func:`_common.weights`."""
    import jax.numpy as jnp
    from flax import nnx

    from snnx.engine import Sequential
    from snnx.layers import Flatten, SumPool
    from snnx.neurons import IF, LI, LIF, RLIF

    w = {k: jnp.asarray(v) for k, v in C.weights(s).items()}

    def linear(n_in, n_out, kernel, bias):
        layer = nnx.Linear(n_in, n_out, rngs=rngs)
        layer.kernel[...] = kernel
        layer.bias[...] = bias
        return layer

    if s["kind"] == "conv":
        c = C.conv_shapes()
        conv1 = nnx.Conv(C.CONV_IN[2], C.CONV_CH, (C.CONV_K, C.CONV_K), strides=2, padding="SAME", rngs=rngs)
        conv2 = nnx.Conv(C.CONV_CH, C.CONV_CH, (C.CONV_K, C.CONV_K), padding="SAME", rngs=rngs)
        conv1.kernel[...], conv1.bias[...] = w["conv1"], w["b_conv1"]
        conv2.kernel[...], conv2.bias[...] = w["conv2"], w["b_conv2"]
        return Sequential(
            conv1,
            IF((c["h1"], c["h1"], C.CONV_CH), trainable=False),
            SumPool((2, 2)),
            conv2,
            IF((c["p1"], c["p1"], C.CONV_CH), trainable=False),
            Flatten(),
            linear(c["flat"], C.CONV_CLASSES, w["fc"], w["b_fc"]),
            LIF(C.CONV_CLASSES, C.BETA, trainable=LEARN),
        )
    n_in, h, n_out = s["n_in"], s["hidden"], s["n_out"]
    if s["kind"] == "rec":
        hidden = RLIF(h, C.BETA, trainable=LEARN, rngs=rngs)
        hidden.recurrent.kernel[...] = w["w_rec"]
    else:
        hidden = LIF(h, C.BETA, trainable=LEARN)
    return Sequential(
        linear(n_in, h, w["w1"], w["b1"]),
        hidden,
        linear(h, n_out, w["w2"], w["b2"]),
        LI(n_out, C.BETA, trainable=LEARN),
    )


def main(argv=None) -> None:
    args = C.parse_args(argv)
    s = C.spec(args.workload)
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx

    import snnx
    from snnx.engine import run

    baseline = C.rss_bytes()
    engine = args.variant or "auto"
    model = build(s, nnx.Rngs(0))
    opt = nnx.Optimizer(model, optax.adam(C.LR), wrt=nnx.Param)
    xs, ys = C.inputs(s)
    x, y = jnp.asarray(xs), jnp.asarray(ys)
    del xs  # keep one copy of the input alive
    graphdef, state = nnx.split((model, opt))

    train_step = C.jit_train_step(graphdef, lambda m, x: run(m, x, remat=s["remat"], engine=engine)[0])

    @jax.jit
    def forward(state, x):
        m, _ = nnx.merge(graphdef, state)
        return run(m, x, engine=engine)[0]

    box = {"state": state}

    def do_train():
        box["state"], loss = train_step(box["state"], x, y)
        return float(loss)

    def do_forward():
        forward(box["state"], x).block_until_ready()

    result = C.measure(
        do_train,
        do_forward,
        iters=args.iters,
        warmup=args.warmup,
        baseline_rss=baseline,
        max_seconds=args.max_seconds,
    )
    C.emit(
        "snnx" if engine == "auto" else f"snnx-{engine}",
        s,
        result,
        versions={"snnx": snnx.__version__, "jax": jax.__version__},
    )


if __name__ == "__main__":
    main()
