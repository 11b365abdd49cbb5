"""The solver interface of :func:`snnx.train.fit`: an optax transform trains by gradient, an
:class:`snnx.evolve.ES` hands the same call to :func:`snnx.evolve.evolve`."""

from __future__ import annotations

from snnx.train._sync import SYNC_EVERY


def is_evolution_strategy(solver) -> bool:
    """Whether ``solver`` is an :class:`snnx.evolve.ES` (imported lazily: snnx.evolve imports snnx.train)."""
    from snnx.evolve import ES

    return isinstance(solver, ES)


def fit_by_evolution(
    model, solver, loss_fn, train_data, *, checkpoint_dir, resume, record, param_sharding, tbptt,
    chunk_epochs, steps_per_epoch, sync_every, **shared,
) -> list[dict]:
    """``fit(model, ES(...), ...)``: :func:`snnx.evolve.evolve` with the arguments both share; the
    gradient-only ones are refused by name rather than ignored."""
    gradient_only = {
        "checkpoint_dir": checkpoint_dir is not None, "resume": bool(resume), "record": record is not None,
        "param_sharding": param_sharding is not None, "tbptt": tbptt is not None,
        "chunk_epochs": chunk_epochs is not None, "steps_per_epoch": steps_per_epoch is not None,
        "sync_every": sync_every != SYNC_EVERY,
    }  # fmt: skip
    given = [name for name, is_set in gradient_only.items() if is_set]
    if given:
        raise ValueError(
            f"{', '.join(f'`{n}`' for n in given)} apply to gradient training; with an evolution "
            f"strategy ({solver.strategy!r}) fit runs snnx.evolve.evolve, which does not take them"
        )
    from snnx.evolve import evolve

    return evolve(model, solver, loss_fn, train_data, **shared)
