"""The command line: `python -m fusion <command>` (or `parallel-fusion <command>`).

  generate  fuse kernels ahead of time: writes the fused .cl and its JSON manifest
  prepare   the paper's "fused operator preparation": every 2- and 3-combination of a set
  demo      fuse MobileNet-V2 operators on the default device, check and time them
  check     run your kernels separately and fused (CPU device, optionally Oclgrind): PASS or the
            first differing output element
  run       several DNNs together: planned (fused) against sequential, outputs checked
  models    the paper's six DNNs: operators, FLOPs and parameters against its Table 1

Exit status: 0 success (check: PASS), 1 check found a difference or an Oclgrind report, 2 bad
usage, bad input or a build error (with the located message), 3 an internal error (a bug: the
message says so; no traceback).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import sys
import tempfile

from .abi import RESERVED_PREFIX
from .dialect import FLAG_POLICIES
from .compiler import KernelSource, generate
from .compiler.parse import parse_kernel
from .errors import FusionError, SourceError
from .plan import DEFAULT_LAYOUT, LAYOUTS
from .verify.check import positive_int, quiet_build_logs


def kernel_spec(text: str) -> KernelSource:
    """FILE:NAME[:OPTIONS], e.g. fusion/ops/kernels/conv2d_1x1.cl:conv2d_1x1:-DRELU"""
    try:
        return KernelSource.from_spec(text)
    except FusionError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def kernel_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z_]\w*", text):
        raise argparse.ArgumentTypeError(f"'{text}' is not an OpenCL C identifier")
    if text.startswith(RESERVED_PREFIX):
        raise argparse.ArgumentTypeError(f"'{text}': names starting with '{RESERVED_PREFIX}' "
                                         "are the generated code's")
    return text


def device_macro(text: str) -> tuple[str, str]:
    name, _, value = text.partition("=")
    if not re.fullmatch(r"[A-Za-z_]\w*", name):
        raise argparse.ArgumentTypeError(f"'{text}': expected NAME[=VALUE] (NAME an identifier)")
    return name, value or "1"


def baked_argument(text: str) -> tuple[int, str, int | tuple[int, ...]]:
    """INDEX:NAME=VALUE (VALUE an integer, or integers separated by commas for a vector)."""
    match = re.fullmatch(r"(\d+):([A-Za-z_]\w*)=(-?\d+(?:,-?\d+)*)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"'{text}': expected INDEX:NAME=VALUE (the kernel's "
                                         "position among -k, from 0; its parameter; an integer "
                                         "or integers separated by commas)")
    index, name, value = match.groups()
    lanes = tuple(int(lane) for lane in value.split(","))
    return int(index), name, lanes[0] if len(lanes) == 1 else lanes


def _constants(kernels, baked, macros) -> list[dict] | None:
    """--bake's values as generate's constants (per kernel, parameter position -> value)."""
    if not baked:
        return None
    constants: list[dict] = [{} for _ in kernels]
    pairs = tuple(sorted(macros)) if macros is not None else None
    for index, name, value in baked:
        if index >= len(kernels):
            raise OutputError(f"--bake {index}:{name}: there are {len(kernels)} kernels "
                              f"(positions 0-{len(kernels) - 1})")
        parsed = parse_kernel(kernels[index], pairs)
        positions = [p for p, parameter in enumerate(parsed.parameters) if parameter.name == name]
        if not positions:
            raise SourceError(f"--bake {index}:{name}: kernel '{parsed.name}' has no parameter "
                              f"'{name}'", parsed.location, source_text=kernels[index].source)
        if positions[0] in constants[index]:
            raise OutputError(f"--bake {index}:{name} is given twice")
        constants[index][positions[0]] = value
    return constants


def _add_generation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-k", "--kernel", dest="kernels", action="append", type=kernel_spec,
                        required=True, metavar="FILE:NAME[:OPTIONS]",
                        help="a kernel to fuse, with its own build options (repeat)")
    parser.add_argument("--layout", choices=LAYOUTS, default=DEFAULT_LAYOUT)
    parser.add_argument("--wave-size", type=positive_int, default=32,
                        help="the target's wave/warp size (default 32)")
    parser.add_argument("--flags", choices=FLAG_POLICIES, default="exact",
                        help="exact (default): kernels fused together must agree on program-wide "
                             "flags; strictest: they may differ in permissions (-cl-mad-enable, "
                             "-cl-fast-relaxed-math, ...), built with only those all grant")
    parser.add_argument("--device-macro", dest="device_macros", action="append",
                        type=device_macro, metavar="NAME[=VALUE]",
                        help="a macro the target device's compiler defines (__OPENCL_VERSION__="
                             "300, cl_khr_fp16, ...; repeat): needed for kernels whose #if tests "
                             "one; give them all (the others count as undefined)")


class OutputError(FusionError):
    """Outputs that would overwrite each other or an input."""


def check_writable(paths: list[str]) -> None:
    """Refuse, before any work, outputs that could not be written (their folder cannot take a
    file, or the path is a folder): a temporary file is made beside each and removed, so no
    output exists until the work is done (write_outputs)."""
    for path in paths:
        try:
            if os.path.isdir(path):
                raise IsADirectoryError(21, "Is a directory", path)
            directory = os.path.dirname(os.path.abspath(path))
            os.makedirs(directory, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=".fusion-", suffix=".tmp", dir=directory)
            os.close(handle)
            os.remove(temporary)
        except OSError as error:
            raise OutputError(f"cannot write {error.filename or path}: "
                              f"{error.strerror or error}") from None


def write_outputs(files: list[tuple[str, str]], inputs) -> None:
    """Write every file or none: refuse outputs that collide with each other or with an input
    before anything is written; write each to a temporary file beside it, then rename them all
    (a failure leaves no half-written output)."""
    real = {}
    for path, _ in files:
        resolved = os.path.realpath(path)
        if resolved in real:
            raise OutputError(f"the outputs '{real[resolved]}' and '{path}' are the same file")
        real[resolved] = path
    for kernel in inputs:
        if kernel.filename and os.path.realpath(kernel.filename) in real:
            raise OutputError(f"the output '{real[os.path.realpath(kernel.filename)]}' is the "
                              f"input '{kernel.filename}': it would be overwritten")
    written = []
    try:
        for path, text in files:
            directory = os.path.dirname(os.path.abspath(path))
            os.makedirs(directory, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=".fusion-", suffix=".tmp", dir=directory)
            written.append((temporary, path))
            with os.fdopen(handle, "w", encoding="utf-8") as f:
                f.write(text)
        for temporary, path in written:
            os.replace(temporary, path)
    except OSError as error:
        for temporary, _ in written:
            if os.path.exists(temporary):
                os.remove(temporary)
        raise OutputError(f"cannot write {error.filename or 'the outputs'}: "
                          f"{error.strerror or error}") from None


def command_generate(args) -> int:
    program = generate(args.kernels, wave_size=args.wave_size, layout=args.layout,
                       kernel_name=args.name, device_macros=args.device_macros,
                       flags=args.flags,
                       constants=_constants(args.kernels, args.baked, args.device_macros))
    to_stdout = args.output in (None, "-")
    manifest = args.manifest or (None if to_stdout else os.path.splitext(args.output)[0] + ".json")
    files = [] if to_stdout else [(args.output, program.source)]
    if manifest:
        files.append((manifest, json.dumps(program.manifest, indent=2) + "\n"))
    write_outputs(files, args.kernels)
    if to_stdout:
        sys.stdout.write(program.source)
    else:
        print(f"wrote {args.output}" + (f" and {manifest}" if manifest else ""), file=sys.stderr)
    return 0


def command_prepare(args) -> int:
    from tqdm import tqdm

    macros = tuple(args.device_macros) if args.device_macros is not None else None
    for kernel in args.kernels:  # bad input is an error before anything is fused
        parse_kernel(kernel, tuple(sorted(macros)) if macros is not None else None)
    try:
        sizes = sorted({positive_int(s) for s in args.sizes.split(",")})
    except argparse.ArgumentTypeError as error:
        raise OutputError(f"--sizes: {error}") from None
    groups = [combo for size in sizes
              for combo in itertools.combinations_with_replacement(range(len(args.kernels)), size)
              if args.with_repeats or len(set(combo)) == size]
    index, failures = [], []
    progress = not args.quiet and sys.stderr.isatty()
    files = []
    for combo in tqdm(groups, desc="fusing", unit="group", disable=not progress):
        members = [args.kernels[i] for i in combo]
        name = "fused__" + "__".join(f"{k.name}{i}" for k, i in zip(members, combo))
        try:
            program = generate(members, wave_size=args.wave_size, layout=args.layout,
                               kernel_name=name, device_macros=args.device_macros,
                               flags=args.flags)
        except FusionError as error:
            failures.append(dict(kernels=list(combo), error=str(error)))
            continue
        files += [(os.path.join(args.output, name + ".cl"), program.source),
                  (os.path.join(args.output, name + ".json"),
                   json.dumps(program.manifest, indent=2))]
        index.append(dict(kernels=list(combo), kernel_name=name, file=name + ".cl",
                          manifest=name + ".json"))
    catalogue = dict(inputs=[dict(index=i, file=k.display_name, name=k.name,
                                  options=list(k.options)) for i, k in enumerate(args.kernels)],
                     groups=index, failures=failures)
    files.append((os.path.join(args.output, "index.json"), json.dumps(catalogue, indent=2) + "\n"))
    write_outputs(files, args.kernels)
    print(f"{len(index)} fused kernels in {args.output}/ ({len(failures)} could not be fused)",
          file=sys.stderr)
    for failure in failures:
        print(f"  {failure['kernels']}: {failure['error'].splitlines()[0]}", file=sys.stderr)
    return 0


def command_demo(args) -> int:
    from .demo import run_demo
    return run_demo(rounds=args.rounds, device_name=args.device)


def _pin_cpu_argument(value: str) -> int | str | None:
    """--pin-cpu's value: "auto", "none" or a CPU this process may run on."""
    from .execute.affinity import allowed_cpus
    if value in ("auto", "none"):
        return None if value == "none" else value
    allowed = allowed_cpus()
    if not value.isdigit() or allowed is None or int(value) not in allowed:
        where = (f"one of {', '.join(map(str, sorted(allowed)))}" if allowed is not None
                 else "auto or none (this system does not let a process choose its CPUs)")
        raise OutputError(f"--pin-cpu {value}: expected {where}")
    return int(value)


def command_run(args) -> int:
    from .execute.scenario import draw_timeline, run_scenario, table
    from .graph import MODELS
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        raise OutputError(f"unknown model(s) {', '.join(unknown)} (known: {', '.join(MODELS)})")
    if args.json:
        check_writable([args.json])
    pin_cpu = _pin_cpu_argument(args.pin_cpu)
    result = run_scenario(args.models, device_name=args.device, resolution=args.resolution,
                          policy=args.policy, rounds=args.rounds, adapt=args.adapt,
                          check=args.check, pin_cpu=pin_cpu, specialize=args.specialize,
                          progress=_progress_bar(False))
    print(table(result))
    _write_result(result, args.json, args.timeline, draw_timeline)
    return 0 if result["outputs_bit_identical"] else 1


def _write_result(result: dict, json_path: str | None, picture: str | None = None,
                  draw=None) -> None:
    """The command's result as JSON (atomically) and drawn as a PNG, where asked."""
    if json_path:
        write_outputs([(json_path, json.dumps(result, indent=1) + "\n")], [])
        print(f"wrote {json_path}", file=sys.stderr)
    if picture:
        draw(result, picture)
        print(f"wrote {picture}", file=sys.stderr)


def _progress_bar(quiet: bool):
    """tqdm on a terminal, nothing otherwise (or with --quiet)."""
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm
    return lambda **kw: tqdm(unit="launch", file=sys.stderr, **kw)


def command_profile(args) -> int:
    from .execute.profile import Settings, profile_device, summary_lines
    settings = Settings(groups=args.groups, resolution=args.resolution, seed=args.seed,
                        max_group=args.max_group)
    if args.in_context:
        from .execute.incontext import profile_in_context
        result = profile_in_context(args.device, settings, plans=args.in_context,
                                    fresh=args.fresh, progress=_progress_bar(args.quiet))
    else:
        result = profile_device(args.device, settings, progress=_progress_bar(args.quiet),
                                fresh=args.fresh)
    print("\n".join(summary_lines(result)))
    _write_result(result.report, args.json)
    return 0


def command_coexec(args) -> int:
    from .execute.coreport import coexec, draw, table
    outputs = [path for path in (args.json, args.plot) if path]
    if outputs:
        check_writable(outputs)
    say = None if args.quiet else (lambda text: print(f"profiling the pair: {text}",
                                                      file=sys.stderr, flush=True))
    result = coexec(args.op, args.devices, resolution=args.resolution,
                    profile_layers=args.profile_layers, rounds=args.rounds, progress=say)
    print(table(result))
    _write_result(result, args.json, args.plot, draw)
    return 0 if result["outputs_match"] else 1


def command_models(args) -> int:
    from . import graph as models
    from .graph.report import models_table, operators_table
    if args.operators:
        try:
            graph = models.build(args.operators, args.resolution)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(operators_table(graph))
    else:
        print(models_table([models.build(name) for name in models.MODELS]))
    return 0


def command_check(args) -> int:
    from .verify.check import command
    return command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fusion", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="fuse kernels into one .cl + JSON manifest")
    _add_generation_options(gen)
    gen.add_argument("-o", "--output", help="the fused .cl (default: standard output)")
    gen.add_argument("--manifest", help="the manifest (default: next to --output, .json)")
    gen.add_argument("--name", type=kernel_name, help="the fused kernel's name")
    gen.add_argument("--bake", dest="baked", action="append", type=baked_argument,
                     metavar="INDEX:NAME=VALUE",
                     help="bake an integer argument into the source (repeat): kernel INDEX's "
                          "(its position among -k, from 0) parameter NAME takes VALUE (an "
                          "integer, or integers separated by commas for a vector); it leaves "
                          "the fused kernel's arguments (the manifest's baked_arguments)")
    gen.set_defaults(run=command_generate)

    prep = commands.add_parser("prepare", help="fuse every 2- and 3-combination of kernels")
    _add_generation_options(prep)
    prep.add_argument("-o", "--output", required=True, help="output directory")
    prep.add_argument("--sizes", default="2,3", help="group sizes (default 2,3)")
    prep.add_argument("--with-repeats", action="store_true",
                      help="also groups that repeat a kernel (identical operators)")
    prep.add_argument("--quiet", "--no-progress", action="store_true",
                      help="no progress bar (there is none unless stderr is a terminal)")
    prep.set_defaults(run=command_prepare)

    demo = commands.add_parser("demo", help="fuse MobileNet-V2 operators, check and time them")
    demo.add_argument("--rounds", type=positive_int, default=30,
                      help="timed rounds (alternating)")
    demo.add_argument("--device", default="intel-cpu",
                      help="part of the OpenCL platform name, or intel-cpu, pocl, nvidia "
                           "(default: intel-cpu, Intel's CPU runtime)")
    demo.set_defaults(run=command_demo)

    from .verify.check import add_arguments as add_check_arguments
    check = commands.add_parser("check", help="check that fusing your kernels changes nothing",
                                description="Run kernels separately and fused on the CPU device (and with "
                                "--oclgrind under Oclgrind); print PASS or the first difference. "
                                "See docs/TESTING.md.")
    add_check_arguments(check)
    check.set_defaults(run=command_check)

    run = commands.add_parser("run", help="several DNNs together, planned and sequential: "
                                          "check outputs, time, compare")
    run.add_argument("models", nargs="+", metavar="MODEL",
                     help="deeplab_v3, inception_v3, resnet_v2, squeezenet_v1, mobilenet_v1, "
                          "mobilenet_v2 (repeat a model to run several copies)")
    run.add_argument("--device", default="intel-cpu",
                     help="intel-cpu (default), pocl, nvidia, or part of a platform name")
    run.add_argument("--resolution", type=positive_int,
                     help="input size of every model (default: each model's Table 1 size)")
    run.add_argument("--policy", choices=("auto", "all", "none"), default="auto",
                     help="auto: the groups the device's latency model predicts fastest "
                          "(default; profiles the device first if it has no model); all: every "
                          "ready set fused, models in lock step; none: every node alone")
    run.add_argument("--rounds", type=positive_int, default=20, help="alternating rounds")
    run.add_argument("--adapt", type=positive_int, default=0, metavar="WINDOWS",
                     help="then run the auto plan for WINDOWS windows, re-measured and "
                          "re-planned when its times drift from the model's (auto only)")
    run.add_argument("--no-check", dest="check", action="store_false",
                     help="auto: run the model's plan as it is (by default, unless --adapt, "
                          "it is measured against the plans of all and none first, and the "
                          "fastest beyond noise runs)")
    run.add_argument("--pin-cpu", default="auto", metavar="CPU",
                     help="the host CPU the replays run on: auto (default: on a GPU the "
                          "fastest of this process's CPUs, timed first; on a CPU device none), "
                          "none, or a CPU number. A GPU plan's launches cost the host about "
                          "what they cost the device, and the CPUs of a virtual machine differ "
                          "(docs/PERFORMANCE.md)")
    run.add_argument("--no-specialize", dest="specialize", action="store_false",
                     help="build the fused kernels with their layout and integer arguments as "
                          "arguments (by default they are baked in: one binary per launch, "
                          "fewer arguments for the driver at every enqueue)")
    run.add_argument("--json", help="write the result (device, settings, raw samples, launches)")
    run.add_argument("--timeline", help="draw the planned launches over time (PNG)")
    run.set_defaults(run=command_run)

    prof = commands.add_parser("profile", help="measure a device's launches and fit its "
                                               "latency model (for --policy auto)")
    prof.add_argument("--device", default="intel-cpu",
                      help="intel-cpu (default), pocl, nvidia, or part of a platform name")
    prof.add_argument("--groups", type=positive_int, default=600,
                      help="random fused groups to measure (default 600)")
    prof.add_argument("--max-group", type=positive_int, default=4,
                      help="the largest fused group measured, 2-16 (default 4)")
    prof.add_argument("--resolution", type=positive_int,
                      help="input size of every model (default: each model's Table 1 size)")
    prof.add_argument("--seed", type=int, default=0, help="of the random groups")
    prof.add_argument("--in-context", type=positive_int, metavar="PLANS",
                      help="fit the model on launches measured inside PLANS random plans' "
                           "replays instead of streams of copies (--groups unused; "
                           "docs/CLI.md)")
    prof.add_argument("--fresh", action="store_true",
                      help="measure everything again (default: resume what is stored)")
    prof.add_argument("--json", help="write the accuracy report here too")
    prof.add_argument("--quiet", action="store_true", help="no progress bar")
    prof.set_defaults(run=command_profile)

    co = commands.add_parser("coexec", help="split one operator between two devices: every "
                                            "ratio measured, the predicted choice, the optimum")
    co.add_argument("--op", required=True, metavar="KIND[:SHAPE]",
                    help="conv2d, conv2d_1x1, depthwise_conv2d, fully_connected or "
                         "nc4hw4_to_nchw, with make()'s shape, e.g. "
                         "conv2d_1x1:c=32,h=56,w=56,oc=64 or fully_connected:c=1280,oc=1000")
    co.add_argument("--devices", required=True, metavar="A,B",
                    help="two devices (intel-cpu, pocl, nvidia, or part of a platform name), "
                         "or NAME/2 for one device as two sub-devices")
    co.add_argument("--resolution", type=positive_int,
                    help="of the models whose layers the pair's profile measures (default: "
                         "each model's Table 1 size)")
    co.add_argument("--profile-layers", type=positive_int, default=40,
                    help="layers of the six models the pair's profile measures (default 40; "
                         "kept in the cache)")
    co.add_argument("--rounds", type=positive_int, default=7, help="alternating rounds")
    co.add_argument("--json", help="write the result (devices, every ratio, raw samples)")
    co.add_argument("--plot", help="draw time against ratio, measured and predicted (PNG)")
    co.add_argument("--quiet", action="store_true", help="no profiling progress")
    co.set_defaults(run=command_coexec)

    table = commands.add_parser("models", help="the six DNNs of the paper against its Table 1")
    table.add_argument("--operators", metavar="MODEL",
                       help="list one model's operators instead (deeplab_v3, inception_v3, "
                            "resnet_v2, squeezenet_v1, mobilenet_v1, mobilenet_v2)")
    table.add_argument("--resolution", type=int,
                       help="with --operators: input size (default: Table 1's)")
    table.set_defaults(run=command_models)
    return parser


def main(argv=None) -> int:
    quiet_build_logs()
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except FusionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `python -m fusion models | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - a bug: say so, without a traceback
        print(f"internal error (a bug of parallel-fusion; please report it): "
              f"{type(error).__name__}: {error}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
