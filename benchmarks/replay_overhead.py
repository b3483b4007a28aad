"""Host time per launch of Plan.replay against a bare enqueue loop over the same kernels.

    python -m benchmarks.replay_overhead --device nvidia --models mobilenet_v2,mobilenet_v2 \
        --output FILE.json

Both only enqueue (no wait inside the timed part; the queue is drained between samples), in
alternating rounds; quoted: the median per-launch difference (µs) and ratio. The issue's target:
replay adds at most 5 µs per launch over the bare loop.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import pyopencl as cl

from fusion.execute.plan import compile_plan
from fusion.graph import build
from fusion.runtime import platform_context


def run(device: str, models: list[str], rounds: int, resolution: int | None) -> dict:
    context = platform_context(device)
    queue = cl.CommandQueue(context)
    plan = compile_plan(context, queue, [build(m, resolution) for m in models], policy="all")
    calls = [(l.kernel, l.global_size, l.local_size) for l in plan.launches]

    def bare():
        enqueue = cl.enqueue_nd_range_kernel
        for kernel, global_size, local_size in calls:
            enqueue(queue, kernel, global_size, local_size)

    samples = {"bare": [], "replay": []}
    for _ in range(3):
        bare(); plan.replay(queue); queue.finish()
    for _ in range(rounds):
        for name, fn in (("bare", bare), ("replay", lambda: plan.replay(queue))):
            queue.finish()
            start = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - start) / len(calls) * 1e6)
            queue.finish()
    diffs = [r - b for r, b in zip(samples["replay"], samples["bare"])]
    d = context.devices[0]
    return dict(experiment="replay-overhead", device=f"{d.name.strip()} ({d.platform.name.strip()}"
                f", driver {d.driver_version})", models=models, launches=len(calls),
                rounds=rounds, date=time.strftime("%Y-%m-%d %H:%M:%S"),
                bare_us_per_launch=statistics.median(samples["bare"]),
                replay_us_per_launch=statistics.median(samples["replay"]),
                median_added_us_per_launch=statistics.median(diffs),
                median_ratio=statistics.median(r / b for r, b in
                                               zip(samples["replay"], samples["bare"])),
                samples_us=samples)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="intel-cpu")
    parser.add_argument("--models", default="mobilenet_v2,mobilenet_v2")
    parser.add_argument("--resolution", type=int)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    record = run(args.device, args.models.split(","), args.rounds, args.resolution)
    with open(args.output, "w") as handle:
        json.dump(record, handle, indent=1)
    print(f"{record['launches']} launches: bare {record['bare_us_per_launch']:.2f} µs, replay "
          f"{record['replay_us_per_launch']:.2f} µs per launch (added "
          f"{record['median_added_us_per_launch']:+.2f} µs)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
