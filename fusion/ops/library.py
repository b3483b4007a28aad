"""The operator library: MNN-style OpenCL kernels (fusion/ops/kernels/*.cl) and, per kind, how
to launch one, its data and its numpy reference. Pure Python: the device objects come from a
`Builder` (fusion.ops.device makes pyopencl ones), so graphs and plans can read the library
without OpenCL.

Tensors live on the device as `image2d_t` in MNN's NC4HW4 layout: an (N, C, H, W) tensor is an
image of width ceil(C/4) * W and height N * H, CL_RGBA / CL_FLOAT, whose pixel
(cb * W + w, n * H + h) holds channels 4cb .. 4cb+3 of (n, h, w); channels past C are zero.

`build(builder, kind, rng, **shape)` describes one operator: random float32 inputs and weights
drawn from `rng` (handed to the builder to upload), outputs (allocated by the builder), the
kernel's source and build options, the global size (padded up to a multiple of the local size,
the real sizes passed as the kernel's leading `global_size_dim*` arguments, as MNN does), and
the arguments in kernel parameter order. `fusion.ops.make(context, queue, kind, rng, **shape)`
does this on a pyopencl context.

Kinds, their shape arguments (defaults in brackets) and kernels:

    conv2d_1x1        n[1] c h w oc stride[1] bias[True] activation[None|"relu"|"relu6"]
                      conv2d_1x1.cl : conv2d_1x1        options -DBIAS -DRELU -DRELU6
    conv2d            n[1] c h w oc kernel[3] stride[1] pad[0] dilation[1] bias activation
                      conv2d.cl : conv2d                options -DBIAS -DRELU -DRELU6
    depthwise_conv2d  n[1] c h w kernel[3] stride[1] pad[1] dilation[1] bias activation
                      depthwise_conv2d.cl : depthwise_conv2d   options -DBIAS -DRELU -DRELU6
    max_pool          n[1] c h w kernel[2] stride[2] pad[0]   pooling.cl : pooling
    avg_pool          n[1] c h w kernel[2] stride[2] pad[0]   pooling.cl : pooling  -DPOOL_AVG
    global_avg_pool   n[1] c h w                               global_avg_pool.cl : global_avg_pool
    eltwise_add       n[1] c h w activation                    eltwise_add.cl : eltwise_add
    softmax           n[1] c h w local[32]                     softmax.cl : softmax_channel
                      -DLOCAL_SIZE=local; the only kernel whose result depends on its local size
    concat            n[1] c0 c1 h w                           concat.cl : concat_channel
    fully_connected   n[1] c oc bias activation                fully_connected.cl : fully_connected
    resize_bilinear   n[1] c h w out_h out_w                   resize_bilinear.cl : resize_bilinear
    nchw_to_nc4hw4    n[1] c h w                  nchw_buffer_to_image.cl : nchw_buffer_to_image
    nc4hw4_to_nchw    n[1] c h w                  image_to_nchw_buffer.cl : image_to_nchw_buffer

`kernel`, `stride`, `pad`, `dilation` take an int or an (h, w) pair. Every kind also takes
`local` (the local size; for softmax an int, the work-group size along dimension 0).
"""
from __future__ import annotations

import importlib.resources
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..compiler.source import KernelSource
from .reference import (activate, reference_conv2d, reference_depthwise_conv2d, reference_pool,
                        reference_resize_bilinear, reference_softmax)
from .tensors import (bias_to_image_array, channel_blocks, conv_weights_to_image_array,
                      depthwise_weights_to_image_array, fc_weights_to_buffer_array, out_size, pair)

#: Default tolerance (rtol, atol) of read_outputs() against reference(); see Operator.tolerance.
DEFAULT_TOLERANCE = (1e-4, 1e-5)

KERNELS_DIR = Path(str(importlib.resources.files(__package__) / "kernels"))


def kernel_path(filename: str) -> Path:
    """The path of one file of the kernel library, e.g. kernel_path("conv2d_1x1.cl")."""
    return KERNELS_DIR / filename


class Builder(Protocol):
    """Where an operator's memory comes from (fusion.ops.device._Builder on pyopencl)."""

    def image(self, array: np.ndarray) -> Any: ...          # read-only, (height, width, 4)
    def tensor_image(self, x: np.ndarray) -> Any: ...       # an NCHW tensor input, NC4HW4
    def tensor_buffer(self, x: np.ndarray) -> Any: ...      # an NCHW tensor input, flat
    def buffer(self, array: np.ndarray) -> Any: ...         # read-only, flat float32
    def output_image(self, shape) -> Any: ...
    def output_buffer(self, shape) -> Any: ...
    def operator(self, **fields) -> Any: ...                # the finished operator


def _round_up(global_size: Sequence[int], local_size: Sequence[int]) -> tuple[int, ...]:
    return tuple(-(-g // l) * l for g, l in zip(global_size, local_size))


def _activation_options(activation) -> list[str]:
    if activation in (None, "none"):
        return []
    if activation == "relu":
        return ["-DRELU"]
    if activation == "relu6":
        return ["-DRELU6"]
    raise ValueError(f"unknown activation {activation!r}: expected None, 'relu' or 'relu6'")


def _i32(*values) -> list:
    return [np.int32(v) for v in values]


def _normal(rng, shape, scale=1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _positive(name, value):
    if int(value) < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


def _tolerance(reduction_length: int) -> tuple[float, float]:
    """DEFAULT_TOLERANCE, with atol grown as sqrt(length) for dot products longer than 256."""
    rtol, atol = DEFAULT_TOLERANCE
    return rtol, atol * max(1.0, math.sqrt(reduction_length / 256))


def _finish(builder: Builder, *, name, filename, kernel_name, options, real_global, local,
            args, outputs, flops, params, inputs, reference, tolerance=DEFAULT_TOLERANCE):
    local = tuple(int(l) for l in local)
    real_global = tuple(int(g) for g in real_global)
    global_size = _round_up(real_global, local)
    kernel = KernelSource.from_file(kernel_path(filename), kernel_name, tuple(options))
    args = _i32(*real_global) + list(args)
    tensor_inputs = tuple(next(i for i, a in enumerate(args) if a is tensor)
                          for tensor in builder.tensors)
    return builder.operator(
        name=name, kernel=kernel, global_size=global_size, local_size=local, args=args,
        outputs=list(outputs), flops=int(flops), real_global_size=real_global, params=params,
        inputs=inputs, tolerance=tolerance, tensor_inputs=tensor_inputs, reference=reference)


def _conv_like(b: Builder, rng, kind, *, n=1, c, h, w, oc=None, kernel=3, stride=1, pad=0,
               dilation=1, bias=True, activation=None, local=(8, 8)):
    n, c, h, w = (_positive(k, v) for k, v in (("n", n), ("c", c), ("h", h), ("w", w)))
    depthwise = kind == "depthwise_conv2d"
    if kind == "conv2d_1x1":
        kernel, pad, dilation = 1, 0, 1
    kh, kw = pair(kernel)
    sh, sw = pair(stride)
    ph, pw = pair(pad)
    dh, dw = pair(dilation)
    oc = c if depthwise else _positive("oc", oc)
    for label, value in (("kernel", kh), ("kernel", kw), ("stride", sh), ("stride", sw),
                         ("dilation", dh), ("dilation", dw)):
        _positive(label, value)
    if ph < 0 or pw < 0:
        raise ValueError("pad must be non-negative")
    oh, ow = out_size(h, kh, sh, ph, dh), out_size(w, kw, sw, pw, dw)
    if oh < 1 or ow < 1:
        raise ValueError(f"{kind}: the kernel does not fit the padded input ({h}x{w})")

    x = _normal(rng, (n, c, h, w))
    fan_in = (1 if depthwise else c) * kh * kw
    weights = _normal(rng, (oc, 1 if depthwise else c, kh, kw), 1.0 / math.sqrt(fan_in))
    bias_values = _normal(rng, (oc,), 0.1) if bias else None

    input_image = b.tensor_image(x)
    if depthwise:
        weight_image = b.image(depthwise_weights_to_image_array(weights))
    else:
        weight_image = b.image(conv_weights_to_image_array(weights))
    args = [input_image, weight_image]
    options = _activation_options(activation)
    if bias:
        args.append(b.image(bias_to_image_array(bias_values)))
        options = ["-DBIAS"] + options
    output = b.output_image((n, oc, oh, ow))
    args.append(output.memory)
    out_width_blocks = -(-ow // 4)
    if kind == "conv2d_1x1":
        args += _i32(channel_blocks(c), h, w, oh, ow, sh, sw, out_width_blocks)
    elif kind == "conv2d":
        args += _i32(channel_blocks(c), h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw, out_width_blocks)
    else:
        args += _i32(h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw, out_width_blocks)

    params = dict(n=n, c=c, h=h, w=w, kernel=(kh, kw), stride=(sh, sw), pad=(ph, pw),
                  dilation=(dh, dw), bias=bool(bias), activation=activation, local=tuple(local))
    if not depthwise:
        params["oc"] = oc
    inputs = {"input": x, "weights": weights}
    if bias:
        inputs["bias"] = bias_values
    if depthwise:
        def reference():
            return [reference_depthwise_conv2d(x, weights, bias_values, (sh, sw), (ph, pw),
                                               (dh, dw), activation)]
    else:
        def reference():
            return [reference_conv2d(x, weights, bias_values, (sh, sw), (ph, pw), (dh, dw),
                                     activation)]
    macs = n * oc * oh * ow * (1 if depthwise else c) * kh * kw
    filename = {"conv2d_1x1": "conv2d_1x1.cl", "conv2d": "conv2d.cl",
                "depthwise_conv2d": "depthwise_conv2d.cl"}[kind]
    return _finish(b, name=kind, filename=filename, kernel_name=kind, options=options,
                   real_global=(channel_blocks(oc) * out_width_blocks, n * oh), local=local, args=args,
                   outputs=[output], flops=2 * macs, params=params, inputs=inputs,
                   reference=reference,
                   tolerance=_tolerance((1 if depthwise else c) * kh * kw))


def _make_conv2d_1x1(b, rng, **shape):
    return _conv_like(b, rng, "conv2d_1x1", **shape)


def _make_conv2d(b, rng, **shape):
    return _conv_like(b, rng, "conv2d", **shape)


def _make_depthwise_conv2d(b, rng, **shape):
    shape.setdefault("pad", 1)
    return _conv_like(b, rng, "depthwise_conv2d", **shape)


def _pool(b: Builder, rng, mode, *, n=1, c, h, w, kernel=2, stride=2, pad=0, local=(8, 8)):
    n, c, h, w = (_positive(k, v) for k, v in (("n", n), ("c", c), ("h", h), ("w", w)))
    kh, kw = pair(kernel)
    sh, sw = pair(stride)
    ph, pw = pair(pad)
    for label, value in (("kernel", kh), ("kernel", kw), ("stride", sh), ("stride", sw)):
        _positive(label, value)
    if not (0 <= ph < kh and 0 <= pw < kw):
        raise ValueError("pooling needs 0 <= pad < kernel (every window must hold an input pixel)")
    oh, ow = out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)
    if oh < 1 or ow < 1:
        raise ValueError(f"pooling: the window does not fit the padded input ({h}x{w})")
    x = _normal(rng, (n, c, h, w))
    input_image = b.tensor_image(x)
    output = b.output_image((n, c, oh, ow))
    args = [input_image, output.memory] + _i32(h, w, oh, ow, kh, kw, sh, sw, ph, pw)
    options = ["-DPOOL_AVG"] if mode == "avg" else []
    params = dict(n=n, c=c, h=h, w=w, kernel=(kh, kw), stride=(sh, sw), pad=(ph, pw),
                  local=tuple(local))
    return _finish(b, name=f"{mode}_pool", filename="pooling.cl", kernel_name="pooling",
                   options=options, real_global=(channel_blocks(c) * ow, n * oh), local=local, args=args,
                   outputs=[output], flops=n * c * oh * ow * kh * kw, params=params,
                   inputs={"input": x},
                   reference=lambda: [reference_pool(x, mode, (kh, kw), (sh, sw), (ph, pw))])


def _make_max_pool(b, rng, **shape):
    return _pool(b, rng, "max", **shape)


def _make_avg_pool(b, rng, **shape):
    return _pool(b, rng, "avg", **shape)


def _make_global_avg_pool(b, rng, *, n=1, c, h, w, local=(16, 1)):
    n, c, h, w = (_positive(k, v) for k, v in (("n", n), ("c", c), ("h", h), ("w", w)))
    x = _normal(rng, (n, c, h, w))
    input_image = b.tensor_image(x)
    output = b.output_image((n, c, 1, 1))
    args = [input_image, output.memory] + _i32(h, w)
    return _finish(b, name="global_avg_pool", filename="global_avg_pool.cl",
                   kernel_name="global_avg_pool", options=[], real_global=(channel_blocks(c), n),
                   local=local, args=args, outputs=[output], flops=n * c * h * w,
                   params=dict(n=n, c=c, h=h, w=w, local=tuple(local)), inputs={"input": x},
                   reference=lambda: [x.astype(np.float64).mean(axis=(2, 3), keepdims=True)],
                   tolerance=_tolerance(h * w))


def _make_eltwise_add(b, rng, *, n=1, c, h, w, activation=None, local=(8, 8)):
    n, c, h, w = (_positive(k, v) for k, v in (("n", n), ("c", c), ("h", h), ("w", w)))
    x0 = _normal(rng, (n, c, h, w))
    x1 = _normal(rng, (n, c, h, w))
    images = [b.tensor_image(x0), b.tensor_image(x1)]
    output = b.output_image((n, c, h, w))
    return _finish(b, name="eltwise_add", filename="eltwise_add.cl", kernel_name="eltwise_add",
                   options=_activation_options(activation), real_global=(channel_blocks(c) * w, n * h),
                   local=local, args=images + [output.memory], outputs=[output],
                   flops=n * c * h * w,
                   params=dict(n=n, c=c, h=h, w=w, activation=activation, local=tuple(local)),
                   inputs={"input0": x0, "input1": x1},
                   reference=lambda: [activate(x0.astype(np.float64) + x1, activation)])


def _make_softmax(b, rng, *, n=1, c, h=1, w=1, local=32):
    n, c, h, w = (_positive(k, v) for k, v in (("n", n), ("c", c), ("h", h), ("w", w)))
    if isinstance(local, (tuple, list)):
        if tuple(local[1:]) not in ((), (1,), (1, 1)):
            raise ValueError("softmax: the local size is (LOCAL_SIZE, 1, 1)")
        local = local[0]
    local = int(local)
    if local < 1 or local & (local - 1):
        raise ValueError(f"softmax: LOCAL_SIZE must be a power of two, got {local}")
    x = _normal(rng, (n, c, h, w), 2.0)
    input_image = b.tensor_image(x)
    output = b.output_image((n, c, h, w))
    args = [input_image, output.memory] + _i32(c, channel_blocks(c), w)
    return _finish(b, name="softmax", filename="softmax.cl", kernel_name="softmax_channel",
                   options=[f"-DLOCAL_SIZE={local}"], real_global=(local, w, n * h),
                   local=(local, 1, 1), args=args, outputs=[output], flops=5 * n * c * h * w,
                   params=dict(n=n, c=c, h=h, w=w, local=local), inputs={"input": x},
                   reference=lambda: [reference_softmax(x)])


def _make_concat(b, rng, *, n=1, c0, c1, h, w, local=(8, 8)):
    n, c0, c1, h, w = (_positive(k, v) for k, v in
                       (("n", n), ("c0", c0), ("c1", c1), ("h", h), ("w", w)))
    x0 = _normal(rng, (n, c0, h, w))
    x1 = _normal(rng, (n, c1, h, w))
    images = [b.tensor_image(x0), b.tensor_image(x1)]
    output = b.output_image((n, c0 + c1, h, w))
    args = images + [output.memory] + _i32(c0, c1, w)
    return _finish(b, name="concat", filename="concat.cl", kernel_name="concat_channel",
                   options=[], real_global=(channel_blocks(c0 + c1) * w, n * h), local=local, args=args,
                   outputs=[output], flops=0,
                   params=dict(n=n, c0=c0, c1=c1, h=h, w=w, local=tuple(local)),
                   inputs={"input0": x0, "input1": x1},
                   reference=lambda: [np.concatenate([x0, x1], axis=1)])


def _make_fully_connected(b, rng, *, n=1, c, oc, bias=True, activation=None, local=(16, 1)):
    n, c, oc = (_positive(k, v) for k, v in (("n", n), ("c", c), ("oc", oc)))
    x = _normal(rng, (n, c, 1, 1))
    weights = _normal(rng, (oc, c), 1.0 / math.sqrt(c))
    bias_values = _normal(rng, (oc,), 0.1) if bias else None
    args = [b.tensor_image(x), b.buffer(fc_weights_to_buffer_array(weights))]
    options = _activation_options(activation)
    if bias:
        padded = np.zeros(channel_blocks(oc) * 4, np.float32)
        padded[:oc] = bias_values
        args.append(b.buffer(padded))
        options = ["-DBIAS"] + options
    output = b.output_image((n, oc, 1, 1))
    args += [output.memory] + _i32(channel_blocks(c))
    inputs = {"input": x, "weights": weights}
    if bias:
        inputs["bias"] = bias_values

    def reference():
        out = x.reshape(n, c).astype(np.float64) @ weights.astype(np.float64).T
        if bias:
            out = out + bias_values
        return [activate(out, activation).reshape(n, oc, 1, 1)]

    return _finish(b, name="fully_connected", filename="fully_connected.cl",
                   kernel_name="fully_connected", options=options,
                   real_global=(channel_blocks(oc), n), local=local, args=args, outputs=[output],
                   flops=2 * n * oc * c,
                   params=dict(n=n, c=c, oc=oc, bias=bool(bias), activation=activation,
                               local=tuple(local)),
                   inputs=inputs, reference=reference, tolerance=_tolerance(c))


def _make_resize_bilinear(b, rng, *, n=1, c, h, w, out_h, out_w, local=(8, 8)):
    n, c, h, w, out_h, out_w = (_positive(k, v) for k, v in (
        ("n", n), ("c", c), ("h", h), ("w", w), ("out_h", out_h), ("out_w", out_w)))
    x = _normal(rng, (n, c, h, w))
    scale_h, scale_w = np.float32(h / out_h), np.float32(w / out_w)
    input_image = b.tensor_image(x)
    output = b.output_image((n, c, out_h, out_w))
    args = [input_image, output.memory, scale_h, scale_w] + _i32(h, w, out_h, out_w)
    return _finish(b, name="resize_bilinear", filename="resize_bilinear.cl",
                   kernel_name="resize_bilinear", options=[],
                   real_global=(channel_blocks(c) * out_w, n * out_h), local=local, args=args,
                   outputs=[output], flops=9 * n * c * out_h * out_w,
                   params=dict(n=n, c=c, h=h, w=w, out_h=out_h, out_w=out_w, local=tuple(local)),
                   inputs={"input": x},
                   reference=lambda: [reference_resize_bilinear(x, out_h, out_w, scale_h, scale_w)])


def _make_nchw_to_nc4hw4(b, rng, *, n=1, c, h, w, local=(8, 8)):
    n, c, h, w = (_positive(k, v) for k, v in (("n", n), ("c", c), ("h", h), ("w", w)))
    x = _normal(rng, (n, c, h, w))
    output = b.output_image((n, c, h, w))
    args = [b.tensor_buffer(x), output.memory] + _i32(c, h, w)
    return _finish(b, name="nchw_to_nc4hw4", filename="nchw_buffer_to_image.cl",
                   kernel_name="nchw_buffer_to_image", options=[],
                   real_global=(channel_blocks(c) * w, n * h), local=local, args=args, outputs=[output],
                   flops=0, params=dict(n=n, c=c, h=h, w=w, local=tuple(local)),
                   inputs={"input": x}, reference=lambda: [x.copy()])


def _make_nc4hw4_to_nchw(b, rng, *, n=1, c, h, w, local=(8, 8)):
    n, c, h, w = (_positive(k, v) for k, v in (("n", n), ("c", c), ("h", h), ("w", w)))
    x = _normal(rng, (n, c, h, w))
    output = b.output_buffer((n, c, h, w))
    args = [b.tensor_image(x), output.memory] + _i32(c, h, w)
    return _finish(b, name="nc4hw4_to_nchw", filename="image_to_nchw_buffer.cl",
                   kernel_name="image_to_nchw_buffer", options=[],
                   real_global=(channel_blocks(c) * w, n * h), local=local, args=args, outputs=[output],
                   flops=0, params=dict(n=n, c=c, h=h, w=w, local=tuple(local)),
                   inputs={"input": x}, reference=lambda: [x.copy()])


_BUILDERS = {
    "conv2d_1x1": _make_conv2d_1x1,
    "depthwise_conv2d": _make_depthwise_conv2d,
    "max_pool": _make_max_pool,
    "avg_pool": _make_avg_pool,
    "global_avg_pool": _make_global_avg_pool,
    "eltwise_add": _make_eltwise_add,
    "softmax": _make_softmax,
    "conv2d": _make_conv2d,
    "concat": _make_concat,
    "fully_connected": _make_fully_connected,
    "resize_bilinear": _make_resize_bilinear,
    "nchw_to_nc4hw4": _make_nchw_to_nc4hw4,
    "nc4hw4_to_nchw": _make_nc4hw4_to_nchw,
}

#: The kinds build() accepts, in the library's priority order.
KINDS: tuple[str, ...] = tuple(_BUILDERS)


def build(builder: Builder, kind: str, rng: np.random.Generator, **shape):
    """One operator of `kind` with random float32 data from `rng`, its memory from `builder`."""
    try:
        make_kind = _BUILDERS[kind]
    except KeyError:
        raise ValueError(f"unknown operator kind {kind!r}; known: {', '.join(KINDS)}") from None
    return make_kind(builder, rng, **shape)


_EXAMPLES = {
    "conv2d_1x1": dict(n=1, c=7, h=5, w=9, oc=10, activation="relu6"),
    "depthwise_conv2d": dict(n=1, c=6, h=9, w=7, kernel=3, stride=1, pad=1, activation="relu6"),
    "max_pool": dict(n=1, c=5, h=9, w=7, kernel=3, stride=2, pad=1),
    "avg_pool": dict(n=1, c=5, h=9, w=7, kernel=3, stride=2, pad=1),
    "global_avg_pool": dict(n=1, c=9, h=5, w=7),
    "eltwise_add": dict(n=1, c=6, h=7, w=5, activation="relu"),
    "softmax": dict(n=1, c=37, h=2, w=3, local=8),
    "conv2d": dict(n=1, c=3, h=9, w=11, oc=6, kernel=3, stride=2, pad=1, activation="relu6"),
    "concat": dict(n=1, c0=5, c1=6, h=4, w=3),
    "fully_connected": dict(n=1, c=13, oc=10),
    "resize_bilinear": dict(n=1, c=5, h=4, w=6, out_h=7, out_w=9),
    "nchw_to_nc4hw4": dict(n=1, c=6, h=5, w=7),
    "nc4hw4_to_nchw": dict(n=1, c=6, h=5, w=7),
}


def example_shapes(kind: str) -> dict:
    """A small shape (make()'s keyword arguments) for tests; odd sizes, partial channel blocks."""
    if kind not in _EXAMPLES:
        raise ValueError(f"unknown operator kind {kind!r}; known: {', '.join(KINDS)}")
    return dict(_EXAMPLES[kind])


#: Real MobileNet-V2 (224x224 input, width 1.0) layers: name -> {"kind": ..., **make() shape}.
#: `make_layer()` builds one. Expansion 1x1 convolutions and depthwise convolutions have ReLU6,
#: projections have none. (MobileNet-V2 has no max pooling, concat or resize: those kinds have
#: no entry.)
MOBILENET_V2_LAYERS: dict[str, dict] = {
    "conv1_3x3_s2_224x224x3_to_32": dict(kind="conv2d", c=3, h=224, w=224, oc=32, kernel=3,
                                         stride=2, pad=1, activation="relu6"),
    "block1_dw_3x3_s1_112x112x32": dict(kind="depthwise_conv2d", c=32, h=112, w=112, kernel=3,
                                        stride=1, pad=1, activation="relu6"),
    "block1_project_1x1_112x112_32_to_16": dict(kind="conv2d_1x1", c=32, h=112, w=112, oc=16),
    "block2_expand_1x1_112x112_16_to_96": dict(kind="conv2d_1x1", c=16, h=112, w=112, oc=96,
                                               activation="relu6"),
    "block2_dw_3x3_s2_112x112x96": dict(kind="depthwise_conv2d", c=96, h=112, w=112, kernel=3,
                                        stride=2, pad=1, activation="relu6"),
    "block3_dw_3x3_s1_56x56x144": dict(kind="depthwise_conv2d", c=144, h=56, w=56, kernel=3,
                                       stride=1, pad=1, activation="relu6"),
    "block3_project_1x1_56x56_144_to_24": dict(kind="conv2d_1x1", c=144, h=56, w=56, oc=24),
    "block3_add_56x56x24": dict(kind="eltwise_add", c=24, h=56, w=56),
    "block5_expand_1x1_28x28_32_to_192": dict(kind="conv2d_1x1", c=32, h=28, w=28, oc=192,
                                              activation="relu6"),
    "block5_dw_3x3_s1_28x28x192": dict(kind="depthwise_conv2d", c=192, h=28, w=28, kernel=3,
                                       stride=1, pad=1, activation="relu6"),
    "block5_add_28x28x32": dict(kind="eltwise_add", c=32, h=28, w=28),
    "block8_dw_3x3_s1_14x14x384": dict(kind="depthwise_conv2d", c=384, h=14, w=14, kernel=3,
                                       stride=1, pad=1, activation="relu6"),
    "block8_add_14x14x64": dict(kind="eltwise_add", c=64, h=14, w=14),
    "block14_dw_3x3_s2_14x14x576": dict(kind="depthwise_conv2d", c=576, h=14, w=14, kernel=3,
                                        stride=2, pad=1, activation="relu6"),
    "block16_project_1x1_7x7_960_to_320": dict(kind="conv2d_1x1", c=960, h=7, w=7, oc=320),
    "conv_last_1x1_7x7_320_to_1280": dict(kind="conv2d_1x1", c=320, h=7, w=7, oc=1280,
                                          activation="relu6"),
    "pool_7x7x1280": dict(kind="global_avg_pool", c=1280, h=7, w=7),
    "avg_pool_7x7_7x7x1280": dict(kind="avg_pool", c=1280, h=7, w=7, kernel=7, stride=1, pad=0),
    "classifier_fc_1280_to_1000": dict(kind="fully_connected", c=1280, oc=1000),
    "softmax_1000": dict(kind="softmax", c=1000, h=1, w=1, local=32),
}

