"""Random OpenCL kernels for testing fusion, in the spirit of CLsmith.

Every generated kernel is valid OpenCL C (1.2, or 2.0 when it uses 2.0 work-item builtins), free
of undefined behaviour (no data race, no out-of-bounds access, no uninitialised read, integer
wrap-around only on unsigned types, no float operation whose result depends on how it is
compiled: only +, -, *, exact divisions, fma, min/max, clamps), and computes a deterministic
output from inputs drawn from a seed. It exercises what fusion must preserve:

* 1-D, 2-D and 3-D NDRanges, MNN-style padded global sizes with early returns;
* every work-item builtin, with constant, variable and out-of-range dimension indices;
* barrier() with __local arrays declared in the body and as __local pointer arguments, in
  loops and in helpers, work-group reductions, async_work_group_copy;
* helper functions (calling builtins, each other, taking pointers), with names drawn from a small
  pool so that kernels of one group define same-named helpers with different bodies;
* parameter and local names from shared pools, so they collide across kernels;
* early returns (also inside loops, and whole work-groups before a barrier), loops with break /
  continue and unroll hints, switch statements (with fall-through), private arrays;
* vector types, vector literals, swizzles, vload / vstore;
* structs, typedefs, enums, __constant data, struct and vector arguments by value, NULL buffers,
  one buffer bound to two parameters;
* macros configured by -D options (also function-like ones), macro-generated kernel names.

Two interfaces over one generator:

    random_kernels()          a hypothesis strategy of RandomKernel
    random_groups()           a hypothesis strategy of KernelGroup: 2-4 kernels that can share
                              one fused launch (barrier kernels agree on their work-group size)
    generate_group(seed)      the same from a plain integer seed (for long runs: scripts/fuzz.py)

A RandomKernel carries its KernelSource, its launch shape and `make(context, queue, rng)` ->
(launch, outputs); `KernelGroup.factory(seed)` is a factory for fusion.testing.assert_equivalent.
"""
from __future__ import annotations

import dataclasses
import math
import random
import re
from collections.abc import Callable, Sequence

import numpy as np

from ..compiler.source import KernelSource

__all__ = ["RandomKernel", "KernelGroup", "Argument", "random_kernels", "random_groups",
           "generate_kernel", "generate_group", "GROUP_ITEMS"]

# Work-group sizes (work-items per group) of kernels with barriers; powers of two so that the
# tree reductions are exact.
GROUP_ITEMS = (4, 8, 16, 32)
MAX_ITEMS = 192               # work-items per kernel: Oclgrind interprets each one


# --- choices: one generator, driven by hypothesis or by random.Random -----------------------

class Chooser:
    """Where the generator's decisions come from."""

    def integer(self, low: int, high: int) -> int:
        raise NotImplementedError

    def choice(self, options: Sequence):
        return options[self.integer(0, len(options) - 1)]

    def chance(self, percent: int) -> bool:
        return self.integer(0, 99) < percent


class RandomChooser(Chooser):
    def __init__(self, seed: int):
        self.random = random.Random(seed)

    def integer(self, low: int, high: int) -> int:
        return self.random.randint(low, high)


class DrawChooser(Chooser):
    """Decisions drawn from a hypothesis `draw`, so that failures shrink."""

    def __init__(self, draw):
        self.draw = draw

    def integer(self, low: int, high: int) -> int:
        from hypothesis import strategies as st
        return self.draw(st.integers(low, high))


# --- what a generated kernel is -----------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Argument:
    """One kernel argument as the launch factory builds it.

    kind: "input" (a buffer of random data), "output" (a buffer filled with a pattern, compared
    after the launch), "same" (the buffer of an earlier input argument again), "null" (a NULL
    buffer), "scalar", "vector", "struct" (values fixed at generation), "local" (LocalMemory).
    """

    name: str
    kind: str
    dtype: str = "uint32"
    count: int = 0                 # buffer elements, or bytes of local memory
    value: object = None           # scalar / vector / struct value; "same": the argument index


@dataclasses.dataclass(frozen=True)
class RandomKernel:
    kernel: KernelSource
    global_size: tuple[int, ...]
    local_size: tuple[int, ...] | None
    arguments: tuple[Argument, ...]
    real_work_groups: bool          # barriers or __local memory
    program_flags: tuple[str, ...]  # e.g. ("-cl-std=CL2.0",): must agree within a fused group
    features: frozenset[str]

    @property
    def items(self) -> int:
        return math.prod(self.global_size)

    def make(self, context, queue, rng: np.random.Generator):
        """(launch, outputs) with fresh buffers; inputs drawn from rng."""
        import pyopencl as cl
        from .testing import Output
        flags = cl.mem_flags
        values, outputs = [], []
        for argument in self.arguments:
            if argument.kind == "input":
                host = _random_array(rng, argument.dtype, argument.count)
                values.append(cl.Buffer(context, flags.READ_ONLY | flags.COPY_HOST_PTR, hostbuf=host))
            elif argument.kind == "output":
                dtype = np.dtype(argument.dtype)
                host = np.full(argument.count * dtype.itemsize, 0xA5, np.uint8)
                memory = cl.Buffer(context, flags.READ_WRITE | flags.COPY_HOST_PTR, hostbuf=host)
                values.append(memory)
                outputs.append(Output(0, argument.name, memory, dtype))
            elif argument.kind == "same":
                values.append(values[argument.value])
            elif argument.kind == "null":
                values.append(None)
            elif argument.kind == "local":
                values.append(cl.LocalMemory(argument.count))
            elif argument.kind == "struct":
                values.append(_struct_value(argument))
            else:
                values.append(argument.value)
        return (self.global_size, self.local_size, values), outputs


@dataclasses.dataclass(frozen=True)
class KernelGroup:
    kernels: tuple[RandomKernel, ...]
    layout: str

    @property
    def sources(self) -> list[KernelSource]:
        return [k.kernel for k in self.kernels]

    @property
    def barrier_kernels(self) -> int:
        return sum(k.real_work_groups for k in self.kernels)

    def without_barrier_kernels(self) -> "KernelGroup":
        """The kernels that need no real work-groups. PoCL 3.0-rc2 miscompiles some barrier
        kernels even alone (results that change from run to run; docs/LIMITS.md), so on PoCL
        only these are compared; Oclgrind checks whole groups."""
        return KernelGroup(tuple(k for k in self.kernels if not k.real_work_groups), self.layout)

    def factory(self, seed: int) -> Callable:
        """A launch factory for fusion.testing.assert_equivalent: every kernel's launch and
        outputs, inputs drawn from one seed (two calls build equal inputs)."""
        def make(context, queue):
            rng = np.random.default_rng(seed)
            launches, outputs = [], []
            for index, kernel in enumerate(self.kernels):
                launch, kernel_outputs = kernel.make(context, queue, rng)
                launches.append(launch)
                outputs += [dataclasses.replace(o, sub_kernel=index) for o in kernel_outputs]
            return launches, outputs
        return make

    def collisions(self) -> frozenset[str]:
        """Which kinds of name collisions fusing this group resolves (from the manifest of the
        fused program): a record of what the group exercised."""
        from ..compiler.pipeline import generate
        program = generate(self.sources, wave_size=8, layout=self.layout)
        found = set()
        helpers_seen: dict[str, int] = {}
        for kernel in self.kernels:
            for name in HELPER_NAMES:
                if re.search(rf"\b{name}\s*\(", kernel.kernel.source.split("__kernel")[0]):
                    helpers_seen[name] = helpers_seen.get(name, 0) + 1
        renamed = set()
        for sub, kernel in zip(program.manifest["sub_kernels"], self.kernels):
            parameters = {argument.name for argument in kernel.arguments}
            for original in sub["renamed"]:
                renamed.add(original)
                if original in parameters:
                    found.add("colliding parameter renamed")
                elif original in HELPER_NAMES:
                    found.add("same-named helper with another body renamed")
                else:
                    found.add("colliding file-scope name renamed")
        if any(count > 1 and name not in renamed for name, count in helpers_seen.items()):
            found.add("same-named helper shared")
        return frozenset(found)

    def describe(self) -> str:
        return "; ".join(f"{k.kernel.filename}:{k.kernel.name} {k.global_size}/{k.local_size}"
                         for k in self.kernels) + f" [{self.layout}]"


def _random_array(rng: np.random.Generator, dtype: str, count: int) -> np.ndarray:
    if dtype == "float32":
        # Multiples of 1/64 in [-2, 2]: sums and small products stay exact-ish and finite.
        return (rng.integers(-128, 129, count) / 64.0).astype(np.float32)
    info = np.iinfo(np.dtype(dtype))
    return rng.integers(info.min, info.max, count, dtype=np.dtype(dtype), endpoint=True)


_STRUCT_FIELDS = {"uint": np.uint32, "float": np.float32, "int": np.int32}


def _struct_value(argument: Argument) -> np.ndarray:
    fields = [(name, _STRUCT_FIELDS[c_type]) for name, c_type, _ in argument.value]
    value = np.zeros((), np.dtype(fields))
    for name, _, field_value in argument.value:
        value[name] = field_value
    return value


# --- name pools: small on purpose, so that kernels of one group collide ---------------------------

KERNEL_NAMES = ("compute", "pooling", "convert", "k", "blend_op")
HELPER_NAMES = ("twist", "fold", "shade", "scramble", "act", "where_x")
BUFFER_NAMES = ("in", "src", "data", "input0", "weights", "bias")
OUTPUT_NAMES = ("out", "dst", "output", "result")
SCALAR_NAMES = ("n", "count", "size", "width", "factor", "shift")
LOCAL_NAMES = ("acc", "x", "tmp", "v", "i", "n", "src", "count", "twist", "TABLE", "sum")
TABLE_NAMES = ("TABLE", "LUT", "COEFFS")
TYPE_NAMES = ("pair_t", "cell_t")
MACRO_NAMES = ("SCALE", "SHIFT", "ROUNDS", "BIAS_TERM")


class _Names:
    """Names one kernel has used; a pool name is taken only once per kernel."""

    def __init__(self, chooser: Chooser):
        self.chooser = chooser
        self.taken: set[str] = set()

    def take(self, pool: Sequence[str], fallback: str) -> str:
        free = [name for name in pool if name not in self.taken]
        name = self.chooser.choice(free) if free else fallback
        while name in self.taken:
            name += "_"
        self.taken.add(name)
        return name


# --- expressions ------------------------------------------------------------------------------------

class _Expressions:
    """Expression trees over the variables in scope. uint arithmetic wraps (defined); float
    arithmetic stays finite (inputs in [-2, 2], clamps) and uses only operations whose result
    does not depend on how they are compiled."""

    def __init__(self, chooser: Chooser, writer: "_KernelWriter"):
        self.c = chooser
        self.w = writer

    def uint(self, depth: int = 2, scope: Sequence[str] = ()) -> str:
        scope = list(scope) or self.w.uint_vars
        if depth <= 0 or self.c.chance(25):
            return self._uint_leaf(scope)
        kind = self.c.integer(0, 11)
        a = self.uint(depth - 1, scope)
        b = self.uint(depth - 1, scope)
        if kind <= 4:
            return f"({a} {self.c.choice(('+', '-', '*', '^', '&', '|'))} {b})"
        if kind == 5:
            return f"({a} {self.c.choice(('/', '%'))} ({b} | 1u))"
        if kind == 6:
            return f"({a} {self.c.choice(('<<', '>>'))} ({b} & 31u))"
        if kind == 7:
            return f"{self.c.choice(('min', 'max', 'rotate', 'add_sat', 'hadd'))}({a}, {b})"
        if kind == 8:
            c = self.uint(depth - 1, scope)
            return f"({a} {self.c.choice(('<', '>', '==', '!='))} {b} ? {c} : {self.uint(depth - 1, scope)})"
        if kind == 9 and self.w.uint_helpers:
            name = self.c.choice(self.w.uint_helpers)
            return self.w.call_helper(name, [a, b])
        if kind == 10 and self.w.float_vars:
            return f"as_uint({self.float(depth - 1)})"
        return f"(uint)clz({a})" if self.c.chance(50) else f"popcount({a})"

    def _uint_leaf(self, scope) -> str:
        kind = self.c.integer(0, 9)
        if kind <= 3 and scope:
            return self.c.choice(scope)
        if kind == 4 and self.w.uint_inputs:
            buffer, count = self.c.choice(self.w.uint_inputs)
            return f"{buffer}[({self.c.choice(scope) if scope else '0u'}) % {count}]"
        if kind == 5 and self.w.uint_table:
            name, size = self.w.uint_table
            return f"{name}[({self.c.choice(scope) if scope else '1u'}) & {size - 1}u]"
        if kind == 6 and self.w.uint_macro:
            return f"(uint)({self.w.uint_macro})"
        if kind == 7 and self.w.enumerators:
            return f"(uint){self.c.choice(self.w.enumerators)}"
        return f"{self.c.integer(0, 1 << self.c.choice((4, 8, 16, 31)))}u"

    def float(self, depth: int = 2, scope: Sequence[str] = ()) -> str:
        scope = list(scope) or self.w.float_vars
        if depth <= 0 or self.c.chance(25):
            return self._float_leaf(scope)
        kind = self.c.integer(0, 9)
        a = self.float(depth - 1, scope)
        b = self.float(depth - 1, scope)
        if kind <= 3:
            return f"({a} {self.c.choice(('+', '-', '*'))} {b})"
        if kind == 4:
            return f"({a} / {self.c.choice(('2.0f', '4.0f', '0.5f', '8.0f'))})"  # exact
        if kind == 5:
            return f"{self.c.choice(('fmin', 'fmax'))}({a}, {b})"
        if kind == 6:
            return f"fma({a}, {b}, {self.float(depth - 1, scope)})"
        if kind == 7:
            return f"clamp({a}, -64.0f, 64.0f)"
        if kind == 8 and self.w.float_helpers:
            return self.w.call_helper(self.c.choice(self.w.float_helpers), [a, b])
        return f"({self.uint(depth - 1)} > {self.uint(depth - 1)} ? {a} : fabs({b}))"

    def _float_leaf(self, scope) -> str:
        kind = self.c.integer(0, 7)
        if kind <= 2 and scope:
            return self.c.choice(scope)
        if kind == 3 and self.w.float_inputs:
            buffer, count = self.c.choice(self.w.float_inputs)
            index = self.c.choice(self.w.uint_vars) if self.w.uint_vars else "0u"
            return f"{buffer}[({index}) % {count}]"
        if kind == 4 and self.w.float_table:
            name, size = self.w.float_table
            index = self.c.choice(self.w.uint_vars) if self.w.uint_vars else "2u"
            return f"{name}[({index}) & {size - 1}u]"
        if kind == 5 and self.w.uint_vars:
            return f"(float)({self.c.choice(self.w.uint_vars)} & 1023u)"  # exact conversion
        return f"{self.c.integer(-256, 256) / 32.0!r}f"


def _clamped(expression: str) -> str:
    return f"clamp({expression}, -1024.0f, 1024.0f)"


# --- the kernel writer ---------------------------------------------------------------------------

@dataclasses.dataclass
class _Plan:
    """Decisions fixed before the text is written."""

    dims: int
    global_size: tuple[int, ...]
    local_size: tuple[int, ...] | None
    real: bool                      # barriers + __local
    padded: bool                    # dimension 0 padded, real size passed as an argument
    real_extent: int                # the unpadded size of dimension 0
    cl2: bool                       # uses OpenCL 2.0 work-item builtins
    group_builtins: bool            # reads local / group ids or sizes


class _KernelWriter:
    def __init__(self, chooser: Chooser, plan: _Plan, file_index: int):
        self.c = chooser
        self.plan = plan
        self.file_index = file_index
        self.names = _Names(chooser)
        self.expr = _Expressions(chooser, self)
        self.features: set[str] = set()
        self.arguments: list[Argument] = []
        self.parameters: list[str] = []
        self.options: list[str] = []
        self.file_scope: list[str] = []
        self.body: list[str] = []
        self.indent = 1
        self.uint_vars: list[str] = []
        self.float_vars: list[str] = []
        self.uint_inputs: list[tuple[str, int]] = []
        self.float_inputs: list[tuple[str, int]] = []
        self.uint_table: tuple[str, int] | None = None
        self.float_table: tuple[str, int] | None = None
        self.uint_macro: str | None = None
        self.enumerators: list[str] = []
        self.uint_helpers: list[str] = []
        self.float_helpers: list[str] = []
        self.apply_macro = False
        self.pointer_helpers: list[str] = []
        self.nullary_helpers: list[str] = []
        self.maybe: tuple[str, int] | None = None
        self.local_pointer: str | None = None
        self.extent_name = ""
        self.struct_type: tuple[str, list[tuple[str, str]]] | None = None
        self.attributed: tuple[str, bool] | None = None
        self.glued = False
        self.slots = 0
        self.float_slots = 0

    # -- small utilities
    def line(self, text: str) -> None:
        self.body.append("    " * self.indent + text)

    def local(self, pool=LOCAL_NAMES, fallback="t") -> str:
        return self.names.take(pool, fallback)

    def call_helper(self, name: str, args: list[str]) -> str:
        return f"{name}({', '.join(args)})"

    # -- file scope
    def write_file_scope(self) -> None:
        c = self.c
        if c.chance(60):
            macro = self.names.take(MACRO_NAMES, "CFG")
            default = c.integer(1, 9)
            self.file_scope += [f"#ifndef {macro}", f"#define {macro} {default}u", "#endif"]
            if c.chance(60):
                self.options.append(f"-D{macro}={c.integer(1, 9)}u")
                self.features.add("-D macro")
            self.uint_macro = macro
        if c.chance(25):
            self.file_scope += ["#ifndef APPLY", "#define APPLY(x) ((x) + 1u)", "#endif"]
            if c.chance(70):
                self.options.append(f"-DAPPLY(x)=((x)*{c.integer(2, 7)}u)")
                self.features.add("function-like -D macro")
            self.apply_macro = True
        if c.chance(45):
            name = self.names.take(TABLE_NAMES, "TABLE_")
            size = c.choice((4, 8))
            values = ", ".join(f"{c.integer(0, 1 << 20)}u" for _ in range(size))
            self.file_scope.append(f"__constant uint {name}[{size}] = {{{values}}};")
            self.uint_table = (name, size)
            self.features.add("__constant data")
        if c.chance(35):
            name = self.names.take(TABLE_NAMES, "FTABLE")
            values = ", ".join(f"{c.integer(-64, 64) / 16.0!r}f" for _ in range(4))
            self.file_scope.append(f"__constant float {name}[4] = {{{values}}};")
            self.float_table = (name, 4)
            self.features.add("__constant data")
        if c.chance(40):
            name = self.names.take(TYPE_NAMES, "rec_t")
            fields = [("a", "uint"), ("b", "float")] if c.chance(50) else \
                [("b", "float"), ("a", "uint"), ("c", "uint")]
            members = " ".join(f"{t} {f};" for f, t in fields)
            self.file_scope.append(f"typedef struct {{ {members} }} {name};")
            self.struct_type = (name, fields)
            self.features.add("struct typedef")
        if c.chance(30):
            self._attributed_record()
        if c.chance(20):
            # token pasting whose middle argument is a preprocessing number (MNN writes
            # DO##n##Input... with n = 2): pcpp must lex `2In` as one token
            self.file_scope += ["#define GLUE3(a, n, b) a##n##b"]
            self.glued = True
            self.features.add("token pasting of a pp-number")
        if c.chance(25):
            tag = c.choice(("mode", "phase"))
            first = c.choice(("MODE_A", "MODE_B"))
            self.enumerators = [first, "MODE_C"]
            self.file_scope.append(f"enum {tag} {{ {first} = {c.integer(1, 50)}, MODE_C = {c.integer(51, 99)} }};")
            self.features.add("enum")
        self.write_helpers()

    def _attributed_record(self) -> None:
        """A struct whose layout its attributes decide, in each place an attribute may stand;
        its sizeof goes into the results, so an attribute lost in fusion changes them."""
        c = self.c
        name = self.names.take(("packed_t", "wide_t", "blob_t"), "attr_t")
        form = c.integer(0, 4)
        fields = "uchar tag; uint value;" if c.chance(60) else "ushort tag; float4 lanes; uint value;"
        if form == 0:    # attribute after the closing brace
            text = f"typedef struct {{ {fields} }} __attribute__((packed)) {name};"
        elif form == 1:  # attribute before the body
            text = f"typedef struct __attribute__((packed)) {{ {fields} }} {name};"
        elif form == 2:  # an aligned tagged struct, then a typedef of it
            align = c.choice((16, 32, 64))
            text = (f"struct __attribute__((aligned({align}))) {name}_tag {{ {fields} }};\n"
                    f"typedef struct {name}_tag {name};")
        elif form == 3:  # aligned, after the braces
            text = f"typedef struct {{ {fields} }} __attribute__((aligned({c.choice((8, 32))}))) {name};"
        else:            # a field attribute
            text = (f"typedef struct {{ uchar tag; uint value __attribute__((aligned("
                    f"{c.choice((8, 16))}))); }} {name};")
            fields = "uchar tag; uint value;"
        self.file_scope.append(text)
        self.attributed = (name, "lanes" in fields)
        self.features.add("attributed struct")

    def write_helpers(self) -> None:
        c = self.c
        count = c.integer(0, 3)
        for _ in range(count):
            name = self.names.take(HELPER_NAMES[:5], "helper")
            kind = c.integer(0, 4)
            if kind <= 1:
                body = self.expr.uint(2, ["a", "b"])
                self.file_scope.append(f"uint {name}(uint a, uint b)\n{{\n    return {body};\n}}")
                self.uint_helpers.append(name)
            elif kind == 2:
                body = _clamped(self.expr.float(2, ["x", "y"]))
                self.file_scope.append(f"float {name}(float x, float y)\n{{\n    return {body};\n}}")
                self.float_helpers.append(name)
            elif kind == 3 and self.uint_helpers:
                # a helper calling an earlier one, and a work-item builtin
                inner = self.c.choice(self.uint_helpers)
                builtin = c.choice(("get_global_id(0)", "get_global_size(0)", "get_work_dim()"))
                self.file_scope.append(
                    f"uint {name}(uint a, uint b)\n{{\n    uint t = {inner}(b, a);\n"
                    f"    return t ^ (uint){builtin};\n}}")
                self.uint_helpers.append(name)
                self.features.add("helper calls helper and a builtin")
            else:
                # a helper reading a global buffer through a pointer parameter
                self.file_scope.append(
                    f"uint {name}(__global const uint *p, uint i, uint n)\n{{\n"
                    f"    return p[i % n] + {c.integer(0, 99)}u;\n}}")
                self.features.add("helper with pointer parameter")
                self.pointer_helpers.append(name)
        if self.c.chance(30):
            name = self.names.take(("where_x",), "where_")
            ids = " + ".join(f"(uint)get_global_id({d}) * {7 ** d}u" for d in range(self.plan.dims))
            self.file_scope.append(f"uint {name}(void)\n{{\n    return {ids};\n}}")
            self.nullary_helpers.append(name)
            self.features.add("builtin in helper")

    # -- parameters
    def add_parameter(self, declaration: str, argument: Argument) -> None:
        self.parameters.append(declaration)
        self.arguments.append(argument)

    def write_parameters(self) -> None:
        c, plan = self.c, self.plan
        items = math.prod(plan.global_size)
        # MNN style: real global sizes as leading scalars
        if plan.padded:
            name = self.names.take(SCALAR_NAMES[:3], "n_")
            qualifier = c.choice(("const uint", "__private const uint", "uint"))
            self.add_parameter(f"{qualifier} {name}", Argument(name, "scalar", value=np.uint32(plan.real_extent)))
            self.extent_name = name
        inputs = c.integer(1, 3)
        for index in range(inputs):
            name = self.names.take(BUFFER_NAMES, f"in{index}")
            is_float = c.chance(40)
            count = c.choice((items, items + c.integer(1, 17), c.integer(4, 64)))
            if is_float:
                restrict = "restrict " if c.chance(20) else ""
                self.add_parameter(f"__global const float *{restrict}{name}",
                                   Argument(name, "input", "float32", count))
                self.float_inputs.append((name, count))
            else:
                self.add_parameter(f"__global const uint *{name}", Argument(name, "input", "uint32", count))
                self.uint_inputs.append((name, count))
        if self.uint_inputs and c.chance(20):
            # the same buffer bound to a second parameter
            source_index = next(i for i, a in enumerate(self.arguments)
                                if a.kind == "input" and a.dtype == "uint32")
            name = self.names.take(BUFFER_NAMES, "alias")
            count = self.arguments[source_index].count
            self.add_parameter(f"__global const uint *{name}", Argument(name, "same", value=source_index))
            self.uint_inputs.append((name, count))
            self.features.add("one buffer bound twice")
        self.slots = c.integer(2, 6)
        self.float_slots = c.integer(1, 4) if c.chance(70) else 0
        self.out = self.names.take(OUTPUT_NAMES, "out_")
        self.add_parameter(f"__global uint *{self.out}", Argument(self.out, "output", "uint32", items * self.slots))
        if self.float_slots:
            self.fout = self.names.take(OUTPUT_NAMES, "fout")
            self.add_parameter(f"__global float *{self.fout}",
                               Argument(self.fout, "output", "float32", items * self.float_slots * 4))
        if c.chance(30):
            name = self.names.take(SCALAR_NAMES, "s_")
            value = c.integer(0, 1000)
            self.add_parameter(f"const int {name}", Argument(name, "scalar", value=np.int32(value)))
            self.uint_vars.append(f"(uint){name}")
        if c.chance(25):
            name = self.names.take(SCALAR_NAMES, "f_")
            value = c.integer(-64, 64) / 8.0
            self.add_parameter(f"const float {name}", Argument(name, "scalar", value=np.float32(value)))
            self.float_vars.append(name)
        if c.chance(25):
            name = self.names.take(SCALAR_NAMES, "v_")
            lanes = (c.integer(0, 99), c.integer(0, 99))
            self.add_parameter(f"const int2 {name}", Argument(name, "vector", value=lanes))
            self.uint_vars.append(f"(uint){name}.{c.choice(('x', 'y', 's1'))}")
            self.features.add("vector argument")
        if c.chance(15):
            name = self.names.take(SCALAR_NAMES, "h_")
            self.add_parameter(f"short {name}", Argument(name, "scalar", value=np.int16(c.integer(-99, 99))))
            self.uint_vars.append(f"(uint)(int){name}")
        if self.struct_type and c.chance(50):
            type_name, fields = self.struct_type
            name = self.names.take(("p", "params", "cfg"), "p_")
            values = [(f, t, c.integer(0, 999) if t != "float" else c.integer(-32, 32) / 4.0)
                      for f, t in fields]
            self.add_parameter(f"const {type_name} {name}", Argument(name, "struct", value=tuple(values)))
            self.uint_vars.append(f"{name}.a")
            self.float_vars.append(f"{name}.b")
            self.features.add("struct argument")
        if c.chance(20):
            name = self.names.take(("maybe", "opt", "extra"), "maybe_")
            null = c.chance(50)
            count = c.integer(4, 32)
            argument = Argument(name, "null") if null else Argument(name, "input", "uint32", count)
            self.add_parameter(f"__global const uint *{name}", argument)
            self.maybe = (name, count)
            self.features.add("NULL buffer" if null else "optional buffer")
        if plan.real and c.chance(50):
            name = self.names.take(("scratch", "shared", "lmem"), "scratch_")
            items_per_group = math.prod(plan.local_size)
            self.add_parameter(f"__local uint *{name}", Argument(name, "local", count=4 * items_per_group))
            self.local_pointer = name
            self.features.add("__local pointer argument")

    # -- body sections
    def write_body(self) -> None:
        c, plan = self.c, self.plan
        self._ids()
        acc = self.local(("acc", "x", "sum"), "acc_")
        self.line(f"uint {acc} = {self.expr.uint(2)};")
        self.uint_vars.append(acc)
        self.acc = acc
        facc = self.local(("v", "tmp", "f"), "facc")
        self.line(f"float {facc} = {_clamped(self.expr.float(2))};")
        self.float_vars.append(facc)
        self.facc = facc
        sections = [self._builtin_probes, self._loop, self._vectors, self._struct_section,
                    self._maybe_section, self._helper_calls, self._block_scope,
                    self._private_array, self._switch, self._attributed_section,
                    self._glued_section, self._long_chain, self._deep_nest, self._else_if_chain]
        chosen = [s for s in sections if c.chance(55)]
        order = sorted(range(len(chosen)), key=lambda _: c.integer(0, 1000))
        for position, index in enumerate(order):
            chosen[index]()
            if not plan.real and c.chance(15):
                self._early_return()
        if plan.real:
            if c.chance(30):
                self._uniform_early_return()
            self._barrier_section()
        if plan.padded and plan.real:
            # MNN: padding work-items take part in the barriers, then leave
            self.line(f"if (gx >= {self.extent_name}) return;")
        if c.chance(30):
            self._early_return()
        self._final_writes()

    def _ids(self) -> None:
        plan, c = self.plan, self.c
        axes = "xyz"[:plan.dims]
        for d, axis in enumerate(axes):
            self.line(f"const size_t g{axis} = get_global_id({d});")
        if plan.cl2 and c.chance(60):
            self.line("const uint lin = (uint)get_global_linear_id();")
            self.features.add("get_global_linear_id")
        else:
            expression = "(uint)gx"
            if plan.dims >= 2:
                expression = "((uint)gy * (uint)get_global_size(0) + (uint)gx)"
            if plan.dims == 3:
                expression = ("(((uint)gz * (uint)get_global_size(1) + (uint)gy) * "
                              "(uint)get_global_size(0) + (uint)gx)")
            self.line(f"const uint lin = {expression};")
        self.line(f"const uint base = lin * {self.slots}u;")
        if self.float_slots:
            self.line(f"const uint fbase = lin * {self.float_slots * 4}u;")
        self.uint_vars += ["lin", "(uint)gx"]
        if plan.padded and not plan.real:
            self.line(f"if (gx >= {self.extent_name}) return;  /* padding */")
            self.features.add("padded NDRange, early return")

    def _slot(self) -> str:
        return f"{self.out}[base + {self.c.integer(0, self.slots - 1)}u]"

    def _builtin_probes(self) -> None:
        c, plan = self.c, self.plan
        probes = ["(uint)get_global_size({d})", "(uint)get_global_id({d})",
                  "(uint)get_global_offset({d})", "get_work_dim()"]
        if plan.group_builtins:
            probes += ["(uint)get_local_id({d})", "(uint)get_group_id({d})",
                       "(uint)get_local_size({d})", "(uint)get_num_groups({d})"]
            if plan.cl2:
                probes += ["(uint)get_enqueued_local_size({d})", "(uint)get_local_linear_id()"]
        if plan.cl2:
            probes.append("(uint)get_global_linear_id()")
        terms = []
        for _ in range(c.integer(1, 4)):
            probe = c.choice(probes)
            sized = any(word in probe for word in ("size", "num_groups"))
            # out-of-range indices: ids give 0 (sizes would give 1, but PoCL 3.0 gives 0)
            d = c.choice((0, 1, 2) if sized else (0, 1, 2, 3, 7))
            terms.append(probe.format(d=f"{d}u" if c.chance(20) else d))
            self.features.add(re.search(r"get_\w+", probe).group(0))
        if c.chance(30):
            # a dimension index that is not a constant
            name = self.local(("d", "dim", "axis"), "d_")
            self.line(f"for (uint {name} = 0; {name} < 3u; {name}++)")
            self.line(f"    {self.acc} += (uint)get_global_id({name}) * ({name} + 3u) + "
                      f"(uint)get_global_size({name});")
            self.features.add("variable dimension index")
        self.line(f"{self._slot()} = {' + '.join(f'{t} * {k + 1}u' for k, t in enumerate(terms))};")

    def _loop(self) -> None:
        c = self.c
        counter = self.local(("i", "j", "step"), "i_")
        if self.uint_macro and c.chance(40):
            trips = f"(int)({self.uint_macro} % 6u)"
        else:
            trips = str(c.integer(0, 6))
        self.line(f"for (int {counter} = 0; {counter} < {trips}; {counter}++) {{")
        self.indent += 1
        self.uint_vars.append(f"(uint){counter}")
        self.line(f"{self.acc} = {self.expr.uint(2)};")
        if c.chance(40):
            self.line(f"if (({self.acc} & 7u) == {c.integer(0, 7)}u) {c.choice(('continue', 'break'))};")
            self.features.add("break / continue")
        self.line(f"{self.facc} = {_clamped(self.expr.float(2))};")
        if not self.plan.real and c.chance(20):
            self.line(f"if (lin % {c.integer(3, 11)}u == {c.integer(0, 2)}u && {counter} == 1) {{")
            self.line(f"    {self._slot()} = {self.acc} ^ 0x5a5au;")
            self.line("    return;  /* early return inside a loop */")
            self.line("}")
            self.features.add("return inside a loop")
        if c.chance(30):
            inner = self.local(("k", "m"), "k_")
            self.line(f"for (uint {inner} = {c.integer(0, 2)}u; {inner} < 3u; ++{inner})")
            self.line(f"    {self.acc} ^= {self.expr.uint(1)} + {inner};")
            self.features.add("nested loop")
        self.uint_vars.remove(f"(uint){counter}")
        self.indent -= 1
        self.line("}")
        if c.chance(30):
            counter = self.local(("w", "rounds"), "w_")
            self.line(f"uint {counter} = {c.integer(0, 4)}u;")
            self.line(f"while ({counter} < 5u) {{ {self.acc} = {self.acc} * 2654435761u + {counter}; {counter}++; }}")
        self.features.add("loop")

    def _vectors(self) -> None:
        c = self.c
        v = self.local(("v4", "vec", "q"), "vv")
        lanes = [self.expr.float(1) for _ in range(4)]
        if c.chance(50):
            self.line(f"float4 {v} = (float4)({', '.join(lanes)});")
        else:
            self.line(f"float4 {v} = (float4)((float2)({lanes[0]}, {lanes[1]}), {lanes[2]}, {lanes[3]});")
        self.line(f"{v} = clamp({v} * (float4)({c.integer(-8, 8) / 4.0!r}f) + {v}.{c.choice(('wzyx', 'yxwz', 'xxyy', 's3210'))}, -512.0f, 512.0f);")
        if c.chance(50):
            self.line(f"{v}.s{c.integer(0, 3)} = {v}.{c.choice(('x', 'w', 's2'))} - 1.0f;")
        # PoCL 3.0-rc2 lacks vload4 / vstore4 under -cl-std=CL2.0: only in OpenCL 1.2 kernels.
        if self.float_inputs and not self.plan.cl2 and c.chance(40):
            buffer, count = self.c.choice(self.float_inputs)
            if count >= 4:
                self.line(f"{v} += vload4(0, {buffer} + (lin % {count - 3}u));")
                self.features.add("vload4")
        self.line(f"{self.facc} = {_clamped(f'{self.facc} + {v}.x + {v}.y * {v}.z - {v}.w')};")
        u = self.local(("u4", "uv", "lanes"), "uu")
        self.line(f"uint4 {u} = (uint4)({self.expr.uint(1)}, {self.acc}, lin, {c.integer(0, 999)}u);")
        self.line(f"{u} = ({u} ^ {u}.wzyx) + (uint4)({c.integer(1, 9)}u);")
        self.line(f"{self.acc} += {u}.x + {u}.s1 * 3u + {u}.hi.y;")
        if self.float_slots and not self.plan.cl2 and c.chance(50):
            self.line(f"vstore4({v}, 0, {self.fout} + fbase);")
            self.features.add("vstore4")
        self.features.add("vectors")

    def _struct_section(self) -> None:
        if not self.struct_type:
            return
        type_name, fields = self.struct_type
        name = self.local(("rec", "cell", "pr"), "r_")
        self.line(f"{type_name} {name};")
        for field, field_type in fields:
            value = self.expr.uint(1) if field_type == "uint" else _clamped(self.expr.float(1))
            self.line(f"{name}.{field} = {value};")
        self.line(f"{self.acc} ^= {name}.a + as_uint({name}.b);")
        if self.c.chance(40):
            self.line(f"const {type_name} copy_{name} = {name};")
            self.line(f"{self.facc} = {_clamped(f'{self.facc} + copy_{name}.b')};")
        self.features.add("struct")

    def _attributed_section(self) -> None:
        if not self.attributed:
            return
        name, has_lanes = self.attributed
        record = self.local(("rec2", "packed", "item"), "pk_")
        self.line(f"{name} {record};")
        self.line(f"{record}.tag = ({'ushort' if has_lanes else 'uchar'})({self.expr.uint(1)});")
        self.line(f"{record}.value = {self.expr.uint(1)};")
        if has_lanes:
            self.line(f"{record}.lanes = (float4)({_clamped(self.expr.float(1))});")
            self.line(f"{self.facc} = {_clamped(f'{self.facc} + {record}.lanes.y')};")
        self.line(f"{self.acc} += (uint)sizeof({name}) * 131u + {record}.value + (uint){record}.tag;")

    def _glued_section(self) -> None:
        if not self.glued:
            return
        middle, tail = self.c.choice((("2In", "put"), ("3x", "Axis0"), ("1e", "4"), ("0x", "F")))
        head = self.c.choice(("pv", "glue"))
        name = f"{head}{middle}{tail}"
        if name in self.names.taken:
            return
        self.names.taken.add(name)
        self.line(f"uint GLUE3({head}, {middle}, {tail}) = {self.expr.uint(1)};")
        self.line(f"{self.acc} ^= {name} * 5u;")

    def _long_chain(self) -> None:
        """A long flat chain of one operator (unrolled loops write them): hundreds of terms."""
        c = self.c
        terms = c.choice((40, 120, 400))
        operator = c.choice(("+", "^", "+", "|"))
        atoms = [c.choice(self.uint_vars) if c.chance(70) else f"{c.integer(0, 99)}u"
                 for _ in range(terms)]
        self.line(f"{self.acc} = {f' {operator} '.join(atoms)};")
        self.features.add("long expression chain")

    def _deep_nest(self) -> None:
        """Parentheses nested hundreds deep, with an operator at each level (not flattened)."""
        c = self.c
        depth = c.choice((30, 100, 250))
        text = self.acc
        for level in range(depth):
            text = f"({c.choice(self.uint_vars)} {c.choice(('-', '^', '*'))} {text})"
        self.line(f"{self.acc} = {text};")
        self.features.add("deep nesting")

    def _else_if_chain(self) -> None:
        c = self.c
        length = c.choice((10, 60, 200))
        conditions = [f"if (lin == {j}u) {self.acc} += {c.integer(1, 999)}u;" for j in range(length)]
        self.line(" else ".join(conditions) + f" else {self.acc} ^= 3u;")
        self.features.add("else-if chain")

    def _private_array(self) -> None:
        c = self.c
        name = self.local(("arr", "vals", "window"), "arr_")
        size = c.choice((3, 4, 8))
        values = ", ".join(self.expr.uint(1) for _ in range(size))
        self.line(f"uint {name}[{size}] = {{{values}}};")
        counter = self.local(("i", "j", "e"), "e_")
        hint = c.choice(("", "#pragma unroll", "#pragma unroll 2") +
                        (("__attribute__((opencl_unroll_hint(2)))",) if self.plan.cl2 else ()))
        if hint:
            self.body.append(hint if hint.startswith("#") else "    " * self.indent + hint)
            self.features.add("unroll hint")
        self.line(f"for (int {counter} = 1; {counter} < {size}; {counter}++)")
        self.line(f"    {name}[{counter}] += {name}[{counter} - 1] ^ (uint){counter};")
        self.line(f"{self.acc} += {name}[{self.acc} % {size}u] + {name}[{size - 1}];")
        self.features.add("private array")

    def _switch(self) -> None:
        # On the work-item's index, not on a value of small known range (`acc % 4u`): Oclgrind
        # 21.10 mis-executes optimised multi-way branches on such a value (docs/LIMITS.md).
        c = self.c
        self.line("switch (lin) {")
        for case in sorted({c.integer(0, 9) for _ in range(c.integer(1, 3))}):
            self.line(f"case {case}u:")
            self.line(f"    {self.acc} = {self.expr.uint(1)};")
            if c.chance(70):
                self.line("    break;")  # otherwise: falls through
        self.line("default:")
        self.line(f"    {self.acc} ^= {c.integer(0, 255)}u;")
        self.line("}")
        if c.chance(40):
            u = self.local(("mask", "sel"), "sel_")
            self.line(f"const uint4 {u} = select((uint4)(1u, 2u, 3u, 4u), (uint4)({self.acc}), "
                      f"(uint4)({self.acc} & 1u, lin & 1u, 0u, 1u) == (uint4)(1u));")
            self.line(f"{self.acc} += {u}.x + {u}.w;")
            self.features.add("select")
        self.features.add("switch")

    def _maybe_section(self) -> None:
        if not self.maybe:
            return
        name, count = self.maybe
        self.line(f"if ({name} != NULL) {self.acc} += {name}[lin % {count}u];")
        self.line(f"else {self.acc} ^= 0x77u;")

    def _helper_calls(self) -> None:
        c = self.c
        for helper in self.pointer_helpers:
            if self.uint_inputs:
                buffer, count = c.choice(self.uint_inputs)
                self.line(f"{self.acc} += {helper}({buffer}, {self.expr.uint(1)}, {count}u);")
        for helper in self.nullary_helpers:
            self.line(f"{self.acc} ^= {helper}();")
        if self.apply_macro:
            self.line(f"{self.acc} = APPLY({self.acc});")
        if self.uint_helpers:
            self.line(f"{self.acc} = {self.uint_helpers[-1]}({self.acc}, {self.expr.uint(1)});")
        if self.float_helpers:
            self.line(f"{self.facc} = {self.float_helpers[-1]}({self.facc}, {self.expr.float(1)});")

    def _block_scope(self) -> None:
        """A nested block whose locals shadow names from other kernels' pools."""
        name = self.local(("n", "count", "src", "twist", "TABLE"), "blk")
        self.line("{")
        self.line(f"    const uint {name} = {self.expr.uint(1)};")
        self.line(f"    {self.acc} += {name} * 3u;")
        self.line("}")
        self.features.add("shadowing local")

    def _early_return(self) -> None:
        c = self.c
        if self.plan.real:
            return
        self.line(f"if ((lin % {c.integer(2, 9)}u) == {c.integer(0, 1)}u) {{")
        self.line(f"    {self._slot()} = {self.acc} + 17u;")
        self.line("    return;")
        self.line("}")
        self.features.add("early return")

    def _uniform_early_return(self) -> None:
        # A whole work-group leaves before any barrier: no barrier divergence.
        groups = math.prod(g // l for g, l in zip(self.plan.global_size, self.plan.local_size))
        self.line(f"if ((uint)get_group_id(0) == {self.c.integer(0, max(0, groups - 1))}u) {{")
        self.line(f"    {self._slot()} = 99u;")
        self.line("    return;  /* the whole work-group */")
        self.line("}")
        self.features.add("uniform early return before a barrier")

    def _barrier_section(self) -> None:
        c, plan = self.c, self.plan
        items = math.prod(plan.local_size)
        self.features.add("barrier")
        if plan.cl2 and c.chance(50):
            self.line("const uint l = (uint)get_local_linear_id();")
        else:
            lx = "(uint)get_local_id(0)"
            if plan.dims == 1:
                self.line(f"const uint l = {lx};")
            elif plan.dims == 2:
                self.line(f"const uint l = (uint)get_local_id(1) * (uint)get_local_size(0) + {lx};")
            else:
                self.line("const uint l = ((uint)get_local_id(2) * (uint)get_local_size(1) + "
                          f"(uint)get_local_id(1)) * (uint)get_local_size(0) + {lx};")
        group_macro = "GROUP_ITEMS"
        group_items = f"(uint){group_macro}"
        self.options.append(f"-D{group_macro}={items}")
        if self.local_pointer and c.chance(70):
            tile = self.local_pointer
        else:
            tile = self.names.take(("tile", "partial", "shared_acc"), "tile_")
            self.line(f"__local uint {tile}[{group_macro}];")
            self.features.add("__local array in body")
        if c.chance(30):
            # a private pointer to local memory, initialised (only __local objects may not be)
            view = self.names.take(("view", "lp"), "view_")
            self.line(f"__local uint *{view} = {tile} + 0;")
            tile = view
            self.features.add("__local pointer local")
        shift = c.integer(1, items)
        if c.chance(35):
            # the exchange in a helper: a barrier inside a function, on a __local pointer
            self.file_scope.append(
                "uint exchange(__local uint *tile, uint l, uint value, uint n, uint shift)\n{\n"
                "    tile[l] = value;\n    barrier(CLK_LOCAL_MEM_FENCE);\n"
                "    const uint other = tile[(l + shift) % n];\n"
                "    barrier(CLK_LOCAL_MEM_FENCE);\n    return other;\n}")
            self.names.taken.add("exchange")
            exchange = f"exchange({tile}, l, {self.acc}, {group_items}, {shift}u)"
            self.features.add("barrier in a helper")
        else:
            exchange = None
        rounds = c.choice((1, 1, 2, 3))
        if rounds > 1:
            counter = self.local(("round", "r"), "round_")
            self.line(f"for (uint {counter} = 0u; {counter} < {rounds}u; {counter}++) {{")
            self.indent += 1
            self.features.add("barrier in a loop")
        if exchange:
            self.line(f"{self.acc} += {exchange} * 3u;")
        else:
            self.line(f"{tile}[l] = {self.acc};")
            self.line("barrier(CLK_LOCAL_MEM_FENCE);")
            self.line(f"{self.acc} += {tile}[(l + {shift}u) % {group_items}] * 3u;")
            self.line("barrier(CLK_LOCAL_MEM_FENCE);")
        if rounds > 1:
            self.indent -= 1
            self.line("}")
        if c.chance(60):
            # a tree reduction of floats: fixed order, so deterministic
            # OpenCL C wants __local variables at the kernel's outermost scope (anywhere in it)
            ftile = self.names.take(("ftile", "fpartial"), "ftile_")
            self.line(f"__local float {ftile}[{group_macro}];")
            self.line("{")
            self.indent += 1
            self.line(f"{ftile}[l] = {self.facc};")
            self.line("barrier(CLK_LOCAL_MEM_FENCE);")
            stride = self.local(("stride", "half_"), "stride_")
            self.line(f"for (uint {stride} = {group_items} / 2u; {stride} > 0u; {stride} >>= 1) {{")
            self.line(f"    if (l < {stride}) {ftile}[l] += {ftile}[l + {stride}];")
            self.line("    barrier(CLK_LOCAL_MEM_FENCE);")
            self.line("}")
            self.line(f"{self.facc} = {_clamped(f'{self.facc} + {ftile}[0]')};")
            self.indent -= 1
            self.line("}")
            self.features.add("work-group reduction")
        # wait_group_events takes an event pointer, generic under -cl-std=CL2.0: Oclgrind cannot
        # execute the address-space cast that needs, so async copies are OpenCL 1.2 only.
        if self.uint_inputs and not plan.cl2 and c.chance(35):
            buffer, count = c.choice(self.uint_inputs)
            if count >= items * self._group_count():
                copy = self.names.take(("staged", "copy_tile"), "staged_")
                group = self._linear_group()
                self.line(f"__local uint {copy}[{group_macro}];")
                self.line(f"event_t e_{copy} = async_work_group_copy({copy}, {buffer} + {group} * "
                          f"{group_items}, {group_items}, 0);")
                self.line(f"wait_group_events(1, &e_{copy});")
                self.line(f"{self.acc} ^= {copy}[(l * 5u) % {group_items}];")
                self.line("barrier(CLK_LOCAL_MEM_FENCE);")
                self.features.add("async_work_group_copy")

    def _group_count(self) -> int:
        return math.prod(g // l for g, l in zip(self.plan.global_size, self.plan.local_size))

    def _linear_group(self) -> str:
        if self.plan.dims == 1:
            return "(uint)get_group_id(0)"
        if self.plan.dims == 2:
            return "((uint)get_group_id(1) * (uint)get_num_groups(0) + (uint)get_group_id(0))"
        return ("(((uint)get_group_id(2) * (uint)get_num_groups(1) + (uint)get_group_id(1)) * "
                "(uint)get_num_groups(0) + (uint)get_group_id(0))")

    def _final_writes(self) -> None:
        self.line(f"{self.out}[base] = {self.acc};")
        for slot in range(1, self.slots):
            if self.c.chance(50):
                self.line(f"{self.out}[base + {slot}u] = {self.expr.uint(2)};")
        for slot in range(self.float_slots * 4):
            if slot == 0 or self.c.chance(40):
                self.line(f"{self.fout}[fbase + {slot}u] = {_clamped(self.expr.float(2))};")

    # -- the whole file
    def source(self, kernel_name: str) -> tuple[str, str]:
        """(file text, the kernel's name after preprocessing)."""
        header = [f"/* random kernel {self.file_index}: generated by fusion.kernelgen */"]
        declared_name = kernel_name
        if self.c.chance(10):
            header += ["#define MAKE_KERNEL_NAME(x) gen_ ## x"]
            declared_name = f"MAKE_KERNEL_NAME({kernel_name})"
            kernel_name = f"gen_{kernel_name}"
            self.features.add("macro-generated kernel name")
        attribute = ""
        if self.plan.real and self.c.chance(25):
            size = tuple(self.plan.local_size) + (1,) * (3 - len(self.plan.local_size))
            attribute = f"__attribute__((reqd_work_group_size({size[0]}, {size[1]}, {size[2]})))\n"
            self.features.add("reqd_work_group_size")
        parameters = ",\n    ".join(self.parameters)
        text = "\n".join(header + self.file_scope) + "\n\n" + \
            f"__kernel {attribute}void {declared_name}(\n    {parameters})\n{{\n" + \
            "\n".join(self.body) + "\n}\n"
        return text, kernel_name


def _shape_for(c: Chooser, dims: int, items: int) -> tuple[int, ...]:
    """A local size of `dims` dimensions with `items` work-items in all (powers of two)."""
    exponent = int(math.log2(items))
    parts = [0] * dims
    for _ in range(exponent):
        parts[c.integer(0, dims - 1)] += 1
    return tuple(2 ** p for p in parts)


def generate_kernel(c: Chooser, *, file_index: int = 0, real: bool | None = None,
                    group_items: int | None = None, real_local: tuple[int, int, int] | None = None,
                    cl2: bool | None = None) -> RandomKernel:
    """One random kernel. Fixed by a group so that its kernels can share one launch (None:
    chosen here): real (barriers + __local), group_items (work-items per work-group of a
    barrier kernel), real_local (its exact local size, three dimensions), cl2 (OpenCL 2.0)."""
    dims = c.integer(1, 3)
    real = c.chance(35) if real is None else real
    cl2 = c.chance(30) if cl2 is None else cl2
    group_builtins = real or c.chance(50)
    if real and real_local is not None:
        dims = max(dims, max(d + 1 for d in range(3) if d == 0 or real_local[d] > 1))
        local = tuple(real_local[:dims])
    elif real:
        local = _shape_for(c, dims, group_items or c.choice(GROUP_ITEMS))
    elif group_builtins or c.chance(50):
        local = tuple(c.choice((1, 2, 3, 4)) for _ in range(dims))
    else:
        local = None
    unit = local or (1,) * dims
    budget = MAX_ITEMS
    global_size = []
    for d in range(dims):
        per_dim = max(1, int(budget ** (1 / (dims - d))) // unit[d])
        groups = c.integer(1, max(1, min(per_dim, 12 if d == 0 else 6)))
        global_size.append(groups * unit[d])
        budget = max(1, budget // global_size[-1])
    padded = c.chance(45)
    real_extent = global_size[0]
    if padded:
        if local is None:
            global_size[0] += c.integer(0, 5)        # MNN: padding past the real size
        else:
            real_extent -= c.integer(0, unit[0] - 1)  # the last work-group is partly padding
    plan = _Plan(dims, tuple(global_size), local, real, padded, max(1, real_extent), cl2,
                 group_builtins)
    writer = _KernelWriter(c, plan, file_index)
    writer.write_file_scope()
    writer.write_parameters()
    writer.write_body()
    text, kernel_name = writer.source(c.choice(KERNEL_NAMES))
    flags = ("-cl-std=CL2.0",) if cl2 else ()
    writer.features.add(f"{dims}-D NDRange")
    source = KernelSource(text, kernel_name, tuple(writer.options) + flags,
                          filename=f"random{file_index}.cl")
    return RandomKernel(source, plan.global_size, plan.local_size, tuple(writer.arguments),
                        real, flags, frozenset(writer.features))


def generate_group(c: Chooser | int, *, size: int | None = None, layout: str | None = None,
                   cl2: bool | None = None) -> KernelGroup:
    """2-4 kernels that can share one fused launch: barrier kernels agree on their number of
    work-items per group ("groups" layout) or on their exact local size ("wave"), and all on
    their program-wide flags. An int is a seed. cl2=False: OpenCL 1.2 kernels only (NVIDIA)."""
    if isinstance(c, int):
        c = RandomChooser(c)
    size = size or c.integer(2, 4)
    layout = layout or c.choice(("groups", "groups", "wave"))
    drawn = c.chance(30)
    cl2 = drawn if cl2 is None else cl2
    group_items = c.choice(GROUP_ITEMS)
    real_local = None
    if layout == "wave":
        real_local = _shape_for(c, 3, group_items)
    kernels = tuple(generate_kernel(c, file_index=index, cl2=cl2, group_items=group_items,
                                    real_local=real_local) for index in range(size))
    return KernelGroup(kernels, layout)


# --- hypothesis strategies ---------------------------------------------------------------------

def random_kernels(*, real: bool | None = None, cl2: bool | None = None):
    """A hypothesis strategy of RandomKernel."""
    from hypothesis import strategies as st

    @st.composite
    def strategy(draw):
        return generate_kernel(DrawChooser(draw), real=real, cl2=cl2)
    return strategy()


def random_groups(*, min_size: int = 2, max_size: int = 4, layout: str | None = None):
    """A hypothesis strategy of KernelGroup (2-4 kernels that can share one fused launch)."""
    from hypothesis import strategies as st

    @st.composite
    def strategy(draw):
        c = DrawChooser(draw)
        return generate_group(c, size=c.integer(min_size, max_size), layout=layout)
    return strategy()
