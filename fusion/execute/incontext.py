"""The latency model fitted on launches measured where a replay runs them: inside plans.

    result = profile_in_context("nvidia", Settings(), plans=24)   # python -m fusion profile
    result.model                                                  #   --in-context 24

The profile's samples (fusion.execute.profile) are streams of copies of one launch, its data and
weights hot in the caches; a plan's replay is a chain of different kernels, each reading what
the one before wrote and its own weights cold. On the H200 the two differ: each model's chain
cost 16.5 µs a launch more than its launches' streams, and the launches of a replay took
0.36-2.56x (tenth to ninetieth percentile) what the stream-fitted model predicted.

Here the training set is `plans` random plans: one to four models drawn from the settings'
models (one may come twice), every lock-step ready set split into random groups of up to
`max_group`; each plan compiled as the executor compiles it (every fused kernel generated,
built and bound), replayed for a second (the GPU clocks down while a plan builds), then
replayed `replays` times on a profiling queue, two warm replays before each. A
launch's sample is its span in the in-order replay (from the end of the launch before it to its
own end — the gap before it included: what it adds to the replay), the median over the replays.
Plan p draws from its own generator (seed, p), so a profile of more plans extends one of fewer,
and an interrupted one resumes at the first plan not finished. Samples go to
`context-<settings>.jsonl` in the device's cache directory, one line per launch in the stream
journal's format (`index`, `members`, `models`, `ops`, `us`) and a line `{"plan": p, "done":
true}` after each plan (with `"failed": why` where the device failed on it: the profile goes
on without that plan, at most `restarts` times; then the command ends with exit 2 saying to run
it again). Each plan is measured in a context of its own (on an H100, 21 plans in one context
left the 22nd unable to launch, OUT_OF_RESOURCES, though it ran alone). The model is fitted on
them (singles give the operators' times, fused launches the group regressor), with no switch
cost (a span holds it), judged as the stream profile is (held-out launches, each model left
out), and stored as the device's model.
"""
from __future__ import annotations

import dataclasses
import json
import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyopencl as cl

from ..errors import FusionError
from ..plan import latency
from ..runtime import Fuser, device_context
from .graphs import load
from .measure import added_us, busy, warm_up
from .plan import compile_plan, plan_fuser
from .profile import (ProfileResult, SampleFailed, Settings, host_enqueue_us, journal_lines,
                      journal_path, judge, model_graph, node_facts, samples_of, single_call,
                      write_atomic)

REPLAYS = 5
WARM_SECONDS = 1.0


def random_policy(rng: np.random.Generator, max_group: int) -> Callable:
    """A policy (fusion.execute.plan) splitting each ready set into random groups."""
    def split(ready):
        order = list(ready)
        rng.shuffle(order)
        groups = []
        while order:
            size = int(rng.integers(1, min(max_group, len(order)) + 1))
            groups.append(order[:size])
            order = order[size:]
        return groups
    split.__name__ = "random"
    return split


def read_plans(path: Path) -> dict[int, list[dict]]:
    """Rows of every plan finished (its "done" line written), from its last attempt: plan ->
    rows. An attempt cut short (no "done" line) is not a plan's. Reads `.gz` as well."""
    finished: dict[int, list[dict]] = {}
    attempt: dict[int, list[dict]] = {}
    for row in journal_lines(path):
        if row.get("done"):          # (a plan the device failed on: done, no rows)
            finished[row["plan"]] = [] if row.get("failed") else attempt.pop(row["plan"], [])
        elif row["launch"] == 0:
            attempt[row["plan"]] = [row]          # a plan's (new) attempt begins
        else:
            attempt.setdefault(row["plan"], []).append(row)
    return dict(sorted(finished.items()))


def training_plan(settings: Settings, plan_index: int) -> tuple[list[str], Callable]:
    """Plan `plan_index` of the training set: its models (one to four of the settings', one
    may come twice) and the random policy splitting its ready sets, from its own generator;
    compiled with weights from seed + 100 * plan_index."""
    rng = np.random.default_rng([settings.seed, plan_index])
    names = sorted(settings.models)
    models = [names[k] for k in rng.integers(0, len(names), int(rng.integers(1, 5)))]
    return models, random_policy(rng, settings.max_group)


def measure_plan(context: cl.Context, queue: cl.CommandQueue, fuser: Fuser, settings: Settings,
                 plan_index: int, replays: int = REPLAYS,
                 warm_seconds: float = WARM_SECONDS) -> list[dict]:
    """Plan `plan_index` of the training set, compiled, replayed for `warm_seconds` (the
    device idles while a plan builds, and an idle GPU clocks down: fusion.execute.measure.
    warm_up), then measured: one row per launch."""
    models, policy = training_plan(settings, plan_index)
    graphs = [model_graph(name, settings.resolution) for name in models]
    plan = compile_plan(context, queue, graphs, policy=policy, fuser=fuser,
                        seed=settings.seed + 100 * plan_index)
    facts = node_facts(plan.graphs)
    warm_up(busy(queue, plan.replay), warm_seconds)
    added = added_us(context, plan, replays)
    rows = []
    for k, launch in enumerate(plan.launches):
        rows.append(dict(
            index=plan_index * 100_000 + k, plan=plan_index, launch=k,
            members=[list(ref) for ref in launch.nodes],
            models=[models[g] for g, _ in launch.nodes],
            ops=[facts[ref].as_dict() for ref in launch.nodes],
            us=added[k]))
    return rows


def profile_in_context(device_name: str = "intel-cpu", settings: Settings = Settings(), *,
                       plans: int = 24, replays: int = REPLAYS, fresh: bool = False,
                       warm_seconds: float = WARM_SECONDS, progress: Callable | None = None,
                       restarts: int = 2) -> ProfileResult:
    """Measure what is not measured yet (`fresh`: everything again), each plan in a context of
    its own, fit, judge and store (module docstring)."""
    if plans < 4:
        raise FusionError(f"a profile in context needs at least 4 plans, not {plans}")
    with device_context(device_name) as context:
        path = journal_path(context.devices[0], f"context-{settings.tag()}.jsonl", fresh)
    done = read_plans(path)
    todo = [p for p in range(plans) if p not in done]
    measured_now, failures = 0, []
    bar = progress(total=plans, initial=plans - len(todo), desc="plans") if progress else None
    with path.open("a") as journal:
        for p in todo:
            try:
                rows = _measure_alone(device_name, settings, p, replays, warm_seconds)
            except cl.Error as error:   # the device faulted (seen on NVIDIA's H100 and H200)
                journal.write(json.dumps(dict(plan=p, done=True, failed=str(error))) + "\n")
                journal.flush()
                failures.append(p)
                message = (f"the device failed while measuring plan {p} of the profile in "
                           f"context: {error}")
                if len(failures) > restarts:
                    raise SampleFailed(f"{message}; plans {failures} failed: run the profile "
                                       f"again to go on without them", measured_now) from None
                print(f"{message}\n(the profile goes on without it, the device opened again: "
                      f"failure {len(failures)} of at most {restarts})", file=sys.stderr)
                rows = []
            else:
                journal.write("".join(json.dumps(row) + "\n" for row in rows)
                              + json.dumps(dict(plan=p, done=True)) + "\n")
                journal.flush()
            done[p] = rows
            measured_now += len(rows)
            if bar:
                bar.update(1)
    if bar:
        bar.close()
    with device_context(device_name) as context:
        return _fit(context, path, [row for p in range(plans) for row in done[p]], settings,
                    plans, replays, measured_now)


def _measure_alone(device_name: str, settings: Settings, plan_index: int, replays: int,
                   warm_seconds: float) -> list[dict]:
    """measure_plan in a context of its own: what the plan's programs and memory hold goes with
    it (on an H100, 21 plans in one context ended in OUT_OF_RESOURCES at the 22nd, which ran
    alone without fault: scripts/diagnose_plan.py)."""
    with device_context(device_name) as context:
        queue = cl.CommandQueue(context)
        return measure_plan(context, queue, plan_fuser(context), settings, plan_index, replays,
                            warm_seconds)


def _fit(context: cl.Context, path: Path, rows: list[dict], settings: Settings, plans: int,
         replays: int, measured_now: int) -> ProfileResult:
    device = context.devices[0]
    host_us = _host_us(context, cl.CommandQueue(context), settings)
    model = latency.fit(samples_of(rows), host_us=host_us)
    report = judge(rows, host_us)
    model.group_error = report["held_out_groups"]["median_abs_error"] or 0.0
    model.measured_in = "context"
    report.update(device=f"{device.name.strip()} ({device.platform.name.strip()}, driver "
                         f"{device.driver_version})", settings=dataclasses.asdict(settings),
                  training=f"in context: {plans} plans, {replays} replays each",
                  host_us=host_us, switch_us=0.0, samples=len(rows), unfusable=0,
                  date=time.strftime("%Y-%m-%d %H:%M:%S"))
    write_atomic(path.parent / "model.pkl", pickle.dumps(model))
    write_atomic(path.parent / "report.json", json.dumps(report, indent=1).encode())
    return ProfileResult(path.parent, model, report, measured_now)


def _host_us(context: cl.Context, queue: cl.CommandQueue, settings: Settings) -> float:
    """The host's enqueue, on the smallest node of the first model (loaded again for it)."""
    graph = model_graph(sorted(settings.models)[0], settings.resolution)
    loaded = load(context, queue, graph, np.random.default_rng(0))
    smallest = min(range(len(loaded.nodes)),
                   key=lambda i: int(np.prod(loaded.nodes[i].global_size)))
    return host_enqueue_us(queue, single_call([loaded], (0, smallest)))
