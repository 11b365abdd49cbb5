"""Complex-valued phasor layers: ``PhasorLinear``, ``PhasorActivation``, ``PhasorReadout``, ``PhasorMLP``."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from snnx import _checks
from snnx.phasor._codes import real_to_phasor

INITS = ("glorot", "phase")


def _features(name: str, value) -> int:
    return _checks.positive_int(name, value, what="a positive int (a number of features)")


def _check_rngs(rngs) -> None:
    if not isinstance(rngs, nnx.Rngs):
        raise _checks.ArgumentTypeError(f"`rngs` must be an nnx.Rngs (it draws the weights), got {rngs!r}")


def _complex_input(x, in_features: int) -> jax.Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise _checks.ArgumentTypeError(
            f"`x` must be complex phasors (e.g. snnx.phasor.real_to_phasor(x)), got dtype {x.dtype}"
        )
    _checks.trailing_shape("x", x, (in_features,))
    return x.astype(jnp.complex64)


class PhasorLinear(nnx.Module):
    r"""Complex dense layer: ``y = x @ W + b`` with ``W = kernel_re + i * kernel_im``.

    The complex kernel ``W`` (``(in_features, out_features)``) and bias ``b``
    (``(out_features,)``) are stored as their real and imaginary parts, four
    float32 ``nnx.Param``\ s (``kernel_re``, ``kernel_im``, ``bias_re``,
    ``bias_im``), so ``jax.grad`` of a real loss and optax see real numbers
    only; the complex product exists only in the forward pass.

    Initialisation (the bias starts at 0):

    * ``init="glorot"`` (default): complex Glorot, ``Re W`` and ``Im W``
      independent ``N(0, 1 / (in + out))``, so ``E|W|^2 = 2 / (in + out)``,
      ``|W|`` Rayleigh and ``arg W`` uniform (Trabelsi et al. 2018).
    * ``init="phase"``: unit-modulus random phases scaled by fan-in,
      ``W = exp(i phi) / sqrt(in)`` with ``phi ~ U[-pi, pi)`` (the random phasor
      weights of Frady & Sommer 2019).

    A real ``x`` is an error: encode it first (:func:`snnx.phasor.real_to_phasor`).

    NIR: no complex-valued node; not exportable.

    Args:
        in_features: input size (an int >= 1).
        out_features: output size (an int >= 1).
        use_bias: add the complex bias ``b``.
        init: ``"glorot"`` or ``"phase"`` (see above).
        rngs: ``nnx.Rngs`` that draws the weights.

    Example:
        >>> layer = PhasorLinear(4, 3, rngs=nnx.Rngs(0))
        >>> y = layer(real_to_phasor(jnp.ones((2, 4))))   # complex64, (2, 3)

    References:
        Trabelsi et al. (2018), "Deep complex networks", ICLR;
        Frady & Sommer (2019), "Robust computation with rhythmic spike patterns", PNAS 116(36).
    """

    def __init__(
        self, in_features: int, out_features: int, use_bias: bool = True, *, init: str = "glorot",
        rngs: nnx.Rngs,
    ):
        self.in_features = _features("in_features", in_features)
        self.out_features = _features("out_features", out_features)
        _checks.one_of("init", init, INITS)
        _checks.instance_of("use_bias", use_bias, bool, "a bool")
        _check_rngs(rngs)
        shape = (self.in_features, self.out_features)
        k_re, k_im = jax.random.split(rngs.params())
        if init == "glorot":
            std = 1.0 / np.sqrt(self.in_features + self.out_features)
            re, im = std * jax.random.normal(k_re, shape), std * jax.random.normal(k_im, shape)
        else:
            phi = jax.random.uniform(k_re, shape, minval=-np.pi, maxval=np.pi)
            re, im = jnp.cos(phi) / np.sqrt(self.in_features), jnp.sin(phi) / np.sqrt(self.in_features)
        self.kernel_re = nnx.Param(re.astype(jnp.float32))
        self.kernel_im = nnx.Param(im.astype(jnp.float32))
        self.use_bias = use_bias
        if use_bias:
            self.bias_re = nnx.Param(jnp.zeros((self.out_features,), jnp.float32))
            self.bias_im = nnx.Param(jnp.zeros((self.out_features,), jnp.float32))

    @property
    def kernel(self) -> jax.Array:
        """The complex kernel ``kernel_re + i * kernel_im`` (complex64, ``(in_features, out_features)``)."""
        return jax.lax.complex(self.kernel_re[...], self.kernel_im[...])

    @property
    def bias(self) -> jax.Array:
        """The complex bias (complex64, ``(out_features,)``); zeros without ``use_bias``."""
        if not self.use_bias:
            return jnp.zeros((self.out_features,), jnp.complex64)
        return jax.lax.complex(self.bias_re[...], self.bias_im[...])

    def __call__(self, x: jax.Array) -> jax.Array:
        """``x @ W + b`` (complex64, ``(*batch, out_features)``) for complex ``x``, ``(*batch, in)``."""
        y = _complex_input(x, self.in_features) @ self.kernel
        return y + self.bias if self.use_bias else y


class PhasorActivation(nnx.Module):
    r"""Project onto the unit circle: ``y = z / max(|z|, eps)``.

    For ``|z| >= eps`` this is ``z / |z|`` (keep the phase, drop the magnitude:
    the phasor neuron's nonlinearity). Below ``eps`` it is the linear ramp
    ``z / eps``, so ``z = 0`` maps to 0 (no phase, like a silent unit), and the
    value and gradient are finite everywhere (computed as
    ``z / sqrt(max(Re(z)^2 + Im(z)^2, eps^2))``: no square root or division at 0).

    NIR: no complex-valued node; not exportable.

    Args:
        eps: magnitude below which the output shrinks linearly to 0 (a positive number).

    Example:
        >>> PhasorActivation()(jnp.array([3 + 4j, 0j]))   # [0.6 + 0.8j, 0]

    References:
        Noest (1988), "Discrete-state phasor neural networks", Physical Review A 38(4).
    """

    def __init__(self, eps: float = 1e-8):
        self.eps = _checks.positive_number("eps", eps)

    def __call__(self, z: jax.Array) -> jax.Array:
        """Unit phasors for complex ``z`` of any shape (complex, same shape)."""
        z = jnp.asarray(z)
        if not jnp.issubdtype(z.dtype, jnp.complexfloating):
            raise _checks.ArgumentTypeError(f"`z` must be complex (phasors), got dtype {z.dtype}")
        re, im = jnp.real(z), jnp.imag(z)
        size = jnp.sqrt(jnp.maximum(re * re + im * im, self.eps**2))
        return z / size.astype(z.dtype)


class PhasorReadout(nnx.Module):
    r"""Real logits from phasors: ``y = Re(z @ W) + b`` with complex ``W`` and real ``b``.

    ``W`` is a :class:`PhasorLinear` without bias (``self.linear``); the bias
    ``b`` (``(out_features,)``, ``nnx.Param``, zeros) is real because only the
    real part of a complex bias would reach the logits. Use it as the last layer
    of a classifier with any real loss.

    NIR: no complex-valued node; not exportable.

    Args:
        in_features: number of input phasors (an int >= 1).
        out_features: number of logits (an int >= 1).
        use_bias: add the real bias ``b``.
        init: the :class:`PhasorLinear` initialisation of ``W``.
        rngs: ``nnx.Rngs`` that draws ``W``.

    Example:
        >>> readout = PhasorReadout(8, 3, rngs=nnx.Rngs(0))
        >>> logits = readout(real_to_phasor(jnp.zeros((2, 8))))   # float32, (2, 3)

    References:
        Bybee, Frady & Sommer (2022), "Deep learning in spiking phasor neural networks", arXiv:2204.00507.
    """

    def __init__(
        self, in_features: int, out_features: int, use_bias: bool = True, *, init: str = "glorot",
        rngs: nnx.Rngs,
    ):
        self.linear = PhasorLinear(in_features, out_features, use_bias=False, init=init, rngs=rngs)
        self.use_bias = use_bias
        if use_bias:
            self.bias = nnx.Param(jnp.zeros((self.linear.out_features,), jnp.float32))

    def __call__(self, z: jax.Array) -> jax.Array:
        """Logits (float32, ``(*batch, out_features)``) for complex ``z`` ``(*batch, in_features)``."""
        y = jnp.real(self.linear(z))
        return y + self.bias[...] if self.use_bias else y


class PhasorMLP(nnx.Module):
    r"""A phasor classifier: encode, ``depth`` phasor layers, real readout.

    Forward pass::

        z = real_to_phasor(x, scale)        # x real; complex x is used as is
        z = PhasorActivation(PhasorLinear(z))            # depth times (self.layers)
        y = PhasorReadout(z)                # real logits (self.readout)

    The first hidden layer maps ``in_features -> hidden_features``, the others
    ``hidden_features -> hidden_features``. Train it like any NNX model
    (``nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)``); the trained
    ``self.layers[i].linear`` can be deployed in :class:`SpikingPhasor` layers.

    NIR: no complex-valued node; not exportable.

    Args:
        in_features: input size (an int >= 1).
        hidden_features: width of every hidden phasor layer (an int >= 1).
        out_features: number of logits (an int >= 1).
        depth: number of hidden ``PhasorLinear -> PhasorActivation`` blocks (an int >= 1).
        scale: radians per unit of a real input (:func:`real_to_phasor`; ``pi``
            maps ``[0, 1]`` onto the upper half circle).
        rngs: ``nnx.Rngs`` that draws the weights.

    Example:
        >>> mlp = PhasorMLP(4, 16, 3, rngs=nnx.Rngs(0))
        >>> logits = mlp(jnp.ones((2, 4)))   # float32, (2, 3)

    References:
        Bybee, Frady & Sommer (2022), "Deep learning in spiking phasor neural networks", arXiv:2204.00507.
    """

    def __init__(
        self, in_features: int, hidden_features: int, out_features: int, depth: int = 2,
        *, scale: float = np.pi, rngs: nnx.Rngs,
    ):
        depth = _checks.positive_int("depth", depth, what="a positive int (hidden phasor layers)")
        self.scale = _checks.positive_number("scale", scale)
        self.in_features = _features("in_features", in_features)
        hidden = _features("hidden_features", hidden_features)
        sizes = [self.in_features] + [hidden] * depth
        self.layers = nnx.List([PhasorLinear(a, b, rngs=rngs) for a, b in itertools.pairwise(sizes)])
        self.activation = PhasorActivation()
        self.readout = PhasorReadout(hidden, out_features, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        """Logits (float32, ``(*batch, out_features)``) for ``x`` of shape ``(*batch, in_features)``."""
        x = jnp.asarray(x)
        z = x if jnp.issubdtype(x.dtype, jnp.complexfloating) else real_to_phasor(x, self.scale)
        for layer in self.layers:
            z = self.activation(layer(z))
        return self.readout(z)
