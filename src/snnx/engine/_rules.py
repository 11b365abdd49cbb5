"""The rules the planner applies: which layers, which fusions, which time chunks, and why not.

Every function here is pure: it reads a layer, shapes, dtypes and an
``Options`` and returns a decision or the reason it does not apply. The
planner (``_plan``) records the reasons in the plan.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from snnx._checks import ShapeError
from snnx._params import Const
from snnx.engine._options import Options
from snnx.engine._sequential import Sequential

# -- the model's layers ------------------------------------------------------------------------


def is_plain_sequential(model) -> bool:
    cls = type(model)
    return (
        isinstance(model, Sequential)
        and cls.__call__ is Sequential.__call__
        and cls.init_state is Sequential.init_state
    )


def leaves(model, path: tuple[int, ...] = ()):
    """``(path, layer)`` for every layer, descending into plain ``Sequential``s."""
    if is_plain_sequential(model):
        for i, layer in enumerate(model.layers):
            yield from leaves(layer, (*path, i))
    else:
        yield path, model


def state_at(state, path: tuple[int, ...]):
    for i in path:
        state = state[i]
    return state


def assemble(model, values: dict, path: tuple[int, ...] = ()):
    """The model's state structure (nested tuples) from ``{path: leaf state}``."""
    if is_plain_sequential(model):
        return tuple(assemble(layer, values, (*path, i)) for i, layer in enumerate(model.layers))
    return values.get(path)


def check_state_structure(model, state, path: tuple[int, ...] = ()) -> None:
    if not is_plain_sequential(model):
        return
    n = len(model.layers)
    if not isinstance(state, (tuple, list)) or len(state) != n:
        got = len(state) if isinstance(state, (tuple, list)) else type(state).__name__
        where = f"layer {'.'.join(map(str, path))}'s " if path else ""
        raise ValueError(
            f"`state` ({where}Sequential) must have one entry per layer ({n}, from init_state), got {got}"
        )
    for i, layer in enumerate(model.layers):
        check_state_structure(layer, state[i], (*path, i))


def describe(layer) -> str:
    name = type(layer).__name__
    if isinstance(layer, nnx.Linear):
        return f"{name}({layer.in_features}->{layer.out_features})"
    if isinstance(layer, nnx.Conv):
        return f"{name}({layer.in_features}->{layer.out_features})"
    shape = getattr(layer, "shape", None)
    if isinstance(shape, tuple):
        return f"{name}{shape}" if len(shape) != 1 else f"{name}({shape[0]})"
    return name


def per_sample_types() -> tuple[type, ...]:
    """Stateless layer types that treat each sample on the leading axis independently.

    Matched by exact type (a subclass may change ``__call__``); any other
    stateless layer can opt in with a class attribute ``per_sample = True``.
    """
    from snnx import layers

    return (nnx.Linear, nnx.Conv, nnx.ConvTranspose, layers.Flatten, layers.SumPool, layers.AvgPool,
            layers.MaxPool, layers.Scale, layers.Threshold)


def is_per_sample(layer) -> bool:
    return type(layer) in per_sample_types() or getattr(layer, "per_sample", False) is True


def has_mutable_state(module) -> bool:
    """True when ``module`` holds NNX variables other than ``nnx.Param``/``Const``.

    Such variables (RNG counters, batch statistics, ...) may change on every
    call, so the order of calls matters and only the step-major engine is safe.
    """
    if not isinstance(module, nnx.Module):
        return False
    for _, leaf in nnx.iter_graph(module):
        if isinstance(leaf, nnx.Variable) and not isinstance(leaf, (nnx.Param, Const)):
            return True
    return False


def layer_chain(model) -> str | None:
    """Why ``model`` cannot run layer-major, or ``None`` when it can."""
    if not isinstance(model, nnx.Module) and not callable(model):
        return f"{type(model).__name__} is not callable"
    if isinstance(model, Sequential) and not is_plain_sequential(model):
        return f"{type(model).__name__} overrides Sequential's step"
    if has_mutable_state(model):
        return (
            f"{type(model).__name__} holds mutable NNX state (RNG streams, batch statistics, ...), "
            "whose updates depend on the order of calls"
        )
    return None


# -- shapes ------------------------------------------------------------------------------------


def _spec(a) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(np.shape(a), jnp.result_type(a))


def eval_layer(layer, x, state, path, *, stateful: bool):
    """Output (and state) shapes of one call of ``layer``; a rejection names the layer."""
    if isinstance(layer, nnx.Module):
        graphdef, variables = nnx.split(layer)

        def call(variables, x, state):
            m = nnx.merge(graphdef, variables)
            return m(x, state) if stateful else m(x)

        args = (variables, x, state)
    else:

        def call(x, state):
            return layer(x, state) if stateful else layer(x)

        args = (x, state)
    try:
        return jax.eval_shape(call, *args)
    except (ValueError, TypeError) as err:
        where = ".".join(map(str, path)) or "0"
        raise ShapeError(
            f"layer {where} ({type(layer).__name__}) rejects its input of shape {tuple(x.shape)} "
            f"{jnp.dtype(x.dtype).name} (per sample {tuple(x.shape[1:])}): {err}"
        ) from err


# -- decisions ---------------------------------------------------------------------------------


def plain_linear(module) -> bool:
    """``module`` is an ``nnx.Linear`` computing ``dot_general(z, kernel) (+ bias)``, nothing else."""
    return (
        type(module) is nnx.Linear
        and module.precision is None
        and module.preferred_element_type is None
        and module.dot_general is jax.lax.dot_general
        and getattr(module, "promote_dtype", None) is not None
    )


def linear_dtype(module, x_dtype):
    """The dtype an ``nnx.Linear`` (or ``nnx.Conv``) computes and returns for inputs of ``x_dtype``."""
    if module.dtype is not None:
        return jnp.dtype(module.dtype)
    arrays = [module.kernel[...]] + ([module.bias[...]] if module.use_bias else [])
    return jnp.result_type(x_dtype, *(a.dtype for a in arrays))


def fusion_blocker(layer, x_dtype, state, options: Options) -> tuple[str | None, object]:
    """Why ``layer`` cannot use the fused kernel (``None`` if it can), and the computation dtype."""
    from snnx.neurons._leaky import fusion_refusal

    if not options.fused:
        return "not fused: options.fused is False", None
    why = fusion_refusal(layer)
    if why is not None:
        return f"not fused: {why}", None
    cfg, p = layer.leaky()
    if not isinstance(state, dict) or set(state) != set(cfg.state_names):
        return "not fused: the state is not the neuron's own dict", None
    dtype = jnp.result_type(x_dtype, *(jnp.result_type(a) for a in (*state.values(), *p.values())))
    if not jnp.issubdtype(dtype, jnp.floating):
        return f"not fused: computation dtype {dtype} is not floating", None
    odd = {k: jnp.dtype(jnp.result_type(a)).name for k, a in state.items() if jnp.result_type(a) != dtype}
    if odd:
        why = f"not fused: state dtypes {odd} differ from the computation dtype {jnp.dtype(dtype).name}"
        return why, None
    return None, jnp.dtype(dtype)


def bias_blocker(linear, x_dtype, neuron_dtype, options: Options) -> str | None:
    if not options.bias_into_neuron:
        return "bias not moved: options.bias_into_neuron is False"
    if not linear.use_bias:
        return None
    if type(linear) is nnx.Conv:
        from snnx.engine import _conv

        why = _conv.supports(linear, x_dtype)
        if why is not None:
            return f"bias not moved: the conv has {why}"
    elif not plain_linear(linear):
        return f"bias not moved: {type(linear).__name__} is not a plain nnx.Linear"
    out = linear_dtype(linear, x_dtype)
    dtypes = {jnp.dtype(linear.kernel[...].dtype), jnp.dtype(linear.bias[...].dtype), out}
    if dtypes != {neuron_dtype}:
        names = sorted(d.name for d in dtypes)
        return f"bias not moved: the Linear's dtypes {names} differ from the neuron's"
    return None


def readout_blocker(neuron, nxt, T, hidden_bytes, dtype, options: Options, return_states) -> str | None:
    from snnx.neurons._leaky import fusable

    if type(nxt) is not nnx.Linear:
        return None
    if not options.project_readout:
        return "readout not in the loop: options.project_readout is False"
    if return_states:
        return "readout not in the loop: every step's states are returned (return_states or record_states)"
    if not (fusable(neuron) and neuron.leaky()[0].spiking):
        return "readout not in the loop: the neuron does not spike"
    if not plain_linear(nxt):
        return "readout not in the loop: not a plain nnx.Linear"
    if nxt.out_features > options.project_max_out:
        limit = options.project_max_out
        return f"readout not in the loop: {nxt.out_features} outputs > project_max_out {limit}"
    if hidden_bytes < options.project_min_sample_bytes:
        return (
            f"readout not in the loop: one sample's spikes take {hidden_bytes / 1024:.1f} KiB "
            f"< project_min_sample_bytes {options.project_min_sample_bytes / 1024:.1f} KiB"
        )
    arrays = [nxt.kernel[...]] + ([nxt.bias[...]] if nxt.use_bias else [])
    if any(a.dtype != dtype for a in arrays) or nxt.dtype not in (None, dtype):
        return "readout not in the loop: its dtypes differ from the neuron's"
    return None


def choose_chunk(T: int, B: int, rows: int, above: int = 0) -> int:
    """Steps per time chunk: the divisor of ``T`` whose ``steps * B`` is closest to ``rows``.

    Returns ``T`` (no chunking) when ``T * B`` is at most ``above`` or about
    ``rows``, or when no divisor of ``T`` comes within a factor of 2 of the target.
    """
    if T * B <= max(2 * rows, above):
        return T
    best = min((d for d in range(1, T + 1) if T % d == 0), key=lambda d: abs(math.log(d * B / rows)))
    return best if abs(math.log(best * B / rows)) <= math.log(2) else T


def chunking(T: int, B: int, options: Options) -> tuple[int, str]:
    c, remat = options.chunk_steps, options.remat
    if isinstance(c, int):
        Tc, why = min(c, T), f"chunks of {min(c, T)} steps (options.chunk_steps)"
    elif c == "auto":
        Tc = choose_chunk(T, B, options.chunk_rows, options.chunk_above_rows)
        why = (
            f"chunks of {Tc} steps (about chunk_rows={options.chunk_rows} rows of steps * B)"
            if Tc < T
            else f"one chunk (T * B = {T * B} <= chunk_above_rows {options.chunk_above_rows}, "
            "or no divisor of T near chunk_rows)"
        )
    else:
        Tc, why = T, "one chunk (options.chunk_steps is 'off')"
    if remat and Tc == T and T > 1:
        Tc = max(1, round(math.sqrt(T)))
        why = f"chunks of {Tc} steps (about sqrt(T), for remat: only chunk-boundary states are stored)"
    if Tc < T and T % Tc:
        why += f", the last one {T % Tc} steps"
    return Tc, why
