"""Speed of the compiler itself (not of the kernels it makes).

    python -m benchmarks.compiler_speed [--repeat 30] [--output benchmarks/results/compiler_speed.json]

Measures, for three kernels of the library (conv2d_1x1, depthwise_conv2d, eltwise_add):
  cold generate   parse (preprocess + pycparser) + rename + rewrite + layout + render, caches emptied
  warm generate   generate() with the three kernels already parsed (the parse cache hit)
  fuse hit        Fuser.fuse() of kernels it has seen (the launcher cache hit)
  first launch    the first call of a new fused kernel: generate + OpenCL build + bind + enqueue
Each figure is the median of --repeat runs, with min and max; times are wall-clock on this
machine's CPU (perf_counter).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np


def _stats(samples):
    return dict(median=statistics.median(samples), min=min(samples), max=max(samples),
                n=len(samples))


def _time(function, repeat):
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return _stats(samples)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--output", default="benchmarks/results/compiler_speed.json")
    args = parser.parse_args(argv)

    import pyopencl as cl

    from fusion import Fuser, generate, ops as operators
    from fusion.compiler.parse import _parse_text, parse_kernel
    from fusion.verify.testing import pocl_context

    context = pocl_context()
    queue = cl.CommandQueue(context)
    rng = np.random.default_rng(0)
    ops = [operators.make(context, queue, kind, rng, **operators.example_shapes(kind))
           for kind in ("conv2d_1x1", "depthwise_conv2d", "eltwise_add")]
    kernels = [op.kernel for op in ops]

    def cold():
        parse_kernel.cache_clear()
        _parse_text.cache_clear()
        generate(kernels, wave_size=32)

    results = {}
    results["cold generate (parse included)"] = _time(cold, args.repeat)
    generate(kernels, wave_size=32)
    results["warm generate (kernels parsed)"] = _time(lambda: generate(kernels, wave_size=32),
                                                      args.repeat)
    fuser = Fuser(context)
    fuser.fuse(kernels)
    results["Fuser.fuse cache hit"] = _time(lambda: fuser.fuse(kernels), args.repeat * 100)

    def first_launch():
        fresh = Fuser(context, wave_size=fuser.wave_size)
        # a fresh Fuser has an empty program cache: this builds the program on PoCL
        fresh.fuse(kernels)(queue, [op.launch() for op in ops])
        queue.finish()

    results["first launch (generate + PoCL build + launch)"] = _time(first_launch,
                                                                     max(3, args.repeat // 10))
    device = context.devices[0]
    report = dict(
        benchmark="compiler_speed",
        command="python -m benchmarks.compiler_speed " + " ".join(argv or sys.argv[1:]),
        machine=dict(python=platform.python_version(), processor=platform.processor(),
                     cpus=os.cpu_count(), system=platform.platform()),
        device=dict(name=device.name.strip(), platform=device.platform.name.strip(),
                    driver=device.driver_version),
        kernels=[dict(file=os.path.relpath(k.filename), name=k.name, options=list(k.options))
                 for k in kernels],
        settings=dict(repeat=args.repeat, wave_size=32, layout="groups"),
        results_seconds=results,
    )
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(report, f, indent=2)
    print("| step | median | min | max | runs |\n|---|---:|---:|---:|---:|")
    for name, s in results.items():
        print(f"| {name} | {_fmt(s['median'])} | {_fmt(s['min'])} | {_fmt(s['max'])} | {s['n']} |")
    print(f"\nwritten to {args.output}", file=sys.stderr)
    return 0


def _fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    return f"{seconds * 1e3:.2f} ms"


if __name__ == "__main__":
    sys.exit(main())
