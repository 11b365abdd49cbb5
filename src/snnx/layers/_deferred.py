"""``Deferred``: a layer made from the shape of its input, so nobody computes ``in_features``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from flax import nnx

from snnx import _checks


class Deferred(nnx.Module):
    """A placeholder for a layer whose constructor needs the shape of its input.

    ``Sequential(..., input_shape=...)`` calls ``factory(in_shape)`` with the
    per-sample shape (no batch axis, channels-last) that reaches this position,
    and the layer it returns takes the placeholder's place. The usual case is the
    dense layer after ``Flatten``, whose ``in_features`` is ``H * W * C``::

        Deferred(lambda s: nnx.Linear(s[-1], 10, rngs=rngs))

    An unbuilt ``Deferred`` (outside such a ``Sequential``) cannot be called.

    Args:
        factory: ``(in_shape: tuple[int, ...]) -> layer``, any module or callable
            that ``Sequential`` accepts.

    Example:
        >>> rngs = nnx.Rngs(0)
        >>> model = Sequential(
        ...     Flatten(), Deferred(lambda s: nnx.Linear(s[-1], 10, rngs=rngs)), input_shape=(4, 4, 2)
        ... )
        >>> model[1].in_features
        32
    """

    def __init__(self, factory: Callable[[tuple[int, ...]], Callable]):
        if not callable(factory):
            raise _checks.ArgumentTypeError(
                f"`factory` must be a callable (in_shape) -> layer, got {type(factory).__name__}"
            )
        self.factory = factory

    def build(self, shape: int | Sequence[int]):
        """The layer ``factory`` makes for inputs of per-sample ``shape``."""
        shape = _checks.shape_tuple("shape", shape)
        layer = self.factory(shape)
        if not callable(layer):
            raise _checks.ArgumentTypeError(
                f"`factory` must return a layer (a module or a callable), got {type(layer).__name__} "
                f"for per-sample input shape {shape}"
            )
        return layer

    def __call__(self, *args, **kwargs):
        raise _checks.ShapeError(
            "this Deferred layer is not built yet: put it in Sequential(..., input_shape=...), which "
            "calls its factory with the shape of its input"
        )
