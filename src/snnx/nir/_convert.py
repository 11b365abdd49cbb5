"""Reading NIR fields for the import table: checked arrays, per-unit parameters, geometry.

Every NIR shape here is channels-first and batch-free; snnx layers are built
channels-last (:func:`channels_last`, :func:`snnx_shape`). The table that uses
these readers, one entry per primitive, is :mod:`snnx.nir._import_table`.
"""

from __future__ import annotations

import numpy as np

from snnx import layers as L
from snnx.nir import _discretise
from snnx.nir._errors import node_error

GAIN_TOL = 1e-6


def kind(node) -> str:
    return type(node).__name__


def channels_last(arr: np.ndarray) -> np.ndarray:
    return np.moveaxis(arr, 0, -1) if arr.ndim >= 2 else arr


def snnx_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (*shape[1:], shape[0]) if len(shape) >= 2 else tuple(shape)


def is_one(gain: np.ndarray) -> bool:
    return bool(np.all(np.abs(np.asarray(gain, np.float64) - 1.0) <= GAIN_TOL))


def array(name, node, field, value=None) -> np.ndarray:
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


def param(name, node, field, shape, default=None) -> np.ndarray:
    """A per-unit parameter broadcast to the NIR ``shape`` (0-d values are accepted)."""
    value = getattr(node, field, None)
    if value is None:
        if default is None:
            raise node_error(name, kind(node), field, "a value", "nothing")
        value = default
    arr = array(name, node, field, value)
    try:
        ok = np.broadcast_shapes(arr.shape, shape) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise node_error(name, kind(node), field, f"shape {tuple(shape)} (or a scalar)", f"shape {arr.shape}")
    return np.broadcast_to(arr, shape).copy()


def tau_param(name, node, field, shape) -> np.ndarray:
    tau = param(name, node, field, shape)
    if np.any(tau <= 0):
        raise node_error(name, kind(node), field, "positive finite values", tau[tau <= 0].ravel()[:4])
    return tau


def euler_decay(name, node, field, tau, dt) -> np.ndarray:
    decay = _discretise.decay_from_tau(tau, dt)
    if np.any(decay < -GAIN_TOL):
        raise node_error(
            name, kind(node), field,
            f"values >= dt = {dt} (forward Euler is unstable below; check dt, or, for a file written by "
            f"Norse 1.1, which writes dt * tau, pass dialect='norse')",
            tau[decay < -GAIN_TOL].ravel()[:4],
        )  # fmt: skip
    return np.clip(decay, 0.0, 1.0)


def ints(name, node, field, nd, value=None) -> tuple[int, ...]:
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
    amounts = ints(name, node, field, nd, pad)
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
    weight = array(name, node, "weight")
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
        declared = ints(name, node, "input_shape", nd, declared)
        if declared != tuple(in_shape[1:]):
            raise node_error(
                name, kind(node), "input_shape", f"{tuple(in_shape[1:])} (from the predecessor)", declared
            )
    kernel = tuple(weight.shape[2:])
    stride = ints(name, node, "stride", nd)
    dilation = ints(name, node, "dilation", nd)
    if min(stride) < 1 or min(dilation) < 1:
        raise node_error(name, kind(node), "stride/dilation", "positive ints", (stride, dilation))
    pads = _padding(name, node, "padding", nd, in_shape[1:], kernel, stride, dilation)
    out_sp = _window_out(name, node, tuple(in_shape[1:]), kernel, stride, dilation, pads)
    return kernel, stride, dilation, groups, pads, (weight.shape[0], *out_sp)


def pool_geometry(name, node, in_shape):
    _expect_rank(name, node, in_shape, 3, "(C, H, W) map")
    kernel = ints(name, node, "kernel_size", 2)
    stride = ints(name, node, "stride", 2)
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


# -- building ------------------------------------------------------------------------------


def gain_layer(shape, gain) -> list:
    return [] if is_one(gain) else [L.Scale(snnx_shape(shape), channels_last(gain.astype(np.float32)))]


def set_value(var, value) -> None:
    var[...] = np.asarray(value, dtype=np.float32)


def load_recurrent(layer, weight, bias, gain):
    """Load NIR's recurrent ``W z + b`` (times the neuron's input gain) into ``layer.recurrent``."""
    gain = np.broadcast_to(np.asarray(gain, np.float64), (weight.shape[0],))
    if is_one(gain):
        gain = np.ones_like(gain)
    set_value(layer.recurrent.kernel, weight.T * gain[None, :])
    if bias is not None:
        set_value(layer.recurrent.bias, bias * gain)
    return layer


def check_reset(reset) -> str | None:
    if reset not in (None, "zero", "subtract"):
        raise ValueError(f"`reset` must be None, 'zero' or 'subtract', got {reset!r}")
    return reset
