"""Leaky integrate-and-fire neuron."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from snnx import surrogate as _surrogate
from snnx.neurons._base import make_parameter, resolve_trainable
from snnx.neurons._leaky import LeakyConfig, LeakyNeuron


class LIF(LeakyNeuron):
    r"""Leaky integrate-and-fire neuron with a per-step decay ``beta``.

    Discrete update, per step ``t`` (``x`` is this step's input)::

        v = beta * v + (1 - beta) * v_leak + x
        z = v > threshold                     # strict, on the updated membrane
        v = v_reset        where z            (reset="zero")
        v = v - threshold  where z            (reset="subtract")
        (no change)                           (reset="none")

    Output: ``z`` (0./1. spikes, surrogate gradient backward). State: ``{"v"}``.

    NIR: ``nir.LIF`` with ``tau = dt / (1 - beta)``, ``r = tau / dt`` (unit input
    gain), ``v_leak``, ``v_threshold = threshold``, ``v_reset``; ``beta = 1``
    is exported as ``nir.IF``. Subtractive reset has no NIR form (exported as
    reset-to-value with a warning).

    Args:
        shape: per-sample shape of the layer (int or tuple), e.g. ``128`` or
            ``(28, 28, 16)`` for a channels-last feature map; ``None`` leaves it to
            :meth:`build` (``Sequential(..., input_shape=...)`` calls it).
        beta: membrane decay per step in [0, 1]; scalar or per-unit.
        threshold: firing threshold; scalar or per-unit.
        reset: ``"zero"`` (to ``v_reset``), ``"subtract"`` or ``"none"``.
        v_reset: value after a ``"zero"`` reset.
        v_leak: resting potential the membrane decays towards (default 0).
        surrogate: spike function (name or :class:`snnx.surrogate.Surrogate`).
        trainable: which parameters are ``nnx.Param`` (learnt): ``False``
            (default: all frozen, as in snnTorch and Norse), ``True`` (all of
            ``beta``, ``threshold``, ``v_leak``, ``v_reset``) or the names to
            learn, e.g. ``("beta",)``.
        detach_reset: stop the gradient through the reset term.

    Example:
        >>> lif = LIF(3, beta=0.9)
        >>> state = lif.init_state(batch_shape=2)
        >>> z, state = lif(jnp.ones((2, 3)), state)

    References:
        Gerstner, Kistler, Naud, Paninski (2014), *Neuronal Dynamics*, ch. 1.
    """

    state_names = ("v",)
    param_names = ("beta", "threshold", "v_leak", "v_reset")

    def __init__(
        self,
        shape: int | Sequence[int] | None = None,
        beta=0.9,
        threshold=1.0,
        *,
        reset: str = "zero",
        v_reset=0.0,
        v_leak=0.0,
        surrogate: str | _surrogate.Surrogate | None = None,
        trainable: bool | Iterable[str] = False,
        detach_reset: bool = True,
    ):
        super().__init__(shape)
        learn = resolve_trainable(trainable, self.param_names)
        self.beta = make_parameter("beta", beta, self.shape, "beta" in learn, unit_interval=True)
        self.v_leak = make_parameter("v_leak", v_leak, self.shape, "v_leak" in learn)
        self._init_spiking(
            learn, threshold, reset=reset, v_reset=v_reset, surrogate=surrogate, detach_reset=detach_reset
        )

    def leaky(self) -> tuple[LeakyConfig, dict]:
        """The step as data for :func:`snnx.neurons._leaky.leaky_step` (``__call__`` and the fused kernel)."""
        return self._spiking_config(leak=True), {**self._leak_params(), **self._spike_params()}
