"""The earlier name of fusion.execute.graphs and fusion.graph.forward (kept for existing code)."""
from ..execute.graphs import LoadedGraph, LoadedNode, load, run_together  # noqa: F401
from ..graph.forward import compare, forward, random_input  # noqa: F401
