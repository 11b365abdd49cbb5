"""Record what nir 1.0.4's reader accepts: its node types and each type's constructor fields.

nir 1.0.4 (the version Sinabs 3.1 pins) reads a node with ``cls(**fields)``
(``nir/ir/node.py``, ``NIRNode.from_dict``), so a field its class lacks (the
``v_reset`` that nir 1.0.8 writes) is a TypeError; Input and Output read a stored
``shape`` in their own ``from_dict``. ``tests/test_nir_compat.py``
checks ``snnx.nir.write(..., compat="nir-1.0.4")`` against this record. Run it
where nir 1.0.4 is installed (never the project's environment), e.g.::

    python3 -m pip download nir==1.0.4 --no-deps -d /tmp/nir104
    unzip -q -o /tmp/nir104/nir-1.0.4-*.whl -d /tmp/nir104/x
    PYTHONPATH=/tmp/nir104/x .venv/bin/python tests/data/nir-compat/make_nir104_fields.py
"""

import inspect
import json
from pathlib import Path

import nir
import nir.ir

types = {}
for name in nir.ir.__all__:
    cls = getattr(nir.ir, name)
    if isinstance(cls, type) and issubclass(cls, nir.ir.NIRNode) and cls is not nir.ir.NIRNode:
        params = inspect.signature(cls.__init__).parameters
        fields = {p for p in params if p != "self"}
        if "from_dict" in vars(cls) and 'node["shape"]' in inspect.getsource(cls.from_dict):
            fields.add("shape")  # Input/Output: their from_dict reads the stored "shape"
        types[name] = sorted(fields)
version = getattr(nir, "__version__", None) or "1.0.4 (wheel)"
out = {"nir": str(version), "source": "nir 1.0.4 wheel from PyPI", "types": types}
(Path(__file__).parent / "nir-1.0.4-fields.json").write_text(json.dumps(out, indent=1) + "\n")
print(json.dumps(out)[:300])
