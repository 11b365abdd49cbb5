"""Reference outputs for ``tests/test_neurons_zoo_recurrent.py`` from snnTorch 1.0.0 and Norse 1.1.0.

Run from the repository root, in the peers environment (torch, snntorch, norse)::

    benchmarks/.venv-peers/bin/python tests/data/peers/make_zoo_recurrent.py

Writes ``zoo_recurrent_{lsnn,slstm,sconvlstm,leaky}.npz`` next to this file:
the inputs, the peer's weights exactly as the peer holds them (torch layout)
and its outputs and states at every step. The test maps the weights to snnx's
layout itself; ``README_zoo_recurrent.md`` says how each peer maps to snnx.
"""

from __future__ import annotations

import pathlib
import warnings

import numpy as np
import snntorch
import torch
from norse.torch.functional.lsnn import LSNNParameters
from norse.torch.module.lsnn import LSNNRecurrent

HERE = pathlib.Path(__file__).resolve().parent
T, B = 12, 2


def lsnn():
    """Norse LSNNRecurrent; identity input weights, zero recurrent weights (see the README)."""
    n = 4
    gen = torch.Generator().manual_seed(1)
    x = torch.rand((T, B, n), generator=gen) * 40.0
    p = LSNNParameters(
        tau_syn_inv=torch.as_tensor(1000.0),  # dt * tau_syn_inv = 1: the current lasts one step
        tau_mem_inv=torch.as_tensor(100.0),  # beta = 1 - dt * tau_mem_inv = 0.9
        tau_adapt_inv=torch.as_tensor(50.0),  # rho = 1 - dt * tau_adapt_inv = 0.95
        v_leak=torch.as_tensor(0.0),
        v_th=torch.as_tensor(1.0),
        v_reset=torch.as_tensor(0.0),
        beta=torch.as_tensor(0.8),
        method="heaviside",
    )
    layer = LSNNRecurrent(
        n, n, p=p, dt=1e-3, input_weights=torch.eye(n), recurrent_weights=torch.zeros(n, n),
        record_states=True,
    )
    with torch.no_grad():
        z, s = layer(x)
    return {"x": x, "z": z, "v": s.v, "b": s.b, "i": s.i, "dt": 1e-3, "tau_mem_inv": 100.0,
            "tau_adapt_inv": 50.0, "v_th": 1.0, "beta_adapt": 0.8}


def slstm():
    # in_features == hidden: snnTorch 1.0.0's SLSTM.forward zeroes syn and mem at every step when
    # their shape differs from the input's (it compares with input_.shape), i.e. when in != hidden.
    n_in, hidden = 4, 4
    torch.manual_seed(2)
    layer = snntorch.SLSTM(n_in, hidden, threshold=0.1)  # reset_mechanism="none" (snnTorch's default)
    x = torch.rand((T, B, n_in)) * 2.0 - 0.5
    syn, mem = layer.reset_mem()
    spk_rec, syn_rec, mem_rec = [], [], []
    with torch.no_grad():
        for t in range(T):
            spk, syn, mem = layer(x[t], syn, mem)
            spk_rec.append(spk)
            syn_rec.append(syn)
            mem_rec.append(mem)
    cell = layer.lstm_cell
    return {"x": x, "spk": torch.stack(spk_rec), "syn": torch.stack(syn_rec), "mem": torch.stack(mem_rec),
            "weight_ih": cell.weight_ih, "weight_hh": cell.weight_hh, "bias_ih": cell.bias_ih,
            "bias_hh": cell.bias_hh, "threshold": 0.1}


def sconvlstm():
    c_in, c_out, k, hw = 2, 3, 3, 5
    torch.manual_seed(3)
    layer = snntorch.SConv2dLSTM(c_in, c_out, k, threshold=0.05)  # reset_mechanism="none"
    x = torch.rand((6, B, c_in, hw, hw)) * 2.0 - 0.5  # channels-first, as snnTorch takes it
    syn, mem = layer.reset_mem()
    spk_rec, syn_rec, mem_rec = [], [], []
    with torch.no_grad():
        for t in range(x.shape[0]):
            spk, syn, mem = layer(x[t], syn, mem)
            spk_rec.append(spk)
            syn_rec.append(syn)
            mem_rec.append(mem)
    return {"x": x, "spk": torch.stack(spk_rec), "syn": torch.stack(syn_rec), "mem": torch.stack(mem_rec),
            "weight": layer.conv.weight, "bias": layer.conv.bias, "threshold": 0.05}


def leaky():
    """Leaky with graded spikes (per-unit factor) and Leaky with inhibition; reset to zero, delayed reset."""
    n = 5
    torch.manual_seed(4)
    x = torch.rand((T, B, n)) * 0.8
    beta = torch.tensor([0.9, 0.8, 0.95, 0.7, 0.85])
    factor = torch.tensor([0.5, 2.0, 1.0, -1.5, 3.0])
    graded = snntorch.Leaky(beta=beta, threshold=1.0, reset_mechanism="zero", graded_spikes_factor=factor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Inhibition is an unstable feature ..."
        inhib = snntorch.Leaky(beta=beta, threshold=1.0, reset_mechanism="zero", inhibition=True)
    out = {"x": x, "beta": beta, "factor": factor, "threshold": 1.0}
    for name, layer in (("graded", graded), ("inhib", inhib)):
        mem = layer.reset_mem()
        spk_rec, mem_rec = [], []
        with torch.no_grad():
            for t in range(T):
                spk, mem = layer(x[t], mem)
                spk_rec.append(spk)
                mem_rec.append(mem)
        out[f"{name}_spk"] = torch.stack(spk_rec)
        out[f"{name}_mem"] = torch.stack(mem_rec)
    return out


def save(name: str, arrays: dict) -> None:
    arrays = {k: (v.detach().numpy() if torch.is_tensor(v) else np.asarray(v)) for k, v in arrays.items()}
    np.savez(HERE / f"zoo_recurrent_{name}.npz", **arrays)
    print(f"zoo_recurrent_{name}.npz:", ", ".join(f"{k}{tuple(v.shape)}" for k, v in arrays.items()))


if __name__ == "__main__":
    if snntorch.__version__ != "1.0.0":
        raise SystemExit(f"expected snntorch 1.0.0, found {snntorch.__version__}")
    for name, make in (("lsnn", lsnn), ("slstm", slstm), ("sconvlstm", sconvlstm), ("leaky", leaky)):
        save(name, make())
