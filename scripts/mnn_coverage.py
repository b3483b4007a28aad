#!/usr/bin/env python3
"""How many of MNN's OpenCL kernels this compiler parses, fuses and builds (issue 5, part 2).

MNN (github.com/alibaba/MNN, source/backend/opencl/execution/cl/*.cl) is the style of kernel this
compiler is for. Its kernels are not part of this repository: fetch them yourself, e.g.

    git clone --depth 1 https://github.com/alibaba/MNN /tmp/MNN
    python scripts/mnn_coverage.py --mnn /tmp/MNN/source/backend/opencl/execution/cl

For every kernel of every file, built with the options MNN's host code uses for it (FP32, see
HOST_OPTIONS below), the script checks on the default device (Intel's CPU runtime; --platform):

    alone  the file builds on its own with those options (MNN's own build; a kernel the device
           cannot build even alone is reported but not counted)
    parse  fusion.parse.parse_kernel accepts it
    fuse   fusion.generate fuses it with fusion/ops/kernels/eltwise_add.cl, with itself and with the next
           kernel of another MNN file (cross-file name and macro collisions)
    build  the three fused programs build on the device with their build options
    planner  the runtime's planner on the device fuses the kernel with eltwise_add (barrier
           kernels included, where the device allows it: not on PoCL 3.0)

and writes docs/MNN_COVERAGE.md: the shares, then one row per kernel with the first error line.
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import dataclasses
import multiprocessing
import os
import re
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

DEFAULT_MNN = os.path.join(ROOT, "scratch", "mnn", "source", "backend", "opencl", "execution", "cl")

# OpenCLRuntime::buildKernelWithCache, precision level 1 (FP32 memory, FP32 compute).
FP32 = ("-DFLOAT=float -DFLOAT2=float2 -DFLOAT3=float3 -DFLOAT4=float4 -DFLOAT8=float8 "
        "-DFLOAT16=float16 -DCOMPUTE_FLOAT=float -DCOMPUTE_FLOAT2=float2 -DCOMPUTE_FLOAT3=float3 "
        "-DCOMPUTE_FLOAT4=float4 -DCOMPUTE_FLOAT8=float8 -DCOMPUTE_FLOAT16=float16 "
        "-DCONVERT_COMPUTE_FLOAT=convert_float -DCONVERT_COMPUTE_FLOAT2=convert_float2 "
        "-DCONVERT_COMPUTE_FLOAT3=convert_float3 -DCONVERT_COMPUTE_FLOAT4=convert_float4 "
        "-DCONVERT_COMPUTE_FLOAT8=convert_float8 -DCONVERT_COMPUTE_FLOAT16=convert_float16 "
        "-DRI_F=read_imagef -DWI_F=write_imagef -DCONVERT_FLOAT=convert_float "
        "-DCONVERT_FLOAT2=convert_float2 -DCONVERT_FLOAT3=convert_float3 "
        "-DCONVERT_FLOAT4=convert_float4 -DCONVERT_FLOAT8=convert_float8 "
        "-DCONVERT_FLOAT16=convert_float16")
# ... plus, when the host passes float input / output tensors:
FLOAT_TENSORS = ("-DINPUT_TYPE_I=float -DINPUT_TYPE_I4=float4 -DINPUT_TYPE=float "
                 "-DINPUT_TYPE4=float4 -DINPUT_TYPE16=float16 -DRI_DATA=read_imagef "
                 "-DOUTPUT_TYPE_I=float -DOUTPUT_TYPE_I4=float4 -DCONVERT_OUTPUT_I4=convert_float4 "
                 "-DOUTPUT_TYPE=float -DOUTPUT_TYPE4=float4 -DOUTPUT_TYPE16=float16 "
                 "-DCONVERT_OUTPUT4=convert_float4 -DCONVERT_OUTPUT16=convert_float16 "
                 "-DWI_DATA=write_imagef")
# ... then the work-group attribute switch, and mDefaultBuildParams (program-wide flags).
RUNTIME = "-DSET_ATTRIBUTE=false -cl-mad-enable -w"

# The options each execution (execution/image/*.cpp, execution/buffer/*.cpp, core/*.cpp) adds for
# a kernel, in one representative configuration: file stem -> kernel name (or "*") -> options.
XGEMM = ("-DKWG=16 -DKWI=2 -DMDIMA=16 -DMDIMC=16 -DMWG=64 -DNDIMB=8 -DNDIMC=8 -DNWG=32 -DSA=0 "
         "-DSB=0 -DSTRM=0 -DSTRN=0 -DVWM=4 -DVWN=4 -DOUTPUTMN")  # getGemmParams' default
PRELU = "-DOPERATOR=select(in0*in1,in0,in0>=(float4)0)"
INTEL_FLOAT = ("-DINTEL_DATA=uint -DAS_INPUT_DATA=as_float -DAS_INPUT_DATA4=as_float4 "
               "-DAS_OUTPUT_DATA4=as_uint4 -DINTEL_SUB_GROUP_READ=intel_sub_group_block_read "
               "-DINTEL_SUB_GROUP_READ4=intel_sub_group_block_read4 "
               "-DINTEL_SUB_GROUP_WRITE4=intel_sub_group_block_write4")  # Binary/Unary/Relu Buf

SIGMOID = "-DOPERATOR=native_recip((float4)1+native_exp(convert_float4(-in)))"
HOST_OPTIONS: dict[str, dict[str, str]] = {
    "argmax_buf": {"*": "-DARGMAX -DARGMAX_LOCAL_SIZE=128"},
    "attention_buf": {
        "rearrange_qkv": "-DSEQLEN_LEAVE -DSAVE_KV",
        "rearrange_mask": "-DADD_MASK",
        "rearrange_mask_shortprefill": "-DADD_MASK",
        "rearrange_k": "-DOPENCL_PREFILL_ATTENTION",
        "rearrange_v": "-DOPENCL_PREFILL_ATTENTION",
        "matmul_qk_div_mask_prefill": "-DADD_MASK -DNUMHEAD_GROUP_SIZE=1",
        "matmul_qk_decode": "-DNUMHEAD_GROUP_SIZE=1",
        "matmul_qkv_prefill": "-DNUMHEAD_GROUP_SIZE=1",
        "matmul_qkv_decode_b4": "-DNUMHEAD_GROUP_SIZE=1 -DLOOP_UNROLL_4",
        "matmul_qkv_decode_b8": "-DNUMHEAD_GROUP_SIZE=1 -DLOOP_UNROLL_8",
    },
    "binary": {"binary": "-DOPERATOR=in0+in1", "binary_prelu": PRELU, "imageCopy": "-DOPERATOR=in0+in1"},
    "binary_buf": {"binary_buf": "-DOPERATOR=in0+in1", "prelu_buf": PRELU},
    "binary_subgroup_buf": {"*": "-DOPERATOR=in0+in1 " + INTEL_FLOAT,
                            **{f"prelu_buf_{shape}": PRELU + " " + INTEL_FLOAT
                               for shape in ("c4_c4", "c4_c16", "c16_c4", "c16_c16")}},
    "buffer_convert_buf": {"buffer_convert_to_buffer":
                           "-DINPUT_FORMAT=MNN_DATA_FORMAT_NC4HW4 -DOUTPUT_FORMAT=MNN_DATA_FORMAT_NCHW"},
    "buffer_convert_quant": {"*": "-DUSE_LOW_BIT_WEIGHT_INT4",
                             "conv2d_filter_buffer_to_nc4hw4_buffer_int8": "-DUSE_LOW_BIT_WEIGHT_INT8"},
    "conv_2d": {"*": "-DBIAS -DRELU -DMNN_CONV_S1D1"},
    "conv_2d_buf": {"*": "-DRELU -DCHANNEL_BOUNDARY_PROTECT",
                    "conv_2d_1x1_local": "-DRELU -DCONV_LOCAL_SIZE=64"},
    "conv_2d_c1_subgroup_buf": {"*": "-DRELU -DINPUT_LINE_SIZE=16 -DINPUT_BLOCK_SIZE=8 "
                                     "-DINPUT_CHANNEL=3 -DFILTER_HEIGHT=3 -DFILTER_WIDTH=3 "
                                     "-DDILATION_HEIGHT=1 -DDILATION_WIDTH=1 -DSTRIDE_HEIGHT=1 "
                                     "-DSTRIDE_WIDTH=1"},
    "conv_2d_c16_subgroup_buf": {"*": "-DRELU -DINPUT_LINE_SIZE=16 -DSLM_DIV_FACTOR=1 "
                                      "-DWORK_GROUP_SIZE=16 -DIC_BLOCKS=2 -DINPUT_CHANNEL=32 "
                                      "-DFILTER_HEIGHT=3 -DFILTER_WIDTH=3 -DDILATION_HEIGHT=1 "
                                      "-DDILATION_WIDTH=1 -DSTRIDE_HEIGHT=1 -DSTRIDE_WIDTH=1"},
    "conv_2d_int": {"*": "-DBIAS -DRELU -DQUANT_BIT=8"},
    "conv_2d_int_buf": {"*": "-DRELU -DQUANT_BIT=4 -DASYMMETRIC -DCHANNEL_BOUNDARY_PROTECT"},
    "copy_buffer_to_image2d": {"*": "-DBUFFER_INP_FP32"},
    "deconv_2d": {"deconv_2d": "-DBIAS -DRELU"},
    "depthwise_conv2d": {"*": "-DRELU"},
    "depthwise_conv2d_buf": {"*": "-DRELU -DCHANNEL_BOUNDARY_PROTECT"},
    "depthwise_conv2d_subgroup_buf": {"*": "-DRELU -DTYPE_SIZE=4 -DFILTER_HEIGHT=3 -DFILTER_WIDTH=3 "
                                           "-DDILATION_HEIGHT=1 -DDILATION_WIDTH=1 "
                                           "-DSTRIDE_HEIGHT=1 -DSTRIDE_WIDTH=1"},
    "depthwise_deconv2d": {"*": "-DRELU"},
    "gemm_buf": {"transpose_bias": "-DM_VEC=4 -DRELU"},
    "gemm_conv1x1_buf": {"*": "-DRELU -DQUANT_BIT=4 -DINPUT_CHANNEL_LEAVES_NUM=0 "
                              "-DINPUT_BATCH_LEAVES_NUM=0"},
    "gemm_int": {"*": "-DRELU -DQUANT_BIT=8"},
    "gemv_conv1x1_buf": {"*": "-DRELU -DQUANT_BIT=4 -DINPUT_CHANNEL_LEAVES_NUM=0 -DWGS=8"},
    "glmem_convert": {
        "gl_to_cl": "-DSHARED_TO_CL -DINPUT_FORMAT=MNN_DATA_FORMAT_NHWC -DOUTPUT_FORMAT=MNN_DATA_FORMAT_NC4HW4",
        "yuv_to_cl": "-DSHARED_TO_CL -DINPUT_FORMAT=MNN_DATA_FORMAT_NHWC -DOUTPUT_FORMAT=MNN_DATA_FORMAT_NC4HW4",
        "cl_to_gl": "-DCL_TO_SHARED -DINPUT_FORMAT=MNN_DATA_FORMAT_NC4HW4 -DOUTPUT_FORMAT=MNN_DATA_FORMAT_NHWC",
        "cl_to_yuv": "-DCL_TO_SHARED -DINPUT_FORMAT=MNN_DATA_FORMAT_NC4HW4 -DOUTPUT_FORMAT=MNN_DATA_FORMAT_NHWC",
    },
    "groupnorm_buf": {"*": "-DGAMMA_BETA -DLOCAL_SIZE=128"},
    "layernorm": {"*": "-DGAMMA_BETA -DLOCAL_SIZE=128"},
    "layernorm_buf": {"*": "-DGAMMA_BETA -DLOCAL_SIZE=128"},
    "linear_attention_buf": {"*": "-DLOCAL_SIZE=128 -DK_SIZE=128",
                             **{name: "-DCHUNK_PREFILL -DCHUNK_SIZE=64 -DLOCAL_SIZE=128 -DK_SIZE=128"
                                for name in ("chunk_g_cumsum", "chunk_build_neumann_attn_step0",
                                             "chunk_build_neumann_attn_step1", "chunk_correct_v",
                                             "chunk_qk_attn", "chunk_compute_vnew", "chunk_output",
                                             "chunk_output_state_update")}},
    "loop": {"batch_matmul": "-DBIAS -DH_LEAVES=0 -DE_LEAVES=0",
             "loop_binary": "-DOPERATOR=in0+in1", "loop_cumsum": "-DOPERATOR=in0+in1"},
    "matmul": {"*": "-DBIAS"},
    "matmul_buf": {"*": "-DBIAS"},
    "matmul_local_buf": {"*": "-DBIAS -DOPWM=64 -DOPWN=128 -DCPWK=8 -DOPTM=4 -DOPTN=8"},
    "matmul_params_buf": {"Xgemm": XGEMM + " -DBIAS_TYPE=1",
                          "XgemmBatched": XGEMM + " -DONLY_HAVE_ALPHA"},
    "pooling": {"*": "-DLOCAL_SIZE=128"},
    "pooling_buf": {"*": "-DLOCAL_SIZE=128"},
    "pooling_subgroup_buf": {"*": "-DINPUT_LINE_SIZE=16 -DSTRIDE_Y=1 -DSTRIDE_X=1 -DKERNEL_Y=3 "
                                  "-DKERNEL_X=3"},
    "range": {"*": "-DUSE_FLOAT"},
    "range_buf": {"*": "-DUSE_FLOAT"},
    "reduction": {"*": "-DOPERATE(a,b)=(a+b) -DVALUE=0 -DLOCAL_SIZE=128"},
    "reduction_buf": {"*": "-DOPERATE(a,b)=(a+b) -DVALUE=0 -DREDUCT_LOCAL_SIZE=128"},
    "scale": {"*": "-DHAS_BIAS"},
    "scale_buf": {"*": "-DBIAS"},
    "self_attention_buf": {"*": "-DSOFTMAX_LOCAL_SIZE=128"},
    "shared_gather_buf": {"*": "-DUSE_LOW_BIT_WEIGHT_INT4"},
    "softmax": {"*": "-DSOFTMAX_LOCAL_SIZE=128"},
    "softmax_buf": {"*": "-DSOFTMAX_LOCAL_SIZE=128"},
    "strassen_binary_buf": {"*": "-DVEC_H=1", "binary_function_buf": "-DVEC_H=1 -DOPERATOR=in0+in1"},
    "unary": {"*": SIGMOID},
    "unary_buf": {"*": SIGMOID},
    "unary_subgroup_buf": {"*": SIGMOID + " " + INTEL_FLOAT},
    "winogradTransformDest2_3_1": {"*": "-DRELU"},
    "winogradTransformDest2_5_1": {"*": "-DRELU"},
    "winogradTransform_buf": {"winoTransDstBuf2_3_1": "-DRELU"},
    "winogradTransform_subgroup_buf": {"*": "-DRELU"},
}

_KERNEL = re.compile(r"\b__kernel\b(?:\s|#[^\n]*\n|__attribute__\s*\(\([^;{]*?\)\))*?\s*void\s+(\w+)")


def kernel_names(text: str) -> list[str]:
    """The kernels a file defines, in order (also those behind #if and attribute lines)."""
    text = re.sub(r"/\*.*?\*/", " ", re.sub(r"//[^\n]*", "", text), flags=re.S)
    return list(dict.fromkeys(_KERNEL.findall(text)))


def options_for(stem: str, kernel: str) -> tuple[str, str]:
    """(MNN's extra options for this kernel, the full option string it is built with)."""
    table = HOST_OPTIONS.get(stem, {})
    extra = table.get(kernel, table.get("*", ""))
    return extra, " ".join(part for part in (FP32, FLOAT_TENSORS, extra, RUNTIME) if part)


@dataclasses.dataclass
class Row:
    file: str
    kernel: str
    extra_options: str
    alone: str = "-"
    parse: str = "-"
    fuse: str = "-"
    build: str = "-"
    planned: str = "-"      # the runtime planner on this device: fused with the partner, or why not
    barriers: bool = False  # needs real work-groups (barriers / __local memory)
    error: str = ""
    seconds: float = 0.0

    @property
    def counted(self) -> bool:
        return self.alone == "ok"

    @property
    def passed(self) -> bool:
        return self.build == "ok"


def first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:  # a compiler log: the first line that says "error"
        if "error:" in line:
            return re.sub(r"^.*?/(tempfile_\w+|[\w-]+)\.cl:", "<program>.cl:", line)[:240]
    return (lines[0] if lines else type(error).__name__)[:240]


_context = None
_facts = None
_alone_cache: dict = {}


def _init_worker(platform: str):
    global _context, _facts
    import warnings
    warnings.simplefilter("ignore")
    from fusion.runtime import Fuser, platform_context
    _context = platform_context(platform)
    _facts = Fuser(_context).facts


def _build(source: str, options) -> None:
    from fusion.runtime import PROGRAMS
    PROGRAMS.get(_context, _context.devices[0], source, options)


def _source(path: str, kernel: str):
    from fusion import KernelSource
    stem = os.path.splitext(os.path.basename(path))[0]
    extra, options = options_for(stem, kernel)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return KernelSource(text, kernel, options, filename=os.path.basename(path)), extra


def check_alone(path: str, kernel: str) -> str | None:
    """None when the file builds on PoCL with this kernel's options, else the first error."""
    source, _ = _source(path, kernel)
    key = (path, source.options)
    if key not in _alone_cache:
        try:
            _build(source.source, source.options)
            _alone_cache[key] = None
        except Exception as error:  # noqa: BLE001 - any build failure is a result here
            _alone_cache[key] = first_line(error)
    return _alone_cache[key]


def check_parse(path: str, kernel: str) -> tuple[str, str]:
    """(parse status, error) of a kernel that does not build alone: what fusion makes of it."""
    from fusion import UnsupportedError
    from fusion.compiler.parse import parse_kernel
    try:
        parse_kernel(_source(path, kernel)[0])
        return "ok", ""
    except UnsupportedError as error:
        return "refused", first_line(error)
    except Exception as error:  # noqa: BLE001
        return "FAIL", first_line(error)


def check_kernel(path: str, kernel: str, neighbour: tuple[str, str] | None) -> Row:
    """Parse, fuse (with eltwise_add, with itself, with a kernel of another MNN file) and build."""
    from fusion import KernelSource, generate
    from fusion.compiler.parse import parse_kernel
    from fusion.ops import kernel_path
    from fusion.compiler.source import split_options

    started = time.perf_counter()
    source, extra = _source(path, kernel)
    row = Row(os.path.basename(path), kernel, extra, alone="ok")
    try:
        try:
            parse_kernel(source)
            row.parse = "ok"
        except Exception as error:  # noqa: BLE001
            row.parse, row.error = "FAIL", f"parse: {first_line(error)}"
            return row
        # The fixed partner shares the MNN kernel's program-wide flags (they apply to the whole
        # fused program); its own -D options stay its own.
        flags = list(split_options(source.options).program_flags)
        partners = [KernelSource.from_file(kernel_path("eltwise_add.cl"), "eltwise_add", flags),
                    source]
        if neighbour is not None:
            partners.append(_source(*neighbour)[0])
        programs = []
        for partner in partners:
            try:
                programs.append(generate([source, partner], wave_size=32))
            except Exception as error:  # noqa: BLE001
                row.fuse = "FAIL"
                row.error = f"fuse with {partner.display_name}:{partner.name}: {first_line(error)}"
                return row
        row.fuse = "ok"
        for program in programs:
            try:
                _build(program.source, program.build_options)
            except Exception as error:  # noqa: BLE001
                row.build, row.error = "FAIL", f"build {program.kernel_name}: {first_line(error)}"
                return row
        row.build = "ok"
        row.barriers = parse_kernel(source).needs.real_work_groups
        row.planned = _planned(parse_kernel(source), parse_kernel(partners[0]))
        return row
    finally:
        row.seconds = time.perf_counter() - started


def _crashed_row(job, hung: bool) -> Row:
    path, kernel, _ = job
    stem = os.path.splitext(os.path.basename(path))[0]
    return Row(os.path.basename(path), kernel, options_for(stem, kernel)[0], alone="ok",
               parse="?", fuse="?", build="HANG" if hung else "CRASH",
               error=f"build: {HANG if hung else CRASH}")


def _planned(kernel, partner) -> str:
    """What the runtime's planner decides on this device for the kernel beside eltwise_add,
    launched with its required local size (or 16 work-items per group along dimension 0 for a
    barrier kernel): "fused", or the reason it would run alone."""
    from fusion.plan.layout import LaunchShape
    from fusion.plan.partition import partition
    needs = kernel.needs
    dims = kernel.dimensions
    local = (needs.required_local_size[:dims] if needs.required_local_size else
             (16,) + (1,) * (dims - 1) if needs.uses_work_groups else None)
    global_size = tuple(4 * l for l in local) if local else (64,) * dims
    shapes = [LaunchShape.of(global_size, local), LaunchShape.of((64,), None)]
    plan = partition([needs, partner.needs], shapes, layout_kind="groups", device=_facts)
    if len(plan.fused) == 2:
        return "fused"
    return "alone: " + "; ".join(reason for _, reason in plan.alone)[:160]


def _pool(jobs: int):
    spawn = multiprocessing.get_context("spawn")  # each worker opens its own device context
    return concurrent.futures.ProcessPoolExecutor(jobs, mp_context=spawn,
                                                  initializer=_init_worker,
                                                  initargs=(_platform_name,))


def _run_all(workers, function, jobs, label, crashed):
    """function(*job) for every job, in a pool of worker processes (at most two jobs per worker
    queued); when a worker dies (a device compiler that crashed the process: Intel's and
    PoCL's were seen to), the jobs then queued run again one process each — one that kills
    that too gets crashed(job) — and a new pool goes on with the rest."""
    try:
        from tqdm import tqdm
        progress = tqdm(total=len(jobs), unit="kernel", desc=label,
                        disable=not sys.stderr.isatty())
    except ImportError:
        progress = None
    results: dict[int, object] = {}
    pending = list(range(len(jobs)))
    while pending:
        pool = _pool(workers)
        running: dict = {}
        suspects: list[int] = []
        try:
            while pending or running:
                while pending and len(running) < 2 * workers:
                    index = pending.pop(0)
                    running[pool.submit(_with_alarm, function, jobs[index])] = index
                done, _ = concurrent.futures.wait(running,
                                                  return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    index = running.pop(future)
                    try:
                        results[index] = future.result()
                    except concurrent.futures.process.BrokenProcessPool:
                        suspects = sorted([index, *running.values()])
                        break
                    if progress is not None:
                        progress.update()
                if suspects:
                    break
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        for index in suspects:
            results[index] = _alone(function, jobs[index], crashed)
            if progress is not None:
                progress.update()
        pending = [i for i in pending if i not in results]
    if progress is not None:
        progress.close()
    return [results[index] for index in range(len(jobs))]


#: a kernel whose builds take longer than this (a compiler that hangs: Intel's was seen to on
#: a fused MNN softmax) is stopped and reported as such
SECONDS_PER_KERNEL = int(os.environ.get("MNN_SECONDS_PER_KERNEL", "300"))


def _with_alarm(function, job):
    """function(*job) in a worker that SIGALRM ends after SECONDS_PER_KERNEL (its default
    action: a compile inside the driver cannot be interrupted otherwise)."""
    import signal
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(SECONDS_PER_KERNEL)
    try:
        return function(*job)
    finally:
        signal.alarm(0)


def _alone(function, job, crashed):
    import signal
    with _pool(1) as alone:
        future = alone.submit(_with_alarm, function, job)
        processes = list(alone._processes.values())  # noqa: SLF001 - to read its exit code
        try:
            return future.result()
        except concurrent.futures.process.BrokenProcessPool:
            codes = [p.exitcode for p in processes]
            timed_out = -signal.SIGALRM in codes
            what = (f"took longer than {SECONDS_PER_KERNEL} s (stopped)" if timed_out
                    else "crashed the process")
            print(f"{os.path.basename(job[0])}:{job[1]}: the device compiler {what}",
                  file=sys.stderr)
            return crashed(job, timed_out)


_platform_name = "intel-cpu"
CRASH = "the device's compiler crashed the process"
HANG = f"the device's compiler took longer than {SECONDS_PER_KERNEL} s (stopped)"


def share(count: int, total: int) -> str:
    return f"{count}/{total} ({100.0 * count / total:.1f} %)" if total else "0/0"


def write_report(rows: list[Row], path: str, mnn_dir: str, command: str, seconds: float,
                 device: str = "PoCL") -> str:
    refused = [r for r in rows if r.counted and r.parse == "refused"]
    counted = [r for r in rows if r.counted and r.parse != "refused"]
    parsed = sum(r.parse == "ok" for r in counted)
    fused = sum(r.fuse == "ok" for r in counted)
    built = sum(r.build == "ok" for r in counted)
    planned = sum(r.planned == "fused" for r in counted)
    barrier_rows = [r for r in counted if r.barriers]
    barrier_planned = sum(r.planned == "fused" for r in barrier_rows)
    skipped = [r for r in rows if not r.counted]
    files = sorted({r.file for r in rows})
    summary = [
        "| | kernels | share |",
        "|---|---|---|",
        f"| in MNN's `execution/cl/` ({len(files)} files) | {len(rows)} | |",
        f"| build alone on {device} with MNN's options | {len(counted) + len(refused)} | |",
        f"| ... of them refused by fusion by design (vendor sub-group builtins; the runtime runs "
        f"them on their own) | {len(refused)} | |",
        f"| counted: the others | {len(counted)} | |",
        f"| parse | {parsed} | {share(parsed, len(counted))} |",
        f"| fuse (with `eltwise_add`, with itself, with a kernel of another file) | {fused} | {share(fused, len(counted))} |",
        f"| **build the three fused programs on {device}** | **{built}** | **{share(built, len(counted))}** |",
        f"| the runtime's planner on {device} fuses it with `eltwise_add` | {planned} | {share(planned, len(counted))} |",
        f"| ... of them kernels with barriers or `__local` memory | {barrier_planned} | {share(barrier_planned, len(barrier_rows))} |",
    ]
    failures = [r for r in counted if not r.passed]
    causes = collections.Counter(r.error.split(":", 1)[0] for r in failures)
    lines = [
        "# MNN kernel coverage",
        "",
        "Generated by `scripts/mnn_coverage.py`; do not edit by hand. Each kernel of MNN's OpenCL",
        "backend is built with the options MNN's host code uses for it (FP32; the table in the",
        "script), parsed, fused with `fusion/ops/kernels/eltwise_add.cl`, with itself and with the next",
        f"supported kernel of another MNN file, and the three fused programs are built on {device}; the",
        "runtime's planner (fusion.plan.partition, with the device's facts) is asked whether it",
        "would fuse the kernel with `eltwise_add` there. MNN's kernels are not part of this",
        "repository.",
        "",
        "Reproduce: `git clone https://github.com/alibaba/MNN` (the commit below), then",
        f"`{command}` (MNN = the clone).  ",
        f"MNN: {mnn_dir}  ",
        f"Run time: {seconds:.0f} s",
        "",
        "## Summary",
        "",
        *summary,
        "",
    ]
    if refused:
        lines += [
            f"Refused by design: {len(refused)} kernels that call Intel sub-group functions "
            "(files: " + ", ".join(sorted({f'`{r.file}`' for r in refused})) + "; MNN enables "
            "them only on Intel GPUs, `MNN_SUPPORT_INTEL_SUBGROUP`). A sub-group depends on the "
            "hardware work-group, which a fused kernel reshapes: fusion raises "
            "`UnsupportedError` at the call, and the runtime runs such a kernel on its own. "
            f"{device} builds them alone; they are not counted below.",
            "",
        ]
    if skipped:
        lines += [
            f"Not counted either: {len(skipped)} kernels that {device} cannot build even alone "
            "with MNN's options (files: " + ", ".join(sorted({f'`{r.file}`' for r in skipped}))
            + f"); fusion refuses {sum(r.parse == 'refused' for r in skipped)} of them by "
            f"design, the other {sum(r.parse == 'ok' for r in skipped)} parse.",
            "",
        ]
    if failures:
        lines += ["Remaining failures by stage: " +
                  ", ".join(f"{stage}: {n}" for stage, n in sorted(causes.items())), ""]
    else:
        lines += ["No failures among the counted kernels.", ""]
    lines += ["## Per kernel", "",
              "| file | kernel | MNN options (besides FP32) | alone | parse | fuse | build | planner | first error |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        error = r.error.replace("|", "\\|")
        options = r.extra_options.replace("|", "\\|")
        planner = r.planned.replace("|", "\\|")
        lines.append(f"| {r.file} | {r.kernel} | " + (f"`{options}`" if options else "") +
                     f" | {r.alone} | {r.parse} | {r.fuse} | {r.build} | {planner} | {error} |")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return "\n".join(summary)


def _git_revision(directory: str) -> str | None:
    import subprocess
    try:
        return subprocess.run(["git", "-C", directory, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mnn", default=DEFAULT_MNN,
                        help="MNN's source/backend/opencl/execution/cl directory")
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "MNN_COVERAGE.md"))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--platform", default="intel-cpu",
                        help="OpenCL platform that builds the kernels (default: intel-cpu, the "
                             "default device; pocl, nvidia, or part of a platform's name)")
    parser.add_argument("--mnn-revision", help="MNN's commit, for the report (default: asked "
                                               "of git when --mnn is inside a clone)")
    parser.add_argument("--only", action="append", default=[],
                        help="check only this file (stem) or FILE:KERNEL (repeat); no report")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.mnn):
        parser.error(f"{args.mnn}: not a directory (see --help: fetch MNN first)")
    work = []
    for name in sorted(os.listdir(args.mnn)):
        if not name.endswith(".cl"):
            continue
        path = os.path.join(args.mnn, name)
        with open(path, encoding="utf-8") as f:
            for kernel in kernel_names(f.read()):
                stem = name[:-3]
                if args.only and stem not in args.only and f"{stem}:{kernel}" not in args.only:
                    continue
                work.append((path, kernel))
    global _platform_name
    _platform_name = args.platform
    started = time.perf_counter()
    alone = _run_all(args.jobs, check_alone, [(path, kernel) for path, kernel in work], "alone",
                     lambda job, hung: f"alone: {HANG if hung else CRASH}")
    counted = [item for item, error in zip(work, alone) if error is None]
    # kernels fusion refuses by design (vendor sub-group builtins: the runtime runs them on
    # their own) are reported as such; the others are fused, also with each other
    verdicts = dict(zip(counted, _run_all(args.jobs, check_parse, counted, "parse",
                                          lambda job, hung: ("FAIL", HANG if hung else CRASH))))
    refused = [item for item in counted if verdicts[item][0] == "refused"]
    supported = [item for item in counted if verdicts[item][0] != "refused"]
    jobs = []
    for position, (path, kernel) in enumerate(supported):
        # the neighbour: the next supported kernel of another file (cross-file collisions)
        others = [item for item in supported[position + 1:] + supported[:position]
                  if item[0] != path]
        jobs.append((path, kernel, others[0] if others else None))
    checked = dict(zip(supported, _run_all(args.jobs, check_kernel, jobs, "fuse",
                                           _crashed_row)))
    for path, kernel in refused:
        stem = os.path.splitext(os.path.basename(path))[0]
        checked[(path, kernel)] = Row(os.path.basename(path), kernel, options_for(stem, kernel)[0],
                                      alone="ok", parse="refused",
                                      error=f"parse: {verdicts[(path, kernel)][1]}")
    skipped = [item for item, error in zip(work, alone) if error is not None]
    parsed = dict(zip(skipped, _run_all(args.jobs, check_parse, skipped, "parse",
                                        lambda job, hung: ("FAIL", HANG if hung else CRASH))))
    rows = []
    for (path, kernel), error in zip(work, alone):
        if error is None:
            rows.append(checked[(path, kernel)])
        else:
            stem = os.path.splitext(os.path.basename(path))[0]
            status, parse_error = parsed[(path, kernel)]
            rows.append(Row(os.path.basename(path), kernel, options_for(stem, kernel)[0],
                            alone="no", parse=status,
                            error=f"alone: {error}" + (f"; parse: {parse_error}"
                                                       if parse_error else "")))
    seconds = time.perf_counter() - started
    for row in rows:
        if row.error and (row.counted or args.only):
            print(f"{row.file}:{row.kernel}: {row.error}", file=sys.stderr)
    if args.only:
        for r in rows:
            print(f"{r.file}:{r.kernel}: alone {r.alone}, parse {r.parse}, fuse {r.fuse}, "
                  f"build {r.build}, planner {r.planned}")
        return 0 if all(r.passed for r in rows) else 1
    revision = args.mnn_revision or _git_revision(args.mnn)
    command = "python scripts/mnn_coverage.py --mnn MNN/source/backend/opencl/execution/cl"
    if args.platform != "intel-cpu":
        command += f" --platform {args.platform}"
    mnn = f"alibaba/MNN at commit {revision}" if revision else "alibaba/MNN"
    from fusion.runtime import platform_context
    device = platform_context(args.platform).devices[0]
    device_name = f"{device.platform.name.strip()} ({device.name.strip()})"
    print(write_report(rows, args.output, mnn, command, seconds, device_name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
