"""Stage 7, runtime: launch a group as the planner partitioned it — the fused kernel built once
(cached), each sub-kernel's arguments bound, one launch (and one per kernel left alone).

Talks to an OpenCL device through pyopencl; decides nothing about grouping itself (that is
fusion.plan.partition). A kernel that cannot be fused
with the others (a construct fusion does not support, other program-wide build flags, a local
size no other barrier kernel shares, a device limit) runs on its own, with a FusionWarning that
says why: inference never fails because fusion did. With `strict=True` these are errors instead.
"""
from __future__ import annotations

import dataclasses
import operator
import threading
import warnings
from collections.abc import Sequence

import numpy as np
import pyopencl as cl

from .. import dialect
from ..compiler.parse import ParsedKernel, parse_kernel
from ..compiler.pipeline import FusedProgram, generate, program_flag_conflicts
from ..compiler.source import DeviceMacroError, DeviceMacros, KernelSource, split_options
from ..errors import DeviceError, FusionError, LaunchError, LayoutError, UnsupportedError
from ..plan.layout import DEFAULT_LAYOUT, Layout, LaunchShape
from ..plan.partition import Partition, partition
from .binding import convert_argument, integer_constants, layout_value
from .cache import PROGRAMS, Once, ProgramCache, build_alone, build_generated
from .devices import (DeviceQuirks, check_device_limits, check_local_memory,
                      check_work_group_size, device_facts, device_macros, preferred_wave_size)


class FusionWarning(UserWarning):
    """A kernel runs on its own instead of fused; the message says why."""


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
                 bake_layout: bool = False, bake_arguments: bool = False, strict: bool = False,
                 cache: ProgramCache | None = None, flags: str = "exact"):
        if flags not in dialect.FLAG_POLICIES:
            raise FusionError(f"unknown flags policy '{flags}' (choose from "
                              f"{', '.join(dialect.FLAG_POLICIES)})")
        self.context = context
        self.flags = flags
        self.device = device or context.devices[0]
        self.layout = layout
        self.bake_layout = bake_layout
        self.bake_arguments = bake_arguments
        self.strict = strict
        self.cache = cache or PROGRAMS
        self.quirks = DeviceQuirks.of(self.device)
        self.wave_size = wave_size or preferred_wave_size(context, self.device, self.cache)
        self._lock = threading.Lock()
        self._fused: Once[_Fused] = Once()
        # Kernels launched alone, one per (kernel, position in its group): the same kernel
        # listed twice in a group gets two cl.Kernel objects, each keeping its own arguments.
        self._singles: dict[tuple[KernelSource, int], _Single] = {}
        self._launchers: dict[tuple[KernelSource, ...], FusedKernel] = {}

    @property
    def facts(self):
        """What the planner knows of this fuser's device (DeviceFacts)."""
        return device_facts(self.device, self.wave_size, self.quirks)

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

    def device_macros(self, program_flags=()) -> DeviceMacros:
        """The macros this device's compiler defines (asked of it once; for kernels whose
        preprocessor conditionals test them)."""
        return device_macros(self.context, self.device, program_flags, self.cache)

    def _macros_needed(self, kernels: tuple[KernelSource, ...]) -> DeviceMacros | None:
        """The device's macros when a kernel of the group tests one (None otherwise: kernels
        are then preprocessed exactly as ahead of time)."""
        for kernel in kernels:
            try:
                parse_kernel(kernel)
            except DeviceMacroError:
                return self.device_macros(split_options(kernel.options).program_flags)
            except FusionError:
                pass  # reported below, with the macros or without
        return None

    def _new_launcher(self, kernels: tuple[KernelSource, ...]) -> "FusedKernel":
        parsed: list[ParsedKernel | None] = []
        excluded: dict[int, str] = {}
        macros = self._macros_needed(kernels)
        for index, kernel in enumerate(kernels):
            try:
                parsed.append(parse_kernel(kernel, macros))
            except UnsupportedError as error:
                if self.strict:
                    raise
                parsed.append(None)
                excluded[index] = str(error)
        for index, error in program_flag_conflicts(parsed, self.flags).items():
            if self.strict:
                raise error
            excluded[index] = f"{error.location}: {error.message}"
        return FusedKernel(self, kernels, tuple(parsed), excluded, device_macros=macros)

    def sequential(self, kernels: Sequence[KernelSource]) -> "FusedKernel":
        """The same interface without fusion: every kernel launched on its own, one after
        another, with the same argument checking and binding. The baseline fusion is measured
        against."""
        kernels = tuple(kernels)
        parsed = []
        macros = self._macros_needed(kernels)
        for kernel in kernels:
            try:
                parsed.append(parse_kernel(kernel, macros))
            except UnsupportedError:
                parsed.append(None)
        return FusedKernel(self, kernels, tuple(parsed),
                           {i: "" for i in range(len(kernels))}, fused=False)

    def _fused_kernel(self, kernels: tuple[KernelSource, ...], indices: tuple[int, ...],
                      baked: Layout | None, macros: DeviceMacros | None = None,
                      constants: tuple[tuple, ...] | None = None) -> _Fused:
        """The fused kernel of a subset, generated and built once (per layout when baked, per
        argument values baked in: `constants`, per member ((position, value), ...))."""
        subset = tuple(kernels[i] for i in indices)

        def build() -> _Fused:
            program = generate(subset, wave_size=self.wave_size, layout=self.layout,
                               planned=baked, device_macros=macros, flags=self.flags,
                               constants=[dict(c) for c in constants] if constants else None)
            check_device_limits(program, self.device)
            built = build_generated(self.context, self.device, program.source,
                                    program.build_options, program.kernel_name, self.cache)
            return _Fused(indices, program, cl.Kernel(built, program.kernel_name))
        return self._fused.get((subset, self.layout, baked, macros, constants), build)

    def _single(self, kernel: KernelSource, index: int, parsed: ParsedKernel | None) -> _Single:
        with self._lock:
            single = self._singles.get((kernel, index))
        if single is None:
            built = build_alone(self.context, self.device, kernel, self.cache)
            single = _Single(index, built, parsed)
            with self._lock:
                single = self._singles.setdefault((kernel, index), single)
        return single


class FusedKernel:
    """Launches a group of kernels as one fused kernel (and, if needed, a few on their own),
    as the planner (fusion.plan.partition) decides for the launch sizes given."""

    def __init__(self, fuser: Fuser, kernels: tuple[KernelSource, ...],
                 parsed: tuple[ParsedKernel | None, ...], excluded: dict[int, str], *,
                 fused: bool = True, device_macros: DeviceMacros | None = None):
        self.fuser = fuser
        self.device_macros = device_macros
        self.fused = fused
        self.kernels = kernels
        self.parsed = parsed
        self._excluded = excluded
        self._warned: set[str] = set()
        self._shapes: dict[tuple, list[LaunchShape]] = {}    # checked, per launch sizes
        self._prepared: dict[tuple, _Prepared] = {}          # per sizes and baked-in values
        self._last_call: tuple[tuple, BoundLaunch] | None = None

    @property
    def program(self) -> FusedProgram:
        """The generated program for all the kernels (generated on first use, not built)."""
        return generate(self.kernels, wave_size=self.fuser.wave_size, layout=self.fuser.layout,
                        device_macros=self.device_macros, flags=self.fuser.flags)

    def __call__(self, queue: cl.CommandQueue, launches: Sequence) -> cl.Event:
        """Check, bind and launch. Called again with the same launches (the same memory objects,
        equal values), it launches what it bound last time without checking or converting
        anything again: an inference engine calls with the same buffers every time."""
        last = self._last_call
        if last is not None and _same_launches(launches, last[0]):
            return last[1].enqueue(queue)
        bound = self.bind(launches, _shared=True)
        self._last_call = (_snapshot(launches), bound)
        return bound.enqueue(queue)

    def partition(self, launches: Sequence) -> Partition:
        """The planner's decision for launches of these sizes: which kernels share the fused
        launch, its layout, and why the others run alone."""
        launches = self._launches(launches)
        return self._partition([_check_shape(self.kernels[i], i, launch)
                                for i, launch in enumerate(launches)])

    def bind(self, launches: Sequence, *, _shared: bool = False) -> "BoundLaunch":
        """Check and bind every argument of every sub-kernel (nothing is enqueued); the result
        launches the group with `.enqueue(queue)`, as often as wanted, without re-binding."""
        launches = self._launches(launches)
        sizes = tuple((launch.global_size, launch.local_size) for launch in launches)
        shapes = self._shapes.get(sizes)
        if shapes is None:
            shapes = self._shapes.setdefault(sizes, [_check_shape(self.kernels[i], i, launch)
                                                     for i, launch in enumerate(launches)])
        for index, launch in enumerate(launches):
            self._check_arity(index, launch)
        constants = self._constants(launches) if self.fuser.bake_arguments else None
        key = (sizes, constants)
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = self._prepared.setdefault(key, self._prepare(shapes, constants))
        steps = []
        if prepared.fused is not None:
            steps.append(self._fused_step(prepared.fused, launches, _shared))
        for index in prepared.alone:
            steps.append(self._bind_single(index, launches[index], _shared))
        return BoundLaunch(tuple(steps), shared=_shared)

    def _launches(self, launches: Sequence) -> list[Launch]:
        launches = [Launch.of(launch) for launch in launches]
        if len(launches) != len(self.kernels):
            raise LaunchError(f"{len(self.kernels)} kernels were fused but {len(launches)} "
                              "launches were given (one (global_size, local_size, args) each)")
        return launches

    def _partition(self, shapes: list[LaunchShape]) -> Partition:
        if not self.fused:
            return Partition((), tuple(sorted(self._excluded.items())), None)
        return partition([p.needs if p is not None else None for p in self.parsed], shapes,
                         layout_kind=self.fuser.layout, device=self.fuser.facts,
                         excluded=self._excluded, strict=self.fuser.strict)

    def _constants(self, launches: list[Launch]) -> tuple[tuple, ...]:
        """Per kernel, ((position, value), ...) of its integer arguments (the Fuser bakes them
        into the fused kernel: fusion.compiler.constants); () for a kernel not parsed."""
        constants = []
        for index, launch in enumerate(launches):
            parsed = self.parsed[index]
            if parsed is None:
                constants.append(())
                continue
            constants.append(integer_constants(parsed.parameters,
                                               self._converted(index, launch)))
        return tuple(constants)

    def _prepare(self, shapes: list[LaunchShape], constants: tuple | None = None
                 ) -> "_Prepared":
        """What a launch of these sizes (and baked-in values) needs, computed once: the
        planner's partition, and the fused kernel built for it."""
        plan = self._partition(shapes)
        if self.fused:
            for index, reason in plan.alone:
                self._warn(f"kernel '{self.kernels[index].name}' runs on its own, not fused: "
                           f"{reason}")
        alone = [index for index, _ in plan.alone]
        fused = None
        if plan.fused:
            fused = self._prepare_fused(plan, constants)
            if fused is None:
                alone = sorted(alone + list(plan.fused))
        return _Prepared(fused, tuple(alone))

    def _prepare_fused(self, plan: Partition, constants: tuple | None
                       ) -> "_PreparedFused | None":
        baked = plan.layout if self.fuser.bake_layout else None
        members = tuple(constants[i] for i in plan.fused) if constants else None
        device = self.fuser.device
        try:
            fused = self.fuser._fused_kernel(self.kernels, plan.fused, baked, self.device_macros,
                                             members)
            static = fused.kernel.get_work_group_info(cl.kernel_work_group_info.LOCAL_MEM_SIZE,
                                                      device)
            check_local_memory(fused.program.kernel_name, device, static)
            check_work_group_size(fused.kernel, device, plan.layout.local_size)
        except Exception as error:  # noqa: BLE001 - inference never fails because fusion did
            if self.fuser.strict:
                raise
            reason = str(error) if isinstance(error, FusionError) else \
                f"fusion failed ({type(error).__name__}: {error})"
            self._warn(f"kernels {[self.kernels[i].name for i in plan.fused]} run on their own, "
                       f"not fused: {reason}")
            return None
        layout_args = None if baked else [layout_value(v) for v in plan.layout.values]
        dropped = (tuple(frozenset(position for position, _ in own) for own in members)
                   if members else None)
        return _PreparedFused(plan.fused, fused, plan.layout, layout_args, static, dropped)

    def _fused_step(self, prepared: "_PreparedFused", launches, shared: bool) -> "_Step":
        args = []
        for position, i in enumerate(prepared.indices):
            if prepared.layout_args is not None:
                args.append(prepared.layout_args[position])
            converted = self._converted(i, launches[i])
            if prepared.baked is not None:
                converted = [value for argument, value in enumerate(converted)
                             if argument not in prepared.baked[position]]
            args.extend(converted)
        dynamic = [a for a in args if isinstance(a, cl.LocalMemory)]
        if dynamic:
            check_local_memory(prepared.entry.program.kernel_name, self.fuser.device,
                               prepared.static_local, sum(a.size for a in dynamic))
        entry = prepared.entry
        if shared:
            return _Step(entry.slot, prepared.layout.global_size, prepared.layout.local_size,
                         tuple(args), prepared.indices)
        kernel = cl.Kernel(entry.kernel.program, entry.program.kernel_name)
        return _Step(_Slot(kernel), prepared.layout.global_size, prepared.layout.local_size,
                     tuple(args), prepared.indices)

    def _check_arity(self, index: int, launch: Launch) -> None:
        parsed = self.parsed[index]
        if parsed is not None and len(launch.args) != len(parsed.parameters):
            raise LaunchError(f"sub-kernel '{parsed.name}' takes {len(parsed.parameters)} "
                              f"arguments, launch {index} gave {len(launch.args)}",
                              parsed.location, source_text=parsed.kernel.source)

    def _warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            warnings.warn(FusionWarning(message), stacklevel=4)

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
                     tuple(self._converted(index, launch)), (index,))


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
    baked: tuple[frozenset[int], ...] | None = None   # per member: argument positions baked in


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
        self.last_args: tuple | None = None   # the very tuple last set (a step's own)

    def set_args(self, args: tuple, force: bool = False) -> None:
        if not force and args is self.last_args:
            return  # the same step again, nothing set since
        try:
            last = self.last
            if force or last is None:
                self.kernel.set_args(*args)
            else:
                for index, (value, previous) in enumerate(zip(args, last)):
                    if not _same_argument(value, previous):
                        self.kernel.set_arg(index, value)
        except cl.Error as error:
            self.last = self.last_args = None
            raise LaunchError(f"pyopencl refused an argument: {error}") from None
        self.last = list(args)
        self.last_args = args


def _snapshot(launches: Sequence) -> tuple:
    """The launches as given, arrays copied (an array changed in place is a changed argument)."""
    taken = []
    for launch in launches:
        if isinstance(launch, Launch):
            launch = (launch.global_size, launch.local_size, launch.args)
        global_size, local_size, args = launch
        taken.append((global_size, local_size,
                      tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)))
    return tuple(taken)


def _same_launches(launches: Sequence, previous: tuple) -> bool:
    try:
        return _same(launches, previous)
    except (TypeError, ValueError):  # malformed: bind() says what is wrong with it
        return False


def _same(launches: Sequence, previous: tuple) -> bool:
    if len(launches) != len(previous):
        return False
    for launch, (global_size, local_size, args) in zip(launches, previous):
        if isinstance(launch, Launch):
            launch = (launch.global_size, launch.local_size, launch.args)
        new_global, new_local, new_args = launch
        if new_global != global_size or new_local != local_size or len(new_args) != len(args):
            return False
        if all(map(operator.is_, new_args, args)):
            continue  # the same objects (what an engine passes every time): no value compared
        for value, before in zip(new_args, args):
            if value is not before and not _equal_value(value, before):
                return False
    return True


def _equal_value(value, before) -> bool:
    if isinstance(value, (int, float)) and type(value) is type(before):
        return value == before
    return _same_argument(value, before)


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
    members: tuple[int, ...] = ()     # the group's kernels this launch runs (their indices)

    @property
    def kernel(self) -> cl.Kernel:
        return self.slot.kernel

    def set_args(self, force: bool = False) -> None:
        self.slot.set_args(self.args, force)

    def enqueue(self, queue) -> list:
        return [cl.enqueue_nd_range_kernel(queue, self.slot.kernel, self.global_size,
                                           self.local_size)]

    def refused(self, error: cl.Error, position: int, steps: int) -> DeviceError:
        return DeviceError(f"the device refused launch {position + 1} of {steps} "
                           f"('{self.kernel.function_name}', global {self.global_size}, local "
                           f"{self.local_size}): {error}; {position} launch(es) of this group "
                           "were enqueued before it")


class BoundLaunch:
    """A fused group with every argument bound; `enqueue(queue)` launches it."""

    def __init__(self, steps, *, shared: bool):
        self.steps = tuple(steps)
        self.shared = shared
        if not shared:
            for step in self.steps:
                step.set_args()
        # for the shared path, worked out once: the locks in a fixed order (no deadlock between
        # two groups), and the steps whose kernel another step of the group uses too
        self._locks = [lock for _, lock in sorted(
            {id(step.slot.lock): step.slot.lock for step in self.steps}.items())]
        kernels = [id(step.kernel) for step in self.steps]
        self._repeated = tuple(kernels.count(k) > 1 for k in kernels)
        self._queue: cl.CommandQueue | None = None
        self._out_of_order = False

    @property
    def launches(self) -> int:
        return len(self.steps)

    def enqueues(self) -> list[tuple[cl.Kernel, tuple[int, ...], tuple[int, ...] | None,
                                     tuple[int, ...]]]:
        """(kernel, global size, local size, the group's kernels it runs) per launch, arguments
        set: what an executor replays with bare enqueues (not for a shared binding)."""
        if self.shared:
            raise FusionError("a shared binding (FusedKernel.__call__) cannot be replayed: "
                              "use FusedKernel.bind")
        return [(step.kernel, step.global_size, step.local_size, step.members)
                for step in self.steps]

    def enqueue(self, queue: cl.CommandQueue) -> cl.Event:
        if self.shared:
            events = self._enqueue_shared(queue)
        else:
            events = []
            for position, step in enumerate(self.steps):
                try:
                    events += step.enqueue(queue)
                except cl.Error as error:
                    raise step.refused(error, position, len(self.steps)) from None
        if len(events) == 1:
            return events[0]
        if queue is not self._queue:
            self._queue, self._out_of_order = queue, _out_of_order(queue)
        if not self._out_of_order:
            return events[-1]  # an in-order queue finishes them in order: the last is the group's
        return cl.enqueue_marker(queue, wait_for=events)

    def _enqueue_shared(self, queue) -> list:
        # Kernels shared with other callers: hold their locks, set every argument first (so a
        # refused argument stops the group before anything is enqueued), then enqueue. A kernel
        # used by two steps (the same kernel listed twice) gets its arguments set again.
        # (Written out flat: this is the path of every FusedKernel.__call__.)
        for lock in self._locks:
            lock.acquire()
        try:
            for step in self.steps:
                if step.slot.last_args is not step.args:
                    step.slot.set_args(step.args)
            events = []
            enqueue = cl.enqueue_nd_range_kernel
            for position, step in enumerate(self.steps):
                if self._repeated[position]:
                    step.slot.set_args(step.args, force=True)  # another step's were left
                try:
                    events.append(enqueue(queue, step.slot.kernel, step.global_size,
                                          step.local_size))
                except cl.Error as error:
                    raise step.refused(error, position, len(self.steps)) from None
            return events
        finally:
            for lock in self._locks:
                lock.release()
