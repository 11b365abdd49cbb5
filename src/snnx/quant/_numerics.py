"""The quantisers: a weight to a ``qwix.QArray`` (integer codes, scales, zero points) and back.

qwix computes the codes and the dequantised values (``qwix.quantize``,
``qwix.dequantize``); snnx adds what qwix lacks for small SNN weights: the
per-channel clipping search ``"mse"``, the ``"ternary"`` absmean rule, GPTQ on
a snnx layer's recorded inputs, and a fake quantiser with a straight-through
gradient for quantisation-aware training.

The channel axis is the kernel's last axis (``out_features`` of an
``nnx.Linear`` kernel ``(in, out)``, ``out_features`` of an ``nnx.Conv`` kernel
``(*window, in, out)``); tiles run along the axis before it.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import qwix
from qwix._src.core import numerics as _qnum
from qwix._src.core import qarray as _qarray

from snnx import _checks
from snnx.quant._rules import Rule, jax_qtype

MSE_RATIOS = 51  # clipping ratios tried by "mse", evenly spaced over [0.5, 1]


def _how(rule: Rule, ndim: int, calibration: str | None = None) -> _qarray.HowToQuantize:
    channel = (ndim - 1,) if rule.per_channel else ()
    tiles = {} if rule.tile_size is None else {ndim - 2: int(rule.tile_size)}
    return _qarray.HowToQuantize(
        qtype=jax_qtype(rule.qtype),
        channelwise_axes=channel,
        tiled_axes=tiles,
        calibration_method=calibration or rule.calibration,
    )


def _check_tiles(rule: Rule, w: jax.Array, key: str) -> None:
    if rule.tile_size is None:
        return
    size = w.shape[-2] if w.ndim >= 2 else w.shape[-1]
    if size % rule.tile_size:
        raise _checks.OptionError(
            f"weight {key!r}: `tile_size`={rule.tile_size} must divide its input axis of {size} entries"
        )
    if rule.method in ("mse", "gptq") or rule.qtype == "ternary":
        what = f"calibration {rule.method!r}" if rule.qtype != "ternary" else "qtype 'ternary'"
        raise _checks.OptionError(f"weight {key!r}: {what} takes whole channels; drop `tile_size`")


def _group_axes(w: jax.Array, rule: Rule) -> tuple[int, ...]:
    """The axes one scale covers (all but the channel axis, or all)."""
    return tuple(range(w.ndim - 1)) if rule.per_channel else tuple(range(w.ndim))


def _ternary(w: jax.Array, rule: Rule) -> _qarray.QArray:
    """``{-1, 0, 1} * s`` with ``s`` the mean |w| per scale group (BitNet b1.58's absmean)."""
    scale = jnp.mean(jnp.abs(w), axis=_group_axes(w, rule), keepdims=True)
    tiny = jnp.sqrt(jnp.finfo(w.dtype).tiny)
    scale = jnp.where(scale < tiny, jnp.ones_like(scale), scale).astype(w.dtype)
    codes = jnp.clip(jnp.round(w / scale), -1, 1).astype(jnp.int4)
    return _qarray.QArray(codes, scale, None, "int2")


def _mse(w: jax.Array, rule: Rule) -> _qarray.QArray:
    """The clipping ratio (of the absmax scale) with the least squared error, per scale group."""
    qtype = jax_qtype(rule.qtype)
    axes = _group_axes(w, rule)
    absmax = jnp.max(jnp.abs(w), axis=axes, keepdims=True)
    bound = _qnum.get_symmetric_bound(qtype)
    ratios = jnp.linspace(0.5, 1.0, MSE_RATIOS, dtype=w.dtype)

    def error(r):
        scale = jnp.maximum(r * absmax / bound, jnp.sqrt(jnp.finfo(w.dtype).tiny))
        q = _qarray.quantize_with_scale_zero_point(w, qtype, scale, None)
        return jnp.sum(jnp.square(_qarray.dequantize(q) - w), axis=axes, keepdims=True)

    errors = jax.lax.map(error, ratios)  # (R, *scale shape)
    best = ratios[jnp.argmin(errors, axis=0)]
    scale = jnp.maximum(best * absmax / bound, jnp.sqrt(jnp.finfo(w.dtype).tiny))
    return _qarray.quantize_with_scale_zero_point(w, qtype, scale, None)


@functools.cache
def _gptq_program(qtype: str, per_channel: bool):
    """qwix's GPTQ, jitted once per (qtype, per_channel): its column loop is unrolled Python, which is
    slow op by op and slow to compile (seconds to a minute for hundreds of inputs on a CPU)."""
    from qwix.contrib import gptq_core

    how = _qarray.HowToQuantize(
        qtype=jax_qtype(qtype),
        channelwise_axes=(0,) if per_channel else (),
        calibration_method="absmax",
    )
    return jax.jit(lambda w, h: gptq_core.quantize_weight(w, h, how)[0]), how.qtype


def _gptq(w: jax.Array, rule: Rule, hessian: jax.Array, key: str) -> _qarray.QArray:
    """GPTQ (qwix contrib) of a dense kernel ``(in, out)``, for inputs with ``X^T X = hessian``."""
    if w.ndim != 2:
        raise _checks.OptionError(f"weight {key!r}: calibration 'gptq' takes dense kernels (in, out)")
    program, qtype = _gptq_program(rule.qtype, rule.per_channel)
    q = program(w.T, hessian)  # qwix's layout is (out, in)
    return _qarray.QArray(q.qvalue.T, q.scale.T, None if q.zero_point is None else q.zero_point.T, qtype)


def quantize_weight(w: jax.Array, rule: Rule, key: str, hessian: jax.Array | None = None) -> _qarray.QArray:
    """The ``QArray`` of weight ``w`` (named ``key`` in errors) under ``rule``."""
    w = jnp.asarray(w)
    if not jnp.issubdtype(w.dtype, jnp.floating):
        raise _checks.ArgumentTypeError(f"weight {key!r} must be floating point to quantise, got {w.dtype}")
    _check_tiles(rule, w, key)
    if rule.qtype == "ternary":
        return _ternary(w, rule)
    if rule.method == "mse":
        return _mse(w, rule)
    if rule.method == "gptq":
        if hessian is None:
            raise _checks.OptionError(
                f"weight {key!r}: calibration 'gptq' needs calibration inputs: pass `data=` to snnx.quant.ptq"
            )
        return _gptq(w, rule, hessian, key)
    return qwix.quantize(
        w,
        jax_qtype(rule.qtype),
        channelwise_axes=_how(rule, w.ndim).channelwise_axes,
        tiled_axes=_how(rule, w.ndim).tiled_axes or None,
        calibration_method=rule.calibration,
    )


def dequantize(q: _qarray.QArray) -> jax.Array:
    """The float weight ``q`` stands for (qwix's ``dequantize``)."""
    return qwix.dequantize(q)


def fake_quant(w: jax.Array, rule: Rule, key: str = "weight") -> jax.Array:
    """``dequantize(quantize(w))`` forward, identity backward (straight-through estimator).

    The forward value is exactly what :func:`quantize_weight` then
    :func:`dequantize` give, so a model trained with it and frozen by
    ``snnx.quant.convert`` computes the same numbers.
    """

    @jax.custom_vjp
    def fq(w):
        return dequantize(quantize_weight(w, rule, key))

    def fwd(w):
        return fq(w), None

    def bwd(_, g):
        return (g,)

    fq.defvjp(fwd, bwd)
    return fq(w)
