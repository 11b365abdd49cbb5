"""One exporter per snnx layer type: the table behind :func:`snnx.nir.to_nir`.

``EXPORTERS`` maps each exportable type (exact type: a subclass may change the
maths) to a function ``(layer, name, shape, ctx) -> Fragment | None`` (``None``:
the layer writes no node); ``REFUSED`` maps the types that have no faithful NIR
form to the reason given in the error. Neuron exporters live in
:mod:`snnx.nir._export_neurons`, shared helpers in :mod:`snnx.nir._export_base`.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import nir
import numpy as np
from flax import nnx

from snnx import layers as _layers
from snnx import neurons as _neurons
from snnx import phasor as _phasor
from snnx import ssm as _ssm
from snnx.nir import _discretise as disc
from snnx.nir import _export_neurons as en
from snnx.nir._errors import node_error
from snnx.nir._export_base import (
    Context,
    Fragment,
    Shape,
    check_units,
    dense_node,
    f32,
    param,
    single,
    snnx_shape,
    type_name,
)
from snnx.nir._layout import Identity, NIRFlatten, ToChannelsFirst, ToChannelsLast
from snnx.nir._quant import metadata as quant_metadata


def _linear(layer, name, shape, ctx):
    return single(name, dense_node(layer, name, shape), (layer.out_features,))


def _per_axis(value, n: int) -> tuple[int, ...]:
    if value is None:
        return (1,) * n
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    return tuple(int(v) for v in value)


def _symmetric(name: str, kind: str, pads, where: str) -> tuple[int, ...]:
    """NIR pads both sides of an axis by the same amount; anything else is refused."""
    out = []
    for axis, (lo, hi) in enumerate(pads):
        if lo != hi:
            raise node_error(
                name,
                kind,
                "padding",
                "the same amount on both sides of every axis (NIR has one amount per axis)",
                f"(low, high) = ({lo}, {hi}) on spatial axis {axis} ({where})",
            )
        out.append(int(lo))
    return tuple(out)


def _conv(layer, name, shape, ctx):
    kind = "Conv"
    ksize = tuple(layer.kernel_size)
    n = len(ksize)
    if n not in (1, 2):
        raise node_error(name, kind, "kernel_size", "1 or 2 spatial axes (NIR has Conv1d and Conv2d)", ksize)
    if len(shape) != n + 1 or shape[0] != layer.in_features:
        want = f"({layer.in_features}, {', '.join(['L'] if n == 1 else ['H', 'W'])})"
        raise node_error(name, kind, "input", f"a channels-first map {want}", f"shape {tuple(shape)}")
    if _per_axis(layer.input_dilation, n) != (1,) * n:
        raise node_error(
            name, kind, "input_dilation", "1 (NIR has no transposed convolution)", layer.input_dilation
        )
    strides, dilation = _per_axis(layer.strides, n), _per_axis(layer.kernel_dilation, n)
    spatial = tuple(shape[1:])
    padding = layer.padding
    if isinstance(padding, str):
        mode = padding.upper()
        if mode in ("SAME", "SAME_LOWER", "VALID"):
            dilated = [(k - 1) * d + 1 for k, d in zip(ksize, dilation, strict=True)]
            pads = jax.lax.padtype_to_pads(spatial, dilated, strides, mode)
        elif mode == "CAUSAL" and n == 1:
            pads = [(dilation[0] * (ksize[0] - 1), 0)]
        else:
            raise node_error(
                name, kind, "padding", "zero padding (NIR has no circular or reflect padding)", padding
            )
    elif isinstance(padding, (int, np.integer)):
        pads = [(int(padding), int(padding))] * n
    else:
        pads = [(int(p), int(p)) if isinstance(p, (int, np.integer)) else tuple(p) for p in padding]
    pad = _symmetric(name, kind, pads, f"padding={padding!r} on input {spatial}")
    kernel = np.asarray(jax.device_get(layer.kernel[...]), np.float32)
    if layer.mask is not None:
        kernel = kernel * np.asarray(layer.mask, np.float32)
    weight = f32(np.moveaxis(kernel, (-1, -2), (0, 1)))  # (*K, I/g, O) -> (O, I/g, *K)
    bias = (
        f32(jax.device_get(layer.bias[...]))
        if layer.bias is not None
        else np.zeros(layer.out_features, np.float32)
    )
    args = {"weight": weight, "bias": bias, "groups": int(layer.feature_group_count)}
    if layer.mask is None:  # a masked kernel is written as the product, which is off the grid
        args["metadata"] = quant_metadata(layer.kernel, lambda a: np.moveaxis(a, (-1, -2), (0, 1)))
    if n == 1:
        node = nir.Conv1d(
            input_shape=spatial[0], stride=strides[0], padding=pad[0], dilation=dilation[0], **args
        )
    else:
        node = nir.Conv2d(input_shape=spatial, stride=strides, padding=pad, dilation=dilation, **args)
    out = [
        (s + 2 * p - d * (k - 1) - 1) // st + 1
        for s, p, d, k, st in zip(spatial, pad, dilation, ksize, strides, strict=True)
    ]
    if min(out) < 1:
        raise node_error(name, kind, "kernel_size", f"a kernel that fits the input {spatial}", ksize)
    # nir 1.0.8 types a conv as if C_in = weight.shape[1] (that is C_in / groups) and every kernel
    # axis were weight.shape[2] (square kernels); state the true types (PyTorch's formula).
    node.input_type = {"input": np.array(shape)}
    node.output_type = {"output": np.array([layer.out_features, *out])}
    return single(name, node, (layer.out_features, *out))


def _pool(nir_cls):
    def export(layer, name, shape, ctx):
        kind = type_name(layer)
        if len(shape) != 3:
            raise node_error(
                name,
                kind,
                "input",
                "a channels-first map (C, H, W) (NIR pools only 2-D maps)",
                f"shape {shape}",
            )
        window = _per_axis(layer.window_shape, 2)
        strides = window if layer.strides is None else _per_axis(layer.strides, 2)
        if len(window) != 2 or len(strides) != 2:
            raise node_error(name, kind, "window_shape", "2 spatial axes", layer.window_shape)
        spatial = tuple(shape[1:])
        padding = layer.padding
        if isinstance(padding, str):
            pads = jax.lax.padtype_to_pads(spatial, window, strides, padding)
        elif isinstance(padding, (int, np.integer)):
            pads = [(int(padding), int(padding))] * 2
        else:
            pads = list(padding)
        pad = _symmetric(name, kind, pads, f"padding={padding!r} on input {spatial}")
        node = nir_cls(kernel_size=np.array(window), stride=np.array(strides), padding=np.array(pad))
        out = [(s + 2 * p - k) // st + 1 for s, p, k, st in zip(spatial, pad, window, strides, strict=True)]
        return single(name, node, (shape[0], *out))

    return export


def _flatten(layer, name, shape, ctx):
    if layer.order != "chw" and len(shape) >= 2 and shape[0] > 1 and int(np.prod(shape[1:])) > 1:
        raise node_error(
            name,
            "Flatten",
            "order",
            "'chw' (NIR flattens the (C, H, W) tensor in that order)",
            f"{layer.order!r} on a map of NIR shape {shape}",
        )
    node = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)
    return single(name, node, (int(np.prod(shape)),))


def _delay(layer, name, shape, ctx):
    check_units(layer, name, shape)
    steps = np.broadcast_to(np.asarray(layer.steps, np.float64), snnx_shape(shape))
    steps = np.moveaxis(steps, -1, 0) if len(shape) >= 2 else steps
    return single(name, nir.Delay(delay=f32(disc.delay_from_steps(steps, ctx.dt))), shape)


def _scale(layer, name, shape, ctx):
    check_units(layer, name, shape)
    return single(name, nir.Scale(scale=f32(param(layer, "scale", shape))), shape)


def _threshold(layer, name, shape, ctx):
    check_units(layer, name, shape)
    return single(name, nir.Threshold(threshold=f32(param(layer, "threshold", shape))), shape)


def _no_node(layer, name, shape, ctx):
    # from_nir's helpers that compute nothing in NIR terms: the channels-first <-> channels-last
    # adapters (snnx's internal layout is invisible in NIR) and Identity.
    return None


def _nir_flatten(layer, name, shape, ctx):
    # from_nir's partial flatten: written back as the NIR Flatten it came from.
    if tuple(shape) != layer.input_shape:
        raise node_error(
            name, "NIRFlatten", "input_shape", f"the incoming shape {tuple(shape)}", layer.input_shape
        )
    node = nir.Flatten(
        input_type={"input": np.array(shape)}, start_dim=layer.start_dim, end_dim=layer.end_dim
    )
    return single(name, node, layer.output_shape)


Exporter = Callable[[nnx.Module, str, Shape, Context], Fragment | None]

#: snnx layer type -> exporter (exact types: a subclass may change the maths).
EXPORTERS: dict[type, Exporter] = {
    nnx.Linear: _linear,
    nnx.Conv: _conv,
    _layers.SumPool: _pool(nir.SumPool2d),
    _layers.AvgPool: _pool(nir.AvgPool2d),
    _layers.Flatten: _flatten,
    _layers.Delay: _delay,
    _layers.Scale: _scale,
    _layers.Threshold: _threshold,
    _neurons.IF: en.export_if,
    _neurons.I: en.export_i,
    _neurons.LIF: en.export_lif,
    _neurons.LI: en.export_li,
    _neurons.CuBaLIF: en.export_cubalif,
    _neurons.CuBaLI: en.export_cubali,
    _neurons.PSU_LIF: en.export_psu_lif,
    _neurons.Lapicque: en.export_lapicque,
    _neurons.RIF: en.export_recurrent(en.export_if, "if"),
    _neurons.RLIF: en.export_recurrent(en.export_lif, "lif"),
    _neurons.RCuBaLIF: en.export_recurrent(en.export_cubalif, "cubalif"),
    ToChannelsLast: _no_node,
    ToChannelsFirst: _no_node,
    Identity: _no_node,
    NIRFlatten: _nir_flatten,
}

#: snnx layer type -> why it has no faithful NIR form.
REFUSED: dict[type, str] = {
    _neurons.ALIF: (
        "its adaptive threshold (threshold + adaptation * a, with a = gamma * a + z) has no NIR "
        "primitive; writing it as LIF would silently drop the adaptation"
    ),
    _neurons.ResonateFire: (
        "its state is complex (u = exp(-lam + i*omega) * u + x, spiking on Re(u)); NIR neurons "
        "have real state only, so the oscillation cannot be written"
    ),
    _neurons.RALIF: (
        "its adaptive threshold (threshold + adaptation * a, with a = gamma * a + z) has no NIR "
        "primitive; writing it as a recurrent LIF would silently drop the adaptation"
    ),
    _neurons.SigmaDelta: (
        "its output is a graded change of an activation of the integrated input, sent only when |change| "
        "> threshold with the residual kept in the state; NIR has no sigma-delta primitive"
    ),
    _neurons.Alpha: (
        "it has two synaptic currents, excitatory and inhibitory, that its reset clears; no NIR neuron "
        "has two currents or resets a current"
    ),
    _neurons.LIFRefrac: (
        "NIR's LIF has no refractory period; writing it as LIF would silently drop the refractory hold"
    ),
    _neurons.ExpLIF: (
        "its exponential spike-initiation term (delta_t * exp((v - v_th) / delta_t)) has no NIR "
        "primitive; writing it as LIF would silently drop the run-away that makes it spike"
    ),
    _neurons.AdEx: (
        "its exponential spike-initiation term and its adaptation current w have no NIR primitive; "
        "writing it as LIF would silently drop both"
    ),
    _neurons.Izhikevich: (
        "its quadratic membrane (0.04 v^2 + 5 v + 140 - u) and recovery variable u have no NIR primitive; "
        "NIR's neurons are linear between spikes"
    ),
    _neurons.CobaLIF: (
        "its input is conductance-based (g_e * (e_e - v) + g_i * (e_i - v)); NIR's neurons take a "
        "current, so the dependence on v cannot be written"
    ),
    _neurons.SLSTM: (
        "its LSTM gates (sigmoid and tanh of learnt projections of the input and of its own state) have "
        "no NIR primitive"
    ),
    _neurons.SConvLSTM: (
        "its convolutional LSTM gates (sigmoid and tanh of a convolution of the input and of its own "
        "state) have no NIR primitive"
    ),
    _ssm.LRU: (
        "its state is complex (h = lambda * h + gamma * B x with complex lambda, output Re(C h) + D x); "
        "NIR has no complex diagonal recurrence"
    ),
    _ssm.S5: (
        "its state is complex (h = exp(Lambda * Delta) * h + B_bar x with complex Lambda and a learnt "
        "step Delta); NIR has no complex diagonal recurrence"
    ),
    _ssm.ChunkedSSM: (
        "its outer layer runs once per chunk on a pooled summary of the chunk (a chunk clock); NIR has no "
        "node for that, and its inner and outer layers are sequence layers NIR cannot write"
    ),
    _ssm.Mamba: (
        "its recurrence is selective: the decay exp(delta * A) and the maps B, C are computed from each "
        "step's input, while every NIR node has fixed parameters"
    ),
    _ssm.MambaBlock: (
        "it contains a selective SSM (Mamba) whose decay and input/output maps are computed from each "
        "step's input; NIR has no input-dependent recurrence"
    ),
    _phasor.PhasorLinear: (
        "its weights and bias are complex (y = x @ W + b, W = kernel_re + i * kernel_im); NIR's Affine "
        "and Linear are real-valued"
    ),
    _phasor.PhasorActivation: (
        "it normalises complex values (z / max(|z|, eps)); NIR has no complex-valued node"
    ),
    _phasor.PhasorReadout: (
        "it takes Re(z @ W) of complex inputs with complex weights; NIR has no complex-valued node"
    ),
    _phasor.PhasorMLP: (
        "it is a complex-valued network (phase encoding, complex weights, unit-circle projection); NIR's "
        "nodes are real-valued"
    ),
    _phasor.SpikingPhasor: (
        "its state is complex (a per-cycle phasor latched and fired at the step of its phase, with a "
        "cycle counter); NIR neurons have real state and no cycle counter"
    ),
    _layers.MaxPool: (
        "NIR (1.0.8) has no max-pooling node; use SumPool or AvgPool (exported as NIR's "
        "SumPool2d / AvgPool2d) in a model meant for export"
    ),
    _layers.Population: (
        "NIR has no population-sum node, and to_nir does not rewrite one; in a model meant for export "
        "use nnx.Linear(C * P, C, use_bias=False) with the fixed 0/1 block weights (unit c*P + p -> class c)"
    ),
    _layers.Deferred: (
        "it is an unbuilt placeholder; build the model with Sequential(..., input_shape=...), "
        "which replaces it with the layer its factory makes"
    ),
}
