"""``evolve``: train a model's parameters with an evolution strategy, no gradients needed."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import jax
import numpy as np
import optax
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from snnx.engine import Options
from snnx.evolve._epoch import Flat, make_epoch, strong
from snnx.evolve._solver import ES, require_evosax
from snnx.train._data import ArrayData, as_data, check_count, epoch_rng, iterate
from snnx.train._evaluate import run_eval
from snnx.train._progress import Progress
from snnx.train._sharding import DATA_AXIS, as_mesh
from snnx.train._steps import LossFn, MetricFn, as_metrics, make_eval_step, make_train_step, resolve_forward

#: The priming optimizer when ``ES(prime_steps=k)`` names none.
DEFAULT_PRIME_OPTIMIZER = optax.adam(2e-3)


def _prime(model, solver: ES, loss_fn, train, batch_size, seed, forward, num_steps) -> None:
    """``solver.prime_steps`` gradient steps on ``fit``'s batches (epochs 0, 1, ... of ``seed``)."""
    tx = DEFAULT_PRIME_OPTIMIZER if solver.prime_optimizer is None else solver.prime_optimizer
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    step = make_train_step(loss_fn, forward=forward, num_steps=num_steps)
    done, epoch = 0, 0
    while done < solver.prime_steps:
        before = done
        for x, y in iterate(train, batch_size, epoch=epoch, seed=seed, train=True):
            step(model, optimizer, x, y)
            done += 1
            if done == solver.prime_steps:
                break
        if done == before:
            raise ValueError(f"`train_data` yielded no batches in priming epoch {epoch + 1}")
        epoch += 1


def _epoch_data(train, batch_size: int, epoch: int, seed: int):
    """``(x, y, index)`` for one epoch: arrays the epoch indexes into, and ``index`` of shape ``(G, B)``."""
    if isinstance(train, ArrayData):
        steps = train.size // batch_size
        order = epoch_rng(seed, epoch).permutation(train.size)[: steps * batch_size]
        return None, None, order.reshape(steps, batch_size)
    batches = [(np.asarray(x), np.asarray(y)) for x, y in train(epoch)]
    if not batches:
        raise ValueError(f"`train_data` yielded no batches in epoch {epoch + 1}")
    shapes = {(x.shape, y.shape) for x, y in batches}
    if len(shapes) > 1:
        raise ValueError(
            "`train_data` batches must all have one shape (a generation's population is scored on one "
            f"batch, and an epoch is compiled as one scan), got shapes (x, y) {sorted(shapes)}"
        )
    x = np.concatenate([b[0] for b in batches], axis=1)
    y = np.concatenate([b[1] for b in batches], axis=0)
    size = batches[0][1].shape[0]
    return x, y, np.arange(len(batches) * size).reshape(len(batches), size)


def _population_sharding(mesh, population_size: int):
    """``NamedSharding`` of the population's leading axis over the mesh's data axis, or ``None``."""
    mesh = as_mesh(mesh)
    if mesh is None:
        return None, None
    if jax.process_count() > 1:
        raise ValueError(
            f"`mesh` splits the population over the devices of one process; this run has "
            f"{jax.process_count()} processes (jax.distributed), which evolve does not support"
        )
    devices = int(mesh.shape[DATA_AXIS])
    if population_size % devices:
        below, above = (
            population_size - population_size % devices,
            population_size + devices - population_size % devices,
        )
        sizes = f"{below} or {above}" if below > 0 else f"{above}"
        raise ValueError(
            f"`population_size` ({population_size}) must be a multiple of the {devices} devices of the "
            f"mesh's {DATA_AXIS!r} axis (the population is split evenly over them); use e.g. {sizes}"
        )
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS)), NamedSharding(mesh, PartitionSpec())


def evolve(
    model: nnx.Module,
    solver: ES,
    loss_fn: LossFn,
    train_data,
    *,
    epochs: int,
    batch_size: int = 128,
    eval_data=None,
    eval_batch_size: int | None = None,
    metrics: Mapping[str, MetricFn] | Sequence[MetricFn] | None = None,
    fitness: str = "loss",
    maximize: bool | None = None,
    seed: int = 0,
    forward: Callable | None = None,
    num_steps: int | None = None,
    options: Options | None = None,
    progress: bool | None = None,
    mesh=None,
    callbacks: Sequence[Callable] = (),
) -> list[dict]:
    """Evolve ``model``'s ``nnx.Param`` variables with ``solver``; no gradient is taken; return the history.

    One generation per training batch: the strategy proposes ``P =
    solver.population_size`` candidate parameter vectors ``theta_i`` around its
    centre ``m``, each candidate's fitness ``f_i`` is computed on the batch
    (``outputs = forward(theta_i, x)``; ``f_i = loss_fn(outputs, y)`` or a
    metric), and the strategy moves ``m`` towards the better candidates. Only
    ``nnx.Param`` variables evolve; every other variable (neuron constants,
    buffers) stays as it is. After every epoch, and at the end, the model holds
    the centre ``m`` (written back in place): it is what the evaluation sees.

    Fitness direction: ``fitness="loss"`` is minimised; ``fitness=<metric name>``
    (a key of ``metrics``) is maximised; ``maximize=True``/``False`` overrides
    either. evosax minimises, so a maximised fitness is handed to it negated.

    Execution: the training arrays are put on the device once; each epoch's
    generations run as one ``jax.jit`` program (``jax.lax.scan`` over
    generations of ask, ``jax.vmap`` of the forward pass over the flat
    candidates, tell), compiled once per run. The batches are those of
    :func:`snnx.train.fit`: epoch ``e`` draws ``epoch_rng(seed, e).permutation(N)``
    and drops the remainder ``N mod batch_size``. The strategy's random numbers
    come from ``jax.random.key(seed)``: a run is a pure function of its
    arguments. A callable ``train_data`` is called once per epoch; its batches must share
    one shape.

    Args:
        model: the network (updated in place), e.g. a :class:`snnx.Sequential`.
        solver: an :class:`ES` (strategy, population, step size, priming).
        loss_fn: ``loss_fn(outputs, targets) -> scalar``, e.g.
            :func:`snnx.losses.max_membrane_cross_entropy`.
        train_data: ``(x, y)`` with ``x`` time-major ``(T, N, ...)`` and ``y``
            ``(N, ...)``, or a callable ``epoch -> iterable of (x, y)``, as in ``fit``.
        epochs: number of passes over the training data (``0``: only priming).
        batch_size: samples per generation (array data).
        eval_data: optional held-out data, evaluated (on the centre) after every epoch.
        eval_batch_size: samples per eval step; defaults to ``batch_size``.
        metrics: ``{name: fn(outputs, targets) -> scalar}`` (or a list), as in ``fit``.
        fitness: ``"loss"`` or the name of one of ``metrics``: what selects the candidates.
        maximize: ``None`` (minimise the loss, maximise a metric), ``True`` or ``False``.
        seed: seed of the shuffling, of the priming batches and of the strategy's sampling.
        forward: ``forward(model, x) -> outputs``; default ``run(model, x)[0]``.
        num_steps: ``T`` when ``x`` is bit-packed along axis 0, else ``None``.
        options: a :class:`snnx.engine.Options` for the default forward.
        progress: ``None`` (rich on a terminal, a line per epoch otherwise), ``True`` or ``False``.
        mesh: ``None`` (one device), ``"auto"``, a device count or a ``jax.sharding.Mesh``
            with a ``"data"`` axis: the *population* is split over that axis
            (``PartitionSpec("data")`` on its leading axis; the data and the
            strategy's state are replicated). ``population_size`` must be a
            multiple of the axis size. One process only. Priming steps run
            on the default device, unsharded.
        callbacks: functions ``callback(record, model)`` called after each epoch;
            returning ``True`` stops.

    Returns:
        The history: one dict per epoch with ``epoch`` (1-based); ``loss`` and
        each metric: means over the epoch's generations for the **centre** (the
        strategy's mean before each generation's update) on that generation's
        batch; ``fitness``: the mean over the epoch of the **population's mean**
        fitness (in the user's units: a loss or a metric, not negated);
        ``fitness_best``: the mean over the epoch of each generation's best
        candidate; ``eval_loss`` and ``eval_<metric>`` of the centre when
        ``eval_data`` is given; ``time_s`` (the first epoch includes the
        compilation) and ``samples_per_s`` (training samples per second; each is
        scored ``P + 1`` times).

    Raises:
        ImportError: evosax is not installed (``pip install 'snnx[evo]'``).

    Example:
        >>> history = evolve(model, ES("open_es", population_size=64), losses.max_membrane_cross_entropy,
        ...                  (x_train, y_train), epochs=20, eval_data=(x_test, y_test),
        ...                  metrics={"accuracy": metrics.max_membrane_accuracy})
    """
    require_evosax()
    if not isinstance(model, nnx.Module):
        raise TypeError(f"`model` must be an nnx.Module, got {type(model).__name__}")
    if not isinstance(solver, ES):
        raise TypeError(f"`solver` must be a snnx.evolve.ES, got {type(solver).__name__}")
    if not callable(loss_fn):
        raise TypeError(
            f"`loss_fn` must be callable as loss_fn(outputs, targets), got {type(loss_fn).__name__}"
        )
    forward = resolve_forward(forward, options)
    epochs = check_count("epochs", epochs, minimum=0)
    batch_size = check_count("batch_size", batch_size)
    eval_batch_size = (
        batch_size if eval_batch_size is None else check_count("eval_batch_size", eval_batch_size)
    )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"`seed` must be an int, got {type(seed).__name__} {seed!r}")
    if num_steps is not None:
        num_steps = check_count("num_steps", num_steps)
    metric_fns = as_metrics(metrics)
    if fitness != "loss" and fitness not in metric_fns:
        raise ValueError(
            f"`fitness` must be 'loss' or the name of one of `metrics` ({', '.join(map(repr, metric_fns))}), "
            f"got {fitness!r}"
        )
    if maximize is not None and not isinstance(maximize, bool):
        raise TypeError(f"`maximize` must be None, True or False, got {type(maximize).__name__}")
    sign = -1.0 if (fitness != "loss" if maximize is None else maximize) else 1.0
    for i, cb in enumerate(callbacks):
        if not callable(cb):
            raise TypeError(f"`callbacks[{i}]` must be callable, got {type(cb).__name__}")
    train = as_data("train_data", train_data)
    if isinstance(train, ArrayData) and batch_size > train.size:
        raise ValueError(
            f"`batch_size` ({batch_size}) must not exceed the number of training samples ({train.size})"
        )
    evald = None if eval_data is None else as_data("eval_data", eval_data)
    population_sharding, replicated = _population_sharding(mesh, solver.population_size)

    if solver.prime_steps:
        _prime(model, solver, loss_fn, train, batch_size, seed, forward, num_steps)
    flat = Flat(model)
    algorithm, es_params = solver.build(flat.size, solver.initial_sigma(np.asarray(flat.vector)))
    key, init_key = jax.random.split(jax.random.key(seed))
    state = strong(algorithm.init(init_key, flat.vector, es_params))
    epoch_fn = make_epoch(
        flat, algorithm, es_params, forward=forward, loss_fn=loss_fn, metric_fns=metric_fns,
        fitness=fitness, sign=sign, num_steps=num_steps, population_sharding=population_sharding,
    )  # fmt: skip
    put = (lambda a: jax.device_put(a, replicated)) if replicated is not None else jax.device_put
    if replicated is not None:
        state, key = put(state), put(key)
    data_x = data_y = None
    if isinstance(train, ArrayData):
        data_x, data_y = put(train.x), put(train.y)
    eval_step = make_eval_step(loss_fn, forward=forward, metrics=metric_fns, num_steps=num_steps)

    history: list[dict] = []
    bar = Progress(progress, epochs)
    try:
        for epoch in range(epochs):
            x, y, index = _epoch_data(train, batch_size, epoch, seed)
            if x is not None:
                data_x, data_y = put(x), put(y)
            bar.start_epoch(epoch, index.shape[0])
            t0 = time.perf_counter()
            state, key, stats = epoch_fn(state, key, data_x, data_y, put(index))
            means = {name: float(np.mean(np.asarray(value))) for name, value in stats.items()}
            elapsed = time.perf_counter() - t0
            seen = index.size
            flat.write(model, state.mean)
            bar.step(
                means["loss"], {k: means[k] for k in metric_fns}, seen / max(elapsed, 1e-9), index.shape[0]
            )
            record: dict = {"epoch": epoch + 1, **means}
            if evald is not None:
                scores = run_eval(eval_step, model, evald, eval_batch_size, list(metric_fns))
                record.update({f"eval_{name}": value for name, value in scores.items()})
            record["time_s"] = elapsed
            record["samples_per_s"] = seen / max(elapsed, 1e-9)
            history.append(record)
            bar.end_epoch(record)
            if any([cb(record, model) is True for cb in callbacks]):
                break
    finally:
        bar.close()
    flat.write(model, state.mean)
    return history
