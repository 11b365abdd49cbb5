"""Layer-major execution: each layer of a chain runs over the whole sequence in turn.

The reference engine (``engine="step"``) scans the whole model once per time
step::

    for t in range(T):                 # jax.lax.scan
        for layer in layers:
            x_t, s[layer] = layer(x_t, s[layer])

Layer ``k`` at step ``t`` depends only on its own state after step ``t - 1``
and on layer ``k - 1``'s output at step ``t``. Swapping the two loops therefore
computes the same values, provided no call changes anything another call reads
(no RNG counters, batch statistics or other mutable NNX variables; checked by
:func:`layer_chain`)::

    for layer in layers:
        if stateless and per-sample:   # nnx.Linear, nnx.Conv, Flatten, SumPool, ... or
                                       # any layer with ``per_sample = True``
            X = layer(X.reshape(T * B, ...)).reshape(T, B, ...)   # one large GEMM
        else:                          # neurons, Delay, recurrent layers, other callables
            X, s[layer] = scan over t of layer(X[t], s[layer])     # elementwise work,
                                                                   # plus a recurrent matmul
                                                                   # where the layer has one

A small matmul per step inside the time loop runs at about half the GEMM
throughput of one large matmul on CPU, and the scan body of a neuron alone is
a few elementwise operations that XLA fuses into one loop, so this order is
what makes feed-forward stacks fast. What runs for each layer (a fused
kernel, a bias or readout moved into a neuron's loop, time chunks) is decided
by the planner (``snnx.engine._plan``) from an ``Options``; this module only
executes a plan.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from snnx.engine import _conv, _record
from snnx.engine._fused import fused_scan
from snnx.engine._plan import Plan
from snnx.engine._record import NOTHING, LeafWant, Recording, Want
from snnx.engine._rules import assemble, leaves, state_at


def _merge_time_batch(x: jax.Array) -> jax.Array:
    return x.reshape((x.shape[0] * x.shape[1], *x.shape[2:]))


def _split_time_batch(y: jax.Array, x: jax.Array) -> jax.Array:
    return y.reshape((x.shape[0], x.shape[1], *y.shape[1:]))


def _add_last(a: jax.Array, bias: jax.Array) -> jax.Array:
    return a + jnp.reshape(bias, (1,) * (a.ndim - 1) + (-1,))


def scan_stateless(layer, xs, *, unroll: int, remat: bool):
    def body(carry, x_t):
        return carry, layer(x_t)

    if remat:
        body = jax.checkpoint(body)
    _, ys = jax.lax.scan(body, None, xs, unroll=unroll)
    return ys


def scan_stateful(layer, xs, state, *, unroll: int, remat: bool, recompute: bool, return_states: bool):
    """Scan ``layer(x_t, s) -> (y_t, s)`` over time with autodiff-able ``jax.lax.scan``.

    ``remat``: checkpoint the whole step; ``recompute``: recompute only the
    elementwise work in the backward pass (matmul results are still stored).
    """

    def body(s, x_t):
        y, s = layer(x_t, s)
        return s, ((y, s) if return_states else y)

    if remat:
        body = jax.checkpoint(body)
    elif recompute:
        body = jax.checkpoint(body, policy=jax.checkpoint_policies.dots_with_no_batch_dims_saveable)
    final, ys = jax.lax.scan(body, state, xs, unroll=unroll)
    if return_states:
        return ys[0], ys[1]
    return ys, final


def scan_recording(layer, xs, state, path, want: Want, *, unroll: int, remat: bool):
    """Scan ``layer`` over time with :func:`snnx.engine._record.step`, which records the wanted
    layers inside it (e.g. a ``Graph``'s nodes). Returns ``(ys, states, outputs, inner_states)``."""

    def body(s, x_t):
        outs, sts = {}, {}
        y, s = _record.step(layer, x_t, s, want, path, outs, sts)
        return s, (y, s, outs, sts)

    if remat:
        body = jax.checkpoint(body)
    _, (ys, states, outs, sts) = jax.lax.scan(body, state, xs, unroll=unroll)
    return ys, states, outs, sts


def _last(tree):
    return jax.tree.map(lambda a: a[-1], tree)


def _apply(plan: Plan, layers: dict, x, state, *, return_states: bool, remat: bool, lw: LeafWant, want: Want):
    """Run every step of ``plan`` over ``x`` (one chunk).

    Returns ``(y, values, rec)``: the output, ``{path: state}`` of every leaf
    and the recorded values ``(outputs by key, every-step states by leaf path,
    states by key from inside a leaf)``.
    """
    o = plan.options
    values = {}
    rec_out, rec_states, inner_states = {}, {}, {}
    bias = None
    for step in plan.steps:
        layer = layers[step.path]
        if step.kind == "InLoop":
            values[step.path] = None
        elif step.kind == "PerSample":
            rows = _merge_time_batch(x)
            if isinstance(layer, nnx.Conv) and (step.bias_to is not None or step.weight_grad == "gemm"):
                y = _conv.apply(layer, rows, gemm=step.weight_grad == "gemm", bias=step.bias_to is None)
                bias = layer.bias[...] if step.bias_to is not None else None
            elif step.bias_to is not None:
                y = jax.lax.dot_general(rows, layer.kernel[...], (((rows.ndim - 1,), (0,)), ((), ())))
                bias = layer.bias[...]
            else:
                y = layer(rows)
            x, values[step.path] = _split_time_batch(y, x), None
        elif step.kind == "TimeScan":
            x, values[step.path] = scan_stateless(layer, x, unroll=o.unroll, remat=remat), None
        else:
            s = state_at(state, step.path)
            per_step = return_states or step.path in lw.states
            if step.kind == "FusedNeuron":
                if step.cast is not None:
                    x = x.astype(step.cast)
                out = layers[step.readout] if step.readout is not None else None
                x, s = fused_scan(layer, x, s, return_states=per_step, x_bias=bias, out=out)
                bias = None
            elif step.kind == "Parallel":
                x, s = layer.parallel(x, return_states=True)
            elif step.path in lw.inner:
                x, s, outs, sts = scan_recording(layer, x, s, step.path, want, unroll=o.unroll, remat=remat)
                rec_out.update(outs)
                inner_states.update(sts)
            else:  # Scan
                recompute = o.recompute_neuron_steps and _is_neuron(layer)
                x, s = scan_stateful(layer, x, s, unroll=o.unroll, remat=remat, recompute=recompute,
                                     return_states=per_step)
            every_step = per_step or step.kind == "Parallel" or step.path in lw.inner
            if step.path in lw.states:
                rec_states[step.path] = s
            values[step.path] = s if return_states or not every_step else _last(s)
        for key in lw.outputs.get(step.path, ()):
            rec_out[key] = x
    return x, values, (rec_out, rec_states, inner_states)


def _is_neuron(layer) -> bool:
    from snnx.neurons import Neuron

    return isinstance(layer, Neuron)


def layer_at(model, path: tuple):
    """The layer at ``path`` (indices into ``Sequential``s, node names into ``Graph``s)."""
    for seg in path:
        model = model.nodes[seg] if isinstance(seg, str) else model.layers[seg]
    return model


def execute(plan: Plan, model, xs: jax.Array, state, *, stateful: bool, return_states: bool,
            want: Want = NOTHING, lw: LeafWant | None = None):
    """Run a layer-major ``plan`` over ``xs`` of shape ``(T, B, ...)``, chunk by chunk.

    Time is cut into chunks of ``plan.chunk_steps`` steps (the last one may be
    shorter); an outer ``jax.lax.scan`` carries the model state from chunk to
    chunk, and inside a chunk every layer runs over all its steps before the
    next layer. With ``plan.remat`` each chunk is recomputed in the backward
    pass, so only the state at chunk boundaries is stored.

    Returns ``(ys, final_state, recording)``, or ``(ys, states, recording)``
    (every step's state, stacked on time) with ``return_states``; the state
    structure is the model's own; ``recording`` is a
    :class:`~snnx.engine._record.Recording` of what ``want`` asks for.
    """
    layers = dict(leaves(model))
    if lw is None:  # run passes the one it planned with
        lw = _record.leaf_want(model, want)
    T, Tc = xs.shape[0], plan.chunk_steps

    def chunk(x, s, remat):
        y, values, rec = _apply(plan, layers, x, s, return_states=return_states, remat=remat, lw=lw,
                                want=want)
        return y, (assemble(model, values) if stateful else None), rec

    if Tc >= T:
        ys, second, rec = chunk(xs, state, plan.remat)
        return ys, second, _recording(model, want, lw, rec)

    def last(second):
        return _last(second) if return_states else second

    def body(s, x_c):
        y_c, second, rec = chunk(x_c, s, False)
        return last(second), (y_c, second if return_states else None, rec)

    if plan.remat:
        body = jax.checkpoint(body)
    n = T // Tc
    head = xs[: n * Tc].reshape((n, Tc, *xs.shape[1:]))
    final, (ys, states, rec) = jax.lax.scan(body, state, head)
    flat = jax.tree.map(lambda a: a.reshape((n * Tc, *a.shape[2:])), (ys, states, rec))
    ys, states, rec = flat
    if n * Tc < T:  # the remainder: a shorter last chunk, from the state the scan ended with
        def tail(s, x):
            return chunk(x, s, False)

        y_r, second, rec_r = (jax.checkpoint(tail) if plan.remat else tail)(final, xs[n * Tc :])
        ys = jnp.concatenate([ys, y_r], axis=0)
        if return_states:
            states = jax.tree.map(lambda a, b: jnp.concatenate([a, b], axis=0), states, second)
        rec = jax.tree.map(lambda a, b: jnp.concatenate([a, b], axis=0), rec, rec_r)
        final = last(second)
    recording = _recording(model, want, lw, rec)
    if not stateful:
        return ys, None, recording
    return ys, (states if return_states else final), recording


def _recording(model, want: Want, lw: LeafWant, rec) -> Recording:
    """Put the recorded values in the order of ``want``'s keys; a container's states from its leaves'."""
    rec_out, rec_states, inner_states = rec
    out_keys, state_keys = want.keys()
    states = dict(inner_states)
    for key, path in lw.state_keys.items():
        if path in rec_states:
            states[key] = rec_states[path]
        else:
            states[key] = assemble(layer_at(model, path), rec_states, path)
    return Recording({k: rec_out[k] for k in out_keys}, {k: states[k] for k in state_keys})
