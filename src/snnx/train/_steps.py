"""The jitted training and evaluation steps that :func:`snnx.train.fit` runs, as public builders."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from snnx.engine import Options, run
from snnx.train._data import check_count
from snnx.train._statejit import StateJit

LossFn = Callable[[jax.Array, jax.Array], jax.Array]
MetricFn = Callable[[jax.Array, jax.Array], jax.Array]
RESERVED = ("epoch", "loss", "time_s", "samples_per_s", "compile_s")


def default_forward(model, x: jax.Array, *, options: Options | None = None) -> jax.Array:
    """``run(model, x, options=options)[0]``: time-major ``(T, B, ...)`` in and out."""
    return run(model, x, options=options)[0]


def recording_forward(model, x: jax.Array, *, record, options: Options | None = None):
    """``(outputs, activity)`` of ``run(model, x, options=options, record=record)``.

    ``activity`` is the recording's ``outputs``: ``{layer key: (T, B, ...)}``.
    """
    outputs, _, recording = run(model, x, options=options, record=record)
    return outputs, recording.outputs


def resolve_forward(forward, options, record=None) -> Callable:
    """The forward a step runs: ``forward`` as given, or the default one with ``options``
    (returning ``(outputs, activity)`` with ``record``)."""
    if forward is not None and options is not None:
        raise ValueError(
            "`forward` and `options` were both given; `options` only configures the default forward "
            "run(model, x, options=options)[0]: pass one of them (call run(..., options=...) inside "
            "your `forward`)"
        )
    if forward is not None:
        if not callable(forward):
            raise TypeError(f"`forward` must be callable as forward(model, x), got {type(forward).__name__}")
        return forward
    if options is not None and not isinstance(options, Options):
        raise TypeError(f"`options` must be a snnx.engine.Options or None, got {type(options).__name__}")
    if record is not None:
        return functools.partial(recording_forward, record=record, options=options)
    if options is None:
        return default_forward
    return functools.partial(default_forward, options=options)


def hashable_record(record):
    """``record`` with lists made tuples (a step's cache key, hashable static data)."""
    if isinstance(record, (list, tuple, set, frozenset)):
        return tuple(record) if not isinstance(record, (set, frozenset)) else tuple(sorted(record, key=repr))
    return record


def rate_name(key: str) -> str:
    """The metric name of a recorded layer's mean activity: ``"rate/<key>"``."""
    return f"rate/{key}"


def _split(out, record):
    """``(outputs, activity)`` from a forward's result; ``activity`` is ``None`` without ``record``."""
    if record is None:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], Mapping)):
        got = f"a tuple of {len(out)}" if isinstance(out, tuple) else type(out).__name__
        raise TypeError(
            "with `record`, `forward` must return (outputs, activity) with activity a dict "
            f"{{layer key: array}} (e.g. run(model, x, record=...)[2].outputs), got {got}"
        )
    return out


def _rates(activity) -> dict:
    """Mean recorded activity per layer (spikes per neuron per step for a spiking layer)."""
    if activity is None:
        return {}
    return {rate_name(k): jnp.mean(jax.lax.stop_gradient(a)) for k, a in activity.items()}


def as_metrics(metrics) -> dict[str, MetricFn]:
    """``metrics`` (mapping, list of functions or ``None``) as ``{name: fn}``; reserved names refused."""
    if metrics is None:
        return {}
    if isinstance(metrics, Mapping):
        items = dict(metrics)
    elif isinstance(metrics, Sequence) and not isinstance(metrics, str):
        items = {getattr(fn, "__name__", f"metric{i}"): fn for i, fn in enumerate(metrics)}
    else:
        raise TypeError(
            f"`metrics` must be a mapping name -> fn(outputs, targets) or a list of such functions, "
            f"got {type(metrics).__name__}"
        )
    for name, fn in items.items():
        if not callable(fn):
            raise TypeError(f"`metrics[{name!r}]` must be callable, got {type(fn).__name__}")
        if name in RESERVED or name.startswith(("eval_", "rate/")):
            raise ValueError(f"`metrics` name {name!r} is reserved; choose another name")
    return items


def _check(loss_fn, num_steps, record=None):
    if not callable(loss_fn):
        call = "loss_fn(outputs, targets, activity)" if record is not None else "loss_fn(outputs, targets)"
        raise TypeError(f"`loss_fn` must be callable as {call}, got {type(loss_fn).__name__}")
    return None if num_steps is None else check_count("num_steps", num_steps)


def _prepare_input(x: jax.Array, num_steps: int | None) -> jax.Array:
    if num_steps is not None:
        from snnx.encoders import unpack_spikes

        x = unpack_spikes(x, num_steps, axis=0)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.float32)
    return x


def _scalar_loss(loss_fn, outputs, y, activity=None) -> jax.Array:
    loss = loss_fn(outputs, y) if activity is None else loss_fn(outputs, y, activity)
    if jnp.shape(loss) != ():
        raise ValueError(f"`loss_fn` must return a scalar, got an array of shape {jnp.shape(loss)}")
    return loss


def make_train_step(
    loss_fn: LossFn,
    *,
    forward: Callable | None = None,
    metrics: Mapping[str, MetricFn] | Sequence[MetricFn] | None = None,
    num_steps: int | None = None,
    options: Options | None = None,
    record=None,
    tbptt: int | None = None,
) -> Callable:
    """The jitted training step of :func:`fit`: one gradient update of ``model``.

    The step computes ``outputs = forward(model, x)``, the scalar
    ``loss = loss_fn(outputs, y)``, its gradient ``g`` with respect to the
    model's ``nnx.Param`` variables, and applies ``optimizer.update(model, g)``.
    The metrics are evaluated on ``stop_gradient(outputs)``. ``grads_finite`` is
    ``all(isfinite(g))`` over every gradient leaf: a spike threshold can swallow
    a NaN so that the loss stays finite while the weights are poisoned.

    Args:
        loss_fn: ``loss_fn(outputs, targets) -> scalar``, e.g.
            :func:`snnx.losses.max_membrane_cross_entropy`.
        forward: ``forward(model, x) -> outputs``; default
            ``snnx.run(model, x, options=options)[0]``.
        metrics: ``{name: fn(outputs, targets) -> scalar}`` or a list of such
            functions (named by ``__name__``).
        num_steps: ``T`` when ``x`` is bit-packed along axis 0
            (:func:`snnx.encoders.pack_spikes`), else ``None``.
        options: a :class:`snnx.engine.Options` for the default forward; giving
            both ``forward`` and ``options`` is an error.
        record: layers whose outputs the loss sees (``run``'s ``record``, e.g.
            ``"spikes"``): the loss is then ``loss_fn(outputs, targets,
            activity)`` with ``activity = {layer key: (T, B, ...)}`` (pass it
            to :func:`snnx.losses.silence_penalty` and the other
            regularisers), and the metrics gain ``"rate/<key>"``, each
            layer's mean activity (spikes per neuron per step). A custom
            ``forward`` must then return ``(outputs, activity)``.
        tbptt: truncated backpropagation through time: cut ``T`` into windows
            of ``tbptt`` steps, carry the state across them with its gradient
            stopped, and update once per window on ``loss_fn(window outputs,
            targets)`` (``ceil(T / tbptt)`` updates per call; the loss returned
            is their mean, the metrics are on the whole sequence). Needs the
            default forward. See ``docs/training.md``.

    Returns:
        ``train_step(model, optimizer, x, y) -> (loss, metrics, grads_finite)``,
        compiled with ``jax.jit`` over the model's and optimizer's state, once
        per input shape and graph structure (another
        model instance of the same structure reuses it; ``model.eval()`` or a
        replaced layer compiles anew), about the per-call cost of a bare
        ``jax.jit`` (``benchmarks/step_overhead.py``). ``model`` and the
        ``nnx.Optimizer`` are updated in place; ``x`` is time-major
        ``(T, B, ...)`` (integer/bool spikes are cast to float32), ``y`` of
        shape ``(B, ...)``. The outputs are device arrays: a scalar loss, a dict
        of scalar metrics and a scalar bool. Nothing is read back to the host.

    Example:
        >>> step = make_train_step(losses.max_membrane_cross_entropy,
        ...                        metrics={"accuracy": metrics.max_membrane_accuracy},
        ...                        options=snnx.engine.Options(fused=False))
        >>> opt = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
        >>> loss, values, finite = step(model, opt, x, y)
    """
    update = train_update(
        loss_fn, forward=forward, metrics=metrics, num_steps=num_steps, options=options, record=record,
        tbptt=tbptt,
    )
    return StateJit(update, num_nodes=2)


def train_update(
    loss_fn, *, forward=None, metrics=None, num_steps=None, options=None, record=None, tbptt=None
) -> Callable:
    """The body of :func:`make_train_step`'s step, not compiled: ``update(model, optimizer, x, y)``.

    Pure enough to trace anywhere: ``make_train_step`` wraps it in a ``StateJit``, the
    compiled ``fit`` calls it inside one ``jax.jit`` that runs whole epochs.
    """
    if tbptt is not None:
        from snnx.train._tbptt import make_tbptt_update

        if forward is not None:
            raise ValueError(
                f"`tbptt` ({tbptt}) needs the default forward (the state is carried from window to "
                "window through snnx.run); a custom `forward` cannot be cut into windows: pass "
                "`options` instead, or tbptt=None"
            )
        return make_tbptt_update(
            loss_fn, window=tbptt, metrics=metrics, num_steps=num_steps, options=options, record=record
        )
    record = hashable_record(record)
    num_steps = _check(loss_fn, num_steps, record)
    forward = resolve_forward(forward, options, record)
    metric_fns = as_metrics(metrics)

    def train_step(model, optimizer, x, y):
        x = _prepare_input(x, num_steps)

        def objective(m):
            outputs, activity = _split(forward(m, x), record)
            return _scalar_loss(loss_fn, outputs, y, activity), (outputs, activity)

        (loss, (outputs, activity)), grads = nnx.value_and_grad(objective, has_aux=True)(model)
        optimizer.update(model, grads)
        values = {name: fn(jax.lax.stop_gradient(outputs), y) for name, fn in metric_fns.items()}
        values.update(_rates(activity))
        return loss, values, all_finite(grads)

    return train_step


def all_finite(tree) -> jax.Array:
    """``all(isfinite(leaf))`` over every leaf of ``tree``, as a scalar bool (``True`` for no leaves)."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(tree)] or [jnp.array(True)]))


def make_eval_step(
    loss_fn: LossFn,
    *,
    forward: Callable | None = None,
    metrics: Mapping[str, MetricFn] | Sequence[MetricFn] | None = None,
    num_steps: int | None = None,
    options: Options | None = None,
    record=None,
) -> Callable:
    """The jitted evaluation step of :func:`fit` and :func:`evaluate`: loss and metrics, no update.

    The step computes ``outputs = forward(model, x)``, ``loss_fn(outputs, y)``
    and every metric ``fn(outputs, y)``. It runs the model in whatever mode it
    is in: call ``model.eval()`` first for dropout off (``evaluate`` does).

    Args:
        loss_fn: ``loss_fn(outputs, targets) -> scalar``.
        forward: ``forward(model, x) -> outputs``; default
            ``snnx.run(model, x, options=options)[0]``.
        metrics: ``{name: fn(outputs, targets) -> scalar}`` or a list of such
            functions (named by ``__name__``).
        num_steps: ``T`` when ``x`` is bit-packed along axis 0, else ``None``.
        options: a :class:`snnx.engine.Options` for the default forward; giving
            both ``forward`` and ``options`` is an error.
        record: as in :func:`make_train_step` (``loss_fn(outputs, targets,
            activity)`` and ``"rate/<key>"`` metrics).

    Returns:
        ``eval_step(model, x, y) -> (loss, metrics)``, compiled with ``jax.jit``
        over the model's state (once per input shape and graph structure; a
        Variable the forward pass changes, e.g. an RNG count, is written back);
        ``x`` time-major ``(T, B, ...)``,
        ``y`` of shape ``(B, ...)``; a scalar loss and a dict of scalar
        metrics, as device arrays.

    Example:
        >>> step = make_eval_step(losses.max_membrane_cross_entropy,
        ...                       metrics=[metrics.max_membrane_accuracy])
        >>> model.eval()
        >>> loss, values = step(model, x, y)   # values["max_membrane_accuracy"]
    """
    step = eval_update(
        loss_fn, forward=forward, metrics=metrics, num_steps=num_steps, options=options, record=record
    )
    return StateJit(step, num_nodes=1)


def eval_update(
    loss_fn, *, forward=None, metrics=None, num_steps=None, options=None, record=None
) -> Callable:
    """The body of :func:`make_eval_step`'s step, not compiled: ``step(model, x, y) -> (loss, metrics)``."""
    record = hashable_record(record)
    num_steps = _check(loss_fn, num_steps, record)
    forward = resolve_forward(forward, options, record)
    metric_fns = as_metrics(metrics)

    def eval_step(model, x, y):
        x = _prepare_input(x, num_steps)
        outputs, activity = _split(forward(model, x), record)
        values = {name: fn(outputs, y) for name, fn in metric_fns.items()}
        values.update(_rates(activity))
        return _scalar_loss(loss_fn, outputs, y, activity), values

    return eval_step
