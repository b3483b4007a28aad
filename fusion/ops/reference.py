"""numpy references of the library's operators: float64 arithmetic, float32 results, NCHW."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .tensors import out_size, pair

def activate(x: np.ndarray, activation: str | None) -> np.ndarray:
    if activation == "relu":
        return np.maximum(x, 0.0)
    if activation == "relu6":
        return np.clip(x, 0.0, 6.0)
    return x


def _windows(x, kernel, stride, pad, dilation, out_hw, fill=0.0):
    """Yield (kh, kw, view) with view[n, c, oh, ow] = padded x at the tap (kh, kw)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = kernel, stride, pad, dilation, out_hw
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    for i in range(kh):
        for j in range(kw):
            yield i, j, xp[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh,
                           j * dw: j * dw + sw * (ow - 1) + 1: sw]


def reference_conv2d(x, weights, bias, stride=(1, 1), pad=(0, 0), dilation=(1, 1), activation=None):
    n, c, h, w = x.shape
    oc, ic, kh, kw = weights.shape
    oh = out_size(h, kh, stride[0], pad[0], dilation[0])
    ow = out_size(w, kw, stride[1], pad[1], dilation[1])
    x = x.astype(np.float64)
    wt = weights.astype(np.float64)
    out = np.zeros((n, oc, oh, ow))
    for i, j, view in _windows(x, (kh, kw), stride, pad, dilation, (oh, ow)):
        out += np.einsum("nchw,oc->nohw", view, wt[:, :, i, j])
    if bias is not None:
        out += bias.astype(np.float64)[None, :, None, None]
    return activate(out, activation).astype(np.float32)


def reference_depthwise_conv2d(x, weights, bias, stride=(1, 1), pad=(0, 0), dilation=(1, 1),
                               activation=None):
    n, c, h, w = x.shape
    _, _, kh, kw = weights.shape
    oh = out_size(h, kh, stride[0], pad[0], dilation[0])
    ow = out_size(w, kw, stride[1], pad[1], dilation[1])
    x = x.astype(np.float64)
    wt = weights.astype(np.float64)
    out = np.zeros((n, c, oh, ow))
    for i, j, view in _windows(x, (kh, kw), stride, pad, dilation, (oh, ow)):
        out += view * wt[None, :, 0, i, j, None, None]
    if bias is not None:
        out += bias.astype(np.float64)[None, :, None, None]
    return activate(out, activation).astype(np.float32)


def reference_pool(x, mode, kernel, stride, pad):
    n, c, h, w = x.shape
    oh = out_size(h, kernel[0], stride[0], pad[0])
    ow = out_size(w, kernel[1], stride[1], pad[1])
    x = x.astype(np.float64)
    if mode == "max":
        out = np.full((n, c, oh, ow), -np.inf)
        for _, _, view in _windows(x, kernel, stride, pad, (1, 1), (oh, ow), fill=-np.inf):
            out = np.maximum(out, view)
        return out.astype(np.float32)
    total = np.zeros((n, c, oh, ow))
    count = np.zeros((1, 1, oh, ow))
    ones = np.ones((1, 1, h, w))
    for _, _, view in _windows(x, kernel, stride, pad, (1, 1), (oh, ow)):
        total += view
    for _, _, view in _windows(ones, kernel, stride, pad, (1, 1), (oh, ow)):
        count += view
    return (total / count).astype(np.float32)


def reference_softmax(x):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _resize_source(out_size: int, in_size: int, scale: np.float32):
    """Source row/column, neighbours and weights, computed in float32 as the kernel does."""
    src = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    src = np.maximum(src, np.float32(0.0))
    i0 = np.minimum(src.astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    lam = (src - i0.astype(np.float32)).astype(np.float64)
    return i0, i1, lam


def reference_resize_bilinear(x, out_h, out_w, scale_h, scale_w):
    n, c, h, w = x.shape
    x = x.astype(np.float64)
    h0, h1, lh = _resize_source(out_h, h, scale_h)
    w0, w1, lw = _resize_source(out_w, w, scale_w)
    lh = lh[:, None]
    top = x[:, :, h0][:, :, :, w0] * (1 - lw) + x[:, :, h0][:, :, :, w1] * lw
    bottom = x[:, :, h1][:, :, :, w0] * (1 - lw) + x[:, :, h1][:, :, :, w1] * lw
    return (top * (1 - lh) + bottom * lh).astype(np.float32)


#: The names in `Operator.inputs` of tensor inputs (the rest are weights), in argument order.
TENSOR_INPUT_NAMES = ("input", "input0", "input1")


def apply_reference(kind: str, tensors: Sequence[np.ndarray], weights: dict | None = None,
                    **shape) -> np.ndarray:
    """The numpy result of one operator of `kind` on given inputs: `tensors` NCHW float32 in
    the order of `Operator.tensor_inputs`, `weights` as in `Operator.inputs` ("weights",
    "bias"), `shape` make()'s keyword arguments (`Operator.params` will do; `local` and the
    input sizes are ignored). A graph's numpy forward pass chains these; for one operator it
    equals `Operator.reference()`."""
    weights = weights or {}
    activation = shape.get("activation")
    x = tensors[0]
    if kind in ("conv2d", "conv2d_1x1", "depthwise_conv2d"):
        stride = pair(shape.get("stride", 1))
        if kind == "conv2d_1x1":
            pad, dilation = (0, 0), (1, 1)
        else:
            pad = pair(shape.get("pad", 1 if kind == "depthwise_conv2d" else 0))
            dilation = pair(shape.get("dilation", 1))
        function = reference_depthwise_conv2d if kind == "depthwise_conv2d" else reference_conv2d
        return function(x, weights["weights"], weights.get("bias"), stride, pad, dilation,
                        activation)
    if kind in ("max_pool", "avg_pool"):
        return reference_pool(x, kind[:3], pair(shape.get("kernel", 2)),
                              pair(shape.get("stride", 2)), pair(shape.get("pad", 0)))
    if kind == "global_avg_pool":
        return x.astype(np.float64).mean(axis=(2, 3), keepdims=True).astype(np.float32)
    if kind == "eltwise_add":
        return activate(x.astype(np.float64) + tensors[1], activation).astype(np.float32)
    if kind == "softmax":
        return reference_softmax(x)
    if kind == "concat":
        return np.concatenate(tensors, axis=1).astype(np.float32)
    if kind == "fully_connected":
        n, c = x.shape[:2]
        out = x.reshape(n, c).astype(np.float64) @ weights["weights"].astype(np.float64).T
        if weights.get("bias") is not None:
            out = out + weights["bias"]
        return activate(out, activation).reshape(n, -1, 1, 1).astype(np.float32)
    if kind == "resize_bilinear":
        h, w = x.shape[2:]
        out_h, out_w = int(shape["out_h"]), int(shape["out_w"])
        return reference_resize_bilinear(x, out_h, out_w, np.float32(h / out_h),
                                         np.float32(w / out_w))
    if kind in ("nchw_to_nc4hw4", "nc4hw4_to_nchw"):
        return np.array(x, np.float32)
    raise ValueError(f"unknown operator kind {kind!r}")
