"""Write ``graphs/spyx_export_lif.nir`` with Spyx 1.0's own exporter, and Spyx's own simulation of it.

Run in an environment with Spyx (``requirements-spyx.txt`` beside this file), never
the project's::

    python3 -m venv /tmp/spyx && /tmp/spyx/bin/pip install -r tests/data/nir-refs/requirements-spyx.txt
    /tmp/spyx/bin/python tests/data/nir-refs/make_spyx_reference.py tests/data/nir-refs

The model: ``Linear(8 -> 5)`` (seeded weights, bias 0.1) and a ``LIF`` with
``beta = 0.8``, threshold 1, exported at ``dt = 1e-3``. The reference file
``spyx_export_lif__rand_T100_B3_p30_s7__spyx.npz`` holds the input ``x``
``(T, B, 8)``, what Spyx's ``run`` returned (``out``, spikes ``(T, B, 5)``) and
``meta`` (dt, versions, notes). It is **not** a must-match reference: Spyx 1.0
writes ``r = beta`` and spikes one step late (docs/migration/spyx.md); snnx
runs what the file says.
"""

import json
import sys
from pathlib import Path

import flax
import jax
import jax.numpy as jnp
import nir
import numpy as np
import spyx
import spyx.nn as nn
from flax import nnx

out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
N_IN, N, T, B, BETA, DT = 8, 5, 100, 3, 0.8, 1e-3
rng = np.random.default_rng(7)
model = nn.Sequential(nnx.Linear(N_IN, N, rngs=nnx.Rngs(0)), nn.LIF((N,), beta=BETA, rngs=nnx.Rngs(1)))
linear = model.layers[0]
linear.kernel.value = jnp.asarray(rng.normal(0.3, 0.8, (N_IN, N)), jnp.float32)
linear.bias.value = jnp.full((N,), 0.1, jnp.float32)
x = (rng.random((T, B, N_IN)) < 0.3).astype(np.float32)
spikes, _ = nn.run(model, jnp.asarray(x))
graph = spyx.nir.to_nir(model, {"input": np.array([N_IN])}, {"output": np.array([N])}, dt=DT)
(out / "graphs").mkdir(parents=True, exist_ok=True)
nir.write(out / "graphs" / "spyx_export_lif.nir", graph)
meta = {
    "dt": DT,
    "producer": f"spyx {spyx.__version__} nn.run (jax {jax.__version__}, flax {flax.__version__}, "
    f"nir {nir.__version__})",
    "notes": "Spyx 1.0's own simulation of its own model; the file is its to_nir export "
    "(r = beta, no v_reset)",
}
reference = out / "spyx_export_lif__rand_T100_B3_p30_s7__spyx.npz"
np.savez(reference, x=x, out=np.asarray(spikes), meta=json.dumps(meta))
print(f"wrote spyx_export_lif.nir and its reference: {int(np.asarray(spikes).sum())} spikes in {T} steps")
