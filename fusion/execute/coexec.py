"""Co-execution of one operator on two OpenCL devices: its NDRange split at a ratio, each part
run on its own device, the parts brought together in the first device's output.

    pair = open_pair("nvidia,pocl")               # two platforms: two contexts
    pair = open_pair("intel-cpu/2")               # one device as two sub-devices: one context
    op = SplitOperator(pair, "conv2d_1x1", dict(c=32, h=56, w=56, oc=64))
    op.run(op.split(0.7))                         # 70 % of the work-groups on the first device
    op.result()                                   # the combined output, read back

How (docs/PERFORMANCE.md has the figures):

* Each part is the operator's own kernel, built for its device and bound once, launched with a
  global offset over its slice of work-groups along the split axis (fusion.ops.slices: the
  library's kernels read their position from get_global_id only, so they run unchanged).
* The parts write disjoint parts of the output. The second device's part reaches the first
  device's output by one of three synchronisations, chosen from what the pair supports:
  `svm` (one context, both devices with fine-grained buffer SVM, a buffer output: both write one
  SVM allocation, nothing is copied), `device copy` (one context: the region is copied from the
  second device's output into the first's, queued after the second part's event) or
  `host staging` (two contexts, e.g. a GPU and a CPU runtime of other vendors: the region is
  read into pinned host memory — a buffer of the first context allocated with ALLOC_HOST_PTR and
  kept mapped — and written from there into the first device's output).
* A split's completion is measured on the host: from the first enqueue until the combined
  output is complete, dispatch included; its synchronisation is also timed on its own.
"""
from __future__ import annotations

import dataclasses
import re
import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np
import pyopencl as cl

from ..errors import FusionError
from ..ops import slices
from ..ops.device import make
from ..ops.slices import BufferRegion, ImageRegion, SplitAxis
from ..plan.latency import OpFacts
from ..plan.split import units_for
from ..runtime.cache import build_alone
from ..runtime.devices import platform_context, resolve_platform

SYNC_MODES = ("svm", "device copy", "host staging")


@dataclasses.dataclass(eq=False)
class DevicePair:
    """Two OpenCL devices, in one context (sub-devices, or two devices of one platform) or in
    two; a queue on each."""

    names: tuple[str, str]
    devices: tuple[cl.Device, cl.Device]
    contexts: tuple[cl.Context, cl.Context]
    queues: tuple[cl.CommandQueue, cl.CommandQueue]

    @property
    def shared(self) -> bool:
        return self.contexts[0] is self.contexts[1]

    @property
    def fine_grain_svm(self) -> bool:
        """Both devices share a context and support fine-grained buffer SVM."""
        flag = cl.device_svm_capabilities.FINE_GRAIN_BUFFER
        return self.shared and all(_svm_capabilities(d) & flag for d in self.devices)

    @property
    def same_compiler(self) -> bool:
        """Both devices of one platform: they compile a kernel the same way."""
        return self.devices[0].platform.int_ptr == self.devices[1].platform.int_ptr

    def describe(self) -> list[str]:
        return [f"{name}: {d.name.strip()} ({d.platform.name.strip()}, "
                f"{d.max_compute_units} compute units)" for name, d in zip(self.names, self.devices)]


def _svm_capabilities(device: cl.Device) -> int:
    try:
        return int(device.svm_capabilities)
    except (cl.Error, AttributeError):  # OpenCL 1.x devices have no SVM
        return 0


def open_pair(spec: str) -> DevicePair:
    """Devices from "A,B" (the first device of each named platform: two contexts, or one where
    both name one platform with two devices) or "NAME/2" (NAME's device partitioned equally
    into two sub-devices of one context)."""
    spec = spec.strip()
    if "/" in spec:
        name, _, count = spec.partition("/")
        if count != "2":
            raise FusionError(f"--devices {spec}: a device splits into 2 sub-devices (NAME/2)")
        platform = resolve_platform(name)
        if platform is None:
            platform_context(name)  # raises the located "no such platform" error
        device = platform.get_devices()[0]
        if "PoCL" in device.platform.version:
            raise FusionError(f"--devices {spec}: PoCL crashes the process (SIGSEGV, or an "
                              "assertion in pocl_validate_rect_copy) on the first image "
                              "transfer in a context of its sub-devices (seen with 3.0-rc2 and "
                              "5.0; docs/LIMITS.md): split PoCL's CPU against another device")
        if device.max_compute_units < 2 or not device.partition_max_sub_devices:
            raise FusionError(f"{device.name.strip()} cannot be partitioned into sub-devices")
        halves = device.create_sub_devices(
            [cl.device_partition_property.EQUALLY, device.max_compute_units // 2])[:2]
        context = cl.Context(halves)
        return DevicePair((f"{name}[0]", f"{name}[1]"), tuple(halves), (context, context),
                          tuple(cl.CommandQueue(context, d) for d in halves))
    names = [part.strip() for part in spec.split(",")]
    if len(names) != 2 or not all(names):
        raise FusionError(f"--devices {spec!r}: name two devices, A,B (or one as NAME/2)")
    contexts = [platform_context(name) for name in names]
    devices = [c.devices[0] for c in contexts]
    if devices[0].int_ptr == devices[1].int_ptr:
        raise FusionError(f"--devices {spec}: both name {devices[0].name.strip()}; to split one "
                          f"device, name it as {names[0]}/2")
    return DevicePair(tuple(names), tuple(devices), tuple(contexts),
                      tuple(cl.CommandQueue(c, d) for c, d in zip(contexts, devices)))


@dataclasses.dataclass(frozen=True)
class Split:
    """One ratio, resolved: each device's slice (offset and size along the axis) and the region
    the second device writes."""

    ratio: float
    units: tuple[int, int]
    launches: tuple[tuple | None, tuple | None]     # (global size, global offset) per device
    region: ImageRegion | BufferRegion | None        # what the second device writes, when both run


def parse_op(text: str) -> tuple[str, dict]:
    """"KIND[:k=v,k=v]" (e.g. conv2d:c=32,h=56,w=56,oc=64,kernel=3,pad=1) -> (kind, shape)."""
    kind, _, rest = text.partition(":")
    kind = kind.strip()
    if kind not in slices.SPLITTABLE:
        raise FusionError(f"--op {text!r}: cannot split {kind!r}; splittable kinds: "
                          f"{', '.join(slices.SPLITTABLE)}")
    shape: dict = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise FusionError(f"--op {text!r}: {item!r} is not key=value")
        value = value.strip()
        if value.lower() in ("none", "relu", "relu6"):
            shape[key.strip()] = None if value.lower() == "none" else value.lower()
        elif value.lower() in ("true", "false"):
            shape[key.strip()] = value.lower() == "true"
        else:
            try:
                shape[key.strip()] = int(value)
            except ValueError:
                raise FusionError(f"--op {text!r}: {key.strip()}={value!r} is not a "
                                  "number") from None
    if not shape:
        from ..ops.library import example_shapes
        shape = example_shapes(kind)
    return kind, shape


class SplitOperator:
    """One operator of the library with its data on both devices of a pair, each side's kernel
    bound once, ready to run at any ratio."""

    def __init__(self, pair: DevicePair, kind: str, shape: dict, *, seed: int = 0):
        self.pair, self.kind = pair, kind
        try:
            self.ops = [make(context, queue, kind, np.random.default_rng(seed), **shape)
                        for context, queue in zip(pair.contexts, pair.queues)]
        except (TypeError, ValueError) as error:
            reason = re.sub(r"^_?\w+\(\) ", "", str(error))    # not the builder's name
            raise FusionError(f"{kind} {shape}: {reason}") from None
        first = self.ops[0]
        self.shape = dict(first.params)
        self.axis: SplitAxis = slices.split_axis(kind, first.params, first.global_size,
                                                 first.local_size, first.real_global_size)
        self.layout = first.output_layouts[0]
        if pair.fine_grain_svm and self.layout == "buffer":
            self.sync_mode = "svm"
        elif pair.shared:
            self.sync_mode = "device copy"
        else:
            self.sync_mode = "host staging"
        self._outputs = [op._outputs[0].memory for op in self.ops]  # noqa: SLF001
        self.kernels = []
        for op, device, context in zip(self.ops, pair.devices, pair.contexts):
            self.kernels.append(build_alone(context, device, op.kernel))
        args = [list(op.args) for op in self.ops]
        if self.sync_mode == "svm":
            flags = cl.svm_mem_flags.READ_WRITE | cl.svm_mem_flags.SVM_FINE_GRAIN_BUFFER
            self.svm_output = cl.svm_empty(pair.contexts[0], flags,
                                           int(np.prod(first.output_shapes[0])), np.float32)
            for side, arg in enumerate(args):
                arg[arg.index(self._outputs[side])] = cl.SVM(self.svm_output)
        for kernel, arg in zip(self.kernels, args):
            kernel.set_args(*arg)
        self._staging = None
        if self.sync_mode == "host staging":
            size = self._output_elements()
            buffer = cl.Buffer(pair.contexts[0], cl.mem_flags.ALLOC_HOST_PTR, size * 4)
            mapped, _ = cl.enqueue_map_buffer(pair.queues[0], buffer,
                                              cl.map_flags.READ | cl.map_flags.WRITE, 0, (size,),
                                              np.float32)
            self._staging = (buffer, mapped)    # mapped for the pair's life: pinned host memory
        self._splits: dict[float, Split] = {}

    # -- geometry ---------------------------------------------------------------------------

    def _output_elements(self) -> int:
        op = self.ops[0]
        if self.layout == "image":
            from ..ops.tensors import image_shape
            width, height = image_shape(op.output_shapes[0])
            return width * height * 4
        return int(np.prod(op.output_shapes[0]))

    def split(self, ratio: float) -> Split:
        """The slices of `ratio` (share of the first device), cut at work-group boundaries."""
        if ratio in self._splits:
            return self._splits[ratio]
        axis, op = self.axis, self.ops[0]
        a = units_for(ratio, axis.units)
        launches = [None if hi == lo or axis.items_of(lo) >= axis.items else self._slice(lo, hi)
                    for lo, hi in ((0, a), (a, axis.units))]
        region = None
        if all(launches):
            region = slices.output_region(self.kind, op.params, axis.dim, axis.items_of(a),
                                          axis.items)
        split = Split(ratio, (a, axis.units - a), tuple(launches), region)
        self._splits[ratio] = split
        return split

    def _slice(self, lo: int, hi: int) -> tuple:
        """(global size, global offset) of the units [lo, hi) along the split axis."""
        axis = self.axis
        size, offset = list(self.ops[0].global_size), [0] * len(self.ops[0].global_size)
        size[axis.dim], offset[axis.dim] = (hi - lo) * axis.unit_items, lo * axis.unit_items
        return tuple(size), tuple(offset)

    def facts(self, units: int) -> OpFacts:
        """The latency model's view of a slice of `units` units on its own."""
        op, axis = self.ops[0], self.axis
        share = axis.items_of(units) / axis.items
        size = list(op.global_size)
        size[axis.dim] = units * axis.unit_items
        items = int(np.prod(size))
        local = int(np.prod(op.local_size)) if op.local_size else 0
        data = 4 * (sum(int(np.asarray(v).size) for v in op.inputs.values())
                    + int(np.prod(op.output_shapes[0])))
        key = ",".join(f"{k}={self.shape[k]}" for k in sorted(self.shape))
        return OpFacts(key=f"{self.kind}({key})u{units}/{axis.units}", kind=self.kind,
                       work_items=items, work_groups=items // local if local else 0,
                       local_items=local, dims=len(size), flops=int(op.flops * share),
                       bytes=int(data * share),
                       images=any(isinstance(a, cl.Image) for a in op.args),
                       barriers=False, args=len(op.args))

    def sync_bytes(self, split: Split) -> int:
        region = split.region
        if region is None or self.sync_mode == "svm":
            return 0
        return region.pixels * 16 if isinstance(region, ImageRegion) else region.elements * 4

    # -- running ----------------------------------------------------------------------------

    def _enqueue(self, side: int, launch) -> cl.Event:
        size, offset = launch
        return cl.enqueue_nd_range_kernel(self.pair.queues[side], self.kernels[side], size,
                                          self.ops[side].local_size, global_work_offset=offset)

    def run(self, split: Split) -> None:
        """Run `split` once; returns when the first device's output is complete."""
        events = [self._enqueue(side, launch) if launch else None
                  for side, launch in enumerate(split.launches)]
        if all(events):         # both devices at work before the host waits on either
            for queue in self.pair.queues:
                queue.flush()
            self.synchronise(split, events[1])
        for queue, event in zip(self.pair.queues, events):
            if event is not None:
                queue.finish()

    def synchronise(self, split: Split, second_done: cl.Event | None = None) -> None:
        """Bring the second device's part of the output into the first device's output."""
        region, (queue_a, queue_b) = split.region, self.pair.queues
        wait = [second_done] if second_done is not None else None
        if self.sync_mode == "svm":
            if second_done is not None:
                second_done.wait()
            return
        source, target = self._outputs[1], self._outputs[0]
        if self.sync_mode == "device copy":
            if isinstance(region, ImageRegion):
                cl.enqueue_copy(queue_a, target, source, src_origin=region.origin,
                                dest_origin=region.origin, region=region.region, wait_for=wait)
            else:
                for first, count in region.runs:
                    cl.enqueue_copy(queue_a, target, source, byte_count=count * 4,
                                    src_offset=first * 4, dst_offset=first * 4, wait_for=wait)
            queue_a.finish()
            return
        staging = self._staging[1]
        if isinstance(region, ImageRegion):
            host = staging[:region.pixels * 4].reshape(region.height, region.width, 4)
            cl.enqueue_copy(queue_b, host, source, origin=region.origin, region=region.region,
                            wait_for=wait, is_blocking=True)
            cl.enqueue_copy(queue_a, target, host, origin=region.origin, region=region.region)
        else:
            for first, count in region.runs:
                host = staging[first:first + count]
                cl.enqueue_copy(queue_b, host, source, src_offset=first * 4, wait_for=wait,
                                is_blocking=False)
            queue_b.finish()
            for first, count in region.runs:
                cl.enqueue_copy(queue_a, target, staging[first:first + count],
                                dst_offset=first * 4)
        queue_a.finish()

    def holder(self, split: Split) -> int:
        """The device whose output holds `split`'s result: the first, except where the second
        ran alone (nothing to combine) without SVM (one allocation for both)."""
        return 0 if split.launches[0] or self.sync_mode == "svm" else 1

    def result(self, side: int = 0) -> np.ndarray:
        """The output held by device `side` (0: where a split combines), raw: NC4HW4 image
        pixels (height, width, 4) or the flat NCHW buffer."""
        if side == 0 and self.sync_mode == "svm":
            return np.array(self.svm_output)
        return self.ops[side].read_raw_outputs(self.pair.queues[side])[0]

    def result_nchw(self, side: int = 0) -> np.ndarray:
        """result(side) as the operator's NCHW float32 tensor."""
        raw, shape = self.result(side), self.ops[0].output_shapes[0]
        if self.layout == "image":
            from ..ops.tensors import nc4hw4_image_array_to_nchw
            return nc4hw4_image_array_to_nchw(raw, shape)
        return raw.reshape(shape)

    def reset(self) -> None:
        """NaN into every output, so that an element nobody wrote shows."""
        for op, queue in zip(self.ops, self.pair.queues):
            op.reset_outputs(queue)
        if self.sync_mode == "svm":
            self.svm_output[:] = np.nan

    def check(self, ratio: float, alone: Sequence[np.ndarray] | None = None) -> dict:
        """Run `ratio` once and compare: each device's part must equal that device's own
        whole-operator result bit for bit; the combined output must equal the first device's
        result bit for bit when both devices compile alike, else agree within the operator's
        tolerance (rtol, atol) with it."""
        alone = alone or self.alone_results()
        self.reset()
        split = self.split(ratio)
        self.run(split)
        combined = self.result(self.holder(split))
        mask = self._second_mask(split, combined.shape)
        parts_exact = bool(np.array_equal(combined[~mask], alone[0][~mask], equal_nan=True) and
                           np.array_equal(combined[mask], alone[1][mask], equal_nan=True))
        exact = bool(np.array_equal(combined, alone[0], equal_nan=True))
        rtol, atol = self.ops[0].tolerance
        close = bool(np.allclose(combined, alone[0], rtol=rtol, atol=atol, equal_nan=True))
        return dict(ratio=ratio, parts_bit_identical=parts_exact, bit_identical=exact,
                    within_tolerance=close,
                    ok=parts_exact and (exact if self.pair.same_compiler else close))

    def alone_results(self) -> list[np.ndarray]:
        """Each device's result of the whole operator."""
        results = []
        for ratio in (1.0, 0.0):
            self.reset()
            self.run(self.split(ratio))
            results.append(self.result(self.holder(self.split(ratio))))
        return results

    def _second_mask(self, split: Split, shape) -> np.ndarray:
        """True where the second device wrote."""
        mask = np.zeros(shape, bool)
        if split.launches[0] is None:
            mask[...] = True
            return mask
        region = split.region
        if isinstance(region, ImageRegion):
            mask[region.y:region.y + region.height, region.x:region.x + region.width] = True
        elif isinstance(region, BufferRegion):
            for first, count in region.runs:
                mask[first:first + count] = True
        return mask

    # -- timing -----------------------------------------------------------------------------

    def timed(self, split: Split) -> float:
        """Seconds of one run of `split`, dispatch included."""
        start = time.perf_counter()
        self.run(split)
        return time.perf_counter() - start

    def sync_seconds(self, split: Split) -> float:
        """Seconds of the synchronisation alone (the parts already done)."""
        if split.region is None:
            return 0.0
        self.run(split)
        start = time.perf_counter()
        self.synchronise(split)
        return time.perf_counter() - start

    def part_seconds(self, side: int, units: int) -> float:
        """Seconds of `units` units on device `side` alone, launched and waited for."""
        if units == 0:
            return 0.0
        lo = 0 if side == 0 else self.axis.units - units
        launch = self._slice(lo, lo + units)
        start = time.perf_counter()
        self._enqueue(side, launch)
        self.pair.queues[side].finish()
        return time.perf_counter() - start


def median_seconds(run: Callable[[], float], *, target_s: float = 0.05, least: int = 5,
                   most: int = 200) -> float:
    """The median of repeated `run()` timings, as many as fill about target_s."""
    run()
    first = max(run(), 1e-6)
    repeats = int(min(most, max(least, target_s / first)))
    return statistics.median(run() for _ in range(repeats))
