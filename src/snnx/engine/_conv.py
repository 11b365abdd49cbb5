"""A 2-D convolution whose kernel gradient is one im2col GEMM (``Options.conv_weight_grad``).

XLA's CPU backend computes the kernel gradient ``dW`` of a convolution as another
convolution (the output gradient as kernel), slow for wide layers. :func:`conv` keeps XLA's
forward pass and input gradient (bit for bit ``nnx.Conv``'s and autodiff's) and computes::

    P[r, (i, j, c)] = x_padded[n, ho * s_h + i, wo * s_w + j, c]     r = (n, ho, wo)
    dW[i, j, c, o]  = sum_r P[r, (i, j, c)] * g[r, o]

The backward pass builds the patches ``P`` for a chunk of samples at a time (at most
``chunk_bytes``, 1 MiB: small chunks stay in cache and measured fastest) and accumulates
``dW`` in float32; nothing is kept from the forward pass but ``x`` and the kernel.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from flax import nnx
from flax.nnx.nn import dtypes as nnx_dtypes
from jax import lax

# NHWC input, HWIO kernel, NHWC output: what nnx.Conv passes for a 4-D input.
_DN = lax.ConvDimensionNumbers(lhs_spec=(0, 3, 1, 2), rhs_spec=(3, 2, 0, 1), out_spec=(0, 3, 1, 2))
CHUNK_BYTES = 2**20


def _lax_conv(x, kernel, strides, padding, precision):
    return lax.conv_general_dilated(
        x, kernel, strides, padding, lhs_dilation=(1, 1), rhs_dilation=(1, 1), dimension_numbers=_DN,
        feature_group_count=1, precision=precision,
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def conv(x, kernel, strides, padding, precision=None, chunk_bytes=CHUNK_BYTES):
    """``lax.conv_general_dilated(x, kernel, ...)`` as ``nnx.Conv`` calls it, with an im2col-GEMM ``dW``.

    Args:
        x: input of shape ``(N, H, W, C_in)``.
        kernel: kernel of shape ``(kh, kw, C_in, C_out)``, the dtype of ``x``.
        strides: ``(s_h, s_w)``.
        padding: ``"SAME"``, ``"VALID"`` or ``((lo_h, hi_h), (lo_w, hi_w))``.
        precision: ``lax.conv_general_dilated``'s ``precision`` (hashable, like every argument after it).
        chunk_bytes: the most bytes of patches the backward pass builds at once.

    Returns:
        The output, shape ``(N, H_out, W_out, C_out)``.
    """
    return _lax_conv(x, kernel, strides, padding, precision)


def _fwd(x, kernel, strides, padding, precision, chunk_bytes):
    return _lax_conv(x, kernel, strides, padding, precision), (x, kernel)


def _bwd(strides, padding, precision, chunk_bytes, res, g):
    x, kernel = res
    (dx,) = jax.vjp(lambda x_: _lax_conv(x_, kernel, strides, padding, precision), x)[1](g)
    dw = weight_grad(x, g, kernel.shape, strides, padding, precision, chunk_bytes)
    return dx, dw.astype(kernel.dtype)


conv.defvjp(_fwd, _bwd)


def weight_grad(x, g, kernel_shape, strides, padding, precision=None, chunk_bytes=CHUNK_BYTES):
    """``dW`` of the convolution as an im2col GEMM over chunks of samples, in float32.

    Args:
        x: input of shape ``(N, H, W, C_in)``; ``g``: output gradient ``(N, H_out, W_out, C_out)``.
        kernel_shape: ``(kh, kw, C_in, C_out)``; the rest as for :func:`conv`.

    Returns:
        ``dW`` of shape ``kernel_shape``, float32.
    """
    kh, kw, c_in, c_out = kernel_shape
    n, ho, wo = g.shape[:3]
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(x.shape[1:3], (kh, kw), strides, padding)
    (lh, hh), (lw, hw) = padding
    xp = lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (lh, hh, 0), (lw, hw, 0), (0, 0, 0)))
    sh, sw = strides

    def partial_dw(xc, gc):
        m, ends = xc.shape[0], ((ho - 1) * sh + 1, (wo - 1) * sw + 1)
        taps = [lax.slice(xc, (0, i, j, 0), (m, i + ends[0], j + ends[1], c_in), (1, sh, sw, 1))
                for i in range(kh) for j in range(kw)]  # fmt: skip
        patches = jnp.stack(taps, axis=3).reshape(m * ho * wo, kh * kw * c_in)
        return lax.dot_general(patches, gc.reshape(m * ho * wo, c_out), (((0,), (0,)), ((), ())),
                               precision=precision, preferred_element_type=jnp.float32)

    step = max(1, min(n, chunk_bytes // max(1, ho * wo * kh * kw * c_in * jnp.dtype(x.dtype).itemsize)))
    full = n // step
    if full == 1:
        dw = partial_dw(xp[:step], g[:step])
    else:
        def body(acc, xg):
            return acc + partial_dw(*xg), None

        xs = xp[: full * step].reshape((full, step, *xp.shape[1:]))
        gs = g[: full * step].reshape((full, step, *g.shape[1:]))
        dw, _ = lax.scan(body, jnp.zeros((kh * kw * c_in, c_out), jnp.float32), (xs, gs))
    if full * step < n:
        dw = dw + partial_dw(xp[full * step :], g[full * step :])
    return dw.reshape(kernel_shape)


def _pairs(value, rank: int) -> tuple:
    value = 1 if value is None else value
    return (value,) * rank if isinstance(value, int) else tuple(value)


def lax_padding(layer):
    """``layer``'s padding as :func:`conv` takes it, or ``None`` when it is not one of those forms."""
    p = layer.padding
    if isinstance(p, str):
        return p if p in ("SAME", "VALID") else None
    try:
        p = nnx.nn.linear.canonicalize_padding(p, 2)
        return tuple((int(lo), int(hi)) for lo, hi in p)
    except (ValueError, TypeError):
        return None


def supports(layer, dtype=None) -> str | None:
    """``None`` when ``layer`` is a plain 2-D ``nnx.Conv`` :func:`apply` computes, else why not
    (``dtype``: its input's dtype, checked when given: the conv must compute in float32 or bfloat16)."""
    if not isinstance(layer, nnx.Conv):
        return "not an nnx.Conv"
    if type(layer) is not nnx.Conv:
        return f"a subclass of nnx.Conv ({type(layer).__name__}: its __call__ may differ)"
    blockers = (
        (len(layer.kernel_size) != 2, f"a {len(layer.kernel_size)}-D conv (only 2-D)"),
        (layer.feature_group_count != 1, "feature groups"),
        (_pairs(layer.kernel_dilation, 2) != (1, 1), "kernel dilation"),
        (_pairs(layer.input_dilation, 2) != (1, 1), "input dilation"),
        (layer.mask is not None, "a mask"),
        (lax_padding(layer) is None, f"padding {layer.padding!r} (only 'SAME', 'VALID' or explicit pairs)"),
        (layer.conv_general_dilated is not lax.conv_general_dilated, "a custom conv_general_dilated"),
        (layer.promote_dtype is not nnx_dtypes.promote_dtype, "a custom promote_dtype"),
        (layer.preferred_element_type is not None, "a preferred_element_type"),
    )
    for blocked, why in blockers:
        if blocked:
            return why
    if dtype is not None:
        params = [layer.kernel[...]] + ([layer.bias[...]] if layer.bias is not None else [])
        d = jnp.dtype(layer.dtype) if layer.dtype is not None else jnp.result_type(dtype, *params)
        if d.name not in ("float32", "bfloat16"):
            return f"a conv computing in {d.name} (only float32, bfloat16)"
    return None


def rule(layer, in_shape) -> tuple[bool, str]:
    """``(wins, why)``: the CPU rule of ``conv_weight_grad="auto"`` for ``layer`` (one :func:`supports`
    accepts) on input ``in_shape`` (``(N, H, W, C_in)`` or ``(H, W, C_in)``), and its reason.

    The GEMM ``dW`` measured faster (``benchmarks/conv_candidates.py``, 2-core x86, XLA CPU)
    with many columns (``C_out >= 32``, >= 16 output positions per sample) or short patch rows
    (``kh * kw * C_in <= 144``, >= 64 output positions); XLA's convolution won for small
    ``C_out`` with long patch rows and for tiny outputs (docs/design/engine-plan.md).
    """
    kh, kw, c_in, c_out = layer.kernel_shape
    h, w = in_shape[-3], in_shape[-2]
    pad = lax_padding(layer)
    strides = _pairs(layer.strides, 2)
    pads = lax.padtype_to_pads((h, w), (kh, kw), strides, pad) if isinstance(pad, str) else pad
    positions = math.prod(max(0, (n + lo + hi - k) // st + 1)
                          for n, k, st, (lo, hi) in zip((h, w), (kh, kw), strides, pads, strict=True))
    row = kh * kw * c_in
    if c_out >= 32 and positions >= 16:
        return True, f"C_out {c_out} >= 32 with {positions} >= 16 output positions: the GEMM measured faster"
    if row <= 144 and positions >= 64:
        return True, (f"patch rows kh*kw*C_in = {row} <= 144 with {positions} >= 64 output positions: "
                      "the GEMM measured faster")
    return False, (f"C_out {c_out}, patch rows {row}, {positions} output positions: XLA measured faster "
                   "(the GEMM wins with C_out >= 32 and >= 16 positions, or rows <= 144 and >= 64)")


def wins(layer, in_shape) -> bool:
    """Whether the GEMM ``dW`` beats XLA's for ``layer`` on ``in_shape`` on CPU (:func:`rule`)."""
    return rule(layer, in_shape)[0]


def apply(layer, rows, *, gemm: bool = True, bias: bool = True):
    """``layer(rows)`` (``rows``: ``(N, H, W, C_in)``) for a layer :func:`supports` accepts:
    nnx.Conv's dtype promotion, convolution and bias add. ``gemm``: with :func:`conv` (the same
    output and input gradient, the GEMM ``dW``), else XLA's convolution as ``nnx.Conv`` calls it;
    ``bias=False`` leaves the bias out (the engine adds it in the next neuron's loop)."""
    kernel = layer.kernel[...]
    b = layer.bias[...] if layer.bias is not None else None
    x, kernel, b = layer.promote_dtype((rows, kernel, b), dtype=layer.dtype)
    strides, padding = _pairs(layer.strides, 2), lax_padding(layer)
    y = (conv if gemm else _lax_conv)(x, kernel, strides, padding, layer.precision)
    if bias and layer.use_bias:
        y += b.reshape((1,) * (y.ndim - b.ndim) + b.shape)
    return y
