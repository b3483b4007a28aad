"""Regressions found by running scripts/mnn_coverage.py over MNN's OpenCL kernels.

Each kernel here is written for this test (no MNN code): it reproduces the construct that failed,
and the test asserts the fixed behaviour on PoCL, bit for bit against the separate launches.
"""
import numpy as np
import pyopencl as cl

from fusion import KernelSource, generate
from fusion.compiler.parse import parse_kernel
from fusion.verify.testing import Output, assert_equivalent, output_buffer

MF = cl.mem_flags

# A kernel whose parameter has the kernel's own name (MNN's image `scale` kernel takes an image
# called `scale`), in a file with a second kernel whose local variable is named like the first.
SAME_NAME_SOURCE = """
__kernel void gain(__global const float *in, __global const float *gain, __global float *out)
{
    const int i = get_global_id(0);
    out[i] = in[i] * gain[i % 4];
}

__kernel void offset(__global const float *in, __global float *out)
{
    const int i = get_global_id(0);
    const float gain = 0.5f;          /* a local named like the kernel above */
    out[i] = in[i] + gain;
}
"""


def test_parameter_named_like_its_kernel_parses():
    """It used to fail with StopIteration: the parameter `gain` made the kernel `gain` look like
    a kernel it calls."""
    parsed = parse_kernel(KernelSource(SAME_NAME_SOURCE, "gain", filename="gain.cl"))
    assert [p.name for p in parsed.parameters] == ["in", "gain", "out"]
    assert parsed.items == ()


def test_local_named_like_another_kernel_does_not_pull_it_in():
    parsed = parse_kernel(KernelSource(SAME_NAME_SOURCE, "offset", filename="gain.cl"))
    assert parsed.items == ()  # the kernel `gain` is not a file-scope item `offset` needs
    program = generate([parsed.kernel, KernelSource(SAME_NAME_SOURCE, "gain", filename="gain.cl")],
                       wave_size=8)
    assert program.source.count("__kernel") == 1


def test_a_call_to_another_kernel_is_still_refused_through_a_helper():
    import pytest
    from fusion import UnsupportedError
    source = ("__kernel void inner(__global float *o) { o[0] = 1.0f; }\n"
              "void helper(__global float *o) { inner(o); }\n"
              "__kernel void outer(__global float *o) { helper(o); }\n")
    with pytest.raises(UnsupportedError, match="calls the kernel 'inner'"):
        parse_kernel(KernelSource(source, "outer", filename="calls.cl"))


def test_same_named_parameter_and_kernel_fused_match_separate_launches(cpu, fusers):
    gain = KernelSource(SAME_NAME_SOURCE, "gain", filename="gain.cl")
    offset = KernelSource(SAME_NAME_SOURCE, "offset", filename="gain.cl")
    n = 37

    def factory(context, queue):
        rng = np.random.default_rng(5)
        data = rng.standard_normal(n).astype(np.float32)
        weights = rng.standard_normal(4).astype(np.float32)
        buffers = [cl.Buffer(context, MF.READ_ONLY | MF.COPY_HOST_PTR, hostbuf=a)
                   for a in (data, weights)]
        outs = [output_buffer(context, n) for _ in range(2)]
        launches = [((n,), None, [buffers[0], buffers[1], outs[0]]),
                    ((n,), None, [buffers[0], outs[1]])]
        return launches, [Output(0, "out", outs[0]), Output(1, "out", outs[1])]

    assert_equivalent(cpu, [gain, offset], factory, fuser=fusers["groups"])


def test_vendor_sub_group_functions_are_refused():
    """MNN's Intel kernels read with intel_sub_group_block_read4: a sub-group operation, which
    depends on how the hardware groups work-items. It used to pass as an ordinary function
    (only `sub_group_*` and `get_sub_group_*` were known); fusing it would remap work-items
    under it. Now refused, with its location."""
    import pytest
    from fusion import UnsupportedError
    source = ("__kernel void blocks(__global const uint *in, __global uint *out)\n{\n"
              "    const uint v = intel_sub_group_block_read(in);\n"
              "    out[get_global_id(0)] = v;\n}\n")
    with pytest.raises(UnsupportedError) as caught:
        parse_kernel(KernelSource(source, "blocks", filename="blocks.cl"))
    text = str(caught.value)
    assert text.startswith("blocks.cl:3:20: 'intel_sub_group_block_read' is not supported")


def test_own_helper_named_like_a_sub_group_function_is_fine():
    source = ("uint my_sub_group_sum(uint a, uint b) { return a + b; }\n"
              "__kernel void k(__global uint *out) { out[0] = my_sub_group_sum(1u, 2u); }\n")
    assert parse_kernel(KernelSource(source, "k", filename="own.cl")).name == "k"


def test_a_sub_group_size_attribute_alone_is_no_sub_group_use(cpu, fusers):
    """MNN's layout-conversion kernels carry __attribute__((intel_reqd_sub_group_size(16)))
    without calling any sub-group function: a hint for Intel's compiler, which PoCL ignores.
    The attribute is not a call; such a kernel fuses (and the attribute is dropped)."""
    source = ("__kernel __attribute__((intel_reqd_sub_group_size(16)))\n"
              "void widen(__global const float *in, __global float *out)\n{\n"
              "    out[get_global_id(0)] = in[get_global_id(0)] * 2.0f;\n}\n")
    widen = KernelSource(source, "widen", filename="widen.cl")
    parsed = parse_kernel(widen)
    assert parsed.work_item_builtins == {"get_global_id"}
    program = generate([widen, widen], wave_size=8)
    assert "intel_reqd_sub_group_size" not in program.source

    def factory(context, queue):
        data = np.arange(32, dtype=np.float32)
        source_buffer = cl.Buffer(context, MF.READ_ONLY | MF.COPY_HOST_PTR, hostbuf=data)
        outs = [output_buffer(context, 32) for _ in range(2)]
        return ([((32,), None, [source_buffer, outs[0]]), ((16,), None, [source_buffer, outs[1]])],
                [Output(0, "out", outs[0]), Output(1, "out", outs[1])])

    assert_equivalent(cpu, [widen, widen], factory, fuser=fusers["groups"])
