"""Shared by the flax-based benchmarks (snnx, Spyx): the shared weights in flax Linear and Conv layers."""

from __future__ import annotations

import _common as C


def weights(s: dict) -> dict:
    """:func:`_common.weights` as JAX arrays."""
    import jax.numpy as jnp

    return {k: jnp.asarray(v) for k, v in C.weights(s).items()}


def linear(kernel, bias, rngs, dtype=None):
    """``nnx.Linear`` holding ``kernel`` (``(in, out)``) and ``bias``, computing in ``dtype``."""
    from flax import nnx

    layer = nnx.Linear(kernel.shape[0], kernel.shape[1], dtype=dtype, rngs=rngs)
    layer.kernel[...] = kernel
    layer.bias[...] = bias
    return layer


def convs(s: dict, w: dict, rngs, dtype=None) -> list[tuple]:
    """``(nnx.Conv, layer description)`` for every conv layer of the conv workload ``s`` (SAME padding),
    holding the shared weights ``w``; the description is :func:`_common.conv_shapes`' (``side_conv``,
    ``c_out``, ``pool``, ...)."""
    from flax import nnx

    out = []
    for i, L in enumerate(C.conv_shapes(s)["layers"], 1):
        k = L["k"]
        conv = nnx.Conv(
            L["c_in"], L["c_out"], (k, k), strides=L["stride"], padding="SAME", dtype=dtype, rngs=rngs
        )
        conv.kernel[...], conv.bias[...] = w[f"conv{i}"], w[f"b_conv{i}"]
        out.append((conv, L))
    return out
