"""OpenCL C knowledge as data: work-item builtins, address spaces, types, program-wide flags.

Every stage reads these tables; none re-spells them. A work-item builtin that is not in
WORK_ITEM_BUILTINS is refused (UNSUPPORTED_BUILTINS names the ones we know we cannot serve).
"""
from __future__ import annotations

import dataclasses
import functools

import numpy as np


@dataclasses.dataclass(frozen=True)
class WorkItemBuiltin:
    """How a work-item builtin is answered inside a fused kernel.

    field: the member of the sub-kernel's `pf_workitem` record that holds the value.
    per_dim: takes a dimension index; out of range (>= 3) it returns `out_of_range`, as OpenCL
    specifies for an index >= get_work_dim() (the record stores 0 or 1 for unused dimensions).
    """

    field: str
    per_dim: bool
    out_of_range: int = 0


WORK_ITEM_BUILTINS = {
    "get_global_id": WorkItemBuiltin("global_id", True, 0),
    "get_local_id": WorkItemBuiltin("local_id", True, 0),
    "get_group_id": WorkItemBuiltin("group_id", True, 0),
    "get_global_size": WorkItemBuiltin("global_size", True, 1),
    "get_local_size": WorkItemBuiltin("local_size", True, 1),
    "get_enqueued_local_size": WorkItemBuiltin("local_size", True, 1),
    "get_num_groups": WorkItemBuiltin("num_groups", True, 1),
    "get_global_offset": WorkItemBuiltin("global_offset", True, 0),
    "get_work_dim": WorkItemBuiltin("work_dim", False),
    "get_global_linear_id": WorkItemBuiltin("global_linear_id", False),
    "get_local_linear_id": WorkItemBuiltin("local_linear_id", False),
}

# Builtins that depend on the hardware work-group in ways a fused kernel cannot re-create
# (sub-groups, device-side enqueue, work-group collectives of OpenCL 2.x).
UNSUPPORTED_BUILTINS = {
    "get_sub_group_size", "get_max_sub_group_size", "get_num_sub_groups",
    "get_enqueued_num_sub_groups", "get_sub_group_id", "get_sub_group_local_id",
    "sub_group_barrier", "enqueue_kernel", "get_kernel_work_group_size",
    "get_kernel_preferred_work_group_size_multiple", "ndrange_1D", "ndrange_2D", "ndrange_3D",
}
# Vendors' sub-group extensions carry a prefix (intel_sub_group_block_read4,
# qcom_sub_group_shuffle, ...): any function whose name contains "sub_group" is refused.
UNSUPPORTED_PARTS = ("sub_group",)
UNSUPPORTED_PREFIXES = ("sub_group_", "work_group_reduce", "work_group_scan",
                        "work_group_broadcast", "work_group_all", "work_group_any")

# Calls that make every work-item of a work-group wait for the others, or that the work-group
# performs together: a sub-kernel calling one must run in real work-groups of its own size.
WORK_GROUP_FUNCTIONS = {
    "barrier", "work_group_barrier", "async_work_group_copy", "async_work_group_strided_copy",
    "wait_group_events",
}

# Work-item builtins whose values depend on the work-group: a kernel reading one must be launched
# with a local size, which a fused kernel then reproduces (virtual or real work-groups).
WORK_GROUP_BUILTINS = frozenset({
    "get_local_id", "get_group_id", "get_local_size", "get_num_groups", "get_enqueued_local_size",
    "get_local_linear_id",
})

ADDRESS_SPACES = {
    "__global": "global", "global": "global",
    "__local": "local", "local": "local",
    "__constant": "constant", "constant": "constant",
    "__private": "private", "private": "private",
}

ACCESS_QUALIFIERS = {
    "__read_only": "read_only", "read_only": "read_only",
    "__write_only": "write_only", "write_only": "write_only",
    "__read_write": "read_write", "read_write": "read_write",
}

IMAGE_TYPES = {"image1d_t", "image1d_array_t", "image1d_buffer_t", "image2d_t",
               "image2d_array_t", "image3d_t"}

KERNEL_QUALIFIERS = {"__kernel", "kernel"}

# Scalar types a kernel argument may have, as numpy dtypes (OpenCL C sizes, not the host's).
SCALAR_DTYPES = {
    "char": np.int8, "signed char": np.int8, "uchar": np.uint8, "unsigned char": np.uint8,
    "short": np.int16, "ushort": np.uint16, "unsigned short": np.uint16,
    "int": np.int32, "uint": np.uint32, "unsigned int": np.uint32, "unsigned": np.uint32,
    "long": np.int64, "ulong": np.uint64, "unsigned long": np.uint64,
    "float": np.float32, "double": np.float64, "half": np.float16, "bool": np.int8,
}
VECTOR_WIDTHS = (2, 3, 4, 8, 16)
VECTOR_BASES = ("char", "uchar", "short", "ushort", "int", "uint", "long", "ulong", "float",
                "double", "half")


def vector_type(name: str) -> tuple[str, int] | None:
    """('float', 4) for 'float4'; None for a name that is not a vector type."""
    for base in VECTOR_BASES:
        width = name[len(base):]
        if name.startswith(base) and width.isdigit() and int(width) in VECTOR_WIDTHS:
            return base, int(width)
    return None


@dataclasses.dataclass(frozen=True)
class CType:
    """A scalar or vector OpenCL C type passed by value: its element dtype and lanes.

    A 3-component vector occupies the storage of a 4-component one (OpenCL C 6.1.5), so it
    has 3 `width` lanes but 4 `storage_lanes`."""

    name: str
    dtype: np.dtype          # of one element
    width: int               # 1 for a scalar

    @property
    def is_vector(self) -> bool:
        return self.width > 1

    @property
    def storage_lanes(self) -> int:
        return 4 if self.width == 3 else self.width

    @property
    def size(self) -> int:
        """Bytes it takes as a kernel argument."""
        return self.dtype.itemsize * self.storage_lanes


@functools.lru_cache(maxsize=None)
def c_type(name: str) -> CType | None:
    """The CType of a scalar or vector type name (qualifiers const / volatile ignored); None for
    anything else (pointers, images, structs). Cached: binding asks on every launch."""
    name = " ".join(word for word in name.split() if word not in ("const", "volatile"))
    if name in SCALAR_DTYPES:
        return CType(name, np.dtype(SCALAR_DTYPES[name]), 1)
    vector = vector_type(name)
    if vector is not None:
        base, width = vector
        return CType(name, np.dtype(SCALAR_DTYPES[base]), width)
    return None


# Options of the preprocessor: applied to each sub-kernel's own source. Everything else is a
# program-wide build flag: a fused program is built with one set of them, so sub-kernels must
# agree on them.
PREPROCESSOR_OPTIONS = ("-D", "-U", "-I")


def is_program_flag(option: str) -> bool:
    return not option.startswith(PREPROCESSOR_OPTIONS)


# Program-wide options that change only what the compiler reports, never the code it makes
# (OpenCL 5.8.4.5 "Options to Request or Suppress Warnings", and vendors' verbosity switches):
# sub-kernels need not agree on them; the fused program is built with all of them.
DIAGNOSTIC_FLAGS = frozenset({"-w", "-cl-nv-verbose"})


# Program-wide options that only *permit* the compiler to compute less exactly (OpenCL 5.8.4.2
# "Math Intrinsics Options" and 5.8.4.3 "Optimization Options"); with what each implies.
PERMISSION_FLAGS = {
    "-cl-mad-enable": ("-cl-mad-enable",),
    "-cl-no-signed-zeros": ("-cl-no-signed-zeros",),
    "-cl-finite-math-only": ("-cl-finite-math-only",),
    "-cl-unsafe-math-optimizations": ("-cl-unsafe-math-optimizations", "-cl-no-signed-zeros",
                                      "-cl-mad-enable"),
    "-cl-fast-relaxed-math": ("-cl-fast-relaxed-math", "-cl-finite-math-only",
                              "-cl-unsafe-math-optimizations", "-cl-no-signed-zeros",
                              "-cl-mad-enable"),
}

# How sub-kernels' program-wide flags must agree to be fused:
#   exact      all code flags equal (the default: the fused kernel computes bit for bit what
#              each kernel computes alone);
#   strictest  equal but for permissions; the fused program is built with only the permissions
#              every sub-kernel grants, so a kernel that granted more is computed more exactly
#              than alone (equal within a ULP tolerance, not bit for bit).
FLAG_POLICIES = ("exact", "strictest")


def is_permission_flag(option: str) -> bool:
    return option in PERMISSION_FLAGS


def granted_permissions(flags) -> frozenset[str]:
    """Every permission the flags grant, implied ones included."""
    return frozenset(implied for flag in flags if flag in PERMISSION_FLAGS
                     for implied in PERMISSION_FLAGS[flag])


def is_diagnostic_flag(option: str) -> bool:
    return option in DIAGNOSTIC_FLAGS or option.startswith("-W")


# Macros the OpenCL C compiler itself defines (OpenCL C 3.0, 6.12 "Preprocessor Directives and
# Macros", and the extension and feature macros). Fusion preprocesses each sub-kernel itself,
# so it must know them: those that follow from a kernel's own build options are defined from
# them (option_macros); those that depend on the device come from the device (the runtime asks
# it: fusion.runtime.devices.device_macros) or from the caller ahead of time; a kernel whose
# preprocessor conditionals test one that nobody gave is refused, never guessed.
DEVICE_MACROS = frozenset({
    "__OPENCL_VERSION__", "__OPENCL_C_VERSION__", "CL_VERSION_1_0", "CL_VERSION_1_1",
    "CL_VERSION_1_2", "CL_VERSION_2_0", "CL_VERSION_3_0", "__ENDIAN_LITTLE__",
    "__IMAGE_SUPPORT__", "__FAST_RELAXED_MATH__", "__EMBEDDED_PROFILE__", "FP_FAST_FMA",
    "FP_FAST_FMAF", "FP_FAST_FMA_HALF", "__SPIR__", "__SPIRV__", "__OPENCL_CPP_VERSION__",
})
# extension macros (cl_khr_fp16, cl_intel_subgroups, ...) and OpenCL C 3.0 feature macros
DEVICE_MACRO_PREFIXES = ("cl_", "__opencl_c_")


def is_device_macro(name: str) -> bool:
    return name in DEVICE_MACROS or name.startswith(DEVICE_MACRO_PREFIXES)


# decided by the kernel's own options alone, never by the device
OPTION_MACROS = frozenset({"__FAST_RELAXED_MATH__"})


def option_macros(program_flags) -> dict[str, str]:
    """The compiler's macros that a kernel's own program-wide options decide."""
    macros = {}
    for flag in program_flags:
        if flag == "-cl-fast-relaxed-math":
            macros["__FAST_RELAXED_MATH__"] = "1"
        elif flag.startswith("-cl-std=CL") and flag[len("-cl-std=CL"):].replace(".", "").isdigit():
            major, _, minor = flag[len("-cl-std=CL"):].partition(".")
            macros["__OPENCL_C_VERSION__"] = str(int(major) * 100 + int(minor or 0) * 10)
    return macros
