"""MobileNet-V2 (Sandler et al., CVPR 2018), width 1.0: a 3x3 stem, 17 inverted residual blocks,
a 1x1 convolution to 1280 channels, global average pooling, a 1000-way classifier, softmax.

Each block: 1x1 expansion (xt, ReLU6; absent when t = 1), 3x3 depthwise (ReLU6), 1x1 linear
projection, and an identity shortcut when the stride is 1 and the channels match. Batch norm is
folded into every convolution's bias. `backbone()` is shared with DeepLab-V3, which runs it at
output stride 16 (the last stride-2 block keeps stride 1; later depthwise convolutions dilate).
"""
from __future__ import annotations

from .graph import Graph, GraphBuilder

#: (expansion t, output channels c, repeats n, first stride s), from the paper's Table 2.
BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
          (6, 160, 3, 2), (6, 320, 1, 1))


def backbone(g: GraphBuilder, x: int, *, output_stride: int | None = None) -> int:
    """The stem and the 17 blocks (the 320-channel output). With `output_stride`, a stride
    that would make the total stride exceed it becomes 1 and later layers dilate instead
    (DeepLab's atrous rule: the layer losing its stride keeps the current rate)."""
    x = g.conv(x, 32, 3, stride=2, activation="relu6", name="conv1")
    total_stride, rate = 2, 1
    block = 0
    for t, c, n, s in BLOCKS:
        for repeat in range(n):
            block += 1
            stride = s if repeat == 0 else 1
            layer_rate = rate
            if output_stride is not None and stride > 1 and total_stride * stride > output_stride:
                rate *= stride
                stride = 1
            total_stride *= stride
            x = inverted_residual(g, x, t, c, stride, layer_rate, name=f"block{block}")
    return x


def inverted_residual(g: GraphBuilder, x: int, t: int, c: int, stride: int, dilation: int, *,
                      name: str) -> int:
    in_channels = g.shape(x)[1]
    y = x
    if t != 1:
        y = g.conv(y, in_channels * t, 1, activation="relu6", name=f"{name}/expand")
    y = g.depthwise(y, 3, stride=stride, dilation=dilation, activation="relu6",
                    name=f"{name}/depthwise")
    y = g.conv(y, c, 1, name=f"{name}/project")
    if stride == 1 and in_channels == c:
        y = g.add(x, y, name=f"{name}/add")
    return y


def build(resolution: int = 224, *, batch: int = 1, classes: int = 1000) -> Graph:
    g = GraphBuilder("mobilenet_v2", (batch, 3, resolution, resolution))
    x = backbone(g, g.input())
    x = g.conv(x, 1280, 1, activation="relu6", name="conv_last")
    x = g.global_avg_pool(x, name="pool")
    x = g.fully_connected(x, classes, name="classifier")
    x = g.softmax(x, name="softmax")
    return g.build(g.output(x))
