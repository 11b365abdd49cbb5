"""The neuron contract and the pieces every neuron shares.

A neuron is an ``nnx.Module`` with

* ``shape``: the per-sample shape of its state (``(N,)`` for a dense layer,
  ``(H, W, C)`` for a channels-last feature map);
* ``init_state(batch_shape=()) -> dict[str, Array]``: zero state with leading
  batch axes, e.g. ``{"v": zeros((*batch_shape, *shape))}``;
* ``__call__(x, state) -> (out, new_state)``: one time step. ``x`` has shape
  ``(*batch_shape, *shape)``; ``new_state`` has the structure of ``state``.

Parameters (``beta``, ``alpha``, ``threshold``, ...) are scalars or per-unit
arrays broadcastable to ``shape``. They are ``nnx.Param`` when learnable and
:class:`Const` when frozen, so an optimizer built with ``wrt=nnx.Param`` neither
sees a gradient for a frozen one nor updates it. Decays are clipped to [0, 1]
every step (a learnt value can drift outside), and a constant given outside
[0, 1] is an error.

Spikes are ``surrogate(v - threshold)`` on the membrane *after* integrating this
step's input, and the reset is applied in the same step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from snnx import _checks
from snnx import surrogate as _surrogate

RESETS = ("zero", "subtract", "none")


class Const(nnx.Variable):
    """A frozen neuron parameter: part of the module, never differentiated or optimised."""


def resolve_trainable(trainable: bool | Iterable[str], names: Sequence[str]) -> frozenset[str]:
    """Turn ``trainable`` (a bool or a collection of parameter names) into a set of names."""
    if isinstance(trainable, bool):
        return frozenset(names) if trainable else frozenset()
    if isinstance(trainable, str):
        trainable = (trainable,)
    try:
        chosen = frozenset(trainable)
    except TypeError:
        raise TypeError(
            f"`trainable` must be a bool or a collection of parameter names from {list(names)}, "
            f"got {trainable!r}"
        ) from None
    unknown = sorted(chosen - set(names))
    if unknown:
        raise ValueError(f"`trainable` names unknown parameters {unknown}; this neuron has {list(names)}")
    return chosen


def make_parameter(
    name: str,
    value,
    shape: tuple[int, ...],
    trainable: bool,
    *,
    unit_interval: bool = False,
    dtype=jnp.float32,
) -> nnx.Variable:
    """Validate ``value`` and wrap it as ``nnx.Param`` (learnable) or :class:`Const`."""
    if isinstance(value, bool) or value is None:
        raise TypeError(f"`{name}` must be a number or an array, got {value!r}")
    try:
        arr = jnp.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a number or an array, got {type(value).__name__}") from None
    _checks.broadcastable(name, arr, shape)
    _checks.finite(name, arr)
    if unit_interval:
        _checks.in_unit_interval(name, arr)
    return nnx.Param(arr) if trainable else Const(arr)


def spike_and_reset(
    v: jax.Array,
    threshold: jax.Array,
    *,
    spike_fn: _surrogate.Surrogate,
    reset: str,
    v_reset: jax.Array | float = 0.0,
    detach_reset: bool = True,
) -> tuple[jax.Array, jax.Array]:
    """Spike on ``v > threshold`` and reset in the same step.

    ``reset="zero"``: ``v = v_reset`` where a spike occurred; ``"subtract"``:
    ``v = v - threshold`` where a spike occurred; ``"none"``: ``v`` unchanged.
    With ``detach_reset`` the reset does not propagate gradient through ``z``
    (the usual choice, Zenke & Vogels 2021); the forward value is the same.
    """
    z = spike_fn(v - threshold)
    zr = jax.lax.stop_gradient(z) if detach_reset else z
    if reset == "zero":
        v = v * (1.0 - zr) + zr * v_reset
    elif reset == "subtract":
        v = v - zr * threshold
    return z, v


class Neuron(nnx.Module):
    """Base class: shape bookkeeping, ``init_state`` and input checks.

    Subclasses set ``state_names`` (and ``state_dtypes`` when not float32) and
    implement ``__call__``.
    """

    state_names: tuple[str, ...] = ("v",)
    state_dtypes: dict[str, jnp.dtype] = {}  # noqa: RUF012 - read-only class default

    def __init__(self, shape: int | Sequence[int]):
        self.shape = _checks.shape_tuple("shape", shape)

    def init_state(self, batch_shape: int | Sequence[int] = ()) -> dict[str, jax.Array]:
        """Zero state of shape ``(*batch_shape, *self.shape)`` for every state variable."""
        batch = _checks.batch_tuple("batch_shape", batch_shape)
        full = (*batch, *self.shape)
        return {name: jnp.zeros(full, self.state_dtypes.get(name, jnp.float32)) for name in self.state_names}

    def _check_step(self, x: jax.Array, state: dict) -> jax.Array:
        x = jnp.asarray(x)
        _checks.trailing_shape("x", x, self.shape)
        if not isinstance(state, dict) or set(state) != set(self.state_names):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(
                f"`state` must be a dict with keys {list(self.state_names)} "
                f"(from {type(self).__name__}.init_state), got {got}"
            )
        return x

    @staticmethod
    def _check_reset(reset: str) -> str:
        _checks.one_of("reset", reset, RESETS)
        return reset

    def _init_spiking(
        self,
        learn: frozenset[str],
        threshold,
        *,
        reset: str,
        surrogate,
        detach_reset: bool,
        v_reset=None,
    ) -> None:
        """Set what every spiking neuron has: ``threshold``, ``v_reset`` (unless None: reset to 0),
        ``reset``, ``surrogate`` and ``detach_reset``."""
        self.threshold = make_parameter("threshold", threshold, self.shape, "threshold" in learn)
        if v_reset is not None:
            self.v_reset = make_parameter("v_reset", v_reset, self.shape, "v_reset" in learn)
        self.reset = self._check_reset(reset)
        self.surrogate = _surrogate.get(surrogate)
        self.detach_reset = bool(detach_reset)

    def _fire(self, v: jax.Array, threshold: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """:func:`spike_and_reset` with this neuron's settings (``threshold`` defaults to its own)."""
        return spike_and_reset(
            v,
            self.threshold[...] if threshold is None else threshold,
            spike_fn=self.surrogate,
            reset=self.reset,
            v_reset=self.v_reset[...] if hasattr(self, "v_reset") else 0.0,
            detach_reset=self.detach_reset,
        )
