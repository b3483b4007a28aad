"""Which host CPU the replay runs on.

    with pinned(fastest_cpu()):     # the calling thread on the fastest CPU it may use
        ...                         # replays

On the lent GPUs a fused plan is host-bound: enqueueing one inference of 4 x MobileNet-V2's
fused plan takes the host about what the device takes to run it (an image argument costs an
enqueue about 0.9 µs, a buffer 0.4 µs, and a fused launch carries every member's), so the
plan runs at the speed of the core its thread is on. The lent machines' virtual CPUs are not
alike: on one, the same process took 2.60 ms per inference pinned to CPU 5 and 3.96 ms pinned
to CPU 11 (the sequential plan's enqueues 5.8 ms and 8.6 ms), and a process the scheduler
moves between them runs at both speeds in turn. `cpu_speeds` times a short pure-Python loop on
each CPU the thread may use (the best of a few tries: a core shared with other work is slow
for all of them), `fastest_cpu` picks the quickest, `pinned` keeps the calling thread there
for a block and gives back the CPUs it had.

Linux only (os.sched_setaffinity); elsewhere nothing is pinned and the functions say so.
"""
from __future__ import annotations

import contextlib
import os
import time


def allowed_cpus() -> set[int] | None:
    """The CPUs the calling thread may run on, or None where the system does not say."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def _loop_seconds(iterations: int) -> float:
    start = time.perf_counter()
    x = 0
    for k in range(iterations):
        x = (x * 1103515245 + k) & 0x7FFFFFFF
    return time.perf_counter() - start


def cpu_speeds(cpus=None, *, iterations: int = 20000, tries: int = 3) -> dict[int, float]:
    """Seconds of the probe loop on each CPU (the least of `tries`), the calling thread moved
    to each in turn and given back its CPUs after. Empty where CPUs cannot be chosen."""
    before = allowed_cpus()
    if before is None:
        return {}
    speeds = {}
    try:
        for cpu in sorted(before if cpus is None else set(cpus) & before):
            os.sched_setaffinity(0, {cpu})
            speeds[cpu] = min(_loop_seconds(iterations) for _ in range(tries))
    finally:
        os.sched_setaffinity(0, before)
    return speeds


def fastest_cpu(cpus=None) -> int | None:
    """The CPU where the probe loop ran fastest (None where CPUs cannot be chosen)."""
    speeds = cpu_speeds(cpus)
    return min(speeds, key=speeds.get) if speeds else None


@contextlib.contextmanager
def pinned(cpu: int | None):
    """The calling thread on `cpu` only for the block (nothing changes for None); its CPUs
    are given back after. ValueError for a CPU it may not use."""
    before = allowed_cpus()
    if cpu is None or before is None:
        yield None
        return
    if cpu not in before:
        raise ValueError(f"CPU {cpu} is not one this process may run on "
                         f"({', '.join(map(str, sorted(before)))})")
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)
