"""Kernel arguments: checking what a launch passes against the parameter it goes to, and
converting Python numbers to the parameter's C type.

Only the runtime uses this module; it needs pyopencl.
"""
from __future__ import annotations

import functools
import numbers

import numpy as np
import pyopencl as cl
import pyopencl.cltypes as cltypes

from . import dialect
from .errors import LaunchError, with_source_line
from .layout import padded_values
from .parse import Parameter


class _Where:
    """Where an argument goes, formatted only when a message needs it (binding is hot)."""

    __slots__ = ("sub_kernel", "index", "parameter")

    def __init__(self, sub_kernel: str, index: int, parameter: Parameter):
        self.sub_kernel, self.index, self.parameter = sub_kernel, index, parameter

    def __format__(self, spec) -> str:
        p = self.parameter
        return (f"{p.location}: sub-kernel '{self.sub_kernel}', argument {self.index} "
                f"'{p.name}' ({p.type_text})")


def convert_argument(sub_kernel: str, index: int, parameter: Parameter, value,
                     source_text: str | None = None):
    """The object to hand to pyopencl for one argument, or a LaunchError saying what is wrong
    (with the parameter's declaration line, read from source_text or from its file)."""
    try:
        return _convert(sub_kernel, index, parameter, value)
    except LaunchError as error:
        raise LaunchError(with_source_line(str(error), parameter.location, source_text)) from None


def _convert(sub_kernel: str, index: int, parameter: Parameter, value):
    kind = parameter.kind
    where = _Where(sub_kernel, index, parameter)
    if kind == "buffer":
        if value is None:
            return None  # a NULL buffer: kernels may test `p != NULL`
        data = getattr(value, "data", value)  # a pyopencl.array.Array passes its buffer
        if isinstance(data, cl.Buffer):
            return data
        raise LaunchError(f"{where} expects a pyopencl Buffer, got {type(value).__name__}")
    if kind == "image":
        if isinstance(value, cl.Image):
            return value
        raise LaunchError(f"{where} expects a pyopencl Image, got {type(value).__name__}")
    if kind == "sampler":
        if isinstance(value, cl.Sampler):
            return value
        raise LaunchError(f"{where} expects a pyopencl Sampler, got {type(value).__name__}")
    if kind == "local":
        if isinstance(value, cl.LocalMemory):
            return value
        raise LaunchError(f"{where} expects pyopencl.LocalMemory(size in bytes), "
                          f"got {type(value).__name__}")
    return convert_scalar(where, parameter.base_type, value)


@functools.lru_cache(maxsize=None)
def _scalar_type(c_type: str) -> tuple[str, np.dtype | None]:
    """The C type without qualifiers, and its numpy dtype if it is a plain scalar (cached:
    binding runs on every launch)."""
    c_type = " ".join(word for word in c_type.split() if word not in ("const", "volatile"))
    dtype = dialect.SCALAR_DTYPES.get(c_type)
    return c_type, (np.dtype(dtype) if dtype is not None else None)


def convert_scalar(where: str, c_type: str, value):
    c_type, dtype = _scalar_type(c_type)
    if dtype is not None:
        if type(value) is dtype.type:
            return value  # already the parameter's type: the common case
        return _number(where, c_type, dtype, value)
    vector = dialect.vector_type(c_type)
    if vector is not None:
        base, width = vector
        dtype = getattr(cltypes, c_type, None)
        if dtype is None:
            raise LaunchError(f"{where}: vector type {c_type} is not available in pyopencl")
        if isinstance(value, np.ndarray) and value.dtype == dtype:
            return value
        lanes = np.asarray(value).ravel() if not isinstance(value, np.void) else None
        if lanes is None or len(lanes) != width:
            raise LaunchError(f"{where} expects {width} values for {c_type}, got {value!r}")
        scalar = np.dtype(dialect.SCALAR_DTYPES[base])
        converted = [_number(where, base, scalar, lane.item()) for lane in lanes]
        result = np.zeros((), dtype)
        for i, lane in enumerate(converted):
            result[f"s{i}" if width > 4 else "xyzw"[i]] = lane
        return result
    if isinstance(value, (np.generic, np.ndarray, bytes)):
        return value  # a struct passed by value: the caller supplies its bytes
    raise LaunchError(f"{where}: cannot pass a {type(value).__name__} for type {c_type}")


def _number(where: str, c_type: str, dtype: np.dtype, value):
    if isinstance(value, np.generic) and value.dtype == dtype:
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Number, np.generic)):
        if not isinstance(value, (bool, np.bool_)):
            raise LaunchError(f"{where} expects a number ({c_type}), got {type(value).__name__}")
    if np.issubdtype(dtype, np.integer):
        if isinstance(value, (float, np.floating)) and not float(value).is_integer():
            raise LaunchError(f"{where} expects an integer ({c_type}), got {value!r}")
        info = np.iinfo(dtype)
        integer = int(value)
        if not info.min <= integer <= info.max:
            raise LaunchError(f"{where}: {integer} does not fit in {c_type} "
                              f"[{info.min}, {info.max}]")
        return dtype.type(integer)
    if isinstance(value, complex):
        raise LaunchError(f"{where} expects a real number ({c_type}), got {value!r}")
    return dtype.type(value)


def layout_value(values) -> np.ndarray:
    """A sub-kernel's layout values as the OpenCL vector the fused kernel takes (uint16)."""
    return cltypes.make_uint16(*[int(v) for v in padded_values(values)])
