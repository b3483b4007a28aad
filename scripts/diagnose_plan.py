#!/usr/bin/env python3
"""Where a plan of the profile in context fails on a device (seen on an H100: plan 21,
clEnqueueNDRangeKernel OUT_OF_RESOURCES, every time): the plan compiled alone in a fresh
process, as fusion.execute.incontext.measure_plan compiles it, then run in stages, each
stopping at the first error:

  1. every launch on its own, the queue finished after each (which launch, if it is one);
  2. one replay, then replays back to back as the warm-up runs them (a deep queue);
  3. the profiled replays of the measurement.

    python3 scripts/diagnose_plan.py --device nvidia --plan 21 --json out.json

The JSON has the device's limits, every launch's kernel facts (work-group limit, private and
local memory, arguments) and each stage's outcome; the failing launch's program source goes
beside it (`<json stem>-launch<k>.cl`).
"""
from __future__ import annotations

import argparse
import json
import time
import traceback
from pathlib import Path

import pyopencl as cl

from fusion.execute.incontext import training_plan
from fusion.execute.measure import added_us, busy
from fusion.execute.plan import compile_plan, plan_fuser
from fusion.execute.profile import Settings, model_graph
from fusion.runtime import platform_context

INFO = cl.kernel_work_group_info
LIMITS = ("max_work_group_size", "max_parameter_size", "max_constant_args",
          "max_constant_buffer_size", "max_read_image_args", "max_write_image_args",
          "max_samplers", "local_mem_size", "global_mem_size", "max_mem_alloc_size")


def kernel_facts(kernel: cl.Kernel, device: cl.Device) -> dict:
    facts = dict(name=kernel.function_name, args=kernel.num_args)
    for key in ("WORK_GROUP_SIZE", "PRIVATE_MEM_SIZE", "LOCAL_MEM_SIZE"):
        try:
            facts[key.lower()] = kernel.get_work_group_info(getattr(INFO, key), device)
        except cl.Error as error:
            facts[key.lower()] = f"unknown ({error})"
    return facts


def stage(report: dict, name: str, run) -> bool:
    started = time.perf_counter()
    try:
        report[name] = dict(result=run(), ok=True)
    except Exception as error:  # noqa: BLE001 - what failed is the finding
        report[name] = dict(ok=False, error=f"{type(error).__name__}: {error}",
                            traceback=traceback.format_exc())
    report[name]["seconds"] = round(time.perf_counter() - started, 3)
    print(f"{name}: {'ok' if report[name]['ok'] else report[name]['error']}", flush=True)
    return report[name]["ok"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="nvidia")
    parser.add_argument("--plan", type=int, required=True)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    settings = Settings()
    context = platform_context(args.device)
    device = context.devices[0]
    queue = cl.CommandQueue(context)
    report = dict(device=f"{device.name.strip()} (driver {device.driver_version})",
                  limits={key: getattr(device, key) for key in LIMITS}, plan=args.plan)
    models, policy = training_plan(settings, args.plan)
    report["models"] = models
    holder = {}

    def build():
        graphs = [model_graph(name, settings.resolution) for name in models]
        holder["plan"] = compile_plan(context, queue, graphs, policy=policy,
                                      fuser=plan_fuser(context), seed=settings.seed + 100 * args.plan)
        plan = holder["plan"]
        report["launches"] = [dict(row, kernel_facts=kernel_facts(launch.kernel, device))
                              for row, launch in zip(plan.schedule(), plan.launches)]
        return dict(launches=len(plan.launches), fused=plan.fused_launches)

    def one_by_one():
        plan = holder["plan"]
        for k, launch in enumerate(plan.launches):
            try:
                cl.enqueue_nd_range_kernel(queue, launch.kernel, launch.global_size,
                                           launch.local_size)
                queue.finish()
            except cl.Error:
                source = launch.kernel.program.get_info(cl.program_info.SOURCE)
                path = args.json.with_name(f"{args.json.stem}-launch{k}.cl")
                path.write_text(source)
                report["failing_launch"] = dict(launch=k, source=path.name,
                                                **report["launches"][k])
                raise
        return len(plan.launches)

    def replays():
        plan = holder["plan"]
        plan.replay(queue)
        queue.finish()
        run, done = busy(queue, plan.replay), []
        for iterations in (1, 2, 4, 8, 16, 32, 64, 128, 256, 256):
            run(iterations)
            done.append(iterations)
        return dict(replays=sum(done) + 1)

    def profiled():
        return dict(added_us=added_us(context, holder["plan"], 5))

    for name, run in (("build", build), ("one_by_one", one_by_one), ("replays", replays),
                      ("profiled", profiled)):
        if not stage(report, name, run):
            break
    args.json.write_text(json.dumps(report, indent=1, default=str))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
