"""The fused kernel's interface, as data: the lanes of a sub-kernel's layout vector and the names
the generated code defines. The planner fills the lanes, the renderer and the template read them,
the runtime passes them, the manifest describes them — all from these tables.

Layout values: each sub-kernel i of a fused kernel receives one `uint16` (argument `pf_layout_<i>`,
or a constant when baked). LANES says what each lane holds and which generated code reads it.
"""
from __future__ import annotations

import dataclasses

LAYOUT_TYPE = "uint16"       # the OpenCL vector type of a sub-kernel's layout values
LAYOUT_WIDTH = 16
LAYOUT_BYTES = 4 * LAYOUT_WIDTH
# The helper functions of the template take the low half of the vector (lanes s0-s7).
LOW_HALF_TYPE = "uint8"


@dataclasses.dataclass(frozen=True)
class Lane:
    index: int
    name: str
    meaning: str
    readers: str            # the generated code that reads it

    @property
    def component(self) -> str:
        """The OpenCL vector component that holds this lane: s0 ... s9, sa ... sf."""
        return "s" + "0123456789abcdef"[self.index]


LANES: tuple[Lane, ...] = (
    Lane(0, "global_size_0", "its own global size, dimension 0",
         "work-item records, padding checks"),
    Lane(1, "global_size_1", "its global size, dimension 1 (1 where unused)",
         "work-item records, padding checks"),
    Lane(2, "global_size_2", "its global size, dimension 2 (1 where unused)",
         "work-item records, padding checks"),
    Lane(3, "local_size_0", "its own local size, dimension 0 (1 where none was given)",
         "work-item records, group ids"),
    Lane(4, "local_size_1", "its local size, dimension 1", "work-item records, group ids"),
    Lane(5, "local_size_2", "its local size, dimension 2", "work-item records, group ids"),
    Lane(6, "begin", "its first work-group (groups) or dimension-0 offset (wave)",
         "branch selection, group and global ids"),
    Lane(7, "work_dim", "its work dimension", "get_work_dim"),
    # s3*s4*s5 when it is laid out in tiles of its own local size, else runs of this many.
    Lane(8, "items_per_group", "work-items it uses per fused work-group (groups, no barriers)",
         "idle-lane check, pf_virtual_position"),
)
USED_LANES = len(LANES)      # lanes s9-sf are 0, reserved

#: lane name -> its vector component ("begin" -> "s6"), for the renderer and the template.
COMPONENTS: dict[str, str] = {lane.name: lane.component for lane in LANES}


def lane_values(*, global_size, local_size, begin: int, work_dim: int,
                items_per_group: int = 0) -> tuple[int, ...]:
    """A sub-kernel's used lanes, in LANES order."""
    named = dict(begin=begin, work_dim=work_dim, items_per_group=items_per_group)
    for d in range(3):
        named[f"global_size_{d}"] = global_size[d]
        named[f"local_size_{d}"] = local_size[d]
    return tuple(int(named[lane.name]) for lane in LANES)


def lane(values, name: str) -> int:
    """One named lane of a sub-kernel's layout values."""
    return values[_INDEX[name]]


def padded_values(values) -> tuple[int, ...]:
    """All LAYOUT_WIDTH lanes of a sub-kernel's layout vector (the reserved ones 0)."""
    return tuple(values) + (0,) * (LAYOUT_WIDTH - len(values))


def describe_lanes() -> str:
    """One line for manifests and headers: what each used lane holds."""
    used = "; ".join(f"{lane.component} {lane.meaning}" for lane in LANES)
    return f"{LAYOUT_TYPE} per sub-kernel: {used}; s{USED_LANES:x}-sf 0 (reserved)"


_INDEX = {lane.name: lane.index for lane in LANES}


@dataclasses.dataclass(frozen=True)
class GeneratedNames:
    """Every identifier the generated code defines. They all start with RESERVED_PREFIX, which
    user kernels may not use (the parser refuses it), so none can collide with the user's."""

    prefix: str = "pf_"
    workitem_type: str = "pf_workitem"            # the record of what a work-item would see
    workitem_pointer: str = "pf_wi"               # the pointer to it, passed to helpers
    local_union: str = "pf_local"                 # the __local union of hoisted variables
    selector: str = "pf_selector"                 # the id that picks the sub-kernel's branch
    virtual_workitem: str = "pf_virtual_workitem"
    real_workitem: str = "pf_real_workitem"
    virtual_position: str = "pf_virtual_position"
    probe_kernel: str = "pf_probe"                # the runtime's wave-size probe

    def layout_argument(self, index: int) -> str:
        return f"{self.prefix}layout_{index}"

    def workitem_value(self, index: int) -> str:
        return f"{self.prefix}workitem_{index}"

    def accessor(self, builtin: str) -> str:
        """The function that answers a work-item builtin from the record."""
        return f"{self.prefix}{builtin}"


NAMES = GeneratedNames()
RESERVED_PREFIX = NAMES.prefix
