"""The earlier name of fusion.graph (the six DNNs as graphs), kept so that existing code runs:
`fusion.models.build(...)`, `fusion.models.execute` (now fusion.execute.graphs)."""
from ..graph import *  # noqa: F401,F403
from ..graph import __all__  # noqa: F401
from ..graph import counting, graph, schedule  # noqa: F401
