"""``to_stablehlo`` and ``load_stablehlo``: a model's compiled program, serialised by ``jax.export``.

The bytes hold the StableHLO of ``jax.jit`` of the program (``_program``) with the parameters as
constants, and the structure of its arguments and results; ``jax.export.deserialize`` restores a
callable in any Python with JAX, without snnx or the model's code.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import jax

from snnx import _checks
from snnx.export._program import build, jaxprs

CALLBACKS = ("pure_callback", "io_callback", "debug_callback")


def _export(fn, args, platforms):
    for jaxpr in jaxprs(jax.make_jaxpr(fn)(*args).jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name in CALLBACKS:
                raise ValueError(
                    f"it calls back into Python ({eqn.primitive.name}), which a serialised program "
                    "cannot hold"
                )
    return jax.export.export(jax.jit(fn), platforms=platforms)(*args)


def to_stablehlo(
    model,
    example,
    *,
    mode: str = "sequence",
    path: str | os.PathLike | None = None,
    dynamic: bool | Sequence[str] = True,
    platforms: Sequence[str] | None = None,
) -> bytes:
    """Export ``model``'s compiled time loop (or one step) as serialised StableHLO (``jax.export``).

    The restored function (:func:`load_stablehlo`, or ``jax.export.deserialize(data).call``):

    * ``mode="sequence"``: ``f(x) -> (y, state)``: ``x`` ``(T, B, *in)``, ``y`` the outputs of
      ``snnx.run(model, x)``, ``state`` the state after the last step as ``{name: array}``;
    * ``mode="step"``: ``f(x_t, state) -> (y_t, state)``, ``state`` a dict ``{name: array}``
      (:func:`initial_state` at the first step).

    Names: ``state.<key>.<variable>`` (see :func:`to_onnx`). ``T`` and ``B`` are symbolic unless
    ``dynamic=False``; the parameters are constants of the program.

    Args:
        model: a model ``snnx.run`` accepts.
        example: the time-major input ``(T, B, *in)`` (array, ``jax.ShapeDtypeStruct``, or a dict of
            them): its dtype and per-sample shape are exported.
        mode: ``"sequence"`` or ``"step"``.
        path: also write the bytes to this file.
        dynamic: keep ``T`` and ``B`` symbolic (``True``), neither (``False``: the sizes of
            ``example``), or those named (``("B",)``: a fixed number of steps, any batch).
        platforms: the platforms to compile for (``("cpu", "cuda")``, ...); ``None``: the default
            backend's.

    Returns:
        The serialised program.

    Raises:
        ExportError: a layer cannot be exported (the message names it and says why).

    Example:
        >>> data = to_stablehlo(model, jnp.zeros((10, 2, 4)))
        >>> y, final = load_stablehlo(data)(x)
    """
    if platforms is not None:
        platforms = tuple(platforms)
    program = build(model, example, mode=mode, dynamic=dynamic)
    program.trace()
    try:
        exported = _export(program.structured, program.structured_specs, platforms)
    except Exception as err:
        raise program.culprit(lambda fn, args: _export(fn, args, platforms), "StableHLO", err) from err
    data = bytes(exported.serialize())
    if path is not None:
        with open(os.fspath(path), "wb") as f:
            f.write(data)
    return data


def load_stablehlo(source: bytes | bytearray | str | os.PathLike) -> Callable:
    """The function serialised by :func:`to_stablehlo` (from its bytes or a file), ready to call.

    Needs only JAX: ``jax.export.deserialize(data).call`` does the same.

    Args:
        source: the bytes, or the path of a file holding them.

    Example:
        >>> f = load_stablehlo("model.stablehlo")
        >>> y, final = f(x)
    """
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        with open(os.fspath(source), "rb") as f:
            data = f.read()
    else:
        raise _checks.ArgumentTypeError(
            f"`source` must be the bytes from to_stablehlo or a file path, got {type(source).__name__}"
        )
    return jax.export.deserialize(bytearray(data)).call
