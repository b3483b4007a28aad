"""Planned execution of several model graphs: compile once, replay per inference.

    plan = compile_plan(context, queue, [build("mobilenet_v2", 96)] * 2, policy="all")
    plan.upload(queue, 0, x0)
    plan.upload(queue, 1, x1)
    plan.replay(queue)                   # every launch of every model, nothing re-bound
    y0 = plan.output(queue, 0)

Compiling loads every graph (weights drawn from one seed per model, uploaded; node outputs share
memory where their lifetimes allow in any schedule), walks the
models' ready sets in lock step (fusion.graph.ready_sets), lets the policy group each ready set
into launches, and for every group of more than one node generates, builds and binds the fused
kernel once (Fuser.fuse(...).bind(...): the runtime's planner may still run a member on its
own). What is left is a flat list of (kernel, global size, local size) with every argument set:
`replay` is a bare loop of enqueues, with no per-argument Python work; only the inputs change.

A plan's fused kernels are specialized to their launches (`plan_fuser`): the layout values and
every integer argument (the shapes MNN-style kernels take as arguments) are baked into the source,
so a fused launch passes only its memory objects and floats; each argument costs the driver time
at every enqueue, and a fused plan's replay is as much host work as device work on a GPU
(docs/PERFORMANCE.md). The kernels run alone are the models' own, as in the sequential plan.

Policies: "none" (every node alone: the models' own launches, the sequential baseline), "all"
(every ready set fused: one group per step, models in lock step), "auto" (fusion.execute.auto:
the groups and model shifts a device's latency model predicts to be fastest; each launch keeps
its prediction), or a callable (ready set -> groups).
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import numpy as np
import pyopencl as cl

from ..errors import FusionError
from ..graph.graph import Graph
from ..graph.schedule import ready_sets
from ..plan.latency import LatencyModel
from ..runtime.launcher import Fuser
from .auto import auto_groups
from .graphs import LoadedGraph, check_groups, load, plan_fuser
from .profile import require_model

NodeRef = tuple[int, int]                       # (model index, node id)
Policy = Callable[[Sequence[NodeRef]], Sequence[Sequence[NodeRef]]]
POLICIES = ("none", "all", "auto")


@dataclasses.dataclass(frozen=True)
class PlannedLaunch:
    """One launch of the plan: the nodes it computes and its bound kernel."""

    nodes: tuple[NodeRef, ...]
    kernel: cl.Kernel
    global_size: tuple[int, ...]
    local_size: tuple[int, ...] | None
    predicted_us: float | None = None   # the latency model's, under the auto policy

    @property
    def fused(self) -> bool:
        return len(self.nodes) > 1


class Plan:
    """Compiled launches of several loaded graphs; `replay(queue)` runs one inference of all."""

    def __init__(self, graphs: Sequence[LoadedGraph], launches: Sequence[PlannedLaunch],
                 policy: str, compile_seconds: float, shifts: tuple[int, ...] | None = None):
        self.graphs = tuple(graphs)
        self.launches = tuple(launches)
        self.policy = policy
        self.compile_seconds = compile_seconds
        self.shifts = shifts or (0,) * len(self.graphs)
        self._calls = tuple((launch.kernel, launch.global_size, launch.local_size)
                            for launch in self.launches)

    def upload(self, queue: cl.CommandQueue, model: int, x: np.ndarray) -> None:
        self.graphs[model].upload(queue, x)

    def replay(self, queue: cl.CommandQueue) -> cl.Event:
        """Enqueue every launch once, in plan order; the last launch's event."""
        enqueue = cl.enqueue_nd_range_kernel
        event = None
        for kernel, global_size, local_size in self._calls:
            event = enqueue(queue, kernel, global_size, local_size)
        return event

    def output(self, queue: cl.CommandQueue, model: int) -> np.ndarray:
        loaded = self.graphs[model]
        return loaded.read(queue, loaded.graph.output.id)

    def memory(self) -> dict:
        """Bytes of the models' node outputs: held (memory reused where lifetimes allow, see
        graphs.load) and what one object per node would hold."""
        held, one_each = (sum(column) for column in zip(*(g.output_bytes() for g in self.graphs)))
        return dict(output_bytes=held, output_bytes_without_reuse=one_each)

    @property
    def fused_launches(self) -> int:
        return sum(launch.fused for launch in self.launches)

    def schedule(self) -> list[dict]:
        """Which nodes ran in which launch, in order (JSON-ready)."""
        rows = []
        for index, launch in enumerate(self.launches):
            rows.append(dict(
                launch=index, kernel=launch.kernel.function_name, fused=launch.fused,
                global_size=list(launch.global_size),
                local_size=list(launch.local_size) if launch.local_size else None,
                arguments=launch.kernel.num_args,   # what the driver takes at each enqueue
                predicted_us=launch.predicted_us,
                nodes=[dict(model=g, graph=self.graphs[g].graph.name, node=i,
                            name=self.graphs[g].graph.nodes[i].name,
                            kind=self.graphs[g].graph.nodes[i].kind)
                       for g, i in launch.nodes]))
        return rows

    def describe(self) -> str:
        lines = [f"plan ({self.policy}): {len(self.launches)} launches, {self.fused_launches} "
                 f"fused, {sum(len(g.nodes) for g in self.graphs)} nodes of "
                 f"{len(self.graphs)} model(s); compiled in {self.compile_seconds:.2f} s"]
        for row in self.schedule():
            names = ", ".join(f"{n['graph']}[{n['model']}].{n['name']}" for n in row["nodes"])
            lines.append(f"  {row['launch']:4d} {'fused' if row['fused'] else 'alone':5} {names}")
        return "\n".join(lines)


def _groups(policy: str | Policy, ready: Sequence[NodeRef]) -> list[list[NodeRef]]:
    if callable(policy):
        return [list(group) for group in policy(ready)]
    if policy == "none":
        return [[node] for node in ready]
    if policy == "all":
        return [list(ready)]
    raise FusionError(f"unknown policy '{policy}' (choose from {', '.join(POLICIES)}, or give "
                      "a function from a ready set to its groups)")


def compile_plan(context: cl.Context, queue: cl.CommandQueue, graphs: Sequence[Graph], *,
                 policy: str | Policy = "all", fuser: Fuser | None = None, seed: int = 0,
                 loaded: Sequence[LoadedGraph] | None = None,
                 latency: LatencyModel | None = None, max_group: int = 6,
                 reuse: bool = True, specialize: bool = True) -> Plan:
    """Load the graphs (model k's weights from seed + k; or give them `loaded`), group every
    ready set by the policy, build and bind every fused kernel: a Plan to replay. The auto
    policy predicts with `latency` (default: the device's profile, fusion.execute.profile;
    FusionError when it has none). `reuse`: the graphs it loads share memory between node
    outputs where that is safe in every dependency order (graphs.load), so only the models'
    outputs can be read after a replay. `specialize`: without a `fuser`, the fused kernels are
    built specialized to their launches (plan_fuser); a given fuser keeps its own settings."""
    started = time.perf_counter()
    if loaded is None:
        loaded = [load(context, queue, graph, np.random.default_rng(seed + k), reuse=reuse)
                  for k, graph in enumerate(graphs)]
    fuser = fuser or plan_fuser(context, specialize=specialize)
    shifts, predict = None, None
    if policy == "auto":
        latency = latency or require_model(context.devices[0])
        groups, shifts, oracle = auto_groups(loaded, fuser, latency, max_group=max_group)
        predict = oracle.predicted_us
    else:
        groups = [group for ready in ready_sets([g.graph for g in loaded])
                  for group in _groups(policy, ready) if group]
    check_groups(loaded, groups)
    launches: list[PlannedLaunch] = []
    for group in groups:
        predicted = predict(group) if predict else None
        if len(group) == 1:
            (g, i), = group
            node = loaded[g].nodes[i]
            launches.append(PlannedLaunch(((g, i),), node.built, node.global_size,
                                          node.local_size, predicted))
            continue
        bound = fuser.fuse([loaded[g].kernel(i) for g, i in group]).bind(
            [loaded[g].launch(i) for g, i in group])
        calls = bound.enqueues()
        for kernel, global_size, local_size, members in calls:
            launches.append(PlannedLaunch(tuple(group[m] for m in members), kernel,
                                          global_size, local_size,
                                          predicted if len(calls) == 1 else None))
    name = policy if isinstance(policy, str) else getattr(policy, "__name__", "custom")
    return Plan(loaded, launches, name, time.perf_counter() - started, shifts)


def outputs_identical(queue: cl.CommandQueue, reference: Plan, others: Sequence[Plan],
                      seed: int) -> list[bool]:
    """Per model: whether every plan of `others` gives the bit-identical output of `reference`
    (plans of the same graphs), each model's input drawn from `seed` and uploaded to all of them,
    every plan replayed once."""
    plans = [reference, *others]
    rng = np.random.default_rng(seed)
    for k, loaded in enumerate(reference.graphs):
        x = rng.uniform(-1, 1, loaded.graph.input_shape).astype(np.float32)
        for plan in plans:
            plan.upload(queue, k, x)
    for plan in plans:
        plan.replay(queue)
    queue.finish()
    return [all(plan.output(queue, k).tobytes() == reference.output(queue, k).tobytes()
                for plan in others) for k in range(len(reference.graphs))]
