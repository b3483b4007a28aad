"""Operators of the library on a pyopencl context: their memory uploaded, their kernel built
alone (the baseline fusion is compared with), their outputs read back.

    op = make(ctx, queue, "conv2d_1x1", np.random.default_rng(0), c=32, oc=192, h=28, w=28)
    op.reset_outputs(queue)
    op.run(queue)                      # or: g, l, args = op.launch(); kernel(queue, g, l, *args)
    np.testing.assert_allclose(op.read_outputs(queue)[0], op.reference()[0],
                               rtol=op.tolerance[0], atol=op.tolerance[1])
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pyopencl as cl

from ..compiler.source import KernelSource
from ..runtime.cache import build_alone
from . import library
from .library import DEFAULT_TOLERANCE, MOBILENET_V2_LAYERS
from .tensors import image_shape, nc4hw4_image_array_to_nchw, nchw_to_nc4hw4_image_array

#: What reset_outputs() writes into every output (every lane of every pixel / element).
GARBAGE = np.float32(np.nan)


def build_kernel(context: cl.Context, kernel: KernelSource) -> cl.Kernel:
    """One KernelSource built alone (unfused) on a context's first device, through the
    package's build cache."""
    return build_alone(context, context.devices[0], kernel)

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
        for out in self._outputs:
            if out.layout == "image":
                width, height = image_shape(out.shape)
                host = np.full((height, width, 4), GARBAGE, np.float32)
                cl.enqueue_copy(queue, out.memory, host, origin=(0, 0), region=(width, height))
            else:
                host = np.full(int(np.prod(out.shape)), GARBAGE, np.float32)
                cl.enqueue_copy(queue, out.memory, host)
        queue.finish()




class _Builder:
    """Upload helpers shared by the per-kind builders."""

    def __init__(self, context, queue):
        self.cl = cl
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

    def operator(self, *, outputs, reference, **fields) -> "Operator":
        return Operator(outputs=[o.memory for o in outputs], input_memory=list(self.inputs),
                        context=self.context, _outputs=list(outputs), _reference=reference,
                        **fields)


def make(context, queue, kind: str, rng: np.random.Generator, **shape) -> Operator:
    """Build one operator of `kind` with random float32 data from `rng`, uploaded to `context`."""
    return library.build(_Builder(context, queue), kind, rng, **shape)


def make_layer(context, queue, name: str, rng: np.random.Generator, **overrides) -> Operator:
    """make() for one entry of MOBILENET_V2_LAYERS (keyword arguments override its shape)."""
    spec = dict(MOBILENET_V2_LAYERS[name])
    kind = spec.pop("kind")
    spec.update(overrides)
    return make(context, queue, kind, rng, **spec)
