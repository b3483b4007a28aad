"""fusion/parse.py and fusion/source.py: what a ParsedKernel says about a kernel."""
import pytest
from pycparser import c_ast

from fusion import KernelSource, SourceError
from fusion.compiler.codegen import item_source, to_source
from fusion.compiler.parse import declared_names, parse_kernel
from fusion.compiler.source import preprocess, split_options


def parsed(source, name="k", options=(), filename="p.cl"):
    return parse_kernel(KernelSource(source, name, options, filename=filename))


PARAMETERS = """
typedef struct { float a; int b; } S;
__kernel void k(__global const float4 *restrict in, __global float *out, __local int *scratch,
                __read_only image2d_t src, __write_only image2d_t dst, read_write image3d_t volume,
                image2d_t plain, sampler_t smp, const int n, int2 shift, short bias, S params,
                __constant float *table, global uchar *bytes)
{
}
"""


def test_parameter_classification():
    params = {p.name: p for p in parsed(PARAMETERS).parameters}
    assert list(params) == ["in", "out", "scratch", "src", "dst", "volume", "plain", "smp", "n",
                            "shift", "bias", "params", "table", "bytes"]
    expected = {
        # name: (kind, address space, access, base type, type text)
        "in": ("buffer", "global", None, "float4", "__global const float4 *restrict"),
        "out": ("buffer", "global", None, "float", "__global float *"),
        "scratch": ("local", "local", None, "int", "__local int *"),
        "src": ("image", None, "read_only", "image2d_t", "__read_only image2d_t"),
        "dst": ("image", None, "write_only", "image2d_t", "__write_only image2d_t"),
        "volume": ("image", None, "read_write", "image3d_t", "read_write image3d_t"),
        "plain": ("image", None, "read_only", "image2d_t", "image2d_t"),  # read_only by default
        "smp": ("sampler", None, None, "sampler_t", "sampler_t"),
        "n": ("scalar", None, None, "int", "const int"),
        "shift": ("scalar", None, None, "int2", "int2"),
        "bias": ("scalar", None, None, "short", "short"),
        "params": ("scalar", None, None, "S", "S"),
        "table": ("buffer", "constant", None, "float", "__constant float *"),
        "bytes": ("buffer", "global", None, "uchar", "global uchar *"),
    }
    for name, (kind, space, access, base, text) in expected.items():
        p = params[name]
        assert (p.kind, p.address_space, p.access, p.base_type, p.type_text) == \
            (kind, space, access, base, text), name


def test_parameter_locations_point_at_the_declaration():
    lines = PARAMETERS.splitlines()
    params = {p.name: p for p in parsed(PARAMETERS).parameters}
    for name, line in (("in", 3), ("scratch", 3), ("smp", 5), ("bytes", 6)):
        location = params[name].location
        assert (location.file, location.line) == ("p.cl", line), name
        # The column is the declarator's: the name follows it on that line.
        declarator = lines[line - 1][location.column - 1:]
        assert declarator.split(",")[0].split(")")[0].split()[-1].lstrip("*") == name


def test_void_parameter_list():
    assert parsed("__kernel void k(void) { }").parameters == ()


HELPERS = """
void sync(void) { barrier(CLK_LOCAL_MEM_FENCE); }
size_t lid(void) { return get_local_id(0); }
size_t via(void) { return lid() + get_global_id(1); }
__kernel void through_helpers(__global float *o) { sync(); o[via()] = 0.0f; }
__kernel void direct(__global float *o) { barrier(CLK_GLOBAL_MEM_FENCE); o[get_group_id(2)] = 1.0f; }
__kernel void local_array(__global float *o) { __local float tile[8]; tile[0] = 1.0f; o[0] = tile[0]; }
__kernel void local_argument(__global float *o, __local float *tile) { o[0] = tile[0]; }
__kernel void group_reader(__global float *o) { o[get_num_groups(0)] = 0.0f; }
__kernel void global_only(__global float *o) { o[get_global_id(0) + get_global_size(0)] = 0.0f; }
__kernel void nothing(__global float *o) { o[0] = 0.0f; }
__kernel void copier(__global float *o, __local float *l)
{ event_t e = async_work_group_copy(l, o, 4, 0); wait_group_events(1, &e); }
__kernel void dynamic_dim(__global float *o, uint d) { o[get_global_id(d)] = 0.0f; }
"""


@pytest.mark.parametrize("name, builtins, group_functions, local, real, uses_groups, dims", [
    ("through_helpers", {"get_local_id", "get_global_id"}, {"barrier"}, False, True, True, 2),
    ("direct", {"get_group_id"}, {"barrier"}, False, True, True, 3),
    ("local_array", set(), set(), True, True, True, 1),
    ("local_argument", set(), set(), True, True, True, 1),
    ("group_reader", {"get_num_groups"}, set(), False, False, True, 1),
    ("global_only", {"get_global_id", "get_global_size"}, set(), False, False, False, 1),
    ("nothing", set(), set(), False, False, False, 1),
    ("copier", set(), {"async_work_group_copy", "wait_group_events"}, True, True, True, 1),
    ("dynamic_dim", {"get_global_id"}, set(), False, False, False, None),
])
def test_work_group_detection(name, builtins, group_functions, local, real, uses_groups, dims):
    kernel = parsed(HELPERS, name)
    assert kernel.work_item_builtins == builtins
    assert kernel.work_group_functions == group_functions
    assert kernel.uses_local_memory is local
    assert kernel.needs_real_work_groups is real
    assert kernel.uses_work_groups is uses_groups
    assert kernel.dimensions == dims


def test_local_declarations_are_collected():
    kernel = parsed(HELPERS, "local_array")
    assert [d.name for d in kernel.local_declarations] == ["tile"]


def test_required_local_size():
    source = ("__kernel __attribute__((reqd_work_group_size(8, 4, 1))) void k(__global int *o) {}\n"
              "__kernel __attribute__((work_group_size_hint(8, 4, 1))) void hint(__global int *o) {}\n"
              "#define LS 32\n"
              "__kernel __attribute__((reqd_work_group_size(LS, 1, 1))) void m(__global int *o) {}\n")
    assert parsed(source).required_local_size == (8, 4, 1)
    assert parsed(source, "hint").required_local_size is None  # only a hint
    assert parsed(source, "m").required_local_size == (32, 1, 1)


def test_extension_pragmas():
    source = ("#pragma OPENCL EXTENSION cl_khr_fp16 : enable\n"
              "#pragma OPENCL EXTENSION cl_khr_global_int32_base_atomics : enable\n"
              "#pragma unroll\n"
              "__kernel void k(__global half *o) { o[0] = 0; }\n")
    assert parsed(source).extension_pragmas == ("OPENCL EXTENSION cl_khr_fp16 : enable",
                                                "OPENCL EXTENSION cl_khr_global_int32_base_atomics : enable")


def test_program_flags_are_split_from_preprocessor_options():
    options = ["-DRELU", "-D", "BIAS=2", "-DNAME=a b", "-UOLD", "-I", "/inc", "-I/other",
               "-cl-fast-relaxed-math", "-cl-std=CL1.2", "-cl-mad-enable"]
    split = split_options(options)
    assert split.defines == (("RELU", None), ("BIAS", "2"), ("NAME", "a b"))
    assert split.undefines == ("OLD",)
    assert split.include_dirs == ("/inc", "/other")
    assert split.program_flags == ("-cl-fast-relaxed-math", "-cl-std=CL1.2", "-cl-mad-enable")
    kernel = parsed("__kernel void k(__global int *o) {}",
                    options=[o for o in options if " " not in o])
    assert kernel.program_flags == ("-cl-fast-relaxed-math", "-cl-std=CL1.2", "-cl-mad-enable")


def test_options_given_as_one_string_are_split():
    kernel = KernelSource("__kernel void k() {}", "k", "-DA=1 -cl-fast-relaxed-math -I '/a dir'")
    assert kernel.options == ("-DA=1", "-cl-fast-relaxed-math", "-I", "/a dir")


CONFIGURED = """
#ifndef FLOAT4
#define FLOAT4 float4
#endif
#ifdef RELU
#define ACT(v) fmax((v), (FLOAT4)(0.0f))
#else
#define ACT(v) (v)
#endif
FLOAT4 act(FLOAT4 v) { return ACT(v); }
__kernel void k(__global FLOAT4 *o) { o[0] = act(o[0]); }
"""


def test_each_kernel_is_preprocessed_with_its_own_options():
    plain = parsed(CONFIGURED)
    relu = parsed(CONFIGURED, options=["-DRELU"])
    wide = parsed(CONFIGURED, options=["-DRELU", "-DFLOAT4=float8"])
    helper = [item_source(k.items[0]) for k in (plain, relu, wide)]
    assert "return v;" in helper[0]
    assert "fmax(v, (float4) 0.0f)" in helper[1]
    assert "float8 act(float8 v)" in helper[2] and "fmax(v, (float8) 0.0f)" in helper[2]
    assert to_source(wide.definition).startswith("__kernel void k(__global float8 *o)")
    assert plain.parameters[0].base_type == "float4"
    assert wide.parameters[0].base_type == "float8"
    # Preprocessing one kernel leaves no macro behind for the next.
    assert "fmax" not in item_source(parsed(CONFIGURED).items[0])


def test_macro_generated_kernel_names():
    source = ("#define ELTWISE(name, op) \\\n"
              "__kernel void eltwise_##name(__global float *a, __global const float *b) \\\n"
              "{ const int i = get_global_id(0); a[i] = a[i] op b[i]; }\n"
              "ELTWISE(add, +)\n"
              "ELTWISE(mul, *)\n")
    add, mul = parsed(source, "eltwise_add"), parsed(source, "eltwise_mul")
    assert add.name == "eltwise_add" and mul.name == "eltwise_mul"
    assert "a[i] + b[i]" in to_source(add.definition)
    assert "a[i] * b[i]" in to_source(mul.definition)
    with pytest.raises(SourceError) as caught:
        parsed(source, "ELTWISE")
    assert "kernels found: eltwise_add, eltwise_mul" in str(caught.value)


ITEMS = """
typedef float real;
typedef struct { real gain; } params_t;
enum mode { MODE_A = 1, MODE_B = 2 };
__constant real TABLE[2] = {1.0f, 2.0f};
__constant int UNUSED[1] = {0};
real scale(real x) { return x * TABLE[1]; }
real unused_helper(real x) { return x; }
real twice(real x);
real act(params_t p, real x) { return twice(scale(x)) * p.gain + MODE_B; }
real twice(real x) { return 2 * x; }
__kernel void other(__global real *o) { o[0] = unused_helper(1); }
__kernel void k(__global real *o, params_t p) { o[0] = act(p, o[0]); }
"""


def test_file_scope_items_are_collected_transitively_in_source_order():
    kernel = parsed(ITEMS)
    names = [sorted(declared_names(item)) for item in kernel.items]
    assert names == [["real"], ["params_t"], ["MODE_A", "MODE_B", "mode"], ["TABLE"], ["scale"],
                     ["act"], ["twice"]]
    # The prototype of `twice` is dropped: its definition is there.
    assert sum(isinstance(item, c_ast.FuncDef) for item in kernel.items) == 3
    assert kernel.definition.decl.name == "k" and kernel.definition not in kernel.items


def test_items_of_a_kernel_without_helpers():
    assert parsed(ITEMS, "other").items[-1].decl.name == "unused_helper"
    assert len(parsed("__kernel void k(__global int *o) { o[0] = 1; }").items) == 0


def test_include_from_an_include_directory(tmp_path):
    (tmp_path / "activation.h").write_text("#define SCALE 3.0f\n"
                                           "float act(float x) { return x * SCALE; }\n")
    source = '#include "activation.h"\n__kernel void k(__global float *o) { o[0] = act(o[0]); }\n'
    kernel = parsed(source, options=[f"-I{tmp_path}"])
    assert "return x * 3.0f;" in item_source(kernel.items[0])
    assert kernel.items[0].coord.file.endswith("activation.h")
    assert str(kernel.location) == "p.cl:2:15"
    # Two words: -I <dir>
    assert len(parsed(source, options=["-I", str(tmp_path)]).items) == 1


def test_include_next_to_the_kernel_file(tmp_path):
    (tmp_path / "common.h").write_text("#define VALUE 5\n")
    path = tmp_path / "k.cl"
    path.write_text('#include "common.h"\n__kernel void k(__global int *o) { o[0] = VALUE; }\n')
    kernel = parse_kernel(KernelSource.from_file(path, "k"))
    assert "o[0] = 5;" in to_source(kernel.definition)


def test_preprocessed_text_keeps_user_file_names_and_lines():
    text = preprocess(KernelSource("#define A 1\n\n__kernel void k(__global int *o) { o[0] = A; }\n",
                                   "k", filename="dir/x.cl"))
    assert '"dir/x.cl"' in text
    assert parsed("#define A 1\n\n__kernel void k(__global int *o) { o[0] = A; }\n",
                  filename="dir/x.cl").location.line == 3


def test_parse_does_not_change_the_shared_tree():
    first = parsed(ITEMS)
    before = to_source(first.definition)
    parsed(ITEMS)  # cached tree reused
    assert to_source(first.definition) == before
