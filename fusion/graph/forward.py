"""A graph's numpy forward pass (the reference a device run is compared with), its random input,
and a scale-free comparison."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ops.reference import apply_reference
from .graph import Graph


def forward(graph: Graph, weights: Sequence[dict], x: np.ndarray) -> list[np.ndarray]:
    """The numpy forward pass: every node's output (NCHW float32), each operator computed by
    fusion.ops.apply_reference in float64 from its float32 inputs, as the device gets
    them. `weights` as LoadedGraph.weights."""
    outputs: list[np.ndarray] = []
    for node in graph.nodes:
        tensors = [outputs[i] for i in node.inputs] if node.inputs else [x]
        outputs.append(apply_reference(node.kind, tensors, weights[node.id],
                                                 **node.shape))
    return outputs


def random_input(graph: Graph, rng: np.random.Generator) -> np.ndarray:
    """A standard-normal float32 input of the graph's shape."""
    return rng.standard_normal(graph.input_shape).astype(np.float32)


def compare(got: np.ndarray, want: np.ndarray) -> float:
    """The largest difference relative to the largest magnitude of `want`: a scale-free error
    for tensors whose values grow or shrink through a deep network of random weights."""
    scale = float(np.abs(want).max()) or 1.0
    return float(np.abs(got.astype(np.float64) - want).max()) / scale
