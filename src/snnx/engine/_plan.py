"""The execution plan: what ``run`` computes for a model and an input shape, and why.

``run`` first turns ``(model, input shape, options)`` into a :class:`Plan`, a
list of steps, then executes it. The plan is plain data: ``print(plan(model,
x))`` shows every step with the reason for each choice, including why a fusion
did not apply. Planning walks the layers with ``jax.eval_shape``, so a layer
that rejects its input is named (index and type) in a :class:`snnx.ShapeError`.

Step kinds:

* ``StepScan``: the whole model scanned once per time step (the reference;
  ``engine="step"``, or where layer-major execution is not valid).
* ``PerSample``: a stateless per-sample layer applied once to all ``T * B`` samples
  (an ``nnx.Conv`` possibly with an im2col-GEMM kernel gradient: ``weight_grad``).
* ``FusedNeuron``: a leaky neuron run by the fused kernel (hand-written backward),
  possibly with the previous ``Linear``'s bias added in its loop (``bias_from``)
  and the next small ``Linear`` applied per step inside it (``readout``).
* ``InLoop``: that readout ``Linear`` (computed inside the neuron's loop).
* ``Scan``: a stateful layer scanned over time by autodiff-able ``jax.lax.scan``.
* ``Parallel``: a reset-free neuron's associative scan.
* ``TimeScan``: a stateless layer that is not known to be per-sample, called per step.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from snnx._checks import ShapeError
from snnx.engine import _conv
from snnx.engine._options import Options
from snnx.engine._rules import (
    bias_blocker,
    chunking,
    describe,
    eval_layer,
    fusion_blocker,
    is_per_sample,
    layer_chain,
    leaves,
    readout_blocker,
    state_at,
)
from snnx.engine._sequential import is_stateful


@dataclasses.dataclass(frozen=True)
class Step:
    """One step of a :class:`Plan` (see the module docstring for the kinds).

    ``path``: the layer's index in the model (nested ``Sequential`` indices in
    turn; ``()`` for a single-layer model). ``notes``: the reasons for the choice.
    ``bias_to``/``bias_from``: a ``Linear`` whose bias is added inside the next
    fused neuron's loop, and that neuron. ``readout``: the ``Linear`` a fused
    neuron applies per step. ``cast``: the dtype the input is cast to first.
    """

    kind: str
    path: tuple[int, ...]
    layer: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    dtype: str
    notes: tuple[str, ...] = ()
    bias_from: tuple[int, ...] | None = None
    bias_to: tuple[int, ...] | None = None
    readout: tuple[int, ...] | None = None
    cast: str | None = None
    weight_grad: str | None = None


@dataclasses.dataclass(frozen=True)
class Plan:
    """What ``run`` executes. ``str(plan)`` is a readable table; the fields are data.

    ``engine``: ``"layer"`` or ``"step"``; ``chunk_steps``: steps per time chunk
    (``T``: no chunking); ``options``: the resolved options (every field set);
    ``given``: the fields that did not come from the backend's defaults.
    """

    model: str
    input: str
    backend: str
    engine: str
    engine_why: str
    chunk_steps: int
    chunk_why: str
    remat: bool
    options: Options
    given: dict
    steps: tuple[Step, ...]

    def __str__(self) -> str:
        given = ", ".join(f"{k}={v!r}" for k, v in self.given.items()) or "none"
        lines = [
            f"Plan for {self.model} on {self.input}, backend {self.backend}",
            f"  engine: {self.engine} ({self.engine_why})",
            f"  time: {self.chunk_why}" + (" with remat" if self.remat else ""),
            f"  options set (the rest are {self.backend} defaults): {given}",
        ]
        for st in self.steps:
            where = ".".join(map(str, st.path)) or "-"
            shapes = f"{st.in_shape} -> {st.out_shape}"
            lines.append(f"  [{where}] {st.layer:<20} {st.kind:<12} {shapes} {st.dtype}")
            lines.extend(f"        {note}" for note in st.notes)
        return "\n".join(lines)



# -- planning ----------------------------------------------------------------------------------


def _kib(n: float) -> str:
    return f"{n / 1024:.1f} KiB"


def make_plan(
    model,
    xs,
    state,
    *,
    options: Options,
    given: dict,
    return_states: bool,
    zero_state: bool,
    multi_input: bool = False,
    recorded: frozenset = frozenset(),
    recorded_states: frozenset = frozenset(),
) -> Plan:
    """The plan for ``model`` on time-major ``xs`` (arrays or ``ShapeDtypeStruct``s); see :func:`plan`."""
    first = jax.tree.leaves(xs)[0]
    T, B = first.shape[0], first.shape[1]
    backend = jax.default_backend()
    if isinstance(xs, dict):
        shown = ", ".join(f"{k}: {tuple(a.shape)} {jnp.dtype(a.dtype).name}" for k, a in xs.items())
        where = "{" + shown + "}"
    else:
        where = f"input {tuple(xs.shape)} {jnp.dtype(xs.dtype).name}"
    if options.engine == "step":
        why_not = "engine='step' was requested"
    elif multi_input:
        why_not = "a dict of inputs (a multi-input Graph) runs step-major"
    else:
        why_not = layer_chain(model)
    if options.engine == "layer" and why_not is not None:
        raise ValueError(f"`engine='layer'` does not apply to this model: {why_not}")
    common = {"model": describe(model), "input": where, "backend": backend, "options": options,
              "given": given, "remat": options.remat}
    if why_not is not None:
        try:
            steps = () if multi_input else _step_major_steps(model, xs, state)
        except ShapeError as err:
            raise ShapeError(f"{err}{_input_hint(model, xs)}") from err
        why = f"step-major: {why_not}"
        time = "one scan of the whole model per step" + (" (each step recomputed)" if options.remat else "")
        return Plan(engine="step", engine_why=why, chunk_steps=T, chunk_why=time, steps=steps, **common)
    Tc, chunk_why = chunking(T, B, options)
    try:
        steps = _layer_major_steps(model, xs, state, options, Tc, T, return_states, zero_state,
                                   recorded, recorded_states)
    except ShapeError as err:
        raise ShapeError(f"{err}{_input_hint(model, xs)}") from err
    why = "layer-major: every layer runs over the whole sequence in turn (same values as step-major)"
    return Plan(engine="layer", engine_why=why, chunk_steps=Tc, chunk_why=chunk_why, steps=steps, **common)


def _input_hint(model, xs) -> str:
    """How ``run`` read ``x``, and the model's own hint about its input layout, for a shape error."""
    T, B, rest = xs.shape[0], xs.shape[1], tuple(xs.shape[2:])
    hint = (
        f"\n  `x` of shape {tuple(xs.shape)} was read as T={T} steps, B={B} samples, per-sample shape "
        f"{rest}: run takes time-major x (T, B, *features), or (B, T, *features) with time_axis=1"
    )
    first = next(iter(leaves(model)))[1]
    extra = getattr(first, "input_hint", None)
    return hint + (f"\n  {extra}" if isinstance(extra, str) else "")


def _step_major_steps(model, xs, state) -> tuple[Step, ...]:
    """One ``StepScan`` row per layer (shapes checked layer by layer, so errors name the layer)."""
    steps, x = [], jax.ShapeDtypeStruct(xs.shape[1:], xs.dtype)
    for path, layer in leaves(model):
        stateful = is_stateful(layer)
        out = eval_layer(layer, x, state_at(state, path) if stateful else None, path, stateful=stateful)
        y = out[0] if stateful else out
        steps.append(Step("StepScan", path, describe(layer), tuple(x.shape[1:]), tuple(y.shape[1:]),
                          jnp.dtype(y.dtype).name))
        x = y
    return tuple(steps)


def _recording_notes(path, recorded, recorded_states) -> list[str]:
    notes = []
    if path in recorded:
        notes.append("its output is recorded")
    if path in recorded_states:
        notes.append("its state after every step is recorded")
    return notes


def _layer_major_steps(
    model, xs, state, options, Tc, T, return_states, zero_state, recorded=frozenset(),
    recorded_states=frozenset(),
) -> tuple[Step, ...]:
    items = list(leaves(model))
    chunked = Tc < T
    x = jax.ShapeDtypeStruct((Tc, *xs.shape[1:]), xs.dtype)
    steps: list[Step] = []
    bias_to_next = None  # path of a Linear whose bias goes into the next (fused) neuron
    i = 0
    while i < len(items):
        path, layer = items[i]
        nxt = items[i + 1] if i + 1 < len(items) else None
        in_shape = tuple(x.shape[2:])
        if is_stateful(layer):
            s = state_at(state, path)
            y_t, _ = eval_layer(layer, jax.ShapeDtypeStruct(x.shape[1:], x.dtype), s, path, stateful=True)
            y = jax.ShapeDtypeStruct((x.shape[0], *y_t.shape), y_t.dtype)
            rec = _recording_notes(path, recorded, recorded_states)
            if options.parallel and callable(getattr(layer, "parallel", None)) and zero_state and not chunked:
                steps.append(Step("Parallel", path, describe(layer), in_shape, tuple(y.shape[2:]),
                                  jnp.dtype(y.dtype).name, ("associative scan (options.parallel)", *rec)))
            else:
                blocker, dtype = fusion_blocker(layer, x.dtype, s, options)
                if blocker is None:
                    per_step = return_states or path in recorded_states
                    y, consumed = _fused_step(steps, layer, path, x, y, dtype, nxt, bias_to_next, options,
                                              T, per_step, path in recorded, rec)
                    i += consumed
                else:
                    notes = [blocker, "autodiff jax.lax.scan of the layer's step", *rec]
                    if options.recompute_neuron_steps and _is_neuron(layer) and not options.remat:
                        notes.append("its elementwise step is recomputed in the backward pass")
                    steps.append(Step("Scan", path, describe(layer), in_shape, tuple(y.shape[2:]),
                                      jnp.dtype(y.dtype).name, tuple(notes)))
            bias_to_next = None
        elif is_per_sample(layer):
            rows = jax.ShapeDtypeStruct((x.shape[0] * x.shape[1], *x.shape[2:]), x.dtype)
            y_r = eval_layer(layer, rows, None, path, stateful=False)
            y = jax.ShapeDtypeStruct((x.shape[0], x.shape[1], *y_r.shape[1:]), y_r.dtype)
            notes = [f"one call over T * B = {T} * {x.shape[1]} rows" if not chunked
                     else f"one call per chunk over {Tc} * {x.shape[1]} rows"]
            notes += _recording_notes(path, recorded, recorded_states)
            target = _bias_goes_on(layer, y, nxt, state, options, zero_state, chunked, notes,
                                   path in recorded)
            weight_grad = _conv_weight_grad(layer, rows, options, notes)
            steps.append(Step("PerSample", path, describe(layer), in_shape, tuple(y.shape[2:]),
                              jnp.dtype(y.dtype).name, tuple(notes), bias_to=target, weight_grad=weight_grad))
            bias_to_next = path if target is not None else None
        else:
            y_t = eval_layer(layer, jax.ShapeDtypeStruct(x.shape[1:], x.dtype), None, path, stateful=False)
            y = jax.ShapeDtypeStruct((x.shape[0], *y_t.shape), y_t.dtype)
            steps.append(Step("TimeScan", path, describe(layer), in_shape, tuple(y.shape[2:]),
                              jnp.dtype(y.dtype).name,
                              ("called once per step: not known to be per-sample (set per_sample = True)",
                               *_recording_notes(path, recorded, recorded_states))))
        x = y
        i += 1
    return tuple(steps)


def _is_neuron(layer) -> bool:
    from snnx.neurons import Neuron

    return isinstance(layer, Neuron)


def _conv_weight_grad(layer, rows, options, notes) -> str | None:
    """``"gemm"`` when ``layer`` (an ``nnx.Conv``) takes its kernel gradient from an im2col GEMM;
    appends the reason for the choice to ``notes``."""
    if not isinstance(layer, nnx.Conv):
        return None
    choice = options.conv_weight_grad
    given = f"options.conv_weight_grad={choice!r}"
    if choice == "xla":
        notes.append(f"kernel gradient by XLA's convolution ({given})")
        return None
    blocker = _conv.supports(layer, rows.dtype)
    if blocker is not None:
        notes.append(f"kernel gradient by XLA's convolution: the im2col GEMM does not support {blocker} "
                     f"({given})")
        return None
    if choice == "gemm":
        notes.append(f"kernel gradient as an im2col GEMM ({given})")
        return "gemm"
    wins, why = _conv.rule(layer, tuple(rows.shape))
    if wins:
        notes.append(f"kernel gradient as an im2col GEMM ({given}: {why})")
        return "gemm"
    notes.append(f"kernel gradient by XLA's convolution ({given}: {why})")
    return None


def _bias_goes_on(linear, y, nxt, state, options, zero_state, chunked, notes, recorded=False) -> tuple | None:
    """The next layer's path when ``linear``'s bias (an ``nnx.Linear``'s or a plain 2-D ``nnx.Conv``'s)
    is added inside that fused neuron's loop."""
    if type(linear) not in (nnx.Linear, nnx.Conv) or not linear.use_bias or nxt is None:
        return None
    if recorded:
        if options.bias_into_neuron:
            notes.append("bias not moved: this layer's output is recorded")
        return None
    npath, neuron = nxt
    if not is_stateful(neuron):
        return None
    if options.parallel and callable(getattr(neuron, "parallel", None)) and zero_state and not chunked:
        return None
    blocker, dtype = fusion_blocker(neuron, y.dtype, state_at(state, npath), options)
    if blocker is not None:
        return None
    reason = bias_blocker(linear, y.dtype, dtype, options)
    if reason is not None:
        notes.append(reason)
        return None
    notes.append("bias left out here, added inside the next neuron's loop")
    return npath


def _fused_step(steps, layer, path, x, y, dtype, nxt, bias_from, options, T, return_states,
                spikes_recorded=False, rec_notes=()):
    """Append the ``FusedNeuron`` step (and its ``InLoop`` readout); returns the output and the
    number of further layers it consumed. ``return_states``: this neuron's every-step states are needed."""
    notes = ["fused kernel: hand-written backward, u_t the only stored sequence", *rec_notes]
    cast = None
    if jnp.dtype(x.dtype) != dtype:
        cast = dtype.name
        notes.append(f"input cast {jnp.dtype(x.dtype).name} -> {dtype.name}, as the step promotes it")
    if bias_from is not None:
        notes.append(f"adds the bias of layer {'.'.join(map(str, bias_from))} in its loop")
    readout, consumed, out = None, 0, y
    if nxt is not None and type(nxt[1]) is nnx.Linear:
        npath, lin = nxt
        hidden_bytes = T * int(np.prod(y.shape[2:])) * dtype.itemsize
        blocker = readout_blocker(layer, lin, T, hidden_bytes, dtype, options, return_states)
        if blocker is None and spikes_recorded:
            blocker = "readout not in the loop: this neuron's spikes are recorded"
        if blocker is None:
            out_r = eval_layer(lin, jax.ShapeDtypeStruct(y.shape[1:], y.dtype), None, npath, stateful=False)
            out = jax.ShapeDtypeStruct((y.shape[0], *out_r.shape), out_r.dtype)
            readout, consumed = npath, 1
            notes.append(f"applies layer {'.'.join(map(str, npath))} to each step's spikes in its loop "
                         f"(one sample's spikes: {_kib(hidden_bytes)})")
        else:
            notes.append(blocker)
    steps.append(Step("FusedNeuron", path, describe(layer), tuple(x.shape[2:]), tuple(y.shape[2:]),
                      dtype.name, tuple(notes), bias_from=bias_from, readout=readout, cast=cast))
    if readout is not None:
        steps.append(Step("InLoop", readout, describe(nxt[1]), tuple(y.shape[2:]), tuple(out.shape[2:]),
                          jnp.dtype(out.dtype).name,
                          (f"computed inside layer {'.'.join(map(str, path))}'s loop",)))
    return out, consumed
