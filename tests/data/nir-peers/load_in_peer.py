"""Load NIR files with a peer's own reader and importer: ``python load_in_peer.py sinabs|rockpool DIR``.

Used to check that ``snnx.nir.write(..., compat="nir-1.0.4")`` writes files that
readers pinned to nir 1.0.4 load (README-rockpool-sinabs.md, "snnx's compat
files"). Run in the peer's environment (requirements-sinabs.txt or
requirements-rockpool.txt), never the project's. Prints one line per file: whether
nir 1.0.4's ``nir.read`` reads it, and what the peer's import then does.
"""

import sys
from pathlib import Path

import nir

peer, folder = sys.argv[1], Path(sys.argv[2])
for path in sorted(folder.glob("*.nir")):
    try:
        graph = nir.read(path)
    except Exception as err:
        print(f"{peer} {path.name}: nir {nir.__version__} cannot read it: {type(err).__name__}: {err}")
        continue
    try:
        if peer == "sinabs":
            import sinabs.nir

            module = sinabs.nir.from_nir(graph, batch_size=1)
        else:
            from rockpool.nn.modules.torch.nir import from_nir

            module = from_nir(graph)
        print(f"{peer} {path.name}: nir {nir.__version__} reads it; imported as {type(module).__name__}")
    except Exception as err:
        print(f"{peer} {path.name}: nir {nir.__version__} reads it; the import fails: {type(err).__name__}: "
              f"{str(err)[:90]}")  # fmt: skip
