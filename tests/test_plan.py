"""The one planner (fusion.plan.partition): the decisions it makes, and the ahead-of-time path
held to them. Pure Python, no device."""
import pytest

import fusion
from fusion import LaunchError, LayoutError
from fusion.plan import DeviceFacts, LaunchShape, SubKernelNeeds, partition

from zoo import ZOO

REDUCE = ZOO["reduce"].kernel          # barriers and __local memory


def barrier(name):
    return SubKernelNeeds(name, real_work_groups=True, uses_work_groups=True)


def plain(name):
    return SubKernelNeeds(name, real_work_groups=False, uses_work_groups=False)


def shape(global_size, local_size=None):
    return LaunchShape.of(global_size, local_size)


DEVICE = DeviceFacts(wave_size=32, max_work_group_size=1024)


@pytest.mark.parametrize("layout", ["groups", "wave"])
def test_ahead_of_time_refuses_barrier_kernels_that_would_share_work_groups(layout):
    """The miscompile of issue 8: a barrier kernel launched twice with local sizes 8 and 16 was
    given one fused local size of 16, so two of the first launch's 8-item work-groups shared one
    hardware work-group and its local memory. Now it is the runtime's decision, refused, naming
    both sub-kernels (they share a name, so their positions too)."""
    with pytest.raises(LayoutError) as caught:
        fusion.generate([REDUCE, REDUCE], wave_size=32, layout=layout,
                        launches=[((64,), (8,)), ((64,), (16,))])
    assert str(caught.value) == (
        "kernel 'reduce' (kernel 1) cannot be fused: it needs work-groups of local size (16,) "
        "with barriers or local memory, which cannot share a launch with 'reduce' (kernel 0) (8,)")


def test_ahead_of_time_lays_out_what_agrees():
    program = fusion.generate([REDUCE, REDUCE], wave_size=32,
                              launches=[((64,), (16,)), ((32,), (16,))])
    layout = program.manifest["layout"]
    assert layout["local_size"] == [16] and layout["global_size"] == [96]
    assert [v[6] for v in layout["per_sub_kernel"]] == [0, 4]   # first work-groups


def test_ahead_of_time_takes_a_planned_layout():
    plan = partition([REDUCE_NEEDS, REDUCE_NEEDS], [shape((64,), (16,)), shape((32,), (16,))],
                     layout_kind="groups", device=DEVICE)
    program = fusion.generate([REDUCE, REDUCE], wave_size=32, planned=plan.layout)
    assert program.manifest["layout"]["per_sub_kernel"][1][6] == 4
    with pytest.raises(fusion.FusionError, match="is not one for these 3 kernels"):
        fusion.generate([REDUCE] * 3, wave_size=32, planned=plan.layout)


REDUCE_NEEDS = barrier("reduce")


def test_the_largest_agreeing_set_of_barrier_kernels_stays():
    plan = partition([barrier("a"), barrier("b"), plain("p"), barrier("c")],
                     [shape((64,), (8,)), shape((64,), (16,)), shape((100,)), shape((32,), (16,))],
                     layout_kind="groups", device=DEVICE)
    assert plan.fused == (1, 2, 3)
    assert plan.alone == ((0, "it needs work-groups of local size (8,) with barriers or local "
                              "memory, which cannot share a launch with 'b' (16,)"),)
    assert plan.layout.local_size == (16,) and plan.launches == 2


def test_groups_layout_agrees_on_work_items_wave_layout_on_the_local_size():
    needs = [barrier("a"), barrier("b")]
    shapes = [shape((8, 8), (4, 4)), shape((64,), (16,))]
    assert partition(needs, shapes, layout_kind="groups", device=DEVICE).fused == (0, 1)
    assert partition(needs, shapes, layout_kind="wave", device=DEVICE).fused == ()


def test_a_device_cap_on_barrier_kernels():
    capped = DeviceFacts(wave_size=8, max_barrier_kernels=1, barrier_reason="the device's defect")
    plan = partition([barrier("a"), barrier("b"), plain("p")],
                     [shape((16,), (8,)), shape((16,), (8,)), shape((8,))],
                     layout_kind="groups", device=capped)
    assert plan.fused == (0, 2) and plan.alone == ((1, "the device's defect"),)


def test_excluded_and_unparsed_kernels_run_alone_and_one_left_is_not_fused():
    plan = partition([plain("a"), None, plain("c")], [shape((8,))] * 3, layout_kind="groups",
                     device=DEVICE, excluded={0: "other program flags"})
    assert plan.fused == () and plan.layout is None
    assert plan.alone == ((0, "other program flags"), (1, "it cannot be parsed for fusion"),
                          (2, "it is the only kernel left to fuse"))


def test_no_local_size_for_a_kernel_reading_group_ids_runs_it_alone():
    grouped = SubKernelNeeds("g", real_work_groups=False, uses_work_groups=True)
    plan = partition([plain("a"), plain("b"), grouped], [shape((8,))] * 3, layout_kind="wave",
                     device=DEVICE)
    assert plan.fused == (0, 1)
    assert "launched without a local size" in dict(plan.alone)[2]


def test_a_launch_the_kernel_could_not_have_had_alone_is_an_error():
    grouped = SubKernelNeeds("g", real_work_groups=False, uses_work_groups=True)
    with pytest.raises(LaunchError, match=r"launch 1: sub-kernel 'g': global size \(10,\) is "
                                          r"not a multiple of local size \(4,\)"):
        partition([plain("a"), grouped], [shape((8,)), shape((10,), (4,))],
                  layout_kind="groups", device=DEVICE)


def test_strict_names_the_kernel_left_out():
    with pytest.raises(LayoutError, match="kernel 'b' cannot be fused: it needs work-groups"):
        partition([barrier("a"), barrier("b")], [shape((16,), (16,)), shape((16,), (8,))],
                  layout_kind="groups", device=DEVICE, strict=True)
