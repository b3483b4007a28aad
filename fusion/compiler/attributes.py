"""GNU attributes (`__attribute__((...))`): kept wherever the kernel wrote them, or refused.

pycparserext keeps most attributes in its tree, but two positions are lost on the way:
an attribute after a struct's closing brace in a typedef,

    typedef struct { char a; int b; } __attribute__((packed)) Q;     (dropped: sizeof(Q) changes)

and the attribute in `struct __attribute__((packed)) {...}`, which its OpenCL generator cannot
print (it printed `typedef char aint b P;`). Here an attribute that follows a struct's body is
moved onto the struct (where GCC and clang apply it too), and the struct prints it after the
keyword: `typedef struct __attribute__((packed)) {...} Q;`. pycparserext has no attributed
union, so one after a union's body is left out of the tree, to be refused below (kept among the
declaration's specifiers it would print before `union`, where compilers ignore it).

Whatever the parser still loses is refused, never dropped: every attribute of the preprocessed
text must be found in the tree (matched by the position of each attribute's name), or the
kernel is an UnsupportedError at the lost attribute.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from pycparser import c_ast
from pycparserext.ext_c_parser import AttributeSpecifier, StructExt

from ..errors import Location
from .lines import location_at

_ATTRIBUTE = re.compile(r"\b__attribute(?:__)?\s*\(\s*\(")


def follows_body(spec: dict, attribute: AttributeSpecifier) -> c_ast.Struct | c_ast.Union | None:
    """The struct or union with a body that this declaration-specifier attribute follows, if
    any: the attribute then belongs to its type (GCC: "an attribute after the closing brace
    applies to the type")."""
    position = _position(attribute)
    for node in spec.get("type", ()):
        if (isinstance(node, (c_ast.Struct, c_ast.Union)) and node.decls is not None
                and position is not None and node.coord is not None
                and position > (node.coord.line, node.coord.column)):
            return node
    return None


def attach(spec: dict, struct: c_ast.Struct, attribute: AttributeSpecifier) -> None:
    """Put the attribute on the struct (a StructExt, which holds attributes)."""
    if not isinstance(struct, StructExt):
        extended = StructExt.from_pycparser(struct)
        extended.attrib = None
        spec["type"][spec["type"].index(struct)] = extended
        struct = extended
    if getattr(struct, "attrib", None) is None:
        struct.attrib = AttributeSpecifier(c_ast.ExprList([], attribute.exprlist.coord))
    struct.attrib.exprlist.exprs.extend(attribute.exprlist.exprs)


def _position(attribute: AttributeSpecifier) -> tuple[int, int] | None:
    exprs = attribute.exprlist.exprs if attribute.exprlist is not None else []
    coord = exprs[0].coord if exprs else attribute.exprlist.coord
    return (coord.line, coord.column) if coord is not None else None


def lost_attribute(text: str, filename: str, unit: c_ast.FileAST) -> Location | None:
    """Where the first attribute of `text` (preprocessed, with #line markers) that the parsed
    tree does not hold is, or None when the tree holds every one."""
    kept = set(_tree_positions(unit))
    for location in _text_positions(text, filename):
        if (location.file, location.line, location.column) not in kept:
            return location
    return None


def _tree_positions(unit: c_ast.FileAST) -> Iterator[tuple[str, int, int]]:
    for node in _every_node(unit):
        lists = []
        if isinstance(node, AttributeSpecifier):
            lists.append(node.exprlist)
        attributes = getattr(node, "attributes", None)
        if isinstance(attributes, c_ast.ExprList):
            lists.append(attributes)
        for exprlist in lists:
            for expr in exprlist.exprs if exprlist is not None else ():
                if expr.coord is not None and not (isinstance(expr, c_ast.ID) and not expr.name):
                    yield expr.coord.file, expr.coord.line, expr.coord.column


def _every_node(root: c_ast.Node) -> Iterator[c_ast.Node]:
    """Every node reachable through any field (pycparserext keeps attributes outside
    children()), iteratively."""
    stack, seen = [root], set()
    while stack:
        current = stack.pop()
        if isinstance(current, list):
            stack.extend(current)
            continue
        if not isinstance(current, c_ast.Node) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        fields = [getattr(current, name, None) for klass in type(current).__mro__
                  for name in getattr(klass, "__slots__", ()) if name != "__weakref__"]
        fields += list(getattr(current, "__dict__", {}).values())
        stack.extend(f for f in fields if isinstance(f, (c_ast.Node, list)))


def _text_positions(text: str, filename: str) -> Iterator[Location]:
    """The position of each attribute's name in `text`, as the parser's coordinates count."""
    for match in _ATTRIBUTE.finditer(text):
        for offset in _item_offsets(text, match.end()):
            yield location_at(text, offset, filename)


def _item_offsets(text: str, start: int) -> Iterator[int]:
    """Offsets of the names of the comma-separated items inside `__attribute__((` ... `))`."""
    depth, item_start, i = 0, start, start
    while i < len(text):
        char = text[i]
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                break
            depth -= 1
        if depth == 0 and char == ",":
            yield from _name_offset(text, item_start, i)
            item_start = i + 1
        i += 1
    yield from _name_offset(text, item_start, i)


def _name_offset(text: str, start: int, end: int) -> Iterator[int]:
    stripped = len(text[start:end]) - len(text[start:end].lstrip())
    if text[start:end].strip():
        yield start + stripped
