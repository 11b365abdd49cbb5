"""Run a model on every engine of ``snnx.run``, eagerly and under ``nnx.jit``, and check they agree.

The three engines: the step-major reference (``engine="step"``), layer-major
with autodiff neuron scans (``fused=False``) and layer-major with the fused
kernels (the default). Tests of closed forms and hand-derived spike trains call
:func:`run_every_way`, so each expectation holds on every engine.
"""

from __future__ import annotations

import jax
import numpy as np
from flax import nnx

import snnx
from snnx.engine import Options

VARIANTS = {
    "step": Options(engine="step"),
    "layer": Options(engine="layer", fused=False),
    "fused": Options(engine="layer"),
}


def run_every_way(model, x, state=None, **kwargs):
    """``snnx.run(model, x, state, **kwargs)`` on every engine, with and without jit; all must agree.

    Returns the step engine's eager result. Outputs and states must agree to
    1e-6 (spikes, being 0 or 1, therefore exactly).
    """
    results = {}
    for name, options in VARIANTS.items():
        results[name, "eager"] = snnx.run(model, x, state, options=options, **kwargs)
        jitted = nnx.jit(lambda m, x, s, options=options: snnx.run(m, x, s, options=options, **kwargs))
        results[name, "jit"] = jitted(model, x, state)
    ref = results["step", "eager"]
    for key, got in results.items():
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref), strict=True):
            np.testing.assert_allclose(
                np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6, err_msg=f"engine {key[0]}, {key[1]}"
            )
    return ref

