"""Stage 1, source: a kernel's text, its name and its own build options, preprocessed alone.

Every sub-kernel is preprocessed with *its own* `-D`/`-I` options, because two kernels of one
fused program may define the same macro differently (MNN's FLOAT4, say). Options that are not
preprocessor options (`-cl-fast-relaxed-math`, `-cl-std=...`) apply to a whole program; they are
kept apart so that the fused build can check that its sub-kernels agree on them.
"""
from __future__ import annotations

import dataclasses
import functools
import io
import os
import re
import shlex
from collections.abc import Sequence

import pcpp.parser as pcpp_rules
from pcpp import Preprocessor
from ply import lex  # the copy pcpp brings and builds its lexer with

from .. import dialect
from ..errors import Location, SourceError, UnsupportedError


@dataclasses.dataclass(frozen=True)
class KernelSource:
    """One kernel to fuse: OpenCL C text, the kernel's name, and its build options."""

    source: str
    name: str
    options: Sequence[str] = ()
    filename: str | None = None

    def __post_init__(self):
        # Options may be given as one string ("-DRELU -DBIAS") or as a sequence of them.
        options = self.options
        if isinstance(options, str):
            options = (options,)
        split = tuple(word for option in options for word in shlex.split(option))
        object.__setattr__(self, "options", split)

    @classmethod
    def from_file(cls, path: str | os.PathLike, name: str, options: Sequence[str] = ()) -> "KernelSource":
        """SourceError when the file cannot be read or is not UTF-8 text."""
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as error:
            raise SourceError(f"{os.fspath(path)}: cannot read it ({error.strerror})") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            line = data.count(b"\n", 0, error.start) + 1
            column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
            raise SourceError(f"not UTF-8 text (byte 0x{data[error.start]:02x})",
                              Location(os.fspath(path), line, column)) from None
        return cls(text, name, options, filename=os.fspath(path))

    @classmethod
    def from_spec(cls, text: str) -> "KernelSource":
        """FILE:NAME[:OPTIONS], as the command line takes it (fusion/ops/kernels/conv2d_1x1.cl:
        conv2d_1x1:-DRELU); SourceError when it is malformed or the file cannot be read."""
        parts = text.split(":", 2)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise SourceError(f"expected FILE:NAME[:OPTIONS], got '{text}'")
        path, name = parts[0], parts[1]
        options = parts[2] if len(parts) == 3 else ""
        return cls.from_file(path, name, [options] if options else [])

    @property
    def display_name(self) -> str:
        return self.filename or "<source>"


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    """A sub-kernel's options split into preprocessing (per kernel) and program-wide flags."""

    defines: tuple[tuple[str, str | None], ...]
    undefines: tuple[str, ...]
    include_dirs: tuple[str, ...]
    program_flags: tuple[str, ...]


def split_options(options: Sequence[str]) -> BuildOptions:
    """Sort build options into `-D`, `-U`, `-I` (preprocessing) and the rest (program flags)."""
    defines, undefines, include_dirs, program_flags = [], [], [], []
    targets = dict(zip(dialect.PREPROCESSOR_OPTIONS, (defines, undefines, include_dirs)))
    words = list(options)
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if dialect.is_program_flag(word):
            program_flags.append(word)
            continue
        prefix, value = word[:2], word[2:]
        if not value and i < len(words):  # "-D NAME" written as two words
            value, i = words[i], i + 1
        if prefix == "-D":
            name, eq, definition = value.partition("=")
            defines.append((name, definition if eq else None))
        else:
            targets[prefix].append(value)
    return BuildOptions(tuple(defines), tuple(undefines), tuple(include_dirs), tuple(program_flags))


class _Rules:
    """pcpp's token rules, with C's preprocessing numbers (C11 6.4.8): `2Input` is one token.
    pcpp lexes it as the integer 2 and the identifier Input, so `DO##n##a` with n = 2Input
    pasted DO2 and InputAxis0 and never re-scanned DO2InputAxis0 as the macro it names
    (Paddle-Lite's concat kernels are written so; device compilers expand it)."""

    tokens = pcpp_rules.tokens
    literals = pcpp_rules.literals

    @staticmethod
    def t_CPP_INTEGER(t):
        r"\.?\d(?:[eEpP][+-]|[0-9A-Za-z_.])*"
        if not _INTEGER.fullmatch(t.value):
            t.type = "CPP_FLOAT"  # any other pp-number: a float, or no number at all
        return t


_INTEGER = re.compile(r"((0[xX][0-9a-fA-F]+)|(\d+))([uU][lL]|[lL][uU]|[uU]|[lL])?")
for _name in dir(pcpp_rules):
    if _name.startswith("t_") and _name not in ("t_CPP_INTEGER", "t_CPP_FLOAT"):
        _rule = getattr(pcpp_rules, _name)
        setattr(_Rules, _name, staticmethod(_rule) if callable(_rule) else _rule)


@functools.lru_cache(maxsize=1)
def _base_lexer():
    return lex.lex(object=_Rules(), optimize=True, lextab=None)


class _Preprocessor(Preprocessor):
    """pcpp, with errors collected (pcpp prints them and carries on), pragmas passed through and
    preprocessing numbers lexed as C lexes them."""

    def __init__(self, filename: str):
        super().__init__(lexer=_base_lexer().clone())
        self.filename = filename
        self.errors: list[tuple[Location, str]] = []
        self.unknown_device_macros: list[tuple[Location, str]] = []
        self.device_known = False   # given the device's macros, the others are undefined
        self.line_directive = "#line"
        self.compress = 0

    def on_error(self, file, line, msg):
        self.errors.append((Location(file or self.filename, line or 0, 1), msg))

    def on_directive_unknown(self, directive, toks, ifpassthru, precedingtoks):
        # pcpp prints `#error` to stderr and carries on: make it the error it is in C.
        if directive.value == "error":
            text = "".join(tok.value for tok in toks).strip()
            self.on_error(directive.source, directive.lineno, f"#error {text}".rstrip())
            return True
        return super().on_directive_unknown(directive, toks, ifpassthru, precedingtoks)

    def on_unknown_macro_in_defined_expr(self, tok):
        self._device_macro(tok.value, tok)
        return False  # `defined(X)` of an unknown X is false, as in C

    def on_unknown_macro_in_expr(self, ident):
        self._device_macro(ident, getattr(self, "lastdirective", None))
        return 0  # an unknown identifier in #if is 0, as in C

    def _device_macro(self, name: str, token) -> None:
        """A macro the device's compiler would define, that no one told us: which branch the
        kernel takes alone is unknown here (never guess it)."""
        if (dialect.is_device_macro(name) and name not in dialect.OPTION_MACROS
                and not self.device_known
                and not self.unknown_device_macros):
            file = getattr(token, "source", None) or self.filename
            self.unknown_device_macros.append(
                (Location(file, getattr(token, "lineno", 0) or 0, 1), name))

    def on_comment(self, tok):
        return False  # drop comments


DeviceMacros = tuple[tuple[str, str], ...]


class DeviceMacroError(UnsupportedError):
    """A kernel that tests a macro its device's compiler defines, preprocessed without them."""


def preprocess(kernel: KernelSource, device_macros: DeviceMacros | None = None) -> str:
    """Run the C preprocessor over one kernel's source with its own `-D`/`-U`/`-I` options,
    and the macros its device compiler would define: those its options decide, and
    `device_macros` (the target device's, as (name, value) pairs; None: not known). A
    conditional on a device macro that is not known is an UnsupportedError at it.

    The output keeps `#line` markers, so parser locations point into the user's file, and keeps
    `#pragma` lines (OpenCL extension pragmas are collected later, by the parser).
    """
    options = split_options(kernel.options)
    pp = _Preprocessor(kernel.display_name)
    pp.device_known = device_macros is not None
    compiler_macros = dict(device_macros or ())
    compiler_macros.update(dialect.option_macros(options.program_flags))
    for name, value in compiler_macros.items():
        pp.define(f"{name} {value}")
    for name, definition in options.defines:
        pp.define(f"{name} {definition if definition is not None else '1'}")
    for name in options.undefines:
        pp.undef(name)
    if kernel.filename:
        pp.add_path(os.path.dirname(os.path.abspath(kernel.filename)))
    for directory in options.include_dirs:
        pp.add_path(directory)
    pp.rewrite_paths = []  # keep file names as given: error locations must match the user's
    out = io.StringIO()
    try:
        pp.parse(kernel.source, kernel.display_name)
        pp.write(out)
    except Exception as error:  # pcpp crashes on some malformed directives (`#if` alone)
        directive = getattr(pp, "lastdirective", None)
        file = getattr(directive, "source", None) or kernel.display_name
        line = directive.lineno if directive is not None else 0
        pp.errors.insert(0, (Location(file, line, 1),
                             f"malformed directive ({type(error).__name__})"))
    # pcpp writes the main file's name made absolute into its #line markers: restore the name
    # the user gave, so that locations read as they expect.
    text = out.getvalue().replace(f'"{os.path.abspath(kernel.display_name)}"',
                                  f'"{kernel.display_name}"')
    if pp.unknown_device_macros and not pp.errors:
        location, name = pp.unknown_device_macros[0]
        if location.file == os.path.abspath(kernel.display_name):
            location = Location(kernel.display_name, location.line, location.column)
        raise DeviceMacroError(
            f"the preprocessor conditional tests '{name}', which the device's OpenCL compiler "
            "defines: fusion preprocesses each kernel itself and was not told the target "
            "device's macros, so it cannot know which branch the kernel takes (fuse at run time, "
            "where the device is asked, or give them: generate(..., device_macros=...), "
            "`generate --device-macro NAME=VALUE`)", location, source_text=kernel.source)
    if pp.errors:
        location, message = pp.errors[0]
        if location.file == os.path.abspath(kernel.display_name):
            location = Location(kernel.display_name, location.line, location.column)
        raise SourceError(f"preprocessor: {message}", location, source_text=kernel.source)
    return text
