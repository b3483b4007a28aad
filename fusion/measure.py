"""Timing by alternating rounds: variants A, B, ... run in turn, round after round, so that slow
drift of the machine (clocks, other load) hits them alike; results are per-round ratios.

On the lent GPU, separately timed runs drifted by +-40 %, alternating rounds by +-5 %: only
ratios taken within one round are trusted, and their median is quoted.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def alternating(variants: dict[str, Callable[[], None]], *, rounds: int, warmup: int = 3,
                repeat: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each variant, one sample per round. Each sample times `repeat`
    back-to-back calls (each call must wait for its own work, e.g. queue.finish())."""
    for _ in range(warmup):
        for run in variants.values():
            run()
    samples = {name: [] for name in variants}
    for _ in range(rounds):
        for name, run in variants.items():
            start = time.perf_counter()
            for _ in range(repeat):
                run()
            samples[name].append((time.perf_counter() - start) / repeat)
    return samples


def ratios(numerator: list[float], denominator: list[float]) -> list[float]:
    return [a / b for a, b in zip(numerator, denominator)]


def summary(values: list[float]) -> dict:
    return dict(median=statistics.median(values), min=min(values), max=max(values),
                n=len(values))
