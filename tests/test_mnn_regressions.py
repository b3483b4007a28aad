"""Regressions found by running scripts/mnn_coverage.py over MNN's OpenCL kernels.

Each kernel here is written for this test (no MNN code): it reproduces the construct that failed,
and the test asserts the fixed behaviour on PoCL, bit for bit against the separate launches.
"""
import numpy as np
import pyopencl as cl

from fusion import KernelSource, generate
from fusion.parse import parse_kernel
from fusion.testing import Output, assert_equivalent

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


def test_same_named_parameter_and_kernel_fused_match_separate_launches(pocl, fusers):
    gain = KernelSource(SAME_NAME_SOURCE, "gain", filename="gain.cl")
    offset = KernelSource(SAME_NAME_SOURCE, "offset", filename="gain.cl")
    n = 37

    def factory(context, queue):
        rng = np.random.default_rng(5)
        data = rng.standard_normal(n).astype(np.float32)
        weights = rng.standard_normal(4).astype(np.float32)
        buffers = [cl.Buffer(context, MF.READ_ONLY | MF.COPY_HOST_PTR, hostbuf=a)
                   for a in (data, weights)]
        outs = [cl.Buffer(context, MF.READ_WRITE, n * 4) for _ in range(2)]
        launches = [((n,), None, [buffers[0], buffers[1], outs[0]]),
                    ((n,), None, [buffers[0], outs[1]])]
        return launches, [Output(0, "out", outs[0]), Output(1, "out", outs[1])]

    assert_equivalent(pocl, [gain, offset], factory, fuser=fusers["groups"])
