"""Why an auto plan left lock-step pairs unfused that `all` fuses: for every pair of nodes the
`all` run fused and the auto run launched one by one, the latency model's prediction (the pair
fused, the two alone) beside what each added to its run's profiled replay (run JSON
`launches[*].added_ms`). The model is fitted again from a profile-in-context journal and its
report's host time, as `python -m fusion profile --in-context` fitted it; node facts come from
the models loaded on the default device (they do not depend on it).

    python -m benchmarks.split_pairs --samples .../call2-context-samples.jsonl.gz \\
        --report .../call2-context-report.json --auto .../call2-run-mnv2x2.json \\
        --all .../call3-run-mnv2x2-all.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import warnings
from pathlib import Path

import pyopencl as cl

from fusion.execute.incontext import read_plans
from fusion.execute.plan import compile_plan
from fusion.execute.profile import model_graph, node_facts, samples_of
from fusion.plan import latency
from fusion.runtime import platform_context


def refs(launch: dict) -> tuple:
    return tuple((n["model"], n["node"]) for n in launch["nodes"])


def split_pairs(samples: Path, report: Path, auto: Path, every: Path) -> dict:
    rows = [row for plan in read_plans(samples).values() for row in plan]
    model = latency.fit(samples_of(rows), host_us=json.loads(report.read_text())["host_us"])
    auto_run, all_run = json.loads(auto.read_text()), json.loads(every.read_text())
    context = platform_context("intel-cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = compile_plan(context, cl.CommandQueue(context),
                            [model_graph(m["name"], m["resolution"]) for m in auto_run["models"]],
                            policy="none")
    facts = node_facts(plan.graphs)
    alone = {refs(launch)[0]: launch["added_ms"] * 1e3 for launch in auto_run["launches"]
             if len(launch["nodes"]) == 1}
    pairs = []
    for launch in all_run["launches"]:
        members = refs(launch)
        if len(members) != 2 or not all(ref in alone for ref in members):
            continue
        ops = [facts[ref] for ref in members]
        pairs.append(dict(
            node=launch["nodes"][0]["name"], kind=launch["nodes"][0]["kind"],
            predicted_pair_us=model.launch_us(ops),
            predicted_alone_us=sum(model.launch_us([op]) for op in ops),
            measured_pair_us=launch["added_ms"] * 1e3,
            measured_alone_us=sum(alone[ref] for ref in members)))
    return dict(pairs=pairs, summary=dict(
        pairs=len(pairs),
        pair_predicted_over_measured=statistics.median(
            p["predicted_pair_us"] / p["measured_pair_us"] for p in pairs),
        alone_predicted_over_measured=statistics.median(
            p["predicted_alone_us"] / p["measured_alone_us"] for p in pairs),
        measured_saving_us=sum(p["measured_alone_us"] - p["measured_pair_us"] for p in pairs),
        predicted_saving_us=sum(p["predicted_alone_us"] - p["predicted_pair_us"]
                                for p in pairs)) if pairs else None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("samples", "report", "auto", "all"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    result = split_pairs(args.samples, args.report, args.auto, args.all)
    for p in result["pairs"]:
        print(f"{p['node']:24} {p['kind']:17} predicted pair {p['predicted_pair_us']:6.1f} "
              f"alone {p['predicted_alone_us']:6.1f} | measured pair {p['measured_pair_us']:6.1f}"
              f" alone {p['measured_alone_us']:6.1f} µs")
    print(json.dumps(result["summary"], indent=1))
    if args.output:
        args.output.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
