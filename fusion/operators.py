"""The operator library: MNN-style OpenCL kernels (kernels/*.cl), how to launch each one, and a
numpy reference for each.

Tensors live on the device as `image2d_t` in MNN's NC4HW4 layout: an (N, C, H, W) tensor is an
image of width ceil(C/4) * W and height N * H, CL_RGBA / CL_FLOAT, whose pixel
(cb * W + w, n * H + h) holds channels 4cb .. 4cb+3 of (n, h, w); channels past C are zero.

`make(context, queue, kind, rng, **shape)` builds one `Operator`: random float32 inputs and
weights drawn from `rng`, uploaded; outputs allocated; the kernel's source and build options; the
global size (padded up to a multiple of the local size, the real sizes passed as the kernel's
leading `global_size_dim*` arguments, as MNN does); the arguments in kernel parameter order.

    op = make(ctx, queue, "conv2d_1x1", np.random.default_rng(0), c=32, oc=192, h=28, w=28)
    op.reset_outputs(queue)
    op.run(queue)                      # or: g, l, args = op.launch(); kernel(queue, g, l, *args)
    np.testing.assert_allclose(op.read_outputs(queue)[0], op.reference()[0],
                               rtol=op.tolerance[0], atol=op.tolerance[1])

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

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .resources import kernel_path
from .source import KernelSource

__all__ = [
    "Operator", "make", "KINDS", "example_shapes", "MOBILENET_V2_LAYERS", "make_layer",
    "GARBAGE", "nchw_to_nc4hw4_image_array", "nc4hw4_image_array_to_nchw",
    "conv_weights_to_image_array", "depthwise_weights_to_image_array", "bias_to_image_array",
    "fc_weights_to_buffer_array", "image_shape", "build_kernel",
    "TENSOR_INPUT_NAMES", "apply_reference",
]

#: What reset_outputs() writes into every output (every lane of every pixel / element).
GARBAGE = np.float32(np.nan)

#: Default tolerance (rtol, atol) of read_outputs() against reference(); see Operator.tolerance.
DEFAULT_TOLERANCE = (1e-4, 1e-5)


def _cl():
    import pyopencl as cl  # the runtime extra: code generation does not need it
    return cl


# ----------------------------------------------------------------------------------------------
# NCHW <-> NC4HW4 packing (numpy only)
# ----------------------------------------------------------------------------------------------

def _blocks(channels: int) -> int:
    return (channels + 3) // 4


def image_shape(shape: Sequence[int]) -> tuple[int, int]:
    """(width, height) of the NC4HW4 image of an (N, C, H, W) tensor."""
    n, c, h, w = shape
    return _blocks(c) * w, n * h


def nchw_to_nc4hw4_image_array(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> the (N*H, ceil(C/4)*W, 4) float32 host array of its NC4HW4 image."""
    n, c, h, w = x.shape
    c4 = _blocks(c)
    padded = np.zeros((n, c4 * 4, h, w), np.float32)
    padded[:, :c] = x
    packed = padded.reshape(n, c4, 4, h, w).transpose(0, 3, 1, 4, 2)  # n, h, cb, w, lane
    return np.ascontiguousarray(packed.reshape(n * h, c4 * w, 4))


def nc4hw4_image_array_to_nchw(array: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """The (N*H, ceil(C/4)*W, 4) host array of an NC4HW4 image -> (N, C, H, W) float32."""
    n, c, h, w = shape
    c4 = _blocks(c)
    unpacked = np.asarray(array, np.float32).reshape(n, h, c4, w, 4).transpose(0, 2, 4, 1, 3)
    return np.ascontiguousarray(unpacked.reshape(n, c4 * 4, h, w)[:, :c])


def conv_weights_to_image_array(weights: np.ndarray) -> np.ndarray:
    """(OC, IC, KH, KW) -> the (ceil(OC/4)*KH*KW, ceil(IC/4)*4, 4) array of the weight image of
    conv2d.cl / conv2d_1x1.cl: pixel (4*icb + k, (ocb*KH + kh)*KW + kw) = w[4ocb..4ocb+3, 4icb+k, kh, kw]."""
    oc, ic, kh, kw = weights.shape
    oc4, ic4 = _blocks(oc), _blocks(ic)
    padded = np.zeros((oc4 * 4, ic4 * 4, kh, kw), np.float32)
    padded[:oc, :ic] = weights
    packed = padded.reshape(oc4, 4, ic4 * 4, kh, kw).transpose(0, 3, 4, 2, 1)  # ocb, kh, kw, ic, lane
    return np.ascontiguousarray(packed.reshape(oc4 * kh * kw, ic4 * 4, 4))


def depthwise_weights_to_image_array(weights: np.ndarray) -> np.ndarray:
    """(C, 1, KH, KW) -> the (ceil(C/4), KH*KW, 4) array of depthwise_conv2d.cl's filter image."""
    c, _, kh, kw = weights.shape
    c4 = _blocks(c)
    padded = np.zeros((c4 * 4, kh * kw), np.float32)
    padded[:c] = weights.reshape(c, kh * kw)
    packed = padded.reshape(c4, 4, kh * kw).transpose(0, 2, 1)
    return np.ascontiguousarray(packed)


def bias_to_image_array(bias: np.ndarray) -> np.ndarray:
    """(C,) -> the (1, ceil(C/4), 4) array of a bias image."""
    c = bias.shape[0]
    padded = np.zeros(_blocks(c) * 4, np.float32)
    padded[:c] = bias
    return padded.reshape(1, _blocks(c), 4)


def fc_weights_to_buffer_array(weights: np.ndarray) -> np.ndarray:
    """(OC, IC) -> fully_connected.cl's weight buffer: float4 (ocb*ceil(IC/4) + icb)*4 + k holds
    w[4ocb..4ocb+3, 4icb+k]."""
    oc, ic = weights.shape
    oc4, ic4 = _blocks(oc), _blocks(ic)
    padded = np.zeros((oc4 * 4, ic4 * 4), np.float32)
    padded[:oc, :ic] = weights
    return np.ascontiguousarray(padded.reshape(oc4, 4, ic4 * 4).transpose(0, 2, 1).reshape(-1))


# ----------------------------------------------------------------------------------------------
# numpy references (float64 arithmetic, float32 results)
# ----------------------------------------------------------------------------------------------

def _activate(x: np.ndarray, activation: str | None) -> np.ndarray:
    if activation == "relu":
        return np.maximum(x, 0.0)
    if activation == "relu6":
        return np.clip(x, 0.0, 6.0)
    return x


def _out_size(size: int, kernel: int, stride: int, pad: int, dilation: int = 1) -> int:
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


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
    oh = _out_size(h, kh, stride[0], pad[0], dilation[0])
    ow = _out_size(w, kw, stride[1], pad[1], dilation[1])
    x = x.astype(np.float64)
    wt = weights.astype(np.float64)
    out = np.zeros((n, oc, oh, ow))
    for i, j, view in _windows(x, (kh, kw), stride, pad, dilation, (oh, ow)):
        out += np.einsum("nchw,oc->nohw", view, wt[:, :, i, j])
    if bias is not None:
        out += bias.astype(np.float64)[None, :, None, None]
    return _activate(out, activation).astype(np.float32)


def reference_depthwise_conv2d(x, weights, bias, stride=(1, 1), pad=(0, 0), dilation=(1, 1),
                               activation=None):
    n, c, h, w = x.shape
    _, _, kh, kw = weights.shape
    oh = _out_size(h, kh, stride[0], pad[0], dilation[0])
    ow = _out_size(w, kw, stride[1], pad[1], dilation[1])
    x = x.astype(np.float64)
    wt = weights.astype(np.float64)
    out = np.zeros((n, c, oh, ow))
    for i, j, view in _windows(x, (kh, kw), stride, pad, dilation, (oh, ow)):
        out += view * wt[None, :, 0, i, j, None, None]
    if bias is not None:
        out += bias.astype(np.float64)[None, :, None, None]
    return _activate(out, activation).astype(np.float32)


def reference_pool(x, mode, kernel, stride, pad):
    n, c, h, w = x.shape
    oh = _out_size(h, kernel[0], stride[0], pad[0])
    ow = _out_size(w, kernel[1], stride[1], pad[1])
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
        stride = _pair(shape.get("stride", 1))
        if kind == "conv2d_1x1":
            pad, dilation = (0, 0), (1, 1)
        else:
            pad = _pair(shape.get("pad", 1 if kind == "depthwise_conv2d" else 0))
            dilation = _pair(shape.get("dilation", 1))
        function = reference_depthwise_conv2d if kind == "depthwise_conv2d" else reference_conv2d
        return function(x, weights["weights"], weights.get("bias"), stride, pad, dilation,
                        activation)
    if kind in ("max_pool", "avg_pool"):
        return reference_pool(x, kind[:3], _pair(shape.get("kernel", 2)),
                              _pair(shape.get("stride", 2)), _pair(shape.get("pad", 0)))
    if kind == "global_avg_pool":
        return x.astype(np.float64).mean(axis=(2, 3), keepdims=True).astype(np.float32)
    if kind == "eltwise_add":
        return _activate(x.astype(np.float64) + tensors[1], activation).astype(np.float32)
    if kind == "softmax":
        return reference_softmax(x)
    if kind == "concat":
        return np.concatenate(tensors, axis=1).astype(np.float32)
    if kind == "fully_connected":
        n, c = x.shape[:2]
        out = x.reshape(n, c).astype(np.float64) @ weights["weights"].astype(np.float64).T
        if weights.get("bias") is not None:
            out = out + weights["bias"]
        return _activate(out, activation).reshape(n, -1, 1, 1).astype(np.float32)
    if kind == "resize_bilinear":
        h, w = x.shape[2:]
        out_h, out_w = int(shape["out_h"]), int(shape["out_w"])
        return reference_resize_bilinear(x, out_h, out_w, np.float32(h / out_h),
                                         np.float32(w / out_w))
    if kind in ("nchw_to_nc4hw4", "nc4hw4_to_nchw"):
        return np.array(x, np.float32)
    raise ValueError(f"unknown operator kind {kind!r}")


# ----------------------------------------------------------------------------------------------
# The Operator
# ----------------------------------------------------------------------------------------------

_PROGRAMS: dict[tuple, tuple[Any, Any]] = {}


def build_kernel(context, kernel: KernelSource):
    """Build one KernelSource alone (unfused) on a context; programs are cached per context,
    source and options. Returns a pyopencl Kernel."""
    cl = _cl()
    key = (context.int_ptr, kernel.source, tuple(kernel.options))
    entry = _PROGRAMS.get(key)
    if entry is None:
        program = cl.Program(context, kernel.source).build(options=list(kernel.options))
        entry = _PROGRAMS[key] = (context, program)  # the context is kept so its id stays unique
    return cl.Kernel(entry[1], kernel.name)


@dataclasses.dataclass(eq=False)
class _Output:
    memory: Any
    shape: tuple[int, ...]         # logical NCHW shape
    layout: str                    # "image" (NC4HW4 image2d_t) or "buffer" (NCHW float buffer)


@dataclasses.dataclass(eq=False)
class Operator:
    """One kernel of the library, ready to launch: source, sizes, arguments, data, reference."""

    name: str
    kernel: KernelSource
    global_size: tuple[int, ...]
    local_size: tuple[int, ...] | None
    args: list
    outputs: list
    flops: int
    #: the logical (unpadded) global size, also passed as the leading global_size_dim* arguments
    real_global_size: tuple[int, ...] = ()
    #: resolved shape arguments (everything make() was given, defaults filled in)
    params: dict = dataclasses.field(default_factory=dict)
    #: host copies of the inputs and weights, NCHW float32 (weights in their natural shape)
    inputs: dict = dataclasses.field(default_factory=dict)
    #: (rtol, atol) that read_outputs() meets against reference() on a conforming device
    tolerance: tuple[float, float] = DEFAULT_TOLERANCE
    #: memory objects in `args` the kernel only reads
    input_memory: list = dataclasses.field(default_factory=list)
    #: positions in `args` of the tensor inputs (`inputs` "input", or "input0" and "input1"):
    #: what a graph executor rebinds to the outputs of the operators that produce them
    tensor_inputs: tuple[int, ...] = ()
    context: Any = dataclasses.field(default=None, repr=False)
    _outputs: list = dataclasses.field(default_factory=list, repr=False)
    _reference: Callable[[], list] | None = dataclasses.field(default=None, repr=False)
    _reference_cache: list | None = dataclasses.field(default=None, repr=False)
    _kernel: Any = dataclasses.field(default=None, repr=False)

    def launch(self) -> tuple:
        """(global_size, local_size, args): `kernel(queue, global_size, local_size, *args)`."""
        return self.global_size, self.local_size, list(self.args)

    @property
    def output_shapes(self) -> list[tuple[int, ...]]:
        return [o.shape for o in self._outputs]

    @property
    def output_layouts(self) -> list[str]:
        return [o.layout for o in self._outputs]

    def build(self):
        """The kernel built alone (unfused) on this operator's context (cached)."""
        if self._kernel is None:
            self._kernel = build_kernel(self.context, self.kernel)
        return self._kernel

    def run(self, queue, wait_for=None):
        """Enqueue the unfused kernel once; returns its event."""
        kernel = self.build()
        return kernel(queue, self.global_size, self.local_size, *self.args, wait_for=wait_for)

    def read_raw_outputs(self, queue) -> list[np.ndarray]:
        """Every output's whole device memory: (height, width, 4) arrays for images (padding
        lanes included), flat arrays for buffers."""
        cl = _cl()
        result = []
        for out in self._outputs:
            if out.layout == "image":
                width, height = image_shape(out.shape)
                host = np.empty((height, width, 4), np.float32)
                cl.enqueue_copy(queue, host, out.memory, origin=(0, 0), region=(width, height))
            else:
                host = np.empty(int(np.prod(out.shape)), np.float32)
                cl.enqueue_copy(queue, host, out.memory)
            result.append(host)
        return result

    def read_outputs(self, queue) -> list[np.ndarray]:
        """The outputs copied back, as NCHW float32 arrays."""
        result = []
        for out, raw in zip(self._outputs, self.read_raw_outputs(queue)):
            if out.layout == "image":
                result.append(nc4hw4_image_array_to_nchw(raw, out.shape))
            else:
                result.append(raw.reshape(out.shape))
        return result

    def reference(self) -> list[np.ndarray]:
        """The numpy result, same shapes as read_outputs()."""
        if self._reference_cache is None:
            self._reference_cache = [np.asarray(r, np.float32) for r in self._reference()]
        return [r.copy() for r in self._reference_cache]

    def reset_outputs(self, queue) -> None:
        """Fill every output (all of its memory) with GARBAGE (NaN)."""
        cl = _cl()
        for out in self._outputs:
            if out.layout == "image":
                width, height = image_shape(out.shape)
                host = np.full((height, width, 4), GARBAGE, np.float32)
                cl.enqueue_copy(queue, out.memory, host, origin=(0, 0), region=(width, height))
            else:
                host = np.full(int(np.prod(out.shape)), GARBAGE, np.float32)
                cl.enqueue_copy(queue, out.memory, host)
        queue.finish()


# ----------------------------------------------------------------------------------------------
# make()
# ----------------------------------------------------------------------------------------------

class _Builder:
    """Upload helpers shared by the per-kind builders."""

    def __init__(self, context, queue):
        self.cl = _cl()
        self.context = context
        self.queue = queue
        self.format = self.cl.ImageFormat(self.cl.channel_order.RGBA, self.cl.channel_type.FLOAT)
        device = context.devices[0]
        self.max_width = device.image2d_max_width
        self.max_height = device.image2d_max_height
        self.inputs: list = []
        self.tensors: list = []  # the tensor inputs, in order (Operator.tensor_inputs)
        # pyopencl >= 2024.3 deprecates calling Image() directly in favour of create_image()
        self.create_image = getattr(self.cl, "create_image", self.cl.Image)

    def _check(self, width, height):
        if width > self.max_width or height > self.max_height:
            raise ValueError(f"image {width}x{height} exceeds the device's image2d limit "
                             f"{self.max_width}x{self.max_height}")

    def image(self, array: np.ndarray):
        """A read-only image from a (height, width, 4) float32 array."""
        mf = self.cl.mem_flags
        height, width, _ = array.shape
        self._check(width, height)
        image = self.create_image(self.context, mf.READ_ONLY | mf.COPY_HOST_PTR, self.format,
                                  shape=(width, height),
                                  hostbuf=np.ascontiguousarray(array, np.float32))
        self.inputs.append(image)
        return image

    def tensor_image(self, x: np.ndarray):
        image = self.image(nchw_to_nc4hw4_image_array(x))
        self.tensors.append(image)
        return image

    def tensor_buffer(self, x: np.ndarray):
        """A tensor input kept as an NCHW float buffer (nchw_to_nc4hw4's input)."""
        buffer = self.buffer(x.reshape(-1))
        self.tensors.append(buffer)
        return buffer

    def buffer(self, array: np.ndarray):
        mf = self.cl.mem_flags
        buffer = self.cl.Buffer(self.context, mf.READ_ONLY | mf.COPY_HOST_PTR,
                                hostbuf=np.ascontiguousarray(array, np.float32))
        self.inputs.append(buffer)
        return buffer

    def output_image(self, shape) -> _Output:
        width, height = image_shape(shape)
        self._check(width, height)
        image = self.create_image(self.context, self.cl.mem_flags.READ_WRITE, self.format,
                                  shape=(width, height))
        return _Output(image, tuple(shape), "image")

    def output_buffer(self, shape) -> _Output:
        size = int(np.prod(shape)) * 4
        buffer = self.cl.Buffer(self.context, self.cl.mem_flags.READ_WRITE, size)
        return _Output(buffer, tuple(shape), "buffer")


def _pair(value) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        a, b = value
        return int(a), int(b)
    return int(value), int(value)


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


def _finish(builder: _Builder, *, name, filename, kernel_name, options, real_global, local,
            args, outputs, flops, params, inputs, reference, tolerance=DEFAULT_TOLERANCE):
    local = tuple(int(l) for l in local)
    real_global = tuple(int(g) for g in real_global)
    global_size = _round_up(real_global, local)
    kernel = KernelSource.from_file(kernel_path(filename), kernel_name, tuple(options))
    args = _i32(*real_global) + list(args)
    tensor_inputs = tuple(next(i for i, a in enumerate(args) if a is tensor)
                          for tensor in builder.tensors)
    return Operator(
        name=name, kernel=kernel, global_size=global_size, local_size=local,
        args=args, outputs=[o.memory for o in outputs], flops=int(flops),
        real_global_size=real_global, params=params, inputs=inputs, tolerance=tolerance,
        input_memory=list(builder.inputs), tensor_inputs=tensor_inputs,
        context=builder.context, _outputs=list(outputs), _reference=reference)


def _conv_like(b: _Builder, rng, kind, *, n=1, c, h, w, oc=None, kernel=3, stride=1, pad=0,
               dilation=1, bias=True, activation=None, local=(8, 8)):
    n, c, h, w = (_positive(k, v) for k, v in (("n", n), ("c", c), ("h", h), ("w", w)))
    depthwise = kind == "depthwise_conv2d"
    if kind == "conv2d_1x1":
        kernel, pad, dilation = 1, 0, 1
    kh, kw = _pair(kernel)
    sh, sw = _pair(stride)
    ph, pw = _pair(pad)
    dh, dw = _pair(dilation)
    oc = c if depthwise else _positive("oc", oc)
    for label, value in (("kernel", kh), ("kernel", kw), ("stride", sh), ("stride", sw),
                         ("dilation", dh), ("dilation", dw)):
        _positive(label, value)
    if ph < 0 or pw < 0:
        raise ValueError("pad must be non-negative")
    oh, ow = _out_size(h, kh, sh, ph, dh), _out_size(w, kw, sw, pw, dw)
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
        args += _i32(_blocks(c), h, w, oh, ow, sh, sw, out_width_blocks)
    elif kind == "conv2d":
        args += _i32(_blocks(c), h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw, out_width_blocks)
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
                   real_global=(_blocks(oc) * out_width_blocks, n * oh), local=local, args=args,
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


def _pool(b: _Builder, rng, mode, *, n=1, c, h, w, kernel=2, stride=2, pad=0, local=(8, 8)):
    n, c, h, w = (_positive(k, v) for k, v in (("n", n), ("c", c), ("h", h), ("w", w)))
    kh, kw = _pair(kernel)
    sh, sw = _pair(stride)
    ph, pw = _pair(pad)
    for label, value in (("kernel", kh), ("kernel", kw), ("stride", sh), ("stride", sw)):
        _positive(label, value)
    if not (0 <= ph < kh and 0 <= pw < kw):
        raise ValueError("pooling needs 0 <= pad < kernel (every window must hold an input pixel)")
    oh, ow = _out_size(h, kh, sh, ph), _out_size(w, kw, sw, pw)
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
                   options=options, real_global=(_blocks(c) * ow, n * oh), local=local, args=args,
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
                   kernel_name="global_avg_pool", options=[], real_global=(_blocks(c), n),
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
                   options=_activation_options(activation), real_global=(_blocks(c) * w, n * h),
                   local=local, args=images + [output.memory], outputs=[output],
                   flops=n * c * h * w,
                   params=dict(n=n, c=c, h=h, w=w, activation=activation, local=tuple(local)),
                   inputs={"input0": x0, "input1": x1},
                   reference=lambda: [_activate(x0.astype(np.float64) + x1, activation)])


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
    args = [input_image, output.memory] + _i32(c, _blocks(c), w)
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
                   options=[], real_global=(_blocks(c0 + c1) * w, n * h), local=local, args=args,
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
        padded = np.zeros(_blocks(oc) * 4, np.float32)
        padded[:oc] = bias_values
        args.append(b.buffer(padded))
        options = ["-DBIAS"] + options
    output = b.output_image((n, oc, 1, 1))
    args += [output.memory] + _i32(_blocks(c))
    inputs = {"input": x, "weights": weights}
    if bias:
        inputs["bias"] = bias_values

    def reference():
        out = x.reshape(n, c).astype(np.float64) @ weights.astype(np.float64).T
        if bias:
            out = out + bias_values
        return [_activate(out, activation).reshape(n, oc, 1, 1)]

    return _finish(b, name="fully_connected", filename="fully_connected.cl",
                   kernel_name="fully_connected", options=options,
                   real_global=(_blocks(oc), n), local=local, args=args, outputs=[output],
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
                   real_global=(_blocks(c) * out_w, n * out_h), local=local, args=args,
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
                   real_global=(_blocks(c) * w, n * h), local=local, args=args, outputs=[output],
                   flops=0, params=dict(n=n, c=c, h=h, w=w, local=tuple(local)),
                   inputs={"input": x}, reference=lambda: [x.copy()])


def _make_nc4hw4_to_nchw(b, rng, *, n=1, c, h, w, local=(8, 8)):
    n, c, h, w = (_positive(k, v) for k, v in (("n", n), ("c", c), ("h", h), ("w", w)))
    x = _normal(rng, (n, c, h, w))
    output = b.output_buffer((n, c, h, w))
    args = [b.tensor_image(x), output.memory] + _i32(c, h, w)
    return _finish(b, name="nc4hw4_to_nchw", filename="image_to_nchw_buffer.cl",
                   kernel_name="image_to_nchw_buffer", options=[],
                   real_global=(_blocks(c) * w, n * h), local=local, args=args, outputs=[output],
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

#: The kinds make() accepts, in the library's priority order.
KINDS: tuple[str, ...] = tuple(_BUILDERS)


def make(context, queue, kind: str, rng: np.random.Generator, **shape) -> Operator:
    """Build one operator of `kind` with random float32 data from `rng`, uploaded to `context`."""
    try:
        builder = _BUILDERS[kind]
    except KeyError:
        raise ValueError(f"unknown operator kind {kind!r}; known: {', '.join(KINDS)}") from None
    return builder(_Builder(context, queue), rng, **shape)


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


def make_layer(context, queue, name: str, rng: np.random.Generator, **overrides) -> Operator:
    """make() for one entry of MOBILENET_V2_LAYERS (keyword arguments override its shape)."""
    spec = dict(MOBILENET_V2_LAYERS[name])
    kind = spec.pop("kind")
    spec.update(overrides)
    return make(context, queue, kind, rng, **spec)
