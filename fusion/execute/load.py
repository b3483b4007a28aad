"""A competing workload, in other processes or a thread: what recalibration is tested against.

    with competing_load("intel-cpu", kernel_ms=2.0):
        ...                                  # the device also runs the load's kernels
    with competing_load("nvidia", kind="host"):
        ...                                  # every host core is busy: launches cost more
    with competing_load("nvidia", kind="queue", context=context):
        ...                                  # another queue of our context keeps launching

`kind="device"` (another application's kernels sharing the device): the child process opens
the device, builds one arithmetic kernel sized to take about `kernel_ms` alone, and launches it
back to back (waiting for each) until it is stopped. `kind="host"` (the application's other
threads keeping the CPU busy, as on a phone): `processes` children (default: one per core)
spin on the CPU, which makes every enqueue slower but not the device. Each child says "ready"
on stdout once its load is on, so the caller knows. `kind="queue"` (another model of the same
application): a thread of this process launches the kernel on its own queue of the caller's
context — kernels of one context may run at once on a GPU (unlike other processes', which
take turns), so the load competes for the device's units, not for its time slices.
"""
from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import threading
import time

SOURCE = """
__kernel void spin(__global float *out, const int steps) {
    float x = (float)get_global_id(0) * 1e-6f, y = 1.0f;
    for (int i = 0; i < steps; ++i) { y = fma(y, 0.999999f, x); x = fma(x, 1.000001f, y * 1e-7f); }
    out[get_global_id(0)] = x + y;
}
"""


def _sized_spin(context, queue, kernel_ms: float):
    """A launch of the spin kernel that takes about `kernel_ms` on the queue's device."""
    import numpy as np
    import pyopencl as cl
    items = context.devices[0].max_compute_units * 1024
    out = cl.Buffer(context, cl.mem_flags.WRITE_ONLY, 4 * items)
    kernel = cl.Program(context, SOURCE).build().spin
    steps = 64
    while True:  # grow the loop until one launch takes about kernel_ms
        kernel(queue, (items,), None, out, np.int32(steps))
        queue.finish()
        start = time.perf_counter()
        kernel(queue, (items,), None, out, np.int32(steps))
        queue.finish()
        if (time.perf_counter() - start) * 1e3 >= kernel_ms or steps >= 1 << 24:
            break
        steps *= 2
    return lambda: kernel(queue, (items,), None, out, np.int32(steps))


def _serve(device_name: str, kernel_ms: float) -> None:
    import pyopencl as cl
    from ..runtime import platform_context
    context = platform_context(device_name)
    queue = cl.CommandQueue(context)
    launch = _sized_spin(context, queue, kernel_ms)
    print("ready", flush=True)
    while True:
        launch()
        queue.finish()


@contextlib.contextmanager
def _queue_load(context, kernel_ms: float):
    """The load of kind "queue": a thread of this process on its own queue of `context`."""
    import pyopencl as cl
    queue = cl.CommandQueue(context)
    launch = _sized_spin(context, queue, kernel_ms)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            launch()
            queue.finish()   # pyopencl lets go of the GIL while it waits
    thread = threading.Thread(target=run, name="competing queue", daemon=True)
    thread.start()
    try:
        yield [thread]
    finally:
        stop.set()
        thread.join()


def _spin() -> None:
    print("ready", flush=True)
    x = 0
    while True:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF


KINDS = ("device", "host", "queue")


@contextlib.contextmanager
def competing_load(device_name: str, *, kind: str = "device", kernel_ms: float = 2.0,
                   processes: int | None = None, timeout_s: float = 60.0, context=None):
    """Run `processes` loads of `kind` (module docstring) for the duration of the block; a
    load of kind "queue" runs on `context` (required), in this process."""
    if kind not in KINDS:
        raise ValueError(f"a competing load is one of {', '.join(KINDS)}, not {kind!r}")
    if kind == "queue":
        if context is None:
            raise ValueError("a competing load of kind 'queue' needs the context it shares")
        with _queue_load(context, kernel_ms) as threads:
            yield threads
        return
    if processes is None:
        processes = 1 if kind == "device" else os.cpu_count() or 1
    command = [sys.executable, "-m", __name__, kind, device_name, str(kernel_ms)]
    children = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
                for _ in range(processes)]
    try:
        for child in children:
            started = select.select([child.stdout], [], [], timeout_s)[0]
            line = child.stdout.readline() if started else ""
            if line.strip() != "ready":
                raise RuntimeError(f"the competing {kind} load did not start "
                                   f"(exit code {child.poll()})")
        yield children
    finally:
        for child in children:
            child.kill()
            child.wait()


if __name__ == "__main__":
    if sys.argv[1] == "host":
        _spin()
    else:
        _serve(sys.argv[2], float(sys.argv[3]))
