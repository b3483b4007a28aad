"""The command line: `python -m fusion <command>` (or `parallel-fusion <command>`).

  generate  fuse kernels ahead of time: writes the fused .cl and its JSON manifest
  prepare   the paper's "fused operator preparation": every 2- and 3-combination of a set
  demo      fuse MobileNet-V2 operators on the default device, check and time them
  check     run your kernels separately and fused (CPU device, optionally Oclgrind): PASS or the
            first differing output element
  models    the paper's six DNNs: operators, FLOPs and parameters against its Table 1
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import warnings

from .compiler import KernelSource, generate
from .errors import FusionError
from .plan import DEFAULT_LAYOUT, LAYOUTS


def kernel_spec(text: str) -> KernelSource:
    """FILE:NAME[:OPTIONS], e.g. fusion/ops/kernels/conv2d_1x1.cl:conv2d_1x1:-DRELU"""
    try:
        return KernelSource.from_spec(text)
    except FusionError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_generation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-k", "--kernel", dest="kernels", action="append", type=kernel_spec,
                        required=True, metavar="FILE:NAME[:OPTIONS]",
                        help="a kernel to fuse, with its own build options (repeat)")
    parser.add_argument("--layout", choices=LAYOUTS, default=DEFAULT_LAYOUT)
    parser.add_argument("--wave-size", type=int, default=32,
                        help="the target's wave/warp size (default 32)")


def _write(path: str, text: str) -> None:
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def command_generate(args) -> int:
    program = generate(args.kernels, wave_size=args.wave_size, layout=args.layout,
                       kernel_name=args.name)
    if args.output in (None, "-"):
        sys.stdout.write(program.source)
    else:
        _write(args.output, program.source)
    manifest = args.manifest or (os.path.splitext(args.output)[0] + ".json"
                                 if args.output not in (None, "-") else None)
    if manifest:
        _write(manifest, json.dumps(program.manifest, indent=2) + "\n")
    if args.output not in (None, "-"):
        print(f"wrote {args.output}" + (f" and {manifest}" if manifest else ""), file=sys.stderr)
    return 0


def command_prepare(args) -> int:
    from tqdm import tqdm

    sizes = sorted({int(s) for s in args.sizes.split(",")})
    groups = [combo for size in sizes
              for combo in itertools.combinations_with_replacement(range(len(args.kernels)), size)
              if args.with_repeats or len(set(combo)) == size]
    index, failures = [], []
    for combo in tqdm(groups, desc="fusing", unit="group", disable=args.quiet):
        members = [args.kernels[i] for i in combo]
        name = "fused__" + "__".join(f"{k.name}{i}" for k, i in zip(members, combo))
        try:
            program = generate(members, wave_size=args.wave_size, layout=args.layout,
                               kernel_name=name)
        except FusionError as error:
            failures.append(dict(kernels=list(combo), error=str(error)))
            continue
        _write(os.path.join(args.output, name + ".cl"), program.source)
        _write(os.path.join(args.output, name + ".json"), json.dumps(program.manifest, indent=2))
        index.append(dict(kernels=list(combo), kernel_name=name, file=name + ".cl",
                          manifest=name + ".json"))
    catalogue = dict(inputs=[dict(index=i, file=k.display_name, name=k.name,
                                  options=list(k.options)) for i, k in enumerate(args.kernels)],
                     groups=index, failures=failures)
    _write(os.path.join(args.output, "index.json"), json.dumps(catalogue, indent=2) + "\n")
    print(f"{len(index)} fused kernels in {args.output}/ ({len(failures)} could not be fused)",
          file=sys.stderr)
    for failure in failures:
        print(f"  {failure['kernels']}: {failure['error'].splitlines()[0]}", file=sys.stderr)
    return 0


def command_demo(args) -> int:
    from .demo import run_demo
    return run_demo(rounds=args.rounds, device_name=args.device)


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
    gen.add_argument("--name", help="the fused kernel's name")
    gen.set_defaults(run=command_generate)

    prep = commands.add_parser("prepare", help="fuse every 2- and 3-combination of kernels")
    _add_generation_options(prep)
    prep.add_argument("-o", "--output", required=True, help="output directory")
    prep.add_argument("--sizes", default="2,3", help="group sizes (default 2,3)")
    prep.add_argument("--with-repeats", action="store_true",
                      help="also groups that repeat a kernel (identical operators)")
    prep.add_argument("--quiet", action="store_true", help="no progress bar")
    prep.set_defaults(run=command_prepare)

    demo = commands.add_parser("demo", help="fuse MobileNet-V2 operators, check and time them")
    demo.add_argument("--rounds", type=int, default=30, help="timed rounds (alternating)")
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

    table = commands.add_parser("models", help="the six DNNs of the paper against its Table 1")
    table.add_argument("--operators", metavar="MODEL",
                       help="list one model's operators instead (deeplab_v3, inception_v3, "
                            "resnet_v2, squeezenet_v1, mobilenet_v1, mobilenet_v2)")
    table.add_argument("--resolution", type=int,
                       help="with --operators: input size (default: Table 1's)")
    table.set_defaults(run=command_models)
    return parser


# pyopencl turns every non-empty build log into a CompilerWarning, and Intel's CPU runtime
# writes one for every program ("Compilation started ..."): noise on a terminal. A failed build
# is an error with the whole log (BuildError), so nothing is lost.
_BUILD_LOG_NOTICE = "Non-empty compiler output encountered"


def main(argv=None) -> int:
    warnings.filterwarnings("ignore", message=_BUILD_LOG_NOTICE)
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except FusionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
