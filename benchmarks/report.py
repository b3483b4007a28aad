"""Tables and plots from benchmark results: docs/PERFORMANCE_DATA.md and docs/perf-*.png.

    python -m benchmarks.report benchmarks/results/*.json

Every number comes from the JSON files given (each names its device and settings).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys

PAPER = {2: dict(min=0.36, max=1.95, wins=0.66), 3: dict(min=0.31, max=2.18, wins=0.80)}


def _load(paths):
    records = collections.defaultdict(list)
    for path in paths:
        with open(path) as f:
            record = json.load(f)
        record["path"] = path
        records[record["experiment"]].append(record)
    return records


def _device(record) -> str:
    d = record["device"]
    return f"{d['name']} ({d['platform']}, driver {d['driver']})"


def _tag(record) -> str:
    """A short device tag for plot file names."""
    return record["device"]["platform"].split()[0].lower()


def _us(seconds) -> str:
    return f"{seconds * 1e6:.1f}"


def launch_section(record) -> list[str]:
    launch = record["launch"]
    lines = [f"### Launch cost — {_device(record)}", "",
             "| what | median µs | min | max |", "|---|---:|---:|---:|"]
    for name, s in launch["summary"].items():
        lines.append(f"| {name}, per launch, queue kept busy | {_us(s['median'])} | "
                     f"{_us(s['min'])} | {_us(s['max'])} |")
    d = launch["device_time"]
    lines.append(f"| empty kernel, device time (profiling) | {_us(d['median'])} | {_us(d['min'])} "
                 f"| {_us(d['max'])} |")
    return lines + [""]


def identical_section(record, plots_dir) -> list[str]:
    groups = record["groups"]
    variants = [v for v in groups[0]["throughput_vs_sequential"] if v != "sequential (null)"]
    lines = [f"### Figure 9: N identical operators — {_device(record)}", "",
             f"Throughput relative to the N operators launched one after another (arguments "
             f"bound once), median of {record['settings']['rounds']} alternating rounds; "
             "`null` is the sequential run against itself.", "",
             "| layer | N | seq µs/iter | " + " | ".join(variants) + " | null |",
             "|---|---:|---:|" + "---:|" * (len(variants) + 1)]
    for g in groups:
        t = g["throughput_vs_sequential"]
        cells = " | ".join(f"{t[v]['median']:.2f}" for v in variants)
        lines.append(f"| {g['layer']} | {g['count']} | {_us(g['seconds']['sequential']['median'])}"
                     f" | {cells} | {t['sequential (null)']['median']:.2f} |")
    name = f"perf-identical-{_tag(record)}.png"
    _plot_identical(groups, variants, os.path.join(plots_dir, name), record)
    return lines + ["", f"![Figure 9]({name})", ""]


def _plot_identical(groups, variants, path, record):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    layers = list(dict.fromkeys(g["layer"] for g in groups))
    figure, axes = plt.subplots(1, len(layers), figsize=(4 * len(layers), 3.4), sharey=True)
    for axis, layer in zip(axes if len(layers) > 1 else [axes], layers):
        mine = [g for g in groups if g["layer"] == layer]
        for variant in variants:
            if variant.startswith(("rebind", "python")):
                continue
            axis.plot([g["count"] for g in mine],
                      [g["throughput_vs_sequential"][variant]["median"] for g in mine],
                      marker="o", label=variant)
        axis.axhline(1.0, color="grey", linewidth=0.8)
        axis.set_title(layer, fontsize=8)
        axis.set_xlabel("identical operators N")
    (axes[0] if len(layers) > 1 else axes).set_ylabel("throughput vs sequential")
    (axes[-1] if len(layers) > 1 else axes).legend(fontsize=7)
    figure.suptitle(record["device"]["name"], fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def combinations_section(record, plots_dir) -> list[str]:
    groups = record["groups"]
    layouts = [v for v in groups[0]["throughput_vs_sequential"] if v.startswith("fused")]
    lines = [f"### Figure 8: combinations of operator types — {_device(record)}", "",
             "Per group: the median over alternating rounds of sequential time / fused time. "
             "Across groups: median, min, max of those, and the share of groups where fusion "
             "wins (> 1).", "",
             "| operators | layout | groups | median | min | max | wins | paper: min–max, wins |",
             "|---:|---|---:|---:|---:|---:|---:|---|"]
    for size in sorted({g["size"] for g in groups}):
        mine = [g for g in groups if g["size"] == size]
        for layout in layouts:
            values = [g["throughput_vs_sequential"][layout]["median"] for g in mine]
            wins = sum(v > 1 for v in values) / len(values)
            paper = PAPER.get(size)
            paper_text = (f"{paper['min']:.2f}–{paper['max']:.2f}, {paper['wins']:.0%}"
                          if paper else "")
            lines.append(f"| {size} | {layout} | {len(values)} | {statistics.median(values):.2f}"
                         f" | {min(values):.2f} | {max(values):.2f} | {wins:.0%} | {paper_text} |")
    nulls = [g["throughput_vs_sequential"]["sequential (null)"]["median"] for g in groups]
    spreads = [g["throughput_vs_sequential"]["sequential (null)"] for g in groups]
    lines += ["", f"Null comparison (sequential vs itself): per-group medians "
                  f"{min(nulls):.2f}–{max(nulls):.2f}; per-round extremes "
                  f"{min(s['min'] for s in spreads):.2f}–{max(s['max'] for s in spreads):.2f}.", ""]
    by_layout = layouts[0]
    ranked = sorted(groups, key=lambda g: g["throughput_vs_sequential"][by_layout]["median"])
    lines += [f"Best and worst groups ({by_layout}), with device time (µs, profiling): each "
              "operator alone, the fused kernel, and the ideal of one launch (sum alone minus "
              "the launches saved, each costing the empty kernel's device time):", "",
              "| group | throughput | seq µs/iter | fused µs/iter | alone (device) | fused (device)"
              " | ideal (device) | MFLOPs |", "|---|---:|---:|---:|---|---:|---:|---:|"]
    empty = record["launch"]["device_time"]["median"]
    for g in ranked[-8:][::-1] + ranked[:8]:
        d = g.get("device_time", {})
        ideal = d["sum_alone"] - (len(d["alone"]) - 1) * empty if d else None
        lines.append(
            f"| {g['label']} | {g['throughput_vs_sequential'][by_layout]['median']:.2f} | "
            f"{_us(g['seconds']['sequential']['median'])} | "
            f"{_us(g['seconds']['fused ' + by_layout.split()[-1]]['median'])} | "
            f"{' + '.join(_us(a) for a in d.get('alone', []))} | "
            f"{_us(d['fused']) if d.get('fused') else '–'} | {_us(ideal) if ideal else '–'} | "
            f"{sum(g['flops']) / 1e6:.1f} |")
    lines += ["", "Per pair of types (2 operators, median throughput, layout " + by_layout + "):",
              ""]
    types = list(dict.fromkeys(t for g in groups for t in g["types"]))
    pair = {tuple(g["types"]): g["throughput_vs_sequential"][by_layout]["median"]
            for g in groups if g["size"] == 2}
    if pair:
        lines += ["| | " + " | ".join(types) + " |", "|---|" + "---:|" * len(types)]
        for a in types:
            cells = []
            for b in types:
                value = pair.get((a, b)) or pair.get((b, a))
                cells.append(f"{value:.2f}" if value else "")
            lines.append(f"| {a} | " + " | ".join(cells) + " |")
    flops, distribution = (f"perf-flops-{_tag(record)}.png",
                           f"perf-combinations-{_tag(record)}.png")
    _plot_flops(groups, by_layout, os.path.join(plots_dir, flops), record)
    _plot_distribution(groups, layouts, os.path.join(plots_dir, distribution), record)
    return lines + ["", f"![Figure 8]({distribution}) ![Figure 10]({flops})", ""]


def _plot_flops(groups, layout, path, record):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    pairs = [g for g in groups if g["size"] == 2]
    figure, axis = plt.subplots(figsize=(5, 4))
    x = [g["flops"][0] / 1e6 for g in pairs]
    y = [g["flops"][1] / 1e6 for g in pairs]
    c = [g["throughput_vs_sequential"][layout]["median"] for g in pairs]
    points = axis.scatter(x, y, c=c, cmap="RdYlGn", vmin=0.5, vmax=2.5, edgecolors="black",
                          linewidths=0.3)
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("operator 1 MFLOPs")
    axis.set_ylabel("operator 2 MFLOPs")
    figure.colorbar(points, label="throughput vs sequential")
    axis.set_title(f"2 operators fused ({layout}), {record['device']['name']}", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _plot_distribution(groups, layouts, path, record):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for axis, size in zip(axes, (2, 3)):
        mine = [g for g in groups if g["size"] == size]
        for layout in layouts:
            values = sorted(g["throughput_vs_sequential"][layout]["median"] for g in mine)
            axis.plot(range(len(values)), values, label=layout)
        axis.axhline(1.0, color="grey", linewidth=0.8)
        axis.set_title(f"{size} operators ({len(mine)} groups)", fontsize=9)
        axis.set_xlabel("groups, sorted")
    axes[0].set_ylabel("throughput vs sequential")
    axes[1].legend(fontsize=7)
    figure.suptitle(record["device"]["name"], fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def model_pair_section(record, plots_dir) -> list[str]:
    pair = record["pair"]
    t = pair["throughput_vs_sequential"]
    s = pair["seconds"]
    lines = [f"### Figure 11: two {pair['model']} ({pair['resolution']}x{pair['resolution']}) "
             f"operator by operator — {_device(record)}", "",
             f"Both copies run every one of their {pair['operators']} operators; sequential "
             "launches node i of copy 1 then of copy 2; fused launches them as one kernel. "
             f"One inference of both copies per sample, {record['settings']['rounds']} "
             "alternating rounds.", "",
             "| | median ms | min | max |", "|---|---:|---:|---:|"]
    for name in ("sequential", "fused pairwise"):
        lines.append(f"| {name} | {s[name]['median'] * 1e3:.3f} | {s[name]['min'] * 1e3:.3f} | "
                     f"{s[name]['max'] * 1e3:.3f} |")
    lines += ["", f"Throughput, fused vs sequential: median {t['fused pairwise']['median']:.2f} "
                  f"(min {t['fused pairwise']['min']:.2f}, max {t['fused pairwise']['max']:.2f});"
                  f" null comparison {t['sequential (null)']['median']:.2f} "
                  f"({t['sequential (null)']['min']:.2f}–{t['sequential (null)']['max']:.2f}).",
              "", "Device time per operator kind (profiling, µs, summed over the model's "
                  "operators of that kind): both copies alone vs the fused pairs.", "",
              "| kind | operators | alone (2 copies) | fused | ratio |", "|---|---:|---:|---:|---:|"]
    kinds = collections.defaultdict(lambda: [0, 0.0, 0.0])
    for step in pair["steps"]:
        if step["fused"] is None:
            continue
        k = kinds[step["kind"]]
        k[0] += 1
        k[1] += sum(step["alone"])
        k[2] += step["fused"]
    for kind, (count, alone, fused) in sorted(kinds.items(), key=lambda kv: -kv[1][1]):
        lines.append(f"| {kind} | {count} | {_us(alone)} | {_us(fused)} | {alone / fused:.2f} |")
    name = f"perf-model-pair-{_tag(record)}.png"
    _plot_model_pair(pair, os.path.join(plots_dir, name), record)
    return lines + ["", f"![Figure 11]({name})", ""]


def _plot_model_pair(pair, path, record):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = [st for st in pair["steps"] if st["fused"] is not None]
    figure, axis = plt.subplots(figsize=(10, 3.2))
    x = range(len(steps))
    axis.bar(x, [sum(st["alone"]) * 1e6 for st in steps], label="2 copies, one after the other",
             color="#bbbbbb")
    axis.bar(x, [st["fused"] * 1e6 for st in steps], width=0.5, label="fused pair",
             color="#3a7bd5")
    axis.set_xlabel("operator (execution order)")
    axis.set_ylabel("device time µs")
    axis.legend(fontsize=7)
    axis.set_title(f"two {pair['model']}, {record['device']['name']}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+")
    parser.add_argument("--output", default="docs/PERFORMANCE_DATA.md")
    args = parser.parse_args(argv)
    records = _load(args.results)
    plots = os.path.dirname(args.output) or "."
    lines = ["# Performance data", "",
             "Generated by `python -m benchmarks.report " + " ".join(args.results) + "`; "
             "the method and the discussion are in [PERFORMANCE.md](PERFORMANCE.md).", ""]
    for record in records.get("launch", []):
        lines += launch_section(record)
    for record in records.get("identical", []):
        lines += [f"Source: `{record['path']}`, command `{record['command']}`, {record['date']}.",
                  ""] + identical_section(record, plots)
    for record in records.get("combinations", []):
        lines += [f"Source: `{record['path']}`, command `{record['command']}`, {record['date']}.",
                  ""] + combinations_section(record, plots)
    for record in records.get("model-pair", []):
        lines += [f"Source: `{record['path']}`, command `{record['command']}`, {record['date']}.",
                  ""] + model_pair_section(record, plots)
    with open(args.output, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
