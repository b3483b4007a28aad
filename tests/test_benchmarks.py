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
