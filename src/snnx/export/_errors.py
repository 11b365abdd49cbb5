"""The error raised when a model cannot be exported, and the check for the optional packages."""

from __future__ import annotations

import importlib

INSTALL = "pip install 'snnx[export]'"


class ExportError(ValueError):
    """A model, or one of its layers, that cannot be exported faithfully.

    The message names the layer by its key (``snnx.engine.layer_keys``) and
    type, the target (ONNX or StableHLO) and the reason, e.g. ``layer '2'
    (Noisy) cannot be exported to ONNX: No plugins registered for primitive
    'pure_callback'``. ``layer`` holds the key (``None`` when the failure is
    not inside one layer).
    """

    def __init__(self, message: str, *, layer: str | None = None):
        self.layer = layer
        super().__init__(message)


def layers(entries) -> str:
    """``layer '1' (Dropout)`` or ``layers '0' (Linear) and '2' (Linear)`` for catalogue entries."""
    parts = [f"{e.key!r} ({type(e.layer).__name__})" for e in entries]
    if len(parts) == 1:
        return f"layer {parts[0]}"
    return f"layers {', '.join(parts[:-1])} and {parts[-1]}"


def require(module: str, what: str):
    """Import ``module`` or raise an ``ImportError`` saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"{what} needs the package {module!r}, which is not installed: {INSTALL}") from err
