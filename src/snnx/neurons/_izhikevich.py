"""Izhikevich's simple model of spiking neurons, with the published firing-pattern presets."""

from __future__ import annotations

import types
from collections.abc import Iterable, Sequence

import jax

from snnx import _checks
from snnx import surrogate as _surrogate
from snnx.neurons._base import Neuron, make_parameter, resolve_trainable, spike_and_reset

#: Izhikevich (2003), figure 2: ``(a, b, c, d)`` of each cortical and thalamic firing pattern.
PRESETS = types.MappingProxyType(
    {
        "RS": (0.02, 0.2, -65.0, 8.0),  # regular spiking: adapting tonic spikes
        "IB": (0.02, 0.2, -55.0, 4.0),  # intrinsically bursting: a burst, then tonic spikes
        "CH": (0.02, 0.2, -50.0, 2.0),  # chattering: repeated bursts of fast spikes
        "FS": (0.1, 0.2, -65.0, 2.0),  # fast spiking: high rate, little adaptation
        "LTS": (0.02, 0.25, -65.0, 2.0),  # low-threshold spiking: fast, adapting
        "TC": (0.02, 0.25, -65.0, 0.05),  # thalamo-cortical
        "RZ": (0.1, 0.26, -65.0, 2.0),  # resonator
    }
)


class Izhikevich(Neuron):
    r"""Izhikevich neuron: a quadratic membrane ``v`` (mV) and a recovery variable ``u``.

    Discrete update, per step ``t`` (``x`` is this step's input; ``v``, ``u`` on
    the right-hand sides are the previous step's)::

        u_new = u + h * a * (b * v - u)
        v = v + (h * (0.04 * v**2 + 5 * v + 140 - u) + x)
        z = v > threshold                          # strict, on the updated membrane (30 mV)
        v = c              where z
        u = u_new + d * z

    It is forward Euler at step ``h`` (ms) of ``v' = 0.04 v^2 + 5 v + 140 - u + I``,
    ``u' = a (b v - u)``, with the input ``x = h I`` added as it is (unit gain, as
    every snnx neuron; a step current ``I = 10`` is ``x = 10 * h``). ``h`` belongs
    to the discrete model (the presets' patterns hold for ``h <= 1``); it is not
    NIR's ``dt``. The paper's code resets at ``v >= 30`` at the start of the next
    millisecond and steps ``v`` twice by 0.5 ms; here the spike and reset happen in
    the step that crosses ``threshold``, as for every snnx neuron. ``init_state``
    is the paper's initial state ``v = v_init``, ``u = b * v_init``, not zeros.
    With ``detach_reset`` neither the reset to ``c`` nor the jump ``d * z``
    carries gradient through ``z``; the surrogate gradient is on ``v - threshold``.

    :meth:`preset` builds the paper's patterns (``"RS"``, ``"IB"``, ``"CH"``,
    ``"FS"``, ``"LTS"``, ``"TC"``, ``"RZ"``; the table is ``Izhikevich.PRESETS``).
    Norse 1.1's ``Izhikevich`` (``IzhikevichParameters``, step ``dt``) is this model
    with ``h = tau_inv * dt``, ``a``, ``b``, ``c``, ``d``, ``threshold = v_th`` and
    input ``x = tau_inv * dt * I``, when ``sq = 0.04``, ``mn = 5``, ``bias = 140``.

    Output: ``z`` (0./1. spikes, surrogate gradient backward). State: ``{"v", "u"}``.

    NIR: no NIR primitive (the quadratic membrane and the recovery variable have
    none); ``to_nir`` refuses it.

    Args:
        shape: per-sample shape of the layer (int or tuple); ``None`` leaves it to
            :meth:`build` (``Sequential(..., input_shape=...)`` calls it).
        a: time scale of the recovery ``u`` (1/ms); scalar or per-unit.
        b: sensitivity of ``u`` to ``v``; scalar or per-unit.
        c: membrane value after a spike (mV).
        d: jump of ``u`` at each spike.
        h: integration step in ms, ``0 < h <= 1`` (default 0.5, the paper's step for ``v``).
        threshold: spike cut-off on the updated membrane (mV; the paper's 30).
        v_init: initial membrane of ``init_state`` (mV; ``u`` starts at ``b * v_init``).
        surrogate: spike function (name or :class:`snnx.surrogate.Surrogate`).
        trainable: ``False`` (default: all frozen), ``True`` (all of ``a``, ``b``,
            ``c``, ``d``, ``threshold`` learnt) or the names to learn.
        detach_reset: stop the gradient through the reset and the jump of ``u``.

    Example:
        >>> neuron = Izhikevich.preset("FS", 3)
        >>> state = neuron.init_state(batch_shape=2)
        >>> z, state = neuron(jnp.full((2, 3), 10.0 * neuron.h), state)   # I = 10

    References:
        Izhikevich (2003), "Simple model of spiking neurons", *IEEE Transactions
        on Neural Networks* 14(6), 1569-1572.
    """

    state_names = ("v", "u")
    param_names = ("a", "b", "c", "d", "threshold")
    PRESETS = PRESETS

    def __init__(
        self,
        shape: int | Sequence[int] | None = None,
        a=0.02,
        b=0.2,
        c=-65.0,
        d=8.0,
        *,
        h: float = 0.5,
        threshold=30.0,
        v_init=-65.0,
        surrogate: str | _surrogate.Surrogate | None = None,
        trainable: bool | Iterable[str] = False,
        detach_reset: bool = True,
    ):
        super().__init__(shape)
        learn = resolve_trainable(trainable, self.param_names)
        for name, value in (("a", a), ("b", b), ("c", c), ("d", d), ("threshold", threshold)):
            setattr(self, name, make_parameter(name, value, self.shape, name in learn))
        self.v_init = make_parameter("v_init", v_init, self.shape, False)
        h = _checks.positive_number("h", h)
        if h > 1.0:
            raise _checks.OptionError(f"`h` must lie in (0, 1] (the step in ms), got {h!r}")
        self.h = h
        self.surrogate = _surrogate.get(surrogate)
        self.detach_reset = bool(detach_reset)

    @classmethod
    def preset(cls, name: str, shape: int | Sequence[int] | None = None, **kwargs) -> Izhikevich:
        """The firing pattern ``name`` of Izhikevich (2003), figure 2.

        Args:
            name: ``"RS"`` (regular spiking), ``"IB"`` (intrinsically bursting),
                ``"CH"`` (chattering), ``"FS"`` (fast spiking), ``"LTS"``
                (low-threshold spiking), ``"TC"`` (thalamo-cortical) or ``"RZ"`` (resonator).
            shape: per-sample shape of the layer, as for the constructor.
            **kwargs: any other constructor argument (``h``, ``trainable``, ...;
                ``a``, ``b``, ``c``, ``d`` override the preset's).

        Returns:
            an :class:`Izhikevich` with the preset's ``a``, ``b``, ``c``, ``d``.

        Example:
            >>> Izhikevich.preset("CH", 4).c[...]
            Array(-50., dtype=float32)
        """
        _checks.one_of("name", name, list(PRESETS))
        return cls(shape, **{**dict(zip("abcd", PRESETS[name], strict=True)), **kwargs})

    def init_state(self, batch_shape: int | Sequence[int] = ()) -> dict[str, jax.Array]:
        """The initial state ``v = v_init``, ``u = b * v_init``, of shape ``(*batch_shape, *self.shape)``."""
        state = super().init_state(batch_shape)
        v = state["v"] + self.v_init[...]
        return {"v": v, "u": self.b[...] * v}

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = self._check_step(x, state)
        v, u = state["v"], state["u"]
        u_new = u + self.h * self.a[...] * (self.b[...] * v - u)
        v = v + (self.h * (0.04 * v**2 + 5.0 * v + 140.0 - u) + x)
        z, v = spike_and_reset(
            v, self.threshold[...], spike_fn=self.surrogate, reset="zero", v_reset=self.c[...],
            detach_reset=self.detach_reset,
        )  # fmt: skip
        zr = jax.lax.stop_gradient(z) if self.detach_reset else z
        return z, {"v": v, "u": u_new + self.d[...] * zr}
