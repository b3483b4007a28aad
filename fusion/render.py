"""Stage 6, render: the fused kernel's OpenCL C text from templates/fused.cl.j2.

Python decides every name, expression and value; the template only places them.
"""
from __future__ import annotations

import dataclasses
import functools
import textwrap

import jinja2

from . import dialect
from .codegen import Generator, item_source
from .layout import LAYOUT_TYPE, Layout, padded_values
from .resources import templates_dir
from .rewrite import (LOCAL_UNION, WORKITEM, WORKITEM_QUALIFIERS, WORKITEM_TYPE, RewrittenProgram,
                      accessor_name)

VERSION = "0.1.0"

_SELECTORS = {"groups": "get_group_id(0)", "wave": "get_global_id(0)"}
_DESCRIPTIONS = {
    "groups": ("1-D NDRange; each sub-kernel owns a contiguous run of work-groups (none shared).",
               "first work-group"),
    "wave": ("sub-kernels side by side along dimension 0, each padded to the wave size.",
             "dimension-0 offset"),
}


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                              undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True, keep_trailing_newline=True)


def layout_argument(index: int) -> str:
    return f"pf_layout_{index}"


def _layout_constant(values) -> str:
    return f"({LAYOUT_TYPE})(" + ", ".join(f"{v}u" for v in padded_values(values)) + ")"


def _prologue(kind: str, real: bool, layout: str, value: str) -> list[str]:
    L = layout
    if kind == "groups" and not real:
        return [
            f"if (get_local_id(0) >= {L}.s8) return;  /* work-items this sub-kernel leaves idle */",
            "size_t pf_x, pf_y, pf_z;",
            f"if (!pf_virtual_position({L}.lo, {L}.s8, get_group_id(0) - {L}.s6, get_local_id(0),",
            "                         &pf_x, &pf_y, &pf_z)) return;  /* padding */",
            f"const {WORKITEM_TYPE} {value} = pf_virtual_workitem({L}.lo, pf_x, pf_y, pf_z);",
        ]
    if kind == "groups":
        return [
            f"const size_t pf_group = get_group_id(0) - {L}.s6, pf_local_item = get_local_id(0);",
            f"const size_t pf_groups_x = {L}.s0 / {L}.s3, pf_groups_y = {L}.s1 / {L}.s4;",
            f"const {WORKITEM_TYPE} {value} = pf_real_workitem({L}.lo,",
            "    pf_group % pf_groups_x, pf_group / pf_groups_x % pf_groups_y, "
            "pf_group / pf_groups_x / pf_groups_y,",
            f"    pf_local_item % {L}.s3, pf_local_item / {L}.s3 % {L}.s4, pf_local_item / {L}.s3 / {L}.s4);",
        ]
    bounds = (f"if (get_global_id(0) - {L}.s6 >= {L}.s0 || get_global_id(1) >= {L}.s1 || "
              f"get_global_id(2) >= {L}.s2) return;  /* padding */")
    if not real:
        return [bounds,
                f"const {WORKITEM_TYPE} {value} = pf_virtual_workitem({L}.lo, get_global_id(0) - "
                f"{L}.s6, get_global_id(1), get_global_id(2));"]
    return [bounds,
            f"const {WORKITEM_TYPE} {value} = pf_real_workitem({L}.lo, get_group_id(0) - {L}.s6 / "
            f"{L}.s3, get_group_id(1), get_group_id(2),",
            "    get_local_id(0), get_local_id(1), get_local_id(2));"]


def _branch(index: int, count: int) -> str:
    """The line opening sub-kernel index's branch: `if (pf_selector < <next begin>) {` ..."""
    opening = "{" if index == 0 else "} else {"
    if index + 1 < count:
        condition = f"if (pf_selector < {layout_argument(index + 1)}.s6) {{"
        opening = condition if index == 0 else "} else " + condition
    return opening


@dataclasses.dataclass(frozen=True)
class _Accessor:
    name: str
    field: str
    per_dim: bool
    out_of_range: int
    return_type: str


def render(program: RewrittenProgram, *, kernel_name: str, layout_kind: str,
           real_work_groups: list[bool], pragmas: list[str], program_flags: list[str],
           baked: Layout | None = None) -> str:
    generator = Generator()
    sub_kernels = []
    count = len(program.kernels)
    for index, kernel in enumerate(program.kernels):
        parsed = kernel.parsed
        layout = layout_argument(index)
        parameters = [] if baked else [f"const {LAYOUT_TYPE} {layout}"]
        definition = kernel.renamed.definition
        for decl in definition.decl.type.args.params if definition.decl.type.args else ():
            if getattr(decl, "name", None):
                parameters.append(generator.visit(decl))
        real = real_work_groups[index]
        value = f"pf_workitem_{index}"
        sub_kernels.append(dict(
            index=index,
            name=parsed.name,
            file=parsed.kernel.display_name,
            options=" ".join(parsed.kernel.options),
            groups_note=("real work-groups of its own local size (barriers / local memory)"
                         if real else "virtual work-groups (no barriers, no local memory)"),
            parameters=parameters,
            last=index == count - 1,
            branch=_branch(index, count),
            layout_name=layout,
            baked_layout=_layout_constant(baked.values[index]) if baked else "",
            prologue=_prologue(layout_kind, real, layout, value),
            workitem_value=value,
            body=textwrap.indent(generator.visit(kernel.body).rstrip("\n"), " " * 8),
        ))
    accessors = []
    for builtin in sorted(program.builtins):
        spec = dialect.WORK_ITEM_BUILTINS[builtin]
        accessors.append(_Accessor(accessor_name(builtin), spec.field, spec.per_dim,
                                   spec.out_of_range,
                                   "uint" if builtin == "get_work_dim" else "size_t"))
    local_members = [dict(name=k.local_member,
                          declarations=[generator.visit(d) for d in k.local_declarations])
                     for k in program.kernels if k.local_declarations]
    description, begin = _DESCRIPTIONS[layout_kind]
    return _environment().get_template("fused.cl.j2").render(
        version=VERSION,
        layout_type=LAYOUT_TYPE,
        kernel_name=kernel_name,
        layout_kind=layout_kind,
        layout_description=description,
        begin_description=begin,
        layout_values_note=("Baked in as constants (this binary serves one shape only)."
                            if baked else "Passed as kernel arguments pf_layout_<i>."),
        sub_kernels=sub_kernels,
        program_flags=" ".join(program_flags),
        pragmas=pragmas,
        workitem_type=WORKITEM_TYPE,
        workitem_pointee=" ".join(WORKITEM_QUALIFIERS) + " " + WORKITEM_TYPE,
        workitem=WORKITEM,
        accessors=accessors,
        items=[item_source(item).rstrip("\n") for item in program.items],
        local_members=local_members,
        local_union=LOCAL_UNION,
        selector="pf_selector",
        selector_expression=_SELECTORS[layout_kind],
    )
