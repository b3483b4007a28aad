"""Text tables for `python -m fusion models`: each model against the paper's Table 1, and one
model's operators with their cost and schedule step."""
from __future__ import annotations

from collections.abc import Sequence

from .counting import KNOWN_MISMATCHES, cost, summarize
from .graph import Graph
from .schedule import levels, parallel_nodes, steps

#: The tolerance of the comparison with Table 1 (the issue's acceptance criterion).
TABLE_1_TOLERANCE = 0.10


def si(value: float) -> str:
    """3 significant digits with a K/M/G suffix: 5.74G, 725M, 2.1M."""
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.0f}"


def _verdict(summary, what: str) -> str:
    ratio = summary.ratio(what)
    if ratio is None:
        return ""
    if abs(ratio - 1) <= TABLE_1_TOLERANCE:
        return f"{ratio:.2f} ok"
    return f"{ratio:.2f} NO*" if (summary.name, what) in KNOWN_MISMATCHES else f"{ratio:.2f} NO"


def models_table(graphs: Sequence[Graph]) -> str:
    """One row per model: operators, FLOPs and parameters against Table 1 (ours / paper), the
    share of small operators, and how many operators share a ready step with another."""
    header = ("model", "input", "ops", "FLOPs", "Table 1", "ratio", "params", "Table 1", "ratio",
              "<5MFLOPs", "<=1%", "steps", "widest", "in parallel")
    rows = [header]
    notes = []
    for graph in graphs:
        s = summarize(graph)
        p = s.published
        ready = levels(graph)
        parallel = len(parallel_nodes(graph))
        rows.append((
            graph.name, f"{s.resolution}x{s.resolution}x{graph.input_shape[1]}",
            str(s.operators), si(s.flops), si(p.flops) if p else "-", _verdict(s, "flops"),
            si(s.params), si(p.params) if p else "-", _verdict(s, "params"),
            f"{100 * s.small_share:.0f}%", f"{100 * s.minor_share:.0f}%", str(len(ready)),
            str(max(len(step) for step in ready)), str(parallel)))
        for what in ("flops", "params"):
            ratio = s.ratio(what)
            if ratio is not None and abs(ratio - 1) > TABLE_1_TOLERANCE and \
                    (graph.name, what) in KNOWN_MISMATCHES:
                notes.append(f"* {graph.name} {what}: {KNOWN_MISMATCHES[graph.name, what]}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                       for i, (cell, width) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    legend = ("FLOPs: multiply-accumulates (docs/MODELS.md); ratio: ours / Table 1, 'ok' within "
              f"{100 * TABLE_1_TOLERANCE:.0f} %. <5MFLOPs: share of operators under 5 MFLOPs; "
              "<=1%: share with at most 1 % of the model's FLOPs (paper: 60-80 % and over 50 %). "
              "steps: ASAP schedule length; widest: most operators ready at one step; in "
              "parallel: operators independent of at least one other (fusion candidates).")
    return "\n".join(lines + [""] + notes + ([""] if notes else []) + [legend])


def operators_table(graph: Graph) -> str:
    """One row per node: id, step, kind, name, output shape, FLOPs, params, inputs."""
    step = steps(graph)
    rows = [("id", "step", "kind", "name", "output NCHW", "FLOPs", "params", "inputs")]
    for node in graph.nodes:
        c = cost(node)
        rows.append((str(node.id), str(step[node.id]), node.kind, node.name,
                     "x".join(map(str, node.output_shape)), si(c.flops), si(c.params),
                     ",".join(map(str, node.inputs)) or "input"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                     for row in rows)
