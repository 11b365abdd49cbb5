"""Training: ``fit`` (jitted steps, per-epoch shuffling, evaluation) and orbax checkpoints."""

from snnx.train._checkpoint import Checkpointer as Checkpointer
from snnx.train._checkpoint import restore as restore
from snnx.train._fit import TrainingDivergedError as TrainingDivergedError
from snnx.train._fit import default_forward as default_forward
from snnx.train._fit import evaluate as evaluate
from snnx.train._fit import fit as fit
from snnx.train._signals import TrainingInterrupted as TrainingInterrupted

__all__ = [
    "Checkpointer",
    "TrainingDivergedError",
    "TrainingInterrupted",
    "default_forward",
    "evaluate",
    "fit",
    "restore",
]
