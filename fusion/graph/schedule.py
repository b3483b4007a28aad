"""Which operators are independent of each other: the candidates for parallel fusion.

`levels(graph)`: the ready sets of an as-soon-as-possible schedule. Step 0 holds the nodes that
read only the graph input; step k the nodes whose last input was produced at step k - 1. Nodes
of one step never depend on each other (a path between two nodes raises the later one's step),
so each step is a set of operators that may run as one fused launch: the branches of an
Inception module, a Fire module's two expand convolutions, DeepLab's ASPP branches.

`ready_sets(graphs)`: several models run together in lock step; step k holds every model's
step-k nodes, as (model index, node id) pairs. `independent(graph, a, b)`: no path either way.
`ReadyTracker`: the dynamic form for an executor that fuses what is ready now.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from .graph import Graph


def steps(graph: Graph) -> list[int]:
    """steps(graph)[i]: the step at which node i becomes ready (ASAP)."""
    step: list[int] = []
    for node in graph.nodes:
        step.append(1 + max((step[i] for i in node.inputs), default=-1))
    return step


def levels(graph: Graph) -> list[list[int]]:
    """The ready set (node ids) of each step of the ASAP schedule."""
    by_step: list[list[int]] = []
    for node_id, step in enumerate(steps(graph)):
        while len(by_step) <= step:
            by_step.append([])
        by_step[step].append(node_id)
    return by_step


def ready_sets(graphs: Sequence[Graph]) -> list[list[tuple[int, int]]]:
    """Several graphs in lock step: each step's ready set as (graph index, node id) pairs."""
    per_graph = [levels(graph) for graph in graphs]
    depth = max(len(lv) for lv in per_graph)
    return [[(g, node) for g, lv in enumerate(per_graph) if step < len(lv) for node in lv[step]]
            for step in range(depth)]


def ancestors(graph: Graph) -> list[frozenset[int]]:
    """ancestors(graph)[i]: every node whose output node i depends on, directly or not."""
    result: list[frozenset[int]] = []
    for node in graph.nodes:
        found: set[int] = set(node.inputs)
        for producer in node.inputs:
            found |= result[producer]
        result.append(frozenset(found))
    return result


def independent(graph: Graph, a: int, b: int) -> bool:
    """True when neither node depends on the other (they may run in one fused launch)."""
    if a == b:
        return False
    above = ancestors(graph)
    return a not in above[b] and b not in above[a]


class ReadyTracker:
    """The nodes whose inputs are all computed, as a graph executes. `ready()` lists them;
    `done(ids)` marks nodes computed (fused or not) and makes their consumers ready."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self._consumers = graph.consumers()
        self._waiting = [len(set(node.inputs)) for node in graph.nodes]
        self._ready = [node.id for node in graph.nodes if not node.inputs]
        self._done: set[int] = set()

    def ready(self) -> list[int]:
        return list(self._ready)

    @property
    def finished(self) -> bool:
        return len(self._done) == len(self.graph.nodes)

    def done(self, node_ids: Iterable[int]) -> None:
        for node_id in node_ids:
            if node_id not in self._ready:
                raise ValueError(f"{self.graph.name}: node {node_id} is not ready")
            self._ready.remove(node_id)
            self._done.add(node_id)
            for consumer in set(self._consumers[node_id]):
                self._waiting[consumer] -= 1
                if self._waiting[consumer] == 0:
                    self._ready.append(consumer)


def parallel_nodes(graph: Graph) -> list[int]:
    """The nodes independent of at least one other node: every operator that some schedule
    could fuse with another (the ASAP steps of `levels` show one such pairing, not all)."""
    above = ancestors(graph)
    related = [set(a) for a in above]
    for node_id, a in enumerate(above):
        for producer in a:
            related[producer].add(node_id)
    size = len(graph.nodes)
    return [i for i in range(size) if len(related[i]) < size - 1]
