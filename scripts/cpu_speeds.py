#!/usr/bin/env python3
"""Are a machine's CPUs alike for the replay? Per CPU this process may use: the probe loop of
fusion.execute.affinity (what `fusion run --pin-cpu auto` ranks CPUs by) and the host's µs
per enqueue of a kernel taking 8 images (scripts/enqueue_args.py's), the thread pinned there;
`--repeat` passes over all CPUs. Whether the probe picks the CPU where enqueues are quickest.

    python3 scripts/cpu_speeds.py --device nvidia --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import pyopencl as cl

from fusion.execute.affinity import allowed_cpus, cpu_speeds, pinned
from fusion.runtime import platform_context

SOURCE = """
__constant sampler_t SAMPLER = CLK_NORMALIZED_COORDS_FALSE | CLK_ADDRESS_CLAMP | CLK_FILTER_NEAREST;
__kernel void k(__global float *out, __read_only image2d_t i0, __read_only image2d_t i1,
                __read_only image2d_t i2, __read_only image2d_t i3, __read_only image2d_t i4,
                __read_only image2d_t i5, __read_only image2d_t i6, __read_only image2d_t i7,
                const int n) {
  if (get_global_id(0) == 0) out[0] = read_imagef(i0, SAMPLER, (int2)(0, 0)).x + n;
}
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="intel-cpu")
    parser.add_argument("--burst", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    context = platform_context(args.device)
    queue = cl.CommandQueue(context)
    kernel = cl.Program(context, SOURCE).build().k
    out = cl.Buffer(context, cl.mem_flags.READ_WRITE, 64)
    fmt = cl.ImageFormat(cl.channel_order.RGBA, cl.channel_type.FLOAT)
    images = [cl.Image(context, cl.mem_flags.READ_ONLY, fmt, shape=(16, 16)) for _ in range(8)]
    kernel.set_args(out, *images, np.int32(1))
    cpus = sorted(allowed_cpus() or [])
    probe = {cpu: [] for cpu in cpus}
    enqueue = {cpu: [] for cpu in cpus}
    for _ in range(args.repeat):
        for cpu, seconds in cpu_speeds(cpus).items():
            probe[cpu].append(seconds * 1e3)
        for cpu in cpus:
            with pinned(cpu):
                queue.finish()
                start = time.perf_counter()
                for _ in range(args.burst):
                    cl.enqueue_nd_range_kernel(queue, kernel, (32,), (32,))
                enqueue[cpu].append((time.perf_counter() - start) / args.burst * 1e6)
                queue.finish()
    device = context.devices[0]
    print(f"{device.name.strip()}; {len(cpus)} CPUs, {args.repeat} passes")
    rows = {}
    for cpu in cpus:
        rows[cpu] = dict(probe_ms=statistics.median(probe[cpu]),
                         enqueue_us=statistics.median(enqueue[cpu]))
        print(f"  CPU {cpu:3d}: probe {rows[cpu]['probe_ms']:.3f} ms [{min(probe[cpu]):.3f}, "
              f"{max(probe[cpu]):.3f}], enqueue {rows[cpu]['enqueue_us']:.2f} µs "
              f"[{min(enqueue[cpu]):.2f}, {max(enqueue[cpu]):.2f}]")
    best_probe = min(rows, key=lambda c: rows[c]["probe_ms"])
    best_enqueue = min(rows, key=lambda c: rows[c]["enqueue_us"])
    print(f"fastest by the probe: CPU {best_probe} (enqueue {rows[best_probe]['enqueue_us']:.2f}"
          f" µs); by enqueues: CPU {best_enqueue} ({rows[best_enqueue]['enqueue_us']:.2f} µs)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(device=f"{device.name.strip()} (driver {device.driver_version})",
                           date=time.strftime("%Y-%m-%d %H:%M:%S"), settings=vars(args),
                           pid=os.getpid(), per_cpu=rows, probe_ms=probe, enqueue_us=enqueue,
                           fastest_by_probe=best_probe, fastest_by_enqueue=best_enqueue),
                      f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
