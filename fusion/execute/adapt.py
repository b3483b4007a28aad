"""An auto plan that watches itself: observed step times against predictions, re-measured and
re-planned when they drift (another workload on the device, clocks).

    adaptive = AdaptivePlan(context, queue, graphs, latency=model)
    for _ in range(100):
        check = adaptive.step()        # a window of inferences, timed; maybe a recalibration
    adaptive.plan                      # what runs now; adaptive.history: every check

Each `step()` replays the plan for a window (`samples` runs of `iterations` inferences, back
to back) and takes the median ms per inference: the observed time. The prediction is the
latency model's cost of every launch of the plan, summed; the first `settle` windows after a
plan is made set how the replay relates to it (`bias`, the median of their observed /
predicted: a replay is not the profile's stream of one launch, and the model is not exact), so
what is watched is the drift, observed / (predicted × bias). When the drift stays beyond
`threshold` (either way) for `patience` windows in a row,
the executor recalibrates: it measures again, now, every operator of the models alone, every
fused launch of the plan and every lock-step ready set it could fuse instead (the groups a
re-plan chooses among), and the host's enqueue — the way the model's own samples were
measured (`LatencyModel.measured_in`): as streams of copies of one launch for a model of
`python -m fusion profile`, inside replays (what each launch adds to the replay of the
sequential plan, of the running plan and of a plan fusing every ready set) for one of
`--in-context`; corrects the model with them
(`LatencyModel.recalibrated`); and plans again with the corrected model. Where the new plan's
groups differ, it is compiled (fused kernels come from the fuser's cache) and tried against the
running one, head to head (`trial_rounds` rounds alternating, median of per-round ratios): it
replaces the running plan only if it is faster now by more than the null comparison's
distance from 1 (the trial's noise floor) — a model corrected by a few noisy
measurements can still be wrong, and a switch that loses is what the executor must not do. A
drift that does not last (`patience`) changes nothing: the plan is stable under noise.

What is re-measured is the whole plan, not single launches: the drift is observed on whole
inferences, and a load on the device moves every launch.
"""
from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Sequence

import pyopencl as cl

from ..graph.graph import Graph
from ..graph.schedule import ready_sets
from ..plan.latency import LatencyModel, Sample
from ..runtime.launcher import Fuser
from .graphs import LoadedGraph
from .incontext import REPLAYS
from .measure import added_us, busy, choose_iterations, head_to_head, warm_up
from .plan import Plan, compile_plan, plan_fuser
from .profile import fused_call, host_enqueue_us, node_facts, single_call, stream_us


@dataclasses.dataclass(frozen=True)
class Check:
    """One window: observed and expected ms per inference, their ratio, and what followed."""

    window: int
    observed_ms: float               # (while settling, expected is the bias so far)
    expected_ms: float
    drift: float
    recalibrated: bool = False
    plan_changed: bool = False
    launches: int = 0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def ready_sets_fused(max_group: int):
    """A policy (fusion.execute.plan) fusing each ready set, in groups of up to `max_group`."""
    def fused(ready):
        return [list(ready[k:k + max_group]) for k in range(0, len(ready), max_group)]
    fused.__name__ = f"ready sets fused by {max_group}"
    return fused


def faster_beyond_noise(trial: dict) -> bool:
    """Whether a head-to-head trial (fusion.execute.measure.head_to_head) found its second
    plan faster than its first by more than its null comparison's distance from 1."""
    return trial["a_over_b"]["median"] > 1.0 + abs(trial["null"]["median"] - 1.0)


def measured_choice(queue: cl.CommandQueue, plan: Plan, others: dict[str, Plan], *,
                    rounds: int = 7, sample_seconds: float = 0.05) -> tuple[str, Plan, dict]:
    """The model's `plan` against each of `others` in turn (name -> plan of the same graphs),
    head to head (fusion.execute.measure.head_to_head): one faster beyond the trial's noise
    than the plan chosen so far replaces it. A model's prediction can leave a winning group
    unfused (on the H100 the in-context model's plan of 2 x MobileNet-V2 ran 1.55-1.75x
    against `all`'s 1.81x); measured, the choice is never the slower beyond noise. Returns
    the name chosen ("auto" for `plan`), its plan, and per other the trial (a_over_b above 1:
    the other was faster; None where its groups are the plan's)."""
    name, chosen, trials = "auto", plan, {}
    for other_name, other in others.items():
        if AdaptivePlan.groups_of(other) == AdaptivePlan.groups_of(chosen):
            trials[other_name] = None
            continue
        trial = head_to_head(queue, chosen.replay, other.replay, rounds=rounds,
                             sample_seconds=sample_seconds)
        trials[other_name] = dict(against=name, a_over_b=trial["a_over_b"], null=trial["null"],
                                  iterations=trial["iterations"])
        if faster_beyond_noise(trial):
            name, chosen = other_name, other
    return name, chosen, trials


def measured_plan(context: cl.Context, queue: cl.CommandQueue, graphs: Sequence[Graph], *,
                  latency: LatencyModel | None = None, fuser: Fuser | None = None,
                  seed: int = 0, loaded: Sequence[LoadedGraph] | None = None,
                  max_group: int = 6, rounds: int = 7,
                  warm_seconds: float = 1.0) -> tuple[Plan, dict]:
    """The auto plan of `graphs` as `python -m fusion run --policy auto` runs it: compiled
    with `latency` (default: the device's stored model), then measured against the plans of
    `all` and `none` (measured_choice, after `warm_seconds` of replays: an idle GPU clocks
    down) — the fastest beyond noise is returned. The three plans share the loaded graphs
    (their buffers), so the ones not chosen cost only their kernels, let go on return.
    Returns `(plan, checked)`: `checked` is `{"chose", "trials", "seconds",
    "compile_seconds"}` as in the run's JSON (seconds in all; compiling the three, the models'
    loading included: the plan of all or none alone took next to nothing on loaded graphs);
    `plan.policy` says which policy's plan it is."""
    started = time.perf_counter()
    fuser = fuser or plan_fuser(context)
    plan = compile_plan(context, queue, graphs, policy="auto", fuser=fuser, seed=seed,
                        loaded=loaded, latency=latency, max_group=max_group)
    others = {policy: compile_plan(context, queue, graphs, policy=policy, fuser=fuser,
                                   loaded=plan.graphs, max_group=max_group)
              for policy in ("all", "none")}
    compiled = time.perf_counter() - started
    warm_up(busy(queue, plan.replay), warm_seconds)
    chose, chosen, trials = measured_choice(queue, plan, others, rounds=rounds)
    return chosen, dict(chose=chose, trials=trials, seconds=time.perf_counter() - started,
                        compile_seconds=compiled)


class AdaptivePlan:
    """The auto plan of `graphs`, re-planned when observed times drift (module docstring)."""

    def __init__(self, context: cl.Context, queue: cl.CommandQueue, graphs: Sequence[Graph], *,
                 latency: LatencyModel, fuser: Fuser | None = None, seed: int = 0,
                 loaded: Sequence[LoadedGraph] | None = None, threshold: float = 1.5,
                 patience: int = 3, settle: int = 3, samples: int = 5,
                 window_seconds: float = 0.25, trial_rounds: int = 7, max_group: int = 6):
        if threshold <= 1.0 or min(patience, settle, samples) < 1:
            raise ValueError("threshold must exceed 1; patience, settle and samples be at "
                             "least 1")
        self.context, self.queue = context, queue
        self.fuser = fuser or plan_fuser(context)
        self.model = latency
        self.threshold, self.patience, self.samples = threshold, patience, samples
        self.settle, self.trial_rounds = settle, trial_rounds
        self.window_seconds = window_seconds
        self.max_group = max_group
        self.plan = compile_plan(context, queue, graphs, policy="auto", fuser=self.fuser,
                                 seed=seed, loaded=loaded, latency=latency, max_group=max_group)
        self.graphs = self.plan.graphs
        self.facts = node_facts(self.graphs)
        self.history: list[Check] = []
        self.recalibrations: list[dict] = []
        self.bias: float | None = None
        self._settling: list[float] = []
        self._strikes = 0
        self._iterations: int | None = None

    # -- predictions -------------------------------------------------------------------------

    def predicted_ms(self, plan: Plan | None = None, model: LatencyModel | None = None) -> float:
        """The model's ms for one inference of the plan: every launch's cost, summed."""
        plan, model = plan or self.plan, model or self.model
        return sum(model.launch_us([self.facts[ref] for ref in launch.nodes])
                   for launch in plan.launches) / 1e3

    @staticmethod
    def groups_of(plan: Plan) -> tuple[tuple, ...]:
        return tuple(launch.nodes for launch in plan.launches)

    # -- watching ----------------------------------------------------------------------------

    def observe_ms(self) -> float:
        """Median ms per inference over `samples` runs of a window's inferences."""
        run = busy(self.queue, self.plan.replay)
        if self._iterations is None:
            self._iterations = choose_iterations(run, self.window_seconds / self.samples,
                                                 limit=200)
        times = []
        for _ in range(self.samples):
            start = time.perf_counter()
            run(self._iterations)
            times.append((time.perf_counter() - start) / self._iterations * 1e3)
        return statistics.median(times)

    def step(self) -> Check:
        """One window (see the module docstring); recalibrates when the drift has lasted."""
        observed = self.observe_ms()
        predicted = self.predicted_ms()
        settling = self.bias is None
        if settling:
            self._settling.append(observed / predicted)
            if len(self._settling) == self.settle:
                self.bias = statistics.median(self._settling)
        expected = predicted * (self.bias or statistics.median(self._settling))
        drift = observed / expected
        beyond = not settling and (drift > self.threshold or drift < 1.0 / self.threshold)
        self._strikes = self._strikes + 1 if beyond else 0
        recalibrated = self._strikes >= self.patience
        changed = self.recalibrate() if recalibrated else False
        check = Check(len(self.history), observed, expected, drift, recalibrated, changed,
                      len(self.plan.launches))
        self.history.append(check)
        return check

    # -- recalibrating ------------------------------------------------------------------------

    def candidate_groups(self) -> list[tuple]:
        """The fused groups a re-plan chooses among: the plan's fused launches and every
        lock-step ready set of two or more nodes (distinct, by their operators' keys)."""
        groups = [launch.nodes for launch in self.plan.launches if len(launch.nodes) > 1]
        groups += [tuple(ready) for ready in ready_sets([g.graph for g in self.graphs])
                   if 1 < len(ready) <= self.max_group]
        distinct: dict[tuple, tuple] = {}
        for group in groups:
            distinct.setdefault(tuple(sorted(self.facts[ref].key for ref in group)), group)
        return list(distinct.values())

    def remeasure(self) -> tuple[dict[str, float], list[Sample], float]:
        """Now, measured as the model's samples were (LatencyModel.measured_in): every distinct
        operator alone (µs), the candidate groups fused, and the host's enqueue."""
        if self.model.measured_in == "context":
            alone, groups = self._remeasure_in_context()
        else:
            alone, groups = self._remeasure_in_streams()
        smallest = min(self.facts, key=lambda ref: self.facts[ref].work_items)
        host = host_enqueue_us(self.queue, single_call(self.graphs, smallest))
        return alone, groups, host

    def _remeasure_in_streams(self) -> tuple[dict[str, float], list[Sample]]:
        """Each operator and candidate group as a stream of copies (fusion.execute.profile)."""
        alone: dict[str, float] = {}
        for ref, fact in self.facts.items():
            if fact.key not in alone:
                alone[fact.key] = stream_us(self.queue, [single_call(self.graphs, ref)])[0]
        groups = []
        for members in self.candidate_groups():
            call = fused_call(self.fuser, self.graphs, members)
            if call is not None:
                groups.append(Sample(tuple(self.facts[ref] for ref in members),
                                     stream_us(self.queue, [call])[0]))
        return alone, groups

    def _remeasure_in_context(self) -> tuple[dict[str, float], list[Sample]]:
        """What each launch adds to a replay (fusion.execute.incontext): every node inside a
        replay of the sequential plan (an operator's time: the median over its nodes); the
        running plan's fused launches inside its replay, and every lock-step ready set fused
        (in groups of up to `max_group`) inside a replay of the plan of them."""
        def replayed(plan: Plan) -> list[tuple[tuple, float]]:
            return list(zip((launch.nodes for launch in plan.launches),
                            added_us(self.context, plan, REPLAYS)))

        graphs = [g.graph for g in self.graphs]
        sequential, every = (compile_plan(self.context, self.queue, graphs, policy=policy,
                                          fuser=self.fuser, loaded=self.graphs)
                             for policy in ("none", ready_sets_fused(self.max_group)))
        times: dict[str, list[float]] = {}
        for (ref,), us in replayed(sequential):
            times.setdefault(self.facts[ref].key, []).append(us)
        alone = {key: statistics.median(values) for key, values in times.items()}
        groups = [Sample(tuple(self.facts[ref] for ref in members), us)
                  for plan in (self.plan, every) for members, us in replayed(plan)
                  if len(members) > 1]
        return alone, groups

    def recalibrate(self) -> bool:
        """Measure again, correct the model, plan again; True when the plan changed."""
        started = time.perf_counter()
        alone, groups, host = self.remeasure()
        before_ms = self.predicted_ms()
        model = self.model.recalibrated(alone, groups, host)
        plan = compile_plan(self.context, self.queue, [g.graph for g in self.graphs],
                            policy="auto", fuser=self.fuser, loaded=self.graphs, latency=model,
                            max_group=self.max_group)
        differs = self.groups_of(plan) != self.groups_of(self.plan)
        trial = self.trial(plan) if differs else None
        changed = differs and faster_beyond_noise(trial)
        self.recalibrations.append(dict(
            window=len(self.history), seconds=time.perf_counter() - started,
            operators=len(alone), groups=len(groups), host_us=host, group_scale=model.group_scale,
            predicted_ms_before=before_ms, predicted_ms_after=self.predicted_ms(self.plan, model),
            new_plan_predicted_ms=self.predicted_ms(plan, model), new_plan_differs=differs,
            trial=trial, plan_changed=changed,
            launches_before=len(self.plan.launches), launches_after=len(plan.launches)))
        self.model = model
        if changed:
            self.plan = plan
        self.bias, self._settling, self._strikes, self._iterations = None, [], 0, None
        return changed

    def trial(self, plan: Plan) -> dict:
        """The running plan against `plan` (fusion.execute.measure.head_to_head): above 1,
        the new plan is faster."""
        return head_to_head(self.queue, self.plan.replay, plan.replay,
                            rounds=self.trial_rounds,
                            sample_seconds=self.window_seconds / self.samples)
