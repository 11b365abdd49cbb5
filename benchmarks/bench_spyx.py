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
import _flax_common as F


def build(s: dict, rngs, dtype=None):
    """The workload's network as a ``spyx.nn.Sequential`` (flax ``nnx.Linear``/``nnx.Conv`` layers with
    compute ``dtype``, parameters float32; Spyx's neurons keep their float32 state)."""
    import spyx

    w = F.weights(s)
    if s["kind"] == "conv":
        layers = []
        for conv, L in F.convs(s, w, rngs, dtype):
            layers += [conv, spyx.nn.IF((L["side_conv"], L["side_conv"], L["c_out"]))]
            if L["pool"]:
                layers.append(spyx.nn.SumPool(C.POOL, C.POOL, "VALID"))
        return spyx.nn.Sequential(
            *layers,
            spyx.nn.Flatten(),
            F.linear(w["fc"], w["b_fc"], rngs, dtype),
            spyx.nn.LIF((C.CONV_CLASSES,), beta=C.BETA, rngs=rngs),
        )
    h, n_out = s["hidden"], s["n_out"]
    if s["kind"] == "rec":
        hidden = spyx.nn.RLIF((h,), beta=C.BETA, rngs=rngs)
        hidden.recurrent_w[...] = w["w_rec"]
    else:
        hidden = spyx.nn.LIF((h,), beta=C.BETA, rngs=rngs)
    return spyx.nn.Sequential(
        F.linear(w["w1"], w["b1"], rngs, dtype),
        hidden,
        F.linear(w["w2"], w["b2"], rngs, dtype),
        spyx.nn.LI((n_out,), beta=C.BETA, rngs=rngs),
    )


def main(argv=None) -> None:
    args = C.parse_args(argv)
    s = C.spec(args.workload, args.shrink)
    import jax
    import jax.numpy as jnp
    import optax
    import spyx
    from flax import nnx

    if s["remat"]:
        C.emit("spyx", s, {"unsupported": "spyx.nn.run has no rematerialisation option"}, dtype=args.dtype)
        return
    baseline = C.rss_bytes()
    dtype = jnp.bfloat16 if args.dtype == "bf16" else None
    model = build(s, nnx.Rngs(0), dtype)
    opt = nnx.Optimizer(model, optax.adam(C.LR), wrt=nnx.Param)
    xs, ys = C.inputs(s)
    x, y = jnp.asarray(xs, dtype), jnp.asarray(ys)  # bf16: the input is cast once, stored as bf16
    del xs  # keep one copy of the input alive

    def loss_fn(m, x, y):
        out, _ = spyx.nn.run(m, x)
        out = out if dtype is None else out.astype(jnp.float32)  # the loss in float32
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
        "spyx",
        s,
        result,
        dtype=args.dtype,
        device=jax.devices()[0].device_kind,
        device_peak_mib=C.jax_peak_mib(jax),
        versions={
            "spyx": getattr(spyx, "__version__", "1.0.0"),
            "jax": jax.__version__,
            "backend": jax.default_backend(),
        },
        matmul_precision=str(jax.config.jax_default_matmul_precision),  # None: XLA's default (GPU: TF32)
    )


if __name__ == "__main__":
    main()
