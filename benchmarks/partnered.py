"""How an operator runs inside a fused kernel, against alone: each distinct operator of the six
models fused with the smallest one, and whether the latency model predicts better knowing it.

    python -m benchmarks.partnered --device nvidia [--resolution N] --output FILE.json
    python -m benchmarks.partnered --evaluate FILE.json --samples SAMPLES.jsonl[.gz] --host-us X

Measuring: the models are loaded as the profile loads them (fusion.execute.profile), and every
distinct operator is measured alone and fused with the smallest operator of another instance
(a stream of the launch, as a profile sample). On the H200 a fused group led by a
fully-connected layer took a median 0.67x that layer's time alone, and on Intel's CPU runtime
1x1 convolutions ran 0.75-0.86x their time alone next to a 32-item softmax: a member's cost
inside a fused kernel is not its cost alone, and no feature of its launch says so.

Evaluating: the group regressor is fitted on a profile's samples (of the same device and
resolution) with and without four more features from these times (each member's time inside
the fused kernel, less the partner's alone: their sum and maximum, and each over the alone
times'), and the held-out quarter scored as the profile scores it, for three random quarters.
"""
from __future__ import annotations

import argparse
import json
import math
import pathlib
import statistics
import sys
import time
import warnings


def measure(device: str, resolution: int | None) -> dict:
    import pyopencl as cl

    from fusion.execute import profile as prof
    from fusion.execute.plan import plan_fuser
    from fusion.runtime import platform_context
    context = platform_context(device)
    queue = cl.CommandQueue(context)
    graphs = prof.load_instances(context, queue, prof.Settings(resolution=resolution))
    facts = prof.node_facts(graphs)
    fuser = plan_fuser(context)   # fused as plans build them
    smallest = min(facts, key=lambda ref: facts[ref].work_items)
    twin = next(ref for ref in facts
                if facts[ref].key == facts[smallest].key and ref[0] != smallest[0])
    partner_us = prof.stream_us(queue, [prof.single_call(graphs, smallest)])[0]
    rows = {}
    for ref, key in prof.distinct_operators(facts).items():
        partner = smallest if ref[0] != smallest[0] else twin   # never the same instance
        call = prof.fused_call(fuser, graphs, [ref, partner])
        alone = prof.stream_us(queue, [prof.single_call(graphs, ref)])[0]
        rows[key] = dict(kind=facts[ref].kind, alone_us=alone,
                         partnered_us=None if call is None else prof.stream_us(queue, [call])[0])
    device_obj = context.devices[0]
    return dict(benchmark="partnered", date=time.strftime("%Y-%m-%d %H:%M:%S"),
                device=f"{device_obj.name.strip()} ({device_obj.platform.name.strip()}, driver "
                       f"{device_obj.driver_version})",
                resolution=resolution, partner=facts[smallest].key, partner_us=partner_us,
                operators=rows)


def evaluate(record: dict, samples: pathlib.Path, host_us: float) -> dict[str, list[float]]:
    from fusion.execute import profile as prof
    from fusion.plan import latency
    partner_us, rows = record["partner_us"], record["operators"]

    def inside(op, alone):
        partnered = rows.get(op.key, {}).get("partnered_us")
        return max(0.3 * alone, partnered - partner_us) if partnered else alone

    plain = latency.group_features

    def richer(ops, alone_us, kinds):
        fused = [inside(op, alone) for op, alone in zip(ops, alone_us)]
        return plain(ops, alone_us, kinds) + [
            math.log1p(sum(fused)), math.log1p(max(fused)),
            math.log(sum(fused) / sum(alone_us)), math.log(max(fused) / max(alone_us))]

    journal = prof.read_journal(samples)
    ordered = [journal[i] for i in sorted(journal)]
    scores = {}
    try:
        for name, features in (("plain", plain), ("with partnered times", richer)):
            latency.group_features = features
            scores[name] = [latency.within(prof.held_out_errors(ordered, host_us, seed))
                            for seed in (0, 1, 2)]
    finally:
        latency.group_features = plain
    return scores


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="intel-cpu")
    parser.add_argument("--resolution", type=int)
    parser.add_argument("--output", help="measure, and write the JSON here")
    parser.add_argument("--evaluate", help="a JSON this wrote: judge the features with it")
    parser.add_argument("--samples", help="with --evaluate: a profile's samples journal")
    parser.add_argument("--host-us", type=float, help="with --evaluate: that profile's host_us")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    if args.evaluate:
        if not (args.samples and args.host_us):
            parser.error("--evaluate needs --samples and --host-us")
        record = json.loads(pathlib.Path(args.evaluate).read_text())
        for name, values in evaluate(record, pathlib.Path(args.samples), args.host_us).items():
            scores = ", ".join(f"{v:.0%}" for v in values)
            print(f"{name:22} held-out groups within ±10 %: {scores} "
                  f"(mean {statistics.fmean(values):.1%})")
        return 0
    if not args.output:
        parser.error("give --output (measure) or --evaluate")
    record = measure(args.device, args.resolution)
    pathlib.Path(args.output).write_text(json.dumps(record, indent=1) + "\n")
    ratios = sorted(r["partnered_us"] / r["alone_us"] for r in record["operators"].values()
                    if r["partnered_us"])
    print(f"{len(ratios)} operators fused with {record['partner']} "
          f"({record['partner_us']:.1f} µs alone): partnered / alone median "
          f"{statistics.median(ratios):.2f}, p10 {ratios[len(ratios) // 10]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
