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
what makes feed-forward stacks fast. The neuron scans are memory-bound on
CPU, so their elementwise step is recomputed in the backward pass
(``jax.checkpoint``) rather than stored; ``LIF``, ``LI``, ``IF`` and ``RLIF``
instead use the fused kernels of ``snnx.engine._fused`` (hand-written
backward pass, ``FUSED_NEURONS``), a biased ``nnx.Linear`` feeding one of
them has its bias added inside the neuron's loop (``BIAS_INTO_NEURON``), and a
small ``nnx.Linear`` after a spiking one (a readout) is applied to each step's
spikes inside the loop, so that the spikes are never stored
(``PROJECT_INTO_NEURON``).

Reset-free neurons that offer ``parallel(x, return_states=True)`` (an
associative scan) can use it instead of the sequential scan when they start
from the zero state; that path is off by default
(``PARALLEL_WHEN_AVAILABLE``) because on CPU it measured 3-5x slower than the
sequential scan (T = 100 and 1000, B = 64, 256 units).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from snnx.engine._sequential import Sequential, is_stateful

# Largest unroll factor tried by ``choose_unroll`` for scans whose body is only
# elementwise neuron work, and for scans of a whole model per step. Unrolling
# measured slower on CPU for both (the neuron scans are memory-bound), hence 1.
ELEMENTWISE_UNROLL_CAP = 1
MODEL_UNROLL_CAP = 1
# Use a neuron's ``parallel`` (associative-scan) path when it starts from zero state
# (off: 3-5x slower than the sequential scan on CPU).
PARALLEL_WHEN_AVAILABLE = False
# Broadcast neuron parameters to the state shape before the time loop (see _broadcast_parameters);
# measured slower on CPU, so off.
BROADCAST_PARAMETERS = False
# Recompute a neuron's elementwise step in the backward pass instead of storing its intermediates
# (matmul results, e.g. a recurrent layer's, are still saved). Same values; on CPU the neuron scans
# are memory-bound, and this roughly halves their backward time.
CHECKPOINT_NEURON_STEPS = True
# Scan LIF, LI, IF and RLIF layers with the fused kernels of ``_fused``: a hand-written backward
# pass whose loop is elementwise (plus RLIF's one matmul dL/du @ W^T per step); parameter gradients
# are accumulated per sample and reduced once after the loop, and RLIF's recurrent weight gradient
# is one GEMM over all T * B rows instead of one 64-row GEMM per step. Measured (2 threads, B = 64,
# 256 units, T = 100): RLIF scan gradient 31 -> 22 ms, rec100 training step 67 -> 42 ms; LIF/LI:
# the same time as the checkpointed autodiff scan.
FUSED_NEURONS = True
# When an ``nnx.Linear`` feeds a fused neuron, leave its bias out of the (T * B)-row matmul and add
# it inside the neuron's time loop (the same values; one (T, B, N) pass less each way).
BIAS_INTO_NEURON = True
# When a fused spiking neuron feeds a plain ``nnx.Linear`` with at most PROJECT_MAX_OUT outputs (a
# readout, say), and the neuron's (T, B, hidden) sequence takes at least PROJECT_MIN_BYTES, apply
# that Linear to each step's spikes inside the neuron's loop: the spikes are never stored, and the
# (T, B, hidden) temporaries of a training step drop from three to one (see ``_fused``). Measured
# with ``benchmarks/profile_step.py`` (2 CPUs, B = 64, hidden 256, readout 20): at T = 250 (16 MB
# per sequence) 71.8 ms per training step with the projection, 89.3 ms and 16k page faults per step
# without, because three sequences exceed malloc's 32 MiB mmap threshold and were faulted in afresh
# on every call; at T = 100 (6.5 MB) forcing it gave 26.6 against 25.6 ms, hence the size limit.
# Wider Linears always stay one GEMM.
PROJECT_INTO_NEURON = True
PROJECT_MAX_OUT = 64
PROJECT_MIN_BYTES = 8 * 2**20
# Time is cut into chunks only when T * B exceeds CHUNK_ABOVE rows, into chunks of about
# CHUNK_ROWS rows (chunk steps * batch). Measured on CPU (1 thread): at T = 1000, B = 64 the
# forward pass takes 0.63x the unchunked time and training the same; at T = 100 chunking
# made training 1.5x slower.
CHUNK_ABOVE = 32768
CHUNK_ROWS = 1280


def choose_unroll(T: int, cap: int) -> int:
    """The largest divisor of ``T`` that is at most ``cap`` (1 when ``T`` is prime and > cap)."""
    for d in range(min(cap, T), 0, -1):
        if T % d == 0:
            return d
    return 1


def _per_sample_types() -> tuple[type, ...]:
    """Stateless layer types that treat each sample on the leading axis independently.

    Matched by exact type (a subclass may change ``__call__``); any other
    stateless layer can opt in with a class attribute ``per_sample = True``.
    """
    types: list[type] = [nnx.Linear, nnx.Conv, nnx.ConvTranspose]
    try:  # the layers package is optional for the engine
        from snnx import layers

        for name in ("Flatten", "SumPool", "AvgPool", "Scale", "Threshold"):
            cls = getattr(layers, name, None)
            if isinstance(cls, type):
                types.append(cls)
    except ImportError:  # pragma: no cover - only while the package is incomplete
        pass
    return tuple(types)


def _immutable_variable_types() -> tuple[type, ...]:
    from snnx.neurons._base import Const

    return (nnx.Param, Const)


def has_mutable_state(module) -> bool:
    """True when ``module`` holds NNX variables other than ``nnx.Param``/``Const``.

    Such variables (RNG counters, batch statistics, ...) may change on every
    call, so the order of calls matters and only the step-major engine is safe.
    """
    if not isinstance(module, nnx.Module):
        return False
    kinds = _immutable_variable_types()
    for _, leaf in nnx.iter_graph(module):
        if isinstance(leaf, nnx.Variable) and not isinstance(leaf, kinds):
            return True
    return False


def _is_plain_sequential(model) -> bool:
    cls = type(model)
    return (
        isinstance(model, Sequential)
        and cls.__call__ is Sequential.__call__
        and cls.init_state is Sequential.init_state
    )


def layer_chain(model) -> str | None:
    """Why ``model`` cannot run layer-major, or ``None`` when it can.

    Layer-major applies to a ``Sequential`` (nested ones included) and to a
    single layer, as long as nothing in it holds mutable NNX state.
    """
    if not isinstance(model, nnx.Module) and not callable(model):
        return f"{type(model).__name__} is not callable"
    if isinstance(model, Sequential) and not _is_plain_sequential(model):
        return f"{type(model).__name__} overrides Sequential's step"
    if has_mutable_state(model):
        return (
            f"{type(model).__name__} holds mutable NNX state (RNG streams, batch statistics, ...), "
            "whose updates depend on the order of calls"
        )
    return None


def _merge_time_batch(x: jax.Array) -> jax.Array:
    return x.reshape((x.shape[0] * x.shape[1], *x.shape[2:]))


def _scan_stateless(layer, xs, *, unroll: int, remat: bool):
    def body(carry, x_t):
        return carry, layer(x_t)

    if remat:
        body = jax.checkpoint(body)
    _, ys = jax.lax.scan(body, None, xs, unroll=unroll)
    return ys


def _broadcast_parameters(layer, batch: int):
    """A copy of neuron ``layer`` whose own scalar/per-unit variables are broadcast to ``(batch, *shape)``.

    The values seen per element are the same, so every step computes the same
    numbers. What changes is the backward pass of the time loop: the gradient
    of a parameter closed over by ``jax.lax.scan`` is accumulated every step,
    and for a scalar parameter that is a reduction over ``(batch, *shape)`` per
    step (one reduction kernel per parameter per step on CPU). Broadcast
    first, the per-step accumulation is an elementwise add, and the reduction
    happens once, after the loop, in the transpose of the broadcast.
    Sub-modules (e.g. a recurrent ``nnx.Linear``) are left as they are.
    """
    shape = tuple(getattr(layer, "shape", ()))
    graphdef, state = nnx.split(layer)
    copy = nnx.merge(graphdef, state)
    full = (batch, *shape)
    for name, var in list(vars(copy).items()):
        if not isinstance(var, nnx.Variable):
            continue
        value = var.get_value() if hasattr(var, "get_value") else var.value
        if not hasattr(value, "shape") or value.shape == full:
            continue
        try:
            if jnp.broadcast_shapes(value.shape, shape) != shape:
                continue
        except ValueError:
            continue
        setattr(copy, name, type(var)(jnp.broadcast_to(value, full)))
    return copy


def _scan_stateful(layer, xs, state, *, unroll: int, remat: bool, return_states: bool, bias=None, out=None):
    """Scan ``layer`` over time; ``bias`` (a Linear's, left out of ``xs``) is added to every step's input.

    ``out``: a stateless layer applied to the outputs afterwards (inside the fused
    neuron loop where :func:`snnx.engine._fused.fused_neuron_scan` covers it).
    """
    from snnx.neurons._base import Neuron

    neuron = isinstance(layer, Neuron)
    if FUSED_NEURONS and neuron:
        from snnx.engine._fused import fused_neuron_scan

        fused = fused_neuron_scan(layer, xs, state, return_states=return_states, x_bias=bias, out=out)
        if fused is not None:
            return fused
    if out is not None:
        ys, second = _scan_stateful(
            layer, xs, state, unroll=unroll, remat=remat, return_states=return_states, bias=bias
        )
        y = out(_merge_time_batch(ys))
        return y.reshape((ys.shape[0], ys.shape[1], *y.shape[1:])), second
    if bias is not None:
        xs = xs + jnp.reshape(bias, (1,) * (xs.ndim - 1) + (-1,))
    if BROADCAST_PARAMETERS and neuron and not has_mutable_state(layer):
        layer = _broadcast_parameters(layer, xs.shape[1])

    def body(s, x_t):
        y, s = layer(x_t, s)
        return s, ((y, s) if return_states else y)

    if remat:
        body = jax.checkpoint(body)
    elif CHECKPOINT_NEURON_STEPS and neuron:
        body = jax.checkpoint(body, policy=jax.checkpoint_policies.dots_with_no_batch_dims_saveable)
    final, ys = jax.lax.scan(body, state, xs, unroll=unroll)
    if return_states:
        return ys[0], ys[1]
    return ys, final


def _use_parallel(layer, zero_state: bool, parallel: bool) -> bool:
    return parallel and zero_state and callable(getattr(layer, "parallel", None))


def choose_chunk(T: int, B: int, rows: int, above: int = 0) -> int:
    """Steps per time chunk: the divisor of ``T`` whose ``steps * B`` is closest to ``rows``.

    Returns ``T`` (no chunking) when ``T * B`` is at most ``above`` or about
    ``rows``, or when no divisor of ``T`` comes within a factor of 2 of the target.
    """
    if T * B <= max(2 * rows, above):
        return T
    best = min((d for d in range(1, T + 1) if T % d == 0), key=lambda d: abs(math.log(d * B / rows)))
    return best if abs(math.log(best * B / rows)) <= math.log(2) else T


def run_layer_major(
    model,
    xs: jax.Array,
    state,
    *,
    zero_state: bool,
    return_states: bool,
    remat: bool,
    unroll: int | None,
    parallel: bool,
    chunk: int | None = None,
):
    """Run ``model`` over ``xs`` of shape ``(T, B, ...)`` layer by layer, chunk by chunk.

    Time is cut into chunks of ``chunk`` steps (``None``: :func:`choose_chunk`,
    about ``CHUNK_ROWS`` rows of ``chunk * B`` per stateless-layer call, and
    only for long sequences, ``T * B > CHUNK_ABOVE``); an
    outer ``jax.lax.scan`` carries the model state from chunk to chunk, and
    inside a chunk every layer runs over all its steps before the next layer.
    Chunks keep the matmuls large while each layer's output stays small enough
    to stay in cache for the next layer. With ``remat`` the whole chunk is
    recomputed in the backward pass, so only the state at chunk boundaries is
    stored.

    Returns ``(ys, final_state)``, or ``(ys, states)`` (every step's state, stacked
    on time) with ``return_states``; the state structure is the model's own.
    ``unroll=None`` chooses a divisor of the chunk length per scan.
    """
    T, B = xs.shape[0], xs.shape[1]
    Tc = choose_chunk(T, B, CHUNK_ROWS, CHUNK_ABOVE) if chunk is None else int(chunk)
    if Tc < 1 or T % Tc:
        raise ValueError(f"`chunk` must be a positive divisor of T={T}, got {chunk!r}")
    per_sample = _per_sample_types()
    from snnx.neurons._base import Neuron

    def unroll_for(layer) -> int:
        if unroll is not None:
            return unroll
        cap = ELEMENTWISE_UNROLL_CAP if isinstance(layer, Neuron) else MODEL_UNROLL_CAP
        return choose_unroll(Tc, cap)

    chunked = Tc < T
    use_parallel = parallel and not chunked
    inner_remat = remat and not chunked

    def bias_goes_into(layer, nxt) -> bool:
        """``layer`` is a plain biased ``nnx.Linear`` whose output feeds fused neuron ``nxt`` only."""
        if not (FUSED_NEURONS and BIAS_INTO_NEURON and type(layer) is nnx.Linear and layer.use_bias):
            return False
        from snnx.engine._fused import fused_types, plain_linear

        return (
            type(nxt) in fused_types()
            and plain_linear(layer)
            and not _use_parallel(nxt, zero_state, use_parallel)
        )

    def projection_goes_into(layer, nxt, x) -> bool:
        """``nxt`` is a small plain ``nnx.Linear`` that fused spiking neuron ``layer`` can apply per step."""
        if not (FUSED_NEURONS and PROJECT_INTO_NEURON) or return_states or type(nxt) is not nnx.Linear:
            return False
        if x.size * x.dtype.itemsize < PROJECT_MIN_BYTES:
            return False
        from snnx.engine._fused import fused_types, plain_linear
        from snnx.neurons import LI

        return (
            type(layer) in fused_types()
            and type(layer) is not LI
            and plain_linear(nxt)
            and nxt.out_features <= PROJECT_MAX_OUT
            and not _use_parallel(layer, zero_state, use_parallel)
        )

    def apply(layer, x, s, bias=None):
        if _is_plain_sequential(layer):
            if len(s) != len(layer.layers):
                raise ValueError(f"`state` must have one entry per layer ({len(layer.layers)}), got {len(s)}")
            outs = []
            subs = layer.layers
            pending = None
            i = 0
            while i < len(subs):
                sub, s_sub = subs[i], s[i]
                nxt = subs[i + 1] if i + 1 < len(subs) else None
                if nxt is not None and x.dtype == jnp.float32 and bias_goes_into(sub, nxt):
                    x2 = _merge_time_batch(x)
                    y = jax.lax.dot_general(x2, sub.kernel[...], (((x2.ndim - 1,), (0,)), ((), ())))
                    x, pending = y.reshape((x.shape[0], x.shape[1], *y.shape[1:])), sub.bias[...]
                    outs.append(s_sub)
                    i += 1
                    continue
                if nxt is not None and x.dtype == jnp.float32 and projection_goes_into(sub, nxt, x):
                    x, s_sub = _scan_stateful(
                        sub,
                        x,
                        s_sub,
                        unroll=unroll_for(sub),
                        remat=inner_remat,
                        return_states=False,
                        bias=pending,
                        out=nxt,
                    )
                    pending = None
                    outs.extend((s_sub, s[i + 1]))
                    i += 2
                    continue
                x, s_sub = apply(sub, x, s_sub, bias=pending)
                pending = None
                outs.append(s_sub)
                i += 1
            return x, tuple(outs)
        if bias is not None and not (
            is_stateful(layer) and not _use_parallel(layer, zero_state, use_parallel)
        ):
            x = x + jnp.reshape(bias, (1,) * (x.ndim - 1) + (-1,))
            bias = None
        if is_stateful(layer):
            if _use_parallel(layer, zero_state, use_parallel):
                y, states = layer.parallel(x, return_states=True)
                if return_states:
                    return y, states
                return y, jax.tree.map(lambda a: a[-1], states)
            return _scan_stateful(
                layer,
                x,
                s,
                unroll=unroll_for(layer),
                remat=inner_remat,
                return_states=return_states,
                bias=bias,
            )
        if type(layer) in per_sample or getattr(layer, "per_sample", False) is True:
            y = layer(_merge_time_batch(x))
            return y.reshape((x.shape[0], x.shape[1], *y.shape[1:])), None
        return _scan_stateless(layer, x, unroll=unroll_for(layer), remat=inner_remat), None

    stateful = is_stateful(model)
    if not chunked:
        y, second = apply(model, xs, state if stateful else None)
        return y, (second if stateful else None)

    def chunk_body(s, x_c):
        y_c, second = apply(model, x_c, s)
        if not stateful:
            return s, (y_c, None)
        if return_states:
            return jax.tree.map(lambda a: a[-1], second), (y_c, second)
        return second, (y_c, None)

    if remat:
        chunk_body = jax.checkpoint(chunk_body)
    xs_c = xs.reshape((T // Tc, Tc, *xs.shape[1:]))
    final, (ys, states) = jax.lax.scan(chunk_body, state if stateful else None, xs_c)

    def unchunk(a):
        return a.reshape((T, *a.shape[2:]))

    ys = jax.tree.map(unchunk, ys)
    if not stateful:
        return ys, None
    if return_states:
        return ys, jax.tree.map(unchunk, states)
    return ys, final
