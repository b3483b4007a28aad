"""Real layer shapes of the paper's six models, by operator type (the paper's abbreviations:
C convolution, C_1x1 1x1 convolution, S SqueezeNet's squeeze, P pooling, DWC_s1 / DWC_s2
depthwise convolution with stride 1 / 2; plus element-wise add and fully connected).

Each entry: a fusion.operators.make() spec and the layer it comes from (published
architectures: MobileNet-V1/V2 and DeepLab-V3 at their input sizes, Inception-V3 at 299,
ResNet-V2-50 and SqueezeNet-V1 at 224). Activations as in the models (ReLU6 for MobileNets,
ReLU elsewhere); batch norm folded into the bias.
"""
from __future__ import annotations

LAYERS: dict[str, list[dict]] = {
    "C": [
        dict(layer="MobileNet-V2 conv1 3x3 s2 224x224x3->32", kind="conv2d", c=3, h=224, w=224,
             oc=32, kernel=3, stride=2, pad=1, activation="relu6"),
        dict(layer="Inception-V3 Mixed_5b 3x3 35x35 64->96", kind="conv2d", c=64, h=35, w=35,
             oc=96, kernel=3, stride=1, pad=1, activation="relu"),
        dict(layer="ResNet-V2 block1 3x3 56x56 64->64", kind="conv2d", c=64, h=56, w=56, oc=64,
             kernel=3, stride=1, pad=1, activation="relu"),
    ],
    "C_1x1": [
        dict(layer="MobileNet-V2 block5 expand 1x1 28x28 32->192", kind="conv2d_1x1", c=32,
             h=28, w=28, oc=192, activation="relu6"),
        dict(layer="MobileNet-V1 conv_pw_5 1x1 28x28 256->256", kind="conv2d_1x1", c=256,
             h=28, w=28, oc=256, activation="relu6"),
        dict(layer="Inception-V3 Mixed_5b 1x1 35x35 192->64", kind="conv2d_1x1", c=192, h=35,
             w=35, oc=64, activation="relu"),
    ],
    "S": [
        dict(layer="SqueezeNet fire2 squeeze 1x1 55x55 96->16", kind="conv2d_1x1", c=96, h=55,
             w=55, oc=16, activation="relu"),
        dict(layer="SqueezeNet fire5 squeeze 1x1 27x27 256->32", kind="conv2d_1x1", c=256,
             h=27, w=27, oc=32, activation="relu"),
    ],
    "P": [
        dict(layer="SqueezeNet maxpool 3x3 s2 111x111x96", kind="max_pool", c=96, h=111, w=111,
             kernel=3, stride=2, pad=0),
        dict(layer="Inception-V3 avgpool 3x3 s1 35x35x192", kind="avg_pool", c=192, h=35, w=35,
             kernel=3, stride=1, pad=1),
        dict(layer="MobileNet-V2 global pool 7x7x1280", kind="global_avg_pool", c=1280, h=7,
             w=7),
    ],
    "DWC_s1": [
        dict(layer="MobileNet-V2 block3 dw 3x3 56x56x144", kind="depthwise_conv2d", c=144,
             h=56, w=56, kernel=3, stride=1, pad=1, activation="relu6"),
        dict(layer="MobileNet-V1 conv_dw_6 3x3 28x28x256", kind="depthwise_conv2d", c=256,
             h=28, w=28, kernel=3, stride=1, pad=1, activation="relu6"),
        dict(layer="DeepLab-V3 block dw 3x3 d2 33x33x576", kind="depthwise_conv2d", c=576,
             h=33, w=33, kernel=3, stride=1, pad=2, dilation=2, activation="relu6"),
    ],
    "DWC_s2": [
        dict(layer="MobileNet-V2 block2 dw 3x3 s2 112x112x96", kind="depthwise_conv2d", c=96,
             h=112, w=112, kernel=3, stride=2, pad=1, activation="relu6"),
        dict(layer="MobileNet-V1 conv_dw_4 3x3 s2 56x56x128", kind="depthwise_conv2d", c=128,
             h=56, w=56, kernel=3, stride=2, pad=1, activation="relu6"),
    ],
    "Add": [
        dict(layer="MobileNet-V2 block5 add 28x28x32", kind="eltwise_add", c=32, h=28, w=28),
        dict(layer="ResNet-V2 block1 add 56x56x256", kind="eltwise_add", c=256, h=56, w=56),
    ],
    "FC": [
        dict(layer="MobileNet-V2 classifier 1280->1000", kind="fully_connected", c=1280,
             oc=1000),
    ],
}

TYPES = tuple(LAYERS)


def layer(type_name: str, index: int = 0) -> dict:
    return dict(LAYERS[type_name][index])
