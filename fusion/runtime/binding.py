"""Kernel arguments: checking what a launch passes against the parameter it goes to, and
converting Python numbers to the parameter's C type.

Only the runtime uses this module; it needs pyopencl.
"""
from __future__ import annotations

import numbers

import numpy as np
import pyopencl as cl
import pyopencl.cltypes as cltypes

from .. import dialect
from ..abi import padded_values
from ..compiler.constants import bakeable
from ..compiler.parse import Parameter
from ..errors import LaunchError


class _Where:
    """Where an argument goes, formatted only when a message needs it (binding is hot)."""

    __slots__ = ("sub_kernel", "index", "parameter")

    def __init__(self, sub_kernel: str, index: int, parameter: Parameter):
        self.sub_kernel, self.index, self.parameter = sub_kernel, index, parameter

    def __format__(self, spec) -> str:
        p = self.parameter
        return (f"sub-kernel '{self.sub_kernel}', argument {self.index} '{p.name}' "
                f"({p.type_text})")


def convert_argument(sub_kernel: str, index: int, parameter: Parameter, value,
                     source_text: str | None = None):
    """The object to hand to pyopencl for one argument, or a LaunchError saying what is wrong,
    located at the parameter's declaration (its line read from source_text or from its file)."""
    try:
        return _convert(sub_kernel, index, parameter, value)
    except LaunchError as error:
        raise LaunchError(error.message, parameter.location, source_text=source_text) from None


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


def convert_scalar(where: str, c_type: str, value):
    by_value = dialect.c_type(c_type)
    if by_value is None:
        if isinstance(value, (np.generic, np.ndarray, bytes)):
            return value  # a struct passed by value: the caller supplies its bytes
        raise LaunchError(f"{where}: cannot pass a {type(value).__name__} for type {c_type}")
    dtype = by_value.dtype
    if not by_value.is_vector:
        if type(value) is dtype.type:
            return value  # already the parameter's type: the common case
        return _number(where, by_value.name, dtype, value)
    vector_dtype = getattr(cltypes, by_value.name, None)
    if vector_dtype is None:
        raise LaunchError(f"{where}: vector type {by_value.name} is not available in pyopencl")
    if isinstance(value, np.ndarray) and value.dtype == vector_dtype:
        return value
    lanes = np.asarray(value).ravel() if not isinstance(value, np.void) else None
    width = by_value.width
    if lanes is None or len(lanes) != width:
        raise LaunchError(f"{where} expects {width} values for {by_value.name}, got {value!r}")
    base, _ = dialect.vector_type(by_value.name)
    converted = [_number(where, base, dtype, lane.item()) for lane in lanes]
    result = np.zeros((), vector_dtype)
    for i, lane in enumerate(converted):
        result[f"s{i}" if width > 4 else "xyzw"[i]] = lane
    return result


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


def integer_constants(parameters, converted) -> tuple[tuple[int, object], ...]:
    """((position, value), ...) of a launch's integer arguments, as generate(constants=) bakes
    them (fusion.compiler.constants): `converted` are the launch's arguments as
    convert_argument returned them; a value is an int, or a tuple for a vector (its lanes
    only: a 3-vector's storage has a fourth)."""
    return tuple((position, _integers(converted[position], parameter))
                 for position, parameter in enumerate(parameters) if bakeable(parameter))


def _integers(value, parameter: Parameter):
    if isinstance(value, (np.ndarray, np.void)):
        lanes = np.asarray(value).reshape(()).item()
        return tuple(int(lane) for lane in lanes[:dialect.c_type(parameter.base_type).width])
    return int(value)


def layout_value(values) -> np.ndarray:
    """A sub-kernel's layout values as the OpenCL vector the fused kernel takes (uint16)."""
    return cltypes.make_uint16(*[int(v) for v in padded_values(values)])
