"""How well a launch's time inside a replay repeats: the ceiling of any latency model judged on
such launches.

    python -m benchmarks.replay_repeatability [RUN.json ...] [--output FILE.json]
        (default: every committed H200 run, benchmarks/results/nvidia-h200/auto/*.json)

Why: the issue asks for 90 % of held-out fused groups predicted within ±10 %. A model can only
be as close to a measurement as the measurement is to itself. `fusion run` writes each launch of
its planned replay with its device time (`measured_ms`, one profiled replay) and, since the
in-context work, what it added to the replay (`added_ms`). Read from the committed run JSONs, no
device needed:

* same plan, two runs: runs whose planned launches are the same node groups in the same order
  (the same models, the same plan); launch k of one against launch k of the other;
* same group, anywhere: every fused launch keyed by its members (graph and node names, the model
  copies not told apart), measured in any run, in any plan; each later measurement against the
  first.

Per comparison the fraction within ±10 % (|b / a - 1| <= 0.10), as for the model.
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

DEFAULT = "benchmarks/results/nvidia-h200/auto"
TOLERANCE = 0.10


def _runs(paths: list[Path]) -> list[dict]:
    runs = []
    for path in paths:
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise SystemExit(f"{path}: cannot read a run JSON: {error}") from None
        if _is_run(record):
            record["_path"] = str(path)
            runs.append(record)
    return runs


def _is_run(record) -> bool:
    """Whether a JSON is fusion run's (other benchmarks keep `models` as names)."""
    return (isinstance(record, dict) and isinstance(record.get("launches"), list)
            and isinstance(record.get("models"), list)
            and all(isinstance(m, dict) for m in record["models"])
            and all("nodes" in launch for launch in record["launches"]))


def _plan_key(run: dict) -> tuple:
    models = tuple(m["name"] for m in run["models"])
    launches = tuple(tuple((n["model"], n["node"]) for n in launch["nodes"])
                     for launch in run["launches"])
    return models, launches


def _group_key(launch: dict) -> tuple:
    return tuple(sorted(f"{n['graph']}.{n['name']}" for n in launch["nodes"]))


def _within(pairs: list[tuple[float, float]]) -> float | None:
    ratios = [b / a - 1.0 for a, b in pairs if a > 0]
    return sum(abs(r) <= TOLERANCE for r in ratios) / len(ratios) if ratios else None


def same_plan(runs: list[dict], field: str) -> list[dict]:
    """Per plan run more than once: for every pair of its runs, the fraction of its launches
    within ±10 % of each other (launch k against launch k)."""
    by_plan = defaultdict(list)
    for run in runs:
        by_plan[_plan_key(run)].append(run)
    rows = []
    for (models, launches), group in by_plan.items():
        fractions = []
        for a, b in itertools.combinations(group, 2):
            pairs = [(x[field], y[field]) for x, y in zip(a["launches"], b["launches"])
                     if x.get(field) is not None and y.get(field) is not None]
            if pairs:
                fractions.append(_within(pairs))
        if fractions:
            rows.append(dict(models=list(models), policies=sorted({r["policy"] for r in group}),
                             runs=[r["_path"] for r in group], launches=len(launches),
                             fused=sum(len(nodes) > 1 for nodes in launches),
                             pairs=len(fractions), within=fractions,
                             median_within=statistics.median(fractions)))
    return rows


def same_group(runs: list[dict], field: str) -> dict:
    """Every fused group measured in more than one run: each later time against the first."""
    times = defaultdict(list)
    for run in runs:
        for launch in run["launches"]:
            if launch["fused"] and launch.get(field) is not None:
                times[_group_key(launch)].append(launch[field])
    pairs = [(values[0], later) for values in times.values() if len(values) > 1
             for later in values[1:]]
    return dict(groups=sum(len(v) > 1 for v in times.values()), comparisons=len(pairs),
                within=_within(pairs))


def evaluate(paths: list[Path]) -> dict:
    runs = _runs(paths)
    result = dict(runs=len(runs), tolerance=TOLERANCE, fields={})
    for field in ("measured_ms", "added_ms"):
        plans = same_plan(runs, field)
        fractions = [f for row in plans for f in row["within"]]
        result["fields"][field] = dict(
            same_plan=plans, pairs=len(fractions),
            same_plan_median=statistics.median(fractions) if fractions else None,
            same_plan_range=[min(fractions), max(fractions)] if fractions else None,
            same_group=same_group(runs, field))
    return result


def _percent(value) -> str:
    return "–" if value is None else f"{value:.0%}"


def table(result: dict) -> str:
    lines = [f"{result['runs']} runs; a launch against itself measured again, fraction within "
             f"±{result['tolerance']:.0%}", "",
             "| field | same plan, two runs: pairs | within, median [range] | "
             "same fused group anywhere: comparisons | within |", "|---|---:|---|---:|---:|"]
    for field, data in result["fields"].items():
        span = (f"{data['same_plan_median']:.0%} [{data['same_plan_range'][0]:.0%}, "
                f"{data['same_plan_range'][1]:.0%}]" if data["pairs"] else "–")
        group = data["same_group"]
        lines.append(f"| {field} | {data['pairs']} | {span} | {group['comparisons']} | "
                     f"{_percent(group['within'])} |")
    lines += ["", "measured_ms, per plan run more than once:", "",
              "| models | policy | launches (fused) | runs | pairs | within ±10 %, median "
              "[range] |", "|---|---|---:|---:|---:|---|"]
    for row in result["fields"]["measured_ms"]["same_plan"]:
        lines.append(f"| {' + '.join(row['models'])} | {', '.join(row['policies'])} | "
                     f"{row['launches']} ({row['fused']}) | {len(row['runs'])} | {row['pairs']} "
                     f"| {row['median_within']:.0%} [{min(row['within']):.0%}, "
                     f"{max(row['within']):.0%}] |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", type=Path)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    paths = args.runs or sorted(Path(DEFAULT).glob("*.json"))
    result = evaluate(paths)
    if result["runs"] == 0:
        print("no run JSONs (fusion run --json) among the files given", file=sys.stderr)
        return 1
    print(table(result))
    if args.output:
        args.output.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
