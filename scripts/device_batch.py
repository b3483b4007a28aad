#!/usr/bin/env python3
"""Several commands in one call of a lent device machine, every result kept in ONE archive
(a call brings back at most eight files; a command killed at the call's limit must not take
the others' results with it).

    python3 scripts/device_batch.py --out "$OUT" scripts/gpu-plan.txt

A plan has one command per line, `SECONDS COMMAND...` (the command's own time limit; `#`
comments and blank lines are skipped); `{results}` in a command is the folder its files go to.
Each command runs under `timeout`, its output goes to `NN.log`, and after each one the results
folder and the logs are packed into `OUT/batch.tgz` again, so whatever finished comes back.
Prints one line per command: exit status, seconds, the last line it printed. Exit status 0
when every command exited 0, else 1; a malformed plan is exit 1 naming its line, before
anything runs.
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tarfile
import time
from pathlib import Path


def parse_plan(text: str) -> list[tuple[int, str]]:
    steps = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        seconds, _, command = line.partition(" ")
        if not seconds.isdigit() or not command.strip():
            raise SystemExit(f"plan line {number}: expected 'SECONDS COMMAND', got {line!r}")
        steps.append((int(seconds), command.strip()))
    return steps


def pack(work: Path, archive: Path) -> None:
    partial = archive.with_suffix(".tmp")
    with tarfile.open(partial, "w:gz") as tar:
        tar.add(work, arcname="batch")
    os.replace(partial, archive)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("plan")
    parser.add_argument("--out", required=True, help="where batch.tgz goes ($OUT)")
    parser.add_argument("--work", default="/tmp/device-batch", help="results and logs")
    args = parser.parse_args(argv)
    steps = parse_plan(Path(args.plan).read_text())
    work = Path(args.work)
    results = work / "results"
    results.mkdir(parents=True, exist_ok=True)
    archive = Path(args.out) / "batch.tgz"
    failed = 0
    for index, (seconds, command) in enumerate(steps, 1):
        command = command.replace("{results}", shlex.quote(str(results)))
        log = work / f"{index:02d}.log"
        started = time.perf_counter()
        with log.open("w") as out:
            out.write(f"$ {command}\n")
            out.flush()
            done = subprocess.run(["timeout", str(seconds), "bash", "-c", command],
                                  stdout=out, stderr=subprocess.STDOUT)
        took = time.perf_counter() - started
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        print(f"[{index:02d}] rc {done.returncode} {took:6.1f} s  {lines[-1][:150] if lines else ''}",
              flush=True)
        failed += done.returncode != 0
        pack(work, archive)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
