"""Surrogate gradients: a Heaviside step forward, a smooth derivative backward.

Every spiking neuron emits ``spike(v - threshold)``. The forward value is the
Heaviside step ``H(x) = 1 if x > 0 else 0`` (strict: ``H(0) = 0``). Its true
derivative is zero almost everywhere, so the backward pass replaces it with the
derivative of a smooth step ``f`` named in each factory's docstring:

    forward:  y = H(x)
    backward: dy/dx := f'(x)

A surrogate is a small frozen dataclass, so it is hashable, prints readably and
can live as a static attribute of an ``nnx.Module``. Its identity is its name, its
hyper-parameters *and its derivative*: ``jit`` reuses compiled code between equal
surrogates, so two surrogates are equal only when their backward passes are. The
factories build the derivative as a hashable pairing of a module-level function with
the hyper-parameters (``fast_sigmoid(25) == fast_sigmoid(25)``); :func:`custom`
pairs it with the user's function itself, compared by identity.

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

from snnx import _checks

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
class _Bound:
    """``x -> fn(x, **params)``: a derivative equal to another when ``fn`` and ``params`` are."""

    fn: Callable[..., jax.Array]
    params: tuple[tuple[str, object], ...] = ()

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.fn(x, **dict(self.params))

    def __repr__(self) -> str:  # a function shows as its name, not its address
        args = ", ".join(f"{k}={getattr(v, '__name__', v)!r}" for k, v in self.params)
        return f"{self.fn.__name__}({args})"


@dataclasses.dataclass(frozen=True)
class Surrogate:
    """A spike function: Heaviside forward, ``derivative(x)`` backward.

    Two surrogates are equal (and hash equal) when their name, derivative and
    params are: a plain function as ``derivative`` is compared by identity.

    Args:
        name: a label used in ``repr`` and error messages.
        derivative: ``x -> f'(x)``, elementwise, the backward pass; hashable.
        params: the hyper-parameters, kept for ``repr`` and equality.
    """

    name: str
    derivative: Callable[[jax.Array], jax.Array] = dataclasses.field(repr=False)
    params: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"`name` must be a str, got {type(self.name).__name__} {self.name!r}")
        _checks.instance_of("derivative", self.derivative, Callable, "a callable x -> f'(x)")
        try:
            hash(self.derivative)
        except TypeError:
            raise _checks.ArgumentTypeError(
                f"`derivative` must be hashable (it is part of the surrogate's identity), "
                f"got an unhashable {type(self.derivative).__name__}"
            ) from None

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.float32)
        return _spike(self.derivative, x)

    def __hash__(self) -> int:
        return hash((self.name, self.derivative, self.params))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params)
        return f"{self.name}({args})"


# The derivatives, one module-level function each (bound to their hyper-parameters by _Bound).


def _fast_sigmoid(x, k):
    return 1.0 / (1.0 + k * jnp.abs(x)) ** 2


def _arctan(x, k):
    return (k / 2.0) / (1.0 + (math.pi * k / 2.0 * x) ** 2)


def _sigmoid(x, k):
    return k * jax.nn.sigmoid(k * x) * jax.nn.sigmoid(-k * x)


def _tanh(x, k):
    return (k / 2.0) / jnp.cosh(k * x) ** 2


def _triangular(x, k):
    return jnp.maximum(0.0, 1.0 - k * jnp.abs(x))


def _boxcar(x, width, height):
    return jnp.where(jnp.abs(x) <= width / 2.0, height, 0.0)


def _ones(x):
    return jnp.ones_like(x)


def _derivative_of(x, fn):
    return jax.jvp(fn, (x,), (jnp.ones_like(x),))[1]


def _surrogate(name: str, fn: Callable[..., jax.Array], **params: float) -> Surrogate:
    bound = tuple(params.items())
    return Surrogate(name, _Bound(fn, bound), bound)


def fast_sigmoid(k: float = 25.0) -> Surrogate:
    """SuperSpike / fast sigmoid: ``f(x) = x / (1 + k|x|)``, ``f'(x) = 1 / (1 + k|x|)**2``.

    Args:
        k: slope; larger ``k`` concentrates the gradient near the threshold.
    """
    k = _checks.positive_number("k", k)
    return _surrogate("fast_sigmoid", _fast_sigmoid, k=k)


def superspike(k: float = 25.0) -> Surrogate:
    """Alias of :func:`fast_sigmoid` (Zenke & Ganguli 2018): ``f'(x) = 1/(1 + k|x|)**2``."""
    s = fast_sigmoid(k)
    return dataclasses.replace(s, name="superspike")


def arctan(k: float = 2.0) -> Surrogate:
    """Arctangent: ``f(x) = arctan(pi k x / 2) / pi + 1/2``, ``f'(x) = (k/2) / (1 + (pi k x / 2)**2)``.

    Args:
        k: slope; ``f'(0) = k / 2``.
    """
    return _surrogate("arctan", _arctan, k=_checks.positive_number("k", k))


def sigmoid(k: float = 5.0) -> Surrogate:
    """Logistic: ``f(x) = 1 / (1 + exp(-k x))``, ``f'(x) = k s (1 - s)`` with ``s = f(x)``.

    Args:
        k: slope; ``f'(0) = k / 4``.
    """
    return _surrogate("sigmoid", _sigmoid, k=_checks.positive_number("k", k))


def tanh(k: float = 2.0) -> Surrogate:
    """Hyperbolic tangent: ``f(x) = (1 + tanh(k x)) / 2``, ``f'(x) = (k/2) / cosh(k x)**2``.

    Args:
        k: slope; ``f'(0) = k / 2``.
    """
    return _surrogate("tanh", _tanh, k=_checks.positive_number("k", k))


def triangular(k: float = 1.0) -> Surrogate:
    """Triangle: ``f'(x) = max(0, 1 - k|x|)`` (support ``|x| < 1/k``).

    ``f`` is the C¹ ramp ``f(x) = x - k x|x|/2`` on ``|x| < 1/k``, constant outside.

    Args:
        k: inverse half-width; ``f'(0) = 1``.
    """
    return _surrogate("triangular", _triangular, k=_checks.positive_number("k", k))


def boxcar(width: float = 1.0, height: float = 1.0) -> Surrogate:
    """Rectangle: ``f'(x) = height`` where ``|x| <= width/2``, else 0.

    ``f`` is the clipped ramp ``f(x) = height * clip(x + width/2, 0, width)``.

    Args:
        width: width of the window around the threshold.
        height: value of the gradient inside the window.
    """
    width = _checks.positive_number("width", width)
    height = _checks.positive_number("height", height)
    return _surrogate("boxcar", _boxcar, width=width, height=height)


def straight_through() -> Surrogate:
    """Straight-through estimator: ``f(x) = x``, ``f'(x) = 1`` everywhere."""
    return _surrogate("straight_through", _ones)


def custom(fn: Callable[[jax.Array], jax.Array], name: str = "custom") -> Surrogate:
    """A surrogate from any smooth step ``fn``: the backward pass is ``fn'(x)``.

    The derivative is obtained with ``jax.jvp`` elementwise, so ``fn`` must be an
    elementwise JAX function of one array. ``fn`` itself (compared by identity) is
    part of the surrogate's identity: ``custom(f) == custom(f)``, but two different
    functions, even two lambdas with the same body, give unequal surrogates.

    Args:
        fn: the smooth function whose derivative is used backward.
        name: label for ``repr``.

    Example:
        >>> s = custom(lambda x: jax.nn.sigmoid(4.0 * x))
    """
    _checks.instance_of("fn", fn, Callable, "a callable x -> f(x)")

    return Surrogate(
        name, _Bound(_derivative_of, (("fn", fn),)), (("fn", getattr(fn, "__name__", "fn")),)
    )


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
