"""MNN's NC4HW4 tensor layout on the host: packing NCHW arrays into the (height, width, 4)
float32 arrays an `image2d_t` holds, weights into the layouts the library's kernels read, and the
shape arithmetic the operators share. numpy only.

An (N, C, H, W) tensor is an image of width ceil(C/4) * W and height N * H, CL_RGBA / CL_FLOAT,
whose pixel (cb * W + w, n * H + h) holds channels 4cb .. 4cb+3 of (n, h, w); channels past C
are zero.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

def channel_blocks(channels: int) -> int:
    return (channels + 3) // 4


def image_shape(shape: Sequence[int]) -> tuple[int, int]:
    """(width, height) of the NC4HW4 image of an (N, C, H, W) tensor."""
    n, c, h, w = shape
    return channel_blocks(c) * w, n * h


def nchw_to_nc4hw4_image_array(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> the (N*H, ceil(C/4)*W, 4) float32 host array of its NC4HW4 image."""
    n, c, h, w = x.shape
    c4 = channel_blocks(c)
    padded = np.zeros((n, c4 * 4, h, w), np.float32)
    padded[:, :c] = x
    packed = padded.reshape(n, c4, 4, h, w).transpose(0, 3, 1, 4, 2)  # n, h, cb, w, lane
    return np.ascontiguousarray(packed.reshape(n * h, c4 * w, 4))


def nc4hw4_image_array_to_nchw(array: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """The (N*H, ceil(C/4)*W, 4) host array of an NC4HW4 image -> (N, C, H, W) float32."""
    n, c, h, w = shape
    c4 = channel_blocks(c)
    unpacked = np.asarray(array, np.float32).reshape(n, h, c4, w, 4).transpose(0, 2, 4, 1, 3)
    return np.ascontiguousarray(unpacked.reshape(n, c4 * 4, h, w)[:, :c])


def conv_weights_to_image_array(weights: np.ndarray) -> np.ndarray:
    """(OC, IC, KH, KW) -> the (ceil(OC/4)*KH*KW, ceil(IC/4)*4, 4) array of the weight image of
    conv2d.cl / conv2d_1x1.cl: pixel (4*icb + k, (ocb*KH + kh)*KW + kw) = w[4ocb..4ocb+3, 4icb+k, kh, kw]."""
    oc, ic, kh, kw = weights.shape
    oc4, ic4 = channel_blocks(oc), channel_blocks(ic)
    padded = np.zeros((oc4 * 4, ic4 * 4, kh, kw), np.float32)
    padded[:oc, :ic] = weights
    packed = padded.reshape(oc4, 4, ic4 * 4, kh, kw).transpose(0, 3, 4, 2, 1)  # ocb, kh, kw, ic, lane
    return np.ascontiguousarray(packed.reshape(oc4 * kh * kw, ic4 * 4, 4))


def depthwise_weights_to_image_array(weights: np.ndarray) -> np.ndarray:
    """(C, 1, KH, KW) -> the (ceil(C/4), KH*KW, 4) array of depthwise_conv2d.cl's filter image."""
    c, _, kh, kw = weights.shape
    c4 = channel_blocks(c)
    padded = np.zeros((c4 * 4, kh * kw), np.float32)
    padded[:c] = weights.reshape(c, kh * kw)
    packed = padded.reshape(c4, 4, kh * kw).transpose(0, 2, 1)
    return np.ascontiguousarray(packed)


def bias_to_image_array(bias: np.ndarray) -> np.ndarray:
    """(C,) -> the (1, ceil(C/4), 4) array of a bias image."""
    c = bias.shape[0]
    padded = np.zeros(channel_blocks(c) * 4, np.float32)
    padded[:c] = bias
    return padded.reshape(1, channel_blocks(c), 4)


def fc_weights_to_buffer_array(weights: np.ndarray) -> np.ndarray:
    """(OC, IC) -> fully_connected.cl's weight buffer: float4 (ocb*ceil(IC/4) + icb)*4 + k holds
    w[4ocb..4ocb+3, 4icb+k]."""
    oc, ic = weights.shape
    oc4, ic4 = channel_blocks(oc), channel_blocks(ic)
    padded = np.zeros((oc4 * 4, ic4 * 4), np.float32)
    padded[:oc, :ic] = weights
    return np.ascontiguousarray(padded.reshape(oc4, 4, ic4 * 4).transpose(0, 2, 1).reshape(-1))


def pair(value) -> tuple[int, int]:
    """(h, w) from an int or an (h, w) pair."""
    if isinstance(value, (tuple, list)):
        a, b = value
        return int(a), int(b)
    return int(value), int(value)


def out_size(size: int, kernel: int, stride: int, pad: int, dilation: int = 1) -> int:
    """Output length of a window of `kernel` taps sliding over `size` (+ 2 * pad) elements."""
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
