"""``fit``: the training loop (epochs, shuffling, evaluation, checkpoints, NaN and signal stops).

The jitted steps come from :mod:`snnx.train._steps`, the evaluation from
:mod:`snnx.train._evaluate`, the batched read-back of step results from
:mod:`snnx.train._sync`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import optax
from flax import nnx

from snnx.engine import Options
from snnx.engine._record import select
from snnx.train._compiled import check_supported, run_compiled
from snnx.train._data import (
    ArrayData,
    as_data,
    batch_size_of,
    check_count,
    is_loader,
    iterate,
    loader_defaults,
    place,
)
from snnx.train._evaluate import run_eval
from snnx.train._progress import Progress
from snnx.train._sharding import Placement, as_mesh
from snnx.train._signals import InterruptGuard, stop_on_signal
from snnx.train._solver import fit_by_evolution, is_evolution_strategy
from snnx.train._steps import (
    LossFn,
    MetricFn,
    as_metrics,
    default_forward,
    eval_update,
    hashable_record,
    make_eval_step,
    make_train_step,
    rate_name,
    resolve_forward,
    train_update,
)
from snnx.train._sync import SYNC_EVERY, Tally, diverged


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


def _sync(tally: Tally, bar: Progress, t0: float, epoch: int, ckpt, last_saved) -> None:
    """Read the waiting steps back; stop on the first non-finite one; update the progress bar."""
    bad = tally.sync(check_finite=True)
    if bad is not None:
        raise diverged(epoch, *bad, None if ckpt is None else ckpt.directory, last_saved)
    if tally.advanced:
        loss, values = tally.last
        bar.step(loss, values, tally.seen / max(time.perf_counter() - t0, 1e-9), advance=tally.advanced)


def fit(
    model: nnx.Module,
    optimizer,
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
    options: Options | None = None,
    sync_every: int = SYNC_EVERY,
    progress: bool | None = None,
    mesh=None,
    param_sharding=None,
    steps_per_epoch: int | None = None,
    record=None,
    compiled: bool = False,
    chunk_epochs: int | None = None,
    tbptt: int | None = None,
) -> list[dict]:
    """Train ``model`` in place with ``optimizer`` on ``loss_fn``; return the history.

    Each step computes ``outputs = forward(model, x)`` (default:
    ``snnx.run(model, x, options=options)[0]``, time-major ``(T, B, ...)``), the
    scalar ``loss_fn(outputs, y)`` and its gradient with respect to the model's
    ``nnx.Param`` variables, and applies one optimizer update; the train and
    eval steps are those of :func:`make_train_step` and :func:`make_eval_step`,
    compiled once per input shape with ``jax.jit`` over the model's state.

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
      uses every sample, in order, in eval mode (``model.eval()``; afterwards
      each submodule's mode is restored). ``batch_size > N`` is an error.
    - a :class:`snnx.datasets.Loader`: batches streamed from a source by grain
      worker processes, in the order of the arrays case; its own
      ``batch_size`` applies, its ``num_steps`` unpacks bit-packed spikes, and
      a resumed epoch starts at the interrupted batch without reading the
      ones before it.
    - a callable ``epoch -> iterable of (x, y) batches`` (0-based epoch), used
      as is. For bit-exact resumption it must depend only on ``epoch``.

    Checkpoints (``checkpoint_dir``): after every ``checkpoint_every`` epochs and
    after the last one, orbax writes model state, optimizer state, the epoch,
    the seed and the history (see :class:`snnx.train.Checkpointer`).
    ``resume=True`` continues from the latest checkpoint there (or starts
    afresh if there is none); the result is bit-identical on CPU to an
    uninterrupted run with the same seed. Without ``resume``, a directory that
    already holds checkpoints is an error.

    Step results stay on the device and are read back every ``sync_every``
    steps, at the end of every epoch and before any checkpoint (reading after
    every step would make the host wait for the device each time, so it could
    not queue the next step meanwhile). A NaN or infinite training loss (or
    gradient) stops training with :class:`TrainingDivergedError` naming the
    epoch and step of the first bad one; the stop comes when that step is read
    back, up to ``sync_every - 1`` steps later (those steps ran on the poisoned
    weights), and the checkpoint of the failing epoch is never written, so the
    last good one is kept. The progress bar advances when results are read.

    Args:
        model: the network (updated in place), e.g. a :class:`snnx.Sequential`.
        optimizer: the solver: an optax ``GradientTransformation`` (wrapped as
            ``nnx.Optimizer(model, tx, wrt=nnx.Param)``), an existing
            ``nnx.Optimizer`` for ``model`` (pass one to inspect its state later),
            or an evolution strategy :class:`snnx.evolve.ES`: then ``fit`` is
            :func:`snnx.evolve.evolve` (no gradients; the loss is the fitness,
            minimised; checkpoints, ``record`` and ``tbptt`` are refused).
        loss_fn: ``loss_fn(outputs, targets) -> scalar``, e.g.
            :func:`snnx.losses.max_membrane_cross_entropy`.
        train_data: ``(x, y)`` or a callable ``epoch -> batches`` (see above).
        epochs: total number of epochs (a resumed run counts the finished ones).
        batch_size: samples per training step (array data; a Loader brings its own).
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
        options: a :class:`snnx.engine.Options` for the default forward
            (``run(model, x, options=options)``); an error together with ``forward``.
        sync_every: read the step results (loss, metrics, finiteness) back to
            the host every this many steps (default 10). Larger: fewer stalls
            of the device, a later NaN stop and more batches held on the device
            meanwhile; ``1``: stop right after the bad step.
        progress: ``None`` (rich progress on a terminal, one plain line per
            epoch otherwise), ``True`` (rich) or ``False`` (silent).
        steps_per_epoch: the number of batches a callable ``train_data`` yields
            per epoch, shown as the progress bar's total (``None``: unknown,
            shown as ``?``); array data: computed, and must not be given.
        mesh: ``None`` (one device, as JAX places it), ``"auto"`` (every device
            of every process), a device count ``N``, or a ``jax.sharding.Mesh``
            with a ``"data"`` axis: data-parallel training (see below).
        record: layers whose activity the loss sees (``snnx.run``'s
            ``record``, e.g. ``"spikes"``): ``loss_fn(outputs, targets,
            activity)`` with ``activity = {layer key: (T, B, ...)}``, for the
            regularisers of :mod:`snnx.losses`; the history gains
            ``rate/<key>`` (and ``eval_rate/<key>``), each layer's mean
            activity (spikes per neuron per step). A custom ``forward`` must
            then return ``(outputs, activity)``.
        param_sharding: with ``mesh``, ``None`` (replicate all state) or rules
            ``{regex: PartitionSpec}`` / ``fn(path, value) -> PartitionSpec | None``
            for large variables, matched against paths like ``"layers/0/kernel"``.
        tbptt: truncated backpropagation through time with windows of this many
            steps and one update per window (see :func:`make_train_step`); needs
            the default forward.
        compiled: run whole epochs inside one ``jax.jit`` (see below); array data only.
        chunk_epochs: with ``compiled``, epochs per compiled call; checkpoints,
            callbacks, signals and the progress bar act between calls. Default:
            ``checkpoint_every`` with a ``checkpoint_dir``, else every epoch at once.

    Returns:
        The history: one dict per epoch with ``epoch`` (1-based), ``loss`` and the
        metrics (means over the epoch's training batches), ``eval_loss`` and
        ``eval_<metric>`` when ``eval_data`` is given, ``time_s`` and
        ``samples_per_s``. A resumed run returns the full history.
        With ``compiled=True``, the first epoch of the call also has
        ``compile_s`` (compiling the chunk program, excluded from ``time_s``),
        and ``time_s`` is the chunk's time divided by its epochs.

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

    Compiled training (``compiled=True``): the training and evaluation arrays
    are put on the device(s) once (``ValueError`` naming their size when they
    would take more than half a device's memory) and one compiled program runs
    ``chunk_epochs`` epochs: per epoch a ``jax.lax.scan`` over its batches,
    gathered on the device from the permutation of ``(seed, epoch)`` above,
    then the evaluation, in eval mode. Same update, same order, same
    evaluation: the parameters equal the Python loop's up to float rounding,
    and a checkpoint of either resumes in the other. A non-finite step stops
    at the end of its chunk with :class:`TrainingDivergedError` naming its
    epoch and step; the model then holds the state from just before that step.
    A callback returning ``True`` stops at the end of the chunk. One process
    only (``mesh`` over its devices is supported).

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
    num_steps, steps_per_epoch = loader_defaults(train_data, eval_data, num_steps, steps_per_epoch)
    if is_evolution_strategy(optimizer):  # the solver interface: gradients (optax) or evolution
        return fit_by_evolution(
            model, optimizer, loss_fn, train_data, epochs=epochs, batch_size=batch_size,
            eval_data=eval_data, eval_batch_size=eval_batch_size, metrics=metrics, seed=seed,
            forward=forward, num_steps=num_steps, options=options, progress=progress, mesh=mesh,
            callbacks=callbacks, checkpoint_dir=checkpoint_dir, resume=resume, record=record,
            param_sharding=param_sharding, tbptt=tbptt, chunk_epochs=chunk_epochs,
            steps_per_epoch=steps_per_epoch, sync_every=sync_every,
        )  # fmt: skip
    default = forward is None or forward is default_forward
    if tbptt is not None:
        tbptt = check_count("tbptt", tbptt)
        if not default:
            raise ValueError(
                f"`tbptt` ({tbptt}) needs the default forward (the state is carried from window to "
                "window through snnx.run); a custom `forward` cannot be cut into windows: pass "
                "`options` instead, or tbptt=None"
            )
    record = hashable_record(record)
    rates = [] if record is None else [rate_name(k) for k in select("record", record, model)]
    forward = resolve_forward(forward, options, record)
    epochs = check_count("epochs", epochs, minimum=0)
    batch_size = check_count("batch_size", batch_size)
    eval_batch_size = (
        batch_size if eval_batch_size is None else check_count("eval_batch_size", eval_batch_size)
    )
    checkpoint_every = check_count("checkpoint_every", checkpoint_every)
    sync_every = check_count("sync_every", sync_every)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"`seed` must be an int, got {type(seed).__name__} {seed!r}")
    if num_steps is not None:
        num_steps = check_count("num_steps", num_steps)
    if steps_per_epoch is not None:
        steps_per_epoch = check_count("steps_per_epoch", steps_per_epoch)
    if not isinstance(compiled, bool):
        raise TypeError(f"`compiled` must be a bool, got {type(compiled).__name__} {compiled!r}")
    if chunk_epochs is not None:
        chunk_epochs = check_count("chunk_epochs", chunk_epochs)
        if not compiled:
            raise ValueError(
                f"`chunk_epochs` ({chunk_epochs}) is for compiled=True; the Python loop has no chunks"
            )
    metric_fns = as_metrics(metrics)
    names = [*metric_fns, *rates]
    for i, cb in enumerate(callbacks):
        if not callable(cb):
            raise TypeError(f"`callbacks[{i}]` must be callable, got {type(cb).__name__}")
    train = as_data("train_data", train_data)
    if isinstance(train, ArrayData) and steps_per_epoch is not None:
        raise ValueError(
            "`steps_per_epoch` is for a callable `train_data`; with arrays it follows from `batch_size`, "
            f"got steps_per_epoch={steps_per_epoch}"
        )
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
    if placement is not None and is_loader(train):
        placement.check_batch_size("train_data.batch_size", train.batch_size)
    if is_loader(train):  # one worker pipeline for the whole run
        train.plan_epochs(epochs)
    optimizer = _as_optimizer(model, optimizer)

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
        if default:
            forward = placement.per_device(forward, model)
    steps = {"forward": forward, "metrics": metric_fns, "num_steps": num_steps, "record": record}
    # truncated BPTT steps the model through snnx.run itself: the options, not the resolved forward
    train_steps = steps if tbptt is None else {**steps, "forward": None, "options": options, "tbptt": tbptt}
    if compiled:
        check_supported(train, evald, placement, resumed)
        chunk = epochs - start if chunk_epochs is None and ckpt is None else chunk_epochs or checkpoint_every
        try:
            return run_compiled(
                model, optimizer, train_update(loss_fn, **train_steps),
                None if evald is None else eval_update(loss_fn, **steps), train,
                evald, epochs=epochs,
                start=start, batch_size=batch_size, eval_batch_size=eval_batch_size, names=names,
                chunk_epochs=max(chunk, 1), seed=seed, placement=placement, ckpt=ckpt, history=history,
                last_saved=last_saved, callbacks=callbacks, progress=progress,
            )
        finally:
            if ckpt is not None:
                ckpt.close()
    train_step = make_train_step(loss_fn, **train_steps)
    eval_step = make_eval_step(loss_fn, **steps)
    if isinstance(train, ArrayData):
        steps_per_epoch = train.steps(batch_size, drop_remainder=True)
    bar = Progress(progress, epochs)
    guard = InterruptGuard().install()
    try:
        for epoch in range(start, epochs):
            tally, skip = Tally(names), 0
            if resumed is not None and epoch == start:  # continue inside the interrupted epoch
                tally = Tally(names, sums=resumed["sums"], seen=resumed["seen"])
                skip = int(resumed["step"])
            bar.start_epoch(epoch, steps_per_epoch, completed=skip)
            t0 = time.perf_counter()
            batches = iterate(train, batch_size, epoch=epoch, seed=seed, train=True, start=skip)
            update = train_step.bind(model, optimizer)  # the structure looked up once per epoch
            for step, (x, y) in enumerate(batches, start=skip):
                loss, values, finite = update(*place((x, y), placement))
                tally.add(step, batch_size_of(y), loss, values, finite)
                if len(tally) >= sync_every or guard.signum is not None:
                    _sync(tally, bar, t0, epoch, ckpt, last_saved)
                if guard.signum is not None:
                    partial = {"step": step + 1, "sums": tally.sums, "seen": tally.seen}
                    stop_on_signal(guard, ckpt, epoch, step + 1, model, optimizer, seed, history, partial)
            _sync(tally, bar, t0, epoch, ckpt, last_saved)
            if tally.seen == 0:
                raise ValueError(f"`train_data` yielded no batches in epoch {epoch + 1}")
            elapsed = time.perf_counter() - t0
            record: dict = {"epoch": epoch + 1}
            record.update(tally.means())
            if evald is not None:
                scores = run_eval(eval_step, model, evald, eval_batch_size, names, placement, sync_every)
                record.update({f"eval_{name}": value for name, value in scores.items()})
            record["time_s"] = elapsed
            record["samples_per_s"] = tally.seen / max(elapsed, 1e-9)
            history.append(record)
            if ckpt is not None and ((epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs):
                ckpt.save(epoch, model, optimizer, seed=seed, history=history)
                last_saved = epoch
            bar.end_epoch(record)
            stop = [cb(record, model) for cb in callbacks]
            if guard.signum is not None:  # arrived during evaluation or saving: stop at the epoch's end
                done = last_saved == epoch
                stop_on_signal(guard, ckpt, epoch, None, model, optimizer, seed, history, save=not done)
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
