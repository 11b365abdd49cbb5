"""S5: a diagonal state-space layer from the HiPPO-N diagonalisation, discretised by ZOH."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from snnx import _checks
from snnx.ssm._scan import (
    DiagonalSSM,
    check_bool,
    check_rngs,
    lecun_from,
    normal_from,
    open_uniform,
    real_number,
)

_SMALL = 1e-4  # |Lambda * Delta| below which (exp(z) - 1) / z is its Taylor series


def hippo_n_diagonal(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and eigenvectors of the normal part of HiPPO-LegS (HiPPO-N), in float64 numpy.

    HiPPO-LegS is ``A[i, k] = -sqrt(2i+1) sqrt(2k+1)`` below the diagonal,
    ``-(i+1)`` on it and 0 above. Adding ``P P^T`` with ``P[i] = sqrt(i + 1/2)``
    leaves ``S = -1/2 I + K`` with ``K`` skew-symmetric (HiPPO-N), so ``S =
    V diag(Lambda) V^H`` with ``Lambda = -1/2 + 1j * omega`` and unitary ``V``,
    where ``omega, V = eigh(-1j * K)``.

    Returns:
        ``(Lambda, V)``: complex arrays of shapes ``(n,)`` and ``(n, n)``.
    """
    q = np.sqrt(2.0 * np.arange(n) + 1.0)
    a = -np.tril(np.outer(q, q), -1) - np.diag(np.arange(n) + 1.0)
    p = np.sqrt(np.arange(n) + 0.5)
    s = a + np.outer(p, p)
    k = s - np.diag(np.diag(s))  # the skew-symmetric part; diag(s) is -1/2 everywhere
    omega, v = np.linalg.eigh(-1j * k)
    return np.mean(np.diag(s)) + 1j * omega, v


@functools.partial(jax.jit, static_argnums=(1, 2))
def _init(key: jax.Array, n: int, d: int, v: jax.Array, log_dt_min, log_dt_max) -> dict[str, jax.Array]:
    """``B = V^H B0``, ``C = C0 V``, ``log_step`` and ``D``, all from one uniform draw (one program)."""
    u = open_uniform(key, 3 * n * d + n + d)
    b0 = lecun_from(u[: n * d], n).reshape(n, d)
    c0 = lecun_from(u[n * d : 3 * n * d], n).reshape(d, n, 2)
    b = v.conj().T @ b0.astype(v.dtype)
    c = jax.lax.complex(c0[..., 0], c0[..., 1]) @ v
    return {
        "log_step": log_dt_min + (log_dt_max - log_dt_min) * u[3 * n * d : 3 * n * d + n],
        "B_re": b.real, "B_im": b.imag, "C_re": c.real, "C_im": c.imag,
        "D": normal_from(u[3 * n * d + n :]),
    }


def _zoh_factor(z: jax.Array) -> jax.Array:
    """``(exp(z) - 1) / z``, with its Taylor series near ``z = 0`` (gradients stay finite there)."""
    small = jnp.abs(z) < _SMALL
    safe = jnp.where(small, jnp.ones_like(z), z)
    return jnp.where(small, 1.0 + z / 2 + z * z / 6, jnp.expm1(safe) / safe)


class S5(DiagonalSSM):
    r"""S5: a diagonal complex state-space layer, HiPPO-N initialised, ZOH-discretised, learnt step.

    Continuous system ``h' = Lambda h + B x``, ``y = Re(C h) + D x`` with
    diagonal ``Lambda``, discretised exactly (zero-order hold) with a learnt
    per-state step ``Delta``. Discrete update, per step ``t`` (``x`` of shape
    ``(*batch, d_model)``, ``h`` complex of shape ``(*batch, d_state)``)::

        Lambda    = -exp(lambda_re_log) + 1j * lambda_im       # real part < 0 always
        Delta     = exp(log_step)
        lam_bar   = exp(Lambda * Delta)                        # |lam_bar| < 1
        B_bar     = (lam_bar - 1) / Lambda * B                 # = Delta * B as Lambda -> 0
        h = lam_bar * h + B_bar @ x                            # B = B_re + 1j * B_im
        y = Re(C @ h) + D * x                                  # C = C_re + 1j * C_im; D only with use_skip

    ``(lam_bar - 1) / Lambda`` is computed as ``Delta * expm1(z) / z`` with ``z =
    Lambda * Delta``, and as ``Delta * (1 + z/2 + z^2/6)`` where ``|z| < 1e-4``.

    Initialisation (Smith, Warrington, Linderman 2023, section 4.3 and their
    code): ``Lambda`` is the spectrum of HiPPO-N (the normal part of HiPPO-LegS,
    eigen-decomposed in numpy at init by ``hippo_n_diagonal``), so every
    real part starts at -1/2 and ``lambda_re_log = log(1/2)``; with ``V`` its
    eigenvectors, ``B = V^H B0`` for a real ``B0`` of shape ``(d_state, d_model)``
    and ``C = C0 V`` for a complex ``C0`` of shape ``(d_model, d_state)``, every
    real number of ``B0`` and ``C0`` LeCun normal (a standard normal truncated to
    [-2, 2], rescaled to variance ``1 / d_state``); ``D ~ N(0, 1)``;
    ``log_step`` uniform in ``[log dt_min, log dt_max]``. One block of size
    ``d_state`` and no conjugate-pair halving (the paper's options ``J = 1`` and
    full complex state). All are ``nnx.Param`` (real arrays).

    :meth:`parallel` computes a whole sequence with ``jax.lax.associative_scan``
    (O(log T) depth) and agrees with stepping.

    Output: ``y`` (real, ``(*batch, d_model)``). State: ``{"h"}`` (complex64,
    ``(*batch, d_state)``).

    NIR: none; NIR has no node for a complex diagonal recurrence with a learnt
    step, so ``to_nir`` refuses it.

    Args:
        d_model: number of input and output features.
        d_state: number of complex state units (the HiPPO-N size).
        dt_min: smallest initial step ``Delta``; ``0 < dt_min <= dt_max``.
        dt_max: largest initial step ``Delta``.
        use_skip: add the learnt skip ``D * x`` to the output.
        rngs: ``nnx.Rngs`` for the initial parameters (its ``params`` stream).

    Example:
        >>> s5 = S5(4, 16, rngs=nnx.Rngs(0))
        >>> y, state = s5(jnp.ones((2, 4)), s5.init_state(2))   # one step
        >>> ys = s5.parallel(jnp.ones((10, 2, 4)))              # (T, B, d_model)

    References:
        Smith, Warrington, Linderman (2023), "Simplified State Space Layers for
        Sequence Modeling", ICLR. Gu, Dao, Ermon, Rudra, Re (2020), "HiPPO:
        Recurrent Memory with Optimal Polynomial Projections", NeurIPS.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        *,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        use_skip: bool = True,
        rngs: nnx.Rngs,
    ):
        self._set_width(d_model)
        self.d_state = _checks.positive_int("d_state", d_state)
        dt_min, dt_max = real_number("dt_min", dt_min), real_number("dt_max", dt_max)
        if dt_min <= 0:
            raise _checks.OptionError(f"`dt_min` must be positive (0 < dt_min <= dt_max), got {dt_min!r}")
        if dt_max < dt_min:
            raise _checks.OptionError(
                f"`dt_max` must be >= `dt_min` (0 < dt_min <= dt_max), got dt_min={dt_min!r}, "
                f"dt_max={dt_max!r}"
            )
        self.use_skip = check_bool("use_skip", use_skip)
        check_rngs(rngs)
        lam, v = hippo_n_diagonal(self.d_state)
        p = _init(rngs.params(), self.d_state, self.d_model, jnp.asarray(v, jnp.complex64),
                  math.log(dt_min), math.log(dt_max))
        self.lambda_re_log = nnx.Param(jnp.asarray(np.log(-lam.real), jnp.float32))
        self.lambda_im = nnx.Param(jnp.asarray(lam.imag, jnp.float32))
        for name in ("log_step", "B_re", "B_im", "C_re", "C_im"):
            setattr(self, name, nnx.Param(p[name]))
        if self.use_skip:
            self.D = nnx.Param(p["D"])

    def discrete(self) -> tuple[jax.Array, jax.Array]:
        """``(lam_bar, B_bar)`` by ZOH: complex, of shapes ``(d_state,)`` and ``(d_state, d_model)``."""
        lam = jax.lax.complex(-jnp.exp(self.lambda_re_log[...]), self.lambda_im[...])
        step = jnp.exp(self.log_step[...])
        z = lam * step
        b = jax.lax.complex(self.B_re[...], self.B_im[...])
        return jnp.exp(z), (step * _zoh_factor(z))[:, None] * b
