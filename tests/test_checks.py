"""Argument validators: each raises its own error type, a subclass of the built-in callers catch.

Every message names the argument (here always ``arg``), says what was expected and
shows what arrived.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import snnx
from snnx import _checks

CASES = [
    # (validator call, error type, message pattern)
    (lambda: _checks.positive_int("arg", 0), snnx.OptionError, r"`arg` must be a positive int, got 0"),
    (lambda: _checks.positive_int("arg", True), snnx.OptionError, r"`arg` must be a positive int, got True"),
    (
        lambda: _checks.positive_int("arg", 1, minimum=2),
        snnx.OptionError,
        r"`arg` must be an int >= 2, got 1",
    ),
    (
        lambda: _checks.positive_number("arg", -1.0),
        snnx.OptionError,
        r"`arg` must be a positive number \(finite\), got -1.0",
    ),
    (
        lambda: _checks.positive_number("arg", float("inf")),
        snnx.OptionError,
        r"`arg` must be a positive number \(finite\), got inf",
    ),
    (
        lambda: _checks.shape_tuple("arg", (2, 0)),
        snnx.ShapeError,
        r"`arg` must be a positive int or a tuple of positive ints, got \(2, 0\)",
    ),
    (
        lambda: _checks.batch_tuple("arg", "ab"),
        snnx.ShapeError,
        r"`arg` must be a positive int or a tuple of positive ints, got 'ab'",
    ),
    (
        lambda: _checks.broadcastable("arg", np.ones(3), (4,)),
        snnx.ShapeError,
        r"`arg` must be a scalar or broadcast to the layer shape \(4,\), got an array of shape \(3,\)",
    ),
    (
        lambda: _checks.in_unit_interval("arg", [0.5, 1.5]),
        snnx.OptionError,
        r"`arg` must lie in \[0, 1\], got \[1.5\]",
    ),
    (lambda: _checks.finite("arg", [1.0, np.nan]), snnx.OptionError, r"`arg` must be finite, got \[nan\]"),
    (
        lambda: _checks.one_of("arg", "c", ("a", "b")),
        snnx.OptionError,
        r"`arg` must be one of \['a', 'b'\], got 'c'",
    ),
    (
        lambda: _checks.trailing_shape("arg", np.ones((2, 3)), (4,)),
        snnx.ShapeError,
        r"`arg` must have shape \(\*batch, 4\), got \(2, 3\)",
    ),
    (
        lambda: _checks.instance_of("arg", 3, Callable, "a callable x -> f(x)"),
        snnx.ArgumentTypeError,
        r"`arg` must be a callable x -> f\(x\), got int$",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), CASES)
def test_each_validator_raises_its_type_naming_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_error_types_subclass_the_builtins_callers_catch():
    assert issubclass(snnx.ShapeError, ValueError)
    assert issubclass(snnx.OptionError, ValueError)
    assert issubclass(snnx.ArgumentTypeError, TypeError)
    assert not issubclass(snnx.ShapeError, snnx.OptionError)


def test_valid_values_pass_and_are_normalised():
    assert _checks.positive_int("arg", np.int64(3)) == 3
    assert _checks.positive_number("arg", 2) == 2.0
    assert _checks.shape_tuple("arg", 5) == (5,)
    assert _checks.batch_tuple("arg", ()) == ()
    _checks.in_unit_interval("arg", [0.0, 1.0])
    _checks.finite("arg", jnp.ones(2))
    _checks.one_of("arg", "a", ("a", "b"))
    _checks.trailing_shape("arg", np.ones((2, 4)), (4,))
    _checks.instance_of("arg", len, Callable, "a callable")


def test_traced_values_are_left_alone():
    # under jit the value is unknown: in_unit_interval and finite check nothing
    @jax.jit
    def f(x):
        _checks.in_unit_interval("arg", x)
        _checks.finite("arg", x)
        return x

    np.testing.assert_array_equal(f(jnp.array([2.0, jnp.inf])), [2.0, np.inf])


def test_public_entry_points_raise_the_specific_types():
    with pytest.raises(snnx.OptionError, match=r"`beta` must lie in \[0, 1\]"):
        snnx.LIF(2, beta=1.5)
    with pytest.raises(snnx.ShapeError, match=r"`shape` must be a positive int"):
        snnx.LIF(0)
    with pytest.raises(snnx.OptionError, match=r"`k` must be a positive number"):
        snnx.surrogate.arctan(k=0.0)
    with pytest.raises(snnx.ArgumentTypeError, match=r"`fn` must be a callable"):
        snnx.surrogate.custom(3.0)
