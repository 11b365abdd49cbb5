"""The code on the site's home page, concept, model-zoo and plasticity pages runs as written.

Concept pages show fragments that name what the prose around them describes
(``model``, ``x``, ``key``...). ``GIVEN`` supplies exactly those names, per
block, with the shapes the text gives; every block then runs in its page's
namespace, in page order, and its own assertions or comments are checked where
it makes a claim (the hand-stepped LIF's printed membranes).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # about 20 s of compiling small programs

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = [
    "index.md",
    *sorted(p.relative_to(DOCS).as_posix() for p in (DOCS / "concepts").glob("*.md")),
    *sorted(p.relative_to(DOCS).as_posix() for p in (DOCS / "zoo").glob("*.md") if p.name != "index.md"),
    "plasticity.md",
    "quantisation.md",
]
COMMON = "import jax, numpy as np, jax.numpy as jnp, optax, snnx\nfrom flax import nnx\nrngs = nnx.Rngs(0)\n"
GIVEN = {  # (page, block index): the names the text around the block defines
    ("concepts/one-step.md", 0): "layer, B = snnx.LIF(4), 2\nx_t = jnp.ones((B, 4))",
    ("concepts/one-step.md", 1): "x = jnp.ones((6, 8, 64))",
    ("concepts/one-step.md", 2): "x = jnp.ones((6, 3, 8))",
    ("concepts/one-step.md", 3): "x = jnp.ones((6, 3, 64))",
    ("concepts/dt-and-nir.md", 0): "model = snnx.Sequential(snnx.LIF(3), input_shape=(3,))\n"
    "snnx.nir.write('model.nir', snnx.nir.to_nir(model, dt=1e-3))",
    ("concepts/time-major.md", 0): "key = jax.random.key(0)\nimages = jnp.full((4, 64), 0.3)\n"
    "labels = jnp.array([0, 1, 2, 3])\nr = nnx.Rngs(1)\n"
    "model = snnx.Sequential(nnx.Linear(64, 10, rngs=r), snnx.LI(10))",
}


def blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), re.DOTALL)


@pytest.mark.parametrize("page", PAGES)
def test_page_code_runs(page, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # a block may write a file (model.nir)
    found = blocks(page)
    assert found, f"{page} has no python block"
    namespace: dict = {"__name__": "__main__"}
    exec(COMMON, namespace)
    for i, code in enumerate(found):
        exec(GIVEN.get((page, i), ""), namespace)
        exec(compile(code, f"docs/{page}#{i}", "exec"), namespace)
    if page == "concepts/neurons.md":  # the hand-stepped LIF prints what its comments say
        assert capsys.readouterr().out.split() == ["0.0", "0.8", "1.0", "0.0", "0.0", "0.8"]


def test_one_step_loop_equals_run():
    """concepts/one-step.md: 'jnp.stack(ys) equals snnx.run(model, x)[0]'."""
    namespace: dict = {"__name__": "__main__"}
    exec(COMMON + GIVEN[("concepts/one-step.md", 1)], namespace)
    exec(blocks("concepts/one-step.md")[1], namespace)
    exec("assert jnp.allclose(jnp.stack(ys), snnx.run(model, x)[0], atol=1e-6)", namespace)
