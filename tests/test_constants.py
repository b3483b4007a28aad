"""Integer arguments baked into a fused kernel's source (fusion.compiler.constants): the
literals, the signature and manifest without them, and clear errors for what cannot be baked."""
import pytest

from fusion import KernelSource
from fusion.compiler.pipeline import generate
from fusion.errors import FusionError, SourceError

SHAPES = """__kernel void shapes(__global float *out, __private const int n, const int2 size,
                     const uint mask, const short s, const float scale, const long l, int3 t)
{
    int i = get_global_id(0);
    if (i < n) out[i] = scale * (size.x + size.y + mask + s + l + t.z);
}
"""
COUNT = """__kernel void count(__global int *out, int n)
{
    int i = get_global_id(0);
    if (i < n) out[i] = n;
    n = 3;
}
"""
SHAPES_K = KernelSource(SHAPES, "shapes", filename="shapes.cl")
COUNT_K = KernelSource(COUNT, "count", filename="count.cl")


def _generate(constants):
    return generate([SHAPES_K, COUNT_K], wave_size=32, constants=constants)


def test_baked_parameters_become_declarations_in_their_branch():
    program = _generate([{1: 7, 2: (1, -2**31), 3: 2**32 - 1, 4: -5, 6: -2**63, 7: (1, 2, 3)},
                         {1: 9}])
    start = program.source.index("__kernel void fused")
    signature = program.source[start:program.source.index(")\n{", start)]
    assert "__global float *out" in signature and "const float scale" in signature
    for name in ("const int n", "int2 size", "uint mask", "short s", "long l", "int3 t", "int n_1"):
        assert name not in signature
    for line in ("__private const int n = 7;", "const int2 size = (int2)(1, (-2147483647 - 1));",
                 "const uint mask = 4294967295u;", "const short s = (short)-5;",
                 "const long l = (-9223372036854775807L - 1L);", "int3 t = (int3)(1, 2, 3);",
                 "int n_1 = 9;"):   # the second kernel's n: renamed, and still assignable
        assert line in program.source
    # the declarations open their sub-kernel's branch, before its body
    assert program.source.index("int n_1 = 9;") > program.source.index("[1] count */\n        ")


def test_the_manifest_lists_baked_arguments_and_only_passed_ones():
    manifest = _generate([{1: 7, 3: 5}, {}]).manifest
    names = [a["name"] for a in manifest["arguments"]]
    assert names == ["pf_layout_0", "out", "size", "s", "scale", "l", "t", "pf_layout_1", "out_1",
                     "n_1"]
    assert [a["index"] for a in manifest["arguments"]] == list(range(len(names)))
    first, second = manifest["sub_kernels"]
    assert first["baked_arguments"] == [
        dict(sub_kernel_argument=1, name="n", type="__private const int", value="7"),
        dict(sub_kernel_argument=3, name="mask", type="const uint", value="5u")]
    assert second["baked_arguments"] == []


def test_without_constants_nothing_changes():
    assert _generate(None).source == _generate([{}, {}]).source == generate(
        [SHAPES_K, COUNT_K], wave_size=32).source


@pytest.mark.parametrize("constants, message, line, column", [
    ({5: 1}, "parameter 'scale' (const float) cannot be baked in: only integer scalars and "
             "vectors can", 2, 66),
    ({1: 2**40}, "1099511627776 does not fit parameter 'n' (__private const int)", 1, 63),
    ({1: 1.5}, "parameter 'n' (__private const int) takes integers, got 1.5", 1, 63),
    ({1: True}, "parameter 'n' (__private const int) takes integers, got True", 1, 63),
    ({2: (1,)}, "parameter 'size' (const int2) takes 2 values, got (1,)", 1, 77),
    ({3: -1}, "-1 does not fit parameter 'mask' (const uint)", 2, 33),
    ({0: 1}, "parameter 'out' (__global float *) cannot be baked in", 1, 37),
    ({9: 1}, "kernel 'shapes' has no parameter 9 to bake in", 1, 15),
])
def test_what_cannot_be_baked_is_refused_at_the_parameter(constants, message, line, column):
    with pytest.raises(SourceError) as caught:
        _generate([constants, {}])
    error = caught.value
    assert message in error.message
    assert (error.location.file, error.location.line, error.location.column) == (
        "shapes.cl", line, column)
    assert error.line_text == SHAPES.splitlines()[line - 1]


def test_constants_for_the_wrong_number_of_kernels_are_refused():
    with pytest.raises(FusionError, match="2 kernels but constants for 1"):
        _generate([{}])
