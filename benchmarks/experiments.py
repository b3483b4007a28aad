"""The paper's experiments (section 5), measured with benchmarks/harness.py.

  identical     Figure 9: N identical operators fused (N = 1..8), layouts with and without wave
                alignment, against sequential, several queues and batching
  combinations  Figures 8 and 10: every 2- and 3-combination of operator types (benchmarks/
                layers.py), fused against sequential, with both layouts and FLOPs
  launch        what one kernel launch costs (empty kernel), host side and device side
  smoke         a tiny run of everything (the test suite runs it on PoCL)
"""
from __future__ import annotations

import itertools

from . import harness
from .layers import LAYERS, TYPES


def measure_group(bench, group, *, variants: dict, rounds: int, sample_ms: float,
                  device_repeats: int = 10) -> dict:
    """Time the group's variants in alternating rounds; ratios are sequential / variant."""
    runs = {"sequential": harness.sequential_bound(bench, group)}
    runs.update(variants)
    runs["sequential (null)"] = harness.sequential_bound(bench, group)
    iterations = harness.choose_iterations(runs["sequential"], sample_ms / 1e3)
    samples = harness.alternate(runs, rounds=rounds, iterations=iterations)
    ratios = {name: harness.ratio_summary(samples["sequential"], samples[name])
              for name in runs if name != "sequential"}
    record = dict(label=group.label, specs=group.specs, flops=group.flops,
                  iterations=iterations, samples=samples,
                  seconds={name: harness.summary(v) for name, v in samples.items()},
                  throughput_vs_sequential=ratios)
    if device_repeats:
        record["device_time"] = harness.device_times(bench, group, repeats=device_repeats)
    return record


def fused_variants(bench, group, layouts) -> dict:
    variants = {}
    for layout in layouts:
        variants[f"fused {layout}"] = harness.fused_bound(bench, group, layout)
    return variants


def run_identical(bench, *, layers, counts, rounds, sample_ms, progress=True) -> list[dict]:
    records = []
    jobs = [(spec, n) for spec in layers for n in counts]
    for spec, n in _progress(jobs, progress, "identical"):
        group = harness.make_group(bench, f"{n} x {spec['layer']}", [spec] * n)
        variants = fused_variants(bench, group, ("groups", "wave", "wave-unaligned"))
        variants["rebind: sequential"] = harness.sequential_rebind(bench, group)
        variants["rebind: fused groups"] = harness.fused_rebind(bench, group, "groups")
        variants["python call: sequential"] = harness.sequential_call(bench, group)
        variants["python call: fused groups"] = harness.fused_call(bench, group, "groups")
        variants["several queues"] = harness.multi_queue(bench, group)
        batched = dict(spec, n=n)
        batch_group = harness.make_group(bench, f"batch {n}", [batched])
        variants["batch"] = harness.sequential_bound(bench, batch_group)
        record = measure_group(bench, group, variants=variants, rounds=rounds,
                               sample_ms=sample_ms)
        record.update(layer=spec["layer"], count=n)
        records.append(record)
    return records


def combination_groups(size: int, types=TYPES):
    """Every combination (with repetition) of `size` operator types; each type's layers are
    taken in turn so that the combinations cover them all."""
    picks = {t: itertools.cycle(range(len(LAYERS[t]))) for t in types}
    for combo in itertools.combinations_with_replacement(types, size):
        specs = [dict(LAYERS[t][next(picks[t])]) for t in combo]
        yield combo, specs


def run_combinations(bench, *, sizes, rounds, sample_ms, types=TYPES, progress=True,
                     limit=None) -> list[dict]:
    jobs = [(combo, specs) for size in sizes for combo, specs in combination_groups(size, types)]
    if limit:
        jobs = jobs[:limit]
    records = []
    for combo, specs in _progress(jobs, progress, "combinations"):
        group = harness.make_group(bench, " + ".join(combo), specs)
        variants = fused_variants(bench, group, ("groups", "wave", "groups-baked"))
        record = measure_group(bench, group, variants=variants, rounds=rounds,
                               sample_ms=sample_ms)
        record.update(types=list(combo), size=len(combo),
                      fused_launches=harness.fused_launch_count(bench, group))
        records.append(record)
    return records


def _progress(items, enabled, description):
    if not enabled:
        return items
    from tqdm import tqdm
    return tqdm(items, desc=description, unit="group")


def run_model_pair(bench, *, model: str, resolution=None, rounds: int, sample_ms: float,
                   device_repeats: int = 5) -> dict:
    """Figure 11: two copies of one model run together, operator by operator: node i of both
    copies launched one after the other (sequential) or as one fused launch (fused)."""
    import numpy as np

    from fusion.graph import build
    from fusion.execute.graphs import load

    graph = build(model, resolution)
    copies = [load(bench.context, bench.queue, graph, np.random.default_rng(seed))
              for seed in (1, 2)]
    steps = list(range(len(graph.nodes)))
    kernels = [c.kernel(i) for i in steps for c in copies]
    launches = [c.launch(i) for i in steps for c in copies]
    sequential = bench.fusers["groups"].sequential(kernels).bind(launches)
    fused = [bench.fusers["groups"].fuse([c.kernel(i) for c in copies])
             .bind([c.launch(i) for c in copies]) for i in steps]
    runs = {
        "sequential": harness.busy(bench.queue, sequential.enqueue),
        "fused pairwise": harness.busy(bench.queue,
                                          lambda q: [b.enqueue(q) for b in fused]),
    }
    runs["sequential (null)"] = harness.busy(bench.queue, sequential.enqueue)
    samples = harness.alternate(runs, rounds=rounds, iterations=1, warmup=2)
    per_step = []
    for i in steps:
        singles = [bench.fusers["groups"].sequential([c.kernel(i)]).bind([c.launch(i)])
                   for c in copies]
        times = harness.step_device_times(bench, singles, fused[i], repeats=device_repeats)
        per_step.append(dict(step=i, name=graph.nodes[i].name, kind=graph.nodes[i].kind,
                             **times))
    return dict(model=model, resolution=resolution or graph.input_shape[-1],
                operators=len(steps), samples=samples,
                seconds={k: harness.summary(v) for k, v in samples.items()},
                throughput_vs_sequential={k: harness.ratio_summary(samples["sequential"], v)
                                          for k, v in samples.items() if k != "sequential"},
                steps=per_step)
