"""Recalibration under an injected competing load: does the auto plan notice, re-plan and win?

    python -m benchmarks.recalibration --device nvidia --models mobilenet_v2,squeezenet_v1 \
        --output FILE.json

The auto plan of the models runs through fusion.execute.adapt.AdaptivePlan, window after
window: `--idle` windows with the device to itself (the plan must stay as it is), then
`--loaded` windows while a competing process keeps launching kernels on the same device
(fusion.execute.load: each about `--load-kernel-ms` long), then `--idle` windows again. Every
window, every recalibration (what was measured, the corrected model's predictions, the trial of
the new plan against the running one: alternating rounds, median of per-round ratios, with a
null comparison) goes into the JSON. At the end of the loaded phase the plan the load found is
run against the plan made on the idle device, under the load, in `--rounds` alternating rounds
(with a null comparison): "throughput recovers" is that ratio above 1 beyond the null's noise.
The device's stored latency model is used (`python -m fusion profile` first).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import pyopencl as cl

from fusion.execute.adapt import AdaptivePlan
from fusion.execute.load import competing_load
from fusion.execute.measure import head_to_head
from fusion.execute.profile import model_graph, require_model
from fusion.runtime import platform_context


def run(args) -> dict:
    context = platform_context(args.device)
    queue = cl.CommandQueue(context)
    device = context.devices[0]
    graphs = [model_graph(name, args.resolution) for name in args.models.split(",")]
    adaptive = AdaptivePlan(context, queue, graphs, latency=require_model(device),
                            threshold=args.threshold, patience=args.patience,
                            window_seconds=args.window_seconds)

    def windows(phase: str, count: int) -> list[dict]:
        rows = []
        for _ in range(count):
            check = adaptive.step()
            rows.append(dict(phase=phase, **check.as_dict()))
            print(f"{phase:7} window {check.window:3d}: {check.observed_ms:8.3f} ms, expected "
                  f"{check.expected_ms:8.3f}, drift {check.drift:5.2f}"
                  f"{', recalibrated' if check.recalibrated else ''}"
                  f"{', PLAN CHANGED' if check.plan_changed else ''}", file=sys.stderr,
                  flush=True)
        return rows

    history = windows("idle", args.idle)
    idle_plan = adaptive.plan
    with competing_load(args.device, kind=args.load, kernel_ms=args.load_kernel_ms,
                        processes=args.load_processes, context=context):
        history += windows("loaded", args.loaded)
        under_load = head_to_head(queue, idle_plan.replay, adaptive.plan.replay,
                                  rounds=args.rounds, sample_seconds=args.sample_seconds)
    loaded_plan = adaptive.plan
    history += windows("idle", args.idle)
    return dict(
        benchmark="recalibration",
        device=f"{device.name.strip()} ({device.platform.name.strip()}, driver "
               f"{device.driver_version})",
        date=time.strftime("%Y-%m-%d %H:%M:%S"), models=args.models.split(","),
        resolution=args.resolution, settings=vars(args),
        plan_changed_under_load=loaded_plan is not idle_plan,
        recalibrations_idle_before=sum(r["recalibrated"] for r in history[:args.idle]),
        under_load=under_load,   # a: the idle plan, b: the plan running at the end of the load
        launches=dict(idle_plan=len(idle_plan.launches), loaded_plan=len(loaded_plan.launches),
                      final_plan=len(adaptive.plan.launches)),
        windows=history, recalibrations=adaptive.recalibrations)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="intel-cpu")
    parser.add_argument("--models", default="mobilenet_v2,squeezenet_v1")
    parser.add_argument("--resolution", type=int)
    parser.add_argument("--idle", type=int, default=8, help="windows before and after the load")
    parser.add_argument("--loaded", type=int, default=10, help="windows under the load")
    parser.add_argument("--load", choices=("device", "host", "queue"), default="device")
    parser.add_argument("--load-kernel-ms", type=float, default=2.0)
    parser.add_argument("--load-processes", type=int,
                        help="default: 1 for a device load, one per core for a host load")
    parser.add_argument("--threshold", type=float, default=1.5)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--window-seconds", type=float, default=0.25)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--sample-seconds", type=float, default=0.05)
    parser.add_argument("--output")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    result = run(args)
    text = json.dumps(result, indent=1)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    u = result["under_load"]
    print(f"plan changed under load: {result['plan_changed_under_load']}; launches "
          f"{result['launches']}; under load, idle plan / current plan "
          f"{u['a_over_b']['median']:.3f} (null {u['null']['median']:.3f} "
          f"[{u['null']['min']:.3f}, {u['null']['max']:.3f}]); recalibrations "
          f"{len(result['recalibrations'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
