"""Golden files: the generated fused kernels of a few representative groups, compared exactly.

A change to the generator shows up here as a diff to review. After a deliberate change, rewrite
the files with `pytest tests/test_golden.py --update-golden` and review the diff of tests/golden/.
"""
import difflib
import json
import os

import pyopencl as cl
import pytest

from fusion import generate

from zoo import ZOO

GOLDEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
WAVE_SIZE = 32  # fixed, not the device's: the files must not depend on the machine

# name: (zoo kernels, layout, launches to bake in or None[, integer arguments to bake in])
GROUPS = {
    "scale_scale3_groups": (("scale", "scale3"), "groups", None),
    "reduce_transpose_prefix_groups": (("reduce", "transpose", "prefix"), "groups", None),
    "ids_blur_table_wave": (("ids", "blur", "table"), "wave", None),
    "misc_scale_baked_groups": (("misc", "scale"), "groups", [((48,), (16,)), ((45,), None)]),
    # as a plan builds it (fusion.execute.plan_fuser): the layout and the integers baked in
    "misc_transpose_specialized_groups": (("misc", "transpose"), "groups",
                                          [((48,), (16,)), ((16, 8), (8, 4))],
                                          [{4: (-3, 2), 5: -7}, {2: 7, 3: 3}]),
}
MANIFEST_GROUPS = ("reduce_transpose_prefix_groups", "misc_transpose_specialized_groups")


def fused(name):
    names, layout, launches, *constants = GROUPS[name]
    return generate([ZOO[n].kernel for n in names], wave_size=WAVE_SIZE, layout=layout,
                    launches=launches, constants=constants[0] if constants else None)


def check_golden(request, filename: str, actual: str) -> None:
    path = os.path.join(GOLDEN_DIR, filename)
    if request.config.getoption("--update-golden"):
        os.makedirs(GOLDEN_DIR, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(actual)
        return
    assert os.path.exists(path), (f"missing golden file tests/golden/{filename}: generate it with "
                                  "`pytest tests/test_golden.py --update-golden` and review it")
    with open(path, encoding="utf-8", newline="") as f:
        expected = f.read()
    if actual != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                            f"golden/{filename}", "generated", n=2))
        pytest.fail(f"generated code differs from tests/golden/{filename} (rerun with "
                    f"--update-golden if the change is intended):\n{diff[:4000]}")


@pytest.mark.parametrize("name", sorted(GROUPS))
def test_fused_source_matches_golden(request, name):
    check_golden(request, f"{name}.cl", fused(name).source)


@pytest.mark.parametrize("name", MANIFEST_GROUPS)
def test_manifest_matches_golden(request, name):
    manifest = json.dumps(fused(name).manifest, indent=2, sort_keys=True) + "\n"
    check_golden(request, f"{name}.manifest.json", manifest)


@pytest.mark.parametrize("name", sorted(GROUPS))
def test_golden_sources_build(cpu, name):
    path = os.path.join(GOLDEN_DIR, f"{name}.cl")
    with open(path, encoding="utf-8") as f:
        source = f.read()
    cl.Program(cpu, source).build()


def test_golden_files_are_all_known():
    """No stale golden file lingers after a group is renamed or removed."""
    expected = {f"{name}.cl" for name in GROUPS} | {f"{n}.manifest.json" for n in MANIFEST_GROUPS}
    assert set(os.listdir(GOLDEN_DIR)) == expected


def test_baked_group_has_no_layout_arguments():
    source = fused("misc_scale_baked_groups").source
    # Fused work-groups of 32 (misc's 16 rounded up to the wave size); misc keeps its own
    # work-groups of 16 items (s3, and s8 = 16: tiles) -> 3 groups; scale (no local size) uses
    # all 32 in row-major runs -> 2 groups.
    zeros = ", 0u" * 7
    assert ("const uint16 pf_layout_0 = (uint16)(48u, 1u, 1u, 16u, 1u, 1u, 0u, 1u, 16u"
            + zeros + ");") in source
    assert ("const uint16 pf_layout_1 = (uint16)(45u, 1u, 1u, 1u, 1u, 1u, 3u, 1u, 32u"
            + zeros + ");") in source
    header = source[source.index("__kernel void"):source.index(")\n{")]
    assert "pf_layout" not in header
