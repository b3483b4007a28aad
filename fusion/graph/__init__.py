"""Model graphs: the six DNNs of the ParallelFusion paper (Table 1) as graphs of library
operators, their counting, ready sets, and the numpy forward pass. Pure Python (numpy), no
OpenCL: fusion.execute runs graphs on a device. (`fusion.models` is the same package under its
earlier name, with `fusion.models.execute`.)

    from fusion import graph as models
    graph = models.build("mobilenet_v2")            # Table 1's resolution
    small = models.build("inception_v3", resolution=75)
    models.summarize(graph)                         # operators, FLOPs, params vs Table 1
    models.levels(graph)                            # independent operators, step by step

Modules: `graph` (Node, Graph, GraphBuilder), one module per model, `counting` (FLOPs and
parameters, Table 1), `schedule` (ready sets of independent operators), `forward` (numpy
forward pass), `report` (tables).
"""
from __future__ import annotations

from . import deeplab_v3, inception_v3, mobilenet_v1, mobilenet_v2, resnet_v2, squeezenet_v1
from .counting import TABLE_1, Cost, ModelSummary, cost, summarize
from .forward import compare, forward, random_input
from .graph import Graph, GraphBuilder, Node
from .schedule import independent, levels, ready_sets

#: model name -> its module's build(resolution=..., batch=...), in Table 1's order.
BUILDERS = {
    "deeplab_v3": deeplab_v3.build,
    "inception_v3": inception_v3.build,
    "resnet_v2": resnet_v2.build,
    "squeezenet_v1": squeezenet_v1.build,
    "mobilenet_v1": mobilenet_v1.build,
    "mobilenet_v2": mobilenet_v2.build,
}
MODELS: tuple[str, ...] = tuple(BUILDERS)


def build(name: str, resolution: int | None = None, **options) -> Graph:
    """The graph of model `name` at `resolution` (default: Table 1's input size)."""
    try:
        builder = BUILDERS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None
    if resolution is None:
        resolution = TABLE_1[name].resolution
    return builder(resolution, **options)


__all__ = ["BUILDERS", "MODELS", "TABLE_1", "Cost", "Graph", "GraphBuilder", "compare",
           "forward", "random_input",
           "ModelSummary", "Node", "build", "cost", "independent", "levels", "ready_sets",
           "summarize"]
