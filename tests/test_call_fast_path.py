"""FusedKernel.__call__ with the launches of the last call (an inference engine's steady state)
launches what it bound then, without checking or converting again; any changed argument (a new
buffer, another value, an array changed in place, other sizes) is bound again."""
import numpy as np
import pyopencl as cl
import pytest

import fusion
from fusion import KernelSource
from fusion.runtime import launcher

A = KernelSource("__kernel void a(__global float *x, const int n)\n{\n"
                 "    const int i = get_global_id(0);\n    if (i < n) x[i] += 1.0f;\n}\n", "a")
B = KernelSource("__kernel void b(__global float *y, const float s)\n{\n"
                 "    y[get_global_id(0)] *= s;\n}\n", "b")


@pytest.fixture
def setup(cpu):
    queue = cl.CommandQueue(cpu)
    fused = fusion.Fuser(cpu).fuse([A, B])

    def buffer(values):
        return cl.Buffer(cpu, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR,
                         hostbuf=np.asarray(values, np.float32))
    return queue, fused, buffer


def read(queue, memory, n=4):
    host = np.empty(n, np.float32)
    cl.enqueue_copy(queue, host, memory)
    return host.tolist()


def test_the_same_launches_are_not_bound_again(setup, monkeypatch):
    queue, fused, buffer = setup
    x, y = buffer([0] * 4), buffer([1] * 4)
    launches = [((4,), None, [x, 4]), ((4,), None, [y, 2.0])]
    fused(queue, launches)
    binds = []
    real = launcher.FusedKernel.bind
    monkeypatch.setattr(launcher.FusedKernel, "bind",
                        lambda self, *a, **k: binds.append(1) or real(self, *a, **k))
    fused(queue, launches)
    fused(queue, [((4,), None, [x, 4]), ((4,), None, [y, 2.0])])  # equal, newly built
    assert binds == []
    assert read(queue, x) == [3.0] * 4 and read(queue, y) == [8.0] * 4


@pytest.mark.parametrize("change", ["buffer", "value", "sizes"])
def test_a_changed_argument_is_bound_again(setup, change):
    queue, fused, buffer = setup
    x, y, z = buffer([0] * 4), buffer([1] * 4), buffer([5] * 4)
    fused(queue, [((4,), None, [x, 4]), ((4,), None, [y, 2.0])])
    if change == "buffer":
        fused(queue, [((4,), None, [x, 4]), ((4,), None, [z, 2.0])])
        assert read(queue, z) == [10.0] * 4 and read(queue, y) == [2.0] * 4
    elif change == "value":
        fused(queue, [((4,), None, [x, 2]), ((4,), None, [y, 3.0])])
        assert read(queue, x) == [2.0, 2.0, 1.0, 1.0] and read(queue, y) == [6.0] * 4
    else:
        fused(queue, [((2,), None, [x, 4]), ((4,), None, [y, 2.0])])
        assert read(queue, x) == [2.0, 2.0, 1.0, 1.0]


V = KernelSource("__kernel void v(__global float *y, const float2 s)\n{\n"
                 "    y[get_global_id(0)] *= s.y;\n}\n", "v")


def test_an_array_changed_in_place_is_a_changed_argument(cpu, setup):
    queue, _, buffer = setup
    fused = fusion.Fuser(cpu).fuse([A, V])
    x, y = buffer([0] * 4), buffer([1] * 4)
    factor = np.array([1.0, 2.0], np.float32)
    launches = [((4,), None, [x, 4]), ((4,), None, [y, factor])]
    fused(queue, launches)
    factor[1] = 5.0
    fused(queue, launches)
    assert read(queue, y) == [10.0] * 4


def test_a_bad_launch_after_a_good_one_is_still_an_error(setup):
    queue, fused, buffer = setup
    x, y = buffer([0] * 4), buffer([1] * 4)
    fused(queue, [((4,), None, [x, 4]), ((4,), None, [y, 2.0])])
    with pytest.raises(fusion.LaunchError):
        fused(queue, [((4,), None, [x]), ((4,), None, [y, 2.0])])
    with pytest.raises(fusion.LaunchError):
        fused(queue, [((4,), None, [x, 4]), "nonsense"])
