"""The latency model fitted in context (fusion.execute.incontext) on the default device: random
plans measured launch by launch, resumable, judged, stored; and its auto plans stay
bit-identical to the models run alone."""
from __future__ import annotations

import gzip
import json
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pyopencl as cl
import pytest

from benchmarks import context_profile
from fusion import graph as models
from fusion.execute import incontext
from fusion.execute.plan import compile_plan, outputs_identical
from fusion.execute.profile import Settings, summary_lines
from fusion.runtime import platform_context

pytestmark = pytest.mark.filterwarnings("ignore::pyopencl.CompilerWarning")

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = Settings(resolution=48, models=("squeezenet_v1", "mobilenet_v2"))


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PARALLEL_FUSION_CACHE", str(tmp_path_factory.mktemp("context-cache")))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield incontext.profile_in_context("intel-cpu", SETTINGS, plans=4, replays=2,
                                                    warm_seconds=0.05)


def test_a_random_policy_splits_every_ready_set_into_groups_of_at_most_the_largest():
    split = incontext.random_policy(np.random.default_rng(0), 3)
    ready = [(g, i) for g in range(4) for i in range(2)]
    for _ in range(20):
        groups = split(ready)
        assert sorted(ref for group in groups for ref in group) == sorted(ready)
        assert all(1 <= len(group) <= 3 for group in groups)


def test_every_node_of_every_plan_is_measured_once_inside_its_replay(profiled):
    plans = incontext.read_plans(profiled.directory / f"context-{SETTINGS.tag()}.jsonl")
    assert sorted(plans) == [0, 1, 2, 3]
    for rows in plans.values():
        members = [tuple(ref) for row in rows for ref in row["members"]]
        assert len(members) == len(set(members))
        for g in {ref[0] for ref in members}:
            nodes = sorted(i for h, i in members if h == g)
            assert nodes == list(range(len(nodes)))   # every node of that model, once
        assert all(row["us"] > 0 for row in rows)
    report = profiled.report
    assert report["samples"] == sum(len(rows) for rows in plans.values()) == profiled.measured_now
    assert report["switch_us"] == 0.0 and "in context: 4 plans" in report["training"]
    assert "training set: in context" in "\n".join(summary_lines(profiled))
    assert pickle.loads((profiled.directory / "model.pkl").read_bytes()).switch_us == 0.0


def test_a_profile_of_more_plans_extends_and_an_unfinished_plan_is_measured_again(profiled):
    path = profiled.directory / f"context-{SETTINGS.tag()}.jsonl"
    lines = path.read_text().splitlines()
    assert json.loads(lines[-1]) == {"plan": 3, "done": True}
    path.write_text("\n".join(lines[:-1]) + "\n")          # plan 3 died before its end
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = incontext.profile_in_context("intel-cpu", SETTINGS, plans=5, replays=2,
                                                    warm_seconds=0.05)
    plans = incontext.read_plans(path)
    assert sorted(plans) == [0, 1, 2, 3, 4]
    assert again.measured_now == len(plans[3]) + len(plans[4])
    assert [row["members"] for row in plans[3]] == [json.loads(line)["members"]
                                                   for line in lines[:-1]
                                                   if json.loads(line).get("plan") == 3
                                                   and "members" in json.loads(line)]
    kept = path.with_suffix(".jsonl.gz")                    # as benchmarks/results keeps them
    kept.write_bytes(gzip.compress(path.read_bytes()))
    assert incontext.read_plans(kept) == plans
    judged = context_profile.evaluate(path, host_us=again.model.host_us,
                                      stream_model=again.model, draws=1)
    assert judged["launches"] == again.report["samples"]
    assert 0.0 <= judged["in_context_within_10pct"] <= 1.0 and "stream_within_10pct" in judged


def test_a_journal_restored_by_seed_profile_is_resumed_with_nothing_measured(profiled,
                                                                              tmp_path):
    # how a fresh device machine refits an earlier call's profile (scripts/seed_profile.py)
    path = profiled.directory / f"context-{SETTINGS.tag()}.jsonl"
    finished = incontext.read_plans(path)
    kept = tmp_path / f"call5-{path.name}.gz"
    kept.write_bytes(gzip.compress(path.read_bytes()))
    cache = tmp_path / "fresh-cache"
    script = [sys.executable, str(ROOT / "scripts" / "seed_profile.py"), "--device", "intel-cpu"]
    env = dict(os.environ, PARALLEL_FUSION_CACHE=str(cache), PYTHONPATH=str(ROOT))
    done = subprocess.run(script + [str(kept)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    seeded = list(cache.glob(f"latency/*/{path.name}"))
    assert len(seeded) == 1 and seeded[0].read_bytes() == path.read_bytes()
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        patch.setenv("PARALLEL_FUSION_CACHE", str(cache))
        again = incontext.profile_in_context("intel-cpu", SETTINGS, plans=max(finished) + 1,
                                             replays=2, warm_seconds=0.05)
    assert again.measured_now == 0
    assert again.report["samples"] == sum(len(rows) for rows in finished.values())
    wrong = tmp_path / "model.pkl"
    wrong.write_bytes(b"not a journal")
    done = subprocess.run(script + [str(wrong)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1 and "not a samples-" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_device_fault_on_a_plan_reopens_the_device_and_goes_on_without_it(profiled,
                                                                          monkeypatch, capsys):
    # seen on the H100: OUT_OF_RESOURCES on plan 21 ended a 221 s profile with nothing stored
    real, opened = incontext.measure_plan, []

    def faulting(context, queue, fuser, settings, p, *args):
        opened.append(p)
        if p == 6:
            raise cl.RuntimeError("clFinish failed: OUT_OF_RESOURCES")
        return real(context, queue, fuser, settings, p, *args)
    monkeypatch.setattr(incontext, "measure_plan", faulting)
    path = profiled.directory / f"context-{SETTINGS.tag()}.jsonl"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = incontext.profile_in_context("intel-cpu", SETTINGS, plans=8, replays=2,
                                              warm_seconds=0.05)
    plans = incontext.read_plans(path)
    assert sorted(plans) == list(range(8)) and plans[6] == []
    assert opened.count(6) == 1 and 7 in opened       # not measured again after the restart
    assert result.measured_now == sum(len(plans[p]) for p in (5, 7))
    assert result.report["samples"] == sum(len(rows) for rows in plans.values())
    assert "plan 6" in capsys.readouterr().err

    monkeypatch.setattr(incontext, "measure_plan", lambda *args: (_ for _ in ()).throw(
        cl.RuntimeError("clFinish failed: OUT_OF_RESOURCES")))
    with pytest.raises(incontext.SampleFailed, match="plan 10 .* run the profile again"):
        incontext.profile_in_context("intel-cpu", SETTINGS, plans=11, replays=2,
                                     warm_seconds=0.05)   # plans 8, 9, 10 fail: 2 restarts


def test_auto_plans_of_the_model_fitted_in_context_are_bit_identical(profiled):
    context = platform_context("intel-cpu")
    queue = cl.CommandQueue(context)
    graphs = [models.build(name, 48) for name in SETTINGS.models]
    plans = [compile_plan(context, queue, graphs, policy=policy, latency=profiled.model)
             for policy in ("none", "auto")]
    assert profiled.model.measured_in == "context"
    assert outputs_identical(queue, plans[0], plans[1:], 7) == [True, True]


def test_recalibration_measures_a_model_fitted_in_context_in_context(profiled, monkeypatch):
    from fusion.execute import adapt
    from fusion.plan.latency import LatencyModel

    def no_streams(*args, **kwargs):
        raise AssertionError("a model fitted in context was corrected with stream measurements")
    monkeypatch.setattr(adapt, "stream_us", no_streams)
    context = platform_context("intel-cpu")
    queue = cl.CommandQueue(context)
    graphs = [models.build(name, 48) for name in SETTINGS.models]
    adaptive = adapt.AdaptivePlan(context, queue, graphs, latency=profiled.model,
                                  window_seconds=0.05, trial_rounds=3, max_group=3)
    alone, groups, host = adaptive.remeasure()
    assert set(alone) == {fact.key for fact in adaptive.facts.values()}
    assert all(us > 0 for us in alone.values()) and host > 0
    sizes = [len(sample.ops) for sample in groups]
    assert sizes and min(sizes) >= 2 and max(sizes) <= 3
    fused = {tuple(sorted(f.key for f in sample.ops)) for sample in groups}
    running = {tuple(sorted(adaptive.facts[ref].key for ref in launch.nodes))
               for launch in adaptive.plan.launches if len(launch.nodes) > 1}
    assert running <= fused                       # the running plan's fused launches, again
    adaptive.recalibrate()
    assert isinstance(adaptive.model, LatencyModel) and adaptive.model.measured_in == "context"
    sequential = compile_plan(context, queue, graphs, policy="none", loaded=adaptive.graphs)
    assert outputs_identical(queue, sequential, [adaptive.plan], 8) == [True, True]


def test_a_ready_set_is_fused_in_groups_of_at_most_the_largest():
    from fusion.execute.adapt import ready_sets_fused
    ready = [(g, 0) for g in range(7)]
    assert ready_sets_fused(3)(ready) == [ready[0:3], ready[3:6], ready[6:]]


def test_too_few_plans_is_an_error_before_anything_runs():
    from fusion.errors import FusionError
    with pytest.raises(FusionError, match="at least 4 plans, not 2"):
        incontext.profile_in_context("intel-cpu", SETTINGS, plans=2)


def test_a_plan_the_device_failed_on_is_left_out_when_the_profile_resumes(tmp_path):
    path = tmp_path / "context.jsonl"
    rows = [dict(index=k, plan=0, launch=k, members=[[0, k]], models=["m"], ops=[], us=1.0)
            for k in range(3)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows)
                    + json.dumps(dict(plan=0, done=True)) + "\n"
                    + json.dumps(dict(rows[0], plan=1)) + "\n"
                    + json.dumps(dict(plan=1, done=True, failed="INVALID_COMMAND_QUEUE")) + "\n"
                    + json.dumps(dict(rows[0], plan=2)) + "\n")           # plan 2 cut short
    assert incontext.read_plans(path) == {0: rows, 1: []}


def test_the_stream_journal_reader_reads_a_journal_in_context(tmp_path):
    """benchmarks.offline_plan and policy_offline read journals with read_journal: the lines
    marking a plan done have no index and are not rows."""
    from fusion.execute.profile import read_journal
    source = Path(__file__).parent.parent / "benchmarks" / "results" / "intel-cpu" / \
        "context-r96-12plans.jsonl.gz"
    lines = [json.loads(line) for line in gzip.decompress(source.read_bytes()).splitlines()]
    launches = [row for row in lines if "index" in row]
    assert len(launches) < len(lines)                 # the journal has plan-done lines
    path = tmp_path / "context.jsonl.gz"
    path.write_bytes(source.read_bytes())
    rows = read_journal(path)
    assert sorted(rows) == sorted(row["index"] for row in launches)
    assert all(rows[row["index"]]["us"] == row["us"] for row in launches)
