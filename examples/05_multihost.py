"""Data-parallel training on several hosts: one process per host, ``jax.distributed`` + ``fit(mesh="auto")``.

Every process runs this same script. ``jax.distributed.initialize`` connects
them; ``mesh="auto"`` then spans every device of every host; each process
loads only its own shard of the data (``process_index::process_count``) and
passes a per-process batch of ``--batch-size`` samples, so the global batch is
``batch_size * process_count``, split evenly over all devices.

One host (any number of local devices)::

    python examples/05_multihost.py --process-count 1

N hosts (start on each; host 0's address is the coordinator)::

    python examples/05_multihost.py --coordinator HOST0:1234 --process-count N --process-id I

Two processes on one machine, two simulated CPU devices each (a rehearsal)::

    export XLA_FLAGS=--xla_force_host_platform_device_count=2
    python examples/05_multihost.py --coordinator localhost:1234 --process-count 2 --process-id 0 &
    python examples/05_multihost.py --coordinator localhost:1234 --process-count 2 --process-id 1

On TPU pods and SLURM/Open MPI clusters ``jax.distributed.initialize()`` finds
the coordinator by itself: pass ``--process-count auto``. See docs/scaling.md.
"""

from __future__ import annotations

import argparse


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--coordinator", default=None, help="HOST:PORT of process 0 (several processes)")
    p.add_argument("--process-count", default="1", help="number of processes, or 'auto' (cluster detection)")
    p.add_argument("--process-id", type=int, default=0, help="this process, 0..process-count-1")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32, help="samples per step *per process*")
    return p.parse_args()


def main() -> None:
    args = parse()
    import jax

    if args.process_count == "auto":
        jax.distributed.initialize()  # TPU pods, SLURM, Open MPI: everything is detected
    elif int(args.process_count) > 1:
        jax.distributed.initialize(args.coordinator, int(args.process_count), args.process_id)

    import numpy as np
    import optax
    from flax import nnx
    from jax.experimental import multihost_utils

    from snnx import datasets, losses, metrics
    from snnx.engine import Sequential
    from snnx.neurons import LI, LIF
    from snnx.train import fit

    rank, count = jax.process_index(), jax.process_count()
    (x, y), (x_test, y_test) = datasets.digits("rate", 20, seed=0, process_index=rank, process_count=count)

    # Every process must run the same steps: trim the shards to the smallest one
    # (the test shard also to a multiple of the local device count: one eval batch).
    n_train, n_test = np.min(multihost_utils.process_allgather(np.array([y.size, y_test.size])), axis=0)
    n_test -= n_test % jax.local_device_count()
    x, y, x_test, y_test = x[:, :n_train], y[:n_train], x_test[:, :n_test], y_test[:n_test]

    rngs = nnx.Rngs(0)  # the same seed everywhere: identical initial parameters on every host
    model = Sequential(nnx.Linear(64, 128, rngs=rngs), LIF(128), nnx.Linear(128, 10, rngs=rngs), LI(10))
    history = fit(
        model,
        optax.adam(3e-3),
        losses.max_membrane_cross_entropy,
        (x, y),
        epochs=args.epochs,
        batch_size=args.batch_size,
        eval_data=(x_test, y_test),
        eval_batch_size=int(n_test),
        metrics={"accuracy": metrics.max_membrane_accuracy},
        mesh="auto",
        progress=False,
    )
    if rank == 0:
        last = history[-1]
        print(
            f"{count} process(es), {jax.device_count()} devices, global batch {args.batch_size * count}: "
            f"loss {last['loss']:.3f}, test accuracy {last['eval_accuracy']:.3f}"
        )


if __name__ == "__main__":
    main()
