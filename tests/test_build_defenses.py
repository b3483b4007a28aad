"""Defences against device compilers that misbehave (issue 9): a build that succeeds but hands
back a program without the kernel (PoCL 3.0, from its cache, on a second build of a source) is
built once more with no cache in the way, else a BuildError that says so; an enqueue the device
refuses is a DeviceError that says how far the group got. No raw pyopencl error reaches the
caller of the public API."""
import numpy as np
import pyopencl as cl
import pytest

import fusion
from fusion import BuildError, DeviceError, KernelSource
from fusion.runtime import cache as cache_module
from fusion.runtime.cache import ProgramCache, build_alone

SOURCE = ("__kernel void twice(__global float *x)\n{\n"
          "    x[get_global_id(0)] *= 2.0f;\n}\n")
KERNEL = KernelSource(SOURCE, "twice", filename="twice.cl")
NO_KERNELS = "float helper(float x) { return x; }\n"


@pytest.fixture
def lost_kernels(monkeypatch):
    """The device compiler of the defect: the first `bad` builds return a program without
    kernels (built from another source), later ones the real program."""
    real = cache_module._compile
    calls = {"bad": 0, "builds": 0}

    def compile_(context, device, source, options, cache_dir=None):
        calls["builds"] += 1
        if calls["builds"] <= calls["bad"]:
            return real(context, device, NO_KERNELS, options, cache_dir=cache_dir)
        return real(context, device, source, options, cache_dir=cache_dir)
    monkeypatch.setattr(cache_module, "_compile", compile_)
    return calls


def test_a_program_without_its_kernel_is_built_again(cpu, lost_kernels):
    lost_kernels["bad"] = 1
    cache = ProgramCache()
    kernel = build_alone(cpu, cpu.devices[0], KERNEL, cache)
    assert kernel.function_name == "twice"
    assert (cache.builds, cache.rebuilds, lost_kernels["builds"]) == (2, 1, 2)


def test_a_kernel_lost_twice_is_a_build_error(cpu, lost_kernels):
    lost_kernels["bad"] = 99
    with pytest.raises(BuildError) as caught:
        build_alone(cpu, cpu.devices[0], KERNEL, ProgramCache())
    assert caught.value.kernel_name == "twice"
    assert str(caught.value).startswith("twice.cl: the OpenCL compiler lost kernel 'twice'")
    assert ("the build succeeded but the program holds no kernel 'twice', also when built again "
            "without any cache") in caught.value.log


def test_the_fuser_never_lets_a_raw_pyopencl_error_out(cpu, lost_kernels):
    """Fused build and fallback both lose the kernel: the launch raises BuildError (before the
    defence, cl.LogicError: clCreateKernel failed: INVALID_KERNEL_NAME)."""
    fuser = fusion.Fuser(cpu, cache=ProgramCache())  # its wave-size probe builds fine
    lost_kernels["bad"] = 99
    queue = cl.CommandQueue(cpu)
    data = cl.Buffer(cpu, cl.mem_flags.READ_WRITE, 64 * 4)
    with pytest.warns(fusion.FusionWarning, match="lost the fused kernel"):
        with pytest.raises(BuildError):
            fuser.fuse([KERNEL, KERNEL])(queue, [((64,), None, [data]), ((64,), None, [data])])


def test_an_enqueue_the_device_refuses_is_a_device_error(cpu, monkeypatch):
    fuser = fusion.Fuser(cpu)
    queue = cl.CommandQueue(cpu)
    host = np.ones(64, np.float32)
    data = cl.Buffer(cpu, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR, hostbuf=host)
    bound = fuser.fuse([KERNEL]).bind([((64,), None, [data])])

    def refuse(*args, **kwargs):
        raise cl.RuntimeError("clEnqueueNDRangeKernel failed: OUT_OF_RESOURCES")
    monkeypatch.setattr(cl, "enqueue_nd_range_kernel", refuse)
    with pytest.raises(DeviceError) as caught:
        bound.enqueue(queue)
    assert "the device refused launch 1 of 1 ('twice'" in str(caught.value)
    assert "OUT_OF_RESOURCES; 0 launch(es) of this group were enqueued before it" in str(caught.value)
