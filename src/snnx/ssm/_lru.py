"""Linear recurrent unit: a stable complex diagonal recurrence with γ-normalised input."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from flax import nnx

from snnx import _checks
from snnx.ssm._scan import DiagonalSSM, check_bool, check_rngs, normal_from, open_uniform, real_number


def _ring(r_min, r_max) -> tuple[float, float]:
    r_min, r_max = real_number("r_min", r_min), real_number("r_max", r_max)
    rule = "0 <= r_min < r_max < 1"
    if r_max >= 1:
        raise _checks.OptionError(
            f"`r_max` must be below 1 ({rule}): a diagonal recurrence with |lambda| >= 1 is unstable, "
            f"got r_max={r_max!r}"
        )
    if r_min < 0:
        raise _checks.OptionError(f"`r_min` must be >= 0 ({rule}), got r_min={r_min!r}")
    if r_min >= r_max:
        raise _checks.OptionError(
            f"`r_min` must be below `r_max` ({rule}), got r_min={r_min!r}, r_max={r_max!r}"
        )
    return r_min, r_max


@functools.partial(jax.jit, static_argnums=(1, 2))
def _init(key: jax.Array, n: int, d: int, r_min, r_max, max_phase) -> dict[str, jax.Array]:
    """The paper's initial parameters, all from one uniform draw, in one compiled program."""
    u = open_uniform(key, 2 * n + 4 * n * d + d)
    u1, u2 = 1.0 - u[:n], 1.0 - u[n : 2 * n]  # in [0, 1) -> (0, 1]: no log(0)
    z = normal_from(u[2 * n :])
    b_re, b_im, c_re, c_im = (z[i * n * d : (i + 1) * n * d] for i in range(4))
    r2 = u1 * (r_max**2 - r_min**2) + r_min**2  # |lam|^2, uniform on (r_min^2, r_max^2]
    return {
        "nu_log": jnp.log(-0.5 * jnp.log(r2)),
        "theta_log": jnp.log(max_phase * u2),
        "gamma_log": 0.5 * jnp.log1p(-r2),  # log sqrt(1 - |lam|^2)
        "B_re": b_re.reshape(n, d) / math.sqrt(2 * d),
        "B_im": b_im.reshape(n, d) / math.sqrt(2 * d),
        "C_re": c_re.reshape(d, n) / math.sqrt(n),
        "C_im": c_im.reshape(d, n) / math.sqrt(n),
        "D": z[4 * n * d :],
    }


class LRU(DiagonalSSM):
    r"""Linear recurrent unit (LRU): a complex diagonal recurrence, stable by construction.

    Discrete update, per step ``t`` (``x`` of shape ``(*batch, d_model)``, ``h``
    complex of shape ``(*batch, d_state)``)::

        lam   = exp(-exp(nu_log) + 1j * exp(theta_log))    # |lam| = exp(-exp(nu_log)) < 1
        gamma = exp(gamma_log)
        B     = B_re + 1j * B_im;  C = C_re + 1j * C_im
        h = lam * h + gamma * (B @ x)
        y = Re(C @ h) + D * x                             # D * x only with use_skip

    ``gamma`` is learnt in log form, as in the paper, starting at
    ``sqrt(1 - |lam|^2)`` (so a white-noise input gives ``h`` of unit variance).

    Initialisation (Orvieto et al. 2023, section 3 and appendix A): ``|lam|`` is
    uniform on the ring ``r_min <= |lam| <= r_max`` (``|lam|^2`` uniform on
    ``[r_min^2, r_max^2]``), the phase ``exp(theta_log)`` uniform in ``(0,
    max_phase]``; ``B_re, B_im ~ N(0, 1 / (2 d_model))``; ``C_re, C_im ~ N(0, 1 /
    d_state)``; ``D ~ N(0, 1)``. All are ``nnx.Param`` (real arrays).

    :meth:`parallel` computes a whole sequence with ``jax.lax.associative_scan``
    (O(log T) depth) and agrees with stepping.

    Output: ``y`` (real, ``(*batch, d_model)``). State: ``{"h"}`` (complex64,
    ``(*batch, d_state)``).

    NIR: none; NIR has no node for a complex diagonal recurrence, so ``to_nir``
    refuses it.

    Args:
        d_model: number of input and output features.
        d_state: number of complex state units.
        r_min: smallest initial ``|lam|``; ``0 <= r_min < r_max``.
        r_max: largest initial ``|lam|``; below 1 (``|lam| >= 1`` is unstable).
        max_phase: largest initial phase of ``lam``, in ``(0, 2 pi]``.
        use_skip: add the learnt skip ``D * x`` to the output.
        rngs: ``nnx.Rngs`` for the initial parameters (its ``params`` stream).

    Example:
        >>> lru = LRU(4, 16, rngs=nnx.Rngs(0))
        >>> y, state = lru(jnp.ones((2, 4)), lru.init_state(2))   # one step
        >>> ys = lru.parallel(jnp.ones((10, 2, 4)))                # (T, B, d_model)

    References:
        Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu, De (2023),
        "Resurrecting Recurrent Neural Networks for Long Sequences", ICML.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        *,
        r_min: float = 0.0,
        r_max: float = 0.99,
        max_phase: float = 2 * math.pi,
        use_skip: bool = True,
        rngs: nnx.Rngs,
    ):
        self._set_width(d_model)
        self.d_state = _checks.positive_int("d_state", d_state)
        r_min, r_max = _ring(r_min, r_max)
        max_phase = real_number("max_phase", max_phase)
        if not 0 < max_phase <= 2 * math.pi:
            raise _checks.OptionError(f"`max_phase` must lie in (0, 2 pi], got {max_phase!r}")
        self.use_skip = check_bool("use_skip", use_skip)
        check_rngs(rngs)
        p = _init(rngs.params(), self.d_state, self.d_model, r_min, r_max, max_phase)
        for name in ("nu_log", "theta_log", "gamma_log", "B_re", "B_im", "C_re", "C_im"):
            setattr(self, name, nnx.Param(p[name]))
        if self.use_skip:
            self.D = nnx.Param(p["D"])

    def discrete(self) -> tuple[jax.Array, jax.Array]:
        """``(lam, gamma[:, None] * B)``: complex, of shapes ``(d_state,)`` and ``(d_state, d_model)``."""
        lam = jnp.exp(jax.lax.complex(-jnp.exp(self.nu_log[...]), jnp.exp(self.theta_log[...])))
        b = jax.lax.complex(self.B_re[...], self.B_im[...])
        return lam, jnp.exp(self.gamma_log[...])[:, None] * b
