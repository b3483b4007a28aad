"""The auto policy end to end on the default device: a small profile (measured, resumable,
cached per device), its model, and plans whose outputs are bit-identical to the models run
alone; a launch the planner would split is never proposed."""
from __future__ import annotations

import json

import numpy as np
import pyopencl as cl
import pytest

from fusion import graph as models
from fusion.errors import FusionError
from fusion.execute import profile as prof
from fusion.execute.plan import compile_plan

pytestmark = pytest.mark.filterwarnings("ignore::pyopencl.CompilerWarning")

SETTINGS = prof.Settings(groups=16, resolution=48, models=("squeezenet_v1", "mobilenet_v2"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("latency-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PARALLEL_FUSION_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def profiled(cache):
    return prof.profile_device("intel-cpu", SETTINGS, warm_seconds=0.05)


def test_the_profile_measures_every_operator_and_the_groups(profiled):
    rows = [json.loads(line) for line in
            (profiled.directory / f"samples-{SETTINGS.tag()}.jsonl").read_text().splitlines()]
    results = [row for row in rows if not row.get("begun")]
    singles = [row for row in results if len(row["members"]) == 1]
    assert len(results) == len(singles) + SETTINGS.groups
    assert len({row["ops"][0]["key"] for row in singles}) == len(singles)
    assert all(row["us"] > 0 for row in results if row.get("us") is not None)
    assert (profiled.directory / "model.pkl").exists()
    report = json.loads((profiled.directory / "report.json").read_text())
    assert report["samples"] == len(results) and "held_out_groups" in report


def test_a_second_profile_resumes_and_an_unfinished_sample_is_not_retried(profiled):
    again = prof.profile_device("intel-cpu", SETTINGS, warm_seconds=0.05)
    assert again.measured_now == 0
    path = profiled.directory / f"samples-{SETTINGS.tag()}.jsonl"
    lines = path.read_text().splitlines()
    last = json.loads(lines[-1])
    path.write_text("\n".join(lines[:-1]) + "\n")   # its "begun" line stays: died measuring
    resumed = prof.profile_device("intel-cpu", SETTINGS, warm_seconds=0.05)
    assert resumed.measured_now == 0
    rows = prof._read_lines(path)
    assert rows[last["index"]]["us"] is None and "never finished" in rows[last["index"]]["why"]


def test_the_stored_model_is_found_for_the_device(profiled, cpu):
    model = prof.cached_model(cpu.devices[0])
    assert model is not None and model.known == profiled.model.known


def test_auto_without_a_profile_names_the_command(tmp_path, monkeypatch, cpu):
    monkeypatch.setenv("PARALLEL_FUSION_CACHE", str(tmp_path))
    queue = cl.CommandQueue(cpu)
    with pytest.raises(FusionError, match="python -m fusion profile"):
        compile_plan(cpu, queue, [models.build("squeezenet_v1", 48)], policy="auto")


def test_auto_plans_are_bit_identical_and_only_fuse_whole_groups(profiled, cpu):
    queue = cl.CommandQueue(cpu)
    graphs = [models.build("mobilenet_v2", 48), models.build("squeezenet_v1", 48),
              models.build("mobilenet_v2", 48)]
    auto = compile_plan(cpu, queue, graphs, policy="auto", latency=profiled.model, seed=3)
    alone = compile_plan(cpu, queue, graphs, policy="none", seed=3)
    rng = np.random.default_rng(0)
    for k, graph in enumerate(graphs):
        x = rng.uniform(-1, 1, graph.input_shape).astype(np.float32)
        auto.upload(queue, k, x)
        alone.upload(queue, k, x)
    auto.replay(queue)
    alone.replay(queue)
    for k in range(len(graphs)):
        assert auto.output(queue, k).tobytes() == alone.output(queue, k).tobytes()
    assert all(launch.predicted_us is not None and launch.predicted_us > 0
               for launch in auto.launches)   # no group was split: each kept its prediction
    nodes = sorted(ref for launch in auto.launches for ref in launch.nodes)
    assert nodes == sorted((g, i) for g, graph in enumerate(graphs)
                           for i in range(len(graph.nodes)))
    assert len(auto.shifts) == len(graphs)


def test_run_uses_the_stored_model_by_default(profiled, cache, tmp_path):
    import os
    import subprocess
    import sys
    done = subprocess.run(
        [sys.executable, "-m", "fusion", "run", "mobilenet_v2", "mobilenet_v2", "--resolution",
         "48", "--rounds", "2", "--json", "out.json"], cwd=tmp_path, capture_output=True,
        text=True, timeout=600, env=dict(os.environ, PARALLEL_FUSION_CACHE=str(cache)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "profiling it first" not in done.stderr      # the stored model was found
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["policy"] == "auto" and result["outputs_bit_identical"] is True
    assert len(result["shifts"]) == 2
    assert all(launch["predicted_ms"] > 0 for launch in result["launches"])
