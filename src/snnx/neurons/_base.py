"""The neuron contract and the pieces every neuron shares.

A neuron is an ``nnx.Module`` with

* ``shape``: the per-sample shape of its state (``(N,)`` for a dense layer,
  ``(H, W, C)`` for a channels-last feature map), or ``None`` until
  :meth:`Neuron.build` sets it (``Sequential(..., input_shape=...)`` does, from
  the shape of the neuron's input);
* ``init_state(batch_shape=()) -> dict[str, Array]``: zero state with leading
  batch axes, e.g. ``{"v": zeros((*batch_shape, *shape))}``;
* ``__call__(x, state) -> (out, new_state)``: one time step. ``x`` has shape
  ``(*batch_shape, *shape)``; ``new_state`` has the structure of ``state``.

Parameters (``beta``, ``alpha``, ``threshold``, ...) are scalars or per-unit
arrays broadcastable to ``shape``. They are ``nnx.Param`` when learnable and
:class:`Const` when frozen, so an optimizer built with ``wrt=nnx.Param`` neither
sees a gradient for a frozen one nor updates it. Every neuron freezes all of
them by default (``trainable=False``, as snnTorch and Norse do); ``trainable=True``
or a collection of names opts in. Decays are clipped to [0, 1]
every step (a learnt value can drift outside), and a constant given outside
[0, 1] is an error.

Spikes are ``surrogate(v - threshold)`` on the membrane *after* integrating this
step's input, and the reset is applied in the same step.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from snnx import _checks
from snnx import surrogate as _surrogate
from snnx._params import Const as Const
from snnx._params import make_parameter as make_parameter
from snnx._params import resolve_trainable as resolve_trainable

RESETS = ("zero", "subtract", "none")


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

    ``shape=None`` makes an unbuilt neuron: its parameters are created (and
    checked for type, finiteness and range) at once, but the per-unit ones are
    checked against the layer shape by :meth:`build`, which
    ``Sequential(..., input_shape=...)`` calls with the shape of the neuron's
    input. Stepping an unbuilt neuron, or asking for its state, is an error.
    """

    state_names: tuple[str, ...] = ("v",)
    state_dtypes: dict[str, jnp.dtype] = {}  # noqa: RUF012 - read-only class default

    def __init__(self, shape: int | Sequence[int] | None = None):
        self.shape = None if shape is None else _checks.shape_tuple("shape", shape)

    def build(self, shape: int | Sequence[int]) -> Neuron:
        """Give an unbuilt neuron its per-sample ``shape`` and check its parameters against it.

        Every per-unit parameter must broadcast to ``shape`` (a ``ValueError``
        names the parameter otherwise). A neuron that already has a shape
        accepts only that shape (``snnx.ShapeError`` otherwise). Returns ``self``.

        Example:
            >>> lif = LIF(beta=0.9).build((28, 28, 16))
            >>> lif.shape
            (28, 28, 16)
        """
        shape = _checks.shape_tuple("shape", shape)
        if self.shape is not None:
            if self.shape != shape:
                raise _checks.ShapeError(
                    f"{type(self).__name__} has shape {self.shape}; it cannot take inputs of "
                    f"per-sample shape {shape}"
                )
            return self
        for name, value in vars(self).items():
            if isinstance(value, nnx.Variable):
                _checks.broadcastable(name, value[...], shape)
        self.shape = shape
        return self

    def _known_shape(self) -> tuple[int, ...]:
        """``self.shape``, or a ``ShapeError`` saying how to give an unbuilt neuron one."""
        if self.shape is None:
            kind = type(self).__name__
            raise _checks.ShapeError(
                f"this {kind} has no shape yet: pass `shape` (e.g. {kind}(128) or {kind}((H, W, C))) "
                f"or build it inside Sequential(..., input_shape=...), which sets it from its input"
            )
        return self.shape

    def init_state(self, batch_shape: int | Sequence[int] = ()) -> dict[str, jax.Array]:
        """Zero state of shape ``(*batch_shape, *self.shape)`` for every state variable."""
        shape = self._known_shape()
        batch = _checks.batch_tuple("batch_shape", batch_shape)
        full = (*batch, *shape)
        return {name: jnp.zeros(full, self.state_dtypes.get(name, jnp.float32)) for name in self.state_names}

    def _check_step(self, x: jax.Array, state: dict) -> jax.Array:
        x = jnp.asarray(x)
        _checks.trailing_shape("x", x, self._known_shape())
        if not isinstance(state, dict) or set(state) != set(self.state_names):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(
                f"`state` must be a dict with keys {list(self.state_names)} "
                f"(from {type(self).__name__}.init_state), got {got}"
            )
        v = state[self.state_names[0]]
        if tuple(x.shape) != tuple(jnp.shape(v)):  # e.g. a missing batch axis, broadcast silently otherwise
            raise _checks.ShapeError(
                f"`x` must have the shape of the state {tuple(jnp.shape(v))} (*batch, "
                f"{', '.join(map(str, self._known_shape()))}), got {tuple(x.shape)}"
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
