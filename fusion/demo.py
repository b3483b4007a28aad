"""The main job in one command: fuse MobileNet-V2 operators at their real layer shapes on the
default device (Intel's CPU runtime), check that every fused output equals the separate runs bit for bit, and
time each kernel alone, the group run one after another, and the group fused; then run two
DNNs together through the planned executor (a small `python -m fusion run`).

Timing (the method of docs/PERFORMANCE.md, in small): throughput with the queue kept busy — a
sample enqueues K launches of the group back to back and waits once; rounds alternate each
kernel alone / sequential / fused / sequential-again (the null comparison: the same work twice,
whose ratio spread is the noise floor); quoted is the median of per-round ratios.
"""
from __future__ import annotations

import warnings

import numpy as np
import pyopencl as cl

from . import ops as operators
from .execute.measure import alternating, busy, choose_iterations, ratios, summary
from .runtime import DEFAULT_PLATFORM, Fuser, FusionWarning, resolve_platform
from .verify.testing import first_difference

GROUPS = {
    "dw 56x56x144 + conv1x1 28x28 32->192": [
        "block3_dw_3x3_s1_56x56x144", "block5_expand_1x1_28x28_32_to_192"],
    "dw + conv1x1 + add 28x28x32": [
        "block3_dw_3x3_s1_56x56x144", "block5_expand_1x1_28x28_32_to_192", "block5_add_28x28x32"],
    "2 x dw 28x28x192 (identical)": ["block5_dw_3x3_s1_28x28x192", "block5_dw_3x3_s1_28x28x192"],
    "global pool 7x7x1280 + softmax 1000 (barriers)": ["pool_7x7x1280", "softmax_1000"],
}


#: the small multi-DNN run of the demo (the `run` command's scenario)
TOGETHER = ("mobilenet_v2", "squeezenet_v1")
TOGETHER_RESOLUTION = 64


def run_models_together(device_name: str, rounds: int) -> bool:
    """`python -m fusion run mobilenet_v2 squeezenet_v1 --resolution 64 --policy all`, in
    small: the two models planned together against each launched node by node; True when
    every output is bit-identical to the model run alone."""
    from .execute.scenario import run_scenario, table
    print(f"Several DNNs together: {' + '.join(TOGETHER)} at {TOGETHER_RESOLUTION}x"
          f"{TOGETHER_RESOLUTION}, every ready set fused (policy all), against each model's "
          "nodes launched one by one, bound once (`python -m fusion run` runs any mix):\n")
    result = run_scenario(list(TOGETHER), device_name=device_name,
                          resolution=TOGETHER_RESOLUTION, policy="all",
                          rounds=max(3, rounds), warm_seconds=0.5)
    print(table(result))
    print()
    return bool(result["outputs_bit_identical"])


def check_group(queue, fuser: Fuser, ops) -> bool:
    """Fused outputs equal the separate runs, bit for bit."""
    for op in ops:
        op.reset_outputs(queue)
    for op in ops:
        op.run(queue)
    queue.finish()
    alone = [raw for op in ops for raw in op.read_raw_outputs(queue)]
    for op in ops:
        op.reset_outputs(queue)
    fuser.fuse([op.kernel for op in ops])(queue, [op.launch() for op in ops])
    queue.finish()
    fused = [raw for op in ops for raw in op.read_raw_outputs(queue)]
    return all(first_difference(a, b) is None for a, b in zip(alone, fused))


def measure_group(queue, fuser: Fuser, ops, rounds: int) -> dict:
    kernels = [op.kernel for op in ops]
    launches = [op.launch() for op in ops]
    sequential = fuser.sequential(kernels).bind(launches)
    k = choose_iterations(busy(queue, sequential.enqueue), 0.02, limit=200)
    bound = {f"alone {i}": fuser.sequential([op.kernel]).bind([op.launch()])
             for i, op in enumerate(ops)}
    bound["sequential"] = sequential
    bound["fused"] = fuser.fuse(kernels).bind(launches)
    bound["sequential again"] = fuser.sequential(kernels).bind(launches)
    samples = alternating({name: busy(queue, b.enqueue) for name, b in bound.items()},
                          rounds=rounds, iterations=k)
    return dict(
        alone=[summary(samples[f"alone {i}"])["median"] for i in range(len(ops))],
        sequential=summary(samples["sequential"])["median"],
        fused=summary(samples["fused"])["median"],
        throughput=summary(ratios(samples["sequential"], samples["fused"])),
        null=summary(ratios(samples["sequential"], samples["sequential again"])),
    )


def run_demo(*, rounds: int = 30, device_name: str = DEFAULT_PLATFORM) -> int:
    platform = resolve_platform(device_name)
    if platform is None:
        names = ", ".join(p.name for p in cl.get_platforms()) or "none"
        print(f"error: no OpenCL platform matching '{device_name}' (found: {names})")
        return 1
    device = platform.get_devices()[0]
    context = cl.Context([device])
    queue = cl.CommandQueue(context)
    fuser = Fuser(context, bake_layout=True, bake_arguments=True)   # as plans build them
    print(f"device: {device.name.strip()} ({platform.name.strip()}), wave size {fuser.wave_size}, "
          f"layout '{fuser.layout}', {rounds} alternating rounds")
    print("Throughput ratio = sequential time / fused time per round (median [min, max]); "
          "null = sequential vs itself (noise floor).\n")
    header = (f"{'group':48} {'alone (ms)':>22} {'seq ms':>8} {'fused ms':>9} "
              f"{'throughput':>22} {'null':>16} {'bit-equal':>9}")
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    all_equal = True
    notes = []
    for title, layers in GROUPS.items():
        ops = [operators.make_layer(context, queue, name, rng) for name in layers]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FusionWarning)
            equal = check_group(queue, fuser, ops)
            m = measure_group(queue, fuser, ops, rounds)
        notes += [f"{title}: {w.message}" for w in caught
                  if issubclass(w.category, FusionWarning) and f"{title}: {w.message}" not in notes]
        all_equal &= equal
        alone = " + ".join(f"{t * 1e3:.2f}" for t in m["alone"])
        t = m["throughput"]
        n = m["null"]
        print(f"{title:48} {alone:>22} {m['sequential'] * 1e3:8.2f} {m['fused'] * 1e3:9.2f} "
              f"{t['median']:7.2f}x [{t['min']:.2f}, {t['max']:.2f}] "
              f"{n['median']:5.2f} [{n['min']:.2f}-{n['max']:.2f}] {'yes' if equal else 'NO':>9}")
    print()
    for note in notes:
        print(f"note: {note}")
    if notes:
        print()
    all_equal &= run_models_together(device_name, rounds)
    if not all_equal:
        print("FAILED: a fused output differs from the separate runs")
        return 1
    print("All fused outputs are bit-identical to the separate launches.")
    return 0
