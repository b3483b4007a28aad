"""How a latency model's accuracy grows with its training set, from a device's stored profile
samples (no device needed).

    python -m benchmarks.latency_curve SAMPLES.jsonl --host-us 7.6 [--seeds 0,1,2] \
        [--compare OTHER.jsonl]

For each seed a random quarter of the fused groups is held out (as the profile's report
does); the model is fitted on every operator alone and the first 25 / 50 / 75 / 100 % of the
other groups, and the held-out groups predicted: the fraction within ±10 % per fraction and
seed. `--compare`: another profile of the same training set (same settings), and how often
the two measured one sample within ±10 % of each other — what a model can hope to reproduce.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import warnings

import numpy as np

from fusion.execute import profile as prof
from fusion.plan import latency


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("samples")
    parser.add_argument("--host-us", type=float, required=True)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--compare", help="another profile's samples of the same training set")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    rows = prof.read_journal(pathlib.Path(args.samples))
    measured = [rows[i] for i in sorted(rows) if rows[i].get("us")]
    groups = [row for row in measured if len(row["ops"]) > 1]
    singles = [row for row in measured if len(row["ops"]) == 1]
    seeds = [int(seed) for seed in args.seeds.split(",")]
    print(f"{len(singles)} operators alone, {len(groups)} fused groups")
    for fraction in (0.25, 0.5, 0.75, 1.0):
        scores, size = [], 0
        for seed in seeds:
            rng = np.random.default_rng(seed)
            held = [row for row in groups if rng.random() < 0.25]
            ids = {row["index"] for row in held}
            train = [row for row in groups if row["index"] not in ids]
            train = train[:int(len(train) * fraction)]
            size = len(train)
            model = latency.fit(prof.samples_of(singles + train), host_us=args.host_us)
            scores.append(latency.within(latency.errors(model, prof.samples_of(held))))
        print(f"{size:5d} training groups: " + ", ".join(f"{s:.0%}" for s in scores)
              + " of held-out groups within ±10 %")
    if args.compare:
        other = prof.read_journal(pathlib.Path(args.compare))
        common = [i for i in rows if rows[i].get("us") and other.get(i, {}).get("us")
                  and rows[i]["members"] == other[i]["members"]]
        for label, size in (("operators", lambda n: n == 1), ("groups", lambda n: n > 1)):
            pairs = [(rows[i]["us"], other[i]["us"]) for i in common
                     if size(len(rows[i]["ops"]))]
            if pairs:
                agree = sum(abs(b / a - 1) <= 0.10 for a, b in pairs) / len(pairs)
                print(f"{label}: {len(pairs)} measured in both, {agree:.0%} within ±10 %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
