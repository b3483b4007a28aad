"""How well launches measured in context repeat, and how close the latency model comes to them.

    python -m benchmarks.context_repeatability JOURNAL.jsonl[.gz] [JOURNAL ...] \
        [--seeds 3] [--curve] [--output FILE.json]

The journals are `python -m fusion profile --in-context N`'s (fusion.execute.incontext): one
line per launch of a random plan, its time the median over the profile's replays. Journals of
the same settings hold the same plans (plan p draws from its own generator), so journals of
separate profiles (other calls, other machines of one kind) measure the same launches:

* same launch, two journals: launch k of plan p in one against the same in the other (matched
  by plan, launch and members): how well the measurement repeats — the ceiling of any model
  judged on it;
* same group, other positions (within one journal): every fused group measured more than once
  (by its members' operator keys, in other plans or other places) against the median of its
  measurements: what a model that sees a group but not its neighbours in the replay can reach;
* the model, held out (fusion.execute.profile.held_out_errors, as `fusion profile` reports it):
  a random quarter of the fused launches kept out of the fit, for `--seeds` splits; with
  several journals also on their median (the measurement with less noise);
* `--curve`: the same with the fit given only a fraction of the plans' fused launches
  (25/50/75/100 %): whether more plans would help.

Each figure is the fraction within ±10 %. No device is needed.
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
from pathlib import Path

import numpy as np

from fusion.execute.profile import held_out_errors, journal_lines, samples_of
from fusion.plan import latency

TOLERANCE = 0.10


def read_journal(path: Path) -> list[dict]:
    """The journal's launches (fusion.execute.profile.journal_lines; its plan-done lines are
    not launches)."""
    rows = [row for row in journal_lines(path) if "ops" in row and "launch" in row]
    if not rows:
        raise SystemExit(f"{path}: no launches (missing, or not a journal of `fusion profile "
                         "--in-context`?)")
    return rows


def _key(row: dict) -> tuple:
    return row["plan"], row["launch"], json.dumps(row["members"])


def _within(ratios: list[float]) -> float | None:
    return sum(abs(r - 1.0) <= TOLERANCE for r in ratios) / len(ratios) if ratios else None


def same_launch(a: list[dict], b: list[dict]) -> dict:
    """Launches of one journal against the same launches of another."""
    other = {_key(row): row["us"] for row in b if row.get("us")}
    pairs = [(row, other[_key(row)]) for row in a if row.get("us") and _key(row) in other]
    fused = [(row, us) for row, us in pairs if len(row["ops"]) > 1]
    return dict(launches=len(pairs), within=_within([us / row["us"] for row, us in pairs]),
                fused=len(fused), fused_within=_within([us / row["us"] for row, us in fused]))


def same_group(rows: list[dict]) -> dict:
    """Fused groups (and single operators) measured more than once in one journal: each
    measurement against its group's median."""
    result = {}
    for label, fused in (("fused", True), ("alone", False)):
        times: dict[tuple, list[float]] = {}
        for row in rows:
            if row.get("us") and (len(row["ops"]) > 1) == fused:
                times.setdefault(tuple(sorted(op["key"] for op in row["ops"])),
                                 []).append(row["us"])
        repeated = [values for values in times.values() if len(values) > 1]
        ratios = [v / statistics.median(values) for values in repeated for v in values]
        result[label] = dict(groups=len(times), measured_again=len(repeated),
                             measurements=len(ratios), within=_within(ratios))
    return result


def held_out(rows: list[dict], seeds: int) -> dict:
    splits = [held_out_errors(rows, 0.0, seed) for seed in range(seeds)]
    within = [latency.within(errors) for errors in splits if errors]
    return dict(seeds=seeds, within=within, mean_within=statistics.fmean(within),
                median_abs_error=statistics.fmean(
                    statistics.median(abs(e) for e in errors) for errors in splits if errors))


def median_journal(journals: list[list[dict]]) -> list[dict]:
    """The first journal's launches, each timed by the median of every journal holding it."""
    times: dict[tuple, list[float]] = {}
    for rows in journals:
        for row in rows:
            if row.get("us"):
                times.setdefault(_key(row), []).append(row["us"])
    return [dict(row, us=statistics.median(times[_key(row)])) for row in journals[0]
            if row.get("us") and len(times.get(_key(row), ())) == len(journals)]


def curve(rows: list[dict], seeds: int, fractions=(0.25, 0.5, 0.75, 1.0)) -> list[dict]:
    """Held-out accuracy with the fit given only a fraction of the plans' fused launches."""
    measured = [row for row in rows if row.get("us")]
    plans = sorted({row["plan"] for row in measured})
    points = []
    for fraction in fractions:
        within = []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            groups = [row for row in measured if len(row["ops"]) > 1]
            test = {row["index"] for row in groups if rng.random() < 0.25}
            kept = set(np.random.default_rng(100 + seed).choice(
                plans, max(1, round(fraction * len(plans))), replace=False).tolist())
            train = [row for row in measured if row["index"] not in test
                     and (len(row["ops"]) == 1 or row["plan"] in kept)]
            model = latency.fit(samples_of(train), host_us=0.0)
            within.append(latency.within(latency.errors(
                model, samples_of(row for row in groups if row["index"] in test))))
        points.append(dict(fraction_of_plans=fraction, mean_within=statistics.fmean(within),
                           within=within))
    return points


def evaluate(paths: list[Path], seeds: int, with_curve: bool) -> dict:
    journals = [read_journal(path) for path in paths]
    names = [path.name for path in paths]
    result = dict(tolerance=TOLERANCE, journals=names, pairs=[], per_journal={})
    for (i, a), (j, b) in itertools.combinations(enumerate(journals), 2):
        result["pairs"].append(dict(a=names[i], b=names[j], **same_launch(a, b)))
    for name, rows in zip(names, journals):
        entry = dict(launches=len(rows), same_group=same_group(rows),
                     held_out=held_out(rows, seeds))
        if with_curve:
            entry["curve"] = curve(rows, seeds)
        result["per_journal"][name] = entry
    if len(journals) > 1:
        pooled = median_journal(journals)
        result["median_of_journals"] = dict(launches=len(pooled), held_out=held_out(pooled,
                                                                                    seeds))
    return result


def _percent(value) -> str:
    return "–" if value is None else f"{value:.0%}"


def table(result: dict) -> str:
    lines = [f"fraction within ±{result['tolerance']:.0%}", ""]
    if result["pairs"]:
        lines += ["| same launch, two journals | launches | within | fused | within |",
                  "|---|---:|---:|---:|---:|"]
        lines += [f"| {p['a']} / {p['b']} | {p['launches']} | {_percent(p['within'])} | "
                  f"{p['fused']} | {_percent(p['fused_within'])} |" for p in result["pairs"]]
        lines.append("")
    lines += ["| journal | launches | same group elsewhere: fused (measured again) | alone | "
              "model, held-out fused (mean of splits) | median error |",
              "|---|---:|---:|---:|---:|---:|"]
    rows = list(result["per_journal"].items())
    if "median_of_journals" in result:
        rows.append(("median of the journals", dict(result["median_of_journals"],
                                                    same_group=None)))
    for name, entry in rows:
        group = entry.get("same_group")
        fused = (f"{_percent(group['fused']['within'])} ({group['fused']['measured_again']})"
                 if group else "–")
        alone = _percent(group["alone"]["within"]) if group else "–"
        held = entry["held_out"]
        lines.append(f"| {name} | {entry['launches']} | {fused} | {alone} | "
                     f"{held['mean_within']:.1%} | {held['median_abs_error']:.3f} |")
    for name, entry in result["per_journal"].items():
        if "curve" in entry:
            points = ", ".join(f"{p['fraction_of_plans']:.0%}: {p['mean_within']:.1%}"
                               for p in entry["curve"])
            lines.append(f"\n{name}, held-out with a fraction of the plans' fused launches: "
                         f"{points}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("journals", nargs="+", type=Path)
    parser.add_argument("--seeds", type=int, default=3, help="held-out splits (default 3)")
    parser.add_argument("--curve", action="store_true")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    result = evaluate(args.journals, args.seeds, args.curve)
    print(table(result))
    if args.output:
        args.output.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
