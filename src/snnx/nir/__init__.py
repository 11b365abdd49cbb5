"""NIR exchange: run NIR graphs in snnx (``from_nir``) and write snnx models as NIR (``to_nir``).

Conventions (forward Euler at an explicit ``dt``, spike after update, back
edges, layouts): ``docs/nir.md``.
"""

from snnx.nir._errors import NIRError as NIRError
from snnx.nir._export import to_nir as to_nir
from snnx.nir._import import from_nir as from_nir
from snnx.nir._io import read as read
from snnx.nir._io import write as write

__all__ = ["NIRError", "from_nir", "read", "to_nir", "write"]
