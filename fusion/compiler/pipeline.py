"""The code generator's entry point: `generate(kernels) -> FusedProgram`, one line per stage.

Pure code generation: nothing here talks to an OpenCL device (an ahead-of-time user runs this on
a machine with no OpenCL at all). Where the layout is baked in, it is the one planner's
(fusion.plan.partition), as at run time.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping, Sequence

from .. import dialect
from ..errors import FusionError, SourceError
from ..plan.layout import DEFAULT_LAYOUT, LAYOUTS, Layout, SubKernelNeeds
from ..plan.partition import DeviceFacts, partition, shapes_of
from .constants import Constants, check_constants
from .deep import deep
from .manifest import manifest_of
from .parse import ParsedKernel, parse_kernel
from .render import render
from .rename import rename
from .rewrite import rewrite
from .source import DeviceMacros, KernelSource


@dataclasses.dataclass(frozen=True)
class FusedProgram:
    source: str
    kernel_name: str
    manifest: dict
    parsed: tuple[ParsedKernel, ...] = dataclasses.field(repr=False, compare=False)

    @property
    def needs(self) -> list[SubKernelNeeds]:
        return [p.needs for p in self.parsed]

    @property
    def build_options(self) -> tuple[str, ...]:
        return tuple(self.manifest["build_options"])


@deep
def generate(kernels: Sequence[KernelSource], *, wave_size: int, layout: str = DEFAULT_LAYOUT,
             launches: Sequence[tuple] | None = None, planned: Layout | None = None,
             kernel_name: str | None = None,
             max_work_group_size: int | None = None,
             device_macros: Mapping[str, str] | DeviceMacros | None = None,
             flags: str = "exact", constants: Constants | None = None) -> FusedProgram:
    """Fuse kernels into one program.

    wave_size: the device's wave (warp, SIMD width); the layout pads to it.
    layout: "groups" (work-group granular) or "wave" (the paper's wave-padded concatenation).
    launches: optional (global_size, local_size) per kernel: the planner (fusion.plan.partition)
        lays them out, strictly — a group the runtime would split is refused with a LayoutError
        naming the kernels — and the layout values are baked into the source as constants (one
        binary per shape) instead of being arguments.
    planned: a Layout the planner already made for these kernels, baked in the same way.
    max_work_group_size: the target device's limit, for the planner.
    device_macros: the macros the target device's compiler defines (name -> value:
        __OPENCL_VERSION__, cl_khr_fp16, ...), for kernels whose preprocessor conditionals test
        them; without them such a kernel is refused (a DeviceMacroError at the conditional).
        The runtime asks its device (fusion.runtime.devices.device_macros).
    flags: "exact" (sub-kernels' program-wide flags must agree) or "strictest" (they may differ
        in permission flags such as -cl-mad-enable; the program is built with only those every
        sub-kernel grants: the manifest lists, per sub-kernel, what was dropped).
    constants: per sub-kernel, {parameter position: value} for integer parameters whose values
        are baked into the source (fusion.compiler.constants): they leave the fused kernel's
        signature (the manifest lists them under each sub-kernel's `baked_arguments`).
    """
    if not kernels:
        raise FusionError("nothing to fuse: the kernel list is empty")
    if layout not in LAYOUTS:
        raise FusionError(f"unknown layout '{layout}' (choose from {', '.join(LAYOUTS)})")
    if launches is not None and planned is not None:
        raise FusionError("give launches (to be planned) or a planned layout, not both")
    macros = _macro_pairs(device_macros)
    parsed = [parse_kernel(kernel, macros) for kernel in kernels]
    program_flags = agreed_program_flags(parsed, flags)
    literals = check_constants(parsed, constants)
    renamed = rename(parsed)
    rewritten = rewrite(renamed)
    baked = planned if planned is not None else _planned(parsed, launches, layout, wave_size,
                                                          max_work_group_size)
    if baked is not None and (baked.kind != layout or len(baked.values) != len(parsed)):
        raise FusionError(f"the planned layout ({baked.kind}, {len(baked.values)} sub-kernels) "
                          f"is not one for these {len(parsed)} kernels in layout '{layout}'")
    name = kernel_name or default_kernel_name(parsed)
    source = render(rewritten, kernel_name=name, layout_kind=layout,
                    real_work_groups=[p.needs_real_work_groups for p in parsed],
                    pragmas=_pragmas(parsed), program_flags=list(program_flags), baked=baked,
                    constants=literals)
    manifest = manifest_of(parsed, renamed, name, layout, wave_size, program_flags, baked,
                           macros, flags, dropped_permissions(parsed, program_flags), literals)
    return FusedProgram(source, name, manifest, tuple(parsed))


def _macro_pairs(device_macros) -> DeviceMacros | None:
    if device_macros is None:
        return None
    pairs = device_macros.items() if isinstance(device_macros, Mapping) else device_macros
    return tuple(sorted((str(name), str(value)) for name, value in pairs))


def _planned(parsed, launches, layout, wave_size, max_work_group_size) -> Layout | None:
    if launches is None:
        return None
    if len(launches) != len(parsed):
        raise FusionError(f"{len(parsed)} kernels but {len(launches)} launches")
    device = DeviceFacts(wave_size=wave_size, max_work_group_size=max_work_group_size)
    return partition([p.needs for p in parsed], shapes_of(launches), layout_kind=layout,
                     device=device, strict=True, min_fused=1).layout


def program_flag_conflicts(parsed: Sequence[ParsedKernel | None],
                           flags: str = "exact") -> dict[int, SourceError]:
    """Program-wide build flags (-cl-fast-relaxed-math, -cl-std=...) apply to the whole fused
    program, so its sub-kernels must agree on them (diagnostic flags such as -w or -Werror
    excepted: they change no code; with flags="strictest", permission flags excepted too): for
    each kernel that disagrees with the first (None entries are skipped), the error saying so,
    at its location."""
    _check_policy(flags)
    present = [(i, p) for i, p in enumerate(parsed) if p is not None]
    if not present:
        return {}
    _, first = present[0]
    conflicts = {}
    for index, other in present[1:]:
        if _code_flags(other, flags) != _code_flags(first, flags):
            hint = ("" if flags == "strictest" or _code_flags(other, "strictest") !=
                    _code_flags(first, "strictest") else
                    " (they differ only in permissions: flags='strictest' fuses them, built "
                    "without the permissions)")
            conflicts[index] = SourceError(
                f"sub-kernels '{first.name}' and '{other.name}' were built with different "
                f"program-wide options ({' '.join(_code_flags(first)) or 'none'} vs "
                f"{' '.join(_code_flags(other)) or 'none'}); they apply to the whole fused "
                f"program, so these kernels cannot be fused{hint}", other.location,
                source_text=other.kernel.source
                if other.location.file == other.kernel.display_name else None)
    return conflicts


def _check_policy(flags: str) -> None:
    if flags not in dialect.FLAG_POLICIES:
        raise FusionError(f"unknown flags policy '{flags}' (choose from "
                          f"{', '.join(dialect.FLAG_POLICIES)})")


def _code_flags(parsed: ParsedKernel, flags: str = "exact") -> list[str]:
    return sorted(flag for flag in parsed.program_flags if not dialect.is_diagnostic_flag(flag)
                  and not (flags == "strictest" and dialect.is_permission_flag(flag)))


def agreed_program_flags(parsed: Sequence[ParsedKernel], flags: str = "exact") -> tuple[str, ...]:
    """The program-wide flags to build the fused program with: the code flags every sub-kernel
    was built with (SourceError when they differ), with flags="strictest" only the permissions
    every sub-kernel grants, and every diagnostic flag any of them had."""
    conflicts = program_flag_conflicts(parsed, flags)
    if conflicts:
        raise conflicts[min(conflicts)]
    agreed = [flag for flag in parsed[0].program_flags if not dialect.is_diagnostic_flag(flag)
              and not (flags == "strictest" and dialect.is_permission_flag(flag))]
    if flags == "strictest":
        common = frozenset.intersection(*(dialect.granted_permissions(p.program_flags)
                                          for p in parsed))
        agreed += [flag for flag in dialect.PERMISSION_FLAGS if flag in common]
    for p in parsed:
        agreed += [flag for flag in p.program_flags
                   if dialect.is_diagnostic_flag(flag) and flag not in agreed]
    return tuple(agreed)


def dropped_permissions(parsed: Sequence[ParsedKernel], build_options) -> dict[int, list[str]]:
    """Per sub-kernel, the permissions it granted that the fused build does not have."""
    kept = dialect.granted_permissions(build_options)
    return {i: sorted(dialect.granted_permissions(p.program_flags) - kept)
            for i, p in enumerate(parsed)
            if dialect.granted_permissions(p.program_flags) - kept}


def default_kernel_name(parsed: Sequence[ParsedKernel]) -> str:
    name = "fused__" + "__".join(p.name for p in parsed)
    if len(name) > 120:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = name[:100] + "__" + digest
    return re.sub(r"\W", "_", name)


def _pragmas(parsed: Sequence[ParsedKernel]) -> list[str]:
    seen = []
    for p in parsed:
        for pragma in p.extension_pragmas:
            if pragma not in seen:
                seen.append(pragma)
    return seen
