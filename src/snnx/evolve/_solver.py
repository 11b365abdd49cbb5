"""``ES``: the frozen configuration of an evolution strategy, and how it becomes an evosax algorithm.

evosax is imported lazily (inside functions): ``import snnx`` works without it,
and the first use without it raises ``ImportError`` with the install hint.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import numpy as np

from snnx import _checks

#: snnx name -> (evosax.algorithms class name, default learning rate, even population needed).
STRATEGIES: dict[str, tuple[str, float, bool]] = {
    "open_es": ("Open_ES", 0.01, True),
    "snes": ("SNES", 1.0, False),
    "sep_cma_es": ("Sep_CMA_ES", 1.0, False),
    "pgpe": ("PGPE", 0.1, True),
    "cma_es": ("CMA_ES", 1.0, False),
}

#: ``cma_es`` keeps a ``D x D`` covariance and eigendecomposes it every generation: refused above this ``D``.
FULL_COVARIANCE_LIMIT = 2000

#: ``sigma=None``: the initial step is this fraction of the RMS of the evolved parameters.
SIGMA_FRACTION = 0.1

#: ``sigma=None`` when every evolved parameter is zero (no scale to take a fraction of).
SIGMA_FALLBACK = 0.01


def require_evosax():
    """``evosax.algorithms``, or ``ImportError`` with the install hint."""
    try:
        import evosax.algorithms as algorithms
    except ImportError as error:  # ``sys.modules["evosax"] = None`` lands here too
        raise ImportError(
            "snnx.evolve needs evosax (evolution strategies in JAX): pip install 'snnx[evo]'"
        ) from error
    return algorithms


@dataclasses.dataclass(frozen=True, init=False)
class ES:
    """An evolution strategy for :func:`snnx.evolve.evolve`: which one, its population and its steps.

    A small frozen (hashable) record; :func:`evolve` builds the evosax algorithm
    from it once the number of parameters ``D`` is known. Each generation samples
    ``population_size`` candidates ``theta_i = mean + sigma * z_i`` around the
    distribution's centre ``mean`` (``z_i`` standard normal, scaled per
    parameter by the strategies that adapt a diagonal), scores each one on the
    generation's training batch and moves ``mean`` (and ``sigma``) towards the
    better ones.

    Strategies (``evosax.algorithms`` class; what ``learning_rate`` sets, its default):

    - ``"open_es"`` (``Open_ES``, Salimans et al. 2017): antithetic pairs,
      centred-rank fitness, fixed ``sigma``; the estimated gradient goes through
      ``optax.adam(learning_rate)`` (default ``0.01``).
    - ``"snes"`` (``SNES``, separable natural ES, Wierstra et al. 2014): one
      step size per parameter, adapted; ``learning_rate`` scales the natural
      gradient step of the mean (``optax.sgd``, default ``1.0``).
    - ``"sep_cma_es"`` (``Sep_CMA_ES``, Ros & Hansen 2008): CMA-ES with a
      *diagonal* covariance, ``O(D)`` per generation; ``learning_rate`` is CMA's
      mean learning rate ``c_mean`` (default ``1.0``).
    - ``"pgpe"`` (``PGPE``, Sehnke et al. 2010): antithetic pairs, one adapted
      step size per parameter, ClipUp optimizer with step ``learning_rate``
      (default ``0.1``, an absolute step norm per generation) and velocity limit
      ``2 * learning_rate``.
    - ``"cma_es"`` (``CMA_ES``, Hansen 2001): full covariance, a ``D x D``
      eigendecomposition per generation; refused above ``D = 2000`` parameters
      (use ``sep_cma_es`` or ``snes``). ``learning_rate`` is ``c_mean``.

    Initial step size: ``sigma=None`` takes ``0.1 * RMS(theta_0)``, a tenth of the
    root-mean-square of the evolved parameters at the start (after priming),
    so the candidates differ from the centre by about 10 % of a typical weight
    whatever the layer sizes (``0.01`` if every parameter is zero). evosax's own
    default, ``1.0``, is about ten times the size of a Lecun-initialised weight
    of a 64-input layer: every candidate is then noise, and the search stays at
    chance. A float ``sigma`` is used as is.

    Priming: ``prime_steps=k`` runs ``k`` gradient steps of ``prime_optimizer``
    (default ``optax.adam(2e-3)``) on the training batches first, exactly the
    steps :func:`snnx.train.fit` would take with the same ``seed`` and
    ``batch_size``, and evolution starts from that trained point.

    Args:
        strategy: one of ``"open_es"``, ``"snes"``, ``"sep_cma_es"``, ``"pgpe"``, ``"cma_es"``.
        population_size: candidates per generation (even for ``open_es`` and
            ``pgpe``, which sample antithetic pairs; a multiple of the device
            count with ``mesh``).
        sigma: initial step size (standard deviation of the perturbations), or
            ``None`` for the rule above.
        learning_rate: see the table above; ``None`` for the strategy's default.
        prime_steps: gradient steps before evolution (``0``: none).
        prime_optimizer: the optax transform of the priming steps; ``None``:
            ``optax.adam(2e-3)``.
        **strategy_kwargs: passed to evosax: a field of the algorithm's
            ``default_params`` (e.g. ``std_lr`` of PGPE, ``c_std`` of CMA) replaces it;
            anything else goes to the algorithm's constructor (e.g.
            ``fitness_shaping_fn``, ``use_antithetic_sampling``).

    Example:
        >>> solver = snnx.evolve.ES("open_es", population_size=64)
        >>> history = snnx.evolve.evolve(model, solver, losses.max_membrane_cross_entropy,
        ...                              (x_train, y_train), epochs=20)
    """

    strategy: str
    population_size: int
    sigma: float | None
    learning_rate: float | None
    prime_steps: int
    prime_optimizer: Any
    strategy_kwargs: tuple[tuple[str, Any], ...]

    def __init__(
        self,
        strategy: str = "open_es",
        population_size: int = 64,
        sigma: float | None = None,
        learning_rate: float | None = None,
        prime_steps: int = 0,
        prime_optimizer=None,
        **strategy_kwargs,
    ):
        if not isinstance(strategy, str) or strategy not in STRATEGIES:
            raise _checks.OptionError(
                f"`strategy` must be one of {', '.join(repr(s) for s in STRATEGIES)}, got {strategy!r}"
            )
        population_size = _checks.positive_int("population_size", population_size, minimum=2)
        if STRATEGIES[strategy][2] and population_size % 2:
            raise _checks.OptionError(
                f"`population_size` must be even for {strategy!r} (it samples antithetic pairs), "
                f"got {population_size}"
            )
        if sigma is not None:
            sigma = _checks.positive_number("sigma", sigma)
        if learning_rate is not None:
            learning_rate = _checks.positive_number("learning_rate", learning_rate)
        prime_steps = _checks.positive_int("prime_steps", prime_steps, minimum=0)
        if prime_optimizer is not None and not (
            callable(getattr(prime_optimizer, "init", None))
            and callable(getattr(prime_optimizer, "update", None))
        ):
            raise _checks.ArgumentTypeError(
                f"`prime_optimizer` must be an optax.GradientTransformation or None, "
                f"got {type(prime_optimizer).__name__}"
            )
        for name, value in (
            ("strategy", strategy),
            ("population_size", population_size),
            ("sigma", sigma),
            ("learning_rate", learning_rate),
            ("prime_steps", prime_steps),
            ("prime_optimizer", prime_optimizer),
            ("strategy_kwargs", tuple(sorted(strategy_kwargs.items()))),
        ):
            object.__setattr__(self, name, value)

    def initial_sigma(self, flat: np.ndarray) -> float:
        """The initial step size for the flat starting parameters ``flat`` (see the class docstring)."""
        if self.sigma is not None:
            return self.sigma
        rms = float(np.sqrt(np.mean(np.square(np.asarray(flat, np.float64))))) if np.size(flat) else 0.0
        return SIGMA_FRACTION * rms if rms > 0 else SIGMA_FALLBACK

    def build(self, num_dims: int, sigma: float):
        """``(algorithm, params)``: the evosax algorithm for ``num_dims`` flat parameters, its params."""
        if self.strategy == "cma_es" and num_dims > FULL_COVARIANCE_LIMIT:
            raise _checks.OptionError(
                f"`strategy` 'cma_es' keeps a full {num_dims} x {num_dims} covariance and eigendecomposes it "
                f"every generation; it is refused above {FULL_COVARIANCE_LIMIT} parameters (this model "
                f"evolves {num_dims}). Use 'sep_cma_es' (diagonal CMA) or 'snes' instead"
            )
        import jax.numpy as jnp
        import optax

        algorithms = require_evosax()
        class_name, default_lr, _ = STRATEGIES[self.strategy]
        cls = getattr(algorithms, class_name)
        lr = default_lr if self.learning_rate is None else self.learning_rate
        kwargs: dict[str, Any] = {}
        if self.strategy == "open_es":
            kwargs = {"optimizer": optax.adam(lr), "std_schedule": optax.constant_schedule(sigma)}
        elif self.strategy == "snes":
            kwargs = {"optimizer": optax.sgd(lr)}
        elif self.strategy == "pgpe":
            from evosax.core.optimizer import clipup

            kwargs = {"optimizer": clipup(learning_rate=lr, max_velocity=2 * lr)}
        accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "population_size", "solution"}
        probe = cls(population_size=self.population_size, solution=jnp.zeros(num_dims), **kwargs)
        fields = {f.name for f in dataclasses.fields(probe.default_params)}
        constructor = {k: v for k, v in self.strategy_kwargs if k not in fields}
        unknown = sorted(set(constructor) - accepted)
        if unknown:
            raise _checks.OptionError(
                f"`strategy_kwargs` {unknown} are neither arguments of evosax's {class_name} "
                f"({', '.join(sorted(accepted))}) nor fields of its params ({', '.join(sorted(fields))})"
            )
        algorithm = cls(
            population_size=self.population_size, solution=jnp.zeros(num_dims), **{**kwargs, **constructor}
        )
        changes: dict[str, Any] = {k: v for k, v in self.strategy_kwargs if k in fields}
        if "std_init" in fields:
            changes.setdefault("std_init", jnp.asarray(sigma, jnp.float32))
        if "c_mean" in fields and self.learning_rate is not None:
            changes.setdefault("c_mean", lr)
        return algorithm, algorithm.default_params.replace(**changes)
