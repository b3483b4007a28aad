"""Splitting the six DNNs' convolution and fully-connected layers between two devices: the
predicted split against the measured grid, layer by layer.

    python -m benchmarks.coexec_layers --devices nvidia,pocl --output FILE.json
    python -m benchmarks.coexec_layers --devices intel-cpu/2 --resolution 96 --output FILE.json

Phases (a lent machine gives 10 minutes a call): `--phase profile --profile-file P` measures
every layer's slices on both devices (fusion.execute.coprofile.profile_pair) and writes P;
`--phase grid --profile-file P --shard i/n` measures the grid (every 5 %, rounds alternating
over the ratios, ratio 1 twice as the null comparison) of every n-th layer from the i-th and
judges the choices; `--phase all` does both. Each layer's choice comes from models fitted
without the layers of the model it belongs to (leave one model out), so that no layer is
predicted by a model that measured it; beside it are recorded the choice of the model fitted
on every layer, and the held-out model's choice calibrated by the layer's whole time measured
on each device just before the grid (`PairModel.calibrate`: two measurements, as an engine can
take when it loads a model). `--phase confirm` measures again, head to head, each layer's chosen
ratio beside the grid's best and the best single device (rounds alternating over the three,
more rounds than the grid): the grid's best is the fastest of some twenty noisy medians, so
its own median flatters it (the winner's curse); measured again beside the choice, both get an
unbiased estimate. Rows keep the grid's figures; the confirmation is added to them. Each layer's outputs are checked at the chosen ratio, at the grid's best
and at 50 %: every device's part bit-identical to that device's own result, the combined
output bit-identical to the first device's (same platform) or within the operator's
tolerance (two platforms).
"""
from __future__ import annotations

import argparse
import gzip
import json
import platform
import random
import statistics
import sys
import time
import warnings

from fusion.execute.coexec import SplitOperator, open_pair
from fusion.execute.coprofile import (Layer, PairProfile, distinct_splits, evaluate, fit_pair,
                                      grid, model_layers, profile_pair)


def _layers(resolution, limit, sample):
    layers = model_layers(resolution)
    if sample and sample < len(layers):   # a seeded sample, in the models' order
        keep = set(map(id, random.Random(0).sample(layers, sample)))
        layers = [layer for layer in layers if id(layer) in keep]
    return layers[:limit] if limit else layers


def judge_layer(pair, layer: Layer, models: dict, rounds: int, sample_s: float,
                earlier: dict | None = None) -> dict:
    """Choose (held out, in profile, calibrated), measure the grid, judge, check. With
    `earlier` (a row of an earlier run of this layer), its grid and calibration are kept and
    only the choices are made again (the code that chooses changed, the device did not)."""
    op = SplitOperator(pair, layer.kind, layer.shape)
    held_out = models[layer.models[0]]
    choice = held_out.choose(op)
    in_profile = models[None].choose(op)
    if earlier:
        # (a grid measured before calibration existed is calibrated now)
        scale = tuple(earlier["calibration"]) if "calibration" in earlier else \
            held_out.calibrate(op)
        ms = {float(r): v for r, v in earlier["grid_ms"].items()}
        measured = dict(ms=ms, samples=earlier["samples"], null_ratio=earlier["null_ratio"],
                        iterations=earlier["iterations"],
                        distinct=sorted(distinct_splits(op, sorted(ms)).values()))
    else:
        scale = held_out.calibrate(op)
        measured = grid(op, rounds=rounds, sample_s=sample_s)
    calibrated = held_out.choose(op, scale=scale)
    row = dict(layer=layer.key, kind=layer.kind, shape={k: str(v) for k, v in layer.shape.items()},
               models=list(layer.models), units=op.axis.units, axis=op.axis.dim,
               sync_mode=op.sync_mode, **evaluate(op, choice, measured),
               predicted_curve=[list(p) for p in choice.curve],
               in_profile_ratio=in_profile.ratio,
               in_profile_ms=measured["ms"][in_profile.ratio],
               calibration=list(scale), calibrated_ratio=calibrated.ratio,
               calibrated_ms=measured["ms"][calibrated.ratio],
               grid_ms={str(r): v for r, v in measured["ms"].items()},
               samples=measured["samples"], null_ratio=measured["null_ratio"],
               iterations=measured["iterations"])
    alone = op.alone_results()
    checks = [op.check(r, alone) for r in sorted({choice.ratio, row["grid_best_ratio"], 0.5})]
    row["checks"] = checks
    row["outputs_match"] = all(c["ok"] for c in checks)
    return row


def confirm_layer(pair, layer: Layer, row: dict, rounds: int, sample_s: float) -> dict:
    """The chosen ratio, the grid's best and the best single device measured again (see the
    module docstring): their ms, the null ratio, and the two judging ratios recomputed."""
    ratios = sorted({row["chosen_ratio"], row["grid_best_ratio"], row["best_single_ratio"]})
    if len(ratios) == 1:   # nothing to compare: the choice is the optimum and the best single
        return dict(ms={str(ratios[0]): row["chosen_ms"]}, of_optimum=1.0,
                    over_best_single=1.0, measured=False)
    op = SplitOperator(pair, layer.kind, layer.shape)
    measured = grid(op, ratios, rounds=rounds, sample_s=sample_s, seed=1)
    ms = measured["ms"]
    chosen = ms[row["chosen_ratio"]]
    return dict(ms={str(r): v for r, v in ms.items()}, samples=measured["samples"],
                null_ratio=measured["null_ratio"], rounds=rounds,
                iterations=measured["iterations"], measured=True,
                of_optimum=min(chosen, ms[row["grid_best_ratio"]]) / chosen,
                over_best_single=ms[row["best_single_ratio"]] / chosen)


def summarise(rows: list[dict]) -> dict:
    if not rows:
        return {}
    of_opt = [r["of_optimum"] for r in rows]
    over = [r["over_best_single"] for r in rows]
    calibrated = [r["grid_best_ms"] / r["calibrated_ms"] for r in rows]
    calibrated_over = [r["best_single_ms"] / r["calibrated_ms"] for r in rows]
    confirmed = [r["confirmed"] for r in rows if "confirmed" in r]
    if len(confirmed) == len(rows):
        extra = dict(
            confirmed_at_least_94_percent=sum(c["of_optimum"] >= 0.94 for c in confirmed),
            confirmed_of_optimum_min=min(c["of_optimum"] for c in confirmed),
            confirmed_never_below_0_97=sum(c["over_best_single"] >= 0.97 for c in confirmed),
            confirmed_over_best_single_min=min(c["over_best_single"] for c in confirmed),
            confirmed_measured=sum(c["measured"] for c in confirmed),
            confirmed_null_ratio_range=[min(c.get("null_ratio", 1.0) for c in confirmed),
                                        max(c.get("null_ratio", 1.0) for c in confirmed)])
    else:
        extra = {}
    return dict(layers=len(rows), of_optimum_min=min(of_opt), **extra,
                calibrated_of_optimum_min=min(calibrated),
                calibrated_at_least_94_percent=sum(v >= 0.94 for v in calibrated),
                calibrated_over_best_single_min=min(calibrated_over),
                calibrated_never_below_0_97=sum(v >= 0.97 for v in calibrated_over),
                of_optimum_median=statistics.median(of_opt),
                at_least_94_percent=sum(v >= 0.94 for v in of_opt),
                over_best_single_min=min(over),
                never_below_0_97=sum(v >= 0.97 for v in over),
                split_chosen=sum(0.0 < r["chosen_ratio"] < 1.0 for r in rows),
                split_optimal=sum(0.0 < r["grid_best_ratio"] < 1.0 for r in rows),
                grid_speedup_max=max(r["grid_speedup"] for r in rows),
                chosen_speedup_max=max(r["over_best_single"] for r in rows),
                outputs_match=all(r["outputs_match"] for r in rows),
                null_ratio_median=statistics.median(r["null_ratio"] for r in rows))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", required=True)
    parser.add_argument("--resolution", type=int, help="the models' input size (Table 1's)")
    parser.add_argument("--phase", choices=("profile", "grid", "all", "judge", "confirm"),
                        default="all",
                        help="judge: choose again for the grid of --output (kept), "
                             "with the code as it is now; confirm: measure the choice, the "
                             "grid's best and the best single device of --output again, "
                             "head to head (--rounds rounds)")
    parser.add_argument("--profile-file", help="where the profile is written / read")
    parser.add_argument("--shard", default="0/1", help="i/n: every n-th layer from the i-th")
    parser.add_argument("--limit", type=int, help="only the first N layers (a quick look)")
    parser.add_argument("--sample", type=int, help="a seeded random sample of N layers")
    parser.add_argument("--start", type=int, default=0,
                        help="the grid phase begins at this layer (of the shard)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sample-seconds", type=float, default=0.01,
                        help="each round runs each split this long (at least once)")
    parser.add_argument("--seconds", type=float, help="stop the grid phase after this long")
    parser.add_argument("--output", help="JSON of the grid phase")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    pair = open_pair(args.devices)
    layers = _layers(args.resolution, args.limit, args.sample)
    started = time.perf_counter()
    if args.phase in ("profile", "all") or not args.profile_file:
        profile = profile_pair(pair, layers, progress=lambda text: print(
            f"profile {text} ({time.perf_counter() - started:.0f} s)", file=sys.stderr,
            flush=True))
        profile.settings.update(resolution=args.resolution or 0, devices=args.devices)
        if args.profile_file:
            write_json(args.profile_file, profile.as_dict(), indent=None)
        if args.phase == "profile":
            return 0
    else:
        profile = PairProfile.from_dict(read_json(args.profile_file))
    by_model: dict = {None: fit_pair(profile)}
    for name in sorted({m for layer in layers for m in layer.models}):
        by_model[name] = fit_pair(profile, exclude={l.key for l in layers if name in l.models})
    index, count = (int(part) for part in args.shard.split("/"))
    earlier = {}
    if args.phase == "confirm":
        return _confirm(pair, layers, args, started)
    if args.phase == "judge":
        earlier = {row["layer"]: row for row in read_json(args.output)["layers"]}
        layers = [layer for layer in layers if layer.key in earlier]
        index, count, args.start = 0, 1, 0
    rows = []
    deadline = started + args.seconds if args.seconds else None
    for layer in layers[index::count][args.start:]:
        if deadline and time.perf_counter() > deadline:
            print(f"--seconds reached after {len(rows)} layers", file=sys.stderr)
            break
        row = judge_layer(pair, layer, by_model, args.rounds, args.sample_seconds,
                          earlier.get(layer.key))
        rows.append(row)
        print(f"{len(rows)} {layer.key}: chosen {row['chosen_ratio']:.2f} "
              f"{row['chosen_ms']:.3f} ms, grid best {row['grid_best_ratio']:.2f} "
              f"{row['grid_best_ms']:.3f} ms ({row['of_optimum']:.3f}), best single "
              f"{row['best_single_ms']:.3f} ms ({row['over_best_single']:.3f}), "
              f"outputs {'ok' if row['outputs_match'] else 'DIFFER'}", file=sys.stderr,
              flush=True)
    settings = dict(resolution=args.resolution, rounds=args.rounds,
                    sample_seconds=args.sample_seconds, shard=args.shard, limit=args.limit,
                    start=args.start, sample=args.sample, profile=profile.settings)
    if earlier:   # the grid's settings are those of the run that measured it
        settings = read_json(args.output)["settings"]
        settings["judged_again"] = dict(seconds=round(time.perf_counter() - started, 1))
    result = dict(benchmark="coexec_layers", devices=pair.describe(), pair=args.devices,
                  margin={str(k): m.margin for k, m in by_model.items()}, settings=settings,
                  sync_model={str(k): m.sync for k, m in by_model.items()},
                  python=platform.python_version(), summary=summarise(rows), layers=rows,
                  seconds=time.perf_counter() - started)
    if args.output:
        write_json(args.output, result)
    print(json.dumps(result["summary"], indent=1))
    return 0


def _confirm(pair, layers, args, started) -> int:
    """--phase confirm: every row of --output gets its "confirmed" figures; written back."""
    result = read_json(args.output)
    by_key = {layer.key: layer for layer in layers}
    rows = result["layers"]
    for n, row in enumerate(rows, 1):
        row["confirmed"] = confirm_layer(pair, by_key[row["layer"]], row, args.rounds,
                                         args.sample_seconds)
        c = row["confirmed"]
        print(f"{n} {row['layer']}: of optimum {row['of_optimum']:.3f} -> {c['of_optimum']:.3f}"
              f", over best single {row['over_best_single']:.3f} -> "
              f"{c['over_best_single']:.3f}", file=sys.stderr, flush=True)
    result["summary"] = summarise(rows)
    result["settings"]["confirmed"] = dict(rounds=args.rounds, sample_seconds=args.sample_seconds,
                                           seconds=round(time.perf_counter() - started, 1))
    write_json(args.output, result)
    print(json.dumps(result["summary"], indent=1))
    return 0


def read_json(path: str):
    """A JSON file, gzipped where its name ends in .gz (benchmarks/results keeps grids so)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def write_json(path: str, data, indent: int | None = 1) -> None:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=indent) + "\n")


if __name__ == "__main__":
    sys.exit(main())
