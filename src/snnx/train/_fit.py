"""``fit``: the training loop (jitted steps, shuffling, evaluation, checkpoints)."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from snnx.engine import run
from snnx.train._data import ArrayData, as_data, check_count
from snnx.train._progress import Progress
from snnx.train._sharding import Placement, as_mesh
from snnx.train._signals import InterruptGuard, TrainingInterrupted

LossFn = Callable[[jax.Array, jax.Array], jax.Array]
MetricFn = Callable[[jax.Array, jax.Array], jax.Array]


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite.

    Attributes:
        epoch: 1-based epoch of the bad step.
        step: 1-based step within that epoch.
        last_checkpoint: 0-based epoch of the last good checkpoint, or ``None``.
    """

    def __init__(self, message: str, *, epoch: int, step: int, last_checkpoint: int | None):
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.last_checkpoint = last_checkpoint


def default_forward(model, x: jax.Array) -> jax.Array:
    """``run(model, x)`` outputs: time-major ``(T, B, ...)`` in and out."""
    return run(model, x)[0]


def _as_optimizer(model, optimizer) -> nnx.Optimizer:
    if isinstance(optimizer, nnx.Optimizer):
        return optimizer
    if isinstance(optimizer, optax.GradientTransformation) or (
        callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))
    ):
        return nnx.Optimizer(model, optimizer, wrt=nnx.Param)
    raise TypeError(
        "`optimizer` must be an optax.GradientTransformation or an nnx.Optimizer, "
        f"got {type(optimizer).__name__}"
    )


def _as_metrics(metrics) -> dict[str, MetricFn]:
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
        if name in ("epoch", "loss", "time_s", "samples_per_s") or name.startswith("eval_"):
            raise ValueError(f"`metrics` name {name!r} is reserved; choose another name")
    return items


def _prepare_input(x: jax.Array, num_steps: int | None) -> jax.Array:
    if num_steps is not None:
        from snnx.encoders import unpack_spikes

        x = unpack_spikes(x, num_steps, axis=0)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.float32)
    return x


def _scalar_loss(loss_fn, outputs, y) -> jax.Array:
    loss = loss_fn(outputs, y)
    if jnp.shape(loss) != ():
        raise ValueError(f"`loss_fn` must return a scalar, got an array of shape {jnp.shape(loss)}")
    return loss


def _make_steps(loss_fn, forward, metric_fns, num_steps):
    @nnx.jit
    def train_step(model, optimizer, x, y):
        x = _prepare_input(x, num_steps)

        def objective(m):
            outputs = forward(m, x)
            return _scalar_loss(loss_fn, outputs, y), outputs

        (loss, outputs), grads = nnx.value_and_grad(objective, has_aux=True)(model)
        optimizer.update(model, grads)
        values = {name: fn(jax.lax.stop_gradient(outputs), y) for name, fn in metric_fns.items()}
        # a NaN/Inf gradient can leave the loss finite (a spike test swallows NaN) yet poison the weights
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)] or [True]))
        return loss, values, finite

    @nnx.jit
    def eval_step(model, x, y):
        x = _prepare_input(x, num_steps)
        outputs = forward(model, x)
        values = {name: fn(outputs, y) for name, fn in metric_fns.items()}
        return _scalar_loss(loss_fn, outputs, y), values

    return train_step, eval_step


def _stop_on_signal(guard, ckpt, epoch, step, model, optimizer, seed, history, partial=None, save=True):
    """Checkpoint at this step boundary (``step`` None: the epoch's end) and raise TrainingInterrupted."""
    if ckpt is not None and save:
        ckpt.save(epoch, model, optimizer, seed=seed, history=history, partial=partial)
    where = f"epoch {epoch + 1}, " + (f"after step {step}" if step is not None else "at its end")
    saved = (
        f"; checkpoint in {ckpt.directory}, continue with resume=True (snnx train --resume)"
        if ckpt is not None
        else "; nothing saved (no checkpoint_dir)"
    )
    raise TrainingInterrupted(
        f"training interrupted by {guard.name} in {where}{saved}",
        signum=guard.signum,
        epoch=epoch + 1,
        step=step if step is not None else 0,
        checkpoint_dir=None if ckpt is None else ckpt.directory,
    )


def _batch_size_of(y) -> int:
    shape = np.shape(y)
    return int(shape[0]) if shape else 1


def _place(batch, placement: Placement | None = None, *, allow_replicated: bool = False):
    """Move a host batch to the device(s): as is, or sharded over ``placement``'s mesh."""
    if placement is None:
        return batch
    return placement.batch(batch, allow_replicated=allow_replicated)


def _iterate(data, batch_size, *, epoch, seed, train) -> Iterable:
    if isinstance(data, ArrayData):
        return data.batches(batch_size, epoch=epoch, seed=seed, shuffle=train, drop_remainder=train)
    return data(epoch)


def evaluate(
    model,
    loss_fn: LossFn,
    eval_data,
    *,
    batch_size: int = 256,
    metrics=None,
    forward=None,
    num_steps: int | None = None,
) -> dict[str, float]:
    """Loss and metrics of ``model`` over all of ``eval_data`` (sample-weighted means).

    Arguments as in :func:`fit`; every sample is used (the last batch may be
    smaller), with ``model.eval()`` and ``model.train()`` afterwards.
    Returns ``{"loss": ..., <metric>: ...}``.
    """
    metric_fns = _as_metrics(metrics)
    data = as_data("eval_data", eval_data)
    batch_size = check_count("batch_size", batch_size)
    _, eval_step = _make_steps(loss_fn, forward or default_forward, metric_fns, num_steps)
    return _evaluate(eval_step, model, data, batch_size, metric_fns)


def _evaluate(eval_step, model, data, batch_size, metric_fns, placement=None) -> dict[str, float]:
    """Sample-weighted means over ``data``, in eval mode (``model.eval()``: dropout off, ...)."""
    totals = {"loss": 0.0, **dict.fromkeys(metric_fns, 0.0)}
    count = 0
    model.eval()
    try:
        for x, y in _iterate(data, batch_size, epoch=0, seed=0, train=False):
            n = _batch_size_of(y)
            loss, values = eval_step(model, *_place((x, y), placement, allow_replicated=True))
            totals["loss"] += float(loss) * n
            for name, value in values.items():
                totals[name] += float(value) * n
            count += n
    finally:
        model.train()
    if count == 0:
        raise ValueError("`eval_data` yielded no samples")
    return {name: total / count for name, total in totals.items()}


def fit(
    model: nnx.Module,
    optimizer: optax.GradientTransformation | nnx.Optimizer,
    loss_fn: LossFn,
    train_data,
    *,
    epochs: int,
    batch_size: int = 128,
    eval_data=None,
    eval_batch_size: int | None = None,
    metrics: Mapping[str, MetricFn] | Sequence[MetricFn] | None = None,
    callbacks: Sequence[Callable] = (),
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
    seed: int = 0,
    forward: Callable | None = None,
    num_steps: int | None = None,
    progress: bool | None = None,
    mesh=None,
    param_sharding=None,
) -> list[dict]:
    """Train ``model`` in place with ``optimizer`` on ``loss_fn``; return the history.

    Each step computes ``outputs = forward(model, x)`` (default:
    ``snnx.run(model, x)[0]``, time-major ``(T, B, ...)``), the scalar
    ``loss_fn(outputs, y)`` and its gradient with respect to the model's
    ``nnx.Param`` variables, and applies one optimizer update; train and eval
    steps are compiled once with ``nnx.jit``.

    Data: ``train_data``/``eval_data`` is either

    - a pair ``(x, y)``: ``x`` time-major ``(T, N, *sample_shape)`` (spikes,
      currents; integer/bool spikes are cast to float32) or, with
      ``num_steps=T``, bit-packed uint8 spikes ``(ceil(T/8), N, ...)`` from
      :func:`snnx.encoders.pack_spikes` (unpacked per batch on the device); ``y``
      of shape ``(N, ...)``. Training batches are drawn from a permutation
      reshuffled every epoch by ``numpy.random.default_rng([seed, epoch])``,
      so the order depends only on ``(seed, epoch)``; the remainder
      ``N mod batch_size`` is **dropped** each epoch (fixed shapes, one
      compilation; reshuffling means every sample is still seen). Evaluation
      uses every sample, in order, in eval mode (``model.eval()``, then
      ``model.train()`` again). ``batch_size > N`` is an error.
    - a callable ``epoch -> iterable of (x, y) batches`` (0-based epoch), used
      as is. For bit-exact resumption it must depend only on ``epoch``.

    Checkpoints (``checkpoint_dir``): after every ``checkpoint_every`` epochs and
    after the last one, orbax writes model state, optimizer state, the epoch,
    the seed and the history (see :class:`snnx.train.Checkpointer`).
    ``resume=True`` continues from the latest checkpoint there (or starts
    afresh if there is none); the result is bit-identical on CPU to an
    uninterrupted run with the same seed. Without ``resume``, a directory that
    already holds checkpoints is an error.

    A NaN or infinite training loss (or gradient) stops training at once with
    :class:`TrainingDivergedError` naming the epoch and step; the checkpoint of
    the failing epoch is not written, so the last good one is kept.

    Args:
        model: the network (updated in place), e.g. a :class:`snnx.Sequential`.
        optimizer: an optax ``GradientTransformation`` (wrapped as
            ``nnx.Optimizer(model, tx, wrt=nnx.Param)``) or an existing
            ``nnx.Optimizer`` for ``model`` (pass one to inspect its state later).
        loss_fn: ``loss_fn(outputs, targets) -> scalar``, e.g.
            :func:`snnx.losses.max_membrane_cross_entropy`.
        train_data: ``(x, y)`` or a callable ``epoch -> batches`` (see above).
        epochs: total number of epochs (a resumed run counts the finished ones).
        batch_size: samples per training step (array data).
        eval_data: optional held-out data, evaluated after every epoch.
        eval_batch_size: samples per eval step; defaults to ``batch_size``.
        metrics: ``{name: fn(outputs, targets) -> scalar}`` (or a list, named by
            ``__name__``), e.g. ``{"accuracy": snnx.metrics.max_membrane_accuracy}``;
            reported on training batches and on ``eval_data`` (``eval_<name>``).
        callbacks: functions ``callback(record, model)`` called after each epoch
            (after its checkpoint); returning ``True`` stops training.
        checkpoint_dir: folder for the orbax checkpoints, or ``None``.
        checkpoint_every: save every this many epochs (and after the last).
        resume: continue from the latest checkpoint in ``checkpoint_dir``.
        seed: seed of the per-epoch shuffling.
        forward: ``forward(model, x) -> outputs``; default ``run(model, x)[0]``.
        num_steps: ``T`` when ``x`` is bit-packed along axis 0, else ``None``.
        progress: ``None`` (rich progress on a terminal, one plain line per
            epoch otherwise), ``True`` (rich) or ``False`` (silent).
        mesh: ``None`` (one device, as JAX places it), ``"auto"`` (every device
            of every process), a device count ``N``, or a ``jax.sharding.Mesh``
            with a ``"data"`` axis: data-parallel training (see below).
        param_sharding: with ``mesh``, ``None`` (replicate all state) or rules
            ``{regex: PartitionSpec}`` / ``fn(path, value) -> PartitionSpec | None``
            for large variables, matched against paths like ``"layers/0/kernel"``.

    Returns:
        The history: one dict per epoch with ``epoch`` (1-based), ``loss`` and the
        metrics (means over the epoch's training batches), ``eval_loss`` and
        ``eval_<metric>`` when ``eval_data`` is given, ``time_s`` and
        ``samples_per_s``. A resumed run returns the full history.

    SIGINT/SIGTERM while ``fit`` runs (handlers installed for its duration only,
    the previous ones restored): the current step finishes, a checkpoint of that
    step boundary is written (``partial`` in its meta) and
    :class:`TrainingInterrupted` (a ``KeyboardInterrupt``) is raised;
    ``resume=True`` continues inside that epoch, bit-identical on CPU to an
    uninterrupted run. A second signal stops at once. See ``docs/reliability.md``.

    Raises:
        TrainingDivergedError: the training loss became NaN or infinite.
        TrainingInterrupted: SIGINT or SIGTERM (after the checkpoint).

    Example:
        >>> history = fit(model, optax.adam(1e-3), losses.max_membrane_cross_entropy,
        ...               (x_train, y_train), epochs=10, batch_size=64,
        ...               metrics={"accuracy": metrics.max_membrane_accuracy})

    Data parallelism (``mesh``): every batch is sharded along its batch axis
    (``x`` on axis 1, ``PartitionSpec(None, "data")``; ``y`` on axis 0) over the
    mesh's ``"data"`` axis, the model and optimizer state are replicated (or
    sharded by ``param_sharding``), and the same jitted step runs as one SPMD
    program: XLA inserts the gradient all-reduce (the default ``forward`` runs
    per device under ``jax.shard_map``; a custom one is partitioned by XLA as
    is). The batch size must be a multiple of the data-parallel devices per
    process (``ValueError`` otherwise); an evaluation remainder batch that does
    not split is run replicated. With several processes (``jax.distributed.initialize``), each
    passes its own data shard and ``batch_size`` is per process; history
    counts (``samples_per_s``) are per process. See ``docs/scaling.md``.
    """
    if not isinstance(model, nnx.Module):
        raise TypeError(f"`model` must be an nnx.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(
            f"`loss_fn` must be callable as loss_fn(outputs, targets), got {type(loss_fn).__name__}"
        )
    epochs = check_count("epochs", epochs, minimum=0)
    batch_size = check_count("batch_size", batch_size)
    eval_batch_size = (
        batch_size if eval_batch_size is None else check_count("eval_batch_size", eval_batch_size)
    )
    checkpoint_every = check_count("checkpoint_every", checkpoint_every)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"`seed` must be an int, got {type(seed).__name__} {seed!r}")
    if num_steps is not None:
        num_steps = check_count("num_steps", num_steps)
    metric_fns = _as_metrics(metrics)
    for i, cb in enumerate(callbacks):
        if not callable(cb):
            raise TypeError(f"`callbacks[{i}]` must be callable, got {type(cb).__name__}")
    train = as_data("train_data", train_data)
    if isinstance(train, ArrayData) and batch_size > train.size:
        raise ValueError(
            f"`batch_size` ({batch_size}) must not exceed the number of training samples ({train.size})"
        )
    evald = None if eval_data is None else as_data("eval_data", eval_data)
    mesh = as_mesh(mesh)
    placement = None if mesh is None else Placement(mesh, param_sharding)
    if placement is None and param_sharding is not None:
        raise ValueError("`param_sharding` needs a `mesh` to shard over, got mesh=None")
    if placement is not None and isinstance(train, ArrayData):
        placement.check_batch_size("batch_size", batch_size)
    optimizer = _as_optimizer(model, optimizer)
    forward = default_forward if forward is None else forward

    history: list[dict] = []
    start = 0
    resumed = None
    ckpt = None
    last_saved = None
    if resume and checkpoint_dir is None:
        raise ValueError("`resume=True` needs a `checkpoint_dir` to resume from, got None")
    if checkpoint_dir is not None:
        from snnx.train._checkpoint import Checkpointer

        ckpt = Checkpointer(checkpoint_dir)
        latest = ckpt.latest_epoch()
        if latest is not None and not resume:
            ckpt.close()
            raise ValueError(
                f"`checkpoint_dir` {ckpt.directory!r} already holds checkpoints (latest epoch {latest + 1}); "
                "pass resume=True to continue or use an empty directory"
            )
        if latest is not None:
            meta = ckpt.restore(model, optimizer, epoch=latest)
            if meta["seed"] != seed:
                ckpt.close()
                raise ValueError(
                    f"`seed` ({seed}) differs from the seed of the checkpoint in {ckpt.directory!r} "
                    f"({meta['seed']}); resuming needs the same seed"
                )
            history = list(meta["history"])
            resumed = meta.get("partial")  # written inside an epoch on SIGINT/SIGTERM
            start = latest if resumed else latest + 1
            last_saved = latest

    if placement is not None:
        placement.state(model, optimizer)
        if forward is default_forward:
            forward = placement.per_device(forward, model)
    train_step, eval_step = _make_steps(loss_fn, forward, metric_fns, num_steps)
    steps_per_epoch = train.steps(batch_size, drop_remainder=True) if isinstance(train, ArrayData) else None
    bar = Progress(progress, epochs)
    guard = InterruptGuard().install()
    try:
        for epoch in range(start, epochs):
            bar.start_epoch(epoch, steps_per_epoch)
            t0 = time.perf_counter()
            sums = {"loss": 0.0, **dict.fromkeys(metric_fns, 0.0)}
            seen = skip = 0
            if resumed is not None and epoch == start:  # continue inside the interrupted epoch
                sums.update(resumed["sums"])
                seen, skip = int(resumed["seen"]), int(resumed["step"])
            for step, (x, y) in enumerate(_iterate(train, batch_size, epoch=epoch, seed=seed, train=True)):
                if step < skip:
                    continue
                n = _batch_size_of(y)
                loss, values, finite = train_step(model, optimizer, *_place((x, y), placement))
                loss = float(loss)
                if not math.isfinite(loss) or not bool(finite):
                    kept = (
                        f"; the last good checkpoint (epoch {last_saved + 1}) is kept in {ckpt.directory}"
                        if ckpt is not None and last_saved is not None
                        else ""
                    )
                    what = "a gradient is not finite" if math.isfinite(loss) else f"training loss is {loss}"
                    raise TrainingDivergedError(
                        f"{what} at epoch {epoch + 1}, step {step + 1}; "
                        f"training stopped{kept}",
                        epoch=epoch + 1,
                        step=step + 1,
                        last_checkpoint=last_saved,
                    )
                values = {name: float(v) for name, v in values.items()}
                sums["loss"] += loss * n
                for name, v in values.items():
                    sums[name] += v * n
                seen += n
                bar.step(loss, values, seen / max(time.perf_counter() - t0, 1e-9))
                if guard.signum is not None:
                    partial = {"step": step + 1, "sums": sums, "seen": seen}
                    _stop_on_signal(guard, ckpt, epoch, step + 1, model, optimizer, seed, history, partial)
            if seen == 0:
                raise ValueError(f"`train_data` yielded no batches in epoch {epoch + 1}")
            elapsed = time.perf_counter() - t0
            record: dict = {"epoch": epoch + 1}
            record.update({name: total / seen for name, total in sums.items()})
            if evald is not None:
                scores = _evaluate(eval_step, model, evald, eval_batch_size, metric_fns, placement)
                record.update({f"eval_{name}": value for name, value in scores.items()})
            record["time_s"] = elapsed
            record["samples_per_s"] = seen / max(elapsed, 1e-9)
            history.append(record)
            if ckpt is not None and ((epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs):
                ckpt.save(epoch, model, optimizer, seed=seed, history=history)
                last_saved = epoch
            bar.end_epoch(record)
            stop = [cb(record, model) for cb in callbacks]
            if guard.signum is not None:  # arrived during evaluation or saving: stop at the epoch's end
                done = last_saved == epoch
                _stop_on_signal(guard, ckpt, epoch, None, model, optimizer, seed, history, save=not done)
            if any(s is True for s in stop):
                if ckpt is not None and last_saved != epoch:
                    ckpt.save(epoch, model, optimizer, seed=seed, history=history)
                break
    finally:
        guard.restore()
        bar.close()
        if ckpt is not None:
            ckpt.close()
    return history
