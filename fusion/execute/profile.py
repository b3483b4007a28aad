"""`python -m fusion profile`: measure a device's launches and fit its latency model.

    result = profile_device("nvidia", groups=600)    # measures what is not measured yet
    model = result.model                             # fusion.plan.latency.LatencyModel
    model = cached_model(context.devices[0])         # later: the stored one, or None

The training set is the operators of the six models at their real (Table 1) shapes, each alone
once per distinct launch, and random fused groups of 2 to `max_group` (default 4) of them:
lock-step slices of several models with random shifts (what the policy will ask about), the
independent branches of one model's step, copies of one operator (as in several copies of one
model), and operators drawn at random. Every member of a group comes from its own loaded
instance of a model (or is independent of the others), so no launch reads what another writes.
A sample is the time per launch of a stream of that launch enqueued back to back (the median of
several timed runs): what the launch costs a replay, host enqueue included, but for what a
replay adds by running a chain of different kernels, each reading what the one before wrote:
the switch cost, measured once per profile on each model's own chain of nodes. The host's own
enqueue cost is measured on the smallest operator.

Data and model live in a per-device cache directory (platformdirs; key: device name, driver
version, project version; `PARALLEL_FUSION_CACHE` moves it): `samples-<settings>.jsonl` gets one
line per measurement as it is taken, so an interrupted profile resumes where it stopped; then
the model is fitted (`model.pkl`) and judged on held-out models (`report.json`): each of the
six models in turn is left out of the fit, and its fused groups are predicted from the rest.
"""
from __future__ import annotations

import dataclasses
import gc
import gzip
import hashlib
import json
import os
import pickle
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyopencl as cl

from ..errors import DeviceError, FusionError
from ..graph import MODELS, build as build_graph
from ..graph.schedule import levels
from ..plan import latency
from ..plan.latency import LatencyModel, OpFacts, Sample
from ..runtime import Fuser, device_context
from .graphs import LoadedGraph, load, plan_fuser
from .measure import busy, warm_up

SCHEMA = 4          # of samples-*.jsonl and model.pkl; part of the cache key (4: fused kernels
                    # measured as plans build them, layout and integer arguments baked in)
INSTANCES = 4       # loaded copies of each model by default (benchmarks that draw groups)


def project_version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("parallel-fusion")
    except PackageNotFoundError:
        return "0+unknown"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", text.strip()).strip("_")[:60]


def cache_dir(device: cl.Device) -> Path:
    """Where this device's profile lives (created on demand)."""
    from platformdirs import user_cache_dir
    root = Path(os.environ.get("PARALLEL_FUSION_CACHE") or user_cache_dir("parallel-fusion"))
    key = "-".join(_slug(part) for part in (device.name, device.driver_version,
                                             project_version(), f"schema{SCHEMA}"))
    return root / "latency" / key


def op_facts(loaded: LoadedGraph, node_id: int) -> OpFacts:
    """The latency model's view of one node's launch."""
    node, spec = loaded.nodes[node_id], loaded.graph.nodes[node_id]
    items = int(np.prod(node.global_size))
    local = int(np.prod(node.local_size)) if node.local_size else 0
    inputs = [loaded.graph.nodes[i].output_shape for i in spec.inputs] or [loaded.graph.input_shape]
    data = 4 * (sum(int(np.prod(s)) for s in inputs) + int(np.prod(node.output_shape))
                + sum(int(np.asarray(w).size) for w in node.weights.values()))
    text = node.kernel.source
    shape = ",".join(f"{k}={spec.shape[k]}" for k in sorted(spec.shape))
    return OpFacts(
        key=f"{spec.kind}({shape})g{list(node.global_size)}l{list(node.local_size or [])}",
        kind=spec.kind, work_items=items, work_groups=items // local if local else 0,
        local_items=local, dims=len(node.global_size), flops=int(node.flops), bytes=data,
        images=any(isinstance(a, cl.Image) for a in node.args),
        barriers="barrier" in text or "__local" in text, args=len(node.args))


# -- measuring ------------------------------------------------------------------------------

def node_facts(graphs: Sequence[LoadedGraph]) -> dict[tuple[int, int], OpFacts]:
    """Every node's facts, keyed by (graph index, node id)."""
    return {(g, i): op_facts(loaded, i) for g, loaded in enumerate(graphs)
            for i in range(len(loaded.nodes))}


def stream(queue: cl.CommandQueue, calls: Sequence[tuple]) -> Callable[[int], None]:
    """`run(k)`: the calls (kernel, global, local) enqueued k times back to back, then waited
    for (fusion.execute.measure.busy over the calls)."""
    def enqueue(q):
        for call in calls:
            cl.enqueue_nd_range_kernel(q, *call)
    return busy(queue, enqueue)


def stream_us(queue: cl.CommandQueue, calls: Sequence[tuple], *, target_s: float = 0.01,
              runs: int = 5) -> tuple[float, list[float]]:
    """µs per launch of `calls` (kernel, global, local) enqueued back to back: (median, runs)."""
    run = stream(queue, calls)

    def timed(repeats: int) -> float:
        start = time.perf_counter()
        run(repeats)
        return time.perf_counter() - start

    run(2)
    once = timed(3) / 3
    repeats = int(min(2000, max(3, target_s / max(once, 1e-7))))
    samples = [timed(repeats) / (repeats * len(calls)) * 1e6 for _ in range(runs)]
    return statistics.median(samples), samples


def switch_us(queue: cl.CommandQueue, graphs: Sequence[LoadedGraph],
              alone_us: dict[str, float]) -> float:
    """µs more per launch in a model's own chain than in a stream of copies of one launch:
    each model's nodes (its first loaded copy), one after another in order, each reading
    what the one before wrote — what a plan's replay does — streamed, against the sum of their
    own streams (`alone_us`, by operator key). Over every model: the excess over all their
    launches, per launch; 0 where no model's nodes were all measured. On the H200: 16.5 µs (a
    stream of copies finds its data in the caches, presumably, where a chain reads each
    layer's weights once); on the CPU devices it is negative, so the model charges 0 there."""
    excess, launches = 0.0, 0
    for g, loaded in enumerate(graphs):
        if g and loaded.graph is graphs[g - 1].graph:
            continue                              # one copy of each model
        keys = [op_facts(loaded, i).key for i in range(len(loaded.nodes))]
        if not keys or any(key not in alone_us for key in keys):
            continue
        chain = stream_us(queue, [single_call(graphs, (g, i)) for i in range(len(keys))])[0]
        excess += (chain - statistics.fmean(alone_us[key] for key in keys)) * len(keys)
        launches += len(keys)
    return excess / launches if launches else 0.0


def host_enqueue_us(queue: cl.CommandQueue, call: tuple, count: int = 400) -> float:
    """µs the host spends in one enqueue call (the queue is not waited on while timing)."""
    kernel, global_size, local_size = call
    best = float("inf")
    for _ in range(5):
        queue.finish()
        start = time.perf_counter()
        for _ in range(count):
            cl.enqueue_nd_range_kernel(queue, kernel, global_size, local_size)
        best = min(best, (time.perf_counter() - start) / count * 1e6)
        queue.finish()
    return best


def fused_call(fuser: Fuser, graphs: Sequence[LoadedGraph], members: Sequence[tuple[int, int]]):
    """(kernel, global, local) of the members as one fused launch, or None where the planner
    would not fuse them all."""
    fused = fuser.fuse([graphs[g].kernel(i) for g, i in members])
    launches = [graphs[g].launch(i) for g, i in members]
    if len(fused.partition(launches).fused) != len(members):
        return None
    calls = fused.bind(launches).enqueues()
    if len(calls) != 1:  # the fused build failed and the group fell back
        return None
    kernel, global_size, local_size, _ = calls[0]
    return kernel, global_size, local_size


# -- the training set -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Settings:
    groups: int = 600
    resolution: int | None = None
    seed: int = 0
    models: tuple[str, ...] = MODELS
    # the largest fused group drawn, and the copies of each model loaded (groups of copies of
    # one operator). The auto policy fuses up to 6, but a training set of 2-6 did no better on
    # the H200 than 2-4 (docs/PERFORMANCE.md: the policy against exhaustive search), so 4
    max_group: int = 4

    def __post_init__(self):
        if not 2 <= self.max_group <= 16:
            raise FusionError(f"the largest profiled group is 2 to 16 operators, not "
                              f"{self.max_group}")

    def tag(self) -> str:
        """Names the samples file. Not `groups`: the training set of more groups begins with
        that of fewer (the same draws, in order), so a larger profile extends a smaller one."""
        fields = dict(dataclasses.asdict(self), groups=None)
        if fields["max_group"] == 4:   # as before the option existed: stored profiles stay valid
            del fields["max_group"]
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:10]


def distinct_operators(facts: dict[tuple[int, int], OpFacts]) -> dict[tuple[int, int], str]:
    """The first node of each distinct launch (by its facts' key), in node order: ref -> key."""
    first: dict[str, tuple[int, int]] = {}
    for ref, fact in facts.items():
        first.setdefault(fact.key, ref)
    return {ref: key for key, ref in first.items()}


def training_set(graphs: Sequence[LoadedGraph], settings: Settings) -> list[list[tuple[int, int]]]:
    """Members of every sample, in order: each distinct operator alone, then random groups.
    `graphs` holds `copies` copies of each model (load_instances(..., copies=settings.max_group)),
    copy c of model m at m * copies + c."""
    distinct = distinct_operators(node_facts(graphs))
    entries = [[ref] for ref in distinct]
    rng = np.random.default_rng(settings.seed)
    copies = len(graphs) // len(settings.models)
    if copies < settings.max_group:
        raise ValueError(f"groups of up to {settings.max_group} copies need as many loaded "
                         f"copies of each model, not {copies}")
    per_model = len(settings.models)
    steps = [levels(loaded.graph) for loaded in graphs]
    while len(entries) < len(distinct) + settings.groups:
        size = int(rng.integers(2, settings.max_group + 1))
        draw = rng.random()
        if draw < 0.25:      # copies of one operator (several instances of one model)
            m = int(rng.integers(0, per_model))
            node = int(rng.integers(0, len(graphs[m * copies].nodes)))
            picked = rng.choice(copies, size=size, replace=False)
            members = [(m * copies + int(c), node) for c in picked]
        elif draw < 0.6:     # a lock-step slice of `size` instances (any models), shifted
            chosen = rng.choice(len(graphs), size=size, replace=False)
            step = int(rng.integers(0, max(len(steps[g]) for g in chosen)))
            members = []
            for g in chosen:
                k = min(len(steps[g]) - 1, max(0, step - int(rng.integers(0, 3))))
                members.append((int(g), int(rng.choice(steps[g][k]))))
        elif draw < 0.75:    # branches of one model's step
            g = int(rng.integers(0, per_model)) * copies
            wide = [lv for lv in steps[g] if len(lv) >= 2]
            if not wide:
                continue
            level = wide[int(rng.integers(0, len(wide)))]
            pick = rng.choice(len(level), size=min(size, len(level)), replace=False)
            members = [(g, int(level[p])) for p in pick]
        else:                # anything, one operator per instance
            chosen = rng.choice(len(graphs), size=size, replace=False)
            members = [(int(g), int(rng.integers(0, len(graphs[g].nodes)))) for g in chosen]
        entries.append(sorted(members))
    return entries


def model_graph(name: str, resolution: int | None):
    """The model's graph; a resolution too small for it is a FusionError saying so."""
    try:
        return build_graph(name, resolution)
    except ValueError as error:
        raise FusionError(f"{name} at resolution {resolution}: {error}") from None


def load_instances(context, queue, settings: Settings,
                   copies: int = INSTANCES) -> list[LoadedGraph]:
    """`copies` loaded copies of every model (own weights each), model-major."""
    graphs = []
    for m, name in enumerate(settings.models):
        graph = model_graph(name, settings.resolution)
        for copy in range(copies):
            graphs.append(load(context, queue, graph, np.random.default_rng(
                settings.seed * 1000 + m * copies + copy)))
    return graphs


def single_call(graphs: Sequence[LoadedGraph], ref: tuple[int, int]) -> tuple:
    node = graphs[ref[0]].nodes[ref[1]]
    return node.built, node.global_size, node.local_size


# -- the profile ------------------------------------------------------------------------------

@dataclasses.dataclass
class ProfileResult:
    directory: Path
    model: LatencyModel
    report: dict
    measured_now: int


def journal_lines(path: Path):
    """The JSON lines of a journal (`.gz` too), in order; none if it does not exist. A line cut
    short by an interruption is skipped: what it held is measured again."""
    if not path.exists():
        return
    data = path.read_bytes()
    for line in (gzip.decompress(data) if path.suffix == ".gz" else data).decode().splitlines():
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            continue


def read_journal(path: Path) -> dict[int, dict]:
    """Rows journaled so far. A sample begun but never finished (the process died, or the
    device failed, while measuring it) is not measured again: it is recorded as failed. A
    journal kept gzipped (`.gz`, as benchmarks/results holds them) is read as well, and so is
    a journal of the profile in context (fusion.execute.incontext): its launches are rows, its
    lines marking a plan done (no `index`) are not."""
    done, begun = {}, {}
    for row in journal_lines(path):
        if "index" not in row:
            continue
        if row.get("begun"):
            begun[row["index"]] = row
        else:
            done[row["index"]] = row
    for index, row in begun.items():
        if index not in done:
            done[index] = dict(row, begun=False, us=None,
                               why="the measurement never finished (the device or the process "
                                   "failed while measuring it): not measured again")
    return done


def samples_of(rows) -> list[Sample]:
    return [Sample(tuple(OpFacts.from_dict(op) for op in row["ops"]), row["us"])
            for row in rows if row.get("us")]


class SampleFailed(DeviceError):
    """The device failed while one sample was measured (its journal line says it began)."""

    def __init__(self, message: str, measured: int):
        super().__init__(message)
        self.measured = measured


def profile_device(device_name: str = "intel-cpu", settings: Settings = Settings(), *,
                   progress: Callable | None = None, fresh: bool = False,
                   warm_seconds: float = 2.0, restarts: int = 2) -> ProfileResult:
    """Measure what the cache lacks, fit, judge, store; see the module docstring. When the
    device fails while measuring a sample (a driver's fault on one fused launch can leave the
    queue unusable), the device is opened again and the profile resumes without that sample,
    at most `restarts` times; then the SampleFailed (a DeviceError) is raised."""
    measured, attempt, reason = 0, 0, ""
    while True:
        try:
            result = _profile(device_name, settings, progress=progress,
                              fresh=fresh and attempt == 0, warm_seconds=warm_seconds)
            return dataclasses.replace(result, measured_now=result.measured_now + measured)
        except SampleFailed as failure:
            measured += failure.measured
            attempt += 1
            if attempt > restarts:
                raise
            print(f"{failure}\n(the device is opened again and the profile goes on without "
                  f"it: restart {attempt} of {restarts})", file=sys.stderr)
            reason = str(failure)
        except cl.Error as error:
            if attempt == 0:
                raise
            # seen on the H200: after a fused launch's fault, a new context in the same process
            # failed with OUT_OF_RESOURCES; what was measured is in the journal
            raise DeviceError(f"the device could not be opened again after a failure "
                              f"({reason.splitlines()[0]}): {error}; run the profile again in "
                              f"a new process: it resumes without that sample") from None
        gc.collect()   # let go of the failed context's objects before opening another


def _profile(device_name: str, settings: Settings, *, progress: Callable | None, fresh: bool,
             warm_seconds: float) -> ProfileResult:
    # nothing uses the context afterwards; its cached programs would keep it (on NVIDIA a CUDA
    # context and its memory) alive, also when the device failed and is opened again
    with device_context(device_name) as context:
        return _measure_and_fit(context, settings, progress=progress, fresh=fresh,
                                warm_seconds=warm_seconds)


def journal_path(device: cl.Device, name: str, fresh: bool) -> Path:
    """A journal in the device's cache directory (created), emptied first when `fresh`."""
    directory = cache_dir(device)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    if fresh and path.exists():
        path.unlink()
    return path


def _measure_and_fit(context: cl.Context, settings: Settings, *, progress: Callable | None,
                     fresh: bool, warm_seconds: float) -> ProfileResult:
    device = context.devices[0]
    path = journal_path(device, f"samples-{settings.tag()}.jsonl", fresh)
    directory = path.parent
    done = read_journal(path)
    queue = cl.CommandQueue(context)
    graphs = load_instances(context, queue, settings, copies=settings.max_group)
    entries = training_set(graphs, settings)
    fuser = plan_fuser(context)   # fused as plans build them
    smallest = min(((g, i) for g, loaded in enumerate(graphs) for i in range(len(loaded.nodes))),
                   key=lambda ref: np.prod(graphs[ref[0]].nodes[ref[1]].global_size))
    host_us = host_enqueue_us(queue, single_call(graphs, smallest))
    todo = [index for index in range(len(entries)) if index not in done]
    # two phases: build every fused kernel first, then measure with the device kept busy (an
    # idle GPU clocks down between builds; see fusion.execute.measure.warm_up)
    calls = {}
    bar = progress(total=len(todo), desc="build") if progress and todo else None
    for index in todo:
        members = entries[index]
        if len(members) == 1:
            calls[index] = single_call(graphs, members[0])
        else:
            calls[index] = fused_call(fuser, graphs, members)
        if bar:
            bar.update(1)
    if bar:
        bar.close()
    built = [call for call in calls.values() if call is not None]
    if built:
        heaviest = max(built, key=lambda call: np.prod(call[1]))
        warm_up(stream(queue, [heaviest]), warm_seconds)
    bar = progress(total=len(entries), initial=len(entries) - len(todo),
                   desc="measure") if progress else None
    measured_now = 0
    with path.open("a") as journal:
        for index in todo:
            members = entries[index]
            row = dict(index=index, members=members,
                       models=[graphs[g].graph.name for g, _ in members],
                       ops=[op_facts(graphs[g], i).as_dict() for g, i in members])
            journal.write(json.dumps(dict(row, begun=True)) + "\n")
            journal.flush()
            call = calls[index]
            try:
                if call is None:
                    row.update(us=None, why="the planner does not fuse all of them")
                else:
                    row["us"], row["runs_us"] = stream_us(queue, [call])
            except cl.Error as error:
                names = ", ".join(f"{graphs[g].graph.name}.{graphs[g].graph.nodes[i].name}"
                                  for g, i in members)
                raise SampleFailed(f"the device failed while measuring sample {index} ({names}): "
                                   f"{error}; run the profile again to go on without it",
                                   measured_now) from None
            journal.write(json.dumps(row) + "\n")
            journal.flush()
            done[index] = row
            measured_now += 1
            if bar:
                bar.update(1)
    if bar:
        bar.close()
    rows = [done[i] for i in range(len(entries)) if i in done]
    switch = switch_us(queue, graphs, {row["ops"][0]["key"]: row["us"] for row in rows
                                       if len(row["members"]) == 1 and row.get("us")})
    model = latency.fit(samples_of(rows), host_us=host_us)
    report = judge(rows, host_us)
    model.group_error = report["held_out_groups"]["median_abs_error"] or 0.0
    model.switch_us = max(0.0, switch)
    report.update(device=f"{device.name.strip()} ({device.platform.name.strip()}, driver "
                         f"{device.driver_version})", settings=dataclasses.asdict(settings),
                  host_us=host_us, switch_us=switch, samples=len(rows),
                  date=time.strftime("%Y-%m-%d %H:%M:%S"))
    write_atomic(directory / "model.pkl", pickle.dumps(model))
    write_atomic(directory / "report.json", json.dumps(report, indent=1).encode())
    return ProfileResult(directory, model, report, measured_now)


def held_out_errors(rows: Sequence[dict], host_us: float, seed: int = 0) -> list[float]:
    """Relative errors on a random quarter of the fused groups, the model fitted on the rest
    (none when there are too few groups to keep a quarter out)."""
    rng = np.random.default_rng(seed)
    measured = [row for row in rows if row.get("us")]
    groups = [row for row in measured if len(row["ops"]) > 1]
    test_ids = {row["index"] for row in groups if rng.random() < 0.25}
    try:
        model = latency.fit(samples_of(r for r in measured if r["index"] not in test_ids),
                            host_us=host_us)
    except ValueError:
        return []
    return latency.errors(model, samples_of(r for r in groups if r["index"] in test_ids))


def judge(rows: Sequence[dict], host_us: float, *, seed: int = 0) -> dict:
    """How well the model predicts what it was not fitted on, two ways:

    held_out_groups: a random quarter of the fused groups is kept out of the fit and predicted
        (the members' alone times are the profile's: what the policy sees on a profiled device);
    leave_one_model_out: each model in turn is left out (every sample holding one of its
        operators), and its fused groups are predicted, its operators' alone times too.
    """
    split = held_out_errors(rows, host_us, seed)
    measured = [row for row in rows if row.get("us")]
    groups = [row for row in measured if len(row["ops"]) > 1]
    per_model, pooled = {}, []
    for name in sorted({name for row in rows for name in row["models"]}):
        keys = {op["key"] for row in rows for op, model_name in zip(row["ops"], row["models"])
                if model_name == name}
        train = [row for row in measured if not any(op["key"] in keys for op in row["ops"])]
        test = [row for row in groups if any(op["key"] in keys for op in row["ops"])]
        try:
            held = latency.fit(samples_of(train), host_us=host_us)
        except ValueError as error:
            per_model[name] = dict(skipped=str(error))
            continue
        errs = latency.errors(held, samples_of(test))
        pooled += errs
        per_model[name] = _accuracy(errs)
    return dict(held_out_groups=_accuracy(split), leave_one_model_out=per_model,
                leave_one_model_out_pooled=_accuracy(pooled),
                unfusable=sum(1 for row in rows if row.get("us") is None))


def _accuracy(errs: Sequence[float]) -> dict:
    return dict(groups=len(errs), within_10pct=latency.within(errs),
                median_abs_error=statistics.median(abs(e) for e in errs) if errs else None,
                errors=[round(e, 4) for e in errs])


def write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def cached_model(device: cl.Device) -> LatencyModel | None:
    """The device's fitted latency model from its profile, or None if it has none."""
    path = cache_dir(device) / "model.pkl"
    if not path.exists():
        return None
    try:
        return pickle.loads(path.read_bytes())
    except Exception as error:  # a model of another library version: profile again
        print(f"warning: the latency model at {path} cannot be read ({error}); profile again",
              file=sys.stderr)
        return None


def require_model(device: cl.Device) -> LatencyModel:
    model = cached_model(device)
    if model is None:
        raise FusionError(f"no latency model for {device.name.strip()}: run `python -m fusion "
                          "profile --device NAME` first (it measures the device once and stores "
                          f"the model under {cache_dir(device)})")
    return model


def summary_lines(result: ProfileResult) -> list[str]:
    """What `python -m fusion profile` prints."""
    report = result.report
    split, pooled = report["held_out_groups"], report["leave_one_model_out_pooled"]
    lines = [f"device: {report['device']}",
             f"{report['samples']} samples ({result.measured_now} measured now, "
             f"{report['unfusable']} groups the planner does not fuse whole); host enqueue "
             f"{report['host_us']:.1f} µs; a launch after another kernel "
             f"{report['switch_us']:+.1f} µs",
             f"held-out fused groups within ±10 %: {split['within_10pct']:.0%} of "
             f"{split['groups']} (median error {_percent(split['median_abs_error'])})",
             f"leave one model out, fused groups within ±10 %: {pooled['within_10pct']:.0%} of "
             f"{pooled['groups']} (median error {_percent(pooled['median_abs_error'])})"]
    if report.get("training"):           # a profile in context (fusion.execute.incontext)
        lines.insert(1, f"training set: {report['training']}")
    for name, row in report["leave_one_model_out"].items():
        if "skipped" in row:
            lines.append(f"  without {name}: {row['skipped']}")
        else:
            lines.append(f"  without {name:14}: {row['within_10pct']:.0%} of {row['groups']} "
                         f"within ±10 %, median error {_percent(row['median_abs_error'])}")
    lines.append(f"stored in {result.directory}")
    return lines


def _percent(value) -> str:
    return "n/a" if value is None else f"{value:.1%}"
