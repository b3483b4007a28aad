"""Fused kernels under the Oclgrind simulator: no out-of-bounds access, data race or barrier
divergence reported, and still bit-identical to the separate launches there. Small sizes:
Oclgrind interprets every work-item."""
import pytest
from hypothesis import given, settings, strategies as st

import fusion
from fusion.verify.testing import assert_equivalent

from fusion import ops as operators
from zoo import ZOO, combined_factory

pytestmark = pytest.mark.oclgrind

SMALL = {
    "scale": ((20,), 17), "scale3": ((9,), 9), "ids": ((6, 4), (2, 2)),
    "cube": ((2, 4, 2), (2, 2, 1)), "reduce": (2, 20), "transpose": ((8, 4), (7, 3)),
    "prefix": 2, "blur": ((5, 3), (1, 3)), "misc": ((16,), (4,)), "table": ((16,), (8,)),
    **{f"lib:{kind}": {**operators.example_shapes(kind), **({"local": 16} if kind == "softmax" else {})}
       for kind in operators.KINDS},
}


@pytest.fixture(scope="module")
def grind(oclgrind):
    context, log = oclgrind
    log.new_reports()  # start clean
    fusers = {layout: fusion.Fuser(context, layout=layout, strict=True)
              for layout in ("groups", "wave")}
    fusers["baked"] = fusion.Fuser(context, bake_layout=True, bake_arguments=True, strict=True)
    return context, log, fusers


def _check(grind, names, layout, seed=3):
    import pyopencl as cl
    context, log, fusers = grind
    members = [ZOO[n] for n in names]
    shapes = [SMALL[n] for n in names]
    queue = cl.CommandQueue(context)
    assert_equivalent(context, [m.kernel_for(context, queue, s) for m, s in zip(members, shapes)],
                      combined_factory(members, shapes, seed), fuser=fusers[layout])
    reports = log.new_reports()
    assert reports == "", f"Oclgrind reported:\n{reports}"


@pytest.mark.parametrize("layout", ["groups", "wave"])
@pytest.mark.parametrize("names", [
    ("reduce", "transpose", "prefix"),
    ("reduce", "prefix", "scale", "ids"),
    ("scale", "scale3", "table", "misc"),
    ("ids", "cube", "blur"),
    ("lib:conv2d_1x1", "lib:depthwise_conv2d", "lib:softmax", "reduce"),
    ("lib:max_pool", "lib:avg_pool", "lib:global_avg_pool", "lib:eltwise_add"),
    ("lib:conv2d", "lib:concat", "lib:fully_connected"),
    ("lib:resize_bilinear", "lib:nchw_to_nc4hw4", "lib:nc4hw4_to_nchw", "scale"),
])
def test_fused_groups_are_clean(grind, layout, names):
    if layout == "wave" and "transpose" in names:
        names = tuple(n for n in names if n != "transpose")
    _check(grind, names, layout)


@pytest.mark.parametrize("names", [
    ("lib:conv2d_1x1", "lib:depthwise_conv2d", "lib:softmax", "reduce"),
    ("lib:conv2d", "lib:concat", "scale", "ids"),
])
def test_groups_with_baked_arguments_are_clean(grind, names):
    # layout and integer arguments baked in, as a plan builds them (fusion.execute.plan_fuser)
    _check(grind, names, "baked")


@settings(max_examples=6)
@given(names=st.lists(st.sampled_from(sorted(n for n in SMALL if n != "transpose")),
                      min_size=2, max_size=3),
       seed=st.integers(0, 1000))
def test_random_groups_are_clean(grind, names, seed):
    _check(grind, tuple(names), "groups", seed)


def test_oclgrind_catches_an_out_of_bounds_write(grind):
    """The check itself can fail: a kernel writing past its buffer is reported."""
    import pyopencl as cl
    context, log, _ = grind
    queue = cl.CommandQueue(context)
    program = cl.Program(context, "__kernel void oob(__global int *a) "
                                  "{ a[get_global_id(0) + 1] = 1; }").build()
    buffer = cl.Buffer(context, cl.mem_flags.READ_WRITE, 4 * 4)
    cl.Kernel(program, "oob")(queue, (4,), None, buffer)
    queue.finish()
    assert "Invalid write" in log.new_reports()


def test_oclgrind_catches_a_race_inside_a_fused_kernel(grind):
    """A sub-kernel missing its barrier: the race is reported through fusion, at the body's line."""
    import pyopencl as cl
    context, log, fusers = grind
    source = ("__kernel void racy(__global float *out) { __local float s[8]; "
              "int l = get_local_id(0); s[l] = l; out[get_global_id(0)] = s[(l + 1) % 8]; }")
    kernel = fusion.KernelSource(source, "racy", filename="racy.cl")
    queue = cl.CommandQueue(context)
    buffers = [cl.Buffer(context, cl.mem_flags.READ_WRITE, 64) for _ in range(2)]
    fusers["groups"].fuse([kernel, kernel])(queue, [((16,), (8,), [b]) for b in buffers])
    queue.finish()
    assert "data race" in log.new_reports()


def test_a_planned_replay_with_reused_memory_is_clean(grind):
    # two SqueezeNets, every ready set fused, node outputs sharing memory: no report, and the
    # outputs of one object per node, run alone, on the same simulator
    import numpy as np
    import pyopencl as cl
    from fusion import graph as models
    from fusion.execute.graphs import load
    from fusion.execute.plan import compile_plan
    context, log, _ = grind
    queue = cl.CommandQueue(context)
    graphs = [models.build("squeezenet_v1", 31), models.build("squeezenet_v1", 31)]
    plan = compile_plan(context, queue, graphs, policy="all", seed=1)
    assert plan.fused_launches > 0
    assert plan.memory()["output_bytes"] < plan.memory()["output_bytes_without_reuse"]
    rng = np.random.default_rng(0)
    xs = [rng.uniform(-1, 1, g.input_shape).astype(np.float32) for g in graphs]
    for k, x in enumerate(xs):
        plan.upload(queue, k, x)
    plan.replay(queue)
    queue.finish()
    reports = log.new_reports()
    assert reports == "", f"Oclgrind reported:\n{reports}"
    own = load(context, queue, graphs[1], np.random.default_rng(2))
    own.run(queue, xs[1])
    assert plan.output(queue, 1).tobytes() == own.read(queue, graphs[1].output.id).tobytes()
