"""What limits a planned run: its grouping or its fused kernels? From a `python -m fusion run
--json` result, without a device.

    python -m benchmarks.grouping_bounds RUN.json [RUN.json ...]

The sequential plan's timeline gives every node's device time alone. For the planned run it
prints: the launches' measured device time; what they would take if every fused launch cost
exactly its slowest member (the grouping's bound: better fused kernels cannot beat it); the
fused launches' cost over their slowest member (median, 90th percentile: what the fused
kernels add); the best any grouping of the models' steps could do under that assumption (a
dynamic programme over every model's steps at once: any step of one model may share a launch
with any step of another, each model's steps in order); and the slowest model alone (no
grouping beats it). Ratios are the sequential plan's wall time over each.
"""
from __future__ import annotations

import itertools
import json
import statistics
import sys

import numpy as np

from fusion.execute.profile import model_graph
from fusion.graph.schedule import levels, ready_sets


def bounds(result: dict) -> dict:
    graphs = [model_graph(m["name"], m["resolution"]) for m in result["models"]]
    order = [ref for ready in ready_sets(graphs) for ref in ready]
    spans = result["timeline"]["sequential"]
    if len(spans) != len(order):
        raise SystemExit("the JSON's sequential timeline does not match the models' nodes")
    alone = {tuple(ref): end - start for ref, (start, end) in zip(order, spans)}
    grouped, over = 0.0, []
    for launch in result["launches"]:
        times = [alone[(n["model"], n["node"])] for n in launch["nodes"]]
        grouped += max(times)
        if len(times) > 1:
            over.append(launch["measured_ms"] / max(times))
    steps = [[max(alone[(k, i)] for i in level) for level in levels(graph)]
             for k, graph in enumerate(graphs)]
    return dict(sequential_ms=result["sequential_ms"], planned_ms=result["planned_ms"],
                launches_device_ms=sum(launch["measured_ms"] for launch in result["launches"]),
                grouping_bound_ms=grouped,
                fused_over_slowest_member=dict(
                    median=statistics.median(over) if over else None,
                    p90=float(np.percentile(over, 90)) if over else None),
                any_alignment_bound_ms=_best_alignment(steps),
                slowest_model_ms=max(sum(s) for s in steps))


STATES_LIMIT = 2_000_000


def _best_alignment(steps: list[list[float]]) -> float | None:
    """Least summed step cost over all alignments of the models' steps (a launch costs its
    slowest step), by dynamic programming over every model's position; None where that is more
    than STATES_LIMIT positions (four deep models)."""
    shape = tuple(len(s) + 1 for s in steps)
    if np.prod(shape, dtype=float) > STATES_LIMIT:
        return None
    best = np.full(shape, np.inf)
    best[(0,) * len(steps)] = 0.0
    moves = [m for m in itertools.product((0, 1), repeat=len(steps)) if any(m)]
    for position in np.ndindex(*shape):
        here = best[position]
        if here == np.inf:
            continue
        for move in moves:
            target = tuple(p + d for p, d in zip(position, move))
            if any(t >= n for t, n in zip(target, shape)):
                continue
            cost = max(steps[k][position[k]] for k in range(len(steps)) if move[k])
            if here + cost < best[target]:
                best[target] = here + cost
    return float(best[tuple(n - 1 for n in shape)])


def main(argv=None) -> int:
    for path in argv if argv is not None else sys.argv[1:]:
        with open(path, encoding="utf-8") as f:
            b = bounds(json.load(f))
        seq = b["sequential_ms"]
        print(f"{path}\n  sequential {seq:.3f} ms, planned {b['planned_ms']:.3f} ms "
              f"({seq / b['planned_ms']:.2f}x); launches' device time {b['launches_device_ms']:.3f}"
              f"\n  grouping bound {b['grouping_bound_ms']:.3f} ms ({seq / b['grouping_bound_ms']:.2f}x)"
              f"; fused / slowest member: median {b['fused_over_slowest_member']['median']:.2f}, "
              f"p90 {b['fused_over_slowest_member']['p90']:.2f}"
              + (f"\n  any alignment {b['any_alignment_bound_ms']:.3f} ms "
                 f"({seq / b['any_alignment_bound_ms']:.2f}x)" if b["any_alignment_bound_ms"]
                 else "\n  any alignment: too many positions to search")
              + f"; slowest model alone "
              f"{b['slowest_model_ms']:.3f} ms ({seq / b['slowest_model_ms']:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
