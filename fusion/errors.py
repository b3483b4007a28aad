"""The errors this compiler raises: a small hierarchy, each with a location where there is source.

A message reads like a compiler's: `file:line:col: message`, then the offending source line and a
caret under the column. Internal file names never appear in it.
"""
from __future__ import annotations

import dataclasses
import os


@dataclasses.dataclass(frozen=True)
class Location:
    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


def source_line(location: Location, source_text: str | None = None) -> str | None:
    """The text of the line a location points at: from the given source, else from disk."""
    text = source_text
    if text is None and location.file and os.path.isfile(location.file):
        with open(location.file, encoding="utf-8", errors="replace") as f:
            text = f.read()
    if text is None or location.line < 1:
        return None
    lines = text.splitlines()
    return lines[location.line - 1] if location.line <= len(lines) else None


def with_source_line(message: str, location: Location, source_text: str | None = None, *,
                     line: str | None = None) -> str:
    """The message followed by the source line the location points at and a caret, when the
    line can be found (given, or read from source_text or from the file)."""
    line = line if line is not None else source_line(location, source_text)
    if line is None:
        return message
    caret = " " * max(location.column - 1, 0) + "^"
    return f"{message}\n    {line}\n    {caret}"


def _rebuilt(cls, args, fields):
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(fields)
    return error


class FusionError(Exception):
    """Base class of every error this package raises on purpose. Errors pickle with their
    fields (a check run in a child process raises them in the parent as they were)."""

    def __reduce__(self):
        return _rebuilt, (type(self), self.args, self.__dict__)


class LocatedError(FusionError):
    """An error with the place in a kernel's source it is about (when there is one). Fields:
    `message` (without the location), `location`, `line_text` (the source line, where it could
    be found); str() formats them as `file:line:col: message`, the line, and a caret."""

    def __init__(self, message: str, location: Location | None = None, *,
                 source_text: str | None = None):
        self.message = message
        self.location = location
        self.line_text = source_line(location, source_text) if location else None
        super().__init__(self._format())

    def _format(self) -> str:
        if self.location is None:
            return self.message
        return with_source_line(f"{self.location}: {self.message}", self.location,
                                line=self.line_text)


class SourceError(LocatedError):
    """Something wrong in a kernel's source, with the place it is."""


class UnsupportedError(SourceError):
    """Valid OpenCL that this compiler cannot fuse (the runtime then runs the kernel alone)."""


class LayoutError(FusionError):
    """Sub-kernels whose launches cannot share one fused NDRange (e.g. barrier kernels whose
    local sizes cannot be reconciled)."""


class LaunchError(LocatedError):
    """A launch that does not match its kernel: argument count or type, sizes. Located at the
    parameter (or kernel) it is about, where that is known."""


class DeviceLimitError(FusionError):
    """A fused kernel that would exceed a limit of the device it is built for."""


class DeviceError(FusionError):
    """The OpenCL device refused an operation the checks could not foresee (an enqueue that
    fails for lack of resources, say); the message says what and how far the group got."""


class BuildError(FusionError):
    """The OpenCL compiler rejected a program. Fields: `kernel_name`, `options` (the build
    options used), `saved_source` (the path of the source written out for inspection, or None
    when it is the user's own file), `log` (the compiler's output); the message is made of them."""

    def __init__(self, what: str, *, kernel_name: str, options, saved_source: str | None = None,
                 log: str = ""):
        self.kernel_name = kernel_name
        self.options = tuple(options)
        self.saved_source = saved_source
        self.log = log
        details = f"options: {' '.join(self.options) or 'none'}"
        if saved_source:
            details += f"; source saved to {saved_source}"
        super().__init__(f"{what} ({details}):\n{log}" if log else f"{what} ({details})")
