"""The import table: one NIR primitive -> its output shape and the snnx layers that compute it.

Every NIR shape here is channels-first and batch-free. snnx layers are built
channels-last: per-unit parameters of a feature map ``(C, *S)`` are moved to
``(*S, C)``, conv kernels OIHW -> HWIO. The time-constant maths goes through
:mod:`snnx.nir._discretise` (forward Euler):

* ``LI``/``LIF``: ``beta = 1 - dt/tau``; input gain ``r dt/tau`` as a ``Scale``
  in front of the neuron unless it is 1 (within 1e-6, the float32 rounding of a
  snnTorch-style ``r = tau/dt``);
* ``CubaLI``/``CubaLIF``: ``alpha = 1 - dt/tau_syn``, ``beta = 1 - dt/tau_mem``;
  NIR's ``i' = alpha i + (1-alpha) w_in x`` and ``v' = ... + (1-beta) r i'`` are
  the snnx neuron on the input scaled by ``(1-alpha) w_in (1-beta) r``, whose
  current is NIR's times ``(1-beta) r`` (the same when that gain is 1);
* ``I``/``IF``: ``Scale(r)`` (no dt), unless ``r`` is 1.
"""

from __future__ import annotations

import numpy as np
from flax import nnx

from snnx import layers as L
from snnx import neurons as N
from snnx.nir import _discretise, _quant
from snnx.nir._errors import node_error
from snnx.nir._layout import Identity, NIRFlatten

GAIN_TOL = 1e-6
NEURONS = ("I", "IF", "LI", "LIF", "CubaLI", "CubaLIF")
SPIKING = ("IF", "LIF", "CubaLIF")
SUPPORTED = (
    "Input", "Output", "Affine", "Linear", "Conv1d", "Conv2d", "Delay", "Flatten", "Scale",
    *NEURONS, "Threshold", "SumPool2d", "AvgPool2d", "Identity",
)  # fmt: skip


def kind(node) -> str:
    return type(node).__name__


def channels_last(arr: np.ndarray) -> np.ndarray:
    return np.moveaxis(arr, 0, -1) if arr.ndim >= 2 else arr


def snnx_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (*shape[1:], shape[0]) if len(shape) >= 2 else tuple(shape)


def is_one(gain: np.ndarray) -> bool:
    return bool(np.all(np.abs(np.asarray(gain, np.float64) - 1.0) <= GAIN_TOL))


def _array(name, node, field, value=None) -> np.ndarray:
    value = getattr(node, field) if value is None else value
    if np.asarray(value).dtype.kind not in "biuf":  # complex would lose its imaginary part silently
        raise node_error(name, kind(node), field, "a real numeric array", f"{value!r:.80}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise node_error(name, kind(node), field, "a numeric array", repr(value)) from None
    if not np.all(np.isfinite(arr)):
        raise node_error(name, kind(node), field, "finite values", arr.ravel()[~np.isfinite(arr.ravel())][:4])
    return arr


def _param(name, node, field, shape, default=None) -> np.ndarray:
    """A per-unit parameter broadcast to the NIR ``shape`` (0-d values are accepted)."""
    value = getattr(node, field, None)
    if value is None:
        if default is None:
            raise node_error(name, kind(node), field, "a value", "nothing")
        value = default
    arr = _array(name, node, field, value)
    try:
        ok = np.broadcast_shapes(arr.shape, shape) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise node_error(name, kind(node), field, f"shape {tuple(shape)} (or a scalar)", f"shape {arr.shape}")
    return np.broadcast_to(arr, shape).copy()


def _tau(name, node, field, shape) -> np.ndarray:
    tau = _param(name, node, field, shape)
    if np.any(tau <= 0):
        raise node_error(name, kind(node), field, "positive finite values", tau[tau <= 0].ravel()[:4])
    return tau


def _decay(name, node, field, tau, dt) -> np.ndarray:
    decay = _discretise.decay_from_tau(tau, dt)
    if np.any(decay < -GAIN_TOL):
        raise node_error(
            name, kind(node), field, f"values >= dt = {dt} (forward Euler is unstable below)",
            tau[decay < -GAIN_TOL].ravel()[:4],
        )  # fmt: skip
    return np.clip(decay, 0.0, 1.0)


def _ints(name, node, field, nd, value=None) -> tuple[int, ...]:
    value = getattr(node, field) if value is None else value
    arr = np.asarray(value).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, nd)
    if arr.size != nd or not np.all(np.equal(np.mod(arr, 1), 0)):
        raise node_error(name, kind(node), field, f"{nd} integers", repr(value))
    return tuple(int(a) for a in arr)


def _padding(name, node, field, nd, in_sp, kernel, stride, dilation) -> tuple[tuple[int, int], ...]:
    pad = getattr(node, field)
    if isinstance(pad, (str, bytes, np.str_)):
        pad = pad.decode() if isinstance(pad, bytes) else str(pad)
        if pad.lower() == "valid":
            return ((0, 0),) * nd
        if pad.lower() == "same":
            if any(s != 1 for s in stride):
                raise node_error(name, kind(node), field, "'same' only with stride 1", f"stride {stride}")
            total = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
            return tuple((t // 2, t - t // 2) for t in total)
        raise node_error(name, kind(node), field, "an int, per-dimension ints, 'valid' or 'same'", repr(pad))
    amounts = _ints(name, node, field, nd, pad)
    if any(a < 0 for a in amounts):
        raise node_error(name, kind(node), field, "non-negative padding", amounts)
    return tuple((a, a) for a in amounts)


def _window_out(name, node, in_sp, kernel, stride, dilation, pads) -> tuple[int, ...]:
    out = tuple(
        (n + lo + hi - d * (k - 1) - 1) // s + 1
        for n, k, s, d, (lo, hi) in zip(in_sp, kernel, stride, dilation, pads, strict=True)
    )
    if any(o < 1 for o in out):
        raise node_error(name, kind(node), "kernel_size", f"a window that fits the input {in_sp}", kernel)
    return out


def _expect_rank(name, node, in_shape, rank, what):
    if len(in_shape) != rank:
        raise node_error(name, kind(node), "input", f"a {what} of rank {rank}", f"shape {tuple(in_shape)}")


def conv_geometry(name, node, in_shape):
    """(kernel, stride, dilation, groups, pads, out_shape) of a Conv1d/Conv2d node."""
    nd = 1 if kind(node) == "Conv1d" else 2
    weight = _array(name, node, "weight")
    if weight.ndim != nd + 2:
        raise node_error(
            name, kind(node), "weight", f"an array of rank {nd + 2} (O, I, *K)", f"shape {weight.shape}"
        )
    _expect_rank(name, node, in_shape, nd + 1, "(C, *spatial) map")
    groups = int(np.asarray(node.groups).reshape(-1)[0])
    if groups < 1 or weight.shape[1] * groups != in_shape[0] or weight.shape[0] % groups:
        raise node_error(
            name, kind(node), "weight",
            f"{in_shape[0]} input channels (= I * groups, groups = {groups})", f"shape {weight.shape}",
        )  # fmt: skip
    declared = getattr(node, "input_shape", None)
    if declared is not None:
        declared = _ints(name, node, "input_shape", nd, declared)
        if declared != tuple(in_shape[1:]):
            raise node_error(
                name, kind(node), "input_shape", f"{tuple(in_shape[1:])} (from the predecessor)", declared
            )
    kernel = tuple(weight.shape[2:])
    stride = _ints(name, node, "stride", nd)
    dilation = _ints(name, node, "dilation", nd)
    if min(stride) < 1 or min(dilation) < 1:
        raise node_error(name, kind(node), "stride/dilation", "positive ints", (stride, dilation))
    pads = _padding(name, node, "padding", nd, in_shape[1:], kernel, stride, dilation)
    out_sp = _window_out(name, node, tuple(in_shape[1:]), kernel, stride, dilation, pads)
    return kernel, stride, dilation, groups, pads, (weight.shape[0], *out_sp)


def pool_geometry(name, node, in_shape):
    _expect_rank(name, node, in_shape, 3, "(C, H, W) map")
    kernel = _ints(name, node, "kernel_size", 2)
    stride = _ints(name, node, "stride", 2)
    pads = _padding(name, node, "padding", 2, in_shape[1:], kernel, stride, (1, 1))
    out_sp = _window_out(name, node, tuple(in_shape[1:]), kernel, stride, (1, 1), pads)
    return kernel, stride, pads, (in_shape[0], *out_sp)


def flatten_geometry(name, node, in_shape):
    declared = (getattr(node, "input_type", None) or {}).get("input")
    if declared is not None:
        declared = tuple(int(d) for d in np.asarray(declared).reshape(-1))
        if declared != tuple(in_shape) and declared[-len(in_shape) :] != tuple(in_shape):
            raise node_error(
                name, "Flatten", "input_type", f"{tuple(in_shape)} (from the predecessor)", declared
            )
    rank = len(in_shape)
    start, end = int(node.start_dim), int(node.end_dim)
    start, end = start + rank if start < 0 else start, end + rank if end < 0 else end
    if not 0 <= start <= end < rank:
        raise node_error(
            name, "Flatten", "start_dim/end_dim", f"dims within rank {rank}", (node.start_dim, node.end_dim)
        )
    out = (*in_shape[:start], int(np.prod(in_shape[start : end + 1])), *in_shape[end + 1 :])
    return start, end, out


def output_shape(name: str, node, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The batch-free NIR output shape; raises NIRError when ``in_shape`` does not fit."""
    k = kind(node)
    if k in ("Affine", "Linear"):
        weight = _array(name, node, "weight")
        if weight.ndim != 2:
            raise node_error(name, k, "weight", "a 2-D (out, in) array", f"shape {weight.shape}")
        if tuple(in_shape) != (weight.shape[1],):
            raise node_error(
                name,
                k,
                "input",
                f"shape ({weight.shape[1]},) (weight is {weight.shape})",
                f"shape {tuple(in_shape)}",
            )
        if k == "Affine":
            _param(name, node, "bias", (weight.shape[0],))
        return (weight.shape[0],)
    if k in ("Conv1d", "Conv2d"):
        return conv_geometry(name, node, in_shape)[-1]
    if k in ("SumPool2d", "AvgPool2d"):
        return pool_geometry(name, node, in_shape)[-1]
    if k == "Flatten":
        return flatten_geometry(name, node, in_shape)[-1]
    if k == "Identity":
        return tuple(in_shape)
    fields = {
        "Scale": ("scale",), "Threshold": ("threshold",), "Delay": ("delay",), "I": ("r",),
        "IF": ("r", "v_threshold"), "LI": ("tau", "r", "v_leak"),
        "LIF": ("tau", "r", "v_leak", "v_threshold"), "CubaLI": ("tau_syn", "tau_mem", "r", "v_leak"),
        "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold"),
    }  # fmt: skip
    if k not in fields:
        raise node_error(name, k, "type", f"one of {list(SUPPORTED)}", repr(k))
    for field in fields[k]:
        _param(name, node, field, tuple(in_shape))
    return tuple(in_shape)


# -- building ------------------------------------------------------------------------------


def _gain_layer(shape, gain) -> list:
    return [] if is_one(gain) else [L.Scale(snnx_shape(shape), channels_last(gain.astype(np.float32)))]


def _set(var, value) -> None:
    var[...] = np.asarray(value, dtype=np.float32)


def build(
    name: str,
    node,
    in_shape: tuple[int, ...],
    *,
    dt: float,
    reset: str | None,
    rngs: nnx.Rngs,
    recurrent: np.ndarray | None = None,
    recurrent_bias: np.ndarray | None = None,
) -> list:
    """The snnx layers (channels-last) computing ``node``; the primary layer comes last.

    ``recurrent`` (``(N, N)``, NIR ``(out, in)``) and ``recurrent_bias`` fuse a
    ``neuron <-> Affine/Linear`` cycle into RIF/RLIF/RCuBaLIF.
    """
    k, shape = kind(node), tuple(in_shape)
    cl = snnx_shape(shape)

    def p(field, default=None):
        return channels_last(_param(name, node, field, shape, default).astype(np.float32))

    if k in ("Affine", "Linear"):
        weight = _array(name, node, "weight")
        layer = nnx.Linear(weight.shape[1], weight.shape[0], use_bias=k == "Affine", rngs=rngs)
        _set(layer.kernel, weight.T)
        if k == "Affine":
            _set(layer.bias, _param(name, node, "bias", (weight.shape[0],)))
        _quant.restore(layer, node, name, np.transpose)
        return [layer]
    if k in ("Conv1d", "Conv2d"):
        kernel, stride, dilation, groups, pads, _ = conv_geometry(name, node, in_shape)
        weight = _array(name, node, "weight")
        layer = nnx.Conv(
            in_shape[0], weight.shape[0], kernel, strides=stride, padding=pads, kernel_dilation=dilation,
            feature_group_count=groups, use_bias=True, rngs=rngs,
        )  # fmt: skip
        _set(layer.kernel, np.moveaxis(weight, (0, 1), (-1, -2)))
        _set(layer.bias, _param(name, node, "bias", (weight.shape[0],), default=0.0))
        _quant.restore(layer, node, name, lambda a: np.moveaxis(a, (0, 1), (-1, -2)))
        return [layer]
    if k in ("SumPool2d", "AvgPool2d"):
        kernel, stride, pads, _ = pool_geometry(name, node, in_shape)
        cls = L.SumPool if k == "SumPool2d" else L.AvgPool
        return [cls(kernel, strides=stride, padding=pads)]
    if k == "Flatten":
        start, end, _ = flatten_geometry(name, node, in_shape)
        if start == end or len(shape) == 1:
            return [Identity()]
        if start == 0 and end == len(shape) - 1:
            return [L.Flatten(order="chw")]
        return [NIRFlatten(shape, start, end)]
    if k == "Identity":
        return [Identity()]
    if k == "Scale":
        return [L.Scale(cl, p("scale"))]
    if k == "Threshold":
        return [L.Threshold(cl, p("threshold"))]
    if k == "Delay":
        delay = _param(name, node, "delay", shape)
        steps = _discretise.steps_from_delay(delay, dt)
        rounded = np.round(steps)
        if np.any(rounded < 0) or np.any(np.abs(steps - rounded) > 1e-6 * np.maximum(1.0, np.abs(steps))):
            raise node_error(name, k, "delay", f"non-negative multiples of dt = {dt}", delay.ravel()[:4])
        steps = channels_last(rounded.astype(np.int64))
        return [L.Delay(cl, int(steps.flat[0]) if np.all(steps == steps.flat[0]) else steps)]

    spike_kw = {}
    if k in SPIKING:
        spike_kw = {"reset": reset or "zero", "v_reset": 0.0 if reset == "subtract" else p("v_reset", 0.0)}
    if k in ("I", "IF"):
        r = _param(name, node, "r", shape)
        pre = _gain_layer(shape, r)
        if k == "I":
            return [*pre, N.I(cl)]
        if recurrent is not None:
            return [*pre, _recurrent(N.RIF(cl[0], p("v_threshold"), **spike_kw, rngs=rngs,
                                           use_bias=recurrent_bias is not None),
                                     recurrent, recurrent_bias, r)]  # fmt: skip
        return [*pre, N.IF(cl, p("v_threshold"), **spike_kw)]
    if k in ("LI", "LIF"):
        tau = _tau(name, node, "tau", shape)
        beta = channels_last(_decay(name, node, "tau", tau, dt).astype(np.float32))
        gain = _discretise.gain_from_tau(_param(name, node, "r", shape), tau, dt)
        pre = _gain_layer(shape, gain)
        if k == "LI":
            return [*pre, N.LI(cl, beta, v_leak=p("v_leak"))]
        if recurrent is not None:
            layer = N.RLIF(cl[0], beta, p("v_threshold"), v_leak=p("v_leak"), **spike_kw, rngs=rngs,
                           use_bias=recurrent_bias is not None)  # fmt: skip
            return [*pre, _recurrent(layer, recurrent, recurrent_bias, gain)]
        return [*pre, N.LIF(cl, beta, p("v_threshold"), v_leak=p("v_leak"), **spike_kw)]
    if k in ("CubaLI", "CubaLIF"):
        tau_syn, tau_mem = _tau(name, node, "tau_syn", shape), _tau(name, node, "tau_mem", shape)
        alpha = channels_last(_decay(name, node, "tau_syn", tau_syn, dt).astype(np.float32))
        beta = channels_last(_decay(name, node, "tau_mem", tau_mem, dt).astype(np.float32))
        w_in = _param(name, node, "w_in", shape, default=1.0)
        gain = _discretise.gain_from_tau(w_in, tau_syn, dt) * _discretise.gain_from_tau(
            _param(name, node, "r", shape), tau_mem, dt
        )
        pre = _gain_layer(shape, gain)
        if k == "CubaLI":
            return [*pre, N.CuBaLI(cl, alpha, beta, v_leak=p("v_leak"))]
        if recurrent is not None:
            layer = N.RCuBaLIF(cl[0], alpha, beta, p("v_threshold"), v_leak=p("v_leak"), **spike_kw,
                               rngs=rngs, use_bias=recurrent_bias is not None)  # fmt: skip
            return [*pre, _recurrent(layer, recurrent, recurrent_bias, gain)]
        return [*pre, N.CuBaLIF(cl, alpha, beta, p("v_threshold"), v_leak=p("v_leak"), **spike_kw)]
    raise node_error(name, k, "type", f"one of {list(SUPPORTED)}", repr(k))


def _recurrent(layer, weight, bias, gain):
    """Load NIR's recurrent ``W z + b`` (times the neuron's input gain) into ``layer.recurrent``."""
    gain = np.broadcast_to(np.asarray(gain, np.float64), (weight.shape[0],))
    if is_one(gain):
        gain = np.ones_like(gain)
    _set(layer.recurrent.kernel, weight.T * gain[None, :])
    if bias is not None:
        _set(layer.recurrent.bias, bias * gain)
    return layer


def check_reset(reset) -> str | None:
    if reset not in (None, "zero", "subtract"):
        raise ValueError(f"`reset` must be None, 'zero' or 'subtract', got {reset!r}")
    return reset
