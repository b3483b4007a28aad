"""Attributes survive fusion wherever the kernel wrote them (fusion/compiler/attributes.py), or
the kernel is refused at the attribute: never dropped. Each struct's size is part of the result,
so a dropped `packed` or `aligned` shows as a different value."""
import numpy as np
import pyopencl as cl
import pytest

import fusion
from fusion import KernelSource, UnsupportedError
from fusion.verify.testing import Output, assert_equivalent, check_on_device, output_buffer

SIZES = r"""
typedef struct { char a; int b; } __attribute__((packed)) After;      /* after the braces */
typedef struct __attribute__((packed)) { char a; int b; } Before;     /* after 'struct' */
struct __attribute__((aligned(32))) Wide { char a; };
struct Tagged { char a; int b; } __attribute__((packed));
typedef int Aligned8 __attribute__((aligned(8)));
struct Field { char c; int x __attribute__((aligned(16))); };
struct HasAligned { char c; Aligned8 v; };
__constant int table[4] __attribute__((aligned(16))) = {1, 2, 3, 4};

__kernel void sizes(__global int *out)
{
    struct { char a; int b; } __attribute__((packed)) local_packed;
    const int i = get_global_id(0);
    const int size[8] = {sizeof(After), sizeof(Before), sizeof(struct Wide),
                         sizeof(struct Tagged), sizeof(struct HasAligned), sizeof(struct Field),
                         sizeof(local_packed), table[1]};
    out[i] = size[i % 8];
}
"""

SCALE = KernelSource("__kernel void twice(__global int *out) { out[get_global_id(0)] *= 2; }",
                     "twice", filename="twice.cl")


def _factory(context, queue):
    outs = [output_buffer(context, 16, np.int32), output_buffer(context, 8, np.int32)]
    return ([((16,), None, [outs[0]]), ((8,), None, [outs[1]])],
            [Output(0, "out", outs[0], np.int32), Output(1, "out", outs[1], np.int32)])


def test_attributed_structs_have_their_sizes_when_fused(cpu):
    sizes = KernelSource(SIZES, "sizes", filename="sizes.cl")
    program = fusion.generate([sizes, SCALE], wave_size=8)
    for kept in ("typedef struct __attribute__((packed))", "struct __attribute__((aligned(32))) Wide",
                 "struct __attribute__((packed)) Tagged", "int x __attribute__((aligned(16)))",
                 "__attribute__((aligned(8)))", "table[4] __attribute__((aligned(16)))"):
        assert kept in program.source, kept
    assert program.source.count("__attribute__((packed))") == 4
    assert_equivalent(cpu, [sizes, SCALE], _factory)
    # and the values are the attributed ones (packed: 5, aligned(32): 32, ...)
    queue = cl.CommandQueue(cpu)
    launches, outputs = _factory(cpu, queue)
    fusion.Fuser(cpu, strict=True).fuse([sizes, SCALE])(queue, launches)
    got = np.empty(16, np.int32)
    cl.enqueue_copy(queue, got, outputs[0].memory)
    assert got[:8].tolist() == [5, 5, 32, 5, 16, 32, 5, 2]


@pytest.mark.parametrize("source, column", [
    ("typedef union { char a; int b; } __attribute__((aligned(16))) U;\n", 49),
    ("union V { char a; int b; } __attribute__((aligned(16)));\n", 43),
    ("typedef __attribute__((aligned(16))) int T;\n", 24),
])
def test_an_attribute_the_parser_would_lose_is_refused_at_its_place(source, column):
    kernel = KernelSource(source + "__kernel void k(__global int *o) { o[0] = 1; }", "k",
                          filename="lost.cl")
    with pytest.raises(UnsupportedError) as caught:
        fusion.generate([kernel, SCALE], wave_size=8)
    error = caught.value
    assert (error.location.file, error.location.line, error.location.column) == ("lost.cl", 1, column)
    assert error.message.startswith("an attribute in this position would be lost by the parser")
    assert error.line_text == source.rstrip("\n")


def test_a_refused_attribute_makes_the_runtime_run_the_kernel_alone(cpu):
    kernel = KernelSource("typedef union { char a; int b; } __attribute__((aligned(16))) U;\n"
                          "__kernel void k(__global int *o) { o[get_global_id(0)] = sizeof(U); }",
                          "k", filename="lost.cl")
    with pytest.warns(fusion.FusionWarning, match="would be lost by the parser"):
        assert_equivalent(cpu, [kernel, SCALE], _factory, fuser=fusion.Fuser(cpu))


def _tagged(name, align, fields, use):
    return KernelSource(
        f"struct __attribute__((aligned({align}))) rec_tag {{ {fields} }};\n"
        "typedef struct rec_tag rec;\n"
        f"__constant uint TABLE[2] __attribute__((aligned(16))) = {{{align}u, 3u}};\n"
        f"__kernel void {name}(__global uint *o)\n{{\n    rec r;\n    {use}\n"
        "    o[get_global_id(0)] = (uint)sizeof(rec) + TABLE[0];\n}\n", name,
        filename=f"{name}.cl")


def test_same_named_attributed_structs_and_variables_are_renamed_apart(cpu):
    """The random kernel generator found it: two kernels each defining
    `struct __attribute__((aligned(64))) packed_t_tag {...}` fused into a program that redefined
    the tag (every use was renamed, the attributed definition was not: the renamer never saw
    pycparserext's StructExt, nor an attributed declaration's TypeDeclExt)."""
    kernels = [_tagged("a", 16, "uint a;", "r.a = 1u;"),
               _tagged("b", 64, "uint a; uint b;", "r.b = 2u;")]
    program = fusion.generate(kernels, wave_size=8)
    assert program.source.count("struct __attribute__((aligned(16))) rec_tag\n") == 1
    assert "struct __attribute__((aligned(64))) rec_tag_1" in program.source
    assert "TABLE_1" in program.source  # the attributed variable renamed apart too

    def make(context, queue):
        buffers = [cl.Buffer(context, cl.mem_flags.READ_WRITE, 8 * 4) for _ in kernels]
        return ([((8,), None, [b]) for b in buffers],
                [Output(i, "o", b, np.dtype(np.uint32)) for i, b in enumerate(buffers)])
    result = check_on_device(cpu, kernels, make, fuser=fusion.Fuser(cpu, strict=True))
    assert result.launches == 1
