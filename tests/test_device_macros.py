"""Macros the device's OpenCL compiler defines (__OPENCL_C_VERSION__, __FAST_RELAXED_MATH__,
cl_khr_fp64, ...). Fusion preprocesses each sub-kernel itself; it treated them all as undefined,
so a kernel that tests one took another branch fused than alone, silently (below: alone 1.0,
fused 2.0). Now those its options decide are defined from its options, the runtime asks the
device for the others, and ahead of time a kernel that tests one nobody gave is refused at the
conditional."""
import numpy as np
import pyopencl as cl
import pytest

import fusion
from fusion import KernelSource
from fusion.compiler.source import DeviceMacroError
from fusion.runtime.devices import device_macros
from fusion.verify.testing import Output, check_on_device

SOURCE = """__kernel void probe(__global float *o)
{
#ifdef __FAST_RELAXED_MATH__
    o[0] = 1.0f;
#else
    o[0] = 2.0f;
#endif
#if defined(__OPENCL_C_VERSION__) && __OPENCL_C_VERSION__ >= 200
    o[1] = 3.0f;
#else
    o[1] = 4.0f;
#endif
#ifdef cl_khr_fp64
    o[2] = 5.0f;
#endif
#ifndef cl_no_such_extension
    o[3] = 6.0f;
#endif
    o[4] = (float)__OPENCL_VERSION__;
}
"""
OTHER = KernelSource("__kernel void other(__global float *o)\n{\n    o[get_global_id(0)] = 7.0f;\n}\n",
                     "other", filename="other.cl")


def probe(options=()):
    return KernelSource(SOURCE, "probe", options, filename="probe.cl")


def test_ahead_of_time_a_device_macro_nobody_gave_is_refused_at_its_conditional():
    with pytest.raises(DeviceMacroError) as caught:
        fusion.generate([probe(), OTHER], wave_size=8)
    error = caught.value
    assert isinstance(error, fusion.UnsupportedError)
    assert (error.location.file, error.location.line) == ("probe.cl", 8)
    assert "tests '__OPENCL_C_VERSION__', which the device's OpenCL compiler defines" in error.message
    assert error.line_text == "#if defined(__OPENCL_C_VERSION__) && __OPENCL_C_VERSION__ >= 200"


def test_macros_that_the_options_decide_need_no_device():
    only_fast = KernelSource("__kernel void k(__global float *o)\n{\n#ifdef __FAST_RELAXED_MATH__\n"
                             "    o[0] = 1.0f;\n#else\n    o[0] = 2.0f;\n#endif\n}\n", "k")
    fast = fusion.generate([KernelSource(only_fast.source, "k", ["-cl-fast-relaxed-math"])],
                           wave_size=8).source
    exact = fusion.generate([only_fast], wave_size=8).source
    assert "o[0] = 1.0f;" in fast and "2.0f" not in fast
    assert "o[0] = 2.0f;" in exact and "1.0f" not in exact
    cl2 = fusion.generate([probe(["-cl-std=CL2.0"])], wave_size=8,
                          device_macros={"__OPENCL_VERSION__": "300"})
    assert "o[1] = 3.0f;" in cl2.source  # -cl-std=CL2.0 decides __OPENCL_C_VERSION__


def test_ahead_of_time_with_the_targets_macros():
    program = fusion.generate([probe(), OTHER], wave_size=8,
                              device_macros={"__OPENCL_VERSION__": "120", "cl_khr_fp64": "1",
                                             "__OPENCL_C_VERSION__": "120"})
    assert program.manifest["device_macros"] == {"__OPENCL_C_VERSION__": "120",
                                                 "__OPENCL_VERSION__": "120", "cl_khr_fp64": "1"}
    for line in ("o[0] = 2.0f;", "o[1] = 4.0f;", "o[2] = 5.0f;", "o[3] = 6.0f;",
                 "o[4] = (float) 120;"):
        assert line in program.source
    assert fusion.generate([OTHER], wave_size=8).manifest["device_macros"] is None


def test_the_command_line_takes_the_targets_macros(tmp_path, capsys):
    from fusion.cli import main
    (tmp_path / "probe.cl").write_text(SOURCE)
    assert main(["generate", "-k", f"{tmp_path}/probe.cl:probe", "--device-macro",
                 "__OPENCL_VERSION__=300", "--device-macro", "__OPENCL_C_VERSION__=300",
                 "--device-macro", "cl_khr_fp64"]) == 0
    out = capsys.readouterr().out
    assert "o[1] = 3.0f;" in out and "o[2] = 5.0f;" in out and "o[4] = (float) 300;" in out


def test_the_device_is_asked(cpu):
    macros = dict(device_macros(cpu, cpu.devices[0]))
    version = cpu.devices[0].version.split()[1]  # "OpenCL 3.0 ..."
    major, minor = version.split(".")[:2]
    assert macros["__OPENCL_VERSION__"] == str(int(major) * 100 + int(minor) * 10)
    assert ("cl_khr_fp64" in macros) == ("cl_khr_fp64" in cpu.devices[0].extensions.split())
    assert "__FAST_RELAXED_MATH__" not in macros
    assert dict(device_macros(cpu, cpu.devices[0], ["-cl-std=CL2.0"]))["__OPENCL_C_VERSION__"] == "200"


@pytest.mark.parametrize("options", [(), ("-cl-fast-relaxed-math",), ("-cl-std=CL2.0",)])
def test_fused_at_run_time_the_kernel_takes_the_branches_it_takes_alone(cpu, options):
    """Before: fused 2.0 where alone 1.0 (with -cl-fast-relaxed-math), 4.0 for 3.0, ..."""
    kernels = [probe(options), KernelSource(OTHER.source, "other", options, filename="other.cl")]

    def make(context, queue):
        buffers = [cl.Buffer(context, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR,
                             hostbuf=np.zeros(8, np.float32)) for _ in kernels]
        launches = [((1,), None, [buffers[0]]), ((8,), None, [buffers[1]])]
        return launches, [Output(i, "o", b, np.dtype(np.float32)) for i, b in enumerate(buffers)]
    result = check_on_device(cpu, kernels, make, fuser=fusion.Fuser(cpu, strict=True))
    assert result.launches == 1 and not result.alone
