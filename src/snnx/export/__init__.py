"""Export a model to run outside snnx: ONNX (``to_onnx``) and StableHLO (``to_stablehlo``).

Both export the whole time loop (``mode="sequence"``: ``x (T, B, ...) -> y (T, B, ...)``, the
outputs of ``snnx.run``) or one step (``mode="step"``: ``(x_t, state) -> (y_t, state)``, looped by
the caller from :func:`initial_state`). ``docs/export.md`` shows both with onnxruntime and JAX.
ONNX needs the ``export`` extra (``pip install 'snnx[export]'``: jax2onnx, onnxruntime).
"""

from snnx.export._errors import ExportError as ExportError
from snnx.export._names import initial_state as initial_state
from snnx.export._onnx import to_onnx as to_onnx
from snnx.export._stablehlo import load_stablehlo as load_stablehlo
from snnx.export._stablehlo import to_stablehlo as to_stablehlo

__all__ = ["ExportError", "initial_state", "load_stablehlo", "to_onnx", "to_stablehlo"]
