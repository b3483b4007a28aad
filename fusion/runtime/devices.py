"""Devices: finding one by platform name, what the planner must know of it (DeviceFacts, with
its known defects as DeviceQuirks), its wave size, and the limits a fused kernel must fit.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
import warnings
from collections.abc import Sequence

import numpy as np
import pyopencl as cl

from .. import dialect
from ..abi import LAYOUT_BYTES, NAMES
from ..compiler.pipeline import FusedProgram
from ..compiler.source import DeviceMacros
from ..errors import BuildError, DeviceLimitError, FusionError
from ..plan.partition import DeviceFacts
from .cache import PROGRAMS, MissingKernel, ProgramCache

#: Platform names (a part of each, matched case-insensitively) of the devices the project uses.
#: The embedded default is Intel's CPU runtime (pip: intel-opencl-rt), which runs every group
#: correctly; PoCL 3.0's wheel miscompiles barrier kernels beside others and cannot build at all
#: on CPUs its LLVM 14 does not know (docs/LIMITS.md).
PLATFORMS = {
    "intel-cpu": "Intel(R) OpenCL",
    "pocl": "Portable Computing Language",
    "oclgrind": "Oclgrind",
    "nvidia": "NVIDIA CUDA",
}
DEFAULT_PLATFORM = PLATFORMS["intel-cpu"]


def find_platform(name_part: str) -> cl.Platform | None:
    """The first platform whose name contains `name_part` (or that PLATFORMS names so)."""
    name_part = PLATFORMS.get(name_part, name_part)
    for platform in cl.get_platforms():
        if name_part.lower() in platform.name.lower():
            return platform
    return None


class DeviceFallbackWarning(UserWarning):
    """The default device is not installed; another one is used (said once per process)."""


_fallback_said: list[str] = []


def resolve_platform(name_part: str) -> cl.Platform | None:
    """find_platform, except that the default device, Intel's CPU runtime, which exists for
    x86-64 only, falls back to PoCL where it is not installed (an ARM board, a Mac): the user
    is told once (DeviceFallbackWarning)."""
    platform = find_platform(name_part)
    if platform is not None or PLATFORMS.get(name_part, name_part) != DEFAULT_PLATFORM:
        return platform
    platform = find_platform("pocl")
    if platform is not None and not _fallback_said:
        _fallback_said.append(platform.name)
        warnings.warn(DeviceFallbackWarning(
            "Intel's CPU OpenCL runtime, the default device, is not installed (it exists for "
            "x86-64 only): using PoCL instead, on which kernels with barriers run unfused "
            "(docs/LIMITS.md)"), stacklevel=3)
    return platform


def platform_context(name_part: str = DEFAULT_PLATFORM) -> cl.Context:
    """A context on the first device of the named platform; FusionError when there is none.
    The default platform falls back to PoCL where Intel's runtime is not installed."""
    platform = resolve_platform(name_part)
    if platform is None:
        known = ", ".join(p.name.strip() for p in cl.get_platforms()) or "none"
        raise FusionError(f"no OpenCL platform matching '{name_part}' (found: {known}); "
                          "`python3 tasks.py` installs Intel's CPU runtime, PoCL and Oclgrind")
    return cl.Context(platform.get_devices()[:1])


@contextlib.contextmanager
def device_context(name_part: str = DEFAULT_PLATFORM):
    """platform_context(name_part) for the duration of the block, then every program the
    package's cache built for it let go (ProgramCache.forget): for work that is done with its
    context when the block ends, failed or not."""
    context = platform_context(name_part)
    try:
        yield context
    finally:
        PROGRAMS.forget(context)


@dataclasses.dataclass(frozen=True)
class DeviceQuirks:
    """Known defects of OpenCL implementations that fusion must work around.

    max_barrier_kernels: how many sub-kernels with barriers / local memory one fused kernel may
    hold (None: any number). PoCL (3.0-rc2 from pocl-binary-distribution, and 5.0 as Debian
    ships it) miscompiles a kernel in which a branch holding barrier code sits beside another
    branch: two barrier branches (tests/test_pocl_quirk.py), and already one barrier branch
    next to any other sub-kernel, where it evaluates a divergent condition after the barrier
    once per work-group (tests/test_random_kernels.py) — hand-written kernels without fusion
    code show both; Oclgrind, Intel's CPU runtime and NVIDIA's driver run them correctly. On
    PoCL, sub-kernels with barriers or local memory therefore run on their own.
    """

    max_barrier_kernels: int | None = None
    barrier_reason: str = ""

    @classmethod
    def of(cls, device: cl.Device) -> "DeviceQuirks":
        if "PoCL" in device.platform.version:
            return cls(0, "PoCL miscompiles a kernel holding a sub-kernel with barriers beside "
                          "other sub-kernels (docs/LIMITS.md), so such sub-kernels run on their "
                          "own there")
        return cls()


def device_facts(device: cl.Device, wave_size: int, quirks: DeviceQuirks) -> DeviceFacts:
    return DeviceFacts(wave_size=wave_size, max_work_group_size=device.max_work_group_size,
                       max_barrier_kernels=quirks.max_barrier_kernels,
                       barrier_reason=quirks.barrier_reason)


def preferred_wave_size(context: cl.Context, device: cl.Device,
                        cache: ProgramCache = PROGRAMS) -> int:
    """The device's wave (warp/SIMD) size, as CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE."""
    name = NAMES.probe_kernel
    source = f"__kernel void {name}(__global int *a) {{ a[get_global_id(0)] = 0; }}"
    try:
        program = cache.get(context, device, source, (), name)
    except (cl.Error, MissingKernel) as error:
        raise BuildError(f"the device '{device.name.strip()}' cannot build a one-line probe "
                         "kernel (asked for its wave size): its OpenCL compiler is broken",
                         kernel_name=name, options=(), log=str(error).strip()) from None
    kernel = cl.Kernel(program, name)
    return int(kernel.get_work_group_info(
        cl.kernel_work_group_info.PREFERRED_WORK_GROUP_SIZE_MULTIPLE, device))


_macros_lock = threading.Lock()
_macros: dict[tuple, DeviceMacros] = {}


def device_macros(context: cl.Context, device: cl.Device, program_flags: Sequence[str] = (),
                  cache: ProgramCache = PROGRAMS) -> DeviceMacros:
    """The macros the device's OpenCL compiler defines for a program built with these
    program-wide flags (those of fusion.dialect.DEVICE_MACROS, every extension the device
    lists, and its OpenCL C features): asked of the compiler itself, by a probe kernel that
    writes each one's value, once per (context, device, flags)."""
    flags = tuple(f for f in program_flags if f.startswith("-cl-std="))
    key = (context.int_ptr, device.int_ptr, flags)
    with _macros_lock:
        if key in _macros:
            return _macros[key]
    names = set(dialect.DEVICE_MACROS) | set(device.extensions.split())
    try:
        names |= {feature.name for feature in device.opencl_c_features}
    except (cl.Error, AttributeError):  # before OpenCL 3.0
        pass
    names = sorted(n for n in names if n.isidentifier())
    body = "\n".join(f"#ifdef {name}\n    v[{i}] = (int)({name} + 0); d[{i}] = 1;\n#endif"
                     for i, name in enumerate(names))
    probe = NAMES.probe_kernel + "_macros"
    source = (f"__kernel void {probe}(__global int *v, __global int *d)\n{{\n{body}\n}}\n")
    try:
        program = cache.get(context, device, source, flags, probe)
    except (cl.Error, MissingKernel) as error:
        raise BuildError(f"the device '{device.name.strip()}' cannot build the probe that asks "
                         "its compiler for its predefined macros", kernel_name=probe,
                         options=flags, log=str(error).strip()) from None
    values = np.zeros(len(names), np.int32)
    defined = np.zeros(len(names), np.int32)
    memory = cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR
    value_buffer = cl.Buffer(context, memory, hostbuf=values)
    defined_buffer = cl.Buffer(context, memory, hostbuf=defined)
    queue = cl.CommandQueue(context, device)
    kernel = cl.Kernel(program, probe)
    kernel.set_args(value_buffer, defined_buffer)
    cl.enqueue_nd_range_kernel(queue, kernel, (1,), None)
    cl.enqueue_copy(queue, values, value_buffer)
    cl.enqueue_copy(queue, defined, defined_buffer)
    queue.finish()
    found = tuple((name, str(int(value))) for name, value, is_defined
                  in zip(names, values, defined) if is_defined)
    with _macros_lock:
        return _macros.setdefault(key, found)


def check_device_limits(program: FusedProgram, device: cl.Device) -> None:
    """Refuse a fused kernel that exceeds the device's argument limits (before building it)."""
    pointer = device.address_bits // 8
    arguments = program.manifest["arguments"]
    size = 0
    for argument in arguments:
        if argument["kind"] == "layout":
            size += LAYOUT_BYTES
        elif argument["kind"] == "scalar":
            by_value = dialect.c_type(argument["base_type"])
            size += by_value.size if by_value is not None else pointer
        else:
            size += pointer
    problems = []
    if size > device.max_parameter_size:
        problems.append(f"its arguments take {size} bytes, more than the device's "
                        f"CL_DEVICE_MAX_PARAMETER_SIZE of {device.max_parameter_size}")
    constant = sum(1 for a in arguments if a["kind"] == "buffer" and "__constant" in a["type"]
                   or a["kind"] == "buffer" and a["type"].startswith("constant"))
    if constant > device.max_constant_args:
        problems.append(f"it has {constant} __constant arguments, more than the device's "
                        f"CL_DEVICE_MAX_CONSTANT_ARGS of {device.max_constant_args}")
    images = [a for a in arguments if a["kind"] == "image"]
    reads = sum(1 for a in images if a["access"] in ("read_only", "read_write"))
    writes = sum(1 for a in images if a["access"] in ("write_only", "read_write"))
    if reads > device.max_read_image_args:
        problems.append(f"it reads {reads} images, more than the device's "
                        f"CL_DEVICE_MAX_READ_IMAGE_ARGS of {device.max_read_image_args}")
    if writes > device.max_write_image_args:
        problems.append(f"it writes {writes} images, more than the device's "
                        f"CL_DEVICE_MAX_WRITE_IMAGE_ARGS of {device.max_write_image_args}")
    if problems:
        raise DeviceLimitError(f"the fused kernel '{program.kernel_name}' does not fit "
                               f"{device.name.strip()}: " + "; ".join(problems))


def check_local_memory(name: str, device: cl.Device, static: int, dynamic: int = 0) -> None:
    if static + dynamic > device.local_mem_size:
        raise DeviceLimitError(f"the fused kernel '{name}' needs {static + dynamic} bytes of "
                               f"local memory, more than the {device.local_mem_size} of "
                               f"{device.name.strip()}")


def check_work_group_size(kernel: cl.Kernel, device: cl.Device, local_size) -> None:
    """The fused work-group must fit the built kernel's own limit (CL_KERNEL_WORK_GROUP_SIZE:
    on NVIDIA the registers a work-item uses bound it below the device's maximum; a launch past
    it fails with OUT_OF_RESOURCES)."""
    if local_size is None:
        return
    items = math.prod(local_size)
    limit = kernel.get_work_group_info(cl.kernel_work_group_info.WORK_GROUP_SIZE, device)
    if items > limit:
        raise DeviceLimitError(f"the fused kernel '{kernel.function_name}' runs work-groups of "
                               f"at most {limit} work-items on {device.name.strip()} (its "
                               f"registers or local memory), not the {items} its layout needs")
