"""A smoke run of the benchmark harness on the CPU device: every experiment path runs end to end and
records what docs/PERFORMANCE.md promises (device, settings, raw samples, ratios)."""
import json
import os
import sys
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.__main__ import main  # noqa: E402
from fusion.runtime import DEFAULT_PLATFORM  # noqa: E402


def test_smoke_run_writes_a_complete_record(tmp_path):
    output = tmp_path / "smoke.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["smoke", "--output", str(output), "--no-progress"]) == 0
    record = json.loads(output.read_text())
    assert record["device"]["platform"] == DEFAULT_PLATFORM
    assert record["settings"]["rounds"] == 15 and "command" in record
    assert record["launch"]["summary"]["empty launch (bound)"]["median"] > 0
    labels = [g["label"] for g in record["groups"]]
    assert labels[:2] == ["1 x tiny dw", "2 x tiny dw"] and "dw + add" in labels
    pair = record["groups"][-1]
    assert len(pair["samples"]["sequential"]) == 2           # one sample per round
    ratio = pair["throughput_vs_sequential"]["fused groups"]
    assert ratio["n"] == 2 and ratio["min"] <= ratio["median"] <= ratio["max"]
    device = pair["device_time"]
    assert len(device["alone"]) == 2 and device["fused"] > 0
    identical = record["groups"][1]["throughput_vs_sequential"]
    assert {"batch", "several queues", "fused wave-unaligned"} <= set(identical)


def test_the_policy_judged_offline_finds_the_measured_optimum_and_scores_a_worse_choice():
    from benchmarks.policy_offline import rejudge
    # a ready set of three operators whose every subset was measured (policy_exhaustive's
    # record): fusing all three is the optimum (30 µs against 60 alone, 40 as a pair + one)
    items = [dict(model="m", node=n, instance=0) for n in range(3)]
    measured = {"0": 20.0, "1": 20.0, "2": 20.0, "0,1": 25.0, "0,2": 25.0, "1,2": 25.0,
                "0,1,2": 30.0}
    record = [dict(items=items, subsets_measured=measured, policy=[[0, 1, 2]])]
    facts = {("m", n): n for n in range(3)}          # what the cost functions below are given
    truth = {(0,): 20, (1,): 20, (2,): 20, (0, 1): 25, (0, 2): 25, (1, 2): 25, (0, 1, 2): 30}
    [right] = rejudge(record, lambda ops: truth[tuple(sorted(ops))], facts)
    assert right["optimum"] == right["chosen"] == [(0, 1, 2)] and right["fraction"] == 1.0
    # a model that thinks every fused launch costs 100 chooses all alone: 30 / 60 of the optimum
    [wrong] = rejudge(record, lambda ops: 10.0 if len(ops) == 1 else 100.0, facts)
    assert wrong["chosen"] == [(0,), (1,), (2,)] and wrong["fraction"] == 0.5


def test_a_launch_trace_keeps_every_launch_of_both_plans_each_round():
    from benchmarks import launch_trace
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record = launch_trace.trace(["squeezenet_v1"], device_name=DEFAULT_PLATFORM,
                                    policy="all", rounds=2, sample_seconds=0.01, resolution=48)
    for name in ("sequential", "planned"):
        rows = record["rounds_by_plan"][name]
        assert len(rows) == 2
        for row in rows:
            assert len(row["launch_us"]) == len(row["gap_us"]) == len(record["launches"][name])
            assert abs(sum(row["launch_us"]) / 1e3 - row["device_ms"]) < 1e-2
            assert row["wall_ms"] > 0
    assert len(record["launches"]["planned"]) < len(record["launches"]["sequential"])
    assert "planned wall ms" in launch_trace.report(record)


def test_context_repeatability_compares_the_same_launches_of_two_journals(tmp_path):
    import gzip
    from benchmarks.context_repeatability import evaluate
    source = os.path.join(ROOT, "benchmarks", "results", "intel-cpu",
                          "context-r96-12plans.jsonl.gz")
    with gzip.open(source, "rt") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    launches = [row for row in rows if "ops" in row and row.get("us")]
    fused = [row for row in launches if len(row["ops"]) > 1]
    slower = {row["index"] for row in fused[::2]}          # every other fused launch 1.5x
    other = [dict(row, us=row["us"] * 1.5) if row.get("index") in slower else row
             for row in rows]
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl.gz"
    a.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with gzip.open(b, "wt") as out:
        out.writelines(json.dumps(row) + "\n" for row in other)
    result = evaluate([a, b], seeds=1, with_curve=False)
    pair, = result["pairs"]
    assert pair["launches"] == len(launches) and pair["fused"] == len(fused)
    assert pair["fused_within"] == (len(fused) - len(slower)) / len(fused)
    assert pair["within"] == (len(launches) - len(slower)) / len(launches)
    held = result["per_journal"]["a.jsonl"]["held_out"]
    assert 0.3 < held["mean_within"] <= 1.0 and held["seeds"] == 1
    assert result["median_of_journals"]["launches"] == len(launches)
