"""``evaluate``: loss and metrics over a whole data set, in eval mode, compiled once per shape."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator

from flax import nnx

from snnx.engine import Options
from snnx.engine._record import select
from snnx.train._data import as_data, batch_size_of, check_count, iterate, loader_defaults, place
from snnx.train._statejit import StateJit
from snnx.train._steps import LossFn, as_metrics, hashable_record, make_eval_step, rate_name
from snnx.train._sync import SYNC_EVERY, Tally

# The attributes ``nnx.Module.eval()`` / ``.train()`` set on every submodule that has them.
MODE_ATTRIBUTES = ("deterministic", "use_running_average")


@contextlib.contextmanager
def eval_mode(model: nnx.Module) -> Iterator[None]:
    """``model.eval()`` inside the block; afterwards every submodule's mode exactly as it was before.

    ``model.train()`` afterwards would put a model the caller had put in eval mode
    (or with only its batch statistics frozen) back into training mode.
    """
    saved = [
        (module, {name: getattr(module, name) for name in MODE_ATTRIBUTES if hasattr(module, name)})
        for _, module in nnx.iter_modules(model)
    ]
    model.eval()
    try:
        yield
    finally:
        for module, attributes in saved:
            for name, value in attributes.items():
                setattr(module, name, value)


@functools.lru_cache(maxsize=16)
def _cached_eval_step(loss_fn, forward, metric_items, num_steps, options, record):
    return make_eval_step(
        loss_fn, forward=forward, metrics=dict(metric_items), num_steps=num_steps, options=options,
        record=record,
    )


def _eval_step_for(loss_fn, forward, metric_fns, num_steps, options, record=None) -> Callable:
    """The eval step for these arguments: built once and reused (so compiled once per input shape)."""
    key = (loss_fn, forward, tuple(metric_fns.items()), num_steps, options, hashable_record(record))
    try:
        hash(key)
    except TypeError:  # e.g. a callable object with __eq__ but no __hash__: no cache key, build anew
        return make_eval_step(
            loss_fn, forward=forward, metrics=metric_fns, num_steps=num_steps, options=options,
            record=record,
        )
    return _cached_eval_step(*key)


def evaluate(
    model: nnx.Module,
    loss_fn: LossFn,
    eval_data,
    *,
    batch_size: int = 256,
    metrics=None,
    forward: Callable | None = None,
    num_steps: int | None = None,
    options: Options | None = None,
    record=None,
) -> dict[str, float]:
    """Loss and metrics of ``model`` over all of ``eval_data`` (sample-weighted means).

    Arguments as in :func:`fit`; every sample is used, in order (the last batch
    may be smaller). The model runs in eval mode (``model.eval()``: dropout off,
    running batch statistics); afterwards the ``deterministic`` and
    ``use_running_average`` attribute of every submodule is restored to what it
    was, so a model in eval mode stays in eval mode and one in train mode stays
    in train mode.

    The jitted eval step is built once per ``(loss_fn, forward, metrics,
    num_steps, options)`` and kept (the 16 most recent), so calling
    ``evaluate`` again with the same functions does not compile again for an
    input shape it has seen. Pass the same function objects to benefit: a new
    ``lambda`` or ``functools.partial`` per call is a new key. Arguments that
    cannot be hashed are not cached (compiled on every call).

    Returns:
        ``{"loss": ..., <metric>: ...}`` (and ``"rate/<key>"`` per recorded
        layer with ``record``, as in :func:`fit`).

    Example:
        >>> evaluate(model, losses.max_membrane_cross_entropy, (x_test, y_test),
        ...          metrics={"accuracy": metrics.max_membrane_accuracy})   # {"loss": ..., "accuracy": ...}
    """
    if not isinstance(model, nnx.Module):
        raise TypeError(f"`model` must be an nnx.Module, got {type(model).__name__}")
    metric_fns = as_metrics(metrics)
    data = as_data("eval_data", eval_data)
    num_steps, _ = loader_defaults(None, data, num_steps, None)
    batch_size = check_count("batch_size", batch_size)
    eval_step = _eval_step_for(loss_fn, forward, metric_fns, num_steps, options, record)
    rates = [] if record is None else [rate_name(k) for k in select("record", record, model)]
    names = [*metric_fns, *rates]
    return run_eval(eval_step, model, data, batch_size, names)


def run_eval(
    eval_step, model, data, batch_size, names, placement=None, sync_every: int = SYNC_EVERY
) -> dict[str, float]:
    """Sample-weighted means over ``data`` in eval mode, read back every ``sync_every`` batches;
    ``names``: the metric names the step returns."""
    tally = Tally(names)
    with eval_mode(model):
        # a StateJit step looks the (eval-mode) model's structure up once, not per batch
        bound = isinstance(eval_step, StateJit)
        step = eval_step.bind(model) if bound else functools.partial(eval_step, model)
        for x, y in iterate(data, batch_size, epoch=0, seed=0, train=False):
            n = batch_size_of(y)
            loss, values = step(*place((x, y), placement, allow_replicated=True))
            tally.add(0, n, loss, values)
            if len(tally) >= sync_every:
                tally.sync()
        tally.sync()
    if tally.seen == 0:
        raise ValueError("`eval_data` yielded no samples")
    return tally.means()
