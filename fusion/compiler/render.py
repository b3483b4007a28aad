"""Stage 6, render: the fused kernel's OpenCL C text from templates/fused.cl.j2.

Python decides every name, expression and value; the template only places them. Names and
layout lanes come from fusion/abi.py (NAMES, COMPONENTS), which the runtime and the manifest
read too.
"""
from __future__ import annotations

import dataclasses
import functools
import textwrap

import jinja2

from .. import dialect
from ..abi import COMPONENTS, LANES, LAYOUT_TYPE, LOW_HALF_TYPE, NAMES, padded_values
from ..plan.layout import Layout
from .codegen import Generator, item_source
from .rewrite import WORKITEM_QUALIFIERS, RewrittenProgram

VERSION = "0.1.0"

_SELECTORS = {"groups": "get_group_id(0)", "wave": "get_global_id(0)"}
_LANE = COMPONENTS
_DESCRIPTIONS = {
    "groups": "1-D NDRange; each sub-kernel owns a contiguous run of work-groups (none shared).",
    "wave": "sub-kernels side by side along dimension 0, each padded to the wave size.",
}


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader(__package__, "templates"),
                              undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True, keep_trailing_newline=True)


def layout_argument(index: int) -> str:
    return NAMES.layout_argument(index)


def _layout_constant(values) -> str:
    return f"({LAYOUT_TYPE})(" + ", ".join(f"{v}u" for v in padded_values(values)) + ")"


def _prologue(kind: str, real: bool, layout: str, value: str) -> list[str]:
    L, n, W = layout, NAMES, NAMES.workitem_type
    g0, g1, g2 = (f"{L}.{_LANE[f'global_size_{d}']}" for d in range(3))
    l0, l1 = (f"{L}.{_LANE[f'local_size_{d}']}" for d in range(2))
    begin, used = f"{L}.{_LANE['begin']}", f"{L}.{_LANE['items_per_group']}"
    if kind == "groups" and not real:
        return [
            f"if (get_local_id(0) >= {used}) return;  /* work-items this sub-kernel leaves idle */",
            "size_t pf_x, pf_y, pf_z;",
            f"if (!{n.virtual_position}({L}.lo, {used}, get_group_id(0) - {begin}, get_local_id(0),",
            "                         &pf_x, &pf_y, &pf_z)) return;  /* padding */",
            f"const {W} {value} = {n.virtual_workitem}({L}.lo, pf_x, pf_y, pf_z);",
        ]
    if kind == "groups":
        return [
            f"const size_t pf_group = get_group_id(0) - {begin}, pf_local_item = get_local_id(0);",
            f"const size_t pf_groups_x = {g0} / {l0}, pf_groups_y = {g1} / {l1};",
            f"const {W} {value} = {n.real_workitem}({L}.lo,",
            "    pf_group % pf_groups_x, pf_group / pf_groups_x % pf_groups_y, "
            "pf_group / pf_groups_x / pf_groups_y,",
            f"    pf_local_item % {l0}, pf_local_item / {l0} % {l1}, pf_local_item / {l0} / {l1});",
        ]
    bounds = (f"if (get_global_id(0) - {begin} >= {g0} || get_global_id(1) >= {g1} || "
              f"get_global_id(2) >= {g2}) return;  /* padding */")
    if not real:
        return [bounds,
                f"const {W} {value} = {n.virtual_workitem}({L}.lo, get_global_id(0) - "
                f"{begin}, get_global_id(1), get_global_id(2));"]
    return [bounds,
            f"const {W} {value} = {n.real_workitem}({L}.lo, get_group_id(0) - {begin} / "
            f"{l0}, get_group_id(1), get_group_id(2),",
            "    get_local_id(0), get_local_id(1), get_local_id(2));"]


def _branch(index: int, count: int) -> str:
    """The line opening sub-kernel index's branch: `if (pf_selector < <next begin>) {` ..."""
    opening = "{" if index == 0 else "} else {"
    if index + 1 < count:
        condition = f"if ({NAMES.selector} < {layout_argument(index + 1)}.{_LANE['begin']}) {{"
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
           baked: Layout | None = None, constants: tuple[dict[int, str], ...] | None = None
           ) -> str:
    """constants: per sub-kernel, {parameter position: literal} for parameters baked in
    (fusion.compiler.constants): declared in the sub-kernel's branch, not in the signature."""
    generator = Generator()
    sub_kernels = []
    count = len(program.kernels)
    for index, kernel in enumerate(program.kernels):
        parsed = kernel.parsed
        layout = layout_argument(index)
        parameters = [] if baked else [f"const {LAYOUT_TYPE} {layout}"]
        own = constants[index] if constants else {}
        declared = []
        definition = kernel.renamed.definition
        named = [decl for decl in (definition.decl.type.args.params
                                   if definition.decl.type.args else ())
                 if getattr(decl, "name", None)]
        for position, decl in enumerate(named):
            if position in own:
                declared.append(f"{generator.visit(decl)} = {own[position]};  /* baked in */")
            else:
                parameters.append(generator.visit(decl))
        real = real_work_groups[index]
        value = NAMES.workitem_value(index)
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
            prologue=declared + _prologue(layout_kind, real, layout, value),
            workitem_value=value,
            body=textwrap.indent(generator.visit(kernel.body).rstrip("\n"), " " * 8),
        ))
    accessors = []
    for builtin in sorted(program.builtins):
        spec = dialect.WORK_ITEM_BUILTINS[builtin]
        accessors.append(_Accessor(NAMES.accessor(builtin), spec.field, spec.per_dim,
                                   spec.out_of_range,
                                   "uint" if builtin == "get_work_dim" else "size_t"))
    local_members = [dict(name=k.local_member,
                          declarations=[generator.visit(d) for d in k.local_declarations])
                     for k in program.kernels if k.local_declarations]
    description = _DESCRIPTIONS[layout_kind]
    return _environment().get_template("fused.cl.j2").render(
        version=VERSION,
        layout_type=LAYOUT_TYPE,
        kernel_name=kernel_name,
        layout_kind=layout_kind,
        layout_description=description,
        layout_values_note=("baked in as constants: this binary serves one shape only"
                            if baked else f"passed as kernel arguments {NAMES.prefix}layout_<i>"),
        sub_kernels=sub_kernels,
        program_flags=" ".join(program_flags),
        pragmas=pragmas,
        workitem_type=NAMES.workitem_type,
        workitem_pointee=" ".join(WORKITEM_QUALIFIERS) + " " + NAMES.workitem_type,
        workitem=NAMES.workitem_pointer,
        names=NAMES,
        lane=_LANE,
        lanes=LANES,
        low_half_type=LOW_HALF_TYPE,
        accessors=accessors,
        items=[item_source(item).rstrip("\n") for item in program.items],
        local_members=local_members,
        local_union=NAMES.local_union,
        selector=NAMES.selector,
        selector_expression=_SELECTORS[layout_kind],
    )
