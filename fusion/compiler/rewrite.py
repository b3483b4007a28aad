"""Stage 4, rewrite: work-item builtins answered per sub-kernel, `__local` declarations hoisted.

Builtins (table: dialect.WORK_ITEM_BUILTINS). Each sub-kernel's branch of the fused kernel fills
a `pf_workitem` record with what the sub-kernel would see if it were launched alone, and every
work-item builtin becomes a read of that record:

    get_global_id(1)            ->  pf_get_global_id(pf_wi, 1)
    get_work_dim()              ->  pf_get_work_dim(pf_wi)

Helper functions that use builtins (directly or through other helpers) take the record as an
extra last parameter, and every call to them passes it on:

    int row(void) { return get_global_id(1); }      ->  int row(const pf_workitem *pf_wi)
    ... row() ...                                   ->  ... row(pf_wi) ...

Local memory. OpenCL C wants `__local` variables at kernel scope, and only one sub-kernel runs in
any work-group, so the sub-kernels' `__local` variables are hoisted into one `__local union`
(its size is the largest sub-kernel's, not the sum) and each reference names its member:

    __local float tile[16][17]; ... tile[y][x]   ->   ... pf_local.k0.tile[y][x]
"""
from __future__ import annotations

import dataclasses

from pycparser import c_ast

from .. import dialect
from ..abi import NAMES
from ..errors import UnsupportedError
from .parse import calls, clone, is_local_object, location_of
from .rename import RenamedKernel, RenamedProgram

WORKITEM = NAMES.workitem_pointer      # the pointer to the sub-kernel's work-item record
WORKITEM_TYPE = NAMES.workitem_type
# The record lives in private memory. Under -cl-std=CL2.0 an unqualified pointer is a generic
# one, and taking a private object's address then needs an address-space cast that some
# implementations cannot execute (Oclgrind: "Unsupported instruction: addrspacecast"), so every
# pointer to it says __private.
WORKITEM_QUALIFIERS = ("const", "__private")
LOCAL_UNION = NAMES.local_union


@dataclasses.dataclass(frozen=True)
class RewrittenKernel:
    renamed: RenamedKernel
    body: c_ast.Compound                    # builtins rewritten, __local declarations removed
    local_member: str                       # the name of its member of the local union
    local_declarations: tuple[c_ast.Decl, ...]   # hoisted, address space removed

    @property
    def parsed(self):
        return self.renamed.parsed


@dataclasses.dataclass(frozen=True)
class RewrittenProgram:
    items: tuple[c_ast.Node, ...]
    kernels: tuple[RewrittenKernel, ...]
    builtins: frozenset[str]                 # the builtins some sub-kernel uses


def rewrite(program: RenamedProgram) -> RewrittenProgram:
    functions = {item.decl.name: item for item in program.items if isinstance(item, c_ast.FuncDef)}
    takes_workitem = _functions_using_builtins(functions)
    rewriter = _BuiltinRewriter(takes_workitem)
    items = []
    for item in program.items:
        item = clone(item)
        if isinstance(item, c_ast.FuncDef):
            rewriter.visit(item.body)
            if item.decl.name in takes_workitem:
                _add_workitem_parameter(item)
        items.append(item)
    kernels = []
    for index, kernel in enumerate(program.kernels):
        body = clone(kernel.definition.body)
        rewriter.visit(body)
        member = f"k{index}"
        hoisted = _hoist_local_declarations(kernel, body, member)
        kernels.append(RewrittenKernel(kernel, body, member, hoisted))
    return RewrittenProgram(tuple(items), tuple(kernels), frozenset(rewriter.used))


def _functions_using_builtins(functions: dict[str, c_ast.FuncDef]) -> set[str]:
    using = {name for name, function in functions.items()
             if any(callee in dialect.WORK_ITEM_BUILTINS for callee, _ in calls(function.body))}
    changed = True
    while changed:
        changed = False
        for name, function in functions.items():
            if name not in using and any(callee in using for callee, _ in calls(function.body)):
                using.add(name)
                changed = True
    return using


class _BuiltinRewriter(c_ast.NodeVisitor):
    def __init__(self, takes_workitem: set[str]):
        self.takes_workitem = takes_workitem
        self.used: set[str] = set()

    def visit_FuncCall(self, node):
        if node.args is not None:
            self.visit(node.args)
        if not isinstance(node.name, c_ast.ID):
            self.visit(node.name)
            return
        name = node.name.name
        args = list(node.args.exprs) if node.args is not None else []
        if name in dialect.WORK_ITEM_BUILTINS:
            self.used.add(name)
            node.name = c_ast.ID(NAMES.accessor(name), node.name.coord)
            node.args = c_ast.ExprList([c_ast.ID(WORKITEM), *args], node.coord)
        elif name in self.takes_workitem:
            node.args = c_ast.ExprList([*args, c_ast.ID(WORKITEM)], node.coord)


def _add_workitem_parameter(function: c_ast.FuncDef) -> None:
    declarator = function.decl.type
    parameter = c_ast.Decl(
        WORKITEM, list(WORKITEM_QUALIFIERS), [], [], [],
        c_ast.PtrDecl([], c_ast.TypeDecl(WORKITEM, list(WORKITEM_QUALIFIERS), None,
                                         c_ast.IdentifierType([WORKITEM_TYPE]))),
        None, None)
    params = declarator.args.params if declarator.args is not None else []
    if len(params) == 1 and isinstance(params[0], c_ast.Typename) and \
            getattr(params[0].type.type, "names", None) == ["void"]:
        params = []  # `f(void)` becomes `f(const pf_workitem *pf_wi)`
    declarator.args = c_ast.ParamList([*params, parameter])


def _hoist_local_declarations(kernel: RenamedKernel, body: c_ast.Compound,
                              member: str) -> tuple[c_ast.Decl, ...]:
    hoisted: list[c_ast.Decl] = []
    for block in _compounds(body):
        kept = []
        for statement in block.block_items or ():
            if isinstance(statement, c_ast.Decl) and is_local_object(statement):
                hoisted.append(statement)
            else:
                kept.append(statement)
        block.block_items = kept
    names = [decl.name for decl in hoisted]
    for decl in hoisted:
        if names.count(decl.name) > 1 or decl.init is not None:
            problem = ("is declared more than once" if names.count(decl.name) > 1
                       else "has an initializer (not allowed for __local)")
            location = location_of(decl, kernel.parsed.kernel.display_name)
            raise UnsupportedError(f"__local variable '{decl.name}' {problem}", location,
                                   source_text=kernel.parsed.kernel.source
                                   if location.file == kernel.parsed.kernel.display_name else None)
    if hoisted:
        replacements = {name: (member, name) for name in names}
        _replace_ids(body, replacements)
    return tuple(_without_address_space(decl) for decl in hoisted)


def _compounds(node: c_ast.Node):
    if isinstance(node, c_ast.Compound):
        yield node
    for _, child in node.children():
        yield from _compounds(child)


def _without_address_space(decl: c_ast.Decl) -> c_ast.Decl:
    decl = clone(decl)
    keep = lambda quals: [q for q in quals if q not in dialect.ADDRESS_SPACES]  # noqa: E731
    decl.quals = keep(decl.quals)
    node = decl.type
    while node is not None and not isinstance(node, c_ast.IdentifierType):
        if isinstance(node, c_ast.TypeDecl):
            node.quals = keep(node.quals)
        node = getattr(node, "type", None)
    return decl


def _replace_ids(node: c_ast.Node, replacements: dict[str, tuple[str, str]]) -> None:
    """Replace each ID naming a hoisted variable by `pf_local.<member>.<name>`, in place."""
    for attribute in node.__slots__:
        if attribute in ("coord", "__weakref__") or \
                (isinstance(node, c_ast.StructRef) and attribute == "field") or \
                (isinstance(node, c_ast.NamedInitializer) and attribute == "name"):
            continue
        value = getattr(node, attribute, None)
        if isinstance(value, list):
            for i, element in enumerate(value):
                if isinstance(element, c_ast.Node):
                    value[i] = _replaced(element, replacements)
        elif isinstance(value, c_ast.Node):
            setattr(node, attribute, _replaced(value, replacements))


def _replaced(node: c_ast.Node, replacements) -> c_ast.Node:
    if isinstance(node, c_ast.ID) and node.name in replacements:
        member, name = replacements[node.name]
        union = c_ast.StructRef(c_ast.ID(LOCAL_UNION), ".", c_ast.ID(member), node.coord)
        return c_ast.StructRef(union, ".", c_ast.ID(name), node.coord)
    _replace_ids(node, replacements)
    return node
