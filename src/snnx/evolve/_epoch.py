"""One compiled epoch of evolution: ``jax.lax.scan`` over generations of ask / evaluate / tell.

The model's ``nnx.Param`` variables are flattened into one vector of ``D``
numbers (the evosax solution); everything else (neuron constants, buffers) is
held fixed. A candidate is scored by unflattening it, merging it with the fixed
state and running the forward pass on the generation's batch; ``jax.vmap`` does
that for the whole population at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
from flax import nnx
from jax.flatten_util import ravel_pytree

from snnx.train._steps import _prepare_input, _scalar_loss


class Flat:
    """The model's ``nnx.Param`` variables as one flat vector, and the way back.

    Args:
        model: the network; its graph and non-``Param`` state are captured now.
    """

    def __init__(self, model: nnx.Module):
        self.graphdef, params, self.rest = nnx.split(model, nnx.Param, ...)
        self.vector, self._unravel = ravel_pytree(params)
        self.size = int(self.vector.size)

    def model(self, vector: jax.Array) -> nnx.Module:
        """A model whose parameters are ``vector`` (shape ``(D,)``), the rest as captured."""
        return nnx.merge(self.graphdef, self._unravel(vector), self.rest)

    def write(self, model: nnx.Module, vector: jax.Array) -> None:
        """Set ``model``'s parameters to ``vector`` in place."""
        nnx.update(model, self._unravel(vector))


def strong(tree):
    """``tree`` with every array strongly typed: the epoch's input and output state then have one
    type, so the second epoch does not compile again (a weak type flips to strong in the scan)."""
    return jax.tree.map(lambda a: jnp.asarray(a, dtype=a.dtype), tree)


def make_epoch(
    flat: Flat,
    algorithm,
    es_params,
    *,
    forward: Callable,
    loss_fn: Callable,
    metric_fns: Mapping[str, Callable],
    fitness: str,
    sign: float,
    num_steps: int | None,
    population_sharding=None,
) -> Callable:
    """The jitted epoch ``(state, key, x, y, index) -> (state, key, stats)``.

    ``x`` ``(T, N, ...)`` and ``y`` ``(N, ...)`` are the device-resident data;
    ``index`` ``(G, B)`` the sample indices of the epoch's ``G`` generations
    (``x[:, index[g]]`` is generation ``g``'s batch). ``sign * fitness_value`` is
    what evosax minimises. ``stats`` holds, per generation, the loss and metrics
    of the centre (the mean before that generation's update) on the batch
    (``"loss"``, names of ``metric_fns``), the population's mean and best
    fitness in the user's units (``"fitness"``, ``"fitness_best"``).
    """

    def score(vector, x, y):
        outputs = forward(flat.model(vector), x)
        loss = _scalar_loss(loss_fn, outputs, y)
        return loss, {name: fn(outputs, y) for name, fn in metric_fns.items()}

    def generation(x_all, y_all, carry, batch_index):
        state, key = carry
        key, ask_key, tell_key = jax.random.split(key, 3)
        x = _prepare_input(jnp.take(x_all, batch_index, axis=1), num_steps)
        y = jnp.take(y_all, batch_index, axis=0)
        centre_loss, centre_values = score(state.mean, x, y)
        population, state = algorithm.ask(ask_key, state, es_params)
        if population_sharding is not None:
            population = jax.lax.with_sharding_constraint(population, population_sharding)
        losses, values = jax.vmap(score, in_axes=(0, None, None))(population, x, y)
        raw = losses if fitness == "loss" else values[fitness]
        state, _ = algorithm.tell(tell_key, population, sign * raw, state, es_params)
        stats = {
            "loss": centre_loss,
            **centre_values,
            "fitness": jnp.mean(raw),
            "fitness_best": sign * jnp.min(sign * raw),
        }
        return (state, key), stats

    @jax.jit
    def epoch(state, key, x, y, index):
        (state, key), stats = jax.lax.scan(functools.partial(generation, x, y), (state, key), index)
        return strong(state), key, stats

    return epoch
