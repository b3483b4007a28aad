#!/usr/bin/env python3
"""How much of a specialized plan's gain is fusion, and how much the specialization itself?
Plans bake their fused kernels' integer arguments into the source (fusion.execute.plan.
plan_fuser), and on the CPU device that alone made fused kernels faster. Here, in alternating
rounds: the sequential plan (the models' own kernels, as `fusion run` compares against), the
same nodes each built as a one-member program with its integers baked in (`generate([kernel],
launches=..., constants=...)`: the kernel through the same code generation as a fused one, not
fused with anything), and the plan of `all` specialized and not. Outputs of every variant are
compared with the sequential plan's, bit for bit.

    python3 scripts/specialized_alone.py --device intel-cpu --models mobilenet_v2,mobilenet_v2 \
        --resolution 96 --rounds 20 --json out.json
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pyopencl as cl

from fusion.compiler.pipeline import generate
from fusion.execute.measure import alternating, busy, choose_iterations, ratios, summary, warm_up
from fusion.execute.plan import compile_plan, plan_fuser
from fusion.execute.profile import model_graph
from fusion.runtime import platform_context
from fusion.runtime.binding import convert_argument, integer_constants
from fusion.runtime.cache import build_generated


def specialized_calls(context, fuser, plan) -> list[tuple]:
    """(kernel, global, local) of every node of the plan's graphs, in the plan's order, each a
    one-member program with its integer arguments baked in and its other arguments set."""
    calls = []
    for launch in plan.launches:
        for g, i in launch.nodes:
            loaded = plan.graphs[g]
            kernel = loaded.kernel(i)
            global_size, local_size, args = loaded.launch(i)
            parsed = fuser.fuse([kernel]).parsed[0]
            converted = [convert_argument(parsed.name, p, parameter, value)
                         for p, (parameter, value) in enumerate(zip(parsed.parameters, args))]
            constants = dict(integer_constants(parsed.parameters, converted))
            program = generate([kernel], wave_size=fuser.wave_size,
                               launches=[(global_size, local_size)], constants=[constants])
            layout = program.manifest["layout"]
            built = build_generated(context, fuser.device, program.source,
                                    program.build_options, program.kernel_name, fuser.cache)
            bound = cl.Kernel(built, program.kernel_name)
            bound.set_args(*[value for p, value in enumerate(converted) if p not in constants])
            calls.append((bound, tuple(layout["global_size"]), tuple(layout["local_size"])))
    return calls


def replay(calls):
    def enqueue(queue):
        for kernel, global_size, local_size in calls:
            cl.enqueue_nd_range_kernel(queue, kernel, global_size, local_size)
    return enqueue


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="intel-cpu")
    parser.add_argument("--models", default="mobilenet_v2,mobilenet_v2")
    parser.add_argument("--resolution", type=int)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    context = platform_context(args.device)
    queue = cl.CommandQueue(context)
    graphs = [model_graph(name, args.resolution) for name in args.models.split(",")]
    fuser = plan_fuser(context)
    started = time.perf_counter()
    sequential = compile_plan(context, queue, graphs, policy="none", fuser=fuser)
    fused = compile_plan(context, queue, graphs, policy="all", fuser=fuser,
                         loaded=sequential.graphs)
    plain = compile_plan(context, queue, graphs, policy="all", specialize=False,
                         loaded=sequential.graphs)
    alone = specialized_calls(context, fuser, sequential)
    compiled = time.perf_counter() - started
    variants = {"sequential": busy(queue, sequential.replay),
                "sequential specialized": busy(queue, replay(alone)),
                "all specialized": busy(queue, fused.replay),
                "all plain": busy(queue, plain.replay)}
    rng = np.random.default_rng(5)
    for k, loaded in enumerate(sequential.graphs):
        sequential.upload(queue, k, rng.uniform(-1, 1, loaded.graph.input_shape)
                          .astype(np.float32))
    variants["sequential"](1)
    reference = [sequential.output(queue, k) for k in range(len(graphs))]
    identical = {}
    for name, run in variants.items():   # the graphs are shared: each variant overwrites them
        run(1)
        identical[name] = all(sequential.output(queue, k).tobytes() == want.tobytes()
                              for k, want in enumerate(reference))
    warm_up(variants["sequential"], 2.0)
    iterations = choose_iterations(variants["sequential"], 0.05, limit=100)
    samples = alternating(variants, rounds=args.rounds, iterations=iterations)
    result = dict(device=context.devices[0].name.strip(), models=args.models.split(","),
                  resolution=args.resolution, rounds=args.rounds, iterations=iterations,
                  compile_seconds=compiled, outputs_bit_identical=identical,
                  launches={"sequential": len(sequential.launches), "all": len(fused.launches)},
                  ms={name: summary(values)["median"] * 1e3 for name, values in samples.items()},
                  over_sequential={name: summary(ratios(samples["sequential"], values))
                                   for name, values in samples.items() if name != "sequential"},
                  samples_ms={name: [s * 1e3 for s in values] for name, values in samples.items()})
    for name, ms in result["ms"].items():
        ratio = result["over_sequential"].get(name)
        print(f"{name:24} {ms:9.3f} ms" + (f"   sequential / it {ratio['median']:.3f} "
                                           f"[{ratio['min']:.3f}, {ratio['max']:.3f}]"
                                           if ratio else "")
              + f"   bit-identical {identical[name]}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0 if all(identical.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
