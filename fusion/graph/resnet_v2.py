"""ResNet-V2-50 (He et al., "Identity Mappings in Deep Residual Networks", ECCV 2016), laid out
as TF-slim's resnet_v2_50: a 7x7/2 stem convolution (bias, no activation) and 3x3/2 max
pooling; four blocks of 3, 4, 6, 3 pre-activation bottleneck units (64, 128, 256, 512
bottleneck channels, x4 out), the stride in the *last* unit of blocks 1-3; a final batch norm +
ReLU, global average pooling, a 1000-way classifier, softmax.

A unit: preact = BN+ReLU(x); residual = 1x1 (BN+ReLU) -> 3x3, stride s (BN+ReLU) -> 1x1
(bias); shortcut = x, subsampled (1x1 max pooling, stride s) when s > 1, or a 1x1 projection
of preact where the channels change; output = shortcut + residual.

The batch norms that follow a convolution are folded into its bias. The pre-activation batch
norm reads the un-normalised residual stream, which also feeds the identity shortcut, so it
cannot be folded: it is its own operator, a per-channel scale and shift with ReLU, run as a
1x1 depthwise convolution with bias (exact, not an approximation). TF's SAME padding of the
stride-2 layers is symmetric here (same output sizes; windows shifted by one pixel where TF
pads only the bottom/right)."""
from __future__ import annotations

from .graph import Graph, GraphBuilder

#: (bottleneck channels, units, stride of the last unit) per block.
BLOCKS = ((64, 3, 2), (128, 4, 2), (256, 6, 2), (512, 3, 1))


def bottleneck(g: GraphBuilder, x: int, depth: int, bottleneck_depth: int, stride: int, *,
               name: str) -> int:
    preact = g.batch_norm(x, activation="relu", name=f"{name}/preact")
    if g.shape(x)[1] == depth:
        shortcut = x if stride == 1 else g.max_pool(x, 1, stride, name=f"{name}/subsample")
    else:
        shortcut = g.conv(preact, depth, 1, stride=stride, name=f"{name}/shortcut")
    r = g.conv(preact, bottleneck_depth, 1, activation="relu", name=f"{name}/conv1")
    r = g.conv(r, bottleneck_depth, 3, stride=stride, activation="relu", name=f"{name}/conv2")
    r = g.conv(r, depth, 1, name=f"{name}/conv3")
    return g.add(shortcut, r, name=f"{name}/add")


def build(resolution: int = 224, *, batch: int = 1, classes: int = 1000,
          downsample: str = "last") -> Graph:
    """downsample: which unit of a block strides, "last" (TF-slim's resnet_v2_50, which MNN's
    resnet-v2-50 benchmark model comes from) or "first" (He et al.'s layout: the first unit of
    blocks 2-4, stride in its 3x3 convolution and projection shortcut)."""
    if downsample not in ("last", "first"):
        raise ValueError(f"downsample must be 'last' or 'first', got {downsample!r}")
    g = GraphBuilder("resnet_v2", (batch, 3, resolution, resolution))
    x = g.conv(g.input(), 64, 7, stride=2, name="conv1")
    x = g.max_pool(x, 3, 2, pad=1, name="pool1")
    for index, (base, units, stride) in enumerate(BLOCKS, start=1):
        for unit in range(1, units + 1):
            if downsample == "last":
                unit_stride = stride if unit == units else 1
            else:
                unit_stride = 2 if unit == 1 and index > 1 else 1
            x = bottleneck(g, x, 4 * base, base, unit_stride, name=f"block{index}/unit{unit}")
    x = g.batch_norm(x, activation="relu", name="postnorm")
    x = g.global_avg_pool(x, name="pool")
    x = g.fully_connected(x, classes, name="logits")
    x = g.softmax(x, name="softmax")
    return g.build(g.output(x))
