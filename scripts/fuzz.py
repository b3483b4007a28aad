#!/usr/bin/env python3
"""The long run of the random kernel generator (fusion.kernelgen) against the compiler.

Each group of 2-4 random kernels is run separately and fused on PoCL and under Oclgrind
(fusion.testing.check_fusion): every output must be bit-identical, Oclgrind must report nothing,
and no kernel may fall back to running alone. PoCL 3.0-rc2 miscompiles some kernels with
barriers even alone (docs/LIMITS.md), so on PoCL a group is compared without its barrier
kernels; Oclgrind checks every group whole.

    python scripts/fuzz.py --groups 2000 --seed 1 --jobs 2

writes scripts/results/fuzz.json and docs/FUZZING.md. A run that is stopped (--seconds, or
killed) goes on with the same command and --resume. Group i of seed S is reproducible alone:

    python scripts/fuzz.py --seed S --start i --groups 1 --show
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import multiprocessing
import os
import platform
import re
import signal
import subprocess
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


LIMITATION = "Oclgrind cannot run it"


def group_seed(seed: int, index: int) -> int:
    return seed * 1_000_003 + index


def _oclgrind_limitation(error: BaseException, group, device: str) -> str | None:
    """Oclgrind 21.10 cannot execute some LLVM intrinsics its own optimiser emits (it prints
    "Undefined external function: llvm.bitreverse.i32" and creates no kernel): a kernel PoCL
    builds and creates fine then fails under Oclgrind alone, before any fusion. Not a verdict
    on fusion; the group is reported as such (PoCL's verdict kept)."""
    import pyopencl as cl
    from fusion import FusionError
    from fusion.runtime import build_alone
    from fusion.verify.testing import shared_cpu_context
    if not (isinstance(error, cl.LogicError) and "INVALID_KERNEL_NAME" in str(error)):
        return None
    context = shared_cpu_context(device)
    for kernel in group.sources:
        try:
            build_alone(context, context.devices[0], kernel)
        except (cl.Error, FusionError):
            return None
    return ("Oclgrind could not create a kernel that the native device builds and creates (an "
            "LLVM intrinsic Oclgrind cannot execute; it prints 'Undefined external function')")


def _is_pocl(device: str) -> bool:
    return "pocl" in device.lower() or "portable" in device.lower()


def run_group(seed: int, index: int, oclgrind: bool, device: str = "intel-cpu") -> dict:
    """Check one group; a dict that says what happened (never raises). The whole group under
    Oclgrind first, then on `device` (the default CPU device, Intel's runtime; or part of an
    OpenCL platform's name, pocl, nvidia). PoCL 3.0-rc2 miscompiles some barrier kernels even
    alone, so on PoCL the group is compared without them; NVIDIA gets OpenCL 1.2 groups."""
    import warnings
    from fusion.verify.kernelgen import generate_group
    from fusion.verify.testing import EquivalenceError, OclgrindError, check_fusion

    started = time.perf_counter()
    number = group_seed(seed, index)
    record = dict(index=index, seed=number, outcome="pass")
    try:
        group = generate_group(number, cl2=False if "nvidia" in device.lower() else None)
    except Exception:  # noqa: BLE001 - a generator bug is a result too
        record.update(outcome="generator error", detail=traceback.format_exc(limit=3))
        return record
    record.update(kernels=len(group.kernels), layout=group.layout,
                  barrier_kernels=group.barrier_kernels, describe=group.describe(),
                  features=sorted(set().union(*(k.features for k in group.kernels),
                                              group.collisions())))
    native = group.without_barrier_kernels() if _is_pocl(device) else group
    record["native_kernels"] = len(native.kernels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = []
            if oclgrind:
                try:
                    results += check_fusion(group.sources, group.factory(number),
                                            layout=group.layout, cpu=False, oclgrind=True)
                except Exception as error:  # noqa: BLE001
                    limitation = _oclgrind_limitation(error, group, device)
                    if not limitation:
                        raise
                    record.update(outcome=LIMITATION, detail=limitation)
            if len(native.kernels) >= 2:
                results += check_fusion(native.sources, native.factory(number),
                                        layout=group.layout, platform=device)
        record["launches"] = {_short(r.device): r.launches for r in results}
        unexpected = [reason for result in results for reason in result.alone]
        if unexpected and record["outcome"] == "pass":
            record.update(outcome="unexpected fallback", detail="\n".join(unexpected)[:3000])
    except EquivalenceError as error:
        record.update(outcome="mismatch", detail=str(error)[:3000])
    except OclgrindError as error:
        record.update(outcome="oclgrind report", detail=str(error)[:3000])
    except Exception as error:  # noqa: BLE001
        record.update(outcome="error", detail=f"{type(error).__name__}: {error}"[:3000])
    record["seconds"] = round(time.perf_counter() - started, 3)
    return record


def _short(device: str) -> str:
    return device.split(" (")[0].replace("Portable Computing Language", "PoCL")


def _versions() -> dict:
    import pyopencl as cl
    versions = {"python": platform.python_version()}
    for p in cl.get_platforms():
        versions[p.name] = p.version
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "fusion",
                                "templates"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        versions["commit"] = commit + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        pass
    return versions


def summarise(records: list[dict], args, seconds: float, versions: dict) -> dict:
    outcomes = collections.Counter(r["outcome"] for r in records)
    features = collections.Counter(f for r in records for f in r.get("features", ()))
    fully_fused = collections.Counter()
    for r in records:
        for device, launches in r.get("launches", {}).items():
            fully_fused[device] += launches == 1
    return dict(
        command=command_line(args),
        groups=len(records),
        kernels=sum(r.get("kernels", 0) for r in records),
        outcomes=dict(outcomes),
        mismatches=outcomes["mismatch"],
        oclgrind_reports=outcomes["oclgrind report"],
        failures=[r for r in records if r["outcome"] not in ("pass", LIMITATION)],
        oclgrind_limitations=[r for r in records if r["outcome"] == LIMITATION],
        layouts=dict(collections.Counter(r["layout"] for r in records if "layout" in r)),
        group_sizes=dict(sorted(collections.Counter(r["kernels"] for r in records
                                                    if "kernels" in r).items())),
        barrier_kernels=dict(sorted(collections.Counter(r["barrier_kernels"] for r in records
                                                        if "barrier_kernels" in r).items())),
        fully_fused=dict(fully_fused),
        device=args.device,
        native_groups=sum(r.get("native_kernels", 0) >= 2 for r in records),
        native_kernels=sum(r.get("native_kernels", 0) for r in records
                           if r.get("native_kernels", 0) >= 2),
        features=dict(sorted(features.items())),
        seconds=round(seconds, 1),
        versions=versions,
    )


def command_line(args) -> str:
    parts = ["python scripts/fuzz.py", f"--groups {args.groups}", f"--seed {args.seed}"]
    if args.start:
        parts.append(f"--start {args.start}")
    if args.no_oclgrind:
        parts.append("--no-oclgrind")
    if args.device != "intel-cpu":
        parts.append(f"--device {args.device}")
    return " ".join(parts)


def _table(summary: dict) -> list[str]:
    passed = summary["outcomes"].get("pass", 0)
    other = len(summary["failures"]) - summary["mismatches"] - summary["oclgrind_reports"]
    rows = [
        f"| groups tried | {summary['groups']} ({summary['kernels']} kernels)"
        + ("" if summary.get("complete", True) else " — the run is not finished yet") + " |",
        f"| passed | {passed} |",
        f"| output mismatches | {summary['mismatches']} |",
        f"| Oclgrind reports | {summary['oclgrind_reports']} |",
        f"| other failures | {other} |",
        f"| Oclgrind could not run the kernels (its limitation; PoCL's verdict kept) | "
        f"{len(summary.get('oclgrind_limitations', []))} |",
        "| group sizes | " + ", ".join(f"{k} kernels: {v}" for k, v in summary["group_sizes"].items()) + " |",
        "| barrier kernels per group | " + ", ".join(f"{k}: {v}" for k, v in summary["barrier_kernels"].items()) + " |",
        "| layouts | " + ", ".join(f"{k}: {v}" for k, v in summary["layouts"].items()) + " |",
        "| groups fused whole (one launch) | " + ", ".join(f"{k}: {v}" for k, v in summary["fully_fused"].items()) + " |",
    ]
    if summary.get("pocl_groups"):  # the earlier runs, on PoCL
        rows.append(f"| checked on PoCL | {summary['pocl_groups']} groups, without their barrier "
                    f"kernels ({summary['pocl_kernels']} kernels) |")
    if "native_groups" in summary:
        rows.append(f"| checked on the native device ({summary['device']}) | "
                    f"{summary['native_groups']} groups ({summary['native_kernels']} kernels) |")
    if "groups_running_when_a_worker_crashed" in summary:
        crashed = summary["groups_running_when_a_worker_crashed"]
        rows.append(f"| worker processes that died (groups then re-run alone) | "
                    f"{len(crashed)} groups re-run" + (f": {crashed}" if crashed else "") + " |")
    return ["| | |", "|---|---|", *rows]


def _header(summary: dict) -> list[str]:
    return [f"Command: `{summary['command']}`  ",
            f"Run time: {summary['seconds'] / 60:.0f} min  ",
            "Versions: " + ", ".join(f"{k} {v}" for k, v in summary["versions"].items()), ""]


def write_doc(path: str, results: str = os.path.join(ROOT, "scripts", "results")) -> None:
    """docs/FUZZING.md from the result files: fuzz.json (the PoCL + Oclgrind run) and every
    fuzz_*.json (runs on other platforms, e.g. fuzz_nvidia.json)."""
    def load(name):
        with open(os.path.join(results, name), encoding="utf-8") as f:
            return json.load(f)
    main_run = load("fuzz.json") if os.path.exists(os.path.join(results, "fuzz.json")) else None
    others = [load(n) for n in sorted(os.listdir(results)) if n.startswith("fuzz_") and
              n.endswith(".json")] if os.path.isdir(results) else []
    lines = [
        "# Random kernel fuzzing",
        "",
        "Generated by `scripts/fuzz.py` from `scripts/results/fuzz*.json`; do not edit by hand.",
        "The generator (`fusion/verify/kernelgen.py`, in the spirit of CLsmith) writes groups of",
        "2-4 random OpenCL kernels that fusion must keep intact: 1-D/2-D/3-D NDRanges, every",
        "work-item builtin, barriers with `__local` arrays, `__local` pointer arguments and",
        "initialised `__local` pointer locals, helpers (also same-named ones with other bodies),",
        "colliding parameter and local names, early returns, loops, vectors, structs, typedefs,",
        "attributed structs (packed / aligned, before or after the braces, on a field) with",
        "`sizeof` in the results, `__constant` data, `-D` macros, token pasting of preprocessing",
        "numbers, flat chains of up to 400 terms, parentheses nested up to 250 deep and `else if`",
        "chains of up to 200. Each group runs separately and fused (`fusion.testing.check_fusion`),",
        "whole, first under Oclgrind, then on the default device (Intel's CPU OpenCL runtime); it",
        "passes when every output is bit-identical, Oclgrind reports nothing (out-of-bounds",
        "access, data race, barrier divergence) for the separate and the fused launches, and no",
        "kernel falls back to running alone. Each group runs in a worker process: a device that",
        "crashes the process is recorded (the group runs again alone, and a second crash is its",
        "outcome) and the run goes on.",
        "",
        "Earlier runs (below the main one) used PoCL 3.0-rc2 as the native device; PoCL",
        "miscompiles some kernels with barriers even alone (docs/LIMITS.md), so there each group",
        "was compared without its barrier kernels, and Oclgrind checked it whole.",
        "",
        "What the generator found (each now a regression test in `tests/test_random_kernels.py`):",
        "",
        "* a compiler bug: under `-cl-std=CL2.0` the fused kernel's pointer to its work-item",
        "  record was a generic-address-space pointer, which Oclgrind cannot execute; the record's",
        "  pointers are `__private` now;",
        "* a PoCL 3.0-rc2 defect: one sub-kernel with barriers next to any other sub-kernel is",
        "  miscompiled (the runtime still fuses one there: docs/LIMITS.md), and some barrier",
        "  kernels are miscompiled even alone;",
        "* Oclgrind 21.10 defects: optimised multi-way branches on a value of small range, generic",
        "  pointers (`wait_group_events` under OpenCL 2.0), some LLVM intrinsics; and PoCL's missing",
        "  `vload4`/`vstore4` under OpenCL 2.0. The generator steps around these (docs/LIMITS.md).",
        "",
    ]
    if main_run:
        title = ("Oclgrind and Intel's CPU runtime" if main_run.get("device", "pocl") == "intel-cpu"
                 else "Oclgrind and PoCL")
        lines += [f"## The long run: {title}", "", *_header(main_run), *_table(main_run), ""]
    for run in others:
        if "--platform" in run["command"] or "--device nvidia" in run["command"].lower():
            device = next(iter(run["fully_fused"]), "another platform")
            lines += [f"## On {device}", "",
                      "Whole groups (barrier kernels too), OpenCL 1.2 kernels only; run on the lent "
                      "GPU machine (`.whl/device-setup.sh`, see ../shared/device/README.md).", ""]
        else:
            lines += ["## An earlier long run: Oclgrind and PoCL", "",
                      "With the generator and compiler of its time (see its commit), PoCL "
                      "3.0-rc2 the native device.", ""]
        lines += [*_header(run), *_table(run), ""]
    failures = [(run, f) for run in ([main_run] if main_run else []) + others
                for f in run["failures"] + run.get("oclgrind_limitations", [])]
    crashes = [f for run, f in failures if f["outcome"] == "device crash"]
    if crashes:
        lines += ["## Device crashes", "",
                  "A group whose check killed the process twice (the second time alone) is a "
                  "`device crash`. Each one seen so far was Intel's CPU runtime miscompiling a "
                  "valid fused kernel: clean and bit-identical under Oclgrind, running with "
                  "`-cl-opt-disable` (docs/LIMITS.md; the first became "
                  "tests/data/intel_cpu_crash.json and the canary tests/test_intel_cpu_defect.py).",
                  ""]
    examined = main_run.get("examined") if main_run else None
    if examined:
        lines += ["### The failed groups examined again", "",
                  f"Each failed group of the long run, re-run with the code of "
                  f"{examined['versions'].get('commit', 'its time')} "
                  f"(`python scripts/fuzz.py --examine`), each check in a process of its own: "
                  f"fused and compared under Oclgrind, fused and compared on {examined['device']}, "
                  f"and each kernel launched alone (no fusion) on {examined['device']}.", "",
                  "| group | outcome in the run | Oclgrind now | "
                  f"{examined['device']} now | kernels alone on {examined['device']} |",
                  "|---|---|---|---|---|"]
        lines += [f"| {g['index']} | {g['outcome']} | {g['oclgrind']} | {g['device']} | "
                  f"{g['alone_on_device']} |" for g in examined["groups"]]
        rows = examined["groups"]
        crashed = [g for g in rows if g["outcome"] == "device crash"]
        again = [g for g in crashed if g["device"].startswith("process died")]
        lines += ["", f"{sum(g['oclgrind'] == 'pass' for g in rows)} of {len(rows)} pass under "
                  f"Oclgrind now, and the kernels of {sum(g['alone_on_device'] == 'pass' for g in rows)} "
                  f"run alone on {examined['device']}; of the {len(crashed)} device crashes, "
                  f"{len(again)} killed the process again when fused on {examined['device']} and "
                  f"{len(crashed) - len(again)} did not this time (the crash does not always "
                  f"recur). The other failures pass on both now.", ""]
    if failures:
        lines += ["## Failures and groups Oclgrind could not run", ""]
        for run, failure in failures[:50]:
            detail = failure.get("detail", "").splitlines()
            lines.append(f"* `{run['command']}`, group {failure['index']}: {failure['outcome']}: "
                         + (detail[0] if detail else ""))
        lines.append("")
    if main_run:
        lines += ["## What the groups exercised", "",
                  "Groups with each feature, in the long run (a group counts once per feature):", "",
                  "| feature | groups |", "|---|---|"]
        lines += [f"| {name} | {count} |" for name, count in main_run["features"].items()]
        lines.append("")
    lines += ["## Reproducing", "",
              "Runs are deterministic: group *i* of seed *S* is `fusion.kernelgen.generate_group("
              "S * 1000003 + i)`. One group, with its kernels printed:", "",
              "    python scripts/fuzz.py --seed 1 --start 17 --groups 1 --show --no-write", "",
              "The CI-sized run is `tests/test_random_kernels.py` (hypothesis, which shrinks a "
              "failing group). Regenerate this page from the result files with "
              "`python scripts/fuzz.py --report`.", ""]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def _init_worker():
    import warnings
    warnings.simplefilter("ignore")


def _run_pool(indices, args, oclgrind, deadline, done) -> list[int]:
    """Run the groups in a pool of worker processes, at most 2 per worker queued; return the
    groups in flight when a worker died (empty when all finished or time ran out)."""
    spawn = multiprocessing.get_context("spawn")
    # fresh workers every 100 groups: a worker keeps every program it built (fused and alone),
    # and two long-lived workers were seen to stall in Intel compiles after ~650 groups each
    pool = concurrent.futures.ProcessPoolExecutor(args.jobs, mp_context=spawn,
                                                  initializer=_init_worker,
                                                  max_tasks_per_child=100)
    queue, running = list(indices), {}
    try:
        while queue or running:
            while queue and len(running) < 2 * args.jobs:
                index = queue.pop(0)
                running[pool.submit(_timed_group, args.seed, index, oclgrind,
                                    args.device)] = index
            timeout = None if deadline is None else max(0.0, deadline - time.perf_counter())
            finished, _ = concurrent.futures.wait(running, timeout=timeout,
                                                  return_when=concurrent.futures.FIRST_COMPLETED)
            if not finished:
                return []
            for future in finished:
                index = running.pop(future)
                try:
                    done(future.result())
                except concurrent.futures.process.BrokenProcessPool:
                    return sorted([index, *running.values()])
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return []


#: a group whose check outlasts this is stopped (SIGALRM's default action ends the worker: a
#: compile inside the driver cannot be interrupted otherwise) and re-run alone
GROUP_SECONDS = int(os.environ.get("FUZZ_GROUP_SECONDS", "300"))


def _timed_group(seed: int, index: int, oclgrind: bool, device: str) -> dict:
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(GROUP_SECONDS)
    try:
        return run_group(seed, index, oclgrind, device)
    finally:
        signal.alarm(0)


def _child(function, *args) -> tuple[dict | None, list[int]]:
    """`function(*args)` in a process of its own: (its record, None if the process died; the
    exit codes seen, empty where the pool reaped the process before they could be read)."""
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn,
                                                initializer=_init_worker) as child:
        future = child.submit(function, *args)
        processes = list(child._processes.values())  # noqa: SLF001 - to read its exit code
        try:
            return future.result(), []
        except concurrent.futures.process.BrokenProcessPool:
            return None, [p.exitcode for p in processes if p.exitcode]


def _run_alone(seed: int, index: int, oclgrind: bool, device: str) -> dict:
    """One group in a process of its own; a crash of that process (or its running past
    GROUP_SECONDS) is the group's outcome."""
    record, codes = _child(_timed_group, seed, index, oclgrind, device)
    if record is not None:
        return record
    if -signal.SIGALRM in codes:
        return dict(index=index, seed=group_seed(seed, index), outcome="timeout",
                    detail=f"its check ran past {GROUP_SECONDS} s twice, the second time alone")
    return dict(index=index, seed=group_seed(seed, index), outcome="device crash",
                detail="the process checking this group died again when it ran alone")


def run_alone_on_device(seed: int, index: int, device: str) -> dict:
    """A group's kernels each built and launched on their own on `device` (no fusion): does
    the device run the kernels at all?"""
    import warnings
    import pyopencl as cl
    from fusion.runtime import PROGRAMS, platform_context
    from fusion.verify.kernelgen import generate_group
    from fusion.verify.testing import run_separately
    group = generate_group(group_seed(seed, index))
    context = platform_context(device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_separately(context, cl.CommandQueue(context), group.sources,
                       group.factory(group_seed(seed, index)), PROGRAMS)
    return dict(index=index, outcome="pass")


def _in_child(function, *args) -> str:
    """Run `function(*args)` in a process of its own; its outcome, or how the process died."""
    record, codes = _child(function, *args)
    if record is None:
        if not codes:
            return "process died"
        return "process died (" + (signal.Signals(-codes[0]).name if codes[0] < 0
                                   else f"exit {codes[0]}") + ")"
    return record["outcome"] + (f": {record['detail'].splitlines()[0]}"
                                if record.get("detail") else "")


def examine(output: str, device: str) -> list[dict]:
    """Re-run every failed group of the run in `output` with the code as it is now, each check
    in a process of its own: whole under Oclgrind, whole on `device`, and (no fusion) each
    kernel alone on `device`. Stored in the result file as `examined`."""
    with open(output, encoding="utf-8") as f:
        summary = json.load(f)
    seed = int(re.search(r"--seed (\d+)", summary["command"]).group(1))
    examined = []
    for failure in summary["failures"]:
        index = failure["index"]
        row = dict(index=index, outcome=failure["outcome"],
                   oclgrind=_in_child(run_group, seed, index, False, "Oclgrind"),
                   device=_in_child(run_group, seed, index, False, device),
                   alone_on_device=_in_child(run_alone_on_device, seed, index, device))
        print(row, flush=True)
        examined.append(row)
    summary["examined"] = dict(versions=_versions(), device=device, groups=examined)
    with open(output, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    return examined


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", type=int, default=0, help="first group index")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-oclgrind", action="store_true",
                        help="the native device only (faster)")
    parser.add_argument("--device", "--platform", dest="device", default="intel-cpu",
                        help="the native device: intel-cpu (default), pocl, nvidia, or part of "
                             "an OpenCL platform's name")
    parser.add_argument("--show", action="store_true", help="print each group's kernels")
    parser.add_argument("--seconds", type=float, help="stop after this long; report what is done")
    parser.add_argument("--output", default=os.path.join(ROOT, "scripts", "results", "fuzz.json"))
    parser.add_argument("--doc", default=os.path.join(ROOT, "docs", "FUZZING.md"))
    parser.add_argument("--no-write", action="store_true", help="print only; write no files")
    parser.add_argument("--resume", action="store_true",
                        help="go on with a run that was stopped (its journal beside --output)")
    parser.add_argument("--report", action="store_true",
                        help="only regenerate --doc from scripts/results/fuzz*.json")
    parser.add_argument("--examine", action="store_true",
                        help="re-run the failed groups of --output with the code as it is now "
                             "(Oclgrind, the device, each kernel alone), store and report")
    args = parser.parse_args(argv)
    if args.examine:
        examine(args.output, args.device)
        write_doc(args.doc)
        return 0
    if args.report:
        write_doc(args.doc)
        return 0
    indices = range(args.start, args.start + args.groups)
    if args.show:
        from fusion.verify.kernelgen import generate_group
        for index in indices:
            group = generate_group(group_seed(args.seed, index),
                                   cl2=False if "nvidia" in args.device.lower() else None)
            print(f"=== group {index}: {group.describe()}")
            for kernel in group.kernels:
                print(f"--- {kernel.kernel.filename}: {kernel.kernel.name} "
                      f"options {' '.join(kernel.kernel.options) or '(none)'}")
                print(kernel.kernel.source)
    from tqdm import tqdm
    versions = _versions()  # of the code this run starts with
    started = time.perf_counter()
    # --seconds: stop on time and report the groups done (for a machine lent for minutes)
    deadline = started + args.seconds if args.seconds else None
    oclgrind = not args.no_oclgrind
    # every finished group is appended to a journal beside --output, so that a run stopped
    # (a session's end) goes on where it was with --resume; the summary counts them all
    journal_path = os.path.splitext(args.output)[0] + ".journal.jsonl"
    records, crashes, earlier_seconds = [], [], 0.0
    segment, last_at, finished_segments, seen = None, {}, set(), set()
    if args.resume and not os.path.exists(journal_path) and os.path.exists(journal_path + ".gz"):
        import gzip  # a journal carried over compressed (committed between sessions)
        with gzip.open(journal_path + ".gz", "rt", encoding="utf-8") as packed, \
                open(journal_path, "w", encoding="utf-8") as unpacked:
            unpacked.write(packed.read())
    if args.resume and os.path.exists(journal_path):
        with open(journal_path, encoding="utf-8") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:  # the last line of a run that was killed
                    continue
                if "run_seconds" in entry:
                    earlier_seconds += entry["run_seconds"]
                    finished_segments.add(segment)
                    continue
                if "run_started" in entry:
                    segment = entry["run_started"]
                    continue
                if "at" in entry and segment is not None:  # a killed run counts to here
                    last_at[segment] = entry["at"]
                if entry["index"] in indices and entry["index"] not in seen:
                    seen.add(entry["index"])  # (a group journaled twice counts once)
                    records.append(entry)
                    if entry.get("ran_during_a_crash"):
                        crashes.append(entry["index"])
        # runs that ended wrote their time; a killed one counts until its last group
        earlier_seconds += sum(at - start for start, at in last_at.items()
                               if start not in finished_segments)
        print(f"resuming: {len(records)} groups done in {earlier_seconds / 60:.0f} min",
              file=sys.stderr)
    elif not args.no_write and os.path.exists(journal_path):
        os.remove(journal_path)
    if not args.no_write:
        os.makedirs(os.path.dirname(os.path.abspath(journal_path)), exist_ok=True)
    journal = None if args.no_write else open(journal_path, "a", encoding="utf-8")
    if journal:
        journal.write(json.dumps({"run_started": time.time()}) + "\n")
    bad = 0
    with tqdm(total=len(indices), initial=len(records), unit="group",
              dynamic_ncols=True) as progress:
        def done(record):
            nonlocal bad
            records.append(record)
            if journal:
                kept = record if record["outcome"] != "pass" else \
                    {k: v for k, v in record.items() if k not in ("describe", "seed")}
                kept = dict(kept, at=round(time.time(), 1))
                journal.write(json.dumps(kept) + "\n")
                journal.flush()
            if record["outcome"] != "pass":
                bad += record["outcome"] != LIMITATION
                tqdm.write(f"group {record['index']}: {record['outcome']}: "
                           f"{record.get('detail', '').strip()[:600]}")
            progress.set_postfix(failures=bad)
            progress.update()
        finished = {r["index"] for r in records}
        pending = [i for i in indices if i not in finished]
        while pending and (deadline is None or time.perf_counter() < deadline):
            in_flight = _run_pool(pending, args, oclgrind, deadline, done)
            # a worker died (a device that crashed the process): each group it may have been
            # running runs again alone, so the crash is pinned on a group or found not to recur
            for index in in_flight:
                record = _run_alone(args.seed, index, oclgrind, args.device)
                record["ran_during_a_crash"] = True
                crashes.append(index)
                done(record)
            finished = {r["index"] for r in records}
            pending = [i for i in pending if i not in finished]
        if pending:
            tqdm.write(f"--seconds {args.seconds} reached: {len(records)} groups done")
    if journal:
        journal.write(json.dumps({"run_seconds": time.perf_counter() - started}) + "\n")
        journal.close()
    records.sort(key=lambda r: r["index"])
    complete = len(records) == len(indices)
    summary = summarise(records, args, earlier_seconds + time.perf_counter() - started, versions)
    summary["complete"] = complete
    summary["groups_running_when_a_worker_crashed"] = crashes
    print(f"{summary['groups']} groups ({summary['kernels']} kernels): {summary['outcomes']}; "
          f"mismatches {summary['mismatches']}, Oclgrind reports {summary['oclgrind_reports']}")
    if not args.no_write:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=1)  # passing groups are counted, not listed
            f.write("\n")
        write_doc(args.doc)
    return 0 if not summary["failures"] else 1  # Oclgrind's limitations are no failures


if __name__ == "__main__":
    sys.exit(main())
