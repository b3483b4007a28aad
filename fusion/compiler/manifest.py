"""The manifest: what a C/C++ runtime needs to launch a fused kernel generated ahead of time —
the argument order and owner of each argument, the layout arguments and what their lanes hold
(fusion/abi.py), the build options, and the baked layout and baked-in arguments where there are
any (docs/CLI.md).
"""
from __future__ import annotations

from ..abi import LANES, LAYOUT_TYPE, NAMES, describe_lanes, padded_values
from ..plan.layout import Layout
from .render import VERSION

MANIFEST_FORMAT = "parallel-fusion-manifest/1"


def manifest_of(parsed, renamed, kernel_name, layout, wave_size, program_flags,
              baked: Layout | None, device_macros=None, flags="exact",
              dropped=None, constants=None) -> dict:
    arguments, sub_kernels = [], []
    for index, (p, r) in enumerate(zip(parsed, renamed.kernels)):
        argument_indices, baked_arguments = [], []
        own = constants[index] if constants else {}
        if baked is None:
            arguments.append(dict(index=len(arguments), name=NAMES.layout_argument(index),
                                  kind="layout", type=LAYOUT_TYPE, sub_kernel=index))
            argument_indices.append(len(arguments) - 1)
        for position, (parameter, name) in enumerate(zip(p.parameters, r.parameter_names)):
            if position in own:
                baked_arguments.append(dict(sub_kernel_argument=position, name=parameter.name,
                                            type=parameter.type_text, value=own[position]))
                continue
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
            arguments=argument_indices, baked_arguments=baked_arguments, renamed={k: v for k, v in r.renames.items()},
            dropped_permissions=(dropped or {}).get(index, [])))
    return dict(
        format=MANIFEST_FORMAT,
        generator=f"parallel-fusion {VERSION}",
        kernel_name=kernel_name,
        build_options=list(program_flags),
        flags=flags,
        # the target compiler's macros the sub-kernels were preprocessed with (None: not given;
        # then no sub-kernel tests one)
        device_macros=dict(device_macros) if device_macros is not None else None,
        layout=dict(
            kind=layout, wave_size=wave_size, baked=baked is not None,
            values=describe_lanes(),
            lanes=[dict(component=lane.component, name=lane.name, meaning=lane.meaning,
                        read_by=lane.readers)
                   for lane in LANES],
            global_size=list(baked.global_size) if baked else None,
            local_size=list(baked.local_size) if baked else None,
            per_sub_kernel=[list(padded_values(v)) for v in baked.values] if baked else None),
        sub_kernels=sub_kernels,
        arguments=arguments,
    )
