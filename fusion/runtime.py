"""Stage 7, runtime: build fused programs (cached), bind each sub-kernel's arguments, launch once.

The only stage that talks to an OpenCL device (through pyopencl). A kernel that cannot be fused
with the others (a construct fusion does not support, other program-wide build flags, a local
size no other barrier kernel shares, a device limit) runs on its own, with a FusionWarning that
says why: inference never fails because fusion did. With `strict=True` these are errors instead.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import tempfile
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import Future

import numpy as np
import pyopencl as cl

from .binding import convert_argument, layout_value
from .compiler import FusedProgram, generate, needs_of
from .errors import with_source_line, BuildError, DeviceLimitError, FusionError, LaunchError, LayoutError, SourceError, UnsupportedError
from .layout import DEFAULT_LAYOUT, LAYOUT_WIDTH, Layout, LaunchShape, SubKernelNeeds, plan_layout
from .parse import ParsedKernel, parse_kernel
from .source import KernelSource


class FusionWarning(UserWarning):
    """A kernel runs on its own instead of fused; the message says why."""


@dataclasses.dataclass(frozen=True)
class DeviceQuirks:
    """Known defects of OpenCL implementations that fusion must work around.

    max_barrier_kernels: how many sub-kernels with barriers / local memory one fused kernel may
    hold (None: any number). PoCL (3.0-rc2 from pocl-binary-distribution, and 5.0 as Debian
    ships it) miscompiles a kernel in which a branch holding barrier code sits beside another
    branch: two barrier branches (tests/test_pocl_quirk.py), and already one barrier branch
    next to any other sub-kernel, where it evaluates a divergent condition after the barrier
    once per work-group (tests/test_random_kernels.py) — hand-written kernels without fusion
    code show both; Oclgrind and NVIDIA's driver run them correctly. On PoCL, sub-kernels with
    barriers or local memory therefore run on their own.
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


@dataclasses.dataclass(frozen=True)
class Launch:
    """One sub-kernel's launch, exactly as it would be enqueued alone."""

    global_size: tuple[int, ...]
    local_size: tuple[int, ...] | None
    args: tuple

    @classmethod
    def of(cls, launch) -> "Launch":
        if isinstance(launch, Launch):
            return launch
        try:
            global_size, local_size, args = launch
        except (TypeError, ValueError):
            raise LaunchError("a launch is (global_size, local_size, args), got "
                              f"{launch!r:.80}") from None
        global_size = (global_size,) if isinstance(global_size, int) else tuple(global_size)
        if local_size is not None:
            local_size = (local_size,) if isinstance(local_size, int) else tuple(local_size)
        return cls(global_size, local_size, tuple(args))


class ProgramCache:
    """Built programs keyed by a digest of (source, options, device). Thread-safe: each program
    is built once, and a thread asking for one being built waits for it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries: dict[str, Future] = {}
        self.builds = 0

    @staticmethod
    def key(source: str, options: Sequence[str], device: cl.Device) -> str:
        digest = hashlib.sha256()
        for part in (source, "\0".join(options), device.name, device.platform.name,
                     device.driver_version, str(device.int_ptr)):
            digest.update(part.encode())
            digest.update(b"\1")
        return digest.hexdigest()

    def get(self, context: cl.Context, device: cl.Device, source: str,
            options: Sequence[str]) -> cl.Program:
        key = self.key(source, options, device)
        with self._lock:
            entry = self._entries.get(key)
            owner = entry is None
            if owner:
                entry = self._entries[key] = Future()
        if not owner:
            return entry.result()
        try:
            program = cl.Program(context, source).build(options=list(options), devices=[device])
            self.builds += 1
        except BaseException as error:
            with self._lock:
                del self._entries[key]  # a later call may try again
            entry.set_exception(error)
            raise
        entry.set_result(program)
        return program


def save_source(source: str, name: str) -> str:
    directory = os.path.join(tempfile.gettempdir(), "parallel-fusion")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{name}-{hashlib.sha1(source.encode()).hexdigest()[:10]}.cl")
    with open(path, "w", encoding="utf-8") as f:
        f.write(source)
    return path


def preferred_wave_size(context: cl.Context, device: cl.Device, cache: ProgramCache) -> int:
    """The device's wave (warp/SIMD) size, as CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE."""
    program = cache.get(context, device,
                        "__kernel void pf_probe(__global int *a) { a[get_global_id(0)] = 0; }", ())
    kernel = cl.Kernel(program, "pf_probe")
    return int(kernel.get_work_group_info(
        cl.kernel_work_group_info.PREFERRED_WORK_GROUP_SIZE_MULTIPLE, device))


@dataclasses.dataclass
class _Single:
    """A kernel launched on its own (not fused)."""

    index: int
    kernel: cl.Kernel
    parsed: ParsedKernel | None

    def __post_init__(self):
        self.slot = _Slot(self.kernel)


@dataclasses.dataclass
class _Fused:
    indices: tuple[int, ...]
    program: FusedProgram
    kernel: cl.Kernel

    def __post_init__(self):
        self.slot = _Slot(self.kernel)


class Fuser:
    """Fuses kernels for one OpenCL context and device, caching what it builds."""

    def __init__(self, context: cl.Context, *, device: cl.Device | None = None,
                 wave_size: int | None = None, layout: str = DEFAULT_LAYOUT,
                 bake_layout: bool = False, strict: bool = False,
                 cache: ProgramCache | None = None):
        self.context = context
        self.device = device or context.devices[0]
        self.layout = layout
        self.bake_layout = bake_layout
        self.strict = strict
        self.cache = cache or ProgramCache()
        self.quirks = DeviceQuirks.of(self.device)
        self.wave_size = wave_size or preferred_wave_size(context, self.device, self.cache)
        self._lock = threading.Lock()
        self._fused: dict[tuple, Future] = {}
        # Kernels launched alone, one per (kernel, position in its group): the same kernel
        # listed twice in a group gets two cl.Kernel objects, each keeping its own arguments.
        self._singles: dict[tuple[KernelSource, int], _Single] = {}
        self._launchers: dict[tuple[KernelSource, ...], FusedKernel] = {}

    def fuse(self, kernels: Sequence[KernelSource]) -> "FusedKernel":
        """A launcher for these kernels: parses them now (syntax errors are raised here); the
        fused program is generated and built at the first launch (it depends on which kernels
        can share a launch), then cached. Asking again for the same kernels is a cache hit."""
        kernels = tuple(kernels)
        if not kernels:
            raise FusionError("nothing to fuse: the kernel list is empty")
        launcher = self._launchers.get(kernels)
        if launcher is None:
            launcher = self._launchers.setdefault(kernels, self._new_launcher(kernels))
        return launcher

    def _new_launcher(self, kernels: tuple[KernelSource, ...]) -> "FusedKernel":
        parsed: list[ParsedKernel | None] = []
        alone: dict[int, str] = {}
        for index, kernel in enumerate(kernels):
            try:
                parsed.append(parse_kernel(kernel))
            except UnsupportedError as error:
                if self.strict:
                    raise
                parsed.append(None)
                alone[index] = str(error)
        first_flags = next((p.program_flags for p in parsed if p is not None), ())
        for index, p in enumerate(parsed):
            if p is not None and sorted(p.program_flags) != sorted(first_flags):
                reason = (f"{p.location}: built with program-wide options "
                          f"'{' '.join(p.program_flags)}' unlike the others "
                          f"('{' '.join(first_flags)}')")
                if self.strict:
                    raise SourceError(reason)
                alone[index] = reason
        return FusedKernel(self, kernels, tuple(parsed), alone)

    def sequential(self, kernels: Sequence[KernelSource]) -> "FusedKernel":
        """The same interface without fusion: every kernel launched on its own, one after
        another, with the same argument checking and binding. The baseline fusion is measured
        against."""
        kernels = tuple(kernels)
        parsed = []
        for kernel in kernels:
            try:
                parsed.append(parse_kernel(kernel))
            except UnsupportedError:
                parsed.append(None)
        return FusedKernel(self, kernels, tuple(parsed),
                           {i: "" for i in range(len(kernels))}, fused=False)

    # Building, cached per kernel subset (and per layout when the layout is baked in).
    def _fused_kernel(self, kernels: tuple[KernelSource, ...], indices: tuple[int, ...],
                      baked: Layout | None, shapes) -> _Fused:
        subset = tuple(kernels[i] for i in indices)
        key = (subset, self.layout, baked)
        with self._lock:
            entry = self._fused.get(key)
            owner = entry is None
            if owner:
                entry = self._fused[key] = Future()
        if not owner:
            return entry.result()
        try:
            launches = [(s.global_size[:s.work_dim], s.local_size[:s.work_dim]
                         if s.local_size else None) for s in shapes] if baked else None
            program = generate(subset, wave_size=self.wave_size, layout=self.layout,
                               launches=launches,
                               max_work_group_size=self.device.max_work_group_size)
            check_device_limits(program, self.device)
            built = self._build(program.source, program.build_options, program.kernel_name, subset)
            result = _Fused(indices, program, cl.Kernel(built, program.kernel_name))
        except BaseException as error:
            with self._lock:
                del self._fused[key]
            entry.set_exception(error)
            raise
        entry.set_result(result)
        return result

    def _build(self, source: str, options, name: str, subset) -> cl.Program:
        try:
            return self.cache.get(self.context, self.device, source, options)
        except cl.Error as error:
            path = save_source(source, name)
            log = str(error).strip()
            raise BuildError(f"the OpenCL compiler rejected the fused kernel '{name}' "
                             f"(options: {' '.join(options) or 'none'}; source saved to {path}):"
                             f"\n{log}") from None

    def _single(self, kernel: KernelSource, index: int, parsed: ParsedKernel | None) -> _Single:
        with self._lock:
            single = self._singles.get((kernel, index))
        if single is None:
            options = list(kernel.options)
            if kernel.filename:
                options.append(f"-I{os.path.dirname(os.path.abspath(kernel.filename))}")
            try:
                program = self.cache.get(self.context, self.device, kernel.source, options)
            except cl.Error as error:
                raise BuildError(f"{kernel.display_name}: the OpenCL compiler rejected kernel "
                                 f"'{kernel.name}' (options: {' '.join(options) or 'none'}):\n"
                                 f"{str(error).strip()}") from None
            single = _Single(index, cl.Kernel(program, kernel.name), parsed)
            with self._lock:
                single = self._singles.setdefault((kernel, index), single)
        return single


def check_device_limits(program: FusedProgram, device: cl.Device) -> None:
    """Refuse a fused kernel that exceeds the device's argument limits (before building it)."""
    pointer = device.address_bits // 8
    arguments = program.manifest["arguments"]
    size = 0
    for argument in arguments:
        if argument["kind"] == "layout":
            size += 4 * LAYOUT_WIDTH  # uint16
        elif argument["kind"] == "scalar":
            size += _scalar_size(argument["base_type"], pointer)
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


def _scalar_size(c_type: str, pointer: int) -> int:
    from . import dialect
    import numpy as np
    c_type = " ".join(w for w in c_type.split() if w not in ("const", "volatile"))
    if c_type in dialect.SCALAR_DTYPES:
        return np.dtype(dialect.SCALAR_DTYPES[c_type]).itemsize
    vector = dialect.vector_type(c_type)
    if vector:
        base, width = vector
        return np.dtype(dialect.SCALAR_DTYPES[base]).itemsize * (4 if width == 3 else width)
    return pointer


@dataclasses.dataclass(frozen=True)
class _Plan:
    fused: tuple[int, ...]                    # sub-kernels in the one fused launch
    alone: tuple[tuple[int, str], ...]        # (sub-kernel, why it runs alone)


class FusedKernel:
    """Launches a group of kernels as one fused kernel (and, if needed, a few on their own)."""

    def __init__(self, fuser: Fuser, kernels: tuple[KernelSource, ...],
                 parsed: tuple[ParsedKernel | None, ...], alone: dict[int, str], *,
                 fused: bool = True):
        self.fuser = fuser
        self.fused = fused
        self.kernels = kernels
        self.parsed = parsed
        self._alone = alone
        self._warned: set[str] = set()
        self._prepared: dict[tuple, _Prepared] = {}

    @property
    def program(self) -> FusedProgram:
        """The generated program for all the kernels (generated on first use, not built)."""
        return generate(self.kernels, wave_size=self.fuser.wave_size, layout=self.fuser.layout)

    def __call__(self, queue: cl.CommandQueue, launches: Sequence) -> cl.Event:
        return self.bind(launches, _shared=True).enqueue(queue)

    def bind(self, launches: Sequence, *, _shared: bool = False) -> "BoundLaunch":
        """Check and bind every argument of every sub-kernel (nothing is enqueued); the result
        launches the group with `.enqueue(queue)`, as often as wanted, without re-binding."""
        launches = [Launch.of(launch) for launch in launches]
        if len(launches) != len(self.kernels):
            raise LaunchError(f"{len(self.kernels)} kernels were fused but {len(launches)} "
                              "launches were given (one (global_size, local_size, args) each)")
        key = tuple((launch.global_size, launch.local_size) for launch in launches)
        prepared = self._prepared.get(key)
        if prepared is None:
            for index, launch in enumerate(launches):
                _check_shape(self.kernels[index], index, launch)
            for index, launch in enumerate(launches):
                self._check_arity(index, launch)
            prepared = self._prepared.setdefault(key, self._prepare(launches))
        else:
            for index, launch in enumerate(launches):
                self._check_arity(index, launch)
        steps = []
        if prepared.fused is not None:
            steps.append(self._fused_step(prepared.fused, launches, _shared))
        for index in prepared.alone:
            steps.append(self._bind_single(index, launches[index], _shared))
        return BoundLaunch(tuple(steps), shared=_shared)

    def _prepare(self, launches: list[Launch]) -> "_Prepared":
        """What a launch of these sizes needs, computed once per sizes: which sub-kernels share
        the fused launch, its layout, its built kernel."""
        shapes = [_check_shape(self.kernels[i], i, launch) for i, launch in enumerate(launches)]
        if not self.fused:
            return _Prepared(None, tuple(sorted(self._alone)))
        plan = self._plan(shapes)
        for index, reason in plan.alone:
            self._warn(f"kernel '{self.kernels[index].name}' runs on its own, not fused: {reason}")
        alone = [index for index, _ in plan.alone]
        fused = None
        if plan.fused:
            fused = self._prepare_fused(plan.fused, shapes)
            if fused is None:
                alone = sorted(alone + list(plan.fused))
        return _Prepared(fused, tuple(alone))

    def _prepare_fused(self, indices, shapes) -> "_PreparedFused | None":
        needs = [self._needs(i) for i in indices]
        sub_shapes = [shapes[i] for i in indices]
        for i in indices:  # a launch the sub-kernel could not have had alone is the user's error
            try:
                plan_layout(self.fuser.layout, [self._needs(i)], [shapes[i]],
                            wave_size=self.fuser.wave_size)
            except LayoutError as error:
                raise LaunchError(f"launch {i}: {error}") from None
        layout = plan_layout(self.fuser.layout, needs, sub_shapes, wave_size=self.fuser.wave_size,
                             max_work_group_size=self.fuser.device.max_work_group_size)
        baked = layout if self.fuser.bake_layout else None
        try:
            fused = self.fuser._fused_kernel(self.kernels, indices, baked, sub_shapes)
            static = fused.kernel.get_work_group_info(cl.kernel_work_group_info.LOCAL_MEM_SIZE,
                                                      self.fuser.device)
            self._check_local_memory(fused.program.kernel_name, static)
        except (DeviceLimitError, BuildError) as error:
            if self.fuser.strict:
                raise
            self._warn(f"kernels {[self.kernels[i].name for i in indices]} run on their own, "
                       f"not fused: {error}")
            return None
        layout_args = None if baked else [layout_value(v) for v in layout.values]
        return _PreparedFused(tuple(indices), fused, layout, layout_args, static)

    def _fused_step(self, prepared: "_PreparedFused", launches, shared: bool) -> "_Step":
        args = []
        for position, i in enumerate(prepared.indices):
            if prepared.layout_args is not None:
                args.append(prepared.layout_args[position])
            args.extend(self._converted(i, launches[i]))
        dynamic = [a for a in args if isinstance(a, cl.LocalMemory)]
        if dynamic:
            self._check_local_memory(prepared.entry.program.kernel_name, prepared.static_local,
                                     sum(a.size for a in dynamic))
        entry = prepared.entry
        if shared:
            return _Step(entry.slot, prepared.layout.global_size, prepared.layout.local_size,
                         tuple(args))
        kernel = cl.Kernel(entry.kernel.program, entry.program.kernel_name)
        return _Step(_Slot(kernel), prepared.layout.global_size, prepared.layout.local_size,
                     tuple(args))

    def _check_arity(self, index: int, launch: Launch) -> None:
        parsed = self.parsed[index]
        if parsed is not None and len(launch.args) != len(parsed.parameters):
            raise LaunchError(with_source_line(
                f"{parsed.location}: sub-kernel '{parsed.name}' takes "
                f"{len(parsed.parameters)} arguments, launch {index} gave {len(launch.args)}",
                parsed.location, parsed.kernel.source))

    def _warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            warnings.warn(FusionWarning(message), stacklevel=4)

    def _needs(self, index: int) -> SubKernelNeeds:
        return needs_of(self.parsed[index])

    def _plan(self, shapes: list[LaunchShape]) -> _Plan:
        alone = dict(self._alone)
        candidates = [i for i in range(len(self.kernels)) if i not in alone]
        for i in candidates:
            need = self._needs(i)
            if need.uses_work_groups and shapes[i].local_size is None:
                alone[i] = ("it reads work-group ids or sizes but was launched without a local "
                            "size, so the driver's choice cannot be reproduced")
        candidates = [i for i in candidates if i not in alone]
        # Sub-kernels needing real work-groups must agree on their size: the largest agreeing
        # set stays (ties: the earliest), the others run alone.
        real = [i for i in candidates if self._needs(i).real_work_groups]
        if real:
            key = (lambda i: math.prod(shapes[i].local_size)) if self.fuser.layout == "groups" \
                else (lambda i: shapes[i].local_size)
            groups: dict = {}
            for i in real:
                groups.setdefault(key(i), []).append(i)
            keep = max(groups.values(), key=lambda members: (len(members), -members[0]))
            for i in real:
                if i not in keep:
                    alone[i] = (f"it needs work-groups of local size {shapes[i].local_size[:shapes[i].work_dim]}"
                                f" with barriers or local memory, which cannot share a launch with "
                                f"'{self.kernels[keep[0]].name}' "
                                f"{shapes[keep[0]].local_size[:shapes[keep[0]].work_dim]}")
            limit = self.fuser.quirks.max_barrier_kernels
            if limit is not None:
                for i in keep[limit:]:
                    alone[i] = self.fuser.quirks.barrier_reason
            candidates = [i for i in candidates if i not in alone]
        if self.fuser.strict and alone:
            index, reason = sorted(alone.items())[0]
            raise LayoutError(f"kernel '{self.kernels[index].name}' cannot be fused: {reason}")
        if len(candidates) == 1:
            alone[candidates[0]] = "it is the only kernel left to fuse"
            candidates = []
        return _Plan(tuple(candidates), tuple(sorted(alone.items())))

    def _check_local_memory(self, name: str, static: int, dynamic: int = 0) -> None:
        device = self.fuser.device
        if static + dynamic > device.local_mem_size:
            raise DeviceLimitError(f"the fused kernel '{name}' needs {static + dynamic} bytes of "
                                   f"local memory, more than the {device.local_mem_size} of "
                                   f"{device.name.strip()}")

    def _converted(self, index: int, launch: Launch) -> list:
        parsed = self.parsed[index]
        if parsed is None:
            return list(launch.args)
        return [convert_argument(parsed.name, position, parameter, value, parsed.kernel.source)
                for position, (parameter, value) in enumerate(zip(parsed.parameters, launch.args))]

    def _bind_single(self, index: int, launch: Launch, shared: bool) -> "_Step":
        single = self.fuser._single(self.kernels[index], index, self.parsed[index])
        slot = single.slot if shared else _Slot(cl.Kernel(single.kernel.program,
                                                           self.kernels[index].name))
        return _Step(slot, launch.global_size, launch.local_size,
                     tuple(self._converted(index, launch)))


def _check_shape(kernel: KernelSource, index: int, launch: Launch) -> LaunchShape:
    try:
        return LaunchShape.of(launch.global_size, launch.local_size)
    except LayoutError as error:
        raise LaunchError(f"launch {index} ('{kernel.name}'): {error}") from None


@dataclasses.dataclass(frozen=True)
class _PreparedFused:
    indices: tuple[int, ...]
    entry: "_Fused"
    layout: Layout
    layout_args: list | None          # None when the layout is baked into the source
    static_local: int                 # bytes of __local memory the built kernel declares


@dataclasses.dataclass(frozen=True)
class _Prepared:
    fused: _PreparedFused | None
    alone: tuple[int, ...]


class _Slot:
    """A built cl.Kernel, its lock, and the arguments last set on it: arguments that have not
    changed since are not set again (an inference engine launches with the same buffers)."""

    def __init__(self, kernel: cl.Kernel):
        self.kernel = kernel
        self.lock = threading.Lock()
        self.last: list | None = None

    def set_args(self, args: tuple, force: bool = False) -> None:
        try:
            last = self.last
            if force or last is None:
                self.kernel.set_args(*args)
            else:
                for index, (value, previous) in enumerate(zip(args, last)):
                    if not _same_argument(value, previous):
                        self.kernel.set_arg(index, value)
        except cl.Error as error:
            self.last = None
            raise LaunchError(f"pyopencl refused an argument: {error}") from None
        self.last = list(args)


def _out_of_order(queue: cl.CommandQueue) -> bool:
    return bool(queue.properties & cl.command_queue_properties.OUT_OF_ORDER_EXEC_MODE_ENABLE)


def _same_argument(value, previous) -> bool:
    if value is previous:
        return True
    if isinstance(value, np.generic) and isinstance(previous, np.generic):
        return value.dtype == previous.dtype and value.tobytes() == previous.tobytes()
    if isinstance(value, np.ndarray) and isinstance(previous, np.ndarray):
        return value.dtype == previous.dtype and value.tobytes() == previous.tobytes()
    if isinstance(value, cl.LocalMemory) and isinstance(previous, cl.LocalMemory):
        return value.size == previous.size
    return False


@dataclasses.dataclass(frozen=True)
class _Step:
    slot: _Slot
    global_size: tuple[int, ...]
    local_size: tuple[int, ...] | None
    args: tuple

    @property
    def kernel(self) -> cl.Kernel:
        return self.slot.kernel

    def set_args(self, force: bool = False) -> None:
        self.slot.set_args(self.args, force)

    def enqueue(self, queue) -> list:
        return [cl.enqueue_nd_range_kernel(queue, self.slot.kernel, self.global_size,
                                           self.local_size)]


class BoundLaunch:
    """A fused group with every argument bound; `enqueue(queue)` launches it."""

    def __init__(self, steps, *, shared: bool):
        self.steps = tuple(steps)
        self.shared = shared
        if not shared:
            for step in self.steps:
                step.set_args()

    @property
    def launches(self) -> int:
        return len(self.steps)

    def enqueue(self, queue: cl.CommandQueue) -> cl.Event:
        if self.shared:
            events = self._enqueue_shared(queue)
        else:
            events = [event for step in self.steps for event in step.enqueue(queue)]
        if len(events) == 1 or not _out_of_order(queue):
            return events[-1]  # an in-order queue finishes them in order: the last is the group's
        return cl.enqueue_marker(queue, wait_for=events)

    def _enqueue_shared(self, queue) -> list:
        # Kernels shared with other callers: hold their locks, set every argument first (so a
        # refused argument stops the group before anything is enqueued), then enqueue. A kernel
        # used by two steps (the same kernel listed twice) gets its arguments set again.
        locks = sorted({id(step.slot.lock): step.slot.lock for step in self.steps}.items())
        kernels = [id(step.kernel) for step in self.steps]
        for _, lock in locks:
            lock.acquire()
        try:
            for step in self.steps:
                step.set_args()
            events = []
            for step in self.steps:
                if kernels.count(id(step.kernel)) > 1:
                    step.set_args(force=True)  # the first pass left another step's arguments
                events += step.enqueue(queue)
            return events
        finally:
            for _, lock in locks:
                lock.release()
