"""The auto policy judged again without the device, on what a policy_exhaustive run measured.

    python -m benchmarks.policy_offline RESULT.json [RESULT.json ...] \
        --samples SAMPLES.jsonl[.gz] --host-us 8.2 [--switch-us 4.0] [--margin 0.05]

benchmarks.policy_exhaustive measures every subset of each ready set as one launch, so the cost
of every partition of the set is known from its launches' measurements (summed): the optimum
is the partition of least summed cost. Here a latency model is fitted from a profile's samples
(fusion.plan.latency.fit, as the profile does) and the policy chooses again from its
predictions. `--margin`: the fused group's margin (default the model's held-out median error,
as the executor uses it; 0 for none). `--switch-us`: what a launch after another kernel costs
more (LatencyModel.switch_us, which the profile measures). Each set's fraction is the
optimum's summed cost over the chosen partition's. That lets a change to the model or the
policy be judged on the GPU's measurements without the GPU. The summed costs are not the
replays the device benchmark times (launches back to back overlap): the fractions here are the
selection's, and the device's figure stays the one to quote. The operators' facts come from
the six models loaded on the default CPU device (a launch's facts do not depend on it).
"""
from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import warnings

import numpy as np
import pyopencl as cl

from fusion.execute import profile as prof
from fusion.execute.graphs import load
from fusion.plan import latency
from fusion.plan.policy import best_partition, partition_cost, with_margin
from fusion.runtime import platform_context


def operator_facts(names) -> dict[tuple[str, int], latency.OpFacts]:
    """(model name, node id) -> the node's facts, the models at their Table-1 sizes."""
    context = platform_context("intel-cpu")
    queue = cl.CommandQueue(context)
    facts = {}
    for name in names:
        loaded = load(context, queue, prof.model_graph(name, None), np.random.default_rng(0))
        for (_, node), fact in prof.node_facts([loaded]).items():
            facts[(name, node)] = fact
    return facts


def rejudge(sets: list[dict], cost_of, facts) -> list[dict]:
    """For each policy_exhaustive set: the optimum by summed measurements, the partition the
    cost function (of a list of facts) chooses, and the fraction."""
    rows = []
    for s in sets:
        items = [(item["model"], item["node"], item["instance"]) for item in s["items"]]
        measured = {tuple(int(i) for i in key.split(",")): us
                    for key, us in s["subsets_measured"].items()}

        def index(group):
            return tuple(sorted(items.index(ref) for ref in group))

        allowed = lambda group: index(group) in measured
        measured_cost = lambda group: measured[index(group)]
        predicted = lambda group: cost_of([facts[(ref[0], ref[1])] for ref in group])
        optimum = best_partition(items, measured_cost, allowed)
        chosen = best_partition(items, predicted, allowed)
        rows.append(dict(size=len(items), optimum=optimum, chosen=chosen,
                         on_device=s["policy"],
                         fraction=partition_cost(items, optimum, measured_cost)
                         / partition_cost(items, chosen, measured_cost)))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", help="policy_exhaustive JSON files")
    parser.add_argument("--samples", required=True, help="a profile's samples journal")
    parser.add_argument("--host-us", type=float, required=True,
                        help="the host's enqueue µs that profile measured (its report says)")
    parser.add_argument("--switch-us", type=float, default=0.0,
                        help="LatencyModel.switch_us (default 0: as a model without it)")
    parser.add_argument("--margin", type=float,
                        help="default: the model's held-out median error, as the executor")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    journal = prof.read_journal(pathlib.Path(args.samples))
    rows = [journal[i] for i in sorted(journal)]
    model = latency.fit(prof.samples_of(rows), host_us=args.host_us)
    model.switch_us = args.switch_us
    margin = args.margin
    if margin is None:   # as the profile sets LatencyModel.group_error
        margin = statistics.median(abs(e) for e in prof.held_out_errors(rows, args.host_us))
    sets = [s for path in args.results
            for s in json.loads(pathlib.Path(path).read_text())["sets"]]
    facts = operator_facts(sorted({item["model"] for s in sets for item in s["items"]}))
    judged = rejudge(sets, with_margin(model.launch_us, margin), facts)
    fractions = [row["fraction"] for row in judged]
    same = sum([list(g) for g in row["chosen"]] == row["on_device"] for row in judged)
    within = sum(f >= 0.97 for f in fractions)
    print(f"{len(judged)} sets, margin {margin:.3f}, switch {args.switch_us} µs: {within} >= 0.97 "
          f"of the optimum by summed measurements, median {statistics.median(fractions):.3f}, "
          f"min {min(fractions):.3f}; {same} chose what the device run chose")
    return 0


if __name__ == "__main__":
    sys.exit(main())
