"""MobileNet-V1 (Howard et al., 2017), width 1.0: a 3x3 stem and 13 depthwise-separable layers
(3x3 depthwise + 1x1 pointwise, each with batch norm folded into its bias and ReLU), global
average pooling, a 1000-way classifier, softmax (the paper's Table 1 body)."""
from __future__ import annotations

from .graph import Graph, GraphBuilder

#: (pointwise output channels, depthwise stride) of the 13 separable layers.
LAYERS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
          (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def build(resolution: int = 224, *, batch: int = 1, classes: int = 1000) -> Graph:
    g = GraphBuilder("mobilenet_v1", (batch, 3, resolution, resolution))
    x = g.conv(g.input(), 32, 3, stride=2, activation="relu", name="conv1")
    for index, (channels, stride) in enumerate(LAYERS, start=1):
        x = g.depthwise(x, 3, stride=stride, activation="relu", name=f"layer{index}/depthwise")
        x = g.conv(x, channels, 1, activation="relu", name=f"layer{index}/pointwise")
    x = g.global_avg_pool(x, name="pool")
    x = g.fully_connected(x, classes, name="classifier")
    x = g.softmax(x, name="softmax")
    return g.build(g.output(x))
