"""The selective state-space model (S6), the core of Mamba: a linear recurrence with input-dependent maps.

Both the one-step form (``__call__``) and the whole-sequence form (``parallel``)
compute the per-step maps with the same method (:meth:`Mamba._selective`), so
the two differ only in how ``h = a_bar * h + bx`` is evaluated: a loop over
time, or ``jax.lax.associative_scan`` over the affine maps (O(log T) depth).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from snnx import _checks
from snnx.ssm._scan import as_real_input, check_rngs, check_sequence, linear_scan


def uniform_draw(rngs: nnx.Rngs, shapes: tuple[tuple[int, ...], ...]) -> jax.Array:
    """One flat ``U[0, 1)`` draw from ``rngs.params``, enough for arrays of ``shapes``.

    Its length is rounded up to a power of two (at least 1024), so layers of
    different sizes share one compiled random-number program (compiling one
    takes far longer than drawing); :func:`cut` takes the arrays from it.
    """
    total = sum(math.prod(s) for s in shapes)
    return jax.random.uniform(rngs.params(), (max(1024, 1 << (total - 1).bit_length()),), jnp.float32)


def cut(flat: jax.Array, shapes: tuple[tuple[int, ...], ...]) -> list[jax.Array]:
    """Consecutive pieces of ``flat``, reshaped to ``shapes``."""
    offsets = np.cumsum([0, *(math.prod(s) for s in shapes)])
    return [flat[a:b].reshape(s) for a, b, s in zip(offsets[:-1], offsets[1:], shapes, strict=True)]


def symmetric(u: jax.Array, bound: float) -> jax.Array:
    """Uniform in ``[-bound, bound)`` from a ``U[0, 1)`` draw ``u``."""
    return bound * (2.0 * u - 1.0)


def _shapes(d_inner: int, d_state: int, dt_rank: int) -> tuple[tuple[int, ...], ...]:
    return (d_inner, dt_rank + 2 * d_state), (dt_rank, d_inner), (d_inner,)


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _init(flat, dt_range, d_inner: int, d_state: int, dt_rank: int) -> dict:
    """Every initial weight from the draw ``flat``, in one compiled program per shape (instead of
    one per operation and shape when run eagerly); ``dt_range``: ``(dt_min, dt_max, dt_floor)``."""
    dt_min, dt_max, dt_floor = dt_range
    u_x, u_dt, u_bias = cut(flat, _shapes(d_inner, d_state, dt_rank))
    # softplus(dt_bias) = max(dt, dt_floor), dt log-uniform in [dt_min, dt_max]; softplus^-1(dt) =
    # dt + log(1 - exp(-dt)).
    dt = jnp.maximum(jnp.exp(jnp.log(dt_min) + u_bias * (jnp.log(dt_max) - jnp.log(dt_min))), dt_floor)
    n = jnp.arange(1, d_state + 1, dtype=jnp.float32)
    return {
        "x_proj": symmetric(u_x, d_inner**-0.5),
        "dt_proj": symmetric(u_dt, dt_rank**-0.5),
        "dt_bias": dt + jnp.log(-jnp.expm1(-dt)),
        "A_log": jnp.log(jnp.broadcast_to(n, (d_inner, d_state))),  # S4D-real: A = -(n + 1), n from 0
        "D": jnp.ones((d_inner,), jnp.float32),
    }


def check_step(layer, x, state, shapes: dict[str, tuple[int, ...]]) -> jax.Array:
    """Check one step's ``x`` (``(*batch, width)``) and ``state`` (``{name: (*batch, *shapes[name])}``)."""
    x = as_real_input("x", x)
    _checks.trailing_shape("x", x, layer.shape)
    kind = type(layer).__name__
    if not isinstance(state, dict) or set(state) != set(shapes):
        got = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValueError(
            f"`state` must be a dict with keys {list(shapes)} (from {kind}.init_state), got {got}"
        )
    for name, shape in shapes.items():
        want = (*x.shape[:-1], *shape)
        if tuple(jnp.shape(state[name])) != want:
            raise _checks.ShapeError(
                f"`state['{name}']` must have shape {want} for `x` of shape {tuple(x.shape)} "
                f"(from {kind}.init_state), got {tuple(jnp.shape(state[name]))}"
            )
    return x


def zero_state(batch_shape, shapes: dict[str, tuple[int, ...]]) -> dict[str, jax.Array]:
    batch = _checks.batch_tuple("batch_shape", batch_shape)
    return {name: jnp.zeros((*batch, *shape), jnp.float32) for name, shape in shapes.items()}


class Mamba(nnx.Module):
    r"""Selective state-space model (S6, the core of Mamba) over ``d_inner`` channels.

    Each channel ``d`` carries ``d_state`` states. Per step ``t`` (``x`` of shape
    ``(*batch, d_inner)``, ``h`` of shape ``(*batch, d_inner, d_state)``; ``R =
    dt_rank``, ``N = d_state``)::

        p = x @ x_proj                                 # x_proj (d_inner, R + 2N): (*, R + 2N)
        dt_low, B, C = p[..., :R], p[..., R:R+N], p[..., R+N:]
        delta = softplus(dt_low @ dt_proj + dt_bias)   # dt_proj (R, d_inner): (*, d_inner), > 0
        A = -exp(A_log)                                # (d_inner, N), negative
        a_bar = exp(delta[..., :, None] * A)           # (*, d_inner, N), in (0, 1)
        bx = (delta * x)[..., :, None] * B[..., None, :]
        h = a_bar * h + bx
        y = sum(h * C[..., None, :], axis=-1) + D * x  # (*, d_inner)

    ``a_bar = exp(delta A)`` is the zero-order hold of ``A``; ``bx = delta B x``
    is the paper's simplified discretisation of ``B`` (Euler), not the exact
    zero-order hold ``(delta A)^-1 (exp(delta A) - 1) delta B``. Because
    ``delta``, ``B`` and ``C`` depend on the input, this is not a convolution,
    but it is still linear in ``h``: :meth:`parallel` composes the affine maps
    ``h -> a_bar h + bx`` with ``jax.lax.associative_scan`` and equals stepping
    (within float rounding). It stores all ``T * d_inner * N`` states (the
    paper's fused kernel keeps them in SRAM instead).

    Output: ``y``. State: ``{"h"}`` of shape ``(*batch, d_inner, d_state)``.

    Initialisation (as in the paper's code description): ``A_log[d, n] =
    log(n + 1)`` (S4D-real, ``A = -(n + 1)``); ``D = 1``; ``dt_proj`` uniform
    in ``±dt_rank ** -0.5``; ``dt_bias`` such that ``softplus(dt_bias)`` is
    ``max(dt, dt_floor)`` with ``dt`` log-uniform in ``[dt_min, dt_max]``;
    ``x_proj`` uniform in ``±d_inner ** -0.5``. Every weight is an ``nnx.Param``.

    NIR: none. The decay ``exp(delta A)`` and the maps ``B``, ``C`` are computed
    from each step's input, and NIR's nodes have fixed parameters.

    Args:
        d_inner: number of channels (the per-sample input and output width).
        d_state: states per channel (``N``).
        dt_rank: width ``R`` of the low-rank projection that makes ``delta``;
            ``None``: ``ceil(d_inner / 16)``.
        dt_min: smallest initial step size ``delta`` (> 0).
        dt_max: largest initial step size ``delta`` (>= ``dt_min``).
        dt_floor: lower bound on an initial ``delta`` (> 0).
        rngs: ``nnx.Rngs`` for the weights (``rngs.params``).

    Example:
        >>> core = Mamba(8, d_state=4, rngs=nnx.Rngs(0))
        >>> y, state = core(jnp.ones((2, 8)), core.init_state(2))
        >>> core.parallel(jnp.ones((10, 2, 8))).shape
        (10, 2, 8)

    References:
        Gu & Dao (2023), "Mamba: Linear-Time Sequence Modeling with Selective
        State Spaces", arXiv:2312.00752 (Algorithm 2, the S6 layer; Section
        3.6, its initialisation); Gu, Gupta, Goel & Ré (2022), "On the
        Parameterization and Initialization of Diagonal State Space Models",
        NeurIPS (S4D-real).
    """

    def __init__(
        self,
        d_inner: int,
        d_state: int = 16,
        dt_rank: int | None = None,
        *,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        dt_floor: float = 1e-4,
        rngs: nnx.Rngs,
    ):
        d_inner = _checks.positive_int("d_inner", d_inner)
        d_state = _checks.positive_int("d_state", d_state)
        dt_rank = math.ceil(d_inner / 16) if dt_rank is None else _checks.positive_int("dt_rank", dt_rank)
        dt_min = _checks.positive_number("dt_min", dt_min)
        dt_max = _checks.positive_number("dt_max", dt_max)
        dt_floor = _checks.positive_number("dt_floor", dt_floor)
        if dt_min > dt_max:
            raise _checks.OptionError(f"`dt_min` (={dt_min}) must not exceed `dt_max` (={dt_max})")
        check_rngs(rngs)
        self.shape = (d_inner,)
        self.d_inner, self.d_state, self.dt_rank = d_inner, d_state, dt_rank
        flat = uniform_draw(rngs, _shapes(d_inner, d_state, dt_rank))
        weights = _init(flat, (dt_min, dt_max, dt_floor), d_inner, d_state, dt_rank)
        self.x_proj = nnx.Param(weights["x_proj"])
        self.dt_proj = nnx.Param(weights["dt_proj"])
        self.dt_bias = nnx.Param(weights["dt_bias"])
        self.A_log = nnx.Param(weights["A_log"])
        self.D = nnx.Param(weights["D"])

    @property
    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"h": (self.d_inner, self.d_state)}

    def init_state(self, batch_shape: int | tuple[int, ...] = ()) -> dict[str, jax.Array]:
        """Zero state ``{"h": zeros((*batch_shape, d_inner, d_state))}``."""
        return zero_state(batch_shape, self.state_shapes)

    def _selective(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``(a_bar, bx, C)`` for ``x`` of shape ``(..., d_inner)`` (any leading axes, time included)."""
        r, n = self.dt_rank, self.d_state
        p = x @ self.x_proj[...]
        dt_low, b, c = p[..., :r], p[..., r : r + n], p[..., r + n :]
        delta = jax.nn.softplus(dt_low @ self.dt_proj[...] + self.dt_bias[...])
        a_bar = jnp.exp(delta[..., :, None] * -jnp.exp(self.A_log[...]))
        bx = (delta * x)[..., :, None] * b[..., None, :]
        return a_bar, bx, c

    def _readout(self, h: jax.Array, c: jax.Array, x: jax.Array) -> jax.Array:
        return jnp.sum(h * c[..., None, :], axis=-1) + self.D[...] * x

    def step(self, x: jax.Array, h: jax.Array) -> tuple[jax.Array, jax.Array]:
        """One step without checks: ``(y, h)`` from ``x`` of shape ``(*, d_inner)`` and ``h`` of shape
        ``(*, d_inner, d_state)`` (what ``__call__`` and :class:`MambaBlock` compute)."""
        a_bar, bx, c = self._selective(x)
        h = a_bar * h + bx
        return self._readout(h, c, x), h

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = check_step(self, x, state, self.state_shapes)
        y, h = self.step(x, state["h"])
        return y, {"h": h}

    def parallel(self, x: jax.Array, *, return_states: bool = False):
        """All time steps at once from zero state, by ``jax.lax.associative_scan``.

        Args:
            x: input of shape ``(T, *batch, d_inner)`` (time first).
            return_states: also return ``{"h": h}`` with ``h`` of shape
                ``(T, *batch, d_inner, d_state)``, like ``snnx.run(..., return_states=True)``.

        Returns:
            ``y`` of shape ``(T, *batch, d_inner)``; with ``return_states``, ``(y, {"h": h})``.
        """
        x = check_sequence(x, self.d_inner)
        a_bar, bx, c = self._selective(x)
        h = linear_scan(a_bar, bx)
        y = self._readout(h, c, x)
        return (y, {"h": h}) if return_states else y
