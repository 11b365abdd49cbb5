"""Write ``zoo_biophysical.npz``: what Norse 1.1.0 computes for the neurons of
``tests/test_neurons_zoo_biophysical.py`` (Norse ``LIFEx``, ``LIFAdEx``, ``Izhikevich`` and
``coba_lif_feed_forward_step``).

Run in the peers environment, never the project's::

    benchmarks/.venv-peers/bin/python tests/data/peers/make_zoo_biophysical.py tests/data/peers

Every key is ``<case>__<name>``: ``x`` the input ``(T, B, N)`` (time-major, as given to Norse),
then what Norse returned (``z``) or held after each step (its state fields), stacked on time.
The parameters of each case (Norse's names and units) and its ``dt`` are in ``meta`` (a JSON
string: ``json.loads(str(d["meta"]))[case]``), with the versions. Inputs come from
``numpy.random.default_rng(SEED)``; Norse's own modules and step functions compute everything
else (nothing here re-implements a neuron).

The script also checks, and records in ``meta["coba_cell_ignores_input"]``, that Norse's
``CobaLIFCell`` (which steps with ``coba_lif_step``) gives the same output for two different
inputs: that step overwrites the input's conductance jump with the recurrent one, so snnx
matches ``coba_lif_feed_forward_step`` instead.
"""

import json
import sys
from pathlib import Path

import norse
import numpy as np
import torch
from norse.torch.functional.coba_lif import (
    CobaLIFFeedForwardState,
    CobaLIFParameters,
    CobaLIFState,
    coba_lif_feed_forward_step,
)
from norse.torch.functional.izhikevich import IzhikevichParameters, IzhikevichSpikingBehavior, IzhikevichState
from norse.torch.functional.lif_adex import LIFAdExParameters
from norse.torch.functional.lif_ex import LIFExParameters
from norse.torch.module.coba_lif import CobaLIFCell
from norse.torch.module.izhikevich import Izhikevich
from norse.torch.module.lif_adex import LIFAdEx
from norse.torch.module.lif_ex import LIFEx

SEED, B, N = 5, 2, 4
out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
rng = np.random.default_rng(SEED)
arrays: dict[str, np.ndarray] = {}
meta: dict = {"versions": {"norse": norse.__version__, "torch": torch.__version__}, "seed": SEED}


def save(case: str, **values) -> None:
    for name, value in values.items():
        arrays[f"{case}__{name}"] = np.asarray(value, np.float32)


def fields(states, *names) -> dict[str, np.ndarray]:
    """Norse's recorded states (a state tuple of stacked tensors) as arrays."""
    return {name: getattr(states, name).detach().numpy() for name in names}


def tensors(params: dict) -> dict:
    return {k: torch.as_tensor(np.asarray(v, np.float32)) for k, v in params.items()}


# -- LIFEx without a synaptic filter (tau_syn_inv = 1 / dt: Norse's current decays to 0 in a step) ----
T, DT = 40, 1e-3
p_ex = {
    "delta_T": [0.3, 0.5, 0.8, 1.0],
    "tau_syn_inv": 1.0 / DT,
    "tau_mem_inv": 100.0,
    "v_leak": 0.0,
    "v_th": 1.0,
    "v_reset": -0.2,
}
x_ex = rng.uniform(0.0, 2.2, (T, B, N)).astype(np.float32)
with torch.no_grad():
    z, s = LIFEx(LIFExParameters(**tensors(p_ex)), dt=DT, record_states=True)(torch.tensor(x_ex))
rec = fields(s, "v", "i")
if np.any(rec["i"] != 0):
    raise SystemExit("LIFEx: the synaptic current should vanish in one step with tau_syn_inv = 1 / dt")
save("lif_ex", x=x_ex, z=z.numpy(), **rec)
meta["lif_ex"] = {"params": p_ex, "dt": DT}

# -- LIFAdEx with Norse's default synaptic filter (tau_syn_inv = 200: decay 0.8 per step) -------------
p_adex = {
    "adaptation_current": [0.0, 0.5, 1.0, 2.0],
    "adaptation_spike": [0.0, 0.3, 0.1, 0.5],
    "delta_T": 0.5,
    "tau_ada_inv": 20.0,
    "tau_syn_inv": 200.0,
    "tau_mem_inv": 100.0,
    "v_leak": 0.0,
    "v_th": 1.0,
    "v_reset": 0.0,
}
x_adex = rng.uniform(0.0, 0.7, (T, B, N)).astype(np.float32)
with torch.no_grad():
    z, s = LIFAdEx(LIFAdExParameters(**tensors(p_adex)), dt=DT, record_states=True)(torch.tensor(x_adex))
save("lif_adex", x=x_adex, z=z.numpy(), **fields(s, "v", "i", "a"))
meta["lif_adex"] = {"params": p_adex, "dt": DT}

# -- Izhikevich: the seven presets of Izhikevich (2003), one per unit, h = tau_inv * dt = 0.5 ms -----
presets = {
    "RS": (0.02, 0.2, -65.0, 8.0),
    "IB": (0.02, 0.2, -55.0, 4.0),
    "CH": (0.02, 0.2, -50.0, 2.0),
    "FS": (0.1, 0.2, -65.0, 2.0),
    "LTS": (0.02, 0.25, -65.0, 2.0),
    "TC": (0.02, 0.25, -65.0, 0.05),
    "RZ": (0.1, 0.26, -65.0, 2.0),
}
T_IZ, N_IZ, V0 = 120, len(presets), -65.0
a, b, c, d = (np.array(col, np.float32) for col in zip(*presets.values(), strict=True))
p_iz = IzhikevichParameters(
    a=torch.tensor(a), b=torch.tensor(b), c=torch.tensor(c), d=torch.tensor(d), tau_inv=500.0
)
x_iz = np.empty((T_IZ, B, N_IZ), np.float32)
x_iz[:, 0] = np.where(np.arange(T_IZ) >= 10, 10.0, 0.0)[:, None]  # a step current I = 10 after 5 ms
x_iz[:, 1] = rng.uniform(0.0, 16.0, (T_IZ, N_IZ))
v0 = torch.full((B, N_IZ), V0)
behaviour = IzhikevichSpikingBehavior(p=p_iz, s=IzhikevichState(v=v0, u=torch.tensor(b) * v0))
with torch.no_grad():
    z, s = Izhikevich(behaviour, dt=DT, record_states=True)(torch.tensor(x_iz), behaviour.s)
save("izhikevich", x=x_iz, z=z.numpy(), **fields(s, "v", "u"))
meta["izhikevich"] = {
    "presets": list(presets),
    "a": a.tolist(),
    "b": b.tolist(),
    "c": c.tolist(),
    "d": d.tolist(),
    "tau_inv": 500.0,
    "v_th": 30.0,
    "v0": V0,
    "dt": DT,
}

# -- conductance-based LIF: the feed-forward step, dt = 1 (ms) and c_m_inv = 1 ------------------------
p_coba = {
    "tau_syn_exc_inv": 0.2,
    "tau_syn_inh_inv": 0.1,
    "c_m_inv": 1.0,
    "g_l": 0.05,
    "e_rev_I": -80.0,
    "e_rev_E": 0.0,
    "v_rest": -60.0,
    "v_reset": -62.0,
    "v_thresh": [-50.0, -52.0, -48.0, -50.0],
}
DT_COBA = 1.0
x_coba = rng.normal(0.02, 0.06, (T, B, N)).astype(np.float32)
params = CobaLIFParameters(**tensors(p_coba))
state = CobaLIFFeedForwardState(v=torch.full((B, N), -60.0), g_e=torch.zeros(B, N), g_i=torch.zeros(B, N))
steps = []
with torch.no_grad():
    for x_t in torch.tensor(x_coba):
        z_t, state = coba_lif_feed_forward_step(x_t, state, params, dt=DT_COBA)
        steps.append((z_t, state.v, state.g_e, state.g_i))
z, v, g_e, g_i = (torch.stack(col).numpy() for col in zip(*steps, strict=True))
save("coba", x=x_coba, z=z, v=v, g_e=g_e, g_i=g_i)
meta["coba"] = {"params": p_coba, "dt": DT_COBA, "v0": -60.0}

# Norse's CobaLIFCell: its output does not depend on its input (coba_lif_step drops the input jump)
torch.manual_seed(SEED)
cell = CobaLIFCell(N, N, CobaLIFParameters(), dt=DT)
start = CobaLIFState(
    z=torch.zeros(B, N), v=torch.full((B, N), -60.0), g_e=torch.zeros(B, N), g_i=torch.zeros(B, N)
)
with torch.no_grad():
    outs = [cell(torch.full((B, N), level), start)[1] for level in (0.0, 50.0)]
ignores = all(torch.equal(getattr(outs[0], k), getattr(outs[1], k)) for k in ("v", "g_e", "g_i"))
if not ignores:
    raise SystemExit("expected Norse 1.1.0's CobaLIFCell to ignore its input; update the README")
meta["coba_cell_ignores_input"] = ignores

arrays["meta"] = np.asarray(json.dumps(meta))
np.savez_compressed(out_dir / "zoo_biophysical.npz", **arrays)
for key, value in arrays.items():
    if key.endswith("__z"):
        print(f"{key}: {int(value.sum())} spikes of {value.size}")
print(f"wrote {out_dir / 'zoo_biophysical.npz'}")
