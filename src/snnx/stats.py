"""NeuroBench's cost and activity metrics for snnx models: ``measure(model, x) -> Report``.

The definitions follow NeuroBench 2.3 (Yik et al., "The neurobench framework for
benchmarking neuromorphic computing algorithms and systems", *Nature
Communications*, 2025) and were checked against NeuroBench itself on snnTorch imports of the
same NIR files (``tests/data/neurobench``, ``tests/test_stats.py``). Symbols:
``T`` steps, ``B`` samples, ``x[t]`` the input a layer received at step ``t``
(the whole batch), ``W`` its effective weights (``kernel * mask``), ``1[.]``
the indicator, ``#`` a count.

* **Synaptic operations** of a connection (``nnx.Linear``, ``nnx.Conv``, the
  recurrent weights of ``RIF``/``RLIF``/``RCuBaLIF``): per step,
  ``ops[t] = sum_out (1[W != 0] (*) 1[x[t] != 0])``, the layer applied to the
  binarised input with binarised weights and no bias, i.e. the products with a
  non-zero weight and a non-zero input. A step whose inputs all lie in
  {-1, 0, 1} (over the whole batch) counts as ACs, any other step as MACs.
  ``dense`` is the same with every weight and input 1 (zero padding still 0).
  Totals are divided by ``B`` (per sample): ``effective_acs = sum_{t spiking}
  ops[t] / B``, ``effective_macs = sum_{t not spiking} ops[t] / B``,
  ``dense_ops = T * B * dense_one / B``.
* **Activation sparsity** over the spiking layers (spiking neurons and
  ``Threshold``): ``1 - #(z != 0) / #z`` over all their outputs, steps and
  samples; ``spike_rate = #(z != 0) / #z`` (the same per layer).
* **Membrane updates** per neuron layer (spiking or not):
  ``#v[0] + sum_{t>=1} #(v[t] != v[t-1])`` with ``v[t]`` the membrane after
  step ``t`` (after the reset), per sample.
* **Neuron operations**: membrane updates times NeuroBench's cost of one update
  of the matching snnTorch neuron (``LIF``, ``IF``, ``RLIF``, ``RIF`` are its
  ``Leaky``: 4; ``CuBaLIF``, ``RCuBaLIF`` its ``Synaptic``: 6 with subtractive
  reset, 8 with reset to zero); dense: ``T * B * units`` times the same, per
  sample. Other neurons have no NeuroBench cost: the totals are ``None``.
* **Parameter count**: elements of the ``nnx.Param`` arrays (frozen
  :class:`~snnx.neurons.Const` neuron constants are not parameters, as
  snnTorch's buffers are not).
* **Footprint**: bytes of every array the model holds (parameters and
  constants); the run state (membranes) lives outside the model.
* **Connection sparsity**: ``#(W == 0) / #W`` over the connection kernels
  (biases excluded); NeuroBench rounds it to 4 decimals, we do not.

Layers that cost nothing, as in NeuroBench (which counts only
Linear/Conv/RNN layers and activation modules): ``Flatten``, ``SumPool``,
``AvgPool``, ``MaxPool``, ``Scale``, ``Population``, ``Delay`` and the layout
adapters of ``from_nir``. Any other layer (a plain function, a module of
another library, an unknown stateful module, a subclass of a counted layer)
raises ``snnx.ArgumentTypeError`` naming its key, its type and what cannot be
counted; pass ``free=(Type, ...)`` to declare more types cost-free.
``docs/stats.md`` lists where the numbers differ from NeuroBench's on snnTorch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from snnx import _checks, layers
from snnx.engine import _record
from snnx.engine._rules import is_plain_sequential
from snnx.engine._run import run
from snnx.engine._sequential import is_stateful
from snnx.neurons import IF, LIF, RIF, RLIF, CuBaLIF, Neuron, RCuBaLIF
from snnx.nir import _layout

__all__ = ["LayerStats", "Report", "measure"]

FREE = (
    layers.Flatten, layers.SumPool, layers.AvgPool, layers.MaxPool, layers.Scale, layers.Population,
    layers.Delay, _layout.ToChannelsLast, _layout.ToChannelsFirst, _layout.Identity, _layout.NIRFlatten,
)
CONNECTIONS = (nnx.Linear, nnx.Conv)
RECURRENT = (RIF, RLIF, RCuBaLIF)
# NeuroBench's cost of one membrane update, by reset, of the snnTorch neuron that an snnx neuron is
# (snnTorch's Leaky, also its IF with beta = 1; its Synaptic); NeuroBench has no other entry we can map
_LEAKY, _SYNAPTIC = {"subtract": 4, "zero": 4}, {"subtract": 6, "zero": 8}
NEURON_COST = {LIF: _LEAKY, IF: _LEAKY, RLIF: _LEAKY, RIF: _LEAKY, CuBaLIF: _SYNAPTIC, RCuBaLIF: _SYNAPTIC}


@dataclasses.dataclass(frozen=True)
class LayerStats:
    """One row of a :class:`Report`: counts over the whole run (all ``T`` steps, all ``B`` samples).

    ``role``: ``"connection"`` (synaptic operations), ``"neuron"``,
    ``"activation"`` (``Threshold``) or ``"free"``. ``spiking``: the layer emits
    spikes (a spiking neuron or ``Threshold``), so ``spikes`` and
    ``neuron_updates`` (its outputs, ``T * B * units``) count. Fields that do
    not apply are 0 (``neuron_ops`` is ``None`` for a neuron NeuroBench has no
    cost for). ``units``: outputs per sample and step.
    """

    key: str
    type: str
    role: str
    units: int
    spiking: bool = False
    spikes: int = 0
    neuron_updates: int = 0
    membrane_updates: int = 0
    neuron_ops: int | None = 0
    neuron_dense_ops: int | None = 0
    effective_macs: int = 0
    effective_acs: int = 0
    dense_ops: int = 0
    weights: int = 0
    zero_weights: int = 0
    parameters: int = 0

    @property
    def spike_rate(self) -> float | None:
        """``spikes / neuron_updates`` for a spiking layer, else ``None``."""
        return self.spikes / self.neuron_updates if self.spiking and self.neuron_updates else None


@dataclasses.dataclass(frozen=True)
class Report:
    """What :func:`measure` found. Totals are per sample, as NeuroBench reports them.

    ``layers``: one :class:`LayerStats` per leaf layer, in model order (a
    recurrent neuron's weights get their own row, ``"<key>.recurrent"``).
    ``notes``: anything a total leaves out (e.g. neurons without a NeuroBench cost).
    """

    layers: tuple[LayerStats, ...]
    batch_size: int
    time_steps: int
    parameter_count: int
    footprint: int
    parameter_bytes: int
    notes: tuple[str, ...] = ()

    def _per_sample(self, field: str) -> float:
        return sum(getattr(r, field) for r in self.layers) / self.batch_size

    @property
    def effective_macs(self) -> float:
        return self._per_sample("effective_macs")

    @property
    def effective_acs(self) -> float:
        return self._per_sample("effective_acs")

    @property
    def dense_ops(self) -> float:
        return self._per_sample("dense_ops")

    @property
    def membrane_updates(self) -> float:
        return self._per_sample("membrane_updates")

    @property
    def neuron_ops(self) -> float | None:
        """Effective neuron operations per sample; ``None`` if a neuron has no NeuroBench cost."""
        ops = [r.neuron_ops for r in self.layers if r.role == "neuron"]
        return None if None in ops else sum(ops) / self.batch_size

    @property
    def neuron_dense_ops(self) -> float | None:
        ops = [r.neuron_dense_ops for r in self.layers if r.role == "neuron"]
        return None if None in ops else sum(ops) / self.batch_size

    @property
    def spikes(self) -> float:
        return sum(r.spikes for r in self.layers if r.spiking) / self.batch_size

    @property
    def spike_rate(self) -> float | None:
        """Spikes over neuron updates of all spiking layers (``None`` without spiking layers)."""
        total = sum(r.neuron_updates for r in self.layers if r.spiking)
        return sum(r.spikes for r in self.layers if r.spiking) / total if total else None

    @property
    def activation_sparsity(self) -> float | None:
        """NeuroBench's ``ActivationSparsity``: ``(updates - spikes) / updates`` over the spiking layers."""
        total = sum(r.neuron_updates for r in self.layers if r.spiking)
        return (total - sum(r.spikes for r in self.layers if r.spiking)) / total if total else None

    @property
    def connection_sparsity(self) -> float | None:
        """Zero weights over all weights of the connections (``None`` without connections)."""
        total = sum(r.weights for r in self.layers)
        return sum(r.zero_weights for r in self.layers) / total if total else None

    def as_dict(self) -> dict:
        """Plain Python numbers: ``{"totals": {...per sample}, "layers": {key: {...counts}}, ...}``."""
        names = ("effective_macs", "effective_acs", "dense_ops", "membrane_updates", "neuron_ops",
                 "neuron_dense_ops", "spikes", "spike_rate", "activation_sparsity", "connection_sparsity")
        return {
            "batch_size": self.batch_size,
            "time_steps": self.time_steps,
            "parameter_count": self.parameter_count,
            "footprint": self.footprint,
            "parameter_bytes": self.parameter_bytes,
            "totals": {n: getattr(self, n) for n in names},
            "layers": {
                r.key: {**dataclasses.asdict(r), "spike_rate": r.spike_rate} for r in self.layers
            },
            "notes": list(self.notes),
        }

    def table(self) -> str:
        """A per-layer table (per sample) and the totals, for printing."""
        b = self.batch_size
        head = ("layer", "type", "units", "spikes", "rate", "mem upd", "eff MACs", "eff ACs", "dense",
                "params")

        def num(v, digits=2):
            if v is None:
                return "-"
            return f"{v:,.{digits}f}".rstrip("0").rstrip(".") if isinstance(v, float) else f"{v:,}"

        rows = [head]
        for r in self.layers:
            rate = r.spike_rate
            rows.append((
                r.key, r.type, num(r.units), num(r.spikes / b) if r.spiking else "-",
                "-" if rate is None else f"{rate:.4f}",
                num(r.membrane_updates / b) if r.role == "neuron" else "-",
                num(r.effective_macs / b), num(r.effective_acs / b), num(r.dense_ops / b), num(r.parameters),
            ))
        rows.append((
            "total", "", "", num(self.spikes), "-" if self.spike_rate is None else f"{self.spike_rate:.4f}",
            num(self.membrane_updates), num(self.effective_macs), num(self.effective_acs),
            num(self.dense_ops), num(self.parameter_count),
        ))
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(row, widths, strict=True))) for row in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
        act, con, nops = self.activation_sparsity, self.connection_sparsity, self.neuron_ops
        lines += [
            f"per sample over T={self.time_steps} steps, batch of {b}",
            f"activation sparsity {num(act, 4)}   connection sparsity {num(con, 4)}   "
            f"neuron ops {num(nops)} (dense {num(self.neuron_dense_ops)})",
            f"parameters {self.parameter_count:,}   footprint {self.footprint:,} bytes "
            f"(parameters {self.parameter_bytes:,})",
            *(f"note: {n}" for n in self.notes),
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


# -- what each layer is ----------------------------------------------------------------------------


def _role(key: str, layer, free: tuple[type, ...]) -> str:
    """``connection``, ``neuron``, ``activation`` or ``free``; an error for what cannot be counted."""
    kind = type(layer).__name__
    if type(layer) in CONNECTIONS:
        return "connection"
    if isinstance(layer, Neuron):
        for name, value in vars(layer).items():
            if isinstance(value, nnx.Module) and not (name == "recurrent" and isinstance(layer, RECURRENT)):
                raise _checks.ArgumentTypeError(
                    f"snnx.stats: layer {key!r} ({kind}) holds the module {name!r} "
                    f"({type(value).__name__}) whose input is unknown, so its synaptic operations cannot be "
                    "counted; the metrics count the recurrent weights of RIF, RLIF and RCuBaLIF only"
                )
        return "neuron"
    if type(layer) is layers.Threshold:
        return "activation"
    if type(layer) in FREE or type(layer) in free:
        return "free"
    if not isinstance(layer, nnx.Module):
        what = f"the plain function {getattr(layer, '__name__', kind)!r}"
    else:
        what = f"{'a stateful' if is_stateful(layer) else 'a'} module of type {kind}"
    raise _checks.ArgumentTypeError(
        f"snnx.stats: layer {key!r} is {what}, whose cost is unknown: its synaptic operations and "
        "activity cannot be counted (a layer is never counted as zero silently). Counted: "
        "nnx.Linear and nnx.Conv (exact types), snnx neurons, Threshold; free: "
        f"{', '.join(sorted(t.__name__ for t in FREE))}; declare other cost-free types with `free=`"
    )


# -- what each layer received ----------------------------------------------------------------------


def _delayed(y: np.ndarray, first) -> np.ndarray:
    """``y`` shifted one step later along time, with ``first`` at ``t = 0``."""
    return np.concatenate([np.asarray(first, y.dtype)[None], y[:-1]], axis=0)


class _Flow:
    """Rebuilds every leaf's input from the recorded outputs (Sequential chains, Graph edge sums)."""

    def __init__(self, outputs: Mapping, keys: Mapping, batch: int):
        self.outputs, self.keys, self.batch, self.inputs = outputs, keys, batch, {}

    def feed(self, layer, path: tuple, x):
        if is_plain_sequential(layer):
            for i, child in enumerate(layer.layers):
                x = self.feed(child, (*path, i), x)
            return x
        if _record._plain_graph(layer):
            return self._graph(layer, path, x)
        self.inputs[path] = x
        return self.outputs[self.keys[path]]

    def output(self, layer, path: tuple):
        if is_plain_sequential(layer):
            return self.output(layer.layers[-1], (*path, len(layer.layers) - 1))
        if _record._plain_graph(layer):
            raise _checks.ArgumentTypeError(
                f"snnx.stats: the Graph at {'.'.join(map(str, path))!r} is the source of a back edge; its "
                "output cannot be rebuilt from the recording before its input is known"
            )
        return self.outputs[self.keys[path]]

    def _graph(self, g, path: tuple, x):
        values = {g.inputs: x} if isinstance(g.inputs, str) else {n: x[n] for n in g.inputs}
        back0 = g.init_state(self.batch)["back"] if g.back_edges else {}
        outs = (g.outputs,) if isinstance(g.outputs, str) else g.outputs
        for name, preds in g._preds:
            parts = []
            for src, is_back in preds:
                if not is_back:
                    parts.append(values[src])
                    continue
                node, buf = g.nodes[src], back0[src]
                first = buf if is_stateful(node) else node(buf)  # the back edge at t = 0 (Graph's rule)
                first = np.asarray(first)
                parts.append(_delayed(self.output(node, (*path, src)), first))
            total = parts[0]
            for part in parts[1:]:
                total = total + part
            values[name] = total if name in outs else self.feed(g.nodes[name], (*path, name), total)
        return values[g.outputs] if isinstance(g.outputs, str) else {n: values[n] for n in g.outputs}


# -- counting --------------------------------------------------------------------------------------


def _effective_kernel(layer) -> jax.Array:
    kernel = layer.kernel[...]
    mask = getattr(layer, "mask", None)
    return kernel * mask if mask is not None else kernel


def _counter(layer, kernel) -> nnx.Module:
    """A copy of ``layer`` with ``kernel``, zero bias, float32 at full precision: it counts products."""
    copy = nnx.clone(layer)
    copy.kernel = nnx.Param(jnp.asarray(kernel, jnp.float32))
    if copy.bias is not None:
        copy.bias = nnx.Param(jnp.zeros(copy.bias.shape, jnp.float32))
    if hasattr(copy, "mask"):
        copy.mask = None
    copy.dtype, copy.precision = jnp.float32, jax.lax.Precision.HIGHEST
    return copy


def _synops(layer, x: np.ndarray) -> tuple[int, int, int]:
    """``(effective MACs, effective ACs, dense)`` over the run of a connection fed ``x`` (T, B, ...)."""
    steps, batch = x.shape[:2]
    kernel = np.asarray(_effective_kernel(layer))
    nonzero = x != 0
    ternary = np.all(~nonzero | (x == 1) | (x == -1), axis=tuple(range(1, x.ndim)))
    if type(layer) is nnx.Linear:  # sum_out 1[W != 0] 1[x != 0] = sum_in 1[x != 0] * (non-zero fan-out)
        fanout = np.count_nonzero(kernel, axis=1)
        per_step = (nonzero.reshape(steps, -1, kernel.shape[0]) @ fanout).sum(axis=1)
        dense_one = kernel.size * int(np.prod(x.shape[2:-1]))
    else:  # the layer itself, on binarised inputs and weights, counts the products of each output
        flat = nonzero.reshape((steps * batch, *x.shape[2:])).astype(np.float32)
        per_out = _counter(layer, kernel != 0)(jnp.asarray(flat))
        per_step = np.rint(np.asarray(per_out, np.float64)).astype(np.int64).reshape(steps, -1).sum(axis=1)
        ones = _counter(layer, np.ones(kernel.shape))(jnp.ones((1, *x.shape[2:]), jnp.float32))
        dense_one = int(np.rint(np.asarray(ones, np.float64)).sum())
    return int(per_step[~ternary].sum()), int(per_step[ternary].sum()), dense_one * steps * batch


def _units(y) -> int:
    """Outputs per sample and step of a recorded ``(T, B, ...)`` output (or a dict of them)."""
    return sum(int(np.prod(a.shape[2:])) for a in jax.tree.leaves(y))


def _membrane_updates(v) -> int:
    v = np.asarray(v)
    return int(v[0].size + np.count_nonzero(v[1:] != v[:-1]))


def _arrays(tree) -> list:
    return [a for a in jax.tree.leaves(tree) if hasattr(a, "dtype") and
            (jnp.issubdtype(a.dtype, jnp.number) or a.dtype == jnp.bool_)]


def _params(layer) -> int:
    if not isinstance(layer, nnx.Module):
        return 0
    return sum(int(np.size(a)) for a in _arrays(nnx.state(layer, nnx.Param)))


def _neuron_row(key, layer, y, states) -> LayerStats:
    spiking = _record.is_spiking(layer)
    name = "v" if "v" in states else layer.state_names[0]
    updates = _membrane_updates(states[name])
    units = _units(y)
    cost = NEURON_COST.get(type(layer), {}).get(getattr(layer, "reset", None))
    steps_units = int(np.prod(y.shape))
    rec = getattr(layer, "recurrent", None)
    own = _params(layer) - (_params(rec) if rec is not None else 0)
    return LayerStats(
        key, type(layer).__name__, "neuron", units, spiking,
        spikes=int(np.count_nonzero(y)) if spiking else 0,
        neuron_updates=steps_units if spiking else 0,
        membrane_updates=updates,
        neuron_ops=None if cost is None else updates * cost,
        neuron_dense_ops=None if cost is None else steps_units * cost,
        parameters=own,
    )


def _connection_row(key, layer, x, y, kind=None) -> LayerStats:
    macs, acs, dense = _synops(layer, x)
    kernel = np.asarray(_effective_kernel(layer))
    return LayerStats(
        key, kind or type(layer).__name__, "connection", _units(y),
        effective_macs=macs, effective_acs=acs, dense_ops=dense,
        weights=int(kernel.size), zero_weights=int(np.count_nonzero(kernel == 0)), parameters=_params(layer),
    )


def measure(model, x, *, state=None, options=None, free: Iterable[type] = ()) -> Report:
    """Run ``model`` once on ``x`` and count NeuroBench's cost and activity metrics.

    The formulas are in the module docstring (``help(snnx.stats)``) and in
    ``docs/stats.md``. Every count comes from one ``snnx.run(model, x,
    record="all")``: a layer's input is the previous layer's output in a
    ``Sequential`` (``x`` for the first), the sum of its incoming edges in a
    ``Graph`` (a back edge carries the previous step, and at ``t = 0`` the
    source's output on zero state), and for a recurrent neuron's weights its own
    spikes of the previous step (zero at ``t = 0``).

    Args:
        model: a ``Sequential``, a ``Graph`` (e.g. from ``snnx.nir.from_nir``) or
            a single layer, following the one-step contract.
        x: time-major input ``(T, B, *in_shape)`` (a dict of them for a
            ``Graph`` with several inputs).
        state: initial state, as for :func:`snnx.run` (``None``: zeros).
        options: :class:`snnx.engine.Options` for the run.
        free: more layer types to count as costing nothing (e.g. ``nnx.Dropout``
            at inference).

    Returns:
        A :class:`Report`: per-layer rows (counts over the run) and per-sample
        totals; ``print(report)`` shows the table, ``report.as_dict()`` the numbers.

    Raises:
        snnx.ArgumentTypeError: a layer whose cost cannot be counted (the message
            names its key and type), or a ``free`` entry that is not a type.

    Example:
        >>> model = Sequential(nnx.Linear(16, 8, rngs=nnx.Rngs(0)), LIF(8))
        >>> report = measure(model, jnp.ones((10, 2, 16)))
        >>> report.effective_acs        # 16 inputs x 8 outputs x 10 steps, per sample
        1280.0
        >>> print(report)
    """
    free = (free,) if isinstance(free, type) else tuple(free)
    for t in free:
        if not isinstance(t, type):
            raise _checks.ArgumentTypeError(f"`free` must hold layer types, got {t!r}")
    entries = [e for e in _record.catalogue(model) if e.leaf]
    roles = {e.key: _role(e.key, e.layer, free) for e in entries}
    neurons = [e.key for e in entries if roles[e.key] == "neuron"]
    result = run(model, x, state, options=options, record="all", record_states=neurons or None)
    rec = result[2]
    outputs = {k: jax.tree.map(np.asarray, v) for k, v in rec.outputs.items()}
    x = jax.tree.map(np.asarray, x)
    first = jax.tree.leaves(x)[0]
    steps, batch = int(first.shape[0]), int(first.shape[1])
    flow = _Flow(outputs, {e.path: e.key for e in entries}, batch)
    flow.feed(model, (), x)

    rows, notes = [], []
    for e in entries:
        y, role = outputs[e.key], roles[e.key]
        if role == "connection":
            rows.append(_connection_row(e.key, e.layer, flow.inputs[e.path], y))
        elif role == "neuron":
            row = _neuron_row(e.key, e.layer, y, rec.states[e.key])
            rows.append(row)
            if row.neuron_ops is None:
                notes.append(f"neuron ops: NeuroBench has no cost for {e.key!r} ({row.type}, "
                             f"reset={getattr(e.layer, 'reset', None)!r}); the totals are None")
            if isinstance(e.layer, RECURRENT):
                rows.append(_connection_row(f"{e.key}.recurrent", e.layer.recurrent,
                                            _delayed(y, np.zeros_like(y[0])), y, "Linear (recurrent)"))
        elif role == "activation":
            rows.append(LayerStats(e.key, type(e.layer).__name__, role, _units(y), True,
                                   spikes=int(np.count_nonzero(y)), neuron_updates=int(y.size)))
        else:
            rows.append(LayerStats(e.key, type(e.layer).__name__, role, _units(y),
                                   parameters=_params(e.layer)))
    every = _arrays(nnx.state(model)) if isinstance(model, nnx.Module) else []
    params = _arrays(nnx.state(model, nnx.Param)) if isinstance(model, nnx.Module) else []
    return Report(
        layers=tuple(rows), batch_size=batch, time_steps=steps,
        parameter_count=sum(int(a.size) for a in params),
        footprint=sum(int(a.size) * a.dtype.itemsize for a in every),
        parameter_bytes=sum(int(a.size) * a.dtype.itemsize for a in params),
        notes=tuple(notes),
    )
