"""`python -m fusion check`: check that fusing your kernels changes nothing, from the command line.

Each kernel is given as FILE:NAME[:OPTIONS] with one launch, "GLOBAL[/LOCAL] ARGUMENT ...":

    python -m fusion check \\
        -k scale.cl:scale:-DRELU --launch "1000/8 buffer:float:1000:random buffer:float:1000:output int:1000" \\
        -k blur.cl:blur --launch "64,64/8,8 image:64,64:random buffer:float4:4096:output int:64" \\
        [--oclgrind] [--runs 3] [--seed 0] [--layout groups|wave]

or from a JSON spec (`--spec check.json`, file paths relative to the spec):

    {"layout": "groups",
     "kernels": [{"file": "scale.cl", "name": "scale", "options": "-DRELU",
                  "global": [1000], "local": [8],
                  "args": ["buffer:float:1000:random", "buffer:float:1000:output", "int:1000"]}]}

Arguments, in the kernel's parameter order:

    buffer:TYPE:COUNT:FILL   COUNT elements of TYPE (float, int, uchar, float4, ...); FILL is
                             random | zeros | iota (inputs), output (compared after the launch;
                             starts as a byte pattern) or inout (random, and compared)
    image:W,H:FILL           a 2-D RGBA float image; FILL random, zeros, output or inout
    TYPE:VALUE[,VALUE...]    a scalar or vector by value: int:1000, float:0.5, int2:3,-2
    local:BYTES              __local memory sized at launch
    null                     a NULL buffer
    same:N                   the memory object of argument N (0-based) of this kernel again

The kernels run separately and fused (fusion.testing.check_fusion) on Intel's CPU runtime (or
--device) and, with --oclgrind, first under Oclgrind, once per run with inputs drawn from seed,
seed+1, ...; every output must be bit-identical and Oclgrind must report nothing. Prints PASS, or
the first difference (sub-kernel, output, index, both values). The devices run in a child process
(--in-process: in this one), so a device compiler that crashes is reported, not fatal. Exit
status: 0 pass, 1 a difference or an Oclgrind report, 2 the check could not run (bad spec, a
kernel that does not compile or cannot be fused, a device that crashed).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
import warnings
from collections.abc import Sequence

import numpy as np

from .. import dialect
from ..errors import FusionError
from ..plan.layout import DEFAULT_LAYOUT, LAYOUTS
from ..compiler.source import KernelSource
from .isolate import isolated

FILLS = ("random", "zeros", "iota", "output", "inout")


class SpecError(FusionError):
    """A launch or argument description that cannot be read."""


@dataclasses.dataclass(frozen=True)
class ArgumentSpec:
    kind: str                  # "buffer", "image", "value", "local", "null", "same"
    text: str
    c_type: str = ""
    count: int = 0             # buffer elements, local bytes, or the argument index of "same"
    fill: str = ""
    shape: tuple[int, ...] = ()
    value: tuple = ()

    @property
    def compared(self) -> bool:
        return self.fill in ("output", "inout")


@dataclasses.dataclass(frozen=True)
class LaunchSpec:
    kernel: KernelSource
    global_size: tuple[int, ...]
    local_size: tuple[int, ...] | None
    arguments: tuple[ArgumentSpec, ...]


def _scalar_type(c_type: str) -> tuple[np.dtype, int]:
    """(element dtype, storage lanes) of a scalar or vector OpenCL type name."""
    by_value = dialect.c_type(c_type)
    if by_value is None:
        raise SpecError(f"unknown OpenCL type '{c_type}'")
    return by_value.dtype, by_value.storage_lanes


def _sizes(text: str, what: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise SpecError(f"{what} '{text}' is not a list of integers like 64,8") from None
    if not 1 <= len(sizes) <= 3 or any(size < 1 for size in sizes):
        raise SpecError(f"{what} '{text}' needs 1 to 3 positive sizes")
    return sizes


def parse_argument(text: str) -> ArgumentSpec:
    """One argument description (see the module docstring)."""
    parts = text.split(":")
    head = parts[0]
    if head == "null" and len(parts) == 1:
        return ArgumentSpec("null", text)
    if head == "buffer":
        if len(parts) != 4:
            raise SpecError(f"'{text}': expected buffer:TYPE:COUNT:FILL")
        _scalar_type(parts[1])
        count = _count(parts[2], text)
        if parts[3] not in FILLS:
            raise SpecError(f"'{text}': fill must be one of {', '.join(FILLS)}")
        return ArgumentSpec("buffer", text, parts[1], count, parts[3])
    if head == "image":
        if len(parts) != 3:
            raise SpecError(f"'{text}': expected image:WIDTH,HEIGHT:FILL")
        shape = _sizes(parts[1], f"image size in '{text}'")
        if len(shape) != 2 or parts[2] not in ("random", "zeros", "output", "inout"):
            raise SpecError(f"'{text}': expected image:WIDTH,HEIGHT:random|zeros|output|inout")
        return ArgumentSpec("image", text, "float", fill=parts[2], shape=shape)
    if head == "local":
        if len(parts) != 2:
            raise SpecError(f"'{text}': expected local:BYTES")
        return ArgumentSpec("local", text, count=_count(parts[1], text))
    if head == "same":
        if len(parts) != 2 or not parts[1].isdigit():
            raise SpecError(f"'{text}': expected same:ARGUMENT_INDEX")
        return ArgumentSpec("same", text, count=int(parts[1]))
    if len(parts) == 2:
        dtype, lanes = _scalar_type(head)
        try:
            values = tuple(float(v) if dtype.kind == "f" else int(v, 0) for v in parts[1].split(","))
        except ValueError:
            raise SpecError(f"'{text}': '{parts[1]}' is not a {head} value") from None
        if len(values) != (lanes if dialect.vector_type(head) else 1):
            raise SpecError(f"'{text}': {head} takes {lanes} values")
        return ArgumentSpec("value", text, head, value=values)
    raise SpecError(f"cannot read the argument '{text}' (buffer:TYPE:COUNT:FILL, "
                    "image:W,H:FILL, TYPE:VALUE, local:BYTES, null or same:N)")


def _count(text: str, where: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise SpecError(f"'{where}': '{text}' is not a positive count")
    return int(text)


def parse_launch(kernel: KernelSource, text: str) -> LaunchSpec:
    """"GLOBAL[/LOCAL] ARGUMENT ..." for one kernel."""
    words = shlex.split(text)
    if not words:
        raise SpecError(f"empty launch for kernel '{kernel.name}'")
    global_text, _, local_text = words[0].partition("/")
    return _launch(kernel, _sizes(global_text, "global size"),
                   _sizes(local_text, "local size") if local_text else None, words[1:])


def _launch(kernel, global_size, local_size, arguments) -> LaunchSpec:
    if local_size is not None and len(local_size) != len(global_size):
        raise SpecError(f"kernel '{kernel.name}': local size {local_size} and global size "
                        f"{global_size} differ in dimensions")
    specs = tuple(parse_argument(a) for a in arguments)
    for index, spec in enumerate(specs):
        if spec.kind == "same" and not (spec.count < index and
                                        specs[spec.count].kind in ("buffer", "image")):
            raise SpecError(f"kernel '{kernel.name}', argument {index} '{spec.text}': 'same' must "
                            "name an earlier buffer or image argument")
    return LaunchSpec(kernel, tuple(global_size), tuple(local_size) if local_size else None, specs)


def load_spec(path: str) -> tuple[list[LaunchSpec], str | None]:
    """The launches (and layout, if given) of a JSON spec file."""
    try:
        with open(path, encoding="utf-8") as f:
            spec = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        raise SpecError(f"{path}: {error}") from None
    base = os.path.dirname(os.path.abspath(path))
    launches = []
    for index, entry in enumerate(spec.get("kernels", [])):
        try:
            file = os.path.join(base, entry["file"])
            kernel = KernelSource.from_file(file, entry["name"], entry.get("options", ()))
            local = entry.get("local")
            launches.append(_launch(kernel, _sizes(",".join(map(str, entry["global"])), "global size"),
                                    _sizes(",".join(map(str, local)), "local size") if local else None,
                                    entry.get("args", [])))
        except KeyError as missing:
            raise SpecError(f"{path}: kernel {index} has no {missing}") from None
        except OSError as error:
            raise SpecError(f"{path}: kernel {index}: {error}") from None
    if len(launches) < 1:
        raise SpecError(f"{path}: no kernels")
    return launches, spec.get("layout")


def factory_for(launches: Sequence[LaunchSpec], seed: int):
    """A launch factory (fusion.testing) building every argument afresh from one seed."""
    from ..compiler.parse import parse_kernel

    def make(context, queue):
        import pyopencl as cl
        from .testing import Output
        rng = np.random.default_rng(seed)
        flags = cl.mem_flags
        all_launches, outputs = [], []
        for index, launch in enumerate(launches):
            parameters = parse_kernel(launch.kernel).parameters
            values = []
            for position, spec in enumerate(launch.arguments):
                name = parameters[position].name if position < len(parameters) else "?"
                label = f"argument {position} '{name}'"
                if spec.kind == "buffer":
                    dtype, lanes = _scalar_type(spec.c_type)
                    host = _fill(rng, spec.fill, dtype, spec.count * lanes)
                    memory = cl.Buffer(context, flags.READ_WRITE | flags.COPY_HOST_PTR, hostbuf=host)
                    if spec.compared:
                        outputs.append(Output(index, label, memory, dtype))
                    values.append(memory)
                elif spec.kind == "image":
                    width, height = spec.shape
                    host = _fill(rng, spec.fill, np.dtype(np.float32), width * height * 4)
                    image = cl.Image(context, flags.READ_WRITE | flags.COPY_HOST_PTR,
                                     cl.ImageFormat(cl.channel_order.RGBA, cl.channel_type.FLOAT),
                                     shape=(width, height), hostbuf=host)
                    if spec.compared:
                        outputs.append(Output(index, label, image))
                    values.append(image)
                elif spec.kind == "value":
                    values.append(spec.value[0] if len(spec.value) == 1 else list(spec.value))
                elif spec.kind == "local":
                    values.append(cl.LocalMemory(spec.count))
                elif spec.kind == "null":
                    values.append(None)
                else:  # same
                    values.append(values[spec.count])
            all_launches.append((launch.global_size, launch.local_size, values))
        return all_launches, outputs
    return make


def _fill(rng: np.random.Generator, fill: str, dtype: np.dtype, count: int) -> np.ndarray:
    if fill == "output":
        return np.full(count * dtype.itemsize, 0xA5, np.uint8).view(dtype)
    if fill == "zeros":
        return np.zeros(count, dtype)
    if fill == "iota":
        return np.arange(count).astype(dtype)
    if dtype.kind == "f":
        return rng.uniform(-1.0, 1.0, count).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, count, dtype=dtype, endpoint=True)


def run(launches: Sequence[LaunchSpec], *, layout: str | None = None, oclgrind: bool = False,
        runs: int = 1, seed: int = 0, device: str | None = None, flags: str = "exact",
        out=sys.stdout) -> int:
    """Check the launches; print PASS or the first failure; return the exit status."""
    quiet_build_logs()
    from .testing import EquivalenceError, OclgrindError, check_fusion
    kernels = [launch.kernel for launch in launches]
    results = []
    for run_seed in range(seed, seed + runs):
        try:
            results = check_fusion(kernels, factory_for(launches, run_seed), layout=layout,
                                   oclgrind=oclgrind, platform=device, flags=flags)
        except (EquivalenceError, OclgrindError) as failure:
            print(f"FAIL (seed {run_seed}): {failure}", file=out)
            return 1
    seeds = f"seed {seed}" if runs == 1 else f"seeds {seed}-{seed + runs - 1}"
    equal = ("equal to the separate launches (within a ULP tolerance where permissions were "
             "dropped: flags strictest)" if any(r.tolerant for r in results)
             else "bit-identical to the separate launches")
    print(f"PASS: {len(kernels)} kernels, {runs} run(s) ({seeds}): fused output {equal}"
          + ("; Oclgrind reported nothing" if oclgrind else ""), file=out)
    for result in results:
        print(f"  {result}", file=out)
        for reason in result.alone:
            print(f"    note: {reason}", file=out)
    return 0


# pyopencl turns every non-empty build log into a CompilerWarning, and Intel's CPU runtime
# writes one for every program ("Compilation started ..."): noise on a terminal. A failed build
# is an error with the whole log (BuildError), so nothing is lost.
def quiet_build_logs() -> None:
    warnings.filterwarnings("ignore", message="Non-empty compiler output encountered")


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `check` subcommand's options (fusion/cli.py)."""
    parser.add_argument("-k", "--kernel", dest="kernels", action="append", default=[],
                        metavar="FILE:NAME[:OPTIONS]", help="a kernel (repeat; one --launch each)")
    parser.add_argument("--launch", dest="launches", action="append", default=[],
                        metavar='"GLOBAL[/LOCAL] ARG ..."',
                        help="the launch of the kernel given at the same position")
    parser.add_argument("--spec", help="a JSON spec instead of -k/--launch")
    parser.add_argument("--layout", choices=LAYOUTS, help=f"default {DEFAULT_LAYOUT}")
    parser.add_argument("--oclgrind", action="store_true",
                        help="also run under Oclgrind; it must report nothing")
    parser.add_argument("--runs", type=positive_int, default=1,
                        help="runs with seeds seed, seed+1, ... (at least 1)")
    parser.add_argument("--device", default="intel-cpu",
                        help="the native device: part of its OpenCL platform name, or intel-cpu, "
                             "pocl, nvidia (default: intel-cpu)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first run's inputs")
    parser.add_argument("--flags", choices=dialect.FLAG_POLICIES, default="exact",
                        help="strictest: fuse kernels whose flags differ only in permissions; "
                             "their outputs are compared within a ULP tolerance (TESTING.md)")
    parser.add_argument("--in-process", action="store_true",
                        help="run the devices in this process (default: a child process, so a "
                             "device compiler that crashes is reported, not fatal)")


def command(args) -> int:
    """`python -m fusion check` (fusion/cli.py delegates here)."""
    try:
        if args.spec:
            if args.kernels or args.launches:
                raise SpecError("give either --spec or -k/--launch, not both")
            launches, layout = load_spec(args.spec)
        else:
            if not args.kernels:
                raise SpecError("no kernels: give -k FILE:NAME --launch \"...\" (repeat) or --spec")
            if len(args.kernels) != len(args.launches):
                raise SpecError(f"{len(args.kernels)} kernels (-k) but {len(args.launches)} "
                                "launches (--launch): give one launch per kernel")
            launches = [parse_launch(KernelSource.from_spec(k), text)
                        for k, text in zip(args.kernels, args.launches)]
            layout = None
        settings = dict(layout=args.layout or layout, oclgrind=args.oclgrind, runs=args.runs,
                        seed=args.seed, device=args.device, flags=args.flags)
        if args.in_process:
            return run(launches, **settings)
        return isolated(run, launches, what="the check", **settings)
    except argparse.ArgumentTypeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except FusionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
