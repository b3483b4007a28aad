"""Whole forward passes of the paper's six DNNs at full resolution, operator by operator, on one
OpenCL device, checked against numpy.

    python -m benchmarks.model_forward [--platform NVIDIA] [--model mobilenet_v2 ...]
                                       [--rounds 10] [--profile] [--output FILE]

For each model: build the graph at Table 1's input size (or --resolution), load it (random
weights from --seed, uploaded), run it once and compare every node's output with the numpy
forward pass of the same graph (relative error, fusion.models.execute.compare, must be at most
--tolerance), then time --rounds forward passes (wall clock, each ending with queue.finish(),
after --warmup untimed ones). --profile adds each operator's device time (OpenCL profiling
events, one more pass). Writes JSON (default benchmarks/results/model_forward_<device>.json)
and prints one line per model. Exit status 1 when a check fails.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time

import numpy as np

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fusion import graph as models  # noqa: E402
from fusion.graph import counting  # noqa: E402
from fusion.runtime.devices import DEFAULT_PLATFORM  # noqa: E402

TOLERANCE = 1e-4


def _check(queue, loaded, x, tolerance) -> dict:
    from fusion.execute import graphs as execute
    graph = loaded.graph
    loaded.run(queue, x)
    queue.finish()
    start = time.perf_counter()
    want = models.forward(graph, loaded.weights, x)
    numpy_s = time.perf_counter() - start
    errors = [models.compare(loaded.read(queue, node.id), w) for node, w in zip(graph.nodes, want)]
    worst = int(np.argmax(errors))
    return dict(passed=bool(max(errors) <= tolerance), max_error=max(errors),
                worst_node=graph.nodes[worst].name, final_error=errors[-1], tolerance=tolerance,
                numpy_s=numpy_s)


def _profile(context, device, loaded) -> list[dict]:
    """Each operator's device time (end - start of its kernel's event), one pass."""
    import pyopencl as cl
    queue = cl.CommandQueue(context, device,
                            properties=cl.command_queue_properties.PROFILING_ENABLE)
    events = [cl.enqueue_nd_range_kernel(queue, node.built, node.global_size, node.local_size)
              for node in loaded.nodes]
    queue.finish()
    return [dict(name=node.name, kind=node.kind, flops=counting.cost(node).flops,
                 device_us=(event.profile.end - event.profile.start) / 1e3)
            for node, event in zip(loaded.graph.nodes, events)]


def run_model(context, device, queue, name, args) -> dict:
    from fusion.execute import graphs as execute
    graph = models.build(name, args.resolution, batch=args.batch)
    summary = models.summarize(graph)
    start = time.perf_counter()
    loaded = execute.load(context, queue, graph, np.random.default_rng(args.seed))
    queue.finish()
    load_s = time.perf_counter() - start
    x = models.random_input(graph, np.random.default_rng(args.seed + 1))
    entry = dict(model=name, resolution=graph.input_shape[2], batch=graph.input_shape[0],
                 operators=summary.operators, flops=summary.flops, params=summary.params,
                 load_s=load_s)
    if args.check:
        entry["check"] = _check(queue, loaded, x, args.tolerance)
    loaded.upload(queue, x)
    for _ in range(args.warmup):
        loaded.run(queue)
    queue.finish()
    samples = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        loaded.run(queue)
        queue.finish()
        samples.append(time.perf_counter() - start)
    entry["forward_s"] = samples
    entry["median_s"] = statistics.median(samples)
    if args.profile:
        entry["operators_profile"] = _profile(context, device, loaded)
        entry["device_total_us"] = sum(op["device_us"] for op in entry["operators_profile"])
    return entry


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", default=DEFAULT_PLATFORM,
                        help="part of the OpenCL platform name (default: Intel's CPU runtime)")
    parser.add_argument("--model", action="append", choices=models.MODELS,
                        help="a model to run (repeat; default: all six)")
    parser.add_argument("--resolution", type=int, help="input size (default: Table 1's)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=10, help="timed forward passes")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=TOLERANCE)
    parser.add_argument("--no-check", dest="check", action="store_false",
                        help="skip the numpy comparison")
    parser.add_argument("--profile", action="store_true", help="per-operator device times")
    parser.add_argument("--output", help="JSON file (default: "
                        "benchmarks/results/model_forward_<device>.json)")
    args = parser.parse_args(argv)

    import pyopencl as cl

    from fusion.runtime import find_platform
    platform = find_platform(args.platform)
    if platform is None:
        names = ", ".join(p.name for p in cl.get_platforms()) or "none"
        print(f"error: no OpenCL platform matching '{args.platform}' (found: {names})")
        return 1
    device = platform.get_devices()[0]
    context = cl.Context([device])
    queue = cl.CommandQueue(context, device)
    device_info = dict(name=device.name.strip(), platform=platform.name.strip(),
                       version=platform.version.strip(), driver=device.driver_version.strip(),
                       compute_units=device.max_compute_units)
    print(f"device: {device_info['name']} ({device_info['platform']}, "
          f"{device_info['version']})", flush=True)

    results, failed = [], False
    for name in args.model or models.MODELS:
        entry = run_model(context, device, queue, name, args)
        results.append(entry)
        check = entry.get("check")
        verdict = "" if check is None else (
            f"  numpy check {'ok' if check['passed'] else 'FAILED'}: max error "
            f"{check['max_error']:.1e} at {check['worst_node']} (numpy {check['numpy_s']:.1f} s)")
        device_time = (f"  device sum {entry['device_total_us'] / 1e3:.2f} ms"
                       if "device_total_us" in entry else "")
        print(f"{name:14s} {entry['resolution']}x{entry['resolution']}  {entry['operators']:3d} "
              f"ops  {entry['flops'] / 1e6:7.0f} MFLOPs  forward {entry['median_s'] * 1e3:8.2f} "
              f"ms (median of {args.rounds}){device_time}{verdict}", flush=True)
        failed |= check is not None and not check["passed"]

    slug = re.sub(r"[^a-z0-9]+", "_", device_info["name"].lower()).strip("_")
    output = args.output or os.path.join("benchmarks", "results", f"model_forward_{slug}.json")
    directory = os.path.dirname(output)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(output, "w", encoding="utf-8") as f:
        json.dump(dict(device=device_info, rounds=args.rounds, seed=args.seed, models=results),
                  f, indent=1)
        f.write("\n")
    print(f"wrote {output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
