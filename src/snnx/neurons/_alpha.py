"""The alpha neuron: a membrane read from an excitatory and an inhibitory synaptic current."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from snnx import _checks
from snnx import surrogate as _surrogate
from snnx.neurons._base import Neuron, make_parameter, resolve_trainable


def _few(values: np.ndarray) -> list[float]:
    """Up to four values for an error message, at float32's precision."""
    return [float(f"{v:.6g}") for v in values.ravel()[:4]]


def _check_decays(alpha, beta) -> None:
    """``0 < beta < alpha <= 1`` unit by unit (both already checked to lie in [0, 1])."""
    a, b = np.broadcast_arrays(np.asarray(alpha, np.float64), np.asarray(beta, np.float64))
    if np.any(b <= 0.0):
        raise _checks.OptionError(
            "`beta` must lie in (0, 1): the membrane gain log(beta) / (log(beta) - log(alpha)) is "
            f"undefined at beta = 0, got {_few(b[b <= 0.0])}"
        )
    bad = a <= b
    if np.any(bad):
        raise _checks.OptionError(
            "`alpha` must be greater than `beta` unit by unit (the excitatory current must outlast "
            f"the inhibitory one), got alpha={_few(a[bad])} <= beta={_few(b[bad])}"
        )


class Alpha(Neuron):
    r"""Alpha neuron: a membrane read from an excitatory and an inhibitory synaptic current.

    Discrete update, per step ``t`` (``x`` is this step's input)::

        i_exc = alpha * i_exc + x
        i_inh = beta * i_inh - x
        k     = log(beta) / (log(beta) - log(alpha))
        v     = k * (i_exc + i_inh)
        z     = v > threshold                              # strict, on the updated membrane
        i_exc, i_inh, v = 0, 0, 0               where z    (reset="zero")
        i_exc, v = i_exc - threshold / k, v - threshold    where z    (reset="subtract")
        (no change)                                        (reset="none")

    ``x`` enters the two currents with opposite signs, so it cancels in this
    step's membrane and reaches ``v`` from the next step on: the response to
    one input is ``k (alpha^n - beta^n)`` after ``n`` steps, a difference of
    exponentials that rises and falls like an alpha function, scaled by
    ``k > 0``. The state ``v`` is the membrane after the reset, as for every
    snnx neuron.

    snnTorch's ``snntorch.Alpha`` has the same currents and membrane but
    resets one step *later*, from the previous step's membrane (and its
    ``"zero"`` also drops that step's input). With ``reset="none"`` the two
    agree exactly; with a reset they agree up to each unit's first spike
    (tests/data/peers, ``zoo_synaptic``). snnx keeps its one rule, spike and
    reset in the same step, for every neuron.

    Output: ``z`` (0./1. spikes, surrogate gradient backward). State: ``{"i_exc", "i_inh", "v"}``.

    NIR: no NIR neuron has two currents or resets a current; ``to_nir`` refuses it.

    Args:
        shape: per-sample shape of the layer (int or tuple), e.g. ``128`` or
            ``(28, 28, 16)`` for a channels-last feature map; ``None`` leaves it to
            :meth:`build` (``Sequential(..., input_shape=...)`` calls it).
        alpha: excitatory-current decay per step, ``beta < alpha <= 1``; scalar or per-unit.
        beta: inhibitory-current decay per step, ``0 < beta < alpha``; scalar or per-unit.
        threshold: firing threshold; scalar or per-unit.
        reset: ``"zero"`` (both currents and the membrane to 0), ``"subtract"``
            (the membrane loses ``threshold``, through the excitatory current) or ``"none"``.
        surrogate: spike function (name or :class:`snnx.surrogate.Surrogate`).
        trainable: ``False`` (default: all frozen), ``True`` (all of
            ``alpha``, ``beta``, ``threshold`` learnt) or the names to learn.
            Decays are clipped to [0, 1] each step; a learnt pair that
            reaches ``alpha <= beta`` or ``beta = 0`` makes ``k`` negative or undefined.
        detach_reset: no gradient through the reset term.

    Example:
        >>> neuron = Alpha(3, alpha=0.9, beta=0.8)
        >>> state = neuron.init_state(batch_shape=2)
        >>> z, state = neuron(jnp.ones((2, 3)), state)
        >>> z, state = neuron(jnp.zeros((2, 3)), state)   # the input reaches v one step later
        >>> round(float(state["v"][0, 0]), 4)               # k (0.9 - 0.8), k = 1.8945
        0.1895

    References:
        Rall (1967), "Distinguishing theoretical synaptic potentials computed
        for different soma-dendritic distributions of synaptic input",
        *J. Neurophysiol.* 30 (the alpha function); Eshraghian et al. (2023),
        "Training spiking neural networks using lessons from deep learning",
        *Proc. IEEE* 111(9) (snnTorch, ``snntorch.Alpha``).
    """

    state_names = ("i_exc", "i_inh", "v")
    param_names = ("alpha", "beta", "threshold")

    def __init__(
        self,
        shape: int | Sequence[int] | None = None,
        alpha=0.9,
        beta=0.8,
        threshold=1.0,
        *,
        reset: str = "zero",
        surrogate: str | _surrogate.Surrogate | None = None,
        trainable: bool | Iterable[str] = False,
        detach_reset: bool = True,
    ):
        super().__init__(shape)
        learn = resolve_trainable(trainable, self.param_names)
        self.alpha = make_parameter("alpha", alpha, self.shape, "alpha" in learn, unit_interval=True)
        self.beta = make_parameter("beta", beta, self.shape, "beta" in learn, unit_interval=True)
        _check_decays(self.alpha[...], self.beta[...])
        self._init_spiking(learn, threshold, reset=reset, surrogate=surrogate, detach_reset=detach_reset)

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = self._check_step(x, state)
        alpha = jnp.clip(self.alpha[...], 0.0, 1.0)
        beta = jnp.clip(self.beta[...], 0.0, 1.0)
        th = self.threshold[...]
        i_exc = alpha * state["i_exc"] + x
        i_inh = beta * state["i_inh"] - x
        k = jnp.log(beta) / (jnp.log(beta) - jnp.log(alpha))
        v = k * (i_exc + i_inh)
        z = self.surrogate(v - th)
        r = jax.lax.stop_gradient(z) if self.detach_reset else z
        if self.reset == "zero":
            i_exc, i_inh, v = i_exc * (1.0 - r), i_inh * (1.0 - r), v * (1.0 - r)
        elif self.reset == "subtract":
            i_exc, v = i_exc - r * th / k, v - r * th
        return z, {"i_exc": i_exc, "i_inh": i_inh, "v": v}
