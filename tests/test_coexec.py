"""Splitting one operator between two devices (fusion.execute.coexec): the slices' output
regions, the ratio choice, and on real devices the split outputs against each device's own
result — one device as two sub-devices of one context (Intel's CPU runtime: device copy, and
fine-grained SVM for a buffer output), and two platforms (Intel + PoCL: pinned host staging)."""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusion.errors import FusionError
from fusion.ops import slices
from fusion.ops.tensors import channel_blocks
from fusion.plan.split import GRID, choose, predicted_us, units_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- pure: where a slice writes ---------------------------------------------------------------

def _written_by_items(kind, params, dim, lo, hi, out_shape):
    """The output pixels the kernels' items [lo, hi) along `dim` write, item by item, as the
    kernels compute them (conv-like: four columns from block * W + 4 * wb; FC: pixel x, y)."""
    n, c, h, w = out_shape
    blocks = channel_blocks(c)
    written = np.zeros((n * h, blocks * w), bool)
    if kind == "fully_connected":
        xs, ys = range(blocks), range(n)
    else:
        xs, ys = range(blocks * -(-w // 4)), range(n * h)
    for y in ys:
        for x in xs:
            if not lo <= (x, y)[dim] < hi:
                continue
            if kind == "fully_connected":
                written[y, x] = True
            else:
                block, wb = divmod(x, -(-w // 4))
                start = block * w + 4 * wb
                written[y, start:min(start + 4, (block + 1) * w)] = True
    return written


@settings(max_examples=60)
@given(kind=st.sampled_from(["conv2d_1x1", "depthwise_conv2d", "fully_connected"]),
       c=st.integers(1, 13), h=st.integers(1, 7), w=st.integers(1, 11), dim=st.integers(0, 1),
       data=st.data())
def test_a_slice_writes_exactly_its_region(kind, c, h, w, dim, data):
    if kind == "fully_connected":
        params = dict(n=h, c=c, oc=w)
        out_shape = (h, w, 1, 1)
    else:
        params = dict(n=1, c=c, h=h, w=w, oc=c, kernel=(1, 1), stride=(1, 1), pad=(0, 0),
                      dilation=(1, 1))
        out_shape = (1, c, h, w)
    n, oc, oh, ow = out_shape
    items = (channel_blocks(oc) * (1 if kind == "fully_connected" else -(-ow // 4)),
             n if kind == "fully_connected" else n * oh)[dim]
    lo = data.draw(st.integers(0, items - 1))
    hi = data.draw(st.integers(lo + 1, items))
    region = slices.output_region(kind, params, dim, lo, hi)
    expected = _written_by_items(kind, params, dim, lo, hi, out_shape)
    got = np.zeros_like(expected)
    got[region.y:region.y + region.height, region.x:region.x + region.width] = True
    assert (got == expected).all()


def test_buffer_rows_become_runs_of_every_channel():
    region = slices.output_region("nc4hw4_to_nchw", dict(n=2, c=3, h=4, w=5), 1, 3, 6)
    # rows 3 (batch 0) and 4-5 (batch 1): one run per channel and batch
    assert region.runs == ((15, 5), (35, 5), (55, 5), (60, 10), (80, 10), (100, 10))


def test_kinds_that_cannot_be_split_are_refused():
    with pytest.raises(ValueError, match="cannot split a softmax"):
        slices.split_axis("softmax", {}, (32,), (32,), (32,))


# -- pure: the choice ---------------------------------------------------------------------------

def test_equal_devices_side_by_side_split_in_half():
    choice = choose(100, lambda u: 10 + u, lambda u: 10 + u, lambda b: 1.0)
    assert choice.ratio == 0.5 and not choice.single


def test_a_much_faster_device_runs_alone():
    choice = choose(100, lambda u: 5 + 0.01 * u, lambda u: 50 + 10 * u, lambda b: 20.0)
    assert choice.ratio == 1.0 and choice.single


def test_a_split_that_is_not_predicted_to_pay_by_the_margin_is_not_taken():
    # 2 % better than alone: under the 3 % margin
    alone = 100.0
    choice = choose(20, lambda u: alone * u / 20, lambda u: 1e9, lambda b: 0.0,
                    combine=lambda a, b, s: 0.98 * alone if a and b else max(a, b))
    assert choice.single and choice.ratio == 1.0


def test_interference_makes_splitting_lose():
    slow = choose(100, lambda u: u, lambda u: u, lambda b: 0.0,
                  combine=lambda a, b, s: a + b + s)      # the devices take turns
    assert slow.single


def test_prediction_of_a_single_device_has_no_sync():
    assert predicted_us(1.0, 10, lambda u: 7.0, lambda u: 1e9, lambda b: 1e9) == 7.0
    assert predicted_us(0.0, 10, lambda u: 1e9, lambda u: 3.0, lambda b: 1e9) == 3.0
    assert units_for(0.05, 10) == 0 and units_for(0.95, 10) == 10
    assert GRID[0] == 0.0 and GRID[-1] == 1.0 and len(GRID) == 21


# -- on devices ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sub_devices(cpu):
    from fusion.execute.coexec import open_pair
    return open_pair("intel-cpu/2")


@pytest.fixture(scope="module")
def two_platforms(cpu, pocl):
    from fusion.execute.coexec import open_pair
    return open_pair("intel-cpu,pocl")


SHAPES = {
    "conv2d_1x1": st.fixed_dictionaries(dict(c=st.integers(1, 20), h=st.integers(1, 12),
                                             w=st.integers(1, 12), oc=st.integers(1, 24))),
    "conv2d": st.fixed_dictionaries(dict(c=st.integers(1, 6), h=st.integers(3, 12),
                                         w=st.integers(3, 12), oc=st.integers(1, 10),
                                         kernel=st.sampled_from([1, 3]),
                                         stride=st.integers(1, 2), pad=st.integers(0, 1))),
    "depthwise_conv2d": st.fixed_dictionaries(dict(c=st.integers(1, 16), h=st.integers(3, 12),
                                                   w=st.integers(3, 14))),
    "fully_connected": st.fixed_dictionaries(dict(n=st.integers(1, 3), c=st.integers(1, 70),
                                                  oc=st.integers(1, 90))),
}


def _check_split(pair, kind, shape, ratio):
    from fusion.execute.coexec import SplitOperator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        op = SplitOperator(pair, kind, shape)
        result = op.check(ratio)
        # and the combined output against numpy, through the library's own reader
        op.reset()
        op.run(op.split(ratio))
        got = op.result_nchw(op.holder(op.split(ratio)))
    reference = op.ops[0]
    np.testing.assert_allclose(got, reference.reference()[0], rtol=reference.tolerance[0],
                               atol=reference.tolerance[1])
    return op, result


@settings(max_examples=12)
@given(kind=st.sampled_from(sorted(SHAPES)), data=st.data(), ratio=st.sampled_from(GRID))
def test_split_on_two_sub_devices_is_bit_identical(sub_devices, kind, data, ratio):
    op, result = _check_split(sub_devices, kind, data.draw(SHAPES[kind]), ratio)
    assert op.sync_mode == "device copy"
    assert result["ok"] and result["bit_identical"], result


@settings(max_examples=10)
@given(kind=st.sampled_from(sorted(SHAPES)), data=st.data(),
       ratio=st.floats(0.0, 1.0).map(lambda r: round(r, 2)))
def test_split_across_two_platforms_matches_each_device(two_platforms, kind, data, ratio):
    op, result = _check_split(two_platforms, kind, data.draw(SHAPES[kind]), ratio)
    assert op.sync_mode == "host staging"
    assert result["ok"] and result["parts_bit_identical"], result


@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.5, 1.0])
def test_a_buffer_output_is_written_by_both_devices_through_svm(sub_devices, ratio):
    op, result = _check_split(sub_devices, "nc4hw4_to_nchw", dict(c=6, h=16, w=7), ratio)
    assert op.sync_mode == "svm"
    assert result["ok"] and result["bit_identical"], result


def test_the_buffer_output_across_platforms_goes_through_host_runs(two_platforms):
    op, result = _check_split(two_platforms, "nc4hw4_to_nchw", dict(n=2, c=5, h=9, w=6), 0.5)
    assert op.sync_mode == "host staging" and result["ok"], result


@pytest.mark.parametrize("pair_name", ["sub_devices", "two_platforms"])
def test_the_check_catches_a_missing_synchronisation(request, pair_name):
    from fusion.execute.coexec import SplitOperator
    op = SplitOperator(request.getfixturevalue(pair_name), "conv2d_1x1",
                       dict(c=16, h=14, w=14, oc=24))
    alone = op.alone_results()
    op.synchronise = lambda split, done=None: done.wait() if done else None   # the planted bug
    assert not op.check(0.5, alone)["ok"]


def test_the_check_catches_a_part_never_launched_under_svm(sub_devices):
    import pyopencl as cl
    from fusion.execute.coexec import SplitOperator
    op = SplitOperator(sub_devices, "nc4hw4_to_nchw", dict(c=6, h=16, w=7))
    alone = op.alone_results()
    real = op._enqueue
    # the planted bug: the second device's part is never launched (a marker stands for it)
    op._enqueue = lambda side, launch: (real(side, launch) if side == 0 else
                                        cl.enqueue_marker(op.pair.queues[1]))
    assert not op.check(0.5, alone)["ok"]


def test_splitting_poccls_sub_devices_is_refused_not_crashed(pocl):
    from fusion.execute.coexec import open_pair
    with pytest.raises(FusionError, match="PoCL crashes the process"):
        open_pair("pocl/2")


@pytest.mark.parametrize("text, message", [
    ("softmax:c=4", "cannot split 'softmax'"),
    ("conv2d_1x1:c", "'c' is not key=value"),
    ("conv2d_1x1:c=x", "c='x' is not a number"),
])
def test_bad_op_texts_are_located_errors(text, message):
    from fusion.execute.coexec import parse_op
    with pytest.raises(FusionError, match=message):
        parse_op(text)


@pytest.mark.parametrize("shape, message", [
    (dict(c=4), "missing 2 required keyword-only arguments: 'h' and 'w'"),
    (dict(c=4, h=3, w=3, oc=2, foo=1), "got an unexpected keyword argument 'foo'"),
    (dict(c=0, h=3, w=3, oc=2), "c must be"),
])
def test_bad_shapes_are_errors_that_name_the_shape(sub_devices, shape, message):
    from fusion.execute.coexec import SplitOperator
    with pytest.raises(FusionError, match=message) as caught:
        SplitOperator(sub_devices, "conv2d_1x1", shape)
    assert "_conv_like" not in str(caught.value)


def test_bad_device_pairs_are_errors(cpu):
    from fusion.execute.coexec import open_pair
    with pytest.raises(FusionError, match="name two devices"):
        open_pair("intel-cpu")
    with pytest.raises(FusionError, match="both name"):
        open_pair("intel-cpu,intel-cpu")
    with pytest.raises(FusionError, match="no OpenCL platform matching 'nosuch'"):
        open_pair("intel-cpu,nosuch")


def test_coexec_command_writes_json_and_plot(tmp_path, cpu):
    env = dict(os.environ, PARALLEL_FUSION_CACHE=str(tmp_path / "cache"))
    command = [sys.executable, "-m", "fusion", "coexec", "--op",
               "fully_connected:c=96,oc=200", "--devices", "intel-cpu/2", "--resolution", "80",
               "--profile-layers", "6", "--rounds", "3", "--json",
               str(tmp_path / "co.json"), "--plot", str(tmp_path / "co.png")]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    result = json.loads((tmp_path / "co.json").read_text())
    for key in ("devices", "op", "best_single_ms", "chosen_ratio", "chosen_ms",
                "grid_best_ratio", "grid_best_ms", "sync_ms", "outputs_match"):
        assert key in result
    assert result["outputs_match"] is True and len(result["ratios"]) == 21
    assert (tmp_path / "co.png").stat().st_size > 1000
    assert "← chosen" in done.stdout and "profiling the pair: 6/6" in done.stderr
    # the pair's profile is kept: a second run measures nothing again
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=900)
    assert again.returncode == 0 and "profiling" not in again.stderr


def test_coexec_command_reports_bad_input_without_traceback():
    done = subprocess.run([sys.executable, "-m", "fusion", "coexec", "--op", "softmax",
                           "--devices", "intel-cpu/2"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2 and "cannot split 'softmax'" in done.stderr
    assert "Traceback" not in done.stderr
