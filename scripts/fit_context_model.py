#!/usr/bin/env python3
"""Fit the in-context latency model from a journal here, as `python -m fusion profile
--in-context N` fits it on the device (fusion.execute.incontext._fit: latency.fit on every
launch, the held-out quarter's median error as the policy's margin, measured_in "context"),
without the leave-one-model-out judging that costs a device call a minute; the pickle goes into
the device's cache directory (its `model.pkl`) when device time is short.

    python3 scripts/fit_context_model.py JOURNAL.jsonl[.gz] --host-us 11.4 --output model.pkl
"""
from __future__ import annotations

import argparse
import pickle
import statistics
from pathlib import Path

from fusion.execute.profile import held_out_errors, journal_lines, samples_of
from fusion.plan import latency


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("journal")
    parser.add_argument("--host-us", type=float, required=True,
                        help="the host's enqueue the profile measured (its report's host_us)")
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    rows = [row for row in journal_lines(Path(args.journal)) if "ops" in row]
    if not rows:
        raise SystemExit(f"{args.journal}: no launches (missing, or not a journal?)")
    model = latency.fit(samples_of(rows), host_us=args.host_us)
    errors = held_out_errors(rows, args.host_us, 0)
    model.group_error = statistics.median(abs(e) for e in errors)
    model.measured_in = "context"
    with open(args.output, "wb") as out:
        out.write(pickle.dumps(model))
    print(f"{len(rows)} launches; held-out fused groups within ±10 %: {latency.within(errors):.0%}"
          f" (median error {model.group_error:.1%}); wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
