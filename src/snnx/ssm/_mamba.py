"""The Mamba block: input projection, causal depthwise convolution, selective SSM, gate, output projection."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import nnx

from snnx import _checks
from snnx.ssm._scan import check_rngs, check_sequence
from snnx.ssm._selective import Mamba as Mamba
from snnx.ssm._selective import check_step, cut, symmetric, uniform_draw, zero_state

__all__ = ["Mamba", "MambaBlock"]


def _shapes(d_model: int, d_inner: int, d_conv: int) -> tuple[tuple[int, ...], ...]:
    return (d_model, 2 * d_inner), (d_conv, d_inner), (d_inner,), (d_inner, d_model)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _init(flat, d_model: int, d_inner: int, d_conv: int) -> list[jax.Array]:
    """``in_proj``, ``conv_weight``, ``conv_bias``, ``out_proj`` from the draw ``flat``: uniform in
    ``±fan_in ** -0.5``."""
    fan_in = (d_model, d_conv, d_conv, d_inner)
    parts = cut(flat, _shapes(d_model, d_inner, d_conv))
    return [symmetric(u, f**-0.5) for u, f in zip(parts, fan_in, strict=True)]


class MambaBlock(nnx.Module):
    r"""Mamba block (Gu & Dao 2023, Figure 3) of width ``d_model``, time-major, step by step or in parallel.

    With ``d_inner = expand * d_model`` and ``K = d_conv``, per step ``t`` (``x``
    of shape ``(*batch, d_model)``; state ``conv`` of shape ``(*batch, K - 1,
    d_inner)``, the last ``K - 1`` values of ``u``, oldest first, and ``h`` of
    shape ``(*batch, d_inner, d_state)``)::

        u, z = split(x @ in_proj, 2)                  # in_proj (d_model, 2 d_inner): (*, d_inner) each
        w = concat(conv, u[..., None, :], axis=-2)    # (*, K, d_inner): u_{t-K+1}, ..., u_t
        c = sum(w * conv_weight, axis=-2) + conv_bias  # causal depthwise conv, conv_weight (K, d_inner)
        conv = w[..., 1:, :]
        a = silu(c)
        y, h = mamba.step(a, h)                       # the selective SSM (:class:`Mamba`)
        out = (y * silu(z)) @ out_proj                # out_proj (d_inner, d_model): (*, d_model)

    so ``c_t = sum_k conv_weight[k] * u_{t - K + 1 + k} + conv_bias`` with
    ``u_s = 0`` for ``s < 0``. :meth:`parallel` pads ``K - 1`` zeros in front of
    the whole sequence of ``u``, forms the same windows ``w`` and runs the SSM
    with :meth:`Mamba.parallel` (an associative scan); it equals stepping from
    zero state within float rounding. The block has no residual connection or
    normalisation (the paper's model adds both around it).

    Output: ``out``. State: ``{"conv", "h"}``.

    Initialisation: ``in_proj``, ``out_proj``, ``conv_weight`` and
    ``conv_bias`` uniform in ``±fan_in ** -0.5`` (``fan_in``: ``d_model``,
    ``d_inner``, ``K``, ``K``), PyTorch's defaults, which the reference code
    keeps; the SSM as in :class:`Mamba`. Every weight is an ``nnx.Param``.

    NIR: none. The selective SSM's decay and maps depend on each step's input,
    which NIR's fixed-parameter nodes cannot express.

    Args:
        d_model: per-sample input and output width.
        d_state: states per inner channel (``N`` of :class:`Mamba`).
        d_conv: width ``K`` of the causal convolution (1: no mixing in time).
        expand: ``d_inner = expand * d_model``.
        dt_rank: as in :class:`Mamba` (``None``: ``ceil(d_inner / 16)``).
        dt_min: as in :class:`Mamba`.
        dt_max: as in :class:`Mamba`.
        dt_floor: as in :class:`Mamba`.
        rngs: ``nnx.Rngs`` for the weights (``rngs.params``).

    Example:
        >>> block = MambaBlock(8, d_state=4, rngs=nnx.Rngs(0))
        >>> y, state = block(jnp.ones((2, 8)), block.init_state(2))
        >>> ys = snnx.run(snnx.Sequential(block), jnp.ones((10, 2, 8)),
        ...               options=snnx.engine.Options(parallel=True))[0]

    References:
        Gu & Dao (2023), "Mamba: Linear-Time Sequence Modeling with Selective
        State Spaces", arXiv:2312.00752 (Section 3.4, Figure 3).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        *,
        dt_rank: int | None = None,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        dt_floor: float = 1e-4,
        rngs: nnx.Rngs,
    ):
        d_model = _checks.positive_int("d_model", d_model)
        d_conv = _checks.positive_int("d_conv", d_conv)
        expand = _checks.positive_int("expand", expand)
        check_rngs(rngs)
        d_inner = expand * d_model
        self.mamba = Mamba(d_inner, d_state, dt_rank, dt_min=dt_min, dt_max=dt_max, dt_floor=dt_floor,
                           rngs=rngs)
        self.shape = (d_model,)
        self.d_model, self.d_inner, self.d_state, self.d_conv = d_model, d_inner, self.mamba.d_state, d_conv
        weights = _init(uniform_draw(rngs, _shapes(d_model, d_inner, d_conv)), d_model, d_inner, d_conv)
        self.in_proj = nnx.Param(weights[0])
        self.conv_weight = nnx.Param(weights[1])
        self.conv_bias = nnx.Param(weights[2])
        self.out_proj = nnx.Param(weights[3])

    @property
    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"conv": (self.d_conv - 1, self.d_inner), "h": (self.d_inner, self.d_state)}

    def init_state(self, batch_shape: int | tuple[int, ...] = ()) -> dict[str, jax.Array]:
        """Zero state: ``conv`` of shape ``(*batch_shape, d_conv - 1, d_inner)``, ``h`` of shape
        ``(*batch_shape, d_inner, d_state)``."""
        return zero_state(batch_shape, self.state_shapes)

    def _conv(self, w: jax.Array) -> jax.Array:
        """The causal depthwise convolution of windows ``w`` ``(..., d_conv, d_inner)``, then SiLU."""
        return jax.nn.silu(jnp.sum(w * self.conv_weight[...], axis=-2) + self.conv_bias[...])

    def _gate_out(self, y: jax.Array, z: jax.Array) -> jax.Array:
        return (y * jax.nn.silu(z)) @ self.out_proj[...]

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = check_step(self, x, state, self.state_shapes)
        u, z = jnp.split(x @ self.in_proj[...], 2, axis=-1)
        w = jnp.concatenate([state["conv"], u[..., None, :]], axis=-2)
        y, h = self.mamba.step(self._conv(w), state["h"])
        return self._gate_out(y, z), {"conv": w[..., 1:, :], "h": h}

    def parallel(self, x: jax.Array, *, return_states: bool = False):
        """All time steps at once from zero state (the SSM by ``jax.lax.associative_scan``).

        Args:
            x: input of shape ``(T, *batch, d_model)`` (time first).
            return_states: also return the state after every step, ``{"conv":
                (T, *batch, d_conv - 1, d_inner), "h": (T, *batch, d_inner, d_state)}``,
                like ``snnx.run(..., return_states=True)``.

        Returns:
            ``out`` of shape ``(T, *batch, d_model)``; with ``return_states``, ``(out, states)``.
        """
        x = check_sequence(x, self.d_model)
        steps, k = x.shape[0], self.d_conv
        u, z = jnp.split(x @ self.in_proj[...], 2, axis=-1)
        padded = jnp.concatenate([jnp.zeros((k - 1, *u.shape[1:]), u.dtype), u], axis=0)
        w = jnp.stack([padded[i : i + steps] for i in range(k)], axis=-2)  # (T, *batch, K, d_inner)
        y, core = self.mamba.parallel(self._conv(w), return_states=True)
        out = self._gate_out(y, z)
        return (out, {"conv": w[..., 1:, :], "h": core["h"]}) if return_states else out
