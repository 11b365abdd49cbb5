"""Run graphs written by snnTorch, Norse, Rockpool, Sinabs and Spyx as their authors ran them; give ours back.

``python examples/09_nir_peers.py [OUT_DIR]`` (default ``09_nir_peers_out``)
uses the reference files in ``tests/data/nir-refs`` (its README says where
each came from): NIR graphs written by other simulators, and what those
simulators computed from them on a saved input. It

1. imports each graph with ``snnx.nir.from_nir``, runs it on the saved input and
   prints how well snnx agrees with the peer's saved output and membranes;
2. reads a graph written by Spyx 1.0's own exporter, compares it with what Spyx
   itself computed, shows what snnx reads in it and why, and runs it as Spyx
   does, with ``from_nir(..., dialect="spyx")`` and with ``snnx.nir.convert``;
3. exports a snnx model with ``to_nir``, reads it back and checks that the
   re-imported model computes the same spikes.

It saves ``OUT_DIR/norse_membrane.png`` (Norse's and snnx's membrane of the
NIR paper's LIF neuron), ``OUT_DIR/graph.png`` (the exported graph) and the
``.nir`` files it writes. No PyTorch is needed: the peers' numbers are in the
files. Conventions: docs/nir.md and docs/nir-semantics.md.
"""

import json
import sys
import warnings
from pathlib import Path

import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from flax import nnx

import snnx
from snnx.nir import convert, from_nir, read, to_nir, write

out = Path(sys.argv[1] if len(sys.argv) > 1 else "09_nir_peers_out")
out.mkdir(parents=True, exist_ok=True)
REFS = Path(__file__).resolve().parents[1] / "tests" / "data" / "nir-refs"

# ## 1. Other simulators' graphs, and what they computed
#
# Each reference file `<graph>__<input>__<peer>.npz` holds the input `x`
# (time-major, channels-first), the peer's output `out` at every step, its
# state arrays `<var>__<node>` (e.g. `v__1`, the membrane of NIR node "1") and
# `meta` (a JSON string with `dt`, which a NIR file does not store).
SNNTORCH_RUN = "rand_T100_B3_p30_s5_x2__snntorch_native_zero_nodelay"
PEERS = [  # (graph file, reference file, who wrote the graph, who ran it)
    ("snntorch_export_leaky", SNNTORCH_RUN, "snnTorch", "snnTorch"),
    ("snntorch_export_synaptic", SNNTORCH_RUN, "snnTorch", "snnTorch"),
    ("lif_norse", "paper1000__norse", "Norse", "Norse"),
    ("lif_rockpool", "paper1000__snntorch", "Rockpool", "snnTorch"),
    ("cnn_sinabs", "rand_T60_B2_p05_s3__norse", "Sinabs", "Norse"),
]


def compare(graph_name: str, ref_name: str, states: bool = True):
    """Run the graph in snnx on the reference input; return (outputs equal, max relative |dv|, data)."""
    data = np.load(REFS / f"{graph_name}__{ref_name}.npz")
    dt = json.loads(str(data["meta"]))["dt"]
    # NIR's own equations (dialect="nir": no warning for Rockpool's signature; snnTorch ran that file as NIR
    # says). The model takes NIR (channels-first) layout.
    model = from_nir(REFS / "graphs" / f"{graph_name}.nir", dt=dt, dialect="nir")
    # A layer made from a NIR node is recorded under that node's name (helpers
    # such as a gain `Scale` keep their index, written "#1" when "1" is a NIR
    # name): record the state after every step of each node the peer saved.
    nodes = sorted({key.split("__", 1)[1] for key in data.files if "__" in key}) if states else []
    y, _, rec = snnx.run(model, jnp.asarray(data["x"]), record_states=nodes)
    worst = 0.0
    for key in data.files:
        if "__" not in key or not states:
            continue
        var, node = key.split("__", 1)  # "v__1": the membrane of NIR node "1"
        ours = np.asarray(rec.states[node][var])
        if ours.ndim >= 4:  # feature maps are channels-last inside snnx: (T, B, H, W, C) -> (T, B, C, H, W)
            ours = np.moveaxis(ours, -1, 2)
        scale = max(float(np.abs(data[key]).max()), 1e-12)
        worst = max(worst, float(np.abs(ours - data[key]).max()) / scale)
    return bool(np.array_equal(np.asarray(y), data["out"])), worst, data


print(f"{'graph':26} {'written by':10} {'run by':9} {'steps':>5} {'spikes':>6}  identical  max|dv|/max|v|")
for graph_name, ref_name, writer, runner in PEERS:
    # snnTorch reports a Rockpool LIF's membrane divided by its input gain: compare the spikes only
    with_states = graph_name != "lif_rockpool"
    same, worst, data = compare(graph_name, ref_name, with_states)
    dv = f"{worst:.1e}" if with_states else "(spikes only: snnTorch rescales v)"
    print(f"{graph_name:26} {writer:10} {runner:9} {data['x'].shape[0]:5d} {int(data['out'].sum()):6d}  "
          f"{same!s:9}  {dv}")  # fmt: skip

# The NIR paper's single LIF neuron (Norse's export): the membranes overlap.
data = np.load(REFS / "lif_norse__paper1000__norse.npz")
model = from_nir(REFS / "graphs" / "lif_norse.nir", dt=1e-4)
_, _, rec = snnx.run(model, jnp.asarray(data["x"]), record_states="1")  # NIR node "1": the LIF
membrane = np.asarray(rec.states["1"]["v"])
t = np.arange(400) * 1e-4 * 1e3  # ms
fig, ax = plt.subplots(figsize=(7, 2.8), layout="constrained")
ax.plot(t, data["v__1"][:400, 0, 0], lw=3, color="#E69F00", label="Norse 1.1")
ax.plot(t, membrane[:400, 0, 0], lw=1, color="black", label="snnx")
ax.axhline(0.1, ls="--", color="0.5", lw=0.8, label="threshold")
ax.set(xlabel="time (ms)", ylabel="membrane v", title="lif_norse.nir at dt = 0.1 ms")
ax.legend(loc="upper right")
fig.savefig(out / "norse_membrane.png", dpi=100)
plt.close(fig)

# ## 2. A graph written by Spyx 1.0, run as Spyx runs it
#
# `spyx_export_lif.nir` was written by Spyx 1.0's own exporter, and the
# reference beside it holds what Spyx itself computed on the same input
# (tests/data/nir-refs/make_spyx_reference.py). Spyx's LIF computes
# `V' = beta V + x` (unit input gain), but its exporter writes
# `tau = dt / (1 - beta)` with `r = beta`. NIR's LIF is
# `tau dv/dt = v_leak - v + r x`, whose forward-Euler step at `dt` has the
# input gain `r dt / tau = beta (1 - beta)`: 0.16 for beta = 0.8, not 1. By
# default snnx runs what the file says (a Scale(0.16) in front of the LIF), and
# warns that the file carries the signature of a Spyx export.
spyx = np.load(REFS / "spyx_export_lif__rand_T100_B3_p30_s7__spyx.npz")
DT = json.loads(str(spyx["meta"]))["dt"]
with warnings.catch_warnings(record=True) as said:
    warnings.simplefilter("always")
    imported = from_nir(REFS / "graphs" / "spyx_export_lif.nir", dt=DT)
print(f"\nwarning: {str(said[0].message)[:150]}...")
gain = float(imported[1].scale[...][0])
print(f"spyx_export_lif.nir in snnx: {' -> '.join(type(layer).__name__ for layer in imported.layers)}, "
      f"input gain {gain:.2f}, LIF beta {float(imported[2].beta[...][0]):.2f}")  # fmt: skip
x = jnp.asarray(spyx["x"])
as_written = np.asarray(snnx.run(imported, x)[0])

# `dialect="spyx"` runs the file as Spyx 1.0 runs it: unit gain (r is not
# read), the spike tested on the membrane *before* this step's input (so it
# comes one step later) and a reset by subtraction (docs/nir.md, "Dialects").
as_spyx = np.asarray(snnx.run(from_nir(REFS / "graphs" / "spyx_export_lif.nir", DT, dialect="spyx"), x)[0])

# `convert` rewrites the file into NIR that any faithful reader runs as Spyx
# did: the late spike and the subtraction become an LI whose spikes come back
# through Scale(-threshold) on a back edge, then a one-step Delay.
converted = convert(REFS / "graphs" / "spyx_export_lif.nir", "spyx", DT)
write(out / "spyx_lif_as_nir.nir", converted)
as_nir = np.asarray(snnx.run(from_nir(out / "spyx_lif_as_nir.nir", DT), x)[0])
print(f"spikes: Spyx 1.0 itself {int(spyx['out'].sum())}, "
      f"the file as written in snnx {int(as_written.sum())}, "
      f"dialect='spyx' {int(as_spyx.sum())} (identical {np.array_equal(as_spyx, spyx['out'])}), "
      f"converted to NIR {int(as_nir.sum())} (identical {np.array_equal(as_nir, spyx['out'])})")  # fmt: skip

# ## 3. Ours to them: export, write, read back
#
# `to_nir` writes the NIR equations that compute what snnx computes (unit
# input gain: `r = tau / dt`); `dt` is an argument on both sides.
N_IN = 8
rngs = nnx.Rngs(0)
model = snnx.Sequential(
    nnx.Linear(N_IN, 16, rngs=rngs),
    snnx.LIF(16, beta=0.9, threshold=0.5),
    nnx.Linear(16, 4, rngs=rngs),
    snnx.LI(4, beta=0.8),
)
graph = to_nir(model, input_shape=(N_IN,), dt=1e-3)
x = (np.random.default_rng(0).random((100, 3, N_IN)) < 0.3).astype(np.float32)
write(out / "snnx_model.nir", graph)
nodes = read(out / "snnx_model.nir").nodes
print("\nwrote snnx_model.nir:", ", ".join(f"{k}:{type(n).__name__}" for k, n in nodes.items()))
lif = graph.nodes["layer_1"]
print(f"its LIF: tau = {float(lif.tau[0]) * 1e3:.1f} ms, r = {float(lif.r[0]):.1f} (= tau/dt), "
      f"v_threshold = {float(lif.v_threshold[0])}")  # fmt: skip
again = from_nir(out / "snnx_model.nir", dt=1e-3)
y, _, rec = snnx.run(model, jnp.asarray(x), record="spikes")  # the LIF: key "1" here ...
y_again, _, rec_again = snnx.run(again, jnp.asarray(x), record="spikes")  # ... its NIR name "layer_1" there
same_spikes = bool(np.array_equal(np.asarray(rec.outputs["1"]), np.asarray(rec_again.outputs["layer_1"])))
print(f"re-imported: hidden spikes identical {same_spikes}, readout max |difference| "
      f"{float(np.abs(np.asarray(y) - np.asarray(y_again)).max()):.1e}")  # fmt: skip
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    fig, _ = snnx.plot.graph(out / "snnx_model.nir")
fig.savefig(out / "graph.png", dpi=100)
plt.close(fig)
print(f"files in {out}/: norse_membrane.png, graph.png, snnx_model.nir, spyx_lif_as_nir.nir")
