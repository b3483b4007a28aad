"""Inception-V3 (Szegedy et al., CVPR 2016), laid out as TF-slim's inception_v3 without the
auxiliary classifier: a stem of five convolutions and two max pools (299 -> 35), three
Inception-A modules (Mixed_5b-d), a grid reduction (Mixed_6a, 35 -> 17), four Inception-B
modules with factorised 1x7 / 7x1 convolutions (Mixed_6b-e), a second reduction (Mixed_7a,
17 -> 8), two Inception-C modules with split 1x3 / 3x1 branches (Mixed_7b-c), global average
pooling, a 1000-way classifier, softmax. Every convolution: batch norm folded into its bias,
ReLU. The 3x3 average pools of the modules are stride 1, SAME (padding not counted).

Concatenation joins two tensors per kernel, so a module's k-way concat is k - 1 concat nodes.
"""
from __future__ import annotations

from .graph import Graph, GraphBuilder


def _conv(g, x, oc, kernel, name, *, stride=1, pad=None):
    return g.conv(x, oc, kernel, stride=stride, pad=pad, activation="relu", name=name)


def _pool_branch(g, x, oc, name):
    y = g.avg_pool(x, 3, 1, pad=1, name=f"{name}/avgpool")
    return _conv(g, y, oc, 1, f"{name}/1x1")


def inception_a(g: GraphBuilder, x: int, pool_channels: int, *, name: str) -> int:
    b0 = _conv(g, x, 64, 1, f"{name}/b0/1x1")
    b1 = _conv(g, x, 48, 1, f"{name}/b1/1x1")
    b1 = _conv(g, b1, 64, 5, f"{name}/b1/5x5")
    b2 = _conv(g, x, 64, 1, f"{name}/b2/1x1")
    b2 = _conv(g, b2, 96, 3, f"{name}/b2/3x3a")
    b2 = _conv(g, b2, 96, 3, f"{name}/b2/3x3b")
    b3 = _pool_branch(g, x, pool_channels, f"{name}/b3")
    return g.concat([b0, b1, b2, b3], name=f"{name}/concat")


def reduction_a(g: GraphBuilder, x: int, *, name: str) -> int:
    b0 = _conv(g, x, 384, 3, f"{name}/b0/3x3", stride=2, pad=0)
    b1 = _conv(g, x, 64, 1, f"{name}/b1/1x1")
    b1 = _conv(g, b1, 96, 3, f"{name}/b1/3x3a")
    b1 = _conv(g, b1, 96, 3, f"{name}/b1/3x3b", stride=2, pad=0)
    b2 = g.max_pool(x, 3, 2, name=f"{name}/b2/maxpool")
    return g.concat([b0, b1, b2], name=f"{name}/concat")


def inception_b(g: GraphBuilder, x: int, channels: int, *, name: str) -> int:
    b0 = _conv(g, x, 192, 1, f"{name}/b0/1x1")
    b1 = _conv(g, x, channels, 1, f"{name}/b1/1x1")
    b1 = _conv(g, b1, channels, (1, 7), f"{name}/b1/1x7")
    b1 = _conv(g, b1, 192, (7, 1), f"{name}/b1/7x1")
    b2 = _conv(g, x, channels, 1, f"{name}/b2/1x1")
    b2 = _conv(g, b2, channels, (7, 1), f"{name}/b2/7x1a")
    b2 = _conv(g, b2, channels, (1, 7), f"{name}/b2/1x7a")
    b2 = _conv(g, b2, channels, (7, 1), f"{name}/b2/7x1b")
    b2 = _conv(g, b2, 192, (1, 7), f"{name}/b2/1x7b")
    b3 = _pool_branch(g, x, 192, f"{name}/b3")
    return g.concat([b0, b1, b2, b3], name=f"{name}/concat")


def reduction_b(g: GraphBuilder, x: int, *, name: str) -> int:
    b0 = _conv(g, x, 192, 1, f"{name}/b0/1x1")
    b0 = _conv(g, b0, 320, 3, f"{name}/b0/3x3", stride=2, pad=0)
    b1 = _conv(g, x, 192, 1, f"{name}/b1/1x1")
    b1 = _conv(g, b1, 192, (1, 7), f"{name}/b1/1x7")
    b1 = _conv(g, b1, 192, (7, 1), f"{name}/b1/7x1")
    b1 = _conv(g, b1, 192, 3, f"{name}/b1/3x3", stride=2, pad=0)
    b2 = g.max_pool(x, 3, 2, name=f"{name}/b2/maxpool")
    return g.concat([b0, b1, b2], name=f"{name}/concat")


def inception_c(g: GraphBuilder, x: int, *, name: str) -> int:
    b0 = _conv(g, x, 320, 1, f"{name}/b0/1x1")
    b1 = _conv(g, x, 384, 1, f"{name}/b1/1x1")
    b1a = _conv(g, b1, 384, (1, 3), f"{name}/b1/1x3")
    b1b = _conv(g, b1, 384, (3, 1), f"{name}/b1/3x1")
    b2 = _conv(g, x, 448, 1, f"{name}/b2/1x1")
    b2 = _conv(g, b2, 384, 3, f"{name}/b2/3x3")
    b2a = _conv(g, b2, 384, (1, 3), f"{name}/b2/1x3")
    b2b = _conv(g, b2, 384, (3, 1), f"{name}/b2/3x1")
    b3 = _pool_branch(g, x, 192, f"{name}/b3")
    return g.concat([b0, b1a, b1b, b2a, b2b, b3], name=f"{name}/concat")


def build(resolution: int = 299, *, batch: int = 1, classes: int = 1000) -> Graph:
    g = GraphBuilder("inception_v3", (batch, 3, resolution, resolution))
    x = _conv(g, g.input(), 32, 3, "Conv2d_1a_3x3", stride=2, pad=0)
    x = _conv(g, x, 32, 3, "Conv2d_2a_3x3", pad=0)
    x = _conv(g, x, 64, 3, "Conv2d_2b_3x3")
    x = g.max_pool(x, 3, 2, name="MaxPool_3a_3x3")
    x = _conv(g, x, 80, 1, "Conv2d_3b_1x1")
    x = _conv(g, x, 192, 3, "Conv2d_4a_3x3", pad=0)
    x = g.max_pool(x, 3, 2, name="MaxPool_5a_3x3")
    for name, pool_channels in (("Mixed_5b", 32), ("Mixed_5c", 64), ("Mixed_5d", 64)):
        x = inception_a(g, x, pool_channels, name=name)
    x = reduction_a(g, x, name="Mixed_6a")
    for name, channels in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160),
                           ("Mixed_6e", 192)):
        x = inception_b(g, x, channels, name=name)
    x = reduction_b(g, x, name="Mixed_7a")
    for name in ("Mixed_7b", "Mixed_7c"):
        x = inception_c(g, x, name=name)
    x = g.global_avg_pool(x, name="pool")
    x = g.fully_connected(x, classes, name="logits")
    x = g.softmax(x, name="softmax")
    return g.build(g.output(x))
