#!/usr/bin/env python3
"""What a launch's arguments cost the host: one tiny kernel taking N buffers (N ints, N images),
arguments set once, enqueued back to back. For each N: the host's µs per enqueue (a burst
enqueued without waiting) and the wall µs per launch (the burst and the wait), alternating
the variants round by round. A fused kernel takes every member's buffers: if each buffer
costs the host a fixed time per launch, a plan's fused launches pay it at every replay.
Each variant also runs through ctypes straight to clEnqueueNDRangeKernel with no event asked
for (pyopencl makes one per launch), to see what the event costs.

    python3 scripts/enqueue_args.py --device nvidia --json out.json
"""
from __future__ import annotations

import argparse
import ctypes
import glob
import json
import os
import statistics
import time

import numpy as np
import pyopencl as cl

from fusion.runtime import platform_context


def kernel_source(buffers: int, ints: int, images: int = 0) -> str:
    params = [f"__global float *b{k}" for k in range(buffers)]
    params += [f"__read_only image2d_t i{k}" for k in range(images)]
    params += [f"const int s{k}" for k in range(ints)]
    total = " + ".join([f"b{k}[1]" for k in range(buffers)] + [f"(float)s{k}" for k in range(ints)]
                       + [f"read_imagef(i{k}, SAMPLER, (int2)(0, 0)).x" for k in range(images)])
    sampler = ("__constant sampler_t SAMPLER = CLK_NORMALIZED_COORDS_FALSE | "
               "CLK_ADDRESS_CLAMP | CLK_FILTER_NEAREST;\n" if images else "")
    return (sampler + f"__kernel void k({', '.join(params)}) {{\n"
            f"  if (get_global_id(0) == 0) b0[0] = {total or '0.0f'};\n}}\n")


def no_event_enqueue(queue, kernel):
    """A function enqueueing `kernel` on `queue` over (128,) items with no event, through the
    OpenCL loader pyopencl links (its handles are the loader's)."""
    library = ctypes.CDLL(glob.glob(os.path.join(os.path.dirname(cl.__file__), ".libs",
                                                 "libOpenCL*"))[0])
    enqueue = library.clEnqueueNDRangeKernel
    enqueue.restype = ctypes.c_int32
    enqueue.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p,
                        ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p,
                        ctypes.c_void_p]
    size = (ctypes.c_size_t * 1)(128)
    q, k = queue.int_ptr, kernel.int_ptr

    def launch(*_):
        if enqueue(q, k, 1, None, size, size, 0, None, None) != 0:
            raise RuntimeError("clEnqueueNDRangeKernel failed")
    return launch


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="intel-cpu")
    parser.add_argument("--counts", default="1,2,4,8,16,32,64")
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    context = platform_context(args.device)
    queue = cl.CommandQueue(context)
    variants, keep = {}, []
    image_format = cl.ImageFormat(cl.channel_order.RGBA, cl.channel_type.FLOAT)
    for n in map(int, args.counts.split(",")):
        for kind, (buffers, ints, images) in (("buffers", (n, 1, 0)), ("ints", (1, n, 0)),
                                               ("images", (1, 1, n))):
            if kind != "buffers" and n == 1:
                continue
            kernel = cl.Program(context, kernel_source(buffers, ints, images)).build().k
            memory = [cl.Buffer(context, cl.mem_flags.READ_WRITE, 4096) for _ in range(buffers)]
            pictures = [cl.Image(context, cl.mem_flags.READ_ONLY, image_format, shape=(64, 16))
                        for _ in range(images)]
            kernel.set_args(*memory, *pictures, *[np.int32(k) for k in range(ints)])
            keep.append((memory, pictures))   # the kernel does not hold its memory objects
            label = f"{buffers} buffers, {ints} ints" + (f", {images} images" if images else "")
            variants[label] = (
                lambda queue_, kernel_, *_, k=kernel: cl.enqueue_nd_range_kernel(
                    queue_, k, (128,), (128,)))
            variants[f"{label}, no event"] = no_event_enqueue(queue, kernel)
    samples = {name: {"host_us": [], "wall_us": []} for name in variants}
    for round_ in range(args.rounds + 2):
        for name, enqueue in variants.items():
            queue.finish()
            start = time.perf_counter()
            for _ in range(args.burst):
                enqueue(queue, None)
            enqueued = time.perf_counter()
            queue.finish()
            done = time.perf_counter()
            if round_ >= 2:
                samples[name]["host_us"].append((enqueued - start) / args.burst * 1e6)
                samples[name]["wall_us"].append((done - start) / args.burst * 1e6)
    device = context.devices[0]
    print(f"{device.name.strip()} ({device.driver_version}); bursts of {args.burst}, "
          f"{args.rounds} rounds")
    rows = {}
    for name, s in samples.items():
        rows[name] = {key: statistics.median(values) for key, values in s.items()}
        print(f"  {name:<42} host {rows[name]['host_us']:7.2f} µs/enqueue, wall "
              f"{rows[name]['wall_us']:7.2f} µs/launch")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(dict(device=f"{device.name.strip()} (driver {device.driver_version})",
                           date=time.strftime("%Y-%m-%d %H:%M:%S"), settings=vars(args),
                           median=rows, samples=samples), out, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
