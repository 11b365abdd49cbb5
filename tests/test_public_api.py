"""The public API is deliberate: these tests pin the exported names.

Adding a name is a decision; so is removing one (it breaks users). Update the
expected sets here in the same commit as the change.
"""

from __future__ import annotations

import importlib

import pytest

import snnx

EXPECTED = {
    "snnx": {
        "ALIF",
        "IF",
        "LI",
        "LIF",
        "PSU_LIF",
        "RIF",
        "RLIF",
        "ArgumentTypeError",
        "augment",
        "AvgPool",
        "Const",
        "CuBaLI",
        "CuBaLIF",
        "Deferred",
        "Delay",
        "Flatten",
        "Graph",
        "I",
        "MaxPool",
        "Neuron",
        "OptionError",
        "Population",
        "RCuBaLIF",
        "ResonateFire",
        "Scale",
        "Sequential",
        "ShapeError",
        "SumPool",
        "Threshold",
        "datasets",
        "encoders",
        "evolve",
        "export",
        "layers",
        "losses",
        "metrics",
        "neurons",
        "nir",
        "phasor",
        "plasticity",
        "plot",
        "quant",
        "run",
        "ssm",
        "stats",
        "surrogate",
        "train",
    },
    "snnx.neurons": {
        "ALIF",
        "IF",
        "LI",
        "LIF",
        "PSU_LIF",
        "RIF",
        "RLIF",
        "Const",
        "CuBaLI",
        "CuBaLIF",
        "FixedPoint",
        "I",
        "Neuron",
        "RCuBaLIF",
        "ResonateFire",
        "AdEx",
        "Alpha",
        "CobaLIF",
        "ExpLIF",
        "Izhikevich",
        "LIFRefrac",
        "Lapicque",
        "RALIF",
        "SConvLSTM",
        "SLSTM",
        "SigmaDelta",
    },
    "snnx.ssm": {"ChunkedSSM", "LRU", "Mamba", "MambaBlock", "S5"},
    "snnx.plasticity": {"RSTDP", "STDP", "train_stdp"},
    "snnx.evolve": {"ES", "FULL_COVARIANCE_LIMIT", "STRATEGIES", "evolve"},
    "snnx.export": {"ExportError", "initial_state", "load_stablehlo", "to_onnx", "to_stablehlo"},
    "snnx.quant": {
        "OPS",
        "QTYPES",
        "FakeQuant",
        "FixedPoint",
        "Quantized",
        "Rule",
        "WeightInfo",
        "convert",
        "dequantize",
        "ptq",
        "qat",
        "quantize_membranes",
        "size_bytes",
        "summary",
        "targets",
    },
    "snnx.phasor": {
        "PhasorActivation",
        "PhasorLinear",
        "PhasorMLP",
        "PhasorReadout",
        "SpikingPhasor",
        "phase_of",
        "phase_to_spikes",
        "phasor_to_real",
        "phasor_to_value",
        "real_to_phasor",
        "spikes_to_phase",
        "spikes_to_phasor",
    },
    "snnx.layers": {
        "AvgPool",
        "Deferred",
        "Delay",
        "Flatten",
        "MaxPool",
        "Population",
        "Scale",
        "SumPool",
        "Threshold",
    },
    "snnx.engine": {
        "Graph",
        "Options",
        "Plan",
        "Recording",
        "Sequential",
        "Step",
        "is_stateful",
        "layer_keys",
        "plan",
        "run",
    },
    "snnx.surrogate": {
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
    },
    "snnx.losses": {
        "first_spike_cross_entropy",
        "l1_rate_penalty",
        "l2_rate_penalty",
        "max_membrane_cross_entropy",
        "population_cross_entropy",
        "silence_penalty",
        "sparsity_penalty",
        "spike_count_cross_entropy",
        "spike_rate_mse",
        "target_rate_penalty",
    },
    "snnx.metrics": {
        "first_spike_accuracy",
        "first_spike_times",
        "integral_accuracy",
        "max_membrane_accuracy",
        "population_accuracy",
    },
    "snnx.encoders": {
        "delta",
        "latency",
        "pack_spikes",
        "population",
        "rate",
        "time_shift",
        "unpack_spikes",
    },
    "snnx.augment": {
        "channel_shift", "drop_events", "flip", "mixup", "random_crop", "shift", "time_jitter",
        "time_stretch",
    },
    "snnx.nir": {
        "NIRError",
        "PeerNeuron",
        "convert",
        "dialects",
        "exportable_types",
        "from_nir",
        "read",
        "refused_types",
        "to_nir",
        "write",
    },
    "snnx.train": {
        "Checkpointer",
        "Placement",
        "TrainingDivergedError",
        "TrainingInterrupted",
        "default_forward",
        "evaluate",
        "fit",
        "make_eval_step",
        "make_train_step",
        "restore",
    },
    "snnx.stats": {"LayerStats", "Report", "measure"},
    "snnx.plot": {"animate", "graph", "input_output", "raster", "rate_histogram", "traces"},
    "snnx.datasets": {
        "ArraySource",
        "ChecksumError",
        "DataError",
        "DownloadError",
        "EventFrames",
        "HeidelbergSource",
        "Loader",
        "OfflineError",
        "PackedCache",
        "digits",
        "digits_images",
        "download",
        "dvs_gesture",
        "fetch",
        "load_heidelberg",
        "nmnist",
        "shd",
        "ssc",
    },
}


@pytest.mark.parametrize("module", sorted(EXPECTED))
def test_public_names_are_pinned(module):
    mod = importlib.import_module(module)
    assert set(mod.__all__) == EXPECTED[module]


@pytest.mark.parametrize("module", sorted(EXPECTED))
def test_every_public_name_resolves(module):
    mod = importlib.import_module(module)
    for name in mod.__all__:
        assert getattr(mod, name) is not None, f"{module}.{name}"


def test_lazy_subpackages_import_on_first_use():
    assert snnx.train.__name__ == "snnx.train"
    assert snnx.datasets.__name__ == "snnx.datasets"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        snnx.nope  # noqa: B018


def test_user_docs_name_only_public_api():
    """What README, docs/**/*.md and examples tell users to call is public (docs/design/: maintainers)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    docs = [p for p in sorted((root / "docs").rglob("*.md")) if "design" not in p.parts]
    files = [root / "README.md", *docs]
    files += sorted((root / "examples").glob("*.py"))
    private = re.compile(r"\bsnnx(?:\.\w+)*\._(?!_)\w+")  # snnx.x._y, not snnx.__all__
    found = [
        f"{path.relative_to(root)}:{n}: {m.group()}"
        for path in files
        for n, line in enumerate(path.read_text().splitlines(), 1)
        for m in private.finditer(line)
    ]
    assert not found, f"user docs name private modules: {found}"
    nir_doc = (root / "docs" / "nir.md").read_text()
    assert "(nir-semantics.md)" in nir_doc and (root / "docs" / "nir-semantics.md").is_file()
