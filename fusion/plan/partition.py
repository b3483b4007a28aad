"""The one planner: which of a group's kernels share the fused launch, with which local size, and
where each lives in it (the Layout). The runtime and the ahead-of-time `generate` both ask this
function and nothing else, so a group is split, refused or laid out the same way on both paths.

    partition(needs, shapes, layout_kind="groups", device=DeviceFacts(wave_size=32))
      -> Partition(fused=(0, 2), alone=((1, "it needs work-groups of ..."),), layout=Layout(...))

The rules, in order:
  1. a kernel the caller already excluded (a construct fusion does not support, other
     program-wide build flags) runs alone, for the caller's reason;
  2. a kernel that reads work-group ids or sizes but was launched without a local size runs
     alone: the driver's choice of work-group cannot be reproduced;
  3. every other launch must be one the kernel could have had alone (else LaunchError);
  4. kernels that need real work-groups (barriers, local memory) must agree on their work-group
     (`work_group_key`): the largest agreeing set stays (ties: the earliest), the others run
     alone; a device quirk may cap how many such kernels one fused kernel holds;
  5. fewer than `min_fused` kernels left: nothing is fused.
With `strict=True` any kernel left out is a LayoutError naming it, and the kernel it could not
share the launch with.

Pure Python: device facts come in as a DeviceFacts, read off the device by the runtime or given
by an ahead-of-time user.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from ..errors import LaunchError, LayoutError
from .layout import Layout, LaunchShape, SubKernelNeeds, check_launch, plan_layout, work_group_key


@dataclasses.dataclass(frozen=True)
class DeviceFacts:
    """What the planner needs to know of a device.

    wave_size: the wave (warp, SIMD width) the layout pads to.
    max_work_group_size: the largest work-group the device runs (None: no limit known).
    max_barrier_kernels: how many kernels with barriers / local memory one fused kernel may hold
        on this device (None: any number); `barrier_reason` says why there is a cap.
    """

    wave_size: int
    max_work_group_size: int | None = None
    max_barrier_kernels: int | None = None
    barrier_reason: str = ""


@dataclasses.dataclass(frozen=True)
class Partition:
    """The planner's answer for one group of launches.

    fused: the kernels (indices into the group) that share the one fused launch, in order;
        empty when nothing is fused.
    alone: (index, why) for every other kernel; each runs on its own.
    layout: the fused launch's layout, its values in `fused` order (None when nothing is fused).
    """

    fused: tuple[int, ...]
    alone: tuple[tuple[int, str], ...]
    layout: Layout | None

    @property
    def launches(self) -> int:
        return (1 if self.fused else 0) + len(self.alone)


def partition(needs: Sequence[SubKernelNeeds | None], shapes: Sequence[LaunchShape], *,
              layout_kind: str, device: DeviceFacts, excluded: Mapping[int, str] | None = None,
              strict: bool = False, min_fused: int = 2) -> Partition:
    """Decide the group (see the module docstring). `needs[i]` is None for a kernel that cannot
    be parsed for fusion; `excluded` gives the reason of each kernel the caller keeps out."""
    if len(needs) != len(shapes):
        raise LayoutError(f"{len(needs)} kernels but {len(shapes)} launches")
    names = [need.name if need is not None else f"kernel {i}" for i, need in enumerate(needs)]
    label = _labeller(names)
    alone: dict[int, str] = dict(excluded or {})
    for i, need in enumerate(needs):
        if need is None and i not in alone:
            alone[i] = "it cannot be parsed for fusion"
    candidates = [i for i in range(len(needs)) if i not in alone]
    for i in candidates:
        if needs[i].uses_work_groups and shapes[i].local_size is None:
            alone[i] = ("it reads work-group ids or sizes but was launched without a local "
                        "size, so the driver's choice cannot be reproduced")
    candidates = [i for i in candidates if i not in alone]
    for i in candidates:
        try:
            check_launch(needs[i], shapes[i])
        except LayoutError as error:
            raise LaunchError(f"launch {i}: {error}") from None
    real = [i for i in candidates if needs[i].real_work_groups]
    if real:
        agreeing: dict = {}
        for i in real:
            agreeing.setdefault(work_group_key(layout_kind, shapes[i]), []).append(i)
        keep = max(agreeing.values(), key=lambda members: (len(members), -members[0]))
        first = keep[0]
        for i in real:
            if i not in keep:
                alone[i] = (f"it needs work-groups of local size {_local(shapes[i])} with "
                            "barriers or local memory, which cannot share a launch with "
                            f"{label(first)} {_local(shapes[first])}")
        if device.max_barrier_kernels is not None:
            for i in keep[device.max_barrier_kernels:]:
                alone[i] = device.barrier_reason
        candidates = [i for i in candidates if i not in alone]
    if strict and alone:
        index, reason = sorted(alone.items())[0]
        raise LayoutError(f"kernel {label(index)} cannot be fused: {reason}")
    if len(candidates) < min_fused:
        for i in candidates:
            alone[i] = "it is the only kernel left to fuse"
        candidates = []
    layout = None
    if candidates:
        layout = plan_layout(layout_kind, [needs[i] for i in candidates],
                             [shapes[i] for i in candidates], wave_size=device.wave_size,
                             max_work_group_size=device.max_work_group_size)
    return Partition(tuple(candidates), tuple(sorted(alone.items())), layout)


def _local(shape: LaunchShape) -> tuple[int, ...]:
    return shape.local_size[:shape.work_dim]


def _labeller(names: Sequence[str]):
    """'name', or 'name' (kernel i) where two kernels of the group share the name."""
    def label(index: int) -> str:
        if names.count(names[index]) > 1:
            return f"'{names[index]}' (kernel {index})"
        return f"'{names[index]}'"
    return label


def shapes_of(launches: Sequence[tuple]) -> list[LaunchShape]:
    """LaunchShapes of (global_size, local_size, ...) tuples, each checked."""
    return [LaunchShape.of(global_size, local_size) for global_size, local_size, *_ in launches]
