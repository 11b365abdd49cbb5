"""Training: ``fit`` (jitted steps, shuffling, evaluation), step builders, checkpoints, ``Placement``."""

from snnx.train._checkpoint import Checkpointer as Checkpointer
from snnx.train._checkpoint import restore as restore
from snnx.train._evaluate import evaluate as evaluate
from snnx.train._fit import fit as fit
from snnx.train._sharding import Placement as Placement
from snnx.train._signals import TrainingInterrupted as TrainingInterrupted
from snnx.train._steps import default_forward as default_forward
from snnx.train._steps import make_eval_step as make_eval_step
from snnx.train._steps import make_train_step as make_train_step
from snnx.train._sync import TrainingDivergedError as TrainingDivergedError

__all__ = [
    "Checkpointer",
    "Placement",
    "TrainingDivergedError",
    "TrainingInterrupted",
    "default_forward",
    "evaluate",
    "fit",
    "make_eval_step",
    "make_train_step",
    "restore",
]
