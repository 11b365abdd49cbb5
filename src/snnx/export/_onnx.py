"""``to_onnx``: a model's time loop or one step as an ONNX model, through jax2onnx.

The program (``_program``) is traced to a jaxpr by JAX alone, then jax2onnx converts that jaxpr,
primitive by primitive. Tracing first keeps jax2onnx's rewrites of ``jax.numpy`` and Flax functions
(active while it traces) out of snnx's code, and makes the ONNX graph a function of the exact
primitives ``snnx.run`` executes. Only jax2onnx's plugins for JAX primitives are needed; loading
just those skips its Equinox/dm_pix plugins (seconds of imports, and dm_pix's import errors logged
under JAX 0.10).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from snnx import _checks
from snnx._version import __version__
from snnx.engine._record import catalogue
from snnx.export._errors import ExportError, layers, require
from snnx.export._names import initial_state
from snnx.export._program import build, jaxprs

DEFAULT_OPSET = 23


class _Drop(logging.Filter):
    """Drop log records whose message contains any of ``words``."""

    def __init__(self, *words: str):
        super().__init__()
        self.words = words

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(w in message for w in self.words)


@contextlib.contextmanager
def _quiet():
    """Silence jax2onnx's known noise: dm_pix plugins failing to import, constant shapes left untyped."""
    filters = [
        (logging.getLogger("jax2onnx.plugins.plugin_system"), _Drop("dm_pix")),
        (logging.getLogger("onnx_ir.serde"), _Drop("is not known. Please set type")),
    ]
    for logger, f in filters:
        logger.addFilter(f)
    try:
        with warnings.catch_warnings():  # jax2onnx 0.13 reads names JAX 0.10 deprecates (jax.core.DropVar)
            warnings.filterwarnings("ignore", r"jax\.core\.\w+ is deprecated", DeprecationWarning)
            yield
    finally:
        for logger, f in filters:
            logger.removeFilter(f)


@contextlib.contextmanager
def _primitive_plugins():
    """Load jax2onnx's plugins for JAX primitives only (all of them again afterwards, on demand).

    Uses jax2onnx 0.13's ``plugin_system._import_tree`` when present; otherwise jax2onnx loads
    every plugin itself (slower, same result).
    """
    from jax2onnx.plugins import plugin_system as ps

    tree = getattr(ps, "_import_tree", None)
    if getattr(ps, "_already_imported_plugins", None) is not False or not callable(tree):
        yield
        return
    tree(Path(ps.__file__).parent / "jax", "jax2onnx.plugins.jax")
    ps._already_imported_plugins = True
    try:
        yield
    finally:  # a later jax2onnx.to_onnx of the user's own model loads every plugin
        ps._already_imported_plugins = False


def _convert(closed, in_specs, in_names, out_names, opset: int, model_name: str):
    import jax2onnx

    fn = jax.extend.core.jaxpr_as_fun(closed)
    with _quiet(), _primitive_plugins():
        return jax2onnx.to_onnx(
            lambda *xs: tuple(fn(*xs)),
            list(in_specs),
            model_name=model_name,
            opset=opset,
            input_names=list(in_names) if in_names else None,
            output_names=list(out_names) if out_names else None,
        )


def _dim(d) -> tuple[str, object]:
    return ("dim_value", int(d)) if isinstance(d, (int, np.integer)) else ("dim_param", str(d))


def _tidy(proto, closed) -> None:
    """Output shapes from the jaxpr (jax2onnx leaves a placeholder for a loop's length); drop the
    initializers no node reads (onnxruntime warns about each)."""
    for out, var in zip(proto.graph.output, closed.jaxpr.outvars, strict=True):
        shape = out.type.tensor_type.shape
        shape.ClearField("dim")
        for d in var.aval.shape:
            field, value = _dim(d)
            setattr(shape.dim.add(), field, value)
    graphs = list(_graphs(proto.graph))
    used = {name for g in graphs for node in g.node for name in node.input}
    used |= {o.name for g in graphs for o in g.output}
    for g in graphs:
        keep = [init for init in g.initializer if init.name in used]
        if len(keep) != len(g.initializer):
            del g.initializer[:]
            g.initializer.extend(keep)


def _graphs(graph):
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _graphs(attr.g)
            for sub in attr.graphs:
                yield from _graphs(sub)


def _refusal(closed) -> str | None:
    """Why jax2onnx cannot produce a valid model of ``closed``, when known before converting."""
    for jaxpr in jaxprs(closed.jaxpr):
        for eqn in jaxpr.eqns:
            pooling = eqn.primitive.name in ("reduce_window_max", "reduce_window_min")
            if pooling and eqn.invars[0].aval.ndim > 3:
                return (
                    f"its pooling window spans {eqn.invars[0].aval.ndim} axes ({eqn.primitive.name}), which "
                    "jax2onnx writes as one ONNX MaxPool node over every axis and onnxruntime runs for "
                    "at most 3 (export it with to_stablehlo)"
                )
        for var in (*jaxpr.invars, *(v for eqn in jaxpr.eqns for v in eqn.outvars)):
            dtype = getattr(var.aval, "dtype", None)
            if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
                return (
                    "it draws random numbers (a JAX PRNG key), which jax2onnx cannot convert (export it "
                    "with to_stablehlo)"
                )
            if dtype is not None and jnp.issubdtype(dtype, jnp.complexfloating):
                return (
                    f"it computes with complex numbers ({np.dtype(dtype).name}), which jax2onnx does not "
                    "convert to a valid ONNX model (export it with to_stablehlo)"
                )
    return None


def _widen_sub_byte_weights(model):
    """A copy of ``model`` whose sub-byte quantised weights (``snnx.quant``: int4, ternary, ...) hold their
    dequantised values: onnxruntime's ``Loop`` takes no tensor narrower than a byte, and the values are
    exactly those the quantised model computes with. ``model`` itself when it has none."""
    try:
        from snnx.quant import Quantized, targets
    except ImportError:  # without qwix there are no quantised weights
        return model
    if not isinstance(model, nnx.Module):
        return model
    narrow = [
        t for t in targets(model)
        if isinstance(t.module.kernel, Quantized)
        and jax.dtypes.itemsize_bits(t.module.kernel.get_raw_value().qvalue.dtype) < 8
    ]  # fmt: skip
    if not narrow:
        return model
    from snnx._params import Const

    out = nnx.clone(model)
    for t in targets(out):
        var = t.module.kernel
        if isinstance(var, Quantized) and jax.dtypes.itemsize_bits(var.get_raw_value().qvalue.dtype) < 8:
            t.module.kernel = Const(var[...])
    return out


def _narrow_in_loop(program, closed) -> ExportError | None:
    """onnxruntime's ``Loop`` takes no tensor narrower than a byte (4-bit quantised weights)."""
    narrow = {jnp.dtype(c.dtype).name for c in closed.consts if jax.dtypes.itemsize_bits(c.dtype) < 8}
    if program.mode != "sequence" or not narrow:
        return None
    holders = [
        e for e in catalogue(program.fresh())
        if e.leaf and isinstance(e.layer, nnx.Module)
        and any(jax.dtypes.itemsize_bits(jnp.result_type(a)) < 8 for a in jax.tree.leaves(nnx.state(e.layer)))
    ]  # fmt: skip
    who = layers(holders) if holders else "the model"
    return ExportError(
        f"{who} cannot be exported to ONNX in mode='sequence': {', '.join(sorted(narrow))} values inside "
        "the time loop, which onnxruntime's Loop does not take; export mode='step' (the caller loops over "
        "time), quantise to 8 bits, or export with to_stablehlo",
        layer=holders[0].key if holders else None,
    )


def _run_once(proto, sizes: dict) -> None:
    """Load ``proto`` in onnxruntime and run it once on zeros (``sizes``: the symbolic sizes' values).

    Catches what converts but does not run (a node onnxruntime rejects); the values are not compared.
    """
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4  # a failure surfaces as the exception; nothing on stderr
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    quiet = ort.RunOptions()
    quiet.log_severity_level = 4
    feeds = {}
    for value in proto.graph.input:
        t = value.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else sizes.get(d.dim_param, 1) for d in t.shape.dim]
        feeds[value.name] = np.zeros(shape, onnx.helper.tensor_dtype_to_np_dtype(t.elem_type))
    session.run(None, feeds, quiet)


def _make(closed, in_specs, in_names, out_names, opset, model_name, sizes):
    """The checked ``ModelProto`` of ``closed`` (``sizes``: run it once at these sizes; ``None``: don't)."""
    why = _refusal(closed)
    if why is not None:
        raise ValueError(why)
    proto = _convert(closed, in_specs, in_names, out_names, opset, model_name)
    _tidy(proto, closed)
    if sizes is not None:
        _run_once(proto, sizes)
    return proto


def to_onnx(
    model,
    example,
    *,
    mode: str = "sequence",
    path: str | os.PathLike | None = None,
    dynamic: bool | Sequence[str] = True,
    opset: int = DEFAULT_OPSET,
    model_name: str = "snnx",
    check: bool = True,
):
    """Export ``model`` to ONNX: the whole time loop (``mode="sequence"``) or one step (``"step"``).

    ``mode="sequence"``: inputs ``x`` ``(T, B, *in)``; outputs ``y`` ``(T, B, *out)``, the outputs of
    ``snnx.run(model, x)``, then the state after the last step (``state_out.<key>.<variable>``).
    ``mode="step"``: inputs ``x`` ``(B, *in)`` and the state ``state.<key>.<variable>`` (e.g.
    ``state.1.v``, in the order of :func:`initial_state`); outputs ``y`` ``(B, *out)`` and the next
    state ``state_out.<key>.<variable>``. The parameters are constants of the ONNX graph; quantised
    weights (``snnx.quant``) keep their integer codes, except sub-byte ones (int4, ternary, ...) in
    ``mode="sequence"``, which are written as their dequantised float32 values (the same numbers:
    onnxruntime's ``Loop`` takes no tensor narrower than a byte).

    ``T`` and ``B`` are symbolic (ONNX ``dim_param`` ``"T"``, ``"B"``) unless ``dynamic=False``;
    the other sizes are those of ``example``. A layer that cannot be converted raises
    :class:`ExportError` naming it; nothing is left out or replaced.

    Args:
        model: a model ``snnx.run`` accepts (``Sequential``, ``Graph``, a model from
            ``snnx.nir.from_nir``).
        example: the time-major input ``(T, B, *in)`` (an array or ``jax.ShapeDtypeStruct``; a dict
            of them for a multi-input ``Graph``): its dtype and per-sample shape are exported.
        mode: ``"sequence"`` or ``"step"``.
        path: also write the model to this file.
        dynamic: keep ``T`` and ``B`` symbolic (``True``), neither (``False``: the sizes of
            ``example``), or those named (``("B",)``: a fixed number of steps, any batch).
        opset: the ONNX opset.
        model_name: the ONNX graph's name.
        check: load the model in onnxruntime and run it once on zeros of ``example``'s shape, so
            that a graph onnxruntime cannot run fails here, naming the layer (values are not
            compared: the tests do that for the layers ``docs/export.md`` lists).

    Returns:
        The ``onnx.ModelProto``. Its ``metadata_props`` hold ``snnx.mode``, ``snnx.state`` (the
        state names, JSON) and, in step mode, ``snnx.initial_state``: JSON ``{name: array}`` of
        ``initial_state(model, 1)``, to broadcast along the batch axis where no snnx is installed.

    Raises:
        ExportError: a layer cannot be exported (the message names it and says why).
        snnx.ShapeError: ``example`` does not fit the model.
        ImportError: jax2onnx, onnx or (with ``check``) onnxruntime is missing
            (``pip install 'snnx[export]'``).

    Example:
        >>> model = Sequential(nnx.Linear(4, 8, rngs=nnx.Rngs(0)), LIF(8))
        >>> proto = to_onnx(model, jnp.zeros((10, 2, 4)))
        >>> [i.name for i in proto.graph.input], [o.name for o in proto.graph.output]
        (['x'], ['y', 'state_out.1.v'])
    """
    require("jax2onnx", "snnx.export.to_onnx")
    onnx = require("onnx", "snnx.export.to_onnx")
    _checks.instance_of("check", check, bool, "a bool")
    if check:
        require("onnxruntime", "snnx.export.to_onnx(check=True)")
    if mode == "sequence":
        model = _widen_sub_byte_weights(model)
    program = build(model, example, mode=mode, dynamic=dynamic)
    closed = program.trace()
    narrow = _narrow_in_loop(program, closed)
    if narrow is not None:
        raise narrow
    T, B = jax.tree.leaves(program.example)[0].shape[:2]
    sizes = {"T": T, "B": B} if check else None
    try:
        proto = _make(
            closed, program.input_specs, program.input_names, program.output_names, opset, model_name, sizes
        )
    except Exception as err:

        def attempt(fn, args):
            _make(jax.make_jaxpr(fn)(*args), jax.tree.leaves(args), (), (), opset, model_name, sizes)

        raise program.culprit(attempt, "ONNX", err) from err
    meta = {"snnx.mode": mode, "snnx.state": json.dumps(list(program.state_names))}
    if mode == "step":  # for a loop without snnx: one sample's initial state (zeros for most neurons)
        start = initial_state(model, 1)
        meta["snnx.initial_state"] = json.dumps({n: a.tolist() for n, a in start.items()})
    meta["snnx.version"] = __version__
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    if path is not None:
        onnx.save_model(proto, os.fspath(path))
    return proto
