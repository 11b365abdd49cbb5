"""Compute NeuroBench's metrics on the NIR models of this folder, with snnTorch, into reference.json.

Run with the NeuroBench environment (never the project's)::

    benchmarks/.venv-neurobench/bin/pip install -r tests/data/neurobench/requirements.txt
    benchmarks/.venv-neurobench/bin/python tests/data/neurobench/make_reference.py

Inputs: ``cases.json``, ``inputs.npz`` and the ``*.nir`` files written by
``make_inputs.py`` (project environment). For every case it

1. imports the NIR file with ``snntorch.import_nir.import_from_nir`` (which
   builds a ``torch.fx`` module through ``nirtorch.nir_to_torch``);
2. wraps it in :class:`TimeLoop`, which steps it over time and threads the
   state dict that ``nirtorch`` modules return (``SNNTorchModel``'s own loop
   drops it, and with it the recurrent edge), inside NeuroBench's
   ``SNNTorchModel(custom_forward=True)``;
3. runs NeuroBench's ``Benchmark`` with the static metrics ``ParameterCount``,
   ``Footprint``, ``ConnectionSparsity`` and the workload metrics
   ``ActivationSparsity``, ``SynapticOperations``, ``MembraneUpdates``,
   ``NeuronOperations`` on the batch-first data ``x.transpose(0, 1)`` as one
   batch (these are the reference numbers, exactly as NeuroBench returns them);
4. runs the model once more with NeuroBench's hooks and records per layer what
   the totals are made of: ``ActivationSparsityByLayer`` (NeuroBench's own
   class), the spike trains each neuron hook saw, and per connection layer and
   step the operations of NeuroBench's ``single_layer_MACs`` on the input its
   hook saw (effective, dense, and whether NeuroBench called it ACs), and the
   membrane updates per neuron layer with ``MembraneUpdates``'s formula. The
   sums of these are checked against the totals of step 3.

Writes ``reference.json`` (every number, the versions, what was patched) and
``snntorch_spikes.npz`` (``"<case>/<layer path>"``: uint8 spikes ``(T, B, ...)``
in NIR channels-first layout) for the spike comparison with snnx.
"""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata
from pathlib import Path

import nir
import numpy as np
import snntorch
import snntorch.utils
import torch
from neurobench.benchmarks import Benchmark
from neurobench.metrics.static import ConnectionSparsity, Footprint, ParameterCount
from neurobench.metrics.utils.layers import single_layer_MACs
from neurobench.metrics.workload import (
    ActivationSparsity,
    ActivationSparsityByLayer,
    MembraneUpdates,
    NeuronOperations,
    SynapticOperations,
)
from neurobench.models import SNNTorchModel
from snntorch.import_nir import import_from_nir
from torch.utils.data import DataLoader, TensorDataset

HERE = Path(__file__).parent


class TimeLoop(torch.nn.Module):
    """Step an imported ``nirtorch`` module over time, threading its state: ``(B, T, ...) -> (T, B, ...)``."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, data: torch.Tensor) -> torch.Tensor:
        snntorch.utils.reset(self.net)  # the snnTorch neurons keep their membrane (init_hidden=True)
        state, outs = None, []
        for t in range(data.shape[1]):
            out, state = self.net(data[:, t], state)
            outs.append(out)
        return torch.stack(outs)


def import_case(path: Path) -> tuple[torch.nn.Module, list[str]]:
    """``import_from_nir`` plus the fixes it needs; returns the module and what was patched."""
    net = import_from_nir(nir.read(str(path)))
    patches = []
    for name, module in net.named_modules():
        # NIR's Flatten dims exclude the batch axis; snnTorch passes them to torch.nn.Flatten unchanged,
        # which would also flatten the batch: shift them by one (what the NIR node means).
        if isinstance(module, torch.nn.Flatten) and module.start_dim >= 0:
            module.start_dim += 1
            module.end_dim = module.end_dim + 1 if module.end_dim >= 0 else module.end_dim
            patches.append(f"{name}: torch.nn.Flatten start_dim shifted by one for the batch axis")
    return net, patches


def tensor_bytes(tensors) -> list[dict]:
    return [
        {"name": n, "shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""),
         "bytes": t.numel() * t.element_size()}
        for n, t in tensors
    ]


def run_case(name: str, case: dict, x_tm: np.ndarray) -> tuple[dict, dict]:
    net, patches = import_case(HERE / case["nir"])
    data = torch.from_numpy(np.ascontiguousarray(x_tm.swapaxes(0, 1)))  # NeuroBench: (B, T, ...)
    labels = torch.zeros(data.shape[0], dtype=torch.long)
    loader = DataLoader(TensorDataset(data, labels), batch_size=data.shape[0], shuffle=False)
    model = SNNTorchModel(TimeLoop(net), custom_forward=True)
    paths = {id(m): n.removeprefix("net.") for n, m in model.__net__().named_modules()}

    # Footprint's inputs as they are when the static metrics run (before any forward pass)
    params_before = tensor_bytes(model.__net__().named_parameters())
    buffers_before = tensor_bytes(model.__net__().named_buffers())

    bench = Benchmark(
        model, loader, [], [],
        [[ParameterCount, Footprint, ConnectionSparsity],
         [ActivationSparsity, SynapticOperations, MembraneUpdates, NeuronOperations]],
    )
    results = bench.run(quiet=True)
    bench.workload_metric_manager.cleanup_hooks(model)

    # -- the per-layer breakdown, from NeuroBench's hooks on a second, identical run -----------
    model = SNNTorchModel(TimeLoop(net), custom_forward=True)
    model.register_hooks()
    preds = model(data)
    by_layer = ActivationSparsityByLayer()(model, preds, (data, labels))
    neurons, spikes = {}, {}
    for hook in model.activation_hooks:
        path = paths[id(hook.layer)]
        z = torch.stack([o.detach() for o in hook.activation_outputs])  # (T, B, ...)
        if not torch.all((z == 0) | (z == 1)):
            raise SystemExit(f"{name}: {path} emitted non-binary spikes")
        spikes[f"{name}/{path}"] = z.numpy().astype(np.uint8)
        pre, post = hook.pre_fire_mem_potential, hook.post_fire_mem_potential
        changed = (torch.count_nonzero(a - b).item() for a, b in zip(pre[1:], post[1:], strict=True))
        updates = post[0].numel() + sum(changed)
        neurons[path] = {
            "type": type(hook.layer).__name__,
            "reset_mechanism": hook.layer._reset_mechanism,
            "hook_name": hook.name,
            "spikes": int(z.sum().item()),
            "neuron_updates": int(z.numel()),
            "spikes_per_step": [int(v) for v in z.reshape(z.shape[0], -1).sum(1)],
            "activation_sparsity_by_layer": by_layer[hook.name],
            "membrane_updates": int(updates),
        }
    connections = {}
    for hook in model.connection_hooks:
        hook.hook.remove()  # as SynapticOperations does: single_layer_MACs deep-copies the layer
        steps = []
        for inputs in hook.inputs:
            spikes_in = inputs[0] if len(inputs) == 1 else inputs  # as SynapticOperations does
            ops, spiking = single_layer_MACs(spikes_in, hook.layer)
            dense, _ = single_layer_MACs(spikes_in, hook.layer, total=True)
            steps.append({"effective": int(ops), "dense": int(dense), "ac": bool(spiking)})
        connections[paths[id(hook.layer)]] = {
            "type": type(hook.layer).__name__,
            "calls": len(steps),
            "effective_acs": sum(s["effective"] for s in steps if s["ac"]),
            "effective_macs": sum(s["effective"] for s in steps if not s["ac"]),
            "dense": sum(s["dense"] for s in steps),
            "steps": steps,
        }
    model.cleanup_hooks()

    # the breakdown must add up to NeuroBench's totals
    samples = data.shape[0]
    syn = results["SynapticOperations"]
    sums = {
        "Effective_ACs": sum(c["effective_acs"] for c in connections.values()) / samples,
        "Effective_MACs": sum(c["effective_macs"] for c in connections.values()) / samples,
        "Dense": sum(c["dense"] for c in connections.values()) / samples,
    }
    if sums != syn:
        raise SystemExit(f"{name}: per-layer synaptic operations {sums} do not add up to {syn}")
    if sum(n["membrane_updates"] for n in neurons.values()) / samples != results["MembraneUpdates"]:
        raise SystemExit(f"{name}: per-layer membrane updates do not add up to {results['MembraneUpdates']}")

    out = {
        "description": case["description"],
        "nir": case["nir"],
        "input": case["input"],
        "batch_size": int(samples),
        "time_steps": int(data.shape[1]),
        "patches": patches,
        "neurobench": {k: results[k] for k in sorted(results)},
        "footprint_parts": {"parameters": params_before, "buffers": buffers_before},
        "neurons": neurons,
        "connections": connections,
    }
    return out, spikes


def main() -> None:
    manifest = json.loads((HERE / "cases.json").read_text())
    xs = np.load(HERE / "inputs.npz")
    torch.manual_seed(0)
    cases, all_spikes = {}, {}
    for name, case in manifest["cases"].items():
        cases[name], spikes = run_case(name, case, xs[case["input"]])
        all_spikes.update(spikes)
    packages = ("torch", "snntorch", "neurobench", "nir", "nirtorch", "numpy")
    versions = {p: metadata.version(p) for p in packages}
    reference = {
        "generated_by": "tests/data/neurobench/make_reference.py",
        "python": platform.python_version(),
        "versions": versions,
        "dt": manifest["dt"],
        "notes": [
            "neurobench: the dict Benchmark.run returned (ParameterCount, Footprint and "
            "ConnectionSparsity are computed before the forward pass, as Benchmark does; the workload "
            "metrics are per sample)",
            "neurons/connections: per-layer breakdown from NeuroBench's hooks on a second run; keys are "
            "module paths in the imported torch module, which are the NIR node names",
            "connections[...].steps: single_layer_MACs per hooked call (one per time step), ac = NeuroBench "
            "counted the call as ACs (all inputs in {-1, 0, 1})",
        ],
        "cases": cases,
    }
    (HERE / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")
    np.savez_compressed(HERE / "snntorch_spikes.npz", **all_spikes)
    print(f"wrote reference.json and snntorch_spikes.npz ({len(cases)} cases) with {sys.executable}")


if __name__ == "__main__":
    main()
