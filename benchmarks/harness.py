"""The benchmark harness: operator groups on a device, variants timed in alternating rounds.

Method (docs/PERFORMANCE.md):
* Throughput with the queue kept busy: a sample enqueues K iterations of a variant back to
  back on one in-order queue and waits once; seconds per iteration = elapsed / K. K is chosen
  per group (from the sequential variant) so that a sample lasts about --sample-ms.
* Variants of one group alternate within every round (A B C A B C ...), and ratios are taken
  within a round: the median of per-round ratios is quoted, with min and max. The null
  comparison (the sequential variant twice per round) gives the noise floor.
* Device time from profiling events on a separate profiling queue (one launch at a time).
* Every raw sample is kept in the JSON.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform as host_platform
import statistics
import sys
from collections.abc import Callable, Sequence

import numpy as np
import pyopencl as cl

from fusion import KernelSource, ops as operators
from fusion.runtime import PROGRAMS, Fuser
from fusion.execute.measure import alternating as alternate, busy, choose_iterations, summary  # noqa: F401
from fusion.runtime import find_platform


@dataclasses.dataclass
class Bench:
    context: cl.Context
    device: cl.Device
    queue: cl.CommandQueue
    profiling_queue: cl.CommandQueue
    fusers: dict                                    # layout -> Fuser

    def info(self) -> dict:
        d = self.device
        return dict(name=d.name.strip(), platform=d.platform.name.strip(),
                    platform_version=d.platform.version.strip(), device_version=d.version.strip(),
                    driver=d.driver_version.strip(), compute_units=d.max_compute_units,
                    max_work_group_size=d.max_work_group_size,
                    wave_size=self.fusers["groups"].wave_size,
                    local_mem_size=d.local_mem_size)


def open_bench(platform_name: str, *, wave_size: int | None = None,
               bake_layout: bool = False) -> Bench:
    platform = find_platform(platform_name)
    if platform is None:
        names = ", ".join(p.name for p in cl.get_platforms())
        sys.exit(f"no OpenCL platform matching '{platform_name}' (found: {names})")
    device = platform.get_devices()[0]
    context = cl.Context([device])
    queue = cl.CommandQueue(context)
    profiling = cl.CommandQueue(context, properties=cl.command_queue_properties.PROFILING_ENABLE)
    groups = Fuser(context, wave_size=wave_size, bake_layout=bake_layout)
    fusers = {"groups": groups,
              "wave": Fuser(context, wave_size=groups.wave_size, layout="wave",
                            bake_layout=bake_layout, cache=groups.cache),
              # the paper's layout without wave alignment: nothing padded
              "wave-unaligned": Fuser(context, wave_size=1, layout="wave",
                                      bake_layout=bake_layout, cache=groups.cache),
              # layout values baked in as constants (one program per shape)
              "groups-baked": Fuser(context, wave_size=groups.wave_size, bake_layout=True,
                                    cache=groups.cache)}
    return Bench(context, device, queue, profiling, fusers)


@dataclasses.dataclass
class Group:
    label: str
    specs: list[dict]              # one make() spec per operator: {"kind": ..., **shape}
    ops: list

    @property
    def kernels(self):
        return [op.kernel for op in self.ops]

    @property
    def launches(self):
        return [op.launch() for op in self.ops]

    @property
    def flops(self) -> list[int]:
        return [op.flops for op in self.ops]


def make_group(bench: Bench, label: str, specs: Sequence[dict], seed: int = 0) -> Group:
    rng = np.random.default_rng(seed)
    ops = []
    for spec in specs:
        shape = dict(spec)
        kind = shape.pop("kind")
        shape.pop("layer", None)
        ops.append(operators.make(bench.context, bench.queue, kind, rng, **shape))
    return Group(label, [dict(s) for s in specs], ops)


# --- variants: each is `run(iterations)`: enqueue that many iterations, then wait --------------



def sequential_bound(bench, group) -> Callable[[int], None]:
    bound = bench.fusers["groups"].sequential(group.kernels).bind(group.launches)
    return busy(bench.queue, bound.enqueue)


def _rebinding(bound):
    """Enqueue after setting every argument again (clSetKernelArg for each, as a runtime that
    binds on every call pays)."""
    def enqueue(queue):
        for step in bound.steps:
            step.set_args(force=True)
        return bound.enqueue(queue)
    return enqueue


def sequential_rebind(bench, group) -> Callable[[int], None]:
    bound = bench.fusers["groups"].sequential(group.kernels).bind(group.launches)
    return busy(bench.queue, _rebinding(bound))


def sequential_call(bench, group) -> Callable[[int], None]:
    """Through the Python API on every call (checks, conversion, changed arguments set)."""
    launcher = bench.fusers["groups"].sequential(group.kernels)
    launches = group.launches
    return busy(bench.queue, lambda queue: launcher(queue, launches))


def fused_bound(bench, group, layout="groups") -> Callable[[int], None]:
    bound = bench.fusers[layout].fuse(group.kernels).bind(group.launches)
    return busy(bench.queue, bound.enqueue)


def fused_rebind(bench, group, layout="groups") -> Callable[[int], None]:
    bound = bench.fusers[layout].fuse(group.kernels).bind(group.launches)
    return busy(bench.queue, _rebinding(bound))


def fused_call(bench, group, layout="groups") -> Callable[[int], None]:
    launcher = bench.fusers[layout].fuse(group.kernels)
    launches = group.launches
    return busy(bench.queue, lambda queue: launcher(queue, launches))


def multi_queue(bench, group) -> Callable[[int], None]:
    """Each operator on its own in-order queue (the hardware's own concurrency, if any)."""
    queues = [cl.CommandQueue(bench.context) for _ in group.ops]
    bound = [bench.fusers["groups"].sequential([op.kernel]).bind([op.launch()])
             for op in group.ops]

    def run(iterations: int) -> None:
        for _ in range(iterations):
            for queue, b in zip(queues, bound):
                b.enqueue(queue)
        for queue in queues:
            queue.finish()
    return run


def fused_launch_count(bench, group, layout="groups") -> int:
    return bench.fusers[layout].fuse(group.kernels).bind(group.launches).launches


# --- timing ------------------------------------------------------------------------------------





def ratio_summary(numerator: list[float], denominator: list[float]) -> dict:
    ratios = [a / b for a, b in zip(numerator, denominator)]
    return dict(median=statistics.median(ratios), min=min(ratios), max=max(ratios),
                n=len(ratios), ratios=ratios)




# --- device time --------------------------------------------------------------------------------

def _event_seconds(event) -> float:
    event.wait()
    return (event.profile.end - event.profile.start) * 1e-9


def device_times(bench: Bench, group: Group, *, layout="groups", repeats: int = 10) -> dict:
    """Per-operator device time alone, the fused kernel's, and the sequential span (first start
    to last end, back to back), each the median of `repeats` launches."""
    queue = bench.profiling_queue
    singles = [bench.fusers["groups"].sequential([op.kernel]).bind([op.launch()])
               for op in group.ops]
    fused = bench.fusers[layout].fuse(group.kernels).bind(group.launches)
    sequential_kernels = [(s.steps[0].kernel, s.steps[0].global_size, s.steps[0].local_size)
                          for s in singles]
    alone = [[] for _ in group.ops]
    fused_times, spans = [], []
    for _ in range(repeats + 1):
        for i, single in enumerate(singles):
            alone[i].append(_event_seconds(single.enqueue(queue)))
        events = [cl.enqueue_nd_range_kernel(queue, k, g, l) for k, g, l in sequential_kernels]
        queue.finish()
        spans.append((events[-1].profile.end - events[0].profile.start) * 1e-9)
        if fused.launches == 1:
            fused_times.append(_event_seconds(fused.enqueue(queue)))
    drop = lambda xs: xs[1:]  # noqa: E731 - the first launch of each warms caches
    result = dict(alone=[statistics.median(drop(a)) for a in alone],
                  sequential_span=statistics.median(drop(spans)))
    result["sum_alone"] = sum(result["alone"])
    result["fused"] = statistics.median(drop(fused_times)) if fused_times else None
    return result


def step_device_times(bench: Bench, singles, fused, *, repeats: int) -> dict:
    """Device times (profiling) of bound launches: each single alone, and the fused one."""
    queue = bench.profiling_queue
    alone = [[] for _ in singles]
    together = []
    for _ in range(repeats + 1):
        for i, single in enumerate(singles):
            alone[i].append(_event_seconds(single.enqueue(queue)))
        if fused.launches == 1:
            together.append(_event_seconds(fused.enqueue(queue)))
    return dict(alone=[statistics.median(a[1:]) for a in alone],
                fused=statistics.median(together[1:]) if together else None)


def launch_cost(bench: Bench, *, rounds: int = 15, iterations: int = 400) -> dict:
    """What one launch of an empty kernel costs: host throughput (queue kept busy) and device
    time."""
    program = PROGRAMS.get(bench.context, bench.context.devices[0],
                           "__kernel void empty(__global int *a) { }", ())
    kernel = cl.Kernel(program, "empty")
    buffer = cl.Buffer(bench.context, cl.mem_flags.READ_WRITE, 4)
    kernel.set_args(buffer)
    variants = {
        "empty launch (bound)": busy(bench.queue, lambda q: cl.enqueue_nd_range_kernel(
            q, kernel, (1,), None)),
        "empty launch (set_args + launch)": busy(bench.queue, lambda q: (
            kernel.set_args(buffer), cl.enqueue_nd_range_kernel(q, kernel, (1,), None))),
    }
    samples = alternate(variants, rounds=rounds, iterations=iterations)
    device = []
    for _ in range(20):
        device.append(_event_seconds(cl.enqueue_nd_range_kernel(bench.profiling_queue, kernel,
                                                                (1,), None)))
    return dict(samples=samples, summary={k: summary(v) for k, v in samples.items()},
                device_time=summary(device[2:]))


def call_overhead(bench: Bench, *, rounds: int = 15, iterations: int = 400) -> dict:
    """Host time per launch of a two-kernel fused group with unchanged arguments: the bound
    kernel enqueued bare, BoundLaunch.enqueue, and FusedKernel.__call__ (which checks and binds
    on every call, setting only arguments that changed)."""
    a = KernelSource("__kernel void ova(__global float *x, const int n)\n{\n"
                     "    const int i = get_global_id(0);\n    if (i < n) x[i] += 1.0f;\n}\n", "ova")
    b = KernelSource("__kernel void ovb(__global float *y, const float s)\n{\n"
                     "    y[get_global_id(0)] *= s;\n}\n", "ovb")
    x = cl.Buffer(bench.context, cl.mem_flags.READ_WRITE, 64 * 4)
    y = cl.Buffer(bench.context, cl.mem_flags.READ_WRITE, 64 * 4)
    launches = [((64,), None, [x, np.int32(64)]), ((64,), None, [y, np.float32(1.0)])]
    fuser = bench.fusers["groups"]
    fused = fuser.fuse([a, b])
    bound = fused.bind(launches)
    (kernel, global_size, local_size, _), = bound.enqueues()
    variants = {
        "bare enqueue (bound kernel)": busy(bench.queue, lambda q: cl.enqueue_nd_range_kernel(
            q, kernel, global_size, local_size)),
        "BoundLaunch.enqueue": busy(bench.queue, bound.enqueue),
        "FusedKernel.__call__": busy(bench.queue, lambda q: fused(q, launches)),
    }
    samples = alternate(variants, rounds=rounds, iterations=iterations)
    ratio = [c / e for c, e in zip(samples["FusedKernel.__call__"], samples["BoundLaunch.enqueue"])]
    return dict(samples=samples, summary={k: summary(v) for k, v in samples.items()},
                call_over_enqueue=summary(ratio))


# --- records ------------------------------------------------------------------------------------

def header(bench: Bench, experiment: str, settings: dict) -> dict:
    return dict(
        experiment=experiment,
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        command=" ".join(["python -m benchmarks", *sys.argv[1:]]),
        device=bench.info(),
        host=dict(python=host_platform.python_version(), machine=host_platform.machine(),
                  cpus=os.cpu_count(), pyopencl=cl.VERSION_TEXT),
        settings=settings,
    )


def write(path: str, record: dict) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(record, f, indent=1, default=_jsonable)
    print(f"wrote {path}", file=sys.stderr)


def _jsonable(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
