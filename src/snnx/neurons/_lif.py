"""Leaky integrate-and-fire neuron."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from snnx import _checks
from snnx import surrogate as _surrogate
from snnx.neurons._base import make_parameter, resolve_trainable
from snnx.neurons._leaky import LeakyConfig, LeakyNeuron
from snnx.neurons._state_quant import FixedPoint


class LIF(LeakyNeuron):
    r"""Leaky integrate-and-fire neuron with a per-step decay ``beta``.

    Discrete update, per step ``t`` (``x`` is this step's input)::

        v = beta * v + (1 - beta) * v_leak + x
        z = v > threshold                     # strict, on the updated membrane
        v = v_reset        where z            (reset="zero")
        v = v - threshold  where z            (reset="subtract")
        (no change)                           (reset="none")

    Two options, both off by default (snnTorch's ``Leaky(inhibition=...,
    graded_spikes_factor=...)``), change the output:

    * ``inhibition=True`` (lateral inhibition, winner-take-all): of each
      sample's units (all the per-sample axes of ``shape``) only the one with
      the largest ``v - threshold`` keeps its spike (the first in row-major
      order on a tie); the reset above still acts on every unit that crossed::

          k = argmax(v - threshold)  over the sample's units   # before the reset
          z = z * (unit == k)

    * ``graded_spikes_factor=g``: the output is ``g * z`` (``g`` scalar or
      per-unit); the reset uses the binary ``z``.

    With either option on, ``snnx.run`` steps the layer with ``jax.lax.scan``:
    the fused kernel computes neither (the plan says so).

    ``state_quant=FixedPoint(bits, lo, hi)`` stores the membrane in fixed point,
    as spiking hardware does (snnTorch's ``state_quant``): ``Q`` rounds to the
    grid (half to even) and clips to its range, and the threshold and ``v_reset``
    are put on the grid too, so the stored membrane is always a level::

        v = Q(beta * v + (1 - beta) * v_leak + x)     # rounded after this step's input
        z = v > Q(threshold)
        v = Q(v_reset)            where z             (reset="zero")
        v = Q(v - Q(threshold))   where z             (reset="subtract")

    Backward, ``Q`` passes the gradient unchanged (straight-through). The fused
    kernel does not round either, so such a layer is stepped by the scan too.

    Output: ``z`` (0./1. spikes, surrogate gradient backward), or ``g * z``.
    State: ``{"v"}``.

    NIR: ``nir.LIF`` with ``tau = dt / (1 - beta)``, ``r = tau / dt`` (unit input
    gain), ``v_leak``, ``v_threshold = threshold``, ``v_reset``; ``beta = 1``
    is exported as ``nir.IF``. Subtractive reset has no NIR form (exported as
    reset-to-value with a warning). Graded spikes are the LIF node followed by
    ``nir.Scale(g)``; lateral inhibition couples the units and has no NIR form
    (``to_nir`` refuses it).

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
            ``beta``, ``threshold``, ``v_leak``, ``v_reset`` and, when given,
            ``graded_spikes_factor``) or the names to learn, e.g. ``("beta",)``.
        detach_reset: stop the gradient through the reset term.
        graded_spikes_factor: ``None`` (default: binary spikes) or the factor
            ``g`` of graded spikes; scalar or per-unit, finite.
        inhibition: lateral inhibition: only the unit with the largest
            ``v - threshold`` of each sample spikes.
        state_quant: ``None`` (default: float membranes) or a
            :class:`snnx.neurons.FixedPoint`: the membrane is kept on its grid (see above).

    Example:
        >>> lif = LIF(3, beta=0.9)
        >>> state = lif.init_state(batch_shape=2)
        >>> z, state = lif(jnp.ones((2, 3)), state)
        >>> wta = LIF(3, beta=0.9, inhibition=True, graded_spikes_factor=0.5)
        >>> y, _ = wta(jnp.array([[1.5, 2.0, 0.2]]), wta.init_state(1))   # y = [[0, .5, 0]]
        >>> lif8 = LIF(3, beta=0.9, state_quant=FixedPoint(bits=8, lo=-2.0, hi=2.0))

    References:
        Gerstner, Kistler, Naud, Paninski (2014), *Neuronal Dynamics*, ch. 1;
        snnTorch ``Leaky`` (Eshraghian et al. 2023, *Proc. IEEE* 111(9)) for the two options.
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
        graded_spikes_factor=None,
        inhibition: bool = False,
        state_quant: FixedPoint | None = None,
    ):
        super().__init__(shape)
        _checks.instance_of("inhibition", inhibition, bool, "a bool")
        graded = (*type(self).param_names, "graded_spikes_factor")
        learn = resolve_trainable(trainable, graded)
        if graded_spikes_factor is not None:
            self.param_names = graded
        elif "graded_spikes_factor" in learn and trainable is not True:
            raise _checks.OptionError(
                "`trainable` names 'graded_spikes_factor', but this LIF has binary spikes: "
                "pass `graded_spikes_factor` (e.g. 1.0) to learn one"
            )
        self.beta = make_parameter("beta", beta, self.shape, "beta" in learn, unit_interval=True)
        self.v_leak = make_parameter("v_leak", v_leak, self.shape, "v_leak" in learn)
        self._init_spiking(
            learn, threshold, reset=reset, v_reset=v_reset, surrogate=surrogate, detach_reset=detach_reset
        )
        self.graded_spikes_factor = (
            None
            if graded_spikes_factor is None
            else make_parameter(
                "graded_spikes_factor", graded_spikes_factor, self.shape, "graded_spikes_factor" in learn
            )
        )
        self.inhibition = inhibition
        self._init_state_quant(state_quant)

    def leaky(self) -> tuple[LeakyConfig, dict]:
        """The step as data for :func:`snnx.neurons._leaky.leaky_step` (``__call__`` and the fused kernel)."""
        cfg, p = self._spiking_config(leak=True), {**self._leak_params(), **self._spike_params()}
        if self.graded_spikes_factor is not None:
            cfg = dataclasses.replace(cfg, graded=True)
            p["graded_spikes_factor"] = self.graded_spikes_factor[...]
        if self.inhibition:
            cfg = dataclasses.replace(cfg, inhibition_axes=len(self._known_shape()))
        return cfg, p
