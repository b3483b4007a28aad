"""Where a replay's time goes, round after round: each launch's device time and the gap before
it, for the sequential plan and the planned one, next to the wall time of the round.

    python -m benchmarks.launch_trace MODEL [MODEL ...] --device nvidia [--policy auto]
        [--rounds 40] [--sample-seconds 0.05] --output FILE.json

Why: on the H200, 4 x MobileNet-V2's auto plan ran at two levels, ~3.45 and ~2.70 ms an
inference, switching inside one run, while the sequential plan stayed at 7.4-7.5 ms and the
clocks did not move. A round's wall time does not say whether the slow level is the kernels
(device time) or the space between them (the device waiting for the host or the driver).

Every round runs each plan for a sample of inferences back to back, on one queue with
profiling on (both plans alike), timed by the wall clock; the events of the sample's last
inference give each launch's (start, end). Per round and plan the JSON keeps the wall ms per
inference, the last inference's device span, the sum of its launches' device times, the sum
of the gaps between them, and every launch's device time and gap (µs), so that slow and fast
rounds can be compared launch by launch.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


def _traced(queue, plan, iterations: int) -> tuple[float, list[tuple[int, int]]]:
    """Wall seconds per inference of `iterations` replays, and the last one's event times."""
    import pyopencl as cl
    enqueue = cl.enqueue_nd_range_kernel
    calls = [(launch.kernel, launch.global_size, launch.local_size) for launch in plan.launches]
    start = time.perf_counter()
    for _ in range(iterations - 1):
        plan.replay(queue)
    events = [enqueue(queue, kernel, global_size, local_size)
              for kernel, global_size, local_size in calls]
    queue.finish()
    seconds = (time.perf_counter() - start) / iterations
    return seconds, [(event.profile.start, event.profile.end) for event in events]


def _round_row(seconds: float, times: list[tuple[int, int]]) -> dict:
    durations = [(end - start) / 1e3 for start, end in times]
    gaps = [0.0] + [max(0.0, (times[i][0] - times[i - 1][1]) / 1e3)
                    for i in range(1, len(times))]
    return dict(wall_ms=seconds * 1e3, span_ms=(times[-1][1] - times[0][0]) / 1e6,
                device_ms=sum(durations) / 1e3, gap_ms=sum(gaps) / 1e3,
                launch_us=[round(d, 3) for d in durations], gap_us=[round(g, 3) for g in gaps])


def trace(models: list[str], *, device_name: str, policy: str, rounds: int,
          sample_seconds: float, resolution: int | None = None) -> dict:
    import pyopencl as cl

    from fusion.execute.measure import busy, choose_iterations, warm_up
    from fusion.execute.plan import compile_plan, plan_fuser
    from fusion.execute.profile import cached_model, model_graph
    from fusion.runtime import platform_context
    context = platform_context(device_name)
    device = context.devices[0]
    latency = cached_model(device) if policy == "auto" else None
    if policy == "auto" and latency is None:
        raise SystemExit("no latency model for this device: run `python -m fusion profile` "
                         "first")
    queue = cl.CommandQueue(context, properties=cl.command_queue_properties.PROFILING_ENABLE)
    graphs = [model_graph(name, resolution) for name in models]
    fuser = plan_fuser(context)
    plans = {"sequential": compile_plan(context, queue, graphs, policy="none", fuser=fuser),
             "planned": compile_plan(context, queue, graphs, policy=policy, fuser=fuser,
                                     latency=latency)}
    warm_up(busy(queue, plans["planned"].replay))
    iterations = choose_iterations(busy(queue, plans["sequential"].replay), sample_seconds,
                                   limit=100)
    rows = {name: [] for name in plans}
    for _ in range(rounds):
        for name, plan in plans.items():
            rows[name].append(_round_row(*_traced(queue, plan, iterations)))
    return dict(benchmark="launch_trace", date=time.strftime("%Y-%m-%d %H:%M:%S"),
                device=f"{device.name.strip()} ({device.platform.name.strip()}, driver "
                       f"{device.driver_version})",
                models=models, policy=policy, resolution=resolution, rounds=rounds,
                iterations_per_sample=iterations,
                launches={name: [dict(kernel=launch.kernel.function_name, nodes=launch.nodes)
                                 for launch in plan.launches] for name, plan in plans.items()},
                rounds_by_plan=rows)


def report(record: dict) -> str:
    lines = [f"{record['device']}: {' + '.join(record['models'])}, policy {record['policy']}, "
             f"{record['iterations_per_sample']} inferences a sample",
             f"{'round':>5} | {'plan':>10} {'wall':>7} {'span':>7} {'device':>7} {'gaps':>7} | "
             f"{'sequential':>10} {'wall':>7} {'span':>7} {'device':>7} {'gaps':>7}"]
    for i, (p, s) in enumerate(zip(record["rounds_by_plan"]["planned"],
                                   record["rounds_by_plan"]["sequential"])):
        lines.append(f"{i:>5} | {'':>10} {p['wall_ms']:7.3f} {p['span_ms']:7.3f} "
                     f"{p['device_ms']:7.3f} {p['gap_ms']:7.3f} | {'':>10} {s['wall_ms']:7.3f} "
                     f"{s['span_ms']:7.3f} {s['device_ms']:7.3f} {s['gap_ms']:7.3f}")
    walls = [p["wall_ms"] for p in record["rounds_by_plan"]["planned"]]
    lines.append(f"planned wall ms: median {statistics.median(walls):.3f}, "
                 f"min {min(walls):.3f}, max {max(walls):.3f} (ms an inference)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.launch_trace",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--device", default="nvidia")
    parser.add_argument("--policy", choices=("auto", "all", "none"), default="auto")
    parser.add_argument("--resolution", type=int)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--sample-seconds", type=float, default=0.05)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    record = trace(args.models, device_name=args.device, policy=args.policy, rounds=args.rounds,
                   sample_seconds=args.sample_seconds, resolution=args.resolution)
    record["settings"] = vars(args)
    with open(args.output, "w") as f:
        json.dump(record, f)
    print(report(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
