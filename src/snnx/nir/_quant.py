"""Quantised weights in NIR: written as their dequantised values, with the quantisation in node metadata.

A weight quantised by ``snnx.quant`` is written as exactly the float values the
quantised model computes with, so every NIR reader reproduces its spikes. The
node's ``metadata["quant"]`` records how those values arose::

    {"qtype": "int4", "bits": 4, "scale": <array>, "zero_point": <array> (asymmetric only),
     "per_channel": True, "calibration": "absmax", "tile_size": -1}

``scale`` (and ``zero_point``) broadcast against the node's own ``weight``
(NIR layout: ``(out, in)`` for Affine/Linear, ``(out, in, *kernel)`` for
convolutions), tile by tile when ``tile_size`` > 0. ``from_nir`` rebuilds the
integer codes from the weights and the scales, checks that they give back the
written weights bit for bit, and returns a quantised model (``snnx.quant``
needs the ``quant`` extra; without it the weights load as the same floats).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from snnx.nir._errors import NIRError

KEY = "quant"


def _quant_types():
    try:
        from snnx.quant import Quantized, Rule
    except ImportError:
        return None
    return Quantized, Rule


def metadata(var, to_nir: Callable[[np.ndarray], np.ndarray]) -> dict:
    """``{"quant": {...}}`` for a :class:`snnx.quant.Quantized` kernel variable, ``{}`` for a float one.

    ``to_nir`` maps an array in the snnx kernel layout to the NIR weight layout
    (the same map the weight went through).
    """
    types = _quant_types()
    if types is None or not isinstance(var, types[0]):
        return {}
    q = var.get_raw_value()
    rule = var.get_metadata()["rule"]
    meta = {**rule.describe(), "bits": int(rule.bits), "scale": to_nir(np.asarray(q.scale, np.float32))}
    if q.zero_point is not None:
        meta["zero_point"] = to_nir(np.asarray(q.zero_point, np.float32))
    return {KEY: meta}


def _plain(value):
    value = np.asarray(value)
    return value.item() if value.ndim == 0 else value


def restore(module, node, name: str, from_nir: Callable[[np.ndarray], np.ndarray]) -> None:
    """Make ``module.kernel`` the quantised weight ``node.metadata["quant"]`` describes (if it has one)."""
    meta = (getattr(node, "metadata", None) or {}).get(KEY)
    if not meta:
        return
    types = _quant_types()
    if types is None:
        warnings.warn(
            f"NIR node {name!r} holds quantised weights (metadata 'quant'); without qwix they load as the "
            f"same float values: pip install 'snnx[quant]' to get the quantised layer",
            stacklevel=4,
        )
        return
    import jax.numpy as jnp
    from qwix._src.core.qarray import dequantize, quantize_with_scale_zero_point

    from snnx.quant._rules import jax_qtype

    quantized, rule_type = types
    try:
        tile = int(_plain(meta.get("tile_size", -1)))
        rule = rule_type(
            str(_plain(meta["qtype"])),
            per_channel=bool(_plain(meta.get("per_channel", True))),
            calibration=str(_plain(meta.get("calibration", "absmax"))),
            tile_size=None if tile <= 0 else tile,
        )
        scale = from_nir(np.asarray(meta["scale"], np.float32))
        zp = meta.get("zero_point")
        zp = None if zp is None else from_nir(np.asarray(zp, np.float32))
    except (KeyError, TypeError, ValueError) as err:
        raise NIRError(
            f"node {name!r}: metadata 'quant' is malformed ({err}); expected the fields qtype, scale and "
            f"optionally zero_point, per_channel, calibration, tile_size"
        ) from err
    kernel = jnp.asarray(module.kernel[...])
    if scale.ndim != kernel.ndim or any(k % s for k, s in zip(kernel.shape, scale.shape, strict=True)):
        raise NIRError(
            f"node {name!r}: metadata 'quant' has scales of shape {scale.shape}, which do not tile its "
            f"weight of shape {tuple(kernel.shape)} (snnx layout)"
        )
    zp_arr = None if zp is None else jnp.asarray(zp).astype(jax_qtype(rule.qtype))
    q = quantize_with_scale_zero_point(kernel, jax_qtype(rule.qtype), jnp.asarray(scale), zp_arr)
    if not np.array_equal(np.asarray(dequantize(q)), np.asarray(kernel)):
        raise NIRError(
            f"node {name!r}: its weights are not the values its metadata 'quant' ({rule.qtype}, scales of "
            f"shape {scale.shape}) gives; the file was changed after export, or its scales are wrong"
        )
    module.kernel = quantized(q, rule=rule, key=name)
