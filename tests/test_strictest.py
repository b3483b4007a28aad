"""flags="strictest" (issue 9): kernels whose program-wide flags differ only in permissions
(-cl-mad-enable, -cl-fast-relaxed-math, ...) fuse, built with only the permissions all of them
grant; the kernel that granted more is then computed more exactly than alone, and the check
compares its outputs within a documented ULP tolerance. The default stays exact."""
import numpy as np
import pyopencl as cl
import pytest

import fusion
from fusion import KernelSource, SourceError
from fusion.verify.testing import (STRICTEST_ULPS, EquivalenceError, Output,
                                   check_on_device, first_difference)

# a*b + c with values whose product is not exact in float: mad/fma changes the low bits
MAD = KernelSource("__kernel void axpy(__global const float *a, __global float *o)\n{\n"
                   "    const int i = get_global_id(0);\n"
                   "    o[i] = a[i] * 1.1f + a[i] * 0.3f + 0.7f;\n}\n", "axpy",
                   ["-cl-mad-enable"], filename="axpy.cl")
FAST = KernelSource(MAD.source, "axpy", ["-cl-fast-relaxed-math"], filename="fast.cl")
PLAIN = KernelSource("__kernel void count(__global int *o)\n{\n"
                     "    o[get_global_id(0)] = (int)get_global_id(0) * 3;\n}\n", "count",
                     filename="count.cl")


def make_factory(kernels):
    def make(context, queue):
        rng = np.random.default_rng(3)
        launches, outputs = [], []
        for index, kernel in enumerate(kernels):
            if kernel.name == "axpy":
                a = rng.uniform(-10, 10, 256).astype(np.float32)
                src = cl.Buffer(context, cl.mem_flags.READ_ONLY | cl.mem_flags.COPY_HOST_PTR, hostbuf=a)
                out = cl.Buffer(context, cl.mem_flags.READ_WRITE, 256 * 4)
                launches.append(((256,), None, [src, out]))
                outputs.append(Output(index, "o", out, np.dtype(np.float32)))
            else:
                out = cl.Buffer(context, cl.mem_flags.READ_WRITE, 256 * 4)
                launches.append(((256,), None, [out]))
                outputs.append(Output(index, "o", out, np.dtype(np.int32)))
        return launches, outputs
    return make


def test_exact_is_the_default_and_refuses_with_a_hint():
    with pytest.raises(SourceError, match="flags='strictest' fuses them"):
        fusion.generate([PLAIN, MAD], wave_size=8)


def test_strictest_builds_with_only_the_permissions_all_grant():
    program = fusion.generate([PLAIN, MAD, FAST], wave_size=8, flags="strictest")
    assert program.build_options == ()
    dropped = [s["dropped_permissions"] for s in program.manifest["sub_kernels"]]
    assert dropped[0] == [] and dropped[1] == ["-cl-mad-enable"]
    assert dropped[2] == ["-cl-fast-relaxed-math", "-cl-finite-math-only", "-cl-mad-enable",
                          "-cl-no-signed-zeros", "-cl-unsafe-math-optimizations"]
    both = fusion.generate([MAD, FAST], wave_size=8, flags="strictest")
    assert both.build_options == ("-cl-mad-enable",)  # granted by both (fast-relaxed implies it)
    assert program.manifest["flags"] == "strictest"
    other = KernelSource(PLAIN.source, "count", ["-cl-std=CL2.0"], filename="c.cl")
    with pytest.raises(SourceError, match="-cl-std=CL2.0"):  # not a permission: still refused
        fusion.generate([other, MAD], wave_size=8, flags="strictest")
    with pytest.raises(fusion.FusionError, match="unknown flags policy 'loose'"):
        fusion.generate([PLAIN], wave_size=8, flags="loose")


def test_strictest_fuses_them_at_run_time_and_checks_within_the_tolerance(cpu):
    kernels = [PLAIN, MAD, FAST]
    result = check_on_device(cpu, kernels, make_factory(kernels),
                             fuser=fusion.Fuser(cpu, flags="strictest"))
    assert result.launches == 1 and not result.alone and result.tolerant == (1, 2)
    # the exact Fuser runs the permission kernels alone instead
    exact = check_on_device(cpu, kernels, make_factory(kernels), fuser=fusion.Fuser(cpu))
    assert exact.launches > 1


def test_strictest_under_oclgrind(oclgrind):
    context, log = oclgrind
    kernels = [PLAIN, MAD, FAST]
    result = check_on_device(context, kernels, make_factory(kernels), log=log,
                             fuser=fusion.Fuser(context, flags="strictest"))
    assert result.launches == 1


def test_the_tolerance_is_what_the_docs_say():
    one = np.float32(1.0)
    near = np.array([one + np.spacing(one) * STRICTEST_ULPS], np.float32)
    far = np.array([one + np.spacing(one) * (STRICTEST_ULPS + 4)], np.float32)
    assert first_difference(np.array([one]), near, ulps=STRICTEST_ULPS) is None
    assert first_difference(np.array([one]), far, ulps=STRICTEST_ULPS) is not None
    assert first_difference(np.array([one]), near) is not None  # exact by default
    assert first_difference(np.array([0.0], np.float32), np.array([-0.0], np.float32), ulps=1) is None
    assert first_difference(np.array([1, 2]), np.array([1, 3]), ulps=99) == (1, 2, 3)


def test_the_tolerance_is_what_lets_the_relaxed_kernel_pass(cpu):
    """On Intel's CPU runtime -cl-fast-relaxed-math computes axpy 1 ULP away from the exact
    build (9.135685920715332 alone, 9.135684967041016 fused): bit equality reports it, the
    default tolerance accepts it, and the exact kernel of the group stays bit for bit."""
    kernels = [PLAIN, FAST]
    if "Intel" not in cpu.devices[0].platform.name:
        pytest.skip("measured on Intel's CPU runtime (another device may compute both alike)")
    fuser = fusion.Fuser(cpu, flags="strictest")
    with pytest.raises(EquivalenceError, match=r"sub-kernel 1 'axpy' \(fast.cl\)"):
        check_on_device(cpu, kernels, make_factory(kernels), fuser=fuser, tolerance_ulps=0)
    check_on_device(cpu, kernels, make_factory(kernels), fuser=fuser)
