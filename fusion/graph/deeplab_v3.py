"""DeepLab-V3 (Chen et al., 2017) on a MobileNet-V2 backbone, as DeepLab's own
mobilenetv2_coco_voc_trainaug model runs it (and TFLite's 257x257 segmentation model): the
backbone at output stride 16 (its last stride-2 block keeps stride 1 and the depthwise
convolutions after it dilate by 2), features from the 320-channel block 17, then ASPP, a 1x1
projection, 21-class logits and a bilinear resize back to the input size.

ASPP: an image-pooling branch (global average pooling, 1x1 convolution to 256 + ReLU, bilinear
resize back to the feature size) beside a 1x1 convolution to 256 + ReLU; `atrous_rates` adds
one 3x3 atrous convolution branch per rate (DeepLab uses none for MobileNet-V2, (6, 12, 18)
for its large backbones). The branches are independent operators, concatenated and projected
by a 1x1 convolution to 256 + ReLU.

Approximation: DeepLab resizes with align_corners=True; the resize kernel here uses half-pixel
centres (align_corners=False). Same shapes and cost, slightly different sample positions."""
from __future__ import annotations

from . import mobilenet_v2
from .graph import Graph, GraphBuilder


def aspp(g: GraphBuilder, x: int, *, channels: int = 256, atrous_rates=(), name: str) -> int:
    _, _, h, w = g.shape(x)
    pooled = g.global_avg_pool(x, name=f"{name}/image_pool")
    pooled = g.conv(pooled, channels, 1, activation="relu", name=f"{name}/image_pool/1x1")
    pooled = g.resize_bilinear(pooled, h, w, name=f"{name}/image_pool/resize")
    branches = [pooled, g.conv(x, channels, 1, activation="relu", name=f"{name}/1x1")]
    for rate in atrous_rates:
        branches.append(g.conv(x, channels, 3, dilation=rate, activation="relu",
                               name=f"{name}/3x3_rate{rate}"))
    y = g.concat(branches, name=f"{name}/concat")
    return g.conv(y, channels, 1, activation="relu", name=f"{name}/projection")


def build(resolution: int = 257, *, batch: int = 1, classes: int = 21, output_stride: int = 16,
          atrous_rates=()) -> Graph:
    g = GraphBuilder("deeplab_v3", (batch, 3, resolution, resolution))
    x = mobilenet_v2.backbone(g, g.input(), output_stride=output_stride)
    x = aspp(g, x, atrous_rates=atrous_rates, name="aspp")
    x = g.conv(x, classes, 1, name="logits")
    x = g.resize_bilinear(x, resolution, resolution, name="upsample")
    return g.build(g.output(x))
