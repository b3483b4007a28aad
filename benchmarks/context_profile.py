"""Two latency models judged on launches measured inside replays: one fitted on them, one
fitted on streams (the profile's default).

    python -m fusion profile --device nvidia                 # streams: model.pkl
    cp <cache>/model.pkl stream-model.pkl
    python -m fusion profile --device nvidia --in-context 24 # context-<tag>.jsonl, model.pkl
    python -m benchmarks.context_profile <cache>/context-<tag>.jsonl --host-us X \\
        [--stream-model stream-model.pkl] [--output FILE.json]

Why: on the H200 the launches of call 15's plans, profiled inside their replay, took 0.36-2.56x
(tenth to ninetieth percentile) what the stream-fitted model predicted for them, and each
model's chain cost 16.5 µs a launch more than its launches' streams
(fusion.execute.incontext). Judged here, on the same held-out launches (a random quarter of the
fused ones, three draws): a model fitted on the rest of the in-context launches, and the stream
model as the policy charges a launch (its group time plus its switch cost).
"""
from __future__ import annotations

import argparse
import json
import pickle
import statistics
import sys
from pathlib import Path


def evaluate(journal: Path, *, host_us: float, stream_model=None, draws: int = 3) -> dict:
    import numpy as np

    from fusion.execute.incontext import read_plans
    from fusion.execute.profile import samples_of
    from fusion.plan import latency
    rows = [row for plan in read_plans(journal).values() for row in plan if row.get("us")]
    groups = [row for row in rows if len(row["ops"]) > 1]
    result = dict(journal=str(journal), launches=len(rows), fused=len(groups), draws=[])
    for seed in range(draws):
        rng = np.random.default_rng(seed)
        test = {row["index"] for row in groups if rng.random() < 0.25}
        model = latency.fit(samples_of(r for r in rows if r["index"] not in test),
                            host_us=host_us)
        held_out = samples_of(r for r in groups if r["index"] in test)
        draw = dict(held_out=len(held_out),
                    in_context_within_10pct=latency.within(latency.errors(model, held_out)))
        if stream_model is not None:
            ratios = [(stream_model.group_us(s.ops) + stream_model.switch_us) / s.measured_us
                      for s in held_out]
            draw.update(stream_within_10pct=latency.within([r - 1.0 for r in ratios]),
                        stream_median_ratio=statistics.median(ratios))
        result["draws"].append(draw)
    for key in ("in_context_within_10pct", "stream_within_10pct"):
        if key in result["draws"][0]:
            result[key] = statistics.fmean(d[key] for d in result["draws"])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.context_profile",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("journal", type=Path, help="a profile's context-*.jsonl")
    parser.add_argument("--host-us", type=float, required=True,
                        help="the host's enqueue µs (the profile's report says it)")
    parser.add_argument("--stream-model", type=Path, help="a stream profile's model.pkl")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    stream = pickle.loads(args.stream_model.read_bytes()) if args.stream_model else None
    result = evaluate(args.journal, host_us=args.host_us, stream_model=stream)
    if args.output:
        args.output.write_text(json.dumps(result, indent=1))
    line = (f"{result['launches']} launches ({result['fused']} fused): held-out fused launches "
            f"within ±10 %: fitted in context {result['in_context_within_10pct']:.0%}")
    if stream is not None:
        line += f", the stream model {result['stream_within_10pct']:.0%}"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
