"""NIR exchange: run NIR graphs in snnx (``from_nir``) and write snnx models as NIR (``to_nir``).

Conventions (forward Euler at an explicit ``dt``, spike after update, back
edges, layouts): ``docs/nir.md`` and ``docs/nir-semantics.md``.
``exportable_types()`` and ``refused_types()`` list what ``to_nir`` writes
and what it refuses (with the reason). ``from_nir(..., dialect=...)`` runs a file
the way another framework runs it (``dialects()`` lists them), and ``convert``
rewrites such a file into NIR with the same behaviour where NIR can express it.
"""

from snnx.nir._dialects import names as dialects
from snnx.nir._errors import NIRError as NIRError
from snnx.nir._export import exportable_types as exportable_types
from snnx.nir._export import refused_types as refused_types
from snnx.nir._export import to_nir as to_nir
from snnx.nir._import import from_nir as from_nir
from snnx.nir._io import read as read
from snnx.nir._io import write as write
from snnx.nir._peer_neuron import PeerNeuron as PeerNeuron
from snnx.nir._rewrite import convert as convert

__all__ = [
    "NIRError", "PeerNeuron", "convert", "dialects", "exportable_types", "from_nir", "read", "refused_types",
    "to_nir", "write",
]  # fmt: skip
