"""``fit(..., compiled=True)``: whole epochs of training and evaluation inside one ``jax.jit``.

The Python loop of :func:`snnx.train.fit` dispatches one compiled step per batch
and reads results back every few steps. Here the training and evaluation sets
are put on the device(s) once and a single compiled program runs a *chunk* of
epochs: for every epoch, a ``jax.lax.scan`` over its batches (each batch
gathered on the device from that epoch's permutation), then the evaluation
batches, writing the epoch's means into a history array. The host only starts
a chunk, reads its history back, checkpoints and starts the next.

What stays the same as the Python loop, so the two give the same parameters
(within float rounding): the update (:func:`snnx.train._steps.train_update`,
the body of :func:`make_train_step`), the batch order
(``numpy.random.default_rng([seed, epoch]).permutation(N)``, remainder
dropped; the permutations of a chunk are computed on the host, ``N`` int32
each, and applied on the device) and the evaluation (every sample, in order,
in eval mode, sample-weighted means).

What differs: checkpoints, callbacks, signals and the progress bar act at
chunk boundaries; a non-finite step freezes the state at the last good step
(later steps of the chunk are computed and discarded) and
:class:`TrainingDivergedError` is raised when the chunk is read back.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from snnx.train._data import ArrayData, epoch_rng
from snnx.train._evaluate import eval_mode
from snnx.train._sharding import DATA_AXIS

#: share of a device's memory the data sets of a compiled run may take (the rest: model, activations)
MEMORY_SHARE = 0.5


def device_memory_bytes(device) -> int | None:
    """Memory of ``device`` in bytes: XLA's ``bytes_limit``, or the host's RAM for a CPU device."""
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"])
    if device.platform == "cpu":
        try:
            return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    return None


def _size(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if nbytes < 1024:
            return f"{int(nbytes)} B" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} GiB"


def check_fits(datasets, devices) -> None:
    """``ValueError`` when the data sets, held whole on every device, exceed ``MEMORY_SHARE`` of it."""
    needed = sum(a.nbytes for data in datasets if data is not None for a in (data.x, data.y))
    for device in devices:
        limit = device_memory_bytes(device)
        if limit is not None and needed > MEMORY_SHARE * limit:
            raise ValueError(
                f"compiled=True keeps the training and evaluation data on every device: {_size(needed)}, "
                f"more than {MEMORY_SHARE:.0%} of {device}'s {_size(limit)}; use compiled=False "
                "(the Python-loop fit streams batches from the host), or pass bit-packed spikes "
                "(snnx.encoders.pack_spikes with num_steps=T: 8x smaller)"
            )


def check_supported(train, evald, mesh_placement, resumed) -> None:
    """The cases the compiled loop refuses, with what to do instead."""
    for name, data in (("train_data", train), ("eval_data", evald)):
        if data is not None and not isinstance(data, ArrayData):
            raise TypeError(
                f"compiled=True needs `{name}` as arrays (x, y) to hold on the device; a callable "
                "epoch -> batches runs only in the Python loop (compiled=False)"
            )
    if mesh_placement is not None and jax.process_count() > 1:
        raise ValueError(
            f"compiled=True runs in one process; this is process {jax.process_index()} of "
            f"{jax.process_count()}: use compiled=False for multi-process training"
        )
    if resumed is not None:
        raise ValueError(
            "the checkpoint to resume was written inside an epoch (an interrupted Python-loop fit); "
            "finish that epoch with compiled=False, then continue with compiled=True"
        )


class CompiledLoop:
    """The compiled chunk program of one ``fit`` call, and the host side that feeds and reads it.

    Args:
        model, optimizer: the live model and ``nnx.Optimizer`` (written back after every chunk).
        update: ``train_update(model, optimizer, x, y) -> (loss, values, finite)``.
        evaluate: ``eval_update(model, x, y) -> (loss, values)`` or ``None`` without evaluation.
        train, evald: the data sets (:class:`ArrayData`).
        batch_size, eval_batch_size: samples per step.
        names: the metric names ``update`` and ``evaluate`` return.
        chunk_epochs: epochs per compiled call (the program is compiled once for this many).
        seed: the shuffling seed.
        placement: a :class:`snnx.train.Placement` or ``None``.
    """

    def __init__(
        self,
        model,
        optimizer,
        update: Callable,
        evaluate: Callable | None,
        train: ArrayData,
        evald: ArrayData | None,
        *,
        batch_size: int,
        eval_batch_size: int,
        names,
        chunk_epochs: int,
        seed: int,
        placement=None,
    ):
        self.model, self.optimizer = model, optimizer
        self.names = list(names)
        self.chunk_epochs, self.seed = chunk_epochs, seed
        self.batch_size = batch_size
        self.steps = train.size // batch_size
        self.train_size = train.size
        self.placement = placement
        devices = placement.mesh.devices.flat if placement is not None else [jax.devices()[0]]
        check_fits([train, evald], list(devices))
        put = self._replicated if placement is not None else jax.device_put
        self.x, self.y = put(train.x), put(train.y)
        self.eval = None if evald is None else (put(evald.x), put(evald.y))
        full, rest = (0, 0) if evald is None else divmod(evald.size, eval_batch_size)
        self.eval_layout = (full, rest, eval_batch_size)
        self.graphdef, _ = nnx.split((model, optimizer))
        with eval_mode(model):
            self.eval_graphdef, _ = nnx.split((model, optimizer))
        self.compile_s = None
        # no donation: the model's arrays may be shared with other models (quant.ptq, nnx.merge of one
        # state) or held by the caller, and a donated array is deleted for all of them
        self._program = jax.jit(self._chunk(update, evaluate))

    def _replicated(self, a):
        return jax.device_put(np.asarray(a), NamedSharding(self.placement.mesh, PartitionSpec()))

    def _constrain(self, xb, yb):
        if self.placement is None:
            return xb, yb
        mesh = self.placement.mesh
        xspec = PartitionSpec(None, DATA_AXIS)
        return (
            jax.lax.with_sharding_constraint(xb, NamedSharding(mesh, xspec)),
            jax.lax.with_sharding_constraint(yb, NamedSharding(mesh, PartitionSpec(DATA_AXIS))),
        )

    def _chunk(self, update, evaluate):
        graphdef, eval_graphdef, names = self.graphdef, self.eval_graphdef, self.names
        steps, batch_size, chunk = self.steps, self.batch_size, self.chunk_epochs
        full, rest, size = self.eval_layout
        keys = self.keys = ["loss", *names] + (
            [f"eval_{k}" for k in ["loss", *names]] if evaluate is not None else []
        )

        def evaluation(state, ex, ey):
            model, _ = nnx.merge(eval_graphdef, state)

            def add(sums, loss, values, n):
                return {k: sums[k] + n * (loss if k == "loss" else values[k]) for k in sums}

            sums = {"loss": jnp.float32(0), **{k: jnp.float32(0) for k in names}}
            if full:

                def batch(sums, i):
                    xb = jax.lax.dynamic_slice_in_dim(ex, i * size, size, axis=1)
                    yb = jax.lax.dynamic_slice_in_dim(ey, i * size, size, axis=0)
                    return add(sums, *evaluate(model, *self._constrain(xb, yb)), size), None

                sums, _ = jax.lax.scan(batch, sums, jnp.arange(full))
            if rest:
                sums = add(sums, *evaluate(model, ex[:, full * size :], ey[full * size :]), rest)
            return {k: v / (full * size + rest) for k, v in sums.items()}

        def program(state, x, y, orders, epochs, eval_data):
            def train_batch(carry, idx):
                state, dead = carry
                xb, yb = self._constrain(jnp.take(x, idx, axis=1), jnp.take(y, idx, axis=0))
                model, optimizer = nnx.merge(graphdef, state, copy=True)  # `state` stays the old one
                loss, values, finite = update(model, optimizer, xb, yb)
                ok = finite & jnp.isfinite(loss) & ~dead
                new = nnx.state((model, optimizer))
                state = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, state)
                return (state, dead | ~ok), (loss, values, ok)

            def epoch_body(e, carry):
                state, dead, history = carry
                order = jax.lax.dynamic_index_in_dim(orders, e, keepdims=False).reshape(steps, batch_size)
                (state, dead), (losses, values, ok) = jax.lax.scan(train_batch, (state, dead), order)
                record = {"loss": jnp.mean(losses), **{k: jnp.mean(v) for k, v in values.items()}}
                # the first step of this epoch that was not applied (-1: none; once one was not, none is)
                first_bad = jnp.argmin(ok)
                record["bad_step"] = jnp.where(jnp.all(ok), -1, first_bad)
                record["bad_loss"] = losses[first_bad]
                if evaluate is not None:
                    record.update({f"eval_{k}": v for k, v in evaluation(state, *eval_data).items()})
                history = jax.tree.map(lambda h, v: h.at[e].set(v.astype(h.dtype)), history, record)
                return state, dead, history

            history = {k: jnp.zeros(chunk, jnp.float32) for k in [*keys, "bad_loss"]}
            history["bad_step"] = jnp.full(chunk, -1, jnp.int32)
            state, _, history = jax.lax.fori_loop(0, epochs, epoch_body, (state, jnp.array(False), history))
            return state, history

        return program

    def _orders(self, first: int, count: int) -> np.ndarray:
        used = self.steps * self.batch_size
        orders = np.zeros((self.chunk_epochs, used), np.int32)
        for i in range(count):
            orders[i] = epoch_rng(self.seed, first + i).permutation(self.train_size)[:used]
        return orders

    def run_chunk(self, first: int, count: int) -> tuple[list[dict], tuple[int, int, float] | None]:
        """Epochs ``first .. first + count - 1`` (0-based) in one compiled call.

        The model and optimizer are updated in place. Returns the records of the
        epochs that finished cleanly and ``None``, or, at the first non-finite
        step, the records before its epoch and ``(epoch, step, loss)`` of that
        step (the model then holds the state from just before it).
        """
        _, state = nnx.split((self.model, self.optimizer))
        orders = self._orders(first, count)
        if self.placement is not None:
            orders = self._replicated(orders)
        args = (state, self.x, self.y, orders, jnp.int32(count), self.eval)
        if self.compile_s is None:
            t0 = time.perf_counter()
            self._program = self._program.lower(*args).compile()
            self.compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        state, history = self._program(*args)
        history = jax.device_get(history)
        elapsed = time.perf_counter() - t0
        nnx.update((self.model, self.optimizer), state)
        records = []
        for i in range(count):
            bad = int(history["bad_step"][i])
            if bad >= 0:
                return records, (first + i, bad, float(history["bad_loss"][i]))
            record = {k: float(history[k][i]) for k in self.keys}
            record["time_s"] = elapsed / count
            record["samples_per_s"] = self.steps * self.batch_size * count / max(elapsed, 1e-9)
            records.append(record)
        return records, None


def run_compiled(
    model,
    optimizer,
    update,
    evaluate,
    train,
    evald,
    *,
    epochs,
    start,
    batch_size,
    eval_batch_size,
    names,
    chunk_epochs,
    seed,
    placement,
    ckpt,
    history,
    last_saved,
    callbacks,
    progress,
) -> list[dict]:
    """The host side of ``fit(..., compiled=True)``: compile once, run chunks, checkpoint between them."""
    from snnx.train._progress import Progress
    from snnx.train._signals import InterruptGuard, stop_on_signal
    from snnx.train._sync import diverged

    loop = CompiledLoop(
        model,
        optimizer,
        update,
        evaluate,
        train,
        evald,
        batch_size=batch_size,
        eval_batch_size=eval_batch_size,
        names=names,
        chunk_epochs=chunk_epochs,
        seed=seed,
        placement=placement,
    )
    bar = Progress(progress, epochs)
    guard = InterruptGuard().install()
    try:
        epoch = start
        while epoch < epochs:
            count = min(chunk_epochs, epochs - epoch)
            first_call = loop.compile_s is None
            records, bad = loop.run_chunk(epoch, count)
            stop = False
            for i, values in enumerate(records):
                record = {"epoch": epoch + i + 1, **values}
                if first_call and i == 0:
                    record["compile_s"] = loop.compile_s
                history.append(record)
                bar.start_epoch(epoch + i, loop.steps, completed=loop.steps)
                bar.end_epoch(record)
                stop = any([cb(record, model) is True for cb in callbacks]) or stop
            if bad is not None:
                raise diverged(*bad, False, None if ckpt is None else ckpt.directory, last_saved)
            epoch += count
            if ckpt is not None:
                ckpt.save(epoch - 1, model, optimizer, seed=seed, history=history)
                last_saved = epoch - 1
            if guard.signum is not None:
                stop_on_signal(guard, ckpt, epoch - 1, None, model, optimizer, seed, history, save=False)
            if stop:
                break
    finally:
        guard.restore()
        bar.close()
    return history
