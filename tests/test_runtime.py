"""fusion/runtime.py on the device-test context: the build cache, threads, bind-once launches,
fallback, the baked layout, baked-in integer arguments, and scalar arguments converted to their
parameters' C types."""
import threading

import numpy as np
import pyopencl as cl
import pytest

import fusion
from fusion import KernelSource
from fusion.compiler.constants import bakeable
from fusion.runtime.binding import convert_scalar
from fusion.runtime import Fuser, ProgramCache
from fusion.verify.testing import assert_equivalent

from zoo import ZOO, buffer_in, buffer_out, combined_factory

MF = cl.mem_flags

AFFINE = """
__kernel void affine(__global const int *in, __global int *out, const int k, const int n)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    out[i] = in[i] * k + 3;
}
"""
ACCUMULATE = """
__kernel void accumulate(__global int *total, __global const int *step)
{
    const int i = get_global_id(0);
    total[i] += step[i];
}
"""
AFFINE_K = KernelSource(AFFINE, "affine", filename="affine.cl")
ACCUMULATE_K = KernelSource(ACCUMULATE, "accumulate", filename="accumulate.cl")


def read_ints(queue, buffer):
    host = np.empty(buffer.size // 4, np.int32)
    cl.enqueue_copy(queue, host, buffer)
    queue.finish()
    return host


def affine_launch(context, values, k, global_size=None):
    n = len(values)
    out = cl.Buffer(context, MF.READ_WRITE, 4 * (global_size or n))
    launch = ((global_size or n,), None, [buffer_in(context, np.int32(values)), out, k, n])
    return launch, out


@pytest.fixture(scope="module")
def wave_size(fusers):
    return fusers["groups"].wave_size


# --- the build cache --------------------------------------------------------------------------

def test_second_fuse_of_the_same_kernels_builds_nothing(cpu, wave_size):
    cache = ProgramCache()
    fuser = Fuser(cpu, wave_size=wave_size, cache=cache, strict=True)
    queue = cl.CommandQueue(cpu)
    values = np.arange(40, dtype=np.int32)
    kernels = [AFFINE_K, AFFINE_K]

    def run(fused):
        (a, out_a), (b, out_b) = affine_launch(cpu, values, 2), affine_launch(cpu, values, -1, 48)
        fused(queue, [a, b])
        return read_ints(queue, out_a), read_ints(queue, out_b)[:40]

    first = run(fuser.fuse(kernels))
    assert cache.builds == 1
    second = run(fuser.fuse(kernels))
    assert cache.builds == 1
    np.testing.assert_array_equal(first[0], values * 2 + 3)
    np.testing.assert_array_equal(second[1], values * -1 + 3)
    # Another Fuser sharing the cache finds the program built (same source, options, device).
    run(Fuser(cpu, wave_size=wave_size, cache=cache, strict=True).fuse(kernels))
    assert cache.builds == 1


def test_cache_key_separates_source_and_options(cpu):
    device = cpu.devices[0]
    key = ProgramCache.key
    assert key("a", ["-DX"], device) == key("a", ["-DX"], device)
    assert key("a", ["-DX"], device) != key("b", ["-DX"], device)
    assert key("a", ["-DX"], device) != key("a", ["-DY"], device)
    assert key("a", ["-DX", "-DY"], device) != key("a", ["-DX -DY"], device)


def test_forgetting_a_context_lets_go_of_its_programs(cpu):
    import gc
    import weakref
    cache = ProgramCache()
    context = cl.Context(cpu.devices)
    device = context.devices[0]
    source = "__kernel void k(__global float *x) { x[0] = 1.0f; }"
    program = cache.get(context, device, source, [], "k")
    other = cache.get(cpu, cpu.devices[0], source, [], "k")       # another context's: stays
    assert cache.get(context, device, source, [], "k") is program and cache.builds == 2
    held = weakref.ref(program)
    del program
    gc.collect()
    assert held() is not None                                      # the cache holds it
    cache.forget(context)
    gc.collect()
    assert held() is None and len(cache._programs) == 1            # (and with it the context)
    assert cache.get(cpu, cpu.devices[0], source, [], "k") is other
    cache.get(context, device, source, [], "k")                    # built again
    assert cache.builds == 3


def test_fuser_from_eight_threads_builds_once(cpu, wave_size):
    cache = ProgramCache()
    fuser = Fuser(cpu, wave_size=wave_size, cache=cache, strict=True)
    kernels = [AFFINE_K, ACCUMULATE_K]
    start = threading.Barrier(8)
    results, errors = {}, []

    def worker(index):
        try:
            queue = cl.CommandQueue(cpu)
            values = np.arange(100, dtype=np.int32) * (index + 1)
            launch, out = affine_launch(cpu, values, index)
            total = buffer_in(cpu, np.full(64, index, np.int32))
            step = buffer_in(cpu, np.arange(64, dtype=np.int32))
            start.wait()
            fuser.fuse(kernels)(queue, [launch, ((64,), None, [total, step])])
            results[index] = (values, read_ints(queue, out), read_ints(queue, total))
        except Exception as error:  # reported below, with the thread's index
            errors.append((index, error))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert cache.builds == 1
    for index, (values, out, total) in sorted(results.items()):
        np.testing.assert_array_equal(out, values * index + 3)
        np.testing.assert_array_equal(total, index + np.arange(64))
    assert len(results) == 8


# --- binding once, launching many times -------------------------------------------------------

def test_bind_once_enqueue_many(cpu, fusers):
    fused = fusers["groups"].fuse([ACCUMULATE_K, AFFINE_K])
    queue = cl.CommandQueue(cpu)
    step = np.arange(30, dtype=np.int32)

    def fresh():
        total = buffer_in(cpu, np.zeros(30, np.int32))
        launch, out = affine_launch(cpu, step, 5)
        return total, out, [((30,), None, [total, buffer_in(cpu, step)]), launch]

    bound_total, bound_out, launches = fresh()
    bound = fused.bind(launches)
    assert bound.launches == 1  # one fused launch
    for _ in range(3):
        bound.enqueue(queue)
    called_total, called_out, launches = fresh()
    for _ in range(3):
        fused(queue, launches)
    np.testing.assert_array_equal(read_ints(queue, bound_total), 3 * step)
    np.testing.assert_array_equal(read_ints(queue, bound_total), read_ints(queue, called_total))
    np.testing.assert_array_equal(read_ints(queue, bound_out), step * 5 + 3)
    np.testing.assert_array_equal(read_ints(queue, bound_out), read_ints(queue, called_out))


def test_bound_launch_keeps_its_arguments(cpu, fusers):
    """A BoundLaunch owns its kernel: a later call with other arguments does not change it."""
    fused = fusers["groups"].fuse([AFFINE_K, AFFINE_K])
    queue = cl.CommandQueue(cpu)
    values = np.arange(10, dtype=np.int32)
    (a, out_a), (b, out_b) = affine_launch(cpu, values, 2), affine_launch(cpu, values, 3)
    bound = fused.bind([a, b])
    (c, out_c), (d, out_d) = affine_launch(cpu, values, 7), affine_launch(cpu, values, 8)
    fused(queue, [c, d])
    bound.enqueue(queue)
    np.testing.assert_array_equal(read_ints(queue, out_a), values * 2 + 3)
    np.testing.assert_array_equal(read_ints(queue, out_b), values * 3 + 3)
    np.testing.assert_array_equal(read_ints(queue, out_d), values * 8 + 3)


# --- fallback -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lenient(cpu, wave_size):
    return Fuser(cpu, wave_size=wave_size, strict=False)


def test_fallback_for_other_program_flags_warns_and_is_correct(cpu, lenient):
    flagged = KernelSource(AFFINE, "affine", ["-cl-fast-relaxed-math"], filename="fast.cl")
    fused = lenient.fuse([AFFINE_K, ACCUMULATE_K, flagged])
    queue = cl.CommandQueue(cpu)
    values = np.arange(-5, 20, dtype=np.int32)
    (a, out_a), (c, out_c) = affine_launch(cpu, values, 4), affine_launch(cpu, values, -2)
    total = buffer_in(cpu, np.ones(8, np.int32))
    with pytest.warns(fusion.FusionWarning) as caught:
        bound = fused.bind([a, ((8,), None, [total, buffer_in(cpu, np.arange(8, dtype=np.int32))]), c])
    # (a device compiler may add its own CompilerWarnings: only fusion's are compared)
    messages = [str(w.message) for w in caught if issubclass(w.category, fusion.FusionWarning)]
    assert messages == [
        "kernel 'affine' runs on its own, not fused: fast.cl:2:15: sub-kernels 'affine' and "
        "'affine' were built with different program-wide options (none vs "
        "-cl-fast-relaxed-math); they apply to the whole fused program, so these kernels "
        "cannot be fused (they differ only in permissions: flags='strictest' fuses them, built "
        "without the permissions)"]
    assert bound.launches == 2  # the two that agree, fused; the other alone
    bound.enqueue(queue)
    np.testing.assert_array_equal(read_ints(queue, out_a), values * 4 + 3)
    np.testing.assert_array_equal(read_ints(queue, out_c), values * -2 + 3)
    np.testing.assert_array_equal(read_ints(queue, total), 1 + np.arange(8))


def test_fallback_for_an_unsupported_construct_warns_and_is_correct(cpu, lenient):
    # A `pf_` identifier is fine OpenCL C, but reserved for fused code: the kernel runs alone.
    source = ("__kernel void twice(__global int *out)\n{\n    const int pf_factor = 2;\n"
              "    out[get_global_id(0)] = (int)get_global_id(0) * pf_factor;\n}\n")
    twice = KernelSource(source, "twice", filename="twice.cl")
    fused = lenient.fuse([twice, AFFINE_K, ACCUMULATE_K])
    queue = cl.CommandQueue(cpu)
    out = cl.Buffer(cpu, MF.READ_WRITE, 4 * 12)
    values = np.arange(12, dtype=np.int32)
    launch, out_a = affine_launch(cpu, values, 9)
    total = buffer_in(cpu, np.zeros(5, np.int32))
    with pytest.warns(fusion.FusionWarning) as caught:
        fused(queue, [((12,), None, [out]), launch,
                      ((5,), None, [total, buffer_in(cpu, np.arange(5, dtype=np.int32))])])
    assert [str(w.message).split("\n")[0] for w in caught
            if issubclass(w.category, fusion.FusionWarning)] == [
        "kernel 'twice' runs on its own, not fused: twice.cl:3:15: the identifier 'pf_factor' "
        "uses the prefix 'pf_' reserved for fused code"]
    np.testing.assert_array_equal(read_ints(queue, out), values * 2)
    np.testing.assert_array_equal(read_ints(queue, out_a), values * 9 + 3)
    np.testing.assert_array_equal(read_ints(queue, total), np.arange(5))


def test_a_single_kernel_left_runs_alone_with_a_warning(cpu, lenient):
    fused = lenient.fuse([AFFINE_K])
    queue = cl.CommandQueue(cpu)
    values = np.arange(7, dtype=np.int32)
    launch, out = affine_launch(cpu, values, 6)
    with pytest.warns(fusion.FusionWarning, match="kernel 'affine' runs on its own, not fused: "
                                                  "it is the only kernel left to fuse"):
        fused(queue, [launch])
    np.testing.assert_array_equal(read_ints(queue, out), values * 6 + 3)


def test_a_fused_work_group_past_the_built_kernel_limit_runs_alone(cpu, lenient, monkeypatch):
    # On NVIDIA a fused kernel's registers can bound its work-groups below the device's maximum
    # (a launch past CL_KERNEL_WORK_GROUP_SIZE fails with OUT_OF_RESOURCES): the group then
    # runs its kernels one by one. The CPU's limit is high, so it is lowered here to 8.
    from fusion.runtime import devices, launcher

    class Limited:                  # the built kernel as a device with a limit of 8 sees it
        def __init__(self, kernel):
            self.function_name = kernel.function_name

        def get_work_group_info(self, param, device):
            assert param == cl.kernel_work_group_info.WORK_GROUP_SIZE
            return 8
    monkeypatch.setattr(launcher, "check_work_group_size",
                        lambda kernel, device, local: devices.check_work_group_size(
                            Limited(kernel), device, local))
    queue = cl.CommandQueue(cpu)
    values = np.arange(48, dtype=np.int32)
    (a, out_a), (b, out_b) = affine_launch(cpu, values, 5), affine_launch(cpu, values, -7)
    a, b = ((48,), (16,), a[2]), ((48,), (8,), b[2])
    with pytest.warns(fusion.FusionWarning, match=r"runs work-groups of at most 8 work-items on "
                                                  r".*, not the \d+ its layout needs"):
        bound = lenient.fuse([AFFINE_K, AFFINE_K]).bind([a, b])
    assert bound.launches == 2
    bound.enqueue(queue)
    np.testing.assert_array_equal(read_ints(queue, out_a), values * 5 + 3)
    np.testing.assert_array_equal(read_ints(queue, out_b), values * -7 + 3)


def test_check_work_group_size_against_a_real_kernel(cpu):
    from fusion.errors import DeviceLimitError
    from fusion.runtime.devices import check_work_group_size
    kernel = cl.Kernel(cl.Program(cpu, AFFINE).build(), "affine")
    device = cpu.devices[0]
    limit = kernel.get_work_group_info(cl.kernel_work_group_info.WORK_GROUP_SIZE, device)
    check_work_group_size(kernel, device, (limit,))
    check_work_group_size(kernel, device, None)
    with pytest.raises(DeviceLimitError, match=f"at most {limit} work-items"):
        check_work_group_size(kernel, device, (limit, 2))


def test_fallback_for_barrier_kernels_is_bit_identical(cpu, lenient):
    members = [ZOO["reduce"], ZOO["transpose"], ZOO["scale"]]
    shapes = [(3, 40), ((8, 12), (7, 10)), ((50,), 44)]
    # wave layout: reduce (16,) and transpose (4, 4) cannot share one local size.
    wave = Fuser(cpu, wave_size=lenient.wave_size, layout="wave")
    with pytest.warns(fusion.FusionWarning, match="cannot share a launch"):
        assert_equivalent(cpu, [m.kernel for m in members], combined_factory(members, shapes, 11),
                          fuser=wave)


# --- baked layout -------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["groups", "wave"])
def test_baked_layout_gives_identical_results(cpu, fusers, layout):
    members = [ZOO["scale"], ZOO["ids"], ZOO["cube"]]
    shapes = [((45,), 37), ((12, 6), (4, 2)), ((4, 6, 2), (2, 2, 1))]
    baked = Fuser(cpu, wave_size=fusers[layout].wave_size, layout=layout, bake_layout=True,
                  strict=True)
    factory = combined_factory(members, shapes, 3)
    assert_equivalent(cpu, [m.kernel for m in members], factory, fuser=baked)
    assert_equivalent(cpu, [m.kernel for m in members], factory, fuser=fusers[layout])
    # Baked: no layout arguments are bound, only the sub-kernels' own.
    launches, _ = factory(cpu, None)
    own = sum(len(launch[2]) for launch in launches)
    baked_step, = baked.fuse([m.kernel for m in members]).bind(launches).steps
    plain_step, = fusers[layout].fuse([m.kernel for m in members]).bind(launches).steps
    assert len(baked_step.args) == own
    assert len(plain_step.args) == own + len(members)


def test_baked_layout_builds_one_program_per_shape(cpu, wave_size):
    cache = ProgramCache()
    baked = Fuser(cpu, wave_size=wave_size, bake_layout=True, cache=cache, strict=True)
    fused = baked.fuse([AFFINE_K, AFFINE_K])
    queue = cl.CommandQueue(cpu)
    for n in (10, 20, 10):
        values = np.arange(n, dtype=np.int32)
        (a, out_a), (b, out_b) = affine_launch(cpu, values, 1), affine_launch(cpu, values, 2)
        fused(queue, [a, b])
        np.testing.assert_array_equal(read_ints(queue, out_b), values * 2 + 3)
    assert cache.builds == 2


# --- scalar arguments ---------------------------------------------------------------------------

SCALARS = """
__kernel void scalars(__global int *ints, __global uint *uints, __global float *floats,
                      char c, short s, uint u, float f, int2 v, uchar b, ushort w)
{
    ints[0] = c; ints[1] = s; ints[2] = v.x; ints[3] = v.y; ints[4] = b; ints[5] = w;
    uints[0] = u;
    floats[0] = f;
}
"""
SCALARS_K = KernelSource(SCALARS, "scalars", filename="scalars.cl")


def test_scalar_arguments_reach_the_kernel_in_their_c_types(cpu, fusers):
    fused = fusers["groups"].fuse([SCALARS_K, SCALARS_K])
    queue = cl.CommandQueue(cpu)
    outputs = []
    launches = []
    for scalars in ((-5, -300, 4_000_000_000, 1.5, (7, -8), 255, 65535),
                    (np.int8(127), 32767, np.uint32(1), np.float32(-0.25), np.array([1, 2]), 0, 1)):
        ints, uints = buffer_out(cpu, 6, np.int32), buffer_out(cpu, 1, np.uint32)
        floats = buffer_out(cpu, 1)
        outputs.append((ints, uints, floats))
        launches.append(((1,), None, [ints, uints, floats, *scalars]))
    fused(queue, launches)
    expected = [([-5, -300, 7, -8, 255, 65535], 4_000_000_000, 1.5),
                ([127, 32767, 1, 2, 0, 1], 1, -0.25)]
    for (ints, uints, floats), (want_ints, want_uint, want_float) in zip(outputs, expected):
        assert read_ints(queue, ints).tolist() == want_ints
        host = np.empty(1, np.uint32)
        cl.enqueue_copy(queue, host, uints)
        assert int(host[0]) == want_uint
        host = np.empty(1, np.float32)
        cl.enqueue_copy(queue, host, floats)
        queue.finish()
        assert float(host[0]) == want_float


# --- integer arguments baked in -----------------------------------------------------------------

def test_baked_arguments_give_identical_results(cpu, wave_size):
    members = [ZOO["scale"], ZOO["ids"], ZOO["cube"], ZOO["misc"]]
    shapes = [((45,), 37), ((12, 6), (4, 2)), ((4, 6, 2), (2, 2, 1)), ((16,), (4,))]
    baked = Fuser(cpu, wave_size=wave_size, bake_layout=True, bake_arguments=True, strict=True)
    factory = combined_factory(members, shapes, 5)
    kernels = [m.kernel for m in members]
    assert_equivalent(cpu, kernels, factory, fuser=baked)
    # only the arguments of parameters that are not integers are still passed
    launches, _ = factory(cpu, None)
    fused = baked.fuse(kernels)
    step, = fused.bind(launches).steps
    kept = [p for parsed in fused.parsed for p in parsed.parameters if not bakeable(p)]
    assert len(step.args) == len(kept) < sum(len(launch[2]) for launch in launches)


def test_baked_scalars_reach_the_kernel_as_their_values(cpu, wave_size):
    """The scalar test above with its integers baked in (the float stays an argument)."""
    baked = Fuser(cpu, wave_size=wave_size, bake_arguments=True, strict=True)
    queue = cl.CommandQueue(cpu)
    ints, uints, floats = buffer_out(cpu, 6, np.int32), buffer_out(cpu, 1, np.uint32), \
        buffer_out(cpu, 1)
    other = [buffer_out(cpu, 6, np.int32), buffer_out(cpu, 1, np.uint32), buffer_out(cpu, 1)]
    launches = [((1,), None, [ints, uints, floats, -128, -32768, 4_000_000_000, 1.5, (7, -8),
                              255, 65535]),
                ((1,), None, [*other, 0, 0, 0, 0.0, (0, 0), 0, 0])]
    bound = baked.fuse([SCALARS_K, SCALARS_K]).bind(launches)
    assert len(bound.steps[0].args) == 2 * (1 + 4)   # each one's layout, buffers and float
    bound.enqueue(queue)
    assert read_ints(queue, ints).tolist() == [-128, -32768, 7, -8, 255, 65535]
    host = np.empty(1, np.uint32)
    cl.enqueue_copy(queue, host, uints)
    assert int(host[0]) == 4_000_000_000
    cl.enqueue_copy(queue, host.view(np.float32), floats)
    queue.finish()
    assert float(host.view(np.float32)[0]) == 1.5


def test_baked_arguments_build_one_program_per_value(cpu, wave_size):
    cache = ProgramCache()
    baked = Fuser(cpu, wave_size=wave_size, bake_arguments=True, cache=cache, strict=True)
    fused = baked.fuse([AFFINE_K, AFFINE_K])
    queue = cl.CommandQueue(cpu)
    for n, k in ((10, 2), (10, 3), (10, 2)):
        values = np.arange(n, dtype=np.int32)
        (a, out_a), (b, out_b) = affine_launch(cpu, values, 1), affine_launch(cpu, values, k)
        fused(queue, [a, b])
        np.testing.assert_array_equal(read_ints(queue, out_a), values + 3)
        np.testing.assert_array_equal(read_ints(queue, out_b), values * k + 3)
    assert cache.builds == 2   # k = 2 and k = 3; the third launch is the first's binary


@pytest.mark.parametrize("c_type, value, dtype, expected", [
    ("char", -5, np.int8, -5),
    ("short", 300, np.int16, 300),
    ("uint", 4_000_000_000, np.uint32, 4_000_000_000),
    ("unsigned int", 7, np.uint32, 7),
    ("float", 1, np.float32, 1.0),
    ("const float", 0.1, np.float32, np.float32(0.1)),
    ("half", 0.5, np.float16, 0.5),
    ("long", -2**40, np.int64, -2**40),
    ("int", 3.0, np.int32, 3),        # an integral float is accepted
])
def test_convert_scalar(c_type, value, dtype, expected):
    converted = convert_scalar("here", c_type, value)
    assert converted.dtype == np.dtype(dtype)
    assert converted == expected


def test_convert_vector():
    converted = convert_scalar("here", "int2", (7, -8))
    assert converted.dtype == cl.cltypes.int2
    assert (int(converted["x"]), int(converted["y"])) == (7, -8)
    wide = convert_scalar("here", "float8", range(8))
    assert [float(wide[f"s{i}"]) for i in range(8)] == list(map(float, range(8)))


@pytest.mark.parametrize("c_type, value, message", [
    ("char", 128, "here: 128 does not fit in char [-128, 127]"),
    ("uint", -1, "here: -1 does not fit in uint [0, 4294967295]"),
    ("short", 1.5, "here expects an integer (short), got 1.5"),
    ("int2", (1,), "here expects 2 values for int2, got (1,)"),
    ("float", "1", "here expects a number (float), got str"),
    ("float", 1j, "here expects a real number (float), got 1j"),
])
def test_convert_scalar_refuses(c_type, value, message):
    with pytest.raises(fusion.LaunchError) as caught:
        convert_scalar("here", c_type, value)
    assert str(caught.value) == message


def test_the_same_kernel_run_alone_twice_keeps_each_launch_arguments(cpu):
    """Regression: two launches of one kernel that both fall back to separate launches share a
    cl.Kernel; each must be enqueued with its own arguments (found by the property test)."""
    import warnings

    import fusion
    from fusion.verify.testing import assert_equivalent
    from zoo import ZOO, combined_factory
    members = [ZOO["reduce"], ZOO["reduce"]]
    fuser = fusion.Fuser(cpu, layout="wave")
    fuser.fuse([m.kernel for m in members])._excluded.update({0: "test", 1: "test"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fusion.FusionWarning)
        assert_equivalent(cpu, [m.kernel for m in members],
                          combined_factory(members, [(2, 20), (3, 40)], 1), fuser=fuser)
