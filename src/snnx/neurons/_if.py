"""Integrate-and-fire neuron (no leak)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from snnx import surrogate as _surrogate
from snnx.neurons._base import resolve_trainable
from snnx.neurons._leaky import LeakyConfig, LeakyNeuron
from snnx.neurons._state_quant import FixedPoint


class IF(LeakyNeuron):
    r"""Integrate-and-fire neuron: a perfect integrator with a threshold.

    Discrete update, per step ``t`` (``x`` is this step's input)::

        v = v + x
        z = v > threshold                     # strict, on the updated membrane
        v = v_reset        where z            (reset="zero")
        v = v - threshold  where z            (reset="subtract")
        (no change)                           (reset="none")

    With ``state_quant=FixedPoint(bits, lo, hi)`` (``Q``: round to the grid, half
    to even, and clip; straight-through gradient) the membrane is stored in fixed
    point and ``snnx.run`` steps the layer with ``jax.lax.scan``::

        v = Q(v + x)
        z = v > Q(threshold)
        v = Q(v_reset)            where z             (reset="zero")
        v = Q(v - Q(threshold))   where z             (reset="subtract")

    Output: ``z`` (0./1. spikes, surrogate gradient backward). State: ``{"v"}``.

    NIR: ``nir.IF`` with ``r = 1``, ``v_threshold = threshold``, ``v_reset``.
    Subtractive reset has no NIR form (exported as reset-to-value with a warning).

    Args:
        shape: per-sample shape of the layer (int or tuple), e.g. ``128`` or
            ``(28, 28, 16)`` for a channels-last feature map; ``None`` leaves it to
            :meth:`build` (``Sequential(..., input_shape=...)`` calls it).
        threshold: firing threshold; scalar or per-unit.
        reset: ``"zero"`` (to ``v_reset``), ``"subtract"`` or ``"none"``.
        v_reset: value after a ``"zero"`` reset.
        surrogate: spike function (name or :class:`snnx.surrogate.Surrogate`).
        trainable: ``False`` (default: both frozen), ``True`` (``threshold``
            and ``v_reset`` learnt) or the names to learn.
        detach_reset: stop the gradient through the reset term.
        state_quant: ``None`` (default: float membranes) or a
            :class:`snnx.neurons.FixedPoint`: the membrane is kept on its grid (see above).

    Example:
        >>> neuron = IF(3, threshold=1.0)
        >>> state = neuron.init_state(batch_shape=2)
        >>> z, state = neuron(jnp.ones((2, 3)), state)

    References:
        Lapicque (1907); Gerstner, Kistler, Naud, Paninski (2014), *Neuronal
        Dynamics*, ch. 1.
    """

    state_names = ("v",)
    param_names = ("threshold", "v_reset")

    def __init__(
        self,
        shape: int | Sequence[int] | None = None,
        threshold=1.0,
        *,
        reset: str = "zero",
        v_reset=0.0,
        surrogate: str | _surrogate.Surrogate | None = None,
        trainable: bool | Iterable[str] = False,
        detach_reset: bool = True,
        state_quant: FixedPoint | None = None,
    ):
        super().__init__(shape)
        learn = resolve_trainable(trainable, self.param_names)
        self._init_spiking(
            learn, threshold, reset=reset, v_reset=v_reset, surrogate=surrogate, detach_reset=detach_reset
        )
        self._init_state_quant(state_quant)

    def leaky(self) -> tuple[LeakyConfig, dict]:
        """The step as data for :func:`snnx.neurons._leaky.leaky_step` (``__call__`` and the fused kernel)."""
        return self._spiking_config(leak=False), self._spike_params()
