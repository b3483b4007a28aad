"""fusion/layout.py: where each sub-kernel lives in the fused NDRange (pure arithmetic)."""
import math

import pytest

from fusion.errors import LayoutError
from fusion.plan.layout import LaunchShape, SubKernelNeeds, plan_layout


def plain(name="k"):
    return SubKernelNeeds(name, real_work_groups=False, uses_work_groups=False)


def grouped(name="g"):
    """Reads group ids, but no barrier / local memory: virtual work-groups will do."""
    return SubKernelNeeds(name, real_work_groups=False, uses_work_groups=True)


def barrier(name="b", required=None):
    return SubKernelNeeds(name, real_work_groups=True, uses_work_groups=True,
                          required_local_size=required)


def shape(global_size, local_size=None):
    return LaunchShape.of(global_size, local_size)


def pad(g, unit):
    return unit * math.ceil(g / unit)


# --- the paper's wave layout ------------------------------------------------------------------

@pytest.mark.parametrize("sizes, wave", [((100, 33, 64), 32), ((1, 1), 64), ((65, 7, 130, 12), 16)])
def test_wave_layout_follows_the_papers_equations(sizes, wave):
    layout = plan_layout("wave", [plain(f"k{i}") for i in range(len(sizes))],
                         [shape((g,)) for g in sizes], wave_size=wave)
    # global = sum WS * ceil(g_i / WS); offset_i = sum_{j<i} WS * ceil(g_j / WS)
    assert layout.global_size == (sum(pad(g, wave) for g in sizes),)
    assert layout.begins == tuple(sum(pad(g, wave) for g in sizes[:i]) for i in range(len(sizes)))
    assert layout.local_size == (wave,)


def test_wave_layout_on_concrete_numbers():
    layout = plan_layout("wave", [plain("a"), plain("b"), plain("c")],
                         [shape((100,)), shape((33,)), shape((64,))], wave_size=32)
    assert layout.kind == "wave"
    assert layout.global_size == (256,)          # 128 + 64 + 64
    assert layout.begins == (0, 128, 192)
    assert layout.values[1] == (33, 1, 1, 1, 1, 1, 128, 1, 0)  # s8: only for "groups"


def test_wave_layout_pads_real_work_groups_to_the_lcm_of_wave_and_local_size():
    # Local size 48 and wave 32, sub-kernels with barriers: each is padded to lcm(32, 48) = 96
    # work-items, so no fused work-group straddles two sub-kernels and every offset is
    # wave-aligned.
    layout = plan_layout("wave", [barrier("a"), barrier("b"), barrier("c")],
                         [shape((96,), (48,)), shape((48,), (48,)), shape((144,), (48,))],
                         wave_size=32)
    assert layout.global_size == (96 + 96 + 192,)
    assert layout.begins == (0, 96, 192)
    assert layout.local_size == (48,)
    assert all(begin % 32 == 0 and begin % 48 == 0 for begin in layout.begins)


def test_wave_layout_pads_virtual_work_groups_to_the_wave_size_only():
    # Without barriers a fused work-group may hold two sub-kernels (each sees virtual groups of
    # its own size): offsets are multiples of the wave size, the total of the local size.
    layout = plan_layout("wave", [grouped("a"), grouped("b"), grouped("c")],
                         [shape((96,), (48,)), shape((48,), (48,)), shape((144,), (48,))],
                         wave_size=32)
    assert layout.begins == (0, 96, 160)
    assert layout.global_size == (336,)   # 96 + 64 + 160 = 320, rounded up to 48
    assert all(begin % 32 == 0 for begin in layout.begins)


def test_wave_layout_without_wave_alignment_pads_nothing():
    layout = plan_layout("wave", [plain("a"), plain("b")], [shape((100,), (64,)),
                                                            shape((33,), (1,))], wave_size=1)
    assert layout.begins == (0, 100)
    assert layout.global_size == (192,)   # 133 rounded up to the local size 64


def test_wave_layout_in_two_and_three_dimensions():
    layout = plan_layout("wave", [plain("a"), plain("b")],
                         [shape((10, 7)), shape((40, 3, 5))], wave_size=16)
    assert layout.global_size == (16 + 48, 7, 5)  # dimensions 1, 2: the largest sub-kernel's
    assert layout.local_size == (16, 1, 1)
    assert layout.begins == (0, 16)
    assert layout.values[0] == (10, 7, 1, 1, 1, 1, 0, 2, 0)
    assert layout.values[1] == (40, 3, 5, 1, 1, 1, 16, 3, 0)


def test_wave_layout_rounds_higher_dimensions_up_to_the_local_size():
    layout = plan_layout("wave", [barrier("t"), plain("p")],
                         [shape((8, 12), (4, 4)), shape((5, 13))], wave_size=8)
    assert layout.local_size == (4, 4)
    assert layout.global_size == (8 + 8, 16)    # 13 rows rounded up to 16
    assert layout.begins == (0, 8)
    assert layout.values[0][3:6] == (4, 4, 1)  # the barrier kernel keeps its local size
    assert layout.values[1][3:6] == (1, 1, 1)  # the other sees none (it reads no group ids)


# --- the work-group granular layout -----------------------------------------------------------

def test_groups_layout_keeps_small_work_groups_of_virtual_sub_kernels():
    # A sub-kernel launched with work-groups of 16 items, fused where work-groups hold 64: it
    # uses 16 items of each fused work-group, so it keeps its 16 work-groups (and the compute
    # units they run on) instead of being packed into 4.
    layout = plan_layout("groups", [plain("fc"), plain("conv")],
                         [shape((256,), (16,)), shape((64, 64), (8, 8))], wave_size=32)
    assert layout.local_size == (64,)
    assert layout.begins == (0, 16)
    assert layout.values[0][8] == 16 and layout.values[1][8] == 64
    assert layout.global_size == ((16 + 64) * 64,)


def test_groups_layout_real_and_virtual_sub_kernels():
    layout = plan_layout("groups", [barrier("reduce"), plain("scale"), grouped("ids")],
                         [shape((64,), (16,)), shape((100,)), shape((12, 6), (4, 2))],
                         wave_size=8)
    assert layout.kind == "groups"
    assert layout.local_size == (16,)         # the barrier kernel's work-group size
    # reduce: 64/16 = 4 real work-groups; scale (no local size): 16 items per work-group,
    # ceil(100/16) = 7; ids keeps its work-groups of 4 x 2 = 8 items: ceil(72/8) = 9.
    assert layout.begins == (0, 4, 11)
    assert layout.global_size == ((4 + 7 + 9) * 16,)
    assert layout.values[0] == (64, 1, 1, 16, 1, 1, 0, 1, 0)
    assert layout.values[1] == (100, 1, 1, 1, 1, 1, 4, 1, 16)
    assert layout.values[2] == (12, 6, 1, 4, 2, 1, 11, 2, 8)  # virtual groups of its own size


def test_groups_layout_real_sub_kernels_in_two_and_three_dimensions():
    # Local sizes (4, 4), (16,) and (2, 2, 4) all hold 16 work-items: they share a launch.
    layout = plan_layout("groups", [barrier("t"), barrier("r"), barrier("c")],
                         [shape((8, 12), (4, 4)), shape((48,), (16,)),
                          shape((4, 4, 8), (2, 2, 4))], wave_size=8)
    assert layout.local_size == (16,)
    # t: 2 x 3 groups; r: 3 groups; c: 2 x 2 x 2 groups.
    assert layout.begins == (0, 6, 9)
    assert layout.global_size == ((6 + 3 + 8) * 16,)
    assert layout.values[0] == (8, 12, 1, 4, 4, 1, 0, 2, 0)
    assert layout.values[2] == (4, 4, 8, 2, 2, 4, 9, 3, 0)


def test_groups_layout_default_work_group_size_is_wave_aligned():
    layout = plan_layout("groups", [plain("a"), plain("b")], [shape((1000,)), shape((3, 4, 5))],
                         wave_size=32)
    assert layout.local_size == (128,)
    assert layout.begins == (0, 8)             # ceil(1000 / 128) = 8, then 60 items: 1 group
    assert layout.global_size == (9 * 128,)
    # The largest local size asked for, rounded up to the wave size, capped by the device.
    asked = plan_layout("groups", [plain("a"), plain("b")], [shape((64,), (20,)), shape((64,))],
                        wave_size=8)
    assert asked.local_size == (24,)
    capped = plan_layout("groups", [plain("a")], [shape((1000,))], wave_size=32,
                         max_work_group_size=64)
    assert capped.local_size == (64,)
    assert plan_layout("groups", [plain("a")], [shape((100,))], wave_size=8,
                       group_items=10).begins == (0,)


# --- refusals --------------------------------------------------------------------------------

def test_barrier_kernels_with_unreconcilable_local_sizes():
    with pytest.raises(LayoutError, match=r"need work-groups of the same number of work-items to "
                                          r"share a launch: 'a' \(16, 1, 1\), 'b' \(8, 1, 1\)"):
        plan_layout("groups", [barrier("a"), barrier("b")],
                    [shape((64,), (16,)), shape((64,), (8,))], wave_size=8)
    # The wave layout needs the same local size, not only the same count.
    with pytest.raises(LayoutError, match=r"share one local size: 'a' \(16, 1, 1\), 'b' \(4, 4, 1\)"):
        plan_layout("wave", [barrier("a"), barrier("b")],
                    [shape((64,), (16,)), shape((8, 8), (4, 4))], wave_size=8)


def test_missing_local_size_for_a_kernel_reading_group_ids():
    with pytest.raises(LayoutError, match=r"sub-kernel 'g' reads work-group ids or sizes, so its "
                                          r"launch must give a local size \(it was None\)"):
        plan_layout("groups", [plain("k"), grouped("g")], [shape((8,)), shape((8,))], wave_size=8)


def test_global_size_not_a_multiple_of_the_local_size():
    with pytest.raises(LayoutError, match=r"sub-kernel 'g': global size \(10, 6\) is not a multiple "
                                          r"of local size \(4, 2\)"):
        plan_layout("wave", [grouped("g")], [shape((10, 6), (4, 2))], wave_size=8)


def test_reqd_work_group_size_mismatch():
    with pytest.raises(LayoutError, match=r"sub-kernel 'b' requires work-group size \(16, 1, 1\) "
                                          r"\(reqd_work_group_size\) but was given \(8, 1, 1\)"):
        plan_layout("groups", [barrier("b", required=(16, 1, 1))], [shape((64,), (8,))],
                    wave_size=8)
    ok = plan_layout("groups", [barrier("b", required=(16, 1, 1))], [shape((64,), (16,))],
                     wave_size=8)
    assert ok.local_size == (16,)


def test_too_large_work_group():
    with pytest.raises(LayoutError, match="fused work-group of 256 work-items exceeds the device's "
                                          "maximum of 128"):
        plan_layout("groups", [barrier("b")], [shape((512,), (256,))], wave_size=8,
                    max_work_group_size=128)
    with pytest.raises(LayoutError, match="fused work-group of 64 work-items exceeds"):
        plan_layout("wave", [barrier("b")], [shape((8, 8), (8, 8))], wave_size=8,
                    max_work_group_size=32)


@pytest.mark.parametrize("call, message", [
    (lambda: plan_layout("tiles", [plain()], [shape((8,))], wave_size=8),
     "unknown layout 'tiles' (choose from groups, wave)"),
    (lambda: plan_layout("groups", [plain(), plain()], [shape((8,))], wave_size=8),
     "2 sub-kernels but 1 launches"),
    (lambda: plan_layout("groups", [plain()], [shape((8,))], wave_size=0),
     "wave size must be positive, not 0"),
    (lambda: shape((1, 2, 3, 4)), "a global size has 1 to 3 dimensions, not 4: (1, 2, 3, 4)"),
    (lambda: shape((8, 0)), "global size (8, 0) has an empty dimension"),
    (lambda: shape((8, 8), (4,)), "local size (4,) does not match global size (8, 8)"),
])
def test_bad_arguments(call, message):
    with pytest.raises(LayoutError) as caught:
        call()
    assert str(caught.value) == message
