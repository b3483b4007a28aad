"""The code generator's entry point: `generate(kernels) -> FusedProgram`, one line per stage.

Pure code generation: nothing here talks to an OpenCL device (an ahead-of-time user runs this on
a machine with no OpenCL at all).
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Sequence

from .errors import FusionError, SourceError
from .layout import (DEFAULT_LAYOUT, LAYOUT_TYPE, LAYOUTS, Layout, LaunchShape, SubKernelNeeds,
                     padded_values, plan_layout)
from .parse import ParsedKernel, parse_kernel
from .render import VERSION, layout_argument, render
from .rename import rename
from .rewrite import rewrite
from .source import KernelSource

MANIFEST_FORMAT = "parallel-fusion-manifest/1"


@dataclasses.dataclass(frozen=True)
class FusedProgram:
    source: str
    kernel_name: str
    manifest: dict
    parsed: tuple[ParsedKernel, ...] = dataclasses.field(repr=False, compare=False)

    @property
    def needs(self) -> list[SubKernelNeeds]:
        return [needs_of(p) for p in self.parsed]

    @property
    def build_options(self) -> tuple[str, ...]:
        return tuple(self.manifest["build_options"])


def needs_of(parsed: ParsedKernel) -> SubKernelNeeds:
    return SubKernelNeeds(parsed.name, parsed.needs_real_work_groups, parsed.uses_work_groups,
                          parsed.required_local_size)


def generate(kernels: Sequence[KernelSource], *, wave_size: int, layout: str = DEFAULT_LAYOUT,
             launches: Sequence[tuple] | None = None, kernel_name: str | None = None,
             max_work_group_size: int | None = None) -> FusedProgram:
    """Fuse kernels into one program.

    wave_size: the device's wave (warp, SIMD width); the layout pads to it.
    layout: "groups" (work-group granular) or "wave" (the paper's wave-padded concatenation).
    launches: optional (global_size, local_size) per kernel; when given, the layout values are
        baked into the source as constants (one binary per shape) instead of being arguments.
    """
    if not kernels:
        raise FusionError("nothing to fuse: the kernel list is empty")
    if layout not in LAYOUTS:
        raise FusionError(f"unknown layout '{layout}' (choose from {', '.join(LAYOUTS)})")
    parsed = [parse_kernel(kernel) for kernel in kernels]
    program_flags = agreed_program_flags(parsed)
    renamed = rename(parsed)
    rewritten = rewrite(renamed)
    baked = None
    if launches is not None:
        baked = plan_layout(layout, [needs_of(p) for p in parsed],
                            [LaunchShape.of(g, l) for g, l, *_ in launches],
                            wave_size=wave_size, max_work_group_size=max_work_group_size)
    name = kernel_name or default_kernel_name(parsed)
    source = render(rewritten, kernel_name=name, layout_kind=layout,
                    real_work_groups=[p.needs_real_work_groups for p in parsed],
                    pragmas=_pragmas(parsed), program_flags=list(program_flags), baked=baked)
    manifest = _manifest(parsed, renamed, name, layout, wave_size, program_flags, baked)
    return FusedProgram(source, name, manifest, tuple(parsed))


def agreed_program_flags(parsed: Sequence[ParsedKernel]) -> tuple[str, ...]:
    """Program-wide build flags (-cl-fast-relaxed-math, -cl-std=...) apply to the whole fused
    program, so its sub-kernels must agree on them."""
    first = parsed[0]
    for other in parsed[1:]:
        if sorted(other.program_flags) != sorted(first.program_flags):
            raise SourceError(
                f"sub-kernels '{first.name}' and '{other.name}' were built with different "
                f"program-wide options ({' '.join(first.program_flags) or 'none'} vs "
                f"{' '.join(other.program_flags) or 'none'}); they apply to the whole fused "
                "program, so these kernels cannot be fused", other.location,
                source_text=other.kernel.source
                if other.location.file == other.kernel.display_name else None)
    return first.program_flags


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


def _manifest(parsed, renamed, kernel_name, layout, wave_size, program_flags,
              baked: Layout | None) -> dict:
    arguments, sub_kernels = [], []
    for index, (p, r) in enumerate(zip(parsed, renamed.kernels)):
        argument_indices = []
        if baked is None:
            arguments.append(dict(index=len(arguments), name=layout_argument(index),
                                  kind="layout", type=LAYOUT_TYPE, sub_kernel=index))
            argument_indices.append(len(arguments) - 1)
        for position, (parameter, name) in enumerate(zip(p.parameters, r.parameter_names)):
            arguments.append(dict(index=len(arguments), name=name, original_name=parameter.name,
                                  kind=parameter.kind, type=parameter.type_text,
                                  base_type=parameter.base_type, access=parameter.access,
                                  sub_kernel=index, sub_kernel_argument=position))
            argument_indices.append(len(arguments) - 1)
        sub_kernels.append(dict(
            index=index, name=p.name, file=p.kernel.display_name, options=list(p.kernel.options),
            dimensions=p.dimensions, real_work_groups=p.needs_real_work_groups,
            uses_work_groups=p.uses_work_groups,
            required_local_size=list(p.required_local_size) if p.required_local_size else None,
            builtins=sorted(p.work_item_builtins), barriers=sorted(p.work_group_functions),
            arguments=argument_indices, renamed={k: v for k, v in r.renames.items()}))
    return dict(
        format=MANIFEST_FORMAT,
        generator=f"parallel-fusion {VERSION}",
        kernel_name=kernel_name,
        build_options=list(program_flags),
        layout=dict(
            kind=layout, wave_size=wave_size, baked=baked is not None,
            values=(f"{LAYOUT_TYPE} per sub-kernel: s0-s2 global size, s3-s5 local size (1 where "
                    "none), s6 begin (groups: first work-group; wave: dimension-0 offset), "
                    "s7 work_dim, s8 work-items used per work-group (groups layout, sub-kernels "
                    "without real work-groups; else 0), s9-sf 0"),
            global_size=list(baked.global_size) if baked else None,
            local_size=list(baked.local_size) if baked else None,
            per_sub_kernel=[list(padded_values(v)) for v in baked.values] if baked else None),
        sub_kernels=sub_kernels,
        arguments=arguments,
    )
