"""Valid kernels that were refused or misparsed (found in held-out real kernels of other
engines), each with the fix's regression test: they fuse and equal their launches alone."""
import numpy as np
import pytest

import fusion
from fusion import KernelSource, SourceError
from fusion.compiler.source import preprocess
from fusion.verify.testing import Output, assert_equivalent, input_buffer, output_buffer

COPY = KernelSource("__kernel void copy(__global const float *in, __global float *out)\n"
                    "{ out[get_global_id(0)] = in[get_global_id(0)] * 3.0f; }", "copy",
                    filename="copy.cl")


def _pair_factory(first_args=None, local=None):
    def make(context, queue):
        data = input_buffer(context, np.linspace(-2, 2, 64, dtype=np.float32))
        outs = [output_buffer(context, 64), output_buffer(context, 64)]
        first = (first_args or (lambda o: [data, o]))(outs[0])
        return ([((64,), local, first), ((64,), None, [data, outs[1]])],
                [Output(0, "out", outs[0]), Output(1, "out", outs[1])])
    return make


LOCAL_POINTER = KernelSource("""
__kernel void window(__global const float *in, __global float *out, const int offset)
{
    __local float shared[32];
    const int l = get_local_id(0);
    shared[l] = in[get_global_id(0)];
    barrier(CLK_LOCAL_MEM_FENCE);
    __local float *p = shared + offset;     /* a private pointer to local memory */
    out[get_global_id(0)] = p[l % 8] + p[(l + 1) % 8];
}
""", "window", filename="window.cl")


def test_a_private_pointer_to_local_memory_with_an_initializer(cpu):
    """Only __local objects may not have an initializer; this was refused as one."""
    program = fusion.generate([LOCAL_POINTER, COPY], wave_size=8)
    assert "__local float *p = pf_local.k0.shared + offset;" in program.source
    factory = _pair_factory(lambda o: [None, o, 4], local=(32,))

    def make(context, queue):
        launches, outputs = factory(context, queue)
        launches[0][2][0] = launches[1][2][0]  # the same input buffer
        return launches, outputs
    assert_equivalent(cpu, [LOCAL_POINTER, COPY], make, fuser=fusion.Fuser(cpu, strict=True))


PASTE = KernelSource("""
#define DO2InputAxis0(x) ((x) * 2.0f + 1.0f)
#define CAT(n, a) DO##n##a
__kernel void paste(__global const float *in, __global float *out)
{
    out[get_global_id(0)] = CAT(2Input, Axis0)(in[get_global_id(0)]);
}
""", "paste", filename="paste.cl")


def test_token_pasting_with_a_preprocessing_number(cpu):
    """`2Input` is one preprocessing number (C11 6.4.8): the pasted DO2InputAxis0 names a macro
    and is expanded again (pcpp left it unexpanded, and the kernel did not parse)."""
    assert "((in[get_global_id(0)]) * 2.0f + 1.0f)" in preprocess(PASTE)
    assert_equivalent(cpu, [PASTE, COPY], _pair_factory(), fuser=fusion.Fuser(cpu, strict=True))


def test_numbers_still_lex_as_numbers():
    kernel = KernelSource("#if 0x10UL > 3 && 2 == 2\n#define OK 1.5e+3f\n#endif\n"
                          "__kernel void k(__global float *o) { o[0] = OK + .5f + 1.f; }", "k")
    assert "o[0] = 1.5e+3f + .5f + 1.f;" in preprocess(kernel)


def test_an_error_inside_a_macro_expansion_points_at_the_invocation():
    source = ("#define BODY(x) out[get_global_id(0)] = x + 1.0f; out[get_global_id(0)] = x +;\n"
              "__kernel void k(__global float *out)\n{\n    float y = 1.0f; BODY(3.0f)\n}\n")
    with pytest.raises(SourceError) as caught:
        fusion.generate([KernelSource(source, "k", filename="macro.cl")], wave_size=8)
    error = caught.value
    assert (error.location.line, error.location.column) == (4, 21)  # at BODY
    assert error.line_text[error.location.column - 1:].startswith("BODY(3.0f)")
    assert "in a macro expansion, near: " in error.message and "= 3.0f +;" in error.message


@pytest.mark.parametrize("flags", [["-w"], ["-Werror"], ["-cl-nv-verbose", "-Wall"]])
def test_diagnostic_flags_never_block_fusion(flags):
    mnn = KernelSource(COPY.source, "copy", ["-cl-mad-enable", *flags], filename="mnn.cl")
    plain = KernelSource(PASTE.source, "paste", ["-cl-mad-enable"], filename="paste.cl")
    program = fusion.generate([mnn, plain], wave_size=8)
    assert program.build_options == ("-cl-mad-enable", *flags)


def test_other_program_flags_still_do():
    fast = KernelSource(COPY.source, "copy", ["-cl-fast-relaxed-math", "-w"], filename="fast.cl")
    with pytest.raises(SourceError, match="different program-wide options "
                                          r"\(-cl-fast-relaxed-math vs none\)"):
        fusion.generate([fast, PASTE], wave_size=8)


QUOTED = KernelSource("__kernel void quoted(__global const float *in, __global float *out)\n"
                      "{ out[get_global_id(0)] = in[get_global_id(0)] * (SCALE); }", "quoted",
                      ['-DSCALE="2.0f + 1.0f"'], filename="quoted.cl")


def test_a_quoted_define_works_fused_and_alone(cpu):
    """`-DSCALE="2.0f + 1.0f"` worked fused (the preprocessor has it) but failed with
    INVALID_BUILD_OPTIONS whenever the kernel was built alone (fallback, sequential, check)."""
    assert QUOTED.options == ("-DSCALE=2.0f + 1.0f",)
    assert_equivalent(cpu, [QUOTED, COPY], _pair_factory(), fuser=fusion.Fuser(cpu, strict=True))
    sequential = fusion.Fuser(cpu).sequential([QUOTED, COPY])
    launches, _ = _pair_factory()(cpu, None)
    assert sequential.bind(launches).launches == 2
