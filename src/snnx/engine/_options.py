"""``Options``: every choice the engine makes, as one frozen, hashable object.

``run`` turns a model and an input shape into a plan (``snnx.engine.plan``);
which steps the plan uses is decided by an :class:`Options`. Each field left at
``None`` takes the default of the backend the computation runs on
(``Options.resolve``); a field set by the user is used as given on every
backend. Options are hashable, so they can be static arguments of ``jax.jit``
or attributes of an ``nnx.Module`` (part of its graph definition, hence of the
jit cache key): changing one always compiles anew.

Nothing else changes what ``run`` computes: there are no module-level switches.
"""

from __future__ import annotations

import dataclasses

import jax

from snnx import _checks

ENGINES = ("auto", "step", "layer")
CONV_WEIGHT_GRADS = ("xla", "gemm", "auto")

# Backend defaults. "cpu" comes from measurements on a 2-core x86 CPU (benchmarks/README.md and
# docs/design/engine-plan.md say which run); "gpu" and "tpu" are the CPU values except where the
# reason for a CPU value does not hold there (documented per field below). They are not measured.
_CPU = {
    "engine": "auto",
    "remat": False,
    "unroll": 1,
    "fused": True,
    "bias_into_neuron": True,
    "project_readout": True,
    "project_max_out": 64,
    "project_min_sample_bytes": 128 * 1024,
    "chunk_steps": "auto",
    "chunk_rows": 1280,
    "chunk_above_rows": 32768,
    "parallel": False,
    "recompute_neuron_steps": True,
    "conv_weight_grad": "auto",
}
_DEFAULTS = {
    "cpu": _CPU,
    # On GPU/TPU the per-step readout matmul launches a kernel per step and the page-fault reason for
    # projecting does not exist; time chunks exist to keep activations in a CPU cache. The conv
    # weight-gradient rule measures XLA's CPU convolution; GPU/TPU convolutions are cuDNN's/the MXU's.
    "gpu": {**_CPU, "project_readout": False, "chunk_steps": "off", "conv_weight_grad": "xla"},
    "tpu": {**_CPU, "project_readout": False, "chunk_steps": "off", "conv_weight_grad": "xla"},
}


@dataclasses.dataclass(frozen=True)
class Options:
    """How ``run`` executes a model; ``None`` fields take the backend's default.

    Args:
        engine: ``"auto"`` (layer-major where it is valid, else step-major),
            ``"step"`` (one scan of the whole model per step: the reference) or
            ``"layer"`` (layer-major or an error saying why not).
        remat: rematerialise in the backward pass: the step engine recomputes
            each step, the layer engine cuts time into chunks (``chunk_steps``;
            about ``sqrt(T)`` steps when that is ``"auto"`` or ``None``) and
            stores only the state at chunk boundaries. Less memory, more time.
        unroll: steps per iteration of every ``jax.lax.scan`` (a positive int;
            CPU default 1: unrolling measured slower).
        fused: run the neurons that offer a fused kernel (LIF, LI, IF, RLIF)
            with it: a hand-written backward pass whose loop is elementwise.
            Reverse mode only; forward-mode AD (``jax.jvp``) needs
            ``fused=False`` (and ``conv_weight_grad="xla"``) or ``engine="step"``.
        bias_into_neuron: add the bias of an ``nnx.Linear`` feeding a fused
            neuron inside the neuron's loop instead of after the matmul.
        project_readout: apply a small ``nnx.Linear`` (at most
            ``project_max_out`` outputs) that follows a fused spiking neuron to
            each step's spikes inside the neuron's loop, so the spikes are never
            stored; only when one sample's hidden sequence (``T * hidden *
            itemsize``) is at least ``project_min_sample_bytes``. The rule
            depends on ``T`` and the model, never on the batch size, so training
            and evaluation batches take the same path.
        project_max_out: see ``project_readout``.
        project_min_sample_bytes: see ``project_readout``.
        chunk_steps: cut time into chunks of this many steps (an int), choose
            (``"auto"``: about ``chunk_rows`` rows of ``steps * B`` per chunk,
            only when ``T * B > chunk_above_rows``) or never (``"off"``). Chunks
            keep a long sequence's activations in cache between layers.
        chunk_rows: see ``chunk_steps``.
        chunk_above_rows: see ``chunk_steps``.
        parallel: use a neuron's associative-scan ``parallel`` path when it has
            one and starts from the zero state (CPU default off: 3-5x slower).
        recompute_neuron_steps: in a neuron scan without a fused kernel,
            recompute the elementwise step in the backward pass instead of
            storing its intermediates (matmul results are still stored).
        conv_weight_grad: how the kernel gradient of a 2-D ``nnx.Conv`` is
            computed: ``"xla"`` (autodiff: XLA's convolution), ``"gemm"`` (an
            im2col GEMM over chunks of samples, for every conv it supports;
            forward pass and input gradient stay XLA's, bit for bit) or
            ``"auto"`` (the GEMM where it measured faster: CPU default; GPU
            default ``"xla"``). The plan says which one each conv uses and why.
            Like ``fused``, the GEMM has reverse mode only: forward-mode AD
            through a conv that uses it needs ``conv_weight_grad="xla"``.

    Example:
        >>> run(model, x, options=Options(fused=False))   # autodiff everywhere
        >>> print(snnx.engine.plan(model, x))             # what runs, and why
    """

    engine: str | None = None
    remat: bool | None = None
    unroll: int | None = None
    fused: bool | None = None
    bias_into_neuron: bool | None = None
    project_readout: bool | None = None
    project_max_out: int | None = None
    project_min_sample_bytes: int | None = None
    chunk_steps: int | str | None = None
    chunk_rows: int | None = None
    chunk_above_rows: int | None = None
    parallel: bool | None = None
    recompute_neuron_steps: bool | None = None
    conv_weight_grad: str | None = None

    def __post_init__(self) -> None:
        if self.engine is not None:
            _checks.one_of("engine", self.engine, ENGINES)
        if self.conv_weight_grad is not None:
            _checks.one_of("conv_weight_grad", self.conv_weight_grad, CONV_WEIGHT_GRADS)
        for name in ("remat", "fused", "bias_into_neuron", "project_readout", "parallel",
                     "recompute_neuron_steps"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise TypeError(f"`{name}` must be a bool or None (backend default), got {value!r}")
        for name in ("unroll", "project_max_out", "chunk_rows"):
            value = getattr(self, name)
            if value is not None:
                _checks.positive_int(name, value)
        for name in ("project_min_sample_bytes", "chunk_above_rows"):
            value = getattr(self, name)
            if value is not None:
                _checks.positive_int(name, value, minimum=0)
        c = self.chunk_steps
        if c not in ("auto", "off", None):
            _checks.positive_int("chunk_steps", c, what="a positive int, 'auto', 'off' or None")

    def resolve(self, backend: str | None = None) -> Options:
        """Every field filled: the given ones as they are, the rest from ``backend``'s defaults.

        ``backend``: ``"cpu"``, ``"gpu"``, ``"tpu"`` (``"cuda"``/``"rocm"`` count as
        ``"gpu"``), or ``None`` for ``jax.default_backend()``.
        """
        defaults = backend_defaults(backend)
        given = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return Options(**{n: defaults[n] if v is None else v for n, v in given.items()})

    def given(self) -> dict:
        """The fields that are set (the others take the backend's defaults)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {name: value for name, value in values.items() if value is not None}


def _backend_key(backend: str | None) -> str:
    name = jax.default_backend() if backend is None else backend
    name = {"cuda": "gpu", "rocm": "gpu", "METAL": "gpu"}.get(name, name)
    if name not in _DEFAULTS:
        raise ValueError(f"`backend` must be one of {sorted(_DEFAULTS)} or None, got {backend!r}")
    return name


def backend_defaults(backend: str | None = None) -> dict:
    """The default value of every :class:`Options` field on ``backend`` (``None``: the current one)."""
    return dict(_DEFAULTS[_backend_key(backend)])
