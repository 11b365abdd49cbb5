"""The import table: one entry per NIR primitive, everything ``from_nir`` knows about it.

An entry (:class:`Primitive`) says which per-unit fields the node carries, how
its output shape follows from its input shape, which input shape it needs (for
stripping batch axes that writers leave in Input shapes), whether it spikes or
can absorb a dense back edge, and how to build the snnx layers (channels-last)
that compute it. The graph walk (:mod:`snnx.nir._topology`), the builder
(:mod:`snnx.nir._import`), the tolerant reader (:mod:`snnx.nir._io`) and
``snnx nir info`` all read this table, so a new primitive is one entry here.
A dialect (:mod:`snnx.nir._dialects`) replaces the builders of the primitives a
framework runs differently and refuses the ones it cannot run.

The time-constant maths goes through :mod:`snnx.nir._discretise` (forward Euler,
``docs/nir-semantics.md``):

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

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from flax import nnx

from snnx import layers as L
from snnx import neurons as N
from snnx.nir import _convert as C
from snnx.nir import _discretise, _quant
from snnx.nir._errors import node_error
from snnx.nir._layout import Identity, NIRFlatten

Shape = tuple[int, ...]


@dataclass
class Site:
    """One node being built: where it is, what flows into it, and the import's settings."""

    name: str
    node: object
    in_shape: Shape
    dt: float
    reset: str | None
    rngs: nnx.Rngs
    recurrent: np.ndarray | None = None  # (N, N), NIR (out, in): a fused dense back edge
    recurrent_bias: np.ndarray | None = None

    @property
    def kind(self) -> str:
        return C.kind(self.node)

    def param(self, field: str, default=None) -> np.ndarray:
        """A per-unit field broadcast to the NIR input shape (float64, channels-first)."""
        return C.param(self.name, self.node, field, self.in_shape, default)

    def cl(self, field: str, default=None) -> np.ndarray:
        """The same field channels-last, float32, as the snnx layer takes it."""
        return C.channels_last(self.param(field, default).astype(np.float32))

    def tau(self, field: str) -> np.ndarray:
        return C.tau_param(self.name, self.node, field, self.in_shape)

    def euler_decay(self, field: str) -> np.ndarray:
        """``1 - dt/tau`` of ``field``, channels-last float32 (refused where Euler is unstable)."""
        return C.channels_last(
            C.euler_decay(self.name, self.node, field, self.tau(field), self.dt).astype(np.float32)
        )

    @property
    def snnx_shape(self) -> Shape:
        return C.snnx_shape(self.in_shape)


@dataclass(frozen=True)
class Primitive:
    """What ``from_nir`` knows about one NIR node type.

    Attributes:
        kind: the ``nir`` class name (``"LIF"``).
        build: ``Site -> list of snnx layers``; the layer computing the node comes last.
        params: per-unit fields, each a scalar or an array of the input shape.
        optional: per-unit fields with their default when absent (``v_reset`` 0).
        out_shape: ``(name, node, in_shape) -> out_shape``; ``None`` keeps the shape.
        needs: ``(node, shape) -> the per-sample input shape the node needs`` (or
            ``None``: it does not say); used to strip batch axes from Input shapes.
        fixed_rank: the node fixes the rank of its input (any extra leading axis is batch).
        spiking: it emits spikes and resets (``reset=`` applies).
        recurrent: a ``node <-> Affine/Linear`` two-node cycle over ``(N,)`` becomes one
            recurrent snnx neuron (``Site.recurrent``).
        shows: further fields ``snnx nir info`` prints (geometry).
    """

    kind: str
    build: Callable[[Site], list] | None
    params: tuple[str, ...] = ()
    optional: dict = field(default_factory=dict)
    out_shape: Callable | None = None
    needs: Callable | None = None
    fixed_rank: bool = False
    spiking: bool = False
    recurrent: bool = False
    shows: tuple[str, ...] = ()

    def fields(self) -> tuple[str, ...]:
        """Every per-unit field, required first."""
        return (*self.params, *self.optional)

    def output_shape(self, name: str, node, in_shape: Shape) -> Shape:
        """The batch-free NIR output shape; raises NIRError when ``in_shape`` does not fit."""
        for f in self.params:
            C.param(name, node, f, tuple(in_shape))
        for f, default in self.optional.items():
            C.param(name, node, f, tuple(in_shape), default)
        if self.out_shape is None:
            return tuple(in_shape)
        return self.out_shape(name, node, tuple(in_shape))


# -- shapes ---------------------------------------------------------------------------------


def _dense_shape(name, node, in_shape):
    k = C.kind(node)
    weight = C.array(name, node, "weight")
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
        C.param(name, node, "bias", (weight.shape[0],))
    return (weight.shape[0],)


def _needs_from_params(node, shape):
    """A per-unit parameter with more than one element tells the shape the node runs on."""
    for f in ("tau", "tau_mem", "r", "v_threshold", "threshold", "scale", "delay"):
        value = np.shape(getattr(node, f, None))
        if len(value) >= 1 and np.prod(value) > 1:
            return tuple(int(d) for d in value)
    return None


def _needs_dense(node, shape):
    return (int(np.shape(node.weight)[1]),)


def _needs_trailing(rank):
    return lambda node, shape: tuple(shape[len(shape) - rank :])


def _needs_flatten(node, shape):
    declared = (getattr(node, "input_type", None) or {}).get("input")
    return None if declared is None else tuple(int(d) for d in np.asarray(declared).reshape(-1))


# -- builders -------------------------------------------------------------------------------


def _build_dense(site: Site) -> list:
    name, node = site.name, site.node
    weight = C.array(name, node, "weight")
    layer = nnx.Linear(weight.shape[1], weight.shape[0], use_bias=site.kind == "Affine", rngs=site.rngs)
    C.set_value(layer.kernel, weight.T)
    if site.kind == "Affine":
        C.set_value(layer.bias, C.param(name, node, "bias", (weight.shape[0],)))
    _quant.restore(layer, node, name, np.transpose)
    return [layer]


def _build_conv(site: Site) -> list:
    name, node, in_shape = site.name, site.node, site.in_shape
    kernel, stride, dilation, groups, pads, _ = C.conv_geometry(name, node, in_shape)
    weight = C.array(name, node, "weight")
    layer = nnx.Conv(
        in_shape[0], weight.shape[0], kernel, strides=stride, padding=pads, kernel_dilation=dilation,
        feature_group_count=groups, use_bias=True, rngs=site.rngs,
    )  # fmt: skip
    C.set_value(layer.kernel, np.moveaxis(weight, (0, 1), (-1, -2)))
    C.set_value(layer.bias, C.param(name, node, "bias", (weight.shape[0],), default=0.0))
    _quant.restore(layer, node, name, lambda a: np.moveaxis(a, (0, 1), (-1, -2)))
    return [layer]


def _build_pool(site: Site) -> list:
    kernel, stride, pads, _ = C.pool_geometry(site.name, site.node, site.in_shape)
    cls = L.SumPool if site.kind == "SumPool2d" else L.AvgPool
    return [cls(kernel, strides=stride, padding=pads)]


def _build_flatten(site: Site) -> list:
    start, end, _ = C.flatten_geometry(site.name, site.node, site.in_shape)
    shape = site.in_shape
    if start == end or len(shape) == 1:
        return [Identity()]
    if start == 0 and end == len(shape) - 1:
        return [L.Flatten(order="chw")]
    return [NIRFlatten(shape, start, end)]


def _build_delay(site: Site) -> list:
    delay = site.param("delay")
    steps = _discretise.steps_from_delay(delay, site.dt)
    rounded = np.round(steps)
    if np.any(rounded < 0) or np.any(np.abs(steps - rounded) > 1e-6 * np.maximum(1.0, np.abs(steps))):
        raise node_error(
            site.name, "Delay", "delay", f"non-negative multiples of dt = {site.dt}", delay.ravel()[:4]
        )
    steps = C.channels_last(rounded.astype(np.int64))
    return [L.Delay(site.snnx_shape, int(steps.flat[0]) if np.all(steps == steps.flat[0]) else steps)]


def spike_options(site: Site) -> dict:
    """``reset`` and ``v_reset`` of a spiking node (``from_nir(reset=...)`` overrides the file)."""
    if site.reset == "subtract":
        return {"reset": "subtract", "v_reset": 0.0}
    return {"reset": site.reset or "zero", "v_reset": site.cl("v_reset", 0.0)}


def _recurrent_layer(site: Site, cls, *args, gain, **kw):
    layer = cls(site.snnx_shape[0], *args, **spike_options(site), **kw, rngs=site.rngs,
                use_bias=site.recurrent_bias is not None)  # fmt: skip
    return C.load_recurrent(layer, site.recurrent, site.recurrent_bias, gain)


def _build_integrator(site: Site) -> list:
    r = site.param("r")
    pre = C.gain_layer(site.in_shape, r)
    if site.kind == "I":
        return [*pre, N.I(site.snnx_shape)]
    if site.recurrent is not None:
        return [*pre, _recurrent_layer(site, N.RIF, site.cl("v_threshold"), gain=r)]
    return [*pre, N.IF(site.snnx_shape, site.cl("v_threshold"), **spike_options(site))]


def _build_leaky(site: Site) -> list:
    beta = site.euler_decay("tau")
    gain = _discretise.gain_from_tau(site.param("r"), site.tau("tau"), site.dt)
    pre, v_leak = C.gain_layer(site.in_shape, gain), site.cl("v_leak")
    if site.kind == "LI":
        return [*pre, N.LI(site.snnx_shape, beta, v_leak=v_leak)]
    if site.recurrent is not None:
        return [*pre, _recurrent_layer(site, N.RLIF, beta, site.cl("v_threshold"), v_leak=v_leak, gain=gain)]
    return [*pre, N.LIF(site.snnx_shape, beta, site.cl("v_threshold"), v_leak=v_leak, **spike_options(site))]


def _build_cuba(site: Site) -> list:
    alpha, beta = site.euler_decay("tau_syn"), site.euler_decay("tau_mem")
    gain = _discretise.gain_from_tau(site.param("w_in", 1.0), site.tau("tau_syn"), site.dt)
    gain = gain * _discretise.gain_from_tau(site.param("r"), site.tau("tau_mem"), site.dt)
    pre, v_leak = C.gain_layer(site.in_shape, gain), site.cl("v_leak")
    if site.kind == "CubaLI":
        return [*pre, N.CuBaLI(site.snnx_shape, alpha, beta, v_leak=v_leak)]
    thr = site.cl("v_threshold")
    if site.recurrent is not None:
        return [*pre, _recurrent_layer(site, N.RCuBaLIF, alpha, beta, thr, v_leak=v_leak, gain=gain)]
    return [*pre, N.CuBaLIF(site.snnx_shape, alpha, beta, thr, v_leak=v_leak, **spike_options(site))]


# -- the table ------------------------------------------------------------------------------

_GEOMETRY = ("stride", "padding", "dilation", "groups")
_RESET = {"v_reset": 0.0}

TABLE: dict[str, Primitive] = {
    p.kind: p
    for p in (
        Primitive("Input", None),
        Primitive("Output", None),
        Primitive("Affine", _build_dense, out_shape=_dense_shape, needs=_needs_dense, fixed_rank=True),
        Primitive("Linear", _build_dense, out_shape=_dense_shape, needs=_needs_dense, fixed_rank=True),
        Primitive("Conv1d", _build_conv, out_shape=lambda n, node, s: C.conv_geometry(n, node, s)[-1],
                  needs=_needs_trailing(2), fixed_rank=True, shows=_GEOMETRY),
        Primitive("Conv2d", _build_conv, out_shape=lambda n, node, s: C.conv_geometry(n, node, s)[-1],
                  needs=_needs_trailing(3), fixed_rank=True, shows=_GEOMETRY),
        Primitive("SumPool2d", _build_pool, out_shape=lambda n, node, s: C.pool_geometry(n, node, s)[-1],
                  needs=_needs_trailing(3), fixed_rank=True, shows=("kernel_size", "stride", "padding")),
        Primitive("AvgPool2d", _build_pool, out_shape=lambda n, node, s: C.pool_geometry(n, node, s)[-1],
                  needs=_needs_trailing(3), fixed_rank=True, shows=("kernel_size", "stride", "padding")),
        Primitive("Flatten", _build_flatten, out_shape=lambda n, node, s: C.flatten_geometry(n, node, s)[-1],
                  needs=_needs_flatten, shows=("start_dim", "end_dim")),
        Primitive("Identity", lambda site: [Identity()]),
        Primitive("Scale", lambda site: [L.Scale(site.snnx_shape, site.cl("scale"))], params=("scale",),
                  needs=_needs_from_params),
        Primitive("Threshold", lambda site: [L.Threshold(site.snnx_shape, site.cl("threshold"))],
                  params=("threshold",), needs=_needs_from_params),
        Primitive("Delay", _build_delay, params=("delay",), needs=_needs_from_params),
        Primitive("I", _build_integrator, params=("r",), needs=_needs_from_params),
        Primitive("IF", _build_integrator, params=("r", "v_threshold"), optional=_RESET,
                  needs=_needs_from_params, spiking=True, recurrent=True),
        Primitive("LI", _build_leaky, params=("tau", "r", "v_leak"), needs=_needs_from_params),
        Primitive("LIF", _build_leaky, params=("tau", "r", "v_leak", "v_threshold"), optional=_RESET,
                  needs=_needs_from_params, spiking=True, recurrent=True),
        Primitive("CubaLI", _build_cuba, params=("tau_syn", "tau_mem", "r", "v_leak"), optional={"w_in": 1.0},
                  needs=_needs_from_params),
        Primitive("CubaLIF", _build_cuba, params=("tau_syn", "tau_mem", "r", "v_leak", "v_threshold"),
                  optional={"w_in": 1.0, **_RESET}, needs=_needs_from_params, spiking=True, recurrent=True),
    )
}  # fmt: skip

SUPPORTED = tuple(TABLE)
NUMERIC_FIELDS = ("weight", "bias", *dict.fromkeys(f for p in TABLE.values() for f in p.fields()))
"""Fields that hold numbers, checked by the reader before ``nir`` builds the node."""


def entry(name: str, node) -> Primitive:
    """The table entry of ``node``; an unsupported type is a NIRError naming the node."""
    k = C.kind(node)
    if k not in TABLE:
        raise node_error(name, k, "type", f"a supported NIR primitive {list(SUPPORTED)}", repr(k))
    return TABLE[k]
