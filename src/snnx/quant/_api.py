"""Post-training quantisation, quantisation-aware training, freezing, and what a model weighs."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from snnx import _checks
from snnx.quant import _numerics
from snnx.quant._rules import Rule, Target, as_rules, assign, targets
from snnx.quant._variables import FakeQuant, Quantized


def _check_model(model) -> None:
    if not isinstance(model, nnx.Module):
        raise _checks.ArgumentTypeError(
            f"`model` must be a snnx model (an nnx.Module: Sequential, Graph, a model from from_nir), "
            f"got {type(model).__name__}"
        )


def _kernel(module):
    return module.kernel


def _float_kernel(target: Target) -> jax.Array:
    var = _kernel(target.module)
    if isinstance(var, Quantized):
        raise _checks.OptionError(
            f"weight {target.key!r} is quantised already ({var.get_metadata()['rule'].qtype}); quantise "
            f"the float model, or snnx.quant.dequantize(model) first"
        )
    if isinstance(var, FakeQuant):
        return var.get_raw_value()
    return var[...]


def ptq(model, rules="int8", *, data=None):
    """Post-training quantisation: a copy of ``model`` whose weights are quantised (``model`` is untouched).

    Each weight a rule takes becomes a :class:`Quantized` variable: integer codes
    and scales (a ``qwix.QArray``), read as the dequantised weight, so
    ``snnx.run``, ``fit`` (which then trains the rest: biases, learnable neuron
    parameters), ``snnx.nir.to_nir`` and the exporters all compute with exactly
    the quantised values. The layers keep their types, so the engine keeps its
    fused kernels.

    Args:
        model: a snnx model (``Sequential``, ``Graph``, a model from ``from_nir``).
        rules: a qtype name (``"int8"``, ``"int4"``, ``"ternary"``, ``"fp8"``...:
            every weight, per-channel, ``"absmax"``), a :class:`Rule`, a
            ``qwix.QtRule``, or a list of them (the first that matches a weight
            wins; a weight no rule matches stays float).
        data: calibration inputs ``[T, B, ...]`` for rules with
            ``calibration="gptq"`` (a few hundred samples are plenty).

    Returns:
        The quantised copy.

    Example:
        >>> q = ptq(model, Rule("int4", calibration="mse"))
        >>> out, _ = snnx.run(q, x)
    """
    _check_model(model)
    rules = as_rules(rules)
    if any(r.method == "gptq" for r in rules) and data is None:
        raise _checks.OptionError(
            "a rule has calibration='gptq', which needs calibration inputs: pass `data=`"
        )
    out = nnx.clone(model)
    for target in assign(out, rules):
        hessian = None
        if target.rule.method == "gptq" and target.rule.qtype != "ternary":
            hessian = _hessian(out, target, jnp.asarray(data))
        q = _numerics.quantize_weight(_float_kernel(target), target.rule, target.key, hessian)
        target.module.kernel = Quantized(q, rule=target.rule, key=target.key)
    return out


def qat(model, rules="int8"):
    """Quantisation-aware training: a copy of ``model`` whose weights are read through their quantised value.

    Each weight a rule takes becomes a :class:`FakeQuant` parameter: the float
    latent weight, read as ``dequantize(quantize(w))`` with a straight-through
    gradient (identity), so ``fit`` trains the latent weights while the forward
    pass computes with quantised ones. The scales follow the weights (computed
    every step with the rule's calibration; ``"gptq"`` is refused, being a
    one-off calibration). :func:`convert` freezes the result into the
    :class:`Quantized` model that computes the same outputs.

    Args:
        model: a snnx model; a :func:`ptq` model starts from its dequantised weights.
        rules: as for :func:`ptq`.

    Example:
        >>> m = qat(model, "int4")
        >>> fit(m, optax.adam(1e-3), loss, data, epochs=3)
        >>> frozen = convert(m)
    """
    _check_model(model)
    rules = as_rules(rules)
    for r in rules:
        if r.method == "gptq":
            raise _checks.OptionError(
                f"rule for {r.path!r}: calibration 'gptq' is a one-off rounding for ptq; qat recomputes the "
                f"scales every step (use 'absmax' or 'mse')"
            )
    out = nnx.clone(model)
    for target in assign(out, rules):
        var = _kernel(target.module)
        w = var[...]  # a Quantized weight starts from its dequantised value
        target.module.kernel = FakeQuant(w, rule=target.rule, key=target.key)
    return out


def convert(model):
    """Freeze a :func:`qat` model: each :class:`FakeQuant` weight becomes the :class:`Quantized` it reads as.

    The outputs do not change (both compute ``dequantize(quantize(w))`` with the
    same rule). Returns a copy.
    """
    _check_model(model)
    out = nnx.clone(model)
    found = False
    for target in targets(out):
        var = _kernel(target.module)
        if isinstance(var, FakeQuant):
            found = True
            rule = var.get_metadata()["rule"]
            q = _numerics.quantize_weight(var.get_raw_value(), rule, target.key)
            target.module.kernel = Quantized(q, rule=rule, key=target.key)
    if not found:
        raise _checks.OptionError("`model` has no FakeQuant weight to convert (make one with snnx.quant.qat)")
    return out


def quantize_membranes(model, grid, *, layers=None):
    """A copy of ``model`` whose neurons keep fixed-point membranes on ``grid`` (the ``state_quant`` option).

    The option every leaky and current-based neuron takes at construction
    (``LIF(..., state_quant=FixedPoint(8, -2.0, 2.0))``), set here on a model
    already built or trained. See :class:`snnx.neurons.FixedPoint` for the
    rounding; the fused kernel does not round, so these layers run in the scan
    path (``snnx.engine.plan`` says so).

    Args:
        model: a snnx model.
        grid: a :class:`snnx.neurons.FixedPoint` (``None`` turns the option off).
        layers: keys (``snnx.engine.layer_keys``) of the neurons to change;
            ``None``: every neuron that offers the option.

    Example:
        >>> q = quantize_membranes(model, FixedPoint(8, -2.0, 2.0))
    """
    from snnx.engine._record import catalogue
    from snnx.neurons._state_quant import check_option

    _check_model(model)
    out = nnx.clone(model)
    entries = [e for e in catalogue(out) if e.leaf and hasattr(e.layer, "state_quant")]
    if layers is not None:
        wanted = [layers] if isinstance(layers, str) else list(layers)
        offered = {e.key for e in entries}
        unknown = [k for k in wanted if k not in offered]
        if unknown:
            raise _checks.OptionError(
                f"`layers` names {unknown}, which are not neurons with fixed-point membranes; those are: "
                f"{sorted(offered)}"
            )
        entries = [e for e in entries if e.key in wanted]
    if not entries:
        raise _checks.OptionError(
            f"{type(model).__name__} has no neuron that offers fixed-point membranes (state_quant: LIF, IF, "
            f"LI, RIF, RLIF, CuBaLIF, CuBaLI)"
        )
    for e in entries:
        threshold = e.layer.threshold[...] if hasattr(e.layer, "threshold") else None
        try:
            e.layer.state_quant = check_option(grid, threshold)
        except ValueError as err:
            raise type(err)(f"layer {e.key!r} ({type(e.layer).__name__}): {err}") from None
    return out


def dequantize(model):
    """A float copy of ``model``: every quantised weight replaced by the ``nnx.Param`` of its value."""
    _check_model(model)
    out = nnx.clone(model)
    for target in targets(out):
        var = _kernel(target.module)
        if isinstance(var, (Quantized, FakeQuant)):
            target.module.kernel = nnx.Param(var[...])
    return out


def _leaf_arrays(var) -> list:
    return [a for a in jax.tree.leaves(var.get_raw_value()) if hasattr(a, "shape")]


def _variable_bytes(var) -> int:
    if isinstance(var, Quantized):
        q = var.get_raw_value()
        bits = var.get_metadata()["rule"].bits
        extra = [q.scale] + ([] if q.zero_point is None else [q.zero_point])
        packed = math.ceil(int(np.prod(q.qvalue.shape)) * bits / 8)
        return packed + sum(int(np.asarray(a).nbytes) for a in extra)
    return sum(int(np.prod(a.shape)) * jnp.dtype(a.dtype).itemsize for a in _leaf_arrays(var))


def size_bytes(model) -> int:
    """Bytes to store ``model``'s parameters: quantised weights at their bit width (packed) plus their scales
    and zero points, every other parameter (``nnx.Param``, frozen ``Const``) at its dtype's size.

    Example:
        >>> size_bytes(ptq(model, "int4")) < size_bytes(model) / 4
        True
    """
    _check_model(model)
    from snnx._params import Const

    total = 0
    for _, var in nnx.iter_graph(model):
        if isinstance(var, (nnx.Param, Const)):
            total += _variable_bytes(var)
    return total


@dataclasses.dataclass(frozen=True)
class WeightInfo:
    """One row of :func:`summary`."""

    key: str
    op: str
    shape: tuple[int, ...]
    state: str  # "float", "quantized" or "fake-quant"
    qtype: str | None
    per_channel: bool | None
    calibration: str | None
    bytes: int


def summary(model) -> list[WeightInfo]:
    """What happened to each quantisable weight of ``model``: its qtype, scales and bytes."""
    _check_model(model)
    rows = []
    for t in targets(model):
        var = _kernel(t.module)
        quantised = isinstance(var, (Quantized, FakeQuant))
        rule: Rule | None = var.get_metadata().get("rule") if quantised else None
        state = {Quantized: "quantized", FakeQuant: "fake-quant"}.get(type(var), "float")
        rows.append(
            WeightInfo(
                t.key,
                t.op,
                tuple(var[...].shape),
                state,
                None if rule is None else rule.qtype,
                None if rule is None else rule.per_channel,
                None if rule is None else rule.calibration,
                _variable_bytes(var),
            )
        )
    return rows


# -- GPTQ's calibration inputs -------------------------------------------------------------------------


def _hessian(model, target: Target, data: jax.Array) -> jax.Array:
    """``X^T X`` over the rows ``X`` that ``target``'s kernel multiplies when ``model`` runs on ``data``."""
    rows = _inputs(model, target, data)
    rows = jnp.reshape(rows, (-1, rows.shape[-1])).astype(jnp.float32)
    return rows.T @ rows


def _inputs(model, target: Target, data: jax.Array) -> jax.Array:
    from snnx.engine import run
    from snnx.engine._record import catalogue

    entries = catalogue(model)
    if target.op == "recurrent":  # the neuron's own spikes of the previous step
        owner = target.key.rsplit(".", 1)[0]
        _, _, rec = run(model, data, record=owner)
        z = rec.outputs[owner]
        return jnp.concatenate([jnp.zeros_like(z[:1]), z[:-1]], axis=0)
    if target.op != "dense":
        raise _checks.OptionError(
            f"weight {target.key!r} ({target.op}): calibration 'gptq' takes dense and recurrent weights; "
            f"use 'mse' or 'absmax' for it"
        )
    by_key = {e.key: e for e in entries}
    entry = by_key.get(target.key)
    if entry is None or len(entries) == 1:
        if entry is not None:
            return data
        raise _checks.OptionError(
            f"weight {target.key!r}: calibration 'gptq' takes the kernels of layers of a Sequential or Graph"
        )
    parent_path, seg = entry.path[:-1], entry.path[-1]
    siblings = [e for e in entries if e.path[:-1] == parent_path]
    index = [e.path[-1] for e in siblings].index(seg)
    if not isinstance(seg, int):
        raise _checks.OptionError(
            f"weight {target.key!r}: calibration 'gptq' needs the layer's input, which a Graph node takes "
            f"from several edges; use 'mse' for it"
        )
    if index == 0:
        if parent_path:
            raise _checks.OptionError(
                f"weight {target.key!r}: calibration 'gptq' needs the input of a nested Sequential's first "
                f"layer; use 'mse' for it"
            )
        return data
    prev = siblings[index - 1]
    if not prev.leaf:
        raise _checks.OptionError(
            f"weight {target.key!r}: calibration 'gptq' needs the output of layer {prev.key!r}, a container; "
            f"use 'mse' for it"
        )
    _, _, rec = run(model, data, record=prev.key)
    return rec.outputs[prev.key]
