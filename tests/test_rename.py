"""fusion/rename.py: only what collides is renamed, everywhere the name lives, nothing else."""
import re

import pyopencl as cl
import pytest

from fusion import KernelSource, generate
from fusion.compiler.codegen import item_source, to_source
from fusion.compiler.parse import parse_kernel
from fusion.compiler.rename import rename

from zoo import ZOO


def renamed(*sources):
    """rename() over kernels given as (source, name) pairs; kernel i's file is k<i>.cl."""
    parsed = [parse_kernel(KernelSource(source, name, filename=f"k{i}.cl"))
              for i, (source, name) in enumerate(sources)]
    return rename(parsed)


def fused_source(*sources) -> str:
    kernels = [KernelSource(source, name, filename=f"k{i}.cl") for i, (source, name) in enumerate(sources)]
    return generate(kernels, wave_size=8).source


def build(context, source):
    cl.Program(context, source).build()  # raises on a compile error


def items_text(program) -> str:
    return "".join(item_source(item) for item in program.items)


def count(pattern, text):
    return len(re.findall(pattern, text))


HELPER = """
typedef struct { float gain; } params_t;
float act(float x) { return x > 0.0f ? x : 0.0f; }
__kernel void %s(__global float *data, params_t p) { data[0] = act(data[0]) * p.gain; }
"""


def test_identical_helpers_are_shared_once():
    program = renamed((HELPER % "a", "a"), (HELPER % "b", "b"))
    text = items_text(program)
    assert count(r"float act\(", text) == 1
    assert count(r"\} params_t;", text) == 1
    assert program.kernels[1].renames == {"data": "data_1", "p": "p_1"}  # parameters only
    assert "act(data_1[0]) * p_1.gain" in to_source(program.kernels[1].definition)


def test_same_named_helpers_with_different_bodies(cpu):
    scale, scale3 = ZOO["scale"].kernel, ZOO["scale3"].kernel  # `act` built with other -D values
    program = rename([parse_kernel(scale), parse_kernel(scale3)])
    text = items_text(program)
    assert "float act(float x)\n{\n  return (x * 2.0f) + 1.0f;" in text
    assert "float act_1(float x)\n{\n  return (x * 3.0f) + 1.0f;" in text
    first, second = (to_source(k.definition) for k in program.kernels)
    assert "act(in[i])" in first and "act_1" not in first
    assert "act_1(in_1[i])" in second and re.search(r"\bact\(", second) is None
    assert program.kernels[0].renames == {}
    assert program.kernels[1].renames["act"] == "act_1"
    build(cpu, generate([scale, scale3], wave_size=8).source)


def test_helper_calling_a_renamed_helper_is_renamed_too():
    source = ("float base(float x) { return x * %s; }\n"
              "float outer(float x) { return base(x) + 1.0f; }\n"
              "__kernel void %s(__global float *o) { o[0] = outer(o[0]); }\n")
    program = renamed((source % ("2.0f", "a"), "a"), (source % ("3.0f", "b"), "b"))
    text = items_text(program)
    assert "float base_1(float x)" in text and "float outer_1(float x)" in text
    assert "return base_1(x) + 1.0f;" in text
    assert "outer_1(o_1[0])" in to_source(program.kernels[1].definition)


def test_parameters_are_renamed_only_on_collision():
    a = "__kernel void a(__global const float *in, __global float *out, int n) { out[0] = in[n]; }"
    b = "__kernel void b(__global const float *src, __global float *dst, int count) { dst[0] = src[count]; }"
    c = "__kernel void c(__global const float *in, __global float *dst2, int m) { dst2[0] = in[m]; }"
    program = renamed((a, "a"), (b, "b"), (c, "c"))
    assert [k.parameter_names for k in program.kernels] == [
        ("in", "out", "n"), ("src", "dst", "count"), ("in_2", "dst2", "m")]
    assert [k.renames for k in program.kernels] == [{}, {}, {"in": "in_2"}]
    assert "dst2[0] = in_2[m];" in to_source(program.kernels[2].definition)


def test_parameter_named_like_a_file_scope_item_of_another_kernel(cpu):
    # A parameter `TABLE` would shadow the other body's `__constant TABLE`: one side of the
    # collision is renamed (the later kernel's constant), not both.
    a = "__kernel void a(__global float *o, float TABLE) { o[0] = TABLE; }"
    b = ("__constant float TABLE[2] = {1.0f, 2.0f};\n"
         "__kernel void b(__global float *p) { p[0] = TABLE[1]; }")
    program = renamed((a, "a"), (b, "b"))
    assert program.kernels[0].parameter_names == ("o", "TABLE")
    assert "__constant float TABLE_1[2]" in items_text(program)
    assert "p[0] = TABLE_1[1];" in to_source(program.kernels[1].definition)
    assert [k.renames for k in program.kernels] == [{}, {"TABLE": "TABLE_1"}]
    build(cpu, fused_source((a, "a"), (b, "b")))

    # The other order: still the constant is renamed, the parameter kept.
    program = renamed((b, "b"), (a, "a"))
    assert program.kernels[1].parameter_names == ("o", "TABLE")
    assert "p[0] = TABLE_0[1];" in to_source(program.kernels[0].definition)
    build(cpu, fused_source((b, "b"), (a, "a")))


def test_parameter_named_like_a_builtin_another_body_calls(cpu):
    a = "__kernel void a(__global float *o, float max) { o[0] = max; }"
    b = "__kernel void b(__global float *out, float y) { out[0] = max(y, 0.0f); }"
    program = renamed((a, "a"), (b, "b"))
    assert program.kernels[0].parameter_names == ("o", "max_0")
    assert "o[0] = max_0;" in to_source(program.kernels[0].definition)
    assert "out[0] = max(y, 0.0f);" in to_source(program.kernels[1].definition)
    build(cpu, fused_source((a, "a"), (b, "b")))


TYPES_A = """
typedef struct { float gain; int n; } params_t;
struct point { float x, y; };
enum mode { FAST = 1, SLOW = 2 };
__constant float TABLE[2] = {1.0f, 2.0f};
float act(float x) { return x * TABLE[0]; }
__kernel void a(__global float4 *out, params_t p, float4 v, int x)
{
    enum mode m = FAST;
    struct point q = { .x = 1.0f, .y = 2.0f };
    out[0] = (float4)(act(p.gain) + v.x + (float)m + x + p.n + q.y);
}
"""
TYPES_B = """
typedef struct { int gain; float n; float TABLE; } params_t;
struct point { int x, y; };
enum mode { FAST = 3, SLOW = 4 };
__constant float TABLE[2] = {5.0f, 6.0f};
float act(float x) { return x + TABLE[1]; }
__kernel void b(__global float4 *out, params_t p, float4 w, int gain)
{
    enum mode m = SLOW;
    struct point q = { .x = 1, .y = 2 };
    out[0] = (float4)(act(p.gain) + w.x + (float)m + gain + p.n + p.TABLE + q.x) + w.wzyx;
}
"""


def test_struct_tags_typedefs_enumerators_and_constants_are_renamed_consistently(cpu):
    program = renamed((TYPES_A, "a"), (TYPES_B, "b"))
    text = items_text(program)
    b = to_source(program.kernels[1].definition)
    for new in ("params_t_1;", "struct point_1\n", "enum mode_1\n", "FAST_1 = 3", "SLOW_1 = 4",
                "__constant float TABLE_1[2]", "float act_1(float x)", "return x + TABLE_1[1];"):
        assert new in text, new
    assert "__kernel void b(__global float4 *out_1, params_t_1 p_1, float4 w, int gain)" in b
    assert "enum mode_1 m = SLOW_1;" in b
    assert "struct point_1 q = {.x = 1, .y = 2};" in b
    # The first kernel keeps every name it was written with.
    a = to_source(program.kernels[0].definition)
    assert "enum mode m = FAST;" in a and "struct point q" in a and "act(p.gain)" in a
    assert program.kernels[0].renames == {}
    build(cpu, fused_source((TYPES_A, "a"), (TYPES_B, "b")))


def test_member_names_and_swizzles_are_never_renamed():
    program = renamed((TYPES_A, "a"), (TYPES_B, "b"))
    b = to_source(program.kernels[1].definition)
    # `x` is a parameter of kernel a and `TABLE` a renamed constant: members and swizzles stay.
    assert "p_1.gain" in b and "p_1.n" in b and "p_1.TABLE" in b and "w.x" in b and "w.wzyx" in b
    assert "q.x" in b and ".x = 1" in b
    text = items_text(program)
    assert "float TABLE;" in text and "int gain;" in text and "int x;" in text
    assert "TABLE_1;" not in text and "gain_1" not in text


def test_member_names_do_not_count_as_collisions():
    # Regression: `p.gain` in kernel a's body made kernel b's parameter `gain` look like a clash.
    program = renamed((TYPES_A, "a"), (TYPES_B, "b"))
    assert program.kernels[1].parameter_names == ("out_1", "p_1", "w", "gain")


def test_enum_tag_collision_compiles(cpu):
    # Regression: enum tags were not renamed (Renamer had no visit_Enum), so two different
    # `enum mode` definitions reached the compiler.
    a = "enum mode { ON = 1 };\n__kernel void a(__global int *o) { enum mode m = ON; o[0] = m; }"
    b = "enum mode { OFF = 0 };\n__kernel void b(__global int *p) { enum mode m = OFF; p[0] = m; }"
    source = fused_source((a, "a"), (b, "b"))
    assert "enum mode_1\n" in source and "enum mode_1 m = OFF;" in source
    build(cpu, source)


def test_rename_leaves_the_parsed_trees_alone():
    parsed = [parse_kernel(ZOO["scale"].kernel), parse_kernel(ZOO["scale3"].kernel)]
    before = [to_source(p.definition) for p in parsed] + [item_source(i) for p in parsed for i in p.items]
    rename(parsed)
    after = [to_source(p.definition) for p in parsed] + [item_source(i) for p in parsed for i in p.items]
    assert after == before


def test_fresh_names_avoid_existing_names():
    a = "__kernel void a(__global float *o) { o[0] = 1.0f; }"
    b = "__kernel void b(__global float *o, int o_1) { o[o_1] = 2.0f; }"
    program = renamed((a, "a"), (b, "b"))
    names = program.kernels[1].parameter_names
    assert names[1] == "o_1" and names[0] not in ("o", "o_1")
    assert len(set(names) | {"o"}) == 3


@pytest.mark.parametrize("names", [("scale", "scale3", "table"), ("scale", "scale")])
def test_zoo_groups_compile(cpu, names):
    source = generate([ZOO[n].kernel for n in names], wave_size=8).source
    build(cpu, source)
    assert count(r"float act\(", source) == 1
