"""``run``: scan any one-step model over time."""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
from flax import nnx

from snnx.engine import _layerwise
from snnx.engine._sequential import Sequential, is_stateful

ENGINES = ("auto", "step", "layer")


def _swap_leading(tree):
    return jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1) if a.ndim >= 2 else a, tree)


def run(
    model,
    x: jax.Array,
    state=None,
    *,
    time_axis: int = 0,
    return_states: bool = False,
    remat: bool = False,
    unroll: int | bool | str = "auto",
    engine: str = "auto",
):
    """Run ``model`` over the time axis of ``x``.

    ``model`` follows the neuron contract (``init_state(batch_shape)`` and
    ``model(x_t, state) -> (y_t, state)``; a ``Sequential``, a neuron or an
    imported NIR graph) or is stateless (``model(x_t) -> y_t``).

    The scan threads the model's own mutable NNX state (RNG counters of
    ``nnx.Dropout``, batch statistics, ...) through the loop and writes it back
    to ``model`` afterwards, so such layers work per step and under
    ``nnx.jit``/``nnx.value_and_grad``.

    Args:
        model: the one-step model.
        x: input of shape ``(T, B, *in_shape)`` (``time_axis=0``) or
            ``(B, T, *in_shape)`` (``time_axis=1``); for a ``Graph`` with several
            inputs, a dict ``{input name: array}`` with a common ``T`` and ``B``.
        state: initial state; ``None`` means ``model.init_state(B)``.
        time_axis: 0 (time-major, the default everywhere in snnx) or 1.
        return_states: if True, the second result is the state after every step,
            stacked along time like the outputs, instead of the final state.
        remat: rematerialise each step in the backward pass
            (``jax.checkpoint``): memory O(T * state) instead of O(T * activations).
        unroll: steps per iteration of every ``jax.lax.scan``; ``"auto"`` (default)
            picks the largest divisor of ``T`` not above a per-kind cap
            (``_layerwise.ELEMENTWISE_UNROLL_CAP`` for neuron scans,
            ``MODEL_UNROLL_CAP`` for whole-model scans; both 1 because
            unrolling measured slower on CPU); an int (or bool) is used as given.
        engine: ``"auto"`` (default) runs layer-major where reordering the two
            loops is valid (see below) and step-major
            otherwise; ``"step"`` always scans the whole model per step (the
            reference); ``"layer"`` requires layer-major and raises
            ``ValueError`` saying why when it does not apply.

    Layer-major execution (``snnx.engine._layerwise``) applies to a
    ``Sequential`` (nested ones included) and to a single layer, when nothing
    in the model holds mutable NNX state: stateless per-sample layers
    (``nnx.Linear``, ``nnx.Conv``, ``Flatten``, pooling, ``Scale``,
    ``Threshold``, or any layer with ``per_sample = True``) see all ``T * B``
    samples in one call, and each stateful layer is scanned over time on its
    own (a recurrent neuron with its own matmul), its elementwise step
    recomputed in the backward pass instead of stored. Outputs and states equal
    the step engine's up to float rounding (the same operations, with matmuls
    grouped differently): spikes identical in the tests, membranes and
    gradients within 1e-5.

    Returns:
        ``(outputs, final_state)`` with ``outputs`` of shape ``(T, B, *out_shape)``
        (``(B, T, ...)`` for ``time_axis=1``); with ``return_states=True``,
        ``(outputs, states)`` where ``states`` holds every step's state.

    Example:
        >>> model = Sequential(nnx.Linear(4, 8, rngs=nnx.Rngs(0)), LIF(8))
        >>> spikes, final = run(model, jnp.ones((10, 2, 4)))
    """
    if time_axis not in (0, 1) or isinstance(time_axis, bool):
        raise ValueError(f"`time_axis` must be 0 (time-major) or 1 (batch-major), got {time_axis!r}")
    if not callable(model):
        raise TypeError(f"`model` must be a callable one-step module, got {type(model).__name__}")
    x, batch = _prepare_input(x, time_axis)
    multi_input = isinstance(x, dict)
    if not multi_input:
        _check_features(model, x)
    stateful = is_stateful(model)
    zero_state = state is None
    if state is None:
        state = model.init_state(batch) if stateful else None
    elif time_axis == 1 and return_states:
        pass  # the given initial state has no time axis; nothing to swap

    if not isinstance(engine, str) or engine not in ENGINES:
        raise ValueError(f"`engine` must be one of {list(ENGINES)}, got {engine!r}")
    if isinstance(unroll, str) and unroll != "auto":
        raise ValueError(f"`unroll` must be 'auto', a positive int or a bool, got {unroll!r}")
    if not isinstance(unroll, (str, bool, int)) or (
        isinstance(unroll, int) and not isinstance(unroll, bool) and unroll < 1
    ):
        raise ValueError(f"`unroll` must be 'auto', a positive int or a bool, got {unroll!r}")
    T = jax.tree.leaves(x)[0].shape[0]

    if engine == "step":
        why_not = "engine='step' was requested"
    elif multi_input:
        why_not = "a dict of inputs (a multi-input Graph) runs step-major"
    else:
        why_not = _layerwise.layer_chain(model)
    if engine == "layer" and why_not is not None:
        raise ValueError(f"`engine='layer'` does not apply to this model: {why_not}")
    if why_not is None:
        ys, second = _layerwise.run_layer_major(
            model,
            x,
            state,
            zero_state=zero_state,
            return_states=return_states,
            remat=remat,
            unroll=None if unroll == "auto" else unroll,
            parallel=_layerwise.PARALLEL_WHEN_AVAILABLE,
        )
        if return_states:
            if time_axis == 1:
                ys, second = _swap_leading(ys), _swap_leading(second)
            return ys, second
        if time_axis == 1:
            ys = _swap_leading(ys)
        return ys, second
    if unroll == "auto":
        unroll = _layerwise.choose_unroll(T, _layerwise.MODEL_UNROLL_CAP)
    return _run_step_major(model, x, state, stateful, time_axis, return_states, remat, unroll)


def _prepare_input(x, time_axis: int):
    """Validate ``x`` (an array, or a dict of arrays for a multi-input ``Graph``), make it
    time-major, and return it with the batch size."""
    axes = "(T, B, ...)" if time_axis == 0 else "(B, T, ...)"
    if isinstance(x, Mapping):
        if not x:
            raise ValueError("`x` must be an array or a non-empty dict {input name: array}, got {}")
        arrays = {k: _prepare_input(v, time_axis)[0] for k, v in x.items()}
        leading = {k: a.shape[:2] for k, a in arrays.items()}
        if len(set(leading.values())) != 1:
            raise ValueError(
                f"`x` inputs must share the time and batch sizes (T, B), got {leading} (time-major)"
            )
        return arrays, next(iter(leading.values()))[1]
    x = jnp.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"`x` must have shape {axes} with at least 2 axes, got {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"`x` must have at least one time step and one sample, got {x.shape}")
    if time_axis == 1:
        x = jnp.swapaxes(x, 0, 1)
    return x, x.shape[1]


def _check_features(model, x) -> None:
    """A first ``nnx.Linear``/``nnx.Conv`` names its input size (instead of a raw dot_general error)."""
    first = model
    while isinstance(first, Sequential) and len(first.layers) > 0:
        first = first.layers[0]
    if isinstance(first, (nnx.Linear, nnx.Conv)) and x.shape[-1] != first.in_features:
        raise ValueError(
            f"`x` must end with the {first.in_features} input features of the first layer "
            f"({type(first).__name__}), got shape {tuple(x.shape)} (time-major (T, B, ...))"
        )


def _run_step_major(model, x, state, stateful, time_axis, return_states, remat, unroll):
    """The reference: one ``jax.lax.scan`` of the whole model per time step."""
    if isinstance(model, nnx.Module):
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    else:
        graphdef = params = rest = None

    def step(carry, x_t):
        rest_t, s = carry
        m = nnx.merge(graphdef, params, rest_t) if graphdef is not None else model
        if stateful:
            y, s = m(x_t, s)
        else:
            y = m(x_t)
        if graphdef is not None:
            _, _, rest_t = nnx.split(m, nnx.Param, ...)
        return (rest_t, s), ((y, s) if return_states else y)

    if remat:
        step = jax.checkpoint(step)
    (rest, final), ys = jax.lax.scan(step, (rest, state), x, unroll=unroll)
    if graphdef is not None:
        nnx.update(model, rest)
    if return_states:
        ys, states = ys
        if time_axis == 1:
            ys, states = _swap_leading(ys), _swap_leading(states)
        return ys, states
    if time_axis == 1:
        ys = _swap_leading(ys)
    return ys, final
