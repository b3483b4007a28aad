"""The operator library (fusion/operators.py, kernels/*.cl), unfused, on PoCL's CPU device.

Every kind is checked against its numpy reference on random small shapes (hypothesis: batch 1-2,
odd spatial sizes 1..20, channel counts 1..24 that leave partial channel blocks, local sizes that
force padded global sizes). Each example also checks that the kernel wrote every pixel of its
outputs (reset_outputs() fills them with NaN first), that the padding lanes of NC4HW4 outputs are
0, and that a second launch gives bit-identical results.

Tolerance: the operator's own `tolerance`, which is rtol=1e-4, atol=1e-5 for every shape drawn
here (it grows as sqrt(n/256) only for dot products longer than 256 terms).
"""
from __future__ import annotations

import os
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

cl = pytest.importorskip("pyopencl")

from fusion import ops  # noqa: E402
from fusion.ops import KERNELS_DIR, kernel_path  # noqa: E402

EXAMPLES = int(os.environ.get("OPERATOR_TEST_EXAMPLES", "15"))  # per kind; raise it to soak
hyp = settings(max_examples=EXAMPLES, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def cpu(cpu):
    """(context, queue) on the session's device (conftest's `cpu`: the default CPU device)."""
    context = cpu
    queue = cl.CommandQueue(context)
    yield context, queue
    queue.finish()


def check(cpu, kind, seed, **shape):
    """Build, reset, run twice, compare with the reference; returns the operator."""
    context, queue = cpu
    op = ops.make(context, queue, kind, np.random.default_rng(seed), **shape)
    assert op.name == kind
    rtol, atol = op.tolerance
    assert rtol <= 1e-4

    op.reset_outputs(queue)
    op.run(queue).wait()
    got = op.read_outputs(queue)
    raw = op.read_raw_outputs(queue)
    want = op.reference()
    assert len(got) == len(want) == len(op.outputs) >= 1
    for g, w, shape_ in zip(got, want, op.output_shapes):
        assert g.dtype == np.float32 and w.dtype == np.float32
        assert g.shape == w.shape == shape_
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"{kind} {shape}")

    for r, layout, shape_ in zip(raw, op.output_layouts, op.output_shapes):
        assert not np.isnan(r).any(), f"{kind} {shape}: part of an output was never written"
        if layout == "image":  # NC4HW4: lanes past C hold 0, as the next operator expects
            lanes = r.reshape(shape_[0], shape_[2], -1, shape_[3], 4)[:, :, -1, :, shape_[1] % 4:]
            if shape_[1] % 4:
                assert not lanes.any(), f"{kind} {shape}: padding lanes are not 0"

    op.reset_outputs(queue)
    op.run(queue).wait()
    for first, second in zip(raw, op.read_raw_outputs(queue)):
        assert np.array_equal(first, second), f"{kind} {shape}: not deterministic"
    return op


seeds = st.integers(0, 2**32 - 1)
batch = st.integers(1, 2)
spatial = st.integers(1, 20)
channels = st.integers(1, 24)
activations = st.sampled_from([None, "relu", "relu6"])
locals_2d = st.sampled_from([(8, 8), (4, 4), (16, 2), (1, 1)])


# ----------------------------------------------------------------------------------------------
# one test per kind
# ----------------------------------------------------------------------------------------------

@hyp
@given(seed=seeds, n=batch, c=channels, oc=channels, h=spatial, w=spatial,
       stride=st.integers(1, 2), bias=st.booleans(), activation=activations, local=locals_2d)
def test_conv2d_1x1(cpu, seed, **shape):
    check(cpu, "conv2d_1x1", seed, **shape)


@st.composite
def windows(draw, max_kernel=5, dilate=True):
    """kernel, stride, pad, dilation (each an (h, w) pair) and an input size they fit."""
    kernel = (draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilate else (1, 1)
    pad = tuple(draw(st.integers(0, (k - 1) * d)) for k, d in zip(kernel, dilation))
    size = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 20))
                 for k, d, p in zip(kernel, dilation, pad))
    return dict(kernel=kernel, stride=stride, pad=pad, dilation=dilation, h=size[0], w=size[1])


@hyp
@given(seed=seeds, n=batch, c=channels, window=windows(), bias=st.booleans(),
       activation=activations, local=locals_2d)
def test_depthwise_conv2d(cpu, seed, window, **shape):
    check(cpu, "depthwise_conv2d", seed, **window, **shape)


@hyp
@given(seed=seeds, n=batch, c=channels, window=windows(), bias=st.booleans(),
       activation=activations, local=locals_2d)
def test_depthwise_conv2d_3x3_mobilenet_style(cpu, seed, window, **shape):
    """The MobileNet case: square 3x3, pad 1, stride 1 or 2, no dilation."""
    stride = window["stride"][0]
    check(cpu, "depthwise_conv2d", seed, kernel=3, stride=stride, pad=1, dilation=1,
          h=window["h"], w=window["w"], **shape)


@hyp
@given(seed=seeds, n=batch, c=channels, oc=channels, window=windows(max_kernel=3),
       bias=st.booleans(), activation=activations, local=locals_2d)
def test_conv2d(cpu, seed, window, **shape):
    check(cpu, "conv2d", seed, **window, **shape)


@st.composite
def pool_windows(draw):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pad = tuple(draw(st.integers(0, k - 1)) for k in kernel)
    size = tuple(draw(st.integers(max(1, k - 2 * p), 20)) for k, p in zip(kernel, pad))
    return dict(kernel=kernel, stride=stride, pad=pad, h=size[0], w=size[1])


@hyp
@given(seed=seeds, n=batch, c=channels, window=pool_windows(), local=locals_2d)
def test_max_pool(cpu, seed, window, **shape):
    check(cpu, "max_pool", seed, **window, **shape)


@hyp
@given(seed=seeds, n=batch, c=channels, window=pool_windows(), local=locals_2d)
def test_avg_pool(cpu, seed, window, **shape):
    check(cpu, "avg_pool", seed, **window, **shape)


@hyp
@given(seed=seeds, n=batch, c=channels, h=spatial, w=spatial,
       local=st.sampled_from([(16, 1), (4, 2), (1, 1)]))
def test_global_avg_pool(cpu, seed, **shape):
    check(cpu, "global_avg_pool", seed, **shape)


@hyp
@given(seed=seeds, n=batch, c=channels, h=spatial, w=spatial, activation=activations,
       local=locals_2d)
def test_eltwise_add(cpu, seed, **shape):
    check(cpu, "eltwise_add", seed, **shape)


@hyp
@given(seed=seeds, n=batch, c=st.integers(1, 40), h=st.integers(1, 5), w=st.integers(1, 5),
       local=st.sampled_from([1, 2, 4, 8, 16, 32, 64]))
def test_softmax(cpu, seed, **shape):
    op = check(cpu, "softmax", seed, **shape)
    assert op.local_size == (shape["local"], 1, 1)
    assert f"-DLOCAL_SIZE={shape['local']}" in op.kernel.options
    sums = op.read_outputs(cpu[1])[0].sum(axis=1)
    np.testing.assert_allclose(sums, 1.0, rtol=1e-5)


@hyp
@given(seed=seeds, n=batch, c0=channels, c1=channels, h=spatial, w=spatial, local=locals_2d)
def test_concat(cpu, seed, **shape):
    check(cpu, "concat", seed, **shape)


@hyp
@given(seed=seeds, n=st.integers(1, 3), c=st.integers(1, 64), oc=st.integers(1, 40),
       bias=st.booleans(), activation=activations,
       local=st.sampled_from([(16, 1), (4, 4), (1, 1)]))
def test_fully_connected(cpu, seed, **shape):
    check(cpu, "fully_connected", seed, **shape)


@hyp
@given(seed=seeds, n=batch, c=channels, h=st.integers(1, 12), w=st.integers(1, 12),
       out_h=spatial, out_w=spatial, local=locals_2d)
def test_resize_bilinear(cpu, seed, **shape):
    check(cpu, "resize_bilinear", seed, **shape)


@hyp
@given(seed=seeds, n=batch, c=channels, h=spatial, w=spatial, local=locals_2d)
def test_nchw_to_nc4hw4(cpu, seed, **shape):
    op = check(cpu, "nchw_to_nc4hw4", seed, **shape)
    assert np.array_equal(op.read_outputs(cpu[1])[0], op.inputs["input"])  # exact copy


@hyp
@given(seed=seeds, n=batch, c=channels, h=spatial, w=spatial, local=locals_2d)
def test_nc4hw4_to_nchw(cpu, seed, **shape):
    op = check(cpu, "nc4hw4_to_nchw", seed, **shape)
    assert np.array_equal(op.read_outputs(cpu[1])[0], op.inputs["input"])  # exact copy


def test_every_kind_has_a_test():
    tested = {name[len("test_"):] for name in globals() if name.startswith("test_")}
    assert set(ops.KINDS) <= tested


# ----------------------------------------------------------------------------------------------
# the Operator interface
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ops.KINDS)
def test_example_shapes_and_launch(cpu, kind):
    context, queue = cpu
    shape = ops.example_shapes(kind)
    op = check(cpu, kind, 0, **shape)
    global_size, local_size, args = op.launch()
    assert global_size == op.global_size and local_size == op.local_size
    assert len(global_size) == len(local_size) == len(op.real_global_size) in (2, 3)
    for g, l, real in zip(global_size, local_size, op.real_global_size):
        assert g % l == 0 and real <= g < real + l
    # the leading arguments are the real global sizes (GLOBAL_SIZE_n_DIMS)
    assert all(isinstance(a, np.int32) for a in args[:len(global_size)])
    assert tuple(int(a) for a in args[:len(global_size)]) == op.real_global_size
    kernel = op.build()
    assert kernel.num_args == len(args)
    assert kernel.function_name == op.kernel.name
    assert all(any(o is a for a in args) for o in op.outputs)
    assert op.kernel.filename and op.kernel.filename.startswith(str(KERNELS_DIR))
    assert op.flops >= 0
    # the launch tuple is all a launch needs
    kernel(queue, global_size, local_size, *args).wait()
    # reset_outputs really overwrites everything with the garbage pattern
    op.reset_outputs(queue)
    for raw in op.read_raw_outputs(queue):
        assert np.isnan(raw).all()


def test_make_rejects_unknown_kind(cpu):
    with pytest.raises(ValueError, match="unknown operator kind"):
        ops.make(*cpu, "winograd", np.random.default_rng(0), c=1, h=1, w=1)


def test_make_rejects_bad_shapes(cpu):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        ops.make(*cpu, "max_pool", rng, c=3, h=5, w=5, kernel=2, pad=2)  # pad >= kernel
    with pytest.raises(ValueError):
        ops.make(*cpu, "depthwise_conv2d", rng, c=3, h=1, w=1, kernel=5, pad=0)  # no output
    with pytest.raises(ValueError):
        ops.make(*cpu, "softmax", rng, c=3, local=12)  # not a power of two
    with pytest.raises(ValueError):
        ops.make(*cpu, "conv2d_1x1", rng, c=3, oc=3, h=2, w=2, activation="gelu")


def test_softmax_kernel_requires_its_local_size(cpu):
    """softmax_channel's result depends on its work-group size, so it declares it
    (reqd_work_group_size): another local size is refused at enqueue time."""
    context, queue = cpu
    op = ops.make(context, queue, "softmax", np.random.default_rng(0), c=30, h=2, w=2, local=8)
    assert "reqd_work_group_size(LOCAL_SIZE, 1, 1)" in op.kernel.source
    kernel = op.build()
    with pytest.raises(cl.Error):
        kernel(queue, (16, 2, 2), (16, 1, 1), *op.args).wait()


@pytest.mark.parametrize("name", sorted(ops.MOBILENET_V2_LAYERS))
def test_mobilenet_v2_layers(cpu, name):
    context, queue = cpu
    spec = ops.MOBILENET_V2_LAYERS[name]
    assert spec["kind"] in ops.KINDS
    op = ops.make_layer(context, queue, name, np.random.default_rng(1))
    op.run(queue).wait()
    for got, want in zip(op.read_outputs(queue), op.reference()):
        np.testing.assert_allclose(got, want, rtol=op.tolerance[0], atol=op.tolerance[1])


# ----------------------------------------------------------------------------------------------
# packing helpers (numpy only) and kernel sources
# ----------------------------------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(n=batch, c=channels, h=st.integers(1, 6), w=st.integers(1, 6), seed=seeds)
def test_nc4hw4_packing_round_trip(n, c, h, w, seed):
    x = np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(np.float32)
    packed = ops.nchw_to_nc4hw4_image_array(x)
    width, height = ops.image_shape(x.shape)
    assert packed.shape == (height, width, 4) and packed.flags.c_contiguous
    # pixel (cb * W + w, n * H + h) lane i == x[n, 4cb + i, h, w]
    ni, ci, hi, wi = n - 1, c - 1, h - 1, w - 1
    assert packed[ni * h + hi, (ci // 4) * w + wi, ci % 4] == x[ni, ci, hi, wi]
    assert not packed.reshape(n, h, -1, w, 4)[:, :, -1, :, c % 4 or 4:].any()
    assert np.array_equal(ops.nc4hw4_image_array_to_nchw(packed, x.shape), x)


def test_weight_packing_layouts():
    rng = np.random.default_rng(0)
    wt = rng.standard_normal((6, 5, 3, 2)).astype(np.float32)
    img = ops.conv_weights_to_image_array(wt)
    assert img.shape == (2 * 3 * 2, 8, 4)
    # pixel (4*icb + k, (ocb*KH + kh)*KW + kw) lane i = w[4ocb + i, 4icb + k, kh, kw]
    assert img[(1 * 3 + 2) * 2 + 1, 4 * 1 + 0, 1] == wt[5, 4, 2, 1]
    dw = rng.standard_normal((6, 1, 3, 3)).astype(np.float32)
    dimg = ops.depthwise_weights_to_image_array(dw)
    assert dimg.shape == (2, 9, 4) and dimg[1, 2 * 3 + 1, 1] == dw[5, 0, 2, 1]
    fc = rng.standard_normal((6, 5)).astype(np.float32)
    buf = ops.fc_weights_to_buffer_array(fc).reshape(-1, 4)
    assert buf[(1 * 2 + 1) * 4 + 0, 1] == fc[5, 4]
    assert ops.bias_to_image_array(np.arange(5, dtype=np.float32)).shape == (1, 2, 4)


KERNEL_FILES = sorted(p.name for p in KERNELS_DIR.glob("*.cl"))


@pytest.mark.parametrize("filename", KERNEL_FILES)
def test_kernel_source_conventions(cpu, filename):
    text = kernel_path(filename).read_text()
    assert "__constant sampler_t SAMPLER = CLK_NORMALIZED_COORDS_FALSE | CLK_ADDRESS_CLAMP | " \
           "CLK_FILTER_NEAREST;" in text
    assert "#define FLOAT float" in text and "#define FLOAT4 float4" in text
    assert re.search(r"__kernel\s+(__attribute__\(\(.*\)\)\s+)?void \w+\(GLOBAL_SIZE_[23]_DIMS", text)
    assert "DEAL_NON_UNIFORM_DIM" in text
    assert "atomic" not in text and "cl_khr_fp16" not in text  # deterministic, FP32 only
    assert not re.search(r"\bhalf([248]|16)?\s+\w|read_imageh|write_imageh", text)
    context, _ = cpu
    cl.Program(context, text).build(options=["-cl-std=CL1.2", "-Werror"])
