"""Stage 3, rename: make the sub-kernels' names coexist in one program, renaming only collisions.

Every sub-kernel keeps the names it was written with, except where two of them would clash in the
fused program:
- file-scope items (helpers, typedefs, structs, `__constant` data) with the same text are shared;
  the same name with a different text (e.g. a helper built with other `-D` values) is renamed in
  the later sub-kernel, everywhere that sub-kernel mentions it;
- a parameter is renamed when its name is a parameter of another sub-kernel, a file-scope name of
  the fused program, or any identifier another sub-kernel's body mentions (a parameter of the
  fused kernel is visible in every body, and would shadow what that body meant).

Before:  kernel A: `float act(float x) { return max(x, 0.0f); }`  `void a(__global float* out)`
         kernel B: `float act(float x) { return x; }`              `void b(__global float* out)`
After:   `float act(...)` (A's), `float act_1(...)` (B's, B's calls renamed), parameters
         `out` (A) and `out_1` (B).
"""
from __future__ import annotations

import dataclasses

from pycparser import c_ast

from .codegen import item_source
from .parse import ParsedKernel, clone, declared_names, referenced_names


@dataclasses.dataclass(frozen=True)
class RenamedKernel:
    parsed: ParsedKernel
    definition: c_ast.FuncDef            # a renamed copy of the kernel function
    parameter_names: tuple[str, ...]     # the parameters' names in the fused kernel
    renames: dict[str, str]              # original name -> fused name, for this sub-kernel


@dataclasses.dataclass(frozen=True)
class RenamedProgram:
    items: tuple[c_ast.Node, ...]        # shared file-scope items, each defined before its uses
    kernels: tuple[RenamedKernel, ...]


class Renamer(c_ast.NodeVisitor):
    """Renames, in place, every place a name lives: identifiers, declarations, type names,
    struct/union/enum tags and enumerators; never struct members or designators."""

    def __init__(self, mapping: dict[str, str]):
        self.mapping = mapping
        self._member_depth = 0

    def _new(self, name):
        return self.mapping.get(name, name) if name else name

    def visit_ID(self, node):
        node.name = self._new(node.name)

    def visit_StructRef(self, node):
        self.visit(node.name)  # node.field is a member (or a vector swizzle), not a name

    def visit_NamedInitializer(self, node):
        for designator in node.name:
            if not isinstance(designator, c_ast.ID):  # [index] designators are expressions
                self.visit(designator)
        self.visit(node.expr)

    def visit_Decl(self, node):
        if not self._member_depth:
            node.name = self._new(node.name)
        for spec in node.funcspec:
            if isinstance(spec, c_ast.Node):
                self.visit(spec)
        for child in (node.type, node.init, node.bitsize):
            if child is not None:
                self.visit(child)

    def visit_TypeDecl(self, node):
        if not self._member_depth:
            node.declname = self._new(node.declname)
        self.visit(node.type)

    def visit_TypeDeclExt(self, node):  # an attributed declaration (pycparserext)
        self.visit_TypeDecl(node)

    def visit_Typedef(self, node):
        node.name = self._new(node.name)
        self.visit(node.type)

    def visit_IdentifierType(self, node):
        node.names = [self._new(name) for name in node.names]

    def _visit_aggregate(self, node):
        node.name = self._new(node.name)
        for member in node.decls or ():
            self._member_depth += 1
            self.visit(member)
            self._member_depth -= 1

    visit_Struct = _visit_aggregate
    visit_Union = _visit_aggregate
    # pycparserext's attributed struct (fusion/compiler/attributes.py): the visitor dispatches
    # on the class name, so without this an attributed struct's tag kept its name while every
    # use of it was renamed (two kernels' `struct __attribute__((aligned(64))) T` collided)
    visit_StructExt = _visit_aggregate

    def visit_Enum(self, node):
        node.name = self._new(node.name)
        if node.values is not None:
            self.visit(node.values)

    def visit_Enumerator(self, node):
        node.name = self._new(node.name)
        if node.value is not None:
            self.visit(node.value)

    def visit_FuncDecl(self, node):
        # Parameters of a helper's prototype are not members even inside a struct.
        depth, self._member_depth = self._member_depth, 0
        self.generic_visit(node)
        self._member_depth = depth

    def visit_FuncDeclExt(self, node):
        self.visit_FuncDecl(node)


def renamed(node: c_ast.Node, mapping: dict[str, str]) -> c_ast.Node:
    """A renamed deep copy of a subtree; the original is left alone."""
    node = clone(node)
    if mapping:
        Renamer(mapping).visit(node)
    return node


def rename(kernels: list[ParsedKernel]) -> RenamedProgram:
    """Give every sub-kernel collision-free names in one fused program (see module docstring)."""
    used = set()  # every name in the input: fresh names must avoid all of them
    for kernel in kernels:
        used |= referenced_names(kernel.definition)
        for item in kernel.items:
            used |= referenced_names(item) | declared_names(item)

    def fresh(name: str, index: int) -> str:
        candidate, n = f"{name}_{index}", 0
        while candidate in used:
            n += 1
            candidate = f"{name}_{index}_{n}"
        used.add(candidate)
        return candidate

    original_parameters = [{p.name for p in k.parameters} for k in kernels]
    emitted: list[c_ast.Node] = []
    emitted_texts: set[str] = set()
    owner_text: dict[str, str] = {}      # file-scope name -> text of the item declaring it
    renames: list[dict[str, str]] = []
    for index, kernel in enumerate(kernels):
        mapping: dict[str, str] = {}
        other_parameters = set().union(*(p for i, p in enumerate(original_parameters) if i != index))
        for item in _dependency_order(kernel.items):
            candidate = renamed(item, mapping)
            text = item_source(candidate)
            if text in emitted_texts:
                continue  # the same item, already in the program: share it
            names = declared_names(item)
            clashes = {name for name in names
                       if (name in owner_text and owner_text[name] != text)
                       or name in other_parameters}
            if clashes:
                mapping.update({name: fresh(name, index) for name in sorted(clashes)})
                candidate = renamed(item, mapping)
                text = item_source(candidate)
            for name in declared_names(candidate):
                owner_text.setdefault(name, text)
            emitted.append(candidate)
            emitted_texts.add(text)
        renames.append(mapping)

    file_scope_names = set(owner_text)
    # What another body could mean by a name other than its own parameters and locals: a
    # builtin function, say. A parameter of that name would shadow it there.
    # Bodies as they will be emitted (file-scope renames applied): a name renamed away there
    # no longer clashes with another kernel's parameter.
    bodies = [renamed(k.definition.body, renames[i]) for i, k in enumerate(kernels)]
    body_names = [referenced_names(body) - original_parameters[i] - _local_names(body)
                  for i, body in enumerate(bodies)]
    result, taken_parameters = [], set()
    for index, kernel in enumerate(kernels):
        mapping = dict(renames[index])
        others = set().union(*(n for i, n in enumerate(body_names) if i != index))
        for parameter in kernel.parameters:
            name = parameter.name
            if name in taken_parameters or name in file_scope_names or name in others:
                mapping[name] = fresh(name, index)
            taken_parameters.add(mapping.get(name, name))
        definition = renamed(kernel.definition, mapping)
        names = tuple(mapping.get(p.name, p.name) for p in kernel.parameters)
        result.append(RenamedKernel(kernel, definition, names, mapping))
    return RenamedProgram(tuple(emitted), tuple(result))


def _local_names(body: c_ast.Node) -> set[str]:
    finder = _DeclaredNames()
    finder.visit(body)
    return finder.names


class _DeclaredNames(c_ast.NodeVisitor):
    def __init__(self):
        self.names = set()

    def visit_Decl(self, node):
        if node.name:
            self.names.add(node.name)
        self.generic_visit(node)


def _dependency_order(items) -> list[c_ast.Node]:
    """Items ordered so that each comes after the items it mentions (stable: source order
    otherwise). OpenCL C has no recursion, so the references form a DAG (self-references of a
    struct through a pointer are ignored)."""
    items = list(items)
    declaring = {}
    for index, item in enumerate(items):
        for name in declared_names(item):
            declaring.setdefault(name, index)
    needs = [{declaring[n] for n in referenced_names(item) if n in declaring} - {i}
             for i, item in enumerate(items)]
    order, placed = [], set()

    def place(i, trail=()):
        if i in placed or i in trail:
            return
        for j in sorted(needs[i]):
            place(j, trail + (i,))
        placed.add(i)
        order.append(items[i])

    for i in range(len(items)):
        place(i)
    return order


