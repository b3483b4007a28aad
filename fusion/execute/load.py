"""A competing workload on an OpenCL device, in its own process: what recalibration is tested
against (another application's kernels sharing the device).

    with competing_load("intel-cpu", kernel_ms=2.0):
        ...                                  # the device also runs the load's kernels

The child process opens the device, builds one arithmetic kernel sized to take about
`kernel_ms` alone, and launches it back to back (waiting for each) until it is stopped. It
says "ready" on stdout once its first kernel has run, so the caller knows the load is on.
"""
from __future__ import annotations

import contextlib
import select
import subprocess
import sys
import time

SOURCE = """
__kernel void spin(__global float *out, const int steps) {
    float x = (float)get_global_id(0) * 1e-6f, y = 1.0f;
    for (int i = 0; i < steps; ++i) { y = fma(y, 0.999999f, x); x = fma(x, 1.000001f, y * 1e-7f); }
    out[get_global_id(0)] = x + y;
}
"""


def _serve(device_name: str, kernel_ms: float) -> None:
    import numpy as np
    import pyopencl as cl
    from ..runtime import platform_context
    context = platform_context(device_name)
    queue = cl.CommandQueue(context)
    device = context.devices[0]
    items = device.max_compute_units * 1024
    out = cl.Buffer(context, cl.mem_flags.WRITE_ONLY, 4 * items)
    kernel = cl.Program(context, SOURCE).build().spin
    steps = 64
    while True:  # grow the loop until one launch takes about kernel_ms
        kernel(queue, (items,), None, out, np.int32(steps))
        queue.finish()
        start = time.perf_counter()
        kernel(queue, (items,), None, out, np.int32(steps))
        queue.finish()
        took_ms = (time.perf_counter() - start) * 1e3
        if took_ms >= kernel_ms or steps >= 1 << 24:
            break
        steps *= 2
    print("ready", flush=True)
    while True:
        kernel(queue, (items,), None, out, np.int32(steps))
        queue.finish()


@contextlib.contextmanager
def competing_load(device_name: str, *, kernel_ms: float = 2.0, processes: int = 1,
                   timeout_s: float = 60.0):
    """Run `processes` loads on the device for the duration of the block."""
    children = [subprocess.Popen([sys.executable, "-m", __name__, device_name, str(kernel_ms)],
                                 stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    try:
        for child in children:
            started = select.select([child.stdout], [], [], timeout_s)[0]
            line = child.stdout.readline() if started else ""
            if line.strip() != "ready":
                raise RuntimeError(f"the competing load on {device_name} did not start "
                                   f"(exit code {child.poll()})")
        yield children
    finally:
        for child in children:
            child.kill()
            child.wait()


if __name__ == "__main__":
    _serve(sys.argv[1], float(sys.argv[2]))
