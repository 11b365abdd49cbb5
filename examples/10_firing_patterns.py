"""Firing patterns: Izhikevich's cortical cells and the AdEx's adaptation and bursting.

``python examples/10_firing_patterns.py [OUT_DIR]`` (default ``firing_patterns_out``)
drives the seven cells of Izhikevich (2003, figure 2) and two regimes of the
adaptive exponential neuron of Brette & Gerstner (2005) with a step current,
prints each pattern's spike count and first inter-spike intervals, and writes
to ``OUT_DIR`` the membrane traces (``firing_patterns.png``) and the spike times
in ms (``spike_times.json``). Both neurons take per-unit parameters, so each
family is one layer with one unit per pattern, run by ``snnx.run``. The input of
an snnx neuron is what one step adds to its membrane: ``x = h * I`` for
Izhikevich (``h`` ms per step) and ``x = dt * I / C`` for AdEx. See
docs/zoo/biophysical.md.
"""

import json
import sys
from pathlib import Path

import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import snnx
from snnx.neurons import AdEx, Izhikevich

out = Path(sys.argv[1] if len(sys.argv) > 1 else "firing_patterns_out")
out.mkdir(parents=True, exist_ok=True)
ONSET = 20.0  # ms of rest before the step current

# Izhikevich (2003): I = 10 from 20 ms on, h = 0.5 ms per step, 200 ms; one unit per preset
names = list(Izhikevich.PRESETS)
h, steps = 0.5, 400
a, b, c, d = (np.array(col) for col in zip(*Izhikevich.PRESETS.values(), strict=True))
izh = Izhikevich(len(names), a=a, b=b, c=c, d=d, h=h)
current = np.where(np.arange(steps) * h >= ONSET, 10.0, 0.0)
x = jnp.asarray(np.broadcast_to(h * current[:, None, None], (steps, 1, len(names))), jnp.float32)
z_izh, s_izh = snnx.run(izh, x, return_states=True)

# AdEx, Brette & Gerstner (2005): C = 281 pF, g_L = 30 nS, E_L = -70.6 mV, V_T = -50.4 mV, Delta_T = 2 mV,
# cut-off V_T + 5 Delta_T; I = 1 nA; dt = 0.1 ms, 200 ms. w is in mV (R w), so a -> a / g_L, b -> b / g_L.
# Per-step decays from the time constants by forward Euler: beta = 1 - dt / tau.
regimes = {"AdEx adapting": (144.0, 4.0, 80.5, -70.6), "AdEx bursting": (20.0, 4.0, 500.0, -45.4)}
dt, C, g_l = 0.1, 281.0, 30.0  # ms, pF, nS
tau_w, a_ns, b_pa, v_r = (np.array(col) for col in zip(*regimes.values(), strict=True))
adex = AdEx(len(regimes), beta=1 - dt / (C / g_l), gamma=1 - dt / tau_w, a=a_ns / g_l,
            b=b_pa / g_l, v_th=-50.4, delta_t=2.0, v_leak=-70.6, v_reset=v_r)  # fmt: skip
steps_adex = 2000
current = np.where(np.arange(steps_adex) * dt >= ONSET, 1000.0, 0.0)  # pA
x = jnp.asarray(np.broadcast_to((dt * current / C)[:, None, None], (steps_adex, 1, len(regimes))),
                jnp.float32)  # fmt: skip
z_adex, s_adex = snnx.run(adex, x, return_states=True)

# Spike times (ms, at the end of the step that fired) and the first inter-spike intervals
panels = [(name, z_izh, s_izh["v"], i, h, 30.0) for i, name in enumerate(names)]
cut = float(adex.threshold[...])  # the default cut-off, v_th + 5 delta_t = -40.4 mV
panels += [(name, z_adex, s_adex["v"], i, dt, cut) for i, name in enumerate(regimes)]
times = {}
for name, z, _, i, step, _ in panels:
    times[name] = [round(float(t), 3) for t in (np.flatnonzero(np.asarray(z[:, 0, i])) + 1) * step]
    isi = np.diff(times[name])[:6]
    print(f"{name:14s} {len(times[name]):3d} spikes, first ISIs (ms): {', '.join(f'{v:.1f}' for v in isi)}")
(out / "spike_times.json").write_text(json.dumps(times, indent=1))

# Membrane traces; the reset hides each spike's peak, so a spike is drawn up to the cut-off
fig, axes = plt.subplots(3, 3, figsize=(12, 8), layout="constrained")
for ax, (name, z, v, i, step, cut) in zip(axes.flat, panels, strict=True):
    trace = np.where(np.asarray(z[:, :, i : i + 1]) > 0, cut, np.asarray(v[:, :, i : i + 1]))
    snnx.plot.traces(trace, neurons=[0], dt=step / 1000, ax=ax, title=f"{name}: {len(times[name])} spikes")
    ax.get_legend().remove()
    ax.set_ylabel("v (mV)")
fig.savefig(out / "firing_patterns.png", dpi=90)
plt.close(fig)
print(f"figures in {out}/: firing_patterns.png (and spike_times.json)")
