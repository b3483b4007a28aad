"""OpenCL C text from a pycparserext tree: the stock OpenCLCGenerator with its known bugs fixed.

Fixed here (each has a regression test in tests/test_codegen.py):
- vector literals: `(float4)(1.0f, 2.0f, 3.0f, 4.0f)` came back as `(float4) ((1.0f, ...))`,
  the comma operator, so every lane silently became the last value;
- kernel attributes: `__attribute__((reqd_work_group_size(16, 1, 1)))` among a declaration's
  function specifiers crashed ("AttributeSpecifier found");
- pragmas at file scope were printed with a stray `;`;
- attributed structs (`struct __attribute__((packed)) {...}`) were printed as garbage.
Also: a chain of one operator (`x + x + ... + x`, `a && b && c`) keeps the flat form its author
wrote, and `else if` chains stay flat, instead of one more parenthesis or indentation per link:
a 2,000-term sum came back 2,000 parentheses deep, which crashed Intel's OpenCL compiler although
the kernel as written builds.

This subclasses pycparserext's generator and overrides methods of pycparser's; both versions are
pinned in pyproject.toml for that reason.
"""
from __future__ import annotations

from pycparser import c_ast
from pycparserext.ext_c_generator import OpenCLCGenerator


# Operators whose left-nested chains need no parentheses and draw no compiler warning:
# `a + b - c`, `a * b / c`, `a && b && c` (but `a && b || c` and `a < b < c` do warn).
_CHAINS = ({"+", "-"}, {"*", "/", "%"}, {"&&"}, {"||"}, {"&"}, {"|"}, {"^"}, {"<<"}, {">>"})


def _same_chain(inner: str, outer: str) -> bool:
    return any(inner in chain and outer in chain for chain in _CHAINS)


class Generator(OpenCLCGenerator):
    def visit_BinaryOp(self, n: c_ast.BinaryOp) -> str:
        if isinstance(n.left, c_ast.BinaryOp) and _same_chain(n.left.op, n.op):
            right = self._parenthesize_if(n.right, lambda d: not self._is_simple_node(d))
            return f"{self.visit(n.left)} {n.op} {right}"
        return super().visit_BinaryOp(n)

    def visit_If(self, n: c_ast.If) -> str:
        s = ""
        while True:
            s += "if (" + (self.visit(n.cond) if n.cond else "") + ")\n"
            s += self._generate_stmt(n.iftrue, add_indent=True)
            if n.iffalse is None:
                return s
            if not isinstance(n.iffalse, c_ast.If):
                s += self._make_indent() + "else\n"
                return s + self._generate_stmt(n.iffalse, add_indent=True)
            s += self._make_indent() + "else "
            n = n.iffalse

    def visit_Cast(self, n: c_ast.Cast) -> str:
        to_type = "(" + self._generate_type(n.to_type, emit_declname=False) + ")"
        if isinstance(n.expr, c_ast.ExprList):
            # An OpenCL vector literal: the parenthesised list is the literal's own syntax.
            return to_type + "(" + self.visit(n.expr) + ")"
        return to_type + " " + self._parenthesize_unless_simple(n.expr)

    def _generate_decl(self, n: c_ast.Decl) -> str:
        s = ""
        if n.funcspec:
            s = " ".join(self.visit(spec) if isinstance(spec, c_ast.Node) else spec
                         for spec in n.funcspec) + " "
        if n.storage:
            s += " ".join(n.storage) + " "
        if n.align:
            s += self.visit(n.align[0]) + " "
        s += self._generate_type(n.type)
        return s

    def visit_StructExt(self, n) -> str:
        # pycparserext's OpenCL generator has no visit_StructExt: its generic visit printed
        # `typedef struct __attribute__((packed)) {char a; int b;} P;` as `typedef char aint b P;`.
        text = self._generate_struct_union_enum(n, "struct")
        attribute = getattr(n, "attrib", None)
        if attribute is None or not attribute.exprlist.exprs:
            return text
        return "struct " + self.visit(attribute) + text[len("struct"):]

    def visit_Pragma(self, n: c_ast.Pragma) -> str:
        return "#pragma " + n.string

    def visit_FileAST(self, n: c_ast.FileAST) -> str:
        return "".join(self.item(ext) for ext in n.ext)

    def item(self, node: c_ast.Node) -> str:
        """One file-scope item (function, declaration, pragma) with its terminator."""
        if isinstance(node, c_ast.FuncDef):
            return self.visit(node)
        if isinstance(node, c_ast.Pragma):
            return self.visit(node) + "\n"
        return self.visit(node) + ";\n"


def to_source(node: c_ast.Node) -> str:
    return Generator().visit(node)


def item_source(node: c_ast.Node) -> str:
    return Generator().item(node)
