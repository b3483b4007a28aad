"""Every operator kernel of the library fuses with every other one (and with itself): for each
pair of kinds, at the library's small example shapes, the fused launch writes exactly (bit for
bit) what the two kernels write launched one after the other. Both layouts.

Expected exception: PoCL miscompiles a kernel holding two sub-kernels with barriers
(fusion.runtime.DeviceQuirks, docs/LIMITS.md). softmax is the library's one barrier kernel, so
on that device softmax + softmax runs as two launches, with a FusionWarning saying why; the
outputs must still match. On other devices (`--platform NVIDIA`) that pair is fused too.
"""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import fusion
from fusion import ops as operators
from fusion.verify.testing import Output, assert_equivalent

#: kinds whose kernels use barriers and local memory (need real work-groups)
BARRIER_KINDS = {"softmax"}

PAIRS = list(itertools.combinations_with_replacement(operators.KINDS, 2))


def pair_factory(kinds, seed=0):
    """A factory for assert_equivalent: both operators built from one seed (so the two runs,
    separate and fused, see the same inputs), their launches and every output."""
    def factory(context, queue):
        rng = np.random.default_rng(seed)
        launches, outputs = [], []
        for index, kind in enumerate(kinds):
            op = operators.make(context, queue, kind, rng, **operators.example_shapes(kind))
            op.reset_outputs(queue)  # NaN everywhere: a pixel left unwritten shows as NaN
            launches.append(op.launch())
            outputs += [Output(index, f"{kind} output {j}", memory)
                        for j, memory in enumerate(op.outputs)]
        return launches, outputs
    return factory


def test_pairs_cover_every_kind():
    assert len(PAIRS) == len(operators.KINDS) * (len(operators.KINDS) + 1) // 2
    assert {kind for pair in PAIRS for kind in pair} == set(operators.KINDS)


def library_kernels(context, kinds) -> list:
    """The KernelSource (file, kernel name, -D options) of each kind at its example shape."""
    import pyopencl as cl
    queue = cl.CommandQueue(context)
    return [operators.make(context, queue, kind, np.random.default_rng(0),
                           **operators.example_shapes(kind)).kernel for kind in kinds]


@pytest.mark.parametrize("layout", ["groups", "wave"])
@pytest.mark.parametrize("kinds", PAIRS, ids=["+".join(pair) for pair in PAIRS])
def test_pair_fuses_bit_identical(cpu, fusers, layout, kinds):
    fuser = fusers[layout]  # strict: raises instead of falling back to separate launches
    kernels = library_kernels(cpu, kinds)
    limit = fuser.quirks.max_barrier_kernels
    if limit is not None and sum(kind in BARRIER_KINDS for kind in kinds) > limit:
        lenient = fusion.Fuser(cpu, layout=layout)
        with pytest.warns(fusion.FusionWarning, match="PoCL miscompiles"):
            assert_equivalent(cpu, kernels, pair_factory(kinds), fuser=lenient)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error", fusion.FusionWarning)
        assert_equivalent(cpu, kernels, pair_factory(kinds), fuser=fuser)
