"""`python -m fusion run`: several models, planned against sequential, as a user runs it."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_run_two_models_writes_its_json_and_timeline(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "fusion", "run", "mobilenet_v2", "squeezenet_v1", "--resolution",
         "32", "--rounds", "3", "--policy", "all", "--json", "out.json", "--timeline",
         "timeline.png"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((tmp_path / "out.json").read_text())
    for key in ("device", "models", "policy", "outputs_bit_identical", "sequential_ms",
                "planned_ms", "throughput_ratio", "null_ratio", "launches", "samples"):
        assert key in result, key
    assert result["outputs_bit_identical"] is True
    assert result["host_cpu_pinned"] is None        # a CPU device's runtime needs every core
    assert result["specialized"] is True            # integer arguments baked in by default
    assert result["host_cpus"] == sorted(os.sched_getaffinity(0))
    assert [m["name"] for m in result["models"]] == ["mobilenet_v2", "squeezenet_v1"]
    assert len(result["samples"]["planned"]) == 3
    assert result["fused_launches"] > 0
    assert 0 < result["memory"]["output_bytes"] < result["memory"]["output_bytes_without_reuse"]
    nodes = [n for launch in result["launches"] for n in launch["nodes"]]
    assert len(nodes) == sum(m["nodes"] for m in result["models"])
    assert all(launch["measured_ms"] >= 0 for launch in result["launches"])
    sys.path.insert(0, ROOT)
    from benchmarks.grouping_bounds import bounds     # what limits it: reads this JSON
    b = bounds(result)
    assert 0 < b["slowest_model_ms"] <= b["any_alignment_bound_ms"] + 1e-9
    assert b["any_alignment_bound_ms"] <= b["grouping_bound_ms"] + 1e-9   # lock step is one
    assert (tmp_path / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "throughput ratio (sequential / planned)" in done.stdout


def test_run_refuses_an_unknown_model(tmp_path):
    done = subprocess.run([sys.executable, "-m", "fusion", "run", "alexnet"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "unknown model(s) alexnet" in done.stderr and "Traceback" not in done.stderr


def test_adapting_needs_the_auto_policy(tmp_path):
    done = subprocess.run([sys.executable, "-m", "fusion", "run", "squeezenet_v1", "--policy",
                           "all", "--adapt", "3"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert "needs the auto policy" in done.stderr and "Traceback" not in done.stderr


def test_run_refuses_a_cpu_it_may_not_use(tmp_path):
    cpu = max(os.sched_getaffinity(0)) + 1
    done = subprocess.run([sys.executable, "-m", "fusion", "run", "squeezenet_v1", "--pin-cpu",
                           str(cpu)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert f"--pin-cpu {cpu}: expected one of" in done.stderr and "Traceback" not in done.stderr
