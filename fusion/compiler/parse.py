"""Stage 2, parse: one sub-kernel's preprocessed text into a ParsedKernel.

A ParsedKernel holds what the later stages need and nothing they would have to re-derive: the
kernel's definition, the file-scope items it uses (helpers, typedefs, structs, `__constant`
data) in source order, its parameters classified for binding, its extension pragmas and
program-wide build flags, and which work-item builtins, barriers and local memory it uses.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import re

from pycparser import c_ast
from pycparser.c_parser import Coord, ParseError
from pycparserext.ext_c_parser import AttributeSpecifier, FuncDeclExt, OpenCLCParser

from .. import dialect
from ..abi import RESERVED_PREFIX
from .codegen import to_source
from ..errors import Location, SourceError, UnsupportedError, source_line
from ..plan.layout import SubKernelNeeds
from . import attributes
from .lines import expanded_line, location_at
from .deep import DEPTH_MESSAGE, DepthError, deep
from .source import DeviceMacros, KernelSource, preprocess, split_options


@dataclasses.dataclass(frozen=True)
class Parameter:
    name: str
    kind: str                 # "buffer", "image", "sampler", "scalar" or "local"
    type_text: str            # the C type as declared, without the name
    base_type: str            # "float", "int2", "image2d_t", ... (pointee type for pointers)
    address_space: str | None
    access: str | None        # images: "read_only", "write_only" or "read_write"
    location: Location


@dataclasses.dataclass(frozen=True)
class ParsedKernel:
    kernel: KernelSource
    name: str
    definition: c_ast.FuncDef
    items: tuple[c_ast.Node, ...]           # file-scope items the kernel needs, source order
    parameters: tuple[Parameter, ...]
    extension_pragmas: tuple[str, ...]
    program_flags: tuple[str, ...]
    work_item_builtins: frozenset[str]       # used by the kernel or any helper it calls
    work_group_functions: frozenset[str]     # barrier() and friends
    local_declarations: tuple[c_ast.Decl, ...]
    required_local_size: tuple[int, int, int] | None
    location: Location
    dimension_reads: int | None = None

    @property
    def dimensions(self) -> int | None:
        """The work dimensions the kernel's code reads (1 + the largest constant dimension index
        given to a work-item builtin); None when an index is not a constant."""
        return self.dimension_reads

    @property
    def uses_local_memory(self) -> bool:
        return bool(self.local_declarations) or any(p.kind == "local" for p in self.parameters)

    @property
    def needs_real_work_groups(self) -> bool:
        """True when the kernel must run in hardware work-groups of exactly its own local size:
        its work-items meet at barriers or share local memory."""
        return bool(self.work_group_functions) or self.uses_local_memory

    @property
    def uses_work_groups(self) -> bool:
        """True when the kernel's result can depend on its local size at all."""
        return self.needs_real_work_groups or bool(self.work_item_builtins
                                                   & dialect.WORK_GROUP_BUILTINS)

    @property
    def needs(self) -> SubKernelNeeds:
        """What the planner needs to know of this kernel."""
        return SubKernelNeeds(self.name, self.needs_real_work_groups, self.uses_work_groups,
                              self.required_local_size)


def location_of(node: c_ast.Node, fallback: str = "<source>") -> Location:
    coord = getattr(node, "coord", None)
    if coord is None:
        return Location(fallback, 0, 0)
    return Location(coord.file or fallback, coord.line or 0, coord.column or 1)


class _LocatedParseError(ParseError):
    """pycparser's ParseError, with its Coord and message kept as fields."""

    def __init__(self, msg: str, coord):
        super().__init__(f"{coord}: {msg}")
        self.msg, self.coord = msg, coord


class _Parser(OpenCLCParser):
    """pycparserext's OpenCL parser, placing every syntax error at a token."""

    def _add_declaration_specifier(self, declspec, newspec, kind, append=False):
        # An attribute after a struct's closing brace belongs to the struct's type: put it on
        # the struct, which prints it (fusion/compiler/attributes.py); pycparserext would keep
        # it among the declaration's function specifiers, which a typedef drops.
        if kind == "function" and isinstance(newspec, AttributeSpecifier) and declspec:
            owner = attributes.follows_body(declspec, newspec)
            if isinstance(owner, c_ast.Struct):
                attributes.attach(declspec, owner, newspec)
                return declspec
            if owner is not None:
                return declspec  # a union's: left out, so that it is refused at its place
        return super()._add_declaration_specifier(declspec, newspec, kind, append)

    def _parse_error(self, msg, coord):
        if not isinstance(coord, Coord):
            tok = self._peek()
            coord = self._tok_coord(tok) if tok is not None else coord
        raise _LocatedParseError(msg, coord)


_LOCATED_MESSAGE = re.compile(r"^(?P<file>.*?):(?P<line>\d+)(?::(?P<col>\d+))?: (?P<msg>.*)$", re.S)
# `__attribute__((opencl_unroll_hint(N)))` before a loop does not parse; `#pragma unroll N` does.
_UNROLL_HINT = re.compile(r"__attribute__\s*\(\(\s*opencl_unroll_hint\s*(?:\(\s*(\d*)\s*\))?\s*\)\)")


def _unroll_hints_as_pragmas(text: str, filename: str) -> str:
    """`__attribute__((opencl_unroll_hint(N)))` -> `#pragma unroll N` on a line of its own,
    followed by a `#line` marker so that every later token keeps its line and column."""
    def replace(match: re.Match) -> str:
        end = location_at(text, match.end(), filename)
        return (f"\n#pragma unroll {match[1] or ''}\n#line {end.line} \"{end.file}\"\n"
                + " " * (end.column - 1))
    return _UNROLL_HINT.sub(replace, text)


@functools.lru_cache(maxsize=256)
def _parse_text(text: str, filename: str) -> c_ast.FileAST:
    return _Parser().parse(_unroll_hints_as_pragmas(text, filename), filename=filename)


def _check_attributes_kept(kernel: KernelSource, text: str, unit: c_ast.FileAST) -> None:
    lost = attributes.lost_attribute(_unroll_hints_as_pragmas(text, kernel.display_name),
                                     kernel.display_name, unit)
    if lost is not None:
        raise UnsupportedError("an attribute in this position would be lost by the parser "
                               "(pycparserext), so it cannot be fused; on a struct, write it "
                               "after 'struct' or after the closing brace", lost,
                               source_text=_text_for(kernel, lost))


def parse_translation_unit(kernel: KernelSource,
                           device_macros: DeviceMacros | None = None) -> c_ast.FileAST:
    """Preprocess and parse a kernel's whole source file. The tree is shared (cached): never
    change it; passes copy what they transform."""
    text = preprocess(kernel, device_macros)
    try:
        unit = _parse_text(text, kernel.display_name)
    except _LocatedParseError as error:
        if isinstance(error.coord, Coord):
            location = location_of(error, kernel.display_name)
        else:
            location = Location(kernel.display_name, 0, 0)
        message = error.msg
    except ParseError as error:  # raised by pycparser without a coord: its text is all there is
        match = _LOCATED_MESSAGE.match(str(error))
        if not match:
            raise SourceError(f"syntax error: {error}", Location(kernel.display_name, 0, 0)) from None
        location = Location(match["file"], int(match["line"]), int(match["col"] or 1))
        message = match["msg"]
    else:
        _check_attributes_kept(kernel, text, unit)
        return unit
    if message.startswith("before:"):
        message = f"syntax error {message}"
    location, message = _in_macro_expansion(kernel, text, location, message)
    raise SourceError(message, location, source_text=_text_for(kernel, location))


def _in_macro_expansion(kernel: KernelSource, text: str, location: Location,
                        message: str) -> tuple[Location, str]:
    """An error inside a macro's expansion is reported by the parser at a column of the
    expanded line, which the line as written may not even have: point at the invocation (where
    the written and the expanded line part), and show the expanded text near the error."""
    written = source_line(location, _text_for(kernel, location))
    expanded = expanded_line(_unroll_hints_as_pragmas(text, kernel.display_name), location,
                             kernel.display_name)
    column = location.column - 1
    if written is None or expanded is None or \
            written[column:].rstrip() == expanded[column:].rstrip():
        return location, message
    start = len(os.path.commonprefix([written, expanded]))
    while start > 0 and (written[start - 1].isalnum() or written[start - 1] == "_"):
        start -= 1  # to the start of the macro's name
    fragment = expanded[max(column - 40, 0):column + 20].strip()
    return (Location(location.file, location.line, start + 1),
            f"{message} (in a macro expansion, near: {fragment})")


def _text_for(kernel: KernelSource, location: Location) -> str | None:
    return kernel.source if location.file == kernel.display_name else None


def is_kernel(node: c_ast.Node) -> bool:
    return (isinstance(node, c_ast.FuncDef)
            and any(isinstance(spec, str) and spec in dialect.KERNEL_QUALIFIERS
                    for spec in node.decl.funcspec))


def declared_names(item: c_ast.Node) -> set[str]:
    """The file-scope names an item declares: functions, variables, typedefs, struct/union/enum
    tags and enumerators."""
    names: set[str] = set()
    decl = item.decl if isinstance(item, c_ast.FuncDef) else item
    if isinstance(decl, (c_ast.Decl, c_ast.Typedef)) and decl.name:
        names.add(decl.name)
    for node in _walk(decl.type if hasattr(decl, "type") else decl):
        if isinstance(node, (c_ast.Struct, c_ast.Union, c_ast.Enum)) and node.name and \
                _defines_body(node):
            names.add(node.name)
        elif isinstance(node, c_ast.Enumerator):
            names.add(node.name)
    return names


def _defines_body(node) -> bool:
    return (node.values if isinstance(node, c_ast.Enum) else node.decls) is not None


def referenced_names(node: c_ast.Node) -> set[str]:
    """Every identifier, type name and tag a subtree mentions (a superset of what it uses).
    Struct member names (`p.gain`, `.gain = 1`) and vector swizzles (`v.xy`) are not names of
    anything at file scope, so they are left out."""
    names: set[str] = set()
    nodes = list(_walk(node))
    members = {id(child.field) for child in nodes if isinstance(child, c_ast.StructRef)}
    members |= {id(designator) for child in nodes if isinstance(child, c_ast.NamedInitializer)
                for designator in child.name if isinstance(designator, c_ast.ID)}
    for child in nodes:
        if isinstance(child, c_ast.ID) and id(child) not in members:
            names.add(child.name)
        elif isinstance(child, c_ast.IdentifierType):
            names.update(child.names)
        elif isinstance(child, (c_ast.Struct, c_ast.Union, c_ast.Enum)) and child.name:
            names.add(child.name)
    return names


def _walk(node: c_ast.Node):
    stack = [node]
    while stack:
        current = stack.pop()
        if current is None:
            continue
        yield current
        if isinstance(current, c_ast.Node):
            stack.extend(child for _, child in current.children())
        if isinstance(current, c_ast.Decl):
            # pycparserext keeps attributes in funcspec, outside children().
            stack.extend(spec for spec in current.funcspec if isinstance(spec, c_ast.Node))


def clone(node):
    """A deep copy of a subtree, several times faster than copy.deepcopy: nodes and lists are
    copied, everything else (strings, coordinates) is shared, as passes never change those."""
    if isinstance(node, c_ast.Node):
        cls = type(node)
        copied = cls.__new__(cls)
        for name in _slot_names(cls):
            if hasattr(node, name):
                setattr(copied, name, clone(getattr(node, name)))
        if hasattr(node, "__dict__"):
            copied.__dict__.update({k: clone(v) for k, v in node.__dict__.items()})
        return copied
    if isinstance(node, list):
        return [clone(element) for element in node]
    return node


@functools.lru_cache(maxsize=None)
def _slot_names(cls) -> tuple[str, ...]:
    return tuple(name for klass in cls.__mro__ for name in getattr(klass, "__slots__", ())
                 if name != "__weakref__")


def calls(node: c_ast.Node):
    """(name, call node) for every direct call by name in a subtree."""
    for child in _walk(node):
        if isinstance(child, c_ast.FuncCall) and isinstance(child.name, c_ast.ID):
            yield child.name.name, child


@functools.lru_cache(maxsize=512)
def parse_kernel(kernel: KernelSource, device_macros: DeviceMacros | None = None) -> ParsedKernel:
    """Parse one sub-kernel: find it in its (preprocessed) file and collect what fusion needs.
    Cached per KernelSource (text, name, options, file name) and device macros (the target's
    compiler-defined macros, (name, value) pairs, where known: fusion.compiler.source.preprocess);
    the result is shared: never change it. Deep kernels get the room they need
    (fusion/compiler/deep.py); deeper than that is a DepthError at the kernel."""
    try:
        return _parse_kernel(kernel, device_macros)
    except (DepthError, RecursionError):  # RecursionError: inside a deep call (generate's)
        location = _kernel_location(kernel)
        raise DepthError(DEPTH_MESSAGE, location, source_text=_text_for(kernel, location)) from None


def _kernel_location(kernel: KernelSource) -> Location:
    """Where the kernel's name is defined in its own text (found without parsing)."""
    match = re.search(rf"\b(?:__)?kernel\b[^;{{}}]*?\b({re.escape(kernel.name)})\s*\(",
                      kernel.source)
    if match is None:
        return Location(kernel.display_name, 1, 1)
    line = kernel.source.count("\n", 0, match.start(1)) + 1
    column = match.start(1) - (kernel.source.rfind("\n", 0, match.start(1)) + 1) + 1
    return Location(kernel.display_name, line, column)


@deep
def _parse_kernel(kernel: KernelSource, device_macros: DeviceMacros | None) -> ParsedKernel:
    unit = parse_translation_unit(kernel, device_macros)
    kernels = [ext for ext in unit.ext if is_kernel(ext)]
    matches = [ext for ext in kernels if ext.decl.name == kernel.name]
    if not matches:
        found = ", ".join(sorted({k.decl.name for k in kernels})) or "none"
        raise SourceError(f"{kernel.display_name}: no kernel named '{kernel.name}' "
                          f"(kernels found: {found})")
    definition = matches[-1]
    items = _needed_items(unit, definition)
    functions = {item.decl.name: item for item in items if isinstance(item, c_ast.FuncDef)}
    bodies = [definition, *functions.values()]
    other_kernels = {k.decl.name for k in kernels if k is not definition}
    for body in bodies:
        for name, call in calls(body):
            if name in other_kernels:
                raise _unsupported(kernel, call, f"kernel '{kernel.name}' calls the kernel "
                                                 f"'{name}'; only non-kernel helper functions "
                                                 "can be fused")
    _check_recursion(kernel, definition, functions)
    builtins, group_functions = set(), set()
    dimensions: int | None = 1
    for body in bodies:
        # function bodies only: attributes (`intel_reqd_sub_group_size(16)`) are no calls
        for name, call in calls(body.body):
            if name in dialect.WORK_ITEM_BUILTINS:
                builtins.add(name)
                if dialect.WORK_ITEM_BUILTINS[name].per_dim and dimensions is not None:
                    index = _constant_index(call)
                    dimensions = None if index is None else max(dimensions, min(index, 2) + 1)
            elif name in dialect.WORK_GROUP_FUNCTIONS:
                group_functions.add(name)
            elif name not in functions and (
                    name in dialect.UNSUPPORTED_BUILTINS or
                    name.startswith(dialect.UNSUPPORTED_PREFIXES) or
                    any(part in name for part in dialect.UNSUPPORTED_PARTS)):
                raise _unsupported(kernel, call, f"'{name}' is not supported in a fused kernel "
                                                 "(it depends on the hardware work-group or device)")
    for node in [*items, definition]:
        _check_reserved_names(kernel, node)
    return ParsedKernel(
        kernel=kernel,
        name=kernel.name,
        definition=definition,
        items=tuple(item for item in items if item is not definition),
        parameters=tuple(_parameter(kernel, decl) for decl in _parameter_decls(definition)),
        extension_pragmas=tuple(_extension_pragmas(unit)),
        program_flags=split_options(kernel.options).program_flags,
        work_item_builtins=frozenset(builtins),
        work_group_functions=frozenset(group_functions),
        local_declarations=tuple(_local_declarations(definition.body)),
        required_local_size=_required_local_size(definition),
        location=location_of(definition.decl, kernel.display_name),
        dimension_reads=dimensions,
    )


def _constant_index(call: c_ast.FuncCall) -> int | None:
    args = call.args.exprs if call.args is not None else []
    if len(args) == 1 and isinstance(args[0], c_ast.Constant) and args[0].type in ("int", "unsigned int"):
        try:
            return int(args[0].value.rstrip("uUlL"), 0)
        except ValueError:
            return None
    return None


def _unsupported(kernel: KernelSource, node: c_ast.Node, message: str) -> UnsupportedError:
    location = location_of(node, kernel.display_name)
    return UnsupportedError(message, location, source_text=_text_for(kernel, location))


def _needed_items(unit: c_ast.FileAST, definition: c_ast.FuncDef) -> list[c_ast.Node]:
    """The file-scope items a kernel needs, transitively, in source order (definition included)."""
    by_name: dict[str, list[int]] = {}
    # Other kernels are never needed: a call to one is refused by the caller, and a parameter or
    # local variable named like one (`scale` in a kernel `scale`) is not a use of it.
    items = [ext for ext in unit.ext if not isinstance(ext, c_ast.Pragma)
             and (ext is definition or not is_kernel(ext))]
    for index, item in enumerate(items):
        for name in declared_names(item):
            by_name.setdefault(name, []).append(index)
    needed: set[int] = set()
    pending = [definition]
    while pending:
        for name in referenced_names(pending.pop()):
            for index in by_name.get(name, ()):
                if index not in needed:
                    needed.add(index)
                    pending.append(items[index])
    # A function prototype is dropped when its definition is there: items are emitted in an
    # order where every definition precedes its uses (no recursion in OpenCL C).
    defined = {items[i].decl.name for i in needed if isinstance(items[i], c_ast.FuncDef)}
    return [items[i] for i in sorted(needed)
            if not (_is_prototype(items[i]) and items[i].name in defined)]


def _is_prototype(item: c_ast.Node) -> bool:
    return isinstance(item, c_ast.Decl) and isinstance(item.type, (c_ast.FuncDecl, FuncDeclExt))


def _check_recursion(kernel: KernelSource, definition: c_ast.FuncDef,
                     functions: dict[str, c_ast.FuncDef]) -> None:
    state: dict[str, str] = {}

    def visit(function: c_ast.FuncDef) -> None:
        state[function.decl.name] = "open"
        for name, call in calls(function):
            if name not in functions:
                continue
            if state.get(name) == "open":
                raise _unsupported(kernel, call, f"recursive call to '{name}' "
                                                 "(OpenCL C does not allow recursion)")
            if name not in state:
                visit(functions[name])
        state[function.decl.name] = "done"

    visit(definition)


def _check_reserved_names(kernel: KernelSource, node: c_ast.Node) -> None:
    offenders = []
    for child in _walk(node):
        name = None
        if isinstance(child, c_ast.ID):
            name = child.name
        elif isinstance(child, (c_ast.Decl, c_ast.TypeDecl)):
            name = getattr(child, "name", None) or getattr(child, "declname", None)
        if name and name.startswith(RESERVED_PREFIX):
            offenders.append((name, child))
    if offenders:
        # Report the first occurrence in the source (usually the declaration), not whichever
        # the tree walk happened to meet first.
        def position(offender):
            location = location_of(offender[1], kernel.display_name)
            return location.line, location.column
        name, child = min(offenders, key=position)
        raise _unsupported(kernel, child, f"the identifier '{name}' uses the prefix "
                                          f"'{RESERVED_PREFIX}' reserved for fused code")


def _parameter_decls(definition: c_ast.FuncDef) -> list[c_ast.Decl]:
    params = definition.decl.type.args
    if params is None:
        return []
    decls = [p for p in params.params if isinstance(p, c_ast.Decl)]
    # `void k(void)` declares no parameter.
    if len(decls) == 1 and decls[0].name is None:
        return []
    return decls


def _parameter(kernel: KernelSource, decl: c_ast.Decl) -> Parameter:
    quals = list(decl.quals)
    node = decl.type
    pointer = isinstance(node, c_ast.PtrDecl)
    while isinstance(node, (c_ast.PtrDecl, c_ast.ArrayDecl)):
        node = node.type
    if isinstance(node, c_ast.TypeDecl):
        quals += node.quals
    address_space = next((dialect.ADDRESS_SPACES[q] for q in quals if q in dialect.ADDRESS_SPACES), None)
    access = next((dialect.ACCESS_QUALIFIERS[q] for q in quals if q in dialect.ACCESS_QUALIFIERS), None)
    inner = node.type if isinstance(node, c_ast.TypeDecl) else node
    if isinstance(inner, c_ast.IdentifierType):
        base_type = " ".join(inner.names)
    else:
        base_type = to_source(inner)
    if pointer:
        kind = "local" if address_space == "local" else "buffer"
    elif base_type in dialect.IMAGE_TYPES:
        kind = "image"
        access = access or "read_only"
    elif base_type == "sampler_t":
        kind = "sampler"
    else:
        kind = "scalar"
    type_decl = c_ast.Decl(None, decl.quals, decl.align, decl.storage, decl.funcspec,
                           _without_name(decl.type), None, None)
    return Parameter(decl.name, kind, to_source(type_decl).strip(), base_type, address_space,
                     access, location_of(decl, kernel.display_name))


def _without_name(node: c_ast.Node) -> c_ast.Node:
    node = clone(node)
    for child in _walk(node):
        if isinstance(child, c_ast.TypeDecl):
            child.declname = None
    return node


def _extension_pragmas(unit: c_ast.FileAST):
    for ext in unit.ext:
        if isinstance(ext, c_ast.Pragma) and ext.string.split()[:2] == ["OPENCL", "EXTENSION"]:
            yield ext.string


def is_local_object(decl: c_ast.Decl) -> bool:
    """A variable that lives in __local memory: `__local float tile[16]`, not a private pointer
    to local memory (`__local float4 *p = tile + offset;`, whose __local is the pointee's)."""
    if isinstance(decl.type, c_ast.PtrDecl):
        return any(dialect.ADDRESS_SPACES.get(q) == "local" for q in decl.type.quals)
    return any(dialect.ADDRESS_SPACES.get(q) == "local" for q in decl.quals)


def _local_declarations(body: c_ast.Node) -> list[c_ast.Decl]:
    return [node for node in _walk(body) if isinstance(node, c_ast.Decl) and is_local_object(node)]


def _required_local_size(definition: c_ast.FuncDef) -> tuple[int, int, int] | None:
    for node in _walk(definition.decl):
        if isinstance(node, c_ast.FuncCall) and isinstance(node.name, c_ast.ID) and \
                node.name.name == "reqd_work_group_size" and node.args is not None:
            values = [int(str(arg.value).rstrip("uUlL"), 0) for arg in node.args.exprs
                      if isinstance(arg, c_ast.Constant)]
            if len(values) == 3:
                return tuple(values)
    return None
