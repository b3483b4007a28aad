"""Positions in preprocessed text: the preprocessor writes `#line N "file"` markers, so that
the parser's coordinates point into the user's files; these functions read them the same way.
"""
from __future__ import annotations

import re

from ..errors import Location

LINE_MARKER = re.compile(r'^#line (\d+)(?: "(.*)")?[ \t]*$', re.M)


def location_at(text: str, offset: int, filename: str) -> Location:
    """The (file, line, column) of an offset of preprocessed text; columns count from 1, as
    pycparser's do."""
    line, file, start = 1, filename, 0
    for marker in LINE_MARKER.finditer(text, 0, offset):
        line, file, start = int(marker[1]), marker[2] or file, marker.end() + 1
    line += text.count("\n", start, offset)
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return Location(file, line, column)


def expanded_line(text: str, location: Location, filename: str) -> str | None:
    """The preprocessed text of the line a location names (macros expanded), or None. Where a
    line was split by a marker (columns kept by padding), the last part: the one holding the
    later columns."""
    line, file, found = 1, filename, None
    for row in text.splitlines():
        marker = LINE_MARKER.match(row)
        if marker:
            line, file = int(marker[1]), marker[2] or file
            continue
        if (file, line) == (location.file, location.line):
            found = row
        line += 1
    return found
