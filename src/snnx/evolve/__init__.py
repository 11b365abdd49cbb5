"""Evolution strategies (through evosax): train a network without gradients.

``evolve(model, ES(...), loss_fn, data, epochs=...)`` runs one generation per
training batch and leaves the strategy's mean in the model. evosax is needed at
call time only (``pip install 'snnx[evo]'``); importing this package does not need it.
"""

from snnx.evolve._evolve import evolve as evolve
from snnx.evolve._solver import ES as ES
from snnx.evolve._solver import FULL_COVARIANCE_LIMIT as FULL_COVARIANCE_LIMIT
from snnx.evolve._solver import STRATEGIES as STRATEGIES

__all__ = ["ES", "FULL_COVARIANCE_LIMIT", "STRATEGIES", "evolve"]
