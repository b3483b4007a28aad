"""Whether the latency model's switch cost makes better plans: the auto plan made with the
device's stored model against the one made with the same model but another `switch_us`, each
against the sequential plan, in the same rounds.

    python -m benchmarks.switch_ab MODEL [MODEL ...] --device nvidia --switch-us 0
        [--rounds 30] --output FILE.json

Why: on the H200 the profile measured a switch cost of 15-17 µs a launch, and with it the mix
MobileNet-V2 + SqueezeNet-V1 + DeepLab-V3 is planned in 70 launches (SqueezeNet-V1 shifted 8
steps) instead of 73 (shifted 15); runs of separate calls measured 1.81x and 2.00x with it,
2.01x and 2.05x without. Separate runs drift by a few per cent; this times the two plans in
alternating rounds (sequential, stored model's plan, other model's plan, sequential again).
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time


def compare(models: list[str], *, device_name: str, switch_us: float, rounds: int,
            sample_seconds: float, resolution: int | None = None) -> dict:
    import pyopencl as cl

    from fusion.execute.measure import (alternating, busy, choose_iterations, ratios, summary,
                                        warm_up)
    from fusion.execute.plan import compile_plan, outputs_identical, plan_fuser
    from fusion.execute.profile import cached_model, model_graph
    from fusion.runtime import platform_context
    context = platform_context(device_name)
    device = context.devices[0]
    stored = cached_model(device)
    if stored is None:
        raise SystemExit("no latency model for this device: run `python -m fusion profile` "
                         "first")
    other = copy.copy(stored)
    other.switch_us = switch_us
    queue = cl.CommandQueue(context)
    graphs = [model_graph(name, resolution) for name in models]
    fuser = plan_fuser(context)
    plans = {"sequential": compile_plan(context, queue, graphs, policy="none", fuser=fuser),
             "stored": compile_plan(context, queue, graphs, policy="auto", fuser=fuser,
                                    latency=stored),
             "other": compile_plan(context, queue, graphs, policy="auto", fuser=fuser,
                                   latency=other),
             "sequential again": compile_plan(context, queue, graphs, policy="none",
                                              fuser=fuser)}
    reference, *others = plans.values()
    identical = all(outputs_identical(queue, reference, others, seed=1000))
    variants = {name: busy(queue, plan.replay) for name, plan in plans.items()}
    warm_up(variants["stored"])
    iterations = choose_iterations(variants["sequential"], sample_seconds, limit=100)
    samples = alternating(variants, rounds=rounds, iterations=iterations)
    return dict(
        benchmark="switch_ab", date=time.strftime("%Y-%m-%d %H:%M:%S"),
        device=f"{device.name.strip()} ({device.platform.name.strip()}, driver "
               f"{device.driver_version})",
        models=models, resolution=resolution, rounds=rounds, iterations_per_sample=iterations,
        stored_switch_us=stored.switch_us, other_switch_us=switch_us,
        outputs_bit_identical=identical,
        launches={name: len(plan.launches) for name, plan in plans.items()},
        shifts={name: list(plan.shifts) for name, plan in plans.items()},
        stored_vs_sequential=summary(ratios(samples["sequential"], samples["stored"])),
        other_vs_sequential=summary(ratios(samples["sequential"], samples["other"])),
        stored_over_other=summary(ratios(samples["other"], samples["stored"])),
        null=summary(ratios(samples["sequential"], samples["sequential again"])),
        samples_ms={name: [s * 1e3 for s in values] for name, values in samples.items()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.switch_ab",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--device", default="nvidia")
    parser.add_argument("--switch-us", type=float, default=0.0,
                        help="the other model's switch cost (default 0: none)")
    parser.add_argument("--resolution", type=int)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--sample-seconds", type=float, default=0.05)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    record = compare(args.models, device_name=args.device, switch_us=args.switch_us,
                     rounds=args.rounds, sample_seconds=args.sample_seconds,
                     resolution=args.resolution)
    record["settings"] = vars(args)
    with open(args.output, "w") as f:
        json.dump(record, f, indent=1)
    print(f"launches {record['launches']}, shifts {record['shifts']}; vs sequential: stored "
          f"(switch {record['stored_switch_us']:.1f} µs) "
          f"{record['stored_vs_sequential']['median']:.3f}, other (switch {args.switch_us:.1f}"
          f" µs) {record['other_vs_sequential']['median']:.3f}; stored over other "
          f"{record['stored_over_other']['median']:.3f}; null {record['null']['median']:.3f}; "
          f"outputs bit-identical: {record['outputs_bit_identical']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
