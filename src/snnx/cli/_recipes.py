"""``snnx train``'s recipes: per dataset, the default model and training options.

A recipe fills every option the command line leaves out. The models follow the
literature's usual choices for each benchmark, sized for one machine
(``docs/datasets.md`` lists the accuracies that published work reports):

- ``digits``: the demo, a feed-forward ``Linear -> LIF -> Linear -> LI``.
- ``shd``/``ssc``: the recurrent network of Cramer et al. (2022) and Zenke &
  Vogels (2021): 700 cochlea channels -> ``Linear`` -> a recurrent LIF layer
  (``RLIF``) -> ``Linear`` -> ``LI`` readout, 100 steps of 10 ms.
- ``nmnist``/``dvs_gesture``: a small convolutional network on the event
  frames: two 3x3 convolutions (32 and 64 channels), each followed by LIF
  neurons and 2x2 sum pooling (exportable to NIR), then ``Linear -> LI``.
"""

from __future__ import annotations

#: Models ``--model`` accepts.
MODELS = ("mlp", "recurrent", "conv")

RECIPES: dict[str, dict] = {
    "digits": {
        "model": "mlp", "epochs": 50, "batch_size": 32, "lr": 2e-3, "hidden": 256, "time_steps": 25,
    },
    "shd": {
        "model": "recurrent", "epochs": 50, "batch_size": 128, "lr": 2e-3, "hidden": 256, "time_steps": 100,
    },
    "ssc": {
        "model": "recurrent", "epochs": 30, "batch_size": 256, "lr": 2e-3, "hidden": 512, "time_steps": 100,
    },
    "nmnist": {
        "model": "conv", "epochs": 15, "batch_size": 64, "lr": 2e-3, "hidden": 64, "time_steps": 20,
    },
    "dvs_gesture": {
        "model": "conv", "epochs": 60, "batch_size": 32, "lr": 2e-3, "hidden": 64, "time_steps": 20,
    },
}  # fmt: skip

#: Channels of the convolutional recipe's two layers (``--hidden`` sets the second).
CONV_CHANNELS = 32
#: Data bigger than this (bit-packed training split) is streamed rather than held in memory.
IN_MEMORY_BYTES = 2 << 30


def recipe(dataset: str) -> dict:
    """The defaults of ``dataset`` (a copy)."""
    return dict(RECIPES[dataset])


def build(cfg: dict, sample_shape: tuple[int, ...], num_classes: int, neurons: dict):
    """The recipe's network for inputs of ``sample_shape`` (one time step of one sample).

    ``neurons`` maps ``--neuron`` names to ``(feed-forward class, recurrent class)``
    names in :mod:`snnx.neurons`. Only the ``Linear``/``Conv`` layers (and a
    recurrent layer's weights) learn; the neurons keep their default decays.
    """
    import math

    from flax import nnx

    from snnx import layers
    from snnx import neurons as zoo
    from snnx.engine import Sequential

    rngs = nnx.Rngs(cfg["seed"])
    plain, recurrent = neurons[cfg["neuron"]]
    model, hidden = cfg["model"], cfg["hidden"]
    if model == "conv":
        if len(sample_shape) != 3:
            raise ValueError(
                f"--model conv needs event frames (H, W, channels), got inputs of shape {sample_shape}"
            )
        h, w, c = sample_shape
        cls = getattr(zoo, plain)
        out_h, out_w = h // 4, w // 4
        if out_h == 0 or out_w == 0:
            raise ValueError(f"--model conv pools twice by 2: frames of {h}x{w} are too small (need >= 4x4)")
        return Sequential(
            nnx.Conv(c, CONV_CHANNELS, (3, 3), padding="SAME", rngs=rngs),
            cls((h, w, CONV_CHANNELS), trainable=False),
            layers.SumPool((2, 2)),
            nnx.Conv(CONV_CHANNELS, hidden, (3, 3), padding="SAME", rngs=rngs),
            cls((h // 2, w // 2, hidden), trainable=False),
            layers.SumPool((2, 2)),
            layers.Flatten(),
            nnx.Linear(out_h * out_w * hidden, num_classes, rngs=rngs),
            zoo.LI(num_classes, trainable=False),
        )
    num_inputs = math.prod(sample_shape)
    first = [layers.Flatten()] if len(sample_shape) > 1 else []
    if model == "recurrent":
        cell = getattr(zoo, recurrent)(hidden, trainable=False, rngs=rngs)
    else:
        cell = getattr(zoo, plain)(hidden, trainable=False)
    return Sequential(
        *first,
        nnx.Linear(num_inputs, hidden, rngs=rngs),
        cell,
        nnx.Linear(hidden, num_classes, rngs=rngs),
        zoo.LI(num_classes, trainable=False),
    )
