"""Fixed-point membranes: the grid a neuron's state is rounded to (the ``state_quant`` option).

Spiking hardware stores a membrane as a small integer ``k`` and reads it as
``k * step``. :class:`FixedPoint` is that grid: ``2**bits`` levels spaced
``step`` apart, anchored at zero, spanning ``[lo, hi]`` up to half a step::

    step = (hi - lo) / (2**bits - 1)
    kmin = round(lo / step),  kmax = kmin + 2**bits - 1
    Q(v) = step * clip(round(v / step), kmin, kmax)

Zero is always a level (``lo <= 0 <= hi`` is required: membranes start and
reset at 0), so ``Q(0) = 0`` exactly and a reset-to-zero stays on the grid.
The leaky neurons take one as ``state_quant=`` and round their membrane with it
after every step's input (:mod:`snnx.neurons._leaky`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from snnx import _checks

_FIELDS = ("bits", "lo", "hi")


def _real(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise _checks.ArgumentTypeError(
            f"`{name}` of FixedPoint must be a real number, got {type(value).__name__} {value!r}"
        )
    if not math.isfinite(value):
        raise _checks.OptionError(f"`{name}` of FixedPoint must be finite, got {value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class FixedPoint:
    """A fixed-point grid of ``2**bits`` levels anchored at zero, for membranes (hashable).

    The levels are ``k * step`` for the integers ``k`` in ``[kmin, kmax]``::

        step = (hi - lo) / (2**bits - 1)
        kmin = round(lo / step),  kmax = kmin + 2**bits - 1

    ``k`` is what hardware stores (:meth:`to_int`); the representable range
    (:attr:`range`) is ``[kmin * step, kmax * step]``, within half a step of
    ``[lo, hi]``. Calling the grid rounds to it::

        Q(v) = step * clip(round(v / step), kmin, kmax)

    ``round`` is ``jnp.round``: halves go to the even integer (``Q(step / 2) = 0``,
    ``Q(3 * step / 2) = 2 * step``). A floating ``v`` keeps its dtype (in float16
    or bfloat16 the levels themselves are rounded to that dtype).

    Backward, ``Q`` is the identity (straight-through), also outside the range:
    the rounding's true derivative is zero almost everywhere, and zeroing the
    gradient where ``v`` is clipped would leave a saturated membrane with no
    signal to move back; the gradient is that of the float neuron evaluated on
    the rounded values.

    Args:
        bits: bits per stored value, an int in [2, 16].
        lo: the lowest value to represent (finite, at most 0).
        hi: the highest value to represent (finite, at least 0, above ``lo``).

    Example:
        >>> q = FixedPoint(bits=4, lo=-1.0, hi=2.0)    # step 0.2, k in [-5, 10]
        >>> q(jnp.array([0.29, 0.31, 0.5, 7.0]))       # 0.5 / 0.2 = 2.5 -> 2 (half to even)
        Array([0.2, 0.4, 0.4, 2. ], dtype=float32)
        >>> q.to_int(jnp.array([0.29, 7.0]))
        Array([ 1, 10], dtype=int32)
        >>> lif = snnx.neurons.LIF(128, beta=0.9, state_quant=q)
    """

    bits: int
    lo: float
    hi: float

    def __post_init__(self) -> None:
        bits = self.bits
        if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
            raise _checks.ArgumentTypeError(
                f"`bits` of FixedPoint must be an int in [2, 16], got {type(bits).__name__} {bits!r}"
            )
        if not 2 <= bits <= 16:
            raise _checks.OptionError(f"`bits` of FixedPoint must be an int in [2, 16], got {bits!r}")
        lo, hi = _real("lo", self.lo), _real("hi", self.hi)
        if not lo < hi:
            raise _checks.OptionError(f"`lo` of FixedPoint must be below `hi`, got lo={lo!r}, hi={hi!r}")
        if not lo <= 0.0 <= hi:
            raise _checks.OptionError(
                f"the range [`lo`, `hi`] of FixedPoint must contain 0 (membranes start and reset at 0), "
                f"got [{lo!r}, {hi!r}]"
            )
        object.__setattr__(self, "bits", int(bits))
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    # -- the grid -----------------------------------------------------------------------------

    @property
    def step(self) -> float:
        """The spacing of the levels, ``(hi - lo) / (2**bits - 1)``."""
        return (self.hi - self.lo) / (2**self.bits - 1)

    @property
    def kmin(self) -> int:
        """The lowest integer code, ``round(lo / step)`` (half to even)."""
        return round(self.lo / self.step)

    @property
    def kmax(self) -> int:
        """The highest integer code, ``kmin + 2**bits - 1``."""
        return self.kmin + 2**self.bits - 1

    @property
    def range(self) -> tuple[float, float]:
        """The lowest and highest representable values, ``(kmin * step, kmax * step)``."""
        return self.kmin * self.step, self.kmax * self.step

    @property
    def levels(self) -> np.ndarray:
        """Every representable value, ascending (``2**bits`` of them, float64)."""
        return np.arange(self.kmin, self.kmax + 1, dtype=np.float64) * self.step

    def to_int(self, v: jax.Array) -> jax.Array:
        """The integer codes ``clip(round(v / step), kmin, kmax)`` of ``v`` (int32, no gradient)."""
        v = _floating("v", v)
        return jnp.clip(jnp.round(v / self.step), self.kmin, self.kmax).astype(jnp.int32)

    def __call__(self, v: jax.Array) -> jax.Array:
        """``Q(v)``: ``v`` rounded to the nearest level (half to even) and clipped to :attr:`range`."""
        return _quantise(self, _floating("v", v))

    # -- plain data (NIR metadata, configs) ---------------------------------------------------

    def as_dict(self) -> dict:
        """``{"bits": int, "lo": float, "hi": float}``, plain Python numbers."""
        return {"bits": self.bits, "lo": self.lo, "hi": self.hi}

    describe = as_dict

    @classmethod
    def from_dict(cls, d: Mapping) -> FixedPoint:
        """The grid :meth:`as_dict` describes (exactly the keys ``bits``, ``lo``, ``hi``)."""
        if not isinstance(d, Mapping):
            raise _checks.ArgumentTypeError(
                f"`d` must be a mapping with keys {list(_FIELDS)}, got {type(d).__name__}"
            )
        if set(d) != set(_FIELDS):
            raise _checks.OptionError(f"`d` must have exactly the keys {list(_FIELDS)}, got {sorted(d)}")
        return cls(bits=d["bits"], lo=d["lo"], hi=d["hi"])


def _floating(name: str, v) -> jax.Array:
    """``v`` as an array: floating dtypes kept, integers and bools as float32 (complex refused)."""
    try:
        arr = None if isinstance(v, (str, bytes)) else jnp.asarray(v)
    except (TypeError, ValueError):
        arr = None
    if arr is None or not any(jnp.issubdtype(arr.dtype, t) for t in (jnp.floating, jnp.integer, jnp.bool_)):
        got = type(v).__name__ if arr is None else f"an array of dtype {arr.dtype}"
        raise _checks.ArgumentTypeError(f"`{name}` must be a real numeric array, got {got}")
    return arr if jnp.issubdtype(arr.dtype, jnp.floating) else arr.astype(jnp.float32)


def _grid_value(q: FixedPoint, v: jax.Array) -> jax.Array:
    step = jnp.asarray(q.step, v.dtype)
    return step * jnp.clip(jnp.round(v / step), q.kmin, q.kmax)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _quantise(q: FixedPoint, v: jax.Array) -> jax.Array:
    return _grid_value(q, v)


@_quantise.defjvp
def _quantise_jvp(q, primals, tangents):
    (v,), (t,) = primals, tangents
    return _grid_value(q, v), t


def check_option(state_quant, threshold=None) -> FixedPoint | None:
    """Validate a neuron's ``state_quant`` (``None`` or a :class:`FixedPoint`); returns it.

    With a concrete ``threshold`` (a spiking neuron), every unit's ``Q(threshold)``
    must lie below the top level: the membrane is clipped there, so a unit whose
    threshold rounds to it (or above) could never fire.
    """
    if state_quant is None:
        return None
    if not isinstance(state_quant, FixedPoint):
        raise _checks.ArgumentTypeError(
            f"`state_quant` must be None or a snnx.neurons.FixedPoint(bits, lo, hi), "
            f"got {type(state_quant).__name__}"
        )
    if threshold is not None and not isinstance(threshold, jax.core.Tracer):
        th = np.asarray(threshold, np.float64)
        k = np.clip(np.round(th / state_quant.step), state_quant.kmin, state_quant.kmax)
        if np.any(k >= state_quant.kmax):
            top = state_quant.range[1]
            raise _checks.OptionError(
                f"`threshold` (max {float(th.max()):.6g}) must round below the top level {top:.6g} of "
                f"`state_quant` {state_quant}: the membrane is clipped there and could never exceed "
                f"it; raise `hi`"
            )
    return state_quant
