"""Arguments baked in as constants: integer parameters whose values are known when the fused
kernel is generated (a plan binds every launch once, so its shape arguments never change).

A baked parameter leaves the fused kernel's signature and becomes a declaration, as its author
wrote it, at the top of its sub-kernel's branch:

    __private const int output_width    (a parameter)
    __private const int output_width = 56;    (the branch's first line)

so its sub-kernel computes exactly what it computed with the argument (only integers are baked:
their arithmetic is exact whether the compiler folds it or the device does), and the host no
longer passes it at every launch (each argument costs the driver time per enqueue). Floating-
point parameters, pointers, images, samplers and structs stay arguments.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .. import dialect
from ..errors import FusionError, SourceError
from .parse import ParsedKernel

#: sub-kernel -> {parameter position: value (an int, or a tuple of ints for a vector)}
Constants = Sequence[Mapping[int, object]]


def bakeable(parameter) -> bool:
    """Whether a parameter can be baked in: a scalar or vector of an integer type."""
    if parameter.kind != "scalar":
        return False
    by_value = dialect.c_type(parameter.base_type)
    return (by_value is not None and by_value.name != "bool"
            and np.issubdtype(by_value.dtype, np.integer))


def check_constants(parsed: Sequence[ParsedKernel], constants: Constants | None
                    ) -> tuple[dict[int, str], ...]:
    """Per sub-kernel, {parameter position: the OpenCL C literal of its value}; a FusionError
    naming the parameter for a position that is not an integer parameter or a value that is not
    one of its type."""
    if constants is None:
        return tuple({} for _ in parsed)
    if len(constants) != len(parsed):
        raise FusionError(f"{len(parsed)} kernels but constants for {len(constants)}")
    literals = []
    for kernel, values in zip(parsed, constants):
        own = {}
        for position, value in sorted(values.items()):
            if not 0 <= position < len(kernel.parameters):
                raise SourceError(f"kernel '{kernel.name}' has no parameter {position} to bake "
                                  "in", kernel.location, source_text=kernel.kernel.source)
            parameter = kernel.parameters[position]
            if not bakeable(parameter):
                raise SourceError(f"kernel '{kernel.name}', parameter '{parameter.name}' "
                                  f"({parameter.type_text}) cannot be baked in: only integer "
                                  "scalars and vectors can", parameter.location,
                                  source_text=kernel.kernel.source)
            try:
                own[position] = literal(parameter, value)
            except ValueError as error:
                raise SourceError(f"kernel '{kernel.name}': {error}", parameter.location,
                                  source_text=kernel.kernel.source) from None
        literals.append(own)
    return tuple(literals)


def literal(parameter, value) -> str:
    """The OpenCL C text of `value` as the parameter's (integer scalar or vector) type."""
    by_value = dialect.c_type(parameter.base_type)
    lanes = [value] if not by_value.is_vector else list(np.asarray(value).ravel())
    if len(lanes) != by_value.width:
        raise ValueError(f"parameter '{parameter.name}' ({parameter.type_text}) takes "
                         f"{by_value.width} values, got {value!r}")
    info = np.iinfo(by_value.dtype)
    texts = []
    for lane in lanes:
        if isinstance(lane, (bool, np.bool_)) or not isinstance(lane, (int, np.integer)):
            raise ValueError(f"parameter '{parameter.name}' ({parameter.type_text}) takes "
                             f"integers, got {lane!r}")
        lane = int(lane)
        if not info.min <= lane <= info.max:
            raise ValueError(f"{lane} does not fit parameter '{parameter.name}' "
                             f"({parameter.type_text})")
        texts.append(_integer(lane, info))
    base, _ = dialect.vector_type(by_value.name) or (by_value.name, 1)
    if by_value.is_vector:
        return f"({by_value.name})({', '.join(texts)})"
    return texts[0] if base in ("int", "uint", "long", "ulong") else f"({base}){texts[0]}"


def _integer(value: int, info: np.iinfo) -> str:
    """A literal of at least the lane's width: `56`, `56u`, `-9223372036854775807L - 1L`."""
    unsigned = info.min == 0
    wide = info.bits == 64
    suffix = ("u" if unsigned else "") + ("L" if wide else "")
    if value == info.min and not unsigned:
        return f"({value + 1}{suffix} - 1{suffix})"   # -2147483648 is not a literal in C
    return f"{value}{suffix}"
