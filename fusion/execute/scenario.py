"""`python -m fusion run MODEL [MODEL ...]`: several DNNs run together, planned and not.

Two plans of the same models with the same weights: the sequential baseline (policy "none":
every node alone, bound once, launched in order — the best plain way) and the planned one (the
policy asked for). Rounds alternate sequential / planned / sequential again (the null
comparison, whose ratio spread is the noise floor); each sample keeps the queue busy with K
inferences back to back (fusion.execute.measure). Quoted: the median of per-round ratios.
Outputs of every model are compared bit for bit, planned against sequential. One more replay on
a profiling queue gives each launch's device time and each model's latency within the plan.
"""
from __future__ import annotations

import os
import platform as host_platform
import statistics
import sys
import time
import warnings

import pyopencl as cl

from ..errors import FusionError
from ..plan.latency import LatencyModel, within
from ..runtime import FusionWarning, platform_context
from .adapt import AdaptivePlan, measured_plan
from .affinity import allowed_cpus, fastest_cpu, pinned
from .measure import (alternating, busy, choose_iterations, profiled_replay, ratios, summary,
                      warm_up)
from .plan import Plan, compile_plan, outputs_identical, plan_fuser
from .profile import cached_model, model_graph, profile_device


def _pin_choice(pin_cpu: int | str | None, device: cl.Device) -> int | None:
    if pin_cpu == "auto":
        return fastest_cpu() if device.type & cl.device_type.GPU else None
    if pin_cpu is None or isinstance(pin_cpu, int):
        return pin_cpu
    raise FusionError(f"pin_cpu is 'auto', a CPU number or None, not {pin_cpu!r}")


def _sorted_or_none(cpus: set[int] | None) -> list[int] | None:
    """The CPUs the run's thread could use while timed (JSON-ready), None where unknown."""
    return None if cpus is None else sorted(cpus)


def _model_latency(plan: Plan, spans) -> list[float]:
    """Per model: ms from the plan's start until its last launch ends."""
    ends = [0.0] * len(plan.graphs)
    for launch, (_, end) in zip(plan.launches, spans):
        for g, _ in launch.nodes:
            ends[g] = max(ends[g], end)
    return ends


def run_scenario(models: list[str], *, device_name: str = "intel-cpu", resolution: int | None = None,
                 policy: str = "all", rounds: int = 20, seed: int = 0,
                 sample_seconds: float = 0.05, latency: LatencyModel | None = None,
                 warm_seconds: float = 2.0, adapt: int = 0, check: bool = True,
                 pin_cpu: int | str | None = "auto", specialize: bool = True,
                 progress=None) -> dict:
    """Run the models together planned by `policy` and sequentially (see the module
    docstring). Under "auto" without `latency`, the device's stored model is used, and a
    device without one is profiled first (fusion.execute.profile, default settings).
    `adapt` (auto only): then run the auto plan for that many windows through an
    AdaptivePlan (fusion.execute.adapt: re-measured and re-planned on lasting drift) and
    check the outputs of the plan it ends with. `check` (auto without `adapt`, whose trials
    judge its own re-plans): the auto plan is measured against the plans of `all` and `none`
    first (fusion.execute.adapt.measured_plan) and the fastest beyond noise is the one run;
    where that is not the model's, its launches carry no prediction. `pin_cpu`: the host
    CPU the work runs on (fusion.execute.affinity; the JSON's `host_cpu_pinned`): "auto",
    the fastest of this process's CPUs on a GPU and none on a CPU device (whose runtime's
    worker threads need every core); a CPU number; or None. `specialize`: the plans' fused
    kernels are built with their layout and integer arguments baked in (fusion.execute.plan.
    plan_fuser; the JSON's `specialized`)."""
    if adapt and policy != "auto":
        raise FusionError("adapting a plan (--adapt) needs the auto policy")
    context = platform_context(device_name)  # FusionError naming what was found, if none
    device = context.devices[0]
    cpu = _pin_choice(pin_cpu, device)
    with pinned(cpu):
        result = _scenario(context, models, device_name=device_name, resolution=resolution,
                           policy=policy, rounds=rounds, seed=seed,
                           sample_seconds=sample_seconds, latency=latency,
                           warm_seconds=warm_seconds, adapt=adapt, check=check,
                           specialize=specialize, progress=progress)
    result["host_cpu_pinned"] = cpu
    return result


def _scenario(context: cl.Context, models: list[str], *, device_name: str,
              resolution: int | None, policy: str, rounds: int, seed: int,
              sample_seconds: float, latency: LatencyModel | None, warm_seconds: float,
              adapt: int, check: bool, specialize: bool, progress) -> dict:
    device = context.devices[0]
    if policy == "auto" and latency is None:
        latency = cached_model(device)
        if latency is None:
            print(f"no latency model for {device.name.strip()} yet: profiling it first "
                  "(once; `python -m fusion profile` does only this)", file=sys.stderr)
            latency = profile_device(device_name, progress=progress).model
    platform = device.platform
    queue = cl.CommandQueue(context)
    graphs = [model_graph(name, resolution) for name in models]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FusionWarning)
        fuser = plan_fuser(context, specialize=specialize)
        sequential = compile_plan(context, queue, graphs, policy="none", fuser=fuser, seed=seed)
        checked = None
        if policy == "auto" and check and not adapt:   # as the API's measured_plan runs it
            planned, checked = measured_plan(context, queue, graphs, latency=latency,
                                             fuser=fuser, seed=seed, warm_seconds=warm_seconds)
        else:
            planned = compile_plan(context, queue, graphs, policy=policy, fuser=fuser,
                                   seed=seed, latency=latency)
        again = compile_plan(context, queue, graphs, policy="none", fuser=fuser, seed=seed)
    notes = sorted({str(w.message) for w in caught if issubclass(w.category, FusionWarning)})
    identical = outputs_identical(queue, sequential, [planned, again], seed + 1000)
    warm_up(busy(queue, planned.replay), warm_seconds)  # clocks up before anything is timed
    variants = {"sequential": busy(queue, sequential.replay), "planned": busy(queue, planned.replay),
                "sequential again": busy(queue, again.replay)}
    iterations = choose_iterations(variants["sequential"], sample_seconds, limit=100)
    samples = alternating(variants, rounds=rounds, iterations=iterations)
    seq_profile, plan_profile = profiled_replay(context, sequential), profiled_replay(context, planned)
    throughput = summary(ratios(samples["sequential"], samples["planned"]))
    null = summary(ratios(samples["sequential"], samples["sequential again"]))
    plan_latency = _model_latency(planned, plan_profile.spans)
    alone_ms = []
    for k, graph in enumerate(graphs):
        # each model alone, bound once: its own launches of the sequential plan, back to back
        own = [i for i, launch in enumerate(sequential.launches) if launch.nodes[0][0] == k]
        alone_ms.append(sum(seq_profile.spans[i][1] - seq_profile.spans[i][0] for i in own))
    adaptive = _adapt(context, queue, graphs, planned, sequential, latency, fuser, seed,
                      adapt) if adapt else None
    launches = []
    for row, (start, end), added in zip(planned.schedule(), plan_profile.spans,
                                        plan_profile.added_ms()):
        predicted = row.pop("predicted_us")
        row.update(measured_ms=end - start, start_ms=start, added_ms=added,
                   predicted_ms=predicted / 1e3 if predicted is not None else None)
        launches.append(row)
    return dict(
        device=f"{device.name.strip()} ({platform.name.strip()}, driver {device.driver_version})",
        host=host_platform.node(), host_cpus=_sorted_or_none(allowed_cpus()),
        date=time.strftime("%Y-%m-%d %H:%M:%S"),
        models=[dict(name=g.name, resolution=g.input_shape[-1], nodes=len(g.nodes),
                     alone_device_ms=alone_ms[k], planned_latency_ms=plan_latency[k],
                     outputs_bit_identical=identical[k]) for k, g in enumerate(graphs)],
        policy=policy, specialized=specialize, rounds=rounds,
        iterations_per_sample=iterations, seed=seed,
        outputs_bit_identical=all(identical) and (adaptive is None
                                                  or adaptive["outputs_bit_identical"]),
        sequential_ms=summary(samples["sequential"])["median"] * 1e3,
        planned_ms=summary(samples["planned"])["median"] * 1e3,
        throughput_ratio=throughput, null_ratio=null,
        sequential_launches=len(sequential.launches), planned_launches=len(planned.launches),
        fused_launches=planned.fused_launches, shifts=list(planned.shifts),
        compile_seconds=checked["compile_seconds"] if checked else planned.compile_seconds,
        memory=planned.memory(), checked=checked,
        adaptive=adaptive,
        samples={name: [s * 1e3 for s in values] for name, values in samples.items()},
        launches=launches, prediction=_prediction(launches, latency), notes=notes,
        warm_seconds=warm_seconds,
        timeline=dict(sequential=seq_profile.spans, planned=plan_profile.spans))


def _adapt(context, queue, graphs, planned: Plan, sequential: Plan, latency, fuser, seed: int,
           windows: int) -> dict:
    """`windows` windows of the auto plan through an AdaptivePlan on the planned graphs, and
    whether the plan it ends with still gives the sequential plan's outputs."""
    adaptive = AdaptivePlan(context, queue, graphs, latency=latency, fuser=fuser, seed=seed,
                            loaded=planned.graphs)
    checks = [adaptive.step() for _ in range(windows)]
    adaptive.plan.replay(queue)   # the inputs are the ones uploaded above: same graphs
    sequential.replay(queue)
    identical = all(adaptive.plan.output(queue, k).tobytes()
                    == sequential.output(queue, k).tobytes() for k in range(len(graphs)))
    return dict(windows=[check.as_dict() for check in checks],
                recalibrations=adaptive.recalibrations,
                plan_changed=any(check.plan_changed for check in checks),
                final_launches=len(adaptive.plan.launches),
                outputs_bit_identical=identical)


def _prediction(launches: list[dict], latency: LatencyModel | None) -> dict | None:
    """How the latency model did on the plan's own launches: what each added to the profiled
    replay (Profile.added_ms: its device time and any gap before it) against its predicted
    device time plus the model's switch cost (what the policy charged it, unless host-bound).
    None without predictions (policies other than auto)."""
    pairs = [(launch["added_ms"], launch["predicted_ms"] + latency.switch_us / 1e3)
             for launch in launches if latency is not None and launch["predicted_ms"] is not None]
    if not pairs:
        return None
    ratios = [measured / predicted for measured, predicted in pairs]
    return dict(launches=len(pairs), switch_us=latency.switch_us,
                model_measured_in=latency.measured_in, host_us=latency.host_us,
                within_10pct=within([r - 1.0 for r in ratios]),
                median_measured_over_predicted=statistics.median(ratios),
                measured_ms=sum(m for m, _ in pairs), predicted_ms=sum(p for _, p in pairs))


def table(result: dict) -> str:
    t, n = result["throughput_ratio"], result["null_ratio"]
    pinned_to = result.get("host_cpu_pinned")
    lines = [f"device: {result['device']}; policy {result['policy']}; {result['rounds']} "
             f"alternating rounds of {result['iterations_per_sample']} inferences"
             + (f"; host CPU {pinned_to}" if pinned_to is not None else "")
             + ("" if result.get("specialized", True) else "; fused kernels not specialized"),
             "", f"{'model':16} {'nodes':>5} {'alone ms':>9} {'latency in plan ms':>19} "
             f"{'bit-identical':>13}"]
    for m in result["models"]:
        lines.append(f"{m['name']:16} {m['nodes']:5d} {m['alone_device_ms']:9.3f} "
                     f"{m['planned_latency_ms']:19.3f} {'yes' if m['outputs_bit_identical'] else 'NO':>13}")
    lines += ["", f"{'total':16} sequential {result['sequential_ms']:.3f} ms "
              f"({result['sequential_launches']} launches), planned {result['planned_ms']:.3f} ms "
              f"({result['planned_launches']} launches, {result['fused_launches']} fused)",
              f"throughput ratio (sequential / planned): {t['median']:.3f} "
              f"[{t['min']:.3f}, {t['max']:.3f}]; null {n['median']:.3f} "
              f"[{n['min']:.3f}, {n['max']:.3f}]; "
              f"{'plans of auto, all and none' if result['checked'] else 'plan'} compiled in "
              f"{result['compile_seconds']:.2f} s",
              f"node outputs: {result['memory']['output_bytes'] / 2**20:.1f} MiB (one object "
              f"per node: {result['memory']['output_bytes_without_reuse'] / 2**20:.1f} MiB)"]
    prediction = result.get("prediction")
    if prediction:
        lines.append(f"latency model (fitted on {prediction['model_measured_in']}) on this "
                     f"plan's {prediction['launches']} launches (one profiled replay): {prediction['within_10pct']:.0%} within ±10 %, measured "
                     f"/ predicted median {prediction['median_measured_over_predicted']:.2f}; "
                     f"{prediction['measured_ms']:.3f} ms measured, "
                     f"{prediction['predicted_ms']:.3f} ms predicted")
    checked = result.get("checked")
    if checked:
        tried = ", ".join(f"{name} same plan" if trial is None else
                          f"{name} {trial['a_over_b']['median']:.3f}× of {trial['against']} "
                          f"(null {trial['null']['median']:.3f})"
                          for name, trial in checked["trials"].items())
        lines.append(f"auto plan measured against the others: {tried}; ran {checked['chose']} "
                     f"({checked['seconds']:.1f} s)")
    adaptive = result.get("adaptive")
    if adaptive:
        lines.append(f"adaptive: {len(adaptive['windows'])} windows, "
                     f"{len(adaptive['recalibrations'])} recalibration(s), plan changed: "
                     f"{'yes' if adaptive['plan_changed'] else 'no'}, "
                     f"{adaptive['final_launches']} launches, outputs bit-identical: "
                     f"{'yes' if adaptive['outputs_bit_identical'] else 'NO'}")
    lines += [f"note: {note}" for note in result["notes"]]
    return "\n".join(lines)


def draw_timeline(result: dict, path: str) -> None:
    """Each model a row; each launch of the planned replay a bar over the rows of its models
    (a fused launch spans several), on the device's time axis; the sequential replay below."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    models = result["models"]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(12, 2 + 0.6 * len(models)), sharex=True)
    for launch in result["launches"]:
        rows = sorted({n["model"] for n in launch["nodes"]})
        for row in rows:
            top.barh(row, launch["measured_ms"], left=launch["start_ms"], height=0.8,
                     color="tab:orange" if launch["fused"] else "tab:blue", edgecolor="none")
    top.set_yticks(range(len(models)), [f"{k}: {m['name']}" for k, m in enumerate(models)])
    top.set_title(f"planned ({result['policy']}): orange = fused launch, blue = alone")
    for start, end in result["timeline"]["sequential"]:
        bottom.barh(0, end - start, left=start, height=0.8, color="tab:gray", edgecolor="none")
    bottom.set_yticks([0], ["sequential"])
    bottom.set_xlabel("device time (ms) of one inference of all models")
    figure.tight_layout()
    temporary = f"{path}.tmp.png"
    figure.savefig(temporary, dpi=120)
    plt.close(figure)
    os.replace(temporary, path)  # whole or not at all
