"""Deployment: quantise a trained digits classifier, then take it out of Python.

``python examples/14_quantise_and_export.py [OUT_DIR]`` (default ``14_quantise_and_export_out``)
trains the digits model (64 -> 128 LIF -> 10 LI) in float32 for a few epochs, then

1. quantises its weights after training (``snnx.quant.ptq``): int8, and int4 with ``mse`` clipping;
2. fine-tunes it through ternary weights (``snnx.quant.qat``) and freezes them (``convert``);
3. keeps the int8 model's membranes in 8-bit fixed point (``quantize_membranes``);
4. writes the int4 model to NIR (the exact values it computes with, scales in the metadata) and
   reads it back;
5. exports it to ONNX, one time step, and runs it with onnxruntime in a plain numpy loop;
6. exports the whole time loop as StableHLO and runs the deserialised program.

It prints each variant's test accuracy and parameter bytes, and whether each export predicts
exactly as ``snnx.run`` does. About 30 s on a 2-core CPU.
"""

import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import onnxruntime
import optax
from flax import nnx

import snnx
from snnx import quant
from snnx.export import initial_state, load_stablehlo, to_onnx, to_stablehlo
from snnx.train import evaluate, fit

out = Path(sys.argv[1] if len(sys.argv) > 1 else "14_quantise_and_export_out")
out.mkdir(parents=True, exist_ok=True)

# ## A float32 model to start from
#
# The digits rate-coded over T = 25 steps; the readout's peak membrane picks the class.
T = 25
(x_train, y_train), (x_test, y_test) = snnx.datasets.digits("rate", num_steps=T, seed=0)
rngs = nnx.Rngs(0)
model = snnx.Sequential(
    nnx.Linear(64, 128, rngs=rngs), snnx.LIF(128), nnx.Linear(128, 10, rngs=rngs), snnx.LI(10)
)
loss = snnx.losses.max_membrane_cross_entropy
accuracy = {"accuracy": snnx.metrics.max_membrane_accuracy}
fit(model, optax.adam(2e-3), loss, (x_train, y_train), epochs=15, batch_size=32, compiled=True,
    progress=False)  # fmt: skip


def report(name, m):
    acc = evaluate(m, loss, (x_test, y_test), batch_size=360, metrics=accuracy)["accuracy"]
    print(f"{name}: test accuracy {acc:.4f}, {quant.size_bytes(m)} bytes of parameters")


report("float32", model)

# ## 1. Post-training quantisation
#
# A rule picks weights (here: all of them) and says how. `mse` tries clipping ratios per output
# channel and keeps the one with the least squared error, which matters at 4 bits.
int8 = quant.ptq(model, "int8")
int4 = quant.ptq(model, quant.Rule("int4", calibration="mse"))
report("int8", int8)
report("int4", int4)

# ## 2. Quantisation-aware training
#
# `qat` trains the float weights through their quantised values (straight-through gradient);
# `convert` then freezes them. Ternary weights ({-1, 0, 1} times a scale per channel) need it.
ternary = quant.qat(model, "ternary")
fit(ternary, optax.adam(5e-4), loss, (x_train, y_train), epochs=5, batch_size=32, compiled=True,
    progress=False, seed=1)  # fmt: skip
report("ternary_qat", quant.convert(ternary))

# ## 3. Fixed-point membranes
#
# Each neuron's membrane on a grid of 256 levels, rounded every step. The grid must hold the
# membranes the model reaches: [-2, 2] for the hidden LIF (threshold 1), and for the readout the
# range its membranes cover on the training data (a clipped readout would tie at the top level).
x = jnp.asarray(x_test)
_, _, rec = snnx.run(int8, jnp.asarray(x_train[:, :256]), record_states="3")
reach = float(jnp.max(jnp.abs(rec.states["3"]["v"])))
membranes = quant.quantize_membranes(int8, quant.FixedPoint(8, -2.0, 2.0), layers=["1"])
membranes = quant.quantize_membranes(membranes, quant.FixedPoint(8, -reach, reach), layers=["3"])
report("int8_membranes8", membranes)


def predictions(outputs) -> np.ndarray:
    return np.asarray(jnp.argmax(jnp.max(jnp.asarray(outputs), axis=0), axis=-1))


want = predictions(snnx.run(int4, x)[0])

# ## 4. NIR: the values the model computes with, and how they arose
#
# Any NIR reader reproduces the int4 model's spikes; `from_nir` also restores its codes and scales.
snnx.nir.write(out / "int4.nir", snnx.nir.to_nir(int4, (64,), dt=1e-3))
back = snnx.nir.from_nir(out / "int4.nir", dt=1e-3)
print("nir: quantised weights", [row.qtype for row in quant.summary(back)])
print("nir: predictions identical", bool(np.array_equal(predictions(snnx.run(back, x)[0]), want)))

# ## 5. ONNX, one step at a time
#
# The state is passed in and out by name, so any ONNX runtime can keep it between steps.
to_onnx(int4, x[:, :2], mode="step", path=out / "int4_step.onnx")
session = onnxruntime.InferenceSession(str(out / "int4_step.onnx"), providers=["CPUExecutionProvider"])
state = initial_state(int4, batch=x.shape[1])
ys = []
for t in range(T):
    y, *new = session.run(None, {"x": np.asarray(x_test[t]), **state})
    state = dict(zip(state, new, strict=True))
    ys.append(y)
print("onnx: predictions identical", bool(np.array_equal(predictions(np.stack(ys)), want)))

# ## 6. StableHLO, the whole loop
#
# A serialised program that a fresh process (or another runtime) loads without the model's code.
to_stablehlo(int4, x[:, :2], path=out / "int4.stablehlo")
program = load_stablehlo(out / "int4.stablehlo")
y, _ = program(x)
print("stablehlo: predictions identical", bool(np.array_equal(predictions(y), want)))
