"""Parameters of neurons and layers: learnable (``nnx.Param``) or frozen (:class:`Const`).

A parameter (``beta``, ``threshold``, a ``Scale`` factor, ...) is a scalar or an
array broadcastable to the layer's per-sample shape. It is an ``nnx.Param`` when
learnable and a :class:`Const` when frozen, so an optimizer built with
``wrt=nnx.Param`` neither sees a gradient for a frozen one nor updates it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import jax.numpy as jnp
from flax import nnx

from snnx import _checks

__all__ = ["Const", "make_parameter", "resolve_trainable"]


class Const(nnx.Variable):
    """A frozen parameter (of a neuron or layer): part of the module, never differentiated or optimised."""


def resolve_trainable(trainable: bool | Iterable[str], names: Sequence[str]) -> frozenset[str]:
    """Turn ``trainable`` (a bool or a collection of parameter names) into a set of names."""
    if isinstance(trainable, bool):
        return frozenset(names) if trainable else frozenset()
    if isinstance(trainable, str):
        trainable = (trainable,)
    try:
        chosen = frozenset(trainable)
    except TypeError:
        raise _checks.ArgumentTypeError(
            f"`trainable` must be a bool or a collection of parameter names from {list(names)}, "
            f"got {trainable!r}"
        ) from None
    unknown = sorted(chosen - set(names))
    if unknown:
        raise _checks.OptionError(
            f"`trainable` names unknown parameters {unknown}; this neuron has {list(names)}"
        )
    return chosen


def make_parameter(
    name: str,
    value,
    shape: tuple[int, ...] | None,
    trainable: bool,
    *,
    unit_interval: bool = False,
    dtype=jnp.float32,
) -> nnx.Variable:
    """Validate ``value`` and wrap it as ``nnx.Param`` (learnable) or :class:`Const`.

    ``shape=None`` (a layer not built yet): the check that ``value`` broadcasts
    to the layer shape waits for the layer's build (:meth:`snnx.neurons.Neuron.build`).
    """
    if isinstance(value, bool) or value is None:
        raise _checks.ArgumentTypeError(f"`{name}` must be a number or an array, got {value!r}")
    try:
        arr = jnp.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise _checks.ArgumentTypeError(
            f"`{name}` must be a number or an array, got {type(value).__name__}"
        ) from None
    if shape is not None:
        _checks.broadcastable(name, arr, shape)
    _checks.finite(name, arr)
    if unit_interval:
        _checks.in_unit_interval(name, arr)
    return nnx.Param(arr) if trainable else Const(arr)
