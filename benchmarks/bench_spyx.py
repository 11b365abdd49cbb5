"""Spyx 1.0 side of the benchmark (runs in the peers' environment).

Spyx's own API throughout: ``spyx.nn`` neurons in ``spyx.nn.Sequential``, the
time loop ``spyx.nn.run`` and the training step ``spyx.optimize.make_train_step``.
Spyx has no rematerialisation option, so ``long1000_remat`` is reported as
unsupported.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C


def build(s: dict, rngs):
    import jax.numpy as jnp
    import spyx
    from flax import nnx

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
        return spyx.nn.Sequential(
            conv1,
            spyx.nn.IF((c["h1"], c["h1"], C.CONV_CH)),
            spyx.nn.SumPool(2, 2, "VALID"),
            conv2,
            spyx.nn.IF((c["p1"], c["p1"], C.CONV_CH)),
            spyx.nn.Flatten(),
            linear(c["flat"], C.CONV_CLASSES, w["fc"], w["b_fc"]),
            spyx.nn.LIF((C.CONV_CLASSES,), beta=C.BETA, rngs=rngs),
        )
    n_in, h, n_out = s["n_in"], s["hidden"], s["n_out"]
    if s["kind"] == "rec":
        hidden = spyx.nn.RLIF((h,), beta=C.BETA, rngs=rngs)
        hidden.recurrent_w[...] = w["w_rec"]
    else:
        hidden = spyx.nn.LIF((h,), beta=C.BETA, rngs=rngs)
    return spyx.nn.Sequential(
        linear(n_in, h, w["w1"], w["b1"]),
        hidden,
        linear(h, n_out, w["w2"], w["b2"]),
        spyx.nn.LI((n_out,), beta=C.BETA, rngs=rngs),
    )


def main(argv=None) -> None:
    args = C.parse_args(argv)
    s = C.spec(args.workload)
    import jax
    import jax.numpy as jnp
    import optax
    import spyx
    from flax import nnx

    if s["remat"]:
        C.emit("spyx", s, {"unsupported": "spyx.nn.run has no rematerialisation option"})
        return
    baseline = C.rss_bytes()
    model = build(s, nnx.Rngs(0))
    opt = nnx.Optimizer(model, optax.adam(C.LR), wrt=nnx.Param)
    xs, ys = C.inputs(s)
    x, y = jnp.asarray(xs), jnp.asarray(ys)
    del xs  # keep one copy of the input alive

    def loss_fn(m, x, y):
        out, _ = spyx.nn.run(m, x)
        return optax.softmax_cross_entropy_with_integer_labels(out.sum(0), y).mean()

    step = spyx.optimize.make_train_step(loss_fn)
    forward = nnx.jit(lambda m, x: spyx.nn.run(m, x)[0])

    def do_train():
        return float(step(model, opt, x, y))

    def do_forward():
        forward(model, x).block_until_ready()

    result = C.measure(
        do_train,
        do_forward,
        iters=args.iters,
        warmup=args.warmup,
        baseline_rss=baseline,
        max_seconds=args.max_seconds,
    )
    C.emit(
        "spyx", s, result, versions={"spyx": getattr(spyx, "__version__", "1.0.0"), "jax": jax.__version__}
    )


if __name__ == "__main__":
    main()
