"""Equivalence testing as a user does it: `python -m fusion check` in a subprocess, and the public
module fusion.testing in a hypothesis test (the examples of docs/TESTING.md)."""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fusion
from fusion.verify.check import SpecError, parse_argument, parse_launch
from fusion.verify.testing import (EquivalenceError, OclgrindError, Output, check_fusion, input_arrays,
                            input_buffer, output_buffer, padded_launch_shapes)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "docs", "examples")
SCALE = os.path.join(EXAMPLES, "scale.cl")


def check(*args, cwd=ROOT):
    """`python -m fusion check ARGS` as a user runs it: (exit status, stdout, stderr)."""
    done = subprocess.run([sys.executable, "-m", "fusion", "check", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout, done.stderr


# --- the command line ------------------------------------------------------------------------

def test_check_passes_the_documented_spec_with_oclgrind():
    status, out, err = check("--spec", os.path.join(EXAMPLES, "check.json"), "--oclgrind")
    assert status == 0, out + err
    assert out.startswith("PASS: 3 kernels, 1 run(s) (seed 0)")
    assert "Oclgrind (Oclgrind Simulator): 3 outputs" in out


def test_check_from_the_command_line(tmp_path):
    status, out, err = check(
        "-k", f"{SCALE}:scale:-DRELU", "--launch",
        "1000/8 buffer:float:1000:random buffer:float:1000:output int:1000",
        "-k", "fusion/ops/kernels/eltwise_add.cl:eltwise_add", "--launch",
        "30,8/6,8 int:30 int:8 image:30,8:random image:30,8:random image:30,8:output",
        "--runs", "3", "--seed", "5")
    assert status == 0, out + err
    assert out.startswith("PASS: 2 kernels, 3 run(s) (seeds 5-7)")
    assert "all kernels in one launch" in out


PLANTED_BUG = ("import sys, fusion.dialect as d; "
               "d.WORK_ITEM_BUILTINS['get_global_size'] = d.WorkItemBuiltin('global_size', True, 7); "
               "from fusion.cli import main; sys.exit(main(sys.argv[1:]))")


def test_check_reports_the_first_difference(tmp_path):
    """A real difference, planted in the compiler (get_global_size of a dimension past 2 answers
    7 instead of OpenCL's 1): the report names sub-kernel, output, index and both values."""
    source = tmp_path / "sizes.cl"
    source.write_text("__kernel void sizes(__global uint *out)\n"
                      "{\n    out[get_global_id(0)] = (uint)get_global_size(5);\n}\n")
    done = subprocess.run(
        [sys.executable, "-c", PLANTED_BUG, "check", "--in-process", "-k", f"{SCALE}:scale", "--launch",
         "64 buffer:float:64:random buffer:float:64:output int:64",
         "-k", f"{source}:sizes", "--launch", "16 buffer:uint:16:output"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("FAIL (seed 0): sub-kernel 1 'sizes'")
    assert "output 'argument 0 'out'': first difference at index 0: alone 1, fused 7" in first
    # Without the planted bug the same check passes.
    status, out, err = check("-k", f"{SCALE}:scale", "--launch",
                             "64 buffer:float:64:random buffer:float:64:output int:64",
                             "-k", f"{source}:sizes", "--launch", "16 buffer:uint:16:output")
    assert status == 0, out + err


def test_check_reports_oclgrind_errors_of_the_kernels(tmp_path):
    source = tmp_path / "oob.cl"
    source.write_text("__kernel void oob(__global float *out, const int n)\n"
                      "{\n    out[get_global_id(0) + 1] = (float)n;\n}\n")
    status, out, err = check("-k", f"{source}:oob", "--launch", "8 buffer:float:8:output int:8",
                             "-k", f"{SCALE}:scale", "--launch",
                             "8 buffer:float:8:random buffer:float:8:output int:8", "--oclgrind")
    assert status == 1, out + err
    assert "Oclgrind reported errors in the kernels launched separately" in out
    assert "Invalid write" in out


@pytest.mark.parametrize("args, message", [
    (["-k", f"{SCALE}:scale"], "1 kernels (-k) but 0 launches"),
    (["-k", f"{SCALE}:scale", "--launch", "64 buffer:quad:64:random"], "unknown OpenCL type 'quad'"),
    (["-k", f"{SCALE}:scale", "--launch", "64 buffer:float:64:garbage"], "fill must be one of"),
    (["-k", f"{SCALE}:scale", "--launch", "64/8,8 int:1"], "differ in dimensions"),
    (["-k", f"{SCALE}:nosuch", "--launch", "64 int:1"], "no kernel named 'nosuch'"),
    (["--spec", "missing.json"], "missing.json"),
])
def test_check_refuses_bad_input_with_status_2(args, message):
    status, out, err = check(*args)
    assert status == 2, out + err
    assert err.startswith("error: ") and message in err, err
    assert "Traceback" not in err


def test_check_shows_a_syntax_error_with_its_line(tmp_path):
    source = tmp_path / "broken.cl"
    source.write_text("__kernel void broken(__global float *o)\n{\n    o[0] = 1.0f\n}\n")
    status, out, err = check("-k", f"{source}:broken", "--launch", "1 buffer:float:1:output")
    assert status == 2
    assert f"{source}:4:1: syntax error before: }}" in err


# --- the argument language ----------------------------------------------------------------------

@pytest.mark.parametrize("text, kind, fields", [
    ("buffer:float4:16:inout", "buffer", dict(c_type="float4", count=16, fill="inout")),
    ("image:8,4:output", "image", dict(shape=(8, 4), fill="output")),
    ("int2:3,-2", "value", dict(c_type="int2", value=(3, -2))),
    ("uint:0x10", "value", dict(value=(16,))),
    ("float:0.5", "value", dict(value=(0.5,))),
    ("local:256", "local", dict(count=256)),
    ("null", "null", {}),
    ("same:0", "same", dict(count=0)),
])
def test_parse_argument(text, kind, fields):
    spec = parse_argument(text)
    assert spec.kind == kind
    for name, value in fields.items():
        assert getattr(spec, name) == value


@pytest.mark.parametrize("text, message", [
    ("buffer:float:0:random", "not a positive count"),
    ("int2:3", "int2 takes 2 values"),
    ("float:x", "is not a float value"),
    ("image:8:random", "expected image:WIDTH,HEIGHT"),
    ("what", "cannot read the argument"),
])
def test_parse_argument_refuses(text, message):
    with pytest.raises(SpecError, match=message):
        parse_argument(text)


def test_same_must_name_an_earlier_buffer():
    kernel = fusion.KernelSource.from_file(SCALE, "scale")
    with pytest.raises(SpecError, match="'same' must name an earlier buffer"):
        parse_launch(kernel, "8 same:1 buffer:float:8:output int:8")


# --- the public module, as a user property-tests their own kernels --------------------------------

ROW_SUM = fusion.KernelSource.from_file(SCALE, "row_sum")


def scale_kernel(options=()):
    return fusion.KernelSource.from_file(SCALE, "scale", options)


@settings(max_examples=10)
@given(shape=padded_launch_shapes(1, max_items=2048, local_sizes=(1, 8, 64)),
       data=input_arrays(np.float32, 2048),
       rows=st.integers(1, 6), width=st.integers(1, 40), relu=st.booleans())
def test_user_property_test_of_their_kernels(shape, data, rows, width, relu):
    """docs/TESTING.md's example: the user's kernels, random launch shapes and inputs."""
    (global_size,), (local_size,), (n,) = shape
    kernels = [scale_kernel(["-DRELU"] if relu else []), ROW_SUM]

    def make(context, queue):
        source = input_buffer(context, data)
        scaled = output_buffer(context, global_size)  # padding elements stay as they were
        sums = output_buffer(context, rows)
        launches = [((global_size,), (local_size,), [source, scaled, n]),
                    ((16 * rows,), (16,), [source, sums, width])]
        return launches, [Output(0, "out", scaled), Output(1, "sums", sums)]

    [result] = check_fusion(kernels, make)
    assert result.outputs == 2 and result.elements == global_size + rows


def test_the_public_helper_under_oclgrind():
    kernels = [scale_kernel(), ROW_SUM]

    def make(context, queue):
        source = input_buffer(context, np.linspace(-1, 1, 160, dtype=np.float32))
        outs = [output_buffer(context, 160), output_buffer(context, 2)]
        return ([((160,), (16,), [source, outs[0], 150]), ((32,), (16,), [source, outs[1], 80])],
                [Output(0, "out", outs[0]), Output(1, "sums", outs[1])])

    grind, cpu = check_fusion(kernels, make, oclgrind=True)  # Oclgrind first, then the CPU
    assert grind.device.startswith("Oclgrind") and grind.launches == 1
    assert cpu.device.startswith("Intel(R) OpenCL") and cpu.launches == 1


def test_equivalence_error_names_the_element_and_shows_float_bits():
    """The report when outputs differ: sub-kernel, file, output, index, both values and their
    bits. (The factory is made to differ between the separate and the fused run.)"""
    calls = []

    def make(context, queue):
        calls.append(1)
        data = np.arange(8, dtype=np.float32) + (1.0 if len(calls) == 1 else 2.0)
        source = input_buffer(context, data)
        outs = [output_buffer(context, 8) for _ in range(2)]
        return ([((8,), None, [source, outs[0], 8]), ((8,), None, [source, outs[1], 8])],
                [Output(0, "first", outs[0]), Output(1, "second", outs[1])])

    kernels = [scale_kernel(["-DSCALE=1.0f"]), scale_kernel(["-DSCALE=4.0f"])]
    with pytest.raises(EquivalenceError) as caught:
        check_fusion(kernels, make)
    text = str(caught.value)
    assert text.startswith(f"sub-kernel 0 'scale' ({SCALE}), output 'first': first difference "
                           "at index 0: alone 2.0, fused 3.0 (bits 0x40000000 vs 0x40400000)")


def test_oclgrind_error_for_a_kernel_writing_out_of_bounds(tmp_path):
    source = "__kernel void oob(__global float *out) { out[get_global_id(0) + 1] = 1.0f; }"
    kernel = fusion.KernelSource(source, "oob", filename="oob.cl")

    def make(context, queue):
        out = [output_buffer(context, 4) for _ in range(2)]
        return [((4,), None, [out[0]]), ((4,), None, [out[1]])], \
            [Output(0, "out", out[0]), Output(1, "out", out[1])]

    with pytest.raises(OclgrindError, match="launched separately"):
        check_fusion([kernel, kernel], make, cpu=False, oclgrind=True)
