#!/usr/bin/env python3
"""Restore a profile's journal (samples-*.jsonl or context-*.jsonl, gzipped or not) into a
device's cache directory, so that `python -m fusion profile` on that device resumes from it and
only refits: a fresh device machine need not measure again what an earlier call measured.

    python3 scripts/seed_profile.py --device nvidia benchmarks/results/.../context-XXXX.jsonl.gz

The journal keeps its name from `samples-`/`context-` on, less `.gz` (a prefix such as
`call5-` is dropped): it names the profile's settings, so the profile resumes it only when run
with the same settings. Exit status 0, or 1 when the file is missing or not a journal.
"""
from __future__ import annotations

import argparse
import gzip
import re
import sys
from pathlib import Path

from fusion.execute.profile import journal_path
from fusion.runtime.devices import platform_context


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("journal", type=Path)
    parser.add_argument("--device", default="intel-cpu", help="platform name part")
    args = parser.parse_args(argv)
    if not args.journal.is_file():
        print(f"{args.journal}: no such file", file=sys.stderr)
        return 1
    opener = gzip.open if args.journal.suffix == ".gz" else open
    with opener(args.journal, "rb") as source:
        data = source.read()
    name = re.search(r"(samples|context)-.*", args.journal.name.removesuffix(".gz"))
    if name is None:
        print(f"{args.journal}: not a samples-*.jsonl or context-*.jsonl journal", file=sys.stderr)
        return 1
    target = journal_path(platform_context(args.device).devices[0], name.group(0), fresh=True)
    target.write_bytes(data)
    lines = data.count(b"\n")
    print(f"wrote {target} ({lines} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
