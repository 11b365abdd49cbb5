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
import _flax_common as F

# The neuron parameters that are learnt: the same set as Spyx's neurons (its LIF, RLIF and LI
# learn ``beta``; the threshold is a constant and there is no v_leak / v_reset; its IF has no
# parameters). snnx's default (``trainable=False``) would learn none of them.
LEARN = ("beta",)


def build(s: dict, rngs, dtype=None):
    """The workload's network as a ``snnx.Sequential``, weights from :func:`_common.weights`.

    Args:
        s: the workload's :func:`_common.spec`.
        rngs: ``nnx.Rngs`` for the layers' own initialisation (overwritten by the shared weights).
        dtype: compute dtype of every ``nnx.Linear``/``nnx.Conv`` (``None``: float32); the
            parameters stay float32 either way. The recurrent matmul of ``rec`` stays float32
            (``RLIF`` has no dtype option).

    Returns:
        The ``snnx.Sequential``.
    """
    from snnx.engine import Sequential
    from snnx.layers import Flatten, SumPool
    from snnx.neurons import IF, LI, LIF, RLIF

    w = F.weights(s)
    if s["kind"] == "conv":
        layers = []
        for conv, L in F.convs(s, w, rngs, dtype):
            layers += [conv, IF((L["side_conv"], L["side_conv"], L["c_out"]), trainable=False)]
            if L["pool"]:
                layers.append(SumPool((C.POOL, C.POOL)))
        return Sequential(
            *layers,
            Flatten(),
            F.linear(w["fc"], w["b_fc"], rngs, dtype),
            LIF(C.CONV_CLASSES, C.BETA, trainable=LEARN),
        )
    h, n_out = s["hidden"], s["n_out"]
    if s["kind"] == "rec":
        hidden = RLIF(h, C.BETA, trainable=LEARN, rngs=rngs)
        hidden.recurrent.kernel[...] = w["w_rec"]
    else:
        hidden = LIF(h, C.BETA, trainable=LEARN)
    return Sequential(
        F.linear(w["w1"], w["b1"], rngs, dtype),
        hidden,
        F.linear(w["w2"], w["b2"], rngs, dtype),
        LI(n_out, C.BETA, trainable=LEARN),
    )


def main(argv=None) -> None:
    args = C.parse_args(argv)
    s = C.spec(args.workload, args.shrink)
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx

    import snnx
    from snnx.engine import run

    baseline = C.rss_bytes()
    engine = args.variant or "auto"
    dtype = jnp.bfloat16 if args.dtype == "bf16" else None
    model = build(s, nnx.Rngs(0), dtype)
    opt = nnx.Optimizer(model, optax.adam(C.LR), wrt=nnx.Param)
    xs, ys = C.inputs(s)
    x, y = jnp.asarray(xs, dtype), jnp.asarray(ys)  # bf16: the input is cast once, stored as bf16
    del xs  # keep one copy of the input alive
    graphdef, state = nnx.split((model, opt))

    def readout(m, x):
        out = run(m, x, remat=s["remat"], engine=engine)[0]
        return out if dtype is None else out.astype(jnp.float32)  # the loss in float32

    train_step = C.jit_train_step(graphdef, readout)

    @jax.jit
    def forward(state, x):
        m, _ = nnx.merge(graphdef, state)
        return run(m, x, engine=engine)[0]

    box = {"state": state}

    def do_train():
        box["state"], loss = train_step(box["state"], x, y)
        return float(loss)  # a host read: the step (one XLA program, the new state included) has run

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
        dtype=args.dtype,
        device=jax.devices()[0].device_kind,
        device_peak_mib=C.jax_peak_mib(jax),
        versions={"snnx": snnx.__version__, "jax": jax.__version__, "backend": jax.default_backend()},
        # None: XLA's default, which on a GPU runs fp32 matmuls and convs as TF32
        matmul_precision=str(jax.config.jax_default_matmul_precision),
    )


if __name__ == "__main__":
    main()
