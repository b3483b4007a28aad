#!/usr/bin/env python3
"""Is a fused plan's speed a property of its buffers? On the lent H100 a plan of 4 x
MobileNet-V2 replayed in 2.45-2.73 ms in some processes (calls) and 3.5-4.0 ms in others, the
same launches and sizes, while the sequential plan stayed within 1 % and the GPU's clocks at
1980 MHz throughout. Here
one process compiles the same plan several times, each copy with its own loaded graphs (its
own buffers), plus one copy without memory reuse, and replays them in alternating rounds
beside the sequential plan: copies that differ point at placement; copies alike, at the
process or the machine.

    python3 scripts/replay_levels.py --device nvidia --models mobilenet_v2,mobilenet_v2 \
        --copies 3 --json out.json

Prints each variant's median ms per inference and its spread; the JSON keeps the raw samples.
Then, per variant, where one inference's time goes (`inside`, on a profiling queue): the host's
time to enqueue it, the device's busy time (every launch's end - start, summed), the span from
the first start to the last end, and each launch's median duration, so that a slow level can be
told apart as kernels that run longer or as gaps between them.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

from fusion.execute.measure import alternating, busy, choose_iterations, summary, warm_up
from fusion.execute.plan import compile_plan, plan_fuser
from fusion.execute.profile import model_graph
from fusion.runtime import platform_context

import pyopencl as cl


def inside(context, plan, replays: int = 15) -> dict:
    """One inference at a time on a profiling queue: host enqueue ms, device busy ms (launch
    durations summed), span ms (first start to last end), medians over `replays`; and each
    launch's median duration in µs."""
    queue = cl.CommandQueue(context, properties=cl.command_queue_properties.PROFILING_ENABLE)
    for _ in range(3):
        plan.replay(queue)
    queue.finish()
    host, busy_ms, span, durations = [], [], [], []
    for _ in range(replays):
        start = time.perf_counter()
        events = [cl.enqueue_nd_range_kernel(queue, launch.kernel, launch.global_size,
                                             launch.local_size) for launch in plan.launches]
        host.append((time.perf_counter() - start) * 1e3)
        queue.finish()
        each = [(e.profile.end - e.profile.start) * 1e-3 for e in events]
        durations.append(each)
        busy_ms.append(sum(each) / 1e3)
        span.append((max(e.profile.end for e in events)
                     - min(e.profile.start for e in events)) * 1e-6)
    return dict(host_ms=statistics.median(host), busy_ms=statistics.median(busy_ms),
                span_ms=statistics.median(span),
                launch_us=[statistics.median(d[k] for d in durations)
                           for k in range(len(plan.launches))])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="intel-cpu")
    parser.add_argument("--models", default="mobilenet_v2,mobilenet_v2,mobilenet_v2,mobilenet_v2")
    parser.add_argument("--resolution", type=int)
    parser.add_argument("--policy", default="all", choices=("all", "none"))
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    context = platform_context(args.device)
    queue = cl.CommandQueue(context)
    graphs = [model_graph(name, args.resolution) for name in args.models.split(",")]
    fuser = plan_fuser(context)
    plans = {"sequential": compile_plan(context, queue, graphs, policy="none", fuser=fuser)}
    for k in range(args.copies):
        plans[f"{args.policy} copy {k}"] = compile_plan(context, queue, graphs,
                                                        policy=args.policy, fuser=fuser)
    plans[f"{args.policy} no reuse"] = compile_plan(context, queue, graphs, policy=args.policy,
                                                    fuser=fuser, reuse=False)
    variants = {name: busy(queue, plan.replay) for name, plan in plans.items()}
    for run in variants.values():
        warm_up(run, 1.0)
    iterations = choose_iterations(variants["sequential"], 0.05, limit=100)
    samples = alternating(variants, rounds=args.rounds, iterations=iterations)
    device = context.devices[0]
    print(f"{device.name.strip()} ({device.driver_version}); {args.models}; "
          f"{args.rounds} rounds of {iterations}")
    rows = {}
    for name, values in samples.items():
        per = [v * 1e3 for v in values]   # alternating() gives seconds per iteration
        rows[name] = summary(per)
        print(f"  {name:<18} {rows[name]['median']:.3f} ms [{rows[name]['min']:.3f}, "
              f"{rows[name]['max']:.3f}]  ({len(plans[name].launches)} launches)")
    where = {name: inside(context, plan) for name, plan in plans.items()}
    for name, w in where.items():
        print(f"  {name:<18} one inference: host {w['host_ms']:.3f} ms, device busy "
              f"{w['busy_ms']:.3f} ms, span {w['span_ms']:.3f} ms")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(dict(device=f"{device.name.strip()} (driver {device.driver_version})",
                           date=time.strftime("%Y-%m-%d %H:%M:%S"), settings=vars(args),
                           iterations=iterations, per_inference_ms=rows,
                           samples={k: [v * 1e3 for v in s]
                                    for k, s in samples.items()}), out, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
