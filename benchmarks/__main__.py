"""python -m benchmarks <experiment> [--platform NAME] [--output FILE] ...

Experiments: identical (Figure 9), combinations (Figures 8, 10), model-pair (Figure 11),
launch (launch cost), call-overhead (FusedKernel.__call__ against
BoundLaunch.enqueue), smoke.
Results: JSON with the device, every setting and every raw sample (benchmarks/results/);
docs/PERFORMANCE.md is written from them by `python -m benchmarks.report`.
"""
from __future__ import annotations

import argparse
import sys

from fusion.runtime import DEFAULT_PLATFORM

from . import experiments, harness
from .layers import LAYERS, TYPES


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", choices=["identical", "combinations", "launch",
                                               "call-overhead", "model-pair", "smoke"])
    parser.add_argument("--platform", default=DEFAULT_PLATFORM,
                        help="OpenCL platform (part of its name), e.g. NVIDIA")
    parser.add_argument("--output", help="JSON file (default benchmarks/results/<exp>-<dev>.json)")
    parser.add_argument("--rounds", type=int, default=15, help="alternating rounds per group")
    parser.add_argument("--sample-ms", type=float, default=4.0,
                        help="target length of one timed sample (iterations are chosen so)")
    parser.add_argument("--sizes", default="2,3", help="combinations: group sizes")
    parser.add_argument("--types", default=",".join(TYPES), help="combinations: operator types")
    parser.add_argument("--limit", type=int, help="combinations: at most this many groups")
    parser.add_argument("--counts", default="1,2,3,4,5,6,7,8", help="identical: group sizes")
    parser.add_argument("--layers", default="DWC_s1:0,C_1x1:0,DWC_s1:2,Add:0",
                        help="identical: TYPE:INDEX entries of benchmarks/layers.py")
    parser.add_argument("--model", default="mobilenet_v2", help="model-pair: the model")
    parser.add_argument("--resolution", type=int, help="model-pair: input size (default Table 1)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    bench = harness.open_bench(args.platform)
    settings = dict(vars(args))
    progress = not args.no_progress
    if args.experiment == "launch":
        results = dict(launch=harness.launch_cost(bench, rounds=args.rounds))
    elif args.experiment == "call-overhead":
        results = dict(call_overhead=harness.call_overhead(bench, rounds=args.rounds))
    elif args.experiment == "identical":
        layers = [LAYERS[t][int(i)] for t, i in (e.split(":") for e in args.layers.split(","))]
        counts = [int(c) for c in args.counts.split(",")]
        results = dict(groups=experiments.run_identical(
            bench, layers=layers, counts=counts, rounds=args.rounds, sample_ms=args.sample_ms,
            progress=progress))
    elif args.experiment == "combinations":
        results = dict(groups=experiments.run_combinations(
            bench, sizes=[int(s) for s in args.sizes.split(",")], rounds=args.rounds,
            sample_ms=args.sample_ms, types=tuple(args.types.split(",")), progress=progress,
            limit=args.limit))
    elif args.experiment == "model-pair":
        results = dict(pair=experiments.run_model_pair(
            bench, model=args.model, resolution=args.resolution, rounds=args.rounds,
            sample_ms=args.sample_ms))
    else:
        results = smoke(bench)
    record = harness.header(bench, args.experiment, settings)
    record.update(results)
    record["launch"] = record.get("launch") or harness.launch_cost(bench, rounds=5,
                                                                    iterations=100)
    device = bench.info()["platform"].split()[0].lower()
    harness.write(args.output or f"benchmarks/results/{args.experiment}-{device}.json", record)
    return 0


def smoke(bench) -> dict:
    """Every experiment at toy shapes and few rounds: the harness works end to end."""
    small = [dict(layer="tiny dw", kind="depthwise_conv2d", c=8, h=6, w=6, kernel=3, stride=1,
                  pad=1),
             dict(layer="tiny add", kind="eltwise_add", c=4, h=5, w=5)]
    identical = experiments.run_identical(bench, layers=small[:1], counts=[1, 2], rounds=2,
                                          sample_ms=0.5, progress=False)
    pairs = []
    group = harness.make_group(bench, "dw + add", small)
    pairs.append(experiments.measure_group(
        bench, group, variants=experiments.fused_variants(bench, group, ("groups", "wave")),
        rounds=2, sample_ms=0.5, device_repeats=2))
    return dict(groups=identical + pairs)


if __name__ == "__main__":
    sys.exit(main())
