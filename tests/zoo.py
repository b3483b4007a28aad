"""Test-only kernels: each exercises something fusion must preserve, with a launch factory.

A ZooKernel's `make(context, queue, shape, rng)` returns (launch, outputs) for one shape drawn by
`shape_strategy`; inputs come from rng, so two calls with equal seeds build equal inputs.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import pyopencl as cl
from hypothesis import strategies as st

from fusion import KernelSource
from fusion.verify.testing import Output

MF = cl.mem_flags


def buffer_in(context, array):
    return cl.Buffer(context, MF.READ_ONLY | MF.COPY_HOST_PTR, hostbuf=np.ascontiguousarray(array))


def buffer_out(context, count, dtype=np.float32):
    # Filled with a pattern, so an element the kernel must not write is noticed if written.
    host = np.full(count * np.dtype(dtype).itemsize, 0xA5, np.uint8)
    return cl.Buffer(context, MF.READ_WRITE | MF.COPY_HOST_PTR, hostbuf=host)


@dataclasses.dataclass(frozen=True)
class ZooKernel:
    name: str
    kernel: KernelSource
    shape_strategy: st.SearchStrategy
    make: Callable
    # The local size of a kernel that needs real work-groups (barriers / __local), else None.
    real_local: tuple | None = None

    @property
    def real_work_groups(self) -> bool:
        return self.real_local is not None

    def kernel_for(self, context, queue, shape) -> KernelSource:
        """The kernel at this shape (a library operator's build options depend on its shape)."""
        if self.kernel is not None:
            return self.kernel
        from fusion import ops as operators
        return operators.make(context, queue, self.name.split(":", 1)[1],
                              np.random.default_rng(0), **shape).kernel


def fusable(members, layout: str, max_barrier_kernels=None) -> bool:
    """Whether a group can share one launch: kernels needing real work-groups must agree on
    their number of work-items (layout "groups") or on their exact local size ("wave"), and be
    no more than the device allows (fusion.runtime.DeviceQuirks)."""
    real = [m.real_local for m in members if m.real_local is not None]
    if max_barrier_kernels is not None and len(real) > max_barrier_kernels:
        return False
    sizes = set(real)
    if layout == "groups":
        sizes = {int(np.prod(size)) for size in sizes}
    return len(sizes) <= 1


def _uniform(dims, max_extent, locals_=(1, 2, 4, 8)):
    """(global, local) with global a multiple of local."""
    return st.tuples(*[st.sampled_from(locals_) for _ in range(dims)]).flatmap(
        lambda local: st.tuples(*[st.integers(1, max(1, max_extent // l)).map(lambda n, l=l: n * l)
                                  for l in local]).map(lambda g, local=local: (g, local)))


# --- 1-D, early return, helper named like other kernels' helpers, -D configured ----------------
SCALE_SOURCE = """
#ifndef SCALE
#define SCALE 2.0f
#endif
float act(float x) { return x * SCALE + 1.0f; }
__kernel void scale(__global const float *in, __global float *out, const int n)
{
    const int i = get_global_id(0);
    if (i >= n) return;          /* early return: padding work-items of the launch */
    out[i] = act(in[i]);
}
"""


def _make_scale(context, queue, shape, rng):
    (n_padded,), n = shape
    data = rng.standard_normal(n_padded).astype(np.float32)
    out = buffer_out(context, n_padded)
    return ((n_padded,), None, [buffer_in(context, data), out, n]), [Output(0, "out", out)]


def _padded_1d(max_n=300):
    return st.integers(1, max_n).flatmap(
        lambda n: st.integers(n, n + 40).map(lambda g: ((g,), n)))


# --- 2-D: every work-item builtin, virtual work-groups (no barrier) ----------------------------
IDS_SOURCE = """
__kernel void ids(__global int *out)
{
    const size_t x = get_global_id(0), y = get_global_id(1);
    const size_t w = get_global_size(0);
    __global int *o = out + 12 * (y * w + x);
    o[0] = (int)x; o[1] = (int)y;
    o[2] = (int)get_local_id(0); o[3] = (int)get_local_id(1);
    o[4] = (int)get_group_id(0); o[5] = (int)get_group_id(1);
    o[6] = (int)get_num_groups(0); o[7] = (int)get_num_groups(1);
    o[8] = (int)get_local_size(0) * 100 + (int)get_local_size(1);
    o[9] = (int)get_global_size(1) + 1000 * (int)get_work_dim();
    o[10] = (int)get_global_id(2) + (int)get_global_size(2) * 10 + (int)get_global_offset(0) * 100;
    /* Out-of-range dimensions: the spec says 0 for ids, 1 for sizes; PoCL 3.0 returns 0 for
       sizes too, so only ids are compared here (docs/LIMITS.md). */
    o[11] = (int)get_global_id(7) + (int)get_local_id(4) * 10 + (int)get_group_id(3) * 100;
}
"""


def _make_ids(context, queue, shape, rng):
    global_size, local_size = shape
    out = buffer_out(context, 12 * global_size[0] * global_size[1], np.int32)
    return (global_size, local_size, [out]), [Output(0, "out", out, np.int32)]


# --- 3-D: global linear id, a builtin called from a helper ------------------------------------
CUBE_SOURCE = """
typedef struct { int x, y, z; } coord3;
coord3 where(void)
{
    coord3 c = { (int)get_global_id(0), (int)get_global_id(1), (int)get_global_id(2) };
    return c;
}
int linear(coord3 c) { return (c.z * (int)get_global_size(1) + c.y) * (int)get_global_size(0) + c.x; }
__kernel void cube(__global float *out, __global const float *in)
{
    coord3 c = where();
    out[linear(c)] = in[linear(c)] * (float)(c.x + 2 * c.y + 3 * c.z);
}
"""


def _make_cube(context, queue, shape, rng):
    global_size, local_size = shape
    n = int(np.prod(global_size))
    data = rng.standard_normal(n).astype(np.float32)
    out = buffer_out(context, n)
    return (global_size, local_size, [out, buffer_in(context, data)]), [Output(0, "out", out)]


# --- barriers + __local array: a work-group reduction (local size 16) -------------------------
REDUCE_SOURCE = """
#define GROUP 16
__kernel void reduce(__global const float *in, __global float *out, const int n)
{
    __local float partial[GROUP];
    const int l = get_local_id(0);
    const int i = get_global_id(0);
    partial[l] = i < n ? in[i] : 0.0f;   /* padding items still reach the barriers */
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int stride = GROUP / 2; stride > 0; stride /= 2) {
        if (l < stride) partial[l] += partial[l + stride];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) out[get_group_id(0)] = partial[0];
}
"""


def _make_reduce(context, queue, shape, rng):
    groups, n = shape
    data = rng.standard_normal(groups * 16).astype(np.float32)
    out = buffer_out(context, groups)
    return ((groups * 16,), (16,), [buffer_in(context, data), out, n]), [Output(0, "out", out)]


# --- barriers, 2-D __local tile (local 4x4), MNN-style padding returns before nothing ----------
TRANSPOSE_SOURCE = """
__kernel void transpose(__global const float *in, __global float *out, int width, int height)
{
    __local float tile[4][5];
    const int x = get_global_id(0), y = get_global_id(1);
    const int lx = get_local_id(0), ly = get_local_id(1);
    tile[ly][lx] = (x < width && y < height) ? in[y * width + x] : 0.0f;
    barrier(CLK_LOCAL_MEM_FENCE);
    const int tx = get_group_id(1) * 4 + lx, ty = get_group_id(0) * 4 + ly;
    if (tx < height && ty < width) out[ty * height + tx] = tile[lx][ly];
}
"""


def _make_transpose(context, queue, shape, rng):
    (gx, gy), (width, height) = shape
    data = rng.standard_normal(width * height).astype(np.float32)
    out = buffer_out(context, width * height)
    launch = ((gx, gy), (4, 4), [buffer_in(context, data), out, width, height])
    return launch, [Output(0, "out", out)]


def _padded_2d_by4(max_extent=24):
    return st.tuples(st.integers(1, max_extent), st.integers(1, max_extent)).map(
        lambda wh: ((-(-wh[0] // 4) * 4, -(-wh[1] // 4) * 4), wh))


# --- __local pointer argument sized at launch, local size 16 ----------------------------------
SCAN_SOURCE = """
__kernel void prefix(__global const int *in, __global int *out, __local int *scratch)
{
    const int l = get_local_id(0), g = get_global_id(0);
    scratch[l] = in[g];
    barrier(CLK_LOCAL_MEM_FENCE);
    int sum = 0;
    for (int j = 0; j <= l; j++) sum += scratch[j];
    out[g] = sum;
}
"""


def _make_scan(context, queue, shape, rng):
    groups = shape
    data = rng.integers(-100, 100, groups * 16).astype(np.int32)
    out = buffer_out(context, groups * 16, np.int32)
    launch = ((groups * 16,), (16,), [buffer_in(context, data), out, cl.LocalMemory(16 * 4)])
    return launch, [Output(0, "out", out, np.int32)]


# --- image read at negative coordinates with a clamping sampler; vector literal ---------------
IMAGE_SOURCE = """
__constant sampler_t SAMPLER = CLK_NORMALIZED_COORDS_FALSE | CLK_ADDRESS_CLAMP | CLK_FILTER_NEAREST;
__kernel void blur(__read_only image2d_t in, __global float4 *out, int width)
{
    const int x = get_global_id(0), y = get_global_id(1);
    const float4 weights = (float4)(0.25f, 0.5f, 0.125f, 2.0f);
    float4 sum = read_imagef(in, SAMPLER, (int2)(x - 1, y - 1)) * weights;
    sum += read_imagef(in, SAMPLER, (int2)(x, y)) * (float4)(1.0f);
    out[y * width + x] = sum;
}
"""


def _make_image(context, queue, shape, rng):
    global_size, local_size = shape
    width, height = global_size
    pixels = rng.standard_normal((height, width, 4)).astype(np.float32)
    image = cl.image_from_array(context, pixels, num_channels=4)
    out = buffer_out(context, width * height * 4)
    return (global_size, local_size, [image, out, width]), [Output(0, "out", out)]


# --- NULL buffer tested with != NULL, the same buffer bound twice, int2 / short by value -------
MISC_SOURCE = """
__kernel void misc(__global const float *a, __global const float *b, __global float *out,
                   __global const float *maybe, int2 shift, short bias)
{
    const int i = get_global_id(0);
    float extra = maybe != NULL ? maybe[i] : -1.0f;
    out[i] = a[i] * (float)shift.x + b[i] * (float)shift.y + extra + (float)bias;
}
"""


def _make_misc(context, queue, shape, rng):
    (n,), local = shape
    data = buffer_in(context, rng.standard_normal(n).astype(np.float32))
    out = buffer_out(context, n)
    launch = ((n,), local, [data, data, out, None, (3, -2), -7])
    return launch, [Output(0, "out", out)]


# --- struct, typedef, __constant table, same helper name with a different body ----------------
TABLE_SOURCE = """
typedef struct { float gain; int offset; } params_t;
__constant float TABLE[4] = {0.5f, 1.5f, -2.0f, 4.0f};
float act(float x) { return x < 0.0f ? 0.0f : x; }
__kernel void table(__global const float *in, __global float *out, const params_t p)
{
    const int i = get_global_id(0);
    out[i] = act(in[i] * TABLE[(i + p.offset) & 3]) * p.gain;
}
"""


def _make_table(context, queue, shape, rng):
    (n,), local = shape
    params = np.zeros((), np.dtype([("gain", np.float32), ("offset", np.int32)]))
    params["gain"], params["offset"] = 1.5, int(rng.integers(0, 4))
    out = buffer_out(context, n)
    data = buffer_in(context, rng.standard_normal(n).astype(np.float32))
    return ((n,), local, [data, out, params]), [Output(0, "out", out)]


def _fixed_groups(max_groups=12):
    return st.integers(1, max_groups)


ZOO = {
    "scale": ZooKernel("scale", KernelSource(SCALE_SOURCE, "scale", filename="scale.cl"),
                       _padded_1d(), _make_scale),
    "scale3": ZooKernel("scale3", KernelSource(SCALE_SOURCE, "scale", ["-DSCALE=3.0f"],
                                               filename="scale.cl"), _padded_1d(), _make_scale),
    "ids": ZooKernel("ids", KernelSource(IDS_SOURCE, "ids", filename="ids.cl"),
                     _uniform(2, 20), _make_ids),
    "cube": ZooKernel("cube", KernelSource(CUBE_SOURCE, "cube", filename="cube.cl"),
                      _uniform(3, 8, (1, 2)), _make_cube),
    "reduce": ZooKernel("reduce", KernelSource(REDUCE_SOURCE, "reduce", filename="reduce.cl"),
                        _fixed_groups().flatmap(lambda g: st.integers(max(1, g * 16 - 15), g * 16)
                                                .map(lambda n, g=g: (g, n))),
                        _make_reduce, real_local=(16, 1, 1)),
    "transpose": ZooKernel("transpose", KernelSource(TRANSPOSE_SOURCE, "transpose",
                                                     filename="transpose.cl"),
                           _padded_2d_by4(), _make_transpose, real_local=(4, 4, 1)),
    "prefix": ZooKernel("prefix", KernelSource(SCAN_SOURCE, "prefix", filename="prefix.cl"),
                        _fixed_groups(6), _make_scan, real_local=(16, 1, 1)),
    "blur": ZooKernel("blur", KernelSource(IMAGE_SOURCE, "blur", filename="blur.cl"),
                      _uniform(2, 16), _make_image),
    "misc": ZooKernel("misc", KernelSource(MISC_SOURCE, "misc", filename="misc.cl"),
                      _uniform(1, 200, (1, 4, 16)), _make_misc),
    "table": ZooKernel("table", KernelSource(TABLE_SOURCE, "table", filename="table.cl"),
                       _uniform(1, 200, (1, 8)), _make_table),
}


# --- the operator library (fusion/ops/kernels/), at small random shapes ----------------------------------
def _library_shapes(kind):
    from fusion import ops as operators
    base = operators.example_shapes(kind)
    draws = {}
    for key in ("c", "c0", "c1", "oc"):
        if key in base:
            draws[key] = st.integers(1, 12)
    for key in ("h", "w", "out_h", "out_w"):
        if key in base:
            draws[key] = st.integers(3 if kind in ("max_pool", "avg_pool") else 1, 10)
    if kind == "softmax":
        draws["c"] = st.integers(1, 40)
    return st.fixed_dictionaries(draws).map(lambda drawn, base=base: {**base, **drawn})


def _make_library(kind):
    def make(context, queue, shape, rng):
        from fusion import ops as operators
        op = operators.make(context, queue, kind, rng, **shape)
        op.reset_outputs(queue)
        return op.launch(), [Output(0, f"output {j}", memory) for j, memory in enumerate(op.outputs)]
    return make


def _library_zoo():
    from fusion import ops as operators
    zoo = {}
    for kind in operators.KINDS:
        shapes = _library_shapes(kind)
        real_local = None
        if kind == "softmax":  # barriers + __local: keep 16 work-items, like the zoo's own
            shapes = shapes.map(lambda shape: {**shape, "local": 16})
            real_local = (16, 1, 1)
        zoo[f"lib:{kind}"] = ZooKernel(f"lib:{kind}", None, shapes, _make_library(kind), real_local)
    return zoo


ZOO.update(_library_zoo())


def combined_factory(members, shapes, seed):
    """A factory for a fused group: each member's launch and outputs, inputs from one seed."""
    def factory(context, queue):
        rng = np.random.default_rng(seed)
        launches, outputs = [], []
        for index, (member, shape) in enumerate(zip(members, shapes)):
            launch, member_outputs = member.make(context, queue, shape, rng)
            launches.append(launch)
            outputs += [dataclasses.replace(o, sub_kernel=index) for o in member_outputs]
        return launches, outputs
    return factory
