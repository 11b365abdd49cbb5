"""Surrogate gradients: a Heaviside step forward, a smooth derivative backward.

Every spiking neuron emits ``spike(v - threshold)``. The forward value is the
Heaviside step ``H(x) = 1 if x > 0 else 0`` (strict: ``H(0) = 0``). Its true
derivative is zero almost everywhere, so the backward pass replaces it with the
derivative of a smooth step ``f`` named in each factory's docstring:

    forward:  y = H(x)
    backward: dy/dx := f'(x)

A surrogate is a small frozen dataclass, so it is hashable, prints readably and
can live as a static attribute of an ``nnx.Module``.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from snnx import surrogate
    >>> s = surrogate.arctan(k=2.0)
    >>> s(jnp.array([-1.0, 0.0, 0.5]))
    Array([0., 0., 1.], dtype=float32)
    >>> float(jax.grad(s)(0.0))
    1.0

References:
    Neftci, Mostafa, Zenke (2019), "Surrogate gradient learning in spiking
    neural networks", IEEE Signal Processing Magazine.
    Zenke, Ganguli (2018), "SuperSpike", Neural Computation.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

__all__ = [
    "Surrogate",
    "arctan",
    "boxcar",
    "custom",
    "fast_sigmoid",
    "get",
    "heaviside",
    "sigmoid",
    "straight_through",
    "superspike",
    "tanh",
    "triangular",
]


def heaviside(x: jax.Array) -> jax.Array:
    """The forward spike function ``H(x) = (x > 0)`` in the dtype of ``x`` (no gradient)."""
    try:
        x = jnp.asarray(x)
    except TypeError:
        raise TypeError(f"`x` must be a numeric array, got {type(x).__name__} {x!r:.40}") from None
    return (x > 0).astype(x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _spike(derivative: Callable[[jax.Array], jax.Array], x: jax.Array) -> jax.Array:
    return heaviside(x)


@_spike.defjvp
def _spike_jvp(derivative, primals, tangents):
    (x,), (t,) = primals, tangents
    return _spike(derivative, x), derivative(x).astype(x.dtype) * t


@dataclasses.dataclass(frozen=True)
class Surrogate:
    """A spike function: Heaviside forward, ``derivative(x)`` backward.

    Args:
        name: a label used in ``repr`` and error messages.
        derivative: ``x -> f'(x)``, elementwise, the backward pass.
        params: the hyper-parameters, kept for ``repr`` and equality.
    """

    name: str
    derivative: Callable[[jax.Array], jax.Array] = dataclasses.field(compare=False, repr=False)
    params: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"`name` must be a str, got {type(self.name).__name__} {self.name!r}")
        if not callable(self.derivative):
            raise TypeError(
                f"`derivative` must be a callable x -> f'(x), got {type(self.derivative).__name__}"
            )

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.float32)
        return _spike(self.derivative, x)

    def __hash__(self) -> int:
        return hash((self.name, self.params))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params)
        return f"{self.name}({args})"


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ValueError(f"`{name}` must be a positive number (finite), got {value!r}")
    return float(value)


def fast_sigmoid(k: float = 25.0) -> Surrogate:
    """SuperSpike / fast sigmoid: ``f(x) = x / (1 + k|x|)``, ``f'(x) = 1 / (1 + k|x|)**2``.

    Args:
        k: slope; larger ``k`` concentrates the gradient near the threshold.
    """
    k = _positive("k", k)
    return Surrogate("fast_sigmoid", lambda x: 1.0 / (1.0 + k * jnp.abs(x)) ** 2, (("k", k),))


def superspike(k: float = 25.0) -> Surrogate:
    """Alias of :func:`fast_sigmoid` (Zenke & Ganguli 2018): ``f'(x) = 1/(1 + k|x|)**2``."""
    s = fast_sigmoid(k)
    return dataclasses.replace(s, name="superspike")


def arctan(k: float = 2.0) -> Surrogate:
    """Arctangent: ``f(x) = arctan(pi k x / 2) / pi + 1/2``, ``f'(x) = (k/2) / (1 + (pi k x / 2)**2)``.

    Args:
        k: slope; ``f'(0) = k / 2``.
    """
    k = _positive("k", k)
    c = math.pi * k / 2.0
    return Surrogate("arctan", lambda x: (k / 2.0) / (1.0 + (c * x) ** 2), (("k", k),))


def sigmoid(k: float = 5.0) -> Surrogate:
    """Logistic: ``f(x) = 1 / (1 + exp(-k x))``, ``f'(x) = k s (1 - s)`` with ``s = f(x)``.

    Args:
        k: slope; ``f'(0) = k / 4``.
    """
    k = _positive("k", k)

    def derivative(x):
        return k * jax.nn.sigmoid(k * x) * jax.nn.sigmoid(-k * x)

    return Surrogate("sigmoid", derivative, (("k", k),))


def tanh(k: float = 2.0) -> Surrogate:
    """Hyperbolic tangent: ``f(x) = (1 + tanh(k x)) / 2``, ``f'(x) = (k/2) / cosh(k x)**2``.

    Args:
        k: slope; ``f'(0) = k / 2``.
    """
    k = _positive("k", k)
    return Surrogate("tanh", lambda x: (k / 2.0) / jnp.cosh(k * x) ** 2, (("k", k),))


def triangular(k: float = 1.0) -> Surrogate:
    """Triangle: ``f'(x) = max(0, 1 - k|x|)`` (support ``|x| < 1/k``).

    ``f`` is the C¹ ramp ``f(x) = x - k x|x|/2`` on ``|x| < 1/k``, constant outside.

    Args:
        k: inverse half-width; ``f'(0) = 1``.
    """
    k = _positive("k", k)
    return Surrogate(
        "triangular", lambda x: jnp.maximum(0.0, 1.0 - k * jnp.abs(x)), (("k", k),)
    )


def boxcar(width: float = 1.0, height: float = 1.0) -> Surrogate:
    """Rectangle: ``f'(x) = height`` where ``|x| <= width/2``, else 0.

    ``f`` is the clipped ramp ``f(x) = height * clip(x + width/2, 0, width)``.

    Args:
        width: width of the window around the threshold.
        height: value of the gradient inside the window.
    """
    width = _positive("width", width)
    height = _positive("height", height)
    half = width / 2.0
    return Surrogate(
        "boxcar",
        lambda x: jnp.where(jnp.abs(x) <= half, height, 0.0),
        (("width", width), ("height", height)),
    )


def straight_through() -> Surrogate:
    """Straight-through estimator: ``f(x) = x``, ``f'(x) = 1`` everywhere."""
    return Surrogate("straight_through", lambda x: jnp.ones_like(x))


def custom(fn: Callable[[jax.Array], jax.Array], name: str = "custom") -> Surrogate:
    """A surrogate from any smooth step ``fn``: the backward pass is ``fn'(x)``.

    The derivative is obtained with ``jax.jvp`` elementwise, so ``fn`` must be an
    elementwise JAX function of one array.

    Args:
        fn: the smooth function whose derivative is used backward.
        name: label for ``repr``.

    Example:
        >>> s = custom(lambda x: jax.nn.sigmoid(4.0 * x))
    """
    if not callable(fn):
        raise TypeError(f"`fn` must be a callable x -> f(x), got {type(fn).__name__}")

    def derivative(x):
        return jax.jvp(fn, (x,), (jnp.ones_like(x),))[1]

    return Surrogate(name, derivative, (("fn", getattr(fn, "__name__", "fn")),))


_FACTORIES: dict[str, Callable[..., Surrogate]] = {
    "fast_sigmoid": fast_sigmoid,
    "superspike": superspike,
    "arctan": arctan,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "triangular": triangular,
    "boxcar": boxcar,
    "straight_through": straight_through,
}


def get(spec: str | Surrogate | None) -> Surrogate:
    """Resolve ``spec`` to a :class:`Surrogate`.

    Args:
        spec: a ``Surrogate``, ``None`` (the default ``fast_sigmoid(25)``), or the
            name of a factory in this module (called with its defaults).
    """
    if spec is None:
        return fast_sigmoid()
    if isinstance(spec, Surrogate):
        return spec
    if isinstance(spec, str):
        if spec not in _FACTORIES:
            raise ValueError(
                f"`surrogate` must be one of {sorted(_FACTORIES)} or a snnx.surrogate.Surrogate, "
                f"got {spec!r}"
            )
        return _FACTORIES[spec]()
    raise TypeError(
        f"`surrogate` must be a name or a snnx.surrogate.Surrogate, got {type(spec).__name__}"
    )
