"""The execution engine: ``Sequential``, ``Graph`` and the time loop ``run``."""

from snnx.engine._graph import Graph as Graph
from snnx.engine._options import Options as Options
from snnx.engine._plan import Plan as Plan
from snnx.engine._plan import Step as Step
from snnx.engine._record import Recording as Recording
from snnx.engine._record import layer_keys as layer_keys
from snnx.engine._run import plan as plan
from snnx.engine._run import run as run
from snnx.engine._sequential import Sequential as Sequential
from snnx.engine._sequential import is_stateful as is_stateful

__all__ = [
    "Graph", "Options", "Plan", "Recording", "Sequential", "Step", "is_stateful", "layer_keys", "plan", "run",
]
