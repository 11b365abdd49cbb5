"""Spiking LSTM layers: an LSTM cell whose hidden state is a spiking membrane (``SLSTM``, ``SConvLSTM``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from snnx import _checks
from snnx import surrogate as _surrogate
from snnx.neurons._base import RESETS, make_parameter, resolve_trainable, spike_and_reset


def lstm_update(pre: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(c, u)`` from the gate pre-activations ``pre`` (last axis ``4 * H``: ``i | f | g | o``)."""
    i, f, g, o = jnp.split(pre, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    return c, jax.nn.sigmoid(o) * jnp.tanh(c)


class _SpikingLSTM(nnx.Module):
    """What both layers share: the spike and reset on ``u``, ``init_state`` and the state check."""

    state_names = ("c", "h")
    param_names = ("threshold",)

    def _init_spiking(self, hidden: int, threshold, reset, surrogate, trainable, detach_reset) -> None:
        learn = resolve_trainable(trainable, self.param_names)
        self.threshold = make_parameter("threshold", threshold, (hidden,), "threshold" in learn)
        _checks.one_of("reset", reset, RESETS)
        self.reset = reset
        self.surrogate = _surrogate.get(surrogate)
        self.detach_reset = bool(detach_reset)

    def _state_shape(self) -> tuple[int, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def init_state(self, batch_shape: int | Sequence[int] = ()) -> dict[str, jax.Array]:
        """Zero cell ``c`` and membrane ``h``, each of shape ``(*batch_shape, *state shape)``."""
        full = (*_checks.batch_tuple("batch_shape", batch_shape), *self._state_shape())
        return {name: jnp.zeros(full, jnp.float32) for name in self.state_names}

    def _check(self, x, state: dict, in_shape: tuple[int, ...]) -> jax.Array:
        x = jnp.asarray(x)
        _checks.trailing_shape("x", x, in_shape)
        if not isinstance(state, dict) or set(state) != set(self.state_names):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(
                f"`state` must be a dict with keys {list(self.state_names)} "
                f"(from {type(self).__name__}.init_state), got {got}"
            )
        want = (*x.shape[: x.ndim - len(in_shape)], *self._state_shape())
        for name in self.state_names:
            if tuple(jnp.shape(state[name])) != want:
                raise _checks.ShapeError(
                    f"`state['{name}']` must have shape {want} for `x` of shape {tuple(x.shape)}, "
                    f"got {tuple(jnp.shape(state[name]))}"
                )
        return x

    def _fire(self, pre: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        c, u = lstm_update(pre, state["c"])
        z, h = spike_and_reset(
            u, self.threshold[...], spike_fn=self.surrogate, reset=self.reset, detach_reset=self.detach_reset
        )
        return z, {"c": c, "h": h}


class SLSTM(_SpikingLSTM):
    r"""Spiking LSTM layer: an LSTM cell whose hidden state ``h`` is a membrane that spikes.

    Discrete update, per step ``t`` (``x`` is this step's input of ``in_features``;
    the LSTM of Hochreiter & Schmidhuber with a forget gate, as PyTorch's ``LSTMCell``)::

        i | f | g | o = input_gates(x) + hidden_gates(h)    # each of hidden_features
        c = sigmoid(f) * c + sigmoid(i) * tanh(g)
        u = sigmoid(o) * tanh(c)                          # the membrane, in (-1, 1)
        z = u > threshold                                 # strict
        h = 0              where z, else u                (reset="zero")
        h = u - threshold  where z, else u                (reset="subtract")
        h = u                                             (reset="none", the default)

    The LSTM sees its membrane ``h`` (not the spikes); the cell ``c`` is never reset.

    snnTorch's ``SLSTM`` (1.0.0) is this layer with ``reset="none"`` (its default;
    ``mem = h``, ``syn = c``, ``weight_ih = input_gates.kernel.T``,
    ``weight_hh = hidden_gates.kernel.T``, ``bias_ih + bias_hh = input_gates.bias``).
    Its ``"zero"`` and ``"subtract"`` resets act one step late (on the next
    step's ``h``, after the LSTM has seen the unreset one); here they act in
    the step of the spike. snnTorch's default ``threshold=1`` never fires,
    since ``u`` stays below 1; the default here is 0.5.

    Output: ``z`` (0./1. spikes, surrogate gradient backward), shape
    ``(*batch, hidden_features)``. State: ``{"c", "h"}``, each ``(*batch, hidden_features)``.

    NIR: no NIR primitive has LSTM gates; not exportable.

    Args:
        in_features: size of the input's last axis.
        hidden_features: number of units (size of ``c``, ``h`` and the output).
        threshold: firing threshold on ``u``; scalar or per-unit.
        reset: ``"none"`` (default), ``"zero"`` or ``"subtract"``.
        surrogate: spike function (name or :class:`snnx.surrogate.Surrogate`).
        trainable: ``False`` (default: ``threshold`` frozen) or ``True``; the
            gate weights are always ``nnx.Param``.
        detach_reset: stop the gradient through the reset term.
        use_bias: give the gates a bias (in ``input_gates``).
        kernel_init: initialiser of ``input_gates.kernel`` (default: LeCun normal).
        recurrent_kernel_init: initialiser of ``hidden_gates.kernel`` (default: orthogonal).
        rngs: ``nnx.Rngs`` used to initialise the gate weights.

    Example:
        >>> layer = SLSTM(3, 8, threshold=0.2, rngs=nnx.Rngs(0))
        >>> z, state = layer(jnp.ones((2, 3)), layer.init_state(2))   # z: (2, 8)

    References:
        Hochreiter & Schmidhuber (1997), "Long short-term memory", *Neural
        Computation* 9(8); Gers, Schmidhuber, Cummins (2000), "Learning to forget",
        *Neural Computation* 12(10); snnTorch ``SLSTM`` (Eshraghian et al. 2023,
        *Proc. IEEE* 111(9)).
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        *,
        threshold=0.5,
        reset: str = "none",
        surrogate: str | _surrogate.Surrogate | None = None,
        trainable: bool | Iterable[str] = False,
        detach_reset: bool = True,
        use_bias: bool = True,
        kernel_init=None,
        recurrent_kernel_init=None,
        rngs: nnx.Rngs,
    ):
        self.in_features = _checks.positive_int("in_features", in_features)
        self.hidden_features = _checks.positive_int("hidden_features", hidden_features)
        _checks.instance_of("rngs", rngs, nnx.Rngs, "an nnx.Rngs (it initialises the gate weights)")
        self._init_spiking(self.hidden_features, threshold, reset, surrogate, trainable, detach_reset)
        four = 4 * self.hidden_features
        init = {} if kernel_init is None else {"kernel_init": kernel_init}
        rec = nnx.initializers.orthogonal() if recurrent_kernel_init is None else recurrent_kernel_init
        self.input_gates = nnx.Linear(self.in_features, four, use_bias=bool(use_bias), rngs=rngs, **init)
        self.hidden_gates = nnx.Linear(self.hidden_features, four, use_bias=False, kernel_init=rec, rngs=rngs)

    def _state_shape(self) -> tuple[int, ...]:
        return (self.hidden_features,)

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = self._check(x, state, (self.in_features,))
        return self._fire(self.input_gates(x) + self.hidden_gates(state["h"]), state)


class SConvLSTM(_SpikingLSTM):
    r"""Convolutional spiking LSTM layer on channels-last feature maps ``(*batch, H, W, C)``.

    :class:`SLSTM` with convolutional gates (Shi et al. 2015): one ``nnx.Conv``
    with ``"SAME"`` padding over the input and the membrane stacked along the
    channels. Discrete update, per step ``t``::

        i | f | g | o = gates(concat([x, h], axis=-1))    # each of hidden_channels
        c = sigmoid(f) * c + sigmoid(i) * tanh(g)
        u = sigmoid(o) * tanh(c)
        z = u > threshold                                 # strict
        h = 0              where z, else u                (reset="zero")
        h = u - threshold  where z, else u                (reset="subtract")
        h = u                                             (reset="none", the default)

    snnTorch's ``SConv2dLSTM`` (1.0.0, channels-first, odd kernel) is this layer
    with ``reset="none"`` and no pooling; its gates come in the order
    ``i | f | o | g`` (reorder the conv's output channels), its ``"zero"`` and
    ``"subtract"`` resets act one step late, and its ``max_pool``/``avg_pool``
    (pooling ``h`` before the threshold) are not offered here.

    Output: ``z`` of shape ``(*batch, H, W, hidden_channels)``. State: ``{"c", "h"}``
    of that shape.

    NIR: no NIR primitive has LSTM gates; not exportable.

    Args:
        in_channels: channels of the input.
        hidden_channels: channels of ``c``, ``h`` and the output.
        kernel_size: the gates' kernel, an int or ``(kh, kw)``.
        input_shape: the per-sample input shape ``(H, W, in_channels)``; ``None``
            leaves it to :meth:`build` (``Sequential(..., input_shape=...)`` calls it).
        threshold: firing threshold; scalar or per-channel.
        reset: ``"none"`` (default), ``"zero"`` or ``"subtract"``.
        surrogate: spike function (name or :class:`snnx.surrogate.Surrogate`).
        trainable: ``False`` (default: ``threshold`` frozen) or ``True``; the
            gate weights are always ``nnx.Param``.
        detach_reset: stop the gradient through the reset term.
        use_bias: give the gates a bias.
        kernel_init: initialiser of ``gates.kernel`` (default: LeCun normal).
        rngs: ``nnx.Rngs`` used to initialise the gate weights.

    Example:
        >>> layer = SConvLSTM(2, 4, 3, input_shape=(8, 8, 2), threshold=0.2, rngs=nnx.Rngs(0))
        >>> z, state = layer(jnp.ones((1, 8, 8, 2)), layer.init_state(1))   # z: (1, 8, 8, 4)

    References:
        Shi et al. (2015), "Convolutional LSTM network", NeurIPS; Hochreiter &
        Schmidhuber (1997), *Neural Computation* 9(8); snnTorch ``SConv2dLSTM``.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        kernel_size: int | Sequence[int],
        *,
        input_shape: Sequence[int] | None = None,
        threshold=0.5,
        reset: str = "none",
        surrogate: str | _surrogate.Surrogate | None = None,
        trainable: bool | Iterable[str] = False,
        detach_reset: bool = True,
        use_bias: bool = True,
        kernel_init=None,
        rngs: nnx.Rngs,
    ):
        self.in_channels = _checks.positive_int("in_channels", in_channels)
        self.hidden_channels = _checks.positive_int("hidden_channels", hidden_channels)
        ks = _checks.shape_tuple("kernel_size", kernel_size)
        if len(ks) == 1 and isinstance(kernel_size, (int, np.integer)):
            ks = ks * 2
        if len(ks) != 2:
            raise _checks.ShapeError(f"`kernel_size` must be an int or a pair (kh, kw), got {kernel_size!r}")
        _checks.instance_of("rngs", rngs, nnx.Rngs, "an nnx.Rngs (it initialises the gate weights)")
        self._init_spiking(self.hidden_channels, threshold, reset, surrogate, trainable, detach_reset)
        self.input_shape = None
        if input_shape is not None:
            self.build(input_shape)
        init = {} if kernel_init is None else {"kernel_init": kernel_init}
        self.gates = nnx.Conv(
            self.in_channels + self.hidden_channels, 4 * self.hidden_channels, ks,
            padding="SAME", use_bias=bool(use_bias), rngs=rngs, **init,
        )  # fmt: skip

    def build(self, input_shape: Sequence[int]) -> SConvLSTM:
        """Set the per-sample input shape ``(H, W, in_channels)``; returns ``self``.

        A layer that has one already accepts only that shape (``snnx.ShapeError`` otherwise).
        """
        shape = _checks.shape_tuple("input_shape", input_shape)
        if len(shape) != 3 or shape[-1] != self.in_channels:
            raise _checks.ShapeError(
                f"`input_shape` of SConvLSTM must be (H, W, {self.in_channels}) (channels-last, "
                f"in_channels={self.in_channels}), got {shape}"
            )
        if self.input_shape is not None and self.input_shape != shape:
            raise _checks.ShapeError(f"this SConvLSTM has input shape {self.input_shape}, got {shape}")
        self.input_shape = shape
        return self

    def _state_shape(self) -> tuple[int, ...]:
        if self.input_shape is None:
            raise _checks.ShapeError(
                "this SConvLSTM has no input shape yet: pass `input_shape=(H, W, C)` or build it inside "
                "Sequential(..., input_shape=...)"
            )
        return (*self.input_shape[:2], self.hidden_channels)

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        self._state_shape()
        x = self._check(x, state, self.input_shape)
        return self._fire(self.gates(jnp.concatenate([x, state["h"]], axis=-1)), state)
