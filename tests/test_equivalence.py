"""Fused launches write exactly what their sub-kernels write alone, bit for bit, on the CPU
device; and for every group, the ahead-of-time path (generate with launch sizes) makes the
runtime's decision."""
import warnings

import pyopencl as cl

import pytest
from hypothesis import given, strategies as st

import fusion
from fusion.verify.testing import assert_equivalent

from fusion.abi import padded_values
from zoo import ZOO, combined_factory, fusable


def assert_ahead_of_time_agrees(fuser, kernels, launches):
    """generate(..., launches=...) decides as the runtime does: the same layout when the runtime
    fuses every kernel, a refusal when it leaves some alone (both ask fusion.plan.partition; a
    device quirk is the runtime's alone, so only quirk-free devices are compared)."""
    assert fuser.quirks.max_barrier_kernels is None, "compare on a device without quirks"
    plan = fuser.fuse(kernels).partition(launches)
    sizes = [(g, l) for g, l, _ in launches]
    try:
        program = fusion.generate(kernels, wave_size=fuser.wave_size, layout=fuser.layout,
                                  launches=sizes,
                                  max_work_group_size=fuser.device.max_work_group_size)
    except fusion.FusionError as error:
        assert plan.alone, f"ahead of time refused a group the runtime fuses: {error}"
        return
    assert not plan.alone and plan.fused == tuple(range(len(kernels))), plan
    baked = program.manifest["layout"]
    assert tuple(baked["global_size"]) == plan.layout.global_size
    assert tuple(baked["local_size"]) == plan.layout.local_size
    assert baked["per_sub_kernel"] == [list(padded_values(v)) for v in plan.layout.values]


@st.composite
def groups(draw, pool=tuple(ZOO), min_size=2, max_size=4):
    names = draw(st.lists(st.sampled_from(pool), min_size=min_size, max_size=max_size))
    members = [ZOO[name] for name in names]
    shapes = [draw(member.shape_strategy) for member in members]
    seed = draw(st.integers(0, 2**32 - 1))
    return members, shapes, seed


@pytest.mark.parametrize("layout", ["groups", "wave"])
@given(group=groups())
def test_random_groups_match_separate_launches(cpu, fusers, layout, group):
    members, shapes, seed = group
    queue = cl.CommandQueue(cpu)
    kernels = [m.kernel_for(cpu, queue, shape) for m, shape in zip(members, shapes)]
    can_fuse = fusable(members, layout, fusers[layout].quirks.max_barrier_kernels)
    fuser = fusers[layout] if can_fuse else fusion.Fuser(cpu, layout=layout)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert_equivalent(cpu, kernels, combined_factory(members, shapes, seed), fuser=fuser)
        launches, _ = combined_factory(members, shapes, seed)(cpu, queue)
        assert_ahead_of_time_agrees(fuser, kernels, launches)
    fallbacks = [w for w in caught if issubclass(w.category, fusion.FusionWarning)]
    if can_fuse:
        assert not fallbacks
    else:
        assert any("cannot share a launch" in str(w.message) or "PoCL miscompiles" in str(w.message)
                   for w in fallbacks)


NAMED_SHAPES = {
    "scale": ((45,), 37), "scale3": ((64,), 64), "ids": ((12, 6), (4, 2)),
    "cube": ((4, 6, 2), (2, 2, 1)), "reduce": (5, 71), "transpose": ((12, 8), (10, 7)),
    "prefix": 3, "blur": ((9, 5), (1, 5)), "misc": ((48,), (16,)), "table": ((40,), (8,)),
}


@pytest.mark.parametrize("names", [
    ("scale", "scale3"),            # one source, two -D values: helper `act` differs
    ("scale", "scale"),             # identical kernels fused
    ("reduce", "transpose", "prefix"),  # three barrier kernels, flat local size 16
    ("ids", "cube", "blur", "table"),
    ("misc", "table", "scale"),
])
@pytest.mark.parametrize("layout", ["groups", "wave"])
def test_named_groups(cpu, fusers, layout, names):
    members = [ZOO[n] for n in names]
    shapes = [NAMED_SHAPES[n] for n in names]
    fuser = fusers[layout]
    if not fusable(members, layout, fuser.quirks.max_barrier_kernels):
        fuser = fusion.Fuser(cpu, layout=layout)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fusion.FusionWarning)
        assert_equivalent(cpu, [m.kernel for m in members],
                          combined_factory(members, shapes, 7), fuser=fuser)
        launches, _ = combined_factory(members, shapes, 7)(cpu, cl.CommandQueue(cpu))
        assert_ahead_of_time_agrees(fuser, [m.kernel for m in members], launches)
