"""Lapicque's RC neuron: a LIF neuron built from a resistance, a capacitance and a step ``dt``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from snnx import _checks
from snnx import surrogate as _surrogate
from snnx.neurons._base import Neuron, make_parameter, resolve_trainable


def _array(name: str, value) -> np.ndarray:
    """``value`` (a number or an array, scalar or per-unit) as a float64 array."""
    if isinstance(value, bool) or value is None:
        raise _checks.ArgumentTypeError(f"`{name}` must be a number or an array, got {value!r}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _checks.ArgumentTypeError(
            f"`{name}` must be a number or an array, got {type(value).__name__}"
        ) from None
    return arr


def _positive(name: str, value) -> np.ndarray:
    """``value`` as a float64 array of positive finite numbers (scalar or per-unit)."""
    arr = _array(name, value)
    bad = ~(np.isfinite(arr) & (arr > 0))
    if np.any(bad):
        raise _checks.OptionError(
            f"`{name}` must be positive and finite, got {arr[bad].ravel()[:4].tolist()}"
        )
    return arr


class Lapicque(Neuron):
    r"""Lapicque's RC neuron (snnTorch's ``Lapicque``): a LIF neuron given by ``R``, ``C`` and ``dt``.

    The membrane obeys ``C dv/dt = -v / R + x`` between spikes. One forward
    Euler step of length ``dt`` is, per step ``t`` (``x`` is this step's input)::

        v = beta * v + gain * x               # beta = 1 - dt / (R C), gain = dt / C
        z = v > threshold                     # strict, on the updated membrane
        v = v_reset        where z            (reset="zero")
        v = v - threshold  where z            (reset="subtract")
        (no change)                           (reset="none")

    ``R``, ``C`` and ``dt`` are used once, here, to compute the per-step
    ``beta`` and ``gain`` (with ``decay_from_tau`` and ``gain_from_tau`` of
    ``src/snnx/nir/_discretise.py``, the one module where ``dt`` meets the
    maths); the neuron stores, steps and learns
    ``beta`` and ``gain``. ``dt > R C`` would make ``beta`` negative (forward
    Euler is unstable there) and is an error. snnTorch's construction from a
    decay is :meth:`from_beta`.

    Output: ``z`` (0./1. spikes, surrogate gradient backward). State: ``{"v"}``.

    snnTorch computes the same membrane update; its reset comes one step late
    (from the previous membrane; ``"zero"`` also drops that step's input), so
    the two agree exactly with ``reset="none"`` and up to the first spike
    otherwise (docs/zoo/synaptic.md).

    NIR: ``nir.LIF`` with ``tau = dt_export / (1 - beta)``, ``r = gain * tau /
    dt_export``, ``v_leak = 0``, ``v_threshold = threshold``, ``v_reset``:
    exported at the neuron's own ``dt`` that is ``tau = R C``, ``r = R``.
    Subtractive reset has no NIR form (exported as reset-to-value with a warning).

    Args:
        shape: per-sample shape of the layer (int or tuple), e.g. ``128`` or
            ``(28, 28, 16)`` for a channels-last feature map; ``None`` leaves it to
            :meth:`build` (``Sequential(..., input_shape=...)`` calls it).
        R: membrane resistance, positive; scalar or per-unit.
        C: membrane capacitance, positive; scalar or per-unit.
        dt: the step, positive and at most ``R * C`` (same time unit as ``R * C``).
        threshold: firing threshold; scalar or per-unit.
        reset: ``"zero"`` (to ``v_reset``), ``"subtract"`` or ``"none"``.
        v_reset: value after a ``"zero"`` reset.
        surrogate: spike function (name or :class:`snnx.surrogate.Surrogate`).
        trainable: ``False`` (default: all frozen), ``True`` (all of
            ``beta``, ``gain``, ``threshold``, ``v_reset`` learnt) or the names
            to learn.
        detach_reset: stop the gradient through the reset term.

    Example:
        >>> neuron = Lapicque(3, R=2.0, C=5e-3, dt=1e-3)   # tau = R C = 10 ms
        >>> float(neuron.beta[...]), float(neuron.gain[...])
        (0.8999999761581421, 0.20000000298023224)
        >>> state = neuron.init_state(batch_shape=2)
        >>> z, state = neuron(jnp.full((2, 3), 6.0), state)

    References:
        Lapicque (1907), "Recherches quantitatives sur l'excitation électrique
        des nerfs traitée comme une polarisation", *J. Physiol. Pathol. Gén.* 9;
        Brunel & van Rossum (2007), "Lapicque's 1907 paper: from frogs to
        integrate-and-fire", *Biol. Cybern.* 97; Eshraghian et al. (2023),
        "Training spiking neural networks using lessons from deep learning",
        *Proc. IEEE* (snnTorch).
    """

    state_names = ("v",)
    param_names = ("beta", "gain", "threshold", "v_reset")

    def __init__(
        self,
        shape: int | Sequence[int] | None = None,
        R=1.0,
        C=1e-2,
        dt: float = 1e-3,
        threshold=1.0,
        *,
        reset: str = "zero",
        v_reset=0.0,
        surrogate: str | _surrogate.Surrogate | None = None,
        trainable: bool | Iterable[str] = False,
        detach_reset: bool = True,
    ):
        # Imported here: snnx.nir imports snnx.neurons, so a module-level import would be circular.
        from snnx.nir import _discretise as disc

        super().__init__(shape)
        r, c = _positive("R", R), _positive("C", C)
        dt = _checks.positive_number("dt", dt)
        tau = r * c
        if np.any(dt > tau):
            raise _checks.OptionError(
                f"`dt` must lie in (0, R*C]: forward Euler with dt > R*C has a negative decay "
                f"1 - dt/(R*C); got dt={dt!r} and R*C={np.min(tau):.6g}"
            )
        learn = resolve_trainable(trainable, self.param_names)
        beta = disc.decay_from_tau(tau, dt)
        gain = disc.gain_from_tau(r, tau, dt)
        self.beta = make_parameter("beta", beta, self.shape, "beta" in learn, unit_interval=True)
        self.gain = make_parameter("gain", gain, self.shape, "gain" in learn)
        self._init_spiking(
            learn, threshold, reset=reset, v_reset=v_reset, surrogate=surrogate, detach_reset=detach_reset
        )

    @classmethod
    def from_beta(
        cls, shape: int | Sequence[int] | None = None, beta=0.9, threshold=1.0, **kwargs
    ) -> Lapicque:
        """snnTorch's ``Lapicque(beta=beta)``: ``R = 1``, ``C = dt / ln(1/beta)``, so ``dt/(RC) = -ln(beta)``.

        snnTorch then steps with forward Euler, so the per-step decay is
        ``1 + ln(beta)`` (not ``beta``) and the input gain ``-ln(beta)``, whatever
        ``dt`` is. That needs ``beta`` in ``[exp(-1), 1)``: below, the decay is
        negative; at 1, ``C`` is infinite.

        Args:
            shape: per-sample shape of the layer (int or tuple); ``None``: unbuilt.
            beta: snnTorch's ``beta`` in ``[exp(-1), 1)``; scalar or per-unit.
            threshold: firing threshold; scalar or per-unit.
            **kwargs: the keyword arguments of :class:`Lapicque` (``reset``, ...).

        Returns:
            The neuron with ``R = 1``, ``C = -1 / ln(beta)``, ``dt = 1``.

        Example:
            >>> neuron = Lapicque.from_beta(3, beta=0.9)
            >>> round(float(neuron.beta[...]), 4)   # 1 + ln(0.9)
            0.8946
        """
        b = _array("beta", beta)
        bad = ~((b >= np.exp(-1.0)) & (b < 1.0))
        if np.any(bad):
            raise _checks.OptionError(
                "`beta` must lie in [exp(-1), 1) = [0.3679, 1) (snnTorch's Lapicque steps with decay "
                f"1 + ln(beta), negative below exp(-1)), got {b[bad].ravel()[:4].tolist()}"
            )
        return cls(shape, R=1.0, C=-1.0 / np.log(b), dt=1.0, threshold=threshold, **kwargs)

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = self._check_step(x, state)
        v = jnp.clip(self.beta[...], 0.0, 1.0) * state["v"] + self.gain[...] * x
        z, v = self._fire(v)
        return z, {"v": v}
