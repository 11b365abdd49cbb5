"""Parallel spiking unit: a reset-free LIF with an exact parallel-in-time path."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from snnx import _checks
from snnx import surrogate as _surrogate
from snnx.neurons._base import Neuron, make_parameter, resolve_trainable


@jax.jit
def linear_recurrence(a: jax.Array, b: jax.Array) -> jax.Array:
    """All ``h[t] = a[t] * h[t-1] + b[t]`` (``h[-1] = 0``) along axis 0, in O(log T) depth.

    The pairs ``(a, b)`` compose associatively as affine maps,
    ``(a1, b1) then (a2, b2) = (a1 a2, a2 b1 + b2)``, so
    ``jax.lax.associative_scan`` evaluates every prefix at once. Jitted, so an
    eager call compiles the whole scan once per shape instead of dispatching
    its many small operations one by one.
    """

    def compose(first, second):
        a1, b1 = first
        a2, b2 = second
        return a1 * a2, a2 * b1 + b2

    _, h = jax.lax.associative_scan(compose, (a, b), axis=0)
    return h


def check_sequence(x, shape: tuple[int, ...]) -> jax.Array:
    """Check ``x`` has shape ``(T, B, *shape)`` (one or more batch axes)."""
    if shape is None:
        raise _checks.ShapeError(
            "this neuron has no shape yet: pass `shape` or build it inside Sequential(..., input_shape=...)"
        )
    x = jnp.asarray(x)
    _checks.trailing_shape("x", x, shape)
    if x.ndim < len(shape) + 2:
        raise ValueError(
            f"`x` must have shape (T, B, {', '.join(map(str, shape))}) with time first, got {x.shape}"
        )
    return x


def _unit_array(name: str, value, low: float, what: str) -> np.ndarray:
    """``value`` as a float64 array within ``[low, 1]`` (``what`` says why the range)."""
    if isinstance(value, bool) or value is None:
        raise _checks.ArgumentTypeError(f"`{name}` must be a number or an array, got {value!r}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _checks.ArgumentTypeError(
            f"`{name}` must be a number or an array, got {type(value).__name__}"
        ) from None
    bad = ~((arr >= low) & (arr <= 1.0))
    if np.any(bad):
        raise _checks.OptionError(
            f"`{name}` must lie in [{low:.4g}, 1] ({what}), got {arr[bad].ravel()[:4].tolist()}"
        )
    return arr


class PSU_LIF(Neuron):
    r"""Reset-free LIF neuron (parallel spiking unit) with an exact parallel path.

    Discrete update, per step ``t`` (``x`` is this step's input)::

        v = beta * v + x
        z = v > threshold                     # strict; no reset

    Without a reset the membrane is a linear recurrence, so :meth:`parallel`
    computes all ``T`` steps at once with ``jax.lax.associative_scan``
    (O(log T) depth) and gives the same result as stepping.

    Output: ``z`` (0./1. spikes, surrogate gradient backward). State: ``{"v"}``.

    snnTorch's ``StateLeaky(beta)`` is this neuron with the decay
    ``exp(-(1 - beta))`` (:meth:`beta_from_snntorch`; :meth:`from_snntorch`
    builds it), not ``beta``.

    NIR: ``nir.LIF`` has a reset, so there is no exact NIR node; the membrane
    alone is ``nir.LI`` (``tau = dt / (1 - beta)``, ``r = tau / dt``) followed by
    ``nir.Threshold``.

    Args:
        shape: per-sample shape of the layer (int or tuple); ``None`` leaves it to
            :meth:`build` (``Sequential(..., input_shape=...)`` calls it).
        beta: membrane decay per step in [0, 1]; scalar or per-unit.
        threshold: firing threshold; scalar or per-unit.
        surrogate: spike function (name or :class:`snnx.surrogate.Surrogate`).
        trainable: ``False`` (default: both frozen), ``True`` (``beta`` and
            ``threshold`` learnt) or the names to learn.

    Example:
        >>> psu = PSU_LIF(3, beta=0.9)
        >>> spikes = psu.parallel(jnp.ones((10, 2, 3)))   # (T, B, 3)

    References:
        Li, Lei, Yang (2023), "Parallel spiking unit for efficient training of
        spiking neural networks"; Fang et al. (2023), "Parallel spiking neurons
        with high efficiency and ability to learn long-term dependencies", NeurIPS.
    """

    state_names = ("v",)
    param_names = ("beta", "threshold")

    def __init__(
        self,
        shape: int | Sequence[int] | None = None,
        beta=0.9,
        threshold=1.0,
        *,
        surrogate: str | _surrogate.Surrogate | None = None,
        trainable: bool | Iterable[str] = False,
    ):
        super().__init__(shape)
        learn = resolve_trainable(trainable, self.param_names)
        self.beta = make_parameter("beta", beta, self.shape, "beta" in learn, unit_interval=True)
        self.threshold = make_parameter("threshold", threshold, self.shape, "threshold" in learn)
        self.surrogate = _surrogate.get(surrogate)

    @staticmethod
    def beta_from_snntorch(beta) -> np.ndarray:
        """The per-step decay of snnTorch's ``StateLeaky(beta)``: ``exp(-(1 - beta))``.

        ``StateLeaky`` reads ``beta`` as ``tau = 1 / (1 - beta)`` (in steps) and
        convolves its input with ``exp(-t / tau)``, ``t = 0, 1, ...``; that is
        ``v = exp(-1 / tau) v + x``. So its ``beta = 0.9`` decays by ``0.9048``
        per step, not ``0.9``.

        Args:
            beta: snnTorch's ``beta`` in [0, 1] (scalar or array).

        Returns:
            The decay for this class's ``beta``, float64, in ``[exp(-1), 1]``.

        Example:
            >>> round(float(PSU_LIF.beta_from_snntorch(0.9)), 4)
            0.9048
        """
        b = _unit_array("beta", beta, 0.0, "snnTorch's StateLeaky range")
        return np.exp(-(1.0 - b))

    @staticmethod
    def snntorch_beta_from_beta(beta) -> np.ndarray:
        """The inverse of :meth:`beta_from_snntorch`: snnTorch's ``beta = 1 + ln(decay)``.

        Args:
            beta: a per-step decay of this class in ``[exp(-1), 1]`` (scalar or
                array); smaller decays have no snnTorch ``beta`` in [0, 1].

        Returns:
            snnTorch's ``StateLeaky`` ``beta``, float64, in [0, 1].

        Example:
            >>> round(float(PSU_LIF.snntorch_beta_from_beta(0.9)), 4)
            0.8946
        """
        b = _unit_array("beta", beta, float(np.exp(-1.0)), "the decays of snnTorch betas in [0, 1]")
        return 1.0 + np.log(b)

    @classmethod
    def from_snntorch(
        cls,
        shape: int | Sequence[int] | None = None,
        beta=0.9,
        threshold=1.0,
        *,
        surrogate: str | _surrogate.Surrogate | None = "arctan",
        trainable: bool | Iterable[str] = False,
    ) -> PSU_LIF:
        """The ``PSU_LIF`` that computes what snnTorch's ``StateLeaky(beta, channels, threshold)`` does.

        Its decay is :meth:`beta_from_snntorch` of ``beta``; the threshold and the
        strict ``mem > threshold`` spike are the same, and the surrogate defaults
        to ``arctan`` (``k = 2``), snnTorch's default ``ATan(alpha=2)``.

        Args:
            shape: per-sample shape of the layer (int or tuple); ``None``: unbuilt.
            beta: snnTorch's ``beta`` in [0, 1]; scalar or per-unit.
            threshold: firing threshold; scalar or per-unit.
            surrogate: spike function (name or :class:`snnx.surrogate.Surrogate`).
            trainable: ``False`` (default: both frozen), ``True`` or the names to
                learn (``beta`` is then learnt as this class's per-step decay).

        Returns:
            The neuron (its ``beta`` is the per-step decay ``exp(-(1 - beta))``).

        Example:
            >>> psu = PSU_LIF.from_snntorch(8, beta=0.9)
            >>> spikes, states = psu.parallel(jnp.ones((20, 2, 8)), return_states=True)
        """
        return cls(shape, cls.beta_from_snntorch(beta), threshold, surrogate=surrogate, trainable=trainable)

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = self._check_step(x, state)
        v = jnp.clip(self.beta[...], 0.0, 1.0) * state["v"] + x
        return self.surrogate(v - self.threshold[...]), {"v": v}

    def parallel(self, x: jax.Array, *, return_states: bool = False):
        """All time steps at once from zero state.

        Args:
            x: input of shape ``(T, B, *shape)`` (time first).
            return_states: also return ``{"v": v}`` with ``v`` of shape
                ``(T, B, *shape)``, like ``snnx.run(..., return_states=True)``.

        Returns:
            spikes of shape ``(T, B, *shape)``; with ``return_states``,
            ``(spikes, {"v": v})``.
        """
        x = check_sequence(x, self.shape)
        x = x.astype(jnp.result_type(x.dtype, jnp.float32))
        beta = jnp.broadcast_to(jnp.clip(self.beta[...], 0.0, 1.0), x.shape).astype(x.dtype)
        v = linear_recurrence(beta, x)
        z = self.surrogate(v - self.threshold[...])
        return (z, {"v": v}) if return_states else z
