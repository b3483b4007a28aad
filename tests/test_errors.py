"""The bad-input catalogue: every refusal says what is wrong and where, like a compiler.

Source errors read `file:line:col: message`, then the offending line and a caret under the
column. No message names a file of this package (fusion/*.py): users see their code, not ours.
"""
import os
import re
import types

import numpy as np
import pyopencl as cl
import pytest

import fusion
from fusion import (BuildError, DeviceLimitError, FusionError, KernelSource, LaunchError, LayoutError,
                    SourceError, UnsupportedError, generate)
from fusion.runtime import check_device_limits
from fusion.verify.testing import Output, assert_equivalent

from zoo import ZOO, buffer_in, buffer_out

INTERNAL = re.compile(r"fusion[/\\]\w+\.py|\.py\b|Traceback|site-packages")


def message_of(error: BaseException) -> str:
    text = str(error)
    assert not INTERNAL.search(text), f"an internal file name leaks into the message:\n{text}"
    return text


def first_line_with_source(error: BaseException, source: str) -> str:
    """The message's first line; asserts that the source line named by its location and a caret
    under the column follow it."""
    text = message_of(error)
    lines = text.split("\n")
    location = lines[0].split(": ", 1)[0]
    line, column = (int(part) for part in location.split(":")[1:3])
    assert lines[1] == "    " + source.split("\n")[line - 1], text
    assert lines[2] == "    " + " " * (column - 1) + "^", text
    return lines[0]


def generate_error(source, name="k", options=(), filename="bad.cl", error=SourceError) -> str:
    with pytest.raises(error) as caught:
        generate([KernelSource(source, name, options, filename=filename)], wave_size=8)
    return message_of(caught.value)


def assert_located(text: str, location: str, line: str, column: int) -> None:
    """`location: ...`, then the source line, then a caret under the column."""
    first, shown, caret = text.split("\n")[:3]
    assert first.startswith(location + ": "), text
    assert shown == "    " + line, text
    assert caret == "    " + " " * (column - 1) + "^", text


# --- source errors ----------------------------------------------------------------------------

def test_missing_semicolon():
    text = generate_error("__kernel void k(__global float *o)\n{\n    o[0] = 1\n}\n")
    assert_located(text, "bad.cl:4:1", "}", 1)
    assert "syntax error before: }" in text


def test_invalid_expression():
    text = generate_error("__kernel void k(__global float *o)\n{\n    o[0] = 1 + * ;\n}\n")
    assert_located(text, "bad.cl:3:18", "    o[0] = 1 + * ;", 18)
    assert text.split("\n")[0].endswith("Invalid expression")


def test_syntax_error_in_an_included_header(tmp_path):
    (tmp_path / "broken.h").write_text("float f(float x)\n{\n    return x +;\n}\n")
    source = '#include "broken.h"\n__kernel void k(__global float *o) { o[0] = f(o[0]); }\n'
    text = generate_error(source, options=[f"-I{tmp_path}"])
    assert_located(text, f"{tmp_path}/broken.h:3:15", "    return x +;", 15)


@pytest.mark.parametrize("source, line, message", [
    ('#include "missing.h"\n__kernel void k(__global float *o) { }\n', 1,
     "preprocessor: Include file 'missing.h' not found"),
    ("\n#error LOCAL_SIZE must be a power of two\n__kernel void k(__global float *o) { }\n", 2,
     "preprocessor: #error LOCAL_SIZE must be a power of two"),
    ("#if\n#endif\n__kernel void k(__global float *o) { }\n", 1,
     "preprocessor: malformed directive (IndexError)"),
])
def test_preprocessor_errors(source, line, message):
    # Regression: `#error` used to be printed by pcpp and ignored; a bare `#if` crashed pcpp.
    text = generate_error(source)
    assert_located(text, f"bad.cl:{line}:1", source.split("\n")[line - 1], 1)
    assert text.split("\n")[0] == f"bad.cl:{line}:1: {message}"


def test_error_directive_in_an_inactive_branch_is_ignored():
    source = "#ifdef NEVER\n#error not configured\n#endif\n__kernel void k(__global float *o) { }\n"
    assert generate([KernelSource(source, "k")], wave_size=8).kernel_name == "fused__k"


def test_unknown_kernel_name_lists_the_kernels_found():
    source = ("__kernel void conv(__global float *o) { }\n"
              "__kernel void pool(__global float *o) { }\n"
              "void helper(void) { }\n")
    text = generate_error(source, name="softmax")
    assert text == "bad.cl: no kernel named 'softmax' (kernels found: conv, pool)"
    assert generate_error("void helper(void) { }\n", name="k") == \
        "bad.cl: no kernel named 'k' (kernels found: none)"


def test_unsupported_builtin():
    text = generate_error("__kernel void k(__global int *o)\n{\n    o[0] = get_sub_group_id();\n}\n",
                          error=UnsupportedError)
    assert_located(text, "bad.cl:3:12", "    o[0] = get_sub_group_id();", 12)
    assert "'get_sub_group_id' is not supported in a fused kernel" in text


def test_unsupported_builtin_in_a_helper():
    source = ("int lane(void)\n{\n    return sub_group_reduce_add(1);\n}\n"
              "__kernel void k(__global int *o) { o[0] = lane(); }\n")
    text = generate_error(source, error=UnsupportedError)
    assert_located(text, "bad.cl:3:12", "    return sub_group_reduce_add(1);", 12)
    assert "'sub_group_reduce_add' is not supported" in text


def test_recursion():
    source = ("int down(int x);\nint up(int x) { return x > 0 ? down(x - 1) : 0; }\n"
              "int down(int x) { return up(x); }\n"
              "__kernel void k(__global int *o)\n{\n    o[0] = up(3);\n}\n")
    text = generate_error(source, error=UnsupportedError)
    assert "recursive call to 'up' (OpenCL C does not allow recursion)" in text
    assert_located(text, "bad.cl:3:26", "int down(int x) { return up(x); }", 26)


def test_calling_a_kernel_from_a_kernel():
    source = ("__kernel void inner(__global float *o) { o[0] = 1.0f; }\n"
              "__kernel void k(__global float *o)\n{\n    inner(o);\n}\n")
    text = generate_error(source, error=UnsupportedError)
    assert_located(text, "bad.cl:4:5", "    inner(o);", 5)
    assert "kernel 'k' calls the kernel 'inner'; only non-kernel helper functions can be fused" in text


@pytest.mark.parametrize("source, where, line, column", [
    ("__kernel void k(__global float *pf_out)\n{\n    pf_out[0] = 0.0f;\n}\n", "pf_out", 1, 32),
    ("float pf_helper(float x) { return x; }\n__kernel void k(__global float *o)\n{\n"
     "    o[0] = pf_helper(o[0]);\n}\n", "pf_helper", 1, 7),
    ("__kernel void k(__global float *o)\n{\n    float pf_x = 1.0f;\n    o[0] = pf_x;\n}\n",
     "pf_x", 3, 11),
])
def test_reserved_identifier_prefix(source, where, line, column):
    text = generate_error(source, error=UnsupportedError)
    assert f"the identifier '{where}' uses the prefix 'pf_' reserved for fused code" in text
    assert_located(text, f"bad.cl:{line}:{column}", source.split("\n")[line - 1], column)


def test_different_program_wide_flags():
    a = KernelSource("__kernel void a(__global float *o) { o[0] = 1.0f; }", "a", filename="a.cl")
    b = KernelSource("__kernel void b(__global float *o)\n{\n    o[0] = 2.0f;\n}\n", "b",
                     ["-DX=1", "-cl-fast-relaxed-math"], filename="b.cl")
    with pytest.raises(SourceError) as caught:
        generate([a, b], wave_size=8)
    text = message_of(caught.value)
    # The location is the later kernel's (the source line is not shown: compiler.py does not
    # hand the source text to the error, and b.cl is not a file on disk).
    assert text.startswith("b.cl:1:15: ")
    assert ("sub-kernels 'a' and 'b' were built with different program-wide options (none vs "
            "-cl-fast-relaxed-math)") in text
    # -D options differ too, but those are per sub-kernel: no complaint about them.
    c = KernelSource(b.source, "b", ["-DX=2", "-cl-fast-relaxed-math"], filename="c.cl")
    assert generate([b, c], wave_size=8).build_options == ("-cl-fast-relaxed-math",)


def test_different_program_wide_flags_strict_fuser(cpu, fusers):
    flagged = KernelSource(ZOO["scale"].kernel.source, "scale", ["-cl-fast-relaxed-math"],
                           filename="scale.cl")
    with pytest.raises(SourceError) as caught:
        fusers["groups"].fuse([ZOO["scale"].kernel, flagged])
    # The same rule and message as generate()'s (fusion.compiler.program_flag_conflicts).
    assert message_of(caught.value).splitlines()[0] == (
        "scale.cl:6:15: sub-kernels 'scale' and 'scale' were built with different program-wide "
        "options (none vs -cl-fast-relaxed-math); they apply to the whole fused program, so "
        "these kernels cannot be fused (they differ only in permissions: flags='strictest' fuses "
        "them, built without the permissions)")


def test_empty_kernel_list(fusers):
    with pytest.raises(FusionError) as caught:
        generate([], wave_size=8)
    assert message_of(caught.value) == "nothing to fuse: the kernel list is empty"
    with pytest.raises(FusionError) as caught:
        fusers["groups"].fuse([])
    assert message_of(caught.value) == "nothing to fuse: the kernel list is empty"


def test_unknown_layout():
    with pytest.raises(FusionError) as caught:
        generate([ZOO["scale"].kernel], wave_size=8, layout="diagonal")
    assert message_of(caught.value) == "unknown layout 'diagonal' (choose from groups, wave)"


# --- layout at launch -------------------------------------------------------------------------

def _reduce_and_prefix8(seed=5):
    """reduce needs work-groups of 16, prefix is launched with 8: they cannot share a launch."""
    def factory(context, queue):
        rng = np.random.default_rng(seed)
        data = rng.standard_normal(32).astype(np.float32)
        ints = rng.integers(-50, 50, 16).astype(np.int32)
        reduced, scanned = buffer_out(context, 2), buffer_out(context, 16, np.int32)
        launches = [((32,), (16,), [buffer_in(context, data), reduced, 30]),
                    ((16,), (8,), [buffer_in(context, ints), scanned, cl.LocalMemory(8 * 4)])]
        return launches, [Output(0, "out", reduced), Output(1, "out", scanned, np.int32)]
    return factory


def test_unreconcilable_barrier_kernels_strict(cpu):
    # The planning itself, on any device: PoCL's own quirk (no barrier sub-kernel fused there)
    # is switched off, which is safe as the error comes before anything runs.
    from fusion.runtime import DeviceQuirks
    fuser = fusion.Fuser(cpu, strict=True)
    fuser.quirks = DeviceQuirks()
    fused = fuser.fuse([ZOO["reduce"].kernel, ZOO["prefix"].kernel])
    launches, _ = _reduce_and_prefix8()(cpu, None)
    with pytest.raises(LayoutError) as caught:
        fused.bind(launches)
    assert message_of(caught.value) == (
        "kernel 'prefix' cannot be fused: it needs work-groups of local size (8,) with barriers "
        "or local memory, which cannot share a launch with 'reduce' (16,)")


def test_unreconcilable_barrier_kernels_fall_back_with_a_warning(cpu):
    fuser = fusion.Fuser(cpu, strict=False)
    with pytest.warns(fusion.FusionWarning) as caught:
        assert_equivalent(cpu, [ZOO["reduce"].kernel, ZOO["prefix"].kernel],
                          _reduce_and_prefix8(), fuser=fuser)
    messages = [message_of(w.message) for w in caught]
    assert ("kernel 'prefix' runs on its own, not fused: it needs work-groups of local size (8,) "
            "with barriers or local memory, which cannot share a launch with 'reduce' (16,)") in messages


def test_launch_the_kernel_could_not_have_had_alone(cpu, fusers):
    fused = fusers["groups"].fuse([ZOO["ids"].kernel, ZOO["scale"].kernel])
    out = buffer_out(cpu, 12 * 10 * 6, np.int32)
    with pytest.raises(LaunchError) as caught:
        fused.bind([((10, 6), (4, 2), [out]), ((8,), None, [out, out, 8])])
    assert message_of(caught.value) == ("launch 0: sub-kernel 'ids': global size (10, 6) is not a "
                                        "multiple of local size (4, 2) (OpenCL 1.2 uniform work-groups)")


# --- launches and arguments -------------------------------------------------------------------

@pytest.fixture(scope="module")
def misc_scale(fusers):
    return fusers["groups"].fuse([ZOO["misc"].kernel, ZOO["scale"].kernel])


def _misc_scale_launches(context, misc_args=None, scale_args=None):
    n = 16
    data = buffer_in(context, np.arange(n, dtype=np.float32))
    misc_out, scale_out = buffer_out(context, n), buffer_out(context, n)
    misc = misc_args or [data, data, misc_out, None, (1, 2), 3]
    scale = scale_args or [data, scale_out, n]
    return [((n,), None, misc), ((n,), None, scale)], misc_out, scale_out


def _contents(queue, buffer, dtype=np.uint8):
    host = np.empty(buffer.size // np.dtype(dtype).itemsize, dtype)
    cl.enqueue_copy(queue, host, buffer)
    queue.finish()
    return host


@pytest.mark.parametrize("bad_args, message", [
    (lambda data, out: [data, out], "scale.cl:6:15: sub-kernel 'scale' takes 3 arguments, launch 1 gave 2"),
    (lambda data, out: [data, out, 1.5], "scale.cl:6:78: sub-kernel 'scale', argument 2 'n' "
                                         "(const int) expects an integer (int), got 1.5"),
    (lambda data, out: [data, out, "16"], "scale.cl:6:78: sub-kernel 'scale', argument 2 'n' "
                                          "(const int) expects a number (int), got str"),
    (lambda data, out: [np.zeros(16, np.float32), out, 16],
     "scale.cl:6:42: sub-kernel 'scale', argument 0 'in' (__global const float *) expects a "
     "pyopencl Buffer, got ndarray"),
    (lambda data, out: [data, out, 2**31], "scale.cl:6:78: sub-kernel 'scale', argument 2 'n' "
                                           "(const int): 2147483648 does not fit in int "
                                           "[-2147483648, 2147483647]"),
])
def test_bad_scale_arguments_enqueue_nothing(cpu, misc_scale, bad_args, message):
    queue = cl.CommandQueue(cpu)
    n = 16
    data = buffer_in(cpu, np.arange(n, dtype=np.float32))
    scale_out = buffer_out(cpu, n)
    launches, misc_out, _ = _misc_scale_launches(cpu, scale_args=bad_args(data, scale_out))
    with pytest.raises(LaunchError) as caught:
        misc_scale(queue, launches)
    assert first_line_with_source(caught.value, ZOO["scale"].kernel.source) == message
    # The other sub-kernel's arguments were fine, but nothing ran: its output is untouched.
    assert (_contents(queue, misc_out) == 0xA5).all()
    assert (_contents(queue, scale_out) == 0xA5).all()


@pytest.mark.parametrize("shift, bias, message", [
    ((1, 2), 40000, "misc.cl:3:67: sub-kernel 'misc', argument 5 'bias' (short): 40000 does not "
                    "fit in short [-32768, 32767]"),
    ((1, 2, 3), 4, "misc.cl:3:54: sub-kernel 'misc', argument 4 'shift' (int2) expects 2 values "
                   "for int2, got (1, 2, 3)"),
    ((1, 2), 2.5, "misc.cl:3:67: sub-kernel 'misc', argument 5 'bias' (short) expects an integer "
                  "(short), got 2.5"),
])
def test_bad_misc_arguments(cpu, misc_scale, shift, bias, message):
    queue = cl.CommandQueue(cpu)
    data = buffer_in(cpu, np.arange(16, dtype=np.float32))
    out = buffer_out(cpu, 16)
    launches, _, scale_out = _misc_scale_launches(cpu, misc_args=[data, data, out, None, shift, bias])
    with pytest.raises(LaunchError) as caught:
        misc_scale(queue, launches)
    assert first_line_with_source(caught.value, ZOO["misc"].kernel.source) == message
    assert (_contents(queue, out) == 0xA5).all() and (_contents(queue, scale_out) == 0xA5).all()


def test_argument_error_location_is_the_parameter():
    source_lines = ZOO["scale"].kernel.source.split("\n")
    # scale.cl:6:78 is the declarator of `n` on line 6.
    assert source_lines[5][77:].startswith("n)")
    assert source_lines[5][41:].startswith("*in")


@pytest.mark.parametrize("launches, message", [
    ([], "2 kernels were fused but 0 launches were given (one (global_size, local_size, args) each)"),
    ([((16,), None, [])], "2 kernels were fused but 1 launches were given (one (global_size, "
                          "local_size, args) each)"),
])
def test_wrong_number_of_launches(cpu, misc_scale, launches, message):
    with pytest.raises(LaunchError) as caught:
        misc_scale(cl.CommandQueue(cpu), launches)
    assert message_of(caught.value) == message


def test_malformed_launch(cpu, misc_scale):
    with pytest.raises(LaunchError) as caught:
        misc_scale(cl.CommandQueue(cpu), [((16,), None), ((16,), None, [])])
    assert message_of(caught.value).startswith("a launch is (global_size, local_size, args), got ")
    with pytest.raises(LaunchError) as caught:
        misc_scale.bind([((16, 0), None, []), ((16,), None, [])])
    assert message_of(caught.value) == "launch 0 ('misc'): global size (16, 0) has an empty dimension"


# --- device limits ----------------------------------------------------------------------------

def tiny_device(**limits):
    values = dict(name="Tiny GPU ", address_bits=64, max_parameter_size=1024, max_constant_args=8,
                  max_read_image_args=128, max_write_image_args=8)
    values.update(limits)
    return types.SimpleNamespace(**values)


def test_device_argument_limits():
    program = generate([ZOO["blur"].kernel, ZOO["blur"].kernel, ZOO["scale"].kernel], wave_size=8)
    check_device_limits(program, tiny_device())  # fits a roomy device
    # 3 layout uint16s (192 bytes), 2 images, 2 + 2 pointers (32 bytes), 2 + 1 ints (12 bytes).
    with pytest.raises(DeviceLimitError) as caught:
        check_device_limits(program, tiny_device(max_parameter_size=64, max_read_image_args=1))
    assert message_of(caught.value) == (
        "the fused kernel 'fused__blur__blur__scale' does not fit Tiny GPU: its arguments take "
        "252 bytes, more than the device's CL_DEVICE_MAX_PARAMETER_SIZE of 64; it reads 2 images, "
        "more than the device's CL_DEVICE_MAX_READ_IMAGE_ARGS of 1")


def test_device_limit_makes_the_fuser_fall_back(cpu, monkeypatch):
    """A fused kernel the device cannot take runs as separate launches (non-strict), or is an
    error (strict)."""
    from fusion.runtime import launcher
    real_check = launcher.check_device_limits
    monkeypatch.setattr(launcher, "check_device_limits",
                        lambda program, device: real_check(program, _Limited(device, max_parameter_size=16)))
    kernels = [ZOO["scale"].kernel, ZOO["scale3"].kernel]
    factory = _scale_pair_factory()
    with pytest.warns(fusion.FusionWarning, match="CL_DEVICE_MAX_PARAMETER_SIZE of 16"):
        assert_equivalent(cpu, kernels, factory, fuser=fusion.Fuser(cpu))
    launches, _ = factory(cpu, None)
    with pytest.raises(DeviceLimitError, match="CL_DEVICE_MAX_PARAMETER_SIZE of 16"):
        fusion.Fuser(cpu, strict=True).fuse(kernels).bind(launches)


class _Limited:
    """A real device with some limits made smaller."""

    def __init__(self, device, **limits):
        self._device, self._limits = device, limits

    def __getattr__(self, name):
        return self._limits[name] if name in self._limits else getattr(self._device, name)


def _scale_pair_factory():
    def factory(context, queue):
        data = buffer_in(context, np.linspace(-1, 1, 20).astype(np.float32))
        a, b = buffer_out(context, 20), buffer_out(context, 20)
        return ([((20,), None, [data, a, 17]), ((20,), None, [data, b, 20])],
                [Output(0, "out", a), Output(1, "out", b)])
    return factory


# --- errors carry their facts as fields --------------------------------------------------------

UNDECLARED = KernelSource("__kernel void calls_nothing(__global float *out)\n"
                          "{\n    out[get_global_id(0)] = no_such_function(1.0f);\n}\n",
                          "calls_nothing", ["-DX=1"], filename="undeclared.cl")


def test_build_error_fields(cpu):
    """A program the device compiler rejects: the fused one (its source saved for the user) and
    the kernel alone (the user's own file: nothing saved)."""
    from fusion.runtime import build_alone
    out = buffer_out(cpu, 8)
    fused = fusion.Fuser(cpu, strict=True).fuse([UNDECLARED, ZOO["scale"].kernel])
    with pytest.raises(BuildError) as caught:
        fused.bind([((8,), None, [out]), ((8,), None, [out, out, 8])])
    error = caught.value
    assert error.kernel_name == "fused__calls_nothing__scale" and error.options == ()
    assert error.saved_source and os.path.isfile(error.saved_source)
    with open(error.saved_source, encoding="utf-8") as f:
        assert "no_such_function" in f.read()
    assert "no_such_function" in error.log
    assert str(error).startswith("the OpenCL compiler rejected the fused kernel "
                                 f"'fused__calls_nothing__scale' (options: none; source saved to "
                                 f"{error.saved_source}):\n")
    with pytest.raises(BuildError) as caught:
        build_alone(cpu, cpu.devices[0], UNDECLARED)
    error = caught.value
    assert error.saved_source is None and error.kernel_name == "calls_nothing"
    assert error.options[0] == "-DX=1" and error.options[1].startswith("-I")
    assert "no_such_function" in error.log


def test_source_and_launch_errors_carry_their_location():
    with pytest.raises(SourceError) as caught:
        generate([KernelSource("__kernel void k(__global int *a)\n{\n    a[0] = ;\n}\n", "k",
                               filename="broken.cl")], wave_size=8)
    error = caught.value
    assert (error.location.file, error.location.line) == ("broken.cl", 3)
    assert error.line_text == "    a[0] = ;"
    assert str(error).startswith(f"broken.cl:3:{error.location.column}: {error.message}")


def test_launch_error_is_located_at_the_parameter(cpu, misc_scale):
    launches, _, _ = _misc_scale_launches(cpu, scale_args=[None, None, "eight"])
    with pytest.raises(LaunchError) as caught:
        misc_scale.bind(launches)
    error = caught.value
    assert error.location is not None and error.location.file == "scale.cl"
    assert "argument 2 'n'" in error.message and "expects a number" in error.message
    assert error.line_text is not None and "const int n" in error.line_text
