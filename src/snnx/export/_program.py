"""The program an export holds: a model's time loop (or one step) as a function of named arrays.

Both targets export one of two programs of ``model``:

* ``mode="sequence"``: ``x (T, B, *in) -> (y (T, B, *out), state after step T)``, the whole time
  loop from ``model``'s initial state (``model.init_state(B)``): the outputs of ``snnx.run(model, x)``;
* ``mode="step"``: ``(x_t (B, *in), state) -> (y_t (B, *out), next state)``, one call of the model;
  a caller loops over time, feeding each step's state back.

The time loop is one ``jax.lax.scan`` of the model's step (ONNX ``Loop``, StableHLO ``while``): the
program of ``snnx.run``'s step engine (``Options(engine="step")``), written out here so that both
modes share one step function. The default layer-major engine does not export with symbolic sizes:
it chooses time chunks and in-loop readouts by comparing ``T * B`` and ``T`` with thresholds, which
a symbolic size cannot answer; its fused kernels differ from the step only in their backward pass
(``jax.custom_vjp``). Both compute the same values (spikes identical, membranes within float
rounding; ``tests/test_export.py`` checks the exports against ``snnx.run`` with default options).
A step that writes NNX variables (``nnx.Dropout``'s RNG counter in training mode) is refused: the
export would drop the update.

The arrays are named (ONNX inputs and outputs, the keys of the StableHLO state dicts) as
``_names`` says: ``x``, ``y``, ``state.<key>.<variable>`` in, ``state_out.<key>.<variable>`` out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from snnx import _checks
from snnx.engine import run
from snnx.engine._record import catalogue
from snnx.engine._rules import is_plain_sequential
from snnx.engine._sequential import is_stateful
from snnx.export._errors import ExportError, layers
from snnx.export._names import is_graph, leaf_names, state_names

MODES = ("sequence", "step")


def example_spec(example):
    """``example`` (arrays, ``ShapeDtypeStruct``s, or a dict of them) as ``ShapeDtypeStruct``s."""

    def one(name, a):
        if not hasattr(a, "shape") or not hasattr(a, "dtype"):
            raise _checks.ArgumentTypeError(
                f"`{name}` must be an array or a jax.ShapeDtypeStruct of the time-major input "
                f"(T, B, *features), got {type(a).__name__}"
            )
        shape = tuple(a.shape)
        if len(shape) < 2 or not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape):
            raise _checks.ShapeError(
                f"`{name}` must be the time-major input (T, B, *features) with T, B >= 1, got shape {shape}"
            )
        return jax.ShapeDtypeStruct(shape, jax.dtypes.canonicalize_dtype(a.dtype))

    if isinstance(example, dict):
        if not example:
            raise _checks.ShapeError(
                "`example` must be an array or a non-empty dict {input name: array}, got {}"
            )
        specs = {k: one(f"example[{k!r}]", v) for k, v in example.items()}
        if len({s.shape[:2] for s in specs.values()}) != 1:
            got = {k: s.shape[:2] for k, s in specs.items()}
            raise _checks.ShapeError(f"`example` inputs must share (T, B), got {got}")
        return specs
    return one("example", example)


def _batch_axes(s1, s2) -> list[bool]:
    """For each state array: whether its first axis is the batch axis (``init_state(1)`` vs ``(2)``)."""
    out = []
    for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s2), strict=True):
        sa, sb = np.shape(a), np.shape(b)
        if sa == sb:
            out.append(False)
        elif len(sa) == len(sb) and sa[:1] == (1,) and sb[:1] == (2,) and sa[1:] == sb[1:]:
            out.append(True)
        else:
            return []
    return out


def jaxprs(jaxpr):
    """``jaxpr`` and every jaxpr nested in its equations (loop bodies, branches, custom rules)."""
    yield jaxpr
    for eqn in jaxpr.eqns:
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            yield from jaxprs(sub)


@dataclasses.dataclass(frozen=True)
class LayerCall:
    """One layer's call in a traced step: its key, the layer and the shapes it received."""

    key: str
    layer: object
    x: object
    state: object


@dataclasses.dataclass(frozen=True)
class Program:
    """A model's exported function and its named inputs and outputs (see the module docstring).

    ``flat(*inputs) -> outputs`` takes and returns arrays in the order of ``input_names`` and
    ``output_names``; ``structured`` is the same function on ``structured_specs``:
    ``x -> (y, {state name: array})`` (sequence) or ``(x_t, {name: array}) -> (y_t, {...})`` (step).
    """

    mode: str
    dynamic: tuple[str, ...]
    input_names: tuple[str, ...]
    input_specs: tuple[jax.ShapeDtypeStruct, ...]
    output_names: tuple[str, ...]
    state_names: tuple[str, ...]
    flat: Callable
    structured: Callable
    structured_specs: tuple
    step_specs: tuple
    fresh: Callable
    example: object

    def trace(self) -> jax.extend.core.ClosedJaxpr:
        """The jaxpr of ``flat`` on ``input_specs``; a failure names the layer where it can."""
        try:
            return jax.make_jaxpr(self.flat)(*self.input_specs)
        except ExportError:
            raise
        except Exception as err:
            self.layer_calls()  # raises an ExportError naming the layer when one layer fails alone
            raise ExportError(f"the {self.mode} program cannot be traced{self._sizes()}: {err}") from err

    def _sizes(self) -> str:
        if not self.dynamic:
            return ""
        return f" with symbolic sizes {', '.join(self.dynamic)}; try dynamic=False"

    def layer_calls(self) -> list[LayerCall]:
        """Trace one step layer by layer; returns every layer's call (raises naming a failing layer)."""
        calls: list[LayerCall] = []
        keys = {e.path: e.key for e in catalogue(self.fresh())}

        def walk(layer, x, s, path):
            if is_plain_sequential(layer):
                new = []
                for i, child in enumerate(layer.layers):
                    x, si = walk(child, x, s[i], (*path, i))
                    new.append(si)
                return x, tuple(new)
            if is_graph(layer):
                return layer._step_visiting(x, s, lambda n, node, xi, si: walk(node, xi, si, (*path, n)))
            key = keys.get(path, type(layer).__name__)
            spec = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), (x, s))
            calls.append(LayerCall(key, layer, *spec))
            try:
                return layer(x, s) if is_stateful(layer) else (layer(x), None)
            except Exception as err:
                raise ExportError(
                    f"layer {key!r} ({type(layer).__name__}) cannot be traced for export{self._sizes()}: "
                    f"{err}",
                    layer=key,
                ) from err

        jax.eval_shape(lambda x, s: walk(self.fresh(), x, s, ()), *self.step_specs)
        return calls

    def culprit(self, attempt: Callable, target: str, err: Exception) -> ExportError:
        """The error for a failed export: ``attempt(fn, args)`` on each layer alone finds the one at fault."""
        for call in self.layer_calls():
            fn, args = _layer_function(call)
            try:
                attempt(fn, args)
            except Exception as layer_err:
                reason = " ".join(str(layer_err).split())
                return ExportError(
                    f"layer {call.key!r} ({type(call.layer).__name__}) cannot be exported to {target}: "
                    f"{reason}",
                    layer=call.key,
                )
        reason = " ".join(str(err).split())
        return ExportError(
            f"the {self.mode} program cannot be exported to {target} (every layer alone can): {reason}"
        )


def _merge(graphdef, variables):
    """A copy of the model made inside the current trace (its variables are new objects), so that a
    step may write them (RNG counters) and nothing reaches the caller's model."""
    return nnx.merge(graphdef, jax.tree.map(lambda a: a, variables))


def _layer_function(call: LayerCall):
    layer = call.layer
    stateful = call.state is not None or is_stateful(layer)
    if isinstance(layer, nnx.Module):
        graphdef, variables = nnx.split(layer)

        def fresh():
            return _merge(graphdef, variables)
    else:

        def fresh():
            return layer

    if stateful:
        return (lambda x, s: fresh()(x, s)), (call.x, call.state)
    return (lambda x: fresh()(x)), (call.x,)


def _check_no_updates(model) -> None:
    """Refuse a step that writes NNX variables (RNG counters, batch statistics): an export drops them."""
    if not isinstance(model, nnx.Module):
        return
    if not any(isinstance(a, jax.core.Tracer) for a in jax.tree.leaves(nnx.state(model))):
        return
    writers = [
        e
        for e in catalogue(model)
        if e.leaf
        and isinstance(e.layer, nnx.Module)
        and any(isinstance(a, jax.core.Tracer) for a in jax.tree.leaves(nnx.state(e.layer)))
    ]
    who = layers(writers) if writers else "the model"
    raise ExportError(
        f"{who} cannot be exported: it updates NNX variables (RNG counters, batch statistics, ...) at "
        "every step, which an export cannot carry from one step to the next; put the model in evaluation "
        "mode (model.eval()) first",
        layer=writers[0].key if writers else None,
    )


def symbolic_sizes(dynamic) -> tuple[str, ...]:
    """``dynamic`` (a bool, or which of ``"T"``, ``"B"`` to keep symbolic) as a tuple of names."""
    if isinstance(dynamic, bool):
        return ("T", "B") if dynamic else ()
    if isinstance(dynamic, str) or not all(d in ("T", "B") for d in dynamic):
        raise _checks.OptionError(
            f"`dynamic` must be a bool or a tuple of the sizes to keep symbolic ('T', 'B'), got {dynamic!r}"
        )
    return tuple(d for d in ("T", "B") if d in dynamic)


def build(model, example, *, mode: str, dynamic) -> Program:
    """The :class:`Program` of ``model`` for the time-major input ``example`` (see the module docstring)."""
    if not callable(model):
        raise _checks.ArgumentTypeError(
            "`model` must be a model snnx.run accepts (Sequential, Graph, a neuron), "
            f"got {type(model).__name__}"
        )
    _checks.one_of("mode", mode, MODES)
    dynamic = symbolic_sizes(dynamic)
    spec = example_spec(example)
    graphdef, variables = nnx.split(model) if isinstance(model, nnx.Module) else (None, None)

    def fresh():
        return _merge(graphdef, variables) if graphdef is not None else model

    # The concrete shapes first: snnx.run's own errors name the layer that rejects the input.
    y_spec = jax.eval_shape(lambda x: run(fresh(), x)[0], spec)

    sizes = dict(zip("TB", jax.tree.leaves(spec)[0].shape[:2], strict=True))
    if dynamic:
        sizes.update(zip(dynamic, jax.export.symbolic_shape(", ".join(dynamic)), strict=True))
    T, B = sizes["T"], sizes["B"]
    seq_specs = jax.tree.map(lambda s: jax.ShapeDtypeStruct((T, B, *s.shape[2:]), s.dtype), spec)
    step_x = jax.tree.map(lambda s: jax.ShapeDtypeStruct((B, *s.shape[2:]), s.dtype), spec)

    stateful = is_stateful(model)
    s1 = model.init_state(1) if stateful else None
    treedef = jax.tree.structure(s1)
    names = state_names(model, s1) if stateful else []
    batched = _batch_axes(s1, model.init_state(2)) if stateful else []
    if stateful and len(batched) != len(names):
        if "B" in dynamic:
            raise ExportError(
                "the model's state has arrays whose first axis is not the batch axis, so the batch size "
                "cannot be symbolic: export with dynamic=False (or dynamic=('T',))"
            )
        batched = [False] * len(names)
        s1 = model.init_state(B)
    first = [jnp.asarray(a) for a in jax.tree.leaves(s1)]

    def init(b):
        pairs = zip(first, batched, strict=True)
        return [jnp.broadcast_to(a, (b, *a.shape[1:])) if bt else a for a, bt in pairs]

    state_specs = {
        n: jax.ShapeDtypeStruct((B, *a.shape[1:]) if bt else a.shape, a.dtype)
        for n, a, bt in zip(names, first, batched, strict=True)
    }

    def step_tree(x_t, s):
        """One step on the model's own state structure (a fresh copy: nothing reaches ``model``)."""
        m = fresh()
        if stateful:
            y, new = m(x_t, s)
        else:
            y, new = m(x_t), None
        _check_no_updates(m)
        if stateful and jax.tree.structure(new) != treedef:
            raise ExportError(
                f"the model returned a state of structure {jax.tree.structure(new)}, not that of its "
                f"init_state ({treedef})"
            )
        return y, new

    def named(state) -> dict:
        return dict(zip(names, jax.tree.leaves(state), strict=True))

    def sequence(x):
        b = jax.tree.leaves(x)[0].shape[1]
        s0 = jax.tree.unflatten(treedef, init(b)) if stateful else None
        final, ys = jax.lax.scan(lambda s, x_t: step_tree(x_t, s)[::-1], s0, x)
        return ys, named(final)

    def step(x_t, state: dict):
        y, new = step_tree(x_t, jax.tree.unflatten(treedef, [state[n] for n in names]) if stateful else None)
        return y, named(new)

    x_tree = jax.tree.structure(spec)
    x_names = leaf_names("x", spec)
    if mode == "sequence":
        structured, structured_specs = sequence, (seq_specs,)
        in_specs = jax.tree.leaves(seq_specs)
    else:
        structured, structured_specs = step, (step_x, state_specs)
        in_specs = [*jax.tree.leaves(step_x), *(state_specs[n] for n in names)]
    n_x = len(x_names)

    def flat(*args):
        x = jax.tree.unflatten(x_tree, args[:n_x])
        y, new = sequence(x) if mode == "sequence" else step(x, dict(zip(names, args[n_x:], strict=True)))
        outs, seen = [], {id(a) for a in args}
        for a in (*jax.tree.leaves(y), *(new[n] for n in names)):
            # an output that is an input or another output (an LI's output is its state): its own copy,
            # so that every ONNX output is a value of its own, with its own name
            outs.append(jnp.copy(a) if id(a) in seen else a)
            seen.add(id(a))
        return tuple(outs)

    out_names = (*leaf_names("y", y_spec), *(n.replace("state.", "state_out.", 1) for n in names))
    in_names = (*x_names, *(names if mode == "step" else ()))
    step_state = jax.tree.unflatten(treedef, [state_specs[n] for n in names]) if stateful else None
    return Program(
        mode=mode,
        dynamic=dynamic,
        input_names=tuple(in_names),
        input_specs=tuple(in_specs),
        output_names=tuple(out_names),
        state_names=tuple(names),
        flat=flat,
        structured=structured,
        structured_specs=structured_specs,
        step_specs=(step_x, step_state),
        fresh=fresh,
        example=spec,
    )
