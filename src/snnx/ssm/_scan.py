"""What every sequence layer shares: the linear-recurrence scan, input checks and a diagonal-SSM base.

A sequence layer is an ``nnx.Module`` with ``d_model`` input and output
features (per-sample shape ``(d_model,)``) on the one-step contract,

* ``init_state(batch_shape=()) -> dict[str, Array]`` (zeros),
* ``__call__(x, state) -> (y, new_state)``: one step, ``x`` of shape ``(*batch, d_model)``,

plus ``parallel(x, *, return_states=False)``: the whole sequence ``x`` of shape
``(T, *batch, d_model)`` from zero state in O(log T) depth, equal to stepping.
With ``return_states=True`` it returns ``(y, states)``, every leaf of ``states``
shaped like ``init_state``'s with a leading time axis (what ``snnx.run`` with
``Options(parallel=True)`` uses).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from snnx import _checks
from snnx.neurons._psu import linear_recurrence


def linear_scan(a: jax.Array, b: jax.Array, h0: jax.Array | None = None) -> jax.Array:
    """All ``h[t] = a[t] * h[t-1] + b[t]`` along axis 0, from ``h[-1] = h0`` (zeros by default).

    Real or complex. ``a`` broadcasts to ``b`` (a time-invariant ``a`` of shape
    ``(N,)`` is fine); the initial state enters as ``b[0] + a[0] * h0``, and the
    pairs are composed by ``snnx.neurons._psu.linear_recurrence``'s
    ``jax.lax.associative_scan`` (O(log T) depth).

    Args:
        a: decays, broadcastable to ``b``'s shape ``(T, ...)``.
        b: inputs of shape ``(T, ...)``.
        h0: state before the first step, broadcastable to ``b.shape[1:]``; ``None``: zeros.

    Returns:
        ``h`` of shape ``(T, ...)``, the dtype of ``a * b``.
    """
    dtype = jnp.result_type(a, b)
    b = jnp.asarray(b, dtype)
    a = jnp.broadcast_to(jnp.asarray(a, dtype), b.shape)
    if h0 is not None:
        b = b.at[0].add(a[0] * h0)
    return linear_recurrence(a, b)


# -- initialisation ----------------------------------------------------------------------------

_TRUNC_STD = 0.87962566103423978  # standard deviation of a standard normal truncated to [-2, 2]


def open_uniform(key: jax.Array, n: int) -> jax.Array:
    """``n`` float32 draws uniform in ``(0, 1)`` (never 0, so ``log`` and ``ndtri`` stay finite).

    Every random number of a layer's initialisation comes from one such draw,
    mapped by :func:`normal_from` or :func:`lecun_from`: one PRNG program per
    layer size, which compiles much faster than one per parameter.
    """
    return jax.random.uniform(key, (n,), minval=jnp.finfo(jnp.float32).tiny)


def normal_from(u: jax.Array) -> jax.Array:
    """Standard normal samples from uniform ones (the inverse normal CDF)."""
    return jax.scipy.special.ndtri(u)


def lecun_from(u: jax.Array, fan_in: int) -> jax.Array:
    """LeCun normal samples (a standard normal truncated to [-2, 2], rescaled to variance ``1 / fan_in``)."""
    lo, hi = jax.scipy.special.ndtr(-2.0), jax.scipy.special.ndtr(2.0)
    return jax.scipy.special.ndtri(lo + (hi - lo) * u) * (math.sqrt(1.0 / fan_in) / _TRUNC_STD)


# -- checks ------------------------------------------------------------------------------------


def check_rngs(rngs) -> nnx.Rngs:
    if not isinstance(rngs, nnx.Rngs):
        raise _checks.ArgumentTypeError(
            f"`rngs` must be an nnx.Rngs (it initialises the parameters), got {type(rngs).__name__}"
        )
    return rngs


def check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise _checks.ArgumentTypeError(f"`{name}` must be a bool, got {type(value).__name__}")
    return value


def real_number(name: str, value) -> float:
    """``value`` as a float: a finite real number (not a bool), else ``OptionError``/``ArgumentTypeError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _checks.ArgumentTypeError(f"`{name}` must be a real number, got {type(value).__name__}")
    out = float(value)
    if not math.isfinite(out):
        raise _checks.OptionError(f"`{name}` must be finite, got {value!r}")
    return out


def as_real_input(name: str, x) -> jax.Array:
    """``x`` as a floating array (at least float32; bool and int are cast); complex input is an error."""
    x = jnp.asarray(x)
    if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer) or x.dtype == bool):
        raise _checks.ArgumentTypeError(f"`{name}` must be a real array, got dtype {x.dtype}")
    return x.astype(jnp.result_type(x.dtype, jnp.float32))


def check_sequence(x, d_model: int) -> jax.Array:
    """Check ``x`` has shape ``(T, *batch, d_model)`` (time first); returns it as a float array."""
    x = as_real_input("x", x)
    _checks.trailing_shape("x", x, (d_model,))
    if x.ndim < 2:
        raise _checks.ShapeError(
            f"`x` must have shape (T, *batch, {d_model}) with time first, got {tuple(x.shape)}"
        )
    return x


def check_step(layer, x, state, lead: str) -> jax.Array:
    """Check one step's ``x`` (``(*batch, d_model)``) against ``state`` (from ``layer.init_state``).

    ``lead`` names a state entry of shape ``(*batch, n)``: it gives the batch shape ``x`` must have.
    """
    x = as_real_input("x", x)
    _checks.trailing_shape("x", x, (layer.d_model,))
    keys = list(layer.state_keys)
    if not isinstance(state, dict) or set(state) != set(keys):
        got = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValueError(
            f"`state` must be a dict with keys {keys} (from {type(layer).__name__}.init_state), got {got}"
        )
    batch = tuple(jnp.shape(state[lead])[:-1])
    if tuple(x.shape[:-1]) != batch:
        raise _checks.ShapeError(
            f"`x` must have shape (*batch, {layer.d_model}) with the state's batch shape {batch}, "
            f"got {tuple(x.shape)}"
        )
    return x


# -- a diagonal state-space layer ----------------------------------------------------------------


class SequenceLayer(nnx.Module):
    """Base of the sequence layers: ``d_model`` features in and out (``shape == (d_model,)``).

    ``state_keys``: the keys of the state dict, in ``init_state``'s order.
    """

    d_model: int
    shape: tuple[int, ...]
    state_keys: tuple[str, ...] = ()

    def _set_width(self, d_model) -> None:
        self.d_model = _checks.positive_int("d_model", d_model)
        self.shape = (self.d_model,)


class DiagonalSSM(SequenceLayer):
    """A complex diagonal linear recurrence ``h = lam_bar * h + B_bar @ x``, ``y = Re(C @ h) + D * x``.

    Subclasses store their parameters and implement :meth:`discrete`, which
    returns ``lam_bar`` (shape ``(d_state,)``) and ``B_bar`` (``(d_state,
    d_model)``), both complex; ``C`` is ``C_re + 1j * C_im`` (``(d_model,
    d_state)``) and ``D`` (``(d_model,)``, present when ``use_skip``) is real.
    State: ``{"h"}``, complex64 of shape ``(*batch, d_state)``.
    """

    d_state: int
    state_keys = ("h",)

    def discrete(self) -> tuple[jax.Array, jax.Array]:
        """``(lam_bar, B_bar)``: the per-step decay ``(d_state,)`` and input matrix ``(d_state, d_model)``."""
        raise NotImplementedError

    def _readout(self, h: jax.Array, x: jax.Array) -> jax.Array:
        c_re, c_im = self.C_re[...], self.C_im[...]
        y = jnp.real(h) @ c_re.T - jnp.imag(h) @ c_im.T  # Re(C h)
        if self.use_skip:
            y = y + self.D[...] * x
        return y.astype(x.dtype)

    def init_state(self, batch_shape: int | Sequence[int] = ()) -> dict[str, jax.Array]:
        """Zero state ``{"h"}`` of shape ``(*batch_shape, d_state)``, complex64."""
        batch = _checks.batch_tuple("batch_shape", batch_shape)
        return {"h": jnp.zeros((*batch, self.d_state), jnp.complex64)}

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        """One step: ``x`` of shape ``(*batch, d_model)``; returns ``(y, {"h": h})``."""
        x = check_step(self, x, state, "h")
        lam, b = self.discrete()
        h = lam * state["h"] + x.astype(b.dtype) @ b.T
        return self._readout(h, x), {"h": h}

    def parallel(self, x: jax.Array, *, return_states: bool = False):
        """The whole sequence from zero state with an associative scan (equal to stepping).

        Args:
            x: input of shape ``(T, *batch, d_model)`` (time first).
            return_states: also return ``{"h": h}`` with ``h`` of shape ``(T, *batch, d_state)``.

        Returns:
            ``y`` of shape ``(T, *batch, d_model)``; with ``return_states``, ``(y, {"h": h})``.
        """
        x = check_sequence(x, self.d_model)
        lam, b = self.discrete()
        h = linear_scan(lam, x.astype(b.dtype) @ b.T)
        y = self._readout(h, x)
        return (y, {"h": h}) if return_states else y
