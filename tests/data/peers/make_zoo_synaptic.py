"""Write ``zoo_synaptic.npz``: what snnTorch 1.0.0 and Norse 1.1.0 compute for the neurons of
``tests/test_neurons_zoo_synaptic.py`` (snnTorch ``Alpha``, ``Lapicque``, ``StateLeaky``; Norse
``LIFRefracCell``).

Run in the peers environment, never the project's::

    benchmarks/.venv-peers/bin/python tests/data/peers/make_zoo_synaptic.py tests/data/peers

Every key is ``<case>__<name>``: ``x`` the input ``(T, B, N)`` (time-major, as given to the
peer), then what the peer returned or held after each step, stacked on time. The parameters of
each case are in ``meta`` (a JSON string: ``json.loads(str(d["meta"]))[case]``), with the
versions. Inputs come from ``numpy.random.default_rng(SEED)``; the peers' own modules compute
everything else (nothing here re-implements a neuron).
"""

import json
import sys
from pathlib import Path

import norse
import numpy as np
import snntorch
import torch
from norse.torch.functional.lif import LIFParameters
from norse.torch.functional.lif_refrac import LIFRefracParameters
from norse.torch.module.lif_refrac import LIFRefracCell

SEED, T, B, N = 11, 20, 3, 8
out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
rng = np.random.default_rng(SEED)
arrays: dict[str, np.ndarray] = {}
meta: dict = {
    "versions": {"snntorch": snntorch.__version__, "norse": norse.__version__, "torch": torch.__version__},
    "seed": SEED,
}


def save(case: str, **values) -> None:
    for name, value in values.items():
        arrays[f"{case}__{name}"] = np.asarray(value, np.float32)


def stack(steps) -> np.ndarray:
    return torch.stack(steps).detach().numpy()


# -- snnTorch Alpha: per-unit alpha > beta, one run per reset mechanism ---------------------------
alpha = np.linspace(0.85, 0.95, N).astype(np.float32)
beta = np.linspace(0.6, 0.8, N).astype(np.float32)
x_alpha = rng.uniform(-0.2, 1.0, (T, B, N)).astype(np.float32)
for reset in ("zero", "subtract", "none"):
    neuron = snntorch.Alpha(
        alpha=torch.tensor(alpha), beta=torch.tensor(beta), threshold=1.0, reset_mechanism=reset
    )
    exc, inh, mem = (torch.zeros(B, N) for _ in range(3))
    spk_t, exc_t, inh_t, mem_t = [], [], [], []
    with torch.no_grad():
        for x_t in torch.tensor(x_alpha):
            spk, exc, inh, mem = neuron(x_t, exc, inh, mem)
            spk_t.append(spk), exc_t.append(exc), inh_t.append(inh), mem_t.append(mem)
    save(
        f"alpha_{reset}",
        x=x_alpha,
        spk=stack(spk_t),
        syn_exc=stack(exc_t),
        syn_inh=stack(inh_t),
        mem=stack(mem_t),
    )
    meta[f"alpha_{reset}"] = {
        "alpha": alpha.tolist(),
        "beta": beta.tolist(),
        "threshold": 1.0,
        "reset_mechanism": reset,
    }

# -- snnTorch Lapicque: from (R, C, time_step) and from beta -------------------------------------
x_lap = rng.uniform(0.0, 1.2, (T, B, N)).astype(np.float32)
R, C, DT, BETA = 2.0, 5e-3, 1e-3, 0.9
cases = {
    "lapicque_rc_none": ({"R": R, "C": C, "time_step": DT}, "none"),
    "lapicque_rc_zero": ({"R": R, "C": C, "time_step": DT}, "zero"),
    "lapicque_rc_subtract": ({"R": R, "C": C, "time_step": DT}, "subtract"),
    "lapicque_beta_none": ({"beta": BETA, "time_step": DT}, "none"),
}
x_lap_beta = rng.uniform(0.0, 20.0, (T, B, N)).astype(np.float32)  # beta 0.9: input gain -ln(0.9) = 0.105
for case, (kwargs, reset) in cases.items():
    x = x_lap_beta if "beta" in kwargs else x_lap
    neuron = snntorch.Lapicque(**kwargs, threshold=1.0, reset_mechanism=reset)
    mem = torch.zeros(B, N)
    spk_t, mem_t = [], []
    with torch.no_grad():
        for x_t in torch.tensor(x):
            spk, mem = neuron(x_t, mem)
            spk_t.append(spk), mem_t.append(mem)
    save(case, x=x, spk=stack(spk_t), mem=stack(mem_t))
    meta[case] = {**kwargs, "threshold": 1.0, "reset_mechanism": reset}

# -- snnTorch StateLeaky (reset-free, convolution with exp(-t / tau), tau = 1 / (1 - beta)) -------
beta_sl = np.linspace(0.5, 0.95, N).astype(np.float32)
x_sl = rng.uniform(0.0, 0.5, (T, B, N)).astype(np.float32)
neuron = snntorch.StateLeaky(beta=torch.tensor(beta_sl), channels=N, threshold=1.0)
with torch.no_grad():
    spk, mem = neuron(torch.tensor(x_sl))
save("stateleaky", x=x_sl, spk=spk.numpy(), mem=mem.numpy())
meta["stateleaky"] = {"beta": beta_sl.tolist(), "threshold": 1.0}

# -- Norse LIFRefracCell: tau_syn = dt (the current lasts one step), rho_reset = 3 ----------------
DT_N = 2.0**-10  # dt * tau_syn_inv = 1 and dt * tau_mem_inv = 25/256 exactly in binary
p = LIFRefracParameters(
    lif=LIFParameters(
        tau_syn_inv=torch.tensor(1 / DT_N),
        tau_mem_inv=torch.tensor(100.0),
        v_leak=torch.tensor(0.1),
        v_th=torch.tensor(1.0),
        v_reset=torch.tensor(-0.2),
    ),
    rho_reset=torch.tensor(3.0),
)
cell = LIFRefracCell(p, dt=DT_N)
x_ref = rng.uniform(0.0, 13.0, (T, B, N)).astype(np.float32)
state = None
z_t, v_t, i_t, rho_t = [], [], [], []
with torch.no_grad():
    for x_t in torch.tensor(x_ref):
        z, state = cell(x_t, state)
        z_t.append(z), v_t.append(state.lif.v), i_t.append(state.lif.i), rho_t.append(state.rho)
save("norse_lifrefrac", x=x_ref, z=stack(z_t), v=stack(v_t), i=stack(i_t), rho=stack(rho_t))
meta["norse_lifrefrac"] = {
    "dt": DT_N,
    "tau_syn_inv": 1 / DT_N,
    "tau_mem_inv": 100.0,
    "v_leak": 0.1,
    "v_th": 1.0,
    "v_reset": -0.2,
    "rho_reset": 3,
    "initial_v": "v_leak",
}

np.savez_compressed(out_dir / "zoo_synaptic.npz", meta=json.dumps(meta), **arrays)
print(f"wrote {out_dir / 'zoo_synaptic.npz'}: {len(arrays)} arrays")
