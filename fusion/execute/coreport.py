"""`python -m fusion coexec`: one operator split between two devices — every ratio measured,
the predicted choice, the grid's optimum, the best single device; a table, JSON and a plot.

    result = coexec("conv2d_1x1:c=32,h=56,w=56,oc=64", "nvidia,pocl")
    print(table(result)); draw(result, "split.png")
"""
from __future__ import annotations

import platform
import time
from collections.abc import Callable

from .coexec import SplitOperator, open_pair, parse_op
from .coprofile import cached_profile, evaluate, fit_pair, grid


def coexec(op_text: str, devices: str, *, resolution: int | None = None,
           profile_layers: int | None = 40, rounds: int = 7, seed: int = 0,
           progress: Callable[[str], None] | None = None) -> dict:
    """Measure, predict and check one operator's splits (see the module docstring). The
    prediction comes from the pair's profile (kept in the cache; measured first where there is
    none): `profile_layers` of the six models' convolution and FC layers at `resolution`."""
    kind, shape = parse_op(op_text)
    pair = open_pair(devices)
    op = SplitOperator(pair, kind, shape, seed=seed)
    started = time.perf_counter()
    profile = cached_profile(pair, resolution=resolution, layers=profile_layers, seed=seed,
                             progress=progress)
    model = fit_pair(profile)
    choice = model.choose(op)
    measured = grid(op, rounds=rounds, seed=seed)
    judged = evaluate(op, choice, measured)
    alone = op.alone_results()
    ratios = sorted({choice.ratio, judged["grid_best_ratio"], *measured["distinct"]})
    checks = [op.check(r, alone) for r in ratios]
    predicted = dict(choice.curve)
    return dict(
        devices=pair.describe(), pair=devices, op=dict(kind=kind, shape={
            k: (list(v) if isinstance(v, tuple) else v) for k, v in op.shape.items()}),
        split_axis=dict(dim=op.axis.dim, units=op.axis.units, unit_items=op.axis.unit_items),
        sync_mode=op.sync_mode, **judged,
        ratios=[dict(ratio=r, measured_ms=measured["ms"][r], predicted_ms=predicted[r] / 1e3,
                     units=list(op.split(r).units)) for r in measured["ms"]],
        samples=measured["samples"], null_ratio=measured["null_ratio"],
        iterations=measured["iterations"], rounds=rounds,
        outputs_match=all(c["ok"] for c in checks), checks=checks,
        comparison=("bit-identical" if pair.same_compiler else
                    f"each part bit-identical to its device's own result; the whole within "
                    f"rtol {op.ops[0].tolerance[0]:g}, atol {op.ops[0].tolerance[1]:g} of the "
                    f"first device's"),
        profile=dict(profile.settings, devices=profile.devices,
                     slices=[len(side) for side in profile.parts]),
        python=platform.python_version(), seconds=time.perf_counter() - started)


def table(result: dict) -> str:
    lines = [f"{result['op']['kind']} {result['op']['shape']}", *result["devices"],
             f"split along dimension {result['split_axis']['dim']} in "
             f"{result['split_axis']['units']} work-groups; synchronisation: "
             f"{result['sync_mode']}", "",
             "| on the first device | measured ms | predicted ms |", "|---:|---:|---:|"]
    marks = {result["chosen_ratio"]: " ← chosen", result["grid_best_ratio"]: " ← grid best"}
    if result["chosen_ratio"] == result["grid_best_ratio"]:
        marks = {result["chosen_ratio"]: " ← chosen, grid best"}
    for row in result["ratios"]:
        lines.append(f"| {row['ratio']:.0%} | {row['measured_ms']:.3f} | "
                     f"{row['predicted_ms']:.3f} |{marks.get(row['ratio'], '')}")
    lines += ["",
              f"chosen {result['chosen_ratio']:.0%}: {result['chosen_ms']:.3f} ms "
              f"(sync {result['sync_ms']:.3f} ms); grid best {result['grid_best_ratio']:.0%}: "
              f"{result['grid_best_ms']:.3f} ms; best single device "
              f"{'first' if result['best_single_ratio'] == 1.0 else 'second'}: "
              f"{result['best_single_ms']:.3f} ms",
              f"chosen / optimum {result['of_optimum']:.3f}, speedup over the best single "
              f"device {result['over_best_single']:.3f}x (null comparison "
              f"{result['null_ratio']:.3f})",
              f"outputs: {'match' if result['outputs_match'] else 'DIFFER'} "
              f"({result['comparison']})"]
    return "\n".join(lines)


def draw(result: dict, path: str) -> None:
    """Time against ratio, measured and predicted, the choice and the optimum marked (PNG)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ratios = [100 * row["ratio"] for row in result["ratios"]]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(ratios, [row["measured_ms"] for row in result["ratios"]], "o-", label="measured")
    ax.plot(ratios, [row["predicted_ms"] for row in result["ratios"]], "s--", label="predicted")
    ax.axvline(100 * result["chosen_ratio"], color="C2", label="chosen")
    ax.axvline(100 * result["grid_best_ratio"], color="C3", linestyle=":", label="grid best")
    ax.set_xlabel(f"share of the work on {result['devices'][0].split(':')[0]} (%)")
    ax.set_ylabel("completion (ms)")
    ax.set_title(f"{result['op']['kind']} on {result['pair']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
