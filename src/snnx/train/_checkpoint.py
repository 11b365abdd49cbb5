"""Checkpoints with orbax: model state, optimizer state, epoch, seed and history.

A checkpoint is one orbax step directory per epoch (``<directory>/<epoch>/``)
holding three items:

- ``model`` and ``optimizer``: pure dicts of arrays (``nnx.to_pure_dict`` of
  ``nnx.state(model)`` and ``nnx.state(optimizer)``);
  typed PRNG keys (``nnx.Rngs`` inside the model) are stored as their raw key
  data and re-wrapped on restore;
- ``meta``: JSON with ``epoch`` (the last completed epoch, 0-based), ``seed``,
  ``history`` (the per-epoch records so far) and ``format``; a checkpoint written
  inside an epoch (``fit`` on SIGINT/SIGTERM) also has ``partial``: ``step`` (training
  steps of epoch ``epoch`` done), ``sums`` and ``seen`` (the epoch's running totals).

Orbax writes each step into a temporary directory and renames it when complete,
so an interrupted write never shows up as the latest checkpoint. The shuffling
RNG of :func:`snnx.train.fit` is a function of ``(seed, epoch)``, which is why
the seed and epoch are all the RNG state a resumed run needs.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
from flax import nnx

FORMAT = "snnx-checkpoint-1"


def _is_key(x) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_savable(tree):
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def _from_savable(restored, like):
    def fix(r, ref):
        if _is_key(ref):
            return jax.random.wrap_key_data(r, impl=jax.random.key_impl(ref))
        return r

    return jax.tree.map(fix, restored, like)


def _raw(v):
    # what the Variable stores, not what reading it gives: a quantised weight keeps its integer codes
    # and a quantisation-aware one its float latent value (snnx.quant)
    return v.get_raw_value() if isinstance(v, nnx.Variable) else v


def _pure_state(obj) -> dict:
    return nnx.to_pure_dict(nnx.state(obj), _raw)


class Checkpointer:
    """Save and restore training checkpoints in ``directory`` (one step per epoch).

    Args:
        directory: folder for the checkpoints (created if missing; made absolute).
        max_to_keep: how many of the newest epoch checkpoints to keep.

    Example:
        >>> ckpt = Checkpointer("runs/demo/checkpoint")
        >>> ckpt.save(0, model, optimizer, seed=0, history=[{"epoch": 1, "loss": 0.5}])
        >>> meta = ckpt.restore(model, optimizer)   # latest epoch
    """

    def __init__(self, directory: str | os.PathLike, *, max_to_keep: int = 3):
        import orbax.checkpoint as ocp

        if isinstance(max_to_keep, bool) or not isinstance(max_to_keep, int) or max_to_keep < 1:
            raise ValueError(f"`max_to_keep` must be a positive int, got {max_to_keep!r}")
        self.directory = os.path.abspath(os.fspath(directory))
        self._ocp = ocp
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=max_to_keep, enable_async_checkpointing=False, create=True
            ),
        )

    def latest_epoch(self) -> int | None:
        """The last completed epoch (0-based) that has a checkpoint, or ``None``."""
        return self._manager.latest_step()

    def all_epochs(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def save(self, epoch: int, model, optimizer=None, *, seed: int = 0, history=(), partial=None) -> None:
        """Write the checkpoint of completed epoch ``epoch`` (0-based) and wait for it.

        ``partial`` (``{"step", "sums", "seen"}``) marks a checkpoint taken inside
        epoch ``epoch`` after ``step`` training steps (``fit`` on SIGINT/SIGTERM);
        it is replaced by the full checkpoint of that epoch when the epoch ends.
        """
        ocp = self._ocp
        items = {"model": ocp.args.StandardSave(_to_savable(_pure_state(model)))}
        if optimizer is not None:
            items["optimizer"] = ocp.args.StandardSave(_to_savable(_pure_state(optimizer)))
        meta = {"format": FORMAT, "epoch": int(epoch), "seed": int(seed), "history": list(history)}
        if partial is not None:
            meta["partial"] = dict(partial)
        items["meta"] = ocp.args.JsonSave(meta)
        if int(epoch) in self._manager.all_steps():  # a partial checkpoint of this epoch: superseded
            self._manager.delete(int(epoch))
        self._manager.save(int(epoch), args=ocp.args.Composite(**items), force=True)
        self._manager.wait_until_finished()

    def restore(self, model, optimizer=None, *, epoch: int | None = None) -> dict[str, Any]:
        """Load a checkpoint into ``model`` (and ``optimizer``) in place; return its meta.

        Args:
            model: a model of the same structure as the saved one.
            optimizer: the ``nnx.Optimizer`` to restore too, or ``None``.
            epoch: which epoch's checkpoint; ``None`` means the latest.

        Returns:
            ``{"epoch", "seed", "history", "format"}``.
        """
        ocp = self._ocp
        available = self.all_epochs()
        if not available:
            raise FileNotFoundError(f"no checkpoint found in {self.directory!r}")
        if epoch is None:
            epoch = available[-1]
        elif epoch not in available:
            raise ValueError(f"`epoch` must be one of the saved epochs {available}, got {epoch!r}")
        targets = {"model": model} if optimizer is None else {"model": model, "optimizer": optimizer}
        pure = {name: _pure_state(obj) for name, obj in targets.items()}
        items = {
            name: ocp.args.StandardRestore(
                jax.tree.map(lambda x: x if isinstance(x, jax.Array) else np.asarray(x), _to_savable(tree))
            )
            for name, tree in pure.items()
        }
        restored = self._manager.restore(
            int(epoch), args=ocp.args.Composite(meta=ocp.args.JsonRestore(), **items)
        )
        for name, obj in targets.items():
            current = nnx.state(obj)
            nnx.replace_by_pure_dict(current, _from_savable(restored[name], pure[name]))
            nnx.update(obj, current)
        return dict(restored["meta"])

    def close(self) -> None:
        self._manager.close()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def restore(directory: str | os.PathLike, model, optimizer=None, *, epoch: int | None = None) -> dict:
    """Load the checkpoint in ``directory`` (latest epoch by default) into ``model``.

    A convenience wrapper around :meth:`Checkpointer.restore`; returns the meta
    dict (``epoch``, ``seed``, ``history``).
    """
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"`directory` {os.fspath(directory)!r} does not exist")
    with Checkpointer(directory) as ckpt:
        return ckpt.restore(model, optimizer, epoch=epoch)
