"""The neuron of NIR dialects: one step that covers how other frameworks run NIR's neurons.

Frameworks that read NIR run its spiking neurons with their own update: a spike
tested on last step's membrane, a subtractive reset before or after the decay,
several spikes per step, a membrane clamped from below. :class:`PeerNeuron`
holds those choices as options of one functional step (:func:`peer_step`), so
that ``from_nir(..., dialect=...)`` reproduces each framework with one layer type
whose maths is written once, here. snnx's own neurons (``LIF``, ``CuBaLIF``,
``IF``) stay what ``dialect="nir"`` builds; this one is for peers' semantics.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from snnx import _checks
from snnx import surrogate as _surrogate
from snnx._checks import one_of
from snnx.neurons._base import Const, Neuron

RESET_WHEN = ("same_step", "next_step_before_decay", "next_step_after_decay")
OUTPUTS = ("this_step", "last_step")
SPIKES = ("binary", "count")
TESTS = (">", ">=")
RESETS = ("zero", "subtract")


def peer_step(params: dict, options: dict, x: jax.Array, state: dict, spike_fn) -> tuple[jax.Array, dict]:
    """One step of :class:`PeerNeuron` (see its docstring for the equations).

    ``params``: ``beta``, ``v_leak``, ``threshold``, ``v_reset``, ``v_min``
    (``-inf`` for no clamp) and, with a synaptic current, ``alpha``, ``i_leak``
    and ``i_gain``. ``options``: ``reset_when``,
    ``output``, ``spikes``, ``test``, ``reset``, ``max_spikes``. ``state``: ``v``
    and, with a current, ``i``.
    """
    thr = params["threshold"]

    def fire(v):
        h = spike_fn(v - thr)  # 0/1 forward with the surrogate's gradient
        if options["test"] == ">=":
            h = h + jax.lax.stop_gradient(jnp.where(v == thr, 1.0, 0.0).astype(h.dtype))
        if options["spikes"] == "binary":
            return h
        ratio = v / thr
        count = jnp.floor(ratio) if options["test"] == ">=" else jnp.ceil(ratio) - 1.0
        count = jnp.maximum(count, 0.0)
        if options["max_spikes"] is not None:
            count = jnp.minimum(count, float(options["max_spikes"]))
        return h + jax.lax.stop_gradient(count - h)  # the count forward, the surrogate's gradient back

    def reset(v, z):
        z = jax.lax.stop_gradient(z)
        if options["reset"] == "subtract":
            return v - z * thr
        return jnp.where(z > 0, params["v_reset"], v)

    def integrate(v, i):
        drive = x
        if i is not None:
            alpha = params["alpha"]
            i = alpha * i + x + (1.0 - alpha) * params["i_leak"]
            drive = params["i_gain"] * i
        beta = params["beta"]
        return beta * v + (1.0 - beta) * params["v_leak"] + drive, i

    v, i = state["v"], state.get("i")
    when = options["reset_when"]
    if "w_rec" in params:  # recurrent spikes (next-step modes only): last step's, through w_rec (in, out)
        x = x + fire(v) @ params["w_rec"]
    if when == "same_step":
        v, i = integrate(v, i)
        z = fire(v)
        v = jnp.maximum(reset(v, z), params["v_min"])
    else:  # the membrane is kept before its reset; last step's spikes reset it now
        z_last = fire(v)
        if when == "next_step_before_decay":
            v, i = integrate(reset(v, z_last), i)
        else:
            v, i = integrate(v, i)
            v = reset(v, z_last)
        v = jnp.maximum(v, params["v_min"])
        z = z_last if options["output"] == "last_step" else fire(v)
    return z, ({"v": v} if i is None else {"v": v, "i": i})


class PeerNeuron(Neuron):
    r"""A spiking neuron run the way another framework runs NIR's LIF, CubaLIF or IF.

    Built by :func:`snnx.nir.from_nir` with a ``dialect``; every difference from
    NIR is an explicit option. Per step, with ``reset_when="same_step"`` (NIR's
    order, also Sinabs' and Rockpool's)::

        i = alpha i + x + (1 - alpha) i_leak          (with a current: alpha given)
        v = beta v + (1 - beta) v_leak + (i_gain i or x)
        z = spikes(v)
        v = max(reset(v, z), v_min)

    With ``"next_step_before_decay"`` / ``"next_step_after_decay"`` the stored
    membrane is the one before its reset, and a spike resets it in the next step,
    before or after the integration (snnTorch, Spyx)::

        z_last = spikes(v)
        v = reset(v, z_last); integrate as above       (before_decay)
        integrate as above; v = reset(v, z_last)       (after_decay)
        v = max(v, v_min)
        z = spikes(v)   (output="this_step")   or   z = z_last   (output="last_step": one step late)

    ``reset(v, z)`` is ``v - z threshold`` (``reset="subtract"``) or ``v_reset``
    where ``z > 0`` (``"zero"``). ``spikes(v)`` tests ``v > threshold``
    (``test=">"``) or ``v >= threshold``: 0 or 1 with ``spikes="binary"``; with
    ``spikes="count"`` it is how many thresholds the membrane holds
    (``floor(v / threshold)`` for ``>=``), at least 0 and at most ``max_spikes``,
    so one step can emit several spikes. Input gains are ``Scale`` layers in front,
    as ``from_nir`` builds them. Backward, a spike has the surrogate's gradient and
    the reset none. The parameters are frozen (:class:`~snnx.neurons.Const`).

    Decays are taken as given, not clipped to [0, 1]: a framework that runs an
    unstable decay (Norse reading its own ``tau = dt * tau`` export) is reproduced.

    Output: ``z``. State: ``{"v"}`` or, with ``alpha``, ``{"v", "i"}``, starting
    at ``v_init`` and ``i_init`` (Norse starts its membranes at ``v_leak``).

    Args:
        shape: per-sample shape.
        beta: membrane decay per step (1 for an integrator); scalar or per-unit.
        threshold: firing threshold (positive); scalar or per-unit.
        v_leak: resting potential the membrane decays toward.
        alpha: synaptic-current decay per step, or ``None`` (no current).
        i_leak: resting value the current decays toward.
        i_gain: gain from the current into the membrane.
        v_init: the membrane at ``t = 0``.
        i_init: the current at ``t = 0``.
        reset_when: ``"same_step"``, ``"next_step_before_decay"`` or ``"next_step_after_decay"``.
        output: ``"this_step"`` or ``"last_step"`` (only with a next-step reset).
        spikes: ``"binary"`` or ``"count"``.
        test: ``">"`` or ``">="``.
        reset: ``"zero"`` (to ``v_reset``) or ``"subtract"``.
        v_reset: value after a ``"zero"`` reset.
        v_min: lower clamp of the membrane, or ``None``.
        w_rec: ``None`` or an ``(N, N)`` matrix (input, output) through which last
            step's spikes are added to this step's input, ``x + z_last @ w_rec``
            (Spyx's RLIF; only with a next-step reset).
        max_spikes: the most spikes per step with ``spikes="count"`` (``None``: no bound).
        framework: the framework this neuron reproduces (shown by ``repr``).
        surrogate: spike function for the backward pass.

    Example:
        >>> neuron = PeerNeuron(3, beta=0.8, threshold=1.0, spikes="count", test=">=", reset="subtract")
        >>> z, state = neuron(jnp.full((1, 3), 2.5), neuron.init_state(1))   # z = 2, v = 0.5
    """

    param_names = ("alpha", "i_leak", "i_gain", "beta", "v_leak", "threshold", "v_reset", "v_min", "w_rec")

    def __init__(
        self,
        shape: int | Sequence[int] | None,
        beta,
        threshold,
        *,
        v_leak=0.0,
        alpha=None,
        i_leak=0.0,
        i_gain=1.0,
        v_init=0.0,
        i_init=0.0,
        reset_when: str = "same_step",
        output: str = "this_step",
        spikes: str = "binary",
        test: str = ">",
        reset: str = "zero",
        v_reset=0.0,
        v_min=None,
        w_rec=None,
        max_spikes: int | None = None,
        framework: str = "",
        surrogate: str | _surrogate.Surrogate | None = None,
    ):
        super().__init__(shape)
        for name, value, allowed in (
            ("reset_when", reset_when, RESET_WHEN), ("output", output, OUTPUTS), ("spikes", spikes, SPIKES),
            ("test", test, TESTS), ("reset", reset, RESETS),
        ):  # fmt: skip
            one_of(name, value, allowed)
        unused = [name for name, given, default in (("i_leak", i_leak, 0.0), ("i_gain", i_gain, 1.0),
                                                    ("i_init", i_init, 0.0)) if alpha is None
                  and np.any(np.asarray(given) != default)]  # fmt: skip
        if unused:
            raise ValueError(
                f"`{unused[0]}` acts on the synaptic current, which needs `alpha`; got alpha=None"
            )
        if max_spikes is not None and spikes == "binary":
            raise ValueError(
                "`max_spikes` bounds `spikes='count'`; with spikes='binary' there is one spike at most"
            )
        if reset == "subtract" and np.any(np.asarray(v_reset) != 0):
            raise ValueError(
                f"`v_reset` is the value of reset='zero'; reset='subtract' takes none, got {v_reset!r}"
            )
        if output == "last_step" and reset_when == "same_step":
            raise ValueError("`output='last_step'` needs a next-step reset (`reset_when='next_step_...'`)")
        if max_spikes is not None and (isinstance(max_spikes, bool) or not isinstance(max_spikes, int)
                                       or max_spikes < 1):  # fmt: skip
            raise ValueError(f"`max_spikes` must be None or a positive int, got {max_spikes!r}")
        self.reset_when, self.output, self.spikes, self.test, self.reset = (
            reset_when,
            output,
            spikes,
            test,
            reset,
        )
        self.max_spikes = max_spikes
        self.framework = str(framework)
        self.state_names = ("v",) if alpha is None else ("v", "i")
        values = {"beta": beta, "v_leak": v_leak, "threshold": threshold, "v_reset": v_reset,
                  "v_min": -np.inf if v_min is None else v_min, "v_init": v_init}  # fmt: skip
        if alpha is not None:
            values.update(alpha=alpha, i_leak=i_leak, i_gain=i_gain, i_init=i_init)
        if w_rec is not None:
            n = self.shape[-1] if self.shape and len(self.shape) == 1 else None
            if reset_when == "same_step" or n is None or np.shape(w_rec) != (n, n):
                raise ValueError(
                    f"`w_rec` must be an (N, N) matrix for a flat shape (N,) with a next-step reset, got "
                    f"shape {np.shape(w_rec)} for neuron shape {self.shape} and reset_when={reset_when!r}"
                )
            values["w_rec"] = w_rec
        for name, value in values.items():
            arr = np.asarray(value, np.float32)
            if np.isnan(arr).any() or (name != "v_min" and not np.isfinite(arr).all()):
                raise ValueError(f"`{name}` must be finite numbers, got {value!r}")
            if self.shape is not None and name != "w_rec":
                _checks.broadcastable(name, arr, self.shape)
            setattr(self, name, Const(jnp.asarray(arr)))
        if np.any(np.asarray(threshold) <= 0):
            raise ValueError(f"`threshold` must be positive, got {threshold!r}")
        self.surrogate = _surrogate.get(surrogate)

    def init_state(self, batch_shape=()) -> dict[str, jax.Array]:
        """The state at ``t = 0``: ``v_init`` (and ``i_init``) broadcast to ``(*batch_shape, *shape)``."""
        state = super().init_state(batch_shape)
        state["v"] = state["v"] + self.v_init[...]
        if "i" in state:
            state["i"] = state["i"] + self.i_init[...]
        return state

    def step_options(self) -> dict:
        """The options of :func:`peer_step`."""
        return {
            "reset_when": self.reset_when, "output": self.output, "spikes": self.spikes, "test": self.test,
            "reset": self.reset, "max_spikes": self.max_spikes,
        }  # fmt: skip

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = self._check_step(x, state)
        params = {name: getattr(self, name)[...] for name in self.param_names if hasattr(self, name)}
        return peer_step(params, self.step_options(), x, state, self.surrogate)
