"""Draw the package's layers and the imports between them, from the import graph itself
(grimp, which import-linter uses) and the layers contract in pyproject.toml:

    python scripts/draw_layers.py [--output docs/layers.png]

Boxes are the modules and folders of `fusion`, one row per layer (lowest at the bottom); an
arrow from A to B means some module of A imports some module of B. Boxes with a bold edge
import pyopencl.
"""
from __future__ import annotations

import argparse
import os
import tomllib

import grimp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def layers() -> list[list[str]]:
    """The layers contract's rows, highest first, each a list of sibling names."""
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        config = tomllib.load(f)["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers")
    return [[name.strip() for name in row.replace(":", "|").split("|")]
            for row in contract["layers"]]


def dependencies(graph, names: list[str]) -> set[tuple[str, str]]:
    return {(a, b) for a in names for b in names
            if a != b and graph.direct_import_exists(importer=f"fusion.{a}",
                                                     imported=f"fusion.{b}", as_packages=True)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "layers.png"))
    args = parser.parse_args()
    rows = layers()
    graph = grimp.build_graph("fusion", include_external_packages=True)
    names = [name for row in rows for name in row]
    edges = dependencies(graph, names)
    opencl = {name for name in names
              if graph.direct_import_exists(importer=f"fusion.{name}", imported="pyopencl",
                                            as_packages=True)}
    width = 11.0
    figure, axes = plt.subplots(figsize=(width, 0.9 * len(rows) + 0.6))
    position = {}
    for level, row in enumerate(reversed(rows)):
        for i, name in enumerate(row):
            # single boxes zigzag, so that arrows skipping a layer do not run through boxes
            shift = (0.14 if level % 2 else -0.14) * width if len(row) == 1 else 0.0
            position[name] = ((i + 0.5) * width / len(row) + shift, level * 1.0)
    for a, b in sorted(edges):
        (x0, y0), (x1, y1) = position[a], position[b]
        axes.add_patch(FancyArrowPatch((x0, y0 - 0.18), (x1, y1 + 0.18), arrowstyle="-|>",
                                       mutation_scale=9, color="#7a8ca5", lw=0.7,
                                       connectionstyle="arc3,rad=0.08"))
    for name, (x, y) in position.items():
        axes.add_patch(FancyBboxPatch((x - 0.65, y - 0.18), 1.3, 0.36,
                                      boxstyle="round,pad=0.02", facecolor="#eef3fa",
                                      edgecolor="#1f3b63", lw=2.2 if name in opencl else 0.8))
        axes.text(x, y, name, ha="center", va="center", fontsize=10, family="monospace")
    axes.set_xlim(0, width)
    axes.set_ylim(-0.5, len(rows) - 0.5)
    axes.axis("off")
    axes.set_title("fusion's layers (an arrow: imports; bold: imports pyopencl)", fontsize=10)
    figure.tight_layout()
    figure.savefig(args.output, dpi=110)
    print(f"wrote {args.output}: {len(names)} parts, {len(edges)} imports between them")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
