"""Resonate-and-fire neuron: a damped complex oscillator with an exact parallel path."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from snnx import surrogate as _surrogate
from snnx.neurons._base import Neuron, make_parameter, resolve_trainable
from snnx.neurons._psu import check_sequence, linear_recurrence


class ResonateFire(Neuron):
    r"""Resonate-and-fire neuron: complex state ``u`` rotating by ``omega`` and decaying by ``lam``.

    Discrete update, per step ``t`` (``x`` is this step's real input)::

        u = exp(-lam + 1j * omega) * u + x    # complex64; lam clipped to >= 0
        z = Re(u) > threshold                 # strict; no reset

    ``lam`` (decay rate) and ``omega`` (angular frequency) are per step. Without a
    reset ``u`` is a linear recurrence, so :meth:`parallel` computes all steps at
    once with ``jax.lax.associative_scan``, exactly like stepping.

    Output: ``z`` (0./1. spikes, surrogate gradient backward).
    State: ``{"u"}`` (complex64).

    NIR: no NIR primitive; not exportable.

    Args:
        shape: per-sample shape of the layer (int or tuple); ``None`` leaves it to
            :meth:`build` (``Sequential(..., input_shape=...)`` calls it).
        lam: decay rate per step, ``>= 0`` (clipped at 0 when learnt); scalar or per-unit.
        omega: rotation per step in radians, any real; scalar or per-unit.
        threshold: firing threshold on ``Re(u)``; scalar or per-unit.
        surrogate: spike function (name or :class:`snnx.surrogate.Surrogate`).
        trainable: ``False`` (default: all frozen), ``True`` (``lam``,
            ``omega``, ``threshold`` learnt) or the names to learn.

    Example:
        >>> rf = ResonateFire(3, lam=0.1, omega=0.5)
        >>> z, state = rf(jnp.ones((2, 3)), rf.init_state(2))
        >>> spikes = rf.parallel(jnp.ones((10, 2, 3)))

    References:
        Izhikevich (2001), "Resonate-and-fire neurons", *Neural Networks* 14;
        Orchard et al. (2021), "Efficient neuromorphic signal processing with Loihi 2".
    """

    state_names = ("u",)
    state_dtypes = {"u": jnp.complex64}  # noqa: RUF012 - read-only class default
    param_names = ("lam", "omega", "threshold")

    def __init__(
        self,
        shape: int | Sequence[int] | None = None,
        lam=0.1,
        omega=0.5,
        threshold=1.0,
        *,
        surrogate: str | _surrogate.Surrogate | None = None,
        trainable: bool | Iterable[str] = False,
    ):
        super().__init__(shape)
        learn = resolve_trainable(trainable, self.param_names)
        self.lam = make_parameter("lam", lam, self.shape, "lam" in learn)
        if not isinstance(self.lam[...], jax.core.Tracer) and np.any(np.asarray(self.lam[...]) < 0):
            bad = np.asarray(self.lam[...])
            raise ValueError(f"`lam` must be >= 0 (a decay rate), got {bad[bad < 0].ravel()[:4].tolist()}")
        self.omega = make_parameter("omega", omega, self.shape, "omega" in learn)
        self.threshold = make_parameter("threshold", threshold, self.shape, "threshold" in learn)
        self.surrogate = _surrogate.get(surrogate)

    def _pole(self) -> jax.Array:
        lam = jnp.maximum(self.lam[...], 0.0)
        return jnp.exp(jax.lax.complex(-lam, self.omega[...]))

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = self._check_step(x, state)
        u = self._pole() * state["u"] + x.astype(jnp.complex64)
        return self.surrogate(jnp.real(u) - self.threshold[...]), {"u": u}

    def parallel(self, x: jax.Array, *, return_states: bool = False):
        """All time steps at once from zero state.

        Args:
            x: real input of shape ``(T, B, *shape)`` (time first).
            return_states: also return ``{"u": u}`` (complex64, ``(T, B, *shape)``),
                like ``snnx.run(..., return_states=True)``.

        Returns:
            spikes of shape ``(T, B, *shape)``; with ``return_states``,
            ``(spikes, {"u": u})``.
        """
        x = check_sequence(x, self.shape).astype(jnp.complex64)
        u = linear_recurrence(jnp.broadcast_to(self._pole(), x.shape), x)
        z = self.surrogate(jnp.real(u) - self.threshold[...])
        return (z, {"u": u}) if return_states else z
