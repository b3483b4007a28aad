"""Stage 5, layout: where each sub-kernel's work-items live in the one fused NDRange.

Pure arithmetic on launch sizes; no OpenCL. The generated kernel reads, for each sub-kernel i, one
`uint16` of layout values (a kernel argument, or a constant when baked); fusion/abi.py's LANES
table says what each lane holds. Below, `begin` is the lane of that name.

Two layouts:

* "groups" (work-group granular; the default): a 1-D fused NDRange of work-groups of L items.
  Sub-kernel i owns the contiguous work-groups [begin, begin + groups_i). A sub-kernel that needs real
  work-groups (barriers, local memory) gets one hardware work-group per work-group of its own,
  so L must equal the product of its local size; its 2-D/3-D group and local ids are recovered
  from the linear ones. Every other sub-kernel is laid out item by item (row-major), ceil(items/L)
  work-groups, and sees virtual work-groups of its own local size. Nothing is padded but the
  last work-group of each such sub-kernel, and no work-group holds two sub-kernels.

* "wave" (the ParallelFusion paper): sub-kernels are concatenated along dimension 0, each padded
  to a multiple of the wave size WS:
      offset_i = sum_{j<i} pad(g0_j),  pad(g) = u * ceil(g / u),  u = WS,
      global_0 = sum_i pad(g0_i) rounded up to a multiple of L0 (OpenCL 1.2 uniform groups);
  dimensions 1 and 2 are the largest of the sub-kernels', rounded up to L. A work-group may hold
  two such sub-kernels (each sees virtual work-groups of its own size); with WS = 1 nothing is
  padded, and waves straddle sub-kernels (the paper's "without wave alignment"). When some
  sub-kernel needs real work-groups, u = lcm(WS, L0) so that none shares a work-group, and all
  of them must have launched with the same local size L.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from ..abi import lane, lane_values
from ..errors import LayoutError

LAYOUTS = ("groups", "wave")
DEFAULT_LAYOUT = "groups"
DEFAULT_GROUP_ITEMS = 128     # work-group size when no sub-kernel asks for one


@dataclasses.dataclass(frozen=True)
class LaunchShape:
    """A sub-kernel's launch as layout sees it: sizes only, padded to three dimensions."""

    global_size: tuple[int, int, int]
    local_size: tuple[int, int, int] | None
    work_dim: int

    @classmethod
    def of(cls, global_size: Sequence[int], local_size: Sequence[int] | None) -> "LaunchShape":
        global_size = tuple(int(g) for g in global_size)
        if not 1 <= len(global_size) <= 3:
            raise LayoutError(f"a global size has 1 to 3 dimensions, not {len(global_size)}: "
                              f"{global_size}")
        if any(g < 1 for g in global_size):
            raise LayoutError(f"global size {global_size} has an empty dimension")
        local = None
        if local_size is not None:
            local = tuple(int(l) for l in local_size)
            if len(local) != len(global_size) or any(l < 1 for l in local):
                raise LayoutError(f"local size {local} does not match global size {global_size}")
            local = _three(local)
        return cls(_three(global_size), local, len(global_size))

    @property
    def items(self) -> int:
        return math.prod(self.global_size)


@dataclasses.dataclass(frozen=True)
class SubKernelNeeds:
    """What a sub-kernel's code requires of its work-groups (from parse)."""

    name: str
    real_work_groups: bool     # barriers / local memory: hardware groups of exactly its size
    uses_work_groups: bool     # reads local or group ids / sizes at all
    required_local_size: tuple[int, int, int] | None = None


@dataclasses.dataclass(frozen=True)
class Layout:
    kind: str
    global_size: tuple[int, ...]
    local_size: tuple[int, ...]
    values: tuple[tuple[int, ...], ...]   # per sub-kernel: its used lanes (abi.LANES)

    @property
    def begins(self) -> tuple[int, ...]:
        return tuple(lane(v, "begin") for v in self.values)


def _three(size: Sequence[int]) -> tuple[int, int, int]:
    return tuple(size) + (1,) * (3 - len(size))


def _values(shape: LaunchShape, local: tuple[int, int, int], begin: int,
            items_per_group: int = 0) -> tuple[int, ...]:
    return lane_values(global_size=shape.global_size, local_size=local, begin=begin,
                       work_dim=shape.work_dim, items_per_group=items_per_group)


def check_launch(need: SubKernelNeeds, shape: LaunchShape) -> tuple[int, int, int]:
    """The local size the sub-kernel sees; refuses launches it could not have had alone."""
    if need.required_local_size is not None and shape.local_size != need.required_local_size:
        raise LayoutError(f"sub-kernel '{need.name}' requires work-group size "
                          f"{need.required_local_size} (reqd_work_group_size) but was given "
                          f"{shape.local_size}")
    if shape.local_size is None:
        if need.uses_work_groups:
            raise LayoutError(f"sub-kernel '{need.name}' reads work-group ids or sizes, so its "
                              "launch must give a local size (it was None)")
        return (1, 1, 1)
    if need.uses_work_groups and any(g % l for g, l in zip(shape.global_size, shape.local_size)):
        raise LayoutError(f"sub-kernel '{need.name}': global size "
                          f"{shape.global_size[:shape.work_dim]} is not a multiple of local size "
                          f"{shape.local_size[:shape.work_dim]} (OpenCL 1.2 uniform work-groups)")
    return shape.local_size


def work_group_key(kind: str, shape: LaunchShape):
    """What kernels with real work-groups must share to be laid out in one fused launch: the
    number of work-items of a work-group ("groups": the fused work-group is 1-D), or the local
    size itself ("wave": the fused NDRange keeps the dimensions)."""
    return math.prod(shape.local_size) if kind == "groups" else shape.local_size


def _real_local_size(kind, needs, shapes) -> tuple[int, int, int] | None:
    """The local size of the sub-kernels with real work-groups, which partition() made agree;
    a group it did not make is refused here by the same rule, naming the sub-kernels."""
    real = [i for i, need in enumerate(needs) if need.real_work_groups]
    if not real:
        return None
    keys = {work_group_key(kind, shapes[i]) for i in real}
    if len(keys) > 1:
        described = ", ".join(f"'{needs[i].name}' {shapes[i].local_size}" for i in real)
        rule = ("need work-groups of the same number of work-items to share a launch"
                if kind == "groups" else "share one local size")
        prefix = ("sub-kernels with barriers or local memory " if kind == "groups"
                  else "the wave layout needs sub-kernels with barriers or local memory to ")
        raise LayoutError(f"{prefix}{rule}: {described}")
    return shapes[real[0]].local_size


def plan_layout(kind: str, needs: Sequence[SubKernelNeeds], shapes: Sequence[LaunchShape], *,
                wave_size: int, max_work_group_size: int | None = None,
                group_items: int | None = None) -> Layout:
    """Place the sub-kernels' launches in one NDRange (see the module docstring): the arithmetic
    of a group that partition() decided; call partition(), which calls this."""
    if kind not in LAYOUTS:
        raise LayoutError(f"unknown layout '{kind}' (choose from {', '.join(LAYOUTS)})")
    if len(needs) != len(shapes):
        raise LayoutError(f"{len(needs)} sub-kernels but {len(shapes)} launches")
    if wave_size < 1:
        raise LayoutError(f"wave size must be positive, not {wave_size}")
    locals_seen = [check_launch(need, shape) for need, shape in zip(needs, shapes)]
    if kind == "groups":
        return _groups_layout(needs, shapes, locals_seen, wave_size, max_work_group_size,
                              group_items)
    return _wave_layout(needs, shapes, locals_seen, wave_size, max_work_group_size)


def _groups_layout(needs, shapes, locals_seen, wave_size, max_work_group_size, group_items):
    real = _real_local_size("groups", needs, shapes)
    if real is not None:
        items_per_group = math.prod(real)
    else:
        items_per_group = group_items or _default_group_items(shapes, wave_size,
                                                              max_work_group_size)
    values, begin = [], 0
    for need, shape, local in zip(needs, shapes, locals_seen):
        if need.real_work_groups:
            values.append(_values(shape, local, begin))
            begin += math.prod(g // l for g, l in zip(shape.global_size, local))
        elif shape.local_size and math.prod(local) <= items_per_group:
            # Tiles of its own local size, one per fused work-group, as it was launched alone
            # (2-D image kernels keep their 2-D tiles); edge tiles may be partial.
            used = math.prod(local)
            values.append(_values(shape, local, begin, used))
            begin += math.prod(-(-g // l) for g, l in zip(shape.global_size, local))
        else:
            # Row-major runs of L work-items.
            values.append(_values(shape, local, begin, items_per_group))
            begin += -(-shape.items // items_per_group)
    _check_group_limit(items_per_group, max_work_group_size)
    return Layout("groups", (begin * items_per_group,), (items_per_group,), tuple(values))


def _default_group_items(shapes, wave_size, max_work_group_size) -> int:
    asked = [math.prod(s.local_size) for s in shapes if s.local_size is not None]
    items = max(asked) if asked else DEFAULT_GROUP_ITEMS
    items = wave_size * -(-items // wave_size)
    if max_work_group_size:
        items = min(items, max_work_group_size)
    return items


def _check_group_limit(items: int, max_work_group_size: int | None) -> None:
    if max_work_group_size and items > max_work_group_size:
        raise LayoutError(f"fused work-group of {items} work-items exceeds the device's "
                          f"maximum of {max_work_group_size}")


def _wave_layout(needs, shapes, locals_seen, wave_size, max_work_group_size):
    real = _real_local_size("wave", needs, shapes)
    if real is not None:
        local = real
    else:
        given = [s.local_size for s in shapes if s.local_size is not None]
        local = given[0] if given else (wave_size, 1, 1)
    _check_group_limit(math.prod(local), max_work_group_size)
    # Sub-kernels with real work-groups must not share one, so they are padded to whole
    # work-groups too; the others may share a work-group (they see virtual ones), as in the
    # paper, and are padded to the wave size only.
    unit = math.lcm(wave_size, local[0]) if real else wave_size
    values, offset = [], 0
    for shape, seen in zip(shapes, locals_seen):
        values.append(_values(shape, seen, offset))
        offset += unit * -(-shape.global_size[0] // unit)
    total = local[0] * -(-offset // local[0])  # OpenCL 1.2: a multiple of the local size
    rest = [local[d] * -(-max(s.global_size[d] for s in shapes) // local[d]) for d in (1, 2)]
    dims = max(s.work_dim for s in shapes)
    global_size = (total, *rest)[:max(dims, 1)]
    return Layout("wave", global_size, local[:len(global_size)], tuple(values))
