"""The auto policy against exhaustive search, measured, on ready sets of 3-6 operators.

    python -m benchmarks.policy_exhaustive --device nvidia --sets 16 --output FILE.json

Ready sets are drawn as the executor meets them: one operator of each of n model instances
(the six models, any mix, each at a step shifted by up to 2), or the branches of one model's
step. For each set every non-empty subset is measured as one launch (alone for one operator,
fused otherwise; fusion.execute.profile.stream_us), so the measured cost of every partition is
known: the exhaustive optimum is the partition of least measured cost (Bell(6) = 203
partitions). The policy chooses from its latency model's predictions only. Then the two
partitions are run as they would be in a replay (their launches back to back), alternating
rounds, and the policy's throughput is quoted as a fraction of the optimum's (median of
per-round ratios), per set and over all sets (every set's partition run once: the optimum's
summed time over the policy's; and the geometric mean of the sets' fractions). The policy is
the executor's: the latency model's launch costs, a fused group asked to save more than the
model's error (fusion.execute.auto). Also checked: every fused launch the policy chose,
measured against its members run one by one (>= 0.97 is the target).

The latency model is the device's stored profile (`python -m fusion profile` first).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np
import pyopencl as cl

from fusion.execute.auto import GroupOracle
from fusion.execute.measure import (alternating, busy, choose_iterations, ratios, summary,
                                    warm_up)
from fusion.execute.plan import plan_fuser
from fusion.execute.profile import (INSTANCES, Settings, fused_call, load_instances,
                                    require_model, single_call, stream, stream_us)
from fusion.graph.schedule import levels
from fusion.plan.policy import _members, best_partition, partition_cost, with_margin
from fusion.runtime import platform_context


def ready_set(graphs, rng, size: int) -> list[tuple[int, int]]:
    steps = [levels(loaded.graph) for loaded in graphs]
    if rng.random() < 0.25:
        wide = [(g, lv) for g in range(0, len(graphs), INSTANCES) for lv in steps[g]
                if len(lv) >= 3]
        g, level = wide[int(rng.integers(0, len(wide)))]
        pick = sorted(rng.choice(len(level), size=min(size, len(level)), replace=False))
        return [(g, int(level[p])) for p in pick]
    chosen = rng.choice(len(graphs), size=size, replace=False)
    step = int(rng.integers(0, min(len(steps[g]) for g in chosen)))
    return sorted((int(g), int(rng.choice(steps[g][max(0, step - int(rng.integers(0, 3)))])))
                  for g in chosen)


def run(device: str, sets: int, seed: int, rounds: int, resolution: int | None = None) -> dict:
    context = platform_context(device)
    queue = cl.CommandQueue(context)
    model = require_model(context.devices[0])
    graphs = load_instances(context, queue, Settings(resolution=resolution))
    fuser = plan_fuser(context)   # groups measured as plans build them
    oracle = GroupOracle(graphs, fuser, model)
    rng = np.random.default_rng(seed)
    results = []
    warm_up(stream(queue, [single_call(graphs, (0, 1))]), 2.0)
    for index in range(sets):
        items = ready_set(graphs, rng, size=3 + index % 4)
        n = len(items)
        measured: dict[tuple[int, ...], float] = {}
        calls: dict[tuple[int, ...], tuple] = {}
        for mask in range(1, 1 << n):
            members = _members(mask, n)
            refs = [items[i] for i in members]
            if len(refs) == 1:
                call = single_call(graphs, refs[0])
            else:
                call = fused_call(fuser, graphs, refs) if oracle.allowed(refs) else None
            if call is not None:
                calls[members] = call
                measured[members] = stream_us(queue, [call])[0]

        def measured_cost(group):
            return measured[tuple(sorted(items.index(ref) for ref in group))]

        allowed = lambda group: tuple(sorted(items.index(r) for r in group)) in measured
        optimum = best_partition(items, measured_cost, allowed)
        chosen = best_partition(items, with_margin(oracle.cost, model.group_error),
                                oracle.allowed)
        variants = {}
        for name, partition in (("optimum", optimum), ("policy", chosen)):
            launches = [calls[tuple(group)] for group in partition]
            variants[name] = busy(queue, lambda q, launches=launches: [
                cl.enqueue_nd_range_kernel(q, *call) for call in launches])
        iterations = choose_iterations(variants["optimum"], 0.02, limit=500)
        samples = alternating(variants, rounds=rounds, iterations=iterations)
        fraction = summary(ratios(samples["optimum"], samples["policy"]))
        fused_vs_alone = [
            sum(measured[(i,)] for i in group) / measured[tuple(group)]
            for group in chosen if len(group) > 1]
        results.append(dict(
            items=[dict(model=graphs[g].graph.name, instance=g % INSTANCES, node=i,
                        name=graphs[g].graph.nodes[i].name) for g, i in items],
            optimum=[list(g) for g in optimum], policy=[list(g) for g in chosen],
            optimum_measured_us=partition_cost(items, optimum, lambda grp: measured_cost(grp)),
            policy_measured_us=partition_cost(items, chosen, lambda grp: measured_cost(grp)),
            policy_predicted_us=partition_cost(items, chosen, oracle.cost),
            sequential_measured_us=sum(measured[(i,)] for i in range(n)),
            throughput_fraction_of_optimum=fraction,
            fused_launch_vs_members_alone=fused_vs_alone,
            subsets_measured={",".join(map(str, k)): v for k, v in measured.items()},
            samples_us={k: [s * 1e6 for s in v] for k, v in samples.items()}))
        print(f"set {index}: n={n} policy {fraction['median']:.3f} of optimum; fused launches "
              f"vs alone {[round(x, 2) for x in fused_vs_alone]}", file=sys.stderr)
    fractions = [r["throughput_fraction_of_optimum"]["median"] for r in results]
    per_set = {name: [statistics.median(r["samples_us"][name]) for r in results]
               for name in ("optimum", "policy")}
    fused = [x for r in results for x in r["fused_launch_vs_members_alone"]]
    device_obj = context.devices[0]
    return dict(
        experiment="policy-exhaustive", date=time.strftime("%Y-%m-%d %H:%M:%S"),
        device=f"{device_obj.name.strip()} ({device_obj.platform.name.strip()}, driver "
               f"{device_obj.driver_version})",
        settings=dict(sets=sets, seed=seed, rounds=rounds, sizes="3-6", resolution=resolution),
        median_fraction=statistics.median(fractions), min_fraction=min(fractions),
        aggregate_fraction=sum(per_set["optimum"]) / sum(per_set["policy"]),
        geometric_mean_fraction=statistics.geometric_mean(fractions),
        sets_at_least_97pct=sum(f >= 0.97 for f in fractions),
        fused_launches=len(fused), fused_below_097=sum(x < 0.97 for x in fused),
        min_fused_vs_alone=min(fused) if fused else None, sets=results)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="intel-cpu")
    parser.add_argument("--sets", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--resolution", type=int, help="default: Table 1's (as the profile)")
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    record = run(args.device, args.sets, args.seed, args.rounds, args.resolution)
    with open(args.output, "w") as handle:
        json.dump(record, handle, indent=1)
    print(f"policy / optimum: over all sets {record['aggregate_fraction']:.3f}; per set median "
          f"{record['median_fraction']:.3f}, min {record['min_fraction']:.3f}; "
          f"{record['sets_at_least_97pct']} of {args.sets} sets >= 0.97; fused launches below "
          f"0.97x alone: {record['fused_below_097']} of {record['fused_launches']}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
