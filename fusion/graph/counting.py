"""Per-operator FLOPs and parameters, model totals, and the paper's Table 1 to compare with.

Convention (docs/MODELS.md): Table 1's "FLOPs" are multiply-accumulates, so one FLOP here is
one multiply-add of a convolution or fully connected layer (n * oc * oh * ow * ic * kh * kw;
depthwise: ic = 1), and one elementary operation per tap or element elsewhere: pooling one per
window tap, global pooling and element-wise add one per input element, bilinear resize 3 per
output element (three interpolations), softmax 3 per element (exp, sum, divide); concat and
layout conversions 0. (`fusion.operators.Operator.flops` counts a multiply-add as 2.)
Parameters: weights plus biases, batch norm folded (a convolution followed by batch norm has
one bias per output channel; an unfolded batch norm has a scale and a shift per channel).
"""
from __future__ import annotations

import dataclasses

from .graph import Graph, Node

#: The share of operators "under 5 MFLOPs" is taken at this threshold (the paper, Figure 2).
SMALL_OPERATOR_FLOPS = 5e6


@dataclasses.dataclass(frozen=True)
class Published:
    """A row of the paper's Table 1."""

    title: str
    flops: float
    params: float
    resolution: int
    inference_ms: float


TABLE_1: dict[str, Published] = {
    "deeplab_v3": Published("DeepLab-V3", 734e6, 39e6, 257, 19.1),
    "inception_v3": Published("Inception-V3", 5.73e9, 23e6, 299, 61.5),
    "resnet_v2": Published("ResNet-V2", 3.87e9, 25.56e6, 224, 35.5),
    "squeezenet_v1": Published("SqueezeNet-V1", 833e6, 1.25e6, 224, 13.4),
    "mobilenet_v1": Published("MobileNet-V1", 575e6, 4.2e6, 224, 8.5),
    "mobilenet_v2": Published("MobileNet-V2", 300e6, 3.4e6, 224, 7.4),
}

#: Table 1 entries this project's faithful architecture cannot reproduce, and why.
KNOWN_MISMATCHES: dict[tuple[str, str], str] = {
    ("deeplab_v3", "params"): (
        "39 M parameters cannot belong to a MobileNet-V2 DeepLab-V3: its backbone has 1.8 M and "
        "the whole model 2.1 M; three 3x3 atrous ASPP branches would add 2.4 M (and double the "
        "FLOPs). 39 M is DeepLab-V3 on ResNet-50 (23.5 M backbone + 16 M of ASPP and head on "
        "2048 channels = 39.6 M). Table 1's FLOPs (734 M) match the MobileNet-V2 model at "
        "output stride 16, so that is the model built."),
}


@dataclasses.dataclass(frozen=True)
class Cost:
    flops: int
    params: int


def _conv_cost(node: Node, depthwise: bool) -> Cost:
    s = node.shape
    n, oc, oh, ow = node.output_shape
    kh, kw = s.get("kernel", (1, 1))
    taps = kh * kw * (1 if depthwise else s["c"])
    bias = oc if s.get("bias", True) else 0
    return Cost(n * oc * oh * ow * taps, oc * taps + bias)


def cost(node: Node) -> Cost:
    """FLOPs and parameters of one node (the module docstring gives the convention)."""
    s, (n, oc, oh, ow) = node.shape, node.output_shape
    kind = node.kind
    if kind in ("conv2d", "conv2d_1x1"):
        return _conv_cost(node, depthwise=False)
    if kind == "depthwise_conv2d":
        return _conv_cost(node, depthwise=True)
    if kind == "fully_connected":
        return Cost(n * oc * s["c"], oc * s["c"] + (oc if s.get("bias", True) else 0))
    if kind in ("max_pool", "avg_pool"):
        kh, kw = s["kernel"]
        return Cost(n * oc * oh * ow * kh * kw, 0)
    if kind in ("global_avg_pool", "eltwise_add"):
        return Cost(s["n"] * s["c"] * s["h"] * s["w"], 0)
    if kind == "softmax":
        return Cost(3 * n * oc * oh * ow, 0)
    if kind == "resize_bilinear":
        return Cost(3 * n * oc * oh * ow, 0)
    if kind in ("concat", "nchw_to_nc4hw4", "nc4hw4_to_nchw"):
        return Cost(0, 0)
    raise ValueError(f"no cost for operator kind {kind!r}")


@dataclasses.dataclass(frozen=True)
class ModelSummary:
    name: str
    resolution: int
    operators: int
    flops: int
    params: int
    #: the share of operators with fewer than 5 MFLOPs (the paper's Figure 2a)
    small_share: float
    #: the share of operators with at most 1 % of the model's FLOPs (the paper's Figure 2b)
    minor_share: float
    #: how many kernels of each kind
    kinds: dict
    published: Published | None

    def ratio(self, what: str) -> float | None:
        """ours / Table 1 for "flops" or "params"."""
        if self.published is None:
            return None
        return getattr(self, what) / getattr(self.published, what)


def summarize(graph: Graph) -> ModelSummary:
    costs = [cost(node) for node in graph.nodes]
    kinds: dict[str, int] = {}
    for node in graph.nodes:
        kinds[node.kind] = kinds.get(node.kind, 0) + 1
    flops = sum(c.flops for c in costs)
    small = sum(1 for c in costs if c.flops < SMALL_OPERATOR_FLOPS)
    minor = sum(1 for c in costs if c.flops <= 0.01 * flops)
    return ModelSummary(
        name=graph.name, resolution=graph.input_shape[2], operators=len(graph.nodes),
        flops=flops, params=sum(c.params for c in costs), small_share=small / len(graph.nodes),
        minor_share=minor / len(graph.nodes), kinds=kinds, published=TABLE_1.get(graph.name))
