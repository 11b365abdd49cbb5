"""Does another revision of snnx compile the benchmark training steps to the same program?

``python benchmarks/compare_hlo.py --before /tmp/before/src [--workloads ff100,ff250,rec100,conv30]``

For each workload, builds the training step exactly as ``profile_step.py`` does
(``bench_snnx.build``, Adam, ``_common.jit_train_step``, the default ``run``),
once with ``--before`` first on ``PYTHONPATH`` and once with this checkout, and
compares XLA's optimised HLO after dropping what does not change the program
(instruction numbering, source metadata, the stack-frame table). Identical HLO
means identical machine code and speed, which a timing on a shared machine can
only approximate. Exit status 1 when a workload differs.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent

_DUMP = """
import sys
sys.path.insert(0, {here!r})
import _common as C
import jax.numpy as jnp, optax
from flax import nnx
import bench_snnx as bench
from snnx.engine import run
s = C.spec({workload!r})
model = bench.build(s, nnx.Rngs(0))
opt = nnx.Optimizer(model, optax.adam(C.LR), wrt=nnx.Param)
xs, ys = C.inputs(s)
graphdef, state = nnx.split((model, opt))
step = C.jit_train_step(graphdef, lambda m, x: run(m, x, remat=s["remat"])[0])
print(step.lower(state, jnp.asarray(xs), jnp.asarray(ys)).compile().as_text())
"""


def normalised(hlo: str) -> list[str]:
    """The HLO's instructions without numbering, metadata or the stack-frame table, sorted."""
    out = []
    for line in hlo.splitlines():
        line = re.sub(r"\.\d+", "", line)
        line = re.sub(r"metadata=\{[^}]*\}", "", line)
        line = re.sub(r", sharding=\{[^}]*\}", "", line).strip()
        if not line or "file_location_id" in line or "file_name_id" in line or re.match(r'^\d+ "', line):
            continue
        out.append(line)
    return sorted(out)


def dump(src: str | None, workload: str) -> str:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    code = _DUMP.format(here=str(HERE), workload=workload)
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{workload} ({src or 'this checkout'}): {r.stderr.strip()[-2000:]}")
    return r.stdout


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True, help="src folder of the revision to compare against")
    p.add_argument("--workloads", default="ff100,ff250,rec100,conv30")
    args = p.parse_args(argv)
    if not (Path(args.before) / "snnx" / "__init__.py").exists():
        p.error(f"--before must be a src folder holding snnx/, got {args.before!r}")
    differ = 0
    for wl in args.workloads.split(","):
        a = normalised(dump(args.before, wl))
        b = normalised(dump(str(HERE.parent / "src"), wl))
        ca, cb = Counter(a), Counter(b)
        changed = sum(((ca - cb) + (cb - ca)).values())
        differ += changed > 0
        print(f"{wl}: {'identical' if changed == 0 else f'{changed} lines differ'} ({len(b)} HLO lines)")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
