"""Deep kernels (fusion/compiler/deep.py): long operator chains, deep parentheses and long
else-if chains, as unrolled real kernels have them, compile and fuse bit-identically; deeper than
the compiler follows is a located DepthError, never a RecursionError; and whatever fails inside
fusion at run time makes the group run unfused, with a FusionWarning."""
import sys

import numpy as np
import pytest

import fusion
from fusion import KernelSource
from fusion.compiler.deep import MAX_DEPTH, DepthError
from fusion.verify.testing import Output, assert_equivalent, input_buffer, output_buffer


def deep_kernel(kind: str, depth: int, name: str = "deep") -> KernelSource:
    if kind == "sum":
        body = "float x = in[i]; out[i] = " + " + ".join(["x"] * depth) + ";"
    elif kind == "parens":
        body = "float x = in[i]; out[i] = " + "(" * depth + "x + 1.0f" + ")" * depth + ";"
    else:
        chain = " else ".join(f"if (k == {j}) y = {j}.5f;" for j in range(depth))
        body = f"int k = (int)in[i]; float y = -1.0f; {chain} out[i] = y;"
    return KernelSource("__kernel void " + name + "(__global const float *in, __global float *out)"
                        "\n{\n    int i = get_global_id(0);\n    " + body + "\n}\n", name,
                        filename=f"{name}.cl")


@pytest.mark.parametrize("kind, depth", [("sum", 300), ("parens", 150), ("elif", 300),
                                         ("sum", 2000), ("parens", 2000), ("elif", 2000),
                                         ("parens", MAX_DEPTH)])
def test_deep_kernels_generate(kind, depth):
    limit = sys.getrecursionlimit()
    program = fusion.generate([deep_kernel(kind, depth), deep_kernel("sum", 3, "small")],
                              wave_size=8)
    assert "__kernel void fused__deep__small(" in program.source
    assert sys.getrecursionlimit() == limit  # restored


@pytest.mark.parametrize("kind, depth", [("sum", 2000), ("elif", 2000), ("parens", 150)])
def test_deep_kernels_fuse_bit_identically(cpu, kind, depth):
    """(2,000-deep parentheses crash Intel's OpenCL compiler even in the kernel alone: that is
    the device compiler's limit, so the device test stays below it.)"""
    kernels = [deep_kernel(kind, depth), deep_kernel("parens", 150, "other")]

    def make(context, queue):
        data = input_buffer(context, np.arange(64, dtype=np.float32) % 2100)
        outs = [output_buffer(context, 64), output_buffer(context, 64)]
        return ([((64,), None, [data, outs[0]]), ((64,), None, [data, outs[1]])],
                [Output(0, "out", outs[0]), Output(1, "out", outs[1])])
    assert_equivalent(cpu, kernels, make, fuser=fusion.Fuser(cpu, strict=True))


def test_chains_stay_flat():
    """The fused text of a 2,000-term sum is as flat as the kernel's own (it came back 2,000
    parentheses deep, which crashed the device compiler), and else-if chains stay flat."""
    source = fusion.generate([deep_kernel("sum", 2000), deep_kernel("elif", 50, "chain")],
                             wave_size=8).source
    assert "out[i] = x + x + x" in source and "((" not in source.split("[0] deep */")[-1].split("[1]")[0]
    indents = {len(line) - len(line.lstrip()) for line in source.splitlines()
               if line.lstrip().startswith("else if (k ==")}
    assert len(indents) == 1, indents  # every link at the same depth


def test_deeper_than_the_compiler_follows_is_a_located_error():
    with pytest.raises(DepthError) as caught:
        fusion.generate([deep_kernel("parens", 300_000), deep_kernel("sum", 3, "small")],
                        wave_size=8)
    error = caught.value
    assert isinstance(error, fusion.UnsupportedError)
    assert (error.location.file, error.location.line, error.location.column) == ("deep.cl", 1, 15)
    assert f"it handles {MAX_DEPTH:,} levels" in error.message


def test_a_failure_inside_fusion_falls_back_at_run_time(cpu, monkeypatch):
    from fusion.runtime import launcher

    def broken(*args, **kwargs):
        raise RuntimeError("an internal bug")
    monkeypatch.setattr(launcher, "generate", broken)
    kernels = [deep_kernel("sum", 4, "a"), deep_kernel("sum", 5, "b")]

    def make(context, queue):
        data = input_buffer(context, np.arange(16, dtype=np.float32))
        outs = [output_buffer(context, 16), output_buffer(context, 16)]
        return ([((16,), None, [data, outs[0]]), ((16,), None, [data, outs[1]])],
                [Output(0, "out", outs[0]), Output(1, "out", outs[1])])
    with pytest.warns(fusion.FusionWarning,
                      match=r"run on their own, not fused: fusion failed \(RuntimeError: an "
                            r"internal bug\)"):
        assert_equivalent(cpu, kernels, make, fuser=fusion.Fuser(cpu))
    with pytest.raises(RuntimeError, match="an internal bug"):
        launches, _ = make(cpu, None)
        fusion.Fuser(cpu, strict=True).fuse(kernels).bind(launches)
