"""``run``: scan any one-step model over time."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import jax
import jax.numpy as jnp
from flax import nnx

from snnx._params import Const
from snnx.engine import _layerwise, _record, _rules
from snnx.engine._options import ENGINES, Options
from snnx.engine._plan import Plan, make_plan
from snnx.engine._sequential import Sequential, is_stateful


def _swap_leading(tree):
    return jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1) if a.ndim >= 2 else a, tree)


def run(
    model,
    x: jax.Array,
    state=None,
    *,
    time_axis: int = 0,
    return_states: bool = False,
    options: Options | None = None,
    remat: bool | None = None,
    unroll: int | bool | str | None = None,
    engine: str | None = None,
    record=None,
    record_states=None,
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
        options: the engine's choices (:class:`snnx.engine.Options`); ``None``
            takes ``model.options`` if the model has that attribute, else
            ``Options()`` (every field at the backend's default).
            ``print(snnx.engine.plan(model, x))`` shows what runs and why.
        remat: shortcut for ``options.remat``: rematerialise in the backward
            pass. The step engine recomputes every step; the layer engine cuts
            time into chunks (about ``sqrt(T)`` steps unless
            ``options.chunk_steps`` says otherwise) and stores only the state
            at chunk boundaries. Less memory, more time.
        unroll: shortcut for ``options.unroll``: steps per iteration of every
            ``jax.lax.scan`` (``"auto"``: the backend default; ``True``: all steps).
        engine: shortcut for ``options.engine``: ``"auto"`` runs layer-major
            where reordering the two loops is valid (see below) and step-major
            otherwise; ``"step"`` always scans the whole model per step (the
            reference); ``"layer"`` requires layer-major and raises
            ``ValueError`` saying why when it does not apply.
        record: the layers whose outputs (spikes, for a spiking neuron) to
            return at every step: ``"spikes"`` (every spiking neuron),
            ``"neurons"``, ``"all"``, a layer key (``"1"``, a ``Graph`` node
            name, a NIR node name), an ``int`` index, a layer type, or a list
            of these (see ``snnx.engine.layer_keys``). ``None``: no recording
            and no third result.
        record_states: the same selection, for the layers' states after every step.

    Layer-major execution (``snnx.engine._layerwise``) applies to a
    ``Sequential`` (nested ones included) and to a single layer, when nothing
    in the model holds mutable NNX state: stateless per-sample layers
    (``nnx.Linear``, ``nnx.Conv``, ``Flatten``, pooling, ``Scale``,
    ``Threshold``, or any layer with ``per_sample = True``) see all ``T * B``
    samples in one call, and each stateful layer is scanned over time on its
    own (a recurrent neuron with its own matmul); the leaky family (LIF, LI,
    IF, RIF, RLIF) by a fused kernel with a hand-written backward pass, which
    supports reverse-mode autodiff only (``Options(fused=False)`` for
    ``jax.jvp``; with convolutions also ``conv_weight_grad="xla"``). Outputs and states equal
    the step engine's up to float rounding (the same operations, with matmuls
    grouped differently): spikes identical in the tests, membranes and
    gradients within 1e-5.

    Recording reads values the engine computes anyway, on every engine (the
    fused kernels included), under ``jit``, ``grad`` and ``vmap``; asking for
    nothing (``None``) runs exactly the program without recording. Only two
    in-loop shortcuts give way to it, and the plan says so: a recorded
    neuron's spikes are not projected into the next ``Linear`` inside its
    loop, and a recorded ``Linear`` keeps its bias.

    Raises:
        snnx.ShapeError: a layer rejects its input (the message names its index and type).
        ValueError: ``record``/``record_states`` names a layer the model does
            not have (the message lists the available keys).

    Returns:
        ``(outputs, final_state)`` with ``outputs`` of shape ``(T, B, *out_shape)``
        (``(B, T, ...)`` for ``time_axis=1``); with ``return_states=True``,
        ``(outputs, states)`` where ``states`` holds every step's state. With
        ``record`` or ``record_states``, a third result: a
        :class:`~snnx.engine.Recording` (``.outputs``/``.states``: ``{key:
        value}``, stacked on time like ``outputs``).

    Example:
        >>> model = Sequential(nnx.Linear(4, 8, rngs=nnx.Rngs(0)), LIF(8))
        >>> spikes, final = run(model, jnp.ones((10, 2, 4)))
        >>> _, _, rec = run(model, jnp.ones((10, 2, 4)), record="spikes")
        >>> rec.outputs["1"].shape
        (10, 2, 8)
    """
    x, state, p, stateful, _, (want, lw) = _setup(
        model, x, state, time_axis=time_axis, return_states=return_states, options=options,
        remat=remat, unroll=unroll, engine=engine, record=record, record_states=record_states,
    )
    try:
        if p.engine == "layer":
            ys, second, rec = _layerwise.execute(
                p, model, x, state, stateful=stateful, return_states=return_states, want=want, lw=lw
            )
        else:
            ys, second, rec = _run_step_major(model, x, state, stateful, return_states, p.remat,
                                              p.options.unroll, want)
    except TypeError as err:
        if "forward-mode" in str(err) and "custom_vjp" in str(err):
            raise TypeError(
                "run's fused neuron kernels and im2col-GEMM convolution gradients support reverse-mode "
                "autodiff only (jax.grad, jax.vjp); for forward mode (jax.jvp, jax.jacfwd, jax.linearize) "
                "pass options=snnx.engine.Options(fused=False, conv_weight_grad='xla') or engine='step'"
            ) from err
        raise
    if time_axis == 1:
        ys, rec = _swap_leading(ys), _swap_leading(rec)
        if return_states:
            second = _swap_leading(second)
    if record is None and record_states is None:
        return ys, second
    return ys, second, rec


def plan(
    model,
    x,
    state=None,
    *,
    time_axis: int = 0,
    return_states: bool = False,
    options: Options | None = None,
    remat: bool | None = None,
    unroll: int | bool | str | None = None,
    engine: str | None = None,
    record=None,
    record_states=None,
) -> Plan:
    """The :class:`~snnx.engine.Plan` that ``run`` would execute for these arguments.

    Takes exactly ``run``'s arguments; ``x`` may also be a
    ``jax.ShapeDtypeStruct`` (only its shape and dtype are used). ``print`` it
    to see every step, the options in force and the reason for each choice,
    including why a fusion did not apply.

    Example:
        >>> print(plan(model, jax.ShapeDtypeStruct((100, 64, 700), jnp.float32)))
    """
    return _setup(
        model, x, state, time_axis=time_axis, return_states=return_states, options=options,
        remat=remat, unroll=unroll, engine=engine, record=record, record_states=record_states,
    )[2]


def _setup(model, x, state, *, time_axis, return_states, options, remat, unroll, engine, record=None,
           record_states=None):
    """Validate ``run``'s arguments, make ``x`` time-major, build the state and the plan."""
    if time_axis not in (0, 1) or isinstance(time_axis, bool):
        raise ValueError(f"`time_axis` must be 0 (time-major) or 1 (batch-major), got {time_axis!r}")
    if not callable(model):
        raise TypeError(f"`model` must be a callable one-step module, got {type(model).__name__}")
    x, batch = _prepare_input(x, time_axis)
    multi_input = isinstance(x, dict)
    if not multi_input:
        _check_features(model, x)
    if options is None:
        options = getattr(model, "options", None) or Options()
    if not isinstance(options, Options):
        raise TypeError(f"`options` must be a snnx.engine.Options or None, got {type(options).__name__}")
    if engine is not None and (not isinstance(engine, str) or engine not in ENGINES):
        raise ValueError(f"`engine` must be one of {list(ENGINES)}, got {engine!r}")
    if isinstance(unroll, bool):  # jax.lax.scan's spelling: True unrolls every step
        unroll = jax.tree.leaves(x)[0].shape[0] if unroll else 1
    if unroll is not None and unroll != "auto" and not (isinstance(unroll, int) and unroll >= 1):
        raise ValueError(f"`unroll` must be 'auto', a positive int or a bool, got {unroll!r}")
    if remat is not None and not isinstance(remat, bool):
        raise TypeError(f"`remat` must be a bool, got {remat!r}")
    overrides = {"engine": engine, "remat": remat, "unroll": None if unroll == "auto" else unroll}
    options = dataclasses.replace(options, **{k: v for k, v in overrides.items() if v is not None})
    resolved = options.resolve()
    stateful = is_stateful(model)
    zero_state = state is None
    if state is None:
        state = model.init_state(batch) if stateful else None
    elif not multi_input:
        _rules.check_state_structure(model, state)
    want = _record.resolve(model, record, record_states)
    lw = _record.leaf_want(model, want)
    spec = jax.tree.map(lambda a: jax.ShapeDtypeStruct(tuple(a.shape), a.dtype), x)
    p = make_plan(model, spec, state, options=resolved, given=options.given(), return_states=return_states,
                  zero_state=zero_state, multi_input=multi_input, recorded=frozenset(lw.outputs),
                  recorded_states=lw.states)
    return x, state, p, stateful, zero_state, (want, lw)


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
    if not isinstance(x, jax.ShapeDtypeStruct):  # plan() takes shapes alone
        x = jnp.asarray(x)
    if len(x.shape) < 2:
        raise ValueError(f"`x` must have shape {axes} with at least 2 axes, got {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"`x` must have at least one time step and one sample, got {x.shape}")
    if time_axis == 1:
        if isinstance(x, jax.ShapeDtypeStruct):
            x = jax.ShapeDtypeStruct((x.shape[1], x.shape[0], *x.shape[2:]), x.dtype)
        else:
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


def _run_step_major(model, x, state, stateful, return_states, remat, unroll, want=_record.NOTHING):
    """The reference: one ``jax.lax.scan`` of the whole model per time step.

    Returns ``(ys, final_state or states, recording)``.
    """
    # Parameters, learnt or frozen, are closed over; only the mutable rest (RNG counters, batch
    # statistics) is carried and written back (writing a frozen one back would fail under jax.jvp).
    fixed = (nnx.Param, Const)
    if isinstance(model, nnx.Module):
        graphdef, params, rest = nnx.split(model, fixed, ...)
    else:
        graphdef = params = rest = None

    def step(carry, x_t):
        rest_t, s = carry
        m = nnx.merge(graphdef, params, rest_t) if graphdef is not None else model
        outs, sts = {}, {}
        if want:
            y, s = _record.step(m, x_t, s, want, (), outs, sts)
        elif stateful:
            y, s = m(x_t, s)
        else:
            y = m(x_t)
        if graphdef is not None:
            _, _, rest_t = nnx.split(m, fixed, ...)
        return (rest_t, s), ((y, s) if return_states else y, (outs, sts))

    if remat:
        step = jax.checkpoint(step)
    (rest, final), (ys, (outs, sts)) = jax.lax.scan(step, (rest, state), x, unroll=unroll)
    if graphdef is not None:
        nnx.update(model, rest)
    out_keys, state_keys = want.keys()
    rec = _record.Recording({k: outs[k] for k in out_keys}, {k: sts[k] for k in state_keys})
    if return_states:
        return (*ys, rec)
    return ys, final, rec
