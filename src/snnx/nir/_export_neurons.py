"""Neuron exporters: parameters written so that NIR's forward-Euler reading is exact.

A decay ``beta`` (unit input gain, ``v = beta v + (1 - beta) v_leak + x``) is
written as ``tau = dt / (1 - beta)`` with ``r = tau / dt``; a synaptic decay
``alpha`` as ``tau_syn = dt / (1 - alpha)`` with ``w_in = tau_syn / dt``. A decay
of exactly 1 is a perfect integrator (``nir.I`` / ``nir.IF``), never
``tau = inf``. All conversions go through :mod:`snnx.nir._discretise`.
"""

from __future__ import annotations

from collections.abc import Callable

import nir
import numpy as np

from snnx.nir import _discretise as disc
from snnx.nir._errors import NIRError
from snnx.nir._export_base import (
    Context,
    Fragment,
    Shape,
    chain,
    check_units,
    decay,
    dense_node,
    f32,
    param,
    single,
    type_name,
)


def membrane(
    name: str,
    layer,
    shape: Shape,
    ctx: Context,
    *,
    beta: np.ndarray | None,
    v_leak: np.ndarray | None,
    threshold: np.ndarray | None,
    v_reset: np.ndarray | None,
    reset: str,
    gain: np.ndarray | None = None,
) -> Fragment:
    """``v = beta v + (1 - beta) v_leak + x`` (``beta is None``: ``v = v + x``), then spike/reset.

    ``threshold is None``: non-spiking (LI / I). ``reset == "none"``: the
    membrane node followed by a ``Threshold`` node (exact: nothing is reset).
    ``gain``: an input gain ``g`` (``... + g x``), written as ``r = g tau / dt``
    (``r = g`` for IF / I); ``None`` is 1.
    """
    r_plain = np.ones(shape, np.float32) if gain is None else f32(gain)  # IF / I: v += r x
    spiking = threshold is not None and reset != "none"
    meta = {}
    if spiking:
        meta = {"reset": reset}
        if reset == "subtract":
            ctx.subtract_resets.append(f"{name!r} ({type_name(layer)})")
            v_reset = np.zeros(shape)
    if beta is None:
        node = (
            nir.IF(r=r_plain, v_threshold=f32(threshold), v_reset=f32(v_reset), metadata=meta)
            if spiking
            else nir.I(r=r_plain)
        )
    else:
        tau = disc.tau_from_decay(beta, ctx.dt)
        r = disc.unit_gain_r(tau, ctx.dt) * (1.0 if gain is None else gain)
        common = {"tau": f32(tau), "r": f32(r), "v_leak": f32(v_leak)}
        node = (
            nir.LIF(**common, v_threshold=f32(threshold), v_reset=f32(v_reset), metadata=meta)
            if spiking
            else nir.LI(**common)
        )
    frag = single(name, node, shape)
    if threshold is not None and reset == "none":
        frag = chain(frag, single(f"{name}_threshold", nir.Threshold(threshold=f32(threshold)), shape))
    return frag


def current_based(
    name: str, layer, shape: Shape, ctx: Context, *, threshold, v_reset, reset: str
) -> Fragment:
    """``i = alpha i + x``; then :func:`membrane` driven by ``i``."""
    alpha = decay(layer, "alpha", name, shape)
    beta = decay(layer, "beta", name, shape)
    v_leak = param(layer, "v_leak", shape)
    if alpha is None or beta is None:
        # An integrating synapse or membrane has no finite tau: write the two stages apart.
        if alpha is None:
            syn = nir.I(r=np.ones(shape, np.float32))
        else:
            tau_syn = disc.tau_from_decay(alpha, ctx.dt)
            syn = nir.LI(
                tau=f32(tau_syn),
                r=f32(disc.unit_gain_r(tau_syn, ctx.dt)),
                v_leak=np.zeros(shape, np.float32),
            )
        mem = membrane(
            f"{name}_mem", layer, shape, ctx,
            beta=beta, v_leak=v_leak, threshold=threshold, v_reset=v_reset, reset=reset,
        )  # fmt: skip
        return chain(single(name, syn, shape), mem)
    tau_syn = disc.tau_from_decay(alpha, ctx.dt)
    tau_mem = disc.tau_from_decay(beta, ctx.dt)
    common = {
        "tau_syn": f32(tau_syn),
        "tau_mem": f32(tau_mem),
        "r": f32(disc.unit_gain_r(tau_mem, ctx.dt)),
        "v_leak": f32(v_leak),
        "w_in": f32(disc.unit_gain_r(tau_syn, ctx.dt)),
    }
    if threshold is None or reset == "none":
        frag = single(name, nir.CubaLI(**common), shape)
        if threshold is not None:
            frag = chain(frag, single(f"{name}_threshold", nir.Threshold(threshold=f32(threshold)), shape))
        return frag
    if reset == "subtract":
        ctx.subtract_resets.append(f"{name!r} ({type_name(layer)})")
        v_reset = np.zeros(shape)
    node = nir.CubaLIF(**common, v_threshold=f32(threshold), v_reset=f32(v_reset), metadata={"reset": reset})
    return single(name, node, shape)


def export_lif(layer, name, shape, ctx):
    check_units(layer, name, shape)
    if getattr(layer, "inhibition", False):  # RLIF shares this exporter and has neither option
        raise NIRError(
            f"layer {name!r} ({type_name(layer)}) has lateral inhibition (inhibition=True): only the unit "
            "with the largest v - threshold of each sample spikes, which couples the units; NIR neurons act "
            "unit by unit, so it has no NIR form",
            node=name,
        )
    frag = membrane(
        name, layer, shape, ctx,
        beta=decay(layer, "beta", name, shape),
        v_leak=param(layer, "v_leak", shape),
        threshold=param(layer, "threshold", shape),
        v_reset=param(layer, "v_reset", shape),
        reset=layer.reset,
    )  # fmt: skip
    if getattr(layer, "graded_spikes_factor", None) is not None:  # graded spikes: LIF then Scale (exact)
        scale = nir.Scale(scale=f32(param(layer, "graded_spikes_factor", shape)))
        frag = chain(frag, single(f"{name}_graded", scale, shape))
    return frag


def export_if(layer, name, shape, ctx):
    check_units(layer, name, shape)
    return membrane(
        name, layer, shape, ctx,
        beta=None, v_leak=None,
        threshold=param(layer, "threshold", shape),
        v_reset=param(layer, "v_reset", shape),
        reset=layer.reset,
    )  # fmt: skip


def export_li(layer, name, shape, ctx):
    check_units(layer, name, shape)
    return membrane(
        name, layer, shape, ctx,
        beta=decay(layer, "beta", name, shape), v_leak=param(layer, "v_leak", shape),
        threshold=None, v_reset=None, reset="none",
    )  # fmt: skip


def export_i(layer, name, shape, ctx):
    check_units(layer, name, shape)
    return single(name, nir.I(r=np.ones(shape, np.float32)), shape)


def export_cubalif(layer, name, shape, ctx):
    check_units(layer, name, shape)
    return current_based(
        name, layer, shape, ctx,
        threshold=param(layer, "threshold", shape),
        v_reset=param(layer, "v_reset", shape),
        reset=layer.reset,
    )  # fmt: skip


def export_cubali(layer, name, shape, ctx):
    check_units(layer, name, shape)
    return current_based(name, layer, shape, ctx, threshold=None, v_reset=None, reset="none")


def export_lapicque(layer, name, shape, ctx):
    # v = beta v + gain x: LIF with tau = dt / (1 - beta), r = gain tau / dt (tau = R C, r = R at the
    # neuron's own dt); IF with r = gain if beta is 1 everywhere (a learnt decay can reach it).
    check_units(layer, name, shape)
    return membrane(
        name, layer, shape, ctx,
        beta=decay(layer, "beta", name, shape), v_leak=np.zeros(shape),
        threshold=param(layer, "threshold", shape),
        v_reset=param(layer, "v_reset", shape),
        reset=layer.reset,
        gain=param(layer, "gain", shape),
    )  # fmt: skip


def export_psu_lif(layer, name, shape, ctx):
    # Reset-free by construction: LI (or I for beta = 1) followed by Threshold is exact.
    check_units(layer, name, shape)
    return membrane(
        name, layer, shape, ctx,
        beta=decay(layer, "beta", name, shape), v_leak=np.zeros(shape),
        threshold=param(layer, "threshold", shape), v_reset=None, reset="none",
    )  # fmt: skip


def export_recurrent(core: Callable[..., Fragment], inner: str):
    """A recurrent layer as a nested graph: input -> neuron -> w_rec -> neuron (back edge) -> output."""

    def export(layer, name, shape, ctx):
        check_units(layer, name, shape)
        noted = len(ctx.subtract_resets)
        neuron = core(layer, inner, shape, ctx)
        if len(ctx.subtract_resets) > noted:  # name the reset note after the layer, not the inner node
            ctx.subtract_resets[noted:] = [f"{name!r} ({type_name(layer)})"]
        w_rec = dense_node(layer.recurrent, f"{name}.w_rec", shape)
        n = np.array(shape)
        nodes = {
            "input": nir.Input(input_type=n),
            **neuron.nodes,
            "w_rec": w_rec,
            "output": nir.Output(output_type=n),
        }
        edges = [
            ("input", neuron.entry),
            *neuron.edges,
            (neuron.exit, "w_rec"),
            ("w_rec", neuron.entry),
            (neuron.exit, "output"),
        ]
        try:
            graph = nir.NIRGraph(nodes, edges, metadata={"snnx_layer": type_name(layer)})
        except ValueError as err:  # a bug here, not a user error; still say where
            raise NIRError(
                f"layer {name!r} ({type_name(layer)}): NIR rejected the recurrent subgraph: {err}"
            ) from err
        return single(name, graph, shape)

    return export
