"""Choosing how to split one operator between two devices, from predictions. Pure Python.

A split at ratio r gives the first device the first round(r * units) work-group units along the
operator's split axis (fusion.ops.slices.SplitAxis) and the second device the rest. Its
predicted completion combines the two parts' times on their own, a = first(units_a) and
b = second(units_b), with the synchronisation s = sync(units_b) that brings the second
device's part to the first device's output:

    predicted(r) = combine(a, b, s)        by default max(a, b) + s

A pair of devices that get in each other's way (two CPU runtimes on one CPU: shared cores,
memory bandwidth, the host thread that drives both) completes later than the slower part;
the pair's profile learns `combine` from measured splits (fusion.execute.coprofile).
and a part of no units costs nothing (ratio 1: the first device alone, ratio 0: the second
alone, neither synchronises). `choose` evaluates every ratio of a grid and keeps the best; a
split is kept only where it is predicted to beat the best single device by `margin`, so the
choice falls back to one device where splitting is not predicted to pay.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

#: The ratios the ground-truth grid search measures: 0 %, 5 %, ..., 100 % on the first device.
GRID = tuple(i / 20 for i in range(21))


def units_for(ratio: float, units: int) -> int:
    """Units of the first device at `ratio` (of `units` in all)."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"a split ratio is between 0 and 1, not {ratio}")
    return int(round(ratio * units))


@dataclasses.dataclass(frozen=True)
class Choice:
    ratio: float                 # share of the first device
    predicted_us: float
    curve: tuple[tuple[float, float], ...]      # (ratio, predicted µs) over the grid
    single: bool                 # one device alone (ratio 0 or 1)


def side_by_side(a: float, b: float, sync: float) -> float:
    """Devices that do not slow each other: the slower part, then the synchronisation."""
    return max(a, b) + sync


Combine = Callable[[float, float, float], float]


def predicted_us(ratio: float, units: int, first: Callable[[int], float],
                 second: Callable[[int], float], sync: Callable[[int], float],
                 combine: Combine = side_by_side) -> float:
    """Predicted completion at `ratio`: first(units_a) and second(units_b) are the devices'
    times for so many units (including dispatch), sync(units_b) the synchronisation."""
    a = units_for(ratio, units)
    b = units - a
    if not (a and b):
        return first(a) if a else second(b)
    return combine(first(a), second(b), sync(b))


def choose(units: int, first: Callable[[int], float], second: Callable[[int], float],
           sync: Callable[[int], float], ratios: Sequence[float] = GRID,
           margin: float = 0.03, combine: Combine = side_by_side) -> Choice:
    """The ratio with the least predicted completion; a split (0 < r < 1) only where it is
    predicted at least `margin` faster than the better device alone."""
    if units < 1:
        raise ValueError("an operator to split has at least one unit")
    curve = tuple((r, predicted_us(r, units, first, second, sync, combine)) for r in ratios)
    alone = min((p for p in curve if p[0] in (0.0, 1.0)), key=lambda p: p[1],
                default=None) or min(((1.0, first(units)), (0.0, second(units))),
                                      key=lambda p: p[1])
    best = min(curve, key=lambda p: p[1])
    distinct = units_for(best[0], units) not in (0, units)
    if distinct and best[1] < alone[1] * (1.0 - margin):
        return Choice(best[0], best[1], curve, single=False)
    return Choice(alone[0], alone[1], curve, single=True)
