"""Launches measured where a replay runs them: inside plans, not in streams of copies.

    python -m benchmarks.context_profile --device nvidia [--plans 24] [--replays 5]
        [--resolution N] [--models A,B] [--seed 0] --output FILE.jsonl
    python -m benchmarks.context_profile --evaluate FILE.jsonl [--stored-model] [--device ...]

Why: the latency model is fitted on streams (one launch enqueued back to back, its data and
weights hot in the caches). On the H200 a replay is not that: each model's chain of nodes cost
16.5 µs a launch more than its nodes' streams, and the launches of call 15's plans, profiled
inside their replay, took 0.46-2.56x (tenth to ninetieth percentile) what the model predicted
for them (6-35 % within ±10 %). A model fitted on launches measured in context would predict
what the policy's choices cost.

Measuring: `--plans` random plans, each of one to four models drawn from the six (a model may
come twice), every lock-step ready set split into random groups of up to four; each plan
compiled (fused kernels generated, built, bound) and replayed `--replays` times on a profiling
queue after two warm replays. A launch's time is its span in the in-order replay (from the end
of the launch before it to its own end: the gap before it included, what it adds to the
replay), the median over the replays. One JSON line per launch, in the profile journal's format
(fusion.execute.profile: `index`, `members`, `models`, `ops`, `us`), plus `plan` and `launch`.

Evaluating: a model fitted on a random three quarters of the fused launches (and every
single one) predicts the rest; and with `--stored-model` the device's stored (stream-fitted)
model predicts the same launches, its switch cost added, as the policy charges them.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

MAX_GROUP = 4


def random_policy(rng, max_group: int = MAX_GROUP):
    """A policy (fusion.execute.plan) splitting each ready set into random groups."""
    def split(ready):
        order = list(ready)
        rng.shuffle(order)
        groups = []
        while order:
            size = int(rng.integers(1, min(max_group, len(order)) + 1))
            groups.append(order[:size])
            order = order[size:]
        return groups
    split.__name__ = "random"
    return split


def measure(device_name: str, *, plans: int, replays: int, resolution: int | None, seed: int,
            output: Path, models: tuple[str, ...] | None = None) -> int:
    import numpy as np
    import pyopencl as cl

    from fusion.execute.plan import compile_plan
    from fusion.execute.profile import model_graph, node_facts
    from fusion.execute.scenario import profile
    from fusion.graph import MODELS
    from fusion.runtime import Fuser, platform_context
    context = platform_context(device_name)
    queue = cl.CommandQueue(context)
    fuser = Fuser(context)
    rng = np.random.default_rng(seed)
    names = sorted(models or MODELS)
    index = 0
    with output.open("w") as journal:
        for p in range(plans):
            models = [names[k] for k in rng.integers(0, len(names), int(rng.integers(1, 5)))]
            graphs = [model_graph(name, resolution) for name in models]
            plan = compile_plan(context, queue, graphs, policy=random_policy(rng), fuser=fuser,
                                seed=seed + 100 * p)
            facts = node_facts(plan.graphs)
            spans = [profile(context, plan).spans for _ in range(replays)]
            for k, launch in enumerate(plan.launches):
                us = statistics.median((s[k][1] - s[k][0]) * 1e3 for s in spans)
                journal.write(json.dumps(dict(
                    index=index, plan=p, launch=k, members=[list(ref) for ref in launch.nodes],
                    models=[models[g] for g, _ in launch.nodes],
                    ops=[facts[ref].as_dict() for ref in launch.nodes], us=us)) + "\n")
                index += 1
            journal.flush()
            print(f"plan {p}: {' + '.join(models)}, {len(plan.launches)} launches "
                  f"({plan.fused_launches} fused), "
                  f"{statistics.median(s[-1][1] for s in spans):.3f} ms a replay",
                  file=sys.stderr)
    return index


def evaluate(path: Path, *, host_us: float, stored=None, seed: int = 0) -> dict:
    import numpy as np

    from fusion.execute.profile import read_journal, samples_of
    from fusion.plan import latency
    rows = list(read_journal(path).values())
    measured = [row for row in rows if row.get("us")]
    groups = [row for row in measured if len(row["ops"]) > 1]
    rng = np.random.default_rng(seed)
    test = {row["index"] for row in groups if rng.random() < 0.25}
    model = latency.fit(samples_of(r for r in measured if r["index"] not in test),
                        host_us=host_us)
    held_out = samples_of(r for r in groups if r["index"] in test)
    result = dict(launches=len(measured), fused=len(groups), held_out=len(held_out),
                  in_context_within_10pct=latency.within(latency.errors(model, held_out)))
    if stored is not None:
        errors = [(stored.group_us(s.ops) + stored.switch_us) / s.measured_us - 1.0
                  for s in held_out]
        result.update(stored_switch_us=stored.switch_us,
                      stored_within_10pct=latency.within(errors),
                      stored_median_ratio=statistics.median(1.0 + e for e in errors))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.context_profile",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="nvidia")
    parser.add_argument("--plans", type=int, default=24)
    parser.add_argument("--replays", type=int, default=5)
    parser.add_argument("--resolution", type=int)
    parser.add_argument("--models", help="comma-separated (default: the six)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, help="the journal to write (measuring)")
    parser.add_argument("--evaluate", type=Path, help="a journal to judge a model on")
    parser.add_argument("--host-us", type=float, default=0.0,
                        help="the host's enqueue µs for the fit (evaluating)")
    parser.add_argument("--stored-model", action="store_true",
                        help="also judge the device's stored model (evaluating; needs the "
                             "device to find it)")
    args = parser.parse_args(argv)
    if args.evaluate:
        stored = None
        if args.stored_model:
            from fusion.execute.profile import cached_model
            from fusion.runtime import platform_context
            stored = cached_model(platform_context(args.device).devices[0])
        print(json.dumps(evaluate(args.evaluate, host_us=args.host_us, stored=stored)))
        return 0
    if not args.output:
        parser.error("give --output (to measure) or --evaluate")
    started = time.perf_counter()
    count = measure(args.device, plans=args.plans, replays=args.replays,
                    resolution=args.resolution, seed=args.seed, output=args.output,
                    models=tuple(args.models.split(",")) if args.models else None)
    print(f"{count} launches measured in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
