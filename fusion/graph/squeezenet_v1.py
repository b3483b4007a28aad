"""SqueezeNet v1.0 (Iandola et al., 2016): a 7x7/2 stem, eight Fire modules with max pooling
after the stem, fire4 and fire8, a 1x1 convolution to 1000 classes, global average pooling and
softmax. A Fire module squeezes with a 1x1 convolution, then expands with a 1x1 and a 3x3
convolution side by side (two independent operators) whose outputs are concatenated. Every
convolution has a bias and ReLU (the classifier convolution too, as in the reference model).

The reference model's max pooling rounds output sizes up (Caffe's ceil mode); the pooling kernel
here rounds down, so the two pools whose input size needs it (54 -> 27 at 224x224) pad one
pixel on each side instead: same output size, windows shifted by one pixel."""
from __future__ import annotations

from .graph import Graph, GraphBuilder

#: (squeeze channels, expand channels per branch) of fire2 .. fire9.
FIRES = ((16, 64), (16, 64), (32, 128), (32, 128), (48, 192), (48, 192), (64, 256), (64, 256))
#: max pooling (3x3, stride 2) follows these layers
POOL_AFTER = ("conv1", "fire4", "fire8")


def _ceil_pool(g: GraphBuilder, x: int, *, name: str) -> int:
    size = g.shape(x)[2]
    ceil_size = -(-(size - 3) // 2) + 1
    pad = 1 if (size - 3) // 2 + 1 < ceil_size else 0
    return g.max_pool(x, 3, 2, pad=pad, name=name)


def fire(g: GraphBuilder, x: int, squeeze: int, expand: int, *, name: str) -> int:
    s = g.conv(x, squeeze, 1, activation="relu", name=f"{name}/squeeze1x1")
    e1 = g.conv(s, expand, 1, activation="relu", name=f"{name}/expand1x1")
    e3 = g.conv(s, expand, 3, activation="relu", name=f"{name}/expand3x3")
    return g.concat([e1, e3], name=f"{name}/concat")


def build(resolution: int = 224, *, batch: int = 1, classes: int = 1000) -> Graph:
    g = GraphBuilder("squeezenet_v1", (batch, 3, resolution, resolution))
    x = g.conv(g.input(), 96, 7, stride=2, pad=0, activation="relu", name="conv1")
    x = _ceil_pool(g, x, name="conv1/pool")
    for index, (squeeze, expand) in enumerate(FIRES, start=2):
        x = fire(g, x, squeeze, expand, name=f"fire{index}")
        if f"fire{index}" in POOL_AFTER:
            x = _ceil_pool(g, x, name=f"fire{index}/pool")
    x = g.conv(x, classes, 1, activation="relu", name="conv10")
    x = g.global_avg_pool(x, name="pool")
    x = g.softmax(x, name="softmax")
    return g.build(g.output(x))
