"""fusion/codegen.py: regression tests for the generator bugs it fixes, and pycparser-style round
trips (parse(src) == parse(generate(parse(src)))) over every kernel file and every zoo kernel."""
import glob
import os
import re

import numpy as np
import pyopencl as cl
import pytest
from pycparser import c_ast

from fusion import KernelSource, SourceError
from fusion.compiler.codegen import to_source
from fusion.compiler.parse import is_kernel, parse_translation_unit
from fusion.verify.testing import Output, run_fused, run_separately

from zoo import ZOO

from fusion.ops import KERNELS_DIR  # noqa: E402
KERNEL_FILES = sorted(glob.glob(os.path.join(KERNELS_DIR, "*.cl")))
# Options that switch on the files' optional code paths (harmless where a file ignores them).
OPTION_VARIANTS = [(), ("-DBIAS", "-DRELU"), ("-DRELU6", "-DPOOL_AVG")]


def unit(source: str, options=(), filename="t.cl") -> c_ast.FileAST:
    return parse_translation_unit(KernelSource(source, "unused", options, filename=filename))


def regenerate(source: str) -> str:
    return to_source(unit(source))


def shape(node):
    """A node's structure without source coordinates, for node-by-node comparison. Attributes
    that hold nodes (pycparserext keeps attributes in Decl.funcspec) are compared as structure."""
    if isinstance(node, c_ast.Node):
        attrs = tuple((name, shape(getattr(node, name))) for name in node.attr_names)
        children = tuple((name, shape(child)) for name, child in node.children())
        return (type(node).__name__, attrs, children)
    if isinstance(node, (list, tuple)):
        return tuple(shape(element) for element in node)
    return node


def assert_round_trips(tree: c_ast.FileAST, what: str) -> str:
    text = to_source(tree)
    again = unit(text, filename=what)
    assert shape(again) == shape(tree), f"{what}: the regenerated tree differs from the parsed one"
    assert to_source(again) == text, f"{what}: regenerating twice is not stable"
    return text


# --- the generator's fixed bugs ----------------------------------------------------------------

def test_vector_literal_stays_a_vector_literal():
    text = regenerate("__kernel void k(__global float4 *o) { o[0] = (float4)(1.0f, 2.0f, 3.0f, 4.0f); }")
    assert "(float4)(1.0f, 2.0f, 3.0f, 4.0f)" in text
    assert "((1.0f" not in text  # the stock generator's comma operator


def test_nested_vector_literals_and_single_value_literal():
    text = regenerate("__kernel void k(__global float8 *o) {"
                      " o[0] = (float8)((float4)(1.0f, 2.0f, 3.0f, 4.0f), (float4)(5.0f));"
                      " o[1] = (float8)(0.0f); }")
    assert "(float8)((float4)(1.0f, 2.0f, 3.0f, 4.0f), (float4) 5.0f)" in text
    assert "o[1] = (float8) 0.0f;" in text


def test_plain_casts_are_unchanged():
    text = regenerate("__kernel void k(__global int *o, float x) { o[0] = (int)(x + 1.0f) * (int)x; }")
    assert "o[0] = ((int) (x + 1.0f)) * ((int) x);" in text


@pytest.mark.parametrize("attribute", ["reqd_work_group_size(16, 1, 1)",
                                       "work_group_size_hint(16, 16, 1)"])
def test_kernel_attributes_generate(attribute):
    text = regenerate(f"__kernel __attribute__(({attribute})) void k(__global float *o) {{ o[0] = 1.0f; }}")
    assert f"__kernel __attribute__(({attribute})) void k(__global float *o)" in text


def test_unroll_hint_becomes_pragma_unroll():
    text = regenerate("__kernel void k(__global float *o) {\n"
                      "    __attribute__((opencl_unroll_hint(4)))\n"
                      "    for (int i = 0; i < 8; i++) o[i] = 0.0f;\n"
                      "    __attribute__((opencl_unroll_hint))\n"
                      "    for (int i = 0; i < 8; i++) o[i] += 1.0f;\n}\n")
    assert re.search(r"#pragma unroll 4\s*\n\s*for \(int i = 0; i < 8; i\+\+\)", text)
    assert re.search(r"#pragma unroll\s*\n\s*for \(int i = 0; i < 8; i\+\+\)\s*\n\s*o\[i\] \+= 1.0f;",
                     text)
    assert "opencl_unroll_hint" not in text


def test_unroll_hint_keeps_lines_and_columns():
    # Regression: the rewrite to `#pragma unroll` used to shift every later line by two, so
    # errors after an unroll hint pointed at the wrong line.
    source = ("__kernel void k(__global float *o) {\n"
              "    __attribute__((opencl_unroll_hint(2)))\n"
              "    for (int i = 0; i < 8; i++) o[i] = 0.0f;\n"
              "    __attribute__((opencl_unroll_hint(2))) for (int i = 0; i < 8; i++) o[i] = 0.0f;\n"
              "    o[0] = 1 + ;\n}\n")
    with pytest.raises(SourceError) as caught:
        unit(source, filename="u.cl")
    assert str(caught.value).startswith("u.cl:5:16: ")
    assert "\n        o[0] = 1 + ;\n" in str(caught.value)
    loops = [node for node in unit(source.replace("1 + ;", "1;")).ext[0].body.block_items
             if isinstance(node, c_ast.For)]
    assert [(loop.coord.line, loop.coord.column) for loop in loops] == [(3, 5), (4, 44)]


def test_for_loop_with_two_declarations_round_trips():
    source = "__kernel void k(__global int *o) { for (int a = 0, b = 10; a < b; a++, b--) o[a] = b; }"
    text = regenerate(source)
    assert "for (int a = 0, b = 10; a < b; a++, b--)" in text
    assert_round_trips(unit(source), "for.cl")


def test_file_scope_pragma_has_no_stray_semicolon():
    text = regenerate("#pragma OPENCL EXTENSION cl_khr_fp16 : enable\n"
                      "__kernel void k(__global half *o) { o[0] = 0; }")
    assert "#pragma OPENCL EXTENSION cl_khr_fp16 : enable\n" in text
    assert "enable;" not in text


# --- round trips ------------------------------------------------------------------------------

def test_kernel_library_and_zoo_are_present():
    assert KERNEL_FILES, f"no kernel files found in {KERNELS_DIR}: the round-trip test would test nothing"
    assert len(ZOO_SOURCES) >= 8
    assert all(name.startswith("lib:") for name, z in ZOO.items() if z.kernel is None)


@pytest.mark.parametrize("options", OPTION_VARIANTS, ids=lambda o: " ".join(o) or "default")
@pytest.mark.parametrize("path", KERNEL_FILES, ids=os.path.basename)
def test_kernel_file_round_trips(path, options):
    with open(path, encoding="utf-8") as f:
        source = f.read()
    tree = unit(source, options, filename=os.path.basename(path))
    assert any(is_kernel(ext) for ext in tree.ext), f"{path}: no kernel found"
    assert_round_trips(tree, os.path.basename(path))


# The zoo's own kernels (its "lib:*" entries launch the fusion/ops/kernels/ files, round-tripped above).
ZOO_SOURCES = {z.kernel.source: name for name, z in ZOO.items() if z.kernel is not None}


@pytest.mark.parametrize("name", sorted(ZOO_SOURCES.values()))
def test_zoo_kernel_round_trips(name):
    kernel = ZOO[name].kernel
    tree = unit(kernel.source, kernel.options, filename=kernel.display_name)
    assert_round_trips(tree, kernel.display_name)


def test_round_trip_check_can_fail():
    """The comparison sees what a generator bug would change: operator grouping, a literal."""
    tree = unit("__kernel void k(__global int *o, int a, int b) { o[0] = a - (b - 1); }")
    regrouped = unit("__kernel void k(__global int *o, int a, int b) { o[0] = a - b - 1; }")
    assert shape(tree) != shape(regrouped)
    vector = unit("__kernel void k(__global float4 *o) { o[0] = (float4)(1.0f, 2.0f, 3.0f, 4.0f); }")
    lane = unit("__kernel void k(__global float4 *o) { o[0] = (float4)(4.0f); }")
    assert shape(vector) != shape(lane)


# --- on a device ------------------------------------------------------------------------------

LANES_SOURCE = """
__kernel void lanes(__global float4 *out)
{
    const int i = get_global_id(0);
    out[i] = (float4)(1.0f, 2.0f, 3.0f, 4.0f) + (float4)((float)i);
}
"""
LANES = KernelSource(LANES_SOURCE, "lanes", filename="lanes.cl")
OTHER = KernelSource("__kernel void fill(__global int *out) { out[get_global_id(0)] = 7; }", "fill",
                     filename="fill.cl")


def test_vector_literal_on_device_alone_and_fused(cpu, fusers):
    n = 24

    def factory(context, queue):
        a = cl.Buffer(context, cl.mem_flags.READ_WRITE, n * 16)
        b = cl.Buffer(context, cl.mem_flags.READ_WRITE, n * 4)
        return ([((n,), None, [a]), ((n,), None, [b])],
                [Output(0, "out", a), Output(1, "out", b, np.int32)])

    queue = cl.CommandQueue(cpu)
    alone, _ = run_separately(cpu, queue, [LANES, OTHER], factory)
    fused, _ = run_fused(cpu, queue, [LANES, OTHER], factory, fusers["groups"])
    expected = (np.arange(n, dtype=np.float32)[:, None] + np.float32([1, 2, 3, 4])).ravel()
    np.testing.assert_array_equal(alone[0], expected)
    np.testing.assert_array_equal(fused[0], alone[0])
    assert len(set(fused[0][:4].tolist())) == 4, "the four lanes must differ"
    np.testing.assert_array_equal(fused[1], np.full(n, 7, np.int32))
